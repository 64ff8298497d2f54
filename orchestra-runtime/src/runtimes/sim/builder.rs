//! [`SimRuntimeBuilder`]: the settings of one simulated node's runtime.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestra_core::Clock;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{DEFAULT_SIM_LOG_LIMIT, Inner, SimProfile, SimRuntime, State};

/// Builds a [`SimRuntime`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct SimRuntimeBuilder {
    profile: Option<SimProfile>,
    clock: Option<Clock>,
    start_latency: Duration,
    log_limit: Option<usize>,
    pod_subnet: Option<Ipv4Addr>,
}

impl SimRuntimeBuilder {
    /// The rules its containers follow (default: a profile of its own). Pass clones of
    /// one profile to many runtimes to drive a whole simulated cluster at once.
    pub fn profile(mut self, profile: SimProfile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// The clock its timestamps come from (default: a new [`Clock`]); share the
    /// cluster's clock so container times agree with object timestamps.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long a container stays `Created` before it runs (default zero).
    pub fn start_latency(mut self, latency: Duration) -> Self {
        self.start_latency = latency;
        self
    }

    /// The cap on each container's log in bytes (default [`DEFAULT_SIM_LOG_LIMIT`]);
    /// the oldest lines are dropped beyond it.
    pub fn log_limit(mut self, bytes: usize) -> Self {
        self.log_limit = Some(bytes);
        self
    }

    /// The /24 its pods' IPs come from (default: one of 10.0.0.0/8 per runtime, by the
    /// order runtimes are built). Pod IPs cycle through `.1`–`.254`.
    pub fn pod_subnet(mut self, subnet: Ipv4Addr) -> Self {
        self.pod_subnet = Some(subnet);
        self
    }

    /// The runtime.
    pub fn build(self) -> SimRuntime {
        static NEXT_NODE: AtomicU32 = AtomicU32::new(1);
        let node = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        let clock = self.clock.unwrap_or_default();
        let subnet = self
            .pod_subnet
            .unwrap_or_else(|| Ipv4Addr::from(0x0A00_0000 | ((node & 0xFFFF) << 8)));
        SimRuntime {
            inner: Arc::new(Inner {
                node,
                profile: self.profile.unwrap_or_default(),
                start_latency: self.start_latency,
                log_limit: self.log_limit.unwrap_or(DEFAULT_SIM_LOG_LIMIT),
                subnet: u32::from(subnet) & !0xFF,
                epoch: (Instant::now(), clock.now()),
                changed: Notify::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }
}
