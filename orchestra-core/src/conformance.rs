//! The harness every conformance kit runs on: `orchestra_store::testing` checks a
//! [`Store`], `orchestra_runtime::testing` a [`Runtime`], and a kit of yours can check
//! anything else the same way.
//!
//! A kit is a list of [`Case`]s over a subject type `S` (`Arc<dyn Store>`, a
//! `Client`, …) and a name. [`run`] takes the cases a filter selects and runs each one
//! against a fresh subject from a [`SubjectBuilder`], on its own task with a time limit,
//! so a panic or a hang fails that case alone. It never stops at the first failure: it
//! returns a [`Report`] of every case, which a test ends with
//! [`assert_passed`](Report::assert_passed) and a test of a deliberately broken subject
//! reads instead.
//!
//! Each case body gets, beside its subject, a [`CaseEnv`]: a name no other run and no
//! other case uses, from which a kit derives the room its case works in (a key prefix,
//! a namespace), so runs against one shared backend stay apart.
//!
//! ```no_run
//! use orchestra_core::conformance::{self, Case, CaseEnv, CaseResult, Report};
//!
//! async fn doubles(n: u64, env: CaseEnv) -> CaseResult {
//!     orchestra_core::conformance_ensure_eq!(n * 2, n + n, "doubling in {}", env.name());
//!     Ok(())
//! }
//!
//! fn cases() -> Vec<Case<u64>> {
//!     vec![Case::new("doubles", "twice n is n plus n", |n, env| {
//!         Box::pin(doubles(n, env))
//!     })]
//! }
//!
//! # async fn doc() {
//! let report: Report = conformance::run("counter", cases(), || async { 41 }, |_| true).await;
//! report.assert_passed();
//! # }
//! ```
//!
//! [`Store`]: crate::Store
//! [`Runtime`]: crate::Runtime

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;

/// What a case body returns: `Err` says what was expected and what happened.
pub type CaseResult = Result<(), String>;

/// A case body, or a case's cleanup: it gets the subject and the case's environment.
pub type CaseBody<S> = fn(S, CaseEnv) -> BoxFuture<'static, CaseResult>;

/// How long a case may run when its kit sets no other limit.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The longest [`CaseEnv::dns_label`], as a DNS-1123 label allows.
pub const DNS_LABEL_MAX: usize = 63;

/// One conformance case: a named check of one contract of a subject `S`.
pub struct Case<S> {
    name: &'static str,
    checks: &'static str,
    time_limit: Duration,
    body: CaseBody<S>,
    cleanup: Option<CaseBody<S>>,
}

// By hand: a derive would ask `S: Clone`, but a case holds no `S`.
impl<S> Clone for Case<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Case<S> {}

impl<S> fmt::Debug for Case<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("checks", &self.checks)
            .field("time_limit", &self.time_limit)
            .finish()
    }
}

impl<S> Case<S> {
    /// A case named `name` (unique in its kit; it starts the messages of its failures)
    /// that checks the contract `checks` describes in one sentence, by running `body`.
    /// It may run for [`DEFAULT_TIME_LIMIT`].
    pub fn new(name: &'static str, checks: &'static str, body: CaseBody<S>) -> Self {
        Case {
            name,
            checks,
            time_limit: DEFAULT_TIME_LIMIT,
            body,
            cleanup: None,
        }
    }

    /// Fails the case once its body has run for `limit`.
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Runs `cleanup` after the body, whether the body passed, failed, panicked or ran
    /// out of time, with the same subject and environment: for subjects that keep what a
    /// case made after the case is gone (real processes, a shared backend). A cleanup
    /// that fails fails the case too, and has the same time limit.
    #[must_use]
    pub fn cleanup(mut self, cleanup: CaseBody<S>) -> Self {
        self.cleanup = Some(cleanup);
        self
    }

    /// The case's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The contract the case checks, in one sentence.
    pub fn checks(&self) -> &'static str {
        self.checks
    }

    /// How long the case may run.
    pub fn limit(&self) -> Duration {
        self.time_limit
    }
}

