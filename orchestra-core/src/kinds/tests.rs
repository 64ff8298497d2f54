//! Manifests as Kubernetes users write them, defaulting, and validation errors.

use serde_json::json;

use super::*;
use crate::registry::Strategy;
use crate::resource::Resource;

fn web_deployment() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "web-server:1",
                        "args": ["--port", "8080"],
                        "env": [{"name": "MODE", "value": "prod"}],
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": 1}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        "livenessProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 5}
                    }],
                    "nodeSelector": {"disktype": "ssd"},
                    "affinity": {"nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                        ]},
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 10, "preference": {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}}
                        ]
                    }},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
                }
            }
        }
    })
}

#[test]
fn a_kubernetes_deployment_manifest_reads_naturally() {
    let d: Deployment = serde_json::from_value(web_deployment()).unwrap();
    assert_eq!(d.replicas(), 3);
    let rolling = d
        .spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .as_ref()
        .unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::from("10%")));
    let c = &d.spec.template.spec.containers[0];
    assert_eq!(c.resources.requests["cpu"].milli_value(), 500);
    assert_eq!(c.resources.limits["cpu"].milli_value(), 1000);
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .port,
        IntOrString::Int(8080)
    );
    let affinity = d
        .spec
        .template
        .spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap();
    assert_eq!(
        affinity.required.as_ref().unwrap().node_selector_terms[0].match_expressions[0].values,
        ["a", "b"]
    );
    assert_eq!(
        affinity.preferred[0].preference.match_expressions[0].operator,
        NodeSelectorOperator::Gt
    );
    d.validate().unwrap();

    // Serializing keeps Kubernetes' field names.
    let back = serde_json::to_value(&d).unwrap();
    assert_eq!(
        back["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        8080
    );
    assert_eq!(
        back["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        "10%"
    );
    assert!(
        back["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_some()
    );
    assert!(back.get("status").is_none(), "empty status is omitted");
}

#[test]
fn deployment_defaults_match_kubernetes() {
    let mut d = Deployment::default();
    d.apply_defaults();
    assert_eq!(d.spec.replicas, Some(1));
    assert_eq!(d.spec.revision_history_limit, Some(10));
    assert_eq!(d.spec.progress_deadline_seconds, Some(600));
    assert_eq!(d.strategy_type(), DeploymentStrategyType::RollingUpdate);
    let rolling = d
        .spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .clone()
        .unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::from("25%")));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::from("25%")));
    let spec = &d.spec.template.spec;
    assert_eq!(spec.restart_policy, Some(RestartPolicy::Always));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    // DefaultTolerationSeconds: not-ready and unreachable, NoExecute, 300 s.
    let keys: Vec<_> = spec
        .tolerations
        .iter()
        .map(|t| (t.key.as_deref().unwrap(), t.toleration_seconds))
        .collect();
    assert_eq!(
        keys,
        [
            ("node.kubernetes.io/not-ready", Some(300)),
            ("node.kubernetes.io/unreachable", Some(300))
        ]
    );

    // Defaulting is idempotent.
    let once = d.clone();
    d.apply_defaults();
    assert_eq!(d, once);
}

#[test]
fn pod_defaults_fill_probes_ports_and_keep_explicit_tolerations() {
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                            "livenessProbe": {"exec": {"command": ["true"]}}}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 6000}]
        }
    }))
    .unwrap();
    pod.apply_defaults();
    let c = &pod.spec.containers[0];
    assert_eq!(c.ports[0].protocol.as_deref(), Some("TCP"));
    let probe = c.liveness_probe.as_ref().unwrap();
    assert_eq!(
        (
            probe.period_seconds,
            probe.timeout_seconds,
            probe.success_threshold,
            probe.failure_threshold
        ),
        (Some(10), Some(1), Some(1), Some(3))
    );
    let unreachable: Vec<_> = pod
        .spec
        .tolerations
        .iter()
        .filter(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable"))
        .collect();
    assert_eq!(unreachable.len(), 1);
    assert_eq!(
        unreachable[0].toleration_seconds,
        Some(6000),
        "an explicit toleration wins"
    );
}

