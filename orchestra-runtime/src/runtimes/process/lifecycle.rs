//! The [`Runtime`] operations of [`ProcessRuntime`]: start, stop, remove, status, logs,
//! stats and probes, over the bookkeeping in `mod.rs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use nix::sys::signal::Signal;
use orchestra_core::kinds::{EnvVar, ProbeHandler};
use orchestra_core::runtime::{
    ContainerConfig, ContainerId, ContainerStats, LogOptions, LogStream, ProbeOutcome, Runtime,
    RuntimeContainerStatus, RuntimeError,
};

use super::state::{ExitRecord, Record};
use super::{
    Entry, Inner, KILL_WAIT, LOCALHOST, POLL, ProcessRuntime, logs, proc_stats, signal_group,
    signal_group_unchecked, spawn,
};
use crate::runtimes::logs::tail_lines;
use crate::runtimes::probe;

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &str {
        "process"
    }

    async fn start_container(&self, config: ContainerConfig) -> Result<ContainerId, RuntimeError> {
        let inner = &self.inner;
        let ContainerConfig {
            sandbox,
            container: spec,
            attempt,
        } = config;
        if spec.name.is_empty() {
            return Err(RuntimeError::InvalidConfig(
                "empty container name".to_owned(),
            ));
        }
        let invocation = spawn::invocation(&inner.resolver, &spec)?;
        let id = {
            let mut containers = inner.state.lock();
            let n = containers.next_id;
            containers.next_id += 1;
            format!("proc-{n}")
        };
        let log_path = inner.root.join("logs").join(format!("{id}.log"));
        let io = |context: &str| {
            let context = format!("{context} {}", log_path.display());
            move |source| RuntimeError::Io { context, source }
        };
        let stdout = logs::open_for_writer(&log_path).map_err(io("open the log file"))?;
        let stderr = stdout.try_clone().map_err(io("duplicate the log file"))?;
        let created_at = inner.clock.now();
        let mut command = spawn::command(
            &invocation,
            &spec.env,
            Stdio::from(stdout),
            Stdio::from(stderr),
        );
        let start_failed = |reason: String| RuntimeError::StartFailed {
            name: spec.name.clone(),
            pod: format!("{}/{}", sandbox.namespace, sandbox.name),
            reason,
        };
        let mut child = command.spawn().map_err(|e| {
            logs::remove(&log_path);
            start_failed(format!("{}: {e}", invocation.program.display()))
        })?;
        let pid = child
            .id()
            .ok_or_else(|| start_failed("the process has no pid".to_owned()))?;
        // Read now, while it is at least a zombie nobody has reaped: this is what
        // tells it apart from a later process with the same pid.
        let start_time = proc_stats::read_stat(pid).map_or(0, |s| s.start_time);
        inner.cgroups.apply(&id, pid, &spec.resources);
        let record = Record {
            id: id.clone(),
            sandbox: sandbox.clone(),
            name: spec.name,
            attempt,
            image: spec.image,
            pid,
            start_time,
            log_path,
            created_at,
            started_at: inner.clock.now(),
            ports: spec.ports,
            env: spec.env,
            exit: None,
        };
        {
            let mut containers = inner.state.lock();
            containers.map.insert(
                id.clone(),
                Entry {
                    record,
                    adopted: false,
                    last_sample: None,
                },
            );
            inner.persist(&containers)?;
        }
        // One task per container waits for its exit. It holds the runtime weakly: once
        // the runtime is dropped (an agent going away), a later runtime on the same
        // directory owns the record, and this one must not write over it.
        let weak = Arc::downgrade(inner);
        let waited_id = id.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let Some(inner) = weak.upgrade() else { return };
            let (exit_code, signal, reason) = match status {
                Ok(status) => spawn::describe_exit(status),
                Err(_) => (-1, None, "Unknown"),
            };
            inner.record_exit(
                &waited_id,
                ExitRecord {
                    exit_code,
                    signal,
                    reason: reason.to_owned(),
                    message: None,
                    finished_at: inner.clock.now(),
                },
            );
        });
        Ok(ContainerId(id))
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let target = inner.with(id, |e| {
            e.is_running()
                .then_some((e.record.pid, e.record.start_time))
        })?;
        let Some((pid, start_time)) = target else {
            return Ok(());
        };
        signal_group(pid, start_time, Signal::SIGTERM);
        if !inner.wait_exit(id, grace).await? {
            signal_group(pid, start_time, Signal::SIGKILL);
            if !inner.wait_exit(id, KILL_WAIT).await? {
                return Err(RuntimeError::Other(format!(
                    "container {id} (pid {pid}) did not exit within {KILL_WAIT:?} of SIGKILL"
                )));
            }
        }
        // Whatever it started that outlived it (a child ignoring SIGTERM) goes too.
        signal_group_unchecked(pid, Signal::SIGKILL);
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        match self.stop_container(id, Duration::ZERO).await {
            Ok(()) => {}
            // Forget it anyway: an unkillable process must not pin its record.
            Err(RuntimeError::Other(why)) => {
                tracing::warn!(container = %id, why, "removing a container that would not die");
            }
            Err(e) => return Err(e),
        }
        let inner = &self.inner;
        let entry = {
            let mut containers = inner.state.lock();
            let entry = containers
                .map
                .remove(&id.0)
                .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
            inner.persist(&containers)?;
            entry
        };
        logs::remove(&entry.record.log_path);
        inner.cgroups.remove(&id.0);
        Ok(())
    }

    async fn container_status(
        &self,
        id: &ContainerId,
    ) -> Result<RuntimeContainerStatus, RuntimeError> {
        self.inner.with(id, |e| e.status())
    }

    async fn list_containers(&self) -> Result<Vec<RuntimeContainerStatus>, RuntimeError> {
        let inner = &self.inner;
        let mut containers = inner.state.lock();
        let now = inner.clock.now();
        let mut changed = false;
        for entry in containers.map.values_mut() {
            changed |= entry.refresh(now);
        }
        if changed {
            inner.persist(&containers)?;
        }
        Ok(containers.map.values().map(Entry::status).collect())
    }

    async fn logs(&self, id: &ContainerId, options: LogOptions) -> Result<LogStream, RuntimeError> {
        let inner = self.inner.clone();
        let path = inner.with(id, |e| e.record.log_path.clone())?;
        let io = |source| RuntimeError::Io {
            context: format!("read the log {}", path.display()),
            source,
        };
        logs::rotate_if_needed(&path, inner.log_limit).map_err(io)?;
        let (all, live_len) = logs::read_all(&path).map_err(io)?;
        let mut shown: &[u8] = &all;
        let mut offset = live_len;
        if options.follow {
            // Whole lines now; a partial last line comes with the follower.
            let whole = shown.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            offset = live_len.saturating_sub((shown.len() - whole) as u64);
            shown = &shown[..whole];
        }
        if let Some(n) = options.tail_lines {
            shown = tail_lines(shown, n);
        }
        let first = Bytes::copy_from_slice(shown);
        let head = futures::stream::iter((!first.is_empty()).then_some(Ok(first)));
        if !options.follow {
            return Ok(Box::pin(head));
        }
        let follower = Follower {
            inner,
            id: id.clone(),
            path,
            offset,
            done: false,
        };
        let rest = futures::stream::unfold(follower, |mut f| async move {
            f.next_chunk().await.map(|chunk| (chunk, f))
        });
        Ok(Box::pin(futures::StreamExt::chain(head, rest)))
    }

    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, RuntimeError> {
        let inner = &self.inner;
        let (pid, started_at, last) = inner.with(id, |e| {
            (
                e.is_running().then_some(e.record.pid),
                e.record.started_at,
                e.last_sample,
            )
        })?;
        let Some(pid) = pid else {
            return Err(RuntimeError::InvalidState {
                id: id.clone(),
                reason: "not running".to_owned(),
            });
        };
        let (ticks, pages) = proc_stats::group_usage(i32::try_from(pid).unwrap_or(i32::MAX));
        let now = inner.clock.now();
        let cpu_nanos = ticks.saturating_mul(1_000_000_000) / inner.tick_hz;
        let (since, before) = last.unwrap_or((started_at, 0));
        let wall = u64::try_from(now.since(since).as_nanos()).unwrap_or(u64::MAX);
        let millicores = match wall {
            0 => 0,
            wall => cpu_nanos.saturating_sub(before).saturating_mul(1000) / wall,
        };
        inner.with(id, |e| e.last_sample = Some((now, cpu_nanos)))?;
        Ok(ContainerStats {
            cpu_usage_nanos: cpu_nanos,
            cpu_millicores: millicores,
            memory_bytes: pages.saturating_mul(inner.page_size),
        })
    }

    async fn probe(
        &self,
        id: &ContainerId,
        handler: &ProbeHandler,
        timeout: Duration,
    ) -> Result<ProbeOutcome, RuntimeError> {
        let (running, ports, env) = self.inner.with(id, |e| {
            (e.is_running(), e.record.ports.clone(), e.record.env.clone())
        })?;
        if !running {
            return Ok(ProbeOutcome::Failure("container is not running".to_owned()));
        }
        Ok(match handler {
            ProbeHandler::Exec(exec) => self.exec_probe(&exec.command, &env, timeout).await,
            ProbeHandler::TcpSocket(tcp) => probe::tcp(tcp, &ports, LOCALHOST, timeout).await,
            ProbeHandler::HttpGet(http) => probe::http(http, &ports, LOCALHOST, timeout).await,
        })
    }
}

