//! Strategic merge patch (`application/strategic-merge-patch+json`): the patch type
//! `kubectl apply`, `kubectl set image` and the kubelet send for the built-in kinds.
//!
//! It reads like a JSON merge patch — objects merge key by key and `null` removes a
//! key — but a [`PatchSchema`] says, field by field, which lists are not replaced
//! whole: lists of objects merged item by item on a *merge key* (a pod's `containers`
//! on `name`), and lists of primitives merged as sets (`metadata.finalizers`). Any other
//! list is replaced, as a merge patch replaces it. The patch can also carry directives:
//!
//! - `"$patch": "replace"` in an object replaces the object instead of merging it;
//!   `"$patch": "delete"` empties it. In an item of a merging list, `"$patch": "delete"`
//!   removes the item with that merge key, and an item `{"$patch": "replace"}` makes the
//!   patch's other items the whole list.
//! - `"$setElementOrder/<field>": [...]` gives the order of the merged list: the listed
//!   items in that order, with the items only the object has kept where they were
//!   relative to the listed ones.
//! - `"$deleteFromPrimitiveList/<field>": [...]` removes those values from a list of
//!   primitives.
//! - `"$retainKeys": [...]` clears every field of the object that is not listed, before
//!   the patch is merged (how `kubectl apply` switches a deployment's `strategy` from
//!   `RollingUpdate` to `Recreate`).
//!
//! The rules are those of Kubernetes' apimachinery `strategicpatch` package, applied as
//! kube-apiserver applies a patch it receives. Any other `$`-key, or any other `$patch`
//! value, is refused. Where a directive appears in a value the object does not have
//! yet, the value is merged into nothing (a `$patch: delete` there leaves the field
//! absent), so directives never leak into the stored object.
//!
//! The built-in kinds' schemas are in [`schemas`]; the registry applies a strategic
//! merge patch only to a kind whose [`Strategy`](crate::registry::Strategy) names one.
//!
//! ```
//! use orchestra_core::api::strategic_merge::{apply_strategic_merge_patch, schemas};
//! use serde_json::json;
//!
//! let mut pod = json!({"spec": {"containers": [
//!     {"name": "web", "image": "web:1"},
//!     {"name": "log", "image": "log:1"},
//! ]}});
//! let patch = json!({"spec": {"containers": [{"name": "web", "image": "web:2"}]}});
//! apply_strategic_merge_patch(&mut pod, &patch, &schemas::POD).unwrap();
//! assert_eq!(pod, json!({"spec": {"containers": [
//!     {"name": "web", "image": "web:2"},
//!     {"name": "log", "image": "log:1"},
//! ]}}));
//! ```

pub mod schemas;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

/// The key of the `$patch` directive.
const PATCH: &str = "$patch";
/// The key of the `$retainKeys` directive.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of a `$setElementOrder/<field>` key.
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
/// The prefix of a `$deleteFromPrimitiveList/<field>` key.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

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
    fn object_field(&self, name: &str) -> &'static PatchSchema {
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

/// Why a strategic merge patch does not apply. Each names where, as a dotted path with
/// merging-list items by their key (`spec.containers[name=web]`), `.` being the top.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrategicMergeError {
    /// The patch is not a JSON object.
    #[error("a strategic merge patch must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type that was sent.
        found: &'static str,
    },
    /// A `$`-key, or a value of `$patch`, that is no directive.
    #[error("{path}: unknown strategic merge patch directive {directive}")]
    UnknownDirective {
        /// Where it is.
        path: String,
        /// The key, or `$patch: <value>`.
        directive: String,
    },
    /// A directive whose value does not fit it.
    #[error("{path}: invalid {directive}: {reason}")]
    InvalidDirective {
        /// Where it is.
        path: String,
        /// The directive (`$retainKeys`, `$setElementOrder/containers`…).
        directive: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An item of a list merged by key, in the object or in the patch, lacks its key.
    #[error("{path}: an item of a list merged on {key:?} has no {key:?}: {item}")]
    MissingMergeKey {
        /// The list.
        path: String,
        /// The merge key.
        key: &'static str,
        /// The item, as JSON (shortened).
        item: String,
    },
    /// A list to merge whose items cannot be merged: lists of lists, items of different
    /// types, or objects in a list of primitives.
    #[error("{path}: cannot merge the list: {reason}")]
    UnmergeableList {
        /// The list.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Applies the strategic merge patch `patch` to `target`, with `schema` the schema of
/// `target`'s kind. On error `target` is left as it was.
///
/// A `target` that is not an object is treated as an empty object.
pub fn apply_strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    schema: &PatchSchema,
) -> Result<(), StrategicMergeError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicMergeError::NotAnObject {
            found: kind_of(patch),
        });
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merged = merge_map(original, patch, schema, &Path::ROOT)?;
    *target = Value::Object(merged);
    Ok(())
}

