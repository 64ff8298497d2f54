//! The registry when its store misbehaves: a write whose outcome the store cannot know
//! is resolved by reading back when it can be and is never retried blindly, and stored
//! values that cannot be served (undecodable, or naming another object than their key)
//! are reported and left out of lists and watches, not served under the wrong name.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Widget, client_of};
use futures::StreamExt;
use orchestra::core::kinds::Event;
use orchestra::core::{
    Api, ApiError, DeleteParams, ListParams, ObjectEvent, Registry, ResourceExt, Store, StoreError,
};
use orchestra::store::MemoryStore;
use orchestra::store::testing::{InterceptedStore, StoreCall, StoreOp, Verdict};

/// What the store does with the writes it is armed for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// The write is applied, but the caller hears the outcome is unknown.
    AfterApplying,
    /// The write is never applied, and the caller hears the outcome is unknown.
    Unapplied,
}

/// A registry over a store whose next write (when armed) ends with an unknown outcome.
fn flaky(lost: Lost) -> (Registry, Arc<InterceptedStore>, Arc<AtomicBool>) {
    let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let armed = Arc::new(AtomicBool::new(false));
    let (store, trigger) = (inner.clone(), armed.clone());
    let intercepted = Arc::new(InterceptedStore::new(inner).on_call(move |call| {
        let write = matches!(
            call,
            StoreCall::Create { .. } | StoreCall::Update { .. } | StoreCall::Delete { .. }
        );
        if !write || !trigger.swap(false, Ordering::SeqCst) {
            return Verdict::Pass;
        }
        let unknown = StoreError::outcome_unknown(format!("{call}: the connection dropped"));
        if lost == Lost::Unapplied {
            return Verdict::Fail(unknown);
        }
        let (store, call) = (store.clone(), call.clone());
        Verdict::after(async move {
            match call {
                StoreCall::Create { key, value } => drop(store.create(&key, value).await),
                StoreCall::Update {
                    key,
                    value,
                    expected,
                } => drop(store.update(&key, value, expected).await),
                StoreCall::Delete { key, expected } => drop(store.delete(&key, expected).await),
                _ => unreachable!("only writes are armed"),
            }
            Verdict::Fail(unknown)
        })
    }));
    let registry = Registry::builder(intercepted.clone())
        .kind::<Widget>()
        .build();
    (registry, intercepted, armed)
}

#[tokio::test]
async fn a_write_that_landed_though_the_store_lost_track_of_it_succeeds() {
    let (registry, _, armed) = flaky(Lost::AfterApplying);
    let widgets: Api<Widget> = Api::namespaced(client_of(&registry), "default");

    armed.store(true, Ordering::SeqCst);
    let created = widgets.create(&Widget::new("a", 1)).await.unwrap();
    assert_eq!(
        widgets.get("a").await.unwrap(),
        created,
        "the read-back create"
    );

    armed.store(true, Ordering::SeqCst);
    let mut bigger = created.clone();
    bigger.spec.size = 2;
    let updated = widgets.update(&bigger).await.unwrap();
    assert_eq!(updated.spec.size, 2);
    assert_eq!(widgets.get("a").await.unwrap(), updated);

    armed.store(true, Ordering::SeqCst);
    let outcome = widgets.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(outcome.is_deleted());
    assert!(widgets.get_opt("a").await.unwrap().is_none());
}

#[tokio::test]
async fn a_write_whose_outcome_stays_unknown_says_so_and_is_not_retried() {
    let (registry, store, armed) = flaky(Lost::Unapplied);
    let client = client_of(&registry);
    let widgets: Api<Widget> = Api::namespaced(client, "default");

    armed.store(true, Ordering::SeqCst);
    let err = widgets.create(&Widget::new("a", 1)).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Timeout(_)) && err.is_outcome_unknown() && err.code() == 504,
        "{err}"
    );
    assert!(err.message().contains("may or may not"), "{err}");

    // A generated name is not tried again under another name: that could make two.
    let creates_before = store.calls(StoreOp::Create);
    armed.store(true, Ordering::SeqCst);
    let mut generated = Widget::new("", 1);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let err = widgets.create(&generated).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(
        store.calls(StoreOp::Create),
        creates_before + 1,
        "one attempt"
    );
    assert!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // An update is not retried either: the caller reads and decides.
    let created = widgets.create(&Widget::new("b", 1)).await.unwrap();
    let updates_before = store.calls(StoreOp::Update);
    armed.store(true, Ordering::SeqCst);
    let err = widgets
        .update_with("b", |w| w.spec.size = 5)
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(store.calls(StoreOp::Update), updates_before + 1);
    assert_eq!(
        widgets.get("b").await.unwrap(),
        created,
        "nothing was applied"
    );
}

