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
//! Like Kubernetes' collector it follows every kind the API serves, as discovery lists
//! them (looked at again every [`GarbageCollector::rediscover_every`]), so a user's kind
//! is collected exactly like the built-in ones. It reads them through the manager's
//! shared informers ([`Informers::for_resource`]): a kind some controller already
//! caches is read from that cache, any other from an informer of its objects' metadata.
//! It writes only metadata, by kind-agnostic calls (a delete, a merge patch of owner
//! references or finalizers), so it needs no Rust type for a kind. Before deleting an
//! object because its owner is gone it asks the API, not the cache, whether the owner
//! really is gone: a cache that has not yet seen a brand-new owner never costs its
//! dependents.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestra_core::api::{FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN};
use orchestra_core::{
    Api, ApiError, ApiResource, Client, DeleteParams, ObjectMeta, PartialObjectMetadata,
};
use parking_lot::RwLock;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::reconcile::{
    HandlerRegistration, Informers, KindInformer, MetaEvent, ObjectKey, QueueConfig, WorkQueue,
};

/// Index of objects by their own uid.
const INDEX_UID: &str = "gc-uid";

/// How often the collector looks for kinds served since it started, by default.
pub const REDISCOVER_EVERY: Duration = Duration::from_secs(30);

/// How many times a metadata write is retried when another writer got in between.
const MAX_CONFLICT_RETRIES: usize = 16;

/// One kind the collector follows.
struct Followed {
    resource: ApiResource,
    informer: Arc<dyn KindInformer>,
}

/// The kinds followed, in the order they were found; a kind's index is its place.
type Kinds = Arc<RwLock<Vec<Followed>>>;

/// Which object, in which followed kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GcKey {
    kind: usize,
    key: ObjectKey,
}

/// The garbage collector. Add it to a manager ([`GarbageCollector::add_to`]); it shares
/// the manager's informers.
pub struct GarbageCollector {
    client: Client,
    informers: Informers,
    rediscover_every: Duration,
}

impl GarbageCollector {
    /// A collector over the informers of a manager, following every kind `client`'s
    /// API serves.
    pub fn new(client: Client, informers: &Informers) -> Self {
        GarbageCollector {
            client,
            informers: informers.clone(),
            rediscover_every: REDISCOVER_EVERY,
        }
    }

    /// How often the collector looks for kinds served since it started (default
    /// [`REDISCOVER_EVERY`]).
    #[must_use]
    pub fn rediscover_every(mut self, period: Duration) -> Self {
        self.rediscover_every = period.max(Duration::from_millis(1));
        self
    }

    /// Adds the collector to `manager`, which then runs it beside its controllers
    /// (after the caches sync; only while leading).
    #[must_use]
    pub fn add_to(self, manager: crate::reconcile::Manager) -> crate::reconcile::Manager {
        let gc = Arc::new(self);
        manager.runnable("garbage-collector", move |cancel| {
            let gc = gc.clone();
            Box::pin(async move { gc.run(cancel).await })
        })
    }

