//! What [`InterceptedStore`](super::InterceptedStore) tells its hooks and what they
//! answer: a [`StoreCall`] describes one call, a [`Verdict`] says what becomes of it,
//! an [`EventVerdict`] what becomes of one watch event.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use orchestra_core::store::display_key;
use orchestra_core::{ListOptions, Revision, StoreError};

/// One operation of [`Store`](orchestra_core::Store), for counting calls and naming them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// [`Store::get`](orchestra_core::Store::get).
    Get,
    /// [`Store::list`](orchestra_core::Store::list).
    List,
    /// [`Store::create`](orchestra_core::Store::create).
    Create,
    /// [`Store::update`](orchestra_core::Store::update).
    Update,
    /// [`Store::delete`](orchestra_core::Store::delete).
    Delete,
    /// [`Store::watch`](orchestra_core::Store::watch).
    Watch,
    /// [`Store::compact`](orchestra_core::Store::compact).
    Compact,
    /// [`Store::current_revision`](orchestra_core::Store::current_revision).
    CurrentRevision,
    /// [`Store::compact_revision`](orchestra_core::Store::compact_revision).
    CompactRevision,
}

impl StoreOp {
    /// Every operation.
    pub const ALL: [StoreOp; 9] = [
        StoreOp::Get,
        StoreOp::List,
        StoreOp::Create,
        StoreOp::Update,
        StoreOp::Delete,
        StoreOp::Watch,
        StoreOp::Compact,
        StoreOp::CurrentRevision,
        StoreOp::CompactRevision,
    ];

    /// The operations that write a key, and so take a revision when they succeed.
    pub const WRITES: [StoreOp; 3] = [StoreOp::Create, StoreOp::Update, StoreOp::Delete];

    /// The method's name, such as `current_revision`.
    pub fn name(self) -> &'static str {
        match self {
            StoreOp::Get => "get",
            StoreOp::List => "list",
            StoreOp::Create => "create",
            StoreOp::Update => "update",
            StoreOp::Delete => "delete",
            StoreOp::Watch => "watch",
            StoreOp::Compact => "compact",
            StoreOp::CurrentRevision => "current_revision",
            StoreOp::CompactRevision => "compact_revision",
        }
    }
}

impl fmt::Display for StoreOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One call to the store, with its arguments, as
/// [`InterceptedStore::on_call`](super::InterceptedStore::on_call) sees it and as a
/// [`Verdict::Replace`] carries it out instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreCall {
    /// [`Store::get`](orchestra_core::Store::get) of `key`.
    Get {
        /// The key read.
        key: Bytes,
    },
    /// [`Store::list`](orchestra_core::Store::list) of `prefix`.
    List {
        /// The prefix listed.
        prefix: Bytes,
        /// The revision, limit and start key asked for.
        options: ListOptions,
    },
    /// [`Store::create`](orchestra_core::Store::create) of `key`.
    Create {
        /// The key created.
        key: Bytes,
        /// Its value.
        value: Bytes,
    },
    /// [`Store::update`](orchestra_core::Store::update) of `key`, guarded by `expected`.
    Update {
        /// The key updated.
        key: Bytes,
        /// Its new value.
        value: Bytes,
        /// The `mod_revision` the caller expects the key to have.
        expected: Revision,
    },
    /// [`Store::delete`](orchestra_core::Store::delete) of `key`, guarded by `expected`
    /// when it is `Some`.
    Delete {
        /// The key deleted.
        key: Bytes,
        /// The `mod_revision` the caller expects the key to have, if any.
        expected: Option<Revision>,
    },
    /// [`Store::watch`](orchestra_core::Store::watch) of `prefix` after `after`.
    Watch {
        /// The prefix watched.
        prefix: Bytes,
        /// The revision after which changes are wanted.
        after: Revision,
    },
    /// [`Store::compact`](orchestra_core::Store::compact) at `revision`.
    Compact {
        /// The new compaction point.
        revision: Revision,
    },
    /// [`Store::current_revision`](orchestra_core::Store::current_revision).
    CurrentRevision,
    /// [`Store::compact_revision`](orchestra_core::Store::compact_revision).
    CompactRevision,
}

