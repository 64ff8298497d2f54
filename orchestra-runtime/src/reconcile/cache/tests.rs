//! The cache's tests: keys, indexes, and objects decoded and packed.

use orchestra_core::kinds::Pod;
use orchestra_core::{ObjectMeta, ResourceExt};

use super::*;
use crate::keys::KeyRef;

fn pod(app: &str, node: &str) -> Arc<Pod> {
    let mut pod = Pod {
        metadata: ObjectMeta::namespaced("default", "a"),
        ..Default::default()
    };
    pod.metadata.labels.insert("app".into(), app.into());
    pod.spec.node_name = Some(node.into());
    Arc::new(pod)
}

fn named(namespace: &str, name: &str) -> Arc<Pod> {
    Arc::new(Pod {
        metadata: ObjectMeta::namespaced(namespace, name),
        ..Default::default()
    })
}

#[test]
fn keys_handed_out_share_the_cached_keys_strings() {
    let writer = Cache::<Pod>::new_with_writer();
    let cache = writer.cache();
    let (a, b) = (named("default", "a"), named("default", "b"));
    writer.apply(a.clone());
    writer.apply(b.clone());
    let (key_a, key_b) = (cache.key_of(&a), cache.key_of(&b));
    assert_eq!(key_a, ObjectKey::namespaced("default", "a"));
    let shared = |x: &ObjectKey, y: &ObjectKey| {
        Arc::ptr_eq(x.namespace.as_ref().unwrap(), y.namespace.as_ref().unwrap())
    };
    assert!(shared(&key_a, &key_b), "one namespace string for both");
    assert!(Arc::ptr_eq(&key_a.name, &cache.key_of(&a).name));
    // An update files the object under the key it already has.
    writer.apply(named("default", "a"));
    assert!(Arc::ptr_eq(
        &key_a.name,
        &cache.key(Some("default"), "a").name
    ));
    // A key of something not cached is made afresh, equal all the same.
    let absent = cache.key(Some("default"), "c");
    assert_eq!(absent, ObjectKey::namespaced("default", "c"));
    assert!(shared(&absent, &key_a), "a known namespace is still shared");
    assert_eq!(cache.key(None, "a"), ObjectKey::cluster("a"));
    // Removing the last objects of a namespace forgets it once no key holds it.
    drop((key_a, key_b, absent));
    writer.remove(&ObjectKey::namespaced("default", "a"));
    writer.remove(&ObjectKey::namespaced("default", "b"));
    let fresh = cache.key(Some("default"), "d");
    assert_eq!(fresh.namespace.as_deref(), Some("default"));
    assert_eq!(Arc::strong_count(fresh.namespace.as_ref().unwrap()), 1);
}

#[test]
fn index_entries_are_found_by_key() {
    let writer = Cache::<Pod>::new_with_writer();
    let cache = writer.cache();
    let labelled = |name: &str| {
        let mut pod = Pod {
            metadata: ObjectMeta::namespaced("default", name),
            ..Default::default()
        };
        pod.metadata.labels.insert("app".into(), "web".into());
        Arc::new(pod)
    };
    writer.apply(labelled("a"));
    writer.apply(labelled("b"));
    let mut names: Vec<String> = cache
        .by_index(INDEX_LABEL, "app=web")
        .iter()
        .map(|p| p.name_any().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    // The keys an index hands out are the cache's own.
    let keys = cache.keys_by_index(INDEX_LABEL, "app=web");
    assert_eq!(keys.len(), 2);
    for key in &keys {
        assert!(Arc::ptr_eq(
            &key.name,
            &cache.key(Some("default"), &key.name).name
        ));
    }
    writer.remove(&ObjectKey::namespaced("default", "a"));
    let left = cache.by_index(INDEX_LABEL, "app=web");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name_any(), "b");
    writer.remove(&ObjectKey::namespaced("default", "b"));
    assert!(cache.keys_by_index(INDEX_LABEL, "app=web").is_empty());
}

