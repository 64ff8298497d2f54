//! Cases on container logs: what was written, argument by argument, tails, and
//! following.

use std::sync::Arc;

use orchestra_core::runtime::{LogOptions, Runtime};

use super::lifecycle::output_of;
use super::{CaseResult, Pod, Step, ensure, ensure_eq, read_logs, wait_running};

pub(super) async fn echo_output(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    // Characters a shell would act on must arrive as they are: there is no shell.
    let literal = "a; $(touch /nonexistent/x) `id` * $HOME";
    let (_, text) = output_of(&*runtime, &pod, "echo", &["hello", literal]).await?;
    ensure_eq!(text, format!("hello {literal}\n"), "log of echo");
    Ok(())
}

pub(super) async fn argument_boundaries(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    // `echo` cannot tell `["a b"]` from `["a", "b"]`; `printf` repeats its format for
    // every argument, so each one comes back bracketed on its own line. Args joined
    // into one, split at spaces, trimmed or with empty ones dropped all read
    // differently. The format's `\n` is printf's to interpret, not the runtime's.
    let args = [r"[%s]\n", "a b", "", " c ", "d"];
    let (_, text) = output_of(&*runtime, &pod, "printf", &args).await?;
    ensure_eq!(
        text,
        "[a b]\n[]\n[ c ]\n[d]\n",
        "log of printf {args:?}, one line per argument"
    );
    Ok(())
}

pub(super) async fn tail(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let (id, text) = output_of(&*runtime, &pod, "echo", &["one\ntwo\nthree"]).await?;
    ensure_eq!(text, "one\ntwo\nthree\n", "whole log");
    let last_two = read_logs(&*runtime, &id, LogOptions::default().tail(2)).await?;
    ensure_eq!(last_two, "two\nthree\n", "tail(2)");
    let many = read_logs(&*runtime, &id, LogOptions::default().tail(10)).await?;
    ensure_eq!(many, "one\ntwo\nthree\n", "tail(10) of three lines");
    let none = read_logs(&*runtime, &id, LogOptions::default().tail(0)).await?;
    ensure_eq!(none, "", "tail(0)");
    Ok(())
}

pub(super) async fn follow_ends_on_exit(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "echo", "echo", &["followed"]).await?;
    let text = read_logs(&*runtime, &id, LogOptions::default().follow(true)).await?;
    ensure_eq!(text, "followed\n", "followed log of echo");

    let id = pod.start(&*runtime, "sleeper", "sleep", &["1"]).await?;
    wait_running(&*runtime, &id).await?;
    let text = read_logs(&*runtime, &id, LogOptions::default().follow(true)).await?;
    ensure_eq!(text, "", "followed log of a silent sleep");
    let status = runtime.container_status(&id).await.step("status")?;
    ensure!(
        status.state.is_exited(),
        "the followed stream ended while the container is {:?}",
        status.state
    );
    Ok(())
}
