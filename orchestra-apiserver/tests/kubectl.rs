//! The real kubectl against the server, asserting on kubectl's own output.
//!
//! The versioned builds (`kubectl.1.31` …) sit beside the `kubectl` dispatcher on
//! PATH. Without them the test fails under CI (`CI=true`) and skips loudly elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::TestServer;

/// The kubectl builds this server is tested with.
const VERSIONS: &[&str] = &["1.31", "1.32", "1.33"];

fn kubectl_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")?;
    let dispatcher = std::env::split_paths(&on_path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.exists())?;
    let dir = std::fs::canonicalize(dispatcher).ok()?.parent()?.to_owned();
    dir.join("kubectl.1.31").exists().then_some(dir)
}

fn find_kubectl() -> Option<PathBuf> {
    match kubectl_dir() {
        Some(dir) => Some(dir),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("kubectl.1.31 … 1.33 are not installed beside the kubectl on PATH")
        }
        None => {
            eprintln!("SKIPPED: kubectl.1.31 … 1.33 are not installed beside the kubectl on PATH");
            None
        }
    }
}

struct Kubectl {
    binary: PathBuf,
    server: String,
    cache: tempfile::TempDir,
    work: PathBuf,
}

impl Kubectl {
    fn new(dir: &Path, version: &str, server: &TestServer, work: &Path) -> Kubectl {
        Kubectl {
            binary: dir.join(format!("kubectl.{version}")),
            server: server.url(),
            cache: tempfile::tempdir().unwrap(),
            work: work.to_owned(),
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg(format!("--server={}", self.server))
            .arg(format!("--cache-dir={}", self.cache.path().display()))
            .args(args)
            .current_dir(&self.work)
            .env("KUBECONFIG", self.work.join("no-kubeconfig"))
            .env("HOME", self.work.as_os_str())
            .kill_on_drop(true);
        tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
            .await
            .expect("kubectl finished within 60 s")
            .expect("kubectl ran")
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}{}",
            self.binary.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }
}

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"run":"web"}},"spec":{"containers":[{"name":"web","image":"web-server:1"}]}}"#;
const APPLIED: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"applied"},"spec":{"replicas":REPLICAS,"selector":{"matchLabels":{"app":"applied"}},"template":{"metadata":{"labels":{"app":"applied"}},"spec":{"containers":[{"name":"web","image":"web-server:1"}]}}}}"#;
const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"site"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"site"}},"template":{"metadata":{"labels":{"app":"site"}},"spec":{"containers":[{"name":"site","image":"web-server:1"}]}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_and_writes_objects() {
    let Some(dir) = find_kubectl() else { return };
    for version in VERSIONS {
        let server = TestServer::start().await;
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("pod.json"), POD).unwrap();
        std::fs::write(work.path().join("deployment.json"), DEPLOYMENT).unwrap();
        let kubectl = Kubectl::new(&dir, version, &server, work.path());

        let v = kubectl.ok(&["version", "-o", "json"]).await;
        assert!(v.contains(r#""minor": "31""#), "{version}: {v}");

        assert_eq!(
            kubectl.ok(&["create", "-f", "pod.json"]).await.trim(),
            "pod/web created"
        );
        assert_eq!(
            kubectl.ok(&["get", "pods", "-o", "name"]).await.trim(),
            "pod/web"
        );
        assert_eq!(
            kubectl
                .ok(&[
                    "get",
                    "po",
                    "web",
                    "-o",
                    "jsonpath={.spec.containers[0].image}"
                ])
                .await,
            "web-server:1"
        );
        assert_eq!(
            kubectl
                .ok(&["label", "pod", "web", "tier=front"])
                .await
                .trim(),
            "pod/web labeled"
        );
        assert_eq!(
            kubectl
                .ok(&["get", "pods", "-l", "tier=front", "-o", "name"])
                .await
                .trim(),
            "pod/web"
        );
        let missing = kubectl.fails(&["get", "pod", "nosuch"]).await;
        assert!(
            missing.contains(r#"Error from server (NotFound): pods "nosuch" not found"#),
            "{version}: {missing}"
        );

        // kubectl 1.31 sends this create as JSON, 1.32 and later as protobuf.
        let created = kubectl
            .ok(&[
                "create",
                "deployment",
                "site",
                "--image=web-server:1",
                "--replicas=3",
            ])
            .await;
        assert_eq!(created.trim(), "deployment.apps/site created", "{version}");
        assert_eq!(
            kubectl
                .ok(&["scale", "deploy", "site", "--replicas=5"])
                .await
                .trim(),
            "deployment.apps/site scaled"
        );
        assert_eq!(
            kubectl
                .ok(&[
                    "get",
                    "deployment",
                    "site",
                    "-o",
                    "jsonpath={.spec.replicas}"
                ])
                .await,
            "5"
        );
        assert_eq!(
            kubectl
                .ok(&["get", "deployment", "site", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.selector.matchLabels.app}"])
                .await,
            "web-server:1 site",
            "{version}"
        );

        // kubectl 1.31 and 1.32 send autoscaling/v1, 1.33 tries autoscaling/v2
        // first; all but 1.31 as protobuf.
        assert_eq!(
            kubectl
                .ok(&[
                    "autoscale",
                    "deployment",
                    "site",
                    "--min=2",
                    "--max=5",
                    "--cpu-percent=80"
                ])
                .await
                .trim(),
            "horizontalpodautoscaler.autoscaling/site autoscaled",
            "{version}"
        );
        let hpa: serde_json::Value =
            serde_json::from_str(&kubectl.ok(&["get", "hpa", "site", "-o", "json"]).await).unwrap();
        assert_eq!(
            hpa["spec"]["scaleTargetRef"],
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "site"}),
            "{version}: {hpa}"
        );
        assert_eq!(hpa["spec"]["minReplicas"], 2, "{version}: {hpa}");
        assert_eq!(hpa["spec"]["maxReplicas"], 5, "{version}: {hpa}");
        assert_eq!(
            hpa["spec"]["metrics"],
            serde_json::json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            "{version}: {hpa}"
        );

        // Server-side Tables: kubectl prints the columns the server computed.
        let pods = kubectl.ok(&["get", "pods"]).await;
        let header: Vec<&str> = pods
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{version}: {pods}"
        );
        assert!(
            pods.lines().nth(1).unwrap_or("").starts_with("web "),
            "{version}: {pods}"
        );
        let wide = kubectl.ok(&["get", "pods", "-o", "wide"]).await;
        assert!(
            wide.lines().next().unwrap_or("").contains("NOMINATED NODE"),
            "{version}: {wide}"
        );
        let deployments = kubectl.ok(&["get", "deploy", "site"]).await;
        let header: Vec<&str> = deployments
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "{version}: {deployments}"
        );
        let labels = kubectl.ok(&["get", "pods", "--show-labels"]).await;
        assert!(
            labels.contains("run=web,tier=front") || labels.contains("tier=front,run=web"),
            "{version}: {labels}"
        );

        // Strategic merge patch, as `set image` sends it.
        assert_eq!(
            kubectl
                .ok(&["set", "image", "deployment/site", "web-server=web-server:2"])
                .await
                .trim(),
            "deployment.apps/site image updated",
            "{version}"
        );
        assert_eq!(
            kubectl
                .ok(&[
                    "get",
                    "deploy",
                    "site",
                    "-o",
                    "jsonpath={.spec.template.spec.containers[*].image}"
                ])
                .await,
            "web-server:2",
            "{version}"
        );

        // apply: created, then unchanged, then configured (a strategic merge patch
        // computed from the last-applied annotation the server kept verbatim).
        let applied = APPLIED.replace("REPLICAS", "2");
        std::fs::write(work.path().join("applied.json"), &applied).unwrap();
        assert_eq!(
            kubectl.ok(&["apply", "-f", "applied.json"]).await.trim(),
            "deployment.apps/applied created",
            "{version}"
        );
        assert_eq!(
            kubectl.ok(&["apply", "-f", "applied.json"]).await.trim(),
            "deployment.apps/applied unchanged",
            "{version}"
        );
        std::fs::write(
            work.path().join("applied.json"),
            APPLIED.replace("REPLICAS", "4"),
        )
        .unwrap();
        assert_eq!(
            kubectl.ok(&["apply", "-f", "applied.json"]).await.trim(),
            "deployment.apps/applied configured",
            "{version}"
        );
        assert_eq!(
            kubectl
                .ok(&[
                    "get",
                    "deploy",
                    "applied",
                    "-o",
                    "jsonpath={.spec.replicas}"
                ])
                .await,
            "4",
            "{version}"
        );

        let duplicate = kubectl.fails(&["create", "-f", "deployment.json"]).await;
        assert!(
            duplicate.contains("AlreadyExists"),
            "{version}: {duplicate}"
        );

        assert_eq!(
            kubectl.ok(&["delete", "pod", "web"]).await.trim(),
            r#"pod "web" deleted"#
        );
        assert_eq!(
            kubectl.ok(&["delete", "deployment", "site"]).await.trim(),
            r#"deployment.apps "site" deleted"#
        );
        assert_eq!(kubectl.ok(&["get", "pods", "-o", "name"]).await.trim(), "");
        server.stop().await;
    }
}
