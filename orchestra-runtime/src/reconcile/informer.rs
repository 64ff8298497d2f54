//! The informer: list + watch of one kind into a [`Cache`], with its changes fanned out
//! to every subscriber and handler.
//!
//! Subscribers get a queue of events ([`Informer::subscribe`]); handlers are called as
//! each change is applied ([`Informer::add_handler`]). Controllers use handlers: they
//! only turn a change into work-queue keys, and a queue of events waiting for their
//! task would keep every version of every object in it alive (at 100,000 pods, a
//! controller's queue once held 160,000 events and a third of the process's memory).
//!
//! One informer per kind is shared by every controller in a manager; each decoded
//! object is one `Arc<K>` that the cache (while the object is among its recently
//! changed ones) and all subscribers share. When the watch
//! falls behind the store's history (`Gone`), the informer lists again and emits the
//! difference — objects that vanished meanwhile come out as deletions — so no
//! subscriber ever misses a change silently. A subscriber that joins late first gets
//! every cached object as `Added`, atomically with the live stream.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestra_core::api::ObjectWatch;
use orchestra_core::{Api, ApiError, ListParams, ObjectEvent, Resource, ResourceExt, Revision};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::cache::{Cache, CacheWriter};
use super::tally::Tally;
use crate::keys::ObjectKey;

/// How many decoded watch events may wait for the informer to apply them.
const DECODED_AHEAD: usize = 256;

/// A change an informer observed.
#[derive(Debug)]
pub enum InformerEvent<K> {
    /// A new object (or, for a late subscriber, one that already existed).
    Added(Arc<K>),
    /// An object changed.
    Updated {
        /// Its previous state.
        old: Arc<K>,
        /// Its new state.
        new: Arc<K>,
    },
    /// An object was deleted; this is its last known state.
    Deleted(Arc<K>),
}

impl<K> Clone for InformerEvent<K> {
    fn clone(&self) -> Self {
        match self {
            InformerEvent::Added(o) => InformerEvent::Added(o.clone()),
            InformerEvent::Updated { old, new } => InformerEvent::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            InformerEvent::Deleted(o) => InformerEvent::Deleted(o.clone()),
        }
    }
}

impl<K> InformerEvent<K> {
    /// The object's current (or, for a deletion, last) state.
    pub fn object(&self) -> &Arc<K> {
        match self {
            InformerEvent::Added(o) | InformerEvent::Deleted(o) => o,
            InformerEvent::Updated { new, .. } => new,
        }
    }
}

/// Receives an informer's events. Unbounded, so a slow subscriber never stalls the
/// informer or its peers — but every queued event keeps its objects alive until the
/// subscriber takes it. A consumer that only maps events to work-queue keys should
/// use [`Informer::add_handler`] instead, which queues nothing.
pub type Subscription<K> = mpsc::UnboundedReceiver<InformerEvent<K>>;

/// Settings of an [`Informer`].
#[derive(Clone, Debug)]
pub struct InformerConfig {
    pub(crate) min_retry: Duration,
    pub(crate) max_retry: Duration,
    pub(crate) decoded: usize,
}

impl Default for InformerConfig {
    fn default() -> Self {
        InformerConfig {
            min_retry: Duration::from_millis(100),
            max_retry: Duration::from_secs(30),
            decoded: usize::MAX,
        }
    }
}

impl InformerConfig {
    /// The first wait before listing or watching again after an error, doubling with
    /// each further one. Default 100 ms.
    #[must_use]
    pub fn min_retry(mut self, wait: Duration) -> Self {
        self.min_retry = wait;
        self
    }

    /// The longest wait between retries. Default 30 s.
    #[must_use]
    pub fn max_retry(mut self, wait: Duration) -> Self {
        self.max_retry = wait;
        self
    }

