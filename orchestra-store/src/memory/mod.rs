//! `MemoryStore`: the in-process [`Store`], with the same revisions, guards, watches and
//! compaction as etcd.
//!
//! State lives behind one `parking_lot` read-write lock: a multi-version key index
//! ([`mvcc`]) that answers reads at any retained revision, and an event log of every
//! change since the compaction point ([`history`]) that watchers read from at their own
//! pace. A write takes the lock once, checks its guard, records the new version and
//! appends its event, then wakes sleeping watchers after releasing the lock; it never
//! waits for a watcher. History is bounded: once the log holds more than the configured
//! number of revisions, the next write compacts a slice of it inline (no background task,
//! so the store works without a runtime), and a watcher that fell behind the trimmed
//! history gets [`StoreError::Compacted`] and must relist. Values are kept compressed
//! against dictionaries shared by sibling keys ([`packing`]) unless configured off.

mod history;
mod mvcc;
mod packing;
mod versions;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use orchestra_core::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};
use parking_lot::RwLock;
use tokio::sync::Notify;

use history::EventLog;
use mvcc::Mvcc;
use packing::{Dictionaries, Packer};
use versions::StoredValue;

/// The most revisions compacted by one write when history is over its bound; spreading
/// the work keeps any single write's pause short.
const MAX_COMPACTION_STEP: usize = 4096;

/// How far past its bound of `keep` revisions history runs before it is trimmed back:
/// the compaction work is done in batches, but each batch stays small.
fn compaction_slack(keep: usize) -> usize {
    (keep / 4).clamp(1, MAX_COMPACTION_STEP)
}

/// Settings of a [`MemoryStore`] (and of a `DurableStore`, whose `DurableStoreConfig`
/// is this type).
///
/// ```
/// use orchestra_store::{MemoryStore, MemoryStoreConfig};
///
/// let store = MemoryStore::with_config(MemoryStoreConfig::default().history(10_000));
/// # drop(store);
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStoreConfig {
    /// `None`: keep everything until compacted by hand.
    pub(crate) history: Option<usize>,
    pub(crate) max_value_size: usize,
    pub(crate) compression: bool,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig {
            history: Some(100_000),
            max_value_size: 16 * 1024 * 1024,
            compression: true,
        }
    }
}

impl MemoryStoreConfig {
    /// Keeps `revisions` revisions of history (at least 1) for watches and past reads
    /// before older ones are compacted automatically. Default 100,000. The store
    /// compacts in small steps, so it may briefly hold a few thousand more.
    #[must_use]
    pub fn history(mut self, revisions: usize) -> Self {
        self.history = Some(revisions.max(1));
        self
    }

    /// Keeps all history until [`Store::compact`] is called.
    #[must_use]
    pub fn unbounded_history(mut self) -> Self {
        self.history = None;
        self
    }

    /// Keeps values compressed (`true`, the default) or as they are. Compressed is LZ4
    /// against a dictionary shared by keys with the same parent path, so a namespace's
    /// pods cost a fraction of their JSON (a running pod's 1.6 KB takes about 0.2 KB);
    /// reads and watches decompress, at about a microsecond a value.
    #[must_use]
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// Rejects values larger than `bytes` with [`StoreError::Invalid`]. Default 16 MiB.
    #[must_use]
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }
}

/// An in-memory, MVCC [`Store`]: fast, exact, and gone when the process ends.
///
/// Cheap to clone; clones share the same data. When the last clone is dropped, open
/// watch streams deliver the changes they have not yet yielded and then end.
///
/// Where the [`Store`] contract leaves a choice: a watch may start after a revision that
/// has not been written yet (it delivers the changes once they happen, as etcd does),
/// and `limit(0)` is taken literally: no keys, with `more` telling whether any match
/// (etcd's wire protocol reads 0 as "no limit", so an etcd mapping must special-case it). Past reads cost a binary search per key; current reads and writes
/// one ordered-map lookup each.
///
/// A write is applied under the lock before it returns, or not at all, so this store
/// always knows its outcome: it never fails with [`StoreError::OutcomeUnknown`].
///
/// ```
/// use bytes::Bytes;
/// use orchestra_core::{ListOptions, Store};
/// use orchestra_store::MemoryStore;
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// let kv = store.create(b"/registry/pods/default/web", Bytes::from("{}")).await?;
/// store.update(&kv.key, Bytes::from("{\"v\":2}"), kv.mod_revision).await?;
/// let pods = store.list(b"/registry/pods/", ListOptions::default()).await?;
/// assert_eq!((pods.kvs.len(), pods.revision), (1, 2));
/// # Ok::<_, orchestra_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    handle: Arc<Handle>,
}

/// Owned by the store's clones only (not by watchers), so its drop marks the moment no
/// more writes can happen.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.notify.notify_waiters();
    }
}

