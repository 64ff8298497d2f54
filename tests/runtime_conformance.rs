//! The Runtime conformance kit against every runtime in `orchestra_runtime::runtimes`:
//! `SimRuntime` in paused virtual time (and on a real clock, once), `ProcessRuntime`
//! with real processes.

use std::sync::Arc;

use orchestra_core::Runtime;
use orchestra_runtime::runtimes::{ProcessRuntime, SimRuntime};
use orchestra_runtime::testing;

/// A directory holding the one image the kit needs that the system does not have:
/// `orchestra-ignore-term`, a script that ignores SIGTERM (an ignored signal stays
/// ignored across `exec`, so `sleep` inherits it) and says so before sleeping.
fn kit_images() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join(testing::IGNORE_TERM_IMAGE);
    std::fs::write(
        &script,
        "#!/bin/sh\ntrap '' TERM\necho ready\nexec sleep \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_runtime_passes_the_kit() {
    let images = kit_images();
    let roots = tempfile::tempdir().unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    testing::run_all(|| async {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runtime = ProcessRuntime::builder()
            .root(roots.path().join(format!("case-{n}")))
            .image_dir(images.path())
            .open()
            .await
            .unwrap();
        Arc::new(runtime) as Arc<dyn Runtime>
    })
    .await;
}

fn sim() -> Arc<dyn Runtime> {
    let runtime = SimRuntime::new();
    runtime.profile().missing_image(testing::MISSING_IMAGE);
    Arc::new(runtime)
}

#[tokio::test(start_paused = true)]
async fn sim_runtime_passes_the_kit_in_paused_time() {
    testing::run_all(|| async { sim() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_runtime_passes_the_kit_in_real_time() {
    testing::run_all(|| async { sim() }).await;
}

#[tokio::test(start_paused = true)]
async fn sim_runtime_with_a_start_latency_passes_the_kit() {
    testing::run_all(|| async {
        let runtime = SimRuntime::builder()
            .start_latency(std::time::Duration::from_millis(300))
            .build();
        runtime.profile().missing_image(testing::MISSING_IMAGE);
        Arc::new(runtime) as Arc<dyn Runtime>
    })
    .await;
}

#[test]
fn every_case_has_a_unique_name_and_a_description() {
    let cases = testing::cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for case in &cases {
        assert!(
            !case.checks().is_empty(),
            "{} says what it checks",
            case.name()
        );
    }
}

#[tokio::test]
#[should_panic(expected = "the filter selected no case")]
async fn an_empty_selection_is_an_error() {
    testing::run_selected(|| async { sim() }, |_| false).await;
}
