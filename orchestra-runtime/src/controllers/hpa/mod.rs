//! The HorizontalPodAutoscaler controller: measures the pods of a scale target through a
//! [`MetricsSource`], computes the ratio of each metric to its target and the replicas
//! it asks for ([`calculate`]), and resizes the target within its bounds, windows and
//! policies ([`decide`]).
//!
//! Any kind with a `scale` subresource can be a target, as in Kubernetes: the
//! controller finds the target's kind by discovery from `scaleTargetRef`, reads its
//! replicas and pod selector through the subresource and writes the new replicas back
//! through it. Deployments and ReplicaSets have one; a user's kind gets one from its
//! strategy ([`Strategy::scale`](orchestra_core::registry::Strategy::scale)).

pub mod calculate;
pub mod decide;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_core::kinds::{
    ConditionStatus, CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus, MetricSourceType,
    MetricStatus, MetricTargetType, MetricValueStatus, Pod, PodsMetricSource, ResourceMetricSource,
};
use orchestra_core::{
    Api, ApiError, Client, LabelSelector, PartialObjectMetadata, Quantity, ResourceExt, Time,
};
use parking_lot::Mutex;

use crate::controllers::pod_helpers::is_active;
use crate::reconcile::{Action, Cache, Context, Controller, Informers, ObjectKey};
use calculate::{PodUsage, UsageRatio, average_value_ratio, utilization_ratio};
use decide::{Stamped, apply_policies, stabilize};

/// How often each autoscaler is re-evaluated by default (Kubernetes' sync period).
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// Errors reading metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The source has no figures (yet) for these pods or this metric.
    #[error("no metrics: {0}")]
    Unavailable(String),
}

/// Where the autoscaler reads pod usage: the node agent's runtime stats in a cluster, a
/// fake in tests.
#[async_trait]
pub trait MetricsSource: Send + Sync + 'static {
    /// The current usage of `resource` (`cpu` in millicores, `memory` in bytes) of
    /// each of `pods`, by pod name. Pods without a figure are left out.
    async fn pod_resource_usage(
        &self,
        pods: &[Arc<Pod>],
        resource: &str,
    ) -> Result<HashMap<String, i64>, MetricsError>;

    /// The current value (in milli-units) of the custom metric `metric` of each of
    /// `pods`, by pod name.
    async fn pod_metric(
        &self,
        pods: &[Arc<Pod>],
        metric: &str,
    ) -> Result<HashMap<String, i64>, MetricsError>;
}

/// Recommendation and scale history of one autoscaler.
#[derive(Default)]
struct History {
    recommendations: Vec<Stamped>,
    changes: Vec<Stamped>,
}

/// The autoscaler controller.
pub struct HpaController {
    client: Client,
    pods: Cache<Pod>,
    metrics: Arc<dyn MetricsSource>,
    history: Mutex<HashMap<ObjectKey, History>>,
    sync_period: Duration,
}

impl HpaController {
    /// A controller reading pods from `informers` and usage from `metrics`, able to
    /// scale any kind with a `scale` subresource.
    pub fn new(client: Client, informers: &Informers, metrics: Arc<dyn MetricsSource>) -> Self {
        HpaController {
            pods: informers.cache::<Pod>(),
            client,
            metrics,
            history: Mutex::new(HashMap::new()),
            sync_period: SYNC_PERIOD,
        }
    }

    /// Sets how often each autoscaler is re-evaluated (default [`SYNC_PERIOD`], as
    /// Kubernetes' `--horizontal-pod-autoscaler-sync-period`). A demo or a test in real
    /// time wants seconds, not 15 of them, between measurements.
    #[must_use]
    pub fn sync_period(mut self, period: Duration) -> Self {
        self.sync_period = period.max(Duration::from_millis(1));
        self
    }

    /// The scale subresource of `target` in `namespace`, through an API for its kind.
    async fn target_api(
        &self,
        namespace: &str,
        target: &CrossVersionObjectReference,
    ) -> Result<Api<PartialObjectMetadata>, ApiError> {
        let api_version = target.api_version.as_deref().unwrap_or("apps/v1");
        let resource = self.client.resolve(api_version, &target.kind).await?;
        Ok(Api::namespaced_with(
            self.client.clone(),
            namespace,
            resource,
        ))
    }

    /// The replicas the metrics ask for, with the status of each metric, or why none
    /// could be measured. Usage is measured on the `pods` that are ready; the
    /// `starting` pods (not ready yet) and the ready pods without a figure are counted
    /// as [`calculate`] says.
    async fn recommend(
        &self,
        hpa: &HorizontalPodAutoscaler,
        current: i32,
        pods: &[Arc<Pod>],
        starting: &[Arc<Pod>],
    ) -> Result<(i32, Vec<MetricStatus>), String> {
        let mut best: Option<i32> = None;
        let mut statuses = Vec::new();
        for m in &hpa.spec.metrics {
            let (name, (usage, value)) = match (m.type_, &m.resource, &m.pods) {
                (MetricSourceType::Resource, Some(r), _) => {
                    (&r.name, self.measure_resource(r, pods, starting).await?)
                }
                (MetricSourceType::Pods, _, Some(p)) => (
                    &p.metric.name,
                    self.measure_pods_metric(p, pods, starting.len()).await?,
                ),
                (other, _, _) => return Err(format!("{other:?} metrics are not supported")),
            };
            let desired = usage.desired_replicas(current);
            best = Some(best.map_or(desired, |b| b.max(desired)));
            statuses.push(MetricStatus {
                type_: m.type_,
                name: name.clone(),
                current: value,
            });
        }
        best.map(|b| (b, statuses))
            .ok_or_else(|| "no metrics".to_owned())
    }

