//! Bodies encoded by hand as kubectl sends them, decoded and compared with the JSON
//! kubectl 1.31 sends for the same command; and malformed bodies, which must be
//! errors and never panics.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::decode::{Kind, Message, field};
use super::{DecodeError, Envelope, MAX_DEPTH, Problem, decode};

/// A protobuf message under construction, written the way gogo-protobuf writes
/// Kubernetes objects (zero values of non-pointer fields included).
#[derive(Default, Clone)]
struct Pb(Vec<u8>);

impl Pb {
    fn new() -> Pb {
        Pb::default()
    }

    fn raw_varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, number: u32, wire: u8) {
        self.raw_varint(u64::from(number) << 3 | u64::from(wire));
    }

    fn int(mut self, number: u32, v: i64) -> Pb {
        self.key(number, 0);
        self.raw_varint(v as u64);
        self
    }

    fn bool(self, number: u32, v: bool) -> Pb {
        self.int(number, i64::from(v))
    }

    fn bytes(mut self, number: u32, b: &[u8]) -> Pb {
        self.key(number, 2);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn str(self, number: u32, s: &str) -> Pb {
        self.bytes(number, s.as_bytes())
    }

    fn msg(self, number: u32, m: Pb) -> Pb {
        self.bytes(number, &m.0)
    }

    /// A `map<string, string>` entry.
    fn entry(self, number: u32, key: &str, value: &str) -> Pb {
        self.msg(number, Pb::new().str(1, key).str(2, value))
    }
}

fn envelope(api_version: &str, kind: &str, object: Pb) -> Vec<u8> {
    let unknown = Pb::new()
        .msg(1, Pb::new().str(1, api_version).str(2, kind))
        .msg(2, object)
        .str(3, "")
        .str(4, "");
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.0);
    out
}

fn decoded(body: &[u8]) -> Result<Value, DecodeError> {
    Envelope::open(body)?
        .decode()
        .expect("a kind with a schema")
}

/// ObjectMeta as gogo writes it for a new object: every string, the generation and
/// an empty creationTimestamp, then the labels.
fn new_meta(name: &str, labels: &[(&str, &str)]) -> Pb {
    let mut meta = Pb::new()
        .str(1, name)
        .str(2, "")
        .str(3, "")
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, Pb::new());
    for (k, v) in labels {
        meta = meta.entry(11, k, v);
    }
    meta
}

/// A container as `kubectl create deployment` writes it.
fn kubectl_container(name: &str, image: &str) -> Pb {
    Pb::new()
        .str(1, name)
        .str(2, image)
        .str(5, "")
        .msg(8, Pb::new())
        .str(13, "")
        .str(14, "")
        .bool(16, false)
        .bool(17, false)
        .bool(18, false)
        .str(20, "")
}

/// The pod spec of a template as kubectl writes it: the zero fields of a Go PodSpec.
fn kubectl_pod_spec(containers: Vec<Pb>) -> Pb {
    let mut spec = Pb::new();
    for c in containers {
        spec = spec.msg(2, c);
    }
    spec.str(3, "")
        .str(6, "")
        .str(8, "")
        .str(9, "")
        .str(10, "")
        .bool(11, false)
        .bool(12, false)
        .bool(13, false)
        .str(16, "")
        .str(17, "")
        .str(19, "")
        .str(24, "")
}

/// `kubectl create deployment my-web-server --image=web-server:1 --replicas=1000`,
/// as kubectl 1.32 sends it.
fn kubectl_deployment() -> Vec<u8> {
    let app = [("app", "my-web-server")];
    let spec = Pb::new()
        .int(1, 1000)
        .msg(2, Pb::new().entry(1, "app", "my-web-server"))
        .msg(
            3,
            Pb::new().msg(1, new_meta("", &app)).msg(
                2,
                kubectl_pod_spec(vec![kubectl_container("web-server", "web-server:1")]),
            ),
        )
        .msg(4, Pb::new().str(1, ""))
        .int(5, 0)
        .bool(7, false);
    let status = Pb::new().int(1, 0).int(2, 0).int(3, 0).int(4, 0).int(5, 0);
    let deployment = Pb::new()
        .msg(1, new_meta("my-web-server", &app))
        .msg(2, spec)
        .msg(3, status);
    envelope("apps/v1", "Deployment", deployment)
}