    /// Runs until `cancel` fires. Prefer [`GarbageCollector::add_to`]; run it by hand
    /// only beside a running manager whose informers it shares.
    pub async fn run(&self, cancel: CancellationToken) {
        let queue: WorkQueue<GcKey> =
            WorkQueue::new(QueueConfig::default().name("garbage-collector"));
        let kinds: Kinds = Arc::new(RwLock::new(Vec::new()));
        let mut feeders: Vec<HandlerRegistration> = Vec::new();
        // Like Kubernetes' collector, it judges nothing until every kind it follows has
        // synced: an owner of a kind not yet listed would look gone.
        let discovery = async {
            loop {
                match self.client.refresh_resources().await {
                    Ok(resources) => {
                        let new: Vec<usize> = resources
                            .iter()
                            .filter_map(|r| self.follow(r, &kinds))
                            .collect();
                        let informers: Vec<_> = {
                            let kinds = kinds.read();
                            new.iter().map(|&i| kinds[i].informer.clone()).collect()
                        };
                        while !informers.iter().all(|i| i.is_synced()) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        for (index, informer) in new.into_iter().zip(informers) {
                            let (queue, kinds) = (queue.clone(), kinds.clone());
                            feeders.push(informer.add_meta_handler(Box::new(move |event| {
                                on_event(index, event, &queue, &kinds)
                            })));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "garbage collector: discovery failed"),
                }
                tokio::time::sleep(self.rediscover_every).await;
            }
        };
        let workers = (0..4).map(|_| {
            let (queue, kinds, client) = (queue.clone(), kinds.clone(), self.client.clone());
            async move {
                while let Some(item) = queue.next().await {
                    match collect(item.key(), &kinds, &client).await {
                        Ok(()) => queue.forget(item.key()),
                        Err(e) => {
                            tracing::warn!(object = ?item.key(), error = %e, "garbage collection failed; retrying");
                            queue.add_rate_limited(item.key().clone());
                        }
                    }
                }
            }
        });
        let workers = futures::stream::iter(workers).for_each_concurrent(None, |w| w);
        tokio::select! {
            _ = cancel.cancelled() => {}
            () = discovery => {}
            () = workers => {}
        }
        queue.shut_down();
        drop(feeders);
    }

    /// Starts following `resource`, unless followed already: its index among the kinds.
    fn follow(&self, resource: &ApiResource, kinds: &Kinds) -> Option<usize> {
        let mut kinds = kinds.write();
        if kinds.iter().any(|k| {
            k.resource.group() == resource.group() && k.resource.plural() == resource.plural()
        }) {
            return None;
        }
        let informer = self.informers.for_resource(resource);
        informer.add_meta_index(INDEX_UID, |m| vec![m.uid.clone().unwrap_or_default()]);
        tracing::debug!(kind = %resource, "garbage collector follows");
        kinds.push(Followed {
            resource: resource.clone(),
            informer,
        });
        Some(kinds.len() - 1)
    }
}

/// Queues what an event may concern: the object itself, and when it is gone, its
/// dependents (now orphaned) and its owners (a foreground deletion may be done).
fn on_event(index: usize, event: MetaEvent<'_>, queue: &WorkQueue<GcKey>, kinds: &Kinds) {
    let meta = event.meta();
    queue.add(GcKey {
        kind: index,
        key: key_of(meta),
    });
    if let MetaEvent::Deleted(_) = event {
        let uid = meta.uid.as_deref().unwrap_or("");
        let kinds = kinds.read();
        for (k, kind) in kinds.iter().enumerate() {
            for (key, _) in kind.informer.owned_by(uid) {
                queue.add(GcKey { kind: k, key });
            }
        }
        for owner in &meta.owner_references {
            if let Some((k, kind)) = kinds
                .iter()
                .enumerate()
                .find(|(_, f)| f.resource.is(&owner.api_version, &owner.kind))
            {
                if let Some(key) = kind.informer.keys_by_index(INDEX_UID, &owner.uid).pop() {
                    queue.add(GcKey { kind: k, key });
                }
            }
        }
    }
}

fn key_of(meta: &ObjectMeta) -> ObjectKey {
    let name = meta.name.as_deref().unwrap_or("");
    match meta.namespace.as_deref() {
        Some(ns) => ObjectKey::namespaced(ns, name),
        None => ObjectKey::cluster(name),
    }
}

/// Kind-agnostic writes of one kind's objects' metadata.
struct MetaApi<'a> {
    client: &'a Client,
    resource: &'a ApiResource,
}

impl MetaApi<'_> {
    fn api(&self, namespace: Option<&str>) -> Api<PartialObjectMetadata> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, self.resource.clone()),
            None => Api::all_with(self.client.clone(), self.resource.clone()),
        }
    }

    async fn exists(
        &self,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<bool, ApiError> {
        let namespace = namespace.filter(|_| self.resource.is_namespaced());
        Ok(self
            .api(namespace)
            .get_opt(name)
            .await?
            .is_some_and(|o| o.metadata.uid.as_deref() == Some(uid)))
    }

    async fn delete(&self, key: &ObjectKey, uid: &str) -> Result<(), ApiError> {
        let params = DeleteParams::background().precondition_uid(uid);
        ignore_gone(
            self.api(key.namespace.as_deref())
                .delete(&key.name, &params)
                .await
                .map(drop),
        )
    }

    /// Rewrites one list of the object's metadata with `change`, by a merge patch
    /// pinned to the version read, starting over if another writer got in between.
    async fn edit(
        &self,
        key: &ObjectKey,
        field: &str,
        change: impl Fn(&ObjectMeta) -> Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let api = self.api(key.namespace.as_deref());
        let mut last = None;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let current = match api.get(&key.name).await {
                Ok(current) => current,
                Err(e) => return ignore_gone(Err(e)),
            };
            let Some(value) = change(&current.metadata) else {
                return Ok(());
            };
            let mut metadata = serde_json::Map::new();
            metadata.insert(field.to_owned(), value);
            metadata.insert(
                "resourceVersion".to_owned(),
                json!(current.metadata.resource_version),
            );
            let patch = json!({ "metadata": metadata });
            match api.patch(&key.name, &patch).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => last = Some(e),
                Err(e) => return ignore_gone(Err(e)),
            }
        }
        Err(last.expect("at least one attempt ran"))
    }

    async fn remove_owner_refs(
        &self,
        key: &ObjectKey,
        owner_uids: &[String],
    ) -> Result<(), ApiError> {
        self.edit(key, "ownerReferences", |meta| {
            let kept: Vec<_> = meta
                .owner_references
                .iter()
                .filter(|r| !owner_uids.contains(&r.uid))
                .collect();
            (kept.len() != meta.owner_references.len()).then(|| json!(kept))
        })
        .await
    }

    async fn remove_finalizer(&self, key: &ObjectKey, finalizer: &str) -> Result<(), ApiError> {
        self.edit(key, "finalizers", |meta| {
            meta.has_finalizer(finalizer).then(|| {
                json!(
                    meta.finalizers
                        .iter()
                        .filter(|f| *f != finalizer)
                        .collect::<Vec<_>>()
                )
            })
        })
        .await
    }
}

