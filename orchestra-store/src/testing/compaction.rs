//! Cases for `compact`: what survives it (the current state, reads at and after the
//! compaction point), what fails explicitly with `Compacted` (older reads and watches),
//! and its bounds.
//!
//! These compact the whole store, not just the case's prefix.

use std::sync::Arc;

use futures::StreamExt;
use orchestra_core::{ListOptions, Revision, Store, StoreError, WatchStream};

use super::expected::{Expected, Recorder, expect_events, expect_fence};
use super::{CaseResult, Step, WATCH_WAIT, ensure, ensure_eq, key, show};

/// After `compact(C)` at the current revision: the current state, `get`, a list at C
/// and a watch after C all still work, and later writes take revisions above C.
pub(super) async fn keeps_current_state(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let (a, b, c, d) = (
        key(&prefix, "a"),
        key(&prefix, "b"),
        key(&prefix, "c"),
        key(&prefix, "d"),
    );
    let mut rec = Recorder::new(store.clone());
    let a1 = rec.create(&a, "a1").await?;
    let b1 = rec.create(&b, "b1").await?;
    rec.create(&c, "c1").await?;
    rec.update(&a, "a2", a1.mod_revision).await?;
    rec.delete(&b, Some(b1.mod_revision)).await?;
    rec.create(&d, "d1").await?;
    let before = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list before compaction")?;
    let point = store.current_revision().await.step("current_revision")?;

    store
        .compact(point)
        .await
        .step("compact at the current revision")?;
    let reported = store.compact_revision().await.step("compact_revision")?;
    ensure!(
        reported >= point,
        "compact_revision after compact({point}): expected >= {point}, got {reported}"
    );

    let now = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list after compaction")?;
    ensure_eq!(now.kvs, before.kvs, "the current state after compaction");
    let at_point = store
        .list(prefix.as_bytes(), ListOptions::default().at_revision(point))
        .await
        .step("list at the compaction point")?;
    ensure_eq!(
        at_point.revision,
        point,
        "list at the compaction point: revision"
    );
    ensure_eq!(at_point.kvs, before.kvs, "list at the compaction point");
    for kv in &before.kvs {
        let got = store.get(&kv.key).await.step("get after compaction")?;
        ensure_eq!(
            got.as_ref(),
            Some(kv),
            "get {} after compaction",
            show(&kv.key)
        );
    }
    ensure_eq!(
        store.get(&b).await.step("get a deleted key")?,
        None,
        "get of a key deleted before compaction"
    );

    let mut stream = store
        .watch(prefix.as_bytes(), point)
        .await
        .step("watch after the compaction point")?;
    let mut after = Recorder::new(store.clone());
    let a2 = before.kvs[0].clone();
    let a3 = after.update(&a, "a3", a2.mod_revision).await?;
    ensure!(
        a3.mod_revision > point,
        "a write after compact({point}): expected a revision above it, got {}",
        a3.mod_revision
    );
    after.delete(&c, None).await?;
    after.create(&b, "b2").await?;
    let what = "watch after the compaction point";
    expect_events(&mut stream, &after.expected, point, what).await?;
    expect_fence(&*store, &mut stream, &key(&prefix, "fence"), what).await
}

