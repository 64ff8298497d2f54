//! Cases on stats and probes of a running container.
//!
//! TCP and HTTP probes go to listeners the kit opens on 127.0.0.1 and declares as the
//! container's ports: a runtime on the host network reaches them by connecting, a
//! simulated one by honouring the declared ports.

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{
    Container, ContainerPort, ExecAction, HttpGetAction, IntOrString, ProbeHandler, TcpSocketAction,
};
use orchestra_core::runtime::{ContainerId, ProbeOutcome, Runtime, RuntimeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{CaseResult, Pod, Step, ensure, wait_exited, wait_running};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn stats_of_running(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "sleep", &["30"]).await?;
    wait_running(&*runtime, &id).await?;
    let first = runtime.stats(&id).await.step("stats")?;
    ensure!(
        first.memory_bytes > 0,
        "a running container uses some memory: {first:?}"
    );
    let second = runtime.stats(&id).await.step("second stats")?;
    ensure!(
        second.cpu_usage_nanos >= first.cpu_usage_nanos,
        "CPU time went backwards: {first:?} then {second:?}"
    );
    let done = pod.start(&*runtime, "done", "true", &[]).await?;
    wait_exited(&*runtime, &done).await?;
    match runtime.stats(&done).await {
        Err(RuntimeError::InvalidState { .. }) => Ok(()),
        other => Err(format!(
            "stats of an exited container: expected InvalidState, got {other:?}"
        )),
    }
}

fn exec_action(command: &str) -> ProbeHandler {
    ProbeHandler::Exec(ExecAction {
        command: vec![command.to_owned()],
    })
}

fn tcp_action(port: IntOrString) -> ProbeHandler {
    ProbeHandler::TcpSocket(TcpSocketAction { port, host: None })
}

fn http_action(port: IntOrString) -> ProbeHandler {
    ProbeHandler::HttpGet(HttpGetAction {
        path: Some("/healthz".to_owned()),
        port,
        host: None,
        scheme: None,
    })
}

async fn probe(
    runtime: &dyn Runtime,
    id: &ContainerId,
    handler: &ProbeHandler,
) -> Result<ProbeOutcome, String> {
    runtime
        .probe(id, handler, PROBE_TIMEOUT)
        .await
        .step(&format!("probe {handler:?}"))
}

async fn expect(
    runtime: &dyn Runtime,
    id: &ContainerId,
    handler: &ProbeHandler,
    success: bool,
) -> CaseResult {
    let outcome = probe(runtime, id, handler).await?;
    ensure!(
        outcome.is_success() == success,
        "probe {handler:?} should {}, got {outcome:?}",
        if success { "succeed" } else { "fail" }
    );
    Ok(())
}

pub(super) async fn exec(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let id = pod.start(&*runtime, "main", "sleep", &["30"]).await?;
    wait_running(&*runtime, &id).await?;
    expect(&*runtime, &id, &exec_action("true"), true).await?;
    expect(&*runtime, &id, &exec_action("false"), false).await?;
    Ok(())
}

/// A port nothing listens on: one the OS just handed out and that was closed again.
fn closed_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("bind a port to close: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

/// Starts a long runner declaring `port` (named `web`).
async fn start_serving(runtime: &dyn Runtime, pod: &Pod, port: u16) -> Result<ContainerId, String> {
    let container = Container {
        name: "server".to_owned(),
        image: "sleep".to_owned(),
        args: vec!["30".to_owned()],
        ports: vec![ContainerPort {
            container_port: i32::from(port),
            name: Some("web".to_owned()),
            ..ContainerPort::default()
        }],
        ..Container::default()
    };
    let id = runtime
        .start_container(pod.config_of(container))
        .await
        .step("start")?;
    wait_running(runtime, &id).await?;
    Ok(id)
}

pub(super) async fn tcp(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let id = start_serving(&*runtime, &pod, port).await?;
    expect(
        &*runtime,
        &id,
        &tcp_action(IntOrString::Int(i32::from(port))),
        true,
    )
    .await?;
    expect(&*runtime, &id, &tcp_action("web".into()), true).await?;
    expect(&*runtime, &id, &tcp_action("no-such-port".into()), false).await?;
    let closed = closed_port()?;
    expect(
        &*runtime,
        &id,
        &tcp_action(IntOrString::Int(i32::from(closed))),
        false,
    )
    .await?;
    drop(listener);
    Ok(())
}

/// A minimal HTTP server answering 200 to every request, until dropped.
struct HttpServer {
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_http() -> Result<HttpServer, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(HttpServer { port, task })
}

pub(super) async fn http(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let server = serve_http().await?;
    let id = start_serving(&*runtime, &pod, server.port).await?;
    expect(
        &*runtime,
        &id,
        &http_action(IntOrString::Int(i32::from(server.port))),
        true,
    )
    .await?;
    expect(&*runtime, &id, &http_action("web".into()), true).await?;
    let closed = closed_port()?;
    expect(
        &*runtime,
        &id,
        &http_action(IntOrString::Int(i32::from(closed))),
        false,
    )
    .await?;
    drop(server);
    Ok(())
}

pub(super) async fn not_running(runtime: Arc<dyn Runtime>, pod: Pod) -> CaseResult {
    let server = serve_http().await?;
    let id = start_serving(&*runtime, &pod, server.port).await?;
    runtime
        .stop_container(&id, Duration::from_secs(10))
        .await
        .step("stop")?;
    for handler in [
        exec_action("true"),
        tcp_action(IntOrString::Int(i32::from(server.port))),
        http_action(IntOrString::Int(i32::from(server.port))),
    ] {
        expect(&*runtime, &id, &handler, false).await?;
    }
    Ok(())
}
