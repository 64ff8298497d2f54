//! `orchestra up` as a user runs it: the binary on a loopback port, then the user's
//! scenario through the real kubectl, then SIGTERM. Needs the versioned kubectl
//! builds beside the `kubectl` on PATH: fails under CI (`CI=true`) without them and
//! skips loudly elsewhere.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The kubectl builds the scenario runs with, one after another.
const VERSIONS: &[&str] = &["1.31", "1.32", "1.33"];

fn kubectl(version: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&on_path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.exists())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| Some(p.parent()?.join(format!("kubectl.{version}"))))
        .filter(|p| p.exists());
    match found {
        Some(path) => Some(path),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("kubectl.{version} is not installed beside the kubectl on PATH")
        }
        None => {
            eprintln!("SKIPPED: kubectl.{version} is not installed beside the kubectl on PATH");
            None
        }
    }
}

/// The running `orchestra up`, killed if the test fails before stopping it.
struct Up {
    child: Child,
    kubeconfig: PathBuf,
}

impl Up {
    async fn start(dir: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orchestra"))
            .args(["up", "--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(dir.join("kubeconfig"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("orchestra starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let export = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                    return PathBuf::from(path);
                }
            }
            panic!("orchestra up ended before printing its kubeconfig")
        })
        .await
        .expect("orchestra up is up within 60 s");
        Up {
            child,
            kubeconfig: export,
        }
    }

    async fn stop(mut self) {
        let pid = self.child.id().expect("still running") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("orchestra stops within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

async fn kubectl_ok(binary: &Path, up: &Up, cache: &Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(binary)
            .arg(format!("--cache-dir={}", cache.display()))
            .args(args)
            .env("KUBECONFIG", &up.kubeconfig)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl finished within 120 s")
    .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_scenario_through_kubectl() {
    for version in VERSIONS {
        let Some(kubectl) = kubectl(version) else {
            return;
        };
        scenario(kubectl).await;
    }
}

async fn scenario(kubectl: PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let up = Up::start(dir.path()).await;
    let run = |args: &'static [&'static str]| {
        let (kubectl, up, cache) = (&kubectl, &up, &cache);
        async move { kubectl_ok(kubectl, up, cache, args).await }
    };

    let nodes = run(&["get", "nodes", "-o", "name"]).await;
    assert_eq!(nodes.lines().count(), 10, "{nodes}");
    let nodes = run(&["get", "nodes"]).await;
    assert!(nodes.lines().nth(1).unwrap().contains(" Ready "), "{nodes}");

    assert_eq!(
        run(&[
            "create",
            "deployment",
            "my-web-server",
            "--image=web-server:1",
            "--replicas=1000"
        ])
        .await
        .trim(),
        "deployment.apps/my-web-server created"
    );
    let status = run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    let deployment = run(&["get", "deployment", "my-web-server"]).await;
    assert!(deployment.contains("1000/1000"), "{deployment}");

    assert_eq!(
        run(&["scale", "deployment", "my-web-server", "--replicas=2000"])
            .await
            .trim(),
        "deployment.apps/my-web-server scaled"
    );
    run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    let ready = run(&[
        "get",
        "deployment",
        "my-web-server",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ])
    .await;
    assert_eq!(ready, "2000");

    let described = run(&["describe", "deployment", "my-web-server"]).await;
    for part in [
        "Replicas:",
        "2000 desired",
        "RollingUpdateStrategy:",
        "NewReplicaSet:",
    ] {
        assert!(described.contains(part), "{part} in {described}");
    }

    // get --watch: the table first, then it keeps streaming until stopped.
    let watching = Command::new(&kubectl)
        .arg(format!("--cache-dir={}", cache.display()))
        .args(["get", "deployments", "--watch"])
        .env("KUBECONFIG", &up.kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut watched = BufReader::new(watching.stdout.unwrap()).lines();
    let header = tokio::time::timeout(Duration::from_secs(30), watched.next_line())
        .await
        .expect("get --watch prints within 30 s")
        .unwrap()
        .unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("UP-TO-DATE"),
        "{header}"
    );

    assert_eq!(
        run(&[
            "set",
            "image",
            "deployment/my-web-server",
            "web-server=web-server:2"
        ])
        .await
        .trim(),
        "deployment.apps/my-web-server image updated"
    );
    let status = run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    let row = tokio::time::timeout(Duration::from_secs(30), watched.next_line())
        .await
        .expect("the rollout shows in get --watch")
        .unwrap()
        .unwrap();
    assert!(row.starts_with("my-web-server "), "{row}");
    drop(watched);
    let history = run(&["rollout", "history", "deployment/my-web-server"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    assert_eq!(
        run(&["rollout", "undo", "deployment/my-web-server"])
            .await
            .trim(),
        "deployment.apps/my-web-server rolled back"
    );
    run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    let image = run(&[
        "get",
        "deployment",
        "my-web-server",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
    .await;
    assert_eq!(image, "web-server:1");

    // Drain a node: cordon (a strategic merge patch of the Node), then its pods go
    // and the Deployment puts them back on the other nodes. With 100 replicas: kubectl
    // deletes and then polls each pod under its client-side rate limit, so a node of
    // 200 pods takes it over a minute whatever the server does.
    assert_eq!(
        run(&["scale", "deployment", "my-web-server", "--replicas=100"])
            .await
            .trim(),
        "deployment.apps/my-web-server scaled"
    );
    run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    // The 1,900 pods scaled away terminate within their grace period first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pods = run(&["get", "pods", "-o", "name"]).await;
        if pods.lines().count() == 100 {
            break;
        }
        let left = pods.lines().count();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} pods still there"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drained = run(&[
        "drain",
        "node-1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--grace-period=1",
        "--timeout=90s",
    ])
    .await;
    assert!(drained.contains("node/node-1 drained"), "{drained}");
    run(&[
        "rollout",
        "status",
        "deployment/my-web-server",
        "--timeout=90s",
    ])
    .await;
    let on_node_1 = run(&[
        "get",
        "pods",
        "--field-selector=spec.nodeName=node-1",
        "-o",
        "name",
    ])
    .await;
    assert_eq!(on_node_1.trim(), "", "no pod left on the drained node");
    let nodes = run(&["get", "nodes"]).await;
    assert!(nodes.contains("SchedulingDisabled"), "{nodes}");
    assert_eq!(
        run(&["uncordon", "node-1"]).await.trim(),
        "node/node-1 uncordoned"
    );

    assert_eq!(
        run(&["delete", "deployment", "my-web-server"]).await.trim(),
        r#"deployment.apps "my-web-server" deleted"#
    );
    up.stop().await;
}