/// Where in the document the merge is, for error messages; built only when needed.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, &'a str, &'a Value),
}

impl Path<'_> {
    const ROOT: Path<'static> = Path::Root;

    fn render(&self) -> String {
        match self {
            Path::Root => ".".to_owned(),
            Path::Field(Path::Root, name) => (*name).to_owned(),
            Path::Field(parent, name) => format!("{}.{name}", parent.render()),
            Path::Item(parent, key, value) => match value {
                Value::String(s) => format!("{}[{key}={s}]", parent.render()),
                other => format!("{}[{key}={other}]", parent.render()),
            },
        }
    }
}

fn field<'a>(parent: &'a Path<'a>, name: &'a str) -> Path<'a> {
    Path::Field(parent, name)
}

/// Merges `patch` into `original`, an object of the kind `schema` describes.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
) -> Result<Map<String, Value>, StrategicMergeError> {
    if let Some(directive) = patch.get(PATCH) {
        return match directive.as_str() {
            Some("replace") => fresh_map(patch, schema, path, &[PATCH]),
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_patch_value(directive, path)),
        };
    }
    for key in patch.keys() {
        check_directive_key(key, path)?;
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(retained) = retain else {
            return Err(invalid(
                path,
                RETAIN_KEYS,
                "it must be a list of field names",
            ));
        };
        let keeps = |key: &str| retained.iter().any(|v| v.as_str() == Some(key));
        if let Some((key, _)) = patch
            .iter()
            .find(|(k, v)| !v.is_null() && !k.starts_with('$') && !keeps(k))
        {
            return Err(invalid(
                path,
                RETAIN_KEYS,
                format!("the patch sets {key:?}, which the list does not retain"),
            ));
        }
        original.retain(|key, _| keeps(key));
    }

    // Lists with an order directive are merged and ordered first; the plain merge
    // below then skips them.
    let mut ordered: Vec<&str> = Vec::new();
    for (key, order) in patch {
        if let Some(name) = key.strip_prefix(SET_ELEMENT_ORDER) {
            set_element_order(&mut original, name, order, patch.get(name), schema, path)?;
            ordered.push(name);
        }
    }

    for (key, value) in patch {
        if key.starts_with('$') || ordered.contains(&key.as_str()) {
            continue;
        }
        let here = field(path, key);
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged =
            match (original.remove(key), value) {
                (Some(Value::Object(old)), Value::Object(new)) => Some(Value::Object(merge_map(
                    old,
                    new,
                    schema.object_field(key),
                    &here,
                )?)),
                (Some(Value::Array(old)), Value::Array(new)) => Some(Value::Array(
                    merge_list_field(old, new, schema.field(key), &here)?,
                )),
                // Absent, or of another type: the patch's value, merged into nothing.
                _ => fresh(value, schema.field(key), &here)?,
            };
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }

    // Deletions come last, after the additions to the same list: kubectl never sends
    // a value in both, and removing last makes "delete" win if a client does.
    for (key, values) in patch {
        let Some(name) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
            continue;
        };
        let Value::Array(values) = values else {
            return Err(invalid(path, key, "it must be a list of values"));
        };
        if values.iter().any(|v| v.is_object() || v.is_array()) {
            return Err(invalid(path, key, "it must list primitive values"));
        }
        if let Some(Value::Array(list)) = original.get_mut(name) {
            list.retain(|item| !values.contains(item));
        }
    }
    Ok(original)
}

/// Refuses a `$`-key that is no directive.
fn check_directive_key(key: &str, path: &Path<'_>) -> Result<(), StrategicMergeError> {
    let known = key == PATCH
        || key == RETAIN_KEYS
        || key
            .strip_prefix(SET_ELEMENT_ORDER)
            .or_else(|| key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST))
            .is_some_and(|name| !name.is_empty());
    if key.starts_with('$') && !known {
        return Err(StrategicMergeError::UnknownDirective {
            path: path.render(),
            directive: key.to_owned(),
        });
    }
    Ok(())
}

