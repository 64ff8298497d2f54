//! The REST API over HTTP on a loopback port: documents, each verb, and each error a
//! bad request gets, with the store unchanged by the bad ones.

mod common;

use common::{TestServer, pod, read_events};
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn version_and_health() {
    let server = TestServer::start().await;
    let version = server.get("/version").await.json();
    assert_eq!(
        (version["major"].as_str(), version["minor"].as_str()),
        (Some("1"), Some("31"))
    );
    for path in ["/healthz", "/livez", "/readyz"] {
        let reply = server.get(path).await;
        assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]), "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn discovery_comes_in_the_form_asked_for() {
    let server = TestServer::start().await;
    let aggregated =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let reply = server
        .call("GET", "/apis", &[("accept", aggregated)], "")
        .await;
    assert_eq!(
        reply.content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let apis = reply.json();
    let apps = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("the apps group");
    let deployments = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments");
    assert_eq!(deployments["shortNames"], json!(["deploy"]));
    assert!(
        deployments["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subresource"] == "scale"),
        "{deployments}"
    );

    let legacy = server.get("/api").await;
    assert_eq!(legacy.content_type, "application/json");
    assert_eq!(legacy.json()["versions"], json!(["v1"]));
    let core = server.get("/api/v1").await.json();
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for name in ["pods", "pods/status", "pods/binding", "nodes", "events"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    server
        .get("/apis/nosuch.example.com/v1")
        .await
        .status(404, "NotFound");
    server.stop().await;
}

