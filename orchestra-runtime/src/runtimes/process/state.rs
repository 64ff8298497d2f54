//! The state file: what a [`ProcessRuntime`](super::ProcessRuntime) persists in its root
//! directory so that a new runtime on the same directory (a restarted node agent)
//! finds the containers the old one started.
//!
//! One JSON document, rewritten whole after every change through a temporary file and
//! a rename, so a crash leaves either the old or the new state, never half of one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use orchestra_core::Time;
use orchestra_core::kinds::{ContainerPort, EnvVar};
use orchestra_core::runtime::PodSandbox;
use serde::{Deserialize, Serialize};

/// The file's name inside the root directory.
pub(super) const STATE_FILE: &str = "state.json";

/// Everything persisted.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StateFile {
    /// The number of the next container id: ids stay unique across restarts.
    pub next_id: u64,
    pub containers: Vec<Record>,
}

/// One container, as persisted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record {
    pub id: String,
    pub sandbox: PodSandbox,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    /// The container's first process, also its process group id.
    pub pid: u32,
    /// Its start time in clock ticks after boot (`/proc/<pid>/stat` field 22): a
    /// process with this pid but another start time is not ours.
    pub start_time: u64,
    pub log_path: PathBuf,
    pub created_at: Time,
    pub started_at: Time,
    /// For probes by port name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// For exec probes, which run with the container's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitRecord>,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExitRecord {
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub finished_at: Time,
}

/// Reads the state file in `root`; a missing file is an empty state.
pub(super) fn load(root: &Path) -> io::Result<StateFile> {
    match fs::read(root.join(STATE_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(StateFile::default()),
        Err(e) => Err(e),
    }
}

/// Writes the state file in `root` atomically.
pub(super) fn save(root: &Path, state: &StateFile) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    let tmp = root.join(format!("{STATE_FILE}.tmp"));
    fs::write(&tmp, json)?;
    fs::rename(tmp, root.join(STATE_FILE))
}