fn ignore_gone(result: Result<(), ApiError>) -> Result<(), ApiError> {
    match result {
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        other => other,
    }
}

/// One object's collection: finish its own foreground or orphan deletion, then check
/// whether its owners still exist.
async fn collect(gc: &GcKey, kinds: &Kinds, client: &Client) -> Result<(), ApiError> {
    // What is needed of the followed kinds is read under the lock, then the lock is let
    // go before any call.
    let (resource, meta) = {
        let kinds = kinds.read();
        let Some(tracked) = kinds.get(gc.kind) else {
            return Ok(());
        };
        let Some(meta) = tracked.informer.meta(&gc.key) else {
            return Ok(());
        };
        (tracked.resource.clone(), meta)
    };
    let writer = MetaApi {
        client,
        resource: &resource,
    };
    let uid = meta.uid.clone().unwrap_or_default();
    let dependents = |uid: &str| -> Vec<(ApiResource, ObjectKey, bool, Option<ObjectMeta>)> {
        kinds
            .read()
            .iter()
            .flat_map(|k| {
                k.informer
                    .owned_by(uid)
                    .into_iter()
                    .map(|(key, reference)| {
                        let dep = k.informer.meta(&key);
                        (
                            k.resource.clone(),
                            key,
                            reference.block_owner_deletion == Some(true),
                            dep,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    if meta.deletion_timestamp.is_some() {
        if meta.has_finalizer(FINALIZER_ORPHAN) {
            for (dep_resource, key, _, _) in dependents(&uid) {
                MetaApi {
                    client,
                    resource: &dep_resource,
                }
                .remove_owner_refs(&key, std::slice::from_ref(&uid))
                .await?;
            }
            return writer.remove_finalizer(&gc.key, FINALIZER_ORPHAN).await;
        }
        if meta.has_finalizer(FINALIZER_FOREGROUND_DELETION) {
            let mut blocking = 0;
            for (dep_resource, key, blocks, dep_meta) in dependents(&uid) {
                let dep_uid = dep_meta
                    .as_ref()
                    .and_then(|m| m.uid.clone())
                    .unwrap_or_default();
                if dep_meta.is_some_and(|m| m.deletion_timestamp.is_none()) {
                    MetaApi {
                        client,
                        resource: &dep_resource,
                    }
                    .delete(&key, &dep_uid)
                    .await?;
                }
                blocking += usize::from(blocks);
            }
            if blocking == 0 {
                writer
                    .remove_finalizer(&gc.key, FINALIZER_FOREGROUND_DELETION)
                    .await?;
            }
            return Ok(());
        }
    }
    if meta.owner_references.is_empty() {
        return Ok(());
    }
    let owner_kinds: HashMap<usize, (ApiResource, bool)> = {
        let kinds = kinds.read();
        meta.owner_references
            .iter()
            .enumerate()
            .filter_map(|(i, owner)| {
                let kind = kinds
                    .iter()
                    .find(|k| k.resource.is(&owner.api_version, &owner.kind))?;
                let cached = !kind
                    .informer
                    .keys_by_index(INDEX_UID, &owner.uid)
                    .is_empty();
                Some((i, (kind.resource.clone(), cached)))
            })
            .collect()
    };
    let mut gone = Vec::new();
    let mut remaining = 0;
    for (i, owner) in meta.owner_references.iter().enumerate() {
        match owner_kinds.get(&i) {
            // A kind not (yet) followed: its existence is not ours to judge.
            None => remaining += 1,
            Some((_, true)) => remaining += 1,
            Some((owner_resource, false)) => {
                let owners = MetaApi {
                    client,
                    resource: owner_resource,
                };
                if owners
                    .exists(gc.key.namespace.as_deref(), &owner.name, &owner.uid)
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
        (0, false) if meta.deletion_timestamp.is_none() => writer.delete(&gc.key, &uid).await,
        (0, false) => Ok(()),
        (_, false) => writer.remove_owner_refs(&gc.key, &gone).await,
    }
}
