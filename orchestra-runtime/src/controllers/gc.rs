//! The garbage collector: owner references decide what goes when an owner goes.
//!
//! - **Background** (the default): once every owner of an object is gone, the object is
//!   deleted; references to owners that are gone while others remain are removed.
//! - **Foreground**: an owner being deleted with the `foregroundDeletion` finalizer stays
//!   until its dependents that block owner deletion are gone; the collector deletes its
//!   dependents, then removes the finalizer.
//! - **Orphan**: an owner being deleted with the `orphan` finalizer loses its dependents'
//!   references to it, then the finalizer; the dependents live on.
//!
//! The collector follows any number of kinds, type-erased behind one small trait, so a
//! user's kinds are collected exactly like the built-in ones. Before deleting an object
//! because its owner is gone it asks the store, not the cache, whether the owner really
//! is gone: a cache that has not yet seen a brand-new owner never costs its dependents.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use orchestra_core::api::{FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN};
use orchestra_core::{
    Api, ApiError, Client, DeleteParams, ObjectMeta, OwnerReference, Resource, ResourceExt,
};
use tokio_util::sync::CancellationToken;

use crate::reconcile::{
    Cache, HandlerRegistration, Informer, InformerEvent, Informers, ObjectKey, QueueConfig,
    WorkQueue,
};

/// Index of objects by their own uid.
const INDEX_UID: &str = "gc-uid";

/// One kind the collector follows, with its type erased.
#[async_trait]
trait TrackedKind: Send + Sync {
    fn kind(&self) -> &'static str;
    fn api_version(&self) -> &'static str;
    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta>;
    fn by_uid(&self, uid: &str) -> Option<ObjectKey>;
    fn dependents(&self, owner_uid: &str) -> Vec<(ObjectKey, OwnerReference)>;
    async fn owner_exists(
        &self,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<bool, ApiError>;
    async fn delete(&self, key: &ObjectKey, uid: &str) -> Result<(), ApiError>;
    async fn remove_owner_refs(
        &self,
        key: &ObjectKey,
        owner_uids: &[String],
    ) -> Result<(), ApiError>;
    async fn remove_finalizer(&self, key: &ObjectKey, finalizer: &str) -> Result<(), ApiError>;
}

struct Tracked<K: Resource> {
    client: Client,
    cache: Cache<K>,
}

impl<K: Resource> Tracked<K> {
    fn api(&self, namespace: Option<&str>) -> Api<K> {
        match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }
}

fn ignore_gone(result: Result<(), ApiError>) -> Result<(), ApiError> {
    match result {
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        other => other,
    }
}

#[async_trait]
impl<K: Resource> TrackedKind for Tracked<K> {
    fn kind(&self) -> &'static str {
        K::KIND
    }

    fn api_version(&self) -> &'static str {
        K::API_VERSION
    }

    fn meta(&self, key: &ObjectKey) -> Option<ObjectMeta> {
        self.cache.get(key).map(|o| o.meta().clone())
    }

    fn by_uid(&self, uid: &str) -> Option<ObjectKey> {
        self.cache.keys_by_index(INDEX_UID, uid).into_iter().next()
    }

    fn dependents(&self, owner_uid: &str) -> Vec<(ObjectKey, OwnerReference)> {
        self.cache
            .owned_by(owner_uid)
            .iter()
            .filter_map(|o| {
                let r = o
                    .meta()
                    .owner_references
                    .iter()
                    .find(|r| r.uid == owner_uid)?
                    .clone();
                Some((ObjectKey::of(o.as_ref()), r))
            })
            .collect()
    }

    async fn owner_exists(
        &self,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<bool, ApiError> {
        let api = match K::SCOPE {
            orchestra_core::Scope::Cluster => self.api(None),
            orchestra_core::Scope::Namespaced => self.api(namespace),
        };
        Ok(api.get_opt(name).await?.is_some_and(|o| o.uid() == uid))
    }

    async fn delete(&self, key: &ObjectKey, uid: &str) -> Result<(), ApiError> {
        let params = DeleteParams::background().precondition_uid(uid);
        ignore_gone(
            self.api(key.namespace.as_deref())
                .delete(&key.name, &params)
                .await
                .map(|_| ()),
        )
    }

    async fn remove_owner_refs(
        &self,
        key: &ObjectKey,
        owner_uids: &[String],
    ) -> Result<(), ApiError> {
        let api = self.api(key.namespace.as_deref());
        let updated = api.update_with(&key.name, |o| {
            o.meta_mut()
                .owner_references
                .retain(|r| !owner_uids.contains(&r.uid))
        });
        ignore_gone(updated.await.map(|_| ()))
    }

    async fn remove_finalizer(&self, key: &ObjectKey, finalizer: &str) -> Result<(), ApiError> {
        let api = self.api(key.namespace.as_deref());
        let updated = api.update_with(&key.name, |o| {
            o.meta_mut().finalizers.retain(|f| f != finalizer)
        });
        ignore_gone(updated.await.map(|_| ()))
    }
}

