//! `TaintToleration`: a node's `NoSchedule` and `NoExecute` taints keep out pods that
//! do not tolerate them; `PreferNoSchedule` taints only lower the node's score.

use orchestra_core::kinds::TaintEffect;

use crate::scheduler::framework::{CycleState, FilterPlugin, Plugin, ScorePlugin, Unfit};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::pod_info::PodInfo;

/// Taints and tolerations, with Kubernetes' matching rules
/// ([`Toleration::tolerates`](orchestra_core::kinds::Toleration::tolerates)).
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        if !node.is_tainted() {
            return Ok(());
        }
        let tolerations = &pod.pod.spec.tolerations;
        let untolerated = node.node().spec.taints.iter().find(|taint| {
            matches!(
                taint.effect,
                TaintEffect::NoSchedule | TaintEffect::NoExecute
            ) && !tolerations.iter().any(|t| t.tolerates(taint))
        });
        match untolerated {
            None => Ok(()),
            Some(taint) => Err(Unfit::new(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            ))),
        }
    }
}

impl ScorePlugin for TaintToleration {
    /// The number of `PreferNoSchedule` taints the pod does not tolerate.
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        if !node.is_tainted() {
            return 0;
        }
        let tolerations = &pod.pod.spec.tolerations;
        node.node()
            .spec
            .taints
            .iter()
            .filter(|taint| {
                taint.effect == TaintEffect::PreferNoSchedule
                    && !tolerations.iter().any(|t| t.tolerates(taint))
            })
            .count() as i64
    }

    /// Fewer intolerable taints is better: the node with most gets 0.
    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        super::normalize_reversed(scores);
    }
}
