//! `MemoryStore` against a naive model: random sequences of writes, reads at any
//! revision, watches and compactions must give exactly the results and errors of a
//! model that keeps a full snapshot of every revision.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::executor::block_on;
use futures::{FutureExt, StreamExt};
use orchestra_core::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent};
use proptest::prelude::*;

use super::{MAX_COMPACTION_STEP, MemoryStore, MemoryStoreConfig};

const KEYS: [&str; 5] = ["/a", "/a/b", "/a/bc", "/a/b/x", "/b"];
const PREFIXES: [&str; 6] = ["", "/a", "/a/b", "/a/b/", "/b/", "/c"];

#[derive(Clone, Debug)]
enum Guard {
    /// The key's current mod_revision (or 1 if it is missing).
    Right,
    /// Something else: the current one plus `1 + n`.
    Wrong(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Create(usize, u8),
    Update(usize, u8, Guard),
    Delete(usize, Option<Guard>),
    Get(usize),
    List {
        prefix: usize,
        /// Picks a revision in `0..=current + 1` (so sometimes a future one).
        at: Option<u64>,
        limit: Option<usize>,
        start_after: Option<usize>,
    },
    Watch {
        prefix: usize,
        after: u64,
    },
    Compact(u64),
}

fn guard() -> impl Strategy<Value = Guard> {
    prop_oneof![3 => Just(Guard::Right), 1 => (0..3u64).prop_map(Guard::Wrong)]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let prefix = 0..PREFIXES.len();
    prop_oneof![
        4 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
        4 => (key.clone(), any::<u8>(), guard()).prop_map(|(k, v, g)| Op::Update(k, v, g)),
        2 => (key.clone(), proptest::option::of(guard())).prop_map(|(k, g)| Op::Delete(k, g)),
        1 => key.clone().prop_map(Op::Get),
        3 => (
            prefix.clone(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(0..4usize),
            proptest::option::of(key),
        )
            .prop_map(|(prefix, at, limit, start_after)| Op::List {
                prefix,
                at,
                limit,
                start_after,
            }),
        2 => (prefix, any::<u64>()).prop_map(|(prefix, after)| Op::Watch { prefix, after }),
        1 => any::<u64>().prop_map(Op::Compact),
    ]
}

/// Every revision's full state, every event, and the compaction point.
struct Model {
    snapshots: Vec<BTreeMap<Bytes, KeyValue>>,
    events: Vec<WatchEvent>,
    compact_revision: Revision,
    history: Option<usize>,
}

impl Model {
    fn current(&self) -> Revision {
        (self.snapshots.len() - 1) as Revision
    }

    fn state(&self) -> &BTreeMap<Bytes, KeyValue> {
        self.snapshots.last().expect("revision 0 is always there")
    }

    fn guard(&self, key: &[u8], guard: &Guard) -> Revision {
        let current = self.state().get(key).map_or(1, |kv| kv.mod_revision);
        match guard {
            Guard::Right => current,
            Guard::Wrong(n) => current + 1 + n,
        }
    }

    fn commit(&mut self, state: BTreeMap<Bytes, KeyValue>, event: WatchEvent) {
        self.snapshots.push(state);
        self.events.push(event);
        // The store's retention rule, mirrored.
        if let Some(keep) = self.history {
            let slack = (keep / 4).clamp(1, MAX_COMPACTION_STEP);
            let revision = self.current();
            if (revision - self.compact_revision) as usize >= keep + slack {
                self.compact_revision = revision - keep as Revision;
            }
        }
    }

    fn put(&mut self, key: &[u8], value: Bytes) -> KeyValue {
        let revision = self.current() + 1;
        let (create_revision, version) = match self.state().get(key) {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (revision, 1),
        };
        let kv = KeyValue {
            key: Bytes::copy_from_slice(key),
            value,
            create_revision,
            mod_revision: revision,
            version,
        };
        let mut state = self.state().clone();
        state.insert(kv.key.clone(), kv.clone());
        self.commit(state, WatchEvent::Put { kv: kv.clone() });
        kv
    }

    fn create(&mut self, key: &[u8], value: Bytes) -> Result<KeyValue, StoreError> {
        if self.state().contains_key(key) {
            return Err(StoreError::already_exists(key));
        }
        Ok(self.put(key, value))
    }

    fn update(
        &mut self,
        key: &[u8],
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let current = self
            .state()
            .get(key)
            .ok_or_else(|| StoreError::not_found(key))?;
        if current.mod_revision != expected {
            return Err(StoreError::conflict(key, expected, current.mod_revision));
        }
        Ok(self.put(key, value))
    }

    fn delete(&mut self, key: &[u8], expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        let prev = self
            .state()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::not_found(key))?;
        if let Some(expected) = expected.filter(|e| *e != prev.mod_revision) {
            return Err(StoreError::conflict(key, expected, prev.mod_revision));
        }
        let mut state = self.state().clone();
        state.remove(key);
        let revision = self.current() + 1;
        self.commit(
            state,
            WatchEvent::Delete {
                prev: prev.clone(),
                revision,
            },
        );
        Ok(prev)
    }

    fn check_revision(&self, requested: Revision) -> Result<(), StoreError> {
        if requested > self.current() {
            return Err(StoreError::FutureRevision {
                requested,
                current: self.current(),
            });
        }
        if requested < self.compact_revision {
            return Err(StoreError::Compacted {
                requested,
                compact_revision: self.compact_revision,
            });
        }
        Ok(())
    }

    fn list(&self, prefix: &[u8], options: &ListOptions) -> Result<ListResult, StoreError> {
        let revision = options.revision.unwrap_or(self.current());
        self.check_revision(revision)?;
        let mut matching = self.snapshots[revision as usize]
            .values()
            .filter(|kv| kv.key.starts_with(prefix))
            .filter(|kv| {
                options
                    .start_after
                    .as_ref()
                    .is_none_or(|after| kv.key > after)
            })
            .cloned()
            .collect::<Vec<_>>();
        let limit = options.limit.unwrap_or(usize::MAX);
        let more = matching.len() > limit;
        matching.truncate(limit);
        Ok(ListResult {
            kvs: matching,
            revision,
            more,
        })
    }

    fn watch(&self, prefix: &[u8], after: Revision) -> Result<Vec<WatchEvent>, StoreError> {
        if after < self.compact_revision {
            return Err(StoreError::Compacted {
                requested: after,
                compact_revision: self.compact_revision,
            });
        }
        Ok(self
            .events
            .iter()
            .filter(|e| e.revision() > after && e.key().starts_with(prefix))
            .cloned()
            .collect())
    }

    fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        if revision > self.current() {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.current(),
            });
        }
        self.compact_revision = self.compact_revision.max(revision);
        Ok(())
    }
}

