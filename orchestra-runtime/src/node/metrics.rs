//! [`RuntimeMetrics`]: the autoscaler's [`MetricsSource`] read from the runtimes'
//! container stats — the role metrics-server plays in Kubernetes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use orchestra_core::kinds::Pod;
use orchestra_core::{ResourceExt, Runtime};
use parking_lot::RwLock;

use crate::controllers::MetricsSource;
use crate::controllers::hpa::MetricsError;

/// Per-pod cpu (millicores) and memory (bytes) usage, summed over the pod's running
/// containers, from the runtime of the node each pod is bound to.
///
/// Register each node's runtime with [`add_node`](RuntimeMetrics::add_node) (an
/// in-process cluster does it for its agents). Custom per-pod metrics are not runtime
/// stats: [`MetricsSource::pod_metric`] reports them unavailable.
#[derive(Clone, Default)]
pub struct RuntimeMetrics {
    nodes: Arc<RwLock<HashMap<String, Arc<dyn Runtime>>>>,
}

impl RuntimeMetrics {
    /// A source with no nodes yet.
    pub fn new() -> RuntimeMetrics {
        RuntimeMetrics::default()
    }

    /// Reads the pods of node `node` from `runtime`.
    pub fn add_node(&self, node: impl Into<String>, runtime: Arc<dyn Runtime>) {
        self.nodes.write().insert(node.into(), runtime);
    }

    /// Stops reading node `node`.
    pub fn remove_node(&self, node: &str) {
        self.nodes.write().remove(node);
    }
}

#[async_trait]
impl MetricsSource for RuntimeMetrics {
    async fn pod_resource_usage(
        &self,
        pods: &[Arc<Pod>],
        resource: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        if resource != "cpu" && resource != "memory" {
            return Err(MetricsError::Unavailable(format!(
                "runtime stats have no resource {resource:?} (only cpu and memory)"
            )));
        }
        // One listing per node, not per pod.
        let mut by_node: HashMap<&str, Vec<&Arc<Pod>>> = HashMap::new();
        for pod in pods {
            if let Some(node) = pod.node_name() {
                by_node.entry(node).or_default().push(pod);
            }
        }
        let mut usage = HashMap::new();
        for (node, pods) in by_node {
            let Some(runtime) = self.nodes.read().get(node).cloned() else {
                continue;
            };
            let Ok(containers) = runtime.list_containers().await else {
                continue;
            };
            for pod in pods {
                let mut total = None;
                for c in containers
                    .iter()
                    .filter(|c| c.sandbox.uid == pod.uid() && c.state.is_running())
                {
                    if let Ok(stats) = runtime.stats(&c.id).await {
                        let value = if resource == "cpu" {
                            stats.cpu_millicores
                        } else {
                            stats.memory_bytes
                        };
                        *total.get_or_insert(0i64) += i64::try_from(value).unwrap_or(i64::MAX);
                    }
                }
                if let Some(total) = total {
                    usage.insert(pod.name_any().to_owned(), total);
                }
            }
        }
        Ok(usage)
    }

    async fn pod_metric(
        &self,
        _pods: &[Arc<Pod>],
        metric: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        Err(MetricsError::Unavailable(format!(
            "custom metric {metric:?} is not a runtime stat"
        )))
    }
}
