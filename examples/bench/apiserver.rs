//! `apiserver`: the API server over a MemoryStore registry, driven over loopback by a
//! client in another process (this binary again, as `apiserver-client`), so the
//! client's work does not count as the server's.
//!
//! Phases: GETs of one object over C keep-alive connections for a fixed time; pod
//! creates over C connections for the same time; one LIST of N pods (another
//! namespace's) as JSON: its time, and the server's RSS growth while serving it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use orchestra::apiserver::ApiServer;
use orchestra::core::{Registry, Store};
use orchestra::store::MemoryStore;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

pub async fn run(args: &mut Args) -> Result<(), String> {
    let connections: usize = args.get("connections", 64)?;
    let seconds: u64 = args.get("seconds", 5)?;
    let list_pods: usize = args.get("list-pods", 100_000)?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::new(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let stop = CancellationToken::new();
    let server = tokio::spawn(
        ApiServer::builder(registry)
            .build()
            .serve(listener, stop.clone()),
    );

    let client = |mode: &str, extra: &[String]| {
        let exe = std::env::current_exe().expect("the bench binary");
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("apiserver-client")
            .args(["--url", &url, "--mode", mode])
            .args(["--connections", &connections.to_string()])
            .args(["--seconds", &seconds.to_string()])
            .args(extra)
            .kill_on_drop(true);
        command
    };
    let run_client = |mut command: tokio::process::Command| async move {
        let out = command.output().await.map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("CLIENT "))
            .ok_or("the client printed no figures")?
            .to_owned();
        serde_json::from_str::<serde_json::Value>(&line).map_err(|e| e.to_string())
    };

    let get = run_client(client("get", &[])).await?;
    let create = run_client(client("create", &[])).await?;
    // The pods to list, then one LIST of them all.
    run_client(client("fill", &["--count".into(), list_pods.to_string()])).await?;
    let (rss_before, _) = rss();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss().0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let list = run_client(client("list", &[])).await?;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let list_extra = peak.load(Ordering::Relaxed).saturating_sub(rss_before);

    stop.cancel();
    let _ = server.await;

    let mut table = Table::new(format!(
        "API server over loopback, {connections} keep-alive connections, client in another process"
    ));
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    table.row("GET one pod", thousands(f(&get, "per_sec")), "requests/s");
    table.row("GET p99", format!("{:.2}", f(&get, "p99_ms")), "ms");
    table.row("create pod", thousands(f(&create, "per_sec")), "requests/s");
    table.row("create p99", format!("{:.2}", f(&create, "p99_ms")), "ms");
    table.row(
        format!("LIST of {} pods (JSON)", thousands(f(&list, "items"))),
        format!("{:.0}", f(&list, "ms")),
        "ms",
    );
    table.row(
        "server RSS growth while listing",
        thousands(list_extra as f64),
        "bytes",
    );
    table.print();
    result_line(serde_json::json!({
        "scenario": "apiserver",
        "connections": connections,
        "get_per_sec": f(&get, "per_sec"),
        "get_p99_ms": f(&get, "p99_ms"),
        "create_per_sec": f(&create, "per_sec"),
        "create_p99_ms": f(&create, "p99_ms"),
        "list_items": f(&list, "items"),
        "list_100k_ms": f(&list, "ms"),
        "list_100k_extra_rss_bytes": list_extra,
    }));
    Ok(())
}

/// This process's (RSS, peak RSS) in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(url: &str) -> Result<Sender, String> {
    let addr = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn call(
    sender: &mut Sender,
    method: &str,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

fn pod_json(name: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "web", "image": "web-server:1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
        })
        .to_string(),
    )
}

/// The pods the LIST reads; the GET and create phases use namespaces of their own.
const PODS: &str = "/api/v1/namespaces/default/pods";
const GET_PODS: &str = "/api/v1/namespaces/get/pods";
const CREATE_PODS: &str = "/api/v1/namespaces/create/pods";

/// The client side, in its own process: prints `CLIENT {json}`.
pub async fn client(args: &mut Args) -> Result<(), String> {
    let url: String = args.get("url", String::new())?;
    let mode: String = args.get("mode", String::new())?;
    let connections: usize = args.get("connections", 64)?;
    let seconds: u64 = args.get("seconds", 5)?;
    let count: usize = args.get("count", 0)?;
    match mode.as_str() {
        "get" | "create" => {
            let mut first = connect(&url).await?;
            if mode == "get" {
                let (status, _) = call(&mut first, "POST", GET_PODS, pod_json("target")).await?;
                if status != 201 && status != 409 {
                    return Err(format!("creating the target pod: {status}"));
                }
            }
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut tasks = Vec::new();
            let started = Instant::now();
            for c in 0..connections {
                let (url, mode) = (url.clone(), mode.clone());
                tasks.push(tokio::spawn(async move {
                    let mut sender = connect(&url).await?;
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let (status, _) = if mode == "get" {
                            call(
                                &mut sender,
                                "GET",
                                &format!("{GET_PODS}/target"),
                                Bytes::new(),
                            )
                            .await?
                        } else {
                            call(
                                &mut sender,
                                "POST",
                                CREATE_PODS,
                                pod_json(&format!("c{c}-{n}")),
                            )
                            .await?
                        };
                        if status >= 300 {
                            return Err(format!("{mode} answered {status}"));
                        }
                        latencies.push(t.elapsed());
                        n += 1;
                    }
                    Ok::<_, String>(latencies)
                }));
            }
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.map_err(|e| e.to_string())??);
            }
            let elapsed = started.elapsed();
            all.sort();
            let p99 = all
                .get(all.len().saturating_sub(1) * 99 / 100)
                .copied()
                .unwrap_or_default();
            println!(
                "CLIENT {}",
                serde_json::json!({
                    "requests": all.len(),
                    "per_sec": per_sec(all.len() as u64, elapsed),
                    "p99_ms": p99.as_secs_f64() * 1000.0,
                })
            );
        }
        "fill" => {
            let per = count.div_ceil(connections.max(1));
            let mut tasks = Vec::new();
            for c in 0..connections {
                let url = url.clone();
                let n = per.min(count.saturating_sub(c * per));
                tasks.push(tokio::spawn(async move {
                    let mut sender = connect(&url).await?;
                    for i in 0..n {
                        let (status, _) =
                            call(&mut sender, "POST", PODS, pod_json(&format!("f{c}-{i}"))).await?;
                        if status != 201 {
                            return Err(format!("fill answered {status}"));
                        }
                    }
                    Ok::<_, String>(())
                }));
            }
            for task in tasks {
                task.await.map_err(|e| e.to_string())??;
            }
            println!("CLIENT {}", serde_json::json!({"created": count}));
        }
        "list" => {
            let mut sender = connect(&url).await?;
            let started = Instant::now();
            let (status, body) = call(&mut sender, "GET", PODS, Bytes::new()).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if status != 200 {
                return Err(format!("list answered {status}"));
            }
            let list: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            let items = list["items"].as_array().map_or(0, Vec::len);
            println!(
                "CLIENT {}",
                serde_json::json!({"ms": ms, "items": items, "bytes": body.len()})
            );
        }
        other => return Err(format!("unknown client mode {other:?}")),
    }
    Ok(())
}