#[test]
fn validation_names_every_bad_field() {
    let mut d: Deployment = serde_json::from_value(web_deployment()).unwrap();
    d.spec.replicas = Some(-1);
    d.spec.selector = crate::labels::LabelSelector::new().match_label("app", "other");
    let c = &mut d.spec.template.spec.containers[0];
    c.image = String::new();
    c.name = "Bad_Name".into();
    c.ports[0].container_port = 70000;
    c.resources
        .requests
        .insert("cpu".into(), "-1".parse().unwrap());
    let strategy = d
        .spec
        .strategy
        .as_mut()
        .unwrap()
        .rolling_update
        .as_mut()
        .unwrap();
    strategy.max_surge = Some(IntOrString::from(0));
    strategy.max_unavailable = Some(IntOrString::from("0%"));
    let errors = d.validate().unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "spec.replicas",
        "spec.strategy.rollingUpdate.maxUnavailable",
        "spec.template.metadata.labels",
        "spec.template.spec.containers[0].name",
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "spec.template.spec.containers[0].resources[\"cpu\"]",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn replicaset_and_pod_template_validation() {
    let mut rs = ReplicaSet::default();
    rs.metadata.name = Some("rs".into());
    let errors = rs.validate().unwrap_err().to_string();
    assert!(
        errors.contains("spec.selector: must not be empty"),
        "{errors}"
    );
    assert!(
        errors.contains("spec.template.spec.containers: at least one container is required"),
        "{errors}"
    );
    let mut pod = Pod::default();
    pod.spec.containers = vec![
        Container {
            name: "a".into(),
            image: "i".into(),
            ..Default::default()
        },
        Container {
            name: "a".into(),
            image: "i".into(),
            ..Default::default()
        },
    ];
    let errors = pod.validate().unwrap_err().to_string();
    assert!(errors.contains("duplicate container name"), "{errors}");
}

#[test]
fn pod_status_and_helpers() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "containerStatuses": [{"name": "c", "image": "i", "ready": true, "restartCount": 2,
                                   "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                                   "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "Error"}}}]
        }
    }))
    .unwrap();
    assert!(pod.is_ready());
    assert_eq!(pod.phase(), PodPhase::Running);
    assert_eq!(pod.restart_count(), 2);
    let strategy = crate::registry::PodStrategy;
    assert_eq!(
        strategy.field_value(&pod, "spec.nodeName").as_deref(),
        Some("node-1")
    );
    assert_eq!(
        strategy.field_value(&pod, "status.phase").as_deref(),
        Some("Running")
    );
    assert_eq!(
        strategy.field_value(&pod, "status.podIP").as_deref(),
        Some("10.0.0.5")
    );
    assert_eq!(
        strategy.deletion_grace_seconds(&pod, None),
        None,
        "no grace period defaulted yet"
    );
    let mut bound = pod.clone();
    bound.apply_defaults();
    assert_eq!(strategy.deletion_grace_seconds(&bound, None), Some(30));
    assert_eq!(strategy.deletion_grace_seconds(&bound, Some(5)), Some(5));
    let mut unbound = bound.clone();
    unbound.spec.node_name = None;
    assert_eq!(
        strategy.deletion_grace_seconds(&unbound, Some(30)),
        None,
        "an unbound pod has nothing to stop"
    );
    let json = serde_json::to_value(&pod).unwrap();
    assert_eq!(json["status"]["podIP"], "10.0.0.5");
    assert_eq!(
        json["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        137
    );
}

#[test]
fn node_lease_hpa_event_shapes() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], "unschedulable": true},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": 110},
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}]}
    }))
    .unwrap();
    assert!(node.is_ready() && node.spec.unschedulable);
    assert_eq!(
        node.status.as_ref().unwrap().allocatable["cpu"].milli_value(),
        3800
    );
    assert_eq!(<Node as Resource>::SCOPE, crate::resource::Scope::Cluster);

    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-01-01T00:00:00.123456Z"}
    }))
    .unwrap();
    assert_eq!(lease.spec.lease_duration_seconds, Some(40));
    let mut bad = lease.clone();
    bad.spec.lease_duration_seconds = Some(0);
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("spec.leaseDurationSeconds")
    );

    let mut hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "maxReplicas": 10,
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}
    }))
    .unwrap();
    hpa.apply_defaults();
    assert_eq!(hpa.spec.min_replicas, Some(1));
    let cpu = hpa.spec.metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        (cpu.name.as_str(), cpu.target.average_utilization),
        ("cpu", Some(80))
    );
    let behavior = hpa.spec.behavior.as_ref().unwrap();
    assert_eq!(
        behavior
            .scale_down
            .as_ref()
            .unwrap()
            .stabilization_window_seconds,
        Some(60),
        "explicit wins"
    );
    assert_eq!(behavior.scale_up.as_ref().unwrap().policies.len(), 2);
    hpa.validate().unwrap();
    hpa.spec.min_replicas = Some(20);
    assert!(
        hpa.validate()
            .unwrap_err()
            .to_string()
            .contains("spec.maxReplicas")
    );

    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-abcde", "namespace": "default"},
        "reason": "FailedScheduling", "message": "0/5 nodes are available", "type": "Warning", "count": 1
    }))
    .unwrap();
    assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
    assert!(
        serde_json::to_value(&event)
            .unwrap()
            .get("involvedObject")
            .is_some()
    );
}

#[test]
fn tolerations_match_taints_with_kubernetes_rules() {
    let taint = |key: &str, value: Option<&str>, effect| Taint {
        key: key.into(),
        value: value.map(Into::into),
        effect,
        time_added: None,
    };
    let gpu = taint("dedicated", Some("gpu"), TaintEffect::NoSchedule);
    let tol = |key: Option<&str>, op, value: Option<&str>, effect| Toleration {
        key: key.map(Into::into),
        operator: op,
        value: value.map(Into::into),
        effect,
        toleration_seconds: None,
    };
    assert!(
        tol(Some("dedicated"), None, Some("gpu"), None).tolerates(&gpu),
        "Equal is the default, any effect"
    );
    assert!(!tol(Some("dedicated"), None, Some("cpu"), None).tolerates(&gpu));
    assert!(
        tol(
            Some("dedicated"),
            Some(TolerationOperator::Exists),
            None,
            None
        )
        .tolerates(&gpu)
    );
    assert!(
        !tol(
            Some("dedicated"),
            Some(TolerationOperator::Exists),
            None,
            Some(TaintEffect::NoExecute)
        )
        .tolerates(&gpu)
    );
    assert!(
        tol(None, Some(TolerationOperator::Exists), None, None).tolerates(&gpu),
        "empty key + Exists tolerates all"
    );
    assert!(!tol(None, None, None, None).tolerates(&gpu));
    let bare = taint(
        "node.kubernetes.io/unreachable",
        None,
        TaintEffect::NoExecute,
    );
    assert!(
        tol(
            Some("node.kubernetes.io/unreachable"),
            None,
            None,
            Some(TaintEffect::NoExecute)
        )
        .tolerates(&bare)
    );
}
