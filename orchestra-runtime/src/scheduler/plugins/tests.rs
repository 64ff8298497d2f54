//! Each default plugin alone, with Kubernetes' meaning and messages.

use std::sync::Arc;

use orchestra_core::LabelSelector;
use orchestra_core::OwnerReference;
use orchestra_core::kinds::{
    Affinity, NodeAffinity as NodeAffinitySpec, NodeSelector, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm, TaintEffect, Toleration,
    TolerationOperator, TopologySpreadConstraint, UnsatisfiableConstraintAction,
};

use super::*;
use crate::scheduler::framework::{CycleState, FilterPlugin, PreFilterPlugin, PreScorePlugin};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::snapshot::Snapshot;
use crate::scheduler::testing::{info, node, pod, with_label, with_taint};
use crate::scheduler::{PodInfo, ScorePlugin, Unfit};

fn filter(plugin: &dyn FilterPlugin, pod: &PodInfo, node: &NodeInfo) -> Result<(), Vec<String>> {
    plugin
        .filter(&CycleState::new(), pod, node)
        .map_err(|u: Unfit| u.reasons().iter().map(|r| r.to_string()).collect())
}

fn info_of(node: orchestra_core::kinds::Node) -> NodeInfo {
    NodeInfo::new(Arc::new(node))
}

/// A node with `used` already placed on it (pods requesting cpu/memory).
fn loaded(name: &str, cpu: &str, memory: &str, used: &[(&str, &str)]) -> NodeInfo {
    let mut snap = Snapshot::new();
    snap.upsert_node(Arc::new(node(name, cpu, memory)));
    for (i, (c, m)) in used.iter().enumerate() {
        let mut p = pod(&format!("used-{i}"), c, m);
        p.spec.node_name = Some(name.to_owned());
        snap.observe_pod(
            crate::reconcile::ObjectKey::namespaced("default", format!("used-{i}")),
            &Arc::new(p),
        );
    }
    snap.node(0).clone()
}

fn requirement(key: &str, op: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_owned(),
        operator: op,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn with_required(mut p: orchestra_core::kinds::Pod, terms: Vec<NodeSelectorTerm>) -> PodInfo {
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinitySpec {
            required: Some(NodeSelector {
                node_selector_terms: terms,
            }),
            preferred: Vec::new(),
        }),
    });
    info(p)
}

#[test]
fn resources_fit_counts_what_is_already_placed() {
    let node = loaded("n", "2", "4Gi", &[("1500m", "1Gi")]);
    assert!(filter(&NodeResourcesFit, &info(pod("a", "500m", "1Gi")), &node).is_ok());
    assert_eq!(
        filter(&NodeResourcesFit, &info(pod("a", "501m", "1Gi")), &node),
        Err(vec!["Insufficient cpu".to_owned()])
    );
    assert_eq!(
        filter(&NodeResourcesFit, &info(pod("a", "1", "4Gi")), &node),
        Err(vec![
            "Insufficient cpu".to_owned(),
            "Insufficient memory".to_owned()
        ])
    );
    // A pod requesting nothing fits a node whose cpu is fully requested.
    let full = loaded("n", "1", "1Gi", &[("1", "")]);
    assert!(filter(&NodeResourcesFit, &info(pod("a", "", "")), &full).is_ok());
}

#[test]
fn resources_fit_limits_the_pod_count() {
    let mut tiny = node("n", "4", "4Gi");
    tiny.status
        .as_mut()
        .unwrap()
        .allocatable
        .insert("pods".into(), "1".parse().unwrap());
    let mut snap = Snapshot::new();
    snap.upsert_node(Arc::new(tiny));
    assert!(filter(&NodeResourcesFit, &info(pod("a", "", "")), snap.node(0)).is_ok());
    snap.assume(
        crate::reconcile::ObjectKey::namespaced("default", "a"),
        &info(pod("a", "", "")),
        0,
    );
    assert_eq!(
        filter(&NodeResourcesFit, &info(pod("b", "", "")), snap.node(0)),
        Err(vec!["Too many pods".to_owned()])
    );
}

