//! `SimRuntime` beyond the conformance kit: behaviours, fault injection, synthetic load,
//! probe results set at run time, in paused virtual time.

use std::time::Duration;

use futures::StreamExt;
use orchestra_core::kinds::{Container, ExecAction, Probe, ProbeHandler};
use orchestra_core::runtime::{
    ContainerConfig, ContainerId, LogOptions, PodSandbox, Runtime, RuntimeContainerState,
    RuntimeError,
};
use orchestra_core::{Clock, Time};
use orchestra_runtime::runtimes::{
    SimBehavior, SimKill, SimProfile, SimRuntime, SimSelector, SimUsage,
};

fn sandbox(uid: &str) -> PodSandbox {
    PodSandbox {
        uid: uid.to_owned(),
        namespace: "default".to_owned(),
        name: format!("pod-{uid}"),
    }
}

fn config(uid: &str, name: &str, image: &str) -> ContainerConfig {
    ContainerConfig {
        sandbox: sandbox(uid),
        container: Container {
            name: name.to_owned(),
            image: image.to_owned(),
            ..Container::default()
        },
        attempt: 0,
    }
}

/// Starts container `name` of pod `uid` from `image`.
async fn start(runtime: &SimRuntime, uid: &str, name: &str, image: &str) -> ContainerId {
    runtime
        .start_container(config(uid, name, image))
        .await
        .unwrap()
}

async fn state(runtime: &SimRuntime, id: &ContainerId) -> RuntimeContainerState {
    runtime.container_status(id).await.unwrap().state
}

fn exit_code(state: &RuntimeContainerState) -> Option<(i32, &str)> {
    match state {
        RuntimeContainerState::Exited {
            exit_code, reason, ..
        } => Some((*exit_code, reason.as_str())),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn behaviours_play_out_in_virtual_time() {
    let clock = Clock::starting_at(Time::from_unix_seconds(1_800_000_000));
    let runtime = SimRuntime::builder()
        .clock(clock.clone())
        .start_latency(Duration::from_secs(2))
        .build();
    runtime.profile().set_behavior(
        SimSelector::image("batch:1"),
        SimBehavior::exit_after(Duration::from_secs(60), 0),
    );
    let web = start(&runtime, "a", "web", "web:1").await;
    let job = start(&runtime, "b", "job", "batch:1").await;
    assert_eq!(state(&runtime, &web).await, RuntimeContainerState::Created);

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(state(&runtime, &web).await.is_running());
    let status = runtime.container_status(&job).await.unwrap();
    assert!(status.state.is_running());
    assert_eq!(
        status.started_at,
        Some(Time::from_unix_seconds(1_800_000_002)),
        "started_at follows the start latency on the shared clock"
    );

    // An hour of virtual time passes in no time at all.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(
        state(&runtime, &web).await.is_running(),
        "other images run forever"
    );
    let status = runtime.container_status(&job).await.unwrap();
    assert_eq!(exit_code(&status.state), Some((0, "Completed")));
    assert_eq!(
        status.finished_at,
        Some(Time::from_unix_seconds(1_800_000_062)),
        "the exit is stamped when it happened, not when it was observed"
    );
}

#[tokio::test(start_paused = true)]
async fn crash_loop_exits_soon_with_code_one_on_every_start() {
    let runtime = SimRuntime::new();
    runtime
        .profile()
        .set_behavior(SimSelector::Any, SimBehavior::crash_loop());
    for attempt in 0..3 {
        let mut c = config("p", "app", "app:bad");
        c.attempt = attempt;
        let id = runtime.start_container(c).await.unwrap();
        assert!(state(&runtime, &id).await.is_running());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(exit_code(&state(&runtime, &id).await), Some((1, "Error")));
    }
    // A default for every image leaves the well-known ones alone.
    let ok = start(&runtime, "p", "ok", "true").await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        exit_code(&state(&runtime, &ok).await),
        Some((0, "Completed"))
    );
}