/// Builds a fresh subject for each case.
///
/// Closures returning a future implement it, so `|| async { MemoryStore::new() }` is a
/// builder of `MemoryStore`s.
#[async_trait]
pub trait SubjectBuilder<S>: Send + Sync {
    /// Builds the subject of one case.
    async fn build(&self) -> S;
}

#[async_trait]
impl<S, F, Fut> SubjectBuilder<S> for F
where
    S: Send + 'static,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
{
    async fn build(&self) -> S {
        self().await
    }
}

/// What one case of one run works in: a name that no other case of the run and no
/// other run (in this process or another) has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseEnv {
    run: Arc<str>,
    case: &'static str,
    ordinal: usize,
    name: String,
}

impl CaseEnv {
    fn new(run: Arc<str>, case: &'static str, ordinal: usize) -> Self {
        let name = format!("{run}/{case}");
        CaseEnv {
            run,
            case,
            ordinal,
            name,
        }
    }

    /// `<run>/<case>`: the run's token and the case's name. The store kit writes under
    /// `/conformance/<run>/<case>/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token of the run, the same for every case of one [`run`]; lowercase letters,
    /// digits and `-`.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The case's name.
    pub fn case(&self) -> &'static str {
        self.case
    }

    /// The name as a DNS-1123 label (lowercase letters, digits and `-`, starting and
    /// ending with a letter or digit, at most [`DNS_LABEL_MAX`] characters), for a kit
    /// that names an object after its case, such as a namespace.
    ///
    /// It is the case's name with `_` and other characters a label forbids turned into
    /// `-`, cut short where it must be, then the run's token and the case's place in the
    /// run: no two cases of one run and no two runs share a label, however long their
    /// names.
    pub fn dns_label(&self) -> String {
        let suffix = format!("-{}-{}", self.run, self.ordinal);
        let mut slug: String = self
            .case
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9') => c,
                _ => '-',
            })
            .collect();
        slug.truncate(DNS_LABEL_MAX.saturating_sub(suffix.len()));
        let slug = slug.trim_matches('-');
        let slug = if slug.is_empty() { "case" } else { slug };
        format!("{slug}{suffix}")
    }
}

/// What a run of a kit found: which of the cases its filter selected passed, and which
/// failed and why.
///
/// A run that selected no case is no success: a selection that runs nothing must not
/// pass as green.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a report fails no test by itself: end the run with `.assert_passed()`"]
pub struct Report {
    kit: String,
    passed: Vec<&'static str>,
    failed: Vec<CaseFailure>,
}

/// One failed case of a [`Report`]: its name and why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFailure {
    case: &'static str,
    reason: String,
}

impl CaseFailure {
    /// The failed case's name.
    pub fn case(&self) -> &'static str {
        self.case
    }

    /// Why it failed: what was expected and what happened, that it panicked, or that it
    /// ran out of time.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// `case: reason`.
impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.case, self.reason)
    }
}

impl Report {
    /// The kit that ran.
    pub fn kit(&self) -> &str {
        &self.kit
    }

    /// The names of the cases that passed, in the order they ran.
    pub fn passed(&self) -> &[&'static str] {
        &self.passed
    }

    /// The cases that failed, in the order they ran.
    pub fn failed(&self) -> &[CaseFailure] {
        &self.failed
    }

    /// The names of the cases that failed, in the order they ran.
    pub fn failed_cases(&self) -> Vec<&'static str> {
        self.failed.iter().map(CaseFailure::case).collect()
    }

    /// How many cases ran.
    pub fn selected(&self) -> usize {
        self.passed.len() + self.failed.len()
    }

    /// Whether at least one case ran and every case passed.
    pub fn is_success(&self) -> bool {
        self.selected() > 0 && self.failed.is_empty()
    }

    /// Ends a test on this report.
    ///
    /// # Panics
    ///
    /// If a case failed, with a message naming every failed case and why
    /// (`store conformance: 2 of 29 cases failed:\n- case: why\n- …`), or if no case
    /// ran.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.is_success(), "{self}");
    }
}

