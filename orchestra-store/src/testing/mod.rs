//! The Store conformance suite: one call that holds a [`Store`] implementation to every
//! contract written on the trait.
//!
//! Every backend runs it — `MemoryStore` here, and later stores on disk and on etcd —
//! and so can yours:
//!
//! ```no_run
//! use std::sync::Arc;
//! use orchestra_core::Store;
//! use orchestra_store::{MemoryStore, testing};
//!
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
//! }
//! ```
//!
//! Each case gets a fresh store from the builder and writes only under its own prefix
//! (`/conformance/<case>/`), and never assumes absolute revision numbers or an
//! otherwise empty store, so a shared backend such as an etcd cluster can run it too.
//! Waits are bounded: a watch that delivers nothing fails its case after ten seconds
//! instead of hanging.

mod cases_compaction;
mod cases_crud;
mod cases_list;
mod cases_watch;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::Store;

/// Builds a fresh store for each case.
pub trait StoreBuilder: Send + Sync {
    /// A store to run one case against.
    fn build(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send + '_>>;
}

impl<F, Fut> StoreBuilder for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Store>> + Send + 'static,
{
    fn build(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send + '_>> {
        Box::pin(self())
    }
}

/// What a case returns: `Err` with what was expected and what happened.
pub type CaseResult = Result<(), String>;

type CaseFn = fn(Arc<dyn Store>, String) -> Pin<Box<dyn Future<Output = CaseResult> + Send>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// The case's name, e.g. `crud_create_get`.
    pub name: &'static str,
    /// The contract it checks.
    pub checks: &'static str,
    run: CaseFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

macro_rules! case {
    ($name:ident, $checks:literal, $module:ident) => {
        Case {
            name: stringify!($name),
            checks: $checks,
            run: |store, prefix| Box::pin($module::$name(store, prefix)),
        }
    };
}

/// Every case, in the order `run_all` runs them.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            create_then_get,
            "create returns version 1 at a new revision; get returns it",
            cases_crud
        ),
        case!(
            create_existing_fails,
            "create on an existing key is AlreadyExists and changes nothing",
            cases_crud
        ),
        case!(
            guarded_update,
            "update bumps version and mod_revision; a stale guard is Conflict with the current revision",
            cases_crud
        ),
        case!(
            missing_keys,
            "get of a missing key is None; update and delete of one are NotFound",
            cases_crud
        ),
        case!(
            guarded_delete,
            "delete returns the last state; a wrong guard is Conflict and keeps the key",
            cases_crud
        ),
        case!(
            recreate_starts_over,
            "a deleted and re-created key has version 1 and a new create_revision",
            cases_crud
        ),
        case!(empty_key_is_invalid, "an empty key is Invalid", cases_crud),
        case!(
            revisions_increase,
            "every write's revision is greater than the last; current_revision follows",
            cases_crud
        ),
        case!(
            update_race_one_winner,
            "of many updates racing with one guard, exactly one wins per revision",
            cases_crud
        ),
        case!(
            create_race_one_winner,
            "of many creates of one key, exactly one wins",
            cases_crud
        ),
        case!(
            list_is_ordered_and_consistent,
            "list is in key order and a snapshot at a past revision is exact",
            cases_list
        ),
        case!(
            list_paging,
            "limit and start_after page through every key once, with `more` right",
            cases_list
        ),
        case!(
            list_bad_revisions,
            "list at a future revision is FutureRevision",
            cases_list
        ),
        case!(
            prefix_isolation,
            "prefixes match bytewise: `/a/b/` excludes `/a/bc`, `/a/b` includes it",
            cases_list
        ),
        case!(
            watch_sees_changes_in_order,
            "watch yields Put and Delete events in revision order",
            cases_watch
        ),
        case!(
            watch_from_list_revision,
            "watching after a list's revision misses nothing and repeats nothing",
            cases_watch
        ),
        case!(
            watch_replays_history,
            "watching from a past revision replays exactly the history after it",
            cases_watch
        ),
        case!(
            watch_concurrent_writers,
            "watchers see every revision of their prefix exactly once, in order, under concurrent writers",
            cases_watch
        ),
        case!(
            watch_prefix_isolation,
            "a watch sees only its prefix",
            cases_watch
        ),
        case!(
            watch_dropped_is_harmless,
            "dropping a watch stream does not disturb the store or other watches",
            cases_watch
        ),
        case!(
            compaction_keeps_current_state,
            "compaction keeps the current state and reads at or after its point",
            cases_compaction
        ),
        case!(
            compacted_reads_fail,
            "reads and watches before the compaction point are Compacted",
            cases_compaction
        ),
        case!(
            compaction_bounds,
            "compacting backwards is a no-op; beyond the current revision is FutureRevision",
            cases_compaction
        ),
    ]
}

/// Runs every case against stores from `builder`, and panics with a report naming every
/// failed case and why.
pub async fn run_all<B: StoreBuilder>(builder: B) {
    run_selected(builder, |_| true).await;
}

/// Runs the cases `filter` accepts (for a backend that documents a case as
/// unsupported), and panics with a report naming every failed case and why.
pub async fn run_selected<B: StoreBuilder>(builder: B, filter: impl Fn(&Case) -> bool) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases().into_iter().filter(|c| filter(c)) {
        ran += 1;
        let store = builder.build().await;
        let prefix = format!("/conformance/{}/{}/", case.name, unique());
        let outcome =
            tokio::time::timeout(Duration::from_secs(60), (case.run)(store, prefix)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!(
                "{}: {why}\n    (checks: {})",
                case.name, case.checks
            )),
            Err(_) => failures.push(format!("{}: did not finish within 60 s", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} store conformance cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// A token that keeps two runs against one shared backend apart.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fails with `message` unless `cond`.
fn ensure(cond: bool, message: impl FnOnce() -> String) -> CaseResult {
    if cond { Ok(()) } else { Err(message()) }
}

/// A key under the case's prefix.
fn key(prefix: &str, name: &str) -> Vec<u8> {
    format!("{prefix}{name}").into_bytes()
}

/// A value.
fn val(s: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(s.as_bytes())
}

/// Turns a store error into a case failure naming the step.
fn step<T>(what: &str, r: Result<T, orchestra_core::StoreError>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

/// How long a case waits for one watch event.
const WATCH_WAIT: Duration = Duration::from_secs(10);