#[test]
fn decodes_kubectl_create_deployment_as_its_json_form() {
    // kubectl-wire.md §3 item 2, the JSON kubectl 1.31 sends, less `"status":{}`:
    // statuses are not decoded (a create drops the status anyway).
    let json_form = json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "my-web-server", "labels": {"app": "my-web-server"}},
        "spec": {
            "replicas": 1000,
            "selector": {"matchLabels": {"app": "my-web-server"}},
            "template": {
                "metadata": {"labels": {"app": "my-web-server"}},
                "spec": {"containers": [{"name": "web-server", "image": "web-server:1", "resources": {}}]}
            },
            "strategy": {}
        }
    });
    assert_eq!(decoded(&kubectl_deployment()).unwrap(), json_form);
}

#[test]
fn decodes_kubectl_autoscale_v1() {
    let spec = Pb::new()
        .msg(
            1,
            Pb::new()
                .str(1, "Deployment")
                .str(2, "my-web-server")
                .str(3, "apps/v1"),
        )
        .int(2, 2)
        .int(3, 50)
        .int(4, 80);
    let hpa = Pb::new()
        .msg(1, new_meta("my-web-server", &[]))
        .msg(2, spec)
        .msg(3, Pb::new().int(3, 0).int(4, 0));
    let body = envelope("autoscaling/v1", "HorizontalPodAutoscaler", hpa);
    assert_eq!(
        decoded(&body).unwrap(),
        json!({
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "my-web-server"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "my-web-server", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 50,
                "targetCPUUtilizationPercentage": 80
            }
        })
    );
}

#[test]
fn decodes_kubectl_autoscale_v2_and_average_values() {
    let utilization = Pb::new().str(1, "Resource").msg(
        4,
        Pb::new()
            .str(1, "cpu")
            .msg(2, Pb::new().str(1, "Utilization").int(4, 80)),
    );
    let average = Pb::new().str(1, "Resource").msg(
        4,
        Pb::new().str(1, "memory").msg(
            2,
            Pb::new()
                .str(1, "AverageValue")
                .msg(3, Pb::new().str(1, "512Mi")),
        ),
    );
    let spec = Pb::new()
        .msg(
            1,
            Pb::new()
                .str(1, "Deployment")
                .str(2, "site")
                .str(3, "apps/v1"),
        )
        .int(2, 2)
        .int(3, 5)
        .msg(4, utilization)
        .msg(4, average);
    let hpa = Pb::new().msg(1, new_meta("site", &[])).msg(2, spec);
    let body = envelope("autoscaling/v2", "HorizontalPodAutoscaler", hpa);
    assert_eq!(
        decoded(&body).unwrap()["spec"],
        json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "site", "apiVersion": "apps/v1"},
            "minReplicas": 2,
            "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}}
            ]
        })
    );
}

