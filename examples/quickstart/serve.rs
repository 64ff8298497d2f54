//! The demo's web server, and the client that fetches a page from it. Standard library
//! only: with `--runtime process` every replica is this binary started as
//! `quickstart --serve 0 --image web-server:N`.
//!
//! Replicas share the host's network (ProcessRuntime has no network namespaces) and one
//! pod template, so they cannot be told a port each: a replica asks for any free port
//! (`--serve 0`) and prints it, and the demo reads it from the pod's log, as `kubectl
//! logs` would show it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// The line a replica prints once it listens; the port follows it.
pub const LISTENING: &str = "listening on 127.0.0.1:";

/// Serves until killed: every request gets a one-line page naming the image, the
/// process and the port.
pub fn serve(port: u16, image: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let port = listener.local_addr()?.port();
    println!("{image} {LISTENING}{port}");
    std::io::stdout().flush()?;
    let body = format!(
        "hello from {image} (pid {}, port {port})\n",
        std::process::id()
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        // A slow or silent client must not hold the only thread forever.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request_line = String::new();
        let mut reader = BufReader::new(&mut stream);
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        // Skip the headers up to the blank line.
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    Ok(())
}

/// `GET /` from 127.0.0.1:`port`; the body, or why not.
pub fn fetch(port: u16) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.trim_end().to_owned()),
        _ => Err(format!("unexpected response {response:?}")),
    }
}

/// The port a replica's log says it listens on.
pub fn port_from_log(log: &str) -> Option<u16> {
    log.lines()
        .find_map(|l| l.split_once(LISTENING))
        .and_then(|(_, port)| port.trim().parse().ok())
}
