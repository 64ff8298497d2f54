//! Optional cgroup v2 limits for `ProcessRuntime`: a container with CPU or memory
//! limits gets its own cgroup under a directory delegated to the runtime, with
//! `cpu.max` and `memory.max` set, and its process moved there right after it starts
//! (so for its first instants it runs unconstrained, which a limit on a long-running
//! container does not notice).
//!
//! Without a usable delegated directory the limits are simply not enforced; the
//! runtime says so once, at info level, with the reason.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use orchestra_core::kinds::ResourceRequirements;

/// The period `cpu.max` quotas are expressed over, in microseconds.
const CPU_PERIOD_US: i64 = 100_000;

/// Where container cgroups go, if anywhere.
#[derive(Debug)]
pub(super) struct Cgroups {
    parent: Option<PathBuf>,
}

impl Cgroups {
    /// Checks `parent` is a writable cgroup v2 directory with the cpu and memory
    /// controllers enabled for its children; logs why not otherwise.
    pub fn new(parent: Option<PathBuf>) -> Cgroups {
        let usable = match &parent {
            None => Err("no delegated cgroup v2 directory was configured".to_owned()),
            Some(dir) => check(dir),
        };
        match usable {
            Ok(()) => Cgroups { parent },
            Err(why) => {
                // Once per process for the default (tests open dozens of runtimes);
                // every time for a configured directory that does not work.
                static SAID: AtomicBool = AtomicBool::new(false);
                if parent.is_some() || !SAID.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "process runtime: container CPU and memory limits are not enforced: {why}"
                    );
                }
                Cgroups { parent: None }
            }
        }
    }

    /// Whether limits are enforced.
    pub fn enabled(&self) -> bool {
        self.parent.is_some()
    }

    /// Puts process `pid` of container `id` into a cgroup with its limits, if it has
    /// any and cgroups are usable. Failures are logged, not fatal: the container runs.
    pub fn apply(&self, id: &str, pid: u32, resources: &ResourceRequirements) {
        let Some(parent) = &self.parent else { return };
        let memory = resources.limits.get("memory").map(|q| q.value());
        let cpu = resources.limits.get("cpu").map(|q| q.milli_value());
        if memory.is_none() && cpu.is_none() {
            return;
        }
        let dir = parent.join(id);
        let result = (|| {
            fs::create_dir_all(&dir)?;
            if let Some(bytes) = memory {
                fs::write(dir.join("memory.max"), bytes.max(0).to_string())?;
            }
            if let Some(milli) = cpu {
                let quota = (milli * CPU_PERIOD_US / 1000).max(1000);
                fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))?;
            }
            fs::write(dir.join("cgroup.procs"), pid.to_string())
        })();
        if let Err(e) = result {
            tracing::warn!(container = id, error = %e, "could not apply cgroup limits");
        }
    }

    /// Removes container `id`'s cgroup, if it has one (it must be empty by then).
    pub fn remove(&self, id: &str) {
        if let Some(parent) = &self.parent {
            let _ = fs::remove_dir(parent.join(id));
        }
    }
}

fn check(dir: &Path) -> Result<(), String> {
    let controllers = fs::read_to_string(dir.join("cgroup.subtree_control"))
        .map_err(|e| format!("{} is not a cgroup v2 directory ({e})", dir.display()))?;
    for needed in ["cpu", "memory"] {
        if !controllers.split_whitespace().any(|c| c == needed) {
            return Err(format!(
                "the {needed} controller is not enabled in {}/cgroup.subtree_control",
                dir.display()
            ));
        }
    }
    let probe = dir.join(format!("orchestra-probe-{}", std::process::id()));
    fs::create_dir(&probe)
        .and_then(|()| fs::remove_dir(&probe))
        .map_err(|e| format!("cannot create a cgroup under {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_not_a_delegated_cgroup_disables_limits() {
        assert!(!Cgroups::new(None).enabled());
        let dir = tempfile::tempdir().unwrap();
        assert!(!Cgroups::new(Some(dir.path().to_owned())).enabled());
        let why = check(dir.path()).unwrap_err();
        assert!(why.contains("not a cgroup v2 directory"), "{why}");
    }
}
