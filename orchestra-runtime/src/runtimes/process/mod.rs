//! [`ProcessRuntime`]: containers as real OS processes on this machine, through
//! `tokio::process`. No isolation beyond a process group (and cgroup limits where the
//! host delegates a cgroup): for running Orchestra's agent on a laptop or in CI with
//! real programs, and as the reference for what a runtime must do.
//!
//! - **Images and commands**: the image is an executable; see `spawn.rs` for the
//!   command rule (`command` empty: run `image` with `args`; otherwise run
//!   `command[0]` with `command[1..] ++ args`). Never a shell. A missing executable is
//!   [`RuntimeError::ImageNotFound`] naming it.
//! - **Processes**: each container leads its own process group; stop sends SIGTERM to
//!   the group, SIGKILL after the grace period, and SIGKILL to whatever is left of the
//!   group once the first process is gone. A signal death is reported as exit code
//!   128 + the signal, with `signal` set and reason `Error`.
//! - **Logs**: stdout and stderr to one file per container under `<root>/logs/`, capped
//!   by copy-truncate rotation (see `logs.rs` for why not a relay, and the bound).
//! - **Stats**: CPU time and resident memory summed over the process group from
//!   `/proc`; `cpu_millicores` is the average since the previous `stats` call.
//! - **Probes**: exec runs the command as a new process with the container's
//!   environment; TCP and HTTP connect to 127.0.0.1 (processes share the host network,
//!   so the reported IP is 127.0.0.1), resolving named ports through the container's
//!   `ports`.
//!
//! ## Agent restarts
//!
//! The runtime keeps a state file in its root directory (`state.json`: id, pod, name,
//! attempt, image, pid, the process's start time from `/proc/<pid>/stat`, log path,
//! timestamps, exit). [`ProcessRuntime::open`] on the same directory re-adopts what a
//! previous runtime left: a process that is still alive with the same start time (a
//! reused pid has another) is listed as running and can be stopped, probed and
//! measured as usual; containers that had exited are listed with their recorded exit.
//! A re-adopted process is not a child of the new runtime, which therefore cannot
//! learn its exit status: it polls `/proc`, and a process that has vanished or become
//! a zombie counts as exited with reason `Unknown` and exit code -1 (unknown), with a
//! message saying so. One directory belongs to one runtime at a time.
//!
//! Linux only: it reads `/proc`.

mod cgroup;
mod lifecycle;
mod logs;
mod proc_stats;
mod spawn;
mod state;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use orchestra_core::runtime::{
    ContainerId, RuntimeContainerState, RuntimeContainerStatus, RuntimeError,
};
use orchestra_core::{Clock, Time};
use parking_lot::Mutex;

use self::cgroup::Cgroups;
use self::spawn::Resolver;
use self::state::{ExitRecord, Record, StateFile};

/// The default cap on one container's retained log, in bytes.
pub const DEFAULT_PROCESS_LOG_LIMIT: u64 = 1024 * 1024;

/// How often a stop or a follower looks again at a container that has not exited.
const POLL: Duration = Duration::from_millis(20);

