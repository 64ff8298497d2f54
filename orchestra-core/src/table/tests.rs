use serde_json::{Value, json};

use super::*;
use crate::kinds::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, CrossVersionObjectReference, DeploymentStatus,
    EventSource, HorizontalPodAutoscalerStatus, LeaseSpec, MetricSourceType, MetricSpec,
    MetricStatus, MetricTarget, MetricTargetType, MetricValueStatus, NodeAddress, NodeCondition,
    NodeStatus, NodeSystemInfo, ObjectReference, PodCondition, PodPhase, PodStatus,
    PodsMetricSource, ReplicaSetStatus, ResourceMetricSource,
};
use crate::labels::LabelSelector;
use crate::resource::Scope;

const NOW: i64 = 1_800_000_000;

fn now() -> Time {
    Time::from_unix_seconds(NOW)
}

fn ago(seconds: i64) -> Time {
    Time::from_unix_seconds(NOW - seconds)
}

fn meta(name: &str, created_ago: i64) -> ObjectMeta {
    let mut meta = ObjectMeta::namespaced("default", name);
    meta.creation_timestamp = Some(ago(created_ago));
    meta
}

fn cells<K: Columns>(obj: &K) -> Vec<Value> {
    let cells = obj.cells(now());
    assert_eq!(cells.len(), K::columns().len(), "one cell per column");
    cells
}

