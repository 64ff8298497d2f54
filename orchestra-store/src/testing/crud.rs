//! Cases for single-key operations: create, get, guarded update and delete, and the
//! per-key bookkeeping (`create_revision`, `mod_revision`, `version`).

use std::sync::Arc;

use bytes::Bytes;
use orchestra_core::{Store, StoreError, WatchEvent};

use super::expected::next_event;
use super::{CaseResult, Step, ensure, ensure_eq, key, value};

/// `create`: version 1, `create_revision == mod_revision`, strictly above the revision
/// before it; `get` returns exactly what `create` returned.
pub(super) async fn create_new_key(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let before = store.current_revision().await.step("current_revision")?;
    let k = key(&prefix, "a");
    let kv = store.create(&k, value("v1")).await.step("create")?;
    ensure_eq!(kv.key, k, "create: the returned key");
    ensure_eq!(kv.value, value("v1"), "create: the returned value");
    ensure_eq!(kv.version, 1, "create: version");
    ensure_eq!(
        kv.create_revision,
        kv.mod_revision,
        "create: create_revision equals mod_revision"
    );
    ensure!(
        kv.mod_revision > before,
        "create: expected a revision above the previous current_revision {before}, got {}",
        kv.mod_revision
    );
    let after = store.current_revision().await.step("current_revision")?;
    ensure!(
        after >= kv.mod_revision,
        "current_revision after create: expected >= {}, got {after}",
        kv.mod_revision
    );
    let got = store.get(&k).await.step("get")?;
    ensure_eq!(got, Some(kv), "get after create");
    Ok(())
}

