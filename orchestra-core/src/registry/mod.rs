//! The server side of the object API: a [`Registry`] of kinds over any [`Store`],
//! implementing [`ObjectService`] with every object rule, once.
//!
//! Each kind is registered with its [`Strategy`] (defaults, validation, what counts as
//! the desired state, status handling, grace period, selectable fields, subresources);
//! the built-in kinds are registered from the start, and a user's kind registers in
//! one call. The registry then owns everything the API promises about objects, for
//! every kind alike:
//!
//! - names (and namespaces) validated as DNS-1123 before they become keys; uid,
//!   creationTimestamp and generation set on create, `generateName` filled in;
//! - `metadata.resourceVersion` is the key's mod_revision and guards every write; a
//!   write that changes nothing writes nothing; `generation` moves only when the
//!   kind's desired state changes; status is written only through the status calls;
//! - deletion respects grace periods and finalizers and records the propagation
//!   policy for the garbage collector; objects over the size limit are refused;
//! - a stored value that cannot be read as its kind, or that names another object
//!   than its key, is never served: it is reported (a log line, a metric, an Event
//!   naming its key) and left out of lists and watches, so one bad value cannot stall
//!   the consumers of its kind;
//! - a store write whose outcome is unknown is resolved by reading back when it can
//!   be, and otherwise reported as [`ApiError::Timeout`], never retried blindly.
//!
//! The in-process cluster's clients and the API server both sit on a registry; the
//! registry's [`store`](Registry::store) is the one place that sees the raw key
//! layout.
//!
//! ```no_run
//! use std::sync::Arc;
//! use orchestra_core::registry::Registry;
//! use orchestra_core::{Api, Client, Store};
//! # #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! # struct Echo { metadata: orchestra_core::ObjectMeta }
//! # impl orchestra_core::Resource for Echo {
//! #     const KIND: &'static str = "Echo";
//! #     const API_VERSION: &'static str = "example.dev/v1";
//! #     const PLURAL: &'static str = "echoes";
//! #     const SCOPE: orchestra_core::Scope = orchestra_core::Scope::Namespaced;
//! #     fn meta(&self) -> &orchestra_core::ObjectMeta { &self.metadata }
//! #     fn meta_mut(&mut self) -> &mut orchestra_core::ObjectMeta { &mut self.metadata }
//! # }
//! # fn demo(store: Arc<dyn Store>) {
//! let registry = Registry::builder(store).kind::<Echo>().build();
//! let echoes: Api<Echo> = Api::namespaced(Client::new(registry.clone()), "default");
//! # }
//! ```

mod builtin;
mod codec;
mod ids;
mod kind;
mod prepare;
mod recent;
mod strategy;
mod unreadable;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::api::{
    ApiError, Binding, BodyWatch, DeleteOutcome, DeleteParams, ListParams, ObjectBody, ObjectList,
    ObjectService, Patch, Scale, Target, WatchParams,
};
use crate::resource::{ApiResource, Resource};
use crate::store::Store;
use crate::time::Clock;

pub use builtin::{
    DeploymentStrategy, EventStrategy, HpaStrategy, LeaseStrategy, NodeStrategy, PodStrategy,
    ReplicaSetStrategy,
};
pub use prepare::MAX_ANNOTATIONS_BYTES;
pub use recent::DEFAULT_RECENT_OBJECTS;
pub use strategy::{DefaultStrategy, METADATA_FIELDS, ScaleView, Strategy, Subresource};
pub use unreadable::UnreadableObject;

use ids::Ids;
use kind::{KindHandler, TypedKind};

/// etcd's default request size limit, which Kubernetes objects live within.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// The key prefix objects are stored under by default.
pub const DEFAULT_KEY_PREFIX: &str = "/registry";

/// How often a watch that asked for bookmarks gets one, when it has been filtering
/// events out (Kubernetes sends them about once a minute).
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// The registry of kinds over one store. Cheap to clone; every clone is the same
/// registry. See the [module docs](self).
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

/// What every call of every kind shares.
struct Shared {
    store: Arc<dyn Store>,
    clock: Clock,
    key_prefix: String,
    max_object_bytes: usize,
    bookmark_interval: Duration,
    recent_objects: usize,
    ids: Ids,
    kinds: RwLock<Kinds>,
    unreadable: unreadable::Reports,
}

/// The registered kinds, in registration order, found by group and plural.
#[derive(Default)]
struct Kinds {
    by_name: HashMap<(String, String), Arc<dyn KindHandler>>,
    order: Vec<(String, String)>,
}

/// A registry that does not keep it alive.
#[derive(Clone)]
pub(crate) struct WeakRegistry(std::sync::Weak<Shared>);

