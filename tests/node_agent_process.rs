//! The node agent over ProcessRuntime: real processes, real time (seconds). A pod runs
//! as an OS process with an exec readiness probe; deleting it kills the process; a
//! restarted agent on the same runtime directory adopts live processes instead of
//! starting duplicates.
#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use orchestra::core::kinds::{Container, ExecAction, Pod, PodPhase, PodSpec, Probe};
use orchestra::core::{Api, Client, DeleteParams, ObjectMeta, Runtime};
use orchestra::runtime::node::{NodeAgent, NodeAgentConfig};
use orchestra::runtime::runtimes::ProcessRuntime;
use tokio_util::sync::CancellationToken;

fn start_agent(
    client: &Client,
    runtime: Arc<ProcessRuntime>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let config = NodeAgentConfig::from_host("node-1").relist_period(Duration::from_millis(200));
    let agent = NodeAgent::new(client.clone(), runtime, config);
    let stop = CancellationToken::new();
    let token = stop.clone();
    (
        stop,
        tokio::spawn(async move { agent.run(token).await.unwrap() }),
    )
}

fn sleeper(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: Some(2),
            containers: vec![Container {
                name: "main".into(),
                image: "sleep".into(),
                args: vec!["300".into()],
                readiness_probe: Some(Box::new(Probe {
                    exec: Some(ExecAction {
                        command: vec!["true".into()],
                    }),
                    period_seconds: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

async fn wait_until(limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_as_processes_and_a_restarted_agent_adopts_them() {
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = common::memory_client();
    let runtime = Arc::new(ProcessRuntime::open(dir.path()).await.unwrap());
    let (stop, task) = start_agent(&client, runtime.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&sleeper("a")).await.unwrap();
    pods.create(&sleeper("b")).await.unwrap();
    for name in ["a", "b"] {
        wait_until(Duration::from_secs(20), async || {
            pods.get(name)
                .await
                .is_ok_and(|p| p.phase() == PodPhase::Running && p.is_ready())
        })
        .await;
    }
    let before = runtime.list_containers().await.unwrap();
    assert_eq!(before.len(), 2);
    let pids: Vec<u32> = before
        .iter()
        .map(|c| runtime.pid(&c.id).unwrap().expect("a running process"))
        .collect();
    assert!(pids.iter().all(|&p| alive(p)));

    // Stop the agent and drop its runtime; the processes keep running.
    stop.cancel();
    task.await.unwrap();
    drop(runtime);
    assert!(
        pids.iter().all(|&p| alive(p)),
        "stopping the agent leaves pods running"
    );

    let runtime = Arc::new(ProcessRuntime::open(dir.path()).await.unwrap());
    let (stop, task) = start_agent(&client, runtime.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = runtime.list_containers().await.unwrap();
    assert_eq!(after.len(), 2, "no duplicates: {after:?}");
    for c in &after {
        let pid = runtime.pid(&c.id).unwrap().expect("still running");
        assert!(pids.contains(&pid), "the same process, adopted");
    }

    // Deleting a pod kills its process within the grace period and removes the pod.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    wait_until(Duration::from_secs(20), async || {
        pods.get_opt("a").await.unwrap().is_none()
    })
    .await;
    let killed = pids.iter().filter(|&&p| !alive(p)).count();
    assert_eq!(killed, 1, "exactly the deleted pod's process is gone");

    pods.delete("b", &DeleteParams::default()).await.unwrap();
    wait_until(Duration::from_secs(20), async || {
        pods.get_opt("b").await.unwrap().is_none()
    })
    .await;
    assert!(pids.iter().all(|&p| !alive(p)));
    stop.cancel();
    task.await.unwrap();
}
