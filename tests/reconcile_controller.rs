//! Controllers run by the manager, in paused virtual time: every object reconciled,
//! never concurrently with itself, errors and panics retried with backoff, deletions
//! and owned objects wake the right keys, and shutdown lets in-flight work finish.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Widget, memory_client};
use orchestra::core::{Api, Client, DeleteParams, ObjectMeta, Resource, ResourceExt, Scope};
use orchestra::runtime::reconcile::{Action, Context, Controller, Manager, ObjectKey, Watches};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the test controller saw, shared with the test.
#[derive(Default)]
struct Log {
    /// (key, spec.size seen, start, end) per reconcile.
    reconciles: Vec<(String, u32, Instant, Instant)>,
    /// Keys being reconciled now.
    in_flight: BTreeMap<String, usize>,
    /// Most reconciles of one key at once.
    max_concurrent_per_key: usize,
    /// Keys handed to `deleted`, with the size of the last state.
    deleted: Vec<(String, Option<u32>)>,
    /// Attempts per key (including failed ones).
    attempts: BTreeMap<String, Vec<Instant>>,
}

/// A controller whose behaviour each object picks by name:
/// `slow-*` takes 10 s; `fail-*` fails its first 3 attempts; `panic-*` panics once;
/// `requeue-*` asks to be reconciled again in 30 s.
struct Recorder {
    log: Arc<Mutex<Log>>,
    watches: fn() -> Watches<Widget>,
}

#[derive(Debug, thiserror::Error)]
#[error("deliberate failure")]
struct Deliberate;

#[async_trait]
impl Controller for Recorder {
    type Object = Widget;
    type Error = Deliberate;

    fn name(&self) -> &str {
        "recorder"
    }

