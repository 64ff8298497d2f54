//! Cases for list: order, snapshots at a revision, paging, prefix matching.

use std::sync::Arc;

use orchestra_core::{ListOptions, Store, StoreError};

use super::{CaseResult, ensure, key, step, val};

fn names(prefix: &str, kvs: &[orchestra_core::KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned())
        .collect()
}

pub(super) async fn list_is_ordered_and_consistent(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    for name in ["c", "a", "b"] {
        step("create", store.create(&key(&prefix, name), val(name)).await)?;
    }
    let first = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?;
    ensure(names(&prefix, &first.kvs) == ["a", "b", "c"], || {
        format!("list order: {:?}", names(&prefix, &first.kvs))
    })?;
    let last_write = first
        .kvs
        .iter()
        .map(|kv| kv.mod_revision)
        .max()
        .unwrap_or(0);
    ensure(first.revision >= last_write, || {
        format!(
            "list revision {} behind the last write {last_write}",
            first.revision
        )
    })?;
    let at = first.revision;

    // Change everything; the snapshot at `at` must not move.
    let b = first.kvs[1].clone();
    step(
        "update",
        store.update(&b.key, val("b2"), b.mod_revision).await,
    )?;
    step("delete", store.delete(&key(&prefix, "a"), None).await)?;
    step("create", store.create(&key(&prefix, "d"), val("d")).await)?;
    let past = step(
        "list at a past revision",
        store
            .list(prefix.as_bytes(), ListOptions::default().at_revision(at))
            .await,
    )?;
    ensure(past.revision == at, || {
        format!("list at {at} reported revision {}", past.revision)
    })?;
    ensure(past.kvs == first.kvs, || {
        format!(
            "snapshot at {at} changed: {:?} vs {:?}",
            past.kvs, first.kvs
        )
    })?;
    let now = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?;
    ensure(names(&prefix, &now.kvs) == ["b", "c", "d"], || {
        format!("current list: {:?}", names(&prefix, &now.kvs))
    })
}

pub(super) async fn list_paging(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let total = 25;
    for i in 0..total {
        step(
            "create",
            store
                .create(&key(&prefix, &format!("{i:02}")), val("x"))
                .await,
        )?;
    }
    let at = step(
        "list",
        store.list(prefix.as_bytes(), ListOptions::default()).await,
    )?
    .revision;
    let mut seen = Vec::new();
    let mut after: Option<bytes::Bytes> = None;
    loop {
        let mut options = ListOptions::default().limit(7).at_revision(at);
        if let Some(a) = after.take() {
            options = options.start_after(a);
        }
        let page = step("list page", store.list(prefix.as_bytes(), options).await)?;
        ensure(page.kvs.len() <= 7, || {
            format!("a page of limit 7 had {} keys", page.kvs.len())
        })?;
        seen.extend(names(&prefix, &page.kvs));
        if !page.more {
            break;
        }
        ensure(!page.kvs.is_empty(), || {
            "a page with more=true was empty".into()
        })?;
        after = page.kvs.last().map(|kv| kv.key.clone());
        ensure(seen.len() < total * 2, || {
            "paging does not terminate".into()
        })?;
    }
    let expected: Vec<String> = (0..total).map(|i| format!("{i:02}")).collect();
    ensure(seen == expected, || format!("paging saw {seen:?}"))?;
    let exact = step(
        "list",
        store
            .list(prefix.as_bytes(), ListOptions::default().limit(total))
            .await,
    )?;
    ensure(exact.kvs.len() == total && !exact.more, || {
        format!(
            "limit == count: {} keys, more={}",
            exact.kvs.len(),
            exact.more
        )
    })
}

pub(super) async fn list_bad_revisions(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    step("create", store.create(&key(&prefix, "a"), val("x")).await)?;
    let current = step("current_revision", store.current_revision().await)?;
    match store
        .list(
            prefix.as_bytes(),
            ListOptions::default().at_revision(current + 1_000_000),
        )
        .await
    {
        Err(StoreError::FutureRevision { .. }) => Ok(()),
        other => Err(format!(
            "list at a future revision: expected FutureRevision, got {other:?}"
        )),
    }
}

pub(super) async fn prefix_isolation(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    for name in ["a/b/x", "a/bc", "a/b", "a/c", "z\u{7f}"] {
        step("create", store.create(&key(&prefix, name), val(name)).await)?;
    }
    let dir = step(
        "list a/b/",
        store
            .list(&key(&prefix, "a/b/"), ListOptions::default())
            .await,
    )?;
    ensure(names(&prefix, &dir.kvs) == ["a/b/x"], || {
        format!("`a/b/` listed {:?}", names(&prefix, &dir.kvs))
    })?;
    let bytewise = step(
        "list a/b",
        store
            .list(&key(&prefix, "a/b"), ListOptions::default())
            .await,
    )?;
    ensure(
        names(&prefix, &bytewise.kvs) == ["a/b", "a/b/x", "a/bc"],
        || format!("`a/b` listed {:?}", names(&prefix, &bytewise.kvs)),
    )?;
    // A prefix ending in 0xff must not wrap around into its neighbours.
    let mut high = key(&prefix, "y");
    high.push(0xff);
    step("create", store.create(&high, val("hi")).await)?;
    let mut high_child = high.clone();
    high_child.push(b'1');
    step("create", store.create(&high_child, val("hi1")).await)?;
    let high_list = step(
        "list 0xff prefix",
        store.list(&high, ListOptions::default()).await,
    )?;
    ensure(high_list.kvs.len() == 2, || {
        format!(
            "a prefix ending in 0xff listed {} keys, expected 2",
            high_list.kvs.len()
        )
    })
}
