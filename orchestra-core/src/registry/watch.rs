//! Watches: the store's events of one kind decoded, checked and filtered into
//! [`ObjectEvent`]s, with the initial state, bookmarks and a timeout when asked for.
//!
//! With a selector the watch follows Kubernetes: an object that starts matching comes
//! out as `Added`, one that stops matching as `Deleted`. To know what matched before
//! the watch began, a filtered watch reads the prefix once at its start revision. A
//! bookmark carries the revision of the last store event the watch has looked at, so a
//! watcher whose selector filters most events out still resumes from a recent
//! revision.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::{Instant, Interval, Sleep};

use crate::api::{ApiError, BodyWatch, FieldSelector, ObjectBody, ObjectEvent, WatchParams};
use crate::labels::LabelSelector;
use crate::resource::Resource;
use crate::store::{ListOptions, Revision, WatchEvent, WatchStream};

use super::kind::{TypedKind, gone_or_store};
use super::{Registry, WeakRegistry};

/// Starts a watch of `kind` in `ns` (or all namespaces).
pub(super) async fn start<K: Resource>(
    kind: &TypedKind<K>,
    reg: &Registry,
    ns: Option<&str>,
    params: &WatchParams,
) -> Result<BodyWatch, ApiError> {
    kind.check_selectors(
        params.label_selector.as_ref(),
        params.field_selector.as_ref(),
    )?;
    let prefix = kind.prefix(ns)?;
    let filtered = params
        .label_selector
        .as_ref()
        .is_some_and(|s| !s.is_empty())
        || params
            .field_selector
            .as_ref()
            .is_some_and(|s| !s.is_empty());
    let mut initial = VecDeque::new();
    let mut matching = HashSet::new();
    let from = match params.resource_version.filter(|rv| *rv > 0) {
        Some(after) => {
            if filtered {
                let page = reg
                    .store()
                    .list(prefix.as_bytes(), ListOptions::default().at_revision(after))
                    .await
                    .map_err(|e| gone_or_store(&e))?;
                for kv in page.kvs {
                    if let Ok(obj) = kind.decode_stored(reg, &kv, kv.mod_revision, false) {
                        if matches(kind, params, &obj) {
                            matching.insert(kv.key);
                        }
                    }
                }
            }
            after
        }
        None => {
            let page = reg
                .store()
                .list(prefix.as_bytes(), ListOptions::default())
                .await
                .map_err(|e| gone_or_store(&e))?;
            for kv in page.kvs {
                if let Ok(obj) = kind.decode_stored(reg, &kv, kv.mod_revision, false) {
                    if matches(kind, params, &obj) {
                        matching.insert(kv.key);
                        initial.push_back(ObjectEvent::Added(ObjectBody::from_shared(obj)));
                    }
                }
            }
            page.revision
        }
    };
    let raw = reg
        .store()
        .watch(prefix.as_bytes(), from)
        .await
        .map_err(|e| gone_or_store(&e))?;
    let bookmarks = params.bookmarks.then(|| {
        let period = reg.shared.bookmark_interval;
        tokio::time::interval_at(Instant::now() + period, period)
    });
    let state = Watching {
        kind: kind.handle(),
        registry: reg.downgrade(),
        labels: params.label_selector.clone(),
        fields: params.field_selector.clone(),
        filtered,
        matching,
        raw,
        initial,
        bookmarks,
        deadline: params.timeout.map(|t| Box::pin(tokio::time::sleep(t))),
        seen: from,
        sent: from,
        ended: false,
    };
    Ok(Box::pin(futures::stream::unfold(state, Watching::next)))
}

fn matches<K: Resource>(kind: &TypedKind<K>, params: &WatchParams, obj: &K) -> bool {
    kind.matches(
        obj,
        params.label_selector.as_ref(),
        params.field_selector.as_ref(),
    )
}

