//! One registered kind: [`TypedKind<K>`] applies the object rules to `K` with the
//! kind's [`Strategy`] over the registry's store, behind the type-erased
//! [`KindHandler`] the registry dispatches to.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::api::{
    ApiError, Binding, BodyWatch, DeleteOutcome, DeleteParams, FINALIZER_FOREGROUND_DELETION,
    FINALIZER_ORPHAN, ListParams, ObjectBody, ObjectList, Patch, PropagationPolicy, Scale,
    ScaleSpec, ScaleStatus, VersionMatch, WatchParams, json_patch, merge_patch, strategic_merge,
};
use crate::meta::ObjectMeta;
use crate::resource::{ApiResource, Resource, Scope};
use crate::store::{KeyValue, ListOptions, Revision, StoreError};
use crate::validation::FieldErrors;

use super::Registry;
use super::codec::{self, Unreadable};
use super::prepare;
use super::recent::Recent;
use super::strategy::Strategy;

/// How many times a server-side read-modify-write (patch, delete, bind, scale) is
/// retried when another writer got in between.
const MAX_CONFLICT_RETRIES: usize = 16;
/// How many fresh names `generateName` tries before giving up.
const MAX_GENERATE_NAME_ATTEMPTS: usize = 8;
/// The message of a write that lost to another writer.
const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The operations of one kind, with the type erased: what the registry dispatches to.
#[async_trait]
pub(super) trait KindHandler: Send + Sync {
    fn resource(&self) -> &ApiResource;

    fn subresources(&self) -> Vec<super::Subresource>;

    async fn create(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        body: ObjectBody,
    ) -> Result<ObjectBody, ApiError>;

    async fn get(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ObjectBody, ApiError>;

    async fn list(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError>;

    async fn replace(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        body: ObjectBody,
        status: bool,
    ) -> Result<ObjectBody, ApiError>;

    async fn patch(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> Result<ObjectBody, ApiError>;

    async fn delete(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError>;

    async fn bind(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError>;

    async fn get_scale(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Scale, ApiError>;

    async fn replace_scale(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError>;

    async fn watch(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        params: &WatchParams,
    ) -> Result<BodyWatch, ApiError>;
}

/// Kind `K` with its strategy.
pub(super) struct TypedKind<K: Resource> {
    pub(super) resource: ApiResource,
    pub(super) strategy: Arc<dyn Strategy<K>>,
    /// `{prefix}/{group}/{plural}/`: every object of the kind lives under it.
    pub(super) root: String,
    /// The objects written or watched most recently.
    pub(super) recent: Arc<Recent<K>>,
}

/// An object as stored at one revision: read from the store just now (its bytes in
/// `kv`), or from a recent entry (`recent_hash` is the hash of the stored bytes, which
/// `kv` then lacks, and the key may have moved on since).
pub(super) struct Stored<K> {
    pub(super) kv: KeyValue,
    pub(super) obj: Arc<K>,
    pub(super) recent_hash: Option<u64>,
}

impl<K: Resource> TypedKind<K> {
    pub(super) fn new(key_prefix: &str, strategy: Arc<dyn Strategy<K>>, recent: usize) -> Self {
        let resource = K::api_resource();
        TypedKind {
            root: codec::kind_root(key_prefix, &resource),
            resource,
            strategy,
            recent: Arc::new(Recent::new(recent)),
        }
    }

    /// Another handle on the same kind (for a watch's own task).
    pub(super) fn handle(&self) -> TypedKind<K> {
        TypedKind {
            resource: self.resource.clone(),
            strategy: self.strategy.clone(),
            root: self.root.clone(),
            recent: self.recent.clone(),
        }
    }

    // ---- names and keys ---------------------------------------------------------

    /// The key prefix of a list or watch in `ns` (or all namespaces).
    pub(super) fn prefix(&self, ns: Option<&str>) -> Result<String, ApiError> {
        match (K::SCOPE, ns) {
            (Scope::Namespaced, Some(ns)) => {
                crate::validation::validate_dns1123_label(ns)
                    .map_err(|e| ApiError::bad_request(format!("invalid namespace {ns:?}: {e}")))?;
                Ok(format!("{}{ns}/", self.root))
            }
            _ => Ok(self.root.clone()),
        }
    }

    /// The store key for `name` in `ns`. The name (and namespace) are validated here,
    /// so no caller can turn `../x` into a key.
    fn key_for(&self, ns: Option<&str>, name: &str) -> Result<String, ApiError> {
        let bad = |what: &str, value: &str, e: String| {
            ApiError::bad_request(format!("invalid {} {what} {value:?}: {e}", K::KIND))
        };
        prepare::validate_name(name).map_err(|e| bad("name", name, e))?;
        match K::SCOPE {
            Scope::Cluster => Ok(format!("{}{name}", self.root)),
            Scope::Namespaced => {
                let ns = ns.filter(|ns| !ns.is_empty()).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{} is namespaced: {name:?} needs a namespace",
                        self.resource
                    ))
                })?;
                crate::validation::validate_dns1123_label(ns)
                    .map_err(|e| bad("namespace", ns, e))?;
                Ok(format!("{}{ns}/{name}", self.root))
            }
        }
    }

    /// Fills in the request's namespace, or checks the object's against it. A
    /// cluster-scoped object has none: one it names is dropped, as Kubernetes drops it.
    fn settle_namespace(&self, ns: Option<&str>, obj: &mut K) -> Result<(), ApiError> {
        if K::SCOPE == Scope::Cluster {
            obj.meta_mut().namespace = None;
            return Ok(());
        }
        let meta = obj.meta_mut();
        match (ns, meta.namespace.as_deref()) {
            (Some(want), None | Some("")) => meta.namespace = Some(want.to_owned()),
            (Some(want), Some(have)) if have != want => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({have}) does not match the namespace sent on the request ({want})"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// The name an error about `obj` gives: its name, or its `generateName` prefix.
    fn display_name(obj: &K) -> String {
        let meta = obj.meta();
        match meta.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => format!("{}*", meta.generate_name.as_deref().unwrap_or("")),
        }
    }

    fn invalid(&self, obj: &K, errors: FieldErrors) -> ApiError {
        ApiError::invalid(&self.resource, &Self::display_name(obj), errors)
    }

    // ---- bodies -----------------------------------------------------------------

    /// The object of a request body.
    fn decode_body(&self, body: ObjectBody) -> Result<K, ApiError> {
        body.into_object::<K>().map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not a valid {} ({}): {e}",
                K::KIND,
                self.resource
            ))
        })
    }

