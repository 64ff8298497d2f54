//! The Runtime conformance kit: one call that holds a [`Runtime`] implementation to
//! the contracts written on the trait, with ordinary programs as images.
//!
//! Every runtime runs it — [`SimRuntime`](crate::runtimes::SimRuntime), real processes,
//! and yours — from one test:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use orchestra_core::Runtime;
//! use orchestra_runtime::runtimes::SimRuntime;
//! use orchestra_runtime::testing;
//!
//! # async fn doc() {
//! testing::run_all(|| async { Arc::new(SimRuntime::new()) as Arc<dyn Runtime> })
//!     .await
//!     .assert_passed();
//!
//! // A runtime that cannot provide an image the kit needs skips its cases by name:
//! testing::run_selected(
//!     || async { Arc::new(SimRuntime::new()) as Arc<dyn Runtime> },
//!     |case| case.name() != "lifecycle_stop_kills_after_grace",
//! )
//! .await
//! .assert_passed();
//! # }
//! ```
//!
//! [`run_all`] runs every case in [`cases()`], one after another, each against a fresh
//! runtime from the builder (any [`SubjectBuilder`], such as a closure returning a
//! future), and returns a [`Report`] of every case, not just the first failure;
//! [`Report::assert_passed`] fails the test naming every failed case and why. After
//! each case, whatever became of it, the kit removes the containers the case started.
//! The cases run on the harness of [`orchestra_core::conformance`].
//!
//! ## Images the runtime under test must provide
//!
//! Cases use images by name, with Kubernetes command semantics and no shell:
//!
//! | image | args | must behave like |
//! | --- | --- | --- |
//! | `true` | – | exit 0 at once |
//! | `false` | – | exit 1 at once |
//! | `sleep` | `["30"]` | run 30 seconds, die of SIGTERM when stopped (exit 143) |
//! | `echo` | words | write the words joined by spaces and a newline, exit 0 |
//! | `printf` | a format, then words | write the format once per word (at least once), `%s` replaced by the word, like `printf(1)`; exit 0 |
//! | [`IGNORE_TERM_IMAGE`] | `["30"]` | write `ready` once SIGTERM is ignored, then run 30 seconds |
//!
//! and must not know [`MISSING_IMAGE`]. Exec probes run `true` and `false`; TCP and
//! HTTP probes go to ports on 127.0.0.1 that the kit itself listens on (declared in the
//! container's `ports`), so a runtime whose containers share the host network passes
//! them by connecting, and a simulated one by honouring the declared ports.
//!
//! Every wait is bounded: a state that does not come fails its case after
//! [`STATE_WAIT`], and a whole case after [`CASE_TIMEOUT`], with a message saying what
//! it waited for. A simulated runtime may run the kit in paused tokio time; one that
//! does real I/O must run it in real time, where those timeouts mean what they say.

mod errors;
mod lifecycle;
mod logs;
mod probes;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use orchestra_core::conformance::{self, CaseEnv, CaseResult};
pub use orchestra_core::conformance::{Case, CaseFailure, Report, SubjectBuilder};
use orchestra_core::kinds::Container;
use orchestra_core::runtime::{
    ContainerConfig, ContainerId, LogOptions, PodSandbox, Runtime, RuntimeContainerStatus,
    RuntimeError,
};
use orchestra_core::{conformance_ensure as ensure, conformance_ensure_eq as ensure_eq};

/// The image of a container that ignores SIGTERM: it writes `ready` to its log once
/// it does, then runs `args[0]` seconds. `SimRuntime` knows it; for real processes a
/// test provides an executable of this name (a two-line shell script does).
pub const IGNORE_TERM_IMAGE: &str = "orchestra-ignore-term";

/// An image no runtime under test may know: starting it must fail with
/// [`RuntimeError::ImageNotFound`]. A simulated runtime is told to treat it as missing.
pub const MISSING_IMAGE: &str = "orchestra-missing-image";

/// How long a case waits for a container to reach a state before it fails.
pub const STATE_WAIT: Duration = Duration::from_secs(20);

/// How long one case may run in total before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(90);

/// A runtime conformance case.
pub type RuntimeCase = Case<Arc<dyn Runtime>>;

