//! What the registry does to an object before it is written: the server-owned metadata
//! rules, the kind's defaulting and validation, as pure functions of (stored object,
//! new object, now, strategy). Keeping them pure keeps every rule in one place and
//! testable without a store.

use crate::meta::ObjectMeta;
use crate::resource::{Resource, Scope};
use crate::time::Time;

use super::strategy::Strategy;
use crate::validation::{
    FieldErrors, validate_dns1123_label, validate_dns1123_subdomain, validate_label_value,
    validate_qualified_name,
};

/// Largest total size of an object's annotations (keys and values), as Kubernetes.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Sets the server-owned fields of a new object and checks it. `uid` and `now` come
/// from the client; the name has already been chosen.
pub(crate) fn prepare_create<K: Resource>(
    obj: &mut K,
    uid: String,
    now: Time,
    strategy: &dyn Strategy<K>,
) -> Result<(), FieldErrors> {
    let meta = obj.meta_mut();
    meta.uid = Some(uid);
    meta.creation_timestamp = Some(now);
    meta.generation = Some(1);
    meta.resource_version = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    if strategy.has_status() {
        strategy.clear_status(obj);
    }
    strategy.defaults(obj);
    let mut errors = validate_meta(obj.meta(), K::SCOPE);
    errors.extend(strategy.validate(obj).err().unwrap_or_default());
    errors.into_result()
}

/// Merges an update of the desired state into the stored object: server-owned metadata
/// and the status are kept from `old`, `generation` moves when the desired state
/// changed, and an object being deleted may lose finalizers but gain none.
pub(crate) fn prepare_update<K: Resource>(
    old: &K,
    new: &mut K,
    strategy: &dyn Strategy<K>,
) -> Result<(), FieldErrors> {
    if strategy.has_status() {
        strategy.set_status_from(new, old);
    }
    keep_server_fields(old.meta(), new.meta_mut());
    strategy.defaults(new);
    let generation = old.meta().generation.unwrap_or(1);
    let bumped = if strategy.same_desired_state(new, old) {
        generation
    } else {
        generation + 1
    };
    new.meta_mut().generation = Some(bumped);
    let mut errors = FieldErrors::new();
    if old.meta().is_being_deleted() {
        for (i, f) in new.meta().finalizers.iter().enumerate() {
            if !old.meta().has_finalizer(f) {
                errors.push(
                    format!("metadata.finalizers[{i}]"),
                    format!("cannot add finalizer {f:?} to an object being deleted"),
                );
            }
        }
    }
    errors.extend(validate_meta(new.meta(), K::SCOPE));
    errors.extend(strategy.validate_update(new, old).err().unwrap_or_default());
    errors.into_result()
}

/// Builds the object a status write makes: the stored object with `new`'s status.
pub(crate) fn prepare_status_update<K: Resource>(
    old: &K,
    new: &K,
    strategy: &dyn Strategy<K>,
) -> K {
    let mut merged = old.clone();
    strategy.set_status_from(&mut merged, new);
    merged
}

fn keep_server_fields(old: &ObjectMeta, new: &mut ObjectMeta) {
    new.name.clone_from(&old.name);
    new.namespace.clone_from(&old.namespace);
    new.generate_name.clone_from(&old.generate_name);
    new.uid.clone_from(&old.uid);
    new.creation_timestamp = old.creation_timestamp;
    new.deletion_timestamp = old.deletion_timestamp;
    new.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    new.generation = old.generation;
}

/// Checks a name or generateName-derived name of an object.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    validate_dns1123_subdomain(name)
}

