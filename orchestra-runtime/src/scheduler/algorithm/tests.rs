//! The scheduling cycle: node sampling, the rotating start, the unschedulable message.

use std::sync::Arc;

use orchestra_core::kinds::TaintEffect;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use crate::scheduler::plugins::default_profile;
use crate::scheduler::testing::{info, node, pod, with_taint};

fn snapshot_of(nodes: impl IntoIterator<Item = orchestra_core::kinds::Node>) -> Snapshot {
    let mut snap = Snapshot::new();
    for n in nodes {
        snap.upsert_node(Arc::new(n));
    }
    snap
}

/// One cycle with the default settings, a fresh scan and a fixed seed.
fn one_cycle(
    profile: &Profile,
    pod: orchestra_core::kinds::Pod,
    snap: &Snapshot,
) -> Result<ScheduleResult, FitError> {
    schedule_pod(
        profile,
        &AlgorithmConfig::default(),
        &info(pod),
        snap,
        &mut ScanCursor::default(),
        &mut SmallRng::seed_from_u64(1),
    )
}

#[test]
fn feasible_nodes_to_find_follows_kubernetes_adaptive_percentage() {
    assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
    assert_eq!(num_feasible_nodes_to_find(None, 100), 100);
    // 50% − 1000/125 = 42%.
    assert_eq!(num_feasible_nodes_to_find(None, 1_000), 420);
    // 50% − 5000/125 = 10%.
    assert_eq!(num_feasible_nodes_to_find(None, 5_000), 500);
    // Floor of 5%.
    assert_eq!(num_feasible_nodes_to_find(None, 10_000), 500);
    assert_eq!(num_feasible_nodes_to_find(None, 100_000), 5_000);
    // At least 100 nodes, and an explicit percentage.
    assert_eq!(num_feasible_nodes_to_find(Some(1), 1_000), 100);
    assert_eq!(num_feasible_nodes_to_find(Some(100), 1_000), 1_000);
}

#[test]
fn the_unschedulable_message_counts_reasons_like_kubernetes() {
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(node(&format!("small-{i}"), "1", "4Gi"));
    }
    for i in 0..2 {
        nodes.push(with_taint(
            node(&format!("gpu-{i}"), "8", "8Gi"),
            "dedicated",
            "gpu",
            TaintEffect::NoSchedule,
        ));
    }
    let snap = snapshot_of(nodes);
    let err = one_cycle(
        &default_profile("default-scheduler"),
        pod("big", "2", "1Gi"),
        &snap,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}"
    );
    assert_eq!(err.unfit_nodes.len(), 5);

    let none = schedule_pod(
        &default_profile("default-scheduler"),
        &AlgorithmConfig::default(),
        &info(pod("a", "", "")),
        &Snapshot::new(),
        &mut ScanCursor::default(),
        &mut SmallRng::seed_from_u64(1),
    )
    .unwrap_err();
    assert_eq!(
        none.to_string(),
        "0/0 nodes are available: no nodes registered"
    );
}

#[test]
fn large_clusters_are_sampled_from_a_rotating_start() {
    let snap = snapshot_of((0..1_000).map(|i| node(&format!("n{i:04}"), "4", "8Gi")));
    let profile = default_profile("default-scheduler");
    let mut cursor = ScanCursor::default();
    let mut rng = SmallRng::seed_from_u64(7);
    let first = schedule_pod(
        &profile,
        &AlgorithmConfig::default(),
        &info(pod("a", "", "")),
        &snap,
        &mut cursor,
        &mut rng,
    )
    .unwrap();
    assert_eq!(first.evaluated, 420, "42% of 1000 nodes");
    assert_eq!(first.feasible, 420);
    assert_eq!(cursor.next_start, 420);
    let second = schedule_pod(
        &profile,
        &AlgorithmConfig::default(),
        &info(pod("b", "", "")),
        &snap,
        &mut cursor,
        &mut rng,
    )
    .unwrap();
    assert_eq!(cursor.next_start, 840);
    assert_eq!(second.evaluated, 420);
}

#[test]
fn parallel_filtering_finds_the_same_feasible_nodes() {
    // Only every tenth node fits, so a cycle has to scan most of the cluster.
    let snap = snapshot_of((0..3_000).map(|i| {
        let n = node(&format!("n{i:04}"), "4", "8Gi");
        if i % 10 == 0 {
            n
        } else {
            with_taint(n, "busy", "yes", TaintEffect::NoSchedule)
        }
    }));
    let profile = default_profile("default-scheduler");
    let run = |threads: usize| {
        let config = AlgorithmConfig::default()
            .parallelism(threads)
            .parallel_threshold(1_000)
            .percentage_of_nodes_to_score(100);
        schedule_pod(
            &profile,
            &config,
            &info(pod("a", "", "")),
            &snap,
            &mut ScanCursor::default(),
            &mut SmallRng::seed_from_u64(3),
        )
        .unwrap()
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.feasible, 300);
    assert_eq!(two.feasible, 300);
    assert_eq!(one.evaluated, 3_000);
    assert!(snap.node(two.node_index).node().spec.taints.is_empty());
}

#[test]
fn equal_nodes_are_chosen_evenly() {
    let snap = snapshot_of((0..4).map(|i| node(&format!("n{i}"), "4", "8Gi")));
    let profile = default_profile("default-scheduler");
    let mut counts = [0; 4];
    let mut rng = SmallRng::seed_from_u64(11);
    let mut cursor = ScanCursor::default();
    for _ in 0..400 {
        let r = schedule_pod(
            &profile,
            &AlgorithmConfig::default(),
            &info(pod("a", "", "")),
            &snap,
            &mut cursor,
            &mut rng,
        )
        .unwrap();
        counts[r.node_index] += 1;
    }
    assert!(
        counts.iter().all(|&c| c > 50),
        "ties are broken at random: {counts:?}"
    );
}

/// A PostFilter plugin that nominates the node its own PreFilter noted for the pod.
struct Preempts;

/// What `Preempts` notes in the cycle's state.
struct Noted(&'static str);

impl crate::scheduler::framework::Plugin for Preempts {
    fn name(&self) -> &'static str {
        "Preempts"
    }
}

impl crate::scheduler::framework::PreFilterPlugin for Preempts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        _: &PodInfo,
        _: &Snapshot,
    ) -> Result<PreFilterResult, Unfit> {
        state.insert(Noted("small-0"));
        Ok(PreFilterResult::AllNodes)
    }
}

impl crate::scheduler::framework::PostFilterPlugin for Preempts {
    fn post_filter(
        &self,
        state: &CycleState,
        _: &PodInfo,
        _: &Snapshot,
        _: &BTreeMap<String, Unfit>,
    ) -> PostFilterResult {
        match state.get::<Noted>() {
            Some(Noted(node)) => PostFilterResult::Nominated((*node).to_owned()),
            None => PostFilterResult::NotHelped,
        }
    }
}

#[test]
fn post_filter_plugins_see_what_their_pre_filter_stored_this_cycle() {
    let snap = snapshot_of([node("small-0", "1", "4Gi")]);
    let preempts = Arc::new(Preempts);
    let profile = default_profile("default-scheduler")
        .pre_filter(preempts.clone())
        .post_filter(preempts);
    let err = one_cycle(&profile, pod("big", "2", "1Gi"), &snap).unwrap_err();
    assert_eq!(err.nominated.as_deref(), Some("small-0"));
    let without = one_cycle(
        &default_profile("default-scheduler"),
        pod("big", "2", "1Gi"),
        &snap,
    )
    .unwrap_err();
    assert_eq!(without.nominated, None, "no PostFilter, no nomination");
}