/// One line for a success (`store conformance: all 29 cases passed`), and a line per
/// failed case otherwise.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kit = &self.kit;
        if self.selected() == 0 {
            return write!(f, "{kit} conformance: the filter selected no case");
        }
        if self.failed.is_empty() {
            return write!(f, "{kit} conformance: all {} cases passed", self.selected());
        }
        write!(
            f,
            "{kit} conformance: {} of {} cases failed:",
            self.failed.len(),
            self.selected()
        )?;
        for failure in &self.failed {
            write!(f, "\n- {failure}")?;
        }
        Ok(())
    }
}

/// Runs the `cases` of the kit `kit` that `filter` accepts, one after another, each
/// against a fresh subject from `builder`, and reports on all of them.
///
/// Each case runs isolated ([`run_isolated`]) within its time limit, then its cleanup,
/// if it has one. A builder that panics ends the whole run: it is the test's setup that
/// is broken, not a case.
pub async fn run<S, B>(
    kit: &str,
    cases: Vec<Case<S>>,
    builder: B,
    filter: impl Fn(&Case<S>) -> bool,
) -> Report
where
    S: Clone + Send + 'static,
    B: SubjectBuilder<S>,
{
    let run = run_token();
    let mut report = Report {
        kit: kit.to_owned(),
        passed: Vec::new(),
        failed: Vec::new(),
    };
    let selected = cases.into_iter().filter(|case| filter(case));
    for (ordinal, case) in selected.enumerate() {
        let subject = builder.build().await;
        let env = CaseEnv::new(run.clone(), case.name, ordinal);
        let outcome =
            run_isolated(case.time_limit, (case.body)(subject.clone(), env.clone())).await;
        let cleanup = match case.cleanup {
            Some(cleanup) => run_isolated(case.time_limit, cleanup(subject, env))
                .await
                .map_err(|why| format!("cleanup: {why}")),
            None => Ok(()),
        };
        match outcome.and(cleanup) {
            Ok(()) => report.passed.push(case.name),
            Err(reason) => report.failed.push(CaseFailure {
                case: case.name,
                reason,
            }),
        }
    }
    report
}

/// Runs one case body on its own task. A body that panics or runs longer than `limit`
/// fails, with a message saying so, like one that returns `Err`.
pub async fn run_isolated<F>(limit: Duration, body: F) -> CaseResult
where
    F: Future<Output = CaseResult> + Send + 'static,
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}

/// A token that keeps runs apart, even against one shared backend: the process, the
/// time the run started, and a counter, in base 36 to leave a DNS label room for the
/// case's name.
fn run_token() -> Arc<str> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let token = format!(
        "{}-{}-{}",
        base36(u128::from(std::process::id())),
        base36(nanos),
        base36(u128::from(NEXT.fetch_add(1, Ordering::Relaxed)))
    );
    token.into()
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("base-36 digits are ASCII")
}

