//! Binding a pod to a node: the one write a scheduler makes, through the `binding`
//! subresource as in Kubernetes.

use super::params::Binding;
use super::{Api, ApiError};
use crate::kinds::Pod;
use crate::resource::ResourceExt;

impl Api<Pod> {
    /// Binds `pod` to the node `node_name`: sets `spec.nodeName` and the
    /// `PodScheduled=True` condition in one write.
    ///
    /// A pod is bound at most once. Fails with [`ApiError::Conflict`] when the stored
    /// pod is already bound (to any node), is being deleted, or is not the same pod
    /// (`pod`'s uid, when set, differs: the name was deleted and re-created); with
    /// [`ApiError::NotFound`] when it is gone. Writes by others in between (a status
    /// update, say) do not make it fail.
    pub async fn bind(&self, pod: &Pod, node_name: &str) -> Result<Pod, ApiError> {
        let name = pod.name_any();
        let namespace = pod
            .namespace()
            .or(self.namespace())
            .filter(|ns| !ns.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "cannot bind Pod {name:?}: it names no namespace and the Api has none"
                ))
            })?;
        let mut binding = Binding::to_node(node_name);
        if !pod.uid().is_empty() {
            binding = binding.pod_uid(pod.uid());
        }
        let bound = self
            .client()
            .service()
            .bind(namespace, name, &binding)
            .await?;
        self.decode(bound)
    }
}
