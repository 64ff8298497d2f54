use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{ConditionStatus, Pod, PodCondition, PodPhase, PodStatus, ReplicaSet};
use orchestra_core::{LabelSelector, ObjectMeta, OwnerReference, ResourceExt, Time};

use super::*;

fn now() -> Time {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn rs(replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet {
        metadata: ObjectMeta::namespaced("default", "web"),
        ..Default::default()
    };
    rs.metadata.uid = Some("rs-uid".into());
    rs.metadata.generation = Some(3);
    rs.spec.replicas = Some(replicas);
    rs.spec.selector = LabelSelector::new().match_label("app", "web");
    rs.spec.template.metadata = Some(ObjectMeta {
        labels: [("app".to_string(), "web".to_string())].into(),
        ..Default::default()
    });
    rs
}

struct P {
    name: &'static str,
    owned: bool,
    node: Option<&'static str>,
    phase: PodPhase,
    ready_for: Option<u64>,
    restarts: i32,
    age: u64,
}

impl Default for P {
    fn default() -> Self {
        P {
            name: "p",
            owned: true,
            node: Some("n1"),
            phase: PodPhase::Running,
            ready_for: Some(600),
            restarts: 0,
            age: 1000,
        }
    }
}

fn pod(p: P) -> Arc<Pod> {
    let mut pod = Pod {
        metadata: ObjectMeta::namespaced("default", p.name),
        ..Default::default()
    };
    pod.metadata.labels.insert("app".into(), "web".into());
    pod.metadata.creation_timestamp = Some(now().minus(Duration::from_secs(p.age)));
    if p.owned {
        pod.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "rs-uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
    }
    pod.spec.node_name = p.node.map(Into::into);
    let mut status = PodStatus {
        phase: Some(p.phase),
        ..Default::default()
    };
    if let Some(secs) = p.ready_for {
        status.conditions.push(PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            last_transition_time: Some(now().minus(Duration::from_secs(secs))),
            ..Default::default()
        });
    }
    status
        .container_statuses
        .push(orchestra_core::kinds::ContainerStatus {
            restart_count: p.restarts,
            ..Default::default()
        });
    pod.status = Some(status);
    Arc::new(pod)
}

fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
    pods.iter().map(|p| p.name_any()).collect()
}

#[test]
fn creates_the_missing_and_reports_status() {
    let pods = vec![
        pod(P {
            name: "a",
            ..Default::default()
        }),
        pod(P {
            name: "b",
            ready_for: None,
            ..Default::default()
        }),
    ];
    let plan = plan(&rs(5), &pods, now());
    assert_eq!(plan.create, 3);
    assert!(plan.delete.is_empty());
    assert_eq!(plan.status.replicas, 2);
    assert_eq!(plan.status.ready_replicas, Some(1));
    assert_eq!(plan.status.available_replicas, Some(1));
    assert_eq!(plan.status.fully_labeled_replicas, Some(2));
    assert_eq!(plan.status.observed_generation, Some(3));
}

#[test]
fn creates_at_most_a_burst_per_reconcile() {
    assert_eq!(plan(&rs(2000), &[], now()).create, BURST_REPLICAS);
}

#[test]
fn deletes_in_kubernetes_order() {
    let pods = vec![
        pod(P {
            name: "old-ready",
            age: 5000,
            ready_for: Some(4000),
            ..Default::default()
        }),
        pod(P {
            name: "unscheduled",
            node: None,
            phase: PodPhase::Pending,
            ready_for: None,
            ..Default::default()
        }),
        pod(P {
            name: "pending",
            phase: PodPhase::Pending,
            ready_for: None,
            node: Some("n7"),
            ..Default::default()
        }),
        pod(P {
            name: "not-ready",
            ready_for: None,
            node: Some("n2"),
            ..Default::default()
        }),
        pod(P {
            name: "crowded",
            node: Some("n3"),
            ..Default::default()
        }),
        pod(P {
            name: "crowded-2",
            node: Some("n3"),
            ready_for: Some(4000),
            ..Default::default()
        }),
        pod(P {
            name: "young-ready",
            ready_for: Some(10),
            node: Some("n4"),
            ..Default::default()
        }),
        pod(P {
            name: "restarty",
            restarts: 5,
            node: Some("n5"),
            ready_for: Some(600),
            ..Default::default()
        }),
        pod(P {
            name: "steady",
            node: Some("n6"),
            ready_for: Some(600),
            ..Default::default()
        }),
    ];
    let order = deletion_order(&pods, &pods, now());
    assert_eq!(
        names(&order),
        [
            "unscheduled",
            "pending",
            "not-ready",
            "crowded",
            "crowded-2",
            "young-ready",
            "restarty",
            "steady",
            "old-ready"
        ],
    );
    // n1 holds only "old-ready"; n3 holds two, so its pods go first among the ready.
    let plan = plan(&rs(6), &pods, now());
    assert_eq!(names(&plan.delete), ["unscheduled", "pending", "not-ready"]);
    assert_eq!(plan.create, 0);
}

