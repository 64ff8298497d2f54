//! DurableStore: the conformance suite, reopening (state, revisions, watches resumed
//! across a restart), damaged files, and the crash test: a child process writing as
//! fast as it can is killed with SIGKILL, and every write it saw acknowledged must be
//! there after reopening.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{ListOptions, Store, StoreError, WatchEvent};
use orchestra_store::{DurableStore, DurableStoreConfig, testing};

/// Each conformance case gets a fresh directory under one temporary directory that
/// lives as long as the test.
fn builder(
    config: DurableStoreConfig,
) -> (
    tempfile::TempDir,
    impl Fn() -> futures::future::BoxFuture<'static, Arc<dyn Store>> + Send + Sync,
) {
    let root = tempfile::tempdir().expect("a temporary directory");
    let path = root.path().to_path_buf();
    let next = Arc::new(AtomicUsize::new(0));
    let build = move || {
        let dir = path.join(next.fetch_add(1, Ordering::Relaxed).to_string());
        let config = config.clone();
        let open: futures::future::BoxFuture<'static, Arc<dyn Store>> = Box::pin(async move {
            let store = tokio::task::spawn_blocking(move || {
                DurableStore::open_with_config(dir, config).expect("a fresh store opens")
            })
            .await
            .expect("open does not panic");
            Arc::new(store) as Arc<dyn Store>
        });
        open
    };
    (root, build)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_store_passes_the_conformance_suite() {
    let (_root, build) = builder(DurableStoreConfig::default());
    testing::run_all(build).await.assert_passed();
}

#[tokio::test]
async fn durable_store_passes_the_conformance_suite_on_one_thread() {
    let (_root, build) = builder(DurableStoreConfig::default());
    testing::run_all(build).await.assert_passed();
}

