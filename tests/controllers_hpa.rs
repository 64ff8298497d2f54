//! The autoscaler over a Deployment, in paused virtual time, with a fake metrics source
//! playing the load: scale-up within the policies, the max bound, and scale-down held
//! back by the 300 s stabilization window.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{mark_pods_ready, memory_client};
use orchestra::core::kinds::{
    Deployment, HorizontalPodAutoscaler, MetricSourceType, MetricSpec, MetricTarget,
    MetricTargetType, Pod, ResourceRequirements,
};
use orchestra::core::{Api, Client, ResourceExt};
use orchestra::runtime::controllers::hpa::MetricsError;
use orchestra::runtime::controllers::{
    DeploymentController, HpaController, MetricsSource, ReplicaSetController,
};
use orchestra::runtime::reconcile::Manager;
use tokio_util::sync::CancellationToken;

/// Every pod uses the same cpu, set by the test.
struct Load(AtomicI64);

#[async_trait]
impl MetricsSource for Load {
    async fn pod_resource_usage(
        &self,
        pods: &[Arc<Pod>],
        resource: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        if resource != "cpu" {
            return Err(MetricsError::Unavailable(resource.into()));
        }
        Ok(pods
            .iter()
            .map(|p| (p.name_any().to_owned(), self.0.load(Ordering::SeqCst)))
            .collect())
    }

    /// `requests_per_second`: every pod reports the load's figure.
    async fn pod_metric(
        &self,
        pods: &[Arc<Pod>],
        metric: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        if metric != "requests_per_second" {
            return Err(MetricsError::Unavailable(metric.into()));
        }
        Ok(pods
            .iter()
            .map(|p| {
                (
                    p.name_any().to_owned(),
                    self.0.load(Ordering::SeqCst) * 1000,
                )
            })
            .collect())
    }
}

fn web() -> Deployment {
    let mut d = common::web_deployment(2, "web-server:1");
    d.spec.template.spec.containers[0].resources = ResourceRequirements {
        requests: [("cpu".to_string(), "100m".parse().unwrap())].into(),
        ..Default::default()
    };
    d
}

fn autoscaler() -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler::for_deployment("web", 1, 10, 50)
}

/// Runs the ReplicaSet, Deployment and autoscaler controllers over `metrics`.
fn start_controllers(client: &Client, metrics: Arc<dyn MetricsSource>) -> CancellationToken {
    let mut manager = Manager::new(client.clone());
    let rs = ReplicaSetController::new(client.clone(), manager.informers());
    let d = DeploymentController::new(client.clone(), manager.informers());
    let hpa = HpaController::new(client.clone(), manager.informers(), metrics);
    manager = manager.controller(rs);
    manager = manager.controller(d);
    manager = manager.controller(hpa);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });
    stop
}

async fn run_for(client: &Client, secs: u64) {
    for _ in 0..secs {
        tokio::time::sleep(Duration::from_secs(1)).await;
        mark_pods_ready(client).await;
    }
}