impl ProcessRuntime {
    /// Runs an exec probe's command as a new process with the container's environment
    /// (no shell); exit 0 within `timeout` is success.
    async fn exec_probe(
        &self,
        command: &[String],
        env: &[EnvVar],
        timeout: Duration,
    ) -> ProbeOutcome {
        let Some((program, args)) = command.split_first() else {
            return ProbeOutcome::Failure("empty exec command".to_owned());
        };
        let program = match self.inner.resolver.resolve(program) {
            Ok(p) => p,
            Err(why) => return ProbeOutcome::Failure(format!("exec {program:?}: {why}")),
        };
        let invocation = spawn::Invocation {
            program,
            args: args.to_vec(),
        };
        let mut child = match spawn::command(&invocation, env, Stdio::null(), Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return ProbeOutcome::Failure(format!("exec: {e}")),
        };
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => match spawn::describe_exit(status) {
                (0, _, _) => ProbeOutcome::Success,
                (code, _, _) => ProbeOutcome::Failure(format!("exit {code}")),
            },
            Ok(Err(e)) => ProbeOutcome::Failure(format!("exec: {e}")),
            Err(_) => {
                if let Some(pid) = child.id() {
                    signal_group_unchecked(pid, Signal::SIGKILL);
                }
                let _ = child.wait().await;
                ProbeOutcome::Failure(format!("timed out after {timeout:?}"))
            }
        }
    }
}

