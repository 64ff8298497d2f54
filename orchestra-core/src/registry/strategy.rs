//! [`Strategy`]: what the server does with one kind — defaults, validation, what counts
//! as the desired state, how status is written, grace periods, selectable fields, and
//! the kind's subresources — as Kubernetes' registry strategies are.
//!
//! A kind registers one strategy ([`Registry::register_with`](super::Registry::register_with));
//! a user's kind that needs nothing special registers with [`DefaultStrategy`], which
//! works on the object's JSON shape (`spec` is the desired state, `status` the observed
//! one).

use crate::api::strategic_merge::PatchSchema;
use crate::labels::LabelSelector;
use crate::resource::Resource;
use crate::time::Time;
use crate::validation::FieldErrors;

/// The fields every kind can be selected by.
pub const METADATA_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// What a kind's `scale` subresource shows: desired and current replicas and the pod
/// selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleView {
    /// The desired replicas.
    pub replicas: i32,
    /// The replicas that exist now (from the status).
    pub status_replicas: i32,
    /// The selector of the pods it scales.
    pub selector: LabelSelector,
}

/// The server-side behaviour of one kind. Every method has a default, so a strategy
/// overrides only what its kind needs; the defaults are those of [`DefaultStrategy`].
///
/// Each method is a pure function of the objects it is given: the registry calls them
/// on every write, in this order — `defaults`, then `validate` (create) or
/// `validate_update` (update), then `same_desired_state` to decide `generation`.
pub trait Strategy<K: Resource>: Send + Sync + 'static {
    /// Fills in defaulted fields, as Kubernetes' defaulting does (create and update).
    fn defaults(&self, _obj: &mut K) {}

    /// Checks the object's own fields (metadata is checked for every kind by the
    /// registry). Returns every problem found, each naming its field.
    fn validate(&self, _obj: &K) -> Result<(), FieldErrors> {
        Ok(())
    }

    /// Checks an update against the stored object (fields that may not change); the
    /// default validates the new object alone.
    fn validate_update(&self, new: &K, _old: &K) -> Result<(), FieldErrors> {
        self.validate(new)
    }

    /// Whether `a` and `b` declare the same desired state: everything but `metadata`
    /// and `status`. `metadata.generation` moves when this is false.
    fn same_desired_state(&self, a: &K, b: &K) -> bool {
        json_without(a, &["metadata", "status"]) == json_without(b, &["metadata", "status"])
    }

    /// Whether the kind has a status written apart from the rest (the `status`
    /// subresource). Without one, a status write is refused and a create keeps what
    /// was sent.
    fn has_status(&self) -> bool {
        true
    }

    /// Replaces `obj`'s status with `from`'s, leaving everything else alone.
    fn set_status_from(&self, obj: &mut K, from: &K) {
        let mut me = match serde_json::to_value(&*obj) {
            Ok(me) => me,
            Err(_) => return,
        };
        let status = serde_json::to_value(from)
            .ok()
            .and_then(|mut v| v.as_object_mut().and_then(|o| o.remove("status")));
        if let Some(map) = me.as_object_mut() {
            match status {
                Some(s) => map.insert("status".to_owned(), s),
                None => map.remove("status"),
            };
        }
        if let Ok(updated) = serde_json::from_value(me) {
            *obj = updated;
        }
    }

    /// Removes the status (on create: status is observed state, written only through
    /// the status subresource).
    fn clear_status(&self, obj: &mut K) {
        let Ok(mut me) = serde_json::to_value(&*obj) else {
            return;
        };
        let had_status = me
            .as_object_mut()
            .and_then(|o| o.remove("status"))
            .is_some();
        if had_status {
            if let Ok(cleared) = serde_json::from_value(me) {
                *obj = cleared;
            }
        }
    }

    /// The grace period a delete of `obj` gets, in seconds, given the one `requested`
    /// (the caller's, else the one a pending deletion already has; `None` when there is
    /// neither). `None` or `Some(0)` delete at once (once the finalizers are gone); a
    /// positive period only marks the object (`deletionTimestamp`) so whoever runs it
    /// can stop it first.
    ///
    /// The default is `None` whatever was requested: as in Kubernetes, only kinds with
    /// something to stop (pods) delete gracefully, and a grace period asked of any
    /// other kind is ignored.
    fn deletion_grace_seconds(&self, _obj: &K, _requested: Option<i64>) -> Option<i64> {
        None
    }

    /// The fields a field selector may name, or `None` for any dotted path into the
    /// object (the default). A selector naming another field is refused (400), as
    /// Kubernetes refuses unsupported field labels.
    fn selectable_fields(&self) -> Option<&[&str]> {
        None
    }

    /// The value of a selectable field, e.g. `spec.nodeName`; `None` when the object
    /// has no value there (it then matches `""`). The default looks the dotted path
    /// up in the JSON form (numbers and booleans as their JSON text).
    fn field_value(&self, obj: &K, path: &str) -> Option<String> {
        match path {
            "metadata.name" => return obj.meta().name.clone(),
            "metadata.namespace" => return obj.meta().namespace.clone(),
            _ => {}
        }
        let value = serde_json::to_value(obj).ok()?;
        let mut cur = &value;
        for part in path.split('.') {
            cur = cur.get(part)?;
        }
        match cur {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// The subresources the kind has beside `status` (which
    /// [`has_status`](Strategy::has_status) declares): [`Subresource::Scale`] for a
    /// kind whose [`scale`](Strategy::scale) gives a view, [`Subresource::Binding`] for
    /// one that [`bind`](Strategy::bind)s. Discovery lists them. Default none.
    fn subresources(&self) -> &'static [Subresource] {
        &[]
    }

    /// The `scale` subresource of `obj`, for a kind that has one.
    fn scale(&self, _obj: &K) -> Option<ScaleView> {
        None
    }

    /// Sets the desired replicas (only called when [`Strategy::scale`] gives a view).
    fn set_replicas(&self, _obj: &mut K, _replicas: i32) {}

    /// The kind's [`PatchSchema`]: which of its lists a strategic merge patch merges
    /// and on which key. `None` (the default) refuses strategic merge patches with
    /// `UnsupportedMediaType`, as kube-apiserver refuses them for a custom resource,
    /// whose Go type it does not know; merge and JSON patches still apply. The schema
    /// belongs to the strategy, not the type, because it is the server's rule for the
    /// kind, like its validation.
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        None
    }

    /// Binds `obj` to `node_name` at `now`, for a kind with a `binding` subresource
    /// (pods): `Err` says why it cannot be bound (already bound, being deleted).
    /// `None` for a kind that cannot be bound (the default).
    fn bind(&self, _obj: &mut K, _node_name: &str, _now: Time) -> Option<Result<(), String>> {
        None
    }
}

/// A subresource of a kind: a part of its objects with an endpoint of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subresource {
    /// `status`: read, replaced and patched apart from the rest of the object.
    Status,
    /// `scale`: the desired replicas, as an `autoscaling/v1` `Scale`.
    Scale,
    /// `binding`: assigns a pod to a node (created, never read).
    Binding,
}

impl Subresource {
    /// The subresource's name in a path (`…/pods/web/status`).
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
        }
    }
}

/// The strategy of a kind that needs nothing special: no defaults, no validation
/// beyond metadata, `spec` as the desired state and `status` apart, any field
/// selectable.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultStrategy;

impl<K: Resource> Strategy<K> for DefaultStrategy {}

fn json_without<K: serde::Serialize>(obj: &K, fields: &[&str]) -> serde_json::Value {
    let mut value = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        for f in fields {
            map.remove(*f);
        }
    }
    value
}
