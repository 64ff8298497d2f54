//! Typed watches: store events decoded into [`ObjectEvent`]s, filtered by selectors.
//!
//! With a selector the watch follows Kubernetes: an object that starts matching comes
//! out as `Added`, one that stops matching as `Deleted`. To know what matched before
//! the watch began, a filtered watch reads the prefix once at its start revision.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::resource::Resource;
use crate::store::{ListOptions, Revision, StoreError, WatchEvent, WatchStream};

use super::params::{ListParams, ObjectEvent};
use super::{Api, ApiError, codec, gone_or_store};

/// A stream of [`ObjectEvent`]s from [`Api::watch`].
///
/// Events come in resourceVersion order with no gaps. An object that cannot be decoded
/// yields an [`ApiError::Decode`] item and the watch goes on. If the watch falls behind
/// the store's retained history it yields [`ApiError::Gone`] and ends: list again and
/// watch from the list's resourceVersion.
pub struct ObjectWatch<K> {
    inner: Pin<Box<dyn Stream<Item = Result<ObjectEvent<K>, ApiError>> + Send>>,
}

impl<K> std::fmt::Debug for ObjectWatch<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWatch").finish_non_exhaustive()
    }
}

impl<K> Stream for ObjectWatch<K> {
    type Item = Result<ObjectEvent<K>, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Translates raw store events into typed events for one watch.
struct Translator {
    params: ListParams,
    /// Keys currently matching the selectors, when there are selectors.
    matching: Option<HashSet<Bytes>>,
    ended: bool,
}

impl Translator {
    fn translate<K: Resource>(
        &mut self,
        event: Result<WatchEvent, StoreError>,
    ) -> Option<Result<ObjectEvent<K>, ApiError>> {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                self.ended = true;
                return Some(Err(gone_or_store(e)));
            }
        };
        match event {
            WatchEvent::Put { kv } => {
                let obj: K = match codec::decode_kv(&kv) {
                    Ok(obj) => obj,
                    Err(e) => return Some(Err(e)),
                };
                let Some(matching) = &mut self.matching else {
                    return Some(Ok(if kv.version == 1 {
                        ObjectEvent::Added(obj)
                    } else {
                        ObjectEvent::Modified(obj)
                    }));
                };
                let matches = self.params.matches(&obj);
                let was = matching.contains(&kv.key);
                match (was, matches) {
                    (false, true) => {
                        matching.insert(kv.key);
                        Some(Ok(ObjectEvent::Added(obj)))
                    }
                    (true, true) => Some(Ok(ObjectEvent::Modified(obj))),
                    (true, false) => {
                        matching.remove(&kv.key);
                        Some(Ok(ObjectEvent::Deleted(obj)))
                    }
                    (false, false) => None,
                }
            }
            WatchEvent::Delete { prev, revision } => {
                if let Some(matching) = &mut self.matching {
                    if !matching.remove(&prev.key) {
                        return None;
                    }
                }
                Some(codec::decode(&prev.key, &prev.value, revision).map(ObjectEvent::Deleted))
            }
        }
    }
}

pub(super) async fn start<K: Resource>(
    api: &Api<K>,
    params: &ListParams,
    after: Revision,
) -> Result<ObjectWatch<K>, ApiError> {
    let prefix = api.list_prefix();
    let store = api.client().store();
    let matching = if params.has_selector() {
        Some(matching_keys::<K>(api, params, &prefix, after).await?)
    } else {
        None
    };
    let raw: WatchStream = store
        .watch(prefix.as_bytes(), after)
        .await
        .map_err(gone_or_store)?;
    let translator = Translator {
        params: params.clone(),
        matching,
        ended: false,
    };
    let inner =
        futures::stream::unfold((raw, translator), |(mut raw, mut translator)| async move {
            loop {
                if translator.ended {
                    return None;
                }
                let event = raw.next().await?;
                if let Some(out) = translator.translate::<K>(event) {
                    return Some((out, (raw, translator)));
                }
            }
        });
    Ok(ObjectWatch {
        inner: Box::pin(inner),
    })
}

/// The keys under `prefix` whose objects matched `params` at revision `at`.
async fn matching_keys<K: Resource>(
    api: &Api<K>,
    params: &ListParams,
    prefix: &str,
    at: Revision,
) -> Result<HashSet<Bytes>, ApiError> {
    let mut keys = HashSet::new();
    if at == 0 {
        return Ok(keys);
    }
    let page = api
        .client()
        .store()
        .list(prefix.as_bytes(), ListOptions::default().at_revision(at))
        .await
        .map_err(gone_or_store)?;
    for kv in page.kvs {
        let obj: K = codec::decode_kv(&kv)?;
        if params.matches(&obj) {
            keys.insert(kv.key);
        }
    }
    Ok(keys)
}