/// A `follow` log reader: polls the live file for new whole lines until the container
/// has exited, then yields whatever is left and ends.
struct Follower {
    inner: Arc<Inner>,
    id: ContainerId,
    path: PathBuf,
    offset: u64,
    done: bool,
}

impl Follower {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, RuntimeError>> {
        let io = |path: &Path| {
            let context = format!("follow the log {}", path.display());
            move |source| RuntimeError::Io { context, source }
        };
        while !self.done {
            // Read the exit state first: output written before the exit is then
            // certainly in the file when the final read happens.
            let running = match self.inner.with(&self.id, |e| e.is_running()) {
                Ok(running) => running,
                Err(_) => return None,
            };
            if !running {
                self.done = true;
                let rest = match logs::read_rest(&self.path, self.offset) {
                    Ok(rest) => rest,
                    Err(e) => return Some(Err(io(&self.path)(e))),
                };
                return (!rest.is_empty()).then(|| Ok(Bytes::from(rest)));
            }
            match logs::read_from(&self.path, self.offset) {
                Ok((chunk, offset)) => {
                    self.offset = offset;
                    if !chunk.is_empty() {
                        return Some(Ok(Bytes::from(chunk)));
                    }
                }
                Err(e) => return Some(Err(io(&self.path)(e))),
            }
            tokio::time::sleep(POLL * 5).await;
        }
        None
    }
}