    /// Fetches the usage of a resource by the `pods` and measures it against the
    /// target: as utilization of the requests, or as an average value.
    async fn measure_resource(
        &self,
        r: &ResourceMetricSource,
        pods: &[Arc<Pod>],
        starting: &[Arc<Pod>],
    ) -> Result<(UsageRatio, MetricValueStatus), String> {
        let usage = self
            .metrics
            .pod_resource_usage(pods, &r.name)
            .await
            .map_err(|e| e.to_string())?;
        let (measured, missing): (Vec<&Arc<Pod>>, Vec<&Arc<Pod>>) =
            pods.iter().partition(|p| usage.contains_key(p.name_any()));
        let no_usage = || format!("no {} usage for any pod", r.name);
        if measured.is_empty() {
            return Err(no_usage());
        }
        if r.target.type_ != MetricTargetType::Utilization {
            let values: Vec<i64> = measured.iter().map(|p| usage[p.name_any()]).collect();
            let target = target_milli(r.target.average_value.as_ref());
            let a = average_value_ratio(&values, starting.len(), target).ok_or_else(no_usage)?;
            return Ok((a.usage, average_status(a.average)));
        }
        let request = |p: &Pod| request_milli(p, &r.name);
        let measured: Vec<PodUsage> = measured
            .iter()
            .map(|p| PodUsage {
                usage: usage[p.name_any()],
                request: request(p),
            })
            .collect();
        let missing: Vec<i64> = missing.iter().map(|p| request(p)).collect();
        let starting: Vec<i64> = starting.iter().map(|p| request(p)).collect();
        let target = r.target.average_utilization.unwrap_or(80);
        let u = utilization_ratio(&measured, &missing, &starting, target)
            .ok_or_else(|| format!("pods have no {} request to compute utilization", r.name))?;
        let status = MetricValueStatus {
            average_utilization: Some(u.percent),
            average_value: None,
        };
        Ok((u.usage, status))
    }

    /// Fetches a custom metric of the `pods` and measures its average against the
    /// target, with `starting` pods not ready yet.
    async fn measure_pods_metric(
        &self,
        p: &PodsMetricSource,
        pods: &[Arc<Pod>],
        starting: usize,
    ) -> Result<(UsageRatio, MetricValueStatus), String> {
        let values = self
            .metrics
            .pod_metric(pods, &p.metric.name)
            .await
            .map_err(|e| e.to_string())?;
        let values: Vec<i64> = values.into_values().collect();
        let target = target_milli(p.target.average_value.as_ref());
        let a = average_value_ratio(&values, starting, target)
            .ok_or_else(|| format!("no values of {} for any pod", p.metric.name))?;
        Ok((a.usage, average_status(a.average)))
    }
}

/// An average-value target in milli-units; none set counts as one milli-unit.
fn target_milli(target: Option<&Quantity>) -> i64 {
    target.map_or(1, Quantity::milli_value)
}

/// The status of a metric measured as an average value (milli-units).
fn average_status(average: i64) -> MetricValueStatus {
    MetricValueStatus {
        average_utilization: None,
        average_value: Some(Quantity::from_milli(average)),
    }
}

fn request_milli(pod: &Pod, resource: &str) -> i64 {
    pod.spec
        .containers
        .iter()
        .filter_map(|c| c.resources.requests.get(resource))
        .map(Quantity::milli_value)
        .sum()
}

fn condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: Time,
    old: &[HorizontalPodAutoscalerCondition],
) -> HorizontalPodAutoscalerCondition {
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time)
        .unwrap_or(now);
    HorizontalPodAutoscalerCondition {
        type_: type_.into(),
        status,
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(since),
    }
}

#[async_trait]
impl Controller for HpaController {
    type Object = HorizontalPodAutoscaler;
    type Error = ApiError;

    fn name(&self) -> &str {
        "horizontal-pod-autoscaler"
    }

