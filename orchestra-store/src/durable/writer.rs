//! The single writer of a `DurableStore`: group commit on a dedicated thread.
//!
//! Every write (and compaction) is a [`Request`] sent over a channel to one std thread.
//! The thread takes whatever is waiting (up to [`MAX_BATCH`]), decides each request in
//! arrival order against the committed state plus the batch's own earlier changes (so a
//! guarded update conflicts with an earlier write of the same batch exactly as it would
//! have one commit later), records all the changes in one redb write transaction and
//! commits it once, with redb's default `Durability::Immediate`: one fsync for the whole
//! batch. Only then does it apply the changes to the in-memory store that serves reads
//! and watches, and answer each request. So concurrent writers share fsyncs (throughput
//! grows with concurrency), a write is acknowledged only once it is on disk, and no
//! reader ever sees a change that a crash could take back. redb is synchronous; keeping
//! it on this thread means no async task ever blocks on disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use bytes::Bytes;
use orchestra_core::{KeyValue, Revision, StoreError, WatchEvent};
use redb::Database;
use tokio::sync::oneshot;

use super::disk::{self, Marks};
use crate::memory::MemoryStore;

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 4096;

/// The most log entries folded into the on-disk base per commit, so compaction never
/// adds more than a bounded slice of work to one write.
const FOLD_STEP: u64 = 4096;

/// The most revisions compacted at once when history is over its bound (as in
/// `MemoryStore`), keeping each commit's share of compaction small.
const MAX_COMPACTION_STEP: usize = 4096;

/// A change asked of the store.
pub(super) enum Op {
    Create {
        key: Bytes,
        value: Bytes,
    },
    Update {
        key: Bytes,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: Bytes,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// The answer to a request: the written key-value (none for a compaction).
pub(super) type Reply = Result<Option<KeyValue>, StoreError>;

/// One request and where to answer it.
pub(super) struct Request {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Reply>,
}

/// The writer thread's state: the database, the committed marks, and the in-memory
/// store it keeps equal to what is committed.
pub(super) struct Writer {
    pub(super) db: Database,
    pub(super) file: PathBuf,
    pub(super) marks: Marks,
    pub(super) memory: MemoryStore,
    /// Revisions of history to keep (`None`: until compacted by hand).
    pub(super) history: Option<usize>,
}

impl Writer {
    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, requests: Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            // While no write is waiting, fold the rest of the compacted log into the
            // base a slice per commit, so a compaction's disk space comes back even on
            // a store that has gone quiet.
            while self.marks.base < self.marks.compact {
                match requests.try_recv() {
                    Ok(request) => {
                        self.commit(vec![request]);
                    }
                    Err(_) => {
                        let before = self.marks.base;
                        self.commit(Vec::new());
                        if self.marks.base == before {
                            break; // the commit failed; try again after the next write
                        }
                    }
                }
            }
        }
    }

    /// Decides, commits and answers one batch.
    fn commit(&mut self, batch: Vec<Request>) {
        let mut decided = Decisions {
            memory: &self.memory,
            overlay: HashMap::new(),
            revision: self.marks.revision,
            compact: self.marks.compact,
        };
        let mut events = Vec::new();
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch {
            let outcome = decided.decide(request.op);
            let reply = match outcome {
                Ok(Some(event)) => {
                    let kv = match &event {
                        WatchEvent::Put { kv } => kv.clone(),
                        WatchEvent::Delete { prev, .. } => prev.clone(),
                    };
                    events.push(event);
                    Ok(Some(kv))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            replies.push((request.reply, reply));
        }
        let mut marks = Marks {
            revision: decided.revision,
            compact: decided.compact,
            base: self.marks.base,
        };
        if let Some(keep) = self.history {
            // Let history run over by a slice before trimming it, as MemoryStore does.
            let slack = (keep / 4).clamp(1, MAX_COMPACTION_STEP) as Revision;
            let keep = keep as Revision;
            if marks.revision >= marks.compact + keep + slack {
                marks.compact = marks.revision - keep;
            }
        }
        if marks.revision == self.marks.revision
            && marks.compact == self.marks.compact
            && marks.base == marks.compact
        {
            // Nothing to write (only failed requests): answer without a commit.
            for (reply, outcome) in replies {
                let _ = reply.send(outcome);
            }
            return;
        }
        match self.write(&events, marks) {
            Ok(committed) => {
                for event in events {
                    self.memory.apply(event);
                }
                if committed.compact > self.marks.compact {
                    self.memory
                        .compact_now(committed.compact)
                        .expect("the compaction point is within the committed revisions");
                }
                self.marks = committed;
                for (reply, outcome) in replies {
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(file = %self.file.display(), %error, "durable store commit failed");
                let message = error.to_string();
                for (reply, outcome) in replies {
                    // Requests that failed on their own merits keep their own error.
                    let outcome = outcome.and_then(|_| {
                        Err(StoreError::Unavailable {
                            message: format!("commit failed: {message}"),
                            source: None,
                        })
                    });
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    fn write(&self, events: &[WatchEvent], marks: Marks) -> Result<Marks, StoreError> {
        let err = |e: redb::Error| disk::redb_error(&self.file, e);
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        let marks = disk::record(&txn, events, marks, FOLD_STEP).map_err(err)?;
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(marks)
    }
}

/// The state a batch is decided against: the committed store plus the batch's own
/// earlier changes.
struct Decisions<'a> {
    memory: &'a MemoryStore,
    /// Keys changed earlier in this batch: their state now (`None`: deleted).
    overlay: HashMap<Bytes, Option<KeyValue>>,
    revision: Revision,
    compact: Revision,
}

impl Decisions<'_> {
    fn current(&self, key: &[u8]) -> Option<KeyValue> {
        match self.overlay.get(key) {
            Some(state) => state.clone(),
            None => self.memory.current(key),
        }
    }

    /// Decides one request: the change it makes (taking the next revision), nothing
    /// (a no-op compaction), or why it fails.
    fn decide(&mut self, op: Op) -> Result<Option<WatchEvent>, StoreError> {
        let revision = self.revision + 1;
        let event = match op {
            Op::Create { key, value } => {
                if self.current(&key).is_some() {
                    return Err(StoreError::already_exists(&key));
                }
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                };
                WatchEvent::Put { kv }
            }
            Op::Update {
                key,
                value,
                expected,
            } => {
                let current = self
                    .current(&key)
                    .ok_or_else(|| StoreError::not_found(&key))?;
                if current.mod_revision != expected {
                    return Err(StoreError::conflict(&key, expected, current.mod_revision));
                }
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: current.create_revision,
                    mod_revision: revision,
                    version: current.version + 1,
                };
                WatchEvent::Put { kv }
            }
            Op::Delete { key, expected } => {
                let prev = self
                    .current(&key)
                    .ok_or_else(|| StoreError::not_found(&key))?;
                if let Some(expected) = expected {
                    if prev.mod_revision != expected {
                        return Err(StoreError::conflict(&key, expected, prev.mod_revision));
                    }
                }
                WatchEvent::Delete { prev, revision }
            }
            Op::Compact { revision: target } => {
                if target > self.revision {
                    return Err(StoreError::FutureRevision {
                        requested: target,
                        current: self.revision,
                    });
                }
                self.compact = self.compact.max(target);
                return Ok(None);
            }
        };
        let state = match &event {
            WatchEvent::Put { kv } => Some(kv.clone()),
            WatchEvent::Delete { .. } => None,
        };
        self.overlay.insert(event.key().clone(), state);
        self.revision = revision;
        Ok(Some(event))
    }
}
