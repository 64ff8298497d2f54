//! Property test of the scheduling cycle: whatever the nodes and pods (and whatever
//! binds fail or pods are deleted on the way), no node is ever over-committed on
//! requests, every placed pod passed every filter on its node at the moment it was
//! placed, and a pod is reported unschedulable only when no node passes the filters.

use std::collections::HashMap;
use std::sync::Arc;

use orchestra::core::ObjectMeta;
use orchestra::core::kinds::{
    Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements, Taint, TaintEffect,
    Toleration, TolerationOperator,
};
use orchestra::runtime::reconcile::ObjectKey;
use orchestra::runtime::scheduler::plugins::default_profile;
use orchestra::runtime::scheduler::{
    AlgorithmConfig, PodInfo, Resources, Snapshot, algorithm::ScanCursor, schedule_pod,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

#[derive(Clone, Debug)]
struct NodeSpec {
    milli_cpu: i64,
    memory_mi: i64,
    pods: i64,
    zone: u8,
    tainted: bool,
    cordoned: bool,
}

#[derive(Clone, Debug)]
enum Step {
    /// Schedule a pod requesting cpu/memory, maybe pinned to a zone, maybe tolerating
    /// the taint; then its bind succeeds or fails.
    Pod {
        milli_cpu: i64,
        memory_mi: i64,
        zone: Option<u8>,
        tolerates: bool,
        bind_fails: bool,
    },
    /// Delete the n-th placed pod (modulo how many there are).
    Delete(usize),
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        0i64..8_000,
        0i64..16_384,
        0i64..12,
        0u8..3,
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(milli_cpu, memory_mi, pods, zone, tainted, cordoned)| NodeSpec {
                milli_cpu,
                memory_mi,
                pods,
                zone,
                tainted,
                cordoned,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0i64..3_000, 0i64..4_096, prop::option::weighted(0.3, 0u8..3), any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(milli_cpu, memory_mi, zone, tolerates, bind_fails)| Step::Pod {
                milli_cpu,
                memory_mi,
                zone,
                tolerates,
                bind_fails,
            }),
        1 => any::<usize>().prop_map(Step::Delete),
    ]
}

fn make_node(i: usize, spec: &NodeSpec) -> Node {
    let mut node = Node {
        metadata: ObjectMeta::named(format!("node-{i}")),
        status: Some(NodeStatus {
            allocatable: [
                (
                    "cpu".to_owned(),
                    format!("{}m", spec.milli_cpu).parse().unwrap(),
                ),
                (
                    "memory".to_owned(),
                    format!("{}Mi", spec.memory_mi).parse().unwrap(),
                ),
                ("pods".to_owned(), spec.pods.to_string().parse().unwrap()),
            ]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    node.metadata
        .labels
        .insert("zone".into(), format!("z{}", spec.zone));
    node.spec.unschedulable = spec.cordoned;
    if spec.tainted {
        node.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
    }
    node
}

fn make_pod(i: usize, milli_cpu: i64, memory_mi: i64, zone: Option<u8>, tolerates: bool) -> Pod {
    let mut requests = orchestra::core::ResourceList::new();
    if milli_cpu > 0 {
        requests.insert("cpu".into(), format!("{milli_cpu}m").parse().unwrap());
    }
    if memory_mi > 0 {
        requests.insert("memory".into(), format!("{memory_mi}Mi").parse().unwrap());
    }
    let mut pod = Pod {
        metadata: ObjectMeta::namespaced("default", format!("pod-{i}")),
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
    };
    if let Some(z) = zone {
        pod.spec
            .node_selector
            .insert("zone".into(), format!("z{z}"));
    }
    if tolerates {
        pod.spec.tolerations.push(Toleration {
            key: Some("dedicated".into()),
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        });
    }
    pod
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_overcommit_and_every_placement_passed_every_filter(
        nodes in prop::collection::vec(node_spec(), 0..12),
        steps in prop::collection::vec(step(), 0..80),
        seed in any::<u64>(),
    ) {
        let profile = default_profile("default-scheduler");
        let config = AlgorithmConfig::default();
        let mut snapshot = Snapshot::new();
        let node_objects: Vec<Node> = nodes.iter().enumerate().map(|(i, s)| make_node(i, s)).collect();
        for n in &node_objects {
            snapshot.upsert_node(Arc::new(n.clone()));
        }
        let mut cursor = ScanCursor::default();
        let mut rng = SmallRng::seed_from_u64(seed);
        // Our own ledger of what is placed where, independent of the snapshot.
        let mut placed: Vec<(ObjectKey, String, Resources)> = Vec::new();

        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Delete(n) if !placed.is_empty() => {
                    let (key, _, _) = placed.remove(n % placed.len());
                    snapshot.remove_pod(&key);
                }
                Step::Delete(_) => {}
                Step::Pod { milli_cpu, memory_mi, zone, tolerates, bind_fails } => {
                    let pod = make_pod(i, *milli_cpu, *memory_mi, *zone, *tolerates);
                    let key = ObjectKey::namespaced("default", format!("pod-{i}"));
                    let info = PodInfo::new(Arc::new(pod));
                    match schedule_pod(&profile, &config, &info, &snapshot, &mut cursor, &mut rng) {
                        Ok(result) => {
                            let node = snapshot.node(result.node_index);
                            for filter in profile_filters(&profile) {
                                prop_assert!(
                                    filter.filter(&result.state, &info, node).is_ok(),
                                    "{} refuses the chosen node {}", filter.name(), node.name()
                                );
                            }
                            let name = node.name().to_owned();
                            snapshot.assume(key.clone(), &info, result.node_index);
                            if *bind_fails {
                                snapshot.forget(&key);
                            } else {
                                placed.push((key, name, info.requests.actual));
                            }
                        }
                        Err(fit) => {
                            prop_assert_eq!(fit.unfit_nodes.len(), snapshot.len(),
                                "unschedulable only when every node was refused: {}", fit);
                        }
                    }
                }
            }
            // After every step: no node holds more than it offers.
            let mut used: HashMap<&str, Resources> = HashMap::new();
            for (_, node, r) in &placed {
                let u = used.entry(node.as_str()).or_default();
                *u += *r;
            }
            for node in snapshot.nodes() {
                let have = node.allocatable();
                let u = used.get(node.name()).copied().unwrap_or_default();
                prop_assert!(u.milli_cpu <= have.milli_cpu, "cpu over-committed on {}", node.name());
                prop_assert!(u.memory <= have.memory, "memory over-committed on {}", node.name());
                prop_assert!(u.pods <= have.pods, "pods over-committed on {}", node.name());
                prop_assert_eq!(node.requested(), u, "snapshot accounting of {} matches", node.name());
            }
        }
    }
}

fn profile_filters(
    profile: &orchestra::runtime::scheduler::Profile,
) -> Vec<Arc<dyn orchestra::runtime::scheduler::FilterPlugin>> {
    profile.filters().to_vec()
}
