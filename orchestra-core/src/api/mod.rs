//! The typed object API: [`Api<K>`] for every `K: Resource`, over any [`Store`].
//!
//! All object semantics live here, once, for every kind alike: names are validated
//! (DNS-1123) before they become keys, `uid` and `creationTimestamp` are assigned,
//! `metadata.resourceVersion` is the key's mod_revision and guards every update,
//! `generation` moves only when the desired state changes, `update_status` never
//! touches the desired state, deletions respect finalizers and grace periods and record
//! the propagation policy for the garbage collector, and objects over the size limit
//! are refused. Controllers only ever see this layer.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn orchestra_core::Store>) -> Result<(), orchestra_core::ApiError> {
//! use orchestra_core::kinds::Lease;
//! use orchestra_core::{Api, Client, ObjectMeta};
//!
//! let client = Client::new(store);
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
//!
//! [`Store`]: crate::store::Store

mod binding;
mod client;
mod codec;
mod error;
pub mod field_selector;
pub mod merge_patch;
mod params;
mod prepare;
mod watch;

use std::marker::PhantomData;

use bytes::Bytes;

pub use client::{Client, ClientConfig, DEFAULT_KEY_PREFIX, DEFAULT_MAX_OBJECT_BYTES};
pub use error::ApiError;
pub use field_selector::{FieldRequirement, FieldSelector, FieldSelectorError};
pub use params::{
    DeleteOutcome, DeleteParams, FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN, ListParams,
    ObjectEvent, ObjectList, PropagationPolicy,
};
pub use prepare::MAX_ANNOTATIONS_BYTES;
pub use watch::ObjectWatch;

use crate::resource::{Resource, ResourceExt, Scope};
use crate::store::{KeyValue, ListOptions, Revision, StoreError};

/// How many times a server-side read-modify-write (patch, delete, `update_with`) is
/// retried when another writer got in between.
const MAX_CONFLICT_RETRIES: usize = 16;
/// How many fresh names `generateName` tries before giving up.
const MAX_GENERATE_NAME_ATTEMPTS: usize = 8;

/// Typed access to the objects of one kind, in one namespace or in all of them.
///
/// Cheap to clone. See the [module docs](self) for the semantics every call keeps.
pub struct Api<K> {
    client: Client,
    namespace: Option<String>,
    /// `{prefix}/{group}/{plural}/`: every object of the kind lives under it.
    kind_root: String,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            kind_root: self.kind_root.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("kind_root", &self.kind_root)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl<K: Resource> Api<K> {
    /// Objects of kind `K` in `namespace`. For a cluster-scoped kind the namespace is
    /// ignored and this is the same as [`Api::all`].
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        let namespace = match K::SCOPE {
            Scope::Namespaced => Some(namespace.to_owned()),
            Scope::Cluster => None,
        };
        Self::new(client, namespace)
    }

    /// Objects of kind `K` in the `default` namespace.
    pub fn default_namespaced(client: Client) -> Self {
        Self::namespaced(client, "default")
    }

    /// Objects of kind `K` in every namespace (or, for a cluster-scoped kind, all of
    /// them). Lists and watches span namespaces; writes use each object's own
    /// namespace.
    pub fn all(client: Client) -> Self {
        Self::new(client, None)
    }

    fn new(client: Client, namespace: Option<String>) -> Self {
        let kind_root = codec::kind_prefix::<K>(&client.config().key_prefix, None);
        Api {
            client,
            namespace,
            kind_root,
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

    /// The store prefix this API lists and watches.
    pub fn list_prefix(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}{ns}/", self.kind_root),
            None => self.kind_root.clone(),
        }
    }

