//! Fixtures shared by the workspace's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use orchestra::core::registry::Registry;
use orchestra::core::{Client, Clock, ObjectMeta, Resource, Scope, Store, Time};
use orchestra::store::MemoryStore;
use serde::{Deserialize, Serialize};

/// A small user-defined namespaced kind with a spec and a status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    pub metadata: ObjectMeta,
    pub spec: WidgetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WidgetStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    pub size: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WidgetStatus {
    pub seen: u32,
}

impl Widget {
    pub fn new(name: &str, size: u32) -> Widget {
        Widget {
            metadata: ObjectMeta::named(name),
            spec: WidgetSpec {
                size,
                ..Default::default()
            },
            status: None,
        }
    }

    pub fn with_label(mut self, key: &str, value: &str) -> Widget {
        self.metadata.labels.insert(key.into(), value.into());
        self
    }
}

impl Resource for Widget {
    const KIND: &'static str = "Widget";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "widgets";
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A user-defined cluster-scoped kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rack {
    pub metadata: ObjectMeta,
}

impl Resource for Rack {
    const KIND: &'static str = "Rack";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "racks";
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The instant every test clock starts at.
pub fn epoch() -> Time {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// A registry over a fresh MemoryStore serving the built-in kinds and the test kinds
/// ([`Widget`], [`Rack`]), with a seeded id generator and a clock that starts at
/// [`epoch`] and follows tokio time.
pub fn memory_registry() -> Registry {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Registry::builder(store)
        .clock(Clock::starting_at(epoch()))
        .seed(1)
        .kind::<Widget>()
        .kind::<Rack>()
        .build()
}

/// A client of [`memory_registry`] (on the same clock), and the store beneath.
pub fn memory_client() -> (Client, Arc<dyn Store>) {
    let registry = memory_registry();
    let store = registry.store().clone();
    (client_of(&registry), store)
}

/// A client of `registry`, on its clock.
pub fn client_of(registry: &Registry) -> Client {
    Client::over(Arc::new(registry.clone()), registry.clock().clone())
}

/// Plays the node agent for tests without one: every pod that is not yet Running and
/// Ready becomes so, stamped with the client's clock. Returns how many it changed.
pub async fn mark_pods_ready(client: &Client) -> usize {
    mark_pods_ready_except(client, |_| false).await
}

/// Like [`mark_pods_ready`], leaving alone the pods `broken` picks (say, a bad image).
pub async fn mark_pods_ready_except(
    client: &Client,
    broken: impl Fn(&orchestra::core::kinds::Pod) -> bool,
) -> usize {
    use orchestra::core::kinds::{ConditionStatus, Pod, PodCondition, PodPhase, PodStatus};
    use orchestra::core::{Api, ListParams};
    let pods: Api<Pod> = Api::all(client.clone());
    let mut changed = 0;
    for pod in pods.list(&ListParams::default()).await.unwrap().items {
        if pod.is_ready() || pod.metadata.deletion_timestamp.is_some() || broken(&pod) {
            continue;
        }
        let mut ready = pod.clone();
        ready.status = Some(PodStatus {
            phase: Some(PodPhase::Running),
            conditions: vec![PodCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                last_transition_time: Some(client.clock().now()),
                ..Default::default()
            }],
            ..Default::default()
        });
        let namespaced: Api<Pod> = Api::namespaced(
            client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        if namespaced.update_status(&ready).await.is_ok() {
            changed += 1;
        }
    }
    changed
}

/// The pod template of the `web` workloads: label `app=web`, one container `web`.
pub fn web_template(image: &str) -> orchestra::core::kinds::PodTemplateSpec {
    use orchestra::core::kinds::{Container, PodSpec, PodTemplateSpec};
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        }),
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: image.into(),
                ..Default::default()
            }],
            ..Default::default()
        },
    }
}

/// A Deployment `web` of `replicas` pods running `image` (default strategy: rolling
/// update, 25% / 25%).
pub fn web_deployment(replicas: i32, image: &str) -> orchestra::core::kinds::Deployment {
    orchestra::core::kinds::Deployment::new("web", replicas, image)
}

/// A ReplicaSet `web` of `replicas` pods running `image`.
pub fn web_replicaset(replicas: i32, image: &str) -> orchestra::core::kinds::ReplicaSet {
    use orchestra::core::kinds::{ReplicaSet, ReplicaSetSpec};
    ReplicaSet {
        metadata: ObjectMeta::named("web"),
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: orchestra::core::LabelSelector::new().match_label("app", "web"),
            template: web_template(image),
            ..Default::default()
        },
        status: None,
    }
}
