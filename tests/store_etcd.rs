//! EtcdStore against a real etcd started by the test on free loopback ports: the Store
//! conformance suite, unchanged, and the key prefix that lets clusters share one etcd.
//!
//! Needs the `etcd` binary (Debian: `etcd-server`). Without it the tests say loudly
//! that they were skipped — except under CI (`CI` set), where that is a failure.
#![cfg(feature = "etcd")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use orchestra::core::Store;
use orchestra::store::{EtcdStore, EtcdStoreConfig, testing};

/// A single-member etcd in a temporary directory, stopped and removed on drop.
struct Etcd {
    child: Child,
    dir: PathBuf,
    endpoint: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn etcd_binary() -> Option<&'static str> {
    let found = Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return Some("etcd");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "etcd is not installed, and CI must run the etcd tests (.ci/run installs etcd-server)"
    );
    eprintln!(
        "\n*** SKIPPED: the `etcd` binary is not installed (Debian: apt-get install etcd-server); EtcdStore untested ***\n"
    );
    None
}

async fn start_etcd() -> Option<Etcd> {
    let binary = etcd_binary()?;
    let (client, peer) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("orchestra-etcd-{}-{client}", std::process::id()));
    let endpoint = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new(binary)
        .args(["--name", "t", "--data-dir"])
        .arg(&dir)
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
        .args(["--initial-cluster", &format!("t={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd starts");
    let etcd = Etcd {
        child,
        dir,
        endpoint,
    };
    for _ in 0..100 {
        if let Ok(store) = EtcdStore::connect(EtcdStoreConfig::new([etcd.endpoint.clone()])).await {
            if store.current_revision().await.is_ok() {
                return Some(etcd);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("etcd did not come up at {}", etcd.endpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_conforms() {
    let Some(etcd) = start_etcd().await else {
        return;
    };
    let endpoint = etcd.endpoint.clone();
    testing::run_all(move || {
        let endpoint = endpoint.clone();
        async move {
            let config = EtcdStoreConfig::new([endpoint]).key_prefix("/suite");
            Arc::new(EtcdStore::connect(config).await.expect("connect")) as Arc<dyn Store>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_clusters_apart() {
    let Some(etcd) = start_etcd().await else {
        return;
    };
    let a = EtcdStore::connect(EtcdStoreConfig::new([etcd.endpoint.clone()]).key_prefix("/a"))
        .await
        .unwrap();
    let b = EtcdStore::connect(EtcdStoreConfig::new([etcd.endpoint.clone()]).key_prefix("/b"))
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

/// A three-member etcd cluster on loopback ports.
struct Cluster {
    members: Vec<Etcd>,
}

async fn start_cluster() -> Option<Cluster> {
    let binary = etcd_binary()?;
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect();
    let initial = initial.join(",");
    let mut members = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let dir =
            std::env::temp_dir().join(format!("orchestra-etcd-{}-{client}", std::process::id()));
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(binary)
            .args(["--name", &format!("m{i}"), "--data-dir"])
            .arg(&dir)
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
            .args([
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts");
        members.push(Etcd {
            child,
            dir,
            endpoint,
        });
    }
    let cluster = Cluster { members };
    for _ in 0..200 {
        if cluster.leader().is_some() {
            return Some(cluster);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the etcd cluster elected no leader");
}

impl Cluster {
    fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.endpoint.clone()).collect()
    }

    /// The index of the current leader, asked of each member through etcd's JSON
    /// gateway (`/v3/maintenance/status`).
    fn leader(&self) -> Option<usize> {
        use std::io::{Read, Write};
        for (i, m) in self.members.iter().enumerate() {
            let addr = m.endpoint.trim_start_matches("http://");
            let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
                continue;
            };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let request = format!(
                "POST /v3/maintenance/status HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
            if conn.write_all(request.as_bytes()).is_err() {
                continue;
            }
            let mut response = String::new();
            let _ = conn.read_to_string(&mut response);
            let Some(body) = response.split("\r\n\r\n").nth(1) else {
                continue;
            };
            let Ok(status) = serde_json::from_str::<serde_json::Value>(body.trim()) else {
                continue;
            };
            let member = status["header"]["member_id"].as_str().unwrap_or_default();
            let leader = status["leader"].as_str().unwrap_or("0");
            if !member.is_empty() && member == leader {
                return Some(i);
            }
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_watches_survive_losing_the_leader() {
    let Some(mut cluster) = start_cluster().await else {
        return;
    };
    let store = Arc::new(
        EtcdStore::connect(EtcdStoreConfig::new(cluster.endpoints()).key_prefix("/ha"))
            .await
            .unwrap(),
    );
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch(b"/w/", start).await.unwrap();

    let mut written = Vec::new();
    for i in 0..200 {
        if i == 50 {
            let leader = cluster.leader().expect("a leader");
            let mut member = cluster.members.remove(leader);
            member.child.kill().unwrap();
            member.child.wait().unwrap();
            eprintln!("stopped the leader, member {leader}");
        }
        let kv = store
            .create(
                format!("/w/{i:03}").as_bytes(),
                bytes::Bytes::from_static(b"x"),
            )
            .await
            .expect("a write outlives the election");
        written.push(kv.mod_revision);
    }
    use futures::StreamExt;
    let mut seen = Vec::new();
    while seen.len() < written.len() {
        let event = tokio::time::timeout(Duration::from_secs(30), watch.next())
            .await
            .expect("events keep coming")
            .unwrap()
            .unwrap();
        seen.push(event.revision());
    }
    assert_eq!(seen, written, "the watch resumed without gaps or repeats");
}