impl WeakRegistry {
    /// The registry, while anything else holds it.
    pub(crate) fn upgrade(&self) -> Option<Registry> {
        self.0.upgrade().map(|shared| Registry { shared })
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("key_prefix", &self.shared.key_prefix)
            .field("kinds", &self.resources_now())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Registry`]; start from [`Registry::builder`].
#[must_use]
pub struct RegistryBuilder {
    store: Arc<dyn Store>,
    clock: Clock,
    key_prefix: String,
    max_object_bytes: usize,
    bookmark_interval: Duration,
    recent_objects: usize,
    seed: Option<u64>,
    builtin: bool,
    kinds: Vec<Registration>,
}

/// A kind a builder registers once the registry exists.
type Registration = Box<dyn FnOnce(&Registry) + Send>;

impl RegistryBuilder {
    /// The clock creation and deletion timestamps come from (default: one following
    /// tokio time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The prefix of every key (default `/registry`; it must start with `/`). Several
    /// clusters can share one store under different prefixes.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// The largest encoded object accepted, in bytes (default 1.5 MiB, like etcd).
    pub fn max_object_bytes(mut self, bytes: usize) -> Self {
        self.max_object_bytes = bytes;
        self
    }

    /// How often a watch that asked for bookmarks gets one (default
    /// [`DEFAULT_BOOKMARK_INTERVAL`]).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many recently written objects of each kind the registry keeps decoded, to
    /// start writes from and to hand to watchers without decoding them again (default
    /// [`DEFAULT_RECENT_OBJECTS`]; 0 keeps none).
    pub fn recent_objects(mut self, per_kind: usize) -> Self {
        self.recent_objects = per_kind;
        self
    }

    /// Fixes the seed of generated uids and names, so a simulated cluster repeats.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Leaves the built-in kinds out (they are registered by default).
    pub fn without_builtin_kinds(mut self) -> Self {
        self.builtin = false;
        self
    }

    /// Registers kind `K` with the [`DefaultStrategy`].
    pub fn kind<K: Resource>(self) -> Self {
        self.kind_with::<K, _>(DefaultStrategy)
    }

    /// Registers kind `K` with `strategy`.
    pub fn kind_with<K: Resource, S: Strategy<K>>(mut self, strategy: S) -> Self {
        self.kinds.push(Box::new(move |registry: &Registry| {
            registry.register_with::<K, S>(strategy);
        }));
        self
    }

    /// The registry.
    pub fn build(self) -> Registry {
        let registry = Registry {
            shared: Arc::new(Shared {
                store: self.store,
                clock: self.clock,
                key_prefix: self.key_prefix,
                max_object_bytes: self.max_object_bytes,
                bookmark_interval: self.bookmark_interval,
                recent_objects: self.recent_objects,
                ids: Ids::new(self.seed),
                kinds: RwLock::new(Kinds::default()),
                unreadable: unreadable::Reports::default(),
            }),
        };
        if self.builtin {
            builtin::register_all(&registry);
        }
        for register in self.kinds {
            register(&registry);
        }
        registry
    }
}

impl Registry {
    /// A registry over `store` with the built-in kinds and every default.
    pub fn new(store: Arc<dyn Store>) -> Registry {
        Registry::builder(store).build()
    }

    /// A builder over `store`.
    pub fn builder(store: Arc<dyn Store>) -> RegistryBuilder {
        RegistryBuilder {
            store,
            clock: Clock::new(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            recent_objects: DEFAULT_RECENT_OBJECTS,
            seed: None,
            builtin: true,
            kinds: Vec::new(),
        }
    }

    /// Registers kind `K` with the [`DefaultStrategy`], at any time.
    pub fn register<K: Resource>(&self) {
        self.register_with::<K, _>(DefaultStrategy);
    }

    /// Registers kind `K` with `strategy`, at any time, replacing a kind of the same
    /// group and plural.
    pub fn register_with<K: Resource, S: Strategy<K>>(&self, strategy: S) {
        let handler: Arc<dyn KindHandler> = Arc::new(TypedKind::<K>::new(
            &self.shared.key_prefix,
            Arc::new(strategy),
            self.shared.recent_objects,
        ));
        let name = (K::api_resource().group().to_owned(), K::PLURAL.to_owned());
        let mut kinds = self.shared.kinds.write();
        if kinds.by_name.insert(name.clone(), handler).is_none() {
            kinds.order.push(name);
        }
    }

    pub(crate) fn downgrade(&self) -> WeakRegistry {
        WeakRegistry(Arc::downgrade(&self.shared))
    }

    /// The store beneath: for tools and tests that look at the raw key layout on the
    /// server side.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The clock the registry stamps objects with.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The largest encoded object accepted, in bytes.
    pub fn max_object_bytes(&self) -> usize {
        self.shared.max_object_bytes
    }

    /// How often a watch that asked for bookmarks gets one.
    pub fn bookmark_interval(&self) -> Duration {
        self.shared.bookmark_interval
    }

    /// The prefix every key starts with.
    pub fn key_prefix(&self) -> &str {
        &self.shared.key_prefix
    }

    /// The key prefix of every object of `resource` (ending in `/`), within
    /// `namespace` when given.
    pub fn key_root(&self, resource: &ApiResource, namespace: Option<&str>) -> String {
        let mut root = codec::kind_root(&self.shared.key_prefix, resource);
        if let (true, Some(ns)) = (resource.is_namespaced(), namespace) {
            root.push_str(ns);
            root.push('/');
        }
        root
    }

    /// The registered kinds, in registration order.
    pub fn resources_now(&self) -> Vec<ApiResource> {
        let kinds = self.shared.kinds.read();
        kinds
            .order
            .iter()
            .filter_map(|name| kinds.by_name.get(name))
            .map(|h| h.resource().clone())
            .collect()
    }

    /// The subresources of a registered kind, `status` first when it has one; `None`
    /// for a kind not registered.
    pub fn subresources(&self, resource: &ApiResource) -> Option<Vec<Subresource>> {
        let kinds = self.shared.kinds.read();
        let handler = kinds
            .order
            .iter()
            .filter_map(|name| kinds.by_name.get(name))
            .find(|h| h.resource().group_resource() == resource.group_resource())?;
        Some(handler.subresources())
    }

    /// Every registered kind with its subresources, in registration order, read under
    /// one lock: what a server's discovery and routing need on each request.
    pub fn kinds_with_subresources(&self) -> Vec<(ApiResource, Vec<Subresource>)> {
        let kinds = self.shared.kinds.read();
        kinds
            .order
            .iter()
            .filter_map(|name| kinds.by_name.get(name))
            .map(|h| (h.resource().clone(), h.subresources()))
            .collect()
    }

    /// The stored objects found unreadable so far (and not since repaired or
    /// deleted), with why.
    pub fn unreadable_objects(&self) -> Vec<UnreadableObject> {
        self.shared.unreadable.current()
    }

    fn handler(&self, resource: &ApiResource) -> Result<Arc<dyn KindHandler>, ApiError> {
        let kinds = self.shared.kinds.read();
        let found = kinds
            .by_name
            .get(&(resource.group().to_owned(), resource.plural().to_owned()))
            .filter(|h| h.resource().version() == resource.version());
        match found {
            Some(handler) => Ok(handler.clone()),
            None if resource.plural().is_empty() => Err(ApiError::unknown_kind(format!(
                "{} names no kind of its own; build its Api for the kind it reads (Api::all_with)",
                resource.kind()
            ))),
            None => Err(ApiError::unknown_kind(format!(
                "{} of {} is not a registered kind (register it with Registry::register, RegistryBuilder::kind or ClusterBuilder::kind)",
                resource.plural(),
                resource.api_version(),
            ))),
        }
    }
}

#[async_trait]
impl ObjectService for Registry {
    async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        Ok(self.resources_now())
    }

    async fn create(&self, target: Target<'_>, obj: ObjectBody) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .create(self, target.namespace, obj)
            .await
    }

    async fn get(&self, target: Target<'_>, name: &str) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .get(self, target.namespace, name)
            .await
    }

    async fn list(
        &self,
        target: Target<'_>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError> {
        self.handler(target.resource)?
            .list(self, target.namespace, params)
            .await
    }

    async fn replace(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .replace(self, target.namespace, name, obj, false)
            .await
    }

    async fn replace_status(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .replace(self, target.namespace, name, obj, true)
            .await
    }

    async fn patch(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .patch(self, target.namespace, name, patch, false)
            .await
    }

    async fn patch_status(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.handler(target.resource)?
            .patch(self, target.namespace, name, patch, true)
            .await
    }

    async fn delete(
        &self,
        target: Target<'_>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError> {
        self.handler(target.resource)?
            .delete(self, target.namespace, name, params)
            .await
    }

    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError> {
        let pods = crate::kinds::Pod::api_resource();
        self.handler(&pods)?
            .bind(self, Some(namespace), name, binding)
            .await
    }

    async fn get_scale(&self, target: Target<'_>, name: &str) -> Result<Scale, ApiError> {
        self.handler(target.resource)?
            .get_scale(self, target.namespace, name)
            .await
    }

    async fn replace_scale(
        &self,
        target: Target<'_>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        self.handler(target.resource)?
            .replace_scale(self, target.namespace, name, scale)
            .await
    }

    async fn watch(&self, target: Target<'_>, params: &WatchParams) -> Result<BodyWatch, ApiError> {
        self.handler(target.resource)?
            .watch(self, target.namespace, params)
            .await
    }
}