/// Fails a case with a formatted message unless the condition holds (for case bodies
/// returning [`CaseResult`]).
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
    use std::sync::Mutex;

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

    /// The subject of a toy kit: it records where each case ran and what was cleaned
    /// up.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Log {
        fn push(&self, entry: String) {
            self.0.lock().unwrap().push(entry);
        }
        fn entries(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    fn kit() -> Vec<Case<Log>> {
        vec![
            Case::new("passes", "nothing", |log, env| {
                Box::pin(async move {
                    log.push(format!("ran {}", env.name()));
                    Ok(())
                })
            }),
            Case::new("fails", "an error", |_, _| {
                Box::pin(async { Err("expected 1, got 2".to_owned()) })
            }),
            Case::new("panics", "a panic", |_, _| {
                Box::pin(async { panic!("boom") })
            }),
            Case::new("hangs", "a hang", |_, _| Box::pin(std::future::pending()))
                .time_limit(Duration::from_millis(50))
                .cleanup(|log, env| {
                    Box::pin(async move {
                        log.push(format!("cleaned {}", env.case()));
                        Ok(())
                    })
                }),
            Case::new("cleanup_fails", "a cleanup that fails", |_, _| {
                Box::pin(async { Ok(()) })
            })
            .cleanup(|_, _| Box::pin(async { Err("left a process".to_owned()) })),
        ]
    }

    #[tokio::test]
    async fn a_run_reports_every_case_and_never_stops_at_the_first_failure() {
        let log = Log::default();
        let built = AtomicU64::new(0);
        let report = run(
            "toy",
            kit(),
            || async {
                built.fetch_add(1, Ordering::Relaxed);
                log.clone()
            },
            |_| true,
        )
        .await;
        assert_eq!(built.load(Ordering::Relaxed), 5, "a fresh subject per case");
        assert_eq!(report.kit(), "toy");
        assert_eq!(report.passed(), ["passes"]);
        assert_eq!(
            report.failed_cases(),
            ["fails", "panics", "hangs", "cleanup_fails"]
        );
        let reasons: Vec<&str> = report.failed().iter().map(CaseFailure::reason).collect();
        assert_eq!(reasons[0], "expected 1, got 2");
        assert_eq!(reasons[1], "panicked: boom");
        assert!(
            reasons[2].starts_with("did not finish within"),
            "{reasons:?}"
        );
        assert_eq!(reasons[3], "cleanup: left a process");
        assert!(!report.is_success());

        let entries = log.entries();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries[0].starts_with("ran ") && entries[0].ends_with("/passes"));
        assert_eq!(
            entries[1], "cleaned hangs",
            "a case that hangs is cleaned up"
        );
    }

    #[tokio::test]
    async fn the_filter_picks_the_cases_and_an_empty_selection_is_no_success() {
        let report = run(
            "toy",
            kit(),
            || async { Log::default() },
            |c| c.name() == "passes",
        )
        .await;
        assert!(report.is_success());
        assert_eq!(report.to_string(), "toy conformance: all 1 cases passed");
        report.assert_passed();

        let none = run("toy", kit(), || async { Log::default() }, |_| false).await;
        assert!(!none.is_success());
        assert_eq!(
            none.to_string(),
            "toy conformance: the filter selected no case"
        );
    }

    #[tokio::test]
    #[should_panic(
        expected = "toy conformance: 2 of 3 cases failed:\n- fails: expected 1, got 2\n- panics: panicked: boom"
    )]
    async fn a_failed_run_names_its_failures() {
        run(
            "toy",
            kit(),
            || async { Log::default() },
            |c| ["passes", "fails", "panics"].contains(&c.name()),
        )
        .await
        .assert_passed();
    }

    #[tokio::test]
    #[should_panic(expected = "toy conformance: the filter selected no case")]
    async fn an_empty_selection_fails_the_test() {
        run("toy", kit(), || async { Log::default() }, |_| false)
            .await
            .assert_passed();
    }

    #[tokio::test]
    async fn every_case_of_every_run_has_its_own_name_and_label() {
        fn record(log: Log, env: CaseEnv) -> BoxFuture<'static, CaseResult> {
            Box::pin(async move {
                log.push(format!("{} {}", env.name(), env.dns_label()));
                Ok(())
            })
        }
        let long = "a_case_whose_name_is_far_too_long_for_a_dns_label_on_its_own_Ab";
        let cases = vec![
            Case::new("crud_create", "", record as CaseBody<Log>),
            Case::new(long, "", record),
            // The same long name cut short the same way still gets its own label.
            Case::new(long, "", record),
            Case::new("__", "", record),
        ];
        let log = Log::default();
        for _ in 0..2 {
            run("toy", cases.clone(), || async { log.clone() }, |_| true)
                .await
                .assert_passed();
        }
        let entries = log.entries();
        let (names, labels): (Vec<&str>, Vec<&str>) =
            entries.iter().map(|e| e.split_once(' ').unwrap()).unzip();
        let mut unique_labels = labels.clone();
        unique_labels.sort_unstable();
        unique_labels.dedup();
        assert_eq!(unique_labels.len(), 8, "{labels:?}");
        for label in &labels {
            crate::validation::validate_dns1123_label(label)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(label.len() <= DNS_LABEL_MAX);
        }
        assert!(labels[0].starts_with("crud-create-"), "{}", labels[0]);
        assert!(labels[3].starts_with("case-"), "{}", labels[3]);
        let (run, case) = names[0].split_once('/').unwrap();
        assert_eq!(case, "crud_create");
        assert!(names[4].split_once('/').unwrap().0 != run, "runs differ");
    }
}
