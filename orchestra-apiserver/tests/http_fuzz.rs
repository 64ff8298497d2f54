//! Random and mutated requests on every route: the server answers each with a status
//! below 500, never panics, and keeps serving.

mod common;

use common::TestServer;
use proptest::prelude::*;
use serde_json::json;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

const PATHS: &[&str] = &[
    "/api",
    "/apis",
    "/api/v1",
    "/apis/apps/v1",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/web",
    "/api/v1/namespaces/default/pods/web/status",
    "/api/v1/namespaces/default/pods/web/binding",
    "/api/v1/pods",
    "/api/v1/nodes",
    "/api/v1/nodes/node-1",
    "/api/v1/nodes/node-1/status",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/web",
    "/apis/apps/v1/namespaces/default/deployments/web/scale",
    "/apis/apps/v1/namespaces/default/replicasets/web/scale",
    "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web",
    "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1",
    "/api/v1/namespaces/default/events",
    "/openapi/v3",
    "/openapi/v3/apis/apps/v1",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/vnd.kubernetes.protobuf",
    "application/apply-patch+yaml",
    "text/plain",
    "",
];

const QUERIES: &[&str] = &[
    "",
    "?watch=true&timeoutSeconds=0",
    "?labelSelector=app%3Dweb",
    "?labelSelector=%3D%3D%3D",
    "?fieldSelector=spec.nodeName%3D",
    "?fieldSelector=nosuch.field%3Dx",
    "?limit=-1&continue=garbage",
    "?resourceVersion=99999999999999999999",
    "?resourceVersion=1&resourceVersionMatch=Exact",
    "?gracePeriodSeconds=-5&propagationPolicy=Orphan",
    "?includeObject=Object",
    "?dryRun=All",
];

/// Valid bodies to mutate: each kind, a patch of each type, a binding, a scale.
fn seeds() -> Vec<serde_json::Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "image": "i"}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": {}}),
        json!({"spec": {"replicas": 7}}),
        json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        json!({"spec": {"$setElementOrder/containers": [{"name": "web"}], "containers": [{"name": "web", "image": "x"}]}}),
        json!({"target": {"name": "node-1"}}),
        json!({"propagationPolicy": "Foreground", "preconditions": {"uid": "u"}}),
    ]
}

/// A JSON value with one part replaced by something of another type.
fn mutate(
    value: &serde_json::Value,
    choice: u64,
    replacement: &serde_json::Value,
) -> serde_json::Value {
    let mut value = value.clone();
    let mut paths = Vec::new();
    fn walk(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            serde_json::Value::Object(m) => {
                for (k, child) in m {
                    walk(
                        child,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            serde_json::Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    walk(&value, String::new(), &mut paths);
    let path = &paths[(choice as usize) % paths.len()];
    if let Some(slot) = value.pointer_mut(path) {
        *slot = replacement.clone();
    }
    value
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(json!("$patch")),
        Just(json!({"$patch": "delete"})),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z$/]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    Mutated(usize, u64, serde_json::Value),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        (0..8usize, any::<u64>(), any_json()).prop_map(|(s, c, r)| Body::Mutated(s, c, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_request_gets_a_5xx(
        method in 0..METHODS.len(),
        path in 0..PATHS.len(),
        query in 0..QUERIES.len(),
        content_type in 0..CONTENT_TYPES.len(),
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = TestServer::start().await;
            // Something to act on, so the object routes reach the registry's rules.
            server.send_json("POST", "/api/v1/namespaces/default/pods", seeds()[0].clone()).await;
            server.send_json("POST", "/apis/apps/v1/namespaces/default/deployments", seeds()[1].clone()).await;
            let bytes = match &body {
                Body::Bytes(b) => b.clone(),
                Body::Mutated(seed, choice, replacement) => {
                    mutate(&seeds()[*seed], *choice, replacement).to_string().into_bytes()
                }
            };
            let mut headers = Vec::new();
            if !CONTENT_TYPES[content_type].is_empty() {
                headers.push(("content-type", CONTENT_TYPES[content_type]));
            }
            let uri = format!("{}{}", PATHS[path], QUERIES[query]);
            let reply = server.call(METHODS[method], &uri, &headers, bytes).await;
            prop_assert!(
                reply.status < 500,
                "{} {uri} ({}) answered {}: {}",
                METHODS[method],
                CONTENT_TYPES[content_type],
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
            let health = server.get("/healthz").await;
            prop_assert_eq!(health.status, 200);
            server.stop().await;
            Ok(())
        })?;
    }
}
