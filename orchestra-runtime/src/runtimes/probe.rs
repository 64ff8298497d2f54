//! Network probes shared by the runtimes whose containers are reachable over TCP: a
//! TCP connect and a minimal HTTP/1.1 GET, each bounded by the probe's timeout.
//!
//! The HTTP client is deliberately tiny (one request, `Connection: close`, only the
//! status line is read): a probe needs the status code, and a full HTTP stack would be
//! a heavy dependency for that. HTTPS is not supported and fails with a message saying
//! so.

use std::net::IpAddr;
use std::time::Duration;

use orchestra_core::kinds::{ContainerPort, HttpGetAction, IntOrString, TcpSocketAction};
use orchestra_core::runtime::ProbeOutcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of an HTTP response read while looking for the status line.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// The port a probe's `port` means for a container with `ports`: a number as is, a
/// name through the container's named ports.
pub(crate) fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .ok_or_else(|| format!("no port named {name:?}"))?,
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port {number}"))
}

/// The host to connect to: the action's `host` if it names an address, else `default`.
fn host(explicit: Option<&str>, default: IpAddr) -> Result<IpAddr, String> {
    match explicit {
        None | Some("") => Ok(default),
        Some(h) => h
            .parse()
            .map_err(|_| format!("host {h:?} is not an IP address")),
    }
}

async fn connect(ip: IpAddr, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect((ip, port))).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("connect {ip}:{port}: {e}")),
        Err(_) => Err(format!("connect {ip}:{port}: timed out after {timeout:?}")),
    }
}

/// A TCP probe: success when a connection to the port opens within `timeout`.
pub(crate) async fn tcp(
    action: &TcpSocketAction,
    ports: &[ContainerPort],
    default_host: IpAddr,
    timeout: Duration,
) -> ProbeOutcome {
    let target = resolve_port(&action.port, ports)
        .and_then(|port| Ok((host(action.host.as_deref(), default_host)?, port)));
    let (ip, port) = match target {
        Ok(t) => t,
        Err(why) => return ProbeOutcome::Failure(why),
    };
    match connect(ip, port, timeout).await {
        Ok(_) => ProbeOutcome::Success,
        Err(why) => ProbeOutcome::Failure(why),
    }
}

/// An HTTP probe: success when a GET of the path answers with a status in 200–399
/// within `timeout`.
pub(crate) async fn http(
    action: &HttpGetAction,
    ports: &[ContainerPort],
    default_host: IpAddr,
    timeout: Duration,
) -> ProbeOutcome {
    if action
        .scheme
        .as_deref()
        .is_some_and(|s| !s.eq_ignore_ascii_case("http"))
    {
        return ProbeOutcome::Failure(format!(
            "scheme {:?} is not supported: only HTTP probes are",
            action.scheme.as_deref().unwrap_or_default()
        ));
    }
    let target = resolve_port(&action.port, ports)
        .and_then(|port| Ok((host(action.host.as_deref(), default_host)?, port)));
    let (ip, port) = match target {
        Ok(t) => t,
        Err(why) => return ProbeOutcome::Failure(why),
    };
    let path = match action.path.as_deref() {
        None | Some("") => "/",
        Some(p) => p,
    };
    if path.contains(['\r', '\n', ' ']) {
        return ProbeOutcome::Failure(format!("invalid path {path:?}"));
    }
    let exchange = async {
        let mut stream = connect(ip, port, timeout).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: orchestra-probe/1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send request: {e}"))?;
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        while !response.windows(2).any(|w| w == b"\r\n") && response.len() < MAX_STATUS_LINE {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read response: {e}"))?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        parse_status(&response)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) if (200..400).contains(&status) => ProbeOutcome::Success,
        Ok(Ok(status)) => ProbeOutcome::Failure(format!("HTTP {status}")),
        Ok(Err(why)) => ProbeOutcome::Failure(why),
        Err(_) => ProbeOutcome::Failure(format!("timed out after {timeout:?}")),
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn parse_status(response: &[u8]) -> Result<u16, String> {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end]);
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse()
            .map_err(|_| format!("malformed status line {line:?}")),
        _ if response.is_empty() => Err("empty response".to_owned()),
        _ => Err(format!("malformed status line {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tokio::net::TcpListener;

    use super::*;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Ok(204));
        assert_eq!(parse_status(b"HTTP/1.0 500\r\n"), Ok(500));
        assert!(parse_status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status(b"").is_err());
    }

    #[test]
    fn named_ports_resolve_through_the_container() {
        let ports = vec![ContainerPort {
            container_port: 8080,
            name: Some("http".into()),
            ..ContainerPort::default()
        }];
        assert_eq!(resolve_port(&"http".into(), &ports), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::Int(81), &ports), Ok(81));
        assert!(resolve_port(&"grpc".into(), &ports).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &ports).is_err());
    }

    /// Answers every connection with `response`.
    async fn server(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response).await;
            }
        });
        port
    }

    fn get(port: u16, path: &str) -> HttpGetAction {
        HttpGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(port)),
            host: None,
            scheme: None,
        }
    }

    #[tokio::test]
    async fn http_success_is_200_to_399() {
        let t = Duration::from_secs(5);
        let ok = server(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n").await;
        assert!(http(&get(ok, "/"), &[], LOCALHOST, t).await.is_success());
        let bad = server(b"HTTP/1.1 500 Internal Server Error\r\n\r\n").await;
        assert_eq!(
            http(&get(bad, "/"), &[], LOCALHOST, t).await,
            ProbeOutcome::Failure("HTTP 500".into())
        );
        let mut https = get(ok, "/");
        https.scheme = Some("HTTPS".into());
        assert!(!http(&https, &[], LOCALHOST, t).await.is_success());
    }

    #[tokio::test]
    async fn a_silent_server_times_out_as_a_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let outcome = http(&get(port, "/"), &[], LOCALHOST, Duration::from_millis(200)).await;
        assert!(
            matches!(&outcome, ProbeOutcome::Failure(why) if why.contains("timed out")),
            "{outcome:?}"
        );
        drop(listener);
    }
}
