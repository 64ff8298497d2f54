//! `MemoryStore`: the in-process [`Store`], with the same revisions, guards, watches and
//! compaction as etcd.
//!
//! State lives behind one lock: a multi-version key index ([`mvcc`]) that answers
//! reads at any retained revision, and an event log of every change since the
//! compaction point ([`watch`]) that watchers read from at their own pace. Writers
//! append and wake watchers, never wait for them; a watcher that falls behind the log's
//! retained history gets [`StoreError::Compacted`] and must relist, so memory stays
//! bounded however slow a watcher is.

mod mvcc;
mod watch;

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use orchestra_core::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};
use parking_lot::RwLock;

use mvcc::Mvcc;

/// Settings of a [`MemoryStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MemoryStoreConfig {
    /// How many revisions of history are kept for watches and past reads before older
    /// ones are compacted automatically (default 100,000). `None` keeps everything
    /// until [`Store::compact`] is called.
    pub history: Option<usize>,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig {
            history: Some(100_000),
        }
    }
}

impl MemoryStoreConfig {
    /// Keeps `revisions` revisions of history (at least 1).
    #[must_use]
    pub fn history(mut self, revisions: usize) -> Self {
        self.history = Some(revisions.max(1));
        self
    }

    /// Keeps all history until compacted by hand.
    #[must_use]
    pub fn unbounded_history(mut self) -> Self {
        self.history = None;
        self
    }
}

/// An in-memory, MVCC [`Store`]: fast, exact, and gone when the process ends.
///
/// Cheap to clone; clones share the same data.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: RwLock<State>,
    /// Carries each new revision from writers to the fan-out task (one waiter, so a
    /// write wakes one task however many watchers there are).
    revision_tx: tokio::sync::watch::Sender<Revision>,
    /// Carries new revisions from the fan-out task to sleeping watchers.
    fanout: Arc<tokio::sync::watch::Sender<Revision>>,
    /// The fan-out task, started by the first watch on a runtime.
    fanout_task: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
    config: MemoryStoreConfig,
}

struct State {
    revision: Revision,
    compact_revision: Revision,
    mvcc: Mvcc,
    /// Every change after `compact_revision`, in order: `log[i]` has revision
    /// `compact_revision + 1 + i`.
    log: VecDeque<Arc<WatchEvent>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.read();
        f.debug_struct("MemoryStore")
            .field("revision", &state.revision)
            .field("compact_revision", &state.compact_revision)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store with the default settings.
    pub fn new() -> Self {
        MemoryStore::with_config(MemoryStoreConfig::default())
    }

    /// An empty store with `config`.
    pub fn with_config(config: MemoryStoreConfig) -> Self {
        let state = State {
            revision: 0,
            compact_revision: 0,
            mvcc: Mvcc::default(),
            log: VecDeque::new(),
        };
        MemoryStore {
            shared: Arc::new(Shared {
                state: RwLock::new(state),
                revision_tx: tokio::sync::watch::channel(0).0,
                fanout: Arc::new(tokio::sync::watch::channel(0).0),
                fanout_task: parking_lot::Mutex::new(None),
                config,
            }),
        }
    }

    /// Applies one write under the lock, logs its event and wakes watchers.
    fn write<T>(
        &self,
        apply: impl FnOnce(&mut State, Revision) -> Result<(T, WatchEvent), StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.shared.state.write();
        let revision = state.revision + 1;
        let (out, event) = apply(&mut state, revision)?;
        state.revision = revision;
        state.log.push_back(Arc::new(event));
        if let Some(history) = self.shared.config.history {
            // Compact in batches of a quarter of the history, so the cost per write
            // stays constant.
            if state.log.len() > history + history / 4 {
                state.compact(revision - history as Revision);
            }
        }
        drop(state);
        self.shared.revision_tx.send_replace(revision);
        Ok(out)
    }
}

fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid("key must not be empty".to_owned()));
    }
    Ok(())
}

impl State {
    /// Forgets history up to and including `revision`'s predecessors: afterwards reads
    /// at `revision` and later still work.
    fn compact(&mut self, revision: Revision) {
        while let Some(event) = self.log.front() {
            if event.revision() > revision {
                break;
            }
            let event = self.log.pop_front().expect("front exists");
            self.mvcc.compact_key(event.key(), revision);
        }
        self.compact_revision = revision;
    }

    fn check_read_revision(&self, requested: Revision) -> Result<(), StoreError> {
        if requested > self.revision {
            return Err(StoreError::FutureRevision {
                requested,
                current: self.revision,
            });
        }
        if requested < self.compact_revision {
            return Err(StoreError::Compacted {
                requested,
                compact_revision: self.compact_revision,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        check_key(key)?;
        Ok(self.shared.state.read().mvcc.get(key))
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        let state = self.shared.state.read();
        let revision = match options.revision {
            Some(r) if r != state.revision => {
                state.check_read_revision(r)?;
                r
            }
            _ => state.revision,
        };
        let limit = options.limit.unwrap_or(usize::MAX);
        let (kvs, more) = state
            .mvcc
            .range(prefix, options.start_after.as_deref(), revision, limit);
        Ok(ListResult {
            kvs,
            revision,
            more,
        })
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state, revision| {
            if state.mvcc.get(key).is_some() {
                return Err(StoreError::already_exists(key));
            }
            let kv = state.mvcc.put(key, value, revision);
            Ok((kv.clone(), WatchEvent::Put { kv }))
        })
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state, revision| {
            let current = state
                .mvcc
                .get(key)
                .ok_or_else(|| StoreError::not_found(key))?;
            if current.mod_revision != expected_mod_revision {
                return Err(StoreError::conflict(
                    key,
                    expected_mod_revision,
                    current.mod_revision,
                ));
            }
            let kv = state.mvcc.put(key, value, revision);
            Ok((kv.clone(), WatchEvent::Put { kv }))
        })
    }

    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state, revision| {
            let current = state
                .mvcc
                .get(key)
                .ok_or_else(|| StoreError::not_found(key))?;
            if let Some(expected) = expected_mod_revision {
                if current.mod_revision != expected {
                    return Err(StoreError::conflict(key, expected, current.mod_revision));
                }
            }
            let prev = state.mvcc.delete(key, revision).expect("checked present");
            Ok((prev.clone(), WatchEvent::Delete { prev, revision }))
        })
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        {
            let state = self.shared.state.read();
            if after_revision < state.compact_revision {
                return Err(StoreError::Compacted {
                    requested: after_revision,
                    compact_revision: state.compact_revision,
                });
            }
        }
        Ok(watch::stream(
            self.shared.clone(),
            Bytes::copy_from_slice(prefix),
            after_revision,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.shared.state.write();
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision > state.compact_revision {
            state.compact(revision);
        }
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared.state.read().revision)
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared.state.read().compact_revision)
    }
}

#[cfg(test)]
mod tests;