#[test]
fn newer_pods_go_first_when_all_else_is_equal() {
    let pods = vec![
        pod(P {
            name: "older",
            age: 100,
            node: Some("a"),
            ..Default::default()
        }),
        pod(P {
            name: "newer",
            age: 10,
            node: Some("b"),
            ..Default::default()
        }),
    ];
    assert_eq!(
        names(&deletion_order(&pods, &pods, now())),
        ["newer", "older"]
    );
}

#[test]
fn adopts_matching_orphans_and_releases_mismatched_pods() {
    let orphan = pod(P {
        name: "orphan",
        owned: false,
        ..Default::default()
    });
    let mut relabelled = (*pod(P {
        name: "relabelled",
        ..Default::default()
    }))
    .clone();
    relabelled
        .metadata
        .labels
        .insert("app".into(), "other".into());
    let mut foreign = (*pod(P {
        name: "foreign",
        ..Default::default()
    }))
    .clone();
    foreign.metadata.owner_references[0].uid = "someone-else".into();
    let pods = vec![
        orphan,
        Arc::new(relabelled),
        Arc::new(foreign),
        pod(P {
            name: "mine",
            ..Default::default()
        }),
    ];
    let plan = plan(&rs(2), &pods, now());
    assert_eq!(names(&plan.adopt), ["orphan"]);
    assert_eq!(names(&plan.release), ["relabelled"]);
    assert_eq!(
        plan.status.replicas, 2,
        "the adopted orphan counts; the released and foreign pods do not"
    );
    assert_eq!(plan.create, 0);
}

#[test]
fn finished_and_terminating_pods_do_not_count() {
    let mut terminating = (*pod(P {
        name: "terminating",
        ..Default::default()
    }))
    .clone();
    terminating.metadata.deletion_timestamp = Some(now());
    let pods = vec![
        pod(P {
            name: "done",
            phase: PodPhase::Succeeded,
            ready_for: None,
            ..Default::default()
        }),
        pod(P {
            name: "failed",
            phase: PodPhase::Failed,
            ready_for: None,
            ..Default::default()
        }),
        Arc::new(terminating),
        pod(P {
            name: "live",
            ..Default::default()
        }),
    ];
    let plan = plan(&rs(2), &pods, now());
    assert_eq!(plan.create, 1);
    assert_eq!(plan.status.replicas, 1);
}

#[test]
fn availability_waits_for_min_ready_seconds() {
    let mut set = rs(2);
    set.spec.min_ready_seconds = Some(60);
    let pods = vec![
        pod(P {
            name: "fresh",
            ready_for: Some(30),
            ..Default::default()
        }),
        pod(P {
            name: "settled",
            ready_for: Some(90),
            ..Default::default()
        }),
    ];
    let plan = plan(&set, &pods, now());
    assert_eq!(plan.status.ready_replicas, Some(2));
    assert_eq!(plan.status.available_replicas, Some(1));
}

#[test]
fn slow_start_doubles_batches() {
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(1), [1]);
    assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
    assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
}

mod from_counts {
    use proptest::prelude::*;

    use super::super::super::owned::ControlledPods;
    use super::*;
    use crate::reconcile::Tally;

    /// One pod of a random shape: whose it is, its labels, phase, readiness and
    /// whether it is being deleted.
    #[derive(Clone, Debug)]
    struct Shape {
        owner: u8,
        labels: u8,
        phase: u8,
        ready: u8,
        deleting: bool,
    }

    fn shape() -> impl Strategy<Value = Shape> {
        // Orphans and mismatched labels are rare, so most cases are the common one.
        let owner = prop_oneof![8 => Just(0u8), 1 => Just(1), 2 => Just(2)];
        let labels = prop_oneof![8 => Just(0u8), 2 => Just(1), 1 => Just(2)];
        (owner, labels, 0..4u8, 0..3u8, proptest::bool::weighted(0.1)).prop_map(
            |(owner, labels, phase, ready, deleting)| Shape {
                owner,
                labels,
                phase,
                ready,
                deleting,
            },
        )
    }