#[test]
fn decodes_the_rest_of_a_deployment_and_its_pods() {
    let probe = Pb::new()
        .msg(
            1,
            Pb::new().msg(
                2,
                Pb::new()
                    .str(1, "/healthz")
                    .msg(2, Pb::new().int(1, 1).str(3, "http")),
            ),
        )
        .int(2, 5)
        .int(4, 0);
    let container = Pb::new()
        .str(1, "web")
        .str(2, "web-server:2")
        .str(3, "/bin/web")
        .str(4, "--port")
        .str(4, "8080")
        .str(5, "/srv")
        .msg(
            6,
            Pb::new()
                .str(1, "http")
                .int(2, 0)
                .int(3, 8080)
                .str(4, "TCP"),
        )
        .msg(7, Pb::new().str(1, "MODE").str(2, "prod"))
        .msg(
            8,
            Pb::new()
                .msg(1, Pb::new().str(1, "cpu").msg(2, Pb::new().str(1, "500m")))
                .msg(
                    2,
                    Pb::new().str(1, "memory").msg(2, Pb::new().str(1, "64Mi")),
                ),
        )
        .msg(11, probe)
        .str(14, "IfNotPresent");
    let affinity = Pb::new().msg(
        1,
        Pb::new().msg(
            1,
            Pb::new().msg(
                1,
                Pb::new().msg(1, Pb::new().str(1, "zone").str(2, "In").str(3, "a")),
            ),
        ),
    );
    let pod_spec = Pb::new()
        .msg(20, Pb::new().str(1, "init").str(2, "busybox"))
        .msg(2, container)
        .str(3, "Always")
        .int(4, 0)
        .entry(7, "disk", "ssd")
        .str(10, "node-1")
        .msg(18, affinity)
        .str(19, "default-scheduler")
        .msg(
            22,
            Pb::new()
                .str(1, "node.kubernetes.io/not-ready")
                .str(2, "Exists")
                .str(4, "NoExecute")
                .int(5, 300),
        )
        .int(25, -5);
    let meta = Pb::new()
        .str(1, "site")
        .str(3, "prod")
        .str(5, "uid-1")
        .str(6, "42")
        .int(7, 3)
        .msg(8, Pb::new().int(1, 1_733_619_723))
        .entry(12, "note", "hello")
        .msg(
            13,
            Pb::new()
                .str(5, "v1")
                .str(1, "Thing")
                .str(3, "owner")
                .str(4, "uid-0")
                .bool(6, true),
        )
        .str(14, "example.com/keep");
    let spec = Pb::new()
        .int(1, 0)
        .msg(
            2,
            Pb::new().msg(
                2,
                Pb::new()
                    .str(1, "tier")
                    .str(2, "NotIn")
                    .str(3, "db")
                    .str(3, "cache"),
            ),
        )
        .msg(3, Pb::new().msg(2, pod_spec))
        .msg(
            4,
            Pb::new().str(1, "RollingUpdate").msg(
                2,
                Pb::new()
                    .msg(1, Pb::new().int(1, 1).str(3, "25%"))
                    .msg(2, Pb::new().int(2, 2)),
            ),
        )
        .int(5, 10)
        .int(6, 4)
        .bool(7, true)
        .int(9, 600);
    let body = envelope("apps/v1", "Deployment", Pb::new().msg(1, meta).msg(2, spec));
    assert_eq!(
        decoded(&body).unwrap(),
        json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": "site",
                "namespace": "prod",
                "uid": "uid-1",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2024-12-08T01:02:03Z",
                "annotations": {"note": "hello"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Thing", "name": "owner", "uid": "uid-0", "controller": true}],
                "finalizers": ["example.com/keep"]
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db", "cache"]}]},
                "template": {"spec": {
                    "initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{
                        "name": "web",
                        "image": "web-server:2",
                        "command": ["/bin/web"],
                        "args": ["--port", "8080"],
                        "workingDir": "/srv",
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "prod"}],
                        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5},
                        "imagePullPolicy": "IfNotPresent"
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 0,
                    "nodeSelector": {"disk": "ssd"},
                    "nodeName": "node-1",
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
                    }}},
                    "schedulerName": "default-scheduler",
                    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                    "priority": -5
                }},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}},
                "minReadySeconds": 10,
                "revisionHistoryLimit": 4,
                "paused": true,
                "progressDeadlineSeconds": 600
            }
        })
    );
}

