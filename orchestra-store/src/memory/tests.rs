//! MemoryStore's own behaviour: bookkeeping, retention, slow watchers, and a property
//! test against a naive model. The shared contract is checked by the conformance suite.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{ListOptions, Revision, Store, StoreError, WatchEvent};
use proptest::prelude::*;

use super::{MemoryStore, MemoryStoreConfig};

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn bookkeeping_follows_etcd() {
    let store = MemoryStore::new();
    let a = store.create(b"/a", v("1")).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 1, 1));
    let a2 = store.update(b"/a", v("2"), 1).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision, a2.version), (1, 2, 2));
    let prev = store.delete(b"/a", None).await.unwrap();
    assert_eq!(prev, a2);
    let again = store.create(b"/a", v("3")).await.unwrap();
    assert_eq!(
        (again.create_revision, again.mod_revision, again.version),
        (4, 4, 1)
    );
    assert_eq!(store.current_revision().await.unwrap(), 4);
}

#[tokio::test]
async fn retention_compacts_automatically_and_cuts_off_a_slow_watcher() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().history(100));
    store.create(b"/k", v("0")).await.unwrap();
    let mut slow = store.watch(b"/", 1).await.unwrap();
    let mut rev = 1;
    for i in 0..1_000 {
        rev = store
            .update(b"/k", v(&i.to_string()), rev)
            .await
            .unwrap()
            .mod_revision;
    }
    let compacted = store.compact_revision().await.unwrap();
    assert!(
        compacted >= rev - 125 && compacted <= rev - 100,
        "compacted at {compacted}, current {rev}"
    );
    // The watcher never read: its position is gone, and it is told so, not left behind silently.
    match tokio::time::timeout(Duration::from_secs(5), slow.next())
        .await
        .unwrap()
    {
        Some(Err(StoreError::Compacted {
            requested: 1,
            compact_revision,
        })) => assert_eq!(compact_revision, compacted),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(
        slow.next().await.is_none(),
        "the stream ends after Compacted"
    );
    // History that is kept still serves reads and watches.
    let at = rev - 50;
    assert_eq!(
        store
            .list(b"/k", ListOptions::default().at_revision(at))
            .await
            .unwrap()
            .kvs[0]
            .mod_revision,
        at
    );
    let mut fresh = store.watch(b"/", at).await.unwrap();
    assert_eq!(fresh.next().await.unwrap().unwrap().revision(), at + 1);
}

#[tokio::test]
async fn a_watcher_that_keeps_up_sees_every_write_in_order() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().history(64));
    let mut watch = store.watch(b"/w/", 0).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..50u32 {
                store
                    .create(format!("/w/{i:03}").as_bytes(), v("x"))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut last = 0;
    for _ in 0..50 {
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(event.revision(), last + 1);
        last = event.revision();
    }
    writer.await.unwrap();
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    Create(u8, u8),
    Update(u8, u8, bool),
    Delete(u8, bool),
    Get(u8),
    ListAt(u8),
    Compact(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u8, any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
        (0..6u8, any::<u8>(), any::<bool>()).prop_map(|(k, v, ok)| Op::Update(k, v, ok)),
        (0..6u8, any::<bool>()).prop_map(|(k, ok)| Op::Delete(k, ok)),
        (0..6u8).prop_map(Op::Get),
        any::<u8>().prop_map(Op::ListAt),
        any::<u8>().prop_map(Op::Compact),
    ]
}

/// One key in the model: value, create_revision, mod_revision, version.
type Entry = (Bytes, Revision, Revision, u64);
/// The whole keyspace at one revision.
type Snapshot = BTreeMap<Vec<u8>, Entry>;

/// The naive model: every revision's full snapshot.
#[derive(Default)]
struct Model {
    snapshots: Vec<Snapshot>,
    compacted: Revision,
}

impl Model {
    fn current(&self) -> Snapshot {
        self.snapshots.last().cloned().unwrap_or_default()
    }
    fn revision(&self) -> Revision {
        self.snapshots.len() as Revision
    }
}