/// After `compact(C)` with history on both sides: a list below C is `Compacted`
/// (carrying the requested revision and a compaction point >= C), a watch from below C
/// is `Compacted` (from the call, or as the stream's only item), and a watch after C
/// replays exactly the later history.
pub(super) async fn older_reads_fail(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let (a, b) = (key(&prefix, "a"), key(&prefix, "b"));
    let mut rec = Recorder::new(store.clone());
    let a1 = rec.create(&a, "a1").await?;
    let a2 = rec.update(&a, "a2", a1.mod_revision).await?;
    let b1 = rec.create(&b, "b1").await?;
    let b2 = rec.update(&b, "b2", b1.mod_revision).await?;
    let a3 = rec.update(&a, "a3", a2.mod_revision).await?;
    let point = b2.mod_revision;

    store.compact(point).await.step("compact")?;
    let reported = store.compact_revision().await.step("compact_revision")?;
    ensure!(
        reported >= point,
        "compact_revision after compact({point}): expected >= {point}, got {reported}"
    );

    for old in [a1.mod_revision, point - 1] {
        match store
            .list(prefix.as_bytes(), ListOptions::default().at_revision(old))
            .await
        {
            Err(StoreError::Compacted {
                requested,
                compact_revision,
            }) => {
                ensure_eq!(requested, old, "list at {old}: Compacted.requested");
                ensure!(
                    compact_revision >= point,
                    "list at {old}: expected Compacted.compact_revision >= {point}, got {compact_revision}"
                );
            }
            other => {
                return Err(format!(
                    "list at {old}, below the compaction point {point}: expected Compacted, got {other:?}"
                ));
            }
        }
    }
    let at_point = store
        .list(prefix.as_bytes(), ListOptions::default().at_revision(point))
        .await
        .step("list at the compaction point")?;
    ensure_eq!(at_point.kvs, vec![a2, b2], "list at the compaction point");

    match store.watch(prefix.as_bytes(), a1.mod_revision).await {
        Err(StoreError::Compacted {
            compact_revision, ..
        }) => ensure!(
            compact_revision >= point,
            "watch after {}: expected Compacted.compact_revision >= {point}, got {compact_revision}",
            a1.mod_revision
        ),
        Err(other) => {
            return Err(format!(
                "watch after {}, below the compaction point {point}: expected Compacted, got {other:?}",
                a1.mod_revision
            ));
        }
        Ok(mut stream) => {
            let what = format!(
                "watch after {}, below the compaction point {point}",
                a1.mod_revision
            );
            expect_compacted_then_end(&mut stream, point, &what).await?;
        }
    }

    let mut stream = store
        .watch(prefix.as_bytes(), point)
        .await
        .step("watch after the compaction point")?;
    let what = "watch after the compaction point";
    expect_events(&mut stream, &[Expected::Put(a3)], point, what).await?;
    expect_fence(&*store, &mut stream, &key(&prefix, "fence"), what).await
}

/// Compacting at or below the current compaction point is a no-op (older points stay
/// readable as before); beyond the current revision it fails with `FutureRevision` and
/// moves nothing.
pub(super) async fn bounds(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = store.create(&k, super::value("v1")).await.step("create")?;
    let v2 = store
        .update(&k, super::value("v2"), v1.mod_revision)
        .await
        .step("update")?;
    let v3 = store
        .update(&k, super::value("v3"), v2.mod_revision)
        .await
        .step("update")?;
    let point = v2.mod_revision;
    store.compact(point).await.step("compact")?;

    for again in [point, point - 1, 0] {
        store
            .compact(again)
            .await
            .step(&format!("compact({again}) after compact({point})"))?;
        let reported = store.compact_revision().await.step("compact_revision")?;
        ensure!(
            reported >= point,
            "compact_revision after compact({again}) following compact({point}): expected >= {point}, got {reported}"
        );
    }

    let current = store.current_revision().await.step("current_revision")?;
    let future = current + 1_000_000;
    match store.compact(future).await {
        Err(StoreError::FutureRevision { requested, .. }) => {
            ensure_eq!(
                requested,
                future,
                "compact beyond the current revision: FutureRevision.requested"
            );
        }
        other => {
            return Err(format!(
                "compact({future}) with current revision {current}: expected FutureRevision, got {other:?}"
            ));
        }
    }

    // Neither the no-ops nor the failed compaction moved the point past `point`.
    let at_point = store
        .list(k.as_ref(), ListOptions::default().at_revision(point))
        .await
        .step("list at the compaction point after the no-op and failed compactions")?;
    ensure_eq!(at_point.kvs, vec![v2], "list at the compaction point");
    let now = store.get(&k).await.step("get")?;
    ensure_eq!(now, Some(v3), "get after the compactions");
    Ok(())
}