    fn encode_checked(&self, reg: &Registry, obj: &K) -> Result<Bytes, ApiError> {
        let value = codec::encode(obj).map_err(|e| {
            ApiError::internal(format!(
                "cannot encode {} {:?}: {e}",
                K::KIND,
                Self::display_name(obj)
            ))
        })?;
        let reg_limit = reg.shared.max_object_bytes;
        if value.len() > reg_limit {
            return Err(ApiError::too_large(
                &self.resource,
                &Self::display_name(obj),
                value.len(),
                reg_limit,
            ));
        }
        Ok(Bytes::from(value))
    }

    // ---- the store --------------------------------------------------------------

    /// The object a stored value holds at `revision` (its mod_revision, or a
    /// deletion's), from the recent objects when it is among them, else decoded (and,
    /// with `remember`, kept among them); a value that cannot be served is reported.
    pub(super) fn decode_stored(
        &self,
        reg: &Registry,
        kv: &KeyValue,
        revision: Revision,
        remember: bool,
    ) -> Result<Arc<K>, Unreadable> {
        let exact = revision == kv.mod_revision;
        if exact {
            if let Some(entry) = self.recent.at(&kv.key, revision) {
                return Ok(entry.object);
            }
        }
        match codec::decode_stored::<K>(&self.root, K::SCOPE, kv, revision) {
            Ok(obj) => {
                reg.shared.unreadable.readable(&kv.key);
                let obj = Arc::new(obj);
                if exact && remember {
                    self.recent
                        .put(kv.key.clone(), revision, obj.clone(), &kv.value);
                }
                Ok(obj)
            }
            Err(unreadable) => {
                reg.report_unreadable(&self.resource, &unreadable);
                Err(unreadable)
            }
        }
    }