fn key(k: u8) -> Vec<u8> {
    format!("/p/{k}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn behaves_like_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let store = MemoryStore::with_config(MemoryStoreConfig::default().unbounded_history());
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Create(k, val) => {
                        let mut snap = model.current();
                        let got = store.create(&key(k), Bytes::from(vec![val])).await;
                        let rev = model.revision() + 1;
                        match snap.entry(key(k)) {
                            std::collections::btree_map::Entry::Occupied(_) => {
                                prop_assert!(matches!(got, Err(StoreError::AlreadyExists { .. })), "expected AlreadyExists, got {:?}", got);
                            }
                            std::collections::btree_map::Entry::Vacant(slot) => {
                                slot.insert((Bytes::from(vec![val]), rev, rev, 1));
                                model.snapshots.push(snap);
                                let kv = got.unwrap();
                                prop_assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (rev, rev, 1));
                            }
                        }
                    }
                    Op::Update(k, val, right) => {
                        let mut snap = model.current();
                        let current = snap.get(&key(k)).cloned();
                        let expected = match (&current, right) {
                            (Some(c), true) => c.2,
                            (Some(c), false) => c.2 + 1000,
                            (None, _) => 1,
                        };
                        let got = store.update(&key(k), Bytes::from(vec![val]), expected).await;
                        match current {
                            None => prop_assert!(matches!(got, Err(StoreError::NotFound { .. })), "expected NotFound, got {:?}", got),
                            Some(_) if !right => prop_assert!(matches!(got, Err(StoreError::Conflict { .. })), "expected Conflict, got {:?}", got),
                            Some((_, create, _, version)) => {
                                let rev = model.revision() + 1;
                                snap.insert(key(k), (Bytes::from(vec![val]), create, rev, version + 1));
                                model.snapshots.push(snap);
                                prop_assert_eq!(got.unwrap().mod_revision, rev);
                            }
                        }
                    }
                    Op::Delete(k, right) => {
                        let mut snap = model.current();
                        let current = snap.get(&key(k)).cloned();
                        let guard = current.as_ref().map(|c| if right { c.2 } else { c.2 + 1000 });
                        let got = store.delete(&key(k), guard).await;
                        match current {
                            None => prop_assert!(matches!(got, Err(StoreError::NotFound { .. })), "expected NotFound, got {:?}", got),
                            Some(_) if !right => prop_assert!(matches!(got, Err(StoreError::Conflict { .. })), "expected Conflict, got {:?}", got),
                            Some(_) => {
                                snap.remove(&key(k));
                                model.snapshots.push(snap);
                                prop_assert!(got.is_ok());
                            }
                        }
                    }
                    Op::Get(k) => {
                        let got = store.get(&key(k)).await.unwrap().map(|kv| (kv.value, kv.create_revision, kv.mod_revision, kv.version));
                        prop_assert_eq!(got, model.current().get(&key(k)).cloned());
                    }
                    Op::ListAt(r) => {
                        let rev = Revision::from(r) % (model.revision() + 2);
                        let got = store.list(b"/p/", ListOptions::default().at_revision(rev)).await;
                        if rev > model.revision() {
                            prop_assert!(matches!(got, Err(StoreError::FutureRevision { .. })), "future {rev}");
                        } else if rev < model.compacted {
                            prop_assert!(matches!(got, Err(StoreError::Compacted { .. })), "compacted {rev}");
                        } else {
                            let expected = if rev == 0 { BTreeMap::new() } else { model.snapshots[rev as usize - 1].clone() };
                            let got: BTreeMap<_, _> = got.unwrap().kvs.into_iter()
                                .map(|kv| (kv.key.to_vec(), (kv.value, kv.create_revision, kv.mod_revision, kv.version)))
                                .collect();
                            prop_assert_eq!(got, expected);
                        }
                    }
                    Op::Compact(r) => {
                        let rev = Revision::from(r) % (model.revision() + 1);
                        store.compact(rev).await.unwrap();
                        model.compacted = model.compacted.max(rev);
                        prop_assert_eq!(store.compact_revision().await.unwrap(), model.compacted);
                    }
                }
            }
            // Watching from the compaction point replays exactly the retained history.
            let mut watch = store.watch(b"/p/", model.compacted).await.unwrap();
            for rev in model.compacted + 1..=model.revision() {
                let event = watch.next().await.unwrap().unwrap();
                prop_assert_eq!(event.revision(), rev);
                let after = &model.snapshots[rev as usize - 1];
                match event {
                    WatchEvent::Put { kv } => prop_assert_eq!(after.get(&kv.key.to_vec()).map(|e| e.2), Some(rev)),
                    WatchEvent::Delete { prev, .. } => prop_assert!(!after.contains_key(&prev.key.to_vec())),
                }
            }
            Ok(())
        })?;
    }
}
