//! Behaviour of `MemoryStore` a user relies on: bookkeeping, guards, snapshots, paging,
//! prefixes, watches and compaction. The model-based property test is in
//! `model_tests.rs`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use orchestra_core::{ListOptions, Revision, Store, StoreError, WatchEvent, WatchStream};

use super::{MemoryStore, MemoryStoreConfig};

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn keys(result: &orchestra_core::ListResult) -> Vec<String> {
    result
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// Takes the next `n` events, failing if any takes longer than a second.
async fn take(stream: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("watch stalled")
            .expect("watch ended early");
        out.push(item.expect("watch failed"));
    }
    out
}

fn revisions(events: &[WatchEvent]) -> Vec<Revision> {
    events.iter().map(WatchEvent::revision).collect()
}

#[test]
fn handles_and_streams_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send<T: Send + 'static>() {}
    assert_send_sync::<MemoryStore>();
    assert_send_sync::<MemoryStoreConfig>();
    assert_send::<WatchStream>();
}

#[tokio::test]
async fn create_update_delete_keep_etcd_bookkeeping() {
    let store = MemoryStore::new();
    assert_eq!(store.current_revision().await.unwrap(), 0);
    assert_eq!(store.get(b"/k").await.unwrap(), None);

    let created = store.create(b"/k", v("1")).await.unwrap();
    assert_eq!(
        (
            created.create_revision,
            created.mod_revision,
            created.version
        ),
        (1, 1, 1)
    );
    store.create(b"/other", v("x")).await.unwrap();
    let updated = store.update(b"/k", v("2"), 1).await.unwrap();
    assert_eq!(
        (
            updated.create_revision,
            updated.mod_revision,
            updated.version
        ),
        (1, 3, 2)
    );
    assert_eq!(store.get(b"/k").await.unwrap(), Some(updated.clone()));

    let prev = store.delete(b"/k", Some(3)).await.unwrap();
    assert_eq!(prev, updated, "delete returns the state just before");
    assert_eq!(store.get(b"/k").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), 4);

    let again = store.create(b"/k", v("3")).await.unwrap();
    assert_eq!(
        (again.create_revision, again.mod_revision, again.version),
        (5, 5, 1),
        "a re-created key starts a new life"
    );
    let unguarded = store.delete(b"/k", None).await.unwrap();
    assert_eq!(unguarded.value, "3");
}

