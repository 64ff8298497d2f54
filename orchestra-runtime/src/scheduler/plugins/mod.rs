//! The default plugins, each with Kubernetes' meaning and messages, and
//! [`default_profile`], which wires them as Kubernetes' default profile does.

mod affinity;
mod binder;
mod node_basics;
mod resources;
mod taints;
#[cfg(test)]
mod tests;
mod topology_spread;

use std::sync::Arc;

pub use affinity::{NodeAffinity, term_matches};
pub use binder::DefaultBinder;
pub use node_basics::{NodeName, NodeUnschedulable, TAINT_NODE_UNSCHEDULABLE};
pub use resources::{BalancedAllocation, NodeResourcesFit};
pub use taints::TaintToleration;
pub use topology_spread::PodTopologySpread;

use super::framework::{MAX_NODE_SCORE, Profile};

/// Kubernetes' default profile for pods naming `scheduler_name`: filters
/// NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodeResourcesFit and
/// PodTopologySpread; scores TaintToleration ×3, NodeAffinity ×2, PodTopologySpread ×2,
/// NodeResourcesFit (LeastAllocated) ×1 and BalancedAllocation ×1; binds with
/// [`DefaultBinder`] (which the scheduler adds when it starts, with its client).
pub fn default_profile(scheduler_name: impl Into<String>) -> Profile {
    let spread = Arc::new(PodTopologySpread);
    let taints = Arc::new(TaintToleration);
    let affinity = Arc::new(NodeAffinity);
    let fit = Arc::new(NodeResourcesFit);
    let name = Arc::new(NodeName);
    Profile::empty(scheduler_name)
        .pre_filter(name.clone())
        .pre_filter(affinity.clone())
        .pre_filter(spread.clone())
        .filter(Arc::new(NodeUnschedulable))
        .filter(name)
        .filter(taints.clone())
        .filter(affinity.clone())
        .filter(fit.clone())
        .filter(spread.clone())
        .pre_score(affinity.clone())
        .pre_score(spread.clone())
        .score(taints, 3)
        .score(affinity, 2)
        .score(spread, 2)
        .score(fit, 1)
        .score(Arc::new(BalancedAllocation), 1)
}

/// Scales scores so the highest becomes [`MAX_NODE_SCORE`] (all zero stays zero).
pub(crate) fn normalize_to_max(scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        scores.iter_mut().for_each(|s| *s = 0);
        return;
    }
    for s in scores {
        *s = *s * MAX_NODE_SCORE / max;
    }
}

/// Like [`normalize_to_max`], then reversed: the lowest raw score gets the most.
pub(crate) fn normalize_reversed(scores: &mut [i64]) {
    normalize_to_max(scores);
    for s in scores {
        *s = MAX_NODE_SCORE - *s;
    }
}

/// Maps the lowest raw score to [`MAX_NODE_SCORE`] and the highest to 0, linearly;
/// all equal → all [`MAX_NODE_SCORE`].
pub(crate) fn normalize_min_max_reversed(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    for s in scores {
        *s = if max == min {
            MAX_NODE_SCORE
        } else {
            (max - *s) * MAX_NODE_SCORE / (max - min)
        };
    }
}
