//! `DurableStore`: the embedded [`Store`] on disk, one directory, surviving restarts
//! and crashes with exactly the state and revisions it acknowledged.
//!
//! Three parts, each in its own file:
//!
//! - `disk`: the redb file: a base snapshot, a log of every change after it, and the
//!   revision marks; opening reads them back and checks them.
//! - `writer`: the one writer thread, which commits concurrent writes together (group
//!   commit: one fsync per batch) and acknowledges each only after its commit.
//! - an in-memory [`MemoryStore`] holding the committed state and history, which serves
//!   every read and watch. The writer applies each batch to it after the commit, so
//!   reads are as fast as `MemoryStore`'s and watchers never touch the disk; after a
//!   restart it is rebuilt from the base and the log, so watchers resume from any
//!   retained revision with the same revision numbers.

mod disk;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use orchestra_core::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchStream};
use tokio::sync::oneshot;

use crate::memory::{MemoryStore, MemoryStoreConfig, check_key};
use writer::{Op, Request, Writer};

/// Settings of a [`DurableStore`]: the same as a [`MemoryStore`]'s, because they mean
/// the same thing. `history` is how many revisions are kept for watches and past reads,
/// on disk and in memory, before older ones are compacted automatically (in small
/// steps inside later commits, so a few thousand more may be held briefly);
/// `max_value_size` is the largest value accepted.
///
/// ```
/// use orchestra_store::DurableStoreConfig;
///
/// let config = DurableStoreConfig::default().history(10_000);
/// # drop(config);
/// ```
pub type DurableStoreConfig = MemoryStoreConfig;

/// A [`Store`] on disk: every acknowledged write survives a crash, with its revision.
///
/// One directory holds one store (the file `store.redb`, written with
/// [redb](https://docs.rs/redb)); only one process may have it open. A write returns
/// once its transaction is committed with `fsync`; concurrent writes share one commit,
/// so throughput grows with the number of writers. Reads and watches are served from
/// memory (the whole current state and the retained history are held there, as in
/// [`MemoryStore`]), so they never wait for the disk. Opening reads the directory back
/// and checks it: a damaged file or one that is not a store fails with
/// [`StoreError::Corrupt`] naming the file.
///
/// It never fails a write with [`StoreError::OutcomeUnknown`]: the writer learns each
/// commit's result before it answers, and a write whose commit failed answers
/// [`StoreError::Unavailable`] and is not in the running store. (One edge this cannot
/// rule out: if the disk fails in the last step of a redb commit, after the new header
/// was written, the write can still be found on disk when the store is next opened.)
///
/// Cheap to clone; clones share the same store. When the last clone is dropped, the
/// writer finishes the batch it is committing and the file is closed.
///
/// ```no_run
/// use bytes::Bytes;
/// use orchestra_core::Store;
/// use orchestra_store::DurableStore;
///
/// # async fn doc() -> Result<(), orchestra_core::StoreError> {
/// let store = DurableStore::open("/var/lib/orchestra")?;
/// let kv = store.create(b"/registry/pods/default/web", Bytes::from("{}")).await?;
/// drop(store);
/// let store = DurableStore::open("/var/lib/orchestra")?;
/// assert_eq!(store.get(&kv.key).await?, Some(kv));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DurableStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    memory: MemoryStore,
    dir: PathBuf,
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after its current batch; waiting for it
        // releases the file, so the directory can be opened again at once.
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStore")
            .field("dir", &self.inner.dir)
            .field("memory", &self.inner.memory)
            .finish()
    }
}

impl DurableStore {
    /// Opens the store in `dir` with the default settings, creating it if needed.
    ///
    /// This blocks while it reads the store back (the base and the retained history);
    /// from async code, call it inside `tokio::task::spawn_blocking` if the store is
    /// large.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        DurableStore::open_with_config(dir, DurableStoreConfig::default())
    }

    /// Opens the store in `dir` with `config`, creating it if needed.
    pub fn open_with_config(
        dir: impl AsRef<Path>,
        config: DurableStoreConfig,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let recovered = disk::open(&dir)?;
        // The writer decides compaction for disk and memory alike, so the in-memory
        // store never compacts on its own.
        let memory = MemoryStore::restored(
            MemoryStoreConfig::default()
                .unbounded_history()
                .max_value_size(config.max_value_size),
            recovered.marks.base,
            recovered.base,
        );
        for event in recovered.log {
            memory.apply(event);
        }
        memory.compact_now(recovered.marks.compact)?;
        let (requests, receiver) = mpsc::channel();
        let writer = Writer {
            db: recovered.db,
            file: recovered.file,
            marks: recovered.marks,
            memory: memory.clone(),
            history: config.history,
        };
        let writer = std::thread::Builder::new()
            .name("durable-store-writer".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Unavailable {
                message: "cannot start the writer thread".to_owned(),
                source: Some(Box::new(e)),
            })?;
        Ok(DurableStore {
            inner: std::sync::Arc::new(Inner {
                memory,
                dir,
                requests: Some(requests),
                writer: Some(writer),
            }),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Hands `op` to the writer and waits for its commit.
    async fn submit(&self, op: Op) -> Result<Option<KeyValue>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::unavailable("durable store is shutting down");
        self.inner
            .requests
            .as_ref()
            .ok_or_else(closed)?
            .send(Request { op, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn write(&self, op: Op) -> Result<KeyValue, StoreError> {
        self.submit(op)
            .await?
            .ok_or_else(|| StoreError::unavailable("the writer answered a write with nothing"))
    }
}

#[async_trait]
impl Store for DurableStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.inner.memory.get(key).await
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        self.inner.memory.list(prefix, options).await
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.inner.memory.check_value(&value)?;
        let key = Bytes::copy_from_slice(key);
        self.write(Op::Create { key, value }).await
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.inner.memory.check_value(&value)?;
        let key = Bytes::copy_from_slice(key);
        let expected = expected_mod_revision;
        self.write(Op::Update {
            key,
            value,
            expected,
        })
        .await
    }

    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let key = Bytes::copy_from_slice(key);
        let expected = expected_mod_revision;
        self.write(Op::Delete { key, expected }).await
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        self.inner.memory.watch(prefix, after_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.submit(Op::Compact { revision }).await.map(|_| ())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.memory.current_revision().await
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        self.inner.memory.compact_revision().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DurableStore>();
    }
}