#[tokio::test]
async fn failed_writes_report_the_contracted_error_and_take_no_revision() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().max_value_size(4));
    store.create(b"/k", v("1")).await.unwrap();
    store.update(b"/k", v("2"), 1).await.unwrap();

    let err = store.create(b"/k", v("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { ref key } if key == "/k"));
    let err = store.update(b"/k", v("x"), 1).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: 1,
            current: 2,
            ..
        }
    ));
    let err = store.delete(b"/k", Some(7)).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: 7,
            current: 2,
            ..
        }
    ));
    let err = store.update(b"/missing", v("x"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { ref key } if key == "/missing"));
    assert!(matches!(
        store.delete(b"/missing", Some(1)).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        store.delete(b"/missing", None).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    store.delete(b"/k", None).await.unwrap();
    assert!(
        matches!(
            store.update(b"/k", v("x"), 3).await.unwrap_err(),
            StoreError::NotFound { .. }
        ),
        "a deleted key is missing, not conflicting"
    );

    for err in [
        store.get(b"").await.unwrap_err(),
        store.create(b"", v("x")).await.unwrap_err(),
        store.update(b"", v("x"), 1).await.unwrap_err(),
        store.delete(b"", None).await.unwrap_err(),
        store.create(b"/big", v("12345")).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
    assert_eq!(store.current_revision().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_guarded_updates_exactly_one_wins() {
    let store = MemoryStore::new();
    for round in 0..20 {
        let key = format!("/race/{round}");
        let kv = store.create(key.as_bytes(), v("0")).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .update(key.as_bytes(), v(&i.to_string()), kv.mod_revision)
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(kv) => {
                    wins += 1;
                    assert_eq!(kv.version, 2);
                }
                Err(StoreError::Conflict { expected, .. }) => {
                    assert_eq!(expected, kv.mod_revision);
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

#[tokio::test]
async fn list_at_a_past_revision_returns_that_exact_snapshot() {
    let store = MemoryStore::new();
    store.create(b"/p/a", v("a1")).await.unwrap(); // 1
    store.create(b"/p/b", v("b1")).await.unwrap(); // 2
    store.update(b"/p/a", v("a2"), 1).await.unwrap(); // 3
    store.delete(b"/p/b", None).await.unwrap(); // 4
    store.create(b"/p/b", v("b2")).await.unwrap(); // 5

    let at = |revision| store.list(b"/p/", ListOptions::default().at_revision(revision));
    let empty = at(0).await.unwrap();
    assert_eq!((empty.kvs.len(), empty.revision), (0, 0));
    let r2 = at(2).await.unwrap();
    assert_eq!(keys(&r2), ["/p/a", "/p/b"]);
    assert_eq!(
        (r2.kvs[0].value.as_ref(), r2.kvs[0].version),
        (&b"a1"[..], 1)
    );
    let r4 = at(4).await.unwrap();
    assert_eq!(keys(&r4), ["/p/a"]);
    assert_eq!(r4.kvs[0].value, "a2");
    let r5 = at(5).await.unwrap();
    assert_eq!(r5.kvs[1].create_revision, 5);
    assert_eq!(
        r5,
        store.list(b"/p/", ListOptions::default()).await.unwrap()
    );
    assert!(matches!(
        at(6).await.unwrap_err(),
        StoreError::FutureRevision {
            requested: 6,
            current: 5
        }
    ));
}

#[tokio::test]
async fn paging_with_limit_and_start_after_visits_every_key_once() {
    let store = MemoryStore::new();
    for i in 0..10 {
        store
            .create(format!("/page/{i:02}").as_bytes(), v("x"))
            .await
            .unwrap();
    }
    store.create(b"/pagf", v("outside")).await.unwrap();
    let snapshot = store.current_revision().await.unwrap();
    // Writes after the first page must not leak into later pages read at `snapshot`.
    let mut seen = Vec::new();
    let mut options = ListOptions::default().limit(3);
    loop {
        let page = store.list(b"/page/", options.clone()).await.unwrap();
        assert!(page.kvs.len() <= 3);
        seen.extend(keys(&page));
        if !page.more {
            break;
        }
        store
            .create(format!("/page/{:02}x", seen.len()).as_bytes(), v("late"))
            .await
            .unwrap();
        options = ListOptions::default()
            .limit(3)
            .at_revision(page.revision)
            .start_after(page.kvs.last().unwrap().key.clone());
        assert_eq!(page.revision, snapshot);
    }
    let expected: Vec<_> = (0..10).map(|i| format!("/page/{i:02}")).collect();
    assert_eq!(seen, expected);

    let exact = store
        .list(b"/page/", ListOptions::default().limit(13))
        .await
        .unwrap();
    assert!(!exact.more, "no more when the limit is met exactly");
    let none = store
        .list(b"/page/", ListOptions::default().limit(0))
        .await
        .unwrap();
    assert!(
        none.kvs.is_empty() && none.more,
        "limit 0 is taken literally"
    );
    let past_the_end = store
        .list(b"/page/", ListOptions::default().start_after("/pagf"))
        .await
        .unwrap();
    assert!(past_the_end.kvs.is_empty() && !past_the_end.more);
}

#[tokio::test]
async fn prefixes_match_bytewise() {
    let store = MemoryStore::new();
    for key in ["/a/b", "/a/b/x", "/a/bc", "/a/c", "/a/b\u{ff}"] {
        store.create(key.as_bytes(), v("x")).await.unwrap();
    }
    let list = |prefix: &'static str| store.list(prefix.as_bytes(), ListOptions::default());
    assert_eq!(
        keys(&list("/a/b").await.unwrap()),
        ["/a/b", "/a/b/x", "/a/bc", "/a/b\u{ff}"]
    );
    assert_eq!(keys(&list("/a/b/").await.unwrap()), ["/a/b/x"]);
    assert_eq!(list("").await.unwrap().kvs.len(), 5);
    assert!(list("/z").await.unwrap().kvs.is_empty());

    let mut watch = store.watch(b"/a/b/", 0).await.unwrap();
    assert_eq!(take(&mut watch, 1).await[0].key(), "/a/b/x");
    store.update(b"/a/bc", v("y"), 3).await.unwrap();
    store.update(b"/a/b/x", v("y"), 2).await.unwrap();
    assert_eq!(take(&mut watch, 1).await[0].revision(), 7);
}

#[tokio::test]
async fn watch_from_a_past_revision_replays_exact_history_then_follows() {
    let store = MemoryStore::new();
    let a = store.create(b"/w/a", v("1")).await.unwrap();
    store.create(b"/x", v("elsewhere")).await.unwrap();
    let a2 = store.update(b"/w/a", v("2"), a.mod_revision).await.unwrap();
    let listed = store.list(b"/w/", ListOptions::default()).await.unwrap();
    let prev = store.delete(b"/w/a", None).await.unwrap();

    let mut from_start = store.watch(b"/w/", 0).await.unwrap();
    let mut from_list = store.watch(b"/w/", listed.revision).await.unwrap();
    let b = store.create(b"/w/b", v("b")).await.unwrap();

    assert_eq!(
        take(&mut from_start, 4).await,
        vec![
            WatchEvent::Put { kv: a },
            WatchEvent::Put { kv: a2 },
            WatchEvent::Delete { prev, revision: 4 },
            WatchEvent::Put { kv: b.clone() },
        ]
    );
    let after_list = take(&mut from_list, 2).await;
    assert_eq!(revisions(&after_list), [4, 5]);
    assert!(
        from_start.next().now_or_never().is_none(),
        "nothing beyond the changes made"
    );
}

#[tokio::test]
async fn watch_from_a_future_revision_starts_there() {
    let store = MemoryStore::new();
    store.create(b"/k", v("1")).await.unwrap();
    let mut watch = store.watch(b"/", 3).await.unwrap();
    for i in 2..=5 {
        store.update(b"/k", v("x"), i - 1).await.unwrap();
    }
    assert_eq!(revisions(&take(&mut watch, 2).await), [4, 5]);
}

#[tokio::test]
async fn a_quiet_watcher_finds_its_key_behind_a_long_run_of_others() {
    let store = MemoryStore::new();
    let mut watch = store.watch(b"/quiet/", 0).await.unwrap();
    for i in 0..10_000 {
        store
            .create(format!("/busy/{i}").as_bytes(), v("x"))
            .await
            .unwrap();
    }
    store.create(b"/quiet/one", v("x")).await.unwrap();
    // No write follows: the watcher must get there by reading, not by being woken.
    assert_eq!(revisions(&take(&mut watch, 1).await), [10_001]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_concurrent_writes_in_order_without_gaps() {
    const WRITERS: usize = 4;
    const WRITES: usize = 500;
    let store = MemoryStore::new();
    let mut all = store.watch(b"/c/", 0).await.unwrap();
    let mut one = store.watch(b"/c/1/", 0).await.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("/c/{w}/k");
                let mut kv = store.create(key.as_bytes(), v("0")).await.unwrap();
                for i in 1..WRITES {
                    kv = store
                        .update(key.as_bytes(), v(&i.to_string()), kv.mod_revision)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let events = take(&mut all, WRITERS * WRITES).await;
    for writer in writers {
        writer.await.unwrap();
    }
    let expected: Vec<Revision> = (1..=(WRITERS * WRITES) as Revision).collect();
    assert_eq!(revisions(&events), expected);
    let mine = take(&mut one, WRITES).await;
    for (i, event) in mine.iter().enumerate() {
        let WatchEvent::Put { kv } = event else {
            panic!("unexpected {event:?}")
        };
        assert_eq!(
            (kv.version, kv.value.clone()),
            (i as u64 + 1, v(&i.to_string()))
        );
    }
}

#[tokio::test]
async fn a_slow_watcher_is_cut_off_with_compacted_while_writers_carry_on() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().history(100));
    store.create(b"/s/k", v("0")).await.unwrap();
    let mut slow = store.watch(b"/s/", 0).await.unwrap();
    assert_eq!(take(&mut slow, 1).await.len(), 1);
    // The watcher is not polled while 1,000 writes go through: none of them waits.
    let writes = async {
        for i in 1..=1000 {
            store.update(b"/s/k", v("x"), i).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(5), writes)
        .await
        .expect("writers were blocked");
    let compact_revision = store.compact_revision().await.unwrap();
    assert!(compact_revision >= 1001 - 100 - 25);

    let mut delivered = 0;
    let end = loop {
        match slow.next().await.expect("stream ends with an error") {
            Ok(_) => delivered += 1,
            Err(e) => break e,
        }
    };
    assert!(
        delivered < 256,
        "only what it had already read: {delivered}"
    );
    assert!(matches!(
        end,
        StoreError::Compacted { requested, compact_revision: c }
            if c == compact_revision && requested < c
    ));
    assert!(
        slow.next().await.is_none(),
        "the stream ends after Compacted"
    );
}

#[tokio::test]
async fn compaction_forgets_the_past_and_keeps_the_present() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().unbounded_history());
    store.create(b"/k/a", v("1")).await.unwrap(); // 1
    store.update(b"/k/a", v("2"), 1).await.unwrap(); // 2
    store.create(b"/k/b", v("1")).await.unwrap(); // 3
    store.delete(b"/k/b", None).await.unwrap(); // 4
    store.update(b"/k/a", v("3"), 2).await.unwrap(); // 5
    let at3 = store
        .list(b"/k/", ListOptions::default().at_revision(3))
        .await
        .unwrap();
    let current = store.list(b"/k/", ListOptions::default()).await.unwrap();

    store.compact(3).await.unwrap();
    assert_eq!(store.compact_revision().await.unwrap(), 3);
    assert_eq!(
        store.list(b"/k/", ListOptions::default()).await.unwrap(),
        current
    );
    assert_eq!(
        store
            .list(b"/k/", ListOptions::default().at_revision(3))
            .await
            .unwrap(),
        at3
    );
    assert!(matches!(
        store
            .list(b"/k/", ListOptions::default().at_revision(2))
            .await
            .unwrap_err(),
        StoreError::Compacted {
            requested: 2,
            compact_revision: 3
        }
    ));
    assert!(matches!(
        store.watch(b"/k/", 2).await.err().unwrap(),
        StoreError::Compacted {
            requested: 2,
            compact_revision: 3
        }
    ));
    let mut watch = store.watch(b"/k/", 3).await.unwrap();
    assert_eq!(revisions(&take(&mut watch, 2).await), [4, 5]);

    store.compact(2).await.unwrap();
    assert_eq!(
        store.compact_revision().await.unwrap(),
        3,
        "lower is a no-op"
    );
    assert!(matches!(
        store.compact(6).await.unwrap_err(),
        StoreError::FutureRevision {
            requested: 6,
            current: 5
        }
    ));

    // Compacting at the current revision leaves only the live versions.
    store.compact(5).await.unwrap();
    let state = store.shared().state.read();
    assert_eq!(state.mvcc.version_count(), 1);
    assert_eq!(state.history.len(), 0);
}

#[tokio::test]
async fn retention_bounds_history_without_a_runtime_task() {
    let store = MemoryStore::with_config(MemoryStoreConfig::default().history(10));
    store.create(b"/k", v("0")).await.unwrap();
    for i in 1..1000 {
        store.update(b"/k", v("x"), i).await.unwrap();
    }
    let compact_revision = store.compact_revision().await.unwrap();
    assert!((1000 - 10 - 2..=1000 - 10).contains(&compact_revision));
    {
        let state = store.shared().state.read();
        assert!(state.history.len() <= 12);
        assert!(state.mvcc.version_count() <= 12);
    }
    let past = store
        .list(b"/", ListOptions::default().at_revision(990))
        .await
        .unwrap();
    assert_eq!(past.kvs[0].mod_revision, 990);
}

#[tokio::test]
async fn watchers_end_after_the_last_store_handle_is_dropped() {
    let store = MemoryStore::new();
    let mut watch = store.watch(b"/", 0).await.unwrap();
    let clone = store.clone();
    store.create(b"/k", v("1")).await.unwrap();
    drop(store);
    assert_eq!(take(&mut watch, 1).await.len(), 1);
    assert!(
        watch.next().now_or_never().is_none(),
        "a clone is still alive"
    );
    let waiting = tokio::spawn(async move { watch.next().await.is_none() });
    tokio::task::yield_now().await;
    drop(clone);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("watch did not end")
            .unwrap()
    );
}

#[tokio::test]
async fn watchers_far_behind_and_caught_up_see_the_values_as_written() {
    // More writes than the log keeps unpacked, of values that compress, so an early
    // watcher reads packed events and a late one the unpacked tail.
    let store = MemoryStore::new();
    let value = |i: usize| {
        v(&format!(
            r#"{{"name":"pod-{i}","namespace":"default","image":"web-server:1","ip":"10.0.{i}"}}"#
        ))
    };
    let mut written = Vec::new();
    for i in 0..3000 {
        let key = format!("/registry/pods/default/pod-{}", i % 700);
        let kv = match store.get(key.as_bytes()).await.unwrap() {
            Some(kv) => store.update(&kv.key, value(i), kv.mod_revision).await,
            None => store.create(key.as_bytes(), value(i)).await,
        };
        written.push(WatchEvent::Put { kv: kv.unwrap() });
    }
    let deleted = store
        .delete(b"/registry/pods/default/pod-1", None)
        .await
        .unwrap();
    written.push(WatchEvent::Delete {
        prev: deleted.clone(),
        revision: 3001,
    });
    assert_eq!(
        deleted.value,
        value(2801),
        "delete returns the value as written"
    );
    let mut from_start = store.watch(b"/registry/", 0).await.unwrap();
    assert_eq!(take(&mut from_start, written.len()).await, written);
    let mut near_end = store.watch(b"/registry/", 2990).await.unwrap();
    assert_eq!(take(&mut near_end, 11).await, written[2990..]);
}