/// What the store's clones and its watchers share.
struct Shared {
    state: RwLock<State>,
    /// Woken after a write when a watcher is asleep, and when the last store handle is
    /// dropped.
    notify: Notify,
    /// Set by a watcher about to sleep; a writer that finds it set clears it and wakes
    /// the sleepers. While every watcher is busy reading, writes skip `notify` (and its
    /// mutex) entirely.
    sleeping: AtomicBool,
    /// Set when the last store handle is dropped.
    closed: AtomicBool,
    config: MemoryStoreConfig,
    /// What packed values were compressed against; read by watchers without the lock.
    dictionaries: Dictionaries,
}

impl Shared {
    /// `kv` as it was written: unpacked when the store keeps values compressed.
    fn unpack_kv(&self, kv: KeyValue) -> KeyValue {
        if self.config.compression {
            self.dictionaries.unpack_kv(kv)
        } else {
            kv
        }
    }

    /// `event` with its value as it was written.
    fn unpack_event(&self, event: WatchEvent) -> WatchEvent {
        if self.config.compression {
            self.dictionaries.unpack_event(event)
        } else {
            event
        }
    }

    /// Wakes the watchers that went to sleep since the last wake, if any.
    fn wake_watchers(&self) {
        // The plain load keeps the flag's cache line shared while nobody sleeps.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }
}

/// The store's data. Values in `mvcc` are packed ([`packing`]) when compression is on,
/// and unpacked on every way out; `history` keeps the newest changes as written.
struct State {
    /// The revision of the latest write.
    revision: Revision,
    mvcc: Mvcc,
    history: EventLog,
    /// `None` when compression is off.
    packer: Option<Packer>,
}

impl State {
    /// Forgets history before `revision`: afterwards reads at `revision` and later, and
    /// watches after it, still work.
    fn compact(&mut self, revision: Revision) {
        let mvcc = &mut self.mvcc;
        self.history
            .compact(revision, |key| mvcc.compact_key(key, revision));
    }

