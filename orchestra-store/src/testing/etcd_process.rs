//! Throwaway etcd servers for tests and benchmarks: one member or a three-member
//! cluster on free loopback ports, in a temporary directory, stopped and removed on
//! drop. A member can be killed and restarted on its data, as a crash and a reboot
//! would.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{EtcdStore, EtcdStoreConfig};
use orchestra_core::Store;

/// One etcd member: running, or killed and ready to restart.
#[derive(Debug)]
pub struct EtcdMember {
    child: Child,
    /// How it was started, to start it again the same way.
    command: Vec<String>,
    dir: PathBuf,
    /// Its client URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
}

impl EtcdMember {
    /// Starts `etcd` with `command` (its arguments after `--data-dir dir`).
    fn spawn(command: &[String], dir: &PathBuf) -> Child {
        Command::new("etcd")
            .arg("--data-dir")
            .arg(dir)
            .args(command)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts")
    }

    /// Stops the member at once (SIGKILL), as a crash would. Its data stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a killed member again on its data, as a machine coming back would: it
    /// rejoins the cluster it was part of. Does nothing to a member that is running.
    ///
    /// # Panics
    /// If `etcd` cannot be started.
    pub fn restart(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        self.child = Self::spawn(&self.command, &self.dir);
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the `etcd` binary is installed.
pub fn etcd_installed() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running etcd cluster of one or more members.
#[derive(Debug)]
pub struct EtcdCluster {
    /// The members, in start order.
    pub members: Vec<EtcdMember>,
}

impl EtcdCluster {
    /// Starts `size` members (1 or 3, say) and waits until a store can reach them.
    ///
    /// # Panics
    /// If `etcd` cannot be started or does not become ready within 20 s.
    pub async fn start(size: usize) -> EtcdCluster {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let initial = initial.join(",");
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let dir = std::env::temp_dir()
                .join(format!("orchestra-etcd-{}-{client}", std::process::id()));
            let endpoint = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            // On a restart etcd reads the cluster from its data and ignores the
            // `--initial-*` flags, so the same command serves both.
            let command: Vec<String> = [
                "--name",
                &format!("m{i}"),
                "--listen-client-urls",
                &endpoint,
                "--advertise-client-urls",
                &endpoint,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
            ]
            .map(str::to_owned)
            .to_vec();
            let child = EtcdMember::spawn(&command, &dir);
            members.push(EtcdMember {
                child,
                command,
                dir,
                endpoint,
            });
        }
        let cluster = EtcdCluster { members };
        for _ in 0..200 {
            if let Ok(store) = EtcdStore::connect(EtcdStoreConfig::new(cluster.endpoints())).await {
                if store.current_revision().await.is_ok() {
                    return cluster;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd did not become ready at {:?}", cluster.endpoints());
    }

    /// The members' client URLs.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.endpoint.clone()).collect()
    }

    /// The index of the current leader among [`EtcdCluster::members`], asked of each
    /// live member through etcd's JSON gateway (`/v3/maintenance/status`).
    pub fn leader(&self) -> Option<usize> {
        use std::io::{Read, Write};
        let field = |body: &str, name: &str| -> Option<String> {
            let start = body.find(&format!("\"{name}\":\""))? + name.len() + 4;
            Some(body[start..].split('"').next()?.to_owned())
        };
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
            match (field(&response, "member_id"), field(&response, "leader")) {
                (Some(member), Some(leader)) if member == leader => return Some(i),
                _ => {}
            }
        }
        None
    }
}