/// A case of `module::function`, named `module_function`, whose containers belong to
/// a pod of its own; afterwards the kit removes them.
macro_rules! case {
    ($module:ident :: $function:ident, $checks:literal) => {
        Case::new(
            concat!(stringify!($module), "_", stringify!($function)),
            $checks,
            |runtime, env| Box::pin($module::$function(runtime, Pod::new(&env))),
        )
        .time_limit(CASE_TIMEOUT)
        .cleanup(remove_pods)
    };
}

/// Every case, in the order [`run_all`] runs them. Each name starts with its area
/// (`lifecycle_`, `logs_`, `probes_` (stats too), `errors_` (and concurrency)).
pub fn cases() -> Vec<RuntimeCase> {
    vec![
        case!(
            lifecycle::start_runs,
            "a started long runner becomes Running with started_at, and its status names its pod, name, image and attempt"
        ),
        case!(
            lifecycle::exit_success,
            "`true` ends Exited with code 0, reason Completed, no signal, and finished_at"
        ),
        case!(
            lifecycle::exit_failure,
            "`false` ends Exited with code 1 and reason Error"
        ),
        case!(
            lifecycle::stop_honours_term,
            "stop ends a container that honours SIGTERM long before the grace period, with exit 143"
        ),
        case!(
            lifecycle::stop_kills_after_grace,
            "stop kills a container that ignores SIGTERM once the grace period is over: exit 137"
        ),
        case!(
            lifecycle::stop_exited_is_noop,
            "stopping an exited container succeeds and changes nothing"
        ),
        case!(
            lifecycle::remove_forgets,
            "remove kills a running container; afterwards every call with its id is NotFound"
        ),
        case!(
            lifecycle::list_shows_every_container,
            "list shows every container, running or exited, with its pod, name, image and attempt"
        ),
        case!(
            lifecycle::markers_follow_changes,
            "a runtime that gives change markers moves the generation on every start, stop and removal, and never promises \"no change\" across a change (one without markers passes)"
        ),
        case!(
            logs::echo_output,
            "logs return what the container wrote, arguments arriving literally"
        ),
        case!(
            logs::argument_boundaries,
            "each argument arrives as one argument: none joined, split, trimmed or dropped, empty ones too"
        ),
        case!(logs::tail, "tail returns only the last lines"),
        case!(
            logs::follow_ends_on_exit,
            "a followed log yields the output and ends once the container exits"
        ),
        case!(
            probes::stats_of_running,
            "stats of a running container report memory; stats of an exited one are an error"
        ),
        case!(
            probes::exec,
            "an exec probe of `true` succeeds and of `false` fails"
        ),
        case!(
            probes::tcp,
            "a TCP probe succeeds on a listening port (by number or name) and fails on a closed one"
        ),
        case!(
            probes::http,
            "an HTTP probe succeeds on a port that answers 200 and fails on a closed one"
        ),
        case!(
            probes::not_running,
            "every probe of an exited container fails, without an error"
        ),
        case!(
            errors::image_not_found,
            "starting an unknown image is ImageNotFound naming the image"
        ),
        case!(
            errors::invalid_config,
            "starting a container without an image is InvalidConfig"
        ),
        case!(
            errors::unknown_id,
            "every call with an id the runtime never issued is NotFound"
        ),
        case!(
            errors::many_concurrent_starts,
            "many concurrent starts all succeed with distinct ids, all run and all are listed"
        ),
    ]
}

/// Runs every case against runtimes from `builder`, and reports on each.
pub async fn run_all<B: SubjectBuilder<Arc<dyn Runtime>>>(builder: B) -> Report {
    run_selected(builder, |_| true).await
}

/// Runs the cases `filter` accepts against runtimes from `builder`, and reports on
/// each; for a runtime that cannot provide an image a case needs. A filter that accepts
/// no case makes a report that is no success.
pub async fn run_selected<B: SubjectBuilder<Arc<dyn Runtime>>>(
    builder: B,
    filter: impl Fn(&RuntimeCase) -> bool,
) -> Report {
    conformance::run("runtime", cases(), builder, filter).await
}

