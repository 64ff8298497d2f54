//! Typed watches: the service's events decoded into [`ObjectEvent`]s of one kind.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;

use crate::resource::{ApiResource, Resource};

use super::body::ObjectBody;
use super::error::ApiError;
use super::params::ObjectEvent;
use super::service::BodyWatch;

/// How a watch's objects are read out of their bodies: owned (`K`) or shared
/// (`Arc<K>`, which in one process shares the server's decoded object).
pub trait FromBody<K>: Sized {
    /// The object of `body`.
    fn from_body(body: ObjectBody) -> Result<Self, serde_json::Error>;
}

impl<K: Resource> FromBody<K> for K {
    fn from_body(body: ObjectBody) -> Result<Self, serde_json::Error> {
        body.into_object()
    }
}

impl<K: Resource> FromBody<K> for Arc<K> {
    fn from_body(body: ObjectBody) -> Result<Self, serde_json::Error> {
        body.into_shared()
    }
}

/// A stream of [`ObjectEvent`]s from [`Api::watch`](super::Api::watch), each object a
/// `K` (or, from [`Api::watch_shared`](super::Api::watch_shared), an `Arc<K>`).
///
/// Events come in resourceVersion order with no gaps. An object this side cannot
/// decode yields an [`ApiError::Decode`] item and the watch goes on; any other error
/// ends it — [`ApiError::Gone`] when the watch fell behind the retained history (list
/// again and watch from the list's resourceVersion).
pub struct ObjectWatch<K, O = K> {
    /// Sync by exclusive access: the stream is only ever polled through `&mut`.
    inner: sync_wrapper::SyncWrapper<BodyWatch>,
    resource: ApiResource,
    ended: bool,
    _kind: std::marker::PhantomData<fn() -> (K, O)>,
}

impl<K, O> std::fmt::Debug for ObjectWatch<K, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWatch")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<K, O> ObjectWatch<K, O> {
    pub(super) fn new(inner: BodyWatch, resource: ApiResource) -> Self {
        ObjectWatch {
            inner: sync_wrapper::SyncWrapper::new(inner),
            resource,
            ended: false,
            _kind: std::marker::PhantomData,
        }
    }
}

impl<K: Resource, O: FromBody<K>> Stream for ObjectWatch<K, O> {
    type Item = Result<ObjectEvent<O>, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = match self.inner.get_mut().as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(item)) => item,
        };
        let decoded = match item {
            Ok(event) => event.try_map(|body: ObjectBody| {
                O::from_body(body).map_err(|e| {
                    ApiError::decode(format!(
                        "cannot read a watch event as {} ({}): {e}",
                        K::KIND,
                        self.resource
                    ))
                })
            }),
            Err(e) => {
                self.ended = true;
                Err(e)
            }
        };
        Poll::Ready(Some(decoded))
    }
}

impl<K, O> Unpin for ObjectWatch<K, O> {}
