use super::*;

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
