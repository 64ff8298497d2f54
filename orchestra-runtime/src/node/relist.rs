//! The relist (the kubelet's pod lifecycle event generator): every `relist_period` the
//! runtime's containers are listed and compared with the previous listing; each pod
//! whose containers changed state (started, exited, vanished, appeared) is queued
//! for a sync. This is how the agent notices a crash without polling every pod.

use std::collections::HashMap;
use std::sync::Arc;

use orchestra_core::{ContainerId, RuntimeContainerState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::AgentContext;
use crate::reconcile::{ObjectKey, WorkQueue};

/// Starts the relist loop.
pub(crate) fn run(
    ctx: AgentContext,
    queue: Arc<WorkQueue<ObjectKey>>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: HashMap<ContainerId, (RuntimeContainerState, ObjectKey)> = HashMap::new();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(ctx.config.relist_period) => {}
            }
            let list = match ctx.runtime.list_containers().await {
                Ok(list) => list,
                Err(error) => {
                    tracing::warn!(%error, "relist failed");
                    continue;
                }
            };
            let mut now: HashMap<ContainerId, (RuntimeContainerState, ObjectKey)> =
                HashMap::with_capacity(list.len());
            for status in list {
                let key = ObjectKey::namespaced(status.sandbox.namespace, status.sandbox.name);
                let changed = seen
                    .get(&status.id)
                    .is_none_or(|(state, _)| *state != status.state);
                if changed {
                    queue.add(key.clone());
                }
                now.insert(status.id, (status.state, key));
            }
            for (id, (_, key)) in &seen {
                if !now.contains_key(id) {
                    queue.add(key.clone());
                }
            }
            seen = now;
        }
    })
}
