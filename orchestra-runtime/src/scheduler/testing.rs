//! Builders of nodes and pods for the scheduler's unit tests.

use std::sync::Arc;

use orchestra_core::ObjectMeta;
use orchestra_core::kinds::{
    Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements, Taint, TaintEffect,
};

use super::pod_info::PodInfo;

/// A node with `cpu` and `memory` allocatable and room for 110 pods.
pub(crate) fn node(name: &str, cpu: &str, memory: &str) -> Node {
    Node {
        metadata: ObjectMeta::named(name),
        status: Some(NodeStatus {
            allocatable: [
                ("cpu".to_owned(), cpu.parse().unwrap()),
                ("memory".to_owned(), memory.parse().unwrap()),
                ("pods".to_owned(), "110".parse().unwrap()),
            ]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn with_label(mut node: Node, key: &str, value: &str) -> Node {
    node.metadata
        .labels
        .insert(key.to_owned(), value.to_owned());
    node
}

pub(crate) fn with_taint(mut node: Node, key: &str, value: &str, effect: TaintEffect) -> Node {
    node.spec.taints.push(Taint {
        key: key.to_owned(),
        value: Some(value.to_owned()).filter(|v| !v.is_empty()),
        effect,
        time_added: None,
    });
    node
}

/// A pod requesting `cpu` and `memory` (empty strings: no request).
pub(crate) fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut requests = orchestra_core::ResourceList::new();
    if !cpu.is_empty() {
        requests.insert("cpu".to_owned(), cpu.parse().unwrap());
    }
    if !memory.is_empty() {
        requests.insert("memory".to_owned(), memory.parse().unwrap());
    }
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: "app:1".into(),
                resources: ResourceRequirements {
                    requests,
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

pub(crate) fn info(pod: Pod) -> PodInfo {
    PodInfo::new(Arc::new(pod))
}
