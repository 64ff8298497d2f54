//! The Store conformance suite: one call that holds a [`Store`] implementation to every
//! contract written on the trait's methods.
//!
//! Every backend runs it — [`MemoryStore`](crate::MemoryStore), stores on disk and on
//! etcd, and yours — from one test:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use orchestra_core::Store;
//! use orchestra_store::{MemoryStore, testing};
//!
//! # async fn doc() {
//! // In a `#[tokio::test(flavor = "multi_thread")]`, so the race cases really race:
//! testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
//!
//! // A backend that documents a case as unsupported skips it by name:
//! testing::run_selected(
//!     || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
//!     |case| case.name() != "compaction_bounds",
//! )
//! .await;
//! # }
//! ```
//!
//! [`run_all`] runs every case in [`cases()`], one after another, each against a fresh
//! store from the [`StoreBuilder`]. It does not stop at the first failure: it panics at
//! the end with a report naming every failed case and why.
//!
//! What the suite assumes, so that a shared backend (an etcd cluster that also holds
//! other data) can run it too:
//!
//! - Each case writes only under its own prefix, `/conformance/<run>/<case>/`, where
//!   `<run>` differs between runs, so leftovers of an earlier run do not matter.
//! - No case assumes absolute revision numbers or an otherwise empty store: it only
//!   compares revisions with each other, and allows `current_revision` to be ahead of
//!   its own last write.
//! - The compaction cases do compact the whole store; skip the cases whose names start
//!   with `compaction_` on a backend whose other data must keep its history.
//!
//! Every case is bounded in time: a watch that stays silent fails its case after
//! [`WATCH_WAIT`], and a whole case after [`CASE_TIMEOUT`], with a message saying what
//! it was waiting for. Run the suite in real time, not paused tokio time: with paused
//! time those timeouts would fire as soon as a networked backend waits on I/O.

#[cfg(feature = "etcd")]
mod etcd_process;
#[cfg(feature = "etcd")]
pub use etcd_process::{EtcdCluster, EtcdMember, etcd_installed};
mod compaction;
mod concurrency;
mod crud;
mod expected;
mod list;
mod watch;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use orchestra_core::conformance::{assert_passed, assert_selected, run_isolated};
use orchestra_core::{Store, StoreError};
use orchestra_core::{conformance_ensure as ensure, conformance_ensure_eq as ensure_eq};

/// How long a case waits for one watch event before it fails.
pub const WATCH_WAIT: Duration = Duration::from_secs(10);

/// How long one case may run in total before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds a fresh, empty store for each test case.
///
/// "Empty" may be relaxed for a shared backend: the suite only needs the case's own
/// prefix to be unused, and picks prefixes no earlier run used.
///
/// Closures returning a future implement it, so
/// `|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }` is a builder.
#[async_trait]
pub trait StoreBuilder: Send + Sync {
    /// Builds the store for one case.
    async fn build(&self) -> Arc<dyn Store>;
}

#[async_trait]
impl<F, Fut> StoreBuilder for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Store>> + Send,
{
    async fn build(&self) -> Arc<dyn Store> {
        self().await
    }
}

/// What a case body returns: `Err` says what was expected and what happened.
type CaseResult = Result<(), String>;

/// A case body: the store and the case's key prefix.
type CaseFn = fn(Arc<dyn Store>, String) -> BoxFuture<'static, CaseResult>;

/// One conformance case: a named check of one contract of [`Store`].
#[derive(Clone, Copy)]
pub struct Case {
    name: &'static str,
    checks: &'static str,
    body: CaseFn,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("checks", &self.checks)
            .finish()
    }
}

impl Case {
    /// The case's name, such as `crud_create_new_key`; it starts with the area
    /// (`crud_`, `concurrency_`, `list_`, `watch_`, `compaction_`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The contract the case checks, in one sentence.
    pub fn checks(&self) -> &'static str {
        self.checks
    }

    /// Runs the case against `store`, writing under a prefix no other run uses.
    ///
    /// Returns `Err` with a message that starts with the case's name and says what was
    /// expected and what happened. A panic inside the case or the store, and a case that
    /// runs longer than [`CASE_TIMEOUT`], are failures too.
    pub async fn run(&self, store: Arc<dyn Store>) -> Result<(), String> {
        let prefix = format!("/conformance/{}/{}/", run_id(), self.name);
        // Its own task, so a panic in the store or the case becomes a failure of this
        // case instead of aborting the whole run.
        let outcome = run_isolated(CASE_TIMEOUT, (self.body)(store, prefix)).await;
        outcome.map_err(|why| format!("{}: {why}", self.name))
    }
}

macro_rules! case {
    ($module:ident :: $function:ident, $checks:literal) => {
        Case {
            name: concat!(stringify!($module), "_", stringify!($function)),
            checks: $checks,
            body: |store, prefix| Box::pin($module::$function(store, prefix)),
        }
    };
}