/// Counts `orchestra_registry_unreadable_objects_total` by its `resource` label, as a
/// metrics exporter would see it.
#[derive(Default)]
struct UnreadableCounter(parking_lot::Mutex<std::collections::HashMap<String, u64>>);

struct Count(&'static UnreadableCounter, String);

impl metrics::CounterFn for Count {
    fn increment(&self, value: u64) {
        *self.0.0.lock().entry(self.1.clone()).or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.0.0.lock().insert(self.1.clone(), value);
    }
}

impl metrics::Recorder for &'static UnreadableCounter {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() != "orchestra_registry_unreadable_objects_total" {
            return metrics::Counter::noop();
        }
        let resource = key
            .labels()
            .find(|l| l.key() == "resource")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        metrics::Counter::from_arc(Arc::new(Count(self, resource)))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Writes a value straight into the store, as a bug or a foreign writer would.
async fn plant(registry: &Registry, key: &str, value: &[u8]) {
    registry
        .store()
        .create(key.as_bytes(), bytes::Bytes::copy_from_slice(value))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_value_that_names_another_object_than_its_key_is_never_served_under_either() {
    static COUNTER: std::sync::LazyLock<UnreadableCounter> =
        std::sync::LazyLock::new(UnreadableCounter::default);
    // The only test of this file that reads metrics: it owns the global recorder.
    metrics::set_global_recorder(&*COUNTER).expect("the only recorder of this test binary");
    let registry = common::memory_registry();
    let widgets: Api<Widget> = Api::namespaced(client_of(&registry), "default");
    widgets.create(&Widget::new("real", 1)).await.unwrap();
    let mut watch = widgets
        .watch(
            &ListParams::default(),
            widgets
                .list(&ListParams::default())
                .await
                .unwrap()
                .resource_version,
        )
        .await
        .unwrap();

    // Stored as "liar", the value says it is "real"; another says it lives elsewhere.
    let root = registry.key_root(
        &<Widget as orchestra::core::Resource>::api_resource(),
        Some("default"),
    );
    let lie = br#"{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"real","namespace":"default"},"spec":{"size":99}}"#;
    plant(&registry, &format!("{root}liar"), lie).await;
    let elsewhere = br#"{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"moved","namespace":"other"},"spec":{"size":7}}"#;
    plant(&registry, &format!("{root}moved"), elsewhere).await;
    widgets.create(&Widget::new("after", 1)).await.unwrap();

    let err = widgets.get("liar").await.unwrap_err();
    assert!(matches!(err, ApiError::Internal(_)), "{err}");
    assert!(err.message().contains(&format!("{root}liar")), "{err}");
    assert!(err.message().contains("default/real"), "{err}");
    assert_eq!(widgets.get("real").await.unwrap().spec.size, 1);
    let listed: Vec<String> = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|w| w.name_any().to_owned())
        .collect();
    assert_eq!(listed, ["after", "real"], "the bad values are left out");
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ObjectEvent::Added(w) if w.name_any() == "after"),
        "the watch skips the bad values: {event:?}"
    );

    let reported: Vec<String> = registry
        .unreadable_objects()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(
        reported,
        [format!("{root}liar"), format!("{root}moved")],
        "each bad value is reported once, by key"
    );
    // Each is counted once, under its kind.
    assert_eq!(
        COUNTER.0.lock().get("widgets.example.dev").copied(),
        Some(2),
        "the unreadable-objects counter"
    );
    // Each gets a Warning Event naming its key, on the object its key names.
    let events: Api<Event> = Api::namespaced(client_of(&registry), "default");
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = events.list(&ListParams::default()).await.unwrap().items;
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut about: Vec<(String, String)> = seen
        .iter()
        .map(|e| {
            (
                e.involved_object.name.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    about.sort();
    assert_eq!(
        about,
        [
            ("liar".to_owned(), "UnreadableObject".to_owned()),
            ("moved".to_owned(), "UnreadableObject".to_owned())
        ]
    );
    assert!(seen.iter().all(|e| e.type_.as_deref() == Some("Warning")
        && e.message.as_deref().is_some_and(|m| m.contains(&root))));

    // Repaired (deleted here), it is no longer reported.
    registry
        .store()
        .delete(format!("{root}liar").as_bytes(), None)
        .await
        .unwrap();
    let _ = widgets.list(&ListParams::default()).await.unwrap();
    let reported: Vec<String> = registry
        .unreadable_objects()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert!(!reported.contains(&format!("{root}liar")), "{reported:?}");
}
