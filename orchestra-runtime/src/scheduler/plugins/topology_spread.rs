//! `PodTopologySpread`: spreads matching pods over the domains of a topology key
//! (each node, for `kubernetes.io/hostname`).
//!
//! A pod's own `topologySpreadConstraints` with `DoNotSchedule` are filters (placing it
//! must keep `count(domain) − min(count) ≤ maxSkew`), those with `ScheduleAnyway` are
//! scores. A pod without constraints gets the system default, as in Kubernetes: spread
//! the pods of its controlling owner over nodes, as a score. The default is computed
//! from per-node owner counts the snapshot keeps, so it costs O(1) per node; explicit
//! constraints count matching pods once per scheduling cycle.

use std::collections::HashMap;
use std::sync::Arc;

use orchestra_core::LabelSelector;
use orchestra_core::kinds::{
    LABEL_HOSTNAME, TopologySpreadConstraint, UnsatisfiableConstraintAction,
};

use crate::scheduler::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    PreScoreResult, ScorePlugin, Unfit,
};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::pod_info::PodInfo;
use crate::scheduler::snapshot::Snapshot;

/// Spreading of replicas over topology domains.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodTopologySpread;

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
}

/// The domain `node` belongs to for `key` (a node without the hostname label is its
/// own hostname domain).
fn domain<'a>(node: &'a NodeInfo, key: &str) -> Option<&'a str> {
    match node.node().metadata.labels.get(key) {
        Some(v) => Some(v),
        None if key == LABEL_HOSTNAME => Some(node.name()),
        None => None,
    }
}

/// Matching pods per domain for one constraint, and the emptiest domain's count.
#[derive(Debug)]
struct DomainCounts {
    constraint: TopologySpreadConstraint,
    counts: HashMap<String, i64>,
    min: i64,
    self_match: i64,
}

impl DomainCounts {
    fn compute(c: &TopologySpreadConstraint, pod: &PodInfo, snapshot: &Snapshot) -> DomainCounts {
        let everything = LabelSelector::everything();
        let selector = c.label_selector.as_ref().unwrap_or(&everything);
        let namespace = pod.pod.metadata.namespace.as_deref();
        let mut counts: HashMap<String, i64> = HashMap::new();
        for node in snapshot.nodes() {
            if let Some(d) = domain(node, &c.topology_key) {
                counts.entry(d.to_owned()).or_default();
            }
        }
        for (placed, node_name) in snapshot.placed_pods() {
            if placed.namespace.as_deref() != namespace || !selector.matches(&placed.labels) {
                continue;
            }
            let Some(d) = snapshot
                .node_named(node_name)
                .and_then(|n| domain(n, &c.topology_key))
            else {
                continue;
            };
            if let Some(count) = counts.get_mut(d) {
                *count += 1;
            }
        }
        let min = counts.values().copied().min().unwrap_or(0);
        DomainCounts {
            constraint: c.clone(),
            counts,
            min,
            self_match: i64::from(selector.matches(&pod.pod.metadata.labels)),
        }
    }

    fn count_for(&self, node: &NodeInfo) -> Option<i64> {
        let d = domain(node, &self.constraint.topology_key)?;
        Some(self.counts.get(d).copied().unwrap_or(0))
    }
}

/// The pod's `DoNotSchedule` constraints with their counts, for the filter.
#[derive(Debug)]
struct HardConstraints(Vec<DomainCounts>);

fn constraints(
    pod: &PodInfo,
    action: UnsatisfiableConstraintAction,
) -> impl Iterator<Item = &TopologySpreadConstraint> {
    pod.pod
        .spec
        .topology_spread_constraints
        .iter()
        .filter(move |c| c.when_unsatisfiable == action)
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Unfit> {
        let hard: Vec<DomainCounts> =
            constraints(pod, UnsatisfiableConstraintAction::DoNotSchedule)
                .map(|c| DomainCounts::compute(c, pod, snapshot))
                .collect();
        if hard.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        state.insert(HardConstraints(hard));
        Ok(PreFilterResult::AllNodes)
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(HardConstraints(hard)) = state.get::<HardConstraints>() else {
            return Ok(());
        };
        for c in hard {
            let Some(count) = c.count_for(node) else {
                return Err(Unfit::new(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                ));
            };
            if count + c.self_match - c.min > i64::from(c.constraint.max_skew) {
                return Err(Unfit::new(
                    "node(s) didn't match pod topology spread constraints",
                ));
            }
        }
        Ok(())
    }
}

/// What scoring uses: the pod's soft constraints, or the owner-spreading default.
#[derive(Debug)]
enum ScoreBasis {
    Soft(Vec<DomainCounts>),
    Owner(Arc<str>),
    Nothing,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> PreScoreResult {
        // An owner no placed pod has scores 0 everywhere: it ranks nothing, so it is
        // skipped like no basis at all.
        let soft: Vec<DomainCounts> =
            constraints(pod, UnsatisfiableConstraintAction::ScheduleAnyway)
                .map(|c| DomainCounts::compute(c, pod, snapshot))
                .collect();
        let basis = if !soft.is_empty() {
            ScoreBasis::Soft(soft)
        } else if pod.pod.spec.topology_spread_constraints.is_empty()
            && let Some(owner) = pod.owner_uid.as_deref().and_then(|uid| snapshot.owner(uid))
        {
            ScoreBasis::Owner(owner.clone())
        } else {
            ScoreBasis::Nothing
        };
        if matches!(basis, ScoreBasis::Nothing) {
            return PreScoreResult::Skip;
        }
        state.insert(basis);
        PreScoreResult::Score
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        match state.get::<ScoreBasis>() {
            Some(ScoreBasis::Soft(soft)) => soft.iter().filter_map(|c| c.count_for(node)).sum(),
            Some(ScoreBasis::Owner(owner)) => i64::from(node.pods_of_shared_owner(owner)),
            Some(ScoreBasis::Nothing) | None => 0,
        }
    }

    /// Fewer matching pods in the node's domain is better: the emptiest gets 100, the
    /// fullest 0.
    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        super::normalize_min_max_reversed(scores);
    }
}