#[test]
fn an_update_keeping_its_index_values_serves_the_new_object_from_the_index() {
    let writer = Cache::<Pod>::new_with_writer();
    writer.apply(pod("web", "n1"));
    let moved = pod("web", "n2");
    writer.apply(moved.clone());
    let found = writer.cache().by_index(INDEX_LABEL, "app=web");
    assert_eq!(found.len(), 1);
    assert!(
        Arc::ptr_eq(&found[0], &moved),
        "the index holds the new object"
    );

    writer.apply(pod("db", "n2"));
    assert!(writer.cache().by_index(INDEX_LABEL, "app=web").is_empty());
    assert_eq!(writer.cache().by_index(INDEX_LABEL, "app=db").len(), 1);
}

fn labelled(name: &str, app: &str) -> Arc<Pod> {
    let mut pod = Pod {
        metadata: ObjectMeta::namespaced("default", name),
        ..Default::default()
    };
    pod.metadata.labels.insert("app".into(), app.into());
    pod.spec.node_name = Some(format!("node-of-{name}"));
    Arc::new(pod)
}

/// How many objects are held decoded, checking the bookkeeping on the way.
fn decoded(writer: &CacheWriter<Pod>) -> usize {
    writer.cache().inner.read().objects.check()
}

fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
    let mut names: Vec<String> = pods.iter().map(|p| p.name_any().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn objects_beyond_the_limit_are_packed_and_read_back_equal() {
    let writer = Cache::<Pod>::new_with_writer();
    writer.set_decoded_limit(2);
    let pods: Vec<Arc<Pod>> = (0..5).map(|i| labelled(&format!("p{i}"), "web")).collect();
    for p in &pods {
        writer.apply(p.clone());
    }
    assert_eq!(decoded(&writer), 2, "the two newest stay decoded");
    let cache = writer.cache();
    for p in &pods {
        let read = cache.get(&ObjectKey::of(&**p)).unwrap();
        assert_eq!(*read, **p);
    }
    // The newest is served as the very object the informer handed out.
    assert!(Arc::ptr_eq(
        &cache.get(&ObjectKey::of(&*pods[4])).unwrap(),
        &pods[4]
    ));
    assert_eq!(
        names(cache.by_index(INDEX_LABEL, "app=web")),
        ["p0", "p1", "p2", "p3", "p4"]
    );
    assert_eq!(names(cache.list()), ["p0", "p1", "p2", "p3", "p4"]);
    assert_eq!(cache.keys_by_index(INDEX_LABEL, "app=web").len(), 5);
}

#[test]
fn a_limit_set_later_packs_the_oldest_written_first() {
    let writer = Cache::<Pod>::new_with_writer();
    for i in 0..5 {
        writer.apply(labelled(&format!("p{i}"), "web"));
    }
    // Rewritten last: the newest, whatever its name.
    writer.apply(labelled("p0", "db"));
    assert_eq!(decoded(&writer), 5, "no limit: everything decoded");
    writer.set_decoded_limit(2);
    assert_eq!(decoded(&writer), 2);
    let inner = writer.cache().inner.read();
    let mut still: Vec<&str> = ["p0", "p1", "p2", "p3", "p4"]
        .into_iter()
        .filter(|n| {
            let place = inner.objects.get(&ObjectKey::namespaced("default", *n));
            matches!(place.map(|p| &p.slot), Some(Slot::Decoded { .. }))
        })
        .collect();
    still.sort_unstable();
    assert_eq!(still, ["p0", "p4"], "the two written last stay decoded");
}

/// A limit switched off and on while an object is on its way to being packed (what
/// `keep_decoded` from another thread can do between the writer's two steps) leaves
/// the bookkeeping whole, and the object can still be removed and its place reused.
#[test]
fn a_limit_reset_while_an_object_settles_keeps_the_order_whole() {
    let mut objects = objects::Objects::<Pod>::new(1);
    for name in ["a", "b"] {
        let pod = labelled(name, "web");
        objects.put(KeyRef::of(&*pod), pod.clone(), || ObjectKey::of(&*pod));
    }
    let mut settling = objects.over_limit();
    assert_eq!(settling.len(), 1, "a is on its way");
    let a = settling.pop().unwrap();
    objects.set_limit(usize::MAX);
    objects.set_limit(1);
    objects.settle(
        a.id,
        a.seq,
        packed::Packer::default().pack(&*a.obj).unwrap(),
    );
    assert_eq!(objects.check(), 1);
    objects
        .remove(&ObjectKey::namespaced("default", "a"))
        .unwrap();
    let c = labelled("c", "web");
    objects.put(KeyRef::of(&*c), c.clone(), || ObjectKey::of(&*c));
    for s in objects.over_limit() {
        objects.settle(
            s.id,
            s.seq,
            packed::Packer::default().pack(&*s.obj).unwrap(),
        );
    }
    assert_eq!(objects.check(), 1);
    assert_eq!(objects.len(), 2);
}

#[test]
fn updating_or_removing_a_packed_object_hands_back_its_last_state() {
    let writer = Cache::<Pod>::new_with_writer();
    writer.set_decoded_limit(1);
    let a = labelled("a", "web");
    writer.apply(a.clone());
    writer.apply(labelled("b", "web"));
    assert_eq!(decoded(&writer), 1, "a is packed");
    let old = writer.apply(labelled("a", "db")).unwrap();
    assert_eq!(*old, *a);
    let cache = writer.cache();
    assert_eq!(names(cache.by_index(INDEX_LABEL, "app=web")), ["b"]);
    assert_eq!(names(cache.by_index(INDEX_LABEL, "app=db")), ["a"]);
    assert_eq!(decoded(&writer), 1, "now b is packed");
    let removed = writer
        .remove(&ObjectKey::namespaced("default", "b"))
        .unwrap();
    assert_eq!(*removed, *labelled("b", "web"));
    assert!(cache.by_index(INDEX_LABEL, "app=web").is_empty());
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_cache_within_its_limit_never_packs() {
    let writer = Cache::<Pod>::new_with_writer();
    writer.set_decoded_limit(100);
    for round in 0..3 {
        for i in 0..100 {
            writer.apply(labelled(&format!("p{i}"), &format!("v{round}")));
        }
    }
    assert_eq!(decoded(&writer), 100);
    assert_eq!(writer.cache().by_index(INDEX_LABEL, "app=v2").len(), 100);
}

mod model {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Apply(u8, u8),
        Remove(u8),
        Limit(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..8u8, 0..3u8).prop_map(|(k, v)| Op::Apply(k, v)),
            2 => (0..8u8).prop_map(Op::Remove),
            1 => prop_oneof![(1..5usize), Just(usize::MAX)].prop_map(Op::Limit),
        ]
    }

    proptest! {
        /// Whatever is decoded or packed, the cache answers as a plain map of
        /// objects would, and its indexes and the objects it hands back agree.
        #[test]
        fn the_cache_reads_as_a_map_of_its_objects(ops in proptest::collection::vec(op(), 1..80)) {
            let writer = Cache::<Pod>::new_with_writer();
            writer.set_decoded_limit(2);
            let mut model: BTreeMap<String, Arc<Pod>> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Apply(k, v) => {
                        let pod = labelled(&format!("p{k}"), &format!("v{v}"));
                        let old = writer.apply(pod.clone());
                        let expected = model.insert(format!("p{k}"), pod);
                        prop_assert_eq!(old.map(|o| (*o).clone()), expected.map(|o| (*o).clone()));
                    }
                    Op::Remove(k) => {
                        let old = writer.remove(&ObjectKey::namespaced("default", format!("p{k}")));
                        let expected = model.remove(&format!("p{k}"));
                        prop_assert_eq!(old.map(|o| (*o).clone()), expected.map(|o| (*o).clone()));
                    }
                    Op::Limit(limit) => writer.set_decoded_limit(limit),
                }
                decoded(&writer);
                let cache = writer.cache();
                prop_assert_eq!(cache.len(), model.len());
                for (name, pod) in &model {
                    let read = cache.get(&ObjectKey::namespaced("default", name));
                    prop_assert_eq!(read.as_deref(), Some(&**pod));
                }
                for v in 0..3 {
                    let value = format!("app=v{v}");
                    let want: Vec<String> = model
                        .iter()
                        .filter(|(_, p)| p.metadata.labels.get("app") == Some(&format!("v{v}")))
                        .map(|(n, _)| n.clone())
                        .collect();
                    prop_assert_eq!(names(cache.by_index(INDEX_LABEL, &value)), want);
                }
            }
        }
    }
}

