use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{ListOptions, Store, StoreError, WatchEvent};
use parking_lot::Mutex;

use super::{EventVerdict, InterceptedStore, StoreCall, StoreOp, Verdict};
use crate::MemoryStore;

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Whether a call failed as a cut wrapper fails it.
fn refused<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable { .. }))
}

#[test]
fn the_wrapper_is_a_shareable_store() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<InterceptedStore>();
    let _: Arc<dyn Store> = Arc::new(InterceptedStore::new(memory()));
}

#[tokio::test]
async fn without_hooks_every_call_goes_through_and_is_counted() {
    let store = InterceptedStore::new(memory());
    let kv = store.create(b"/a", bytes("1")).await.unwrap();
    assert_eq!(store.get(b"/a").await.unwrap().unwrap().value, bytes("1"));
    store
        .update(b"/a", bytes("2"), kv.mod_revision)
        .await
        .unwrap();
    let stale = store.update(b"/a", bytes("3"), kv.mod_revision).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(
        store
            .list(b"/", ListOptions::default())
            .await
            .unwrap()
            .kvs
            .len(),
        1
    );
    assert_eq!(store.current_revision().await.unwrap(), 2);
    store.delete(b"/a", None).await.unwrap();
    store.compact(3).await.unwrap();
    assert_eq!(store.compact_revision().await.unwrap(), 3);
    drop(store.watch(b"/", 3).await.unwrap());

    assert_eq!(store.calls(StoreOp::Update), 2);
    assert_eq!(
        store.successes(StoreOp::Update),
        1,
        "the conflict is no success"
    );
    for op in StoreOp::ALL {
        let want = u64::from(op == StoreOp::Update) + 1;
        assert_eq!(store.calls(op), want, "calls of {op}");
    }
    let writes: u64 = StoreOp::WRITES.iter().map(|op| store.successes(*op)).sum();
    assert_eq!(writes, store.inner().current_revision().await.unwrap());
}

#[tokio::test]
async fn the_hook_sees_each_call_with_its_arguments() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let store = InterceptedStore::new(memory()).on_call(move |call| {
        log.lock().push(call.clone());
        Verdict::Pass
    });
    store.create(b"/k", bytes("x")).await.unwrap();
    store.update(b"/k", bytes("y"), 1).await.unwrap();
    store.delete(b"/k", Some(2)).await.unwrap();
    store
        .list(b"/", ListOptions::default().at_revision(2).limit(5))
        .await
        .unwrap();
    drop(store.watch(b"/w/", 1).await.unwrap());
    let seen = seen.lock().clone();
    assert_eq!(
        seen,
        [
            StoreCall::Create {
                key: bytes("/k"),
                value: bytes("x")
            },
            StoreCall::Update {
                key: bytes("/k"),
                value: bytes("y"),
                expected: 1
            },
            StoreCall::Delete {
                key: bytes("/k"),
                expected: Some(2)
            },
            StoreCall::List {
                prefix: bytes("/"),
                options: ListOptions::default().at_revision(2).limit(5)
            },
            StoreCall::Watch {
                prefix: bytes("/w/"),
                after: 1
            },
        ]
    );
    let shown: Vec<String> = seen.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "create /k",
            "update /k expecting 1",
            "delete /k expecting 2",
            "list / at 2 limit 5",
            "watch /w/ after 1"
        ]
    );
    assert_eq!(seen[0].target(), Some(&bytes("/k")));
    assert_eq!(StoreCall::CurrentRevision.target(), None);
}

#[tokio::test]
async fn a_failed_call_never_reaches_the_store() {
    let store = InterceptedStore::new(memory()).on_call(|call| match call {
        StoreCall::Create { key, .. } if key.starts_with(b"/read-only/") => {
            Verdict::Fail(StoreError::Invalid("read-only".into()))
        }
        _ => Verdict::Pass,
    });
    let refused = store.create(b"/read-only/a", bytes("1")).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(store.inner().current_revision().await.unwrap(), 0);
    store.create(b"/writable/a", bytes("1")).await.unwrap();
    assert_eq!(store.calls(StoreOp::Create), 2);
    assert_eq!(store.successes(StoreOp::Create), 1);
}

/// The race of a read-modify-write with another writer: once armed, another writer
/// updates the key just before the caller's update, whose guard is then stale.
#[tokio::test]
async fn an_action_runs_before_the_call_it_precedes() {
    let inner = memory();
    let armed = Arc::new(AtomicBool::new(false));
    let (racer, trigger) = (inner.clone(), armed.clone());
    let store = InterceptedStore::new(inner).on_call(move |call| match call {
        StoreCall::Update { key, .. } if trigger.swap(false, Ordering::SeqCst) => {
            let (racer, key) = (racer.clone(), key.clone());
            Verdict::after(async move {
                let kv = racer.get(&key).await.unwrap().unwrap();
                racer
                    .update(&key, bytes("theirs"), kv.mod_revision)
                    .await
                    .unwrap();
                Verdict::Pass
            })
        }
        _ => Verdict::Pass,
    });
    let read = store.create(b"/k", bytes("0")).await.unwrap();
    armed.store(true, Ordering::SeqCst);
    let lost = store.update(b"/k", bytes("mine"), read.mod_revision).await;
    assert!(
        matches!(
            lost,
            Err(StoreError::Conflict {
                expected: 1,
                current: 2,
                ..
            })
        ),
        "{lost:?}"
    );
    let again = store.get(b"/k").await.unwrap().unwrap();
    assert_eq!(again.value, bytes("theirs"));
    store
        .update(b"/k", bytes("mine"), again.mod_revision)
        .await
        .unwrap();
    assert_eq!(
        store.calls(StoreOp::Update),
        2,
        "the racer's write is not counted"
    );
}

