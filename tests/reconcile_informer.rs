//! The informer: list + watch into an indexed cache, late subscribers, relisting after
//! compaction without losing or inventing changes, and a user's kind whose serde fails
//! for some objects.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Widget, memory_client};
use orchestra::core::{Api, DeleteParams, ListParams, OwnerReference, Store};
use orchestra::runtime::reconcile::{
    HandlerRegistration, Informer, InformerConfig, InformerEvent, ObjectKey, Subscription,
};
use orchestra::store::{MemoryStore, MemoryStoreConfig};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

fn start(informer: &Arc<Informer<Widget>>) -> CancellationToken {
    let token = CancellationToken::new();
    let (i, t) = (informer.clone(), token.clone());
    tokio::spawn(async move { i.run(t).await });
    token
}

async fn recv(sub: &mut Subscription<Widget>) -> InformerEvent<Widget> {
    tokio::time::timeout(Duration::from_secs(30), sub.recv())
        .await
        .expect("an event in time")
        .expect("subscription open")
}

/// A running, synced informer over a store holding widget "a" (size 1).
async fn synced_with_widget_a() -> (Api<Widget>, Arc<Informer<Widget>>, CancellationToken) {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let informer = Arc::new(Informer::new(
        Api::<Widget>::all(client),
        ListParams::default(),
    ));
    let stop = start(&informer);
    informer.cache().wait_until_synced().await;
    (widgets, informer, stop)
}

/// Adds a handler that records each event it hears, described.
fn record_handled(informer: &Informer<Widget>) -> (Arc<Mutex<Vec<String>>>, HandlerRegistration) {
    let handled = Arc::new(Mutex::new(Vec::new()));
    let log = handled.clone();
    let registration =
        informer.add_handler(move |e: &InformerEvent<Widget>| log.lock().push(describe(e)));
    (handled, registration)
}

fn describe(e: &InformerEvent<Widget>) -> String {
    match e {
        InformerEvent::Added(o) => format!(
            "Added {} {}",
            o.metadata.name.as_deref().unwrap(),
            o.spec.size
        ),
        InformerEvent::Updated { old, new } => {
            format!(
                "Updated {} {}->{}",
                new.metadata.name.as_deref().unwrap(),
                old.spec.size,
                new.spec.size
            )
        }
        InformerEvent::Deleted(o) => format!(
            "Deleted {} {}",
            o.metadata.name.as_deref().unwrap(),
            o.spec.size
        ),
    }
}

#[tokio::test(start_paused = true)]
async fn cache_follows_the_store_and_answers_by_index() {
    let (client, _) = memory_client();
    let default: Api<Widget> = Api::namespaced(client.clone(), "default");
    let other: Api<Widget> = Api::namespaced(client.clone(), "other");
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Owner".into(),
        name: "o".into(),
        uid: "uid-1".into(),
        ..Default::default()
    };
    let mut owned = Widget::new("owned", 1).with_label("app", "web");
    owned.metadata.owner_references.push(owner);
    owned.spec.node_name = "node-1".into();
    default.create(&owned).await.unwrap();
    other
        .create(&Widget::new("elsewhere", 2).with_label("app", "db"))
        .await
        .unwrap();

    let informer = Arc::new(Informer::new(
        Api::<Widget>::all(client),
        ListParams::default(),
    ));
    informer.add_index("node", |w: &Widget| vec![w.spec.node_name.clone()]);
    let cache = informer.cache();
    let stop = start(&informer);
    cache.wait_until_synced().await;
    assert_eq!(cache.len(), 2);
    assert_eq!(
        cache.in_namespace("other")[0].metadata.name.as_deref(),
        Some("elsewhere")
    );
    assert_eq!(cache.owned_by("uid-1").len(), 1);
    assert_eq!(cache.by_index("node", "node-1").len(), 1);
    assert_eq!(cache.matching(None, &"app=web".parse().unwrap()).len(), 1);
    assert_eq!(
        cache
            .matching(Some("other"), &"app=web".parse().unwrap())
            .len(),
        0
    );

    // Later changes arrive, and indexes follow them.
    default
        .update_with("owned", |w| w.spec.node_name = "node-2".into())
        .await
        .unwrap();
    default.create(&Widget::new("late", 3)).await.unwrap();
    other
        .delete("elsewhere", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(cache.by_index("node", "node-1").is_empty());
    assert_eq!(cache.by_index("node", "node-2").len(), 1);
    assert!(
        cache
            .get(&ObjectKey::namespaced("default", "late"))
            .is_some()
    );
    assert!(
        cache
            .get(&ObjectKey::namespaced("other", "elsewhere"))
            .is_none()
    );
    // An index added while running covers what is already cached.
    informer.add_index("size", |w: &Widget| vec![w.spec.size.to_string()]);
    assert_eq!(cache.by_index("size", "3").len(), 1);
    stop.cancel();
}