    /// Creates `obj`. Its name comes from `metadata.name`, or from
    /// `metadata.generateName` plus a random suffix. Server-owned fields (uid,
    /// creationTimestamp, generation, resourceVersion, deletionTimestamp) and the status
    /// are set by the API, whatever the caller sent; defaults are applied and the object
    /// is validated. Returns the stored object.
    pub async fn create(&self, obj: &K) -> Result<K, ApiError> {
        let mut obj = obj.clone();
        self.settle_namespace(&mut obj)?;
        let generate = obj.meta().name.as_deref().is_none_or(str::is_empty);
        let prefix = obj.meta().generate_name.clone().unwrap_or_default();
        if generate && prefix.is_empty() {
            return Err(self.invalid(&obj, "metadata.name", "name or generateName is required"));
        }
        let attempts = if generate {
            MAX_GENERATE_NAME_ATTEMPTS
        } else {
            1
        };
        for _ in 0..attempts {
            if generate {
                obj.meta_mut().name = Some(format!("{prefix}{}", self.client.name_suffix()));
            }
            let uid = self.client.new_uid();
            prepare::prepare_create(&mut obj, uid, self.client.clock().now()).map_err(
                |errors| ApiError::Invalid {
                    kind: K::KIND,
                    name: self.display_name(&obj),
                    errors,
                },
            )?;
            let key = self.key_of(&obj)?;
            let value = self.encode_checked(&obj)?;
            match self.client.store().create(key.as_bytes(), value).await {
                Ok(kv) => {
                    obj.meta_mut().resource_version = Some(kv.mod_revision.to_string());
                    return Ok(obj);
                }
                Err(StoreError::AlreadyExists { .. }) if generate => continue,
                Err(StoreError::AlreadyExists { .. }) => {
                    return Err(ApiError::AlreadyExists {
                        kind: K::KIND,
                        name: self.display_name(&obj),
                    });
                }
                Err(e) => return Err(ApiError::Store(e)),
            }
        }
        Err(ApiError::AlreadyExists {
            kind: K::KIND,
            name: format!("{prefix}* (no free generated name)"),
        })
    }

    /// Returns the object named `name`.
    pub async fn get(&self, name: &str) -> Result<K, ApiError> {
        let (_, obj) = self.get_kv(name).await?;
        Ok(obj)
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
        let prefix = self.list_prefix();
        let (mut revision, mut start_after) = match &params.continue_token {
            Some(token) => {
                let (rev, key) = parse_continue(token)?;
                (Some(rev), Some(Bytes::from(format!("{prefix}{key}"))))
            }
            None => (None, None),
        };
        let want = params.limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        loop {
            let mut options = ListOptions::default();
            if let Some(rev) = revision {
                options = options.at_revision(rev);
            }
            if let Some(after) = start_after.take() {
                options = options.start_after(after);
            }
            if params.limit.is_some() {
                options = options.limit(want - items.len());
            }
            let page = self
                .client
                .store()
                .list(prefix.as_bytes(), options)
                .await
                .map_err(gone_or_store)?;
            revision = Some(page.revision);
            let last_key = page.kvs.last().map(|kv| kv.key.clone());
            for kv in &page.kvs {
                let obj: K = codec::decode_kv(kv)?;
                if params.matches(&obj) {
                    items.push(obj);
                }
            }
            let rev = page.revision;
            if !page.more {
                return Ok(ObjectList {
                    items,
                    resource_version: rev,
                    continue_token: None,
                });
            }
            let last_key = last_key.expect("a page with more keys has a last key");
            if items.len() >= want {
                let rest = String::from_utf8_lossy(&last_key[prefix.len()..]).into_owned();
                let token = format!("{rev}:{rest}");
                return Ok(ObjectList {
                    items,
                    resource_version: rev,
                    continue_token: Some(token),
                });
            }
            start_after = Some(last_key);
        }
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
        let (kv, old) = self.get_stored(obj).await?;
        self.check_version(obj, &kv)?;
        let mut new = obj.clone();
        prepare::prepare_update(&old, &mut new).map_err(|errors| ApiError::Invalid {
            kind: K::KIND,
            name: self.display_name(obj),
            errors,
        })?;
        self.write(&kv, new).await
    }

    /// Replaces the status of `obj`, leaving its desired state and metadata exactly as
    /// stored. Fails with [`ApiError::Conflict`] on a stale resourceVersion, like
    /// [`Api::update`]; writes nothing when the status is unchanged.
    pub async fn update_status(&self, obj: &K) -> Result<K, ApiError> {
        let (kv, old) = self.get_stored(obj).await?;
        self.check_version(obj, &kv)?;
        let new = prepare::prepare_status_update(&old, obj);
        self.write(&kv, new).await
    }