    async fn reconcile(
        &self,
        hpa: Arc<HorizontalPodAutoscaler>,
        ctx: &Context<HorizontalPodAutoscaler>,
    ) -> Result<Action, ApiError> {
        let namespace = hpa.namespace().unwrap_or("default").to_owned();
        let now = self.client.clock().now();
        let old_conditions = hpa
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let target_ref = &hpa.spec.scale_target_ref;
        let scaled = match self.target_api(&namespace, target_ref).await {
            Ok(api) => api,
            Err(e) if e.is_not_found() => {
                tracing::warn!(hpa = %hpa.object_key(), kind = %target_ref.kind, error = %e, "cannot scale this kind");
                return Ok(Action::requeue(self.sync_period));
            }
            Err(e) => return Err(e),
        };
        let scale = match scaled.scale(&target_ref.name).await {
            Ok(scale) => scale,
            Err(e) if e.is_not_found() => return Ok(Action::requeue(self.sync_period)),
            Err(e) => return Err(e),
        };
        let current = scale.spec.replicas;
        let selector: LabelSelector = match scale.status.selector.parse() {
            Ok(selector) => selector,
            Err(e) => {
                tracing::warn!(hpa = %hpa.object_key(), error = %e, "the target's scale has no usable selector");
                return Ok(Action::requeue(self.sync_period));
            }
        };
        let (pods, starting): (Vec<Arc<Pod>>, Vec<Arc<Pod>>) = self
            .pods
            .matching(Some(&namespace), &selector)
            .into_iter()
            .filter(|p| is_active(p))
            .partition(|p| p.is_ready());
        let (min, max) = (hpa.spec.min_replicas.unwrap_or(1), hpa.spec.max_replicas);
        let behavior = hpa.spec.behavior.clone().unwrap_or_default();
        let up = behavior
            .scale_up
            .unwrap_or_else(HPAScalingRules::default_scale_up);
        let down = behavior
            .scale_down
            .unwrap_or_else(HPAScalingRules::default_scale_down);

        let mut conditions = Vec::new();
        let (desired, metrics) = match self.recommend(&hpa, current, &pods, &starting).await {
            Ok((recommended, metrics)) => {
                conditions.push(condition(
                    "ScalingActive",
                    ConditionStatus::True,
                    "ValidMetricFound",
                    "the metrics were computed".into(),
                    now,
                    &old_conditions,
                ));
                let mut all = self.history.lock();
                // An autoscaler seen for the first time (new, or this controller just
                // started) remembers the current replicas as a recommendation, as
                // Kubernetes does: it may not scale in before a whole window passed.
                let history = all.entry(ctx.key.clone()).or_insert_with(|| History {
                    recommendations: vec![Stamped {
                        at: now,
                        value: current,
                    }],
                    ..Default::default()
                });
                let window = Duration::from_secs(3600);
                history.recommendations.retain(|r| now.since(r.at) < window);
                history.changes.retain(|r| now.since(r.at) < window);
                let stable = stabilize(
                    current,
                    recommended,
                    &history.recommendations,
                    &up,
                    &down,
                    now,
                );
                history.recommendations.push(Stamped {
                    at: now,
                    value: recommended,
                });
                let capped = apply_policies(current, stable, &history.changes, &up, &down, now);
                let bounded = capped.clamp(min, max.max(min));
                let limited = bounded != capped;
                conditions.push(condition(
                    "ScalingLimited",
                    limited.into(),
                    if !limited {
                        "DesiredWithinRange"
                    } else if capped > max {
                        "TooManyReplicas"
                    } else {
                        "TooFewReplicas"
                    },
                    format!("the desired count is {capped}, bounds are {min}..={max}"),
                    now,
                    &old_conditions,
                ));
                (bounded, metrics)
            }
            Err(why) => {
                conditions.push(condition(
                    "ScalingActive",
                    ConditionStatus::False,
                    "FailedGetResourceMetric",
                    why,
                    now,
                    &old_conditions,
                ));
                (current.clamp(min, max.max(min)), Vec::new())
            }
        };
        let mut last_scale_time = hpa.status.as_ref().and_then(|s| s.last_scale_time);
        if desired != current {
            let mut resized = scale.clone();
            resized.spec.replicas = desired;
            scaled.replace_scale(&target_ref.name, &resized).await?;
            self.history
                .lock()
                .entry(ctx.key.clone())
                .or_default()
                .changes
                .push(Stamped {
                    at: now,
                    value: desired - current,
                });
            last_scale_time = Some(now);
            tracing::info!(hpa = %hpa.object_key(), from = current, to = desired, "rescaled");
        }
        conditions.insert(
            0,
            condition(
                "AbleToScale",
                ConditionStatus::True,
                "SucceededRescale",
                "the target can be scaled".into(),
                now,
                &old_conditions,
            ),
        );
        let status = HorizontalPodAutoscalerStatus {
            observed_generation: hpa.metadata.generation,
            last_scale_time,
            current_replicas: current,
            desired_replicas: desired,
            current_metrics: metrics,
            conditions,
        };
        if hpa.status.as_ref() != Some(&status) {
            let api: Api<HorizontalPodAutoscaler> =
                Api::namespaced(self.client.clone(), &namespace);
            match api
                .update_status_with(hpa.name_any(), |h| h.status = Some(status.clone()))
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Action::requeue(self.sync_period))
    }

    async fn deleted(
        &self,
        key: &ObjectKey,
        _last: Option<Arc<HorizontalPodAutoscaler>>,
        _ctx: &Context<HorizontalPodAutoscaler>,
    ) -> Result<Action, ApiError> {
        self.history.lock().remove(key);
        Ok(Action::await_change())
    }
}