/// How long a stop waits for a SIGKILLed process to be gone before it gives up.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The address containers are reachable on: they share the host's network.
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Builds a [`ProcessRuntime`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ProcessRuntimeBuilder {
    root: Option<PathBuf>,
    image_dirs: Vec<PathBuf>,
    search_path: Option<Vec<PathBuf>>,
    log_limit: Option<u64>,
    clock: Option<Clock>,
    cgroup_parent: Option<PathBuf>,
}

impl ProcessRuntimeBuilder {
    /// The directory for the state file and the logs (default: a new directory under
    /// the system's temporary directory). Reopening a directory re-adopts its
    /// containers; for the same reason the runtime never deletes it, not even the
    /// default one.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// A directory whose executables are images, searched before the search path;
    /// may be given several times.
    pub fn image_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.image_dirs.push(dir.into());
        self
    }

    /// Where bare image names are looked up (default: the agent's `PATH`).
    pub fn search_path(mut self, dirs: Vec<PathBuf>) -> Self {
        self.search_path = Some(dirs);
        self
    }

    /// The cap on each container's retained log in bytes (default
    /// [`DEFAULT_PROCESS_LOG_LIMIT`]).
    pub fn log_limit(mut self, bytes: u64) -> Self {
        self.log_limit = Some(bytes);
        self
    }

    /// The clock its timestamps come from (default: a new [`Clock`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A cgroup v2 directory delegated to this runtime: containers with CPU or memory
    /// limits get a cgroup under it with `cpu.max` and `memory.max`. Without one (or if
    /// it is not usable) limits are not enforced, and the runtime says why once.
    pub fn cgroup_parent(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cgroup_parent = Some(dir.into());
        self
    }

    /// Opens the runtime: creates the root directory if needed and re-adopts the
    /// containers its state file lists (see the module docs). Must be called inside a
    /// tokio runtime, which its background log rotation runs on.
    pub async fn open(self) -> Result<ProcessRuntime, RuntimeError> {
        let root = match self.root {
            Some(root) => root,
            None => {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                std::env::temp_dir().join(format!(
                    "orchestra-process-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ))
            }
        };
        let io = |context: &str| {
            let context = format!("{context} in {}", root.display());
            move |source| RuntimeError::Io { context, source }
        };
        std::fs::create_dir_all(root.join("logs")).map_err(io("create the log directory"))?;
        let search_path = self.search_path.unwrap_or_else(|| {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_else(|| std::env::split_paths(spawn::CONTAINER_PATH).collect())
        });
        let clock = self.clock.unwrap_or_default();
        let mut file = state::load(&root).map_err(io("read the state file"))?;
        let containers = adopt(&mut file, &clock);
        let (tick_hz, page_size) = proc_stats::tick_and_page();
        let inner = Arc::new(Inner {
            resolver: Resolver {
                image_dirs: self.image_dirs,
                search_path,
            },
            log_limit: self.log_limit.unwrap_or(DEFAULT_PROCESS_LOG_LIMIT),
            cgroups: Cgroups::new(self.cgroup_parent),
            clock,
            tick_hz,
            page_size,
            state: Mutex::new(Containers {
                next_id: file.next_id,
                map: containers,
            }),
            root,
        });
        inner.persist(&inner.state.lock())?;
        tokio::spawn(rotate_logs(Arc::downgrade(&inner)));
        Ok(ProcessRuntime { inner })
    }
}

/// Turns persisted records into live entries: processes still alive are adopted, the
/// others that had not been seen exiting are marked exited, status unknown.
fn adopt(file: &mut StateFile, clock: &Clock) -> BTreeMap<String, Entry> {
    let mut map = BTreeMap::new();
    for mut record in file.containers.drain(..) {
        if record.exit.is_none() && !proc_stats::is_alive(record.pid, record.start_time) {
            record.exit = Some(unknown_exit(clock.now()));
        }
        let adopted = record.exit.is_none();
        map.insert(
            record.id.clone(),
            Entry {
                record,
                adopted,
                last_sample: None,
            },
        );
    }
    map
}

fn unknown_exit(now: Time) -> ExitRecord {
    ExitRecord {
        exit_code: -1,
        signal: None,
        reason: "Unknown".to_owned(),
        message: Some(
            "the process ended while no runtime that could learn its exit status watched it"
                .to_owned(),
        ),
        finished_at: now,
    }
}

/// A container runtime of real OS processes; see the module docs.
///
/// Cheap to clone: clones are the same runtime.
///
/// ```no_run
/// use std::time::Duration;
///
/// use orchestra_core::kinds::Container;
/// use orchestra_core::{ContainerConfig, PodSandbox, Runtime};
/// use orchestra_runtime::runtimes::ProcessRuntime;
///
/// # async fn doc() -> Result<(), orchestra_core::RuntimeError> {
/// let runtime = ProcessRuntime::builder()
///     .root("/var/lib/orchestra/process")
///     .log_limit(4 << 20)
///     .open()
///     .await?;
/// let id = runtime
///     .start_container(ContainerConfig {
///         sandbox: PodSandbox {
///             uid: "uid-1".into(),
///             namespace: "default".into(),
///             name: "web-1".into(),
///         },
///         container: Container {
///             name: "web".into(),
///             image: "python3".into(),
///             args: vec!["-m".into(), "http.server".into(), "8080".into()],
///             ..Container::default()
///         },
///         attempt: 0,
///     })
///     .await?;
/// runtime.stop_container(&id, Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    resolver: Resolver,
    log_limit: u64,
    cgroups: Cgroups,
    clock: Clock,
    tick_hz: u64,
    page_size: u64,
    state: Mutex<Containers>,
}

#[derive(Debug)]
struct Containers {
    next_id: u64,
    map: BTreeMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    record: Record,
    /// Started by an earlier runtime: not our child, so its exit is learnt from /proc.
    adopted: bool,
    /// The previous `stats` sample: when, and the CPU time then (ns).
    last_sample: Option<(Time, u64)>,
}

impl Entry {
    fn is_running(&self) -> bool {
        self.record.exit.is_none()
    }

    /// Notices that an adopted process is gone; returns whether anything changed.
    fn refresh(&mut self, now: Time) -> bool {
        if self.adopted
            && self.record.exit.is_none()
            && !proc_stats::is_alive(self.record.pid, self.record.start_time)
        {
            self.record.exit = Some(unknown_exit(now));
            return true;
        }
        false
    }

    fn status(&self) -> RuntimeContainerStatus {
        let r = &self.record;
        RuntimeContainerStatus {
            id: ContainerId(r.id.clone()),
            sandbox: r.sandbox.clone(),
            name: r.name.clone(),
            image: r.image.clone(),
            attempt: r.attempt,
            state: match &r.exit {
                None => RuntimeContainerState::Running,
                Some(e) => RuntimeContainerState::Exited {
                    exit_code: e.exit_code,
                    signal: e.signal,
                    reason: e.reason.clone(),
                    message: e.message.clone(),
                },
            },
            created_at: r.created_at,
            started_at: Some(r.started_at),
            finished_at: r.exit.as_ref().map(|e| e.finished_at),
            ip: Some(LOCALHOST),
        }
    }
}

impl Inner {
    fn persist(&self, containers: &Containers) -> Result<(), RuntimeError> {
        let file = StateFile {
            next_id: containers.next_id,
            containers: containers.map.values().map(|e| e.record.clone()).collect(),
        };
        state::save(&self.root, &file).map_err(|source| RuntimeError::Io {
            context: format!("write the state file in {}", self.root.display()),
            source,
        })
    }

    /// Runs `f` on the container `id`, after noticing whether an adopted process has
    /// gone, and persists the state if either changed it.
    fn with<T>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, RuntimeError> {
        let mut containers = self.state.lock();
        let entry = containers
            .map
            .get_mut(&id.0)
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
        let changed = entry.refresh(self.clock.now());
        let out = f(entry);
        if changed {
            self.persist(&containers)?;
        }
        Ok(out)
    }

    /// Records the exit of a child this runtime waited for.
    fn record_exit(&self, id: &str, exit: ExitRecord) {
        let mut containers = self.state.lock();
        if let Some(entry) = containers.map.get_mut(id) {
            if entry.record.exit.is_none() {
                entry.record.exit = Some(exit);
                if let Err(e) = self.persist(&containers) {
                    tracing::warn!(container = id, error = %e, "could not persist an exit");
                }
            }
        }
    }

    /// Waits up to `timeout` for the container to have exited; returns whether it has.
    async fn wait_exit(&self, id: &ContainerId, timeout: Duration) -> Result<bool, RuntimeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.with(id, |e| e.is_running())? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
        }
    }
}