    /// The object named `name` as the store has it now.
    async fn get_stored(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Stored<K>, ApiError> {
        let key = self.key_for(ns, name)?;
        match reg.store().get(key.as_bytes()).await {
            Ok(Some(kv)) => {
                let obj = self
                    .decode_stored(reg, &kv, kv.mod_revision, true)
                    .map_err(|u| ApiError::internal(u.to_string()))?;
                Ok(Stored {
                    kv,
                    obj,
                    recent_hash: None,
                })
            }
            Ok(None) => {
                reg.shared.unreadable.readable(key.as_bytes());
                Err(ApiError::not_found(&self.resource, name))
            }
            Err(e) => Err(ApiError::from_store(&e)),
        }
    }

    /// The object named `name` as a recent entry has it — at `revision` when given, else
    /// its newest — without asking the store; `None` when there is no such entry.
    fn recent_stored(
        &self,
        ns: Option<&str>,
        name: &str,
        revision: Option<Revision>,
    ) -> Result<Option<Stored<K>>, ApiError> {
        let key = self.key_for(ns, name)?;
        let entry = match revision {
            Some(rev) => self.recent.at(key.as_bytes(), rev),
            None => self.recent.latest(key.as_bytes()),
        };
        Ok(entry.map(|e| Stored {
            kv: KeyValue {
                key: Bytes::from(key),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: e.revision,
                version: 0,
            },
            obj: e.object,
            recent_hash: Some(e.value_hash),
        }))
    }

    /// Runs `attempt` on the object named `name`: first on its newest recent entry, if
    /// any (any failure there but an unknown outcome is tried again from the store,
    /// since the entry may be stale), then on fresh reads, starting over on conflicts
    /// when `retry`.
    async fn with_stored<T, F, Fut>(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        retry: bool,
        attempt: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(Stored<K>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        if let Some(recent) = self.recent_stored(ns, name, None)? {
            match attempt(recent).await {
                Ok(done) => return Ok(done),
                Err(e) if e.is_outcome_unknown() => return Err(e),
                Err(_) => {}
            }
        }
        Self::retry_on_conflict(retry, || async {
            let stored = self.get_stored(reg, ns, name).await?;
            attempt(stored).await
        })
        .await
    }

    /// The error a failed guarded write of `name` becomes.
    fn store_error(&self, e: &StoreError, name: &str) -> ApiError {
        match e {
            StoreError::Conflict { .. } => ApiError::conflict(&self.resource, name, MODIFIED),
            StoreError::NotFound { .. } => ApiError::not_found(&self.resource, name),
            other => ApiError::from_store(other),
        }
    }

    /// Writes `new` over the stored object after the update rules ran: deletes the
    /// object if it was being deleted and has nothing left to wait for.
    async fn write(&self, reg: &Registry, stored: &Stored<K>, new: K) -> Result<Arc<K>, ApiError> {
        let meta = new.meta();
        let done_deleting = meta.is_being_deleted()
            && meta.finalizers.is_empty()
            && meta.deletion_grace_period_seconds.unwrap_or(0) == 0;
        if done_deleting {
            return self.remove(reg, &stored.kv, Arc::new(new)).await;
        }
        self.write_raw(reg, stored, new).await
    }

    /// Deletes the stored `kv`, guarded by its mod_revision; `last` is the object's
    /// last state.
    async fn remove(
        &self,
        reg: &Registry,
        kv: &KeyValue,
        last: Arc<K>,
    ) -> Result<Arc<K>, ApiError> {
        let name = last.meta().name.clone().unwrap_or_default();
        self.recent.forget(&kv.key);
        match reg
            .store()
            .delete(kv.key.as_ref(), Some(kv.mod_revision))
            .await
        {
            Ok(_) => Ok(last),
            Err(e) if e.is_outcome_unknown() => {
                // Gone now means our delete (or another) took it; still there with our
                // revision means it did not.
                match reg.store().get(kv.key.as_ref()).await {
                    Ok(None) => Ok(last),
                    _ => Err(ApiError::from_store(&e)),
                }
            }
            Err(e) => Err(self.store_error(&e, &name)),
        }
    }

    /// Writes `new` over the stored object, guarded by its mod_revision; writes nothing
    /// when the encoded object is what is stored (checking with the store that it still
    /// is, when the stored object came from a recent entry).
    async fn write_raw(
        &self,
        reg: &Registry,
        stored: &Stored<K>,
        mut new: K,
    ) -> Result<Arc<K>, ApiError> {
        let kv = &stored.kv;
        new.meta_mut().resource_version = None;
        let value = self.encode_checked(reg, &new)?;
        let unchanged = match stored.recent_hash {
            None => value == kv.value,
            // From a recent entry: the hash says the write would change nothing; the
            // store confirms the key is still at that revision with those bytes.
            Some(hash) if hash == super::recent::value_hash(&value) => {
                let name = new.meta().name.clone().unwrap_or_default();
                match reg.store().get(kv.key.as_ref()).await {
                    Ok(Some(now)) if now.mod_revision == kv.mod_revision => now.value == value,
                    Ok(Some(_)) => return Err(ApiError::conflict(&self.resource, &name, MODIFIED)),
                    Ok(None) => return Err(ApiError::not_found(&self.resource, &name)),
                    Err(e) => return Err(ApiError::from_store(&e)),
                }
            }
            Some(_) => false,
        };
        if unchanged {
            new.meta_mut().resource_version = Some(kv.mod_revision.to_string());
            return Ok(Arc::new(new));
        }
        let name = new.meta().name.clone().unwrap_or_default();
        match reg
            .store()
            .update(kv.key.as_ref(), value.clone(), kv.mod_revision)
            .await
        {
            Ok(written) => {
                new.meta_mut().resource_version = Some(written.mod_revision.to_string());
                let new = Arc::new(new);
                self.recent
                    .put(kv.key.clone(), written.mod_revision, new.clone(), &value);
                Ok(new)
            }
            Err(e) if e.is_outcome_unknown() => {
                // Read back: our value under a newer revision means the write landed.
                match reg.store().get(kv.key.as_ref()).await {
                    Ok(Some(now)) if now.value == value && now.mod_revision > kv.mod_revision => {
                        new.meta_mut().resource_version = Some(now.mod_revision.to_string());
                        Ok(Arc::new(new))
                    }
                    _ => Err(ApiError::from_store(&e)),
                }
            }
            Err(e) => Err(self.store_error(&e, &name)),
        }
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
            ApiError::bad_request(format!(
                "{} {:?} has an invalid resourceVersion {rv:?}",
                K::KIND,
                Self::display_name(obj)
            ))
        })?;
        if parsed != kv.mod_revision {
            return Err(ApiError::conflict(
                &self.resource,
                &Self::display_name(obj),
                format!(
                    "the object has been modified (resourceVersion {parsed}, stored {}); please apply your changes to the latest version and try again",
                    kv.mod_revision
                ),
            ));
        }
        Ok(())
    }

