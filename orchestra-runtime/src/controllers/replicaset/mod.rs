//! The ReplicaSet controller: keeps exactly `replicas` pods matching a ReplicaSet's
//! selector and owned by it.
//!
//! The decision is [`plan::plan`] (pure); this module reads the caches, carries the plan
//! out through the typed API, and remembers what it just did ("expectations", as
//! Kubernetes calls them): until the pod cache shows the pods it created and no longer
//! shows the ones it deleted, a ReplicaSet is not planned again, so a cache that lags
//! its own writes never makes it create or delete twice.

mod owned;
pub mod plan;

pub use owned::{ControlledPods, LabelGroup};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::future::join_all;
use futures::stream::FuturesUnordered;
use orchestra_core::kinds::{Pod, ReplicaSet};
use orchestra_core::{Api, ApiError, Client, DeleteParams, ResourceExt};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::controllers::pod_helpers::pod_from_template;
use crate::keys::KeyMap;
use crate::reconcile::{Action, Cache, Context, Controller, Informers, ObjectKey, Watches};

/// Index of pods without a controller (ReplicaSets may adopt them), by namespace.
pub const INDEX_ORPHANS: &str = "orphans";

/// How long writes may stay unobserved before the controller stops waiting for them
/// and plans afresh (Kubernetes' expectations timeout).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// Pods this controller created or deleted and has not yet seen in its cache.
#[derive(Debug)]
struct Expectations {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

/// The ReplicaSet controller. Build it from a manager's informers and add it to the
/// manager.
pub struct ReplicaSetController {
    client: Client,
    pods: Cache<Pod>,
    replicasets: Cache<ReplicaSet>,
    expectations: Mutex<KeyMap<Expectations>>,
}

impl ReplicaSetController {
    /// A controller reading the pod and ReplicaSet caches of `informers`; it adds the
    /// [`INDEX_ORPHANS`] index and the [`ControlledPods`] tally to the pod informer.
    pub fn new(client: Client, informers: &Informers) -> Self {
        let pods = informers.get::<Pod>();
        pods.add_index(INDEX_ORPHANS, |pod: &Pod| {
            match pod.metadata.controller_ref() {
                Some(_) => Vec::new(),
                None => vec![pod.namespace().unwrap_or_default().to_owned()],
            }
        });
        pods.add_tally::<ControlledPods>();
        ReplicaSetController {
            client,
            pods: informers.cache::<Pod>(),
            replicasets: informers.cache::<ReplicaSet>(),
            expectations: Mutex::new(KeyMap::new()),
        }
    }

    /// Whether the cache reflects this ReplicaSet's last writes (or waiting for them
    /// timed out).
    fn expectations_met(&self, key: &ObjectKey, namespace: &str) -> bool {
        let mut all = self.expectations.lock();
        let Some(e) = all.get_mut(key) else {
            return true;
        };
        e.creates.retain(|name| {
            self.pods
                .get(&ObjectKey::namespaced(namespace, name.as_str()))
                .is_none()
        });
        e.deletes.retain(|name| {
            self.pods
                .get(&ObjectKey::namespaced(namespace, name.as_str()))
                .is_some()
        });
        if (e.creates.is_empty() && e.deletes.is_empty())
            || e.since.elapsed() > EXPECTATIONS_TIMEOUT
        {
            all.remove(key);
            return true;
        }
        false
    }

    fn expect(
        &self,
        key: &ObjectKey,
        created: impl IntoIterator<Item = String>,
        deleted: impl IntoIterator<Item = String>,
    ) {
        let mut all = self.expectations.lock();
        let e = all.get_or_insert_with(key.clone(), || Expectations {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        });
        e.creates.extend(created);
        e.deletes.extend(deleted);
        e.since = Instant::now();
    }

    /// The pods that could belong to `rs`: those it owns and those its selector matches.
    fn candidates(&self, rs: &ReplicaSet, namespace: &str) -> Vec<Arc<Pod>> {
        let owned: Vec<Arc<Pod>> = self
            .pods
            .owned_by(rs.uid())
            .into_iter()
            .filter(|p| p.namespace() == Some(namespace))
            .collect();
        let matching = if rs.spec.selector.is_empty() {
            Vec::new()
        } else {
            self.pods.matching(Some(namespace), &rs.spec.selector)
        };
        // Most pods are in both lists; the matching ones that name this ReplicaSet as
        // an owner are already in `owned`. (This runs over every pod of the ReplicaSet
        // on each sync, so no set of names is built.)
        let uid = rs.uid();
        let mut pods = owned;
        pods.extend(
            matching
                .into_iter()
                .filter(|p| !p.metadata.owner_references.iter().any(|r| r.uid == uid)),
        );
        pods
    }
}

#[async_trait]
impl Controller for ReplicaSetController {
    type Object = ReplicaSet;
    type Error = ApiError;