/// Every case, in the order [`run_all`] runs them.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            crud::create_new_key,
            "create returns version 1 with create_revision == mod_revision above every earlier revision"
        ),
        case!(
            crud::create_existing_key,
            "create of an existing key is AlreadyExists and changes nothing"
        ),
        case!(
            crud::missing_key,
            "get of a missing key is None; update and delete of it are NotFound"
        ),
        case!(
            crud::update_with_current_revision,
            "update bumps version and mod_revision and keeps create_revision"
        ),
        case!(
            crud::update_with_stale_revision,
            "a stale update is Conflict carrying the current mod_revision, and changes nothing"
        ),
        case!(
            crud::delete_returns_previous_state,
            "delete returns the state just before it and removes the key"
        ),
        case!(
            crud::guarded_delete_with_wrong_revision,
            "a delete with a wrong guard is Conflict and keeps the key"
        ),
        case!(
            crud::recreate_after_delete,
            "a deleted and re-created key starts again at version 1 with a new create_revision"
        ),
        case!(
            crud::empty_key_is_invalid,
            "an empty key is rejected with Invalid"
        ),
        case!(
            crud::values_round_trip_exactly,
            "values of every size and shape (empty, binary, near-identical documents) read back byte for byte through create, get, list, watch and delete"
        ),
        case!(
            concurrency::revisions_strictly_increase,
            "every write takes a revision above every earlier one; current_revision keeps up"
        ),
        case!(
            concurrency::update_race_one_winner,
            "of many updates racing with the same guard, exactly one wins per revision"
        ),
        case!(
            concurrency::create_race_one_winner,
            "of many creates of one key, exactly one wins"
        ),
        case!(
            concurrency::delete_race_one_winner,
            "of many deletes of one key, exactly one wins; the rest are NotFound"
        ),
        case!(
            list::key_order,
            "list returns the prefix in ascending bytewise key order, as get sees it"
        ),
        case!(
            list::past_revision,
            "list at a past revision returns exactly the state at that revision"
        ),
        case!(
            list::future_revision,
            "list beyond the current revision is FutureRevision"
        ),
        case!(
            list::paging,
            "limit and start_after page through every key exactly once, with `more` right"
        ),
        case!(
            list::bytewise_prefix,
            "prefixes match bytewise: `/a/b/` excludes `/a/bc`, `/a/b` includes it, 0xff ends work"
        ),
        case!(
            watch::changes_in_order,
            "watch yields every change after its start, in revision order, with the right kvs"
        ),
        case!(
            watch::replays_history,
            "watching from a past revision replays exactly the history after it, then goes live"
        ),
        case!(
            watch::after_list_revision,
            "watching after a list's revision misses nothing and repeats nothing"
        ),
        case!(
            watch::concurrent_writers,
            "under concurrent writers every watcher sees each change of its prefix once, in order"
        ),
        case!(
            watch::prefix_isolation,
            "a watch sees only keys under its prefix, matched bytewise"
        ),
        case!(
            watch::dropped_streams,
            "dropping watch streams disturbs neither the store nor other watches"
        ),
        case!(
            compaction::keeps_current_state,
            "compaction keeps the current state, reads at its point and watches after it"
        ),
        case!(
            compaction::older_reads_fail,
            "list and watch before the compaction point are Compacted"
        ),
        case!(
            compaction::bounds,
            "compacting at or below the previous point is a no-op; beyond the current revision is FutureRevision"
        ),
        case!(
            compaction::lagging_watch,
            "a watch whose history is compacted away ends with Compacted, never a silent gap"
        ),
    ]
}

/// Runs every case against stores from `builder`.
///
/// # Panics
///
/// After running them all, if any case failed: the message names every failed case and
/// why.
pub async fn run_all<B: StoreBuilder>(builder: B) {
    run_selected(builder, |_| true).await;
}

/// Runs the cases `filter` accepts against stores from `builder`; for a backend that
/// documents a case as unsupported.
///
/// # Panics
///
/// After running them all, if any case failed (the message names every failed case and
/// why), or if `filter` accepted no case at all.
pub async fn run_selected<B: StoreBuilder>(builder: B, filter: impl Fn(&Case) -> bool) {
    let selected: Vec<Case> = cases().into_iter().filter(|case| filter(case)).collect();
    assert_selected("store", selected.len());
    let mut failures = Vec::new();
    for case in &selected {
        let store = builder.build().await;
        if let Err(why) = case.run(store).await {
            failures.push(why);
        }
    }
    assert_passed("store", selected.len(), &failures);
}

/// A token that keeps runs against one shared backend apart: the process, the time it
/// started, and a counter.
fn run_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// Helpers shared by the case modules.

/// A key under the case's prefix.
fn key(prefix: &str, name: &str) -> Bytes {
    Bytes::from(format!("{prefix}{name}"))
}

/// A key under the case's prefix, with raw bytes after it.
fn raw_key(prefix: &str, suffix: &[u8]) -> Bytes {
    let mut key = prefix.as_bytes().to_vec();
    key.extend_from_slice(suffix);
    Bytes::from(key)
}

/// A value.
fn value(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Turns an unexpected store error into a failure naming the step.
trait Step<T> {
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T> Step<T> for Result<T, StoreError> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: unexpected error {e:?}"))
    }
}

/// Renders a key for messages.
fn show(key: &[u8]) -> String {
    orchestra_core::store::display_key(key)
}