fn running(name: &str, ready: bool, restarts: i32) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        ready,
        restart_count: restarts,
        state: Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(ago(60)),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn waiting(name: &str, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            waiting: Some(Box::new(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn terminated(
    name: &str,
    reason: Option<&str>,
    exit_code: i32,
    signal: Option<i32>,
) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            terminated: Some(Box::new(ContainerStateTerminated {
                exit_code,
                signal,
                reason: reason.map(str::to_owned),
                finished_at: Some(ago(30)),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod(name: &str, containers: usize, phase: PodPhase, statuses: Vec<ContainerStatus>) -> Pod {
    let mut pod = Pod {
        metadata: meta(name, 5 * 3600),
        ..Default::default()
    };
    pod.spec.containers = (0..containers)
        .map(|i| Container {
            name: format!("c{i}"),
            image: "img".into(),
            ..Default::default()
        })
        .collect();
    pod.spec.node_name = Some("node-1".into());
    pod.status = Some(PodStatus {
        phase: Some(phase),
        pod_ip: Some("10.1.0.7".into()),
        container_statuses: statuses,
        ..Default::default()
    });
    pod
}

fn set_ready(pod: &mut Pod, ready: bool) {
    pod.status.as_mut().unwrap().conditions.push(PodCondition {
        type_: "Ready".into(),
        status: ready.into(),
        ..Default::default()
    });
}

/// The cells after Name, up to and with Age.
fn pod_summary(pod: &Pod) -> Vec<Value> {
    cells(pod)[1..5].to_vec()
}

#[test]
fn a_running_pod_shows_ready_containers_and_every_wide_cell() {
    let mut pod = pod("web-1", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    set_ready(&mut pod, true);
    assert_eq!(
        cells(&pod),
        [
            json!("web-1"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5h"),
            json!("10.1.0.7"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
    assert!(pod.row_conditions().is_empty());
}

#[test]
fn a_crash_looping_pod_shows_the_waiting_reason_and_when_it_last_restarted() {
    let mut crashing = waiting("c0", "CrashLoopBackOff");
    crashing.restart_count = 5;
    crashing.last_state = Some(Box::new(ContainerState {
        terminated: Some(Box::new(ContainerStateTerminated {
            exit_code: 1,
            reason: Some("Error".into()),
            finished_at: Some(ago(5 * 60 + 7)),
            ..Default::default()
        })),
        ..Default::default()
    }));
    let mut pod = pod(
        "crash",
        2,
        PodPhase::Running,
        vec![running("c1", true, 2), crashing],
    );
    set_ready(&mut pod, false);
    assert_eq!(
        pod_summary(&pod),
        [
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("7 (5m7s ago)"),
            json!("5h")
        ]
    );
}

#[test]
fn restarts_without_a_known_last_termination_have_no_suffix() {
    let pod = pod("p", 1, PodPhase::Running, vec![running("c0", true, 3)]);
    assert_eq!(cells(&pod)[3], json!("3"));
}

#[test]
fn a_pod_being_deleted_is_terminating_unless_its_node_was_lost() {
    let mut pod = pod("going", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    pod.metadata.deletion_timestamp = Some(ago(3));
    assert_eq!(cells(&pod)[2], json!("Terminating"));

    pod.status.as_mut().unwrap().reason = Some("NodeLost".into());
    assert_eq!(cells(&pod)[2], json!("Unknown"));

    // A finished pod keeps its phase while it is deleted.
    let mut done = self::pod("done", 1, PodPhase::Succeeded, vec![]);
    done.metadata.deletion_timestamp = Some(ago(3));
    assert_eq!(cells(&done)[2], json!("Succeeded"));
}

#[test]
fn a_finished_pod_shows_the_containers_exit_and_is_marked_completed() {
    let pod = pod(
        "job",
        1,
        PodPhase::Succeeded,
        vec![terminated("c0", Some("Completed"), 0, None)],
    );
    assert_eq!(
        pod_summary(&pod),
        [json!("0/1"), json!("Completed"), json!("0"), json!("5h")]
    );
    let conditions = pod.row_conditions();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0].type_, ROW_COMPLETED);
    assert_eq!(conditions[0].status, ConditionStatus::True);
    assert_eq!(conditions[0].reason.as_deref(), Some("Succeeded"));

    let failed = self::pod("f", 1, PodPhase::Failed, vec![]);
    assert_eq!(failed.row_conditions()[0].reason.as_deref(), Some("Failed"));
}

#[test]
fn an_exit_without_a_reason_shows_the_signal_or_the_exit_code() {
    let by_code = pod(
        "a",
        1,
        PodPhase::Running,
        vec![terminated("c0", None, 137, None)],
    );
    assert_eq!(cells(&by_code)[2], json!("ExitCode:137"));
    let by_signal = pod(
        "b",
        1,
        PodPhase::Running,
        vec![terminated("c0", None, 0, Some(9))],
    );
    assert_eq!(cells(&by_signal)[2], json!("Signal:9"));
    let empty_reason = pod(
        "c",
        1,
        PodPhase::Running,
        vec![terminated("c0", Some(""), 2, Some(0))],
    );
    assert_eq!(cells(&empty_reason)[2], json!("ExitCode:2"));
}

#[test]
fn a_completed_container_beside_a_running_one_leaves_the_pod_running_or_not_ready() {
    let statuses = vec![
        running("c0", true, 0),
        terminated("c1", Some("Completed"), 0, None),
    ];
    let mut ready = pod("r", 2, PodPhase::Running, statuses.clone());
    set_ready(&mut ready, true);
    assert_eq!(pod_summary(&ready)[..2], [json!("1/2"), json!("Running")]);
    let mut unready = pod("u", 2, PodPhase::Running, statuses);
    set_ready(&mut unready, false);
    assert_eq!(
        pod_summary(&unready)[..2],
        [json!("1/2"), json!("NotReady")]
    );
}

#[test]
fn a_new_pod_is_pending_with_placeholders_for_what_it_lacks() {
    let mut pod = Pod {
        metadata: meta("new", 4),
        ..Default::default()
    };
    pod.spec.containers.push(Container {
        name: "c0".into(),
        image: "img".into(),
        ..Default::default()
    });
    assert_eq!(
        cells(&pod),
        [
            json!("new"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("4s"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
        ]
    );

    let creating = self::pod(
        "c",
        1,
        PodPhase::Pending,
        vec![waiting("c0", "ContainerCreating")],
    );
    assert_eq!(cells(&creating)[2], json!("ContainerCreating"));
}

#[test]
fn the_pod_reason_and_scheduling_gates_replace_the_phase() {
    let mut evicted = pod("e", 1, PodPhase::Failed, vec![]);
    evicted.status.as_mut().unwrap().reason = Some("Evicted".into());
    assert_eq!(cells(&evicted)[2], json!("Evicted"));

    let mut gated = pod("g", 1, PodPhase::Pending, vec![]);
    gated
        .status
        .as_mut()
        .unwrap()
        .conditions
        .push(PodCondition {
            type_: "PodScheduled".into(),
            status: ConditionStatus::False,
            reason: Some("SchedulingGated".into()),
            ..Default::default()
        });
    assert_eq!(cells(&gated)[2], json!("SchedulingGated"));
}

fn node(name: &str, ready: Option<bool>) -> Node {
    let mut node = Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(ago(3 * 86_400 + 600)),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut status = NodeStatus::default();
    if let Some(ready) = ready {
        status.conditions.push(NodeCondition {
            type_: "MemoryPressure".into(),
            status: ConditionStatus::False,
            ..Default::default()
        });
        status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: ready.into(),
            ..Default::default()
        });
    }
    node.status = Some(status);
    node
}

#[test]
fn a_ready_node_shows_its_roles_and_addresses() {
    let mut node = node("cp-1", Some(true));
    let labels = &mut node.metadata.labels;
    labels.insert(
        "node-role.kubernetes.io/control-plane".into(),
        String::new(),
    );
    labels.insert("node-role.kubernetes.io/".into(), String::new());
    labels.insert("kubernetes.io/role".into(), "etcd".into());
    labels.insert("kubernetes.io/hostname".into(), "cp-1".into());
    node.status.as_mut().unwrap().addresses = vec![
        NodeAddress {
            type_: "Hostname".into(),
            address: "cp-1".into(),
        },
        NodeAddress {
            type_: "InternalIP".into(),
            address: "10.0.0.1".into(),
        },
        NodeAddress {
            type_: "InternalIP".into(),
            address: "10.0.0.2".into(),
        },
    ];
    assert_eq!(
        cells(&node),
        [
            json!("cp-1"),
            json!("Ready"),
            json!("control-plane,etcd"),
            json!("3d"),
            json!(""),
            json!("10.0.0.1"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>"),
        ]
    );
}

#[test]
fn a_not_ready_cordoned_node_says_both() {
    let mut cordoned = node("w-1", Some(false));
    cordoned.spec.unschedulable = true;
    assert_eq!(
        cells(&cordoned)[1..3],
        [json!("NotReady,SchedulingDisabled"), json!("<none>")]
    );
    assert_eq!(cells(&node("w-2", None))[1], json!("Unknown"));
}

#[test]
fn a_node_shows_what_its_agent_reported_it_runs() {
    let mut node = node("w-3", Some(true));
    node.status.as_mut().unwrap().node_info = Some(NodeSystemInfo {
        kubelet_version: "v1.32.4".into(),
        os_image: "Debian GNU/Linux 12 (bookworm)".into(),
        kernel_version: "6.1.0-18-amd64".into(),
        ..Default::default()
    });
    let cells = cells(&node);
    assert_eq!(cells[4], json!("v1.32.4"));
    assert_eq!(
        cells[7..],
        [
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0-18-amd64"),
            json!("<unknown>"),
        ]
    );
}

fn web_deployment() -> Deployment {
    let mut d = Deployment::new("web", 3, "nginx:1.25");
    d.metadata = meta("web", 2 * 60 + 3);
    d.spec.template.spec.containers.push(Container {
        name: "sidecar".into(),
        image: "envoy:1.30".into(),
        ..Default::default()
    });
    d
}

#[test]
fn a_deployment_mid_rollout_shows_ready_out_of_desired() {
    let mut d = web_deployment();
    d.spec.selector = d.spec.selector.clone().match_label("tier", "front");
    d.status = Some(DeploymentStatus {
        replicas: 4,
        updated_replicas: 1,
        ready_replicas: 2,
        available_replicas: 2,
        unavailable_replicas: 2,
        ..Default::default()
    });
    assert_eq!(
        cells(&d),
        [
            json!("web"),
            json!("2/3"),
            json!(1),
            json!(2),
            json!("2m3s"),
            json!("web,sidecar"),
            json!("nginx:1.25,envoy:1.30"),
            json!("app=web,tier=front"),
        ]
    );
    let fresh = Deployment::new("new", 2, "img");
    assert_eq!(
        cells(&fresh)[1..5],
        [json!("0/2"), json!(0), json!(0), json!("<unknown>")]
    );
}

#[test]
fn a_replica_set_shows_desired_current_and_ready() {
    let d = web_deployment();
    let mut rs = ReplicaSet {
        metadata: meta("web-5d8f", 600),
        ..Default::default()
    };
    rs.spec.replicas = Some(3);
    rs.spec.template = d.spec.template.clone();
    rs.spec.selector = LabelSelector::new()
        .match_label("pod-template-hash", "5d8f")
        .match_label("app", "web");
    rs.status = Some(ReplicaSetStatus {
        replicas: 3,
        ready_replicas: Some(1),
        ..Default::default()
    });
    assert_eq!(
        cells(&rs),
        [
            json!("web-5d8f"),
            json!(3),
            json!(3),
            json!(1),
            json!("10m"),
            json!("web,sidecar"),
            json!("nginx:1.25,envoy:1.30"),
            json!("app=web,pod-template-hash=5d8f"),
        ]
    );
    rs.status = None;
    rs.spec.selector = LabelSelector::default();
    assert_eq!(cells(&rs)[2..4], [json!(0), json!(0)]);
    assert_eq!(cells(&rs)[7], json!("<none>"));
}

fn hpa(metrics: Vec<MetricSpec>) -> HorizontalPodAutoscaler {
    let mut hpa = HorizontalPodAutoscaler::for_deployment("web", 1, 10, 80);
    hpa.metadata = meta("web", 8 * 3600);
    hpa.spec.metrics = metrics;
    hpa
}

fn resource_status(name: &str, utilization: Option<i32>, value: Option<&str>) -> MetricStatus {
    MetricStatus {
        type_: MetricSourceType::Resource,
        name: name.into(),
        current: MetricValueStatus {
            average_utilization: utilization,
            average_value: value.map(|v| v.parse().unwrap()),
        },
    }
}

#[test]
fn an_hpa_with_current_metrics_shows_current_over_target() {
    let mut hpa = hpa(vec![MetricSpec::cpu_utilization(80)]);
    hpa.status = Some(HorizontalPodAutoscalerStatus {
        current_replicas: 3,
        desired_replicas: 3,
        current_metrics: vec![resource_status("cpu", Some(40), None)],
        ..Default::default()
    });
    assert_eq!(
        cells(&hpa),
        [
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 40%/80%"),
            json!("1"),
            json!(10),
            json!(3),
            json!("8h"),
        ]
    );
}

#[test]
fn an_hpa_without_current_metrics_shows_unknown_over_target() {
    let mut hpa = hpa(vec![MetricSpec::cpu_utilization(80)]);
    hpa.spec.min_replicas = None;
    hpa.spec.scale_target_ref = CrossVersionObjectReference {
        api_version: None,
        kind: "ReplicaSet".into(),
        name: "rs".into(),
    };
    assert_eq!(
        cells(&hpa)[1..6],
        [
            json!("ReplicaSet/rs"),
            json!("cpu: <unknown>/80%"),
            json!("<unset>"),
            json!(10),
            json!(0),
        ]
    );
    assert_eq!(self::hpa(vec![]).cells(now())[2], json!("<none>"));
}

#[test]
fn hpa_targets_show_values_pods_metrics_and_at_most_two_metrics() {
    let memory = MetricSpec {
        type_: MetricSourceType::Resource,
        resource: Some(ResourceMetricSource {
            name: "memory".into(),
            target: MetricTarget {
                type_: MetricTargetType::AverageValue,
                average_value: Some("500Mi".parse().unwrap()),
                ..Default::default()
            },
        }),
        pods: None,
    };
    let requests = MetricSpec {
        type_: MetricSourceType::Pods,
        resource: None,
        pods: Some(PodsMetricSource {
            metric: Default::default(),
            target: MetricTarget {
                type_: MetricTargetType::AverageValue,
                average_value: Some("10".parse().unwrap()),
                ..Default::default()
            },
        }),
    };
    let mut hpa = hpa(vec![memory.clone(), requests.clone()]);
    let status = HorizontalPodAutoscalerStatus {
        current_metrics: vec![resource_status("memory", None, Some("300Mi"))],
        ..Default::default()
    };
    hpa.status = Some(status);
    assert_eq!(cells(&hpa)[2], json!("memory: 300Mi/500Mi, <unknown>/10"));

    let mut no_target = MetricSpec::cpu_utilization(50);
    no_target
        .resource
        .as_mut()
        .unwrap()
        .target
        .average_utilization = None;
    let three = self::hpa(vec![no_target, memory, requests]);
    assert_eq!(
        cells(&three)[2],
        json!("cpu: <unknown>/<auto>, memory: <unknown>/500Mi + 1 more...")
    );
}

#[test]
fn an_event_shows_when_what_and_to_whom_with_every_wide_cell() {
    let event = Event {
        metadata: meta("web-1.17a", 600),
        involved_object: ObjectReference {
            kind: Some("Pod".into()),
            name: Some("web-1".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        reason: Some("BackOff".into()),
        message: Some("  Back-off restarting failed container\n".into()),
        type_: Some("Warning".into()),
        count: Some(12),
        first_timestamp: Some(ago(600)),
        last_timestamp: Some(ago(15)),
        source: Some(EventSource {
            component: Some("kubelet".into()),
            host: Some("node-1".into()),
        }),
        reporting_component: None,
    };
    assert_eq!(
        cells(&event),
        [
            json!("15s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-1"),
            json!(""),
            json!("kubelet, node-1"),
            json!("Back-off restarting failed container"),
            json!("10m"),
            json!(12),
            json!("web-1.17a"),
        ]
    );
}

#[test]
fn an_event_seen_once_counts_one_and_was_last_seen_when_first_seen() {
    let event = Event {
        metadata: meta("e", 60),
        involved_object: ObjectReference {
            kind: Some("Node".into()),
            ..Default::default()
        },
        reason: Some("Starting".into()),
        first_timestamp: Some(ago(60)),
        reporting_component: Some("node-agent".into()),
        ..Default::default()
    };
    assert_eq!(
        cells(&event),
        [
            json!("60s"),
            json!(""),
            json!("Starting"),
            json!("node"),
            json!(""),
            json!("node-agent"),
            json!(""),
            json!("60s"),
            json!(1),
            json!("e"),
        ]
    );
    // Columns: Name is there for -o wide only.
    let names: Vec<(String, i32)> = Event::columns()
        .into_iter()
        .map(|c| (c.name, c.priority))
        .collect();
    assert_eq!(names[0], ("Last Seen".to_owned(), 0));
    assert_eq!(names[9], ("Name".to_owned(), 1));
}

#[test]
fn a_lease_shows_its_holder() {
    let lease = Lease {
        metadata: meta("node-1", 90),
        spec: LeaseSpec {
            holder_identity: Some("node-1".into()),
            ..Default::default()
        },
    };
    assert_eq!(
        cells(&lease),
        [json!("node-1"), json!("node-1"), json!("90s")]
    );
}

#[test]
fn every_builtin_kind_puts_name_first_or_for_events_last_and_wide_columns_at_priority_one() {
    fn check<K: Columns>(always: &[&str], wide: &[&str]) {
        let columns = K::columns();
        let shown: Vec<&str> = columns
            .iter()
            .filter(|c| c.priority == 0)
            .map(|c| c.name.as_str())
            .collect();
        let extra: Vec<&str> = columns
            .iter()
            .filter(|c| c.priority == 1)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(shown, always, "{}", K::KIND);
        assert_eq!(extra, wide, "{}", K::KIND);
        let name = columns.iter().find(|c| c.name == "Name").unwrap();
        assert_eq!(name.format, "name");
        assert!(columns.iter().all(|c| !c.description.is_empty()));
    }
    check::<Pod>(
        &["Name", "Ready", "Status", "Restarts", "Age"],
        &["IP", "Node", "Nominated Node", "Readiness Gates"],
    );
    check::<Node>(
        &["Name", "Status", "Roles", "Age", "Version"],
        &[
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime",
        ],
    );
    check::<Deployment>(
        &["Name", "Ready", "Up-to-date", "Available", "Age"],
        &["Containers", "Images", "Selector"],
    );
    check::<ReplicaSet>(
        &["Name", "Desired", "Current", "Ready", "Age"],
        &["Containers", "Images", "Selector"],
    );
    check::<HorizontalPodAutoscaler>(
        &[
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age",
        ],
        &[],
    );
    check::<Event>(
        &["Last Seen", "Type", "Reason", "Object", "Message"],
        &["Subobject", "Source", "First Seen", "Count", "Name"],
    );
    check::<Lease>(&["Name", "Holder", "Age"], &[]);
}

/// The Deployment table of kubectl-wire.md §2.5, as kube-apiserver sends it.
#[test]
fn a_deployment_table_has_the_wire_shape_kubectl_reads() {
    let mut d = Deployment::new("my-web-server", 1000, "web-server:1");
    d.spec.template.spec.containers[0].name = "web-server".into();
    d.metadata = meta("my-web-server", 4);
    d.metadata.uid = Some("5c1e".into());
    d.metadata.resource_version = Some("111".into());
    d.metadata
        .labels
        .insert("app".into(), "my-web-server".into());
    d.status = Some(DeploymentStatus {
        replicas: 1000,
        updated_replicas: 1000,
        ready_replicas: 1000,
        available_replicas: 1000,
        ..Default::default()
    });
    let table = table_of(&[d], ListMeta::at(111), now(), &TableOptions::default()).unwrap();
    let wire = serde_json::to_string(&table).unwrap();
    assert!(
        wire.starts_with(r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"111"},"columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"#),
        "{wire}"
    );

    let created = serde_json::to_value(ago(4)).unwrap();
    let mut expected = json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"111"},
     "columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"…","priority":0},
       {"name":"Ready","type":"string","format":"","description":"…","priority":0},
       {"name":"Up-to-date","type":"integer","format":"","description":"…","priority":0},
       {"name":"Available","type":"integer","format":"","description":"…","priority":0},
       {"name":"Age","type":"string","format":"","description":"…","priority":0},
       {"name":"Containers","type":"string","format":"","description":"…","priority":1},
       {"name":"Images","type":"string","format":"","description":"…","priority":1},
       {"name":"Selector","type":"string","format":"","description":"…","priority":1}],
     "rows":[{"cells":["my-web-server","1000/1000",1000,1000,"4s","web-server","web-server:1","app=my-web-server"],
              "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"my-web-server","namespace":"default","uid":"5c1e","resourceVersion":"111","creationTimestamp":created,"labels":{"app":"my-web-server"}}}}]});
    // The example elides the descriptions: take ours.
    for (column, ours) in expected["columnDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(Deployment::columns())
    {
        column["description"] = json!(ours.description);
    }
    let actual: Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(actual, expected);

    // It reads back, and kube-apiserver's `null` columns read as none.
    let back: Table = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, table);
    let headless: Table = serde_json::from_value(json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
        "columnDefinitions": null, "rows": [{"cells": ["x"]}]
    }))
    .unwrap();
    assert!(headless.column_definitions.is_empty());
    assert_eq!(headless.rows[0].cells, [json!("x")]);
}

#[test]
fn rows_carry_the_object_as_asked_and_headers_can_be_left_out() {
    let lease = Lease {
        metadata: meta("l", 5),
        spec: LeaseSpec::default(),
    };
    let options = TableOptions::default()
        .include_object(IncludeObject::Object)
        .no_headers(true);
    let table = table_of(
        std::slice::from_ref(&lease),
        ListMeta::default(),
        now(),
        &options,
    )
    .unwrap();
    assert!(table.column_definitions.is_empty());
    let object = table.rows[0].object.as_ref().unwrap();
    assert_eq!(object["kind"], "Lease");
    assert_eq!(object["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(object["spec"], json!({}));
    let wire = serde_json::to_value(&table).unwrap();
    assert_eq!(wire["metadata"], json!({}));
    assert_eq!(wire["columnDefinitions"], json!([]));

    let bare = row_of(&lease, now(), IncludeObject::None).unwrap();
    assert_eq!(bare.object, None);
    assert_eq!(
        serde_json::to_value(&bare).unwrap(),
        json!({"cells": ["l", "", "5s"]})
    );

    assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
    assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("object"), None);
}

#[test]
fn a_printer_gives_the_same_row_from_a_typed_body_and_from_json() {
    let mut pod = pod("web-1", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    set_ready(&mut pod, true);
    let printer = printer_for(&Pod::api_resource());
    let typed = ObjectBody::from_object(pod.clone());
    let json = ObjectBody::from_json(typed.to_json().unwrap());
    for include in [
        IncludeObject::None,
        IncludeObject::Metadata,
        IncludeObject::Object,
    ] {
        let from_typed = printer.row(&typed, now(), include).unwrap();
        let from_json = printer.row(&json, now(), include).unwrap();
        assert_eq!(from_typed, from_json, "{include:?}");
        assert_eq!(from_typed.cells, pod.cells(now()));
    }
    let table = printer
        .table(&[typed], ListMeta::at(9), now(), &TableOptions::default())
        .unwrap();
    assert_eq!(table.column_definitions, Pod::columns());
    assert_eq!(table.rows.len(), 1);

    let not_a_pod = ObjectBody::from_json(r#"{"metadata":{"name":"x"},"spec":{"containers":7}}"#);
    let err = printer
        .row(&not_a_pod, now(), IncludeObject::None)
        .unwrap_err();
    assert!(
        matches!(err, TableError::Decode { ref kind, .. } if kind == "Pod"),
        "{err}"
    );
}

#[test]
fn a_kind_without_columns_gets_name_and_age() {
    let gadgets = ApiResource::new("example.dev", "v1", "Gadget", "gadgets", Scope::Namespaced);
    assert!(builtin_printer(&gadgets).is_none());
    for kind in [
        Node::api_resource(),
        Deployment::api_resource(),
        ReplicaSet::api_resource(),
        HorizontalPodAutoscaler::api_resource(),
        Event::api_resource(),
        Lease::api_resource(),
    ] {
        assert!(builtin_printer(&kind).is_some(), "{kind:?}");
    }
    let printer = printer_for(&gadgets);
    let body = ObjectBody::from_json(
        r#"{"apiVersion":"example.dev/v1","kind":"Gadget","metadata":{"name":"g1","creationTimestamp":"2027-01-15T07:59:00Z","labels":{"a":"b"}},"spec":{"size":3}}"#,
    );
    let now: Time = "2027-01-15T08:00:00Z".parse().unwrap();
    let table = printer
        .table(
            std::slice::from_ref(&body),
            ListMeta::at(3),
            now,
            &TableOptions::default(),
        )
        .unwrap();
    let names: Vec<&str> = table
        .column_definitions
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(table.rows[0].cells, [json!("g1"), json!("60s")]);
    let object = table.rows[0].object.as_ref().unwrap();
    assert_eq!(object["kind"], "PartialObjectMetadata");
    assert_eq!(object["metadata"]["labels"], json!({"a": "b"}));
    assert_eq!(object.get("spec"), None);

    let whole = printer.row(&body, now, IncludeObject::Object).unwrap();
    assert_eq!(whole.object.unwrap()["spec"], json!({"size": 3}));
}

#[test]
fn cells_that_do_not_match_the_columns_are_an_error_not_a_bad_table() {
    #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    struct Short {
        metadata: ObjectMeta,
    }
    impl Resource for Short {
        const KIND: &'static str = "Short";
        const API_VERSION: &'static str = "example.dev/v1";
        const PLURAL: &'static str = "shorts";
        const SCOPE: Scope = Scope::Cluster;
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn meta_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    }
    impl Columns for Short {
        fn columns() -> Vec<TableColumnDefinition> {
            vec![
                TableColumnDefinition::name_column(),
                TableColumnDefinition::age_column(),
            ]
        }
        fn cells(&self, _now: Time) -> Vec<Value> {
            vec![json!("only")]
        }
    }
    let err = table_of(
        &[Short::default()],
        ListMeta::default(),
        now(),
        &TableOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TableError::CellCount {
                columns: 2,
                cells: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "Short gave 1 cells for its 2 columns");
}
