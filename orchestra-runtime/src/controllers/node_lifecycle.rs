//! The node lifecycle controller: notices nodes whose agent stopped renewing its lease,
//! marks them unreachable, and evicts their pods so their owners replace them
//! elsewhere — slowly, and not at all when most nodes vanish at once.
//!
//! A node whose lease (namespace `kube-node-lease`, named after the node) has not been
//! renewed for the grace period (default 40 s) gets `Ready=Unknown` and the taint
//! `node.kubernetes.io/unreachable:NoExecute` (and at once, so no new pods land there,
//! `node.kubernetes.io/unreachable:NoSchedule`). Its pods that do not tolerate the taint
//! are deleted at once; those that tolerate it for `tolerationSeconds` (300 s by
//! default, added to every pod) are deleted when that runs out. As in Kubernetes, the
//! rate limit (0.1 nodes per second) applies to tainting, so evictions start node by
//! node; nothing is tainted or evicted while more than 55% of the nodes are unreachable
//! (a partitioned control plane must not evict the whole cluster). A node whose lease
//! is renewed again loses the taint.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_core::kinds::{
    ConditionStatus, Lease, Node, NodeCondition, Pod, TAINT_NODE_UNREACHABLE, Taint, TaintEffect,
};
use orchestra_core::{Api, ApiError, Client, DeleteParams, ResourceExt, Time};
use parking_lot::Mutex;

use crate::reconcile::{Action, Cache, Context, Controller, Informers, ObjectKey, Watches};

/// The namespace of node heartbeat leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The pod index by node name this controller (and the agents' pod dispatcher) adds
/// to the pod informer: the node a pod is bound to.
pub const INDEX_NODE_NAME: &str = "spec.nodeName";

/// The value of [`INDEX_NODE_NAME`] for `pod`: its node, if bound.
pub(crate) fn pod_node_name(pod: &Pod) -> Vec<String> {
    pod.node_name().map(str::to_owned).into_iter().collect()
}

/// Settings of the node lifecycle controller; the defaults are Kubernetes'.
///
/// ```
/// use std::time::Duration;
/// use orchestra_runtime::controllers::NodeLifecycleConfig;
///
/// let config = NodeLifecycleConfig::default()
///     .grace_period(Duration::from_secs(20))
///     .eviction_rate(1.0);
/// ```
#[derive(Clone, Debug)]
pub struct NodeLifecycleConfig {
    pub(crate) grace_period: Duration,
    pub(crate) eviction_rate: f64,
    pub(crate) unhealthy_threshold: f64,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(40),
            eviction_rate: 0.1,
            unhealthy_threshold: 0.55,
        }
    }
}

impl NodeLifecycleConfig {
    /// How long a node's lease may go unrenewed before the node is unreachable.
    /// Default 40 s.
    #[must_use]
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// How many nodes a second may start having their pods evicted. Default 0.1.
    #[must_use]
    pub fn eviction_rate(mut self, nodes_per_second: f64) -> Self {
        self.eviction_rate = nodes_per_second;
        self
    }

    /// Above this fraction of unreachable nodes, nothing is evicted: the fault is
    /// more likely the control plane's view than the nodes. Default 0.55.
    #[must_use]
    pub fn unhealthy_threshold(mut self, fraction: f64) -> Self {
        self.unhealthy_threshold = fraction.clamp(0.0, 1.0);
        self
    }
}

/// When a pod on an unreachable node must go: now, at a time, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictAt {
    /// It does not tolerate the taint.
    Now,
    /// It tolerates the taint until then.
    At(Time),
    /// It tolerates the taint forever.
    Never,
}

/// When `pod` must leave a node that got `taint` at `added` (pure; the taint manager's
/// rule).
pub fn evict_at(pod: &Pod, taint: &Taint, added: Time) -> EvictAt {
    let tolerations: Vec<_> = pod
        .spec
        .tolerations
        .iter()
        .filter(|t| t.tolerates(taint))
        .collect();
    if tolerations.is_empty() {
        return EvictAt::Now;
    }
    match tolerations
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .min()
    {
        Some(secs) if tolerations.iter().all(|t| t.toleration_seconds.is_some()) => {
            EvictAt::At(added.plus(Duration::from_secs(secs.max(0) as u64)))
        }
        _ => EvictAt::Never,
    }
}

/// The node lifecycle controller. Build it from a manager's informers and add it to the
/// manager.
pub struct NodeLifecycleController {
    client: Client,
    config: NodeLifecycleConfig,
    leases: Cache<Lease>,
    nodes: Cache<Node>,
    pods: Cache<Pod>,
    /// Nodes tainted (or allowed to be), and when the next node may be.
    evicting: Mutex<(HashSet<String>, Option<tokio::time::Instant>)>,
}