/// Starts queuing what one kind's changes concern into the collector's queue, until
/// the returned registration is dropped.
type Feeder = Box<
    dyn Fn(usize, WorkQueue<GcKey>, Arc<Vec<Arc<dyn TrackedKind>>>) -> HandlerRegistration
        + Send
        + Sync,
>;

/// Which object, in which tracked kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GcKey {
    kind: usize,
    key: ObjectKey,
}

/// The garbage collector. Add the kinds it follows, then run it beside the manager
/// (it shares the manager's informers).
pub struct GarbageCollector {
    client: Client,
    informers: Informers,
    kinds: Arc<Vec<Arc<dyn TrackedKind>>>,
    subscribers: Vec<Feeder>,
}

impl GarbageCollector {
    /// A collector over the informers of a manager, following no kind yet.
    pub fn new(client: Client, informers: &Informers) -> Self {
        GarbageCollector {
            client,
            informers: informers.clone(),
            kinds: Arc::new(Vec::new()),
            subscribers: Vec::new(),
        }
    }

    /// The collector for the built-in workload kinds: Deployments, ReplicaSets, Pods.
    pub fn with_builtin_kinds(client: Client, informers: &Informers) -> Self {
        use orchestra_core::kinds::{Deployment, Pod, ReplicaSet};
        Self::new(client, informers)
            .track::<Deployment>()
            .track::<ReplicaSet>()
            .track::<Pod>()
    }

    /// Follows kind `K` as owner and as dependent.
    #[must_use]
    pub fn track<K: Resource>(mut self) -> Self {
        let informer: Arc<Informer<K>> = self.informers.get::<K>();
        informer.add_index(INDEX_UID, |o: &K| vec![o.uid().to_owned()]);
        Arc::make_mut(&mut self.kinds).push(Arc::new(Tracked::<K> {
            client: self.client.clone(),
            cache: informer.cache(),
        }));
        self.subscribers.push(Box::new(move |index, queue, kinds| {
            informer.add_handler(move |event: &InformerEvent<K>| {
                on_event(index, event, &queue, kinds.as_slice())
            })
        }));
        self
    }

    /// Adds the collector to `manager`, which then runs it beside its controllers
    /// (after the caches sync; only while leading).
    pub fn add_to(self, manager: &mut crate::reconcile::Manager) {
        let gc = Arc::new(self);
        manager.add_runnable("garbage-collector", move |cancel| {
            let gc = gc.clone();
            Box::pin(async move { gc.run(cancel).await })
        });
    }

    /// Runs until `cancel` fires. Prefer [`GarbageCollector::add_to`]; run it by hand
    /// only beside a running manager whose informers it shares.
    pub async fn run(&self, cancel: CancellationToken) {
        let queue: WorkQueue<GcKey> =
            WorkQueue::new(QueueConfig::default().name("garbage-collector"));
        let kinds = self.kinds.clone();
        let feeders: Vec<_> = self
            .subscribers
            .iter()
            .enumerate()
            .map(|(i, s)| s(i, queue.clone(), kinds.clone()))
            .collect();
        let workers = (0..4).map(|_| {
            let (queue, kinds, cancel) = (queue.clone(), kinds.clone(), cancel.clone());
            async move {
                loop {
                    let item = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        item = queue.next() => item,
                    };
                    let Some(item) = item else { return };
                    match collect(item.key(), &kinds).await {
                        Ok(()) => queue.forget(item.key()),
                        Err(e) => {
                            tracing::warn!(object = ?item.key(), error = %e, "garbage collection failed; retrying");
                            queue.add_rate_limited(item.key().clone());
                        }
                    }
                }
            }
        });
        futures::stream::iter(workers)
            .for_each_concurrent(None, |w| w)
            .await;
        drop(feeders);
        queue.shut_down();
    }
}