#[test]
fn decodes_pods_and_replica_sets() {
    let pod_spec = || kubectl_pod_spec(vec![kubectl_container("web", "web-server:1")]);
    let pod = Pb::new()
        .msg(1, new_meta("web", &[("run", "web")]))
        .msg(2, pod_spec());
    let value = decoded(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(
        value["metadata"],
        json!({"name": "web", "labels": {"run": "web"}})
    );
    assert_eq!(
        value["spec"],
        json!({"containers": [{"name": "web", "image": "web-server:1", "resources": {}}]})
    );

    let rs = Pb::new().msg(1, new_meta("web-1", &[])).msg(
        2,
        Pb::new()
            .int(1, 2)
            .int(4, 0)
            .msg(2, Pb::new().entry(1, "run", "web"))
            .msg(3, Pb::new().msg(2, pod_spec())),
    );
    let value = decoded(&envelope("apps/v1", "ReplicaSet", rs)).unwrap();
    assert_eq!(value["spec"]["replicas"], 2);
    assert_eq!(
        value["spec"]["selector"],
        json!({"matchLabels": {"run": "web"}})
    );
    assert_eq!(
        value["spec"]["template"]["spec"]["containers"][0]["name"],
        "web"
    );
}

#[test]
fn skips_unknown_fields_of_every_wire_type() {
    let meta = new_meta("x", &[])
        .int(99, 7)
        .str(98, "ignored")
        .msg(17, Pb::new().str(1, "kubectl").str(2, "Update"));
    let mut meta = meta;
    meta.key(97, 1);
    meta.0.extend([0; 8]);
    meta.key(96, 5);
    meta.0.extend([0; 4]);
    let value = decoded(&envelope("v1", "Pod", Pb::new().msg(1, meta))).unwrap();
    assert_eq!(value["metadata"], json!({"name": "x"}));
}

#[test]
fn later_scalars_win_and_a_zero_unsets() {
    let spec = Pb::new()
        .int(5, 3)
        .int(5, 0)
        .str(99, "")
        .int(6, 1)
        .int(6, 2);
    let value = decoded(&envelope("apps/v1", "Deployment", Pb::new().msg(2, spec))).unwrap();
    assert_eq!(value["spec"], json!({"revisionHistoryLimit": 2}));
}

fn problem(body: &[u8]) -> String {
    decoded(body).unwrap_err().to_string()
}

#[test]
fn refuses_malformed_bodies_with_a_clear_message() {
    assert_eq!(
        Envelope::open(b"{\"kind\":\"Deployment\"}").unwrap_err(),
        DecodeError::new(Problem::Magic)
    );
    assert!(
        problem(b"k8s").contains("does not start with the magic bytes"),
        "a body shorter than the magic"
    );

    let whole = kubectl_deployment();
    for cut in [5, 9, whole.len() / 2, whole.len() - 1] {
        let message = problem(&whole[..cut]);
        assert!(
            message.starts_with("the request body is not a valid Kubernetes protobuf object: "),
            "{message}"
        );
    }

    // A string field sent as a varint.
    let wrong = envelope(
        "apps/v1",
        "Deployment",
        Pb::new().msg(1, Pb::new().int(1, 5)),
    );
    assert_eq!(
        problem(&wrong),
        "the request body is not a valid Kubernetes protobuf object: metadata.name: field 1 should be length-delimited bytes, not a varint"
    );

    // A bad length deep inside: the path names where.
    let container = Pb::new().str(1, "web").bytes(6, &[0x0a, 0x09, b'x']);
    let spec = Pb::new().msg(3, Pb::new().msg(2, Pb::new().msg(2, container)));
    let deep = envelope("apps/v1", "Deployment", Pb::new().msg(2, spec));
    assert_eq!(
        problem(&deep),
        "the request body is not a valid Kubernetes protobuf object: spec.template.spec.containers[0].ports[0]: a length of 9 bytes runs past the end (1 left)"
    );

    let out_of_range = envelope(
        "apps/v1",
        "Deployment",
        Pb::new().msg(2, Pb::new().int(1, 1 << 40)),
    );
    assert!(
        problem(&out_of_range)
            .contains("spec.replicas: 1099511627776 is out of range for an int32")
    );

    let bad_time = envelope(
        "v1",
        "Pod",
        Pb::new().msg(1, Pb::new().msg(8, Pb::new().int(1, i64::MAX))),
    );
    assert!(problem(&bad_time).contains("metadata.creationTimestamp: 9223372036854775807 seconds"));

    let not_utf8 = envelope(
        "v1",
        "Pod",
        Pb::new().msg(1, Pb::new().bytes(1, &[0xff, 0xfe])),
    );
    assert!(problem(&not_utf8).contains("metadata.name: a string is not valid UTF-8"));

    let mut group = Pb::new();
    group.key(1, 3);
    assert!(problem(&envelope("v1", "Pod", group)).contains("field 1 is a group"));

    let gzip = {
        let mut out = b"k8s\0".to_vec();
        out.extend(
            Pb::new()
                .msg(1, Pb::new().str(1, "v1").str(2, "Pod"))
                .str(3, "gzip")
                .0,
        );
        out
    };
    assert!(problem(&gzip).contains("content encoding \"gzip\" is not supported"));
}

/// A message that holds itself, to test the depth bound no real schema reaches.
static NESTED: Message = Message {
    fields: &[field(1, "inner", Kind::Message(&NESTED))],
};

#[test]
fn refuses_nesting_deeper_than_the_bound() {
    let nest = |depth: usize| {
        let mut m = Pb::new();
        for _ in 0..depth {
            m = Pb::new().msg(1, m);
        }
        m.0
    };
    assert!(decode::message(&nest(MAX_DEPTH), &NESTED, 0).is_ok());
    let error = decode::message(&nest(MAX_DEPTH + 2), &NESTED, 0).unwrap_err();
    assert_eq!(error.problem, Problem::TooDeep);
    assert!(
        error
            .to_string()
            .ends_with("messages are nested more than 64 deep")
    );
}

#[test]
fn an_envelope_without_a_type_reads_as_empty() {
    let mut body = b"k8s\0".to_vec();
    body.extend(Pb::new().msg(2, Pb::new()).0);
    let envelope = Envelope::open(&body).unwrap();
    assert_eq!(envelope.type_meta.api_version, "");
    assert!(envelope.decode().is_none(), "no schema for an empty type");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut body = b"k8s\0".to_vec();
        body.extend(&bytes);
        let _ = decoded_any(&body);
        let _ = decoded_any(&bytes);
    }

    #[test]
    fn arbitrary_objects_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for (api_version, kind) in KINDS {
            let body = envelope(api_version, kind, Pb(bytes.clone()));
            let _ = decoded_any(&body);
        }
    }

    #[test]
    fn mutated_deployments_never_panic(at in 0usize..10_000, byte in any::<u8>()) {
        let mut body = kubectl_deployment();
        let at = at % body.len();
        body[at] = byte;
        let _ = decoded_any(&body);
    }
}

const KINDS: [(&str, &str); 5] = [
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
];

fn decoded_any(body: &[u8]) -> Option<Result<Value, DecodeError>> {
    Envelope::open(body).ok()?.decode()
}

#[test]
fn decodes_delete_options_as_kubectl_drain_sends_them() {
    let options = Pb::new()
        .int(1, 1)
        .msg(2, Pb::new().str(1, "uid-1"))
        .str(4, "Background");
    let body = envelope("v1", "DeleteOptions", options);
    let json = Envelope::open(&body)
        .unwrap()
        .decode_delete_options()
        .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"gracePeriodSeconds": 1, "preconditions": {"uid": "uid-1"}, "propagationPolicy": "Background"})
    );
    let zero = envelope("v1", "DeleteOptions", Pb::new().int(1, 0));
    let json = Envelope::open(&zero)
        .unwrap()
        .decode_delete_options()
        .unwrap();
    assert_eq!(
        json["gracePeriodSeconds"], 0,
        "a zero grace period is a value: delete now"
    );
}
