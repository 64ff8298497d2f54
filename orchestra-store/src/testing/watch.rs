//! Cases for `watch`: ordered, gap-free, exactly-once delivery of every change after the
//! start revision — live, replayed from history, after a list, under concurrent
//! writers — and nothing from other prefixes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use orchestra_core::{KeyValue, ListOptions, Revision, Store, WatchEvent, WatchStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::expected::{Expected, Recorder, expect_events, expect_fence, next_event};
use super::{CaseResult, Step, ensure, ensure_eq, key, raw_key, show};

/// A live watch yields every change after its start revision exactly once, in order:
/// `Put` with the new key-value, `Delete` with the last state and the deletion's own
/// revision; and nothing more.
pub(super) async fn changes_in_order(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let mut stream = open(&store, &prefix, start).await?;
    let mut rec = Recorder::new(store.clone());
    write_history(&mut rec, &prefix).await?;
    expect_events(&mut stream, &rec.expected, start, "live watch").await?;
    expect_fence(&*store, &mut stream, &key(&prefix, "fence"), "live watch").await
}

/// A watch from a past revision replays exactly the changes after it, from the start,
/// the middle, and the end of the history, then continues live with no gap.
pub(super) async fn replays_history(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let mut rec = Recorder::new(store.clone());
    write_history(&mut rec, &prefix).await?;
    let history = rec.expected.clone();
    let middle = 3;
    let mid_revision = match &history[middle - 1] {
        Expected::Put(kv) => kv.mod_revision,
        Expected::Delete { .. } => return Err("the history's third write is a put".into()),
    };
    let end = store.current_revision().await.step("current_revision")?;
    let mut watches = Vec::new();
    for (after, skip, what) in [
        (start, 0, "watch from before the history"),
        (mid_revision, middle, "watch from the middle of the history"),
        (end, history.len(), "watch from the end of the history"),
    ] {
        let mut stream = open(&store, &prefix, after).await?;
        expect_events(&mut stream, &history[skip..], after, what).await?;
        watches.push((stream, what));
    }
    // Live writes after the replay.
    let mut live = Recorder::new(store.clone());
    let a = key(&prefix, "after-replay");
    let kv = live.create(&a, "1").await?;
    live.update(&a, "2", kv.mod_revision).await?;
    for (stream, what) in &mut watches {
        let what = format!("{what}, going live");
        expect_events(stream, &live.expected, end, &what).await?;
        expect_fence(&*store, stream, &key(&prefix, "fence"), &what).await?;
    }
    Ok(())
}

/// Listing at revision R and watching after R, while a writer keeps writing, misses
/// nothing and repeats nothing: the snapshot plus the events is the final state.
pub(super) async fn after_list_revision(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let keys: Vec<Bytes> = (0..10).map(|i| key(&prefix, &format!("k{i}"))).collect();
    let (started_tx, started_rx) = oneshot::channel();
    let listed = Arc::new(AtomicBool::new(false));
    let mut writer = JoinSet::new();
    {
        let store = store.clone();
        let keys = keys.clone();
        let listed = listed.clone();
        // Writes until the list and watch are in place, then 100 more: the list races
        // a writer, and there is history on both sides of its revision.
        writer.spawn(async move {
            let mut rec = Recorder::new(store);
            rec.churn(&keys, 50).await?;
            let _ = started_tx.send(());
            let mut extra = 0;
            while !listed.load(Ordering::Acquire) && extra < 100_000 {
                rec.churn(&keys[extra % keys.len()..][..1], 1).await?;
                extra += 1;
                tokio::task::yield_now().await;
            }
            rec.churn(&keys, 100).await?;
            Ok::<_, String>(rec.expected)
        });
    }
    let _ = started_rx.await;
    let snapshot = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list")?;
    let r = snapshot.revision;
    let mut stream = open(&store, &prefix, r).await?;
    listed.store(true, Ordering::Release);
    let written = writer
        .join_next()
        .await
        .ok_or("the writer task vanished")?
        .map_err(|e| format!("the writer task failed: {e}"))??;

    let at_r: BTreeMap<Bytes, KeyValue> = snapshot
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.clone()))
        .collect();
    let after_r: Vec<Expected> = written
        .into_iter()
        .filter(|w| match w {
            Expected::Put(kv) => kv.mod_revision > r,
            // A deletion is after R when the state it deleted was written after R, or
            // is still what the snapshot shows.
            Expected::Delete { prev, .. } => {
                prev.mod_revision > r
                    || at_r.get(&prev.key).map(|kv| kv.mod_revision) == Some(prev.mod_revision)
            }
        })
        .collect();
    let events = expect_events(&mut stream, &after_r, r, "watch after the list's revision").await?;
    expect_fence(
        &*store,
        &mut stream,
        &key(&prefix, "fence"),
        "watch after the list's revision",
    )
    .await?;

    let mut rebuilt = at_r;
    for event in events {
        match event {
            WatchEvent::Put { kv } => {
                rebuilt.insert(kv.key.clone(), kv);
            }
            WatchEvent::Delete { prev, .. } => {
                rebuilt.remove(&prev.key);
            }
        }
    }
    let now = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list the final state")?;
    let want: Vec<KeyValue> = now
        .kvs
        .into_iter()
        .filter(|kv| !kv.key.ends_with(b"fence"))
        .collect();
    let rebuilt: Vec<KeyValue> = rebuilt.into_values().collect();
    ensure_eq!(
        rebuilt,
        want,
        "the list at {r} with the watch's events applied, against the final list"
    );
    Ok(())
}

