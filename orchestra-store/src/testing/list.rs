//! Cases for `list`: key order, snapshots at past revisions, paging, and bytewise prefix
//! matching.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use orchestra_core::{KeyValue, ListOptions, Store, StoreError};

use super::{CaseResult, Step, ensure, ensure_eq, key, raw_key, show, value};

/// Keys come back in ascending bytewise order whatever order they were written in, each
/// exactly as `get` returns it; the list's revision is at least the last write's.
pub(super) async fn key_order(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    // Written out of order, with bytes that sort differently as text and as bytes.
    let suffixes: [&[u8]; 9] = [
        b"m",
        b"a",
        b"z",
        b"a/b",
        b"A",
        b"a0",
        b"\xc3\xa9",
        b"\xff",
        b"\x01",
    ];
    let mut last = 0;
    for suffix in suffixes {
        last = store
            .create(&raw_key(&prefix, suffix), value("v"))
            .await
            .step("create")?
            .mod_revision;
    }
    let listed = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list")?;
    let mut want = Vec::new();
    for suffix in suffixes {
        let k = raw_key(&prefix, suffix);
        want.push(
            store
                .get(&k)
                .await
                .step("get")?
                .ok_or("get: a created key is missing")?,
        );
    }
    want.sort_by(|a, b| a.key.cmp(&b.key));
    ensure_eq!(keys(&listed.kvs), keys(&want), "list: the keys, in order");
    ensure_eq!(listed.kvs, want, "list: the key-values");
    ensure!(!listed.more, "list without a limit: expected more == false");
    ensure!(
        listed.revision >= last,
        "list: expected a revision >= {last} (the last write's), got {}",
        listed.revision
    );
    Ok(())
}

/// A list at a past revision R returns exactly the keys and values as they were at R,
/// with `revision == R`, however the prefix changed since.
pub(super) async fn past_revision(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let (a, b, c, d) = (
        key(&prefix, "a"),
        key(&prefix, "b"),
        key(&prefix, "c"),
        key(&prefix, "d"),
    );
    let mut model = Model::default();
    let a1 = model.put(store.create(&a, value("a1")).await.step("create a")?);
    let r1 = a1.mod_revision;
    let at_r1 = model.snapshot();
    let b1 = model.put(store.create(&b, value("b1")).await.step("create b")?);
    let c1 = model.put(store.create(&c, value("c1")).await.step("create c")?);
    let r2 = c1.mod_revision;
    let at_r2 = model.snapshot();

    model.put(
        store
            .update(&a, value("a2"), a1.mod_revision)
            .await
            .step("update a")?,
    );
    store
        .delete(&b, Some(b1.mod_revision))
        .await
        .step("delete b")?;
    model.remove(&b);
    model.put(store.create(&d, value("d1")).await.step("create d")?);
    let b2 = model.put(store.create(&b, value("b2")).await.step("re-create b")?);
    model.put(
        store
            .update(&c, value("c2"), c1.mod_revision)
            .await
            .step("update c")?,
    );
    let now = model.snapshot();

    for (revision, want, what) in [(r1, &at_r1, "the first write"), (r2, &at_r2, "the third")] {
        let listed = store
            .list(
                prefix.as_bytes(),
                ListOptions::default().at_revision(revision),
            )
            .await
            .step("list at a past revision")?;
        ensure_eq!(
            listed.revision,
            revision,
            "list at the revision of {what}: ListResult.revision"
        );
        ensure_eq!(listed.kvs, *want, "list at revision {revision} (of {what})");
    }
    let listed = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list now")?;
    ensure_eq!(listed.kvs, now, "list of the current state");
    ensure!(
        listed.revision >= b2.mod_revision,
        "list now: expected a revision >= {} (a recent write's), got {}",
        b2.mod_revision,
        listed.revision
    );
    Ok(())
}

/// A list beyond the current revision fails with `FutureRevision`.
pub(super) async fn future_revision(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    store
        .create(&key(&prefix, "a"), value("v"))
        .await
        .step("create")?;
    let current = store.current_revision().await.step("current_revision")?;
    // Far enough ahead that other users of a shared backend cannot reach it meanwhile.
    let future = current + 1_000_000;
    match store
        .list(
            prefix.as_bytes(),
            ListOptions::default().at_revision(future),
        )
        .await
    {
        Err(StoreError::FutureRevision { requested, .. }) => {
            ensure_eq!(requested, future, "FutureRevision.requested");
        }
        other => {
            return Err(format!(
                "list at revision {future} (current {current}): expected FutureRevision, got {other:?}"
            ));
        }
    }
    Ok(())
}

