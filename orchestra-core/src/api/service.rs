//! The [`ObjectService`] trait, the seam beneath `Api<K>`.

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

use crate::resource::ApiResource;

use super::body::ObjectBody;
use super::error::ApiError;
use super::params::{
    Binding, DeleteOutcome, DeleteParams, ListParams, ObjectEvent, ObjectList, Patch, Scale,
    WatchParams,
};

/// Which objects a call addresses: one kind, in one namespace or (for a list or watch
/// of a namespaced kind, `None`) in all of them. A cluster-scoped kind has no
/// namespace.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The kind.
    pub resource: &'a ApiResource,
    /// The namespace, for a namespaced kind.
    pub namespace: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// Objects of `resource` in `namespace` (or all namespaces).
    pub fn new(resource: &'a ApiResource, namespace: Option<&'a str>) -> Self {
        Target {
            resource,
            namespace,
        }
    }

    /// `namespace/name` or `name`, for messages.
    pub fn qualify(&self, name: &str) -> String {
        match self.namespace {
            Some(ns) if self.resource.is_namespaced() => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    }
}

/// The events of a watch, as encoded objects.
pub type BodyWatch = Pin<Box<dyn Stream<Item = Result<ObjectEvent<ObjectBody>, ApiError>> + Send>>;

/// The seam beneath [`Api<K>`](super::Api) — the object-level
/// operations of a Kubernetes-style API server, over encoded objects.
///
/// A [`Client`](super::Client) holds one service; `Api<K>` turns each typed call into
/// one call here. The object rules (validation, defaults, uid, generation,
/// resourceVersion, finalizers, size limits) are applied behind the service, once:
/// by the [`Registry`](crate::registry::Registry) over a store in this process, or by a
/// server at the other end of a connection. A caller never re-applies them, so a node
/// agent or a controller runs unchanged against either.
///
/// The trait is dyn-compatible: a client holds `Arc<dyn ObjectService>`, and a
/// middleware (a link that can be cut, an interceptor that injects faults) wraps
/// another service. Every method's contract is the Kubernetes API's for the same verb,
/// and the Api conformance kit (`orchestra_core::testing::api`, feature `testing`)
/// checks an implementation against it.
///
/// Objects go in and come out as [`ObjectBody`]s. Unless a method says otherwise, a
/// call that fails changed nothing — but for [`ApiError::Timeout`], whose outcome is
/// unknown.
#[async_trait]
pub trait ObjectService: Send + Sync + 'static {
    /// The kinds served (discovery).
    async fn resources(&self) -> Result<Vec<ApiResource>, ApiError>;

    /// Creates an object in `target`'s namespace (the object's own, if it names one,
    /// must agree). Its name comes from `metadata.name`, or `metadata.generateName`
    /// plus a random suffix. The server sets uid, creationTimestamp, generation 1 and
    /// resourceVersion, clears status and deletion fields whatever was sent, applies
    /// the kind's defaults and validates. Returns the stored object.
    async fn create(&self, target: Target<'_>, obj: ObjectBody) -> Result<ObjectBody, ApiError>;

    /// The object named `name`.
    async fn get(&self, target: Target<'_>, name: &str) -> Result<ObjectBody, ApiError>;

    /// The objects matching `params`, as of one resourceVersion (the list's). With a
    /// limit, pages continue at the same resourceVersion; a continue token whose
    /// version was compacted meanwhile fails with [`ApiError::Gone`]. An invalid
    /// selector is [`ApiError::BadRequest`].
    async fn list(
        &self,
        target: Target<'_>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError>;

    /// Replaces the desired state and metadata of the object named `name` with
    /// `obj`'s. A non-empty resourceVersion must be the stored one
    /// ([`ApiError::Conflict`] otherwise), and so must a non-empty uid (a copy of an
    /// object deleted and re-created since is a Conflict, resourceVersion or not);
    /// status and server-owned metadata are kept
    /// from the stored object; `generation` moves when the desired state changed; a
    /// replace that changes nothing writes nothing. Removing the last finalizer of an
    /// object being deleted, with no grace period pending, removes it.
    async fn replace(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError>;

    /// Replaces the status of the object named `name` with `obj`'s, keeping everything
    /// else as stored. Guarded by a non-empty resourceVersion like
    /// [`replace`](Self::replace); [`ApiError::MethodNotAllowed`] for a kind without
    /// status.
    async fn replace_status(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError>;

    /// Applies `patch` to the latest stored state of the object named `name`, retrying
    /// if another writer gets in between (unless the patch pins a
    /// `metadata.resourceVersion`, which must then match), then replaces as
    /// [`replace`](Self::replace) does. A patch that does not apply is
    /// [`ApiError::BadRequest`] (or `Invalid` when the result is not a valid object);
    /// a patch type the kind does not take (a strategic merge patch of a kind without a
    /// patch schema) is [`ApiError::UnsupportedMediaType`], checked before any read.
    async fn patch(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError>;

    /// Like [`patch`](Self::patch), for the status.
    async fn patch_status(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError>;

    /// Deletes the object named `name`. With no finalizers and no grace period it goes
    /// at once ([`DeleteOutcome::Deleted`], its last state). Otherwise it is marked:
    /// `deletionTimestamp` is set to now plus the grace period (a later delete may
    /// shorten it), the propagation policy is recorded as the `foregroundDeletion` or
    /// `orphan` finalizer, and it stays until its finalizers are removed
    /// ([`DeleteOutcome::Pending`]). Preconditions that do not hold are
    /// [`ApiError::Conflict`].
    async fn delete(
        &self,
        target: Target<'_>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError>;

    /// Binds the pod `name` in `namespace` to a node: sets `spec.nodeName` and the
    /// `PodScheduled=True` condition in one write. A pod is bound at most once:
    /// [`ApiError::Conflict`] when it is already bound, being deleted, or not the pod
    /// the binding names by uid.
    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError>;

    /// The `scale` subresource of the object named `name`; [`ApiError::NotFound`] for
    /// a kind without one.
    async fn get_scale(&self, target: Target<'_>, name: &str) -> Result<Scale, ApiError>;

    /// Sets the desired replicas of the object named `name` from `scale`
    /// (guarded by `scale`'s resourceVersion when it has one).
    async fn replace_scale(
        &self,
        target: Target<'_>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError>;

    /// Watches the objects matching `params`: every change after
    /// `params.resource_version` (or, without one, the current objects as `Added` and
    /// then every change), in resourceVersion order with no gaps. With a selector, an
    /// object that starts matching comes out as `Added` and one that stops matching
    /// as `Deleted`. A start version that was compacted away is [`ApiError::Gone`],
    /// at once or as the stream's last item; any other error item also ends the
    /// stream.
    async fn watch(&self, target: Target<'_>, params: &WatchParams) -> Result<BodyWatch, ApiError>;
}

#[async_trait]
impl<S: ObjectService + ?Sized> ObjectService for std::sync::Arc<S> {
    async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        (**self).resources().await
    }
    async fn create(&self, target: Target<'_>, obj: ObjectBody) -> Result<ObjectBody, ApiError> {
        (**self).create(target, obj).await
    }
    async fn get(&self, target: Target<'_>, name: &str) -> Result<ObjectBody, ApiError> {
        (**self).get(target, name).await
    }
    async fn list(
        &self,
        target: Target<'_>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError> {
        (**self).list(target, params).await
    }
    async fn replace(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        (**self).replace(target, name, obj).await
    }
    async fn replace_status(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        (**self).replace_status(target, name, obj).await
    }
    async fn patch(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        (**self).patch(target, name, patch).await
    }
    async fn patch_status(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        (**self).patch_status(target, name, patch).await
    }
    async fn delete(
        &self,
        target: Target<'_>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError> {
        (**self).delete(target, name, params).await
    }
    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError> {
        (**self).bind(namespace, name, binding).await
    }
    async fn get_scale(&self, target: Target<'_>, name: &str) -> Result<Scale, ApiError> {
        (**self).get_scale(target, name).await
    }
    async fn replace_scale(
        &self,
        target: Target<'_>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        (**self).replace_scale(target, name, scale).await
    }
    async fn watch(&self, target: Target<'_>, params: &WatchParams) -> Result<BodyWatch, ApiError> {
        (**self).watch(target, params).await
    }
}