/// Writers per concurrent-writers case.
const WRITERS: usize = 8;
/// Writes per writer.
const WRITES_EACH: usize = 200;

/// `WRITERS` tasks write concurrently while four watchers observe (two the whole case
/// prefix, two one writer's keys each): each watcher sees every change of its prefix
/// exactly once, in strictly increasing revision order, matching the writes' results.
pub(super) async fn concurrent_writers(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let watched = [
        (prefix.clone(), key(&prefix, "fence-all-0")),
        (prefix.clone(), key(&prefix, "fence-all-1")),
        (format!("{prefix}w0/"), key(&prefix, "w0/fence")),
        (format!("{prefix}w1/"), key(&prefix, "w1/fence")),
    ];
    let mut watchers = JoinSet::new();
    for (n, (watch_prefix, fence)) in watched.iter().cloned().enumerate() {
        let mut stream = open(&store, &watch_prefix, start).await?;
        watchers.spawn(async move {
            let mut events = Vec::new();
            loop {
                let what = format!(
                    "watcher {n} on {watch_prefix}, after {} events",
                    events.len()
                );
                let event = next_event(&mut stream, &what).await?;
                if event.key() == &fence {
                    return Ok::<_, String>((n, events));
                }
                // Other watchers' fences are not writes under test.
                if !show(event.key()).contains("fence") {
                    events.push(event);
                }
            }
        });
    }

    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let keys: Vec<Bytes> = (0..5)
            .map(|k| key(&prefix, &format!("w{w}/k{k}")))
            .collect();
        writers.spawn(async move {
            let mut rec = Recorder::new(store);
            rec.churn(&keys, WRITES_EACH).await?;
            Ok::<_, String>(rec.expected)
        });
    }
    let mut written = Vec::new();
    while let Some(joined) = writers.join_next().await {
        written.extend(joined.map_err(|e| format!("a writer task failed: {e}"))??);
    }
    for (_, fence) in &watched {
        store
            .create(fence, Bytes::from_static(b"fence"))
            .await
            .step("create a fence key")?;
    }

    let mut seen = Vec::new();
    while let Some(joined) = watchers.join_next().await {
        seen.push(joined.map_err(|e| format!("a watcher task failed: {e}"))??);
    }
    seen.sort_by_key(|(n, _)| *n);
    for (n, events) in seen {
        let watch_prefix = watched[n].0.as_bytes();
        let want: Vec<&Expected> = written
            .iter()
            .filter(|w| w.key().starts_with(watch_prefix))
            .collect();
        check_exactly_once(
            &events,
            &want,
            start,
            &format!("watcher {n} on {}", show(watch_prefix)),
        )?;
    }
    Ok(())
}

/// Checks `events` are strictly increasing after `start`, each matches one write of
/// `want`, and each write of `want` is matched once.
fn check_exactly_once(
    events: &[WatchEvent],
    want: &[&Expected],
    start: Revision,
    what: &str,
) -> CaseResult {
    // Puts are found by revision, deletions by key and the deleted state's revision.
    let mut puts: BTreeMap<Revision, usize> = BTreeMap::new();
    let mut deletes: BTreeMap<(Bytes, Revision), usize> = BTreeMap::new();
    for (i, w) in want.iter().enumerate() {
        match w {
            Expected::Put(kv) => puts.insert(kv.mod_revision, i),
            Expected::Delete { prev, .. } => {
                deletes.insert((prev.key.clone(), prev.mod_revision), i)
            }
        };
    }
    let mut matched = HashSet::new();
    let mut last = start;
    for (n, event) in events.iter().enumerate() {
        ensure!(
            event.revision() > last,
            "{what}: event {n} {event:?}: expected a revision above {last} (the previous event's)"
        );
        last = event.revision();
        let index = match event {
            WatchEvent::Put { kv } => puts.get(&kv.mod_revision),
            WatchEvent::Delete { prev, .. } => deletes.get(&(prev.key.clone(), prev.mod_revision)),
        };
        let Some(&index) = index else {
            return Err(format!("{what}: event {n} {event:?} matches no write"));
        };
        ensure!(
            want[index].matches(event),
            "{what}: event {n}: expected {:?}, got {event:?}",
            want[index]
        );
        ensure!(
            matched.insert(index),
            "{what}: event {n} {event:?} delivered twice"
        );
    }
    if matched.len() != want.len() {
        let missing: Vec<&&Expected> = want
            .iter()
            .enumerate()
            .filter(|(i, _)| !matched.contains(i))
            .map(|(_, w)| w)
            .take(5)
            .collect();
        return Err(format!(
            "{what}: expected {} events, got {}; missing, for example: {missing:?}",
            want.len(),
            matched.len()
        ));
    }
    Ok(())
}