    async fn reconcile(
        &self,
        obj: Arc<Widget>,
        ctx: &Context<Widget>,
    ) -> Result<Action, Deliberate> {
        let key = ctx.key.to_string();
        let name = obj.name_any().to_owned();
        let start = Instant::now();
        let attempt = {
            let mut log = self.log.lock();
            let n = log.in_flight.entry(key.clone()).or_default();
            *n += 1;
            let now = *n;
            log.max_concurrent_per_key = log.max_concurrent_per_key.max(now);
            let attempts = log.attempts.entry(key.clone()).or_default();
            attempts.push(start);
            attempts.len()
        };
        let finish = |log: &mut Log| {
            *log.in_flight.get_mut(&key).expect("in flight") -= 1;
            log.reconciles
                .push((key.clone(), obj.spec.size, start, Instant::now()));
        };
        if name.starts_with("slow") {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        if name.starts_with("panic") && attempt == 1 {
            *self.log.lock().in_flight.get_mut(&key).expect("in flight") -= 1;
            panic!("deliberate panic in reconcile");
        }
        if name.starts_with("fail") && attempt <= 3 {
            *self.log.lock().in_flight.get_mut(&key).expect("in flight") -= 1;
            return Err(Deliberate);
        }
        finish(&mut self.log.lock());
        if name.starts_with("requeue") {
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
        Ok(Action::await_change())
    }

    async fn deleted(
        &self,
        key: &ObjectKey,
        last: Option<Arc<Widget>>,
        _ctx: &Context<Widget>,
    ) -> Result<Action, Deliberate> {
        self.log
            .lock()
            .deleted
            .push((key.to_string(), last.map(|w| w.spec.size)));
        Ok(Action::await_change())
    }

    fn watches(&self) -> Watches<Widget> {
        (self.watches)()
    }
}

struct Running {
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    manager_health: tokio::sync::watch::Receiver<orchestra::runtime::reconcile::Health>,
}

fn run_manager(client: &Client, watches: fn() -> Watches<Widget>) -> Running {
    let log = Arc::new(Mutex::new(Log::default()));
    let mut manager = Manager::new(client.clone());
    manager = manager.controller(Recorder {
        log: log.clone(),
        watches,
    });
    let manager_health = manager.watch_health();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move { manager.run(token).await });
    Running {
        log,
        stop,
        task,
        manager_health,
    }
}

fn sizes_seen(log: &Log, key: &str) -> Vec<u32> {
    log.reconciles
        .iter()
        .filter(|r| r.0 == key)
        .map(|r| r.1)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_object_is_reconciled_and_changes_wake_it_again() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        widgets.create(&Widget::new(name, 1)).await.unwrap();
    }
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = running.manager_health.borrow().clone();
    assert!(
        health.informers_synced && health.leader && health.controllers_running,
        "{health:?}"
    );
    widgets.update_with("b", |w| w.spec.size = 2).await.unwrap();
    widgets.create(&Widget::new("d", 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = running.log.lock();
    for key in ["default/a", "default/c", "default/d"] {
        assert_eq!(sizes_seen(&log, key), [1], "{key}");
    }
    assert_eq!(sizes_seen(&log, "default/b"), [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_key_is_never_reconciled_concurrently_and_no_change_is_lost() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("slow", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Five changes while the first (10 s) reconcile is in flight.
    for size in 2..=6 {
        widgets
            .update_with("slow", |w| w.spec.size = size)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let log = running.log.lock();
    assert_eq!(log.max_concurrent_per_key, 1);
    let seen = sizes_seen(&log, "default/slow");
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(
        seen.last(),
        Some(&6),
        "the last change was reconciled: {seen:?}"
    );
    assert!(
        seen.len() <= 3,
        "changes during a reconcile are coalesced, not queued one by one: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_and_reset_on_success() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("fail", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = running.log.lock();
    let attempts = &log.attempts["default/fail"];
    assert_eq!(attempts.len(), 4, "three failures then a success");
    let gaps: Vec<u128> = attempts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(gaps, [5, 10, 20], "client-go's 5 ms doubling backoff");
    assert_eq!(sizes_seen(&log, "default/fail"), [1]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_is_retried_and_others_carry_on() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("panic", 1)).await.unwrap();
    widgets.create(&Widget::new("calm", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = running.log.lock();
    assert_eq!(
        log.attempts["default/panic"].len(),
        2,
        "retried once after the panic"
    );
    assert_eq!(sizes_seen(&log, "default/panic"), [1]);
    assert_eq!(sizes_seen(&log, "default/calm"), [1]);
    assert!(
        !running.task.is_finished(),
        "the manager survived the panic"
    );
}

#[tokio::test(start_paused = true)]
async fn requeue_after_reconciles_again_on_time() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("requeue", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(95)).await;
    let log = running.log.lock();
    let attempts = &log.attempts["default/requeue"];
    assert_eq!(attempts.len(), 4, "at 0, 30, 60 and 90 s");
    assert!(
        attempts
            .windows(2)
            .all(|w| (w[1] - w[0]) == Duration::from_secs(30))
    );
}

#[tokio::test(start_paused = true)]
async fn deleted_objects_reach_the_controller_with_their_last_state() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("doomed", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(1)).await;
    widgets
        .update_with("doomed", |w| w.spec.size = 7)
        .await
        .unwrap();
    widgets
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        running.log.lock().deleted,
        [("default/doomed".to_owned(), Some(7))]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_in_flight_reconcile_finish_and_starts_nothing_new() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("slow", 1)).await.unwrap();
    let running = run_manager(&client, Watches::new);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(running.log.lock().in_flight.get("default/slow"), Some(&1));
    running.stop.cancel();
    widgets.create(&Widget::new("after", 1)).await.unwrap();
    let started = Instant::now();
    running.task.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "run returned only after the reconcile finished"
    );
    let log = running.log.lock();
    assert_eq!(
        sizes_seen(&log, "default/slow"),
        [1],
        "the in-flight reconcile completed"
    );
    assert!(
        !log.attempts.contains_key("default/after"),
        "nothing new started after shutdown"
    );
    assert_eq!(log.in_flight.values().sum::<usize>(), 0);
}

/// A namespaced kind owned by a Widget.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Gadget {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: serde_json::Value,
}

impl Resource for Gadget {
    const KIND: &'static str = "Gadget";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "gadgets";
    const SCOPE: Scope = Scope::Namespaced;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[tokio::test(start_paused = true)]
async fn changes_to_owned_objects_wake_their_owner() {
    let registry = common::memory_registry();
    registry.register::<Gadget>();
    let client = common::client_of(&registry);
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), "default");
    let owner = widgets.create(&Widget::new("owner", 1)).await.unwrap();
    widgets.create(&Widget::new("bystander", 1)).await.unwrap();
    let running = run_manager(&client, || Watches::new().owns::<Gadget>());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut gadget = Gadget {
        metadata: ObjectMeta::named("g"),
        ..Default::default()
    };
    gadget
        .metadata
        .owner_references
        .push(owner.owner_reference(true));
    gadgets.create(&gadget).await.unwrap();
    let mut stray = Gadget {
        metadata: ObjectMeta::named("stray"),
        ..Default::default()
    };
    stray
        .metadata
        .owner_references
        .push(owner.owner_reference(false));
    gadgets.create(&stray).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = running.log.lock();
    assert_eq!(
        log.attempts["default/owner"].len(),
        2,
        "the controlled gadget woke its owner once"
    );
    assert_eq!(log.attempts["default/bystander"].len(), 1);
}

#[tokio::test(start_paused = true)]
async fn other_kinds_wake_objects_through_a_mapping() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let racks: Api<common::Rack> = Api::all(client.clone());
    widgets.create(&Widget::new("web", 1)).await.unwrap();
    widgets.create(&Widget::new("db", 1)).await.unwrap();
    // A rack named after a widget wakes that widget.
    let running = run_manager(&client, || {
        Watches::new()
            .watches::<common::Rack>(|rack| vec![ObjectKey::namespaced("default", rack.name_any())])
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rack = common::Rack::default();
    rack.metadata.name = Some("web".into());
    racks.create(&rack).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = running.log.lock();
    assert_eq!(log.attempts["default/web"].len(), 2);
    assert_eq!(log.attempts["default/db"].len(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_by_the_runner_config() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        widgets
            .create(&Widget::new(&format!("slow-{i}"), 1))
            .await
            .unwrap();
    }
    let log = Arc::new(Mutex::new(Log::default()));
    let mut manager = Manager::new(client.clone());
    manager = manager.controller_with(
        Recorder {
            log: log.clone(),
            watches: Watches::new,
        },
        orchestra::runtime::reconcile::RunnerConfig::default().concurrency(3),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });
    let mut most = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        most = most.max(log.lock().in_flight.values().sum::<usize>());
    }
    let log = log.lock();
    assert_eq!(
        most, 3,
        "never more than 3 reconciles at once, and 3 when there is work"
    );
    assert_eq!(
        log.reconciles.len(),
        10,
        "all ten finished (4 rounds of 10 s)"
    );
    stop.cancel();
}
