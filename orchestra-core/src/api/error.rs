//! The one error type of the typed object API.

use crate::store::{Revision, StoreError};
use crate::validation::FieldErrors;

/// Errors from [`Api`](super::Api) calls. Every variant names the object involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The object does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// The kind, e.g. `Pod`.
        kind: &'static str,
        /// `namespace/name` or `name`.
        name: String,
    },
    /// An object with this name already exists.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// The kind.
        kind: &'static str,
        /// `namespace/name` or `name`.
        name: String,
    },
    /// The object changed since it was read (stale `resourceVersion`, or a precondition
    /// that no longer holds). Read it again and retry.
    #[error("conflict on {kind} {name:?}: {message}")]
    Conflict {
        /// The kind.
        kind: &'static str,
        /// `namespace/name` or `name`.
        name: String,
        /// What did not match.
        message: String,
    },
    /// The object is not valid: every problem, each naming its field.
    #[error("{kind} {name:?} is invalid: {errors}")]
    Invalid {
        /// The kind.
        kind: &'static str,
        /// `namespace/name`, `name`, or the generateName prefix.
        name: String,
        /// Every problem found.
        errors: FieldErrors,
    },
    /// The request itself is malformed (a patch that is not a JSON object, a selector
    /// that does not parse, a namespace missing where one is needed).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The encoded object is over the size limit.
    #[error("{kind} {name:?} is too large: {size} bytes, limit is {limit}")]
    TooLarge {
        /// The kind.
        kind: &'static str,
        /// `namespace/name` or `name`.
        name: String,
        /// The encoded size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A list or watch asked for a resourceVersion that has been compacted away: list
    /// again and watch from the list's version.
    #[error("resourceVersion {requested} is too old; oldest available is {oldest}")]
    Gone {
        /// The requested resourceVersion.
        requested: Revision,
        /// The oldest resourceVersion still available.
        oldest: Revision,
    },
    /// A stored object could not be decoded as this kind.
    #[error("cannot decode stored {kind} at {key}: {source}")]
    Decode {
        /// The kind.
        kind: &'static str,
        /// The store key.
        key: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The store failed (for example it is unavailable). [`ApiError::is_transient`]
    /// says whether retrying may help.
    #[error("store error: {0}")]
    Store(#[source] StoreError),
}

impl ApiError {
    /// Whether this is [`ApiError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }

    /// Whether this is [`ApiError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Conflict { .. })
    }

    /// Whether this is [`ApiError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ApiError::AlreadyExists { .. })
    }

    /// Whether this is [`ApiError::Gone`].
    pub fn is_gone(&self) -> bool {
        matches!(self, ApiError::Gone { .. })
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Store(e) if e.is_transient())
    }
}
