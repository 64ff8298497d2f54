//! The runner: feeds one controller from its triggers through a [`WorkQueue`], with
//! bounded concurrency, panic isolation and graceful shutdown.
//!
//! Keys come from the controller's own informer and from every trigger it declared in
//! [`Controller::watches`]; the queue deduplicates them and guarantees a key is never
//! reconciled twice at once. A reconcile that fails (or panics) is retried with the
//! queue's per-key backoff; one that succeeds resets it. On shutdown no new reconcile
//! starts and those in flight finish.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use orchestra_core::Client;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::cache::Cache;
use super::controller::{Context, Controller, Trigger};
use super::informer::{HandlerRegistration, InformerEvent};
use super::manager::Informers;
use super::queue::{QueueConfig, WorkQueue};
use crate::keys::ObjectKey;

/// How many reconciles of one controller may run at once by default. Reconciles are
/// mostly waiting on store writes, so a handful overlap usefully even on two cores;
/// more only adds contention.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Settings of one controller's runner.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub(crate) concurrency: usize,
    /// `None`: the defaults, named after the controller.
    pub(crate) queue: Option<QueueConfig>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            concurrency: DEFAULT_CONCURRENCY,
            queue: None,
        }
    }
}

impl RunnerConfig {
    /// Most reconciles in flight at once (at least 1). Default
    /// [`DEFAULT_CONCURRENCY`].
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The work queue's settings (backoff, rate limit). By default the queue has
    /// [`QueueConfig::default`]'s, and the controller's name.
    #[must_use]
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = Some(queue);
        self
    }
}

/// One controller with its queue and triggers.
pub(crate) struct ControllerRunner<C: Controller> {
    controller: C,
    config: RunnerConfig,
    queue: WorkQueue<ObjectKey>,
    cache: Cache<C::Object>,
    triggers: Mutex<Vec<Trigger>>,
    /// Last states of deleted objects, until their key is processed.
    tombstones: Tombstones<C::Object>,
}

/// Last states of deleted objects, shared between the key feed and the workers.
type Tombstones<K> = Arc<Mutex<HashMap<ObjectKey, Arc<K>>>>;

impl<C: Controller> ControllerRunner<C> {
    pub(crate) fn new(controller: C, config: RunnerConfig, informers: &Informers) -> Self {
        let queue_config = config
            .queue
            .clone()
            .unwrap_or_else(|| QueueConfig::default().name(controller.name()));
        let triggers = controller.watches().triggers;
        ControllerRunner {
            queue: WorkQueue::new(queue_config),
            cache: informers.cache::<C::Object>(),
            controller,
            config,
            triggers: Mutex::new(triggers),
            tombstones: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub(crate) fn controller_name(&self) -> &str {
        self.controller.name()
    }

    /// Runs until `cancel` fires, then lets in-flight reconciles finish.
    pub(crate) async fn run(
        &self,
        informers: &Informers,
        client: Client,
        cancel: CancellationToken,
    ) {
        // Keys are queued by the informers as they apply each change, so no event (and
        // no object) waits anywhere for this task to be scheduled.
        let mut registrations = vec![self.queue_own_keys(informers)];
        let triggers = std::mem::take(&mut *self.triggers.lock());
        for trigger in triggers {
            tracing::debug!(
                controller = self.controller.name(),
                kind = trigger.kind,
                "watching"
            );
            registrations.push((trigger.attach)(informers, self.queue.clone()));
        }
        futures::future::join_all(
            (0..self.config.concurrency).map(|_| self.worker(&client, &cancel)),
        )
        .await;
        drop(registrations);
        self.queue.shut_down();
    }

    /// Queues own-kind keys, remembering the last state of deleted objects.
    fn queue_own_keys(&self, informers: &Informers) -> HandlerRegistration {
        let (queue, tombstones) = (self.queue.clone(), self.tombstones.clone());
        let informer = informers.get::<C::Object>();
        let cache = informer.cache();
        informer.add_handler(move |event: &InformerEvent<C::Object>| {
            let key = cache.key_of(event.object());
            if let InformerEvent::Deleted(last) = event {
                tombstones.lock().insert(key.clone(), last.clone());
            }
            queue.add(key);
        })
    }

    /// One worker: takes keys until shutdown.
    async fn worker(&self, client: &Client, cancel: &CancellationToken) {
        loop {
            let item = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                item = self.queue.next() => item,
            };
            let Some(item) = item else { return };
            self.process(item.key(), client).await;
            // Dropping the item marks the key done: a change that arrived meanwhile
            // makes it available again.
            drop(item);
        }
    }

    async fn process(&self, key: &ObjectKey, client: &Client) {
        let name = self.controller.name();
        let ctx = Context {
            key: key.clone(),
            client: client.clone(),
            cache: self.cache.clone(),
            retries: self.queue.num_requeues(key),
        };
        let span = tracing::info_span!("reconcile", controller = name, object = %key);
        let started = Instant::now();
        let outcome = match self.cache.get(key) {
            Some(obj) => {
                self.tombstones.lock().remove(key);
                AssertUnwindSafe(self.controller.reconcile(obj, &ctx))
                    .catch_unwind()
                    .instrument(span.clone())
                    .await
            }
            None => {
                let last = self.tombstones.lock().remove(key);
                AssertUnwindSafe(self.controller.deleted(key, last, &ctx))
                    .catch_unwind()
                    .instrument(span.clone())
                    .await
            }
        };
        let elapsed = started.elapsed();
        metrics::histogram!("orchestra_reconcile_duration_seconds", "controller" => name.to_owned()).record(elapsed.as_secs_f64());
        metrics::counter!("orchestra_reconcile_total", "controller" => name.to_owned())
            .increment(1);
        let action = match outcome {
            Ok(Ok(action)) => {
                self.queue.forget(key);
                Some(action)
            }
            Ok(Err(error)) => {
                metrics::counter!("orchestra_reconcile_errors_total", "controller" => name.to_owned()).increment(1);
                span.in_scope(
                    || tracing::warn!(error = %ErrorChain(&error), retries = ctx.retries, "reconcile failed"),
                );
                self.controller.error_policy(key, &error, &ctx)
            }
            Err(panic) => {
                metrics::counter!("orchestra_reconcile_errors_total", "controller" => name.to_owned()).increment(1);
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".to_owned());
                span.in_scope(|| tracing::error!(panic = %message, "reconcile panicked; retrying with backoff"));
                None
            }
        };
        match action {
            Some(action) => {
                if let Some(after) = action.requeue_after() {
                    self.queue.add_after(key.clone(), after);
                }
            }
            None => self.queue.add_rate_limited(key.clone()),
        }
    }
}

/// An error with its causes, `outer: cause: cause`: errors keep their causes out of
/// their own message (as `#[source]`), so a log line prints the chain.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod error_chain_tests {
    use super::ErrorChain;

    #[test]
    fn a_chain_prints_every_cause_once() {
        let inner = orchestra_core::ApiError::bad_request("bad patch");
        let outer: crate::reconcile::FinalizerError<orchestra_core::ApiError> =
            crate::reconcile::FinalizerError::ApplyFailed(inner);
        assert_eq!(ErrorChain(&outer).to_string(), "apply failed: bad patch");
    }
}