    /// Writes `new`'s status onto `current` — the caller's copy of the stored object,
    /// from an informer cache say — without reading the store first: one write,
    /// guarded by `current`'s resourceVersion. Everything but the status is written as
    /// `current` has it, which the guard makes exactly the stored state; if the object
    /// changed since, the write fails with [`ApiError::Conflict`] (read it again, or use
    /// [`Api::update_status`], which reads first). For writers that report many
    /// objects' status from a cache, as the node agent does for its pods.
    pub async fn replace_status(&self, current: &K, new: &K) -> Result<K, ApiError> {
        let revision = cached_revision(current).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "replace_status needs the resourceVersion of the {} {:?} it writes over",
                K::KIND,
                current.meta().name.as_deref().unwrap_or_default()
            ))
        })?;
        let mut settled = prepare::prepare_status_update(current, new);
        self.settle_namespace(&mut settled)?;
        let kv = self.stored_at(
            settled.meta().namespace.as_deref(),
            self.name_of(&settled)?,
            revision,
        )?;
        self.write(&kv, settled).await
    }

    /// Applies a JSON merge patch (RFC 7386) to the object named `name`.
    ///
    /// The patch is applied to the latest stored state and retried if another writer
    /// gets in between, unless the patch itself names a `metadata.resourceVersion`,
    /// which then must match. Status fields in the patch are ignored (use
    /// [`Api::patch_status`]).
    pub async fn patch(&self, name: &str, patch: &serde_json::Value) -> Result<K, ApiError> {
        self.patch_with(name, patch, false).await
    }

    /// Applies a JSON merge patch to the status of the object named `name`.
    pub async fn patch_status(&self, name: &str, patch: &serde_json::Value) -> Result<K, ApiError> {
        self.patch_with(name, patch, true).await
    }

    async fn patch_with(
        &self,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<K, ApiError> {
        if !patch.is_object() {
            return Err(ApiError::BadRequest(format!(
                "a merge patch must be a JSON object, got {patch}"
            )));
        }
        let pinned = match patch.pointer("/metadata/resourceVersion") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(rv)) => Some(rv.parse::<Revision>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "patch has an invalid metadata.resourceVersion {rv:?}"
                ))
            })?),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "patch metadata.resourceVersion must be a string, got {other}"
                )));
            }
        };
        self.retry_on_conflict(pinned.is_none(), || async {
            let (kv, current) = self.get_kv(name).await?;
            let mut value =
                serde_json::to_value(&current).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            merge_patch::apply_merge_patch(&mut value, patch);
            let mut patched: K = serde_json::from_value(value).map_err(|e| {
                ApiError::BadRequest(format!(
                    "patch does not produce a valid {} {name:?}: {e}",
                    K::KIND
                ))
            })?;
            let rv = pinned.unwrap_or(kv.mod_revision);
            patched.meta_mut().resource_version = Some(rv.to_string());
            if status {
                self.update_status(&patched).await
            } else {
                self.update(&patched).await
            }
        })
        .await
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
        let retry = params.precondition_resource_version.is_none();
        self.retry_on_conflict(retry, || self.delete_once(name, params))
            .await
    }

    async fn delete_once(
        &self,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<K>, ApiError> {
        let (kv, obj) = self.get_kv(name).await?;
        let conflict = |message: String| ApiError::Conflict {
            kind: K::KIND,
            name: self.display_name(&obj),
            message,
        };
        if let Some(uid) = &params.precondition_uid {
            if obj.uid() != uid {
                return Err(conflict(format!(
                    "precondition failed: uid is {:?}, not {uid:?}",
                    obj.uid()
                )));
            }
        }
        if let Some(rv) = params.precondition_resource_version {
            if rv != kv.mod_revision {
                return Err(conflict(format!(
                    "precondition failed: resourceVersion is {}, not {rv}",
                    kv.mod_revision
                )));
            }
        }
        let grace = params
            .grace_period_seconds
            .or_else(|| obj.meta().deletion_grace_period_seconds)
            .or_else(|| obj.default_deletion_grace_seconds())
            .unwrap_or(0)
            .max(0);
        let mut marked = obj.clone();
        let meta = marked.meta_mut();
        let policy_finalizer = match params.propagation_policy {
            Some(PropagationPolicy::Foreground) => Some(FINALIZER_FOREGROUND_DELETION),
            Some(PropagationPolicy::Orphan) => Some(FINALIZER_ORPHAN),
            Some(PropagationPolicy::Background) | None => None,
        };
        if let Some(f) = policy_finalizer {
            if !meta.has_finalizer(f) && !meta.is_being_deleted() {
                meta.finalizers.push(f.to_owned());
            }
        }
        if meta.finalizers.is_empty() && grace == 0 {
            let prev = self
                .client
                .store()
                .delete(kv.key.as_ref(), Some(kv.mod_revision))
                .await;
            return match prev {
                Ok(_) => Ok(DeleteOutcome::Deleted(obj)),
                Err(e) => Err(self.store_error(e, &obj)),
            };
        }
        let deadline = self
            .client
            .clock()
            .now()
            .plus(std::time::Duration::from_secs(grace as u64));
        if meta.deletion_timestamp.is_none_or(|t| deadline < t) {
            meta.deletion_timestamp = Some(deadline);
            meta.deletion_grace_period_seconds = Some(grace);
        }
        let written = self.write_raw(&kv, marked).await?;
        Ok(DeleteOutcome::Pending(written))
    }

    /// Watches objects matching `params` for changes after `resource_version`
    /// (usually the resourceVersion of a list). See [`ObjectWatch`] for the event
    /// semantics. Fails with [`ApiError::Gone`] when that version was compacted away.
    pub async fn watch(
        &self,
        params: &ListParams,
        resource_version: Revision,
    ) -> Result<ObjectWatch<K>, ApiError> {
        watch::start(self, params, resource_version).await
    }

    // ---- internals ---------------------------------------------------------------

    /// The stored state of `obj`, found by its own namespace and name (so an
    /// [`Api::all`] can write objects of any namespace).
    async fn get_stored(&self, obj: &K) -> Result<(KeyValue, K), ApiError> {
        let mut probe = obj.clone();
        self.settle_namespace(&mut probe)?;
        self.get_kv_in(probe.meta().namespace.as_deref(), self.name_of(obj)?)
            .await
    }

    async fn get_kv(&self, name: &str) -> Result<(KeyValue, K), ApiError> {
        self.get_kv_in(self.namespace.as_deref(), name).await
    }

    async fn get_kv_in(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(KeyValue, K), ApiError> {
        let namespace = namespace.or(self.namespace.as_deref());
        let key = self.key_for(namespace, name)?;
        match self
            .client
            .store()
            .get(key.as_bytes())
            .await
            .map_err(ApiError::Store)?
        {
            Some(kv) => {
                let obj = codec::decode_kv(&kv)?;
                Ok((kv, obj))
            }
            None => Err(ApiError::NotFound {
                kind: K::KIND,
                name: self.qualify(namespace, name),
            }),
        }
    }

    /// The stored entry of `name` as a caller's copy at `revision` says it is, for a
    /// write guarded by that revision without reading the store (its value is unknown,
    /// so it is left empty).
    fn stored_at(
        &self,
        namespace: Option<&str>,
        name: &str,
        revision: Revision,
    ) -> Result<KeyValue, ApiError> {
        Ok(KeyValue {
            key: Bytes::from(self.key_for(namespace, name)?),
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
        })
    }

    /// Writes `new` over the stored `kv` after the update rules ran: deletes the object
    /// if it was being deleted and has nothing left to wait for.
    async fn write(&self, kv: &KeyValue, new: K) -> Result<K, ApiError> {
        let meta = new.meta();
        let done_deleting = meta.is_being_deleted()
            && meta.finalizers.is_empty()
            && meta.deletion_grace_period_seconds.unwrap_or(0) == 0;
        if done_deleting {
            return match self
                .client
                .store()
                .delete(kv.key.as_ref(), Some(kv.mod_revision))
                .await
            {
                Ok(_) => Ok(new),
                Err(e) => Err(self.store_error(e, &new)),
            };
        }
        self.write_raw(kv, new).await
    }

    async fn write_raw(&self, kv: &KeyValue, mut new: K) -> Result<K, ApiError> {
        new.meta_mut().resource_version = None;
        let value = self.encode_checked(&new)?;
        if value == kv.value {
            new.meta_mut().resource_version = Some(kv.mod_revision.to_string());
            return Ok(new);
        }
        match self
            .client
            .store()
            .update(kv.key.as_ref(), value, kv.mod_revision)
            .await
        {
            Ok(written) => {
                new.meta_mut().resource_version = Some(written.mod_revision.to_string());
                Ok(new)
            }
            Err(e) => Err(self.store_error(e, &new)),
        }
    }

    async fn retry_on_conflict<T, F, Fut>(&self, retry: bool, mut attempt: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let attempts = if retry { MAX_CONFLICT_RETRIES } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            match attempt().await {
                Err(e) if e.is_conflict() => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one attempt ran"))
    }

    fn check_version(&self, obj: &K, kv: &KeyValue) -> Result<(), ApiError> {
        let Some(rv) = obj
            .meta()
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty())
        else {
            return Ok(());
        };
        let parsed: Revision = rv.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "{} {:?} has an invalid resourceVersion {rv:?}",
                K::KIND,
                obj.name_any()
            ))
        })?;
        if parsed != kv.mod_revision {
            return Err(ApiError::Conflict {
                kind: K::KIND,
                name: self.display_name(obj),
                message: format!(
                    "the object has been modified (resourceVersion {parsed}, stored {}); read it again and retry",
                    kv.mod_revision
                ),
            });
        }
        Ok(())
    }

    fn encode_checked(&self, obj: &K) -> Result<Bytes, ApiError> {
        let value = codec::encode(obj)?;
        let limit = self.client.config().max_object_bytes;
        if value.len() > limit {
            return Err(ApiError::TooLarge {
                kind: K::KIND,
                name: self.display_name(obj),
                size: value.len(),
                limit,
            });
        }
        Ok(Bytes::from(value))
    }

    /// Fills in the API's namespace, or checks the object's against it.
    fn settle_namespace(&self, obj: &mut K) -> Result<(), ApiError> {
        if K::SCOPE == Scope::Cluster {
            return Ok(());
        }
        let meta = obj.meta_mut();
        match (&self.namespace, meta.namespace.as_deref()) {
            (Some(api_ns), None | Some("")) => meta.namespace = Some(api_ns.clone()),
            (Some(api_ns), Some(ns)) if ns != api_ns => {
                return Err(ApiError::BadRequest(format!(
                    "{} namespace {ns:?} does not match the Api's namespace {api_ns:?}",
                    K::KIND
                )));
            }
            _ => {}
        }
        Ok(())
    }

    fn name_of<'a>(&self, obj: &'a K) -> Result<&'a str, ApiError> {
        match obj.meta().name.as_deref() {
            Some(name) if !name.is_empty() => Ok(name),
            _ => Err(ApiError::BadRequest(format!(
                "{} has no metadata.name",
                K::KIND
            ))),
        }
    }

    /// The store key of an object, after its metadata was validated.
    fn key_of(&self, obj: &K) -> Result<String, ApiError> {
        self.key_for(obj.meta().namespace.as_deref(), obj.name_any())
    }

    /// The store key for `name` in `namespace`. The name (and namespace) are validated
    /// here too, so no caller can turn `../x` into a key.
    fn key_for(&self, namespace: Option<&str>, name: &str) -> Result<String, ApiError> {
        let bad = |what: &str, value: &str, e: String| {
            ApiError::BadRequest(format!("invalid {} {what} {value:?}: {e}", K::KIND))
        };
        prepare::validate_name(name).map_err(|e| bad("name", name, e))?;
        match K::SCOPE {
            Scope::Cluster => Ok(format!("{}{name}", self.kind_root)),
            Scope::Namespaced => {
                let ns = namespace.or(self.namespace.as_deref()).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{} is namespaced: use Api::namespaced to address {name:?}",
                        K::KIND
                    ))
                })?;
                crate::validation::validate_dns1123_label(ns)
                    .map_err(|e| bad("namespace", ns, e))?;
                Ok(format!("{}{ns}/{name}", self.kind_root))
            }
        }
    }

    fn qualify(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if K::SCOPE == Scope::Namespaced => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    }

    fn display_name(&self, obj: &K) -> String {
        let meta = obj.meta();
        let name = meta.name.as_deref().filter(|n| !n.is_empty());
        let name = name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}*", meta.generate_name.as_deref().unwrap_or("")));
        self.qualify(
            meta.namespace.as_deref().or(self.namespace.as_deref()),
            &name,
        )
    }

    fn invalid(&self, obj: &K, field: &str, message: &str) -> ApiError {
        let mut errors = crate::validation::FieldErrors::new();
        errors.push(field, message);
        ApiError::Invalid {
            kind: K::KIND,
            name: self.display_name(obj),
            errors,
        }
    }

    fn store_error(&self, e: StoreError, obj: &K) -> ApiError {
        match e {
            StoreError::Conflict { .. } => ApiError::Conflict {
                kind: K::KIND,
                name: self.display_name(obj),
                message: "the object has been modified; read it again and retry".to_owned(),
            },
            StoreError::NotFound { .. } => ApiError::NotFound {
                kind: K::KIND,
                name: self.display_name(obj),
            },
            other => ApiError::Store(other),
        }
    }
}

fn gone_or_store(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compact_revision,
        } => ApiError::Gone {
            requested,
            oldest: compact_revision,
        },
        other => ApiError::Store(other),
    }
}

fn parse_continue(token: &str) -> Result<(Revision, &str), ApiError> {
    token
        .split_once(':')
        .and_then(|(rev, key)| Some((rev.parse().ok()?, key)))
        .ok_or_else(|| ApiError::BadRequest(format!("invalid continue token {token:?}")))
}

#[cfg(test)]
pub(crate) mod tests;

/// The revision an object's copy was read at, if it carries a valid one.
fn cached_revision<K: Resource>(obj: &K) -> Option<Revision> {
    obj.meta()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse::<Revision>().ok())
}
