//! Cases on the life of one container: start, exit, stop, remove, list.

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::runtime::{
    ChangeMarker, ContainerId, LogOptions, Runtime, RuntimeContainerState, RuntimeError,
};
use tokio::time::Instant;

use super::{
    CaseResult, IGNORE_TERM_IMAGE, Pod, STATE_WAIT, Step, ensure, ensure_eq, read_logs,
    wait_exited, wait_for, wait_running,
};

/// Whether `state` is an exit with `code` and `reason`.
fn exited_with(state: &RuntimeContainerState, code: i32, reason: &str) -> bool {
    matches!(state, RuntimeContainerState::Exited { exit_code, reason: r, .. }
        if *exit_code == code && r == reason)
}

pub(super) async fn start_runs(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let mut config = pod.config("main", "sleep", &["30"]);
    config.attempt = 2;
    let id = runtime.start_container(config).await.step("start")?;
    let status = wait_running(&*runtime, &id).await?;
    ensure_eq!(status.id, id, "status id");
    ensure_eq!(status.sandbox, pod.sandbox, "status sandbox");
    ensure_eq!(status.name, "main", "status name");
    ensure_eq!(status.image, "sleep", "status image");
    ensure_eq!(status.attempt, 2, "status attempt");
    let started = status
        .started_at
        .ok_or("a running container has no started_at")?;
    ensure!(
        status.created_at <= started,
        "created_at {} is after started_at {started}",
        status.created_at
    );
    ensure_eq!(
        status.finished_at,
        None,
        "finished_at of a running container"
    );
    Ok(())
}

pub(super) async fn exit_success(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "true", &[]).await?;
    let status = wait_exited(&*runtime, &id).await?;
    ensure!(
        exited_with(&status.state, 0, "Completed"),
        "expected Exited 0 Completed, got {:?}",
        status.state
    );
    ensure!(
        matches!(
            status.state,
            RuntimeContainerState::Exited { signal: None, .. }
        ),
        "a clean exit reports no signal: {:?}",
        status.state
    );
    let finished = status
        .finished_at
        .ok_or("an exited container has no finished_at")?;
    if let Some(started) = status.started_at {
        ensure!(
            started <= finished,
            "started_at {started} is after finished_at {finished}"
        );
    }
    Ok(())
}

pub(super) async fn exit_failure(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "false", &[]).await?;
    let status = wait_exited(&*runtime, &id).await?;
    ensure!(
        exited_with(&status.state, 1, "Error"),
        "expected Exited 1 Error, got {:?}",
        status.state
    );
    ensure!(status.finished_at.is_some(), "no finished_at");
    Ok(())
}

pub(super) async fn stop_honours_term(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "sleep", &["30"]).await?;
    wait_running(&*runtime, &id).await?;
    let grace = Duration::from_secs(30);
    let began = Instant::now();
    runtime.stop_container(&id, grace).await.step("stop")?;
    let took = began.elapsed();
    // Generous: a loaded machine may take a while, but nowhere near the grace period.
    ensure!(
        took < grace / 2,
        "stop took {took:?}: SIGTERM should have ended `sleep` at once"
    );
    let status = runtime
        .container_status(&id)
        .await
        .step("status after stop")?;
    match &status.state {
        RuntimeContainerState::Exited {
            exit_code, signal, ..
        } => ensure!(
            *exit_code == 143 && matches!(signal, None | Some(15)),
            "expected exit 143 (SIGTERM), got exit {exit_code} signal {signal:?}"
        ),
        other => return Err(format!("stop returned but the state is {other:?}")),
    }
    ensure!(status.finished_at.is_some(), "no finished_at after stop");
    let listed = runtime.list_containers().await.step("list")?;
    ensure!(
        listed.iter().any(|s| s.id == id),
        "a stopped container stays listed until removed"
    );
    Ok(())
}

