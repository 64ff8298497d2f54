//! Pod phase, conditions and container statuses from container states.

use orchestra_core::kinds::{Container, Pod, PodPhase, RestartPolicy};
use orchestra_core::{ContainerId, Time};

use super::*;

fn now() -> Time {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn spec(name: &str) -> Container {
    Container {
        name: name.into(),
        image: "app:1".into(),
        ..Default::default()
    }
}

fn runtime(state: InstanceState, attempt: u32) -> InstanceStatus {
    InstanceStatus {
        id: ContainerId(format!("c{attempt}")),
        state,
        started_at: Some(now()),
        ip: None,
    }
}

fn exited(code: i32) -> InstanceState {
    InstanceState::Exited(Box::new(InstanceExit {
        exit_code: code,
        signal: None,
        reason: if code == 0 { "Completed" } else { "Error" }.into(),
        message: None,
        finished_at: None,
    }))
}

fn pod(policy: RestartPolicy) -> Pod {
    let mut pod = Pod::default();
    pod.spec.restart_policy = Some(policy);
    pod
}

fn report<'a>(
    spec: &'a Container,
    current: Option<&'a InstanceStatus>,
    ready: bool,
) -> ContainerReport<'a> {
    ContainerReport {
        spec,
        restart_count: 0,
        current,
        previous: None,
        waiting: None,
        ready,
        started: current.is_some_and(InstanceStatus::is_running),
    }
}

#[test]
fn phases_follow_kubernetes_rules() {
    let main = spec("main");
    let running = runtime(InstanceState::Running, 0);
    let ok = runtime(exited(0), 0);
    let failed = runtime(exited(1), 0);
    let phase_of = |policy, current: Option<&InstanceStatus>| {
        pod_status(
            &pod(policy),
            &[report(&main, current, false)],
            None,
            None,
            now(),
        )
        .phase
    };
    assert_eq!(
        phase_of(RestartPolicy::Always, None),
        Some(PodPhase::Pending)
    );
    assert_eq!(
        phase_of(RestartPolicy::Always, Some(&running)),
        Some(PodPhase::Running)
    );
    assert_eq!(
        phase_of(RestartPolicy::Always, Some(&ok)),
        Some(PodPhase::Running)
    );
    assert_eq!(
        phase_of(RestartPolicy::Never, Some(&ok)),
        Some(PodPhase::Succeeded)
    );
    assert_eq!(
        phase_of(RestartPolicy::Never, Some(&failed)),
        Some(PodPhase::Failed)
    );
    assert_eq!(
        phase_of(RestartPolicy::OnFailure, Some(&failed)),
        Some(PodPhase::Running)
    );
    assert_eq!(
        phase_of(RestartPolicy::OnFailure, Some(&ok)),
        Some(PodPhase::Succeeded)
    );
}

#[test]
fn ready_only_when_every_container_is_ready() {
    let (a, b) = (spec("a"), spec("b"));
    let running = runtime(InstanceState::Running, 0);
    let one = pod_status(
        &pod(RestartPolicy::Always),
        &[
            report(&a, Some(&running), true),
            report(&b, Some(&running), false),
        ],
        None,
        None,
        now(),
    );
    let ready = one.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [b]")
    );

    let both = pod_status(
        &pod(RestartPolicy::Always),
        &[
            report(&a, Some(&running), true),
            report(&b, Some(&running), true),
        ],
        Some("10.0.0.7"),
        Some("192.168.0.1"),
        now(),
    );
    for type_ in ["Initialized", "ContainersReady", "Ready"] {
        let c = both.conditions.iter().find(|c| c.type_ == type_).unwrap();
        assert_eq!(c.status, ConditionStatus::True, "{type_}");
    }
    assert_eq!(both.pod_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(both.container_statuses.len(), 2);
    assert!(
        both.container_statuses[0]
            .state
            .as_ref()
            .unwrap()
            .running
            .is_some()
    );
}

#[test]
fn a_crash_looping_container_is_waiting_with_its_exit_as_last_state() {
    let main = spec("main");
    let crashed = runtime(exited(2), 3);
    let mut r = report(&main, Some(&crashed), false);
    r.restart_count = 3;
    r.waiting = Some(Waiting {
        reason: "CrashLoopBackOff".into(),
        message: Some("back-off 40s restarting failed container".into()),
    });
    let status = pod_status(&pod(RestartPolicy::Always), &[r], None, None, now());
    let c = &status.container_statuses[0];
    assert_eq!(c.restart_count, 3);
    let waiting = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 2);
    assert_eq!(status.phase, Some(PodPhase::Running));
}

#[test]
fn an_unchanged_report_gives_an_identical_status() {
    let main = spec("main");
    let running = runtime(InstanceState::Running, 0);
    let mut p = pod(RestartPolicy::Always);
    let first = pod_status(
        &p,
        &[report(&main, Some(&running), true)],
        None,
        None,
        now(),
    );
    p.status = Some(first.clone());
    let later: Time = "2026-01-01T00:10:00Z".parse().unwrap();
    let second = pod_status(
        &p,
        &[report(&main, Some(&running), true)],
        None,
        None,
        later,
    );
    assert_eq!(first, second, "transition and start times are kept");
}
