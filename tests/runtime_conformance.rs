//! The Runtime conformance kit against every runtime in `orchestra_runtime::runtimes`:
//! `SimRuntime` in paused virtual time (and on a real clock, once), `ProcessRuntime`
//! with real processes.

use std::sync::Arc;

use orchestra_core::Runtime;
use orchestra_runtime::runtimes::SimRuntime;
use orchestra_runtime::testing;

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