impl NodeLifecycleController {
    /// A controller reading leases, nodes and pods from `informers`.
    pub fn new(client: Client, informers: &Informers, config: NodeLifecycleConfig) -> Self {
        let pods = informers.get::<Pod>();
        pods.add_index(INDEX_NODE_NAME, pod_node_name);
        NodeLifecycleController {
            client,
            config,
            leases: informers.cache::<Lease>(),
            nodes: informers.cache::<Node>(),
            pods: pods.cache(),
            evicting: Mutex::new((HashSet::new(), None)),
        }
    }

    fn unreachable_fraction(&self, now: Time) -> f64 {
        let nodes = self.nodes.list();
        if nodes.is_empty() {
            return 0.0;
        }
        let down = nodes
            .iter()
            .filter(|n| !self.renewed_within_grace(n, now))
            .count();
        down as f64 / nodes.len() as f64
    }

    fn renewed_within_grace(&self, node: &Node, now: Time) -> bool {
        let lease = self.leases.get(&ObjectKey::namespaced(
            NODE_LEASE_NAMESPACE,
            node.name_any(),
        ));
        let last = lease
            .and_then(|l| l.spec.renew_time)
            .or(node.metadata.creation_timestamp);
        last.is_some_and(|t| now.since(t) < self.config.grace_period)
    }