/// The metadata rules every kind shares.
pub(crate) fn validate_meta(meta: &ObjectMeta, scope: Scope) -> FieldErrors {
    let mut errors = FieldErrors::new();
    match meta.name.as_deref() {
        None | Some("") => errors.push("metadata.name", "name or generateName is required"),
        Some(name) => {
            if let Err(e) = validate_name(name) {
                errors.push("metadata.name", e);
            }
        }
    }
    match (scope, meta.namespace.as_deref()) {
        (Scope::Namespaced, None | Some("")) => errors.push(
            "metadata.namespace",
            "a namespaced object needs a namespace",
        ),
        (Scope::Namespaced, Some(ns)) => {
            if let Err(e) = validate_dns1123_label(ns) {
                errors.push("metadata.namespace", e);
            }
        }
        (Scope::Cluster, Some(ns)) if !ns.is_empty() => errors.push(
            "metadata.namespace",
            format!("a cluster-scoped object has no namespace, got {ns:?}"),
        ),
        (Scope::Cluster, _) => {}
    }
    for (key, value) in &meta.labels {
        if let Err(e) = validate_qualified_name(key) {
            errors.push(format!("metadata.labels[{key:?}]"), e);
        }
        if let Err(e) = validate_label_value(value) {
            errors.push(format!("metadata.labels[{key:?}]"), e);
        }
    }
    let mut annotation_bytes = 0;
    for (key, value) in &meta.annotations {
        annotation_bytes += key.len() + value.len();
        if let Err(e) = validate_qualified_name(key) {
            errors.push(format!("metadata.annotations[{key:?}]"), e);
        }
    }
    if annotation_bytes > MAX_ANNOTATIONS_BYTES {
        errors.push(
            "metadata.annotations",
            format!(
                "total size {annotation_bytes} bytes is over the limit of {MAX_ANNOTATIONS_BYTES}"
            ),
        );
    }
    for (i, f) in meta.finalizers.iter().enumerate() {
        if let Err(e) = validate_qualified_name(f) {
            errors.push(format!("metadata.finalizers[{i}]"), e);
        }
    }
    let mut controllers = 0;
    for (i, r) in meta.owner_references.iter().enumerate() {
        let field = format!("metadata.ownerReferences[{i}]");
        for (name, value) in [
            ("apiVersion", &r.api_version),
            ("kind", &r.kind),
            ("name", &r.name),
            ("uid", &r.uid),
        ] {
            if value.is_empty() {
                errors.push(format!("{field}.{name}"), "must not be empty");
            }
        }
        controllers += usize::from(r.controller == Some(true));
    }
    if controllers > 1 {
        errors.push(
            "metadata.ownerReferences",
            "at most one owner reference may have controller=true",
        );
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::Widget;
    use crate::registry::DefaultStrategy;

    #[test]
    fn invalid_metadata_is_reported_field_by_field() {
        let mut meta = ObjectMeta::namespaced("Bad_NS", "../x");
        meta.labels.insert("app".into(), "bad value".into());
        meta.finalizers.push("not a name".into());
        let errors = validate_meta(&meta, Scope::Namespaced);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "metadata.namespace",
                "metadata.labels[\"app\"]",
                "metadata.finalizers[0]"
            ]
        );
        assert!(errors.to_string().contains("\"../x\""), "{errors}");
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let meta = ObjectMeta::namespaced("default", "node-1");
        let errors = validate_meta(&meta, Scope::Cluster);
        assert_eq!(errors.0[0].field, "metadata.namespace");
    }

    #[test]
    fn update_keeps_server_fields_and_bumps_generation_on_spec_change_only() {
        let mut old = Widget::new("default", "w", 1);
        prepare_create(&mut old, "uid-1".into(), Time::UNIX_EPOCH, &DefaultStrategy).unwrap();
        old.status = Some(crate::api::tests::WidgetStatus { seen: 5 });

        let mut same = old.clone();
        same.meta_mut().uid = Some("forged".into());
        same.status = None;
        same.meta_mut().labels.insert("x".into(), "y".into());
        prepare_update(&old, &mut same, &DefaultStrategy).unwrap();
        assert_eq!(same.meta().uid.as_deref(), Some("uid-1"));
        assert_eq!(
            same.status, old.status,
            "status is kept from the stored object"
        );
        assert_eq!(
            same.meta().generation,
            Some(1),
            "a label change is not a spec change"
        );

        let mut changed = old.clone();
        changed.spec.size = 2;
        prepare_update(&old, &mut changed, &DefaultStrategy).unwrap();
        assert_eq!(changed.meta().generation, Some(2));
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let mut old = Widget::new("default", "w", 1);
        prepare_create(&mut old, "u".into(), Time::UNIX_EPOCH, &DefaultStrategy).unwrap();
        old.meta_mut().deletion_timestamp = Some(Time::UNIX_EPOCH);
        let mut new = old.clone();
        new.meta_mut().finalizers.push("example.com/late".into());
        let errors = prepare_update(&old, &mut new, &DefaultStrategy).unwrap_err();
        assert_eq!(errors.0[0].field, "metadata.finalizers[0]");
    }
}
