//! The event log of `MemoryStore` and the watch streams that read it.
//!
//! Every write appends one [`WatchEvent`] to a shared log that holds exactly the
//! changes after the compaction point, so the event at index `i` has revision
//! `compact_revision + 1 + i` and finding where a watcher resumes is arithmetic, not a
//! search. A watcher is only a cursor (the last revision it has passed) and a prefix:
//! it copies the matching events after its cursor out of the log in batches, under the
//! store's read lock, and sleeps on a [`tokio::sync::Notify`] when it has caught up.
//! Writers append and never wait for a watcher; they touch the `Notify` only when a
//! watcher has raised the shared "sleeping" flag since the last wake, so while watchers
//! are busy reading a write costs the same however many there are. Compaction trims the front of
//! the log; a watcher whose cursor is behind the trimmed front yields
//! [`StoreError::Compacted`] and ends, so memory stays bounded however slow it is.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use orchestra_core::{KeyValue, Revision, StoreError, WatchEvent, WatchStream};

use super::Shared;

/// Most matching events a watcher copies out of the log per lock acquisition.
const BATCH: usize = 256;

/// Most events a watcher looks at per lock acquisition, matching or not, so a watcher
/// of a quiet prefix does not hold the lock for long scanning a busy log.
const SCAN: usize = 4096;

/// How many of the newest events keep their values unpacked beside the packed ones, so
/// watchers that keep up deliver them without decompressing each for themselves.
const UNPACKED_TAIL: usize = 1024;

/// Every change after the compaction point, in revision order.
#[derive(Default)]
pub(crate) struct EventLog {
    /// The revision the log starts after: `events[i]` has revision
    /// `compact_revision + 1 + i`.
    compact_revision: Revision,
    events: VecDeque<Entry>,
}

/// One change: as the store keeps it, and, while it is among the newest, its value as
/// written.
struct Entry {
    stored: WatchEvent,
    plain_value: Option<Bytes>,
}

impl Entry {
    /// The event with its value as written.
    fn plain(&self, value: &Bytes) -> WatchEvent {
        // Field by field: `..kv.clone()` would also bump (and drop) the packed value's
        // count, a shared atomic, for every watcher and event.
        let kv = |kv: &KeyValue| KeyValue {
            key: kv.key.clone(),
            value: value.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
        };
        match &self.stored {
            WatchEvent::Put { kv: stored } => WatchEvent::Put { kv: kv(stored) },
            WatchEvent::Delete { prev, revision } => WatchEvent::Delete {
                prev: kv(prev),
                revision: *revision,
            },
        }
    }
}

/// An event a watcher has read and not yet yielded.
pub(super) enum Pending {
    /// As written.
    Plain(WatchEvent),
    /// As the store keeps it (packed when compression is on).
    Stored(WatchEvent),
}

impl EventLog {
    /// The compaction point: the oldest revision still readable.
    pub(crate) fn compact_revision(&self) -> Revision {
        self.compact_revision
    }

    /// An empty log whose history starts after `revision` (a store restored at
    /// `revision`, such as a `DurableStore` reopened from its on-disk base).
    pub(crate) fn starting_after(revision: Revision) -> Self {
        EventLog {
            compact_revision: revision,
            events: VecDeque::new(),
        }
    }

    /// How many events the log holds.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Appends the event of the next revision, as stored and, when that differs
    /// (packed), with its value as written.
    pub(crate) fn push(&mut self, stored: WatchEvent, plain_value: Option<Bytes>) {
        debug_assert_eq!(
            stored.revision(),
            self.compact_revision + 1 + self.events.len() as Revision,
            "the log holds consecutive revisions"
        );
        self.events.push_back(Entry {
            stored,
            plain_value,
        });
        if let Some(aged) = self
            .events
            .len()
            .checked_sub(UNPACKED_TAIL + 1)
            .and_then(|i| self.events.get_mut(i))
        {
            aged.plain_value = None;
        }
    }

