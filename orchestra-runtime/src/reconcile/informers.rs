//! [`Informers`]: the shared informers of one manager, one per kind, found by type or
//! by the kind's descriptor — and [`KindInformer`], the one type-erased view of an
//! informer that code working across kinds uses.
//!
//! A controller asks for `Informers::get::<K>()` and gets the typed informer every
//! other consumer of `K` shares. Code that works on any kind, known only at run time
//! from discovery — the garbage collector, the manager itself — asks
//! [`Informers::for_resource`] and gets a [`KindInformer`]: the typed informer when one
//! exists, or else an informer of just the objects' metadata
//! ([`PartialObjectMetadata`]), so following a kind never keeps a second decoded copy
//! of objects a typed informer already holds.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use orchestra_core::{
    Api, ApiResource, Client, ListParams, ObjectMeta, OwnerReference, PartialObjectMetadata,
    Resource,
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::informer::{HandlerRegistration, Informer, InformerEvent};
use crate::keys::ObjectKey;

/// A change to an object, as a consumer of metadata sees it.
#[derive(Clone, Copy, Debug)]
pub enum MetaEvent<'a> {
    /// A new object (or, for a late handler, one that already existed).
    Added(&'a ObjectMeta),
    /// An object changed.
    Updated {
        /// Its previous metadata.
        old: &'a ObjectMeta,
        /// Its new metadata.
        new: &'a ObjectMeta,
    },
    /// An object was deleted; its last metadata.
    Deleted(&'a ObjectMeta),
}

impl<'a> MetaEvent<'a> {
    /// The object's current (or, for a deletion, last) metadata.
    pub fn meta(&self) -> &'a ObjectMeta {
        match self {
            MetaEvent::Added(m) | MetaEvent::Deleted(m) => m,
            MetaEvent::Updated { new, .. } => new,
        }
    }
}