/// Paging with `limit` and `start_after` at the first page's revision returns every key
/// exactly once, in order, with `more` true on every page but the last; keys written
/// between pages do not leak into a snapshot.
pub(super) async fn paging(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let mut all = Vec::new();
    for i in 0..21 {
        let k = key(&prefix, &format!("k{i:02}"));
        all.push(
            store
                .create(&k, value(&format!("v{i}")))
                .await
                .step("create")?,
        );
    }
    for limit in [1, 5, 7, 20, 21, 22, 100] {
        let mut seen: Vec<KeyValue> = Vec::new();
        let mut snapshot = None;
        let mut pages = 0;
        loop {
            let mut options = ListOptions::default().limit(limit);
            if let Some(revision) = snapshot {
                options = options.at_revision(revision);
            }
            if let Some(last) = seen.last() {
                options = options.start_after(last.key.clone());
            }
            let page = store
                .list(prefix.as_bytes(), options)
                .await
                .step("list a page")?;
            pages += 1;
            ensure!(
                page.kvs.len() <= limit,
                "limit {limit}, page {pages}: expected at most {limit} keys, got {}",
                page.kvs.len()
            );
            let revision = *snapshot.get_or_insert(page.revision);
            ensure_eq!(
                page.revision,
                revision,
                "limit {limit}, page {pages}: ListResult.revision of a page read at the first page's revision"
            );
            if pages == 1 {
                // A key inside the range still to come: the snapshot must not show it.
                let late = key(&prefix, &format!("k{limit:02}-late"));
                store
                    .create(&late, value("late"))
                    .await
                    .step("create between pages")?;
                store
                    .delete(&late, None)
                    .await
                    .step("delete between pages")?;
            }
            let expect_more = seen.len() + page.kvs.len() < all.len();
            ensure_eq!(
                page.more,
                expect_more,
                "limit {limit}, page {pages} ({} keys seen before, {} on it, {} in all): more",
                seen.len(),
                page.kvs.len(),
                all.len()
            );
            if page.kvs.is_empty() && page.more {
                return Err(format!("limit {limit}: an empty page claims more keys"));
            }
            seen.extend(page.kvs);
            if !page.more {
                break;
            }
            ensure!(
                pages <= all.len() + 1,
                "limit {limit}: paging did not end after {pages} pages"
            );
        }
        ensure_eq!(
            keys(&seen),
            keys(&all),
            "limit {limit}: the keys over all pages"
        );
        ensure_eq!(seen, all, "limit {limit}: the key-values over all pages");
    }

    // `start_after` before the prefix starts at the prefix; at or after its last key
    // yields nothing.
    let before = Bytes::from(prefix[..prefix.len() - 1].to_owned());
    let listed = store
        .list(
            prefix.as_bytes(),
            ListOptions::default().start_after(before),
        )
        .await
        .step("list with start_after before the prefix")?;
    ensure_eq!(
        keys(&listed.kvs),
        keys(&all),
        "start_after before the prefix"
    );
    let last = all.last().expect("keys were written").key.clone();
    let listed = store
        .list(prefix.as_bytes(), ListOptions::default().start_after(last))
        .await
        .step("list with start_after the last key")?;
    ensure_eq!(
        keys(&listed.kvs),
        Vec::<String>::new(),
        "start_after the last key"
    );
    ensure!(
        !listed.more,
        "start_after the last key: expected more == false"
    );
    Ok(())
}

/// Prefixes match bytewise (etcd's range semantics): `/a/b/` does not see `/a/bc`,
/// `/a/b` sees both `/a/b/x` and `/a/bc`, and prefixes ending in `0xff` bytes stop
/// exactly where they should.
pub(super) async fn bytewise_prefix(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let suffixes: [&[u8]; 9] = [
        b"a/b",
        b"a/b/x",
        b"a/bc",
        b"a/b\xff",
        b"a/b\xff\x00",
        b"a/b\xff\xff",
        b"a/c",
        b"a/c\x00",
        b"a/",
    ];
    for suffix in suffixes {
        store
            .create(&raw_key(&prefix, suffix), value("v"))
            .await
            .step("create")?;
    }
    let expectations: [(&[u8], &[&[u8]]); 6] = [
        (b"a/b/", &[b"a/b/x"]),
        (
            b"a/b",
            &[
                b"a/b",
                b"a/b/x",
                b"a/bc",
                b"a/b\xff",
                b"a/b\xff\x00",
                b"a/b\xff\xff",
            ],
        ),
        (b"a/b\xff", &[b"a/b\xff", b"a/b\xff\x00", b"a/b\xff\xff"]),
        (b"a/b\xff\xff", &[b"a/b\xff\xff"]),
        (b"a/c", &[b"a/c", b"a/c\x00"]),
        (b"a/d", &[]),
    ];
    for (list_prefix, want) in expectations {
        let list_prefix = raw_key(&prefix, list_prefix);
        let listed = store
            .list(&list_prefix, ListOptions::default())
            .await
            .step("list")?;
        let want: Vec<String> = want.iter().map(|s| show(&raw_key(&prefix, s))).collect();
        ensure_eq!(
            keys(&listed.kvs),
            want,
            "list of prefix {:?}",
            show(&list_prefix)
        );
    }
    let everything = store
        .list(prefix.as_bytes(), ListOptions::default())
        .await
        .step("list the case prefix")?;
    ensure_eq!(
        everything.kvs.len(),
        suffixes.len(),
        "list of the whole case prefix: the number of keys"
    );
    Ok(())
}

/// The keys of `kvs`, readable, for messages.
pub(super) fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| show(&kv.key)).collect()
}

/// The expected contents of a prefix, kept alongside the writes.
#[derive(Default)]
struct Model {
    kvs: BTreeMap<Bytes, KeyValue>,
}

impl Model {
    fn put(&mut self, kv: KeyValue) -> KeyValue {
        self.kvs.insert(kv.key.clone(), kv.clone());
        kv
    }

    fn remove(&mut self, key: &[u8]) {
        self.kvs.remove(key);
    }

    fn snapshot(&self) -> Vec<KeyValue> {
        self.kvs.values().cloned().collect()
    }
}
