//! [`InterceptedStore`]: a [`Store`] wrapper for tests that sees every call before the
//! store does, and can fail it, hold it up, run something first or change it.
//!
//! The wrapper is here; the words its hooks speak ([`StoreCall`], [`Verdict`],
//! [`EventVerdict`], [`StoreOp`]) are in `call.rs`.

mod call;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};
use tokio::sync::watch;

pub use self::call::{EventVerdict, StoreCall, StoreOp, Verdict};

type CallHook = Box<dyn Fn(&StoreCall) -> Verdict + Send + Sync>;
type EventHook = Arc<dyn Fn(&[u8], &WatchEvent) -> EventVerdict + Send + Sync>;

/// Whether the wrapper is cut, and how many times it has been: a watch ends once the
/// count moves past the one it opened under, even if the wrapper was restored before
/// the watch looked.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    cut: bool,
    cuts: u64,
}

/// A [`Store`] that hands every call to an inner store, after its hooks had their say.
///
/// Tests of the code above a store need a store that misbehaves on cue: one whose
/// write loses a race at just the wrong moment, one cut off as by a partition, one
/// whose watch drops an event, or one that only counts. Each is a hook on one wrapper
/// instead of a hand-written pass-through `impl Store` of nine methods:
///
/// - [`on_call`](Self::on_call) sees each call as a [`StoreCall`] and returns a
///   [`Verdict`]: let it through, fail it with an error, carry out another call of the
///   same operation instead, or run an async action first (a competing write, a delay)
///   and then decide.
/// - [`on_watch_event`](Self::on_watch_event) sees each event an open watch is about to
///   deliver, and may drop it or end the watch with an error.
/// - [`cut`](Self::cut) and [`restore`](Self::restore) switch the wrapper off and on:
///   while cut, every call fails with [`StoreError::Unavailable`], and every open watch
///   delivers that error and ends.
/// - [`calls`](Self::calls) and [`successes`](Self::successes) count the calls of each
///   [`StoreOp`].
///
/// Build it with [`new`](Self::new) and the hooks it needs, share it as an
/// `Arc<InterceptedStore>` (or an `Arc<dyn Store>`), and keep a handle to switch it off
/// and read its counters. A hook that writes runs its writes on the inner store it
/// captured, not on the wrapper, or it would intercept itself.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// use orchestra_core::{Store, StoreError};
/// use orchestra_store::MemoryStore;
/// use orchestra_store::testing::{InterceptedStore, StoreCall, StoreOp, Verdict};
///
/// # async fn doc() {
/// let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let armed = Arc::new(AtomicBool::new(false));
/// let (racer, trigger) = (inner.clone(), armed.clone());
/// let store = Arc::new(InterceptedStore::new(inner).on_call(move |call| match call {
///     // Once armed, someone else writes the key just before the caller's update, whose
///     // guard is then stale.
///     StoreCall::Update { key, .. } if trigger.swap(false, Ordering::SeqCst) => {
///         let (racer, key) = (racer.clone(), key.clone());
///         Verdict::after(async move {
///             if let Ok(Some(kv)) = racer.get(&key).await {
///                 let _ = racer.update(&key, kv.value, kv.mod_revision).await;
///             }
///             Verdict::Pass
///         })
///     }
///     StoreCall::Delete { .. } => Verdict::Fail(StoreError::unavailable("no deletes today")),
///     _ => Verdict::Pass,
/// }));
/// armed.store(true, Ordering::SeqCst);
/// // ... the code under test writes through `store` ...
/// store.cut(); // a partition: every call fails, every watch ends
/// store.restore();
/// // Every write that succeeded took a revision:
/// let writes: u64 = StoreOp::WRITES.iter().map(|op| store.successes(*op)).sum();
/// # let _ = writes;
/// # }
/// ```
pub struct InterceptedStore {
    inner: Arc<dyn Store>,
    on_call: Option<CallHook>,
    on_event: Option<EventHook>,
    link: watch::Sender<Link>,
    calls: [AtomicU64; StoreOp::ALL.len()],
    successes: [AtomicU64; StoreOp::ALL.len()],
}

impl fmt::Debug for InterceptedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptedStore")
            .field("on_call", &self.on_call.is_some())
            .field("on_watch_event", &self.on_event.is_some())
            .field("cut", &self.is_cut())
            .finish_non_exhaustive()
    }
}