    /// A uid in the body is a precondition, as in Kubernetes: a copy of an object that
    /// was deleted and re-created under its name must not overwrite the new one, even
    /// when it carries no resourceVersion.
    fn check_uid(&self, obj: &K, stored: &K) -> Result<(), ApiError> {
        let Some(want) = obj.meta().uid.as_deref().filter(|uid| !uid.is_empty()) else {
            return Ok(());
        };
        let have = stored.meta().uid.as_deref().unwrap_or("");
        if want != have {
            return Err(ApiError::conflict(
                &self.resource,
                &Self::display_name(obj),
                format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {have}"
                ),
            ));
        }
        Ok(())
    }

    /// Replaces the stored object (or its status) with `obj`, after the update rules.
    async fn replace_object(
        &self,
        reg: &Registry,
        stored: &Stored<K>,
        obj: K,
        status: bool,
    ) -> Result<Arc<K>, ApiError> {
        self.check_version(&obj, &stored.kv)?;
        self.check_uid(&obj, &stored.obj)?;
        let old = &*stored.obj;
        if status {
            let new = prepare::prepare_status_update(old, &obj, self.strategy.as_ref());
            return self.write(reg, stored, new).await;
        }
        let mut new = obj;
        prepare::prepare_update(old, &mut new, self.strategy.as_ref())
            .map_err(|errors| self.invalid(&new, errors))?;
        self.write(reg, stored, new).await
    }

    fn check_status_supported(&self, status: bool) -> Result<(), ApiError> {
        if status && !self.strategy.has_status() {
            return Err(ApiError::method_not_allowed(format!(
                "{} has no status subresource",
                self.resource
            )));
        }
        Ok(())
    }

    // ---- selectors --------------------------------------------------------------

    /// Checks that the selectors are valid and name only selectable fields.
    pub(super) fn check_selectors(
        &self,
        labels: Option<&crate::labels::LabelSelector>,
        fields: Option<&crate::api::FieldSelector>,
    ) -> Result<(), ApiError> {
        if let Some(selector) = labels {
            selector.validate("labelSelector").map_err(|e| {
                ApiError::bad_request(format!(
                    "invalid label selector {:?}: {e}",
                    selector.to_string()
                ))
            })?;
        }
        if let (Some(selector), Some(allowed)) = (fields, self.strategy.selectable_fields()) {
            for r in selector.requirements() {
                if !allowed.contains(&r.field.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {} (the fields of {} that select are {})",
                        r.field,
                        self.resource,
                        allowed.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether `obj` passes both selectors.
    pub(super) fn matches(
        &self,
        obj: &K,
        labels: Option<&crate::labels::LabelSelector>,
        fields: Option<&crate::api::FieldSelector>,
    ) -> bool {
        labels.is_none_or(|s| s.matches(&obj.meta().labels))
            && fields.is_none_or(|s| s.matches_with(|path| self.strategy.field_value(obj, path)))
    }

    fn scale_of(&self, obj: &K) -> Result<Scale, ApiError> {
        let view = self.strategy.scale(obj).ok_or_else(|| {
            ApiError::NotFound(crate::api::ErrorBody {
                message: format!(
                    "the server could not find the requested resource: {} has no scale subresource",
                    self.resource
                ),
                details: None,
            })
        })?;
        let meta = obj.meta();
        Ok(Scale {
            metadata: ObjectMeta {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                creation_timestamp: meta.creation_timestamp,
                ..Default::default()
            },
            spec: ScaleSpec {
                replicas: view.replicas,
            },
            status: ScaleStatus {
                replicas: view.status_replicas,
                selector: view.selector.to_string(),
            },
        })
    }

    async fn retry_on_conflict<T, F, Fut>(retry: bool, mut attempt: F) -> Result<T, ApiError>
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

    async fn delete_once(
        &self,
        reg: &Registry,
        stored: Stored<K>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<Arc<K>>, ApiError> {
        let (kv, obj) = (&stored.kv, &stored.obj);
        let conflict = |why: String| ApiError::conflict(&self.resource, name, why);
        if let Some(uid) = &params.precondition_uid {
            let have = obj.meta().uid.as_deref().unwrap_or("");
            if have != uid {
                return Err(conflict(format!(
                    "precondition failed: uid is {have:?}, not {uid:?}"
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
        let requested = params
            .grace_period_seconds
            .or(obj.meta().deletion_grace_period_seconds);
        let grace = self
            .strategy
            .deletion_grace_seconds(obj, requested)
            .unwrap_or(0)
            .max(0);
        let mut marked = (**obj).clone();
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
            return self
                .remove(reg, kv, obj.clone())
                .await
                .map(DeleteOutcome::Deleted);
        }
        let deadline = reg
            .clock()
            .now()
            .plus(std::time::Duration::from_secs(grace as u64));
        if meta.deletion_timestamp.is_none_or(|t| deadline < t) {
            meta.deletion_timestamp = Some(deadline);
            meta.deletion_grace_period_seconds = Some(grace);
        }
        let written = self.write_raw(reg, &stored, marked).await?;
        Ok(DeleteOutcome::Pending(written))
    }

    async fn list_objects(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<Arc<K>>, ApiError> {
        self.check_selectors(
            params.label_selector.as_ref(),
            params.field_selector.as_ref(),
        )?;
        let prefix = self.prefix(ns)?;
        let (mut revision, mut start_after) = match &params.continue_token {
            Some(token) => {
                if params.resource_version.is_some_and(|rv| rv > 0) {
                    return Err(ApiError::bad_request(
                        "specifying a resourceVersion is not allowed with a continue token",
                    ));
                }
                let (rev, key) = parse_continue(token)?;
                (Some(rev), Some(Bytes::from(format!("{prefix}{key}"))))
            }
            None => match (params.resource_version, params.version_match) {
                (Some(rv), VersionMatch::Exact) => (Some(rv), None),
                _ => (None, None),
            },
        };
        let floor = match (params.resource_version, params.version_match) {
            (Some(rv), VersionMatch::NotOlderThan) if params.continue_token.is_none() => rv,
            _ => 0,
        };
        let want = params.limit.unwrap_or(usize::MAX);
        // A whole listing of the current state tells which reported keys are gone.
        let whole = revision.is_none() && start_after.is_none();
        let mut unreadable = Vec::new();
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
            let page = reg
                .store()
                .list(prefix.as_bytes(), options)
                .await
                .map_err(|e| gone_or_store(&e))?;
            if page.revision < floor {
                return Err(too_new(floor, page.revision));
            }
            revision = Some(page.revision);
            let last_key = page.kvs.last().map(|kv| kv.key.clone());
            for kv in &page.kvs {
                let Ok(obj) = self.decode_stored(reg, kv, kv.mod_revision, false) else {
                    unreadable.push(kv.key.clone());
                    continue;
                };
                if self.matches(
                    &obj,
                    params.label_selector.as_ref(),
                    params.field_selector.as_ref(),
                ) {
                    items.push(obj);
                }
            }
            let rev = page.revision;
            let Some(last_key) = last_key.filter(|_| page.more) else {
                if whole {
                    reg.shared.unreadable.listed(prefix.as_bytes(), &unreadable);
                }
                return Ok(ObjectList {
                    items,
                    resource_version: rev,
                    continue_token: None,
                });
            };
            if items.len() >= want {
                let rest = String::from_utf8_lossy(&last_key[prefix.len()..]).into_owned();
                return Ok(ObjectList {
                    items,
                    resource_version: rev,
                    continue_token: Some(format!("{rev}:{rest}")),
                });
            }
            start_after = Some(last_key);
        }
    }
}

/// A store error on a read at a revision: `Gone` when compacted, `Timeout` when the
/// revision is ahead of the store.
pub(super) fn gone_or_store(e: &StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compact_revision,
        } => ApiError::gone(*requested, *compact_revision),
        StoreError::FutureRevision { requested, current } => too_new(*requested, *current),
        other => ApiError::from_store(other),
    }
}

fn too_new(requested: Revision, current: Revision) -> ApiError {
    ApiError::Timeout(crate::api::ErrorBody {
        message: format!("Too large resource version: {requested}, current: {current}"),
        details: None,
    })
}

fn parse_continue(token: &str) -> Result<(Revision, &str), ApiError> {
    token
        .split_once(':')
        .and_then(|(rev, key)| Some((rev.parse().ok()?, key)))
        .ok_or_else(|| ApiError::bad_request(format!("invalid continue token {token:?}")))
}

/// The refusal of a strategic merge patch for a kind without a patch schema: the
/// 415 kube-apiserver gives for a custom resource, naming the patch types it takes.
fn strategic_patch_unsupported(resource: &ApiResource) -> ApiError {
    ApiError::unsupported_media_type(format!(
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json \
         (strategic merge patch is not supported for {})",
        resource.group_resource()
    ))
}

/// The resourceVersion a patch pins, if it sets one.
fn pinned_version(patch: &Patch) -> Result<Option<Revision>, ApiError> {
    let value = match patch {
        Patch::Merge(p) | Patch::Strategic(p) => p.pointer("/metadata/resourceVersion").cloned(),
        Patch::Json(ops) => ops.as_array().and_then(|ops| {
            ops.iter()
                .filter(|op| {
                    op.get("path").and_then(|p| p.as_str()) == Some("/metadata/resourceVersion")
                        && matches!(
                            op.get("op").and_then(|o| o.as_str()),
                            Some("add" | "replace")
                        )
                })
                .filter_map(|op| op.get("value").cloned())
                .next_back()
        }),
    };
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(rv)) if rv.is_empty() => Ok(None),
        Some(serde_json::Value::String(rv)) => rv.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "patch has an invalid metadata.resourceVersion {rv:?}"
            ))
        }),
        Some(other) => Err(ApiError::bad_request(format!(
            "patch metadata.resourceVersion must be a string, got {other}"
        ))),
    }
}

