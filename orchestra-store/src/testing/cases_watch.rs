//! Cases for watch: order, gap-freedom, replay, isolation.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use orchestra_core::{ListOptions, Revision, Store, WatchEvent, WatchStream};

use super::{CaseResult, WATCH_WAIT, ensure, key, step, val};

/// The next event, or a failure after [`WATCH_WAIT`].
async fn next(watch: &mut WatchStream, what: &str) -> Result<WatchEvent, String> {
    match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
        Err(_) => Err(format!("{what}: no event within {WATCH_WAIT:?}")),
        Ok(None) => Err(format!("{what}: the watch ended")),
        Ok(Some(Err(e))) => Err(format!("{what}: the watch failed: {e}")),
        Ok(Some(Ok(event))) => Ok(event),
    }
}

pub(super) async fn watch_sees_changes_in_order(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let start = step("current_revision", store.current_revision().await)?;
    let mut watch = step("watch", store.watch(prefix.as_bytes(), start).await)?;
    let k = key(&prefix, "a");
    let created = step("create", store.create(&k, val("1")).await)?;
    let updated = step(
        "update",
        store.update(&k, val("2"), created.mod_revision).await,
    )?;
    step("delete", store.delete(&k, None).await)?;
    let deleted_at = step("current_revision", store.current_revision().await)?;

    match next(&mut watch, "first event").await? {
        WatchEvent::Put { kv } => ensure(kv == created, || {
            format!("first event {kv:?}, expected {created:?}")
        })?,
        other => return Err(format!("first event {other:?}, expected Put")),
    }
    match next(&mut watch, "second event").await? {
        WatchEvent::Put { kv } => ensure(kv == updated, || {
            format!("second event {kv:?}, expected {updated:?}")
        })?,
        other => return Err(format!("second event {other:?}, expected Put")),
    }
    match next(&mut watch, "third event").await? {
        WatchEvent::Delete { prev, revision } => {
            ensure(prev == updated, || {
                format!("Delete carries {prev:?}, expected the last state {updated:?}")
            })?;
            ensure(
                revision > updated.mod_revision && revision <= deleted_at,
                || format!("Delete at revision {revision}"),
            )
        }
        other => Err(format!("third event {other:?}, expected Delete")),
    }
}

pub(super) async fn watch_from_list_revision(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    for i in 0..5 {
        step(
            "create",
            store
                .create(&key(&prefix, &format!("before-{i}")), val("x"))
                .await,
        )?;
    }
    let list = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?;
    let mut watch = step("watch", store.watch(prefix.as_bytes(), list.revision).await)?;
    let after = step(
        "create",
        store.create(&key(&prefix, "after"), val("y")).await,
    )?;
    let event = next(&mut watch, "event after the list").await?;
    ensure(event.revision() == after.mod_revision, || {
        format!(
            "after a list at {}, the first event is at {} instead of the next write {}",
            list.revision,
            event.revision(),
            after.mod_revision
        )
    })
}

pub(super) async fn watch_replays_history(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let mut rev = step("create", store.create(&k, val("0")).await)?.mod_revision;
    let mark = rev;
    let mut expected = Vec::new();
    for i in 1..=10 {
        rev = step("update", store.update(&k, val(&i.to_string()), rev).await)?.mod_revision;
        expected.push((rev, i.to_string()));
    }
    let mut watch = step(
        "watch from the past",
        store.watch(prefix.as_bytes(), mark).await,
    )?;
    for (rev, value) in expected {
        match next(&mut watch, "replayed event").await? {
            WatchEvent::Put { kv } => {
                ensure(kv.mod_revision == rev && kv.value == val(&value), || {
                    format!("replayed {kv:?}, expected revision {rev} value {value}")
                })?
            }
            other => return Err(format!("replayed {other:?}, expected Put at {rev}")),
        }
    }
    Ok(())
}

pub(super) async fn watch_concurrent_writers(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = step("current_revision", store.current_revision().await)?;
    let mut watches = Vec::new();
    for _ in 0..4 {
        watches.push(step("watch", store.watch(prefix.as_bytes(), start).await)?);
    }
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            let k = key(&prefix, &format!("writer-{w}"));
            tokio::spawn(async move {
                let mut revisions = Vec::new();
                let mut rev = store.create(&k, val("0")).await?.mod_revision;
                revisions.push(rev);
                for i in 1..200 {
                    rev = store
                        .update(&k, val(&i.to_string()), rev)
                        .await?
                        .mod_revision;
                    revisions.push(rev);
                }
                Ok::<_, orchestra_core::StoreError>(revisions)
            })
        })
        .collect();
    let mut written: Vec<Revision> = Vec::new();
    for w in writers {
        let revisions = w
            .await
            .map_err(|e| format!("a writer panicked: {e}"))?
            .map_err(|e| format!("a writer failed: {e}"))?;
        written.extend(revisions);
    }
    written.sort_unstable();
    for (i, watch) in watches.iter_mut().enumerate() {
        let mut seen = Vec::with_capacity(written.len());
        while seen.len() < written.len() {
            seen.push(next(watch, &format!("watcher {i}")).await?.revision());
        }
        ensure(seen == written, || {
            let first_diff = seen.iter().zip(&written).position(|(a, b)| a != b);
            format!(
                "watcher {i} saw another sequence than was written (first difference at index {first_diff:?})"
            )
        })?;
    }
    Ok(())
}

pub(super) async fn watch_prefix_isolation(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = step("current_revision", store.current_revision().await)?;
    let mut watch = step("watch", store.watch(&key(&prefix, "mine/"), start).await)?;
    step(
        "create",
        store.create(&key(&prefix, "other/x"), val("x")).await,
    )?;
    step(
        "create",
        store.create(&key(&prefix, "mine-not/x"), val("x")).await,
    )?;
    let mine = step(
        "create",
        store.create(&key(&prefix, "mine/x"), val("x")).await,
    )?;
    let event = next(&mut watch, "event").await?;
    ensure(event.revision() == mine.mod_revision, || {
        format!("the watch on mine/ saw {event:?}")
    })
}

pub(super) async fn watch_dropped_is_harmless(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = step("current_revision", store.current_revision().await)?;
    let dropped = step("watch", store.watch(prefix.as_bytes(), start).await)?;
    let mut kept = step("watch", store.watch(prefix.as_bytes(), start).await)?;
    drop(dropped);
    let mut revisions = BTreeMap::new();
    for i in 0..20 {
        let kv = step(
            "create",
            store.create(&key(&prefix, &i.to_string()), val("x")).await,
        )?;
        revisions.insert(kv.mod_revision, i);
    }
    for rev in revisions.keys() {
        let event = next(&mut kept, "event").await?;
        ensure(event.revision() == *rev, || {
            format!("expected revision {rev}, got {}", event.revision())
        })?;
    }
    Ok(())
}
