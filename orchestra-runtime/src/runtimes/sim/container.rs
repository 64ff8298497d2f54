//! One simulated container: a compact record whose state is computed from timestamps
//! when it is read, so a container costs memory but no task and no timer.
//!
//! A record knows when it starts running (its creation plus the runtime's start
//! latency), when it would exit on its own (from its behaviour), and, once something
//! ended it early (stop, kill), how and when. A runtime holds one for every container
//! of its node, so what most containers never have (a planned exit, an early end, a
//! log, ports and probes) is kept in one boxed [`SimCold`], and its strings are shared
//! (see `names.rs`). `state_given(exit_at(now), now)` turns that into
//! `Created`, `Running` or `Exited`; nothing has to happen at the moment a container
//! "exits" for the exit to be seen.

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{ContainerPort, ProbeHandler};
use orchestra_core::runtime::RuntimeContainerState;
use tokio::time::Instant;

use super::names::{SimImage, SimPod};

/// Why a container ended, Kubernetes-style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExitReason {
    Completed,
    Error,
    OomKilled,
}

impl ExitReason {
    pub fn for_code(code: i32) -> ExitReason {
        if code == 0 {
            ExitReason::Completed
        } else {
            ExitReason::Error
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
        }
    }
}

/// How a container ended.
#[derive(Clone, Copy, Debug)]
pub(super) struct Exit {
    pub at: Instant,
    pub code: i32,
    pub signal: Option<i32>,
    pub reason: ExitReason,
}

impl Exit {
    pub fn state(&self) -> RuntimeContainerState {
        RuntimeContainerState::Exited {
            exit_code: self.code,
            signal: self.signal,
            reason: self.reason.as_str().to_owned(),
            message: None,
        }
    }
}

/// What only some containers have: kept out of line so the common case stays small.
#[derive(Debug)]
pub(super) struct Extras {
    pub ports: Vec<ContainerPort>,
    /// The spec's readiness, liveness and startup probe actions, in that order: a
    /// probe call is matched against them to find which simulated result applies.
    pub probes: [Option<ProbeHandler>; 3],
}

/// The in-memory log of a container, capped: the oldest whole lines go first.
#[derive(Debug, Default)]
pub(super) struct SimLog {
    data: Vec<u8>,
    /// Bytes dropped from the front so far; `dropped + data.len()` is the offset of
    /// the end of the log, which followers use to find where they stopped.
    dropped: u64,
}

impl SimLog {
    pub fn append(&mut self, bytes: &[u8], cap: usize) {
        self.data.extend_from_slice(bytes);
        if self.data.len() > cap {
            let excess = self.data.len() - cap;
            // Cut at a line boundary so no reader sees half a line.
            let cut = self.data[excess..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.data.len(), |i| excess + i + 1);
            self.data.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    pub fn end(&self) -> u64 {
        self.dropped + self.data.len() as u64
    }

    /// Everything from absolute offset `from` on (from the oldest retained byte if
    /// `from` was dropped meanwhile).
    pub fn since(&self, from: u64) -> &[u8] {
        let start = from
            .saturating_sub(self.dropped)
            .min(self.data.len() as u64) as usize;
        &self.data[start..]
    }

    pub fn all(&self) -> &[u8] {
        &self.data
    }
}

/// One simulated container.
#[derive(Debug)]
pub(super) struct SimContainer {
    pub pod: Arc<SimPod>,
    /// Its name and image.
    pub spec: Arc<SimImage>,
    /// When it starts running: its creation plus the runtime's start latency.
    pub starts: Instant,
    pub attempt: u32,
    /// Whether it ignores the polite stop signal (the `orchestra-ignore-term` image).
    pub ignores_term: bool,
    pub cold: Option<Box<SimCold>>,
}

/// What only some containers have.
#[derive(Debug, Default)]
pub(super) struct SimCold {
    /// When it exits on its own, and with which code.
    pub planned_exit: Option<(Instant, i32)>,
    /// How it ended early (stopped or killed), if it did.
    pub ended: Option<Exit>,
    pub log: Option<SimLog>,
    pub extras: Option<Box<Extras>>,
}

impl SimContainer {
    pub fn planned_exit(&self) -> Option<(Instant, i32)> {
        self.cold.as_ref().and_then(|c| c.planned_exit)
    }

    /// How it ended early (stopped or killed), if it did.
    pub fn ended(&self) -> Option<Exit> {
        self.cold.as_ref().and_then(|c| c.ended)
    }

    pub fn extras(&self) -> Option<&Extras> {
        self.cold.as_ref().and_then(|c| c.extras.as_deref())
    }

    /// The cold part, made on first use.
    pub fn cold_mut(&mut self) -> &mut SimCold {
        self.cold.get_or_insert_default()
    }

    /// How it ends, if it has ended by `now`.
    pub fn exit_at(&self, now: Instant) -> Option<Exit> {
        let planned = self.planned_exit().map(|(at, code)| Exit {
            at,
            code,
            signal: None,
            reason: ExitReason::for_code(code),
        });
        let first = match (self.ended(), planned) {
            (Some(e), Some(p)) => Some(if p.at < e.at { p } else { e }),
            (e, p) => e.or(p),
        };
        first.filter(|e| e.at <= now)
    }

    /// The state at `now`, given `exit`, what [`exit_at`](Self::exit_at) says for `now`.
    pub fn state_given(&self, exit: Option<Exit>, now: Instant) -> RuntimeContainerState {
        match exit {
            Some(exit) => exit.state(),
            None if now < self.starts => RuntimeContainerState::Created,
            None => RuntimeContainerState::Running,
        }
    }

    /// When it started running, if it has by `now` (a container killed before its
    /// start never started), given `exit`, what [`exit_at`](Self::exit_at) says for `now`.
    pub fn started_given(&self, exit: Option<Exit>, now: Instant) -> Option<Instant> {
        let ended_before_start = exit.is_some_and(|e| e.at < self.starts);
        (self.starts <= now && !ended_before_start).then_some(self.starts)
    }

    pub fn is_running(&self, now: Instant) -> bool {
        self.starts <= now && self.exit_at(now).is_none()
    }

    /// The next moment its state changes on its own, for followers to sleep until.
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        if now < self.starts {
            return Some(self.starts);
        }
        self.planned_exit().map(|(at, _)| at).filter(|at| *at > now)
    }

    /// Ends it now, unless it has already ended.
    pub fn end(&mut self, now: Instant, code: i32, signal: Option<i32>, reason: ExitReason) {
        if self.exit_at(now).is_none() {
            self.cold_mut().ended = Some(Exit {
                at: now,
                code,
                signal,
                reason,
            });
        }
    }

    /// Its log as readers see it: nothing before it starts.
    pub fn visible_log(&self, now: Instant) -> Option<&SimLog> {
        if now < self.starts {
            return None;
        }
        self.cold.as_ref().and_then(|c| c.log.as_ref())
    }

    /// The running time up to `now`, for CPU time.
    pub fn running_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.starts)
    }
}