#[async_trait]
impl<K: Resource> KindHandler for TypedKind<K> {
    fn resource(&self) -> &ApiResource {
        &self.resource
    }

    fn subresources(&self) -> Vec<super::Subresource> {
        let status = self
            .strategy
            .has_status()
            .then_some(super::Subresource::Status);
        status
            .into_iter()
            .chain(self.strategy.subresources().iter().copied())
            .collect()
    }

    async fn create(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        body: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        let mut obj = self.decode_body(body)?;
        self.settle_namespace(ns, &mut obj)?;
        let generate = obj.meta().name.as_deref().is_none_or(str::is_empty);
        let prefix = obj.meta().generate_name.clone().unwrap_or_default();
        if generate && prefix.is_empty() {
            let mut errors = FieldErrors::new();
            errors.push("metadata.name", "name or generateName is required");
            return Err(self.invalid(&obj, errors));
        }
        let attempts = if generate {
            MAX_GENERATE_NAME_ATTEMPTS
        } else {
            1
        };
        for _ in 0..attempts {
            if generate {
                obj.meta_mut().name = Some(format!("{prefix}{}", reg.shared.ids.name_suffix()));
            }
            let uid = reg.shared.ids.uid();
            prepare::prepare_create(
                &mut obj,
                uid.clone(),
                reg.clock().now(),
                self.strategy.as_ref(),
            )
            .map_err(|errors| self.invalid(&obj, errors))?;
            let name = obj.meta().name.clone().unwrap_or_default();
            let key = self.key_for(obj.meta().namespace.as_deref(), &name)?;
            let value = self.encode_checked(reg, &obj)?;
            match reg.store().create(key.as_bytes(), value.clone()).await {
                Ok(kv) => {
                    obj.meta_mut().resource_version = Some(kv.mod_revision.to_string());
                    let obj = Arc::new(obj);
                    self.recent
                        .put(kv.key, kv.mod_revision, obj.clone(), &value);
                    return Ok(ObjectBody::from_shared(obj));
                }
                Err(StoreError::AlreadyExists { .. }) if generate => continue,
                Err(StoreError::AlreadyExists { .. }) => {
                    return Err(ApiError::already_exists(&self.resource, &name));
                }
                Err(e) if e.is_outcome_unknown() => {
                    // The object carries the uid drawn for this attempt: finding it
                    // stored means the create landed. Anything else stays unknown, and
                    // a generated name is not tried again, which could make two.
                    if let Ok(Some(kv)) = reg.store().get(key.as_bytes()).await {
                        if let Ok(stored) = self.decode_stored(reg, &kv, kv.mod_revision, true) {
                            if stored.meta().uid.as_deref() == Some(uid.as_str()) {
                                return Ok(ObjectBody::from_shared(stored));
                            }
                        }
                    }
                    return Err(ApiError::from_store(&e));
                }
                Err(e) => return Err(ApiError::from_store(&e)),
            }
        }
        Err(ApiError::AlreadyExists(crate::api::ErrorBody {
            message: format!(
                "{} {:?}: no free generated name after {MAX_GENERATE_NAME_ATTEMPTS} attempts",
                self.resource.group_resource(),
                format!("{prefix}*")
            ),
            details: None,
        }))
    }

