//! The relist (the kubelet's pod lifecycle event generator): every `relist_period` the
//! runtime's containers are listed and compared with the previous listing; each pod
//! whose containers changed state (started, exited, vanished, appeared) is queued
//! for a sync. This is how the agent notices a crash without polling every pod.
//!
//! Every agent relists every second, so with thousands of agents in one process the
//! comparison is the hot part: [`SeenContainers`] keeps one map across relists and
//! updates it in place, so a relist of an unchanged runtime allocates nothing of its
//! own and clones no key (the runtime's listing itself still allocates).

use std::collections::HashMap;
use std::sync::Arc;

use orchestra_core::{ContainerId, RuntimeContainerState, RuntimeContainerStatus};
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
        let mut seen = SeenContainers::default();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(ctx.config.relist_period) => {}
            }
            match ctx.runtime.list_containers().await {
                Ok(list) => seen.relist(list, |pod| queue.add(pod)),
                Err(error) => tracing::warn!(%error, "relist failed"),
            }
        }
    })
}

/// What the last relist saw of one container.
struct Seen {
    state: RuntimeContainerState,
    pod: ObjectKey,
    /// The relist that last listed it.
    round: u64,
}

/// The containers the last relist saw, by id, and the comparison with the next.
#[derive(Default)]
pub(crate) struct SeenContainers {
    /// Hashed with foldhash, as the reconcile cache's keys: looked up for every
    /// container on every relist.
    by_id: HashMap<ContainerId, Seen, foldhash::fast::RandomState>,
    round: u64,
}

impl SeenContainers {
    /// Takes in a new listing and calls `changed` with the pod of every container that
    /// appeared, vanished or changed state since the last one (a pod may be named more
    /// than once; the queue coalesces).
    pub(crate) fn relist(
        &mut self,
        list: Vec<RuntimeContainerStatus>,
        mut changed: impl FnMut(ObjectKey),
    ) {
        self.round += 1;
        let round = self.round;
        for status in list {
            match self.by_id.get_mut(&status.id) {
                Some(seen) => {
                    seen.round = round;
                    if seen.state != status.state {
                        seen.state = status.state;
                        changed(seen.pod.clone());
                    }
                }
                None => {
                    let pod = ObjectKey::namespaced(status.sandbox.namespace, status.sandbox.name);
                    changed(pod.clone());
                    let seen = Seen {
                        state: status.state,
                        pod,
                        round,
                    };
                    self.by_id.insert(status.id, seen);
                }
            }
        }
        self.by_id.retain(|_, seen| {
            let listed = seen.round == round;
            if !listed {
                changed(seen.pod.clone());
            }
            listed
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orchestra_core::kinds::Container;
    use orchestra_core::{ContainerConfig, PodSandbox, Runtime};

    use super::*;
    use crate::runtimes::{SimBehavior, SimKill, SimRuntime, SimSelector};

    async fn start(runtime: &SimRuntime, pod: &str, image: &str) -> ContainerId {
        let config = ContainerConfig {
            sandbox: PodSandbox {
                uid: format!("uid-{pod}"),
                namespace: "default".into(),
                name: pod.into(),
            },
            container: Container {
                name: "main".into(),
                image: image.into(),
                ..Container::default()
            },
            attempt: 0,
        };
        runtime.start_container(config).await.unwrap()
    }

    /// The pods one relist of `runtime` queues, sorted.
    async fn relist(seen: &mut SeenContainers, runtime: &SimRuntime) -> Vec<String> {
        let mut pods = Vec::new();
        let list = runtime.list_containers().await.unwrap();
        seen.relist(list, |key| pods.push(key.name));
        pods.sort();
        pods
    }

    #[tokio::test(start_paused = true)]
    async fn queues_pods_whose_containers_appear_change_or_vanish() {
        let runtime = SimRuntime::builder()
            .start_latency(Duration::from_secs(1))
            .build();
        runtime.profile().set_behavior(
            SimSelector::image("crasher:1"),
            SimBehavior::exit_after(Duration::from_secs(5), 1),
        );
        let mut seen = SeenContainers::default();
        let web = start(&runtime, "web", "web:1").await;
        start(&runtime, "crasher", "crasher:1").await;
        assert_eq!(relist(&mut seen, &runtime).await, ["crasher", "web"]);
        assert!(
            relist(&mut seen, &runtime).await.is_empty(),
            "nothing changed"
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["crasher", "web"],
            "both started"
        );
        assert!(relist(&mut seen, &runtime).await.is_empty());

        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["crasher"],
            "exited on its own"
        );

        runtime.kill(&web, SimKill::OutOfMemory).unwrap();
        assert_eq!(relist(&mut seen, &runtime).await, ["web"], "killed");
        assert!(relist(&mut seen, &runtime).await.is_empty());

        runtime.remove_container(&web).await.unwrap();
        start(&runtime, "web", "web:1").await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["web", "web"],
            "one gone, one new"
        );
        assert!(relist(&mut seen, &runtime).await.is_empty());
    }
}
