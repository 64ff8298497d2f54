//! The node's own objects: the `Node` the agent registers (capacity, labels, Ready,
//! addresses) and the `Lease` it renews as its heartbeat.

use std::time::Duration;

use orchestra_core::kinds::{
    ConditionStatus, LABEL_HOSTNAME, Lease, LeaseSpec, Node, NodeAddress, NodeCondition,
    NodeStatus, NodeSystemInfo,
};
use orchestra_core::{Api, ApiError, Client, ObjectMeta};
use tokio_util::sync::CancellationToken;

use super::NodeAgentConfig;
use crate::controllers::node_lifecycle::NODE_LEASE_NAMESPACE;

/// The `Ready` condition an agent posts while it runs.
fn ready_condition(now: orchestra_core::Time) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: ConditionStatus::True,
        reason: Some("NodeAgentReady".into()),
        message: Some("node agent is posting ready status".into()),
        last_heartbeat_time: Some(now),
        last_transition_time: Some(now),
    }
}

fn desired_status(config: &NodeAgentConfig, now: orchestra_core::Time) -> NodeStatus {
    NodeStatus {
        capacity: config.capacity.clone(),
        allocatable: config.allocatable(),
        conditions: vec![ready_condition(now)],
        addresses: vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.address.clone(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.node_name.clone(),
            },
        ],
        node_info: Some(system_info()),
    }
}

/// What this agent knows of the machine it runs on, for `kubectl get nodes` (VERSION,
/// and with `-o wide` the system columns, `<unknown>` where empty).
fn system_info() -> NodeSystemInfo {
    // Kubernetes names architectures as Go does.
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    NodeSystemInfo {
        kubelet_version: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
        operating_system: std::env::consts::OS.to_owned(),
        architecture: architecture.to_owned(),
        ..NodeSystemInfo::default()
    }
}

/// The longest wait between two attempts to register.
const MAX_REGISTER_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);

/// Registers the Node, as [`register_once`] does, trying again with backoff (100 ms
/// doubling to 10 s) for as long as the API fails in a way that may pass — as a kubelet
/// keeps trying to register with an API server that is not there yet. Other errors
/// (the Node is invalid, the agent is refused) end it.
pub(crate) async fn register_node(
    client: &Client,
    config: &NodeAgentConfig,
) -> Result<(), ApiError> {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match register_once(client, config).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() => {
                tracing::warn!(node = %config.node_name, error = %e, retry_in = ?delay, "cannot register the node yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_REGISTER_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the Node, or takes over the existing one (an agent restarting): labels and
/// taints from the config are merged in, and the status is replaced with this agent's
/// capacity and `Ready=True`.
async fn register_once(client: &Client, config: &NodeAgentConfig) -> Result<(), ApiError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut labels = config.labels.clone();
    labels.insert(LABEL_HOSTNAME.to_owned(), config.node_name.clone());
    let mut node = Node {
        metadata: ObjectMeta::named(&config.node_name),
        ..Default::default()
    };
    node.metadata.labels = labels.clone();
    node.spec.taints = config.taints.clone();
    match nodes.create(&node).await {
        Ok(_) => {}
        Err(ApiError::AlreadyExists(_)) => {
            nodes
                .update_with(&config.node_name, |n| {
                    n.metadata.labels.extend(labels.clone());
                    for t in &config.taints {
                        if !n
                            .spec
                            .taints
                            .iter()
                            .any(|have| have.key == t.key && have.effect == t.effect)
                        {
                            n.spec.taints.push(t.clone());
                        }
                    }
                })
                .await?;
        }
        Err(e) => return Err(e),
    }
    let now = client.clock().now();
    nodes
        .update_status_with(&config.node_name, |n| {
            n.status = Some(desired_status(config, now));
        })
        .await?;
    Ok(())
}

/// Renews the node's Lease every `renew_interval` until `cancel` fires, and puts
/// `Ready` back to `True` if the node lifecycle controller marked the node unknown
/// while the agent was away.
pub(crate) async fn renew_lease(
    client: Client,
    config: std::sync::Arc<NodeAgentConfig>,
    cancel: CancellationToken,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let nodes: Api<Node> = Api::all(client.clone());
    let name = config.node_name.clone();
    let duration_seconds = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    loop {
        let now = client.clock().now();
        let renewed = async {
            match leases.get_opt(&name).await? {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta::namespaced(NODE_LEASE_NAMESPACE, &name),
                        spec: LeaseSpec {
                            holder_identity: Some(name.clone()),
                            lease_duration_seconds: Some(duration_seconds),
                            acquire_time: Some(now),
                            renew_time: Some(now),
                            lease_transitions: None,
                        },
                    };
                    leases.create(&lease).await.map(drop)
                }
                Some(mut lease) => {
                    lease.spec.holder_identity = Some(name.clone());
                    lease.spec.lease_duration_seconds = Some(duration_seconds);
                    lease.spec.renew_time = Some(now);
                    leases.update(&lease).await.map(drop)
                }
            }?;
            let node = nodes.get(&name).await?;
            if !node.is_ready() {
                nodes
                    .update_status_with(&name, |n| {
                        let status = n.status.get_or_insert_with(Default::default);
                        status.conditions.retain(|c| c.type_ != "Ready");
                        status.conditions.push(ready_condition(now));
                    })
                    .await?;
            }
            Ok::<(), ApiError>(())
        };
        // Boxed: the renewal's store calls (kilobytes of state) run for a moment every
        // `renew_interval`; inline, they would size the task for all the time between.
        let wait = match Box::pin(renewed).await {
            Ok(()) => config.lease_renew_interval,
            Err(error) => {
                tracing::warn!(node = %name, %error, "could not renew the node lease; retrying");
                config.lease_renew_interval.min(Duration::from_secs(1))
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
