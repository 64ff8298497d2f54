//! How objects become store keys and values, and how stored values are read back.
//!
//! Keys: `{prefix}/{plural}/{namespace}/{name}` for namespaced kinds and
//! `{prefix}/{plural}/{name}` for cluster-scoped ones, where kinds outside the core
//! group are qualified by their group (`/registry/apps/deployments/default/web`), so two
//! users' kinds with the same plural in different groups never share keys. Names are
//! validated before they become keys, so a name can never step outside its prefix.
//!
//! Values: the object's JSON with `apiVersion` and `kind` first. `resourceVersion` is
//! never stored: it is the key's `mod_revision`, filled in on every read, so an
//! unchanged object encodes to identical bytes and a no-op update is detectable.
//!
//! A stored value is only served as what its key says it is: one that does not decode
//! as the kind, or whose `metadata` names another object than its key, is reported as
//! [`Unreadable`] and never served under the wrong name.

use crate::resource::{ApiResource, Resource, Scope};
use crate::store::{KeyValue, Revision, display_key};

/// The key prefix of every object of `resource` (ending in `/`).
pub(crate) fn kind_root(key_prefix: &str, resource: &ApiResource) -> String {
    let mut out = String::with_capacity(key_prefix.len() + 64);
    out.push_str(key_prefix);
    out.push('/');
    if !resource.group().is_empty() {
        out.push_str(resource.group());
        out.push('/');
    }
    out.push_str(resource.plural());
    out.push('/');
    out
}

/// Encodes `obj` (whose resourceVersion the caller has cleared).
pub(crate) fn encode<K: Resource>(obj: &K) -> Result<Vec<u8>, serde_json::Error> {
    crate::api::body::encode_with_type(obj)
}

/// Why a stored value cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    /// The store key, for display.
    pub key: String,
    /// The key's mod_revision.
    pub revision: Revision,
    /// The namespace and name the key says the object has.
    pub namespace: Option<String>,
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the object stored at {} (resourceVersion {}) cannot be served: {}",
            self.key, self.revision, self.reason
        )
    }
}

/// Decodes a stored key-value at `revision` (its mod_revision, or a deletion's), after
/// checking it is the object its key names: `root` is the kind's key root.
pub(crate) fn decode_stored<K: Resource>(
    root: &str,
    scope: Scope,
    kv: &KeyValue,
    revision: Revision,
) -> Result<K, Unreadable> {
    let (namespace, name) = parts_of_key(root, scope, &kv.key);
    let unreadable = |reason: String| Unreadable {
        key: display_key(&kv.key),
        revision,
        namespace: namespace.clone(),
        name: name.clone(),
        reason,
    };
    let mut obj: K = serde_json::from_slice(&kv.value)
        .map_err(|e| unreadable(format!("it does not decode as {}: {e}", K::KIND)))?;
    let meta = obj.meta();
    let stored_ns = meta.namespace.as_deref().filter(|ns| !ns.is_empty());
    if meta.name.as_deref() != Some(name.as_str()) || stored_ns != namespace.as_deref() {
        let says = match stored_ns {
            Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or("")),
            None => meta.name.clone().unwrap_or_default(),
        };
        return Err(unreadable(format!(
            "its metadata names {says:?}, not the object its key names"
        )));
    }
    obj.meta_mut().resource_version = Some(revision.to_string());
    Ok(obj)
}

/// The namespace and name a key under `root` names.
pub(crate) fn parts_of_key(root: &str, scope: Scope, key: &[u8]) -> (Option<String>, String) {
    let rest = key.strip_prefix(root.as_bytes()).unwrap_or(key);
    let rest = String::from_utf8_lossy(rest);
    match scope {
        Scope::Namespaced => match rest.split_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, rest.into_owned()),
        },
        Scope::Cluster => (None, rest.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::Widget;
    use bytes::Bytes;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: Bytes::from(key.to_owned()),
            value: Bytes::from(value.to_owned()),
            create_revision: 1,
            mod_revision: 7,
            version: 1,
        }
    }

    #[test]
    fn keys_are_group_qualified_and_values_lead_with_type() {
        let root = kind_root("/registry", &Widget::api_resource());
        assert_eq!(root, "/registry/example.dev/widgets/");
        let text = String::from_utf8(encode(&Widget::new("default", "w", 3)).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"apiVersion":"example.dev/v1","kind":"Widget","metadata":"#),
            "{text}"
        );
        let back: Widget = decode_stored(
            &root,
            Scope::Namespaced,
            &kv("/registry/example.dev/widgets/default/w", &text),
            42,
        )
        .unwrap();
        assert_eq!(back.spec.size, 3);
        assert_eq!(back.metadata.resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn corrupt_values_and_values_under_the_wrong_key_name_their_key() {
        let root = "/registry/example.dev/widgets/";
        let err = decode_stored::<Widget>(
            root,
            Scope::Namespaced,
            &kv("/registry/example.dev/widgets/default/w", "{oops"),
            7,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("/registry/example.dev/widgets/default/w"),
            "{err}"
        );
        assert_eq!(
            (err.namespace.as_deref(), err.name.as_str()),
            (Some("default"), "w")
        );

        let other =
            String::from_utf8(encode(&Widget::new("default", "other", 1)).unwrap()).unwrap();
        let err = decode_stored::<Widget>(
            root,
            Scope::Namespaced,
            &kv("/registry/example.dev/widgets/default/w", &other),
            7,
        )
        .unwrap_err();
        assert!(err.reason.contains("default/other"), "{err}");
        let elsewhere =
            String::from_utf8(encode(&Widget::new("kube-system", "w", 1)).unwrap()).unwrap();
        assert!(
            decode_stored::<Widget>(
                root,
                Scope::Namespaced,
                &kv("/registry/example.dev/widgets/default/w", &elsewhere),
                7,
            )
            .is_err()
        );
    }
}