impl InterceptedStore {
    /// A wrapper around `inner` that lets every call through until told otherwise.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        InterceptedStore {
            inner,
            on_call: None,
            on_event: None,
            link: watch::Sender::new(Link::default()),
            calls: Default::default(),
            successes: Default::default(),
        }
    }

    /// Asks `hook` about every call before the store sees it (and after the cut
    /// switch: a cut wrapper fails calls without asking). The hook runs inside the
    /// call, so it must not block; what it wants to await goes in a
    /// [`Verdict::After`].
    #[must_use]
    pub fn on_call(mut self, hook: impl Fn(&StoreCall) -> Verdict + Send + Sync + 'static) -> Self {
        self.on_call = Some(Box::new(hook));
        self
    }

    /// Asks `hook` about every event a watch opened through this wrapper is about to
    /// deliver; it gets the watch's prefix and the event. Errors from the store pass
    /// without asking.
    #[must_use]
    pub fn on_watch_event(
        mut self,
        hook: impl Fn(&[u8], &WatchEvent) -> EventVerdict + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Some(Arc::new(hook));
        self
    }

    /// The store the wrapper hands calls to.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Cuts the wrapper off from its store, as a partition or a dead process would:
    /// from now on every call fails with [`StoreError::Unavailable`], and every watch
    /// open through it delivers that error and ends. Calls already past the switch
    /// finish.
    pub fn cut(&self) {
        self.link.send_if_modified(|link| {
            let was_cut = link.cut;
            if !was_cut {
                link.cut = true;
                link.cuts += 1;
            }
            !was_cut
        });
    }

    /// Joins the wrapper to its store again: new calls and watches work; watches the cut
    /// ended stay ended.
    pub fn restore(&self) {
        self.link
            .send_if_modified(|link| std::mem::replace(&mut link.cut, false));
    }

    /// Whether the wrapper is cut.
    pub fn is_cut(&self) -> bool {
        self.link.borrow().cut
    }

    /// How many calls of `op` the wrapper received, whatever became of them.
    pub fn calls(&self, op: StoreOp) -> u64 {
        self.calls[op as usize].load(Ordering::SeqCst)
    }

    /// How many calls of `op` succeeded: the store answered `Ok` (for a watch: the
    /// watch opened).
    pub fn successes(&self, op: StoreOp) -> u64 {
        self.successes[op as usize].load(Ordering::SeqCst)
    }

    /// Counts the call, checks the switch and asks the hook; returns the call to carry
    /// out.
    async fn admit(&self, call: StoreCall) -> Result<StoreCall, StoreError> {
        let op = call.op();
        self.calls[op as usize].fetch_add(1, Ordering::SeqCst);
        self.check_link()?;
        let Some(hook) = &self.on_call else {
            return Ok(call);
        };
        let mut verdict = hook(&call);
        let call = loop {
            match verdict {
                Verdict::Pass => break call,
                Verdict::Fail(error) => return Err(error),
                Verdict::Replace(replacement) => {
                    assert_eq!(
                        replacement.op(),
                        op,
                        "an InterceptedStore hook replaced a {op} with a {replacement}: a replacement must be the same operation"
                    );
                    break replacement;
                }
                Verdict::After(action) => verdict = action.await,
            }
        };
        // The action may have outlasted the link.
        self.check_link()?;
        Ok(call)
    }

    fn check_link(&self) -> Result<(), StoreError> {
        if self.is_cut() {
            Err(cut_off())
        } else {
            Ok(())
        }
    }

    /// Counts a success, and hands the result on.
    fn settle<T>(&self, op: StoreOp, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.successes[op as usize].fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

fn cut_off() -> StoreError {
    StoreError::unavailable("cut off from the store")
}

/// For the arms `admit` rules out: it returns a call of the operation it was given.
const SAME_OP: &str = "admit returns a call of the operation it was given";

#[async_trait]
impl Store for InterceptedStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let call = StoreCall::Get {
            key: Bytes::copy_from_slice(key),
        };
        let StoreCall::Get { key } = self.admit(call).await? else {
            unreachable!("{SAME_OP}")
        };
        self.settle(StoreOp::Get, self.inner.get(&key).await)
    }

    async fn list(&self, prefix: &[u8], options: ListOptions) -> Result<ListResult, StoreError> {
        let call = StoreCall::List {
            prefix: Bytes::copy_from_slice(prefix),
            options,
        };
        let StoreCall::List { prefix, options } = self.admit(call).await? else {
            unreachable!("{SAME_OP}")
        };
        self.settle(StoreOp::List, self.inner.list(&prefix, options).await)
    }

    async fn create(&self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        let call = StoreCall::Create {
            key: Bytes::copy_from_slice(key),
            value,
        };
        let StoreCall::Create { key, value } = self.admit(call).await? else {
            unreachable!("{SAME_OP}")
        };
        self.settle(StoreOp::Create, self.inner.create(&key, value).await)
    }

    async fn update(
        &self,
        key: &[u8],
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        let call = StoreCall::Update {
            key: Bytes::copy_from_slice(key),
            value,
            expected: expected_mod_revision,
        };
        let StoreCall::Update {
            key,
            value,
            expected,
        } = self.admit(call).await?
        else {
            unreachable!("{SAME_OP}")
        };
        let result = self.inner.update(&key, value, expected).await;
        self.settle(StoreOp::Update, result)
    }

    async fn delete(
        &self,
        key: &[u8],
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        let call = StoreCall::Delete {
            key: Bytes::copy_from_slice(key),
            expected: expected_mod_revision,
        };
        let StoreCall::Delete { key, expected } = self.admit(call).await? else {
            unreachable!("{SAME_OP}")
        };
        self.settle(StoreOp::Delete, self.inner.delete(&key, expected).await)
    }

    async fn watch(
        &self,
        prefix: &[u8],
        after_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        let call = StoreCall::Watch {
            prefix: Bytes::copy_from_slice(prefix),
            after: after_revision,
        };
        let StoreCall::Watch { prefix, after } = self.admit(call).await? else {
            unreachable!("{SAME_OP}")
        };
        // Subscribe before opening, so a cut from here on reaches the stream.
        let mut link = self.link.subscribe();
        let opened_under = {
            let now = link.borrow_and_update();
            if now.cut {
                return Err(cut_off());
            }
            now.cuts
        };
        let stream = self.settle(StoreOp::Watch, self.inner.watch(&prefix, after).await)?;
        Ok(intercept_events(InterceptedWatch {
            stream,
            prefix,
            on_event: self.on_event.clone(),
            link,
            opened_under,
        }))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let StoreCall::Compact { revision } = self.admit(StoreCall::Compact { revision }).await?
        else {
            unreachable!("{SAME_OP}")
        };
        self.settle(StoreOp::Compact, self.inner.compact(revision).await)
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.admit(StoreCall::CurrentRevision).await?;
        let result = self.inner.current_revision().await;
        self.settle(StoreOp::CurrentRevision, result)
    }

    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        self.admit(StoreCall::CompactRevision).await?;
        let result = self.inner.compact_revision().await;
        self.settle(StoreOp::CompactRevision, result)
    }
}

