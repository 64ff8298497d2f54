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
/// breaks one contract, and the cases for that contract must fail.
mod catches_broken_stores {
    use std::sync::Arc;

    use async_trait::async_trait;
    use bytes::Bytes;
    use futures::StreamExt;
    use orchestra_core::{
        KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchStream,
    };
    use orchestra_store::{MemoryStore, testing};

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

    struct Faulty {
        inner: MemoryStore,
        fault: Fault,
    }

    #[async_trait]
    impl Store for Faulty {
        async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
            self.inner.get(key).await
        }
        async fn list(
            &self,
            prefix: &[u8],
            options: ListOptions,
        ) -> Result<ListResult, StoreError> {
            match self.fault {
                Fault::ListIgnoresRevision => {
                    let mut fresh = ListOptions::default();
                    fresh.limit = options.limit;
                    fresh.start_after = options.start_after;
                    self.inner.list(prefix, fresh).await
                }
                _ => self.inner.list(prefix, options).await,
            }
        }
        async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
            self.inner.create(key, value).await
        }
        async fn update(
            &self,
            key: &[u8],
            value: Bytes,
            expected: Revision,
        ) -> Result<KeyValue, StoreError> {
            match self.fault {
                Fault::UpdateIgnoresGuard => {
                    let current = self
                        .inner
                        .get(key)
                        .await?
                        .ok_or_else(|| StoreError::not_found(key))?;
                    tokio::task::yield_now().await;
                    self.inner.update(key, value, current.mod_revision).await
                }
                _ => self.inner.update(key, value, expected).await,
            }
        }
        async fn delete(
            &self,
            key: &[u8],
            expected: Option<Revision>,
        ) -> Result<KeyValue, StoreError> {
            self.inner.delete(key, expected).await
        }
        async fn watch(&self, prefix: &[u8], after: Revision) -> Result<WatchStream, StoreError> {
            match self.fault {
                Fault::WatchDropsEvents => {
                    let stream = self.inner.watch(prefix, after).await?;
                    Ok(Box::pin(stream.filter(|item| {
                        let keep = !matches!(item, Ok(e) if e.revision() % 7 == 0 && !e.key().ends_with(b"fence"));
                        async move { keep }
                    })))
                }
                Fault::WatchHidesCompaction => {
                    let compacted = self.inner.compact_revision().await?;
                    self.inner.watch(prefix, after.max(compacted)).await
                }
                _ => self.inner.watch(prefix, after).await,
            }
        }
        async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
            self.inner.compact(revision).await
        }
        async fn current_revision(&self) -> Result<Revision, StoreError> {
            self.inner.current_revision().await
        }
        async fn compact_revision(&self) -> Result<Revision, StoreError> {
            self.inner.compact_revision().await
        }
    }

    /// Runs the cases named in `cases` against a store with `fault` and checks that
    /// the report fails exactly those.
    async fn assert_caught(fault: Fault, cases: &[&str]) {
        let report = testing::run_selected(
            move || async move {
                Arc::new(Faulty {
                    inner: MemoryStore::new(),
                    fault,
                }) as Arc<dyn Store>
            },
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
