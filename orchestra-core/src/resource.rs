//! The [`Resource`] trait: what makes a Rust type a kind the machinery can store, watch
//! and reconcile.
//!
//! Built-in kinds implement it, and users implement it for their own kinds the same way;
//! nothing in the store, the typed [`Api`](crate::api::Api) or the reconcile machinery
//! knows any kind by name.
//!
//! ```
//! use orchestra_core::{ObjectMeta, Resource, Scope};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! pub struct Echo {
//!     pub metadata: ObjectMeta,
//!     pub spec: EchoSpec,
//!     #[serde(default, skip_serializing_if = "Option::is_none")]
//!     pub status: Option<EchoStatus>,
//! }
//! #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
//! pub struct EchoSpec { pub message: String }
//! #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
//! pub struct EchoStatus { pub echoed: String }
//!
//! impl Resource for Echo {
//!     const KIND: &'static str = "Echo";
//!     const API_VERSION: &'static str = "example.dev/v1";
//!     const PLURAL: &'static str = "echoes";
//!     const SCOPE: Scope = Scope::Namespaced;
//!     fn meta(&self) -> &ObjectMeta { &self.metadata }
//!     fn meta_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
//! }
//! ```

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::meta::{ObjectMeta, OwnerReference};
use crate::validation::FieldErrors;

/// Whether objects of a kind live in a namespace or in the cluster as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects have a namespace (Pods, Deployments).
    Namespaced,
    /// Objects have no namespace (Nodes).
    Cluster,
}

/// A kind of object: its identity (kind, apiVersion, plural, scope) and its metadata.
///
/// The serialized form must be a JSON object with a `metadata` field; by convention the
/// desired state is under `spec` and the observed state under `status`. The typed API
/// adds `apiVersion` and `kind` when it stores an object, so implementors need not carry
/// them.
///
/// The provided methods have generic, JSON-based defaults; a kind may override them
/// with faster or stricter versions but must keep their meaning.
pub trait Resource: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind, e.g. `Deployment`. Unique within the API group.
    const KIND: &'static str;
    /// Group and version, e.g. `apps/v1` (the core group is just `v1`).
    const API_VERSION: &'static str;
    /// The lowercase plural used in store keys, e.g. `deployments`.
    const PLURAL: &'static str;
    /// Whether the kind is namespaced or cluster-scoped.
    const SCOPE: Scope;

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;

    /// The object's metadata, mutably.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// Fills in defaulted fields, as Kubernetes' defaulting does. The typed API calls it
    /// before validating every create and update. The default does nothing.
    fn apply_defaults(&mut self) {}

    /// Checks the object's own fields (not metadata, which the API checks for every
    /// kind). Returns every problem found, each naming its field. The default accepts
    /// everything.
    fn validate(&self) -> Result<(), FieldErrors> {
        Ok(())
    }

    /// Whether `self` and `other` declare the same desired state: everything except
    /// `metadata` and `status`. The API bumps `metadata.generation` when this is false.
    fn same_desired_state(&self, other: &Self) -> bool {
        json_without(self, &["metadata", "status"]) == json_without(other, &["metadata", "status"])
    }

    /// Replaces this object's `status` with `from`'s, leaving everything else alone.
    /// Used by `update_status`, which must never change the desired state.
    fn set_status_from(&mut self, from: &Self) {
        let mut me = serde_json::to_value(&*self).expect("a Resource serializes to JSON");
        let status = serde_json::to_value(from)
            .ok()
            .and_then(|mut v| v.as_object_mut().and_then(|o| o.remove("status")));
        if let Some(obj) = me.as_object_mut() {
            match status {
                Some(s) => obj.insert("status".to_owned(), s),
                None => obj.remove("status"),
            };
        }
        if let Ok(updated) = serde_json::from_value(me) {
            *self = updated;
        }
    }

    /// Removes the object's `status`. The API calls it on create: status is observed
    /// state, written only through `update_status`.
    fn clear_status(&mut self) {
        let mut me = serde_json::to_value(&*self).expect("a Resource serializes to JSON");
        let had_status = me
            .as_object_mut()
            .and_then(|o| o.remove("status"))
            .is_some();
        if had_status {
            if let Ok(cleared) = serde_json::from_value(me) {
                *self = cleared;
            }
        }
    }

    /// The grace period a plain delete of this object gets, in seconds, when the caller
    /// gives none. `None` or `Some(0)` delete at once; a positive period only marks the
    /// object (`deletionTimestamp`) so an agent can stop what it runs, and the agent
    /// then deletes it with a zero grace period. Pods bound to a node use their
    /// `terminationGracePeriodSeconds`; the default is `None`.
    fn default_deletion_grace_seconds(&self) -> Option<i64> {
        None
    }

    /// The value of a field for field selectors, e.g. `spec.nodeName` or
    /// `status.phase`; `None` when the object has no such field. The default looks the
    /// dotted path up in the JSON form (numbers and booleans as their JSON text).
    fn field_value(&self, path: &str) -> Option<String> {
        match path {
            "metadata.name" => return self.meta().name.clone(),
            "metadata.namespace" => return self.meta().namespace.clone(),
            _ => {}
        }
        let value = serde_json::to_value(self).ok()?;
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
}

/// Extra conveniences for every [`Resource`].
pub trait ResourceExt: Resource {
    /// The object's name, or `""` when it has none yet.
    fn name_any(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    /// The object's namespace, if it has one.
    fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The object's uid, or `""` before it is stored.
    fn uid(&self) -> &str {
        self.meta().uid.as_deref().unwrap_or("")
    }

    /// The object's resourceVersion parsed as a store revision (0 when unset).
    fn resource_version(&self) -> u64 {
        self.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The object's labels.
    fn labels(&self) -> &crate::StringMap {
        &self.meta().labels
    }

    /// An owner reference pointing at this object, for its dependents. `controller`
    /// marks it as the managing owner; foreground deletion waits for such dependents.
    fn owner_reference(&self, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            name: self.name_any().to_owned(),
            uid: self.uid().to_owned(),
            controller: controller.then_some(true),
            block_owner_deletion: controller.then_some(true),
        }
    }

    /// `namespace/name` (or just `name` for cluster-scoped objects), for logs.
    fn object_key(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name_any()),
            None => self.name_any().to_owned(),
        }
    }
}

impl<K: Resource> ResourceExt for K {}

fn json_without<K: Serialize>(obj: &K, fields: &[&str]) -> serde_json::Value {
    let mut value = serde_json::to_value(obj).expect("a Resource serializes to JSON");
    if let Some(map) = value.as_object_mut() {
        for f in fields {
            map.remove(*f);
        }
    }
    value
}
