//! Parameters and results of [`Api`](super::Api) calls.

use crate::labels::LabelSelector;
use crate::resource::Resource;
use crate::store::Revision;

use super::field_selector::FieldSelector;

/// Which objects a list or watch returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListParams {
    /// Only objects whose labels match.
    pub label_selector: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub field_selector: Option<FieldSelector>,
    /// At most this many objects per page; continue with
    /// [`ObjectList::continue_token`].
    pub limit: Option<usize>,
    /// Resume a paged list where the previous page ended.
    pub continue_token: Option<String>,
}

impl ListParams {
    /// Only objects whose labels match `selector`.
    #[must_use]
    pub fn labels(mut self, selector: LabelSelector) -> Self {
        self.label_selector = Some(selector);
        self
    }

    /// Only objects whose fields match `selector`.
    #[must_use]
    pub fn fields(mut self, selector: FieldSelector) -> Self {
        self.field_selector = Some(selector);
        self
    }

    /// At most `limit` objects per page.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continue after a previous page.
    #[must_use]
    pub fn continue_from(mut self, token: impl Into<String>) -> Self {
        self.continue_token = Some(token.into());
        self
    }

    /// Whether `obj` passes both selectors.
    pub fn matches<K: Resource>(&self, obj: &K) -> bool {
        self.label_selector
            .as_ref()
            .is_none_or(|s| s.matches(&obj.meta().labels))
            && self.field_selector.as_ref().is_none_or(|s| s.matches(obj))
    }

    pub(crate) fn has_selector(&self) -> bool {
        self.label_selector.as_ref().is_some_and(|s| !s.is_empty())
            || self.field_selector.as_ref().is_some_and(|s| !s.is_empty())
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectList<K> {
    /// The objects, ordered by namespace then name.
    pub items: Vec<K>,
    /// The resourceVersion the list was read at: watch from it to miss nothing.
    pub resource_version: Revision,
    /// Present when more objects remain: pass it to [`ListParams::continue_from`].
    /// Every page of one paged list is read at the same resourceVersion.
    pub continue_token: Option<String>,
}

/// A change to one object, from [`Api::watch`](super::Api::watch).
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectEvent<K> {
    /// The object was created, or started to match the watch's selectors.
    Added(K),
    /// The object changed and still matches.
    Modified(K),
    /// The object was deleted (its last state, with the deletion's resourceVersion),
    /// or stopped matching the watch's selectors.
    Deleted(K),
}

impl<K> ObjectEvent<K> {
    /// The object the event is about.
    pub fn object(&self) -> &K {
        match self {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => o,
        }
    }

    /// The object, by value.
    pub fn into_object(self) -> K {
        match self {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => o,
        }
    }
}

/// What happens to an object's dependents when it is deleted (Kubernetes'
/// `propagationPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PropagationPolicy {
    /// The object goes at once; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays, with the `foregroundDeletion` finalizer, until the garbage
    /// collector has deleted every dependent that blocks owner deletion.
    Foreground,
    /// The object stays, with the `orphan` finalizer, until the garbage collector has
    /// removed it from its dependents' owner references; the dependents live on.
    Orphan,
}

/// The finalizer that records a foreground deletion.
pub const FINALIZER_FOREGROUND_DELETION: &str = "foregroundDeletion";
/// The finalizer that records an orphaning deletion.
pub const FINALIZER_ORPHAN: &str = "orphan";

/// Options of [`Api::delete`](super::Api::delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteParams {
    /// What happens to dependents (default: background).
    pub propagation_policy: Option<PropagationPolicy>,
    /// Seconds the object may take to terminate; `Some(0)` deletes at once. `None` uses
    /// the kind's default ([`Resource::default_deletion_grace_seconds`]).
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the object still has this uid.
    pub precondition_uid: Option<String>,
    /// Delete only if the object is still at this resourceVersion.
    pub precondition_resource_version: Option<Revision>,
}

impl DeleteParams {
    /// Background propagation (the default).
    pub fn background() -> Self {
        DeleteParams::default().propagation(PropagationPolicy::Background)
    }

    /// Foreground propagation: the owner goes after its blocking dependents.
    pub fn foreground() -> Self {
        DeleteParams::default().propagation(PropagationPolicy::Foreground)
    }

    /// Orphan the dependents.
    pub fn orphan() -> Self {
        DeleteParams::default().propagation(PropagationPolicy::Orphan)
    }

    /// Sets the propagation policy.
    #[must_use]
    pub fn propagation(mut self, policy: PropagationPolicy) -> Self {
        self.propagation_policy = Some(policy);
        self
    }

    /// Sets the grace period.
    #[must_use]
    pub fn grace_period(mut self, seconds: i64) -> Self {
        self.grace_period_seconds = Some(seconds);
        self
    }

    /// Deletes only the object with this uid.
    #[must_use]
    pub fn precondition_uid(mut self, uid: impl Into<String>) -> Self {
        self.precondition_uid = Some(uid.into());
        self
    }

    /// Deletes only if the object is at this resourceVersion.
    #[must_use]
    pub fn precondition_resource_version(mut self, rv: Revision) -> Self {
        self.precondition_resource_version = Some(rv);
        self
    }
}

/// What [`Api::delete`](super::Api::delete) did.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteOutcome<K> {
    /// The object is gone; this was its last state.
    Deleted(K),
    /// The object is marked for deletion (`deletionTimestamp` set) and waits for its
    /// finalizers or its grace period; this is its new state.
    Pending(K),
}

impl<K> DeleteOutcome<K> {
    /// The object, deleted or pending.
    pub fn object(&self) -> &K {
        match self {
            DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o) => o,
        }
    }

    /// Whether the object is gone.
    pub fn is_deleted(&self) -> bool {
        matches!(self, DeleteOutcome::Deleted(_))
    }
}