/// A watch sees keys under its prefix only, matched bytewise: `x/` not `xy`, `x` both,
/// and a prefix ending in `0xff` nothing past its range end.
pub(super) async fn prefix_isolation(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let dir = raw_key(&prefix, b"x/");
    let bare = raw_key(&prefix, b"x");
    let high = raw_key(&prefix, b"z\xff");
    let mut dir_watch = open_raw(&store, &dir, start).await?;
    let mut bare_watch = open_raw(&store, &bare, start).await?;
    let mut high_watch = open_raw(&store, &high, start).await?;

    let mut rec = Recorder::new(store.clone());
    let x1 = rec.create(&raw_key(&prefix, b"x/1"), "v").await?;
    rec.create(&raw_key(&prefix, b"xy"), "v").await?;
    rec.create(&raw_key(&prefix, b"y/1"), "v").await?;
    rec.create(&raw_key(&prefix, b"w"), "v").await?;
    rec.create(&raw_key(&prefix, b"z\xff\x01"), "v").await?;
    rec.create(&raw_key(&prefix, b"z\xfe"), "v").await?;
    rec.create(&raw_key(&prefix, b"{"), "v").await?;
    rec.delete(&raw_key(&prefix, b"x/1"), Some(x1.mod_revision))
        .await?;

    for (stream, watch_prefix, fence) in [
        (&mut dir_watch, &dir, raw_key(&prefix, b"x/~fence")),
        (&mut bare_watch, &bare, raw_key(&prefix, b"x/~fence")),
        (&mut high_watch, &high, raw_key(&prefix, b"z\xff~fence")),
    ] {
        let want: Vec<Expected> = rec
            .expected
            .iter()
            .filter(|w| w.key().starts_with(watch_prefix))
            .cloned()
            .collect();
        let what = format!("watch on {:?}", show(watch_prefix));
        expect_events(stream, &want, start, &what).await?;
        expect_fence(&*store, stream, &fence, &what).await?;
    }
    Ok(())
}

/// Dropping watch streams — never polled, partly read, or while a task waits on them —
/// breaks neither writes nor reads nor the watches that stay.
pub(super) async fn dropped_streams(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let mut keeper = open(&store, &prefix, start).await?;
    let mut rec = Recorder::new(store.clone());
    let keys: Vec<Bytes> = (0..4).map(|i| key(&prefix, &format!("k{i}"))).collect();

    let mut dropped = Vec::new();
    for _ in 0..8 {
        dropped.push(open(&store, &prefix, start).await?);
    }
    rec.churn(&keys, 10).await?;
    for (n, stream) in dropped.iter_mut().enumerate().skip(4) {
        next_event(stream, &format!("watch {n} to be dropped after one event")).await?;
    }
    drop(dropped);

    // A task blocked on an idle watch, cancelled.
    let mut idle = open_raw(&store, &key(&prefix, "idle/"), start).await?;
    let waiting = tokio::spawn(async move {
        let _ = futures::StreamExt::next(&mut idle).await;
    });
    tokio::task::yield_now().await;
    waiting.abort();
    let _ = waiting.await;

    rec.churn(&keys, 30).await?;
    expect_events(&mut keeper, &rec.expected, start, "the watch kept open").await?;
    expect_fence(
        &*store,
        &mut keeper,
        &key(&prefix, "fence"),
        "the watch kept open",
    )
    .await?;

    let mut fresh = open(&store, &prefix, start).await?;
    let mut all = rec.expected.clone();
    let fence = store.get(&key(&prefix, "fence")).await.step("get fence")?;
    all.extend(fence.map(Expected::Put));
    expect_events(&mut fresh, &all, start, "a watch opened after the drops").await?;
    let listed = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list after the drops")?;
    ensure!(
        !listed.kvs.is_empty(),
        "list after the drops: expected the keys written, got none"
    );
    Ok(())
}

/// A fixed sequence of every kind of write under `prefix`: creates, updates, guarded
/// and unguarded deletes, and a re-create.
async fn write_history(rec: &mut Recorder, prefix: &str) -> CaseResult {
    let a = key(prefix, "a");
    let b = key(prefix, "b");
    let a1 = rec.create(&a, "a1").await?;
    let a2 = rec.update(&a, "a2", a1.mod_revision).await?;
    let b1 = rec.create(&b, "b1").await?;
    rec.delete(&a, Some(a2.mod_revision)).await?;
    rec.update(&b, "b2", b1.mod_revision).await?;
    rec.create(&a, "a3").await?;
    rec.delete(&b, None).await?;
    Ok(())
}

async fn open(
    store: &Arc<dyn Store>,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream, String> {
    open_raw(store, prefix.as_bytes(), after).await
}

async fn open_raw(
    store: &Arc<dyn Store>,
    prefix: &[u8],
    after: Revision,
) -> Result<WatchStream, String> {
    store
        .watch(prefix, after)
        .await
        .step(&format!("watch {} after {after}", show(prefix)))
}
