//! Cases for the store-wide revision and for guarded writes racing each other: of many
//! writers with the same expectation, exactly one wins.

use std::sync::Arc;

use orchestra_core::{KeyValue, Store, StoreError};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::{CaseResult, Step, ensure, ensure_eq, key, value};

/// How many tasks race in each round.
const RACERS: usize = 32;
/// How many rounds each race case runs.
const ROUNDS: usize = 8;

/// Every write (create, update, delete) takes a revision strictly above every earlier
/// one, and `current_revision` is at least the last write's revision.
pub(super) async fn revisions_strictly_increase(
    store: Arc<dyn Store>,
    prefix: String,
) -> CaseResult {
    let mut last = store.current_revision().await.step("current_revision")?;
    for i in 0..20 {
        let k = key(&prefix, &format!("k{i:02}"));
        let created = store.create(&k, value("v1")).await.step("create")?;
        ensure!(
            created.mod_revision > last,
            "create {i}: expected a revision above {last}, got {}",
            created.mod_revision
        );
        let updated = store
            .update(&k, value("v2"), created.mod_revision)
            .await
            .step("update")?;
        ensure!(
            updated.mod_revision > created.mod_revision,
            "update {i}: expected a revision above {}, got {}",
            created.mod_revision,
            updated.mod_revision
        );
        last = updated.mod_revision;
        let current = store.current_revision().await.step("current_revision")?;
        ensure!(
            current >= last,
            "current_revision after update {i}: expected >= {last} (the update's revision), got {current}"
        );
        if i % 2 == 0 {
            store.delete(&k, None).await.step("delete")?;
            // The deletion's own revision is not returned; current_revision must have
            // moved past the update for it.
            let current = store.current_revision().await.step("current_revision")?;
            ensure!(
                current > last,
                "current_revision after delete {i}: expected the deletion to take a revision above {last}, got {current}"
            );
            last = current;
        }
    }
    Ok(())
}

/// `ROUNDS` rounds of `RACERS` tasks updating one key, all guarded by the same
/// `mod_revision`: exactly one wins each round, every other gets `Conflict` carrying the
/// winner's revision, and the key ends at the winner's state.
pub(super) async fn update_race_one_winner(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    let k = key(&prefix, "contended");
    let mut current = store.create(&k, value("start")).await.step("create")?;
    for round in 0..ROUNDS {
        let expected = current.mod_revision;
        let results = race(RACERS, |racer| {
            let store = store.clone();
            let k = k.clone();
            async move {
                store
                    .update(&k, value(&format!("r{round}-{racer}")), expected)
                    .await
            }
        })
        .await?;
        let winner = one_winner(&results, &format!("update round {round}"))?;
        ensure_eq!(
            winner.version,
            current.version + 1,
            "update round {round}: the winner's version"
        );
        for (racer, result) in results.iter().enumerate() {
            match result {
                Ok(_) => {}
                Err(StoreError::Conflict {
                    expected: e,
                    current: c,
                    ..
                }) if *e == expected && *c == winner.mod_revision => {}
                other => {
                    return Err(format!(
                        "update round {round}, racer {racer}: expected success or Conflict {{ expected: {expected}, current: {} }}, got {other:?}",
                        winner.mod_revision
                    ));
                }
            }
        }
        let got = store.get(&k).await.step("get")?;
        ensure_eq!(
            got.as_ref(),
            Some(&winner),
            "get after update round {round}"
        );
        current = winner;
    }
    Ok(())
}

/// `ROUNDS` rounds of `RACERS` tasks creating the same fresh key: exactly one wins, the
/// rest get `AlreadyExists`, and the key holds the winner's value.
pub(super) async fn create_race_one_winner(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    for round in 0..ROUNDS {
        let k = key(&prefix, &format!("round-{round}"));
        let results = race(RACERS, |racer| {
            let store = store.clone();
            let k = k.clone();
            async move { store.create(&k, value(&format!("racer-{racer}"))).await }
        })
        .await?;
        let winner = one_winner(&results, &format!("create round {round}"))?;
        ensure_eq!(
            winner.version,
            1,
            "create round {round}: the winner's version"
        );
        for (racer, result) in results.iter().enumerate() {
            ensure!(
                matches!(result, Ok(_) | Err(StoreError::AlreadyExists { .. })),
                "create round {round}, racer {racer}: expected success or AlreadyExists, got {result:?}"
            );
        }
        let got = store.get(&k).await.step("get")?;
        ensure_eq!(
            got.as_ref(),
            Some(&winner),
            "get after create round {round}"
        );
    }
    Ok(())
}

/// `ROUNDS` rounds of `RACERS` tasks deleting one key, unguarded: exactly one gets the
/// key's last state, the rest get `NotFound`.
pub(super) async fn delete_race_one_winner(store: Arc<dyn Store>, prefix: String) -> CaseResult {
    for round in 0..ROUNDS {
        let k = key(&prefix, &format!("round-{round}"));
        let created = store.create(&k, value("doomed")).await.step("create")?;
        let results = race(RACERS, |_| {
            let store = store.clone();
            let k = k.clone();
            async move { store.delete(&k, None).await }
        })
        .await?;
        let winner = one_winner(&results, &format!("delete round {round}"))?;
        ensure_eq!(
            winner,
            created,
            "delete round {round}: the winner's previous state"
        );
        for (racer, result) in results.iter().enumerate() {
            ensure!(
                matches!(result, Ok(_) | Err(StoreError::NotFound { .. })),
                "delete round {round}, racer {racer}: expected success or NotFound, got {result:?}"
            );
        }
        let got = store.get(&k).await.step("get")?;
        ensure_eq!(got, None, "get after delete round {round}");
    }
    Ok(())
}

/// Runs `n` copies of a write, released together by a barrier, each on its own task;
/// returns their results by racer index.
async fn race<F, Fut>(n: usize, write: F) -> Result<Vec<Result<KeyValue, StoreError>>, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<KeyValue, StoreError>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for racer in 0..n {
        let barrier = barrier.clone();
        let write = write(racer);
        tasks.spawn(async move {
            barrier.wait().await;
            (racer, write.await)
        });
    }
    let mut results: Vec<Option<Result<KeyValue, StoreError>>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (racer, result) = joined.map_err(|e| format!("a racing task failed: {e}"))?;
        results[racer] = Some(result);
    }
    Ok(results.into_iter().flatten().collect())
}

/// The single successful result among `results`, or a failure saying how many won.
fn one_winner(results: &[Result<KeyValue, StoreError>], what: &str) -> Result<KeyValue, String> {
    let winners: Vec<&KeyValue> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    match winners.as_slice() {
        [winner] => Ok((*winner).clone()),
        _ => Err(format!(
            "{what}: expected exactly one of {} racers to win, {} won: {winners:?}",
            results.len(),
            winners.len()
        )),
    }
}