#[test]
fn least_allocated_prefers_the_emptier_node_and_balanced_the_even_one() {
    let p = info(pod("a", "1", "1Gi"));
    let empty = loaded("e", "4", "4Gi", &[]);
    let busy = loaded("b", "4", "4Gi", &[("2", "2Gi")]);
    let state = CycleState::new();
    assert!(NodeResourcesFit.score(&state, &p, &empty) > NodeResourcesFit.score(&state, &p, &busy));
    // 75% cpu free and 75% memory free: (75 + 75) / 2.
    assert_eq!(NodeResourcesFit.score(&state, &p, &empty), 75);

    let even = loaded("v", "4", "4Gi", &[("1", "1Gi")]);
    let skewed = loaded("s", "4", "4Gi", &[("2", "")]);
    assert_eq!(BalancedAllocation.score(&state, &p, &even), 100);
    assert!(BalancedAllocation.score(&state, &p, &skewed) < 100);
}

#[test]
fn cordoned_nodes_take_only_pods_tolerating_it() {
    let mut cordoned = node("n", "4", "4Gi");
    cordoned.spec.unschedulable = true;
    let cordoned = info_of(cordoned);
    assert_eq!(
        filter(&NodeUnschedulable, &info(pod("a", "", "")), &cordoned),
        Err(vec!["node(s) were unschedulable".to_owned()])
    );
    let mut tolerant = pod("a", "", "");
    tolerant.spec.tolerations.push(Toleration {
        key: Some(TAINT_NODE_UNSCHEDULABLE.to_owned()),
        operator: Some(TolerationOperator::Exists),
        effect: Some(TaintEffect::NoSchedule),
        ..Default::default()
    });
    assert!(filter(&NodeUnschedulable, &info(tolerant), &cordoned).is_ok());
}

#[test]
fn node_name_narrows_to_the_named_node() {
    let mut named = pod("a", "", "");
    named.spec.node_name = Some("n2".into());
    let named = info(named);
    assert!(filter(&NodeName, &named, &info_of(node("n2", "1", "1Gi"))).is_ok());
    assert_eq!(
        filter(&NodeName, &named, &info_of(node("n1", "1", "1Gi"))),
        Err(vec![
            "node(s) didn't match the requested node name".to_owned()
        ])
    );
    let result = NodeName
        .pre_filter(&mut CycleState::new(), &named, &Snapshot::new())
        .unwrap();
    assert_eq!(
        result,
        crate::scheduler::PreFilterResult::Only(vec!["n2".into()])
    );
}

#[test]
fn node_selector_and_required_affinity() {
    let gpu = info_of(with_label(
        with_label(node("g", "4", "4Gi"), "gpu", "a100"),
        "cores",
        "64",
    ));
    let plain = info_of(node("p", "4", "4Gi"));

    let mut selecting = pod("a", "", "");
    selecting
        .spec
        .node_selector
        .insert("gpu".into(), "a100".into());
    let selecting = info(selecting);
    assert!(filter(&NodeAffinity, &selecting, &gpu).is_ok());
    assert_eq!(
        filter(&NodeAffinity, &selecting, &plain),
        Err(vec![
            "node(s) didn't match Pod's node affinity/selector".to_owned()
        ])
    );

    use NodeSelectorOperator::*;
    let term = |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
        match_expressions: reqs,
        match_fields: Vec::new(),
    };
    let cases = [
        (vec![requirement("gpu", In, &["a100", "h100"])], true, false),
        (vec![requirement("gpu", NotIn, &["a100"])], false, true),
        (vec![requirement("gpu", Exists, &[])], true, false),
        (vec![requirement("gpu", DoesNotExist, &[])], false, true),
        (vec![requirement("cores", Gt, &["32"])], true, false),
        (vec![requirement("cores", Lt, &["32"])], false, false),
        // Requirements in one term are ANDed.
        (
            vec![
                requirement("gpu", Exists, &[]),
                requirement("cores", Lt, &["32"]),
            ],
            false,
            false,
        ),
    ];
    for (reqs, on_gpu, on_plain) in cases {
        let p = with_required(pod("a", "", ""), vec![term(reqs.clone())]);
        assert_eq!(
            filter(&NodeAffinity, &p, &gpu).is_ok(),
            on_gpu,
            "{reqs:?} on gpu"
        );
        assert_eq!(
            filter(&NodeAffinity, &p, &plain).is_ok(),
            on_plain,
            "{reqs:?} on plain"
        );
    }
    // Terms are ORed; matchFields selects by node name.
    let either = with_required(
        pod("a", "", ""),
        vec![
            term(vec![requirement("gpu", Exists, &[])]),
            NodeSelectorTerm {
                match_expressions: Vec::new(),
                match_fields: vec![requirement("metadata.name", In, &["p"])],
            },
        ],
    );
    assert!(filter(&NodeAffinity, &either, &gpu).is_ok());
    assert!(filter(&NodeAffinity, &either, &plain).is_ok());
}

