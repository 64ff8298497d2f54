//! Parameters and results of [`Api`](super::Api) calls.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::labels::LabelSelector;
use crate::meta::ObjectMeta;
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
    /// Which state to read (Kubernetes' `resourceVersion`): `None` reads the latest
    /// state; `Some(rv)` reads according to [`ListParams::version_match`].
    pub resource_version: Option<Revision>,
    /// How `resource_version` is read (Kubernetes' `resourceVersionMatch`).
    pub version_match: VersionMatch,
}

/// How a list's `resource_version` is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VersionMatch {
    /// The latest state, which must be at least as new as the version (a server whose
    /// store is behind answers [`ApiError::Timeout`](super::ApiError::Timeout)); `0`
    /// means any state.
    #[default]
    NotOlderThan,
    /// The state exactly at the version ([`ApiError::Gone`](super::ApiError::Gone) if
    /// it was compacted away).
    Exact,
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

    /// Reads the state at `resource_version` exactly.
    #[must_use]
    pub fn at_version(mut self, resource_version: Revision) -> Self {
        self.resource_version = Some(resource_version);
        self.version_match = VersionMatch::Exact;
        self
    }

    /// Reads the latest state, which must be at least as new as `resource_version`.
    #[must_use]
    pub fn not_older_than(mut self, resource_version: Revision) -> Self {
        self.resource_version = Some(resource_version);
        self.version_match = VersionMatch::NotOlderThan;
        self
    }

    /// The selectors of a watch that follows this list from `resource_version`.
    pub fn watch_from(&self, resource_version: Revision) -> WatchParams {
        WatchParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            resource_version: Some(resource_version),
            ..WatchParams::default()
        }
    }
}

/// Which changes a watch delivers, from where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchParams {
    /// Only objects whose labels match.
    pub label_selector: Option<LabelSelector>,
    /// Only objects whose fields match.
    pub field_selector: Option<FieldSelector>,
    /// `Some(rv)`: every change after `rv` (usually a list's resourceVersion).
    /// `None`: the current objects first, as `Added`, then every change — Kubernetes'
    /// watch without a resourceVersion.
    pub resource_version: Option<Revision>,
    /// Whether the server may send [`ObjectEvent::Bookmark`]s (Kubernetes'
    /// `allowWatchBookmarks`).
    pub bookmarks: bool,
    /// End the watch after this long (Kubernetes' `timeoutSeconds`); `None`: never.
    pub timeout: Option<Duration>,
}

impl WatchParams {
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

    /// Every change after `resource_version`.
    #[must_use]
    pub fn from_version(mut self, resource_version: Revision) -> Self {
        self.resource_version = Some(resource_version);
        self
    }

    /// Asks for bookmarks.
    #[must_use]
    pub fn bookmarks(mut self, allow: bool) -> Self {
        self.bookmarks = allow;
        self
    }

    /// Ends the watch after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
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
    /// Nothing changed for this watch up to this resourceVersion: a watch resumed from
    /// it misses nothing. Sent only when asked for ([`WatchParams::bookmarks`]).
    Bookmark {
        /// The resourceVersion every event up to which has been delivered.
        resource_version: Revision,
    },
    /// The object was created, or started to match the watch's selectors.
    Added(K),
    /// The object changed and still matches.
    Modified(K),
    /// The object was deleted (its last state, with the deletion's resourceVersion),
    /// or stopped matching the watch's selectors.
    Deleted(K),
}

impl<K> ObjectEvent<K> {
    /// The object the event is about (none for a bookmark).
    pub fn object(&self) -> Option<&K> {
        match self {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => Some(o),
            ObjectEvent::Bookmark { .. } => None,
        }
    }

    /// The object, by value (none for a bookmark).
    pub fn into_object(self) -> Option<K> {
        match self {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => Some(o),
            ObjectEvent::Bookmark { .. } => None,
        }
    }

    /// The same event with its object mapped by `f`.
    pub fn try_map<T, E>(self, f: impl FnOnce(K) -> Result<T, E>) -> Result<ObjectEvent<T>, E> {
        Ok(match self {
            ObjectEvent::Added(o) => ObjectEvent::Added(f(o)?),
            ObjectEvent::Modified(o) => ObjectEvent::Modified(f(o)?),
            ObjectEvent::Deleted(o) => ObjectEvent::Deleted(f(o)?),
            ObjectEvent::Bookmark { resource_version } => {
                ObjectEvent::Bookmark { resource_version }
            }
        })
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
    /// the kind's default. Only kinds with something to stop delete gracefully (pods
    /// on a node); any other kind ignores it, as in Kubernetes (the registry
    /// strategy's
    /// [`deletion_grace_seconds`](crate::registry::Strategy::deletion_grace_seconds)
    /// decides).
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
    /// The same outcome with its object mapped by `f`.
    pub fn try_map<T, E>(self, f: impl FnOnce(K) -> Result<T, E>) -> Result<DeleteOutcome<T>, E> {
        Ok(match self {
            DeleteOutcome::Deleted(o) => DeleteOutcome::Deleted(f(o)?),
            DeleteOutcome::Pending(o) => DeleteOutcome::Pending(f(o)?),
        })
    }

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

/// A patch and its type (the request's `Content-Type` in Kubernetes).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Patch {
    /// A JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge
    /// key by key, `null` removes a key, anything else replaces.
    Merge(serde_json::Value),
    /// A JSON patch (RFC 6902, `application/json-patch+json`): a list of operations.
    Json(serde_json::Value),
    /// A strategic merge patch (`application/strategic-merge-patch+json`), what kubectl
    /// sends for the built-in kinds: a merge patch whose lists of containers,
    /// conditions, finalizers… merge item by item, with `$patch`, `$setElementOrder`,
    /// `$deleteFromPrimitiveList` and `$retainKeys` directives (see
    /// [`strategic_merge`](super::strategic_merge)). Only kinds whose registry
    /// strategy has a [patch schema](crate::registry::Strategy::patch_schema) take it;
    /// others refuse it with `UnsupportedMediaType`, as kube-apiserver refuses it for
    /// custom resources.
    Strategic(serde_json::Value),
}

impl Patch {
    /// The patch type's media type.
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
        }
    }
}

/// The target of a bind: the `binding` subresource of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Binding {
    /// The node the pod is bound to.
    pub node_name: String,
    /// Bind only the pod with this uid (not one re-created under its name).
    pub pod_uid: Option<String>,
}

impl Binding {
    /// A binding to `node_name`.
    pub fn to_node(node_name: impl Into<String>) -> Binding {
        Binding {
            node_name: node_name.into(),
            pod_uid: None,
        }
    }

    /// Binds only the pod with this uid.
    #[must_use]
    pub fn pod_uid(mut self, uid: impl Into<String>) -> Self {
        self.pod_uid = Some(uid.into());
        self
    }
}

/// The `scale` subresource of a scalable kind (autoscaling/v1 `Scale`): its desired
/// and current replicas and the selector of its pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// The scaled object's metadata (name, namespace, uid, resourceVersion).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired replicas.
    #[serde(default)]
    pub spec: ScaleSpec,
    /// The observed replicas.
    #[serde(default)]
    pub status: ScaleStatus,
}

/// The desired part of a [`Scale`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSpec {
    /// The desired replicas.
    #[serde(default)]
    pub replicas: i32,
}

/// The observed part of a [`Scale`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleStatus {
    /// The replicas that exist.
    #[serde(default)]
    pub replicas: i32,
    /// The label selector of the pods, in its string form (`app=web`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
}