    /// How many of the most recently changed objects the cache keeps decoded; the
    /// others it keeps packed, at a tenth of the memory, and decodes on each read.
    /// Default: every object decoded. See [`Informer::keep_decoded`].
    #[must_use]
    pub fn decoded(mut self, objects: usize) -> Self {
        self.decoded = objects;
        self
    }
}

/// Lists and watches one kind, keeping a [`Cache`] and feeding subscribers.
///
/// Build it, add indexes, call [`Informer::run`] on a task, and read
/// [`Informer::cache`] or [`Informer::subscribe`] from anywhere (before or after it
/// started).
pub struct Informer<K: Resource> {
    api: Api<K>,
    params: ListParams,
    config: InformerConfig,
    writer: Arc<CacheWriter<K>>,
    subscribers: Arc<Mutex<Subscribers<K>>>,
}

/// A function an informer calls with each change, inline and in order; see
/// [`Informer::add_handler`].
type EventHandler<K> = Box<dyn Fn(&InformerEvent<K>) + Send + Sync>;

/// Who hears an informer's changes: subscriptions (queued events) and handlers (called
/// at once).
struct Subscribers<K> {
    channels: Vec<mpsc::UnboundedSender<InformerEvent<K>>>,
    handlers: Vec<(u64, EventHandler<K>)>,
    next_handler: u64,
}

impl<K: Resource> Subscribers<K> {
    /// Hands `event` to every handler and every live subscription, forgetting the
    /// subscriptions that hung up.
    fn broadcast(&mut self, event: InformerEvent<K>) {
        for (_, handler) in &self.handlers {
            call(handler, &event);
        }
        self.channels.retain(|s| s.send(event.clone()).is_ok());
    }
}

/// Calls one handler. A handler that panics is logged and the informer goes on: one
/// consumer's bug must not stop the kind for every other.
fn call<K: Resource>(
    handler: &(dyn Fn(&InformerEvent<K>) + Send + Sync),
    event: &InformerEvent<K>,
) {
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(event)));
    if called.is_err() {
        tracing::error!(
            kind = K::KIND,
            object = event.object().name_any(),
            "an informer handler panicked; the informer goes on"
        );
    }
}

/// Keeps a handler added by [`Informer::add_handler`] called; dropping it removes the
/// handler.
#[must_use = "dropping the registration removes the handler at once"]
pub struct HandlerRegistration {
    remove: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for HandlerRegistration {
    fn drop(&mut self) {
        if let Some(remove) = self.remove.take() {
            remove();
        }
    }
}

impl std::fmt::Debug for HandlerRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRegistration")
            .finish_non_exhaustive()
    }
}

