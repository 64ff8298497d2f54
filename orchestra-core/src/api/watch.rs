//! Typed watches: the service's events decoded into [`ObjectEvent`]s of one kind.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use crate::resource::{ApiResource, Resource};

use super::body::ObjectBody;
use super::error::ApiError;
use super::params::ObjectEvent;
use super::service::BodyWatch;

/// A stream of [`ObjectEvent`]s from [`Api::watch`](super::Api::watch).
///
/// Events come in resourceVersion order with no gaps. An object this side cannot
/// decode yields an [`ApiError::Decode`] item and the watch goes on; any other error
/// ends it — [`ApiError::Gone`] when the watch fell behind the retained history (list
/// again and watch from the list's resourceVersion).
pub struct ObjectWatch<K> {
    inner: BodyWatch,
    resource: ApiResource,
    ended: bool,
    _kind: std::marker::PhantomData<fn() -> K>,
}

impl<K> std::fmt::Debug for ObjectWatch<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWatch")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<K> ObjectWatch<K> {
    pub(super) fn new(inner: BodyWatch, resource: ApiResource) -> Self {
        ObjectWatch {
            inner,
            resource,
            ended: false,
            _kind: std::marker::PhantomData,
        }
    }
}

impl<K: Resource> Stream for ObjectWatch<K> {
    type Item = Result<ObjectEvent<K>, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(item)) => item,
        };
        let decoded = match item {
            Ok(event) => event.try_map(|body: ObjectBody| {
                body.into_object::<K>().map_err(|e| {
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

impl<K> Unpin for ObjectWatch<K> {}