    fn name(&self) -> &str {
        "replicaset"
    }

    async fn reconcile(
        &self,
        rs: Arc<ReplicaSet>,
        ctx: &Context<ReplicaSet>,
    ) -> Result<Action, ApiError> {
        let namespace = rs.namespace().unwrap_or("default").to_owned();
        if !self.expectations_met(&ctx.key, &namespace) {
            // The pod events for our own writes will wake this ReplicaSet again.
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
        // Most syncs only need counts the pod cache keeps; the pods themselves are
        // visited when some must be chosen (to delete, adopt or release).
        let orphans = self.pods.by_index(INDEX_ORPHANS, &namespace);
        let quick = self.pods.tally::<ControlledPods, _>(rs.uid(), |owned| {
            plan::plan_from_counts(&rs, owned, &orphans)
        });
        let decision = match quick {
            Some(decision) => decision,
            None => plan::plan(
                &rs,
                &self.candidates(&rs, &namespace),
                self.client.clock().now(),
            ),
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);

        for pod in &decision.adopt {
            let owner = rs.owner_reference(true);
            let adopted = pods
                .update_with(pod.name_any(), |p| {
                    if p.metadata.controller_ref().is_none() {
                        p.metadata.owner_references.push(owner.clone());
                    }
                })
                .await;
            ignore_not_found(adopted)?;
        }
        for pod in &decision.release {
            let uid = rs.uid().to_owned();
            ignore_not_found(
                pods.update_with(pod.name_any(), |p| {
                    p.metadata.owner_references.retain(|r| r.uid != uid)
                })
                .await,
            )?;
        }

        for batch in plan::slow_start_batches(decision.create) {
            let template = pod_from_template(
                &rs.spec.template,
                &namespace,
                rs.name_any(),
                rs.owner_reference(true),
            );
            // Each created pod is reduced to its name as it comes back: a batch of
            // hundreds of whole pods is never held at once.
            let mut creating: FuturesUnordered<_> =
                (0..batch).map(|_| pods.create(&template)).collect();
            let mut created = Vec::with_capacity(batch);
            let mut failure = None;
            while let Some(result) = creating.next().await {
                match result {
                    Ok(pod) => created.push(pod.name_any().to_owned()),
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            self.expect(&ctx.key, created, []);
            if let Some(e) = failure {
                // Stop at the first failure: a broken template must not make hundreds
                // of failing pods.
                return Err(e);
            }
        }

        if !decision.delete.is_empty() {
            let names: Vec<String> = decision
                .delete
                .iter()
                .map(|p| p.name_any().to_owned())
                .collect();
            self.expect(&ctx.key, [], names.iter().cloned());
            let params = DeleteParams::default();
            let mut rest = names.as_slice();
            for batch in plan::slow_start_batches(names.len()) {
                let (now, later) = rest.split_at(batch);
                rest = later;
                for result in join_all(now.iter().map(|name| pods.delete(name, &params))).await {
                    ignore_not_found(result)?;
                }
            }
        }

        if rs.status.as_ref() != Some(&decision.status) {
            let replicasets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &namespace);
            let status = decision.status.clone();
            ignore_not_found(
                replicasets
                    .update_status_with(rs.name_any(), |r| r.status = Some(status.clone()))
                    .await,
            )?;
        }
        Ok(Action::await_change())
    }

    async fn deleted(
        &self,
        key: &ObjectKey,
        _last: Option<Arc<ReplicaSet>>,
        _ctx: &Context<ReplicaSet>,
    ) -> Result<Action, ApiError> {
        self.expectations.lock().remove(key);
        Ok(Action::await_change())
    }

    /// Its pods wake it through their owner reference; an orphan pod wakes every
    /// ReplicaSet in its namespace whose selector matches it, so it can be adopted.
    fn watches(&self) -> Watches<ReplicaSet> {
        let replicasets = self.replicasets.clone();
        Watches::new().owns::<Pod>().watches::<Pod>(move |pod| {
            if pod.metadata.controller_ref().is_some() {
                return Vec::new();
            }
            let namespace = pod.namespace().unwrap_or_default();
            replicasets
                .in_namespace(namespace)
                .iter()
                .filter(|rs| {
                    !rs.spec.selector.is_empty() && rs.spec.selector.matches(&pod.metadata.labels)
                })
                .map(|rs| ObjectKey::of(rs.as_ref()))
                .collect()
        })
    }
}

fn ignore_not_found<T>(result: Result<T, ApiError>) -> Result<(), ApiError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