#[test]
fn preferred_affinity_scores_by_weight() {
    let mut p = pod("a", "", "");
    let prefer = |key: &str, weight: i32| PreferredSchedulingTerm {
        weight,
        preference: NodeSelectorTerm {
            match_expressions: vec![requirement(key, NodeSelectorOperator::Exists, &[])],
            match_fields: Vec::new(),
        },
    };
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinitySpec {
            required: None,
            preferred: vec![prefer("ssd", 40), prefer("fast", 10)],
        }),
    });
    let p = info(p);
    let state = CycleState::new();
    let both = info_of(with_label(
        with_label(node("b", "1", "1Gi"), "ssd", "y"),
        "fast",
        "y",
    ));
    let ssd = info_of(with_label(node("s", "1", "1Gi"), "ssd", "y"));
    let none = info_of(node("n", "1", "1Gi"));
    let mut scores: Vec<i64> = [&both, &ssd, &none]
        .iter()
        .map(|n| NodeAffinity.score(&state, &p, n))
        .collect();
    assert_eq!(scores, vec![50, 40, 0], "the sum of matched weights");
    NodeAffinity.normalize(&state, &p, &mut scores);
    assert_eq!(
        scores,
        vec![100, 80, 0],
        "scaled so the best node scores 100"
    );
}

#[test]
fn taints_keep_out_pods_without_a_toleration() {
    let gpu = info_of(with_taint(
        node("g", "4", "4Gi"),
        "dedicated",
        "gpu",
        TaintEffect::NoSchedule,
    ));
    let draining = info_of(with_taint(
        node("d", "4", "4Gi"),
        "drain",
        "",
        TaintEffect::NoExecute,
    ));
    let plain = pod("a", "", "");
    assert_eq!(
        filter(&TaintToleration, &info(plain.clone()), &gpu),
        Err(vec![
            "node(s) had untolerated taint {dedicated: gpu}".to_owned()
        ])
    );
    assert!(filter(&TaintToleration, &info(plain.clone()), &draining).is_err());

    let mut tolerant = plain.clone();
    tolerant.spec.tolerations.push(Toleration {
        key: Some("dedicated".into()),
        operator: Some(TolerationOperator::Equal),
        value: Some("gpu".into()),
        effect: Some(TaintEffect::NoSchedule),
        toleration_seconds: None,
    });
    assert!(filter(&TaintToleration, &info(tolerant), &gpu).is_ok());

    // PreferNoSchedule only lowers the score.
    let soft = info_of(with_taint(
        node("s", "4", "4Gi"),
        "spot",
        "yes",
        TaintEffect::PreferNoSchedule,
    ));
    let clean = info_of(node("c", "4", "4Gi"));
    let p = info(plain);
    assert!(filter(&TaintToleration, &p, &soft).is_ok());
    let state = CycleState::new();
    let mut scores = vec![
        TaintToleration.score(&state, &p, &soft),
        TaintToleration.score(&state, &p, &clean),
    ];
    TaintToleration.normalize(&state, &p, &mut scores);
    assert_eq!(scores, vec![0, 100]);
}

