//! How a simulated container answers a probe: a result forced in the profile for the
//! matching probe of the spec wins; otherwise exec `false` fails and other commands
//! pass, and TCP and HTTP probes pass on the ports the container declares.

use orchestra_core::kinds::{IntOrString, ProbeHandler};
use orchestra_core::runtime::ProbeOutcome;
use tokio::time::Instant;

use super::container::{Extras, SimContainer};
use super::profile::Subject;
use super::{SimProbe, SimProfile};
use crate::runtimes::probe::resolve_port;

/// The outcome of probing `c` with `handler` at `now`.
pub(super) fn outcome(
    c: &SimContainer,
    profile: &SimProfile,
    handler: &ProbeHandler,
    now: Instant,
) -> ProbeOutcome {
    if !c.is_running(now) {
        return ProbeOutcome::Failure("container is not running".to_owned());
    }
    let subject = Subject {
        pod: c.pod.uid(),
        name: &c.spec.name,
        image: &c.spec.image,
    };
    let extras = c.extras();
    let mut forced = None;
    for (i, probe) in SimProbe::ALL.into_iter().enumerate() {
        let matches = extras.is_some_and(|e| e.probes[i].as_ref() == Some(handler));
        if !matches {
            continue;
        }
        match profile.probe(&subject, probe) {
            Some(false) => {
                return ProbeOutcome::Failure(format!(
                    "simulated {} probe failure",
                    probe.as_str()
                ));
            }
            Some(true) => forced = Some(ProbeOutcome::Success),
            None => {}
        }
    }
    if let Some(outcome) = forced {
        return outcome;
    }
    let port_outcome = |port| match declared_port(extras, port) {
        Ok(()) => ProbeOutcome::Success,
        Err(why) => ProbeOutcome::Failure(why),
    };
    match handler {
        ProbeHandler::Exec(exec) => match exec.command.first() {
            None => ProbeOutcome::Failure("empty exec command".to_owned()),
            Some(cmd) if cmd.rsplit('/').next() == Some("false") => {
                ProbeOutcome::Failure("exit 1".to_owned())
            }
            Some(_) => ProbeOutcome::Success,
        },
        ProbeHandler::TcpSocket(tcp) => port_outcome(&tcp.port),
        ProbeHandler::HttpGet(http) => port_outcome(&http.port),
    }
}

/// Whether a probe's `port` is one the container declares (a simulated container
/// listens on exactly its declared ports).
fn declared_port(extras: Option<&Extras>, port: &IntOrString) -> Result<(), String> {
    let ports = extras.map_or(&[][..], |e| &e.ports[..]);
    let number = resolve_port(port, ports)?;
    if ports.iter().any(|p| p.container_port == i32::from(number)) {
        Ok(())
    } else {
        Err("connection refused".to_owned())
    }
}
