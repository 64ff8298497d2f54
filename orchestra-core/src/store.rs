//! The raw, etcd-shaped key-value store every other layer is built on.
//!
//! A [`Store`] maps byte-string keys (such as `/registry/deployments/default/web`) to
//! byte values. Every successful write bumps one store-wide, strictly increasing
//! [`Revision`]; each key remembers the revision that created it (`create_revision`),
//! the revision that last changed it (`mod_revision`) and how many times it was written
//! since it was created (`version`). Updates and deletes are guarded by an expected
//! `mod_revision` (optimistic concurrency), and a prefix can be watched from any revision
//! that has not been compacted away.
//!
//! This is exactly what etcd v3 offers, so an etcd backend is a thin mapping and the
//! in-process backends behave identically. The conformance suite in
//! `orchestra_store::testing` holds every implementation to the contracts written on the
//! methods below.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

/// A store revision: the logical clock of the whole store.
///
/// Revision 0 means "before anything was written"; the first write gets revision 1.
pub type Revision = u64;

/// One key's value and its revision bookkeeping, as read from a [`Store`].
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// The value stored at `mod_revision`.
    pub value: Bytes,
    /// The revision of the write that created this key (since its last deletion).
    pub create_revision: Revision,
    /// The revision of the last write to this key.
    pub mod_revision: Revision,
    /// How many writes this key has seen since it was created: 1 after create.
    pub version: u64,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .field("version", &self.version)
            .finish()
    }
}

/// Options for [`Store::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Read the prefix as it was at this revision; `None` reads the current state.
    pub revision: Option<Revision>,
    /// Return at most this many keys (`None`: no limit). When more remain,
    /// [`ListResult::more`] is true; continue with `start_after` set to the last key.
    pub limit: Option<usize>,
    /// Return only keys strictly greater than this one (for paging).
    pub start_after: Option<Bytes>,
}

impl ListOptions {
    /// Read at `revision` instead of the current state.
    #[must_use]
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Return at most `limit` keys.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Return only keys strictly after `key`.
    #[must_use]
    pub fn start_after(mut self, key: impl Into<Bytes>) -> Self {
        self.start_after = Some(key.into());
        self
    }
}

/// What [`Store::list`] returns: a consistent snapshot of one prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    /// The key-values, in ascending key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the snapshot was read at. Watching from it misses nothing and
    /// repeats nothing.
    pub revision: Revision,
    /// Whether keys beyond `limit` remain.
    pub more: bool,
}

/// One change delivered by [`Store::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The key was created or updated; `kv` is its new state (its `mod_revision` is the
    /// revision of this change).
    Put {
        /// The key's state after the write.
        kv: KeyValue,
    },
    /// The key was deleted at `revision`; `prev` is the last state it had.
    Delete {
        /// The state of the key just before it was deleted.
        prev: KeyValue,
        /// The revision of the deletion.
        revision: Revision,
    },
}

impl WatchEvent {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { kv } => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }

    /// The key that changed.
    pub fn key(&self) -> &Bytes {
        match self {
            WatchEvent::Put { kv } => &kv.key,
            WatchEvent::Delete { prev, .. } => &prev.key,
        }
    }
}

/// A stream of changes from [`Store::watch`].
///
/// It yields events in strictly increasing revision order with no gaps (every change to
/// a matching key after the start revision appears exactly once). If the watcher falls
/// so far behind that the history it needs is gone, it yields one
/// `Err(StoreError::Compacted { .. })` and ends: the consumer must list again and watch
/// from the list's revision. Any other error also ends the stream.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send + 'static>>;