/// Readers on other threads, while the writer packs and replaces objects under a
/// limit of two decoded, only ever see versions that were written, and never one
/// older than a version they saw before.
#[test]
fn concurrent_readers_see_each_object_move_only_forward() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const KEYS: usize = 8;
    const ROUNDS: usize = 300;
    let writer = Arc::new(Cache::<Pod>::new_with_writer());
    writer.set_decoded_limit(2);
    let version = |pod: &Pod| -> usize {
        pod.metadata
            .labels
            .get("app")
            .and_then(|v| v.parse().ok())
            .expect("a version")
    };
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (cache, done) = (writer.cache().clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = [0usize; KEYS];
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    for (k, last) in seen.iter_mut().enumerate() {
                        let key = ObjectKey::namespaced("default", format!("p{k}"));
                        if let Some(pod) = cache.get(&key) {
                            let v = version(&pod);
                            assert!(v >= *last, "p{k} went back from {last} to {v}");
                            *last = v;
                            reads += 1;
                        }
                    }
                    for pod in cache.list() {
                        assert!(version(&pod) < ROUNDS);
                    }
                }
                reads
            })
        })
        .collect();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            writer.apply(labelled(&format!("p{k}"), &round.to_string()));
        }
        if round % 50 == 49 {
            writer.remove(&ObjectKey::namespaced("default", "p0"));
        }
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("a reader saw a step back") > 0);
    }
    assert_eq!(decoded(&writer), 2);
}

