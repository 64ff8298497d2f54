//! What the conformance kits share: `orchestra_store::testing` checks a [`Store`],
//! `orchestra_runtime::testing` a [`Runtime`], and both run their cases the same way —
//! each on its own task with a time limit, so a panic or a hang fails that case alone —
//! and report a run the same way.
//!
//! [`Store`]: crate::Store
//! [`Runtime`]: crate::Runtime

use std::future::Future;
use std::time::Duration;

/// Runs one case body on its own task. A body that panics or runs longer than `limit`
/// fails, with a message saying so, like one that returns `Err`.
pub async fn run_isolated<F>(limit: Duration, body: F) -> Result<(), String>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut task = tokio::spawn(body);
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => Err(match join_error.try_into_panic() {
            Ok(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
            Err(join_error) => format!("its task failed: {join_error}"),
        }),
        Err(_) => {
            task.abort();
            Err(format!("did not finish within {limit:?}"))
        }
    }
}

/// Checks that a filter left `selected` cases of `kit` to run.
///
/// # Panics
///
/// If it left none: a selection that runs nothing must not pass as green.
pub fn assert_selected(kit: &str, selected: usize) {
    assert!(
        selected > 0,
        "{kit} conformance: the filter selected no case"
    );
}

/// Ends a run of `selected` cases of `kit`.
///
/// # Panics
///
/// If any case failed: the message names every failed case and why.
pub fn assert_passed(kit: &str, selected: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{kit} conformance: {} of {selected} cases failed:\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}

/// Fails a case with a formatted message unless the condition holds (for case bodies
/// returning `Result<(), String>`).
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// Fails a case unless `got == want`, saying what was expected and what came.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_ensure_eq {
    ($got:expr, $want:expr, $($message:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err(format!(
                        "{}: expected {:?}, got {:?}",
                        format_args!($($message)+),
                        want,
                        got
                    ));
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_a_hang_and_an_error_each_fail_their_case() {
        assert_eq!(
            run_isolated(Duration::from_secs(5), async { Ok(()) }).await,
            Ok(())
        );
        let panicked = run_isolated(Duration::from_secs(5), async { panic!("boom") }).await;
        assert_eq!(panicked, Err("panicked: boom".to_owned()));
        let hung = run_isolated(Duration::from_millis(10), std::future::pending()).await;
        assert!(hung.unwrap_err().starts_with("did not finish within"));
        let failed = run_isolated(Duration::from_secs(5), async { Err("no".to_owned()) }).await;
        assert_eq!(failed, Err("no".to_owned()));
    }

    #[test]
    #[should_panic(expected = "store conformance: 1 of 3 cases failed:\n- a: why")]
    fn a_failed_run_names_its_failures() {
        assert_passed("store", 3, &["a: why".to_owned()]);
    }
}