/// Errors from a [`Store`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key does not exist.
    #[error("key not found: {key}")]
    NotFound {
        /// The key, lossily decoded for display.
        key: String,
    },
    /// `create` found the key already present.
    #[error("key already exists: {key}")]
    AlreadyExists {
        /// The key, lossily decoded for display.
        key: String,
    },
    /// A guarded write expected another `mod_revision` than the key has.
    #[error("conflict on {key}: expected mod_revision {expected}, current is {current}")]
    Conflict {
        /// The key, lossily decoded for display.
        key: String,
        /// The mod_revision the caller expected.
        expected: Revision,
        /// The key's current mod_revision.
        current: Revision,
    },
    /// The requested revision is older than the store's compaction point.
    #[error("revision {requested} has been compacted; oldest available is {compact_revision}")]
    Compacted {
        /// The revision that was asked for.
        requested: Revision,
        /// The revision the store was compacted at: reads and watches must start at or
        /// after it.
        compact_revision: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is in the future; current is {current}")]
    FutureRevision {
        /// The revision that was asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// The request was malformed (an empty key, an oversized value, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend cannot serve the request right now (connection lost, no leader,
    /// shutting down). Retrying later may succeed.
    ///
    /// For a write this is a promise: the write was not applied and never will be, so
    /// it can be sent again as it is. A backend that cannot promise that answers
    /// [`StoreError::OutcomeUnknown`] instead.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A write failed in a way that leaves its outcome unknown: it may have been
    /// applied, or may still be, or may never be (a timeout after the request was sent,
    /// the connection lost while it was in flight, a replicated backend's leader lost
    /// before it answered). Retrying later may succeed, but not blindly: read the key
    /// first, or expect to meet the write's own effect (a repeated create finding
    /// [`StoreError::AlreadyExists`], a repeated guarded update a
    /// [`StoreError::Conflict`]). Reads never fail this way.
    #[error("write outcome unknown: {message}")]
    OutcomeUnknown {
        /// The write (operation and key) and what went wrong.
        message: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Stored data could not be read back (corruption, foreign file).
    #[error("store data corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Build [`StoreError::NotFound`] from a raw key.
    pub fn not_found(key: &[u8]) -> Self {
        StoreError::NotFound {
            key: display_key(key),
        }
    }

    /// Build [`StoreError::AlreadyExists`] from a raw key.
    pub fn already_exists(key: &[u8]) -> Self {
        StoreError::AlreadyExists {
            key: display_key(key),
        }
    }

    /// Build [`StoreError::Conflict`] from a raw key.
    pub fn conflict(key: &[u8], expected: Revision, current: Revision) -> Self {
        StoreError::Conflict {
            key: display_key(key),
            expected,
            current,
        }
    }

    /// Build [`StoreError::Unavailable`] with no underlying cause.
    pub fn unavailable(message: impl Into<String>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// Build [`StoreError::OutcomeUnknown`] with no underlying cause.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        StoreError::OutcomeUnknown {
            message: message.into(),
            source: None,
        }
    }

    /// Whether retrying later may succeed: [`StoreError::Unavailable`] (nothing was
    /// applied; send the same request again) and [`StoreError::OutcomeUnknown`] (the
    /// write may have been applied; see [`StoreError::is_outcome_unknown`]).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::OutcomeUnknown { .. }
        )
    }

    /// Whether this is [`StoreError::OutcomeUnknown`]: a write that may or may not have
    /// been applied, so a retry must first find out (or tolerate meeting its own
    /// effect).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, StoreError::OutcomeUnknown { .. })
    }
}

