//! The event log of `MemoryStore` and the watch streams that read it.
//!
//! The log records, for every change after the compaction point, only the key that
//! changed: the event at index `i` has revision `compact_revision + 1 + i`, so finding
//! where a watcher resumes is arithmetic, not a search, and the change itself is read
//! back from the multi-version index ([`Mvcc::event_at`]), which keeps every version
//! after the compaction point anyway. A key is a shared handle to the index's own copy,
//! so an event costs the log one `Bytes` rather than a whole [`WatchEvent`]. The newest
//! events are also kept whole, with their values as written, so watchers that keep up
//! deliver them without a lookup in the index or a decompression of their own; the
//! events read back from the index lately are kept in a small table by revision, so
//! watchers that fall behind together look each one up once.
//!
//! A watcher is only a cursor (the last revision it has passed) and a prefix: it copies
//! the matching events after its cursor out of the log in batches, under the store's
//! read lock, and sleeps on a [`tokio::sync::Notify`] when it has caught up. Writers
//! append and never wait for a watcher; they touch the `Notify` only when a watcher has
//! raised the shared "sleeping" flag since the last wake, so while watchers are busy
//! reading a write costs the same however many there are. Compaction trims the front of
//! the log; a watcher whose cursor is behind the trimmed front yields
//! [`StoreError::Compacted`] and ends, so memory stays bounded however slow it is.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use orchestra_core::{Revision, StoreError, WatchEvent, WatchStream};
use parking_lot::Mutex;

use super::Shared;
use super::mvcc::Mvcc;

/// Most matching events a watcher copies out of the log per lock acquisition.
const BATCH: usize = 256;

/// Most events a watcher looks up in the index per lock acquisition: a lookup is an
/// ordered-map search, so a watcher far behind holds the lock about as long per batch
/// as one copying whole recent events.
const LOOKUPS: usize = 64;

/// How many events read back from the index are remembered, by revision, for other
/// watchers reading the same stretch of history.
const LOOKED_UP: usize = 4096;

/// Most events a watcher looks at per lock acquisition, matching or not, so a watcher
/// of a quiet prefix does not hold the lock for long scanning a busy log.
const SCAN: usize = 4096;

/// How many of the newest events are kept whole, with their values as written. Small
/// under test, so the tests' short histories also read events back from the index.
const RECENT: usize = if cfg!(test) { 4 } else { 1024 };

/// Every change after the compaction point, in revision order.
#[derive(Default)]
pub(crate) struct EventLog {
    /// The revision the log starts after: `keys[i]` changed at revision
    /// `compact_revision + 1 + i`.
    compact_revision: Revision,
    keys: VecDeque<Bytes>,
    /// The newest events (at most [`RECENT`]) as written: the last of them is the
    /// change at the last key of `keys`.
    recent: VecDeque<WatchEvent>,
    /// The most events the log holds before the store trims it, if bounded.
    most: Option<usize>,
    /// Events lately read back from the index, in slots by revision (made when a
    /// watcher first falls behind `recent`). Watchers that fall behind together, as
    /// many do when writes outpace them, then look each event up once rather than once
    /// each, which keeps them as fast as when the log held whole events. An event
    /// never changes, so a slot holding the revision asked for is always right.
    looked_up: OnceLock<Box<[Mutex<Option<WatchEvent>>]>>,
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
    /// `revision`, such as a `DurableStore` reopened from its on-disk base), and which
    /// holds at most `most` events, if the store bounds it.
    pub(crate) fn starting_after(revision: Revision, most: Option<usize>) -> Self {
        EventLog {
            compact_revision: revision,
            most,
            ..EventLog::default()
        }
    }

    /// How many events the log holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Appends the change of the next revision, as written. Its key must be the
    /// index's own handle (the one [`Mvcc::put`] and [`Mvcc::delete`] return), so the
    /// log shares the index's copy of it.
    pub(crate) fn push(&mut self, event: WatchEvent) {
        debug_assert_eq!(
            event.revision(),
            self.compact_revision + 1 + self.keys.len() as Revision,
            "the log holds consecutive revisions"
        );
        if self.keys.len() == self.keys.capacity() {
            // Doubling, but never past the bound: a full log would otherwise carry up to
            // twice the room it can use (a quarter more at the default bound).
            let len = self.keys.len();
            let grown = (2 * len).max(RECENT);
            let grown = self.most.map_or(grown, |most| grown.min(most.max(len + 1)));
            self.keys.reserve_exact(grown - len);
        }
        self.keys.push_back(event.key().clone());
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(event);
    }

