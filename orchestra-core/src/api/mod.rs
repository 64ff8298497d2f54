//! The typed object API: [`Api<K>`] for every `K: Resource`, a thin typed facade over
//! a [`Client`] and the [`ObjectService`] it holds.
//!
//! `Api<K>` builds each call — which kind, which namespace, which object — and hands it
//! to the service as an [`ObjectBody`]; the object rules are applied behind the
//! service, once (see [`registry`](crate::registry)): names validated, uid and
//! creationTimestamp assigned, `metadata.resourceVersion` guarding every update,
//! `generation` moving only when the desired state changes, status written only through
//! the status calls, deletions respecting finalizers and grace periods, objects over
//! the size limit refused. In one process the typed object itself crosses the seam;
//! over a network it is JSON; the caller cannot tell.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn orchestra_core::Store>) -> Result<(), orchestra_core::ApiError> {
//! use orchestra_core::kinds::Lease;
//! use orchestra_core::registry::Registry;
//! use orchestra_core::{Api, Client, ObjectMeta};
//!
//! let client = Client::new(Registry::new(store));
//! let leases: Api<Lease> = Api::namespaced(client, "default");
//! let created = leases
//!     .create(&Lease { metadata: ObjectMeta::named("demo"), ..Default::default() })
//!     .await?;
//! let mut stale = created.clone();
//! let _fresh = leases.update(&created).await?;
//! // `stale` still carries the old resourceVersion, so this fails with Conflict.
//! stale.spec.holder_identity = Some("me".into());
//! assert!(leases.update(&stale).await.unwrap_err().is_conflict());
//! # Ok(()) }
//! ```

mod binding;
pub(crate) mod body;
mod client;
mod error;
pub mod field_selector;
mod intercept;
pub mod json_patch;
pub mod merge_patch;
mod params;
mod service;
pub mod strategic_merge;
mod watch;

use std::marker::PhantomData;
use std::sync::Arc;

pub use body::ObjectBody;
pub use client::Client;
pub use error::{ApiError, ErrorBody, Status, StatusCause, StatusDetails};
pub use field_selector::{FieldRequirement, FieldSelector, FieldSelectorError};
pub use intercept::{BeforeHook, Call, Intercept};
pub use params::{
    Binding, DeleteOutcome, DeleteParams, FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN,
    ListParams, ObjectEvent, ObjectList, Patch, PropagationPolicy, Scale, ScaleSpec, ScaleStatus,
    VersionMatch, WatchParams,
};
pub use service::{BodyWatch, ObjectService, Target};
pub use watch::{FromBody, ObjectWatch};

use crate::resource::{ApiResource, Resource, Scope};
use crate::store::Revision;

/// How many times a client-side read-modify-write (`update_with`) starts over when
/// another writer got in between.
const MAX_CONFLICT_RETRIES: usize = 16;

/// Typed access to the objects of one kind, in one namespace or in all of them.
///
/// Cheap to clone. See the [module docs](self) for the semantics every call keeps.
pub struct Api<K> {
    client: Client,
    namespace: Option<String>,
    resource: ApiResource,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            resource: self.resource.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl<K: Resource> Api<K> {
    /// Objects of kind `K` in `namespace`. For a cluster-scoped kind the namespace is
    /// ignored and this is the same as [`Api::all`].
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::namespaced_with(client, namespace, K::api_resource())
    }

    /// Objects of kind `K` in the `default` namespace.
    pub fn default_namespaced(client: Client) -> Self {
        Self::namespaced(client, "default")
    }

    /// Objects of kind `K` in every namespace (or, for a cluster-scoped kind, all of
    /// them). Lists and watches span namespaces; writes use each object's own
    /// namespace.
    pub fn all(client: Client) -> Self {
        Self::all_with(client, K::api_resource())
    }

    /// Objects of the kind `resource` describes, in `namespace`, read as `K`: for a
    /// kind known only at run time, read through a type that takes any kind (such as
    /// [`PartialObjectMetadata`](crate::meta::PartialObjectMetadata)).
    pub fn namespaced_with(client: Client, namespace: &str, resource: ApiResource) -> Self {
        let namespace = match resource.scope() {
            Scope::Namespaced => Some(namespace.to_owned()),
            Scope::Cluster => None,
        };
        Api {
            client,
            namespace,
            resource,
            _kind: PhantomData,
        }
    }

