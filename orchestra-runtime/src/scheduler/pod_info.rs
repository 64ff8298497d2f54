//! [`PodInfo`]: the pod a scheduling cycle places, with what every plugin needs of it
//! computed once.
//!
//! It sits below the framework and the snapshot, which both take it (the framework's
//! extension points are called with it; the snapshot assumes a pod from it), and needs
//! only [`node_info`](super::node_info) itself, so the modules depend on each other
//! one way: `node_info` ← `pod_info` ← `snapshot` ← `framework`.

use std::sync::Arc;

use orchestra_core::kinds::Pod;

use super::node_info::PodRequests;

/// The pod being scheduled, with what every plugin needs precomputed once.
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// What it requests (cpu, memory, one pod), for fitting and for scoring.
    pub requests: PodRequests,
    /// The uid of its controlling owner, if it has one.
    pub owner_uid: Option<Arc<str>>,
}

impl PodInfo {
    /// Precomputes what the plugins need of `pod`.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let requests = PodRequests::of(&pod);
        let owner_uid = pod
            .metadata
            .controller_ref()
            .map(|r| Arc::<str>::from(r.uid.as_str()));
        PodInfo {
            pod,
            requests,
            owner_uid,
        }
    }
}