/// A user's kind with serde of its own: its `Serialize` fails for negative readings,
/// and its `Deserialize` refuses readings above 1,000, which it writes all the same.
#[derive(Clone, Debug, Default, PartialEq)]
struct Gauge {
    metadata: ObjectMeta,
    reading: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct GaugeJson {
    metadata: ObjectMeta,
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
        let json = GaugeJson::deserialize(deserializer)?;
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

impl Resource for Gauge {
    const KIND: &'static str = "Gauge";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "gauges";
    const SCOPE: orchestra_core::Scope = orchestra_core::Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn gauge(name: &str, reading: i64) -> Arc<Gauge> {
    Arc::new(Gauge {
        metadata: ObjectMeta::namespaced("default", name),
        reading,
    })
}

/// Objects of a user's kind that cannot be packed (one its `Serialize` refuses, one
/// whose JSON its `Deserialize` refuses) stay decoded and are served as they are; the
/// others are packed as usual, and none of it panics.
#[test]
fn objects_whose_serde_fails_stay_decoded_and_are_served() {
    let writer = Cache::<Gauge>::new_with_writer();
    writer.set_decoded_limit(1);
    let gauges = [
        gauge("unwritable", -1),
        gauge("unreadable", 5_000),
        gauge("fine", 7),
        gauge("newest", 8),
    ];
    for g in &gauges {
        writer.apply(g.clone());
    }
    let cache = writer.cache();
    for g in &gauges {
        let read = cache.get(&ObjectKey::of(&**g)).expect("cached");
        assert_eq!(*read, **g);
    }
    assert_eq!(cache.list().len(), 4);
    assert_eq!(cache.in_namespace("default").len(), 4);
    let inner = cache.inner.read();
    let slot = |name: &str| {
        let place = inner.objects.get(&ObjectKey::namespaced("default", name));
        matches!(place.map(|p| &p.slot), Some(Slot::Packed(_)))
    };
    assert!(!slot("unwritable"), "its Serialize failed: kept decoded");
    assert!(
        !slot("unreadable"),
        "its JSON does not decode: kept decoded"
    );
    assert!(slot("fine"), "packed as usual");
    drop(inner);
    // Rewritten and removed as any other object, its indexes kept whole.
    writer.apply(gauge("unreadable", 9));
    assert_eq!(
        cache
            .get(&ObjectKey::namespaced("default", "unreadable"))
            .unwrap()
            .reading,
        9
    );
    writer.remove(&ObjectKey::namespaced("default", "unwritable"));
    assert_eq!(cache.in_namespace("default").len(), 3);
}

#[test]
fn a_packer_refuses_what_it_could_not_unpack() {
    let mut packer = packed::Packer::default();
    assert!(packer.pack(&*gauge("unwritable", -1)).is_err());
    assert!(packer.pack(&*gauge("unreadable", 5_000)).is_err());
    let fine = gauge("fine", 7);
    assert_eq!(packer.pack(&*fine).unwrap().unpack::<Gauge>(), *fine);
}