/// Renders a key for error messages and logs.
pub fn display_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all `0xff`). This is etcd's "range end" for a
/// prefix query.
pub fn prefix_range_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An etcd-shaped key-value store with revisions, guarded writes and watches.
///
/// Implementations must be safe to share (`Arc<dyn Store>`) and call from many tasks
/// at once. Every write is linearizable: it happens at one revision, and every read or
/// watch that starts after the write returned observes it. Run
/// `orchestra_store::testing::run_all` against an implementation to check it keeps
/// these contracts.
///
/// # Failed writes
///
/// A write (`create`, `update`, `delete`, `compact`) that fails for want of the
/// backend, rather than because of the request, fails in one of two ways, and the
/// caller relies on the difference:
///
/// - [`StoreError::Unavailable`] only when the backend knows the write was not applied
///   and will not be (it was refused before it could take effect, or never sent).
///   Sending it again is safe.
/// - [`StoreError::OutcomeUnknown`] when the backend cannot know: the request may have
///   taken effect, or may still take effect, even though no answer came back. A
///   backend must never report such a write as `Unavailable`; when in doubt, it is
///   unknown.
///
/// Reads (`get`, `list`, `watch`, `current_revision`, `compact_revision`) change
/// nothing, so they fail with `Unavailable` and never with `OutcomeUnknown`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Returns the current state of `key`, or `None` if it does not exist.
    ///
    /// Contract: reflects every write that returned before this call started.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError>;

    /// Returns every key that starts with `prefix`, in ascending key order, as of one
    /// revision.
    ///
    /// Contract: the result is a consistent snapshot at [`ListResult::revision`] (the
    /// current revision, or `options.revision` if given). Reading at a compacted
    /// revision fails with [`StoreError::Compacted`]; at a revision beyond the current
    /// one with [`StoreError::FutureRevision`]. A prefix matches bytewise: `/a/b`
    /// matches `/a/b/x` and `/a/bc`, so callers that want a "directory" end the prefix
    /// with `/`.
    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError>;

    /// Creates `key` with `value`.
    ///
    /// Contract: fails with [`StoreError::AlreadyExists`] if the key exists; otherwise
    /// returns only after the write is durable for this backend, with `version` 1 and
    /// `create_revision == mod_revision` strictly greater than every earlier revision.
    /// Fails with [`StoreError::Unavailable`] only if the key was certainly not created,
    /// and with [`StoreError::OutcomeUnknown`] if it may have been (see
    /// [Failed writes](Store#failed-writes)).
    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError>;

    /// Replaces the value of `key` if its `mod_revision` is `expected_mod_revision`.
    ///
    /// Contract: fails with [`StoreError::NotFound`] if the key does not exist and with
    /// [`StoreError::Conflict`] (carrying the current mod_revision) if it was changed
    /// since; otherwise returns the new state, with a fresh revision and `version`
    /// incremented. Of many concurrent updates with the same expectation exactly one
    /// succeeds. Fails with [`StoreError::Unavailable`] only if the value was certainly
    /// not replaced, and with [`StoreError::OutcomeUnknown`] if it may have been.
    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes `key`, guarded by `expected_mod_revision` when it is `Some`.
    ///
    /// Contract: fails with [`StoreError::NotFound`] if the key does not exist and with
    /// [`StoreError::Conflict`] if the guard does not match; otherwise returns the state
    /// the key had just before the deletion, and the deletion takes a fresh revision.
    /// Fails with [`StoreError::Unavailable`] only if the key was certainly not deleted,
    /// and with [`StoreError::OutcomeUnknown`] if it may have been.
    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError>;

    /// Watches every key starting with `prefix` for changes made strictly after
    /// `after_revision`.
    ///
    /// Contract: the stream yields, in revision order and exactly once each, every
    /// change to a matching key with revision `> after_revision` (so listing at
    /// revision R and then watching after R sees every change exactly once). Fails
    /// with [`StoreError::Compacted`] if `after_revision` is below the compaction point
    /// C (compacting at C discards the change made at C itself, so watching after
    /// `C - 1` fails too, where etcd would still start at C), either at once or, for a
    /// watcher that fell behind, as the stream's last item. Watching after a revision
    /// not reached yet is allowed: changes arrive once they happen. A watcher never
    /// blocks writers.
    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError>;

    /// Discards history older than `revision`.
    ///
    /// Contract: afterwards, the current state is unchanged, reads at revisions
    /// `>= revision` and watches after `revision` still work, and older ones fail with
    /// [`StoreError::Compacted`]. Compacting at or below the previous compaction point
    /// is a no-op; beyond the current revision fails with
    /// [`StoreError::FutureRevision`]. Fails with [`StoreError::Unavailable`] only if
    /// the history was certainly not discarded, and with [`StoreError::OutcomeUnknown`]
    /// if it may have been.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// Returns the current revision: the revision of the latest write (0 if none).
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// Returns the current compaction point: the oldest revision still readable.
    async fn compact_revision(&self) -> Result<Revision, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_end_increments_last_byte() {
        assert_eq!(prefix_range_end(b"/a/b"), Some(b"/a/c".to_vec()));
        assert_eq!(prefix_range_end(b"/a\xff"), Some(b"/b".to_vec()));
        assert_eq!(prefix_range_end(b"\xff\xff"), None);
        assert_eq!(prefix_range_end(b""), None);
    }

    #[test]
    fn an_unknown_outcome_is_transient_and_says_so() {
        let unknown = StoreError::outcome_unknown("create /a: connection lost");
        assert!(unknown.is_transient());
        assert!(unknown.is_outcome_unknown());
        assert_eq!(
            unknown.to_string(),
            "write outcome unknown: create /a: connection lost"
        );
        let unavailable = StoreError::unavailable("no leader");
        assert!(unavailable.is_transient());
        assert!(!unavailable.is_outcome_unknown());
        assert!(!StoreError::already_exists(b"/a").is_transient());
    }

    #[test]
    fn store_is_object_safe_and_shareable() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Store>();
        assert_send_sync::<StoreError>();
    }
}
