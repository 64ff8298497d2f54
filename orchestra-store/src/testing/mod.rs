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
//! testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> })
//!     .await
//!     .assert_passed();
//!
//! // A backend that documents a case as unsupported skips it by name:
//! testing::run_selected(
//!     || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
//!     |case| case.name() != "compaction_bounds",
//! )
//! .await
//! .assert_passed();
//! # }
//! ```
//!
//! [`run_all`] runs every case in [`cases()`], one after another, each against a fresh
//! store from the builder (any [`SubjectBuilder`], such as a closure returning a
//! future). It does not stop at the first failure: it returns a [`Report`] of every
//! case, and [`Report::assert_passed`] fails the test naming every failed case and why.
//! The cases run on the harness of [`orchestra_core::conformance`].
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
//!
//! Beside the suite lives [`InterceptedStore`], the store wrapper for tests of the code
//! above a store: it fails, holds up, rewrites or counts the calls its hooks pick, runs
//! a competing write before one, and can be cut off as by a partition.

#[cfg(feature = "etcd")]
mod etcd_process;
#[cfg(feature = "etcd")]
pub use etcd_process::{EtcdCluster, EtcdMember, etcd_installed};
mod compaction;
mod concurrency;
mod crud;
mod expected;
mod intercept;
mod list;
mod watch;

pub use intercept::{EventVerdict, InterceptedStore, StoreCall, StoreOp, Verdict};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use orchestra_core::conformance::{self, CaseEnv, CaseResult};
pub use orchestra_core::conformance::{Case, CaseFailure, Report, SubjectBuilder};
use orchestra_core::{Store, StoreError};
use orchestra_core::{conformance_ensure as ensure, conformance_ensure_eq as ensure_eq};

/// How long a case waits for one watch event before it fails.
pub const WATCH_WAIT: Duration = Duration::from_secs(10);

/// How long one case may run in total before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// A store conformance case.
pub type StoreCase = Case<Arc<dyn Store>>;

/// A case of `module::function`, named `module_function`, writing under its prefix.
macro_rules! case {
    ($module:ident :: $function:ident, $checks:literal) => {
        Case::new(
            concat!(stringify!($module), "_", stringify!($function)),
            $checks,
            |store, env| Box::pin($module::$function(store, prefix(&env))),
        )
        .time_limit(CASE_TIMEOUT)
    };
}

/// Every case, in the order [`run_all`] runs them. Each name starts with its area
/// (`crud_`, `concurrency_`, `list_`, `watch_`, `compaction_`).
pub fn cases() -> Vec<StoreCase> {
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

/// Runs every case against stores from `builder`, and reports on each.
///
/// Each store the builder makes should be empty; on a shared backend it is enough that
/// nothing is under the case's prefix, and the suite picks prefixes no earlier run used.
pub async fn run_all<B: SubjectBuilder<Arc<dyn Store>>>(builder: B) -> Report {
    run_selected(builder, |_| true).await
}

/// Runs the cases `filter` accepts against stores from `builder`, and reports on each;
/// for a backend that documents a case as unsupported. A filter that accepts no case
/// makes a report that is no success.
pub async fn run_selected<B: SubjectBuilder<Arc<dyn Store>>>(
    builder: B,
    filter: impl Fn(&StoreCase) -> bool,
) -> Report {
    conformance::run("store", cases(), builder, filter).await
}

/// The case's prefix, `/conformance/<run>/<case>/`: no other case and no other run
/// writes under it.
fn prefix(env: &CaseEnv) -> String {
    format!("/conformance/{}/", env.name())
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
