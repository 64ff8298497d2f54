//! Object metadata shared by every kind: `metadata`, `apiVersion`/`kind`, owner
//! references. The JSON shapes are Kubernetes' (camelCase, empty fields omitted).

use serde::{Deserialize, Serialize};

use crate::string_map::StringMap;
use crate::time::Time;

/// `apiVersion` and `kind`: which schema an object follows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// Group and version, e.g. `apps/v1` (core kinds: `v1`).
    #[serde(default)]
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    #[serde(default)]
    pub kind: String,
}

/// Metadata every persisted object carries.
///
/// The typed [`Api`](crate::api::Api) owns the server-set fields (`uid`,
/// `resourceVersion`, `generation`, `creationTimestamp`, `deletionTimestamp`): values a
/// client sends for them are ignored or checked, never trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Unique name within the namespace (or cluster, for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Prefix for a server-generated name, used when `name` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Namespace of a namespaced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Server-assigned unique id, stable for the object's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Opaque version of this object: the store's mod_revision. Updates must send the
    /// version they read (optimistic concurrency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Bumped by the server each time the desired state (everything but metadata and
    /// status) changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When the object was created (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When deletion was requested, for objects held back by finalizers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Grace period the deletion was requested with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying key/value pairs, matched by label selectors.
    #[serde(default, skip_serializing_if = "StringMap::is_empty")]
    pub labels: StringMap,
    /// Non-identifying key/value pairs for tools and controllers.
    #[serde(default, skip_serializing_if = "StringMap::is_empty")]
    pub annotations: StringMap,
    /// Objects this one depends on; the garbage collector deletes it when they are gone.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub owner_references: Vec<OwnerReference>,
    /// Names of pending cleanup steps; the object is removed only once this is empty.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// Metadata with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// Metadata with a namespace and a name.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        }
    }

    /// The object's controlling owner: the owner reference with `controller: true`.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|r| r.controller == Some(true))
    }

    /// Whether deletion has been requested (the object waits for its finalizers).
    pub fn is_being_deleted(&self) -> bool {
        self.deletion_timestamp.is_some()
    }

    /// Whether `finalizer` is present.
    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// A reference from a dependent to its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's `apiVersion`.
    pub api_version: String,
    /// The owner's `kind`.
    pub kind: String,
    /// The owner's name (same namespace as the dependent).
    pub name: String,
    /// The owner's uid: a reference to a deleted-and-recreated owner of the same name
    /// does not match.
    pub uid: String,
    /// Whether this owner is the managing controller (at most one per object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// With foreground deletion, whether the owner waits for this dependent to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Just the metadata of an object of any kind, as Kubernetes' `PartialObjectMetadata`:
/// what a consumer that works across kinds (the garbage collector) reads, through an
/// [`Api`](crate::api::Api) built for the kind at run time
/// ([`Api::all_with`](crate::api::Api::all_with)).
///
/// Decoding any object as this keeps its `metadata` and drops the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialObjectMetadata {
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl crate::resource::Resource for PartialObjectMetadata {
    const KIND: &'static str = "PartialObjectMetadata";
    const API_VERSION: &'static str = "meta.k8s.io/v1";
    /// Not a kind of its own: an `Api` of it names the kind it reads explicitly.
    const PLURAL: &'static str = "";
    const SCOPE: crate::resource::Scope = crate::resource::Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Deserializes a list at exactly its length. A list decoded element by element grows
/// to a capacity of four for one element, and decoded objects live long in caches: for
/// a pod (one container, one owner, two tolerations) that is kilobytes of spare room.
pub(crate) fn compact_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut list = Vec::<T>::deserialize(deserializer)?;
    list.shrink_to_fit();
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_omitted_and_names_are_camel_case() {
        let mut meta = ObjectMeta::namespaced("default", "web");
        meta.generate_name = Some("web-".into());
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "web", "namespace": "default", "generateName": "web-"})
        );
    }

    #[test]
    fn controller_ref_picks_the_controlling_owner() {
        let mut meta = ObjectMeta::named("p");
        meta.owner_references.push(OwnerReference {
            name: "a".into(),
            ..Default::default()
        });
        meta.owner_references.push(OwnerReference {
            name: "b".into(),
            controller: Some(true),
            ..Default::default()
        });
        assert_eq!(meta.controller_ref().unwrap().name, "b");
    }
}