/// A watch that has not read its history when that history is compacted away either
/// still delivers all of it, or delivers a gap-free part of it and then one `Compacted`
/// and ends — never skips silently.
pub(super) async fn lagging_watch(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let start = store.current_revision().await.step("current_revision")?;
    let mut stream = store.watch(prefix.as_bytes(), start).await.step("watch")?;
    let mut rec = Recorder::new(store.clone());
    let keys: Vec<_> = (0..3).map(|i| key(&prefix, &format!("k{i}"))).collect();
    rec.churn(&keys, 12).await?;
    let point = store.current_revision().await.step("current_revision")?;
    store.compact(point).await.step("compact")?;

    let what = "a watch lagging behind compaction";
    let mut delivered = 0;
    let mut last = start;
    let mut fence = None;
    loop {
        if delivered == rec.expected.len() && fence.is_none() {
            let kv = store
                .create(&key(&prefix, "fence"), super::value("fence"))
                .await
                .step("create the fence key")?;
            fence = Some(kv);
        }
        let item = tokio::time::timeout(WATCH_WAIT, stream.next())
            .await
            .map_err(|_| {
                format!("{what}: nothing within {WATCH_WAIT:?} after {delivered} events")
            })?;
        match item {
            None => {
                return Err(format!(
                    "{what}: the stream ended after {delivered} events without Compacted"
                ));
            }
            Some(Err(StoreError::Compacted {
                compact_revision, ..
            })) => {
                ensure!(
                    compact_revision >= point,
                    "{what}: expected Compacted.compact_revision >= {point}, got {compact_revision}"
                );
                return expect_end(&mut stream, what).await;
            }
            Some(Err(other)) => {
                return Err(format!(
                    "{what}: expected events or Compacted, got {other:?}"
                ));
            }
            Some(Ok(event)) => {
                ensure!(
                    event.revision() > last,
                    "{what}: event {delivered}: expected a revision above {last}, got {event:?}"
                );
                last = event.revision();
                if let Some(fence) = &fence {
                    ensure_eq!(
                        event,
                        orchestra_core::WatchEvent::Put { kv: fence.clone() },
                        "{what}: after all {delivered} events, the fence"
                    );
                    return Ok(());
                }
                let want = &rec.expected[delivered];
                ensure!(
                    want.matches(&event),
                    "{what}: event {delivered}: expected {want:?}, got {event:?}"
                );
                delivered += 1;
            }
        }
    }
}

/// Checks the next item of `stream` is `Compacted` with a point >= `point`, and the
/// stream ends after it.
async fn expect_compacted_then_end(
    stream: &mut WatchStream,
    point: Revision,
    what: &str,
) -> CaseResult {
    match tokio::time::timeout(WATCH_WAIT, stream.next()).await {
        Err(_) => Err(format!(
            "{what}: expected Compacted, got nothing within {WATCH_WAIT:?}"
        )),
        Ok(Some(Err(StoreError::Compacted {
            compact_revision, ..
        }))) => {
            ensure!(
                compact_revision >= point,
                "{what}: expected Compacted.compact_revision >= {point}, got {compact_revision}"
            );
            expect_end(stream, what).await
        }
        Ok(other) => Err(format!("{what}: expected Compacted, got {other:?}")),
    }
}

/// Checks `stream` ends (after it yielded `Compacted`).
async fn expect_end(stream: &mut WatchStream, what: &str) -> CaseResult {
    match tokio::time::timeout(WATCH_WAIT, stream.next()).await {
        Ok(None) => Ok(()),
        Ok(Some(item)) => Err(format!(
            "{what}: expected the stream to end after Compacted, got {item:?}"
        )),
        Err(_) => Err(format!(
            "{what}: the stream did not end within {WATCH_WAIT:?} after Compacted"
        )),
    }
}