#[tokio::test(start_paused = true)]
async fn scales_out_under_load_and_back_in_after_the_window() {
    let (client, _) = memory_client();
    let load = Arc::new(Load(AtomicI64::new(40)));
    let stop = start_controllers(&client, load.clone());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), "default");
    deployments.create(&web()).await.unwrap();
    autoscalers.create(&autoscaler()).await.unwrap();
    run_for(&client, 40).await;
    assert_eq!(
        deployments.get("web").await.unwrap().replicas(),
        2,
        "40% against a 50% target: ceil(2 × 0.8) = 2"
    );

    // 200% of requests: out, at most max(4 pods, 100%) per 15 s, up to the max of 10.
    load.0.store(200, Ordering::SeqCst);
    run_for(&client, 20).await;
    let first = deployments.get("web").await.unwrap().replicas();
    assert!(
        (3..=6).contains(&first),
        "first step within the policy: {first}"
    );
    run_for(&client, 90).await;
    assert_eq!(deployments.get("web").await.unwrap().replicas(), 10);
    let status = autoscalers.get("web").await.unwrap().status.unwrap();
    let limited = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ScalingLimited")
        .unwrap();
    assert_eq!(limited.reason.as_deref(), Some("TooManyReplicas"));
    assert_eq!(
        status.current_metrics[0].current.average_utilization,
        Some(200)
    );

    // Load drops: the 300 s window holds the replicas, then they come down.
    load.0.store(10, Ordering::SeqCst);
    run_for(&client, 250).await;
    assert_eq!(
        deployments.get("web").await.unwrap().replicas(),
        10,
        "held by the stabilization window"
    );
    run_for(&client, 400).await;
    let after = deployments.get("web").await.unwrap().replicas();
    assert!(after < 10, "scaled in after the window: {after}");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_custom_per_pod_metric_drives_scaling_too() {
    use orchestra::core::kinds::{MetricIdentifier, PodsMetricSource};
    let (client, _) = memory_client();
    let load = Arc::new(Load(AtomicI64::new(30)));
    let stop = start_controllers(&client, load.clone());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments.create(&web()).await.unwrap();
    let mut scaler = autoscaler();
    scaler.spec.metrics = vec![MetricSpec {
        type_: MetricSourceType::Pods,
        resource: None,
        pods: Some(PodsMetricSource {
            metric: MetricIdentifier {
                name: "requests_per_second".into(),
                selector: None,
            },
            target: MetricTarget {
                type_: MetricTargetType::AverageValue,
                average_value: Some("10".parse().unwrap()),
                ..Default::default()
            },
        }),
    }];
    Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), "default")
        .create(&scaler)
        .await
        .unwrap();
    // 30 requests/s per pod against a target of 10: the first decision triples the pods.
    let mut replicas = 2;
    for _ in 0..60 {
        run_for(&client, 1).await;
        replicas = deployments.get("web").await.unwrap().replicas();
        if replicas != 2 {
            break;
        }
    }
    assert_eq!(replicas, 6);
    stop.cancel();
}

/// Reports cpu only for the first `reporting` pods (by name), the same figure for each.
struct Gappy {
    usage: i64,
    reporting: usize,
}

#[async_trait]
impl MetricsSource for Gappy {
    async fn pod_resource_usage(
        &self,
        pods: &[Arc<Pod>],
        _resource: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        let mut names: Vec<&str> = pods.iter().map(|p| p.name_any()).collect();
        names.sort_unstable();
        Ok(names
            .into_iter()
            .take(self.reporting)
            .map(|n| (n.to_owned(), self.usage))
            .collect())
    }

    async fn pod_metric(
        &self,
        _pods: &[Arc<Pod>],
        metric: &str,
    ) -> Result<HashMap<String, i64>, MetricsError> {
        Err(MetricsError::Unavailable(metric.into()))
    }
}

#[tokio::test(start_paused = true)]
async fn pods_without_metrics_count_as_busy_when_scaling_in() {
    let (client, _) = memory_client();
    // 10 pods; 5 report 20% of their 100m request (target 50%), 5 report nothing.
    let source = Arc::new(Gappy {
        usage: 20,
        reporting: 5,
    });
    let stop = start_controllers(&client, source.clone());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut ten = web();
    ten.spec.replicas = Some(10);
    deployments.create(&ten).await.unwrap();
    run_for(&client, 20).await;
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), "default");
    autoscalers.create(&autoscaler()).await.unwrap();
    run_for(&client, 280).await;
    assert_eq!(
        deployments.get("web").await.unwrap().replicas(),
        10,
        "a new autoscaler waits a whole scale-down window before scaling in"
    );
    run_for(&client, 40).await;
    // Measured pods alone say 40% of target: ceil(5 × 0.4) = 2. Counting the silent
    // five at the target: (5 × 20 + 5 × 50) / (10 × 50) = 0.7, so ceil(10 × 0.7) = 7.
    assert_eq!(deployments.get("web").await.unwrap().replicas(), 7);
    stop.cancel();
}