/// `create` of an existing key fails with `AlreadyExists` and leaves the key alone.
pub(super) async fn create_existing_key(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let kv = store.create(&k, value("v1")).await.step("create")?;
    match store.create(&k, value("v2")).await {
        Err(StoreError::AlreadyExists { .. }) => {}
        other => {
            return Err(format!(
                "second create: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let got = store.get(&k).await.step("get")?;
    ensure_eq!(got, Some(kv), "get after the failed create");
    Ok(())
}

/// A missing key: `get` is `None`; `update` and `delete` (guarded or not) are `NotFound`,
/// also for a key that existed and was deleted.
pub(super) async fn missing_key(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let never = key(&prefix, "never-created");
    let gone = key(&prefix, "deleted");
    let kv = store.create(&gone, value("v1")).await.step("create")?;
    store.delete(&gone, None).await.step("delete")?;
    for (k, what, rev) in [
        (&never, "never created", 1),
        (&gone, "deleted", kv.mod_revision),
    ] {
        let got = store.get(k).await.step("get")?;
        ensure_eq!(got, None, "get of a {what} key");
        match store.update(k, value("x"), rev).await {
            Err(StoreError::NotFound { .. }) => {}
            other => {
                return Err(format!(
                    "update of a {what} key: expected NotFound, got {other:?}"
                ));
            }
        }
        match store.delete(k, None).await {
            Err(StoreError::NotFound { .. }) => {}
            other => {
                return Err(format!(
                    "delete of a {what} key: expected NotFound, got {other:?}"
                ));
            }
        }
        match store.delete(k, Some(rev)).await {
            Err(StoreError::NotFound { .. }) => {}
            other => {
                return Err(format!(
                    "guarded delete of a {what} key: expected NotFound, got {other:?}"
                ));
            }
        }
    }
    Ok(())
}

/// `update` with the current `mod_revision`: a fresh, higher revision, `version` + 1,
/// `create_revision` unchanged, the new value; `get` agrees.
pub(super) async fn update_with_current_revision(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let k = key(&prefix, "a");
    let mut prev = store.create(&k, value("v1")).await.step("create")?;
    for n in 2..=4u64 {
        let v = value(&format!("v{n}"));
        let kv = store
            .update(&k, v.clone(), prev.mod_revision)
            .await
            .step("update")?;
        ensure_eq!(kv.key, k, "update {n}: the returned key");
        ensure_eq!(kv.value, v, "update {n}: the returned value");
        ensure_eq!(kv.version, n, "update {n}: version");
        ensure_eq!(
            kv.create_revision,
            prev.create_revision,
            "update {n}: create_revision stays"
        );
        ensure!(
            kv.mod_revision > prev.mod_revision,
            "update {n}: expected a mod_revision above {}, got {}",
            prev.mod_revision,
            kv.mod_revision
        );
        let got = store.get(&k).await.step("get")?;
        ensure_eq!(got.as_ref(), Some(&kv), "get after update {n}");
        prev = kv;
    }
    Ok(())
}

/// `update` with a stale or made-up `mod_revision` fails with `Conflict` carrying the
/// expectation and the key's current `mod_revision`, and changes nothing.
pub(super) async fn update_with_stale_revision(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = store.create(&k, value("v1")).await.step("create")?;
    let v2 = store
        .update(&k, value("v2"), v1.mod_revision)
        .await
        .step("update")?;
    for stale in [v1.mod_revision, v2.mod_revision + 1_000_000, 0] {
        match store.update(&k, value("stale"), stale).await {
            Err(StoreError::Conflict {
                expected, current, ..
            }) => {
                ensure_eq!(
                    expected,
                    stale,
                    "Conflict.expected of an update guarded by {stale}"
                );
                ensure_eq!(
                    current,
                    v2.mod_revision,
                    "Conflict.current of an update guarded by {stale}"
                );
            }
            other => {
                return Err(format!(
                    "update guarded by stale revision {stale} (current {}): expected Conflict, got {other:?}",
                    v2.mod_revision
                ));
            }
        }
    }
    let got = store.get(&k).await.step("get")?;
    ensure_eq!(got, Some(v2), "get after the failed updates");
    Ok(())
}

/// `delete` returns exactly the state the key had just before, guarded or not, and the
/// key is gone afterwards.
pub(super) async fn delete_returns_previous_state(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let a = key(&prefix, "a");
    let b = key(&prefix, "b");
    let a1 = store.create(&a, value("a1")).await.step("create a")?;
    let a2 = store
        .update(&a, value("a2"), a1.mod_revision)
        .await
        .step("update a")?;
    let b1 = store.create(&b, value("b1")).await.step("create b")?;
    let prev = store.delete(&a, None).await.step("delete a")?;
    ensure_eq!(prev, a2, "unguarded delete: the returned previous state");
    let prev = store
        .delete(&b, Some(b1.mod_revision))
        .await
        .step("delete b")?;
    ensure_eq!(prev, b1, "guarded delete: the returned previous state");
    for k in [&a, &b] {
        let got = store.get(k).await.step("get")?;
        ensure_eq!(got, None, "get after delete");
    }
    Ok(())
}

/// A guarded `delete` with the wrong `mod_revision` fails with `Conflict` (carrying the
/// current one) and the key stays as it was.
pub(super) async fn guarded_delete_with_wrong_revision(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = store.create(&k, value("v1")).await.step("create")?;
    let v2 = store
        .update(&k, value("v2"), v1.mod_revision)
        .await
        .step("update")?;
    for wrong in [v1.mod_revision, v2.mod_revision + 1_000_000] {
        match store.delete(&k, Some(wrong)).await {
            Err(StoreError::Conflict {
                expected, current, ..
            }) => {
                ensure_eq!(
                    expected,
                    wrong,
                    "Conflict.expected of a delete guarded by {wrong}"
                );
                ensure_eq!(
                    current,
                    v2.mod_revision,
                    "Conflict.current of a delete guarded by {wrong}"
                );
            }
            other => {
                return Err(format!(
                    "delete guarded by wrong revision {wrong} (current {}): expected Conflict, got {other:?}",
                    v2.mod_revision
                ));
            }
        }
    }
    let got = store.get(&k).await.step("get")?;
    ensure_eq!(got, Some(v2), "get after the failed deletes");
    Ok(())
}

/// A key deleted and created again starts over: version 1 and a `create_revision` above
/// the deletion.
pub(super) async fn recreate_after_delete(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = store.create(&k, value("v1")).await.step("create")?;
    let v2 = store
        .update(&k, value("v2"), v1.mod_revision)
        .await
        .step("update")?;
    store
        .delete(&k, Some(v2.mod_revision))
        .await
        .step("delete")?;
    let after_delete = store.current_revision().await.step("current_revision")?;
    ensure!(
        after_delete > v2.mod_revision,
        "current_revision after delete: expected the deletion to take a revision above {}, got {after_delete}",
        v2.mod_revision
    );
    let again = store.create(&k, value("v3")).await.step("re-create")?;
    ensure_eq!(again.version, 1, "re-create: version");
    ensure_eq!(
        again.create_revision,
        again.mod_revision,
        "re-create: create_revision equals mod_revision"
    );
    ensure!(
        again.create_revision > after_delete,
        "re-create: expected a create_revision above the deletion's ({after_delete} or less), got {}",
        again.create_revision
    );
    let got = store.get(&k).await.step("get")?;
    ensure_eq!(got, Some(again), "get after re-create");
    Ok(())
}

/// An empty key is rejected with `Invalid` by every write; `get` may reject it too or
/// find nothing.
pub(super) async fn empty_key_is_invalid(store: Arc<dyn Store>, _prefix: String) -> CaseResult {
    match store.create(b"", value("x")).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "create of an empty key: expected Invalid, got {other:?}"
            ));
        }
    }
    match store.update(b"", value("x"), 1).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "update of an empty key: expected Invalid, got {other:?}"
            ));
        }
    }
    match store.delete(b"", None).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "delete of an empty key: expected Invalid, got {other:?}"
            ));
        }
    }
    match store.get(b"").await {
        Err(StoreError::Invalid(_)) | Ok(None) => {}
        other => {
            return Err(format!(
                "get of an empty key: expected Invalid or None, got {other:?}"
            ));
        }
    }
    Ok(())
}