impl StoreCall {
    /// The operation called.
    pub fn op(&self) -> StoreOp {
        match self {
            StoreCall::Get { .. } => StoreOp::Get,
            StoreCall::List { .. } => StoreOp::List,
            StoreCall::Create { .. } => StoreOp::Create,
            StoreCall::Update { .. } => StoreOp::Update,
            StoreCall::Delete { .. } => StoreOp::Delete,
            StoreCall::Watch { .. } => StoreOp::Watch,
            StoreCall::Compact { .. } => StoreOp::Compact,
            StoreCall::CurrentRevision => StoreOp::CurrentRevision,
            StoreCall::CompactRevision => StoreOp::CompactRevision,
        }
    }

    /// The key the call reads or writes, or the prefix it lists or watches; `None` for
    /// the calls about the whole store.
    pub fn target(&self) -> Option<&Bytes> {
        match self {
            StoreCall::Get { key }
            | StoreCall::Create { key, .. }
            | StoreCall::Update { key, .. }
            | StoreCall::Delete { key, .. } => Some(key),
            StoreCall::List { prefix, .. } | StoreCall::Watch { prefix, .. } => Some(prefix),
            StoreCall::Compact { .. } | StoreCall::CurrentRevision | StoreCall::CompactRevision => {
                None
            }
        }
    }
}

/// The operation, its key or prefix, and its revisions, such as
/// `update /registry/pods/a expecting 7`; values are left out.
impl fmt::Display for StoreCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op())?;
        if let Some(target) = self.target() {
            write!(f, " {}", display_key(target))?;
        }
        match self {
            StoreCall::List { options, .. } => {
                if let Some(revision) = options.revision {
                    write!(f, " at {revision}")?;
                }
                if let Some(limit) = options.limit {
                    write!(f, " limit {limit}")?;
                }
                if let Some(start) = &options.start_after {
                    write!(f, " after {}", display_key(start))?;
                }
                Ok(())
            }
            StoreCall::Update { expected, .. }
            | StoreCall::Delete {
                expected: Some(expected),
                ..
            } => write!(f, " expecting {expected}"),
            StoreCall::Watch { after, .. } => write!(f, " after {after}"),
            StoreCall::Compact { revision } => write!(f, " at {revision}"),
            _ => Ok(()),
        }
    }
}

/// What [`InterceptedStore`](super::InterceptedStore) does with a call, as its
/// `on_call` hook decides.
pub enum Verdict {
    /// Let the call through to the store.
    Pass,
    /// Fail the call with this error; the store never sees it.
    Fail(StoreError),
    /// Carry out this call instead, on the store: the same operation with other
    /// arguments (a list at another revision, an update with another guard).
    ///
    /// A replacement of another operation is a bug in the test, and panics.
    Replace(StoreCall),
    /// Run this action first (a competing write, a delay), then do what the verdict it
    /// returns says.
    After(BoxFuture<'static, Verdict>),
}

impl Verdict {
    /// [`Verdict::After`] of `action`.
    pub fn after(action: impl Future<Output = Verdict> + Send + 'static) -> Verdict {
        Verdict::After(Box::pin(action))
    }

    /// Holds the call for `delay` (in tokio time, so paused tests do not wait), then
    /// lets it through.
    pub fn delay(delay: Duration) -> Verdict {
        Verdict::after(async move {
            tokio::time::sleep(delay).await;
            Verdict::Pass
        })
    }
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("Pass"),
            Verdict::Fail(e) => f.debug_tuple("Fail").field(e).finish(),
            Verdict::Replace(call) => f.debug_tuple("Replace").field(call).finish(),
            Verdict::After(_) => f.write_str("After(..)"),
        }
    }
}

/// What [`InterceptedStore`](super::InterceptedStore) does with an event an open watch
/// is about to deliver, as its `on_watch_event` hook decides.
#[derive(Debug)]
pub enum EventVerdict {
    /// Deliver the event.
    Deliver,
    /// Leave the event out, as a watch that loses events would; the watch goes on.
    Drop,
    /// Deliver this error instead, and end the watch (as a watch that fell behind ends
    /// with [`StoreError::Compacted`]).
    Fail(StoreError),
}