pub(super) async fn stop_kills_after_grace(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod
        .start(&*runtime, "main", IGNORE_TERM_IMAGE, &["30"])
        .await?;
    wait_running(&*runtime, &id).await?;
    // Stop only once it says it ignores SIGTERM: before that a real program would
    // still die of it.
    let deadline = Instant::now() + STATE_WAIT;
    loop {
        let mut stream = runtime
            .logs(&id, LogOptions::default())
            .await
            .step("logs")?;
        let mut text = Vec::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            text.extend_from_slice(&chunk.step("log chunk")?);
        }
        if String::from_utf8_lossy(&text).contains("ready") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{IGNORE_TERM_IMAGE} did not write `ready` within {STATE_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let grace = Duration::from_millis(1500);
    let began = Instant::now();
    runtime.stop_container(&id, grace).await.step("stop")?;
    let took = began.elapsed();
    ensure!(
        took >= grace,
        "stop returned after {took:?}, before the {grace:?} grace period was over"
    );
    ensure!(
        took < grace + STATE_WAIT,
        "stop took {took:?} with a grace of {grace:?}"
    );
    let status = runtime
        .container_status(&id)
        .await
        .step("status after stop")?;
    match &status.state {
        RuntimeContainerState::Exited {
            exit_code, signal, ..
        } => ensure!(
            *exit_code == 137 && matches!(signal, None | Some(9)),
            "expected exit 137 (SIGKILL), got exit {exit_code} signal {signal:?}"
        ),
        other => return Err(format!("stop returned but the state is {other:?}")),
    }
    Ok(())
}

pub(super) async fn stop_exited_is_noop(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "false", &[]).await?;
    let before = wait_exited(&*runtime, &id).await?;
    runtime
        .stop_container(&id, Duration::from_secs(30))
        .await
        .step("stop of an exited container")?;
    let after = runtime.container_status(&id).await.step("status")?;
    ensure_eq!(after.state, before.state, "state after a no-op stop");
    ensure_eq!(
        after.finished_at,
        before.finished_at,
        "finished_at after a no-op stop"
    );
    Ok(())
}

pub(super) async fn remove_forgets(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "sleep", &["30"]).await?;
    wait_running(&*runtime, &id).await?;
    runtime.remove_container(&id).await.step("remove")?;
    expect_not_found(&*runtime, &id).await?;
    let listed = runtime.list_containers().await.step("list")?;
    ensure!(
        !listed.iter().any(|s| s.id == id),
        "a removed container is still listed"
    );
    Ok(())
}

/// Checks every call with `id` is `NotFound`.
pub(super) async fn expect_not_found(runtime: &dyn Runtime, id: &ContainerId) -> CaseResult {
    fn check<T: std::fmt::Debug>(what: &str, r: Result<T, RuntimeError>) -> CaseResult {
        match r {
            Err(RuntimeError::NotFound(_)) => Ok(()),
            other => Err(format!("{what}: expected NotFound, got {other:?}")),
        }
    }
    let handler = orchestra_core::kinds::ProbeHandler::Exec(orchestra_core::kinds::ExecAction {
        command: vec!["true".to_owned()],
    });
    check("status", runtime.container_status(id).await)?;
    check("stop", runtime.stop_container(id, Duration::ZERO).await)?;
    check("remove", runtime.remove_container(id).await)?;
    check("stats", runtime.stats(id).await)?;
    check(
        "logs",
        runtime.logs(id, LogOptions::default()).await.map(|_| ()),
    )?;
    check(
        "probe",
        runtime.probe(id, &handler, Duration::from_secs(1)).await,
    )?;
    Ok(())
}

