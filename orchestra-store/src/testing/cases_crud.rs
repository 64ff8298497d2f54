//! Cases for single-key operations, revisions and guarded races.

use std::sync::Arc;

use orchestra_core::{Store, StoreError};

use super::{CaseResult, ensure, key, step, val};

pub(super) async fn create_then_get(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let before = step("current_revision", store.current_revision().await)?;
    let k = key(&prefix, "a");
    let kv = step("create", store.create(&k, val("v1")).await)?;
    ensure(kv.version == 1, || {
        format!("create: version {} instead of 1", kv.version)
    })?;
    ensure(kv.create_revision == kv.mod_revision, || {
        format!(
            "create: create_revision {} != mod_revision {}",
            kv.create_revision, kv.mod_revision
        )
    })?;
    ensure(kv.mod_revision > before, || {
        format!(
            "create: revision {} not above the previous {before}",
            kv.mod_revision
        )
    })?;
    ensure(
        kv.key.as_ref() == k.as_slice() && kv.value == val("v1"),
        || "create: returned another key or value".into(),
    )?;
    let got = step("get", store.get(&k).await)?;
    ensure(got.as_ref() == Some(&kv), || {
        format!("get: expected {kv:?}, got {got:?}")
    })
}

pub(super) async fn create_existing_fails(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let kv = step("create", store.create(&k, val("v1")).await)?;
    match store.create(&k, val("v2")).await {
        Err(StoreError::AlreadyExists { .. }) => {}
        other => {
            return Err(format!(
                "second create: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let got = step("get", store.get(&k).await)?;
    ensure(got.as_ref() == Some(&kv), || {
        format!("the failed create changed the key: {got:?}")
    })
}

pub(super) async fn guarded_update(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = step("create", store.create(&k, val("v1")).await)?;
    let v2 = step("update", store.update(&k, val("v2"), v1.mod_revision).await)?;
    ensure(
        v2.version == 2
            && v2.create_revision == v1.create_revision
            && v2.mod_revision > v1.mod_revision,
        || format!("update bookkeeping: {v1:?} -> {v2:?}"),
    )?;
    ensure(v2.value == val("v2"), || {
        "update: value not replaced".into()
    })?;
    match store.update(&k, val("stale"), v1.mod_revision).await {
        Err(StoreError::Conflict {
            expected, current, ..
        }) => {
            ensure(
                expected == v1.mod_revision && current == v2.mod_revision,
                || {
                    format!(
                        "Conflict carries expected {expected} / current {current}, wanted {} / {}",
                        v1.mod_revision, v2.mod_revision
                    )
                },
            )?;
        }
        other => return Err(format!("stale update: expected Conflict, got {other:?}")),
    }
    let got = step("get", store.get(&k).await)?;
    ensure(got.as_ref() == Some(&v2), || {
        format!("the stale update changed the key: {got:?}")
    })
}

pub(super) async fn missing_keys(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "missing");
    let got = step("get", store.get(&k).await)?;
    ensure(got.is_none(), || {
        format!("get of a missing key returned {got:?}")
    })?;
    match store.update(&k, val("x"), 1).await {
        Err(StoreError::NotFound { .. }) => {}
        other => {
            return Err(format!(
                "update of a missing key: expected NotFound, got {other:?}"
            ));
        }
    }
    match store.delete(&k, None).await {
        Err(StoreError::NotFound { .. }) => Ok(()),
        other => Err(format!(
            "delete of a missing key: expected NotFound, got {other:?}"
        )),
    }
}

pub(super) async fn guarded_delete(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = step("create", store.create(&k, val("v1")).await)?;
    match store.delete(&k, Some(v1.mod_revision + 1_000_000)).await {
        Err(StoreError::Conflict { current, .. }) => {
            ensure(current == v1.mod_revision, || {
                format!(
                    "Conflict carries current {current}, wanted {}",
                    v1.mod_revision
                )
            })?;
        }
        other => {
            return Err(format!(
                "guarded delete with a wrong revision: expected Conflict, got {other:?}"
            ));
        }
    }
    ensure(step("get", store.get(&k).await)?.is_some(), || {
        "a failed guarded delete removed the key".into()
    })?;
    let prev = step("delete", store.delete(&k, Some(v1.mod_revision)).await)?;
    ensure(prev == v1, || {
        format!("delete returned {prev:?}, expected the last state {v1:?}")
    })?;
    ensure(step("get", store.get(&k).await)?.is_none(), || {
        "the key survived its deletion".into()
    })
}

pub(super) async fn recreate_starts_over(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "a");
    let v1 = step("create", store.create(&k, val("v1")).await)?;
    step("update", store.update(&k, val("v2"), v1.mod_revision).await)?;
    step("delete", store.delete(&k, None).await)?;
    let again = step("re-create", store.create(&k, val("v3")).await)?;
    ensure(
        again.version == 1
            && again.create_revision > v1.create_revision
            && again.create_revision == again.mod_revision,
        || format!("re-created key should start over: {again:?}"),
    )
}

pub(super) async fn empty_key_is_invalid(store: Arc<dyn Store>, _prefix: String) -> CaseResult {
    match store.create(b"", val("x")).await {
        Err(StoreError::Invalid(_)) => Ok(()),
        other => Err(format!(
            "create with an empty key: expected Invalid, got {other:?}"
        )),
    }
}

pub(super) async fn revisions_increase(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let mut last = step("current_revision", store.current_revision().await)?;
    let k = key(&prefix, "a");
    let mut rev = step("create", store.create(&k, val("0")).await)?.mod_revision;
    for i in 1..20 {
        ensure(rev > last, || {
            format!("write {i}: revision {rev} not above {last}")
        })?;
        let current = step("current_revision", store.current_revision().await)?;
        ensure(current >= rev, || {
            format!("current_revision {current} behind the last write {rev}")
        })?;
        last = rev;
        rev = step("update", store.update(&k, val(&i.to_string()), rev).await)?.mod_revision;
    }
    let deleted = step("delete", store.delete(&k, None).await)?;
    let after = step("current_revision", store.current_revision().await)?;
    ensure(after > deleted.mod_revision, || {
        "a delete takes a revision of its own".into()
    })
}

pub(super) async fn update_race_one_winner(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "contended");
    let mut rev = step("create", store.create(&k, val("0")).await)?.mod_revision;
    for round in 0..10 {
        let mut tasks = Vec::new();
        for t in 0..32 {
            let store = store.clone();
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                store.update(&k, val(&format!("{round}-{t}")), rev).await
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t
                .await
                .map_err(|e| format!("a racing task panicked: {e}"))?
            {
                Ok(kv) => winners.push(kv),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => {
                    return Err(format!(
                        "round {round}: a racing update failed with {e}, expected Conflict"
                    ));
                }
            }
        }
        ensure(winners.len() == 1, || {
            format!(
                "round {round}: {} updates won with the same guard, expected exactly 1",
                winners.len()
            )
        })?;
        rev = winners[0].mod_revision;
        let stored = step("get", store.get(&k).await)?;
        ensure(stored.as_ref() == Some(&winners[0]), || {
            format!("round {round}: the winner is not what is stored")
        })?;
    }
    Ok(())
}

pub(super) async fn create_race_one_winner(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "born-once");
    let mut tasks = Vec::new();
    for t in 0..32 {
        let store = store.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            store.create(&k, val(&t.to_string())).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t
            .await
            .map_err(|e| format!("a racing task panicked: {e}"))?
        {
            Ok(_) => won += 1,
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => {
                return Err(format!(
                    "a racing create failed with {e}, expected AlreadyExists"
                ));
            }
        }
    }
    ensure(won == 1, || {
        format!("{won} creates of one key succeeded, expected exactly 1")
    })
}