/// Sends `signal` to the process group led by `pid`, if `pid` is still the process
/// that started at `start_time` (a zombie leader still counts: its group may live on).
fn signal_group(pid: u32, start_time: u64, signal: Signal) {
    let ours = proc_stats::read_stat(pid).is_some_and(|s| s.start_time == start_time);
    if ours {
        signal_group_unchecked(pid, signal);
    }
}

fn signal_group_unchecked(pid: u32, signal: Signal) {
    let Ok(pgid) = i32::try_from(pid) else { return };
    // ESRCH (the group is gone) is what we want anyway.
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// Rotates the logs of running containers every [`logs::ROTATE_EVERY`], until the
/// runtime is dropped.
async fn rotate_logs(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(logs::ROTATE_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let paths: Vec<PathBuf> = {
            let containers = inner.state.lock();
            containers
                .map
                .values()
                .filter(|e| e.is_running())
                .map(|e| e.record.log_path.clone())
                .collect()
        };
        for path in paths {
            if let Err(e) = logs::rotate_if_needed(&path, inner.log_limit) {
                tracing::debug!(path = %path.display(), error = %e, "log rotation failed");
            }
        }
    }
}

impl ProcessRuntime {
    /// Opens a runtime on `root` with default settings, re-adopting what a previous
    /// runtime there left (see the module docs).
    pub async fn open(root: impl Into<PathBuf>) -> Result<ProcessRuntime, RuntimeError> {
        ProcessRuntime::builder().root(root).open().await
    }

    /// A builder for a runtime with other settings.
    pub fn builder() -> ProcessRuntimeBuilder {
        ProcessRuntimeBuilder::default()
    }

    /// The directory holding its state file and logs.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The pid of a running container's first process (its process group id).
    pub fn pid(&self, id: &ContainerId) -> Result<Option<u32>, RuntimeError> {
        self.inner
            .with(id, |e| e.is_running().then_some(e.record.pid))
    }

    /// Whether containers' CPU and memory limits are enforced (through cgroups; see
    /// [`ProcessRuntimeBuilder::cgroup_parent`]).
    pub fn enforces_limits(&self) -> bool {
        self.inner.cgroups.enabled()
    }

    /// The path of a container's log file.
    pub fn log_path(&self, id: &ContainerId) -> Result<PathBuf, RuntimeError> {
        self.inner.with(id, |e| e.record.log_path.clone())
    }
}