/// Merges the list field `name` of `original` with the patch's list (if any) and puts
/// it in the order `order` gives.
fn set_element_order(
    original: &mut Map<String, Value>,
    name: &str,
    order: &Value,
    patch_list: Option<&Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
) -> Result<(), StrategicMergeError> {
    let directive = || format!("{SET_ELEMENT_ORDER}{name}");
    let here = field(path, name);
    let Value::Array(order) = order else {
        return Err(invalid(path, &directive(), "it must be a list"));
    };
    let strategy = schema.field(name);
    let key = match strategy {
        Some(FieldStrategy::MergeByKey { key, .. }) => Some(*key),
        _ => None,
    };
    let old = match original.get(name) {
        None => None,
        Some(Value::Array(old)) => Some(old.clone()),
        Some(other) => {
            return Err(invalid(
                path,
                &directive(),
                format!("the object's {name:?} is {}, not a list", kind_of(other)),
            ));
        }
    };
    let new = match patch_list {
        None => None,
        Some(Value::Array(new)) => Some(new.as_slice()),
        Some(other) => {
            return Err(invalid(
                path,
                &directive(),
                format!("the patch's {name:?} is {}, not a list", kind_of(other)),
            ));
        }
    };
    check_order_covers_patch(new.unwrap_or_default(), order, key, &here, &directive)?;

    let server_order = old.clone().unwrap_or_default();
    let merged = match (old, new) {
        (Some(old), None) => old,
        (old, Some(new)) => merge_list_field(old.unwrap_or_default(), new, strategy, &here)?,
        (None, None) => return Ok(()),
    };
    let (mut listed, mut unlisted) = (Vec::new(), Vec::new());
    for item in merged {
        let id = identity(&item, key, &here)?;
        if position(order, &id, key).is_some() {
            listed.push((id, item));
        } else {
            unlisted.push((id, item));
        }
    }
    for item in order.iter().chain(&server_order) {
        identity(item, key, &here)?;
    }
    sort_by_position(&mut listed, order, key);
    sort_by_position(&mut unlisted, &server_order, key);
    let both = interleave(unlisted, listed, &server_order, key);
    original.insert(name.to_owned(), Value::Array(both));
    Ok(())
}

/// Checks that the patch's items (but deletions) appear in the `$setElementOrder` list,
/// in the same relative order.
fn check_order_covers_patch(
    patch: &[Value],
    order: &[Value],
    key: Option<&'static str>,
    path: &Path<'_>,
    directive: &dyn Fn() -> String,
) -> Result<(), StrategicMergeError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = patch
        .iter()
        .filter(|item| key.is_none() || !item.get(PATCH).is_some_and(|d| d == "delete"));
    let mut next = items.next();
    for listed in order {
        // Other directive items ({"$patch": "replace"}) have no place in the order.
        while next.is_some_and(|item| key.is_some() && item.get(PATCH).is_some()) {
            next = items.next();
        }
        let Some(item) = next else { break };
        if identity(item, key, path)? == identity(listed, key, path)? {
            next = items.next();
        }
    }
    while next.is_some_and(|item| key.is_some() && item.get(PATCH).is_some()) {
        next = items.next();
    }
    match next {
        None => Ok(()),
        Some(item) => Err(invalid(
            path,
            &directive(),
            format!(
                "the patch's item {} is not in it, or not in the same order",
                brief(item)
            ),
        )),
    }
}

/// Merges a list field by its strategy: merging lists merge, others are replaced.
fn merge_list_field(
    original: Vec<Value>,
    patch: &[Value],
    strategy: Option<&FieldStrategy>,
    path: &Path<'_>,
) -> Result<Vec<Value>, StrategicMergeError> {
    match strategy {
        Some(FieldStrategy::MergeByKey { key, items, .. }) => {
            merge_list(original, patch, Some((key, items)), path)
        }
        Some(FieldStrategy::PrimitiveSet) => merge_list(original, patch, None, path),
        _ => fresh_list(patch, path),
    }
}