#[test]
fn topology_spread_keeps_the_skew_within_max_skew() {
    let mut snap = Snapshot::new();
    for n in ["n1", "n2", "n3"] {
        snap.upsert_node(Arc::new(node(n, "8", "8Gi")));
    }
    let labelled = |name: &str, node: Option<&str>| {
        let mut p = pod(name, "", "");
        p.metadata.labels.insert("app".into(), "web".into());
        p.spec.node_name = node.map(str::to_owned);
        p
    };
    // Two web pods on n1, one on n2, none on n3.
    for (name, n) in [("w1", "n1"), ("w2", "n1"), ("w3", "n2")] {
        snap.observe_pod(
            crate::reconcile::ObjectKey::namespaced("default", name),
            &Arc::new(labelled(name, Some(n))),
        );
    }
    let mut incoming = labelled("w4", None);
    incoming
        .spec
        .topology_spread_constraints
        .push(TopologySpreadConstraint {
            max_skew: 1,
            topology_key: orchestra_core::kinds::LABEL_HOSTNAME.into(),
            when_unsatisfiable: UnsatisfiableConstraintAction::DoNotSchedule,
            label_selector: Some(LabelSelector::new().match_label("app", "web")),
        });
    let incoming = info(incoming);
    let mut state = CycleState::new();
    PodTopologySpread
        .pre_filter(&mut state, &incoming, &snap)
        .unwrap();
    let verdict = |name: &str| {
        PodTopologySpread
            .filter(&state, &incoming, snap.node_named(name).unwrap())
            .is_ok()
    };
    // min is 0 (n3): n1 would have 3 (skew 3), n2 2 (skew 2), n3 1 (skew 1).
    assert!(!verdict("n1"));
    assert!(!verdict("n2"));
    assert!(verdict("n3"));
}

#[test]
fn replicas_of_one_owner_spread_by_default() {
    let mut snap = Snapshot::new();
    for n in ["n1", "n2"] {
        snap.upsert_node(Arc::new(node(n, "8", "8Gi")));
    }
    let owned = |name: &str, node: Option<&str>| {
        let mut p = pod(name, "", "");
        p.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "rs-uid".into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        p.spec.node_name = node.map(str::to_owned);
        p
    };
    snap.observe_pod(
        crate::reconcile::ObjectKey::namespaced("default", "r1"),
        &Arc::new(owned("r1", Some("n1"))),
    );
    let p = info(owned("r2", None));
    let mut state = CycleState::new();
    let nodes: Vec<&NodeInfo> = snap.nodes().iter().collect();
    PodTopologySpread.pre_score(&mut state, &p, &nodes, &snap);
    let mut scores: Vec<i64> = nodes
        .iter()
        .map(|n| PodTopologySpread.score(&state, &p, n))
        .collect();
    assert_eq!(scores, vec![1, 0]);
    PodTopologySpread.normalize(&state, &p, &mut scores);
    assert_eq!(
        scores,
        vec![0, 100],
        "the node without a replica is preferred"
    );
}

#[test]
fn normalizers_map_onto_zero_to_one_hundred() {
    let mut s = vec![0, 5, 10];
    normalize_to_max(&mut s);
    assert_eq!(s, vec![0, 50, 100]);
    let mut s = vec![0, 5, 10];
    normalize_reversed(&mut s);
    assert_eq!(s, vec![100, 50, 0]);
    let mut s = vec![2, 4, 6];
    normalize_min_max_reversed(&mut s);
    assert_eq!(s, vec![100, 50, 0]);
    let mut s = vec![3, 3];
    normalize_min_max_reversed(&mut s);
    assert_eq!(s, vec![100, 100]);
}