/// Queues what an event may concern: the object itself, and when it is gone, its
/// dependents (now orphaned) and its owners (a foreground deletion may be done).
fn on_event(
    index: usize,
    event: &InformerEvent<impl Resource>,
    queue: &WorkQueue<GcKey>,
    kinds: &[Arc<dyn TrackedKind>],
) {
    let obj = event.object();
    let meta = obj.meta();
    queue.add(GcKey {
        kind: index,
        key: ObjectKey::of(obj.as_ref()),
    });
    if let InformerEvent::Deleted(_) = event {
        let uid = obj.uid();
        for (k, kind) in kinds.iter().enumerate() {
            for (key, _) in kind.dependents(uid) {
                queue.add(GcKey { kind: k, key });
            }
        }
        for owner in &meta.owner_references {
            if let Some((k, kind)) = kinds
                .iter()
                .enumerate()
                .find(|(_, t)| t.kind() == owner.kind && t.api_version() == owner.api_version)
            {
                if let Some(key) = kind.by_uid(&owner.uid) {
                    queue.add(GcKey { kind: k, key });
                }
            }
        }
    }
}

/// One object's collection: finish its own foreground or orphan deletion, then check
/// whether its owners still exist.
async fn collect(gc: &GcKey, kinds: &[Arc<dyn TrackedKind>]) -> Result<(), ApiError> {
    let tracked = &kinds[gc.kind];
    let Some(meta) = tracked.meta(&gc.key) else {
        return Ok(());
    };
    let uid = meta.uid.clone().unwrap_or_default();
    if meta.deletion_timestamp.is_some() {
        if meta.has_finalizer(FINALIZER_ORPHAN) {
            for kind in kinds {
                for (key, _) in kind.dependents(&uid) {
                    kind.remove_owner_refs(&key, std::slice::from_ref(&uid))
                        .await?;
                }
            }
            return tracked.remove_finalizer(&gc.key, FINALIZER_ORPHAN).await;
        }
        if meta.has_finalizer(FINALIZER_FOREGROUND_DELETION) {
            let mut blocking = 0;
            for kind in kinds {
                for (key, reference) in kind.dependents(&uid) {
                    let dep_meta = kind.meta(&key);
                    let dep_uid = dep_meta
                        .as_ref()
                        .and_then(|m| m.uid.clone())
                        .unwrap_or_default();
                    if dep_meta.is_some_and(|m| m.deletion_timestamp.is_none()) {
                        kind.delete(&key, &dep_uid).await?;
                    }
                    blocking += usize::from(reference.block_owner_deletion == Some(true));
                }
            }
            if blocking == 0 {
                tracked
                    .remove_finalizer(&gc.key, FINALIZER_FOREGROUND_DELETION)
                    .await?;
            }
            return Ok(());
        }
    }
    if meta.owner_references.is_empty() {
        return Ok(());
    }
    let mut gone = Vec::new();
    let mut remaining = 0;
    let by_kind: HashMap<(&str, &str), &Arc<dyn TrackedKind>> = kinds
        .iter()
        .map(|k| ((k.kind(), k.api_version()), k))
        .collect();
    for owner in &meta.owner_references {
        match by_kind.get(&(owner.kind.as_str(), owner.api_version.as_str())) {
            // An untracked owner kind: its existence is not ours to judge.
            None => remaining += 1,
            Some(kind) => {
                if kind.by_uid(&owner.uid).is_some()
                    || kind
                        .owner_exists(gc.key.namespace.as_deref(), &owner.name, &owner.uid)
                        .await?
                {
                    remaining += 1;
                } else {
                    gone.push(owner.uid.clone());
                }
            }
        }
    }
    match (remaining, gone.is_empty()) {
        (_, true) => Ok(()),
        (0, false) if meta.deletion_timestamp.is_none() => tracked.delete(&gc.key, &uid).await,
        (0, false) => Ok(()),
        (_, false) => tracked.remove_owner_refs(&gc.key, &gone).await,
    }
}
