//! The Runtime conformance kit against every runtime in `orchestra_runtime::runtimes`:
//! `SimRuntime` in paused virtual time (and on a real clock, once), `ProcessRuntime`
//! with real processes.

use std::sync::Arc;

use orchestra_core::Runtime;
#[cfg(unix)]
use orchestra_runtime::runtimes::ProcessRuntime;
use orchestra_runtime::runtimes::SimRuntime;
use orchestra_runtime::testing;

/// A directory holding the one image the kit needs that the system does not have:
/// `orchestra-ignore-term`, a script that ignores SIGTERM (an ignored signal stays
/// ignored across `exec`, so `sleep` inherits it) and says so before sleeping.
#[cfg(unix)]
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

#[cfg(unix)]
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
    .await
    .assert_passed();
}

fn sim() -> Arc<dyn Runtime> {
    let runtime = SimRuntime::new();
    runtime.profile().missing_image(testing::MISSING_IMAGE);
    Arc::new(runtime)
}

#[tokio::test(start_paused = true)]
async fn sim_runtime_passes_the_kit_in_paused_time() {
    testing::run_all(|| async { sim() }).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_runtime_passes_the_kit_in_real_time() {
    testing::run_all(|| async { sim() }).await.assert_passed();
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
    .await
    .assert_passed();
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

#[test]
fn the_kit_can_run_on_a_spawned_task() {
    fn assert_send<T: Send>(_: &T) {}
    let run = testing::run_all(|| async { sim() });
    assert_send(&run);
}

#[tokio::test]
#[should_panic(expected = "the filter selected no case")]
async fn an_empty_selection_is_an_error() {
    testing::run_selected(|| async { sim() }, |_| false)
        .await
        .assert_passed();
}

/// The kit must catch broken runtimes, not just pass good ones: each fault below
/// breaks one contract of a `SimRuntime`, and the cases for that contract must fail.
mod catches_broken_runtimes {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use orchestra_core::kinds::ProbeHandler;
    use orchestra_core::runtime::{
        ChangeMarker, ContainerConfig, ContainerId, ContainerStats, LogOptions, LogStream,
        ProbeOutcome, Runtime, RuntimeContainerState, RuntimeContainerStatus, RuntimeError,
    };
    use orchestra_runtime::runtimes::SimRuntime;
    use orchestra_runtime::testing;

    #[derive(Clone, Copy)]
    enum Fault {
        /// Stop kills at once, whatever the grace period.
        StopIgnoresGrace,
        /// Every exit is reported as a success.
        ExitAlwaysCompleted,
        /// Remove forgets nothing.
        RemoveKeeps,
        /// Logs ignore `tail`.
        TailIgnored,
        /// Every probe succeeds.
        ProbesAlwaysPass,
        /// The change marker never moves: relists would miss every change.
        MarkerFrozen,
        /// A container's args arrive joined into one argument, as a runtime that
        /// hands them to a shell unquoted or as one string might.
        ArgsJoined,
    }

    struct Faulty {
        inner: SimRuntime,
        fault: Fault,
    }

    #[async_trait]
    impl Runtime for Faulty {
        fn name(&self) -> &str {
            "faulty"
        }
        async fn start_container(
            &self,
            mut config: ContainerConfig,
        ) -> Result<ContainerId, RuntimeError> {
            if let Fault::ArgsJoined = self.fault {
                let args = &mut config.container.args;
                if !args.is_empty() {
                    *args = vec![args.join(" ")];
                }
            }
            self.inner.start_container(config).await
        }
        async fn stop_container(
            &self,
            id: &ContainerId,
            grace: Duration,
        ) -> Result<(), RuntimeError> {
            match self.fault {
                Fault::StopIgnoresGrace => self.inner.stop_container(id, Duration::ZERO).await,
                _ => self.inner.stop_container(id, grace).await,
            }
        }
        async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
            match self.fault {
                Fault::RemoveKeeps => self.inner.stop_container(id, Duration::ZERO).await,
                _ => self.inner.remove_container(id).await,
            }
        }
        async fn container_status(
            &self,
            id: &ContainerId,
        ) -> Result<RuntimeContainerStatus, RuntimeError> {
            let mut status = self.inner.container_status(id).await?;
            if let (Fault::ExitAlwaysCompleted, RuntimeContainerState::Exited { .. }) =
                (self.fault, &status.state)
            {
                status.state = RuntimeContainerState::Exited {
                    exit_code: 0,
                    signal: None,
                    reason: "Completed".to_owned(),
                    message: None,
                };
            }
            Ok(status)
        }
        async fn list_containers(&self) -> Result<Vec<RuntimeContainerStatus>, RuntimeError> {
            self.inner.list_containers().await
        }
        async fn logs(
            &self,
            id: &ContainerId,
            mut options: LogOptions,
        ) -> Result<LogStream, RuntimeError> {
            if let Fault::TailIgnored = self.fault {
                options.tail_lines = None;
            }
            self.inner.logs(id, options).await
        }
        async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, RuntimeError> {
            self.inner.stats(id).await
        }
        async fn probe(
            &self,
            id: &ContainerId,
            handler: &ProbeHandler,
            timeout: Duration,
        ) -> Result<ProbeOutcome, RuntimeError> {
            match self.fault {
                Fault::ProbesAlwaysPass => Ok(ProbeOutcome::Success),
                _ => self.inner.probe(id, handler, timeout).await,
            }
        }
        fn change_marker(&self) -> Option<ChangeMarker> {
            match self.fault {
                Fault::MarkerFrozen => Some(ChangeMarker {
                    generation: 0,
                    next_change: None,
                }),
                _ => self.inner.change_marker(),
            }
        }
    }

    /// Runs `cases` against a runtime with `fault`; returns the report.
    async fn run_faulty(fault: Fault, cases: &[&str]) -> testing::Report {
        testing::run_selected(
            move || async move {
                Arc::new(Faulty {
                    inner: SimRuntime::new(),
                    fault,
                }) as Arc<dyn Runtime>
            },
            |case| cases.contains(&case.name()),
        )
        .await
    }

    /// Runs `cases` against a runtime with `fault` and checks that the report fails
    /// exactly those.
    async fn assert_caught(fault: Fault, cases: &[&str]) {
        let report = run_faulty(fault, cases).await;
        let mut failed = report.failed_cases();
        failed.sort_unstable();
        let mut expected = cases.to_vec();
        expected.sort_unstable();
        assert_eq!(failed, expected, "{report}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_without_grace_is_caught() {
        assert_caught(
            Fault::StopIgnoresGrace,
            &["lifecycle_stop_kills_after_grace"],
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_exit_codes_are_caught() {
        assert_caught(Fault::ExitAlwaysCompleted, &["lifecycle_exit_failure"]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_remove_that_keeps_the_container_is_caught() {
        assert_caught(
            Fault::RemoveKeeps,
            &["lifecycle_remove_forgets", "errors_many_concurrent_starts"],
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_ignored_tail_is_caught() {
        assert_caught(Fault::TailIgnored, &["logs_tail"]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn probes_that_always_pass_are_caught() {
        assert_caught(
            Fault::ProbesAlwaysPass,
            &[
                "probes_exec",
                "probes_tcp",
                "probes_http",
                "probes_not_running",
            ],
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_marker_that_never_moves_is_caught() {
        assert_caught(Fault::MarkerFrozen, &["lifecycle_markers_follow_changes"]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn joined_args_are_caught_where_echo_cannot_see_them() {
        let report = run_faulty(
            Fault::ArgsJoined,
            &["logs_echo_output", "logs_argument_boundaries"],
        )
        .await;
        assert_eq!(report.passed(), ["logs_echo_output"], "{report}");
        assert_eq!(
            report.failed_cases(),
            ["logs_argument_boundaries"],
            "{report}"
        );
        let why = report.failed()[0].reason();
        assert!(why.contains(r#"got "[]\n a b   c  d""#), "{why}");
    }
}