/// A handler of metadata changes, called inline by the informer.
pub type MetaHandler = Box<dyn Fn(MetaEvent<'_>) + Send + Sync>;

/// What code working on any kind needs of that kind's informer: run it, know when it
/// synced, read metadata from its cache by key, uid or owner, and hear of changes.
/// Every [`Informer<K>`] is one.
pub trait KindInformer: Send + Sync {
    /// The kind.
    fn resource(&self) -> &ApiResource;

    /// Runs the informer until `cancel` fires.
    fn run(self: Arc<Self>, cancel: CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Whether the informer completed its first list.
    fn is_synced(&self) -> bool;

    /// The metadata of the cached object `key`.
    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta>;

    /// Adds (or replaces) an index computed from objects' metadata.
    fn add_meta_index(&self, name: &str, index: fn(&ObjectMeta) -> Vec<String>);

    /// The keys of the cached objects that `index` files under `value`.
    fn keys_by_index(&self, index: &str, value: &str) -> Vec<ObjectKey>;

    /// The cached objects that name `owner_uid` among their owners, with that owner
    /// reference.
    fn owned_by(&self, owner_uid: &str) -> Vec<(ObjectKey, OwnerReference)>;

    /// Calls `handler` with the metadata of every change (and, first, of every cached
    /// object, as `Added`) until the registration is dropped; see
    /// [`Informer::add_handler`] for the rules a handler keeps.
    fn add_meta_handler(&self, handler: MetaHandler) -> HandlerRegistration;

    /// The informer as `Any`, to recover its type.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<K: Resource> KindInformer for Informer<K> {
    fn resource(&self) -> &ApiResource {
        self.api().resource()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { Informer::run(&self, cancel).await })
    }

    fn is_synced(&self) -> bool {
        self.cache().is_synced()
    }

    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta> {
        self.cache().get(key).map(|o| o.meta().clone())
    }

    fn add_meta_index(&self, name: &str, index: fn(&ObjectMeta) -> Vec<String>) {
        self.add_index(name, move |o: &K| index(o.meta()));
    }

    fn keys_by_index(&self, index: &str, value: &str) -> Vec<ObjectKey> {
        self.cache().keys_by_index(index, value)
    }

    fn owned_by(&self, owner_uid: &str) -> Vec<(ObjectKey, OwnerReference)> {
        self.cache()
            .owned_by(owner_uid)
            .iter()
            .filter_map(|o| {
                let reference = o
                    .meta()
                    .owner_references
                    .iter()
                    .find(|r| r.uid == owner_uid)?
                    .clone();
                Some((ObjectKey::of(o.as_ref()), reference))
            })
            .collect()
    }

    fn add_meta_handler(&self, handler: MetaHandler) -> HandlerRegistration {
        self.add_handler(move |event: &InformerEvent<K>| match event {
            InformerEvent::Added(o) => handler(MetaEvent::Added(o.meta())),
            InformerEvent::Updated { old, new } => handler(MetaEvent::Updated {
                old: old.meta(),
                new: new.meta(),
            }),
            InformerEvent::Deleted(o) => handler(MetaEvent::Deleted(o.meta())),
        })
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The shared informers of one manager, one per kind, created on first use.
#[derive(Clone)]
pub struct Informers {
    client: Client,
    inner: Arc<Mutex<InformersInner>>,
}

impl std::fmt::Debug for Informers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informers")
            .field("kinds", &self.resources())
            .finish_non_exhaustive()
    }
}

struct InformersInner {
    /// Typed informers, by the type they decode into.
    by_type: HashMap<TypeId, Arc<dyn KindInformer>>,
    /// Every informer, typed or of metadata, by its kind's group and plural.
    by_resource: HashMap<(String, String), Arc<dyn KindInformer>>,
    /// Set once the manager runs: informers created later start at once.
    running: Option<(CancellationToken, tokio::runtime::Handle)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn resource_key(resource: &ApiResource) -> (String, String) {
    (resource.group().to_owned(), resource.plural().to_owned())
}

impl InformersInner {
    fn insert(&mut self, informer: Arc<dyn KindInformer>) {
        self.by_resource
            .insert(resource_key(informer.resource()), informer.clone());
        if let Some((cancel, handle)) = self.running.clone() {
            let task = handle.spawn(informer.run(cancel));
            self.tasks.push(task);
        }
    }
}

impl Informers {
    /// An empty registry over `client`.
    pub fn new(client: Client) -> Self {
        Informers {
            client,
            inner: Arc::new(Mutex::new(InformersInner {
                by_type: HashMap::new(),
                by_resource: HashMap::new(),
                running: None,
                tasks: Vec::new(),
            })),
        }
    }

    /// The client the informers list and watch through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The informer of kind `K` (all namespaces), created on first use. If the manager
    /// is already running it starts at once.
    pub fn get<K: Resource>(&self) -> Arc<Informer<K>> {
        let mut inner = self.inner.lock();
        if let Some(existing) = inner.by_type.get(&TypeId::of::<K>()) {
            return existing
                .clone()
                .as_any()
                .downcast::<Informer<K>>()
                .expect("registered under its own TypeId");
        }
        let informer = Arc::new(Informer::new(
            Api::<K>::all(self.client.clone()),
            ListParams::default(),
        ));
        inner.by_type.insert(TypeId::of::<K>(), informer.clone());
        inner.insert(informer.clone());
        informer
    }

    /// The informer of the kind `resource` describes: the typed one when a consumer
    /// asked for one, else one of the objects' metadata only (created on first use,
    /// and started at once if the manager runs).
    pub fn for_resource(&self, resource: &ApiResource) -> Arc<dyn KindInformer> {
        let mut inner = self.inner.lock();
        if let Some(existing) = inner.by_resource.get(&resource_key(resource)) {
            return existing.clone();
        }
        let informer: Arc<dyn KindInformer> = Arc::new(Informer::new(
            Api::<PartialObjectMetadata>::all_with(self.client.clone(), resource.clone()),
            ListParams::default(),
        ));
        inner.insert(informer.clone());
        informer
    }

    /// The cache of kind `K`: shorthand for `get::<K>().cache()`.
    pub fn cache<K: Resource>(&self) -> super::Cache<K> {
        self.get::<K>().cache()
    }

    /// The kinds that have an informer.
    pub fn resources(&self) -> Vec<ApiResource> {
        let mut all: Vec<ApiResource> = self
            .inner
            .lock()
            .by_resource
            .values()
            .map(|i| i.resource().clone())
            .collect();
        all.sort_by(|a, b| (a.group(), a.plural()).cmp(&(b.group(), b.plural())));
        all
    }

    /// Whether every informer has completed its first list.
    pub fn all_synced(&self) -> bool {
        self.inner
            .lock()
            .by_resource
            .values()
            .all(|i| i.is_synced())
    }

    /// The kinds whose informer has not completed its first list.
    pub fn unsynced_kinds(&self) -> Vec<String> {
        self.inner
            .lock()
            .by_resource
            .values()
            .filter(|i| !i.is_synced())
            .map(|i| i.resource().to_string())
            .collect()
    }

    /// Starts every informer (and any created later) until `cancel` fires.
    pub(crate) fn start(&self, cancel: CancellationToken) {
        let mut inner = self.inner.lock();
        inner.running = Some((cancel.clone(), tokio::runtime::Handle::current()));
        let informers: Vec<_> = inner.by_resource.values().cloned().collect();
        for informer in informers {
            let task = tokio::spawn(informer.run(cancel.clone()));
            inner.tasks.push(task);
        }
    }

    /// Waits until every informer has completed its first list.
    pub(crate) async fn wait_until_synced(&self) {
        while !self.all_synced() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn join(&self) {
        let tasks: Vec<_> = std::mem::take(&mut self.inner.lock().tasks);
        for t in tasks {
            let _ = t.await;
        }
    }
}
