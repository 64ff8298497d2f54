//! The container runtimes: implementations of [`Runtime`](orchestra_core::Runtime) a
//! node agent drives.
//!
//! - [`SimRuntime`]: virtual containers, no processes; thousands of simulated nodes in
//!   one test, in paused tokio time, with fault injection and synthetic load.
//!
//! Every runtime here passes the conformance kit in `orchestra_runtime::testing`
//! (feature `testing`).

mod logs;
pub mod sim;

pub use sim::{
    SimBehavior, SimKill, SimProbe, SimProfile, SimRuntime, SimRuntimeBuilder, SimSelector,
    SimUsage,
};