    /// Like [`Api::all`], for the kind `resource` describes.
    pub fn all_with(client: Client, resource: ApiResource) -> Self {
        Api {
            client,
            namespace: None,
            resource,
            _kind: PhantomData,
        }
    }

    /// The client this API uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace this API is bound to, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The kind this API addresses.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    fn target(&self) -> Target<'_> {
        Target::new(&self.resource, self.namespace.as_deref())
    }

    /// The target of a write of `obj`: this API's namespace, or, for an API over all
    /// namespaces, the object's own.
    fn target_of<'a>(&'a self, obj: &'a K) -> Target<'a> {
        let namespace = match (&self.namespace, self.resource.scope()) {
            (_, Scope::Cluster) => None,
            (Some(ns), _) => Some(ns.as_str()),
            (None, _) => obj.meta().namespace.as_deref().filter(|ns| !ns.is_empty()),
        };
        Target::new(&self.resource, namespace)
    }

    fn decode(&self, body: ObjectBody) -> Result<K, ApiError> {
        body.into_object::<K>().map_err(|e| {
            ApiError::decode(format!(
                "cannot read a reply as {} ({}): {e}",
                K::KIND,
                self.resource
            ))
        })
    }

    /// Creates `obj`. Its name comes from `metadata.name`, or from
    /// `metadata.generateName` plus a random suffix. Server-owned fields (uid,
    /// creationTimestamp, generation, resourceVersion, deletionTimestamp) and the status
    /// are set by the server, whatever the caller sent; defaults are applied and the
    /// object is validated. Returns the stored object.
    pub async fn create(&self, obj: &K) -> Result<K, ApiError> {
        let body = ObjectBody::from_object(obj.clone());
        let created = self
            .client
            .service()
            .create(self.target_of(obj), body)
            .await?;
        self.decode(created)
    }

    /// Returns the object named `name`.
    pub async fn get(&self, name: &str) -> Result<K, ApiError> {
        let body = self.client.service().get(self.target(), name).await?;
        self.decode(body)
    }

    /// Returns the object named `name`, or `None` if it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, ApiError> {
        match self.get(name).await {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the objects matching `params`, as of one resourceVersion (returned in the
    /// list). With a limit, pages continue at the same resourceVersion; a continue
    /// token whose version was compacted meanwhile fails with [`ApiError::Gone`].
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>, ApiError> {
        let list = self.client.service().list(self.target(), params).await?;
        let items = list
            .items
            .into_iter()
            .map(|body| self.decode(body))
            .collect::<Result<_, _>>()?;
        Ok(ObjectList {
            items,
            resource_version: list.resource_version,
            continue_token: list.continue_token,
        })
    }

    /// Replaces the desired state and metadata of `obj`.
    ///
    /// Fails with [`ApiError::Conflict`] if `obj`'s resourceVersion is not the stored
    /// one (an empty resourceVersion means "whatever is stored now"). The status is kept
    /// from the stored object (write it with [`Api::update_status`]); `generation` moves
    /// when the desired state changed; an update that changes nothing writes nothing.
    /// Removing the last finalizer of an object being deleted (with no grace period
    /// pending) removes the object.
    pub async fn update(&self, obj: &K) -> Result<K, ApiError> {
        let name = name_of(obj)?;
        let body = ObjectBody::from_object(obj.clone());
        let replaced = self
            .client
            .service()
            .replace(self.target_of(obj), name, body)
            .await?;
        self.decode(replaced)
    }

    /// Replaces the status of `obj`, leaving its desired state and metadata exactly as
    /// stored. Fails with [`ApiError::Conflict`] on a stale resourceVersion, like
    /// [`Api::update`]; writes nothing when the status is unchanged.
    pub async fn update_status(&self, obj: &K) -> Result<K, ApiError> {
        let name = name_of(obj)?;
        let body = ObjectBody::from_object(obj.clone());
        let replaced = self
            .client
            .service()
            .replace_status(self.target_of(obj), name, body)
            .await?;
        self.decode(replaced)
    }

    /// Writes `new`'s status over `current` — the caller's copy of the stored object,
    /// from an informer cache say — guarded by `current`'s resourceVersion: if the
    /// object changed since, the write fails with [`ApiError::Conflict`] (read it
    /// again, or use [`Api::update_status`] with no resourceVersion). For writers that
    /// report many objects' status from a cache, as the node agent does for its pods.
    pub async fn replace_status(&self, current: &K, new: &K) -> Result<K, ApiError> {
        let Some(rv) = current
            .meta()
            .resource_version
            .clone()
            .filter(|rv| !rv.is_empty())
        else {
            return Err(ApiError::bad_request(format!(
                "replace_status needs the resourceVersion of the {} {:?} it writes over",
                K::KIND,
                current.meta().name.as_deref().unwrap_or_default()
            )));
        };
        let mut guarded = new.clone();
        guarded.meta_mut().resource_version = Some(rv);
        guarded.meta_mut().name.clone_from(&current.meta().name);
        guarded
            .meta_mut()
            .namespace
            .clone_from(&current.meta().namespace);
        self.update_status(&guarded).await
    }

    /// Applies a JSON merge patch (RFC 7386) to the object named `name`.
    ///
    /// The patch is applied to the latest stored state and retried if another writer
    /// gets in between, unless the patch itself names a `metadata.resourceVersion`,
    /// which then must match. Status fields in the patch are ignored (use
    /// [`Api::patch_status`]).
    pub async fn patch(&self, name: &str, patch: &serde_json::Value) -> Result<K, ApiError> {
        self.patch_with(name, &Patch::Merge(patch.clone())).await
    }

    /// Applies a JSON merge patch to the status of the object named `name`.
    pub async fn patch_status(&self, name: &str, patch: &serde_json::Value) -> Result<K, ApiError> {
        let body = self
            .client
            .service()
            .patch_status(self.target(), name, &Patch::Merge(patch.clone()))
            .await?;
        self.decode(body)
    }

    /// Applies a patch of any supported type to the status of the object named `name`
    /// (a node agent's strategic merge patch of a pod's conditions, say).
    pub async fn patch_status_with(&self, name: &str, patch: &Patch) -> Result<K, ApiError> {
        let body = self
            .client
            .service()
            .patch_status(self.target(), name, patch)
            .await?;
        self.decode(body)
    }

    /// Applies a patch of any supported type to the object named `name`: a merge patch,
    /// a JSON patch, or — for a kind with a patch schema, as every built-in kind has —
    /// a strategic merge patch ([`Patch::Strategic`]), the type kubectl sends.
    pub async fn patch_with(&self, name: &str, patch: &Patch) -> Result<K, ApiError> {
        let body = self
            .client
            .service()
            .patch(self.target(), name, patch)
            .await?;
        self.decode(body)
    }

    /// Reads the object named `name`, lets `mutate` change it, and writes it back with
    /// [`Api::update`], starting over from a fresh read if another writer got in
    /// between. The usual way to change one field safely.
    pub async fn update_with(
        &self,
        name: &str,
        mutate: impl FnMut(&mut K) + Send,
    ) -> Result<K, ApiError> {
        self.read_modify_write(name, mutate, false).await
    }

    /// Like [`Api::update_with`], for the status.
    pub async fn update_status_with(
        &self,
        name: &str,
        mutate: impl FnMut(&mut K) + Send,
    ) -> Result<K, ApiError> {
        self.read_modify_write(name, mutate, true).await
    }

    async fn read_modify_write(
        &self,
        name: &str,
        mut mutate: impl FnMut(&mut K) + Send,
        status: bool,
    ) -> Result<K, ApiError> {
        let mut last = None;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let mut obj = self.get(name).await?;
            mutate(&mut obj);
            let written = if status {
                self.update_status(&obj).await
            } else {
                self.update(&obj).await
            };
            match written {
                Err(e) if e.is_conflict() => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one attempt ran"))
    }

    /// Deletes the object named `name`.
    ///
    /// With no finalizers and no grace period the object goes at once
    /// ([`DeleteOutcome::Deleted`]). Otherwise it is only marked: `deletionTimestamp`
    /// is set (now plus the grace period), the propagation policy is recorded as the
    /// `foregroundDeletion` or `orphan` finalizer for the garbage collector, and the
    /// object stays until its finalizers are removed ([`DeleteOutcome::Pending`]).
    /// Deleting an object already being deleted can shorten its grace period.
    pub async fn delete(
        &self,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<K>, ApiError> {
        let outcome = self
            .client
            .service()
            .delete(self.target(), name, params)
            .await?;
        outcome.try_map(|body| self.decode(body))
    }

    /// Watches objects matching `params` for changes after `resource_version`
    /// (usually the resourceVersion of a list; `0` first delivers every current
    /// object as `Added`). See [`ObjectWatch`] for the event semantics. Fails with
    /// [`ApiError::Gone`] when that version was compacted away.
    pub async fn watch(
        &self,
        params: &ListParams,
        resource_version: Revision,
    ) -> Result<ObjectWatch<K>, ApiError> {
        let mut watch = params.watch_from(resource_version);
        if resource_version == 0 {
            watch.resource_version = None;
        }
        self.watch_with(&watch).await
    }

    /// Watches with every option of [`WatchParams`] (bookmarks, timeout, a watch that
    /// starts with the current objects).
    pub async fn watch_with(&self, params: &WatchParams) -> Result<ObjectWatch<K>, ApiError> {
        let stream = self.client.service().watch(self.target(), params).await?;
        Ok(ObjectWatch::new(stream, self.resource.clone()))
    }

    /// Like [`Api::watch_with`], with each object shared (`Arc<K>`): in one process,
    /// every watcher gets the server's own decoded object, with no copy. For caches
    /// that keep objects as `Arc<K>` anyway, as informers do.
    pub async fn watch_shared(
        &self,
        params: &WatchParams,
    ) -> Result<ObjectWatch<K, Arc<K>>, ApiError> {
        let stream = self.client.service().watch(self.target(), params).await?;
        Ok(ObjectWatch::new(stream, self.resource.clone()))
    }

    /// Like [`Api::list`], with each object shared (`Arc<K>`).
    pub async fn list_shared(&self, params: &ListParams) -> Result<ObjectList<Arc<K>>, ApiError> {
        let list = self.client.service().list(self.target(), params).await?;
        let items = list
            .items
            .into_iter()
            .map(|body| {
                body.into_shared::<K>().map_err(|e| {
                    ApiError::decode(format!(
                        "cannot read a reply as {} ({}): {e}",
                        K::KIND,
                        self.resource
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ObjectList {
            items,
            resource_version: list.resource_version,
            continue_token: list.continue_token,
        })
    }

    /// The `scale` subresource of the object named `name`.
    pub async fn scale(&self, name: &str) -> Result<Scale, ApiError> {
        self.client.service().get_scale(self.target(), name).await
    }

    /// Sets the desired replicas of the object named `name` (guarded by `scale`'s
    /// resourceVersion when it has one).
    pub async fn replace_scale(&self, name: &str, scale: &Scale) -> Result<Scale, ApiError> {
        self.client
            .service()
            .replace_scale(self.target(), name, scale)
            .await
    }
}

fn name_of<K: Resource>(obj: &K) -> Result<&str, ApiError> {
    match obj.meta().name.as_deref() {
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(ApiError::bad_request(format!(
            "{} has no metadata.name",
            K::KIND
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// Compile-time checks: the handles a controller shares across tasks are `Send + Sync`,
/// and the futures of their calls are `Send`, so they run on a multi-threaded runtime.
#[cfg(test)]
mod send_sync {
    use super::*;
    use crate::kinds::Pod;
    use crate::registry::Registry;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn handles_are_send_and_sync() {
        send_sync::<Client>();
        send_sync::<Api<Pod>>();
        send_sync::<ObjectWatch<Pod>>();
        send_sync::<ObjectWatch<Pod, Arc<Pod>>>();
        send_sync::<ObjectBody>();
        send_sync::<ApiError>();
        send_sync::<Registry>();
        send_sync::<Intercept>();
    }

    /// Compiles only if every call's future can be spawned.
    #[allow(dead_code)]
    fn futures_are_send(api: Api<Pod>, pod: Pod) {
        send(&api.get("p"));
        send(&api.list(&ListParams::default()));
        send(&api.create(&pod));
        send(&api.update(&pod));
        send(&api.update_status(&pod));
        send(&api.update_with("p", |_| {}));
        send(&api.patch("p", &serde_json::Value::Null));
        send(&api.delete("p", &DeleteParams::default()));
        send(&api.watch(&ListParams::default(), 0));
        send(&api.watch_shared(&WatchParams::default()));
        send(&api.bind(&pod, "n"));
        send(&api.scale("p"));
    }
}
