//! Cases for compaction.

use std::sync::Arc;

use futures::StreamExt;
use orchestra_core::{ListOptions, Revision, Store, StoreError};

use super::{CaseResult, WATCH_WAIT, ensure, key, step, val};

/// Writes a key ten times; returns its revisions.
async fn history(store: &Arc<dyn Store>, prefix: &str) -> Result<Vec<Revision>, String> {
    let k = key(prefix, "a");
    let mut revisions = vec![step("create", store.create(&k, val("0")).await)?.mod_revision];
    for i in 1..10 {
        let last = *revisions.last().expect("one revision");
        revisions
            .push(step("update", store.update(&k, val(&i.to_string()), last).await)?.mod_revision);
    }
    Ok(revisions)
}

pub(super) async fn compaction_keeps_current_state(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let revisions = history(&store, &prefix).await?;
    step("create", store.create(&key(&prefix, "b"), val("b")).await)?;
    let gone = key(&prefix, "gone");
    step("create", store.create(&gone, val("g")).await)?;
    step("delete", store.delete(&gone, None).await)?;
    let before = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?;
    let point = revisions[5];
    step("compact", store.compact(point).await)?;
    let after = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?;
    ensure(after.kvs == before.kvs, || {
        "compaction changed the current state".into()
    })?;
    let at_point = step(
        "list at the compaction point",
        store
            .list(prefix.as_bytes(), ListOptions::default().at_revision(point))
            .await,
    )?;
    ensure(
        at_point.kvs.iter().any(|kv| kv.mod_revision == point),
        || format!("the state at {point} is not readable after compacting at it"),
    )?;
    let reported = step("compact_revision", store.compact_revision().await)?;
    ensure(reported >= point, || {
        format!("compact_revision reports {reported}, compacted at {point}")
    })?;
    let mut watch = step(
        "watch after the point",
        store.watch(prefix.as_bytes(), point).await,
    )?;
    match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
        Ok(Some(Ok(event))) => ensure(event.revision() == revisions[6], || {
            format!("watch after {point} began at {}", event.revision())
        }),
        other => Err(format!("watch after the compaction point: {other:?}")),
    }
}

pub(super) async fn compacted_reads_fail(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let revisions = history(&store, &prefix).await?;
    let point = revisions[5];
    step("compact", store.compact(point).await)?;
    match store
        .list(
            prefix.as_bytes(),
            ListOptions::default().at_revision(revisions[2]),
        )
        .await
    {
        Err(StoreError::Compacted {
            requested,
            compact_revision,
        }) => {
            ensure(
                requested == revisions[2] && compact_revision >= point,
                || {
                    format!(
                        "Compacted carries requested {requested} / compact_revision {compact_revision}"
                    )
                },
            )?;
        }
        other => {
            return Err(format!(
                "list before the compaction point: expected Compacted, got {other:?}"
            ));
        }
    }
    let from = revisions[2];
    let err = match store.watch(prefix.as_bytes(), from).await {
        Err(e) => e,
        Ok(mut watch) => match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
            Ok(Some(Err(e))) => e,
            other => {
                return Err(format!(
                    "watch before the compaction point: expected Compacted, got {other:?}"
                ));
            }
        },
    };
    match err {
        StoreError::Compacted {
            compact_revision, ..
        } => ensure(compact_revision >= point, || {
            format!("Compacted names {compact_revision}, compacted at {point}")
        }),
        other => Err(format!(
            "watch before the compaction point: expected Compacted, got {other:?}"
        )),
    }
}

pub(super) async fn compaction_bounds(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let revisions = history(&store, &prefix).await?;
    step("compact", store.compact(revisions[5]).await)?;
    step("compact backwards", store.compact(revisions[2]).await)?;
    let reported = step("compact_revision", store.compact_revision().await)?;
    ensure(reported >= revisions[5], || {
        format!("compacting backwards moved the point back to {reported}")
    })?;
    let current = step("current_revision", store.current_revision().await)?;
    match store.compact(current + 1_000_000).await {
        Err(StoreError::FutureRevision { .. }) => Ok(()),
        other => Err(format!(
            "compacting beyond the current revision: expected FutureRevision, got {other:?}"
        )),
    }
}
