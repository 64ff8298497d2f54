use super::*;

pub(super) fn running(name: &str, ready: bool, restarts: i32) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        ready,
        restart_count: restarts,
        state: Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(ago(60)),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn waiting(name: &str, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            waiting: Some(Box::new(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn terminated(
    name: &str,
    reason: Option<&str>,
    exit_code: i32,
    signal: Option<i32>,
) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            terminated: Some(Box::new(ContainerStateTerminated {
                exit_code,
                signal,
                reason: reason.map(str::to_owned),
                finished_at: Some(ago(30)),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn pod(
    name: &str,
    containers: usize,
    phase: PodPhase,
    statuses: Vec<ContainerStatus>,
) -> Pod {
    let mut pod = Pod {
        metadata: meta(name, 5 * 3600),
        ..Default::default()
    };
    pod.spec.containers = (0..containers)
        .map(|i| Container {
            name: format!("c{i}"),
            image: "img".into(),
            ..Default::default()
        })
        .collect();
    pod.spec.node_name = Some("node-1".into());
    pod.status = Some(PodStatus {
        phase: Some(phase),
        pod_ip: Some("10.1.0.7".into()),
        container_statuses: statuses,
        ..Default::default()
    });
    pod
}

pub(super) fn set_ready(pod: &mut Pod, ready: bool) {
    pod.status.as_mut().unwrap().conditions.push(PodCondition {
        type_: "Ready".into(),
        status: ready.into(),
        ..Default::default()
    });
}

/// The cells after Name, up to and with Age.
fn pod_summary(pod: &Pod) -> Vec<Value> {
    cells(pod)[1..5].to_vec()
}

#[test]
fn a_running_pod_shows_ready_containers_and_every_wide_cell() {
    let mut pod = pod("web-1", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    set_ready(&mut pod, true);
    assert_eq!(
        cells(&pod),
        [
            json!("web-1"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5h"),
            json!("10.1.0.7"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
    assert!(pod.row_conditions().is_empty());
}

#[test]
fn a_crash_looping_pod_shows_the_waiting_reason_and_when_it_last_restarted() {
    let mut crashing = waiting("c0", "CrashLoopBackOff");
    crashing.restart_count = 5;
    crashing.last_state = Some(Box::new(ContainerState {
        terminated: Some(Box::new(ContainerStateTerminated {
            exit_code: 1,
            reason: Some("Error".into()),
            finished_at: Some(ago(5 * 60 + 7)),
            ..Default::default()
        })),
        ..Default::default()
    }));
    let mut pod = pod(
        "crash",
        2,
        PodPhase::Running,
        vec![running("c1", true, 2), crashing],
    );
    set_ready(&mut pod, false);
    assert_eq!(
        pod_summary(&pod),
        [
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("7 (5m7s ago)"),
            json!("5h")
        ]
    );
}

#[test]
fn restarts_without_a_known_last_termination_have_no_suffix() {
    let pod = pod("p", 1, PodPhase::Running, vec![running("c0", true, 3)]);
    assert_eq!(cells(&pod)[3], json!("3"));
}

#[test]
fn a_pod_being_deleted_is_terminating_unless_its_node_was_lost() {
    let mut pod = pod("going", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    pod.metadata.deletion_timestamp = Some(ago(3));
    assert_eq!(cells(&pod)[2], json!("Terminating"));

    pod.status.as_mut().unwrap().reason = Some("NodeLost".into());
    assert_eq!(cells(&pod)[2], json!("Unknown"));

    // A finished pod keeps its phase while it is deleted.
    let mut done = self::pod("done", 1, PodPhase::Succeeded, vec![]);
    done.metadata.deletion_timestamp = Some(ago(3));
    assert_eq!(cells(&done)[2], json!("Succeeded"));
}

#[test]
fn a_finished_pod_shows_the_containers_exit_and_is_marked_completed() {
    let pod = pod(
        "job",
        1,
        PodPhase::Succeeded,
        vec![terminated("c0", Some("Completed"), 0, None)],
    );
    assert_eq!(
        pod_summary(&pod),
        [json!("0/1"), json!("Completed"), json!("0"), json!("5h")]
    );
    let conditions = pod.row_conditions();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0].type_, ROW_COMPLETED);
    assert_eq!(conditions[0].status, ConditionStatus::True);
    assert_eq!(conditions[0].reason.as_deref(), Some("Succeeded"));

    let failed = self::pod("f", 1, PodPhase::Failed, vec![]);
    assert_eq!(failed.row_conditions()[0].reason.as_deref(), Some("Failed"));
}

#[test]
fn an_exit_without_a_reason_shows_the_signal_or_the_exit_code() {
    let by_code = pod(
        "a",
        1,
        PodPhase::Running,
        vec![terminated("c0", None, 137, None)],
    );
    assert_eq!(cells(&by_code)[2], json!("ExitCode:137"));
    let by_signal = pod(
        "b",
        1,
        PodPhase::Running,
        vec![terminated("c0", None, 0, Some(9))],
    );
    assert_eq!(cells(&by_signal)[2], json!("Signal:9"));
    let empty_reason = pod(
        "c",
        1,
        PodPhase::Running,
        vec![terminated("c0", Some(""), 2, Some(0))],
    );
    assert_eq!(cells(&empty_reason)[2], json!("ExitCode:2"));
}

#[test]
fn a_completed_container_beside_a_running_one_leaves_the_pod_running_or_not_ready() {
    let statuses = vec![
        running("c0", true, 0),
        terminated("c1", Some("Completed"), 0, None),
    ];
    let mut ready = pod("r", 2, PodPhase::Running, statuses.clone());
    set_ready(&mut ready, true);
    assert_eq!(pod_summary(&ready)[..2], [json!("1/2"), json!("Running")]);
    let mut unready = pod("u", 2, PodPhase::Running, statuses);
    set_ready(&mut unready, false);
    assert_eq!(
        pod_summary(&unready)[..2],
        [json!("1/2"), json!("NotReady")]
    );
}

#[test]
fn a_new_pod_is_pending_with_placeholders_for_what_it_lacks() {
    let mut pod = Pod {
        metadata: meta("new", 4),
        ..Default::default()
    };
    pod.spec.containers.push(Container {
        name: "c0".into(),
        image: "img".into(),
        ..Default::default()
    });
    assert_eq!(
        cells(&pod),
        [
            json!("new"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("4s"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
        ]
    );

    let creating = self::pod(
        "c",
        1,
        PodPhase::Pending,
        vec![waiting("c0", "ContainerCreating")],
    );
    assert_eq!(cells(&creating)[2], json!("ContainerCreating"));
}

#[test]
fn the_pod_reason_and_scheduling_gates_replace_the_phase() {
    let mut evicted = pod("e", 1, PodPhase::Failed, vec![]);
    evicted.status.as_mut().unwrap().reason = Some("Evicted".into());
    assert_eq!(cells(&evicted)[2], json!("Evicted"));

    let mut gated = pod("g", 1, PodPhase::Pending, vec![]);
    gated
        .status
        .as_mut()
        .unwrap()
        .conditions
        .push(PodCondition {
            type_: "PodScheduled".into(),
            status: ConditionStatus::False,
            reason: Some("SchedulingGated".into()),
            ..Default::default()
        });
    assert_eq!(cells(&gated)[2], json!("SchedulingGated"));
}