/// A watch opened through the wrapper: the store's stream, the event hook, and the
/// switch it ends on.
struct InterceptedWatch {
    stream: WatchStream,
    prefix: Bytes,
    on_event: Option<EventHook>,
    link: watch::Receiver<Link>,
    opened_under: u64,
}

/// Resolves once the wrapper is cut after the watch opened under `opened_under` cuts;
/// never, if the wrapper is gone (the stream then lives as long as the store's).
async fn cut_since(link: &mut watch::Receiver<Link>, opened_under: u64) {
    if link
        .wait_for(|link| link.cuts != opened_under)
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

fn intercept_events(open: InterceptedWatch) -> WatchStream {
    Box::pin(futures::stream::unfold(Some(open), |open| async move {
        let mut open = open?;
        loop {
            let item = tokio::select! {
                biased;
                () = cut_since(&mut open.link, open.opened_under) => {
                    return Some((Err(cut_off()), None));
                }
                item = open.stream.next() => item?,
            };
            let event = match item {
                Ok(event) => event,
                Err(error) => return Some((Err(error), Some(open))),
            };
            let verdict = match &open.on_event {
                Some(hook) => hook(&open.prefix, &event),
                None => EventVerdict::Deliver,
            };
            match verdict {
                EventVerdict::Deliver => return Some((Ok(event), Some(open))),
                EventVerdict::Drop => continue,
                EventVerdict::Fail(error) => return Some((Err(error), None)),
            }
        }
    }))
}

#[cfg(test)]
mod tests;
