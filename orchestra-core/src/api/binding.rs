//! Binding a pod to a node: the one write a scheduler makes, as Kubernetes' `binding`
//! subresource does it.

use super::{Api, ApiError};
use crate::kinds::{ConditionStatus, POD_SCHEDULED, Pod, PodStatus};
use crate::resource::Resource;

impl Api<Pod> {
    /// Binds `pod` to the node `node_name`: sets `spec.nodeName` and the
    /// `PodScheduled=True` condition in one write.
    ///
    /// A pod is bound at most once. Fails with [`ApiError::Conflict`] when the stored
    /// pod is already bound (to any node), is being deleted, or is not the same pod
    /// (`pod`'s uid, when set, differs: the name was deleted and re-created); with
    /// [`ApiError::NotFound`] when it is gone. Writes by others in between (a status
    /// update, say) do not make it fail: it reads again and rechecks.
    ///
    /// When `pod` carries a resourceVersion (a scheduler's cached copy), the first
    /// attempt writes without reading: guarded by that version, it can only succeed if
    /// the stored pod is exactly the one checked here.
    pub async fn bind(&self, pod: &Pod, node_name: &str) -> Result<Pod, ApiError> {
        let name = pod.meta().name.as_deref().unwrap_or_default();
        let namespace = pod.meta().namespace.as_deref();
        if node_name.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "cannot bind Pod {name:?} to an empty node name"
            )));
        }
        let conflict = |message: String| ApiError::Conflict {
            kind: Pod::KIND,
            name: self.qualify(namespace.or(self.namespace.as_deref()), name),
            message,
        };
        let now = self.client.clock().now();
        let bound_copy = |current: &Pod| -> Result<Pod, ApiError> {
            if current.meta().is_being_deleted() {
                return Err(conflict("the pod is being deleted".to_owned()));
            }
            if let Some(bound) = current.node_name() {
                return Err(conflict(format!(
                    "the pod is already bound to node {bound:?}"
                )));
            }
            let mut bound = current.clone();
            bound.spec.node_name = Some(node_name.to_owned());
            bound
                .status
                .get_or_insert_with(PodStatus::default)
                .set_condition(POD_SCHEDULED, ConditionStatus::True, None, None, now);
            Ok(bound)
        };

        if let Some(revision) = super::cached_revision(pod) {
            let kv = self.stored_at(namespace, name, revision)?;
            match self.write_raw(&kv, bound_copy(pod)?).await {
                Err(e) if e.is_conflict() => {}
                other => return other,
            }
        }

        self.retry_on_conflict(true, || async {
            let (kv, current) = self.get_kv_in(namespace, name).await?;
            if let (Some(want), Some(have)) =
                (pod.meta().uid.as_deref(), current.meta().uid.as_deref())
                && want != have
            {
                return Err(conflict(format!(
                    "the pod was re-created (uid {have}, expected {want})"
                )));
            }
            self.write_raw(&kv, bound_copy(&current)?).await
        })
        .await
    }
}