/// An informer that keeps only two objects decoded packs the rest, and still serves
/// every object as the store has it and tells every change with its previous state.
#[tokio::test(start_paused = true)]
async fn an_informer_keeping_few_objects_decoded_serves_and_reports_them_all() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        let w = Widget::new(&format!("w{i}"), i).with_label("app", "web");
        widgets.create(&w).await.unwrap();
    }
    let config = InformerConfig::default().decoded(2);
    let informer =
        Arc::new(Informer::new(Api::<Widget>::all(client), ListParams::default()).config(config));
    let cache = informer.cache();
    let stop = start(&informer);
    cache.wait_until_synced().await;
    let (handled, _registration) = record_handled(&informer);
    handled.lock().clear();

    for i in 0..10 {
        widgets
            .update_with(&format!("w{i}"), |w| w.spec.size += 100)
            .await
            .unwrap();
    }
    for i in 0..3 {
        widgets
            .delete(&format!("w{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut expected: Vec<String> = (0..10)
        .map(|i| format!("Updated w{i} {i}->{}", i + 100))
        .collect();
    expected.extend((0..3).map(|i| format!("Deleted w{i} {}", i + 100)));
    assert_eq!(*handled.lock(), expected);
    let stored = widgets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(stored.len(), 7);
    assert_eq!(cache.len(), 7);
    for w in &stored {
        let cached = cache.get(&ObjectKey::of(w)).expect("cached");
        assert_eq!(*cached, *w, "as the store has it, resourceVersion too");
    }
    assert_eq!(cache.matching(None, &"app=web".parse().unwrap()).len(), 7);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_late_subscriber_first_gets_what_exists_then_changes() {
    let (widgets, informer, stop) = synced_with_widget_a().await;

    let mut late = informer.subscribe();
    assert_eq!(describe(&recv(&mut late).await), "Added a 1");
    widgets.update_with("a", |w| w.spec.size = 2).await.unwrap();
    assert_eq!(describe(&recv(&mut late).await), "Updated a 1->2");
    widgets.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(describe(&recv(&mut late).await), "Deleted a 2");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn relist_after_compaction_emits_the_difference_and_loses_no_update() {
    // A store with a tiny history, so a watcher that stalls is cut off.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_config(
        MemoryStoreConfig::default().history(8),
    ));
    let client = orchestra::core::Client::new(
        orchestra::core::Registry::builder(store.clone())
            .kind::<Widget>()
            .build(),
    );
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    for name in ["keep", "change", "vanish"] {
        widgets.create(&Widget::new(name, 1)).await.unwrap();
    }
    let informer = Arc::new(Informer::new(
        Api::<Widget>::all(client),
        ListParams::default(),
    ));
    let mut events = informer.subscribe();
    let (handled, _registration) = record_handled(&informer);
    let stop = start(&informer);
    informer.cache().wait_until_synced().await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&recv(&mut events).await)); // the initial Added events
    }

    // Stall the informer's task by holding the runtime (paused time: nothing else
    // runs between these writes), then write far more than the history holds.
    widgets
        .update_with("change", |w| w.spec.size = 2)
        .await
        .unwrap();
    widgets
        .delete("vanish", &DeleteParams::default())
        .await
        .unwrap();
    widgets.create(&Widget::new("new", 1)).await.unwrap();
    for i in 0..40 {
        widgets
            .update_with("keep", |w| w.spec.size = 100 + i)
            .await
            .unwrap();
    }
    widgets
        .update_with("keep", |w| w.spec.size = 1)
        .await
        .unwrap();

    // Whatever the path (watch, or relist after Gone), the subscriber ends with exactly
    // the store's state, and "vanish" comes out as a deletion.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let cache = informer.cache();
        let settled = cache.len() == 3
            && cache
                .get(&ObjectKey::namespaced("default", "change"))
                .is_some_and(|w| w.spec.size == 2)
            && cache
                .get(&ObjectKey::namespaced("default", "keep"))
                .is_some_and(|w| w.spec.size == 1);
        if settled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cache never converged; saw {seen:?}"
        );
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(100), events.recv()).await {
            seen.push(describe(&e));
        }
    }
    while let Ok(e) = events.try_recv() {
        seen.push(describe(&e));
    }
    assert!(
        seen.iter().any(|e| e.starts_with("Deleted vanish")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| e.starts_with("Added new")), "{seen:?}");
    assert!(seen.iter().any(|e| e == "Updated change 1->2"), "{seen:?}");
    assert!(
        store.compact_revision().await.unwrap() > 0,
        "the history was compacted meanwhile"
    );
    // A handler hears exactly what a subscriber does, relist differences included.
    assert_eq!(*handled.lock(), seen);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_handler_hears_what_exists_then_changes_until_its_registration_is_dropped() {
    let (widgets, informer, stop) = synced_with_widget_a().await;

    let (handled, registration) = record_handled(&informer);
    assert_eq!(*handled.lock(), ["Added a 1"], "the cached object, at once");
    // The informer calls its handlers before it queues an event for subscriptions, so
    // once the subscription has an event the handler has had it too.
    let mut after = informer.subscribe();
    recv(&mut after).await;
    widgets.update_with("a", |w| w.spec.size = 2).await.unwrap();
    recv(&mut after).await;
    widgets.delete("a", &DeleteParams::default()).await.unwrap();
    recv(&mut after).await;
    assert_eq!(
        *handled.lock(),
        ["Added a 1", "Updated a 1->2", "Deleted a 2"]
    );

    drop(registration);
    widgets.create(&Widget::new("b", 1)).await.unwrap();
    assert_eq!(describe(&recv(&mut after).await), "Added b 1");
    assert_eq!(
        handled.lock().len(),
        3,
        "no call after the registration is dropped"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_stops_neither_the_informer_nor_the_others() {
    let (widgets, informer, stop) = synced_with_widget_a().await;
    let _faulty = informer.add_handler(|e: &InformerEvent<Widget>| {
        if e.object().spec.size == 2 {
            panic!("a handler's bug");
        }
    });
    let (handled, _registration) = record_handled(&informer);
    let mut after = informer.subscribe();
    recv(&mut after).await;
    widgets.update_with("a", |w| w.spec.size = 2).await.unwrap();
    assert_eq!(describe(&recv(&mut after).await), "Updated a 1->2");
    widgets.update_with("a", |w| w.spec.size = 3).await.unwrap();
    assert_eq!(describe(&recv(&mut after).await), "Updated a 2->3");
    assert_eq!(
        *handled.lock(),
        ["Added a 1", "Updated a 1->2", "Updated a 2->3"]
    );
    assert_eq!(
        informer
            .cache()
            .get(&ObjectKey::namespaced("default", "a"))
            .map(|w| w.spec.size),
        Some(3)
    );
    stop.cancel();
}

/// A user's kind with serde of its own: its `Serialize` fails for negative readings,
/// and its `Deserialize` refuses readings above 1,000, which it writes all the same.
#[derive(Clone, Debug, Default, PartialEq)]
struct Gauge {
    metadata: orchestra::core::ObjectMeta,
    reading: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct GaugeJson {
    metadata: orchestra::core::ObjectMeta,
    reading: i64,
}

impl serde::Serialize for Gauge {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.reading < 0 {
            return Err(serde::ser::Error::custom(
                "a negative reading cannot be written",
            ));
        }
        let json = GaugeJson {
            metadata: self.metadata.clone(),
            reading: self.reading,
        };
        serde::Serialize::serialize(&json, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Gauge {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = <GaugeJson as serde::Deserialize>::deserialize(deserializer)?;
        if json.reading > 1_000 {
            return Err(serde::de::Error::custom(
                "a reading above 1000 cannot be read",
            ));
        }
        Ok(Gauge {
            metadata: json.metadata,
            reading: json.reading,
        })
    }
}

impl orchestra::core::Resource for Gauge {
    const KIND: &'static str = "Gauge";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "gauges";
    const SCOPE: orchestra::core::Scope = orchestra::core::Scope::Namespaced;

    fn meta(&self) -> &orchestra::core::ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut orchestra::core::ObjectMeta {
        &mut self.metadata
    }
}

fn gauge(name: &str, reading: i64) -> Gauge {
    Gauge {
        metadata: orchestra::core::ObjectMeta::namespaced("default", name),
        reading,
    }
}

/// Through `Api<K>` and an informer that packs what it does not keep decoded, a user's
/// kind whose serde fails for some objects gives errors (or keeps those objects
/// decoded), never a panic: an object its `Serialize` refuses is not written (the
/// create fails), and objects whose JSON its `Deserialize` refuses, which reach the
/// informer typed, stay decoded in its cache and are served.
#[tokio::test(start_paused = true)]
async fn a_kind_whose_serde_fails_for_some_objects_gives_errors_not_panics() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = orchestra::core::registry::Registry::builder(store)
        .clock(orchestra::core::Clock::starting_at(common::epoch()))
        .seed(1)
        .kind::<Gauge>()
        .build();
    let client = common::client_of(&registry);
    let gauges: Api<Gauge> = Api::namespaced(client.clone(), "default");

    let refused = gauges.create(&gauge("unwritable", -1)).await;
    let error = refused.expect_err("a Gauge that cannot be encoded is not created");
    assert!(
        error
            .to_string()
            .contains("a negative reading cannot be written"),
        "{error}"
    );

    let config = InformerConfig::default().decoded(1);
    let informer =
        Arc::new(Informer::new(Api::<Gauge>::all(client), ListParams::default()).config(config));
    let cache = informer.cache();
    let token = CancellationToken::new();
    let (i, t) = (informer.clone(), token.clone());
    tokio::spawn(async move { i.run(t).await });
    cache.wait_until_synced().await;

    let written = [
        gauge("unreadable-1", 5_000),
        gauge("fine-1", 1),
        gauge("unreadable-2", 6_000),
        gauge("fine-2", 2),
    ];
    for g in &written {
        gauges.create(g).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for g in &written {
        let key = ObjectKey::namespaced("default", g.metadata.name.as_deref().unwrap());
        let cached = cache.get(&key).expect("cached");
        assert_eq!(cached.reading, g.reading);
    }
    assert_eq!(cache.list().len(), written.len());
    token.cancel();
}