    async fn get(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ObjectBody, ApiError> {
        let stored = self.get_stored(reg, ns, name).await?;
        Ok(ObjectBody::from_shared(stored.obj))
    }

    async fn list(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError> {
        let list = self.list_objects(reg, ns, params).await?;
        Ok(ObjectList {
            items: list
                .items
                .into_iter()
                .map(ObjectBody::from_shared)
                .collect(),
            resource_version: list.resource_version,
            continue_token: list.continue_token,
        })
    }

    async fn replace(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        body: ObjectBody,
        status: bool,
    ) -> Result<ObjectBody, ApiError> {
        self.check_status_supported(status)?;
        let mut obj = self.decode_body(body)?;
        match obj.meta().name.as_deref() {
            None | Some("") => obj.meta_mut().name = Some(name.to_owned()),
            Some(named) if named != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({named}) does not match the name on the request ({name})"
                )));
            }
            Some(_) => {}
        }
        self.settle_namespace(ns, &mut obj)?;
        let ns = obj.meta().namespace.clone();
        // A write guarded by a resourceVersion can start from the recent entry of that
        // version: if the object moved on, the guarded write fails as the check would.
        let guard = obj
            .meta()
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<Revision>().ok());
        let stored = match self.recent_stored(ns.as_deref(), name, guard)? {
            Some(recent) if guard.is_some() => recent,
            _ => self.get_stored(reg, ns.as_deref(), name).await?,
        };
        let written = self.replace_object(reg, &stored, obj, status).await?;
        Ok(ObjectBody::from_shared(written))
    }

    async fn patch(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> Result<ObjectBody, ApiError> {
        self.check_status_supported(status)?;
        if let Patch::Merge(p) = patch {
            if !p.is_object() {
                return Err(ApiError::bad_request(format!(
                    "a merge patch must be a JSON object, got {p}"
                )));
            }
        }
        let strategic_schema = match patch {
            Patch::Strategic(p) => {
                let Some(schema) = self.strategy.patch_schema() else {
                    return Err(strategic_patch_unsupported(&self.resource));
                };
                if !p.is_object() {
                    return Err(ApiError::bad_request(format!(
                        "a strategic merge patch must be a JSON object, got {p}"
                    )));
                }
                Some(schema)
            }
            _ => None,
        };
        let pinned = pinned_version(patch)?;
        let written = self
            .with_stored(reg, ns, name, pinned.is_none(), |stored| async move {
                let current = &*stored.obj;
                let mut value = serde_json::to_value(current)
                    .map_err(|e| ApiError::internal(format!("cannot encode {name:?}: {e}")))?;
                match patch {
                    Patch::Merge(p) => merge_patch::apply_merge_patch(&mut value, p),
                    Patch::Strategic(p) => {
                        // Refused before the read when the kind has no schema.
                        let Some(schema) = strategic_schema else {
                            return Err(strategic_patch_unsupported(&self.resource));
                        };
                        strategic_merge::apply_strategic_merge_patch(&mut value, p, schema)
                            .map_err(|why| {
                                ApiError::bad_request(format!(
                                    "the strategic merge patch of {} {name:?} does not apply: {why}",
                                    K::KIND
                                ))
                            })?
                    }
                    Patch::Json(ops) => {
                        json_patch::apply_json_patch(&mut value, ops).map_err(|why| {
                            ApiError::bad_request(format!(
                                "the JSON patch of {} {name:?} does not apply: {why}",
                                K::KIND
                            ))
                        })?
                    }
                }
                let mut patched: K = serde_json::from_value(value).map_err(|e| {
                    ApiError::bad_request(format!(
                        "the patch does not produce a valid {} {name:?}: {e}",
                        K::KIND
                    ))
                })?;
                let rv = pinned.unwrap_or(stored.kv.mod_revision);
                patched.meta_mut().resource_version = Some(rv.to_string());
                self.replace_object(reg, &stored, patched, status).await
            })
            .await?;
        Ok(ObjectBody::from_shared(written))
    }

    async fn delete(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError> {
        let retry = params.precondition_resource_version.is_none();
        let outcome = self
            .with_stored(reg, ns, name, retry, |stored| {
                self.delete_once(reg, stored, name, params)
            })
            .await?;
        outcome.try_map(|obj| Ok(ObjectBody::from_shared(obj)))
    }

    async fn bind(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError> {
        if binding.node_name.is_empty() {
            return Err(ApiError::bad_request(format!(
                "cannot bind {} {name:?} to an empty node name",
                K::KIND
            )));
        }
        let now = reg.clock().now();
        let bound = self
            .with_stored(reg, ns, name, true, |stored| async move {
                let current = &*stored.obj;
                if let (Some(want), Some(have)) =
                    (binding.pod_uid.as_deref(), current.meta().uid.as_deref())
                {
                    if want != have {
                        return Err(ApiError::conflict(
                            &self.resource,
                            name,
                            format!("the pod was re-created (uid {have}, expected {want})"),
                        ));
                    }
                }
                let mut bound = (*current).clone();
                match self.strategy.bind(&mut bound, &binding.node_name, now) {
                    None => {
                        return Err(ApiError::method_not_allowed(format!(
                            "{} has no binding subresource",
                            self.resource
                        )));
                    }
                    Some(Err(why)) => return Err(ApiError::conflict(&self.resource, name, why)),
                    Some(Ok(())) => {}
                }
                self.write_raw(reg, &stored, bound).await
            })
            .await?;
        Ok(ObjectBody::from_shared(bound))
    }

    async fn get_scale(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Scale, ApiError> {
        let stored = self.get_stored(reg, ns, name).await?;
        self.scale_of(&stored.obj)
    }

    async fn replace_scale(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        let pinned = scale
            .metadata
            .resource_version
            .as_deref()
            .filter(|rv| !rv.is_empty());
        let written = Self::retry_on_conflict(pinned.is_none(), || async {
            let stored = self.get_stored(reg, ns, name).await?;
            self.scale_of(&stored.obj)?;
            let mut scaled = (*stored.obj).clone();
            scaled.meta_mut().resource_version = pinned.map(str::to_owned);
            self.strategy.set_replicas(&mut scaled, scale.spec.replicas);
            self.replace_object(reg, &stored, scaled, false).await
        })
        .await?;
        self.scale_of(&written)
    }

    async fn watch(
        &self,
        reg: &Registry,
        ns: Option<&str>,
        params: &WatchParams,
    ) -> Result<BodyWatch, ApiError> {
        super::watch::start(self, reg, ns, params).await
    }
}
