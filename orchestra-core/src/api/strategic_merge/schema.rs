//! [`PatchSchema`] and [`FieldStrategy`]: what a strategic merge patch knows of a
//! kind — Kubernetes' `patchStrategy` and `patchMergeKey` tags as a static tree.

/// How a strategic merge patch treats the fields of one kind of JSON object: the
/// fields with a strategy of their own. A field not named here merges as in a JSON
/// merge patch (an object recursively, with no strategies below it; a list replaced).
///
/// Schemas are static trees, built with [`PatchSchema::new`] and the constructors of
/// [`FieldStrategy`]:
///
/// ```
/// use orchestra_core::api::strategic_merge::{FieldStrategy, PatchSchema};
///
/// static PORT: PatchSchema = PatchSchema::EMPTY;
/// static SPEC: PatchSchema = PatchSchema::new(&[
///     ("ports", FieldStrategy::merge_by_key("port", &PORT)),
///     ("tags", FieldStrategy::PrimitiveSet),
/// ]);
/// static GADGET: PatchSchema = PatchSchema::new(&[("spec", FieldStrategy::object(&SPEC))]);
/// assert!(GADGET.field("spec").is_some());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PatchSchema {
    fields: &'static [(&'static str, FieldStrategy)],
}

impl PatchSchema {
    /// The schema of an object with no field strategies: it merges as a JSON merge patch.
    pub const EMPTY: PatchSchema = PatchSchema { fields: &[] };

    /// A schema with these fields' strategies (by JSON field name).
    pub const fn new(fields: &'static [(&'static str, FieldStrategy)]) -> PatchSchema {
        PatchSchema { fields }
    }

    /// The strategy of the field `name`, if it has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldStrategy> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// The fields with a strategy, in the order they were given.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &'static FieldStrategy)> {
        self.fields.iter().map(|(n, s)| (*n, s))
    }

    /// The schema of the object held in field `name` (empty unless the field is an
    /// [`FieldStrategy::Object`]).
    pub(super) fn object_field(&self, name: &str) -> &'static PatchSchema {
        match self.field(name) {
            Some(FieldStrategy::Object { fields, .. }) => fields,
            _ => &PatchSchema::EMPTY,
        }
    }
}

/// The strategy of one field: Kubernetes' `patchStrategy` and `patchMergeKey` tags.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum FieldStrategy {
    /// An object whose own fields have strategies.
    Object {
        /// The strategies of its fields.
        fields: &'static PatchSchema,
        /// Whether Kubernetes tags the field `retainKeys` (kubectl then sends
        /// `$retainKeys` for it). The directive is honoured wherever it appears, as
        /// apimachinery honours it; the tag is kept so the schema says what the
        /// Kubernetes type says.
        retain_keys: bool,
    },
    /// A list of objects merged item by item: items are matched on `key`, matching
    /// items merge, new items are appended (`patchStrategy: merge`,
    /// `patchMergeKey: <key>`).
    MergeByKey {
        /// The field that identifies an item (`name`, `containerPort`, `type`…).
        key: &'static str,
        /// The strategies of an item's fields.
        items: &'static PatchSchema,
        /// Whether Kubernetes tags the list's items `retainKeys` (see
        /// [`FieldStrategy::Object::retain_keys`]).
        retain_keys: bool,
    },
    /// A list of primitives merged as a set: the patch's values are added, none is
    /// repeated (`patchStrategy: merge` on a list of strings or numbers).
    PrimitiveSet,
}

impl FieldStrategy {
    /// An object field whose own fields have `fields`' strategies.
    pub const fn object(fields: &'static PatchSchema) -> FieldStrategy {
        FieldStrategy::Object {
            fields,
            retain_keys: false,
        }
    }

    /// A list of objects merged on `key`, its items having `items`' strategies.
    pub const fn merge_by_key(key: &'static str, items: &'static PatchSchema) -> FieldStrategy {
        FieldStrategy::MergeByKey {
            key,
            items,
            retain_keys: false,
        }
    }

    /// The same strategy, tagged `retainKeys`.
    #[must_use]
    pub const fn retaining_keys(self) -> FieldStrategy {
        match self {
            FieldStrategy::Object { fields, .. } => FieldStrategy::Object {
                fields,
                retain_keys: true,
            },
            FieldStrategy::MergeByKey { key, items, .. } => FieldStrategy::MergeByKey {
                key,
                items,
                retain_keys: true,
            },
            FieldStrategy::PrimitiveSet => FieldStrategy::PrimitiveSet,
        }
    }

    /// Whether Kubernetes tags the field `retainKeys`.
    pub fn retains_keys(&self) -> bool {
        match self {
            FieldStrategy::Object { retain_keys, .. }
            | FieldStrategy::MergeByKey { retain_keys, .. } => *retain_keys,
            FieldStrategy::PrimitiveSet => false,
        }
    }
}
