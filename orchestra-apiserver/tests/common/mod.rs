//! A server on a loopback port over an in-memory registry, and a small HTTP client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use orchestra_apiserver::ApiServer;
use orchestra_core::{Registry, Store};
use orchestra_store::MemoryStore;
use tokio_util::sync::CancellationToken;

/// A running server; dropping it stops the server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub registry: Registry,
    pub store: Arc<dyn Store>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let registry = Registry::new(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = ApiServer::builder(registry.clone()).build();
        let task = tokio::spawn(server.serve(listener, stop.clone()));
        TestServer {
            addr,
            registry,
            store,
            stop,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// One request on a fresh connection: status, content type and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut sender = self.connect().await;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], Bytes::new()).await
    }

    pub async fn send_json(&self, method: &str, path: &str, body: serde_json::Value) -> Reply {
        self.call(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Opens a streaming request (a watch): the response, to read line by line.
    pub async fn open(&self, path: &str) -> hyper::Response<hyper::body::Incoming> {
        self.open_with(path, &[]).await
    }

    /// [`open`](Self::open) with request headers.
    pub async fn open_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> hyper::Response<hyper::body::Incoming> {
        let mut sender = self.connect().await;
        let mut request = Request::builder()
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        sender
            .send_request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    }

    async fn connect(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a Status reply with `code` and `reason`, and returns it.
    pub fn status(&self, code: u16, reason: &str) -> serde_json::Value {
        let json = self.json();
        assert_eq!(self.status, code, "{json}");
        assert_eq!(json["kind"], "Status", "{json}");
        assert_eq!(json["code"], code, "{json}");
        assert_eq!(json["reason"], reason, "{json}");
        json
    }
}

/// Reads watch lines from a streaming response until `n` events arrived.
pub async fn read_events(
    body: &mut hyper::body::Incoming,
    buffer: &mut Vec<u8>,
    n: usize,
) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    while events.len() < n {
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            events.push(serde_json::from_slice(&line).unwrap());
            if events.len() == n {
                return events;
            }
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("a watch event within 10 s")
            .expect("the watch still open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
    events
}

pub fn pod(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web-server:1"}]}
    })
}