    fn check_read_revision(&self, requested: Revision) -> Result<(), StoreError> {
        if requested > self.revision {
            return Err(StoreError::FutureRevision {
                requested,
                current: self.revision,
            });
        }
        let compact_revision = self.history.compact_revision();
        if requested < compact_revision {
            return Err(StoreError::Compacted {
                requested,
                compact_revision,
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared().state.read();
        f.debug_struct("MemoryStore")
            .field("revision", &state.revision)
            .field("compact_revision", &state.history.compact_revision())
            .field("config", &self.shared().config)
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
        MemoryStore::restored(config, 0, std::iter::empty())
    }

    /// A store whose state at `revision` is `kvs` (with their own revisions), with no
    /// history before it: reads and watches start at `revision`. Backends that keep
    /// their state elsewhere (`DurableStore`) load it into one of these and then
    /// [`apply`](Self::apply) the changes after it.
    pub(crate) fn restored(
        config: MemoryStoreConfig,
        revision: Revision,
        kvs: impl IntoIterator<Item = KeyValue>,
    ) -> Self {
        let dictionaries = Dictionaries::default();
        let mut packer = config.compression.then(Packer::default);
        let mut mvcc = Mvcc::default();
        for kv in kvs {
            let stored = match &mut packer {
                Some(packer) => StoredValue::Packed(packer.pack(&dictionaries, &kv.key, &kv.value)),
                None => StoredValue::Shared(Box::new(kv.value.clone())),
            };
            mvcc.restore(kv, stored);
        }
        let state = State {
            revision,
            mvcc,
            history: EventLog::starting_after(
                revision,
                config.history.map(|keep| keep + compaction_slack(keep)),
            ),
            packer,
        };
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            notify: Notify::new(),
            sleeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            config,
            dictionaries,
        });
        MemoryStore {
            handle: Arc::new(Handle { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Applies one write under the lock, logs its event, keeps history bounded, and
    /// wakes watchers once the lock is released. `apply` records the change in the
    /// index with values packed by the [`Pack`] it is given, and returns the change as
    /// written, keyed by the index's handle of the key. The caller gets its key-value:
    /// the new state of a put, the previous state of a delete.
    fn write(
        &self,
        apply: impl FnOnce(&mut Mvcc, &mut Pack<'_>, Revision) -> Result<WatchEvent, StoreError>,
    ) -> Result<KeyValue, StoreError> {
        let shared = self.shared();
        let mut guard = shared.state.write();
        let state = &mut *guard;
        let revision = state.revision + 1;
        let mut pack = Pack {
            packer: state.packer.as_mut(),
            shared,
        };
        let event = apply(&mut state.mvcc, &mut pack, revision)?;
        let out = match &event {
            WatchEvent::Put { kv } => kv.clone(),
            WatchEvent::Delete { prev, .. } => prev.clone(),
        };
        state.revision = revision;
        state.history.push(event);
        if let Some(keep) = shared.config.history {
            if state.history.len() >= keep + compaction_slack(keep) {
                state.compact(revision - keep as Revision);
            }
        }
        drop(guard);
        shared.wake_watchers();
        Ok(out)
    }

    /// The current state of `key`, without going through the async trait.
    pub(crate) fn current(&self, key: &[u8]) -> Option<KeyValue> {
        let kv = self.shared().state.read().mvcc.get(key);
        kv.map(|kv| self.shared().unpack_kv(kv))
    }

    /// Applies a change already decided (guards checked) by another backend, at the
    /// next revision, which must be `event.revision()`; returns the change's key-value
    /// (the new state for a put, the previous one for a delete).
    pub(crate) fn apply(&self, event: WatchEvent) -> KeyValue {
        self.write(|mvcc, pack, revision| {
            debug_assert_eq!(revision, event.revision(), "changes arrive in order");
            match event {
                WatchEvent::Put { kv } => {
                    let stored = pack.pack(&kv.key, &kv.value);
                    let kv = mvcc.put(&kv.key, stored, kv.value, revision);
                    Ok(WatchEvent::Put { kv })
                }
                WatchEvent::Delete { prev, revision } => {
                    let stored = mvcc
                        .delete(&prev.key, revision)
                        .ok_or_else(|| StoreError::not_found(&prev.key))?;
                    // The index's handle of the key, with the value as written.
                    let prev = KeyValue {
                        value: prev.value,
                        ..stored
                    };
                    Ok(WatchEvent::Delete { prev, revision })
                }
            }
        })
        .expect("a decided change applies")
    }

    /// [`Store::compact`] without the async trait.
    pub(crate) fn compact_now(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.shared().state.write();
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision > state.history.compact_revision() {
            state.compact(revision);
            drop(state);
            // Watchers left behind learn it now rather than at the next write.
            self.shared().wake_watchers();
        }
        Ok(())
    }

    pub(crate) fn check_value(&self, value: &Bytes) -> Result<(), StoreError> {
        let max = self.shared().config.max_value_size;
        if value.len() > max {
            return Err(StoreError::Invalid(format!(
                "value of {} bytes is over the limit of {max} bytes",
                value.len()
            )));
        }
        Ok(())
    }
}

/// Packs values for one write (or passes them through when compression is off).
struct Pack<'a> {
    /// `None` when compression is off.
    packer: Option<&'a mut Packer>,
    shared: &'a Shared,
}

impl Pack<'_> {
    fn pack(&mut self, key: &[u8], value: &Bytes) -> StoredValue {
        match &mut self.packer {
            Some(packer) => StoredValue::Packed(packer.pack(&self.shared.dictionaries, key, value)),
            None => StoredValue::Shared(Box::new(value.clone())),
        }
    }

    fn unpack_kv(&self, kv: KeyValue) -> KeyValue {
        self.shared.unpack_kv(kv)
    }
}

pub(crate) fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid("key must not be empty".to_owned()));
    }
    Ok(())
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        check_key(key)?;
        Ok(self.current(key))
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        let state = self.shared().state.read();
        let revision = match options.revision {
            Some(requested) => {
                state.check_read_revision(requested)?;
                requested
            }
            None => state.revision,
        };
        let limit = options.limit.unwrap_or(usize::MAX);
        let (kvs, more) = state
            .mvcc
            .range(prefix, options.start_after.as_deref(), revision, limit);
        drop(state);
        Ok(ListResult {
            kvs: kvs
                .into_iter()
                .map(|kv| self.shared().unpack_kv(kv))
                .collect(),
            revision,
            more,
        })
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.check_value(&value)?;
        self.write(|mvcc, pack, revision| {
            if mvcc.current_mod_revision(key).is_some() {
                return Err(StoreError::already_exists(key));
            }
            let kv = mvcc.put(key, pack.pack(key, &value), value, revision);
            Ok(WatchEvent::Put { kv })
        })
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.check_value(&value)?;
        self.write(|mvcc, pack, revision| {
            let current = mvcc
                .current_mod_revision(key)
                .ok_or_else(|| StoreError::not_found(key))?;
            if current != expected_mod_revision {
                return Err(StoreError::conflict(key, expected_mod_revision, current));
            }
            let kv = mvcc.put(key, pack.pack(key, &value), value, revision);
            Ok(WatchEvent::Put { kv })
        })
    }

    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|mvcc, pack, revision| {
            let current = mvcc
                .current_mod_revision(key)
                .ok_or_else(|| StoreError::not_found(key))?;
            if let Some(expected) = expected_mod_revision {
                if current != expected {
                    return Err(StoreError::conflict(key, expected, current));
                }
            }
            let prev = mvcc.delete(key, revision).expect("checked present");
            Ok(WatchEvent::Delete {
                prev: pack.unpack_kv(prev),
                revision,
            })
        })
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        let compact_revision = self.shared().state.read().history.compact_revision();
        if after_revision < compact_revision {
            return Err(StoreError::Compacted {
                requested: after_revision,
                compact_revision,
            });
        }
        // The stream checks again when it first reads, so a compaction in between is
        // reported as its first item rather than lost.
        Ok(history::stream(
            Arc::clone(self.shared()),
            Bytes::copy_from_slice(prefix),
            after_revision,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.compact_now(revision)
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared().state.read().revision)
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared().state.read().history.compact_revision())
    }
}
