//! EtcdStore against real etcd started by the test on free loopback ports: the Store
//! conformance suite, unchanged; key prefixes; losing the leader of a three-member
//! cluster in the middle of writes and a watch; and what writes cut off by losing the
//! leader, then the quorum, report about whether they took effect.
//!
//! Needs the `etcd` binary (Debian: `etcd-server`). Without it the tests say loudly
//! that they were skipped — except under CI (`CI` set), where that is a failure.
#![cfg(feature = "etcd")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use orchestra::core::{KeyValue, Store, StoreError};
use orchestra::store::testing::{self, EtcdCluster, etcd_installed};
use orchestra::store::{EtcdStore, EtcdStoreConfig};

fn etcd_available() -> bool {
    if etcd_installed() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "etcd is not installed, and CI must run the etcd tests (.ci/run installs etcd-server)"
    );
    eprintln!(
        "\n*** SKIPPED: the `etcd` binary is not installed (Debian: apt-get install etcd-server); EtcdStore untested ***\n"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_conforms() {
    if !etcd_available() {
        return;
    }
    let etcd = EtcdCluster::start(1).await;
    let endpoints = etcd.endpoints();
    testing::run_all(move || {
        let endpoints = endpoints.clone();
        async move {
            let config = EtcdStoreConfig::new(endpoints).key_prefix("/suite");
            Arc::new(EtcdStore::connect(config).await.expect("connect")) as Arc<dyn Store>
        }
    })
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_clusters_apart() {
    if !etcd_available() {
        return;
    }
    let etcd = EtcdCluster::start(1).await;
    let a = EtcdStore::connect(EtcdStoreConfig::new(etcd.endpoints()).key_prefix("/a"))
        .await
        .unwrap();
    let b = EtcdStore::connect(EtcdStoreConfig::new(etcd.endpoints()).key_prefix("/b"))
        .await
        .unwrap();
    a.create(b"/registry/x", bytes::Bytes::from_static(b"1"))
        .await
        .unwrap();
    assert!(b.get(b"/registry/x").await.unwrap().is_none());
    b.create(b"/registry/x", bytes::Bytes::from_static(b"2"))
        .await
        .unwrap();
    let listed = a.list(b"/registry/", Default::default()).await.unwrap();
    assert_eq!(listed.kvs.len(), 1);
    assert_eq!(
        listed.kvs[0].key.as_ref(),
        b"/registry/x",
        "keys come back without the prefix"
    );
}

/// Waits up to 10 s for the live members to agree on a leader, and returns its index.
async fn leader_of(cluster: &EtcdCluster) -> usize {
    for _ in 0..100 {
        if let Some(leader) = cluster.leader() {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cluster elected no leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_watches_survive_losing_the_leader() {
    if !etcd_available() {
        return;
    }
    let mut cluster = EtcdCluster::start(3).await;
    let leader = leader_of(&cluster).await;
    let store = Arc::new(
        EtcdStore::connect(EtcdStoreConfig::new(cluster.endpoints()).key_prefix("/ha"))
            .await
            .unwrap(),
    );
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch(b"/w/", start).await.unwrap();

    let mut created = Vec::new();
    for i in 0..200 {
        if i == 50 {
            cluster.members[leader].kill();
        }
        let key = format!("/w/{i:03}");
        match store
            .create(key.as_bytes(), bytes::Bytes::from_static(b"x"))
            .await
        {
            Ok(kv) => created.push(kv.mod_revision),
            // A write in flight when the leader went may or may not have landed.
            Err(e) if e.is_outcome_unknown() && i < 100 => {}
            Err(e) => panic!("write {i}, long after the election, failed: {e}"),
        }
    }
    // What the watch must deliver up to the list's revision is every key there then,
    // which includes the unknown writes that landed.
    let listed = store.list(b"/w/", Default::default()).await.unwrap();
    let mut written: Vec<_> = listed.kvs.iter().map(|kv| kv.mod_revision).collect();
    written.sort_unstable();
    for revision in &created {
        assert!(
            written.contains(revision),
            "a create that succeeded is there"
        );
    }
    let mut seen = Vec::new();
    while seen.len() < written.len() {
        let next = tokio::time::timeout(Duration::from_secs(30), watch.next()).await;
        seen.push(
            next.expect("events keep coming")
                .expect("the watch is open")
                .expect("no error")
                .revision(),
        );
    }
    assert_eq!(seen, written, "the watch resumed without gaps or repeats");
}

/// What one create of the fault run below returned.
#[derive(Debug)]
enum Outcome {
    Created(KeyValue),
    Unavailable,
    Unknown,
}

/// Counts of the fault run's outcomes so far, for its phases to wait on.
#[derive(Default)]
struct Tally {
    created: AtomicUsize,
    unavailable: AtomicUsize,
}

/// Waits until `done` holds, checking every 50 ms, for at most `limit`; says whether it
/// came true.
async fn until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cut_off_by_losing_the_leader_say_whether_they_took_effect() {
    if !etcd_available() {
        return;
    }
    const WRITERS: usize = 8;
    let mut cluster = EtcdCluster::start(3).await;
    let first_leader = leader_of(&cluster).await;
    // A request that gets no answer in 3 s is given up (as unknown) sooner than etcd's
    // own 7 s wait, to keep the run short.
    let config = EtcdStoreConfig::new(cluster.endpoints())
        .key_prefix("/outcome")
        .request_timeout(Duration::from_secs(3));
    let store = Arc::new(EtcdStore::connect(config).await.unwrap());
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, tally, stop) = (store.clone(), tally.clone(), stop.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("/o/{w}/{i:06}");
                    let value = bytes::Bytes::from(key.clone());
                    let outcome = match store.create(key.as_bytes(), value).await {
                        Ok(kv) => {
                            tally.created.fetch_add(1, Ordering::Relaxed);
                            Outcome::Created(kv)
                        }
                        Err(StoreError::Unavailable { .. }) => {
                            tally.unavailable.fetch_add(1, Ordering::Relaxed);
                            Outcome::Unavailable
                        }
                        Err(StoreError::OutcomeUnknown { .. }) => Outcome::Unknown,
                        // Every key is new: AlreadyExists would be a retry meeting its own
                        // first attempt, the fault this test guards against.
                        Err(e) => panic!("create {key}: {e}"),
                    };
                    outcomes.push((key, outcome));
                }
                outcomes
            })
        })
        .collect();
    let created = || tally.created.load(Ordering::Relaxed);

    // Lose the leader with writes in flight; the cluster elects another and goes on.
    assert!(until(Duration::from_secs(10), || created() >= 200).await);
    cluster.members[first_leader].kill();
    let second_leader = leader_of(&cluster).await;
    let before = created();
    assert!(
        until(Duration::from_secs(20), || created() >= before + 200).await,
        "writes go on under the new leader"
    );

    // Lose that leader too: one member is left, without a quorum, so writes can only
    // fail, and those it turns away ("no leader") must come back as Unavailable.
    cluster.members[second_leader].kill();
    assert!(
        until(Duration::from_secs(30), || {
            tally.unavailable.load(Ordering::Relaxed) >= WRITERS
        })
        .await,
        "writes without a quorum fail as Unavailable"
    );

    // Bring both back on their data: the quorum returns and writes succeed again.
    cluster.members[first_leader].restart();
    cluster.members[second_leader].restart();
    let before = created();
    assert!(
        until(Duration::from_secs(30), || created() >= before + 200).await,
        "writes resume once the quorum is back"
    );
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = std::collections::BTreeMap::new();
    for writer in writers {
        outcomes.extend(writer.await.expect("a writer failed"));
    }

    // An unknown write can still land after its error, even seconds later (a proposal
    // that reached the leader late), so only the final state says which did.
    let listed = store.list(b"/o/", Default::default()).await.unwrap();
    let stored: std::collections::BTreeMap<String, KeyValue> = listed
        .kvs
        .into_iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv))
        .collect();
    let (mut created, mut unavailable, mut landed, mut lost) = (0, 0, 0, 0);
    for (key, outcome) in &outcomes {
        match outcome {
            Outcome::Created(kv) => {
                created += 1;
                assert_eq!(
                    stored.get(key),
                    Some(kv),
                    "{key} was created, so it is there"
                );
            }
            Outcome::Unavailable => {
                unavailable += 1;
                assert_eq!(
                    stored.get(key),
                    None,
                    "{key} failed as Unavailable, so it must not have been applied"
                );
                assert_eq!(store.get(key.as_bytes()).await.unwrap(), None);
            }
            Outcome::Unknown if stored.contains_key(key) => landed += 1,
            Outcome::Unknown => lost += 1,
        }
    }
    for key in stored.keys() {
        assert!(
            outcomes.contains_key(key),
            "{key} is there, but no create wrote it"
        );
    }
    eprintln!(
        "{} creates: {created} created, {unavailable} Unavailable (none applied), {} \
         OutcomeUnknown ({landed} applied, {lost} not)",
        outcomes.len(),
        landed + lost,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_conforms_too() {
    if !etcd_available() {
        return;
    }
    let cluster = EtcdCluster::start(3).await;
    let endpoints = cluster.endpoints();
    testing::run_all(move || {
        let endpoints = endpoints.clone();
        async move {
            let config = EtcdStoreConfig::new(endpoints).key_prefix("/suite3");
            Arc::new(EtcdStore::connect(config).await.expect("connect")) as Arc<dyn Store>
        }
    })
    .await
    .assert_passed();
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tls() {
    if !etcd_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let made = openssl(
        path,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=orchestra-test-ca",
        ],
    ) && openssl(
        path,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ) && openssl(
        path,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    if !made {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl could not make test certificates"
        );
        eprintln!(
            "\n*** SKIPPED: openssl is not available to make test certificates; EtcdStore TLS untested ***\n"
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("https://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut child = std::process::Command::new("etcd")
        .args(["--name", "tls", "--data-dir"])
        .arg(path.join("data"))
        .args([
            "--listen-client-urls",
            &endpoint,
            "--advertise-client-urls",
            &endpoint,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("tls={peer_url}")])
        .arg("--cert-file")
        .arg(path.join("server.pem"))
        .arg("--key-file")
        .arg(path.join("server.key"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ca = std::fs::read(path.join("ca.pem")).unwrap();
    let config = EtcdStoreConfig::new([endpoint.clone()]).tls(orchestra::store::EtcdTls::new(ca));
    let mut store = None;
    for _ in 0..100 {
        if let Ok(s) = EtcdStore::connect(config.clone()).await {
            if s.current_revision().await.is_ok() {
                store = Some(s);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = store.expect("a TLS connection to etcd");
    let kv = store
        .create(b"/tls/key", bytes::Bytes::from_static(b"secret"))
        .await
        .unwrap();
    assert_eq!(store.get(b"/tls/key").await.unwrap(), Some(kv));
    // Without the CA the server is not trusted.
    let untrusted = EtcdStore::connect(
        EtcdStoreConfig::new([endpoint]).request_timeout(Duration::from_secs(2)),
    )
    .await;
    let refused = match untrusted {
        Err(_) => true,
        Ok(s) => s.get(b"/tls/key").await.is_err(),
    };
    assert!(refused, "a client without TLS must not read over https");
    let _ = child.kill();
    let _ = child.wait();
}