pub(super) async fn list_shows_every_container(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let other = pod.sibling();
    let mut expected = Vec::new();
    for (p, name, image, attempt) in [
        (&pod, "a", "sleep", 0),
        (&pod, "b", "true", 1),
        (&other, "a", "sleep", 3),
    ] {
        let mut config = p.config(name, image, if image == "sleep" { &["30"] } else { &[] });
        config.attempt = attempt;
        let id = runtime.start_container(config).await.step("start")?;
        expected.push((id, p.sandbox.clone(), name, image, attempt));
    }
    // Let `true` finish, so the list holds an exited container too.
    wait_exited(&*runtime, &expected[1].0).await?;
    let result = async {
        let listed = runtime.list_containers().await.step("list")?;
        for (id, sandbox, name, image, attempt) in &expected {
            let status = listed
                .iter()
                .find(|s| &s.id == id)
                .ok_or_else(|| format!("{id} ({name}) is not listed"))?;
            ensure_eq!(&status.sandbox, sandbox, "sandbox of {id}");
            ensure_eq!(status.name, *name, "name of {id}");
            ensure_eq!(status.image, *image, "image of {id}");
            ensure_eq!(status.attempt, *attempt, "attempt of {id}");
        }
        let exited = listed.iter().find(|s| s.id == expected[1].0);
        ensure!(
            exited.is_some_and(|s| s.state.is_exited()),
            "the exited container is listed as exited: {exited:?}"
        );
        let ids: std::collections::HashSet<_> = listed.iter().map(|s| &s.id).collect();
        ensure_eq!(ids.len(), listed.len(), "every container is listed once");
        // The first runs, the status and the list agree.
        wait_for(&*runtime, &expected[0].0, "running", |s| {
            s.state.is_running()
        })
        .await?;
        Ok(())
    }
    .await;
    let cleanup = other.remove_all(&*runtime).await;
    result.and(cleanup)
}

/// Used by the logs cases: the output of a finished program that should succeed,
/// in a container named after its image.
pub(super) async fn output_of(
    runtime: &dyn Runtime,
    pod: &Pod,
    image: &str,
    args: &[&str],
) -> Result<(ContainerId, String), String> {
    let id = pod.start(runtime, image, image, args).await?;
    let status = wait_exited(runtime, &id).await?;
    ensure!(
        exited_with(&status.state, 0, "Completed"),
        "{image} should exit 0, got {:?}",
        status.state
    );
    let text = read_logs(runtime, &id, LogOptions::default()).await?;
    Ok((id, text))
}

/// The states of every container, by id, as a listing shows them.
async fn listed_states(
    runtime: &dyn Runtime,
) -> Result<Vec<(ContainerId, RuntimeContainerState)>, String> {
    let mut states: Vec<_> = runtime
        .list_containers()
        .await
        .step("list")?
        .into_iter()
        .map(|s| (s.id, s.state))
        .collect();
    states.sort_by(|a, b| a.0.0.cmp(&b.0.0));
    Ok(states)
}

pub(super) async fn markers_follow_changes(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let marker = |what: &str| {
        runtime
            .change_marker()
            .ok_or_else(|| format!("the runtime stopped giving change markers at {what}"))
    };
    let Some(before) = runtime.change_marker() else {
        // A runtime without markers is listed on every relist: nothing to check.
        return Ok(());
    };
    let moved = |what: &str, since: ChangeMarker| -> Result<ChangeMarker, String> {
        let now = marker(what)?;
        ensure!(
            now.generation != since.generation,
            "a {what} left the generation at {}",
            now.generation
        );
        Ok(now)
    };
    let id = pod.start(&*runtime, "main", "sleep", &["30"]).await?;
    moved("start", before)?;
    wait_running(&*runtime, &id).await?;
    let running = marker("running")?;
    runtime
        .stop_container(&id, Duration::from_secs(5))
        .await
        .step("stop")?;
    let stopped = moved("stop", running)?;
    runtime.remove_container(&id).await.step("remove")?;
    moved("removal", stopped)?;
    // A container that exits on its own: whenever the marker promises nothing
    // changed, the listing must agree.
    let before = marker("the second start")?;
    let states = listed_states(&*runtime).await?;
    let done = pod.start(&*runtime, "done", "true", &[]).await?;
    let started = marker("after `true` started")?;
    let listed = listed_states(&*runtime).await?;
    ensure!(
        started.generation != before.generation,
        "a start left the generation at {}",
        started.generation
    );
    ensure!(
        states != listed,
        "the listing did not show the new container"
    );
    wait_exited(&*runtime, &done).await?;
    let after = marker("the exit")?;
    let promised = after.promises_no_change_since(&started, Instant::now());
    let now = listed_states(&*runtime).await?;
    ensure!(
        !promised || now == listed,
        "the marker promised no change since {started:?}, yet {listed:?} became {now:?}"
    );
    Ok(())
}