/// Every case's cleanup. Real runtimes keep processes after their handle is dropped
/// (so an agent can re-adopt them): without it, every case would leak its `sleep 30`s.
fn remove_pods(runtime: Arc<dyn Runtime>, env: CaseEnv) -> BoxFuture<'static, CaseResult> {
    Box::pin(async move {
        let pod = Pod::new(&env);
        pod.remove_all(&*runtime).await?;
        pod.sibling().remove_all(&*runtime).await
    })
}

// Helpers shared by the case modules.

/// Turns an unexpected runtime error into a failure naming the step.
trait Step<T> {
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T> Step<T> for Result<T, RuntimeError> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: unexpected error {e} ({e:?})"))
    }
}

/// The pod a case's containers belong to; its uid is unique to the run and the case.
#[derive(Clone, Debug)]
struct Pod {
    sandbox: PodSandbox,
}

impl Pod {
    fn new(env: &CaseEnv) -> Pod {
        Pod {
            sandbox: PodSandbox {
                uid: format!("conformance-{}", env.dns_label()),
                namespace: "conformance".to_owned(),
                name: env.case().replace('_', "-"),
            },
        }
    }

    /// A second pod of the same case, for cases that need containers of another pod.
    fn sibling(&self) -> Pod {
        Pod {
            sandbox: PodSandbox {
                uid: format!("{}-other", self.sandbox.uid),
                namespace: self.sandbox.namespace.clone(),
                name: format!("{}-other", self.sandbox.name),
            },
        }
    }

    /// A container of this pod running `image` with `args`.
    fn config(&self, name: &str, image: &str, args: &[&str]) -> ContainerConfig {
        self.config_of(Container {
            name: name.to_owned(),
            image: image.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..Container::default()
        })
    }

    fn config_of(&self, container: Container) -> ContainerConfig {
        ContainerConfig {
            sandbox: self.sandbox.clone(),
            container,
            attempt: 0,
        }
    }

    /// Starts a container and returns its id.
    async fn start(
        &self,
        runtime: &dyn Runtime,
        name: &str,
        image: &str,
        args: &[&str],
    ) -> Result<ContainerId, String> {
        runtime
            .start_container(self.config(name, image, args))
            .await
            .step(&format!("start {name} ({image} {args:?})"))
    }

    /// Removes every container of this pod.
    async fn remove_all(&self, runtime: &dyn Runtime) -> Result<(), String> {
        let listed = runtime.list_containers().await.step("list")?;
        for status in listed.iter().filter(|s| s.sandbox == self.sandbox) {
            match runtime.remove_container(&status.id).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(format!("remove {}: {e}", status.id)),
            }
        }
        Ok(())
    }
}

/// Polls a container's status until `accept` holds, for at most [`STATE_WAIT`].
async fn wait_for(
    runtime: &dyn Runtime,
    id: &ContainerId,
    what: &str,
    accept: impl Fn(&RuntimeContainerStatus) -> bool,
) -> Result<RuntimeContainerStatus, String> {
    let deadline = tokio::time::Instant::now() + STATE_WAIT;
    loop {
        let status = runtime
            .container_status(id)
            .await
            .step(&format!("status of {id} while waiting until {what}"))?;
        if accept(&status) {
            return Ok(status);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{id} did not become {what} within {STATE_WAIT:?}; last state {:?}",
                status.state
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_running(
    runtime: &dyn Runtime,
    id: &ContainerId,
) -> Result<RuntimeContainerStatus, String> {
    wait_for(runtime, id, "running", |s| s.state.is_running()).await
}

async fn wait_exited(
    runtime: &dyn Runtime,
    id: &ContainerId,
) -> Result<RuntimeContainerStatus, String> {
    wait_for(runtime, id, "exited", |s| s.state.is_exited()).await
}

/// Reads a log stream to its end (for at most [`STATE_WAIT`]).
async fn read_logs(
    runtime: &dyn Runtime,
    id: &ContainerId,
    options: LogOptions,
) -> Result<String, String> {
    let mut stream = runtime.logs(id, options).await.step("logs")?;
    let mut out = Vec::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.step("log chunk")?);
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(STATE_WAIT, read).await {
        Ok(result) => result?,
        Err(_) => return Err(format!("the log stream did not end within {STATE_WAIT:?}")),
    }
    String::from_utf8(out).map_err(|e| format!("log is not UTF-8: {e}"))
}