/// Merges a merging list: by `keyed`'s key with its items' schema, or (without one) as
/// a set of primitives. The result keeps the patch's order for the patch's items and
/// the object's order for the others, interleaved as they stood in the object.
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    keyed: Option<(&'static str, &PatchSchema)>,
    path: &Path<'_>,
) -> Result<Vec<Value>, StrategicMergeError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let objects = check_item_types(&original, patch, path)?;
    if !objects {
        // A set of primitives: the patch's values in its order, then interleaved with
        // the values only the object has.
        let mut added: Vec<(Value, Value)> = Vec::new();
        for v in patch {
            if !added.iter().any(|(id, _)| id == v) {
                added.push((v.clone(), v.clone()));
            }
        }
        let mut kept: Vec<(Value, Value)> = Vec::new();
        for v in &original {
            if !patch.contains(v) && !kept.iter().any(|(id, _)| id == v) {
                kept.push((v.clone(), v.clone()));
            }
        }
        return Ok(interleave(kept, added, &original, None));
    }
    let Some((key, items)) = keyed else {
        return Err(StrategicMergeError::UnmergeableList {
            path: path.render(),
            reason: "a list of objects merges only on a merge key, and this one has none"
                .to_owned(),
        });
    };

    // Directive items first: deletions from the object, and whether to replace.
    let mut base = original;
    let mut plain: Vec<&Map<String, Value>> = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(item) = item else {
            unreachable!("check_item_types found only objects")
        };
        let Some(directive) = item.get(PATCH) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(id) = item.get(key) else {
                    return Err(missing_key(path, key, item));
                };
                base.retain(|old| old.get(key) != Some(id));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(invalid(
                    path,
                    PATCH,
                    "\"merge\" cannot be given for an item of a list",
                ));
            }
            _ => return Err(unknown_patch_value(directive, path)),
        }
    }
    if replace {
        return plain
            .into_iter()
            .map(|item| fresh_map(item, items, path, &[]).map(Value::Object))
            .collect();
    }

    let server_order = base.clone();
    let mut patch_ids = Vec::with_capacity(plain.len());
    for item in plain {
        let Some(id) = item.get(key) else {
            return Err(missing_key(path, key, item));
        };
        patch_ids.push(id.clone());
        let here = Path::Item(path, key, id);
        match base.iter().position(|old| old.get(key) == Some(id)) {
            Some(at) => {
                let Value::Object(old) = std::mem::take(&mut base[at]) else {
                    unreachable!("check_item_types found only objects")
                };
                base[at] = Value::Object(merge_map(old, item, items, &here)?);
            }
            None => base.push(Value::Object(fresh_map(item, items, &here, &[])?)),
        }
    }

    let (mut from_patch, mut kept) = (Vec::new(), Vec::new());
    for item in base {
        let id = identity(&item, Some(key), path)?;
        if patch_ids.contains(&id) {
            from_patch.push((id, item));
        } else {
            kept.push((id, item));
        }
    }
    from_patch.sort_by_key(|(id, _)| patch_ids.iter().position(|p| p == id));
    Ok(interleave(kept, from_patch, &server_order, Some(key)))
}

