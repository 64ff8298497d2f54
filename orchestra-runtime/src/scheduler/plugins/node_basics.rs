//! `NodeUnschedulable` (cordoned nodes take no new pods) and `NodeName` (a pod that
//! names its node fits only there).

use orchestra_core::kinds::{Taint, TaintEffect};

use crate::scheduler::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Unfit,
};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::pod_info::PodInfo;
use crate::scheduler::snapshot::Snapshot;

/// The taint a cordoned node is treated as carrying: a pod tolerating it may still go
/// there (as DaemonSet pods do in Kubernetes).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Filters out nodes with `spec.unschedulable` unless the pod tolerates
/// `node.kubernetes.io/unschedulable:NoSchedule`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        if !node.is_unschedulable() {
            return Ok(());
        }
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.to_owned(),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        };
        if pod.pod.spec.tolerations.iter().any(|t| t.tolerates(&taint)) {
            Ok(())
        } else {
            Err(Unfit::new("node(s) were unschedulable"))
        }
    }
}

/// A pod with `spec.nodeName` set fits only that node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
}

impl PreFilterPlugin for NodeName {
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
    ) -> Result<PreFilterResult, Unfit> {
        Ok(match pod.pod.node_name() {
            Some(name) => PreFilterResult::Only(vec![name.to_owned()]),
            None => PreFilterResult::Skip,
        })
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        match pod.pod.node_name() {
            Some(name) if name != node.name() => {
                Err(Unfit::new("node(s) didn't match the requested node name"))
            }
            _ => Ok(()),
        }
    }
}
