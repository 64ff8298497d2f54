//! The container runtimes: implementations of [`Runtime`](orchestra_core::Runtime) a
//! node agent drives.
//!
//! - [`SimRuntime`]: virtual containers, no processes; thousands of simulated nodes in
//!   one test, in paused tokio time, with fault injection and synthetic load.
//! - `ProcessRuntime` (Unix; its bookkeeping reads Linux's `/proc`): real OS processes
//!   on this machine, one process group per container, logs in files, state persisted
//!   so a restarted agent re-adopts them.
//!
//! `probe.rs` holds the TCP and HTTP probes every networked runtime shares.
//!
//! DESIGN.md also names a `DockerRuntime` (Docker Engine API); it is not built yet. It
//! would implement the same trait, reuse `probe.rs`, and run the same conformance kit.
//!
//! Every runtime here passes the conformance kit in `orchestra_runtime::testing`
//! (feature `testing`).

mod logs;
mod probe;
#[cfg(unix)]
pub mod process;
pub mod sim;

#[cfg(unix)]
pub use process::{DEFAULT_PROCESS_LOG_LIMIT, ProcessRuntime, ProcessRuntimeBuilder};
pub use sim::{
    SimBehavior, SimKill, SimProbe, SimProfile, SimRuntime, SimRuntimeBuilder, SimSelector,
    SimUsage,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_and_profiles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<SimRuntime>();
        assert_send_sync::<SimProfile>();
        #[cfg(unix)]
        assert_send_sync::<ProcessRuntime>();
    }
}
