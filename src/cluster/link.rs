//! [`StoreLink`]: one control-plane replica's connection to the store, which the
//! cluster can cut to simulate the replica's process dying.
//!
//! A graceful stop lets the manager release its leader lease and finish its writes. A
//! crash does neither, and that is what failover must survive: the standby replica has
//! to wait for the lease to expire. Aborting the manager's task is not a crash (tasks it
//! spawned, like the lease renewer, would live on and keep leading), so each replica
//! talks to the store through a link, and killing the replica cuts the link first:
//! from then on every call fails and every watch ends, as they would for a process
//! that is gone.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchStream};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A store connection that fails every call once cut.
pub(crate) struct StoreLink {
    store: Arc<dyn Store>,
    cut: CancellationToken,
}

impl StoreLink {
    /// A link to `store`, cut when `cut` fires.
    pub(crate) fn new(store: Arc<dyn Store>, cut: CancellationToken) -> StoreLink {
        StoreLink { store, cut }
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.cut.is_cancelled() {
            Err(StoreError::unavailable(
                "this replica's store connection is cut",
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for StoreLink {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.check()?;
        self.store.get(key).await
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        self.check()?;
        self.store.list(prefix, options).await
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        self.check()?;
        self.store.create(key, value).await
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.check()?;
        self.store.update(key, value, expected_mod_revision).await
    }

    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        self.check()?;
        self.store.delete(key, expected_mod_revision).await
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        self.check()?;
        let stream = self.store.watch(prefix, after_revision).await?;
        let cut = self.cut.clone().cancelled_owned();
        Ok(Box::pin(stream.take_until(cut)))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.check()?;
        self.store.compact(revision).await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.check()?;
        self.store.current_revision().await
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        self.check()?;
        self.store.compact_revision().await
    }
}