/// A store that ignores update guards, built the way the suite's broken stores are:
/// the action reads the current revision, and the replacement uses it.
#[tokio::test]
async fn a_replacement_runs_instead_of_the_call() {
    let inner = memory();
    let reader = inner.clone();
    let store = InterceptedStore::new(inner).on_call(move |call| match call {
        StoreCall::Update { key, value, .. } => {
            let (reader, key, value) = (reader.clone(), key.clone(), value.clone());
            Verdict::after(async move {
                match reader.get(&key).await {
                    Ok(Some(kv)) => Verdict::Replace(StoreCall::Update {
                        key,
                        value,
                        expected: kv.mod_revision,
                    }),
                    Ok(None) => Verdict::Fail(StoreError::not_found(&key)),
                    Err(e) => Verdict::Fail(e),
                }
            })
        }
        StoreCall::List { prefix, options } if options.revision.is_some() => {
            Verdict::Replace(StoreCall::List {
                prefix: prefix.clone(),
                options: ListOptions::default(),
            })
        }
        _ => Verdict::Pass,
    });
    store.create(b"/k", bytes("1")).await.unwrap();
    let kv = store.update(b"/k", bytes("2"), 999).await.unwrap();
    assert_eq!(kv.value, bytes("2"), "the stale guard was replaced");
    let listed = store
        .list(b"/", ListOptions::default().at_revision(1))
        .await
        .unwrap();
    assert_eq!(listed.revision, 2, "the list read the current state");
    assert_eq!(listed.kvs[0].value, bytes("2"));
}

#[tokio::test]
#[should_panic(expected = "replaced a get with a list /")]
async fn a_replacement_of_another_operation_is_a_bug_in_the_test() {
    let store = InterceptedStore::new(memory()).on_call(|_| {
        Verdict::Replace(StoreCall::List {
            prefix: bytes("/"),
            options: ListOptions::default(),
        })
    });
    let _ = store.get(b"/k").await;
}

#[tokio::test(start_paused = true)]
async fn a_delay_holds_the_call_up() {
    let store = InterceptedStore::new(memory()).on_call(|_| Verdict::delay(Duration::from_secs(5)));
    let began = tokio::time::Instant::now();
    store.create(b"/k", bytes("1")).await.unwrap();
    assert_eq!(began.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn a_cut_fails_every_call_and_ends_open_watches_until_restored() {
    let store = InterceptedStore::new(memory());
    store.create(b"/k", bytes("1")).await.unwrap();
    let mut open = store.watch(b"/", 1).await.unwrap();
    store.update(b"/k", bytes("2"), 1).await.unwrap();
    assert!(matches!(
        open.next().await,
        Some(Ok(WatchEvent::Put { .. }))
    ));

    store.cut();
    assert!(store.is_cut());
    let ended = open.next().await;
    assert!(
        matches!(ended, Some(Err(StoreError::Unavailable { .. }))),
        "{ended:?}"
    );
    assert!(open.next().await.is_none(), "the watch ends");
    assert!(refused(store.get(b"/k").await), "get");
    assert!(
        refused(store.list(b"/", ListOptions::default()).await),
        "list"
    );
    assert!(refused(store.create(b"/n", bytes("1")).await), "create");
    assert!(refused(store.update(b"/k", bytes("3"), 2).await), "update");
    assert!(refused(store.delete(b"/k", None).await), "delete");
    assert!(refused(store.watch(b"/", 0).await.map(drop)), "watch");
    assert!(refused(store.compact(1).await), "compact");
    assert!(refused(store.current_revision().await), "current_revision");
    assert!(refused(store.compact_revision().await), "compact_revision");
    assert_eq!(
        store.inner().current_revision().await.unwrap(),
        2,
        "nothing reached the store"
    );
    for op in StoreOp::ALL {
        assert!(store.calls(op) >= 1, "calls while cut count: {op}");
    }

    store.restore();
    assert!(!store.is_cut());
    let mut reopened = store.watch(b"/", 2).await.unwrap();
    store.update(b"/k", bytes("3"), 2).await.unwrap();
    let event = reopened.next().await.unwrap().unwrap();
    assert_eq!(event.revision(), 3);
}

#[tokio::test]
async fn a_watch_ends_on_a_cut_even_if_the_store_is_restored_at_once() {
    let store = InterceptedStore::new(memory());
    let mut open = store.watch(b"/", 0).await.unwrap();
    store.cut();
    store.restore();
    store.create(b"/k", bytes("1")).await.unwrap();
    assert!(matches!(
        open.next().await,
        Some(Err(StoreError::Unavailable { .. }))
    ));
    assert!(open.next().await.is_none());
}

#[tokio::test]
async fn the_event_hook_drops_events_and_ends_watches() {
    let store = InterceptedStore::new(memory()).on_watch_event(|prefix, event| {
        assert_eq!(prefix, b"/");
        match event.key().as_ref() {
            b"/lost" => EventVerdict::Drop,
            b"/fatal" => EventVerdict::Fail(StoreError::Corrupt("injected".into())),
            _ => EventVerdict::Deliver,
        }
    });
    let mut open = store.watch(b"/", 0).await.unwrap();
    for key in ["/a", "/lost", "/b", "/fatal", "/c"] {
        store.create(key.as_bytes(), bytes("1")).await.unwrap();
    }
    let mut keys = Vec::new();
    let mut ended_with = None;
    while let Some(item) = open.next().await {
        match item {
            Ok(event) => keys.push(event.key().clone()),
            Err(e) => ended_with = Some(e),
        }
    }
    assert_eq!(keys, [bytes("/a"), bytes("/b")]);
    assert!(
        matches!(ended_with, Some(StoreError::Corrupt(_))),
        "{ended_with:?}"
    );
}
