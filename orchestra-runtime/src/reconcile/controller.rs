//! The [`Controller`] trait every controller implements, the [`Action`] it returns, and
//! [`Watches`], its declaration of which changes should wake it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_core::{Client, Resource};

use super::cache::Cache;
use crate::keys::ObjectKey;

/// What the runner should do after a successful reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Reconcile this object again after `duration`, even if nothing changes. Use it
    /// when the desired state depends on time (a deadline, a lease, a backoff) or when
    /// polling something outside the store.
    pub const fn requeue(duration: Duration) -> Self {
        Action {
            requeue_after: Some(duration),
        }
    }

    /// Do nothing until a watched change wakes this object. The right answer whenever
    /// the reconcile reached the desired state and all it depends on is watched.
    pub const fn await_change() -> Self {
        Action {
            requeue_after: None,
        }
    }

    /// The requested delay, if any.
    pub const fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// What a reconcile gets besides the object: where it is, and how to reach the cluster.
pub struct Context<K: Resource> {
    /// The key of the object being reconciled.
    pub key: ObjectKey,
    /// The client, for writes (and reads the cache cannot answer).
    pub client: Client,
    /// The cache of the controller's own kind.
    pub cache: Cache<K>,
    /// How many times in a row this key failed before this attempt (0 after a
    /// success).
    pub retries: u32,
}

/// A controller: given one object of its kind, it makes the world match what the object
/// declares.
///
/// Reconciles must be idempotent and level-based: they read the current state (from
/// caches), act, and return, and the runner calls them again whenever anything they
/// watch changes. A key is never reconciled concurrently with itself. See
/// [`Watches`] to declare which changes wake which objects.
#[async_trait]
pub trait Controller: Send + Sync + 'static {
    /// The kind this controller reconciles.
    type Object: Resource;
    /// The error a reconcile can fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A short name for logs and metrics, e.g. `replicaset`.
    fn name(&self) -> &str;

    /// Brings the world in line with `obj`. Objects being deleted (with
    /// `deletionTimestamp` set and finalizers pending) come here too; see
    /// `finalizer` for the helper that runs cleanup exactly once.
    async fn reconcile(
        &self,
        obj: Arc<Self::Object>,
        ctx: &Context<Self::Object>,
    ) -> Result<Action, Self::Error>;

    /// Called once an object is gone from the store, with its last known state when
    /// the informer saw it (absent if the deletion happened while this controller was
    /// not running). Cleanup that must happen *before* the object goes belongs in a
    /// finalizer instead. The default does nothing.
    async fn deleted(
        &self,
        _key: &ObjectKey,
        _last_state: Option<Arc<Self::Object>>,
        _ctx: &Context<Self::Object>,
    ) -> Result<Action, Self::Error> {
        Ok(Action::await_change())
    }

    /// What to do after a failed reconcile. `None` (the default) retries with the work
    /// queue's per-key exponential backoff; `Some(action)` follows `action` instead.
    fn error_policy(
        &self,
        _key: &ObjectKey,
        _error: &Self::Error,
        _ctx: &Context<Self::Object>,
    ) -> Option<Action> {
        None
    }

    /// The changes, besides those to its own objects, that wake this controller. The
    /// default watches only its own kind.
    fn watches(&self) -> Watches<Self::Object> {
        Watches::new()
    }
}

/// Maps one changed object of some kind to the keys of the objects to reconcile.
pub(crate) type Mapper<O> = Arc<dyn Fn(&O) -> Vec<ObjectKey> + Send + Sync>;

/// Starts queuing one trigger's keys into the queue given, until the returned
/// registration is dropped.
pub(crate) type Attach = Box<
    dyn FnOnce(
            &super::manager::Informers,
            super::queue::WorkQueue<ObjectKey>,
        ) -> super::informer::HandlerRegistration
        + Send,
>;

/// A declared source of wake-ups, type-erased so one list can hold many kinds.
pub(crate) struct Trigger {
    pub(crate) kind: &'static str,
    pub(crate) attach: Attach,
}

/// Which changes wake a controller: its own objects always; objects it owns (through
/// their controller owner reference); any other kind through a mapping function.
pub struct Watches<K> {
    pub(crate) triggers: Vec<Trigger>,
    _kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: Resource> Default for Watches<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Resource> Watches<K> {
    /// Only the controller's own kind.
    pub fn new() -> Self {
        Watches {
            triggers: Vec::new(),
            _kind: std::marker::PhantomData,
        }
    }

    /// Also wake the owner when an object of kind `C` it controls changes: the
    /// dependent's controller owner reference (kind and apiVersion of `K`) names the
    /// key, in the dependent's namespace.
    #[must_use]
    pub fn owns<C: Resource>(self) -> Self {
        self.watches::<C>(|child: &C| {
            let meta = child.meta();
            meta.controller_ref()
                .filter(|r| r.kind == K::KIND && r.api_version == K::API_VERSION)
                .map(|r| ObjectKey {
                    namespace: meta.namespace.as_deref().map(Into::into),
                    name: r.name.as_str().into(),
                })
                .into_iter()
                .collect()
        })
    }

    /// Also wake the objects `map` returns whenever an object of kind `O` changes (for
    /// example: a Node change wakes every ReplicaSet with pods on it).
    #[must_use]
    pub fn watches<O: Resource>(
        mut self,
        map: impl Fn(&O) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        let map: Mapper<O> = Arc::new(map);
        self.triggers.push(Trigger {
            kind: O::KIND,
            attach: Box::new(move |informers, queue| {
                super::manager::queue_mapped_keys::<O>(informers, map, queue)
            }),
        });
        self
    }
}
