//! How objects become store keys and values.
//!
//! Keys: `{prefix}/{plural}/{namespace}/{name}` for namespaced kinds and
//! `{prefix}/{plural}/{name}` for cluster-scoped ones, where kinds outside the core
//! group are qualified by their group (`/registry/apps/deployments/default/web`), so two
//! users' kinds with the same plural in different groups never share keys. Names are
//! validated before they reach this module, so a name can never step outside its
//! prefix.
//!
//! Values: the object's JSON with `apiVersion` and `kind` first. `resourceVersion` is
//! never stored: it is the key's `mod_revision`, filled in on every read, so an
//! unchanged object encodes to identical bytes and a no-op update is detectable.

use bytes::Bytes;

use crate::resource::{Resource, Scope};
use crate::store::{KeyValue, display_key};

use super::ApiError;

/// The key prefix of every object of kind `K` (ending in `/`), within `namespace` if
/// given.
pub(crate) fn kind_prefix<K: Resource>(key_prefix: &str, namespace: Option<&str>) -> String {
    let group = K::API_VERSION.rsplit_once('/').map(|(g, _)| g);
    let mut out = String::with_capacity(key_prefix.len() + 64);
    out.push_str(key_prefix);
    out.push('/');
    if let Some(group) = group {
        out.push_str(group);
        out.push('/');
    }
    out.push_str(K::PLURAL);
    out.push('/');
    if let (Scope::Namespaced, Some(ns)) = (K::SCOPE, namespace) {
        out.push_str(ns);
        out.push('/');
    }
    out
}

/// Encodes `obj` (whose resourceVersion the caller has cleared).
pub(crate) fn encode<K: Resource>(obj: &K) -> Result<Vec<u8>, ApiError> {
    let body = serde_json::to_vec(obj).map_err(|e| {
        ApiError::BadRequest(format!(
            "cannot encode {} {:?}: {e}",
            K::KIND,
            obj.meta().name
        ))
    })?;
    if body.first() != Some(&b'{') {
        return Err(ApiError::BadRequest(format!(
            "{} does not serialize to a JSON object",
            K::KIND
        )));
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"{\"apiVersion\":");
    serde_json::to_writer(&mut out, K::API_VERSION).expect("writing to a Vec cannot fail");
    out.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut out, K::KIND).expect("writing to a Vec cannot fail");
    if body.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(&body[1..]);
    Ok(out)
}

/// Decodes a stored object and stamps its resourceVersion with `revision`.
pub(crate) fn decode<K: Resource>(key: &[u8], value: &Bytes, revision: u64) -> Result<K, ApiError> {
    let mut obj: K = serde_json::from_slice(value).map_err(|source| ApiError::Decode {
        kind: K::KIND,
        key: display_key(key),
        source,
    })?;
    obj.meta_mut().resource_version = Some(revision.to_string());
    Ok(obj)
}

/// Decodes a key-value at its mod_revision.
pub(crate) fn decode_kv<K: Resource>(kv: &KeyValue) -> Result<K, ApiError> {
    decode(&kv.key, &kv.value, kv.mod_revision)
}