/// Whether the items of both lists are objects (else primitives); refuses lists of
/// lists and lists whose items differ in type.
fn check_item_types(
    original: &[Value],
    patch: &[Value],
    path: &Path<'_>,
) -> Result<bool, StrategicMergeError> {
    let mut first: Option<&'static str> = None;
    for item in original.iter().chain(patch) {
        let kind = kind_of(item);
        if kind == "array" {
            return Err(StrategicMergeError::UnmergeableList {
                path: path.render(),
                reason: "lists of lists are not supported".to_owned(),
            });
        }
        match first {
            None => first = Some(kind),
            Some(seen) if seen != kind => {
                return Err(StrategicMergeError::UnmergeableList {
                    path: path.render(),
                    reason: format!("it holds both {seen} and {kind} items"),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first == Some("object"))
}

/// What identifies a list item: its merge key's value, or (in a list of primitives)
/// the item itself.
fn identity(
    item: &Value,
    key: Option<&'static str>,
    path: &Path<'_>,
) -> Result<Value, StrategicMergeError> {
    let Some(key) = key else {
        return Ok(item.clone());
    };
    match item {
        Value::Object(map) => map
            .get(key)
            .cloned()
            .ok_or_else(|| missing_key(path, key, map)),
        other => Err(StrategicMergeError::UnmergeableList {
            path: path.render(),
            reason: format!(
                "items merged on {key:?} must be objects, got {}",
                brief(other)
            ),
        }),
    }
}

/// Where the item identified by `id` stands in `list`.
fn position(list: &[Value], id: &Value, key: Option<&str>) -> Option<usize> {
    list.iter().position(|item| match key {
        Some(key) => item.get(key) == Some(id),
        None => item == id,
    })
}

/// Sorts items by where they stand in `order`; items it lacks go last, in their order.
fn sort_by_position(items: &mut [(Value, Value)], order: &[Value], key: Option<&str>) {
    items.sort_by_key(|(id, _)| position(order, id, key).unwrap_or(usize::MAX));
}

/// Merges two ordered lists into one, keeping each list's own order: an item of
/// `kept` (the object's items the patch does not order) goes before the next item of
/// `placed` when it stood before it in `server_order`. So kept items stay where they
/// were relative to the placed ones.
fn interleave(
    kept: Vec<(Value, Value)>,
    placed: Vec<(Value, Value)>,
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(kept.len() + placed.len());
    let mut kept = kept.into_iter().peekable();
    let mut placed = placed.into_iter().peekable();
    loop {
        let take_kept = match (kept.peek(), placed.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((k, _)), Some((p, _))) => {
                match (
                    position(server_order, k, key),
                    position(server_order, p, key),
                ) {
                    (Some(ki), Some(pi)) => ki < pi,
                    _ => false,
                }
            }
        };
        let next = if take_kept {
            kept.next()
        } else {
            placed.next()
        };
        out.extend(next.map(|(_, item)| item));
    }
    out
}

/// The patch's `value` for a field the object lacks: merged into nothing, so nulls are
/// dropped and directives applied. `None` when nothing is left (a `$patch: delete`).
fn fresh(
    value: &Value,
    strategy: Option<&FieldStrategy>,
    path: &Path<'_>,
) -> Result<Option<Value>, StrategicMergeError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => {
            if let Some(directive) = map.get(PATCH) {
                match directive.as_str() {
                    Some("delete") => return Ok(None),
                    Some("replace") => {}
                    _ => return Err(unknown_patch_value(directive, path)),
                }
            }
            let schema = match strategy {
                Some(FieldStrategy::Object { fields, .. }) => fields,
                _ => &PatchSchema::EMPTY,
            };
            merge_map(Map::new(), map, schema, path).map(|m| Some(Value::Object(m)))
        }
        Value::Array(list) => merge_list_field(Vec::new(), list, strategy, path)
            .map(|merged| Some(Value::Array(merged))),
        scalar => Ok(Some(scalar.clone())),
    }
}

/// The patch object `map` merged into nothing, without the keys in `skip`.
fn fresh_map(
    map: &Map<String, Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
    skip: &[&str],
) -> Result<Map<String, Value>, StrategicMergeError> {
    let mut out = Map::new();
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        check_directive_key(key, path)?;
        if key.starts_with('$') {
            continue;
        }
        if let Some(value) = fresh(value, schema.field(key), &field(path, key))? {
            out.insert(key.clone(), value);
        }
    }
    Ok(out)
}

/// A replacing list's items merged into nothing: objects lose their directives and
/// nulls; items that are `$patch: delete` objects are dropped. (An atomic list's items
/// have no strategies of their own.)
fn fresh_list(list: &[Value], path: &Path<'_>) -> Result<Vec<Value>, StrategicMergeError> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::Object(_) => out.extend(fresh(item, None, path)?),
            Value::Array(inner) => out.push(Value::Array(fresh_list(inner, path)?)),
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

fn unknown_patch_value(directive: &Value, path: &Path<'_>) -> StrategicMergeError {
    StrategicMergeError::UnknownDirective {
        path: path.render(),
        directive: format!("{PATCH}: {directive}"),
    }
}

fn invalid(path: &Path<'_>, directive: &str, reason: impl Into<String>) -> StrategicMergeError {
    StrategicMergeError::InvalidDirective {
        path: path.render(),
        directive: directive.to_owned(),
        reason: reason.into(),
    }
}

fn missing_key(
    path: &Path<'_>,
    key: &'static str,
    item: &Map<String, Value>,
) -> StrategicMergeError {
    StrategicMergeError::MissingMergeKey {
        path: path.render(),
        key,
        item: brief(&Value::Object(item.clone())),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as JSON, shortened for an error message.
fn brief(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}
