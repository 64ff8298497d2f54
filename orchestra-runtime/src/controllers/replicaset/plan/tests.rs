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