#[tokio::test(start_paused = true)]
async fn injected_start_faults_fail_exactly_the_next_starts() {
    let runtime = SimRuntime::new();
    runtime
        .profile()
        .fail_starts(SimSelector::image("web:1"), 2, "disk full");
    for _ in 0..2 {
        match runtime.start_container(config("p", "web", "web:1")).await {
            Err(RuntimeError::StartFailed { reason, pod, .. }) => {
                assert_eq!(reason, "disk full");
                assert_eq!(pod, "default/pod-p");
            }
            other => panic!("expected StartFailed, got {other:?}"),
        }
    }
    // Other images were never affected, and the third start succeeds.
    start(&runtime, "p", "db", "db:1").await;
    let id = start(&runtime, "p", "web", "web:1").await;
    assert!(state(&runtime, &id).await.is_running());
    assert_eq!(runtime.container_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn kill_ends_containers_as_oom_or_signal() {
    let runtime = SimRuntime::new();
    let a = start(&runtime, "p", "a", "web").await;
    let b = start(&runtime, "p", "b", "web").await;
    let other = start(&runtime, "q", "a", "web").await;
    assert!(runtime.kill(&a, SimKill::OutOfMemory).unwrap());
    let s = state(&runtime, &a).await;
    assert_eq!(exit_code(&s), Some((137, "OOMKilled")));
    assert!(!runtime.kill(&a, SimKill::Signal).unwrap(), "already dead");
    assert_eq!(
        runtime.kill_pod("p", SimKill::Signal),
        1,
        "only b was alive"
    );
    match state(&runtime, &b).await {
        RuntimeContainerState::Exited {
            exit_code, signal, ..
        } => assert_eq!((exit_code, signal), (137, Some(9))),
        other => panic!("{other:?}"),
    }
    assert!(
        state(&runtime, &other).await.is_running(),
        "other pods untouched"
    );
}

#[tokio::test(start_paused = true)]
async fn synthetic_usage_follows_the_most_specific_rule_shared_across_nodes() {
    let profile = SimProfile::new();
    let nodes: Vec<SimRuntime> = (0..3)
        .map(|_| SimRuntime::builder().profile(profile.clone()).build())
        .collect();
    let mut ids = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        ids.push(
            node.start_container(config(&format!("pod{i}"), "web", "web:1"))
                .await
                .unwrap(),
        );
    }
    assert_eq!(nodes[0].stats(&ids[0]).await.unwrap().memory_bytes, 1 << 20);

    profile.set_usage(SimSelector::image("web:1"), SimUsage::new(800, 100 << 20));
    profile.set_usage(SimSelector::pod("pod1"), SimUsage::new(200, 50 << 20));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let s0 = nodes[0].stats(&ids[0]).await.unwrap();
    let s1 = nodes[1].stats(&ids[1]).await.unwrap();
    let s2 = nodes[2].stats(&ids[2]).await.unwrap();
    assert_eq!((s0.cpu_millicores, s0.memory_bytes), (800, 100 << 20));
    assert_eq!((s1.cpu_millicores, s1.memory_bytes), (200, 50 << 20));
    assert_eq!(s2.cpu_millicores, 800);
    assert_eq!(s0.cpu_usage_nanos, 8_000_000_000, "0.8 cores for 10 s");

    // Lowering the load shows at once.
    profile.set_usage(SimSelector::image("web:1"), SimUsage::new(100, 100 << 20));
    assert_eq!(nodes[0].stats(&ids[0]).await.unwrap().cpu_millicores, 100);
}

fn with_probes(uid: &str) -> ContainerConfig {
    let exec = |cmd: &str| {
        Some(Box::new(Probe {
            exec: Some(ExecAction {
                command: vec![cmd.to_owned(), "--check".to_owned()],
            }),
            ..Probe::default()
        }))
    };
    let mut c = config(uid, "web", "web:1");
    c.container.readiness_probe = exec("ready");
    c.container.liveness_probe = exec("alive");
    c
}

#[tokio::test(start_paused = true)]
async fn probe_results_change_at_run_time_and_survive_restarts() {
    let runtime = SimRuntime::new();
    let c = with_probes("p");
    let readiness = c
        .container
        .readiness_probe
        .as_ref()
        .unwrap()
        .handler()
        .unwrap();
    let liveness = c
        .container
        .liveness_probe
        .as_ref()
        .unwrap()
        .handler()
        .unwrap();
    let id = runtime.start_container(c.clone()).await.unwrap();
    let probe = |h: ProbeHandler| {
        let runtime = runtime.clone();
        let id = id.clone();
        async move {
            runtime
                .probe(&id, &h, Duration::from_secs(1))
                .await
                .unwrap()
                .is_success()
        }
    };
    assert!(probe(readiness.clone()).await && probe(liveness.clone()).await);

    runtime.profile().set_ready("p", "web", false);
    assert!(!probe(readiness.clone()).await, "not ready any more");
    assert!(probe(liveness.clone()).await, "still live");
    runtime.profile().set_live("p", "web", false);
    assert!(!probe(liveness.clone()).await);

    // The agent restarts the container: the rule is for the pod's container, not
    // the container id, so it still holds.
    runtime.remove_container(&id).await.unwrap();
    let id2 = runtime.start_container(c).await.unwrap();
    let outcome = runtime
        .probe(&id2, &readiness, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(!outcome.is_success(), "{outcome:?}");
    runtime.profile().set_ready("p", "web", true);
    assert!(
        runtime
            .probe(&id2, &readiness, Duration::from_secs(1))
            .await
            .unwrap()
            .is_success()
    );
}

#[tokio::test(start_paused = true)]
async fn logs_are_capped_and_followers_see_new_writes() {
    let runtime = SimRuntime::builder().log_limit(100).build();
    let id = start(&runtime, "p", "web", "web").await;
    for i in 0..50 {
        runtime
            .write_log(&id, format!("line {i:02}\n").as_bytes())
            .unwrap();
    }
    let mut all = Vec::new();
    let mut s = runtime.logs(&id, LogOptions::default()).await.unwrap();
    while let Some(chunk) = s.next().await {
        all.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.len() <= 100, "{} bytes kept", text.len());
    assert!(
        text.starts_with("line ") && text.ends_with("line 49\n"),
        "{text}"
    );

    let mut follow = runtime
        .logs(&id, LogOptions::default().tail(1).follow(true))
        .await
        .unwrap();
    assert_eq!(&follow.next().await.unwrap().unwrap()[..], b"line 49\n");
    let writer = {
        let runtime = runtime.clone();
        let id = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            runtime.write_log(&id, b"late\n").unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            runtime
                .stop_container(&id, Duration::from_secs(30))
                .await
                .unwrap();
        })
    };
    assert_eq!(&follow.next().await.unwrap().unwrap()[..], b"late\n");
    assert!(
        follow.next().await.is_none(),
        "the stream ends when the container stops"
    );
    writer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn pods_get_one_ip_shared_by_their_containers() {
    let runtime = SimRuntime::builder()
        .pod_subnet("10.9.8.0".parse().unwrap())
        .build();
    let a = start(&runtime, "p", "a", "web").await;
    let b = start(&runtime, "p", "b", "web").await;
    let c = start(&runtime, "q", "a", "web").await;
    let ip = |id| {
        let runtime = runtime.clone();
        async move { runtime.container_status(&id).await.unwrap().ip.unwrap() }
    };
    let (ia, ib, ic) = (ip(a.clone()).await, ip(b.clone()).await, ip(c).await);
    assert_eq!(ia, ib);
    assert_ne!(ia, ic);
    assert_eq!(ia.to_string(), "10.9.8.1");

    // The pod keeps its IP while one of its containers is left, and leaves with the
    // last: a new container of it is a new sandbox.
    runtime.remove_container(&a).await.unwrap();
    let d = start(&runtime, "p", "a", "web").await;
    assert_eq!(ip(d.clone()).await, ia, "b is still there");
    runtime.remove_container(&b).await.unwrap();
    runtime.remove_container(&d).await.unwrap();
    let e = start(&runtime, "p", "a", "web").await;
    assert_eq!(ip(e).await.to_string(), "10.9.8.3", "a new sandbox");
}

#[tokio::test(start_paused = true)]
async fn missing_images_and_foreign_ids_are_errors() {
    let runtime = SimRuntime::new();
    runtime.profile().missing_image("ghost:1");
    let err = runtime
        .start_container(config("p", "a", "ghost:1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ghost:1"), "{err}");
    let other = SimRuntime::new();
    let id = start(&other, "p", "a", "web").await;
    assert!(matches!(
        runtime.container_status(&id).await,
        Err(RuntimeError::NotFound(_))
    ));
}
