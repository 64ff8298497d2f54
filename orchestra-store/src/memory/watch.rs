//! Watch streams of `MemoryStore`: each watcher is a cursor into the shared event log.
//!
//! A watcher copies pointers to the matching events after its cursor out of the log in
//! batches, under the read lock, and sleeps when it has caught up. Writers never wait
//! for watchers and wake only one fan-out task, which wakes the sleeping watchers: with
//! a hundred idle watchers, a write still costs one wake-up. If compaction trimmed the
//! log past a watcher's cursor, the watcher yields `Compacted` and ends.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use orchestra_core::{Revision, StoreError, WatchEvent, WatchStream};

use super::Shared;

/// Most events copied out of the log per lock acquisition.
const BATCH: usize = 512;

struct Cursor {
    shared: Arc<Shared>,
    prefix: Bytes,
    /// The last revision delivered (or skipped as not matching).
    after: Revision,
    pending: VecDeque<Arc<WatchEvent>>,
    revisions: tokio::sync::watch::Receiver<Revision>,
    ended: bool,
}

pub(super) fn stream(shared: Arc<Shared>, prefix: Bytes, after: Revision) -> WatchStream {
    ensure_fanout(&shared);
    let revisions = shared.fanout.subscribe();
    let cursor = Cursor {
        shared,
        prefix,
        after,
        pending: VecDeque::new(),
        revisions,
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
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(WatchEvent::clone(&event)));
            }
            if self.ended {
                return None;
            }
            // Mark the current revision seen before reading, so a write that lands
            // after the read wakes us.
            self.revisions.borrow_and_update();
            if let Err(e) = self.fill() {
                self.ended = true;
                return Some(Err(e));
            }
            if self.pending.is_empty() && self.revisions.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Copies up to [`BATCH`] matching events after the cursor into `pending`.
    fn fill(&mut self) -> Result<(), StoreError> {
        let state = self.shared.state.read();
        if self.after < state.compact_revision {
            return Err(StoreError::Compacted {
                requested: self.after,
                compact_revision: state.compact_revision,
            });
        }
        let start = (self.after - state.compact_revision) as usize;
        let mut scanned = 0;
        for event in state.log.range(start.min(state.log.len())..) {
            scanned += 1;
            if event.key().starts_with(&self.prefix) {
                self.pending.push_back(Arc::clone(event));
                if self.pending.len() == BATCH {
                    break;
                }
            }
            if scanned == BATCH * 8 {
                break;
            }
        }
        self.after += scanned as Revision;
        Ok(())
    }
}

/// Starts the fan-out task on the current runtime unless it runs already (a store used
/// from a second runtime after the first one ended gets a new task).
fn ensure_fanout(shared: &Shared) {
    let mut task = shared.fanout_task.lock();
    if task.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let mut revisions = shared.revision_tx.subscribe();
    let fanout = shared.fanout.clone();
    *task = Some(tokio::spawn(async move {
        // Ends when the store (the sender) is dropped.
        while revisions.changed().await.is_ok() {
            let revision = *revisions.borrow_and_update();
            fanout.send_replace(revision);
        }
    }));
}