    fn build(i: usize, s: &Shape) -> Arc<Pod> {
        let mut pod = Pod {
            metadata: ObjectMeta::namespaced("default", format!("p{i}")),
            ..Default::default()
        };
        // 0: the ReplicaSet's own, 1: an orphan, 2: another controller's.
        if s.owner != 1 {
            pod.metadata.owner_references.push(OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web".into(),
                uid: if s.owner == 0 { "rs-uid" } else { "other" }.into(),
                controller: Some(true),
                block_owner_deletion: None,
            });
        }
        // 0: exactly the template's labels, 1: one more, 2: not matching.
        let app = if s.labels == 2 { "db" } else { "web" };
        pod.metadata.labels.insert("app".into(), app.into());
        if s.labels == 1 {
            pod.metadata.labels.insert("extra".into(), "x".into());
        }
        if s.deleting {
            pod.metadata.deletion_timestamp = Some(now());
        }
        let phase = [
            PodPhase::Pending,
            PodPhase::Running,
            PodPhase::Running,
            PodPhase::Failed,
        ][usize::from(s.phase)];
        let mut status = PodStatus {
            phase: Some(phase),
            ..Default::default()
        };
        // 0: not ready, 1: ready since a known time, 2: ready, time unknown.
        if s.ready > 0 {
            status.conditions.push(PodCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                last_transition_time: (s.ready == 1).then(|| now().minus(Duration::from_secs(30))),
                ..Default::default()
            });
        }
        pod.status = Some(status);
        Arc::new(pod)
    }

    proptest! {
        /// Whenever the counts suffice, they give exactly the plan the pods give; and
        /// they suffice in the common case (nothing to delete, adopt or release).
        #[test]
        fn the_counts_agree_with_the_pods(
            shapes in proptest::collection::vec(shape(), 0..12),
            gone in proptest::collection::vec(any::<bool>(), 40),
            replicas in 0..14i32,
            min_ready in prop_oneof![Just(0), Just(10)],
        ) {
            let mut rs = rs(replicas);
            rs.spec.min_ready_seconds = Some(min_ready);
            let pods: Vec<Arc<Pod>> = shapes.iter().enumerate().map(|(i, s)| build(i, s)).collect();
            // The tally sees every pod come, and some go again, as the cache would.
            let mut owned = ControlledPods::default();
            for pod in pods.iter().filter(|p| ControlledPods::group(p) == Some("rs-uid")) {
                owned.add(pod);
            }
            let mut present = Vec::new();
            for (pod, gone) in pods.iter().zip(&gone) {
                if *gone && ControlledPods::group(pod) == Some("rs-uid") {
                    owned.remove(pod);
                } else if !*gone {
                    present.push(pod.clone());
                }
            }
            let owned_present = present.iter().any(|p| ControlledPods::group(p) == Some("rs-uid"));
            let owned = owned_present.then_some(&owned);
            let orphans: Vec<Arc<Pod>> = present
                .iter()
                .filter(|p| p.metadata.controller_ref().is_none())
                .cloned()
                .collect();
            let candidates: Vec<Arc<Pod>> = present
                .iter()
                .filter(|p| p.metadata.controller_ref().is_none_or(|r| r.uid == "rs-uid") || rs.spec.selector.matches(&p.metadata.labels))
                .cloned()
                .collect();
            let full = plan(&rs, &candidates, now());
            match plan_from_counts(&rs, owned, &orphans) {
                Some(quick) => prop_assert_eq!(quick, full),
                None => prop_assert!(
                    min_ready > 0 || !full.delete.is_empty() || !full.adopt.is_empty() || !full.release.is_empty()
                        || present.iter().any(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == "rs-uid") && !rs.spec.selector.matches(&p.metadata.labels)),
                    "the counts should have sufficed: {full:?}"
                ),
            }
        }
    }
}

#[test]
fn counts_alone_plan_the_common_sync() {
    use super::super::owned::ControlledPods;
    use crate::reconcile::Tally;
    let pods: Vec<Arc<Pod>> = (0..5)
        .map(|i| {
            pod(P {
                name: ["a", "b", "c", "d", "e"][i],
                ready_for: (i < 3).then_some(60),
                ..Default::default()
            })
        })
        .collect();
    let mut owned = ControlledPods::default();
    pods.iter().for_each(|p| owned.add(p));
    let quick = plan_from_counts(&rs(8), Some(&owned), &[]).expect("counts suffice");
    assert_eq!(quick, plan(&rs(8), &pods, now()));
    assert_eq!(quick.create, 3);
    assert_eq!(quick.status.ready_replicas, Some(3));
    assert_eq!(
        plan_from_counts(&rs(4), Some(&owned), &[]),
        None,
        "which pod to delete depends on the pods"
    );
}
