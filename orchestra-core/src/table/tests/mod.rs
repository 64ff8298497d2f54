//! Tests of the tables, by area: the pod rules, the other built-in kinds, and the wire
//! shape and printers.

mod kinds;
mod pods;
mod wire;

use serde_json::{Value, json};

use super::*;
use crate::api::ObjectBody;
use crate::kinds::{
    ConditionStatus, Deployment, Event, HorizontalPodAutoscaler, Lease, Node, Pod, ReplicaSet,
};
use crate::kinds::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, CrossVersionObjectReference, DeploymentStatus,
    EventSource, HorizontalPodAutoscalerStatus, LeaseSpec, MetricSourceType, MetricSpec,
    MetricStatus, MetricTarget, MetricTargetType, MetricValueStatus, NodeAddress, NodeCondition,
    NodeStatus, NodeSystemInfo, ObjectReference, PodCondition, PodPhase, PodStatus,
    PodsMetricSource, ReplicaSetStatus, ResourceMetricSource,
};
use crate::labels::LabelSelector;
use crate::resource::ApiResource;
use crate::resource::Scope;

const NOW: i64 = 1_800_000_000;

fn now() -> Time {
    Time::from_unix_seconds(NOW)
}

fn ago(seconds: i64) -> Time {
    Time::from_unix_seconds(NOW - seconds)
}

fn meta(name: &str, created_ago: i64) -> ObjectMeta {
    let mut meta = ObjectMeta::namespaced("default", name);
    meta.creation_timestamp = Some(ago(created_ago));
    meta
}

fn cells<K: Columns>(obj: &K) -> Vec<Value> {
    let cells = obj.cells(now());
    assert_eq!(cells.len(), K::columns().len(), "one cell per column");
    cells
}