/// Errors compared by kind and fields (the type is not `PartialEq`).
fn same<T: PartialEq + std::fmt::Debug>(
    actual: Result<T, StoreError>,
    expected: Result<T, StoreError>,
) -> Result<(), TestCaseError> {
    match (actual, expected) {
        (Ok(a), Ok(e)) => prop_assert_eq!(a, e),
        (a, e) => prop_assert_eq!(format!("{a:?}"), format!("{e:?}")),
    }
    Ok(())
}

/// Everything the stream yields without waiting.
fn drain(
    store: &MemoryStore,
    prefix: &[u8],
    after: Revision,
) -> Result<Vec<WatchEvent>, StoreError> {
    let mut stream = block_on(store.watch(prefix, after))?;
    let mut events = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        events.push(item?);
    }
    Ok(events)
}

fn run(history: Option<usize>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let config = match history {
        Some(keep) => MemoryStoreConfig::default().history(keep),
        None => MemoryStoreConfig::default().unbounded_history(),
    };
    let store = MemoryStore::with_config(config);
    let mut model = Model {
        snapshots: vec![BTreeMap::new()],
        events: Vec::new(),
        compact_revision: 0,
        history,
    };
    for op in ops {
        let value = |v: u8| Bytes::from(vec![v]);
        match op {
            Op::Create(k, v) => {
                let key = KEYS[k].as_bytes();
                same(
                    block_on(store.create(key, value(v))),
                    model.create(key, value(v)),
                )?;
            }
            Op::Update(k, v, g) => {
                let key = KEYS[k].as_bytes();
                let expected = model.guard(key, &g);
                same(
                    block_on(store.update(key, value(v), expected)),
                    model.update(key, value(v), expected),
                )?;
            }
            Op::Delete(k, g) => {
                let key = KEYS[k].as_bytes();
                let expected = g.map(|g| model.guard(key, &g));
                same(
                    block_on(store.delete(key, expected)),
                    model.delete(key, expected),
                )?;
            }
            Op::Get(k) => {
                let key = KEYS[k].as_bytes();
                same(
                    block_on(store.get(key)),
                    Ok(model.state().get(key).cloned()),
                )?;
            }
            Op::List {
                prefix,
                at,
                limit,
                start_after,
            } => {
                let mut options = ListOptions::default();
                options.revision = at.map(|pick| pick % (model.current() + 2));
                options.limit = limit;
                options.start_after = start_after.map(|k| Bytes::from_static(KEYS[k].as_bytes()));
                let prefix = PREFIXES[prefix].as_bytes();
                same(
                    block_on(store.list(prefix, options.clone())),
                    model.list(prefix, &options),
                )?;
            }
            Op::Watch { prefix, after } => {
                let after = after % (model.current() + 2);
                let prefix = PREFIXES[prefix].as_bytes();
                same(drain(&store, prefix, after), model.watch(prefix, after))?;
            }
            Op::Compact(pick) => {
                let revision = pick % (model.current() + 2);
                same(block_on(store.compact(revision)), model.compact(revision))?;
            }
        }
        prop_assert_eq!(block_on(store.current_revision()).unwrap(), model.current());
        prop_assert_eq!(
            block_on(store.compact_revision()).unwrap(),
            model.compact_revision
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn behaves_like_the_model(
        history in proptest::option::of(1..8usize),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        run(history, ops)?;
    }
}