fn value(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_restores_state_revisions_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, deleted, last) = {
        let store = DurableStore::open(dir.path()).unwrap();
        let a = store.create(b"/r/a", value("a1")).await.unwrap();
        let a = store
            .update(b"/r/a", value("a2"), a.mod_revision)
            .await
            .unwrap();
        let b = store.create(b"/r/b", value("b1")).await.unwrap();
        let deleted = store.create(b"/r/c", value("c1")).await.unwrap();
        store.delete(b"/r/c", None).await.unwrap();
        let last = store.current_revision().await.unwrap();
        (a, b, deleted, last)
    };
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert_eq!(store.get(b"/r/a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get(b"/r/b").await.unwrap(), Some(b));
    assert_eq!(store.get(b"/r/c").await.unwrap(), None);
    // Past reads still work across the restart.
    let past = store
        .list(
            b"/r/",
            ListOptions::default().at_revision(deleted.mod_revision),
        )
        .await
        .unwrap();
    assert_eq!(past.kvs.len(), 3);
    // And the next write continues the revision sequence.
    let next = store.create(b"/r/d", value("d")).await.unwrap();
    assert_eq!(next.mod_revision, last + 1);
    let updated = store
        .update(b"/r/a", value("a3"), a.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.version, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_resume_from_any_retained_revision_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut revisions = Vec::new();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        for i in 0..20 {
            let kv = store
                .create(format!("/w/{i}").as_bytes(), value("x"))
                .await
                .unwrap();
            revisions.push(kv.mod_revision);
        }
        store.compact(revisions[5]).await.unwrap();
    }
    let store = DurableStore::open(dir.path()).unwrap();
    assert_eq!(store.compact_revision().await.unwrap(), revisions[5]);
    let compacted = store.watch(b"/w/", revisions[2]).await;
    assert!(matches!(compacted, Err(StoreError::Compacted { .. })));
    let mut watch = store.watch(b"/w/", revisions[10]).await.unwrap();
    let late = store.create(b"/w/late", value("y")).await.unwrap();
    let mut seen = Vec::new();
    while seen.last() != Some(&late.mod_revision) {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch delivers")
            .unwrap()
            .unwrap();
        assert!(matches!(event, WatchEvent::Put { .. }));
        seen.push(event.revision());
    }
    let mut expected = revisions[11..].to_vec();
    expected.push(late.mod_revision);
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_compaction_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let config = DurableStoreConfig::default().history(10);
    let mut kv = {
        let store = DurableStore::open_with_config(dir.path(), config.clone()).unwrap();
        let mut kv = store.create(b"/c/k", value("0")).await.unwrap();
        for i in 1..200 {
            kv = store
                .update(b"/c/k", value(&i.to_string()), kv.mod_revision)
                .await
                .unwrap();
            store
                .create(format!("/c/n/{i}").as_bytes(), value("n"))
                .await
                .unwrap();
        }
        kv
    };
    for round in 0..2 {
        let store = DurableStore::open_with_config(dir.path(), config.clone()).unwrap();
        let compacted = store.compact_revision().await.unwrap();
        let current = store.current_revision().await.unwrap();
        assert!(
            compacted > 0 && current - compacted <= 20,
            "{compacted} / {current}"
        );
        assert_eq!(
            store.get(b"/c/k").await.unwrap(),
            Some(kv.clone()),
            "round {round}"
        );
        let all = store.list(b"/c/n/", ListOptions::default()).await.unwrap();
        assert_eq!(all.kvs.len(), 199 + round);
        kv = store
            .update(b"/c/k", value("again"), kv.mod_revision)
            .await
            .unwrap();
        store
            .create(format!("/c/n/extra{round}").as_bytes(), value("n"))
            .await
            .unwrap();
    }
}

#[test]
fn a_foreign_or_damaged_file_is_a_corrupt_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store.redb");
    std::fs::write(&file, vec![0x5a; 64 * 1024]).unwrap();
    match DurableStore::open(dir.path()) {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
        other => panic!("expected Corrupt naming the file, got {other:?}"),
    }
    // A store whose file was truncated behind its back.
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let store = DurableStore::open(dir.path()).unwrap();
        runtime.block_on(async {
            for i in 0..100 {
                store
                    .create(format!("/t/{i}").as_bytes(), value("x"))
                    .await
                    .unwrap();
            }
        });
    }
    let file = dir.path().join("store.redb");
    let len = std::fs::metadata(&file).unwrap().len();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..(len / 3) as usize]).unwrap();
    match DurableStore::open(dir.path()) {
        Err(StoreError::Corrupt(message)) | Err(StoreError::Unavailable { message, .. }) => {
            assert!(message.contains("store.redb"), "{message}");
        }
        Ok(_) => panic!("a truncated file opened"),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// Set in the child process of the crash test: the store directory to write into.
const CHILD_DIR: &str = "ORCHESTRA_CRASH_CHILD_DIR";

/// The child half of the crash test: writes until killed, printing each acknowledged
/// write. Without the environment variable (a normal test run) it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_writes_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let store = Arc::new(DurableStore::open(&dir).expect("the child opens the store"));
    let pid = std::process::id();
    let mut writers = Vec::new();
    for w in 0..16 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("/crash/{pid}/{w}/{i}");
                let kv = store.create(key.as_bytes(), value("v")).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {key} {}", kv.mod_revision).unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// A small seeded generator (xorshift), so a failing run can be repeated.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

const CRASHES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last_revision = 0;
    let mut acked_total = 0;
    let started = Instant::now();
    for crash in 0..CRASHES {
        let delay = Duration::from_millis(50 + next_random(&mut rng) % 250);
        let output = tokio::task::block_in_place(|| run_and_kill(&exe, dir.path(), delay));
        let acks = parse_acks(&output);
        let store = DurableStore::open(dir.path()).unwrap_or_else(|e| {
            panic!(
                "seed {seed}, crash {crash} ({} acks): reopening failed: {e}",
                acks.len()
            );
        });
        let current = store.current_revision().await.unwrap();
        assert!(
            current >= last_revision,
            "seed {seed}, crash {crash}: revision went back from {last_revision} to {current}"
        );
        for (key, revision) in &acks {
            let kv = store.get(key.as_bytes()).await.unwrap();
            assert_eq!(
                kv.map(|kv| kv.mod_revision),
                Some(*revision),
                "seed {seed}, crash {crash}: acknowledged {key} at {revision} is lost"
            );
            assert!(*revision <= current);
        }
        let mut revisions: Vec<u64> = acks.iter().map(|(_, revision)| *revision).collect();
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(
            revisions.len(),
            acks.len(),
            "seed {seed}, crash {crash}: a revision was acknowledged twice"
        );
        assert!(
            revisions.first().is_none_or(|first| *first > last_revision),
            "seed {seed}, crash {crash}: a write reused a revision from before the restart"
        );
        acked_total += acks.len();
        last_revision = current;
    }
    println!(
        "{CRASHES} crashes, {acked_total} acknowledged writes all found, final revision \
         {last_revision}, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(acked_total > 0, "the children acknowledged nothing");
}

/// Runs the child against `dir` and kills it with SIGKILL after `delay`; returns what
/// it printed.
fn run_and_kill(exe: &Path, dir: &Path, delay: Duration) -> Vec<u8> {
    let mut child = Command::new(exe)
        .args(["crash_child_writes_until_killed", "--exact", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
        out
    });
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    reader.join().unwrap()
}

/// The complete `ACK key revision` lines (a line cut by the kill is ignored).
fn parse_acks(output: &[u8]) -> Vec<(String, u64)> {
    let text = String::from_utf8_lossy(output);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("ACK ")?.split(' ');
            Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
        })
        .collect()
}
