//! `DefaultBinder`: binds through the typed API's binding call.

use async_trait::async_trait;
use orchestra_core::kinds::Pod;
use orchestra_core::{Api, ApiError, Client};

use crate::scheduler::framework::{BindPlugin, Plugin};

/// Binds with [`Api::bind`]: `spec.nodeName` and `PodScheduled=True` in one write,
/// refused if the pod is already bound, re-created or being deleted.
#[derive(Clone)]
pub struct DefaultBinder {
    client: Client,
}

impl DefaultBinder {
    /// A binder writing through `client`.
    pub fn new(client: Client) -> DefaultBinder {
        DefaultBinder { client }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        "DefaultBinder"
    }
}

#[async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), ApiError> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        pods.bind(pod, node).await.map(drop)
    }
}
