//! The Store conformance suite against `MemoryStore`: every case, with default settings
//! (values compressed), with values kept as they are, and with a tiny automatic-compaction history (which the suite's cases must tolerate
//! only where the contract allows).

use std::sync::Arc;

use orchestra_core::Store;
use orchestra_store::{MemoryStore, MemoryStoreConfig, testing};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> })
        .await
        .assert_passed();
}

#[tokio::test]
async fn memory_store_passes_the_conformance_suite_on_one_thread() {
    testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> })
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_without_compression_passes_the_conformance_suite() {
    let config = MemoryStoreConfig::default().compression(false);
    testing::run_all(|| async {
        Arc::new(MemoryStore::with_config(config.clone())) as Arc<dyn Store>
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
fn the_suite_can_run_on_a_spawned_task() {
    fn assert_send<T: Send>(_: &T) {}
    let run = testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
    assert_send(&run);
}

#[tokio::test]
#[should_panic(expected = "the filter selected no case")]
async fn an_empty_selection_is_an_error() {
    testing::run_selected(
        || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
        |_| false,
    )
    .await
    .assert_passed();
}

/// The suite must catch broken stores, not just pass a good one: each fault below
/// breaks one contract of a `MemoryStore` (through `InterceptedStore`), and exactly
/// the cases for that contract must fail.
mod catches_broken_stores {
    use std::sync::Arc;

    use orchestra_core::{ListOptions, Store, StoreError};
    use orchestra_store::MemoryStore;
    use orchestra_store::testing::{self, EventVerdict, InterceptedStore, StoreCall, Verdict};

    #[derive(Clone, Copy)]
    enum Fault {
        /// Watches silently drop every change whose revision is a multiple of 7 (except
        /// to the suite's fence keys, so the failure shows without waiting out a timeout).
        WatchDropsEvents,
        /// Lists ignore the requested revision and read the current state.
        ListIgnoresRevision,
        /// Updates ignore their guard.
        UpdateIgnoresGuard,
        /// A watch from a compacted revision silently starts at the compaction point.
        WatchHidesCompaction,
    }

    /// A `MemoryStore` that breaks the contract `fault` names.
    fn faulty(fault: Fault) -> Arc<dyn Store> {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let store = InterceptedStore::new(inner.clone());
        let store = match fault {
            Fault::WatchDropsEvents => store.on_watch_event(|_, event| {
                if event.revision() % 7 == 0 && !event.key().ends_with(b"fence") {
                    EventVerdict::Drop
                } else {
                    EventVerdict::Deliver
                }
            }),
            Fault::ListIgnoresRevision => store.on_call(|call| match call {
                StoreCall::List { prefix, options } => {
                    let mut current = ListOptions::default();
                    current.limit = options.limit;
                    current.start_after = options.start_after.clone();
                    Verdict::Replace(StoreCall::List {
                        prefix: prefix.clone(),
                        options: current,
                    })
                }
                _ => Verdict::Pass,
            }),
            Fault::UpdateIgnoresGuard => store.on_call(move |call| match call {
                StoreCall::Update { key, value, .. } => {
                    let (inner, key, value) = (inner.clone(), key.clone(), value.clone());
                    Verdict::after(async move {
                        let current = match inner.get(&key).await {
                            Ok(Some(kv)) => kv.mod_revision,
                            Ok(None) => return Verdict::Fail(StoreError::not_found(&key)),
                            Err(e) => return Verdict::Fail(e),
                        };
                        // A gap between the read and the write, so racing updates all "win".
                        tokio::task::yield_now().await;
                        Verdict::Replace(StoreCall::Update {
                            key,
                            value,
                            expected: current,
                        })
                    })
                }
                _ => Verdict::Pass,
            }),
            Fault::WatchHidesCompaction => store.on_call(move |call| match call {
                StoreCall::Watch { prefix, after } => {
                    let (inner, prefix, after) = (inner.clone(), prefix.clone(), *after);
                    Verdict::after(async move {
                        match inner.compact_revision().await {
                            Ok(compacted) => Verdict::Replace(StoreCall::Watch {
                                prefix,
                                after: after.max(compacted),
                            }),
                            Err(e) => Verdict::Fail(e),
                        }
                    })
                }
                _ => Verdict::Pass,
            }),
        };
        Arc::new(store)
    }

    /// Runs the cases named in `cases` against a store with `fault` and checks that
    /// the report fails exactly those.
    async fn assert_caught(fault: Fault, cases: &[&str]) {
        let report = testing::run_selected(
            move || async move { faulty(fault) },
            |case| cases.contains(&case.name()),
        )
        .await;
        let mut failed = report.failed_cases();
        failed.sort_unstable();
        let mut expected = cases.to_vec();
        expected.sort_unstable();
        assert_eq!(failed, expected, "{report}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn watch_gaps_are_caught() {
        assert_caught(
            Fault::WatchDropsEvents,
            &[
                "watch_concurrent_writers",
                "watch_after_list_revision",
                "watch_dropped_streams",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn stale_list_snapshots_are_caught() {
        assert_caught(
            Fault::ListIgnoresRevision,
            &[
                "list_past_revision",
                "list_paging",
                "compaction_older_reads_fail",
            ],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn unguarded_updates_are_caught() {
        assert_caught(
            Fault::UpdateIgnoresGuard,
            &[
                "crud_update_with_stale_revision",
                "concurrency_update_race_one_winner",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn silent_compaction_is_caught() {
        assert_caught(
            Fault::WatchHidesCompaction,
            &["compaction_older_reads_fail"],
        )
        .await;
    }
}