    /// Whether this node may be tainted now (rate limit across nodes), or how long to
    /// wait.
    fn may_taint(&self, node: &str) -> Result<(), Duration> {
        let mut state = self.evicting.lock();
        if state.0.contains(node) {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if let Some(next) = state.1 {
            if now < next {
                return Err(next - now);
            }
        }
        let spacing = Duration::from_secs_f64(1.0 / self.config.eviction_rate.max(1e-6));
        state.0.insert(node.to_owned());
        state.1 = Some(now + spacing);
        Ok(())
    }
}

impl NodeLifecycleController {
    /// Kubernetes' MarkPodsNotReady: the pods of an unreachable node cannot be known to
    /// serve, so their `Ready` condition turns `False` at once — availability counts
    /// (rollouts, the autoscaler, load balancers) stop relying on them long before the
    /// eviction.
    async fn mark_pods_not_ready(&self, node: &str, now: Time) -> Result<(), ApiError> {
        for pod in self.pods.by_index(INDEX_NODE_NAME, node) {
            if !pod.is_ready() || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let pods: Api<Pod> =
                Api::namespaced(self.client.clone(), pod.namespace().unwrap_or("default"));
            let marked = pods
                .update_status_with(pod.name_any(), |p| {
                    let status = p.status.get_or_insert_with(Default::default);
                    status.set_condition(
                        "Ready",
                        ConditionStatus::False,
                        Some("NodeNotReady"),
                        Some("the node's agent stopped posting status"),
                        now,
                    );
                })
                .await;
            match marked {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Controller for NodeLifecycleController {
    type Object = Node;
    type Error = ApiError;

    fn name(&self) -> &str {
        "node-lifecycle"
    }

    async fn reconcile(&self, node: Arc<Node>, _ctx: &Context<Node>) -> Result<Action, ApiError> {
        let now = self.client.clock().now();
        let nodes: Api<Node> = Api::all(self.client.clone());
        let name = node.name_any().to_owned();
        let tainted = node
            .spec
            .taints
            .iter()
            .find(|t| t.key == TAINT_NODE_UNREACHABLE && t.effect == TaintEffect::NoExecute)
            .cloned();

        if self.renewed_within_grace(&node, now) {
            self.evicting.lock().0.remove(&name);
            if node
                .spec
                .taints
                .iter()
                .any(|t| t.key == TAINT_NODE_UNREACHABLE)
            {
                nodes
                    .update_with(&name, |n| {
                        n.spec.taints.retain(|t| t.key != TAINT_NODE_UNREACHABLE)
                    })
                    .await?;
            }
            let lease = self
                .leases
                .get(&ObjectKey::namespaced(NODE_LEASE_NAMESPACE, &name));
            let renewed = lease
                .and_then(|l| l.spec.renew_time)
                .or(node.metadata.creation_timestamp)
                .unwrap_or(now);
            let expires_in = self.config.grace_period.saturating_sub(now.since(renewed));
            return Ok(Action::requeue(expires_in + Duration::from_millis(1)));
        }

        // Unreachable: say so, then taint.
        let ready_unknown = node
            .condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::Unknown);
        if !ready_unknown {
            nodes
                .update_status_with(&name, |n| {
                    let status = n.status.get_or_insert_with(Default::default);
                    status.conditions.retain(|c| c.type_ != "Ready");
                    status.conditions.push(NodeCondition {
                        type_: "Ready".into(),
                        status: ConditionStatus::Unknown,
                        reason: Some("NodeStatusUnknown".into()),
                        message: Some("Node agent stopped posting node status.".into()),
                        last_heartbeat_time: None,
                        last_transition_time: Some(now),
                    });
                })
                .await?;
        }
        self.mark_pods_not_ready(&name, now).await?;
        // No new pods on it from now on (Kubernetes' TaintNodesByCondition). Pods
        // tolerate the NoExecute taint below for a while, and the scheduler's taint
        // filter would let their replacements land right back on the silent node;
        // this taint is neither rate limited nor held back by a partition, as it
        // evicts nothing.
        let keeps_out = |n: &Node| {
            n.spec
                .taints
                .iter()
                .any(|t| t.key == TAINT_NODE_UNREACHABLE && t.effect == TaintEffect::NoSchedule)
        };
        if !keeps_out(&node) {
            let taint = Taint {
                key: TAINT_NODE_UNREACHABLE.into(),
                value: None,
                effect: TaintEffect::NoSchedule,
                time_added: Some(now),
            };
            nodes
                .update_with(&name, |n| {
                    if !keeps_out(n) {
                        n.spec.taints.push(taint.clone());
                    }
                })
                .await?;
        }
        if self.unreachable_fraction(now) > self.config.unhealthy_threshold {
            tracing::warn!(node = %name, "most nodes are unreachable: not tainting or evicting (partition suspected)");
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
        let Some(taint) = tainted else {
            // As Kubernetes, the rate limit applies to tainting: the pods' tolerations
            // then count from the taint.
            if let Err(wait) = self.may_taint(&name) {
                return Ok(Action::requeue(wait));
            }
            let taint = Taint {
                key: TAINT_NODE_UNREACHABLE.into(),
                value: None,
                effect: TaintEffect::NoExecute,
                time_added: Some(now),
            };
            nodes
                .update_with(&name, |n| n.spec.taints.push(taint.clone()))
                .await?;
            return Ok(Action::await_change());
        };
        let added = taint.time_added.unwrap_or(now);
        let mut next: Option<Time> = None;
        for pod in self.pods.by_index(INDEX_NODE_NAME, &name) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let when = evict_at(&pod, &taint, added);
            let due = match when {
                EvictAt::Now => true,
                EvictAt::At(t) if t <= now => true,
                EvictAt::At(t) => {
                    next = Some(next.map_or(t, |n| n.min(t)));
                    false
                }
                EvictAt::Never => false,
            };
            if due {
                let pods: Api<Pod> =
                    Api::namespaced(self.client.clone(), pod.namespace().unwrap_or("default"));
                let params = DeleteParams::default().precondition_uid(pod.uid());
                match pods.delete(pod.name_any(), &params).await {
                    Ok(_) => {
                        tracing::info!(node = %name, pod = %pod.object_key(), "evicted from an unreachable node")
                    }
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(match next {
            Some(t) => Action::requeue(t.since(now) + Duration::from_millis(1)),
            None => Action::requeue(Duration::from_secs(30)),
        })
    }

    /// Lease renewals wake their node.
    fn watches(&self) -> Watches<Node> {
        Watches::new().watches::<Lease>(|lease| {
            if lease.namespace() == Some(NODE_LEASE_NAMESPACE) {
                vec![ObjectKey::cluster(lease.name_any())]
            } else {
                Vec::new()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::kinds::{Toleration, TolerationOperator};

    use super::*;

    fn pod_with(tolerations: Vec<Toleration>) -> Pod {
        let mut pod = Pod::default();
        pod.spec.tolerations = tolerations;
        pod
    }

    fn unreachable() -> Taint {
        Taint {
            key: TAINT_NODE_UNREACHABLE.into(),
            value: None,
            effect: TaintEffect::NoExecute,
            time_added: None,
        }
    }

    #[test]
    fn eviction_follows_tolerations() {
        let added: Time = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            evict_at(&pod_with(vec![]), &unreachable(), added),
            EvictAt::Now
        );
        let mut defaulted = pod_with(vec![]);
        defaulted.spec.apply_defaults();
        assert_eq!(
            evict_at(&defaulted, &unreachable(), added),
            EvictAt::At(added.plus(Duration::from_secs(300)))
        );
        let forever = pod_with(vec![Toleration {
            key: Some(TAINT_NODE_UNREACHABLE.into()),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoExecute),
            ..Default::default()
        }]);
        assert_eq!(evict_at(&forever, &unreachable(), added), EvictAt::Never);
    }
}
