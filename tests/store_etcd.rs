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