    /// Drops every event at or before `revision`, calling `trimmed` with the key of each,
    /// and moves the compaction point to `revision`.
    pub(crate) fn compact(&mut self, revision: Revision, mut trimmed: impl FnMut(&[u8])) {
        debug_assert!(revision >= self.compact_revision);
        let count = ((revision - self.compact_revision) as usize).min(self.events.len());
        for entry in self.events.drain(..count) {
            trimmed(entry.stored.key());
        }
        self.compact_revision = revision;
    }

    /// Copies into `out` the events after `after` whose key starts with `prefix`, up to
    /// [`BATCH`] of them and looking at no more than [`SCAN`]. Returns the revision the
    /// read reached (every matching event up to it is in `out`), or `Compacted` if the
    /// events right after `after` are gone.
    fn read_after(
        &self,
        after: Revision,
        prefix: &[u8],
        out: &mut VecDeque<Pending>,
    ) -> Result<Revision, StoreError> {
        if after < self.compact_revision {
            return Err(StoreError::Compacted {
                requested: after,
                compact_revision: self.compact_revision,
            });
        }
        // A cursor beyond the end (a watch from a future revision) reads nothing yet.
        let start = ((after - self.compact_revision) as usize).min(self.events.len());
        let mut reached = after;
        for entry in self.events.range(start..).take(SCAN) {
            reached = entry.stored.revision();
            if entry.stored.key().starts_with(prefix) {
                out.push_back(match &entry.plain_value {
                    Some(value) => Pending::Plain(entry.plain(value)),
                    None => Pending::Stored(entry.stored.clone()),
                });
                if out.len() >= BATCH {
                    break;
                }
            }
        }
        Ok(reached)
    }
}

/// One watcher: a cursor into the log, and the events read but not yet yielded.
struct Cursor {
    shared: Arc<Shared>,
    prefix: Bytes,
    /// The last revision read (delivered, or passed over as not matching).
    after: Revision,
    pending: VecDeque<Pending>,
    ended: bool,
}

/// A stream of the changes to keys starting with `prefix` after `after`.
pub(super) fn stream(shared: Arc<Shared>, prefix: Bytes, after: Revision) -> WatchStream {
    let cursor = Cursor {
        shared,
        prefix,
        after,
        pending: VecDeque::new(),
        ended: false,
    };
    Box::pin(futures::stream::unfold(cursor, |mut cursor| async move {
        let item = cursor.next().await?;
        Some((item, cursor))
    }))
}

impl Cursor {
    async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            match self.pending.pop_front() {
                Some(Pending::Plain(event)) => return Some(Ok(event)),
                // Unpacked here, outside the store's lock, one event at a time.
                Some(Pending::Stored(event)) => return Some(Ok(self.shared.unpack_event(event))),
                None => {}
            }
            if self.ended {
                return None;
            }
            let shared = Arc::clone(&self.shared);
            // Created before reading, so a write that lands after the read below still
            // wakes this watcher (`notify_waiters` wakes every future created before it).
            let notified = shared.notify.notified();
            let closed = shared.closed.load(Ordering::Acquire);
            let read = {
                let state = shared.state.read();
                let read = self
                    .read_after(&state.history)
                    .map(|reached| reached >= state.revision);
                drop(state);
                read
            };
            match read {
                Err(compacted) => {
                    self.ended = true;
                    return Some(Err(compacted));
                }
                // Stopped early (a full batch, or the scan limit): read on.
                Ok(false) => continue,
                Ok(true) if !self.pending.is_empty() => continue,
                // Caught up, and no handle is left to write: nothing more can come.
                Ok(true) if closed => {
                    self.ended = true;
                    return None;
                }
                Ok(true) => {
                    // Ask writers to wake us, then make sure no write slipped in before
                    // the flag was up (such a writer would not have seen it).
                    shared.sleeping.store(true, Ordering::SeqCst);
                    if shared.state.read().revision > self.after {
                        continue;
                    }
                    notified.await;
                }
            }
        }
    }

    fn read_after(&mut self, log: &EventLog) -> Result<Revision, StoreError> {
        let reached = log.read_after(self.after, &self.prefix, &mut self.pending)?;
        self.after = reached;
        Ok(reached)
    }
}