#[tokio::test]
async fn create_get_list_replace_patch_delete() {
    let server = TestServer::start().await;
    let created = server.send_json("POST", PODS, pod("web")).await;
    assert_eq!(created.status, 201, "{:?}", created);
    let created = created.json();
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(
        created["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );

    let got = server.get(&format!("{PODS}/web")).await.json();
    assert_eq!(
        got["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let list = server
        .get(&format!("{PODS}?labelSelector=app%3Dweb&limit=500"))
        .await
        .json();
    assert_eq!(
        (list["kind"].as_str(), list["apiVersion"].as_str()),
        (Some("PodList"), Some("v1"))
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["metadata"]["resourceVersion"].as_str().is_some());
    let none = server
        .get(&format!("{PODS}?labelSelector=app%3Ddb"))
        .await
        .json();
    assert_eq!(none["items"], json!([]));
    let all = server.get("/api/v1/pods").await.json();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "across namespaces"
    );

    let mut changed = got.clone();
    changed["metadata"]["labels"]["tier"] = json!("front");
    let replaced = server
        .send_json("PUT", &format!("{PODS}/web"), changed)
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced);
    assert_eq!(replaced.json()["metadata"]["labels"]["tier"], "front");

    let patched = server
        .call(
            "PATCH",
            &format!("{PODS}/web"),
            &[("content-type", "application/merge-patch+json")],
            json!({"metadata": {"labels": {"tier": null, "patched": "yes"}}}).to_string(),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched);
    let labels = &patched.json()["metadata"]["labels"];
    assert_eq!(
        (labels["patched"].as_str(), labels.get("tier")),
        (Some("yes"), None)
    );

    let json_patched = server
        .call(
            "PATCH",
            &format!("{PODS}/web"),
            &[("content-type", "application/json-patch+json")],
            json!([{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}])
                .to_string(),
        )
        .await;
    assert_eq!(json_patched.json()["metadata"]["annotations"]["a"], "b");

    let deleted = server
        .send_json(
            "DELETE",
            &format!("{PODS}/web"),
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted);
    server
        .get(&format!("{PODS}/web"))
        .await
        .status(404, "NotFound");
    server.stop().await;
}

#[tokio::test]
async fn subresources_status_scale_and_binding() {
    let server = TestServer::start().await;
    let deployment = json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web-server:1"}]}
            }
        }
    });
    assert_eq!(
        server
            .send_json("POST", DEPLOYMENTS, deployment)
            .await
            .status,
        201
    );
    let scale = server.get(&format!("{DEPLOYMENTS}/web/scale")).await.json();
    assert_eq!(
        (scale["kind"].as_str(), scale["apiVersion"].as_str()),
        (Some("Scale"), Some("autoscaling/v1"))
    );
    assert_eq!(scale["spec"]["replicas"], 3);
    let scaled = server
        .call(
            "PATCH",
            &format!("{DEPLOYMENTS}/web/scale"),
            &[("content-type", "application/merge-patch+json")],
            r#"{"spec":{"replicas":20}}"#,
        )
        .await;
    assert_eq!(scaled.status, 200, "{:?}", scaled);
    assert_eq!(scaled.json()["spec"]["replicas"], 20);
    let d = server.get(&format!("{DEPLOYMENTS}/web")).await.json();
    assert_eq!(d["spec"]["replicas"], 20);

    let mut status = d.clone();
    status["status"] = json!({"replicas": 20, "observedGeneration": 2});
    status["spec"]["replicas"] = json!(1);
    let written = server
        .send_json("PUT", &format!("{DEPLOYMENTS}/web/status"), status)
        .await
        .json();
    assert_eq!(written["status"]["replicas"], 20);
    assert_eq!(
        written["spec"]["replicas"], 20,
        "a status write leaves the spec alone"
    );

    server.send_json("POST", PODS, pod("web-1")).await;
    let bound = server
        .send_json(
            "POST",
            &format!("{PODS}/web-1/binding"),
            json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-1"}, "target": {"kind": "Node", "name": "node-1"}}),
        )
        .await;
    assert_eq!(bound.status, 201, "{:?}", bound);
    let pod = server.get(&format!("{PODS}/web-1")).await.json();
    assert_eq!(pod["spec"]["nodeName"], "node-1");
    server
        .send_json(
            "POST",
            &format!("{PODS}/web-1/binding"),
            json!({"target": {"name": "node-2"}}),
        )
        .await
        .status(409, "Conflict");
    server
        .get(&format!("{PODS}/web-1/scale"))
        .await
        .status(404, "NotFound");
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_a_status_that_says_why_and_change_nothing() {
    let server = TestServer::start().await;
    server.send_json("POST", PODS, pod("web")).await;
    let before = server.store.current_revision().await.unwrap();

    let missing = server
        .get(&format!("{PODS}/nosuch"))
        .await
        .status(404, "NotFound");
    assert_eq!(missing["details"]["name"], "nosuch");
    assert_eq!(missing["message"], r#"pods "nosuch" not found"#);
    server
        .get("/api/v1/namespaces/default/widgets")
        .await
        .status(404, "NotFound");
    server
        .get("/api/v1/nodes/n/x/y")
        .await
        .status(404, "NotFound");

    let duplicate = server
        .send_json("POST", PODS, pod("web"))
        .await
        .status(409, "AlreadyExists");
    assert!(
        duplicate["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let malformed = server
        .call(
            "POST",
            PODS,
            &[("content-type", "application/json")],
            r#"{"metadata": {"name": "x"},"#,
        )
        .await
        .status(400, "BadRequest");
    assert!(
        malformed["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{malformed}"
    );

    let other_namespace = json!({"metadata": {"name": "x", "namespace": "kube-system"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let wrong = server
        .send_json("POST", PODS, other_namespace)
        .await
        .status(400, "BadRequest");
    assert!(
        wrong["message"].as_str().unwrap().contains("namespace"),
        "{wrong}"
    );

    let mut wrong_kind = pod("x");
    wrong_kind["kind"] = json!("Deployment");
    server
        .send_json("POST", PODS, wrong_kind)
        .await
        .status(400, "BadRequest");

    let renamed = server
        .send_json("PUT", &format!("{PODS}/web"), pod("other"))
        .await;
    let renamed = renamed.status(400, "BadRequest");
    assert!(
        renamed["message"]
            .as_str()
            .unwrap()
            .contains("does not match the name on the URL")
    );

    let invalid = json!({"metadata": {"name": "Not_A_Name"}, "spec": {"containers": []}});
    let invalid = server
        .send_json("POST", PODS, invalid)
        .await
        .status(422, "Invalid");
    assert!(
        !invalid["details"]["causes"].as_array().unwrap().is_empty(),
        "{invalid}"
    );

    // Protobuf: decoded for pods (an empty envelope is a pod without a name),
    // refused for a kind without a decoder, and a body that is not protobuf is a
    // 400 saying so.
    let protobuf = [("content-type", "application/vnd.kubernetes.protobuf")];
    server
        .call("POST", PODS, &protobuf, vec![0x6b, 0x38, 0x73, 0x00])
        .await
        .status(422, "Invalid");
    let refused = server
        .call(
            "POST",
            "/api/v1/nodes",
            &protobuf,
            vec![0x6b, 0x38, 0x73, 0x00],
        )
        .await
        .status(415, "UnsupportedMediaType");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("application/vnd.kubernetes.protobuf") && message.contains("not for Node"),
        "{message}"
    );
    let garbled = server
        .call("POST", PODS, &protobuf, &b"k8s\0\x0a\x05"[..])
        .await
        .status(400, "BadRequest");
    assert!(
        garbled["message"]
            .as_str()
            .unwrap()
            .starts_with("the request body is not a valid Kubernetes protobuf object: "),
        "{garbled}"
    );
    let mismatched = [
        &b"k8s\0\x0a\x16\x0a\x07apps/v1\x12\x0bStatefulSet"[..],
        b"\x12\x00",
    ]
    .concat();
    let mismatched = server
        .call(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            &protobuf,
            mismatched,
        )
        .await
        .status(400, "BadRequest");
    assert_eq!(
        mismatched["message"],
        "the kind in the data (StatefulSet) does not match the expected kind (Deployment)"
    );
    server
        .call(
            "PATCH",
            &format!("{PODS}/web"),
            &[("content-type", "text/plain")],
            "x",
        )
        .await
        .status(415, "UnsupportedMediaType");

    let huge = vec![b' '; orchestra_apiserver::MAX_REQUEST_BODY + 1];
    server
        .call("POST", PODS, &[("content-type", "application/json")], huge)
        .await
        .status(413, "RequestEntityTooLarge");

    let selector = server
        .get(&format!("{PODS}?labelSelector=app%20in%20(web"))
        .await;
    selector.status(400, "BadRequest");
    server
        .get(&format!("{PODS}?limit=many"))
        .await
        .status(400, "BadRequest");
    server
        .call("PUT", PODS, &[], "")
        .await
        .status(405, "MethodNotAllowed");
    server
        .call(
            "POST",
            "/api/v1/pods",
            &[("content-type", "application/json")],
            pod("x").to_string(),
        )
        .await
        .status(405, "MethodNotAllowed");
    server
        .call("DELETE", "/apis", &[], "")
        .await
        .status(405, "MethodNotAllowed");

    assert_eq!(
        server.store.current_revision().await.unwrap(),
        before,
        "no bad request wrote anything"
    );
    server.stop().await;
}

#[tokio::test]
async fn delete_collection_deletes_what_the_selector_picks() {
    let server = TestServer::start().await;
    for name in ["a", "b"] {
        server.send_json("POST", PODS, pod(name)).await;
    }
    let mut other = pod("c");
    other["metadata"]["labels"] = json!({"app": "db"});
    server.send_json("POST", PODS, other).await;
    let deleted = server
        .call(
            "DELETE",
            &format!("{PODS}?labelSelector=app%3Dweb&gracePeriodSeconds=0"),
            &[],
            "",
        )
        .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted);
    assert_eq!(deleted.json()["items"].as_array().unwrap().len(), 2);
    let left = server.get(PODS).await.json();
    let names: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c"]);
    server.stop().await;
}

#[tokio::test]
async fn watches_stream_one_event_a_line() {
    let server = TestServer::start().await;
    server.send_json("POST", PODS, pod("before")).await;

    // No resourceVersion: the current objects first, as ADDED.
    let mut response = server.open(&format!("{PODS}?watch=true")).await;
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let first = read_events(response.body_mut(), &mut buffer, 1).await;
    assert_eq!(
        (
            first[0]["type"].as_str(),
            first[0]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("before"))
    );

    server.send_json("POST", PODS, pod("after")).await;
    server
        .call(
            "PATCH",
            &format!("{PODS}/after"),
            &[("content-type", "application/merge-patch+json")],
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    server
        .send_json(
            "DELETE",
            &format!("{PODS}/after"),
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    let events = read_events(response.body_mut(), &mut buffer, 3).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    drop(response);

    // Streaming list: the current objects, then the bookmark that ends them.
    let mut response = server
        .open(&format!(
            "{PODS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"
        ))
        .await;
    let mut buffer = Vec::new();
    let events = read_events(response.body_mut(), &mut buffer, 2).await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"][orchestra_apiserver::INITIAL_EVENTS_END],
        "true"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_ends_with_a_410_in_the_stream() {
    let server = TestServer::start().await;
    let first = server.send_json("POST", PODS, pod("a")).await.json();
    let old: u64 = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    server.send_json("POST", PODS, pod("b")).await;
    server.send_json("POST", PODS, pod("c")).await;
    let now = server.store.current_revision().await.unwrap();
    server.store.compact(now).await.unwrap();

    let mut response = server
        .open(&format!("{PODS}?watch=true&resourceVersion={old}"))
        .await;
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let events = read_events(response.body_mut(), &mut buffer, 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(
        (
            events[0]["object"]["code"].as_u64(),
            events[0]["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_verb_resource_and_code() {
    let server = TestServer::start().await;
    server.send_json("POST", PODS, pod("web")).await;
    server.get(&format!("{PODS}/web")).await;
    server.get(&format!("{PODS}/nosuch")).await;
    let watch = server.open(&format!("{PODS}?watch=true")).await;
    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    for line in [
        r#"apiserver_request_total{verb="create",resource="pods",subresource="",code="201"} 1"#,
        r#"apiserver_request_total{verb="get",resource="pods",subresource="",code="200"} 1"#,
        r#"apiserver_request_total{verb="get",resource="pods",subresource="",code="404"} 1"#,
        r#"apiserver_longrunning_requests{verb="WATCH",resource="pods"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(text.contains("apiserver_request_duration_seconds_bucket"));
    drop(watch);
    server.stop().await;
}

#[tokio::test]
async fn autoscalers_are_served_as_v1_over_the_stored_v2() {
    let server = TestServer::start().await;
    let v1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";
    let v2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
    let created = server
        .send_json(
            "POST",
            v1,
            json!({
                "apiVersion": "autoscaling/v1",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "site"},
                "spec": {
                    "scaleTargetRef": {"kind": "Deployment", "name": "site", "apiVersion": "apps/v1"},
                    "minReplicas": 2,
                    "maxReplicas": 5,
                    "targetCPUUtilizationPercentage": 70
                }
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let created = created.json();
    assert_eq!(created["apiVersion"], "autoscaling/v1");
    assert_eq!(created["spec"]["targetCPUUtilizationPercentage"], 70);
    assert!(created["spec"].get("metrics").is_none(), "{created}");

    let stored = server.get(&format!("{v2}/site")).await.json();
    assert_eq!(
        stored["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}])
    );

    let listed = server.get(v1).await.json();
    assert_eq!(listed["kind"], "HorizontalPodAutoscalerList");
    assert_eq!(listed["apiVersion"], "autoscaling/v1");
    assert_eq!(
        listed["items"][0]["spec"]["targetCPUUtilizationPercentage"],
        70
    );

    let mut replaced = server.get(&format!("{v1}/site")).await.json();
    replaced["spec"]["targetCPUUtilizationPercentage"] = json!(90);
    let replaced = server
        .send_json("PUT", &format!("{v1}/site"), replaced)
        .await
        .json();
    assert_eq!(replaced["spec"]["targetCPUUtilizationPercentage"], 90);
    let stored = server.get(&format!("{v2}/site")).await.json();
    assert_eq!(
        stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        90
    );

    let patch = server
        .call(
            "PATCH",
            &format!("{v1}/site"),
            &[("content-type", "application/merge-patch+json")],
            r#"{"spec":{"maxReplicas":9}}"#,
        )
        .await
        .status(405, "MethodNotAllowed");
    assert!(
        patch["message"]
            .as_str()
            .unwrap()
            .contains("use autoscaling/v2"),
        "{patch}"
    );

    let deleted = server.call("DELETE", &format!("{v1}/site"), &[], "").await;
    assert_eq!(deleted.status, 200, "{}", deleted.json());
    assert_eq!(deleted.json()["apiVersion"], "autoscaling/v1");
    server
        .get(&format!("{v2}/site"))
        .await
        .status(404, "NotFound");
    server.stop().await;
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

#[tokio::test]
async fn kubectl_get_gets_tables_for_lists_objects_and_watches() {
    let server = TestServer::start().await;
    server.send_json("POST", PODS, pod("web")).await;
    let table = server
        .call("GET", PODS, &[("accept", TABLE)], "")
        .await
        .json();
    assert_eq!(
        (table["kind"].as_str(), table["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    assert!(
        table["metadata"]["resourceVersion"].as_str().is_some(),
        "{table}"
    );
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &columns[..5],
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    let row = &table["rows"][0];
    assert_eq!(row["cells"][0], "web");
    assert_eq!(row["cells"].as_array().unwrap().len(), columns.len());
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["labels"]["app"], "web");

    let one = server
        .call("GET", &format!("{PODS}/web"), &[("accept", TABLE)], "")
        .await
        .json();
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    let whole = server
        .call(
            "GET",
            &format!("{PODS}?includeObject=Object"),
            &[("accept", TABLE)],
            "",
        )
        .await
        .json();
    assert_eq!(whole["rows"][0]["object"]["kind"], "Pod");
    server
        .call(
            "GET",
            &format!("{PODS}?includeObject=Everything"),
            &[("accept", TABLE)],
            "",
        )
        .await
        .status(400, "BadRequest");

    // A kind without columns of its own: Name and Age.
    let leases = server
        .call(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            &[("accept", TABLE)],
            "",
        )
        .await
        .json();
    assert_eq!(leases["kind"], "Table", "{leases}");

    // A table watch: one row an event, the columns only in the first.
    let mut response = server
        .open_with(
            &format!("{PODS}?watch=true&resourceVersion=0"),
            &[("accept", TABLE)],
        )
        .await;
    let mut buffer = Vec::new();
    let first = read_events(response.body_mut(), &mut buffer, 1).await;
    assert_eq!(first[0]["object"]["kind"], "Table");
    assert!(
        !first[0]["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.send_json("POST", PODS, pod("second")).await;
    let next = read_events(response.body_mut(), &mut buffer, 1).await;
    assert_eq!(next[0]["object"]["rows"][0]["cells"][0], "second");
    assert_eq!(next[0]["object"]["columnDefinitions"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn strategic_merge_patches_merge_containers_by_name() {
    let server = TestServer::start().await;
    let mut p = pod("web");
    p["spec"]["containers"] = json!([
        {"name": "web", "image": "web-server:1"},
        {"name": "sidecar", "image": "proxy:1"}
    ]);
    server.send_json("POST", PODS, p).await;
    let patched = server
        .call(
            "PATCH",
            &format!("{PODS}/web"),
            &[("content-type", "application/strategic-merge-patch+json")],
            json!({"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}], "containers": [{"name": "web", "image": "web-server:2"}]}}).to_string(),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched);
    let containers = &patched.json()["spec"]["containers"];
    assert_eq!(containers[0]["image"], "web-server:2");
    assert_eq!(
        containers[1]["image"], "proxy:1",
        "the other container stays"
    );
    server
        .call(
            "PATCH",
            &format!("{PODS}/web"),
            &[("content-type", "application/strategic-merge-patch+json")],
            json!({"spec": {"containers": [{"name": "web", "$patch": "sideways"}]}}).to_string(),
        )
        .await
        .status(400, "BadRequest");
    server.stop().await;
}