impl<K: Resource> Informer<K> {
    /// An informer over `api` (one namespace or all), for the objects matching `params`.
    pub fn new(api: Api<K>, params: ListParams) -> Self {
        Informer {
            api,
            params,
            config: InformerConfig::default(),
            writer: Arc::new(Cache::new_with_writer()),
            subscribers: Arc::new(Mutex::new(Subscribers {
                channels: Vec::new(),
                handlers: Vec::new(),
                next_handler: 0,
            })),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn config(mut self, config: InformerConfig) -> Self {
        self.keep_decoded(config.decoded);
        self.config = config;
        self
    }

    /// From now on, keeps only the `limit` most recently changed objects decoded in
    /// the cache and packs the others (at least one is kept decoded); `usize::MAX`
    /// keeps them all.
    ///
    /// For a kind with very many objects — the pods of a large cluster — this trades
    /// a decode on each read of a settled object (a few microseconds) for about nine
    /// tenths of its memory; see [`DECODED_IN_LARGE_CACHES`](super::DECODED_IN_LARGE_CACHES).
    /// Handlers and subscribers are unaffected: they get every change decoded.
    pub fn keep_decoded(&self, limit: usize) {
        self.writer.set_decoded_limit(limit);
    }

    /// Adds an index (or replaces one of the same name), at any time: existing objects
    /// are indexed at once.
    pub fn add_index(&self, name: &str, func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) {
        self.writer.add_index(name, Arc::new(func));
    }

    /// Adds (or replaces) the tally of type `T`, at any time: existing objects are
    /// counted at once, and [`Cache::tally`] reads it.
    pub fn add_tally<T: Tally<K>>(&self) {
        self.writer.add_tally::<T>();
    }

    /// The API this informer lists and watches.
    pub fn api(&self) -> &Api<K> {
        &self.api
    }

    /// The cache this informer fills.
    pub fn cache(&self) -> Cache<K> {
        self.writer.cache().clone()
    }

    /// A new subscription: first every object already cached (as `Added`), then every
    /// change, with nothing missed or repeated in between.
    pub fn subscribe(&self) -> Subscription<K> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut subscribers = self.subscribers.lock();
        for obj in self.writer.cache().list() {
            let _ = tx.send(InformerEvent::Added(obj));
        }
        subscribers.channels.push(tx);
        rx
    }

    /// Calls `handler` with every object already cached (as `Added`), then with every
    /// change as the informer applies it, with nothing missed or repeated in between —
    /// the same sequence as [`subscribe`](Self::subscribe), without a queue of events.
    ///
    /// A handler runs on the informer's task while the informer holds its subscriber
    /// list, before the event is queued for subscriptions. It must be quick, must not
    /// block and must not call back into this informer (subscribe, add or drop a
    /// handler): map the event to work-queue keys and return. A handler that panics is
    /// logged, and the informer and the other handlers go on.
    ///
    /// Nothing is held for a handler between events, so a consumer that only needs to
    /// know *what* changed (a controller queuing keys) holds no objects — where a
    /// subscription's queue keeps every queued event's objects alive until the
    /// subscriber catches up. The handler is called until the returned registration is
    /// dropped.
    pub fn add_handler(
        &self,
        handler: impl Fn(&InformerEvent<K>) + Send + Sync + 'static,
    ) -> HandlerRegistration {
        let mut subscribers = self.subscribers.lock();
        for obj in self.writer.cache().list() {
            call(&handler, &InformerEvent::Added(obj));
        }
        let id = subscribers.next_handler;
        subscribers.next_handler += 1;
        subscribers.handlers.push((id, Box::new(handler)));
        let weak = Arc::downgrade(&self.subscribers);
        HandlerRegistration {
            remove: Some(Box::new(move || {
                if let Some(subscribers) = weak.upgrade() {
                    subscribers.lock().handlers.retain(|(h, _)| *h != id);
                }
            })),
        }
    }

    /// Runs list + watch until `cancel` fires. Store errors are retried with
    /// exponential backoff; a compacted watch position triggers a relist.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut delay = self.config.min_retry;
        let mut resume: Option<Revision> = None;
        while !cancel.is_cancelled() {
            let attempt = async {
                let from = match resume {
                    Some(rv) => rv,
                    None => self.relist().await?,
                };
                let watch = self
                    .api
                    .watch_shared(&self.params.watch_from(from).bookmarks(true))
                    .await?;
                self.follow(watch, from, &mut resume, &mut delay).await
            };
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return,
                outcome = attempt => outcome,
            };
            match outcome {
                Ok(()) => {}
                Err(e) if e.is_gone() => {
                    tracing::debug!(kind = K::KIND, error = %e, "watch fell behind; relisting");
                    resume = None;
                }
                Err(e) => {
                    tracing::warn!(kind = K::KIND, error = %e, retry_in = ?delay, "informer list/watch failed");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(self.config.max_retry);
                }
            }
        }
    }

    /// Applies watch events until the stream ends or fails; records where to resume.
    async fn follow(
        &self,
        watch: ObjectWatch<K, Arc<K>>,
        from: Revision,
        resume: &mut Option<Revision>,
        delay: &mut Duration,
    ) -> Result<(), ApiError> {
        *resume = Some(from);
        // Objects are decoded on a task of their own, a bounded batch ahead, while this
        // one applies them and calls the handlers: the two halves of the kind's one
        // serial path run side by side on a multi-core runtime.
        let (tx, mut decoded) = mpsc::channel(DECODED_AHEAD);
        // The decoder also moves each object into its `Arc`, so the channel carries
        // pointers rather than whole objects.
        let _decoder = AbortOnDropHandle::new(tokio::spawn(async move {
            let mut watch = watch;
            while let Some(item) = watch.next().await {
                if tx.send(item.map(Change::from)).await.is_err() {
                    return;
                }
            }
        }));
        while let Some(item) = decoded.recv().await {
            let event = match item {
                Ok(event) => event,
                Err(e @ ApiError::Decode(_)) => {
                    // One object this side cannot read must not stop the kind: it is
                    // logged and left out of the cache.
                    tracing::error!(kind = K::KIND, error = %e, "skipping undecodable object");
                    continue;
                }
                Err(e) => return Err(e),
            };
            *delay = self.config.min_retry;
            let rv = match &event {
                Change::Bookmark(rv) => *rv,
                other => other.object().map_or(0, |o| o.resource_version()),
            };
            if !matches!(event, Change::Bookmark(_)) {
                self.apply(event);
            }
            *resume = Some(rv);
        }
        Ok(())
    }

    /// Lists everything, replaces the cache with it and emits the difference; returns the
    /// list's resourceVersion.
    async fn relist(&self) -> Result<Revision, ApiError> {
        let list = self.api.list_shared(&self.params).await?;
        let mut subscribers = self.subscribers.lock();
        let mut stale: std::collections::HashSet<ObjectKey> =
            self.writer.keys().into_iter().collect();
        for obj in list.items {
            let key = ObjectKey::of(&*obj);
            stale.remove(&key);
            let unchanged = self
                .writer
                .cache()
                .get(&key)
                .is_some_and(|old| old.resource_version() == obj.resource_version());
            if unchanged {
                continue;
            }
            subscribers.broadcast(self.put(obj));
        }
        for key in stale {
            if let Some(old) = self.writer.remove(&key) {
                subscribers.broadcast(InformerEvent::Deleted(old));
            }
        }
        drop(subscribers);
        self.writer.mark_synced();
        Ok(list.resource_version)
    }

    fn apply(&self, change: Change<K>) {
        let mut subscribers = self.subscribers.lock();
        let informer_event = match change {
            Change::Put(new) => self.put(new),
            Change::Deleted(obj) => {
                let key = ObjectKey::of(&*obj);
                let last = self.writer.remove(&key).unwrap_or(obj);
                InformerEvent::Deleted(last)
            }
            Change::Bookmark(_) => return,
        };
        subscribers.broadcast(informer_event);
    }

    /// Stores `new` in the cache; the event that tells of it.
    fn put(&self, new: Arc<K>) -> InformerEvent<K> {
        match self.writer.apply(new.clone()) {
            Some(old) => InformerEvent::Updated { old, new },
            None => InformerEvent::Added(new),
        }
    }
}

/// A decoded watch event, its object already shared.
enum Change<K> {
    /// Added or modified.
    Put(Arc<K>),
    Deleted(Arc<K>),
    /// Nothing to apply; the watch has seen everything up to this resourceVersion, so
    /// a resumed watch starts here.
    Bookmark(Revision),
}

impl<K> Change<K> {
    fn object(&self) -> Option<&K> {
        match self {
            Change::Put(obj) | Change::Deleted(obj) => Some(obj),
            Change::Bookmark(_) => None,
        }
    }
}

impl<K> From<ObjectEvent<Arc<K>>> for Change<K> {
    fn from(event: ObjectEvent<Arc<K>>) -> Self {
        match event {
            ObjectEvent::Added(obj) | ObjectEvent::Modified(obj) => Change::Put(obj),
            ObjectEvent::Deleted(obj) => Change::Deleted(obj),
            ObjectEvent::Bookmark { resource_version } => Change::Bookmark(resource_version),
        }
    }
}
