//! Cases on errors and on many containers at once.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::join_all;
use orchestra_core::runtime::{ContainerId, Runtime, RuntimeError};

use super::lifecycle::expect_not_found;
use super::{CaseResult, MISSING_IMAGE, Pod, Step, ensure, ensure_eq, wait_running};

pub(super) async fn image_not_found(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    match runtime
        .start_container(pod.config("main", MISSING_IMAGE, &[]))
        .await
    {
        Err(e @ RuntimeError::ImageNotFound { .. }) => {
            let message = e.to_string();
            ensure!(
                message.contains(MISSING_IMAGE),
                "the error should name the image: {message}"
            );
            if let RuntimeError::ImageNotFound { image, .. } = &e {
                ensure_eq!(image, MISSING_IMAGE, "the image in the error");
            }
            Ok(())
        }
        other => Err(format!("expected ImageNotFound, got {other:?}")),
    }
}

pub(super) async fn invalid_config(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    match runtime.start_container(pod.config("main", "", &[])).await {
        Err(RuntimeError::InvalidConfig(_)) => Ok(()),
        other => Err(format!(
            "an empty image: expected InvalidConfig, got {other:?}"
        )),
    }
}

pub(super) async fn unknown_id(runtime: Arc<dyn Runtime>, _pod: Pod) -> CaseResult {
    for id in ["no-such-container", "", "sim-0-0", "0"] {
        expect_not_found(&*runtime, &ContainerId(id.to_owned())).await?;
    }
    Ok(())
}

/// How many containers the concurrency case starts at once.
const CONCURRENT_STARTS: usize = 40;

pub(super) async fn many_concurrent_starts(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let starts = (0..CONCURRENT_STARTS).map(|i| {
        let runtime = runtime.clone();
        let config = pod.config(&format!("c{i}"), "sleep", &["30"]);
        async move { runtime.start_container(config).await }
    });
    let mut ids = Vec::new();
    for (i, result) in join_all(starts).await.into_iter().enumerate() {
        ids.push(result.step(&format!("start c{i}"))?);
    }
    let distinct: HashSet<&ContainerId> = ids.iter().collect();
    ensure_eq!(distinct.len(), ids.len(), "distinct ids");
    for id in &ids {
        wait_running(&*runtime, id).await?;
    }
    let listed = runtime.list_containers().await.step("list")?;
    for (i, id) in ids.iter().enumerate() {
        let status = listed
            .iter()
            .find(|s| &s.id == id)
            .ok_or_else(|| format!("c{i} ({id}) is not listed"))?;
        ensure_eq!(status.name, format!("c{i}"), "name of {id}");
    }
    let removals = ids.iter().map(|id| runtime.remove_container(id));
    for (id, result) in ids.iter().zip(join_all(removals).await) {
        result.step(&format!("remove {id}"))?;
    }
    let listed = runtime.list_containers().await.step("list after remove")?;
    ensure!(
        !listed.iter().any(|s| distinct.contains(&s.id)),
        "removed containers are still listed"
    );
    Ok(())
}
