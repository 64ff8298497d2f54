//! What the core knows of scheduling: the name pods get when they name no scheduler.
//! The `Scheduler` trait itself lives with the machinery it joins, in
//! `orchestra_runtime::scheduler`.

/// The scheduler name pods get when they name none (Kubernetes' `default-scheduler`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