/// One watch's state between events.
struct Watching<K: Resource> {
    kind: TypedKind<K>,
    /// Weak: a watch must not keep the registry (and its store) alive after everything
    /// else let go of it, for as long as its task takes to notice it was dropped.
    registry: WeakRegistry,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    filtered: bool,
    /// Keys currently matching the selectors, when there are selectors.
    matching: HashSet<Bytes>,
    raw: WatchStream,
    /// The current objects, for a watch that starts with them.
    initial: VecDeque<ObjectEvent<ObjectBody>>,
    bookmarks: Option<Interval>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The revision of the last store event looked at.
    seen: Revision,
    /// The revision of the last event or bookmark sent.
    sent: Revision,
    ended: bool,
}

type Item = Result<ObjectEvent<ObjectBody>, ApiError>;

impl<K: Resource> Watching<K> {
    async fn next(mut self) -> Option<(Item, Self)> {
        if let Some(event) = self.initial.pop_front() {
            return Some((Ok(event), self));
        }
        loop {
            if self.ended {
                return None;
            }
            let deadline = async {
                match &mut self.deadline {
                    Some(sleep) => sleep.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let tick = async {
                match &mut self.bookmarks {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            enum Step {
                Deadline,
                Event(Option<Result<WatchEvent, crate::store::StoreError>>),
                Tick,
            }
            let step = tokio::select! {
                biased;
                () = deadline => Step::Deadline,
                event = self.raw.next() => Step::Event(event),
                () = tick => Step::Tick,
            };
            match step {
                Step::Deadline => return None,
                Step::Event(None) => return None,
                Step::Event(Some(Err(e))) => {
                    self.ended = true;
                    return Some((Err(gone_or_store(&e)), self));
                }
                Step::Event(Some(Ok(event))) => {
                    self.seen = event.revision();
                    if let Some(out) = self.translate(event) {
                        self.sent = self.seen;
                        return Some((Ok(out), self));
                    }
                }
                Step::Tick => {
                    if self.seen > self.sent {
                        self.sent = self.seen;
                        let bookmark = ObjectEvent::Bookmark {
                            resource_version: self.seen,
                        };
                        return Some((Ok(bookmark), self));
                    }
                }
            }
        }
    }

    /// The event a store change makes for this watch, if any.
    fn translate(&mut self, event: WatchEvent) -> Option<ObjectEvent<ObjectBody>> {
        match event {
            WatchEvent::Put { kv } => {
                let registry = self.registry.upgrade()?;
                let obj = self
                    .kind
                    .decode_stored(&registry, &kv, kv.mod_revision, true)
                    .ok()?;
                if !self.filtered {
                    return Some(if kv.version == 1 {
                        ObjectEvent::Added(ObjectBody::from_shared(obj))
                    } else {
                        ObjectEvent::Modified(ObjectBody::from_shared(obj))
                    });
                }
                let now = self
                    .kind
                    .matches(&obj, self.labels.as_ref(), self.fields.as_ref());
                let was = self.matching.contains(&kv.key);
                let body = ObjectBody::from_shared(obj);
                match (was, now) {
                    (false, true) => {
                        self.matching.insert(kv.key);
                        Some(ObjectEvent::Added(body))
                    }
                    (true, true) => Some(ObjectEvent::Modified(body)),
                    (true, false) => {
                        self.matching.remove(&kv.key);
                        Some(ObjectEvent::Deleted(body))
                    }
                    (false, false) => None,
                }
            }
            WatchEvent::Delete { prev, revision } => {
                // The key is gone, readable or not: it no longer counts as unreadable.
                if let Some(registry) = self.registry.upgrade() {
                    registry.shared.unreadable.readable(&prev.key);
                }
                let recent = self.kind.recent.at(&prev.key, prev.mod_revision);
                self.kind.recent.forget(&prev.key);
                if self.filtered && !self.matching.remove(&prev.key) {
                    return None;
                }
                let last = match recent {
                    Some(entry) => {
                        let mut last = (*entry.object).clone();
                        last.meta_mut().resource_version = Some(revision.to_string());
                        last
                    }
                    None => {
                        super::codec::decode_stored::<K>(&self.kind.root, K::SCOPE, &prev, revision)
                            .ok()?
                    }
                };
                Some(ObjectEvent::Deleted(ObjectBody::from_object(last)))
            }
        }
    }
}