    /// Drops every event at or before `revision`, calling `trimmed` with the key of each,
    /// and moves the compaction point to `revision`.
    pub(crate) fn compact(&mut self, revision: Revision, mut trimmed: impl FnMut(&[u8])) {
        debug_assert!(revision >= self.compact_revision);
        let count = ((revision - self.compact_revision) as usize).min(self.keys.len());
        for key in self.keys.drain(..count) {
            trimmed(&key);
        }
        let stale = self.recent.len().saturating_sub(self.keys.len());
        self.recent.drain(..stale);
        self.compact_revision = revision;
    }

    /// Copies into `out` the events after `after` whose key starts with `prefix`, up to
    /// [`BATCH`] of them, [`LOOKUPS`] of them read back from `mvcc`, and looking at no
    /// more than [`SCAN`]. Returns the revision the read reached (every matching event
    /// up to it is in `out`), or `Compacted` if the events right after `after` are gone.
    fn read_after(
        &self,
        mvcc: &Mvcc,
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
        let start = ((after - self.compact_revision) as usize).min(self.keys.len());
        let first_recent = self.keys.len() - self.recent.len();
        let mut reached = after;
        let mut lookups = 0;
        for (i, key) in self.keys.range(start..).take(SCAN).enumerate() {
            let index = start + i;
            reached = self.compact_revision + 1 + index as Revision;
            if !key.starts_with(prefix) {
                continue;
            }
            match index.checked_sub(first_recent) {
                Some(r) => out.push_back(Pending::Plain(self.recent[r].clone())),
                None => {
                    let (event, looked_up) = self.event_at(mvcc, key, reached);
                    lookups += usize::from(looked_up);
                    out.push_back(Pending::Stored(event));
                }
            }
            if out.len() >= BATCH || lookups >= LOOKUPS {
                break;
            }
        }
        Ok(reached)
    }

    /// The change to `key` at `revision`, as stored, from the slot of recent lookups or
    /// else from the index; also whether it had to be looked up.
    fn event_at(&self, mvcc: &Mvcc, key: &[u8], revision: Revision) -> (WatchEvent, bool) {
        let slots = self
            .looked_up
            .get_or_init(|| (0..LOOKED_UP).map(|_| Mutex::new(None)).collect());
        // Held through the lookup, so watchers after the same event wait for this one
        // rather than look it up too.
        let mut slot = slots[(revision % LOOKED_UP as Revision) as usize].lock();
        if let Some(event) = slot.as_ref().filter(|event| event.revision() == revision) {
            return (event.clone(), false);
        }
        let event = mvcc
            .event_at(key, revision)
            .expect("the index keeps every change after the compaction point");
        *slot = Some(event.clone());
        (event, true)
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
                    .read_after(&state.history, &state.mvcc)
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

    fn read_after(&mut self, log: &EventLog, mvcc: &Mvcc) -> Result<Revision, StoreError> {
        let reached = log.read_after(mvcc, self.after, &self.prefix, &mut self.pending)?;
        self.after = reached;
        Ok(reached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::versions::StoredValue;
    use orchestra_core::KeyValue;

    fn put(revision: Revision) -> WatchEvent {
        WatchEvent::Put {
            kv: KeyValue {
                key: Bytes::from_static(b"/k"),
                value: Bytes::new(),
                create_revision: 1,
                mod_revision: revision,
                version: revision,
            },
        }
    }

    #[test]
    fn an_event_read_back_from_the_index_is_looked_up_once() {
        let (mut mvcc, mut log) = (Mvcc::default(), EventLog::default());
        for revision in 1..=(RECENT + 2) as Revision {
            let value = Bytes::from(revision.to_string());
            let stored = StoredValue::Packed(value.to_vec().into());
            log.push(WatchEvent::Put {
                kv: mvcc.put(b"/k", stored, value, revision),
            });
        }
        let (first, looked_up) = log.event_at(&mvcc, b"/k", 2);
        assert!(looked_up);
        assert_eq!(log.event_at(&mvcc, b"/k", 2), (first.clone(), false));
        assert_eq!((first.revision(), &first.key()[..]), (2, &b"/k"[..]));
    }

    #[test]
    fn a_bounded_log_grows_to_its_bound_and_no_further() {
        let most = 3 * RECENT + 1;
        let mut log = EventLog::starting_after(0, Some(most));
        for revision in 1..=most as Revision {
            log.push(put(revision));
        }
        assert_eq!(log.keys.capacity(), most);
        assert_eq!(log.recent.len(), RECENT);
    }
}
