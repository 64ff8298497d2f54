//! Resource plugins: `NodeResourcesFit` (does the pod's request fit what the node has
//! left?; scored LeastAllocated) and `NodeResourcesBalancedAllocation` (prefer nodes
//! whose cpu and memory stay evenly used).

use std::borrow::Cow;

use crate::scheduler::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, ScorePlugin, Unfit,
};
use crate::scheduler::node_info::{NodeInfo, Resources};
use crate::scheduler::pod_info::PodInfo;

/// Pod requests against node allocatable minus what is already requested there (cpu,
/// memory, pod count), with Kubernetes' reasons (`Insufficient cpu`,
/// `Insufficient memory`, `Too many pods`). As a score plugin: LeastAllocated, the
/// share of cpu and memory left free after placing the pod, weighted equally.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeResourcesFit;

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let want = pod.requests.actual;
        let (have, used) = (node.allocatable(), node.requested());
        let pods_full = used.pods + want.pods > have.pods;
        let cpu_short = want.milli_cpu > 0 && used.milli_cpu + want.milli_cpu > have.milli_cpu;
        let memory_short = want.memory > 0 && used.memory + want.memory > have.memory;
        if !(pods_full || cpu_short || memory_short) {
            return Ok(());
        }
        let mut reasons: Vec<Cow<'static, str>> = Vec::with_capacity(3);
        if pods_full {
            reasons.push("Too many pods".into());
        }
        if cpu_short {
            reasons.push("Insufficient cpu".into());
        }
        if memory_short {
            reasons.push("Insufficient memory".into());
        }
        Err(Unfit::with_reasons(reasons))
    }
}

/// The share of `capacity` used once `requested` is placed, on the 0–100 scale
/// (integer arithmetic, as Kubernetes scores: the score runs for every node).
fn used_share(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 {
        return MAX_NODE_SCORE;
    }
    (requested.clamp(0, capacity) * MAX_NODE_SCORE) / capacity
}

fn after_placing(pod: &PodInfo, node: &NodeInfo) -> (Resources, Resources) {
    let mut used = node.non_zero_requested();
    used += pod.requests.non_zero;
    (used, node.allocatable())
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let (used, have) = after_placing(pod, node);
        let free = |used: i64, have: i64| MAX_NODE_SCORE - used_share(used, have);
        (free(used.milli_cpu, have.milli_cpu) + free(used.memory, have.memory)) / 2
    }
}

/// Prefers nodes where cpu and memory are used in the same proportion after placing
/// the pod: `(1 − |cpu% − mem%| / 2) × 100` (Kubernetes' standard deviation of the two).
#[derive(Clone, Copy, Debug, Default)]
pub struct BalancedAllocation;

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let (used, have) = after_placing(pod, node);
        let cpu = used_share(used.milli_cpu, have.milli_cpu);
        let memory = used_share(used.memory, have.memory);
        MAX_NODE_SCORE - (cpu - memory).abs() / 2
    }
}
