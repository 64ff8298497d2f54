//! `NodeAffinity`: `spec.nodeSelector` and required node affinity as a filter,
//! preferred node affinity as a score.

use orchestra_core::StringMap;
use orchestra_core::kinds::{NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm};

use crate::scheduler::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    PreScoreResult, ScorePlugin, Unfit,
};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::pod_info::PodInfo;
use crate::scheduler::snapshot::Snapshot;

/// `nodeSelector` (every label must match) and node affinity with Kubernetes' meaning:
/// required terms are ORed, the requirements within a term ANDed; `matchFields`
/// supports `metadata.name`; a preferred term adds its weight to every node it matches.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
}

fn node_affinity(pod: &PodInfo) -> Option<&orchestra_core::kinds::NodeAffinity> {
    pod.pod.spec.affinity.as_ref()?.node_affinity.as_ref()
}

impl PreFilterPlugin for NodeAffinity {
    /// Skips the filter for a pod with neither a node selector nor required affinity.
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
    ) -> Result<PreFilterResult, Unfit> {
        let required = node_affinity(pod).is_some_and(|a| a.required.is_some());
        if pod.pod.spec.node_selector.is_empty() && !required {
            Ok(PreFilterResult::Skip)
        } else {
            Ok(PreFilterResult::AllNodes)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    /// Skips scoring for a pod without preferred terms.
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        _: &Snapshot,
    ) -> PreScoreResult {
        if node_affinity(pod).is_some_and(|a| !a.preferred.is_empty()) {
            PreScoreResult::Score
        } else {
            PreScoreResult::Skip
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let spec = &pod.pod.spec;
        let labels = &node.node().metadata.labels;
        let selector_ok = spec.node_selector.is_subset_of(labels);
        let required = node_affinity(pod).and_then(|na| na.required.as_ref());
        let affinity_ok = required.is_none_or(|r| {
            r.node_selector_terms
                .iter()
                .any(|term| term_matches(term, node.name(), labels))
        });
        if selector_ok && affinity_ok {
            Ok(())
        } else {
            Err(Unfit::new(
                "node(s) didn't match Pod's node affinity/selector",
            ))
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(affinity) = node_affinity(pod) else {
            return 0;
        };
        let labels = &node.node().metadata.labels;
        affinity
            .preferred
            .iter()
            .filter(|p| term_matches(&p.preference, node.name(), labels))
            .map(|p| i64::from(p.weight))
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        super::normalize_to_max(scores);
    }
}

/// Whether every requirement of `term` holds for the node. An empty term matches no
/// node, as in Kubernetes.
pub fn term_matches(term: &NodeSelectorTerm, node_name: &str, labels: &StringMap) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && term.match_fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(node_name);
            requirement_matches(r, value)
        })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| r.values.iter().all(|x| x != v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            let (Some(v), [bound]) = (value.and_then(number), r.values.as_slice()) else {
                return false;
            };
            let Some(bound) = number(bound) else {
                return false;
            };
            if r.operator == NodeSelectorOperator::Gt {
                v > bound
            } else {
                v < bound
            }
        }
    }
}