/// Values of every size and shape come back byte for byte, whatever a store does with
/// them at rest (compression against similar values, say): from create, get, list, a
/// watch, update and delete.
pub(super) async fn values_round_trip_exactly(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let document = |i: usize| {
        Bytes::from(format!(
            r#"{{"metadata":{{"name":"web-{i}","uid":"{i:08x}-4c6a"}},"spec":{{"image":"web:1","replicas":{i}}},"status":{{"ip":"10.0.{}.{}"}}}}"#,
            i / 256,
            i % 256
        ))
    };
    let noise = |len: usize, seed: u64| {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Bytes::from(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect::<Vec<u8>>(),
        )
    };
    let mut values: Vec<Bytes> = (0..12).map(document).collect();
    values.extend([Bytes::new(), value("x"), noise(300, 1), noise(20_000, 2)]);
    values.push(Bytes::from(document(3).repeat(200)));
    let before = store.current_revision().await.step("current_revision")?;
    let mut created = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let kv = store
            .create(&key(&prefix, &format!("k{i:02}")), v.clone())
            .await
            .step("create")?;
        ensure_eq!(kv.value, *v, "create #{i}: the returned value");
        created.push(kv);
    }
    for kv in &created {
        let got = store.get(&kv.key).await.step("get")?;
        ensure_eq!(got.as_ref(), Some(kv), "get of {:?}", kv.key);
    }
    let listed = store
        .list(prefix.as_bytes(), Default::default())
        .await
        .step("list")?;
    ensure_eq!(listed.kvs, created, "list");
    let mut watch = store.watch(prefix.as_bytes(), before).await.step("watch")?;
    for kv in &created {
        let event = next_event(&mut watch, "watch").await?;
        ensure_eq!(
            event,
            WatchEvent::Put { kv: kv.clone() },
            "watched create of {:?}",
            kv.key
        );
    }
    let updated = store
        .update(&created[5].key, document(99), created[5].mod_revision)
        .await
        .step("update")?;
    ensure_eq!(updated.value, document(99), "update: the returned value");
    let deleted = store.delete(&updated.key, None).await.step("delete")?;
    ensure_eq!(deleted, updated, "delete: the previous state");
    let event = next_event(&mut watch, "watch").await?;
    ensure_eq!(
        event,
        WatchEvent::Put {
            kv: updated.clone()
        },
        "watched update"
    );
    let event = next_event(&mut watch, "watch").await?;
    ensure!(
        matches!(&event, WatchEvent::Delete { prev, .. } if *prev == updated),
        "watched delete: expected the previous state {updated:?}, got {event:?}"
    );
    Ok(())
}
