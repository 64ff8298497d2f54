//! The Store conformance suite against MemoryStore, with the default settings and with
//! a history short enough that automatic compaction runs during the suite.

use std::sync::Arc;

use orchestra::core::Store;
use orchestra::store::{MemoryStore, MemoryStoreConfig, testing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    testing::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_with_short_history_conforms() {
    testing::run_all(|| async {
        Arc::new(MemoryStore::with_config(
            MemoryStoreConfig::default().history(5_000),
        )) as Arc<dyn Store>
    })
    .await;
}

#[test]
fn the_suite_has_every_case_named_once() {
    let cases = testing::cases();
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len());
    assert!(cases.len() >= 20, "{} cases", cases.len());
}

/// A store that breaks two contracts: its watches drop every fifth event, and its
/// guarded updates ignore the guard.
struct BrokenStore(MemoryStore);

#[async_trait::async_trait]
impl Store for BrokenStore {
    async fn get(
        &self,
        key: &[u8],
    ) -> Result<Option<orchestra::core::KeyValue>, orchestra::core::StoreError> {
        self.0.get(key).await
    }
    async fn list(
        &self,
        prefix: &[u8],
        options: orchestra::core::ListOptions,
    ) -> Result<orchestra::core::ListResult, orchestra::core::StoreError> {
        self.0.list(prefix, options).await
    }
    async fn create(
        &self,
        key: &[u8],
        value: bytes::Bytes,
    ) -> Result<orchestra::core::KeyValue, orchestra::core::StoreError> {
        self.0.create(key, value).await
    }
    async fn update(
        &self,
        key: &[u8],
        value: bytes::Bytes,
        _expected: u64,
    ) -> Result<orchestra::core::KeyValue, orchestra::core::StoreError> {
        let current = self
            .0
            .get(key)
            .await?
            .ok_or_else(|| orchestra::core::StoreError::not_found(key))?;
        self.0.update(key, value, current.mod_revision).await
    }
    async fn delete(
        &self,
        key: &[u8],
        expected: Option<u64>,
    ) -> Result<orchestra::core::KeyValue, orchestra::core::StoreError> {
        self.0.delete(key, expected).await
    }
    async fn watch(
        &self,
        prefix: &[u8],
        after: u64,
    ) -> Result<orchestra::core::WatchStream, orchestra::core::StoreError> {
        use futures::StreamExt;
        let inner = self.0.watch(prefix, after).await?;
        Ok(Box::pin(inner.enumerate().filter_map(
            |(i, e)| async move { (i % 5 != 4).then_some(e) },
        )))
    }
    async fn compact(&self, revision: u64) -> Result<(), orchestra::core::StoreError> {
        self.0.compact(revision).await
    }
    async fn current_revision(&self) -> Result<u64, orchestra::core::StoreError> {
        self.0.current_revision().await
    }
    async fn compact_revision(&self) -> Result<u64, orchestra::core::StoreError> {
        self.0.compact_revision().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_breaks_contracts_fails_the_suite_by_name() {
    let outcome = tokio::spawn(testing::run_selected(
        || async { Arc::new(BrokenStore(MemoryStore::new())) as Arc<dyn Store> },
        |case| {
            [
                "guarded_update",
                "update_race_one_winner",
                "watch_concurrent_writers",
                "create_then_get",
            ]
            .contains(&case.name)
        },
    ))
    .await;
    let panic = outcome.expect_err("the suite must fail").into_panic();
    let report = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(report.contains("3 of 4"), "{report}");
    for case in [
        "guarded_update",
        "update_race_one_winner",
        "watch_concurrent_writers",
    ] {
        assert!(report.contains(case), "{case} missing from: {report}");
    }
    assert!(!report.contains("create_then_get:"), "{report}");
}
