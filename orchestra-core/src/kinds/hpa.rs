//! `HorizontalPodAutoscaler` (autoscaling/v2): scales a workload to keep a metric at a
//! target.

use serde::{Deserialize, Serialize};

use super::{ConditionStatus, spec_status_resource};
use crate::labels::LabelSelector;
use crate::meta::ObjectMeta;
use crate::quantity::Quantity;
use crate::time::Time;
use crate::validation::FieldErrors;

/// The CPU utilization target an autoscaler gets when it declares no metric.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// An autoscaler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HorizontalPodAutoscaler {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired behaviour.
    #[serde(default)]
    pub spec: HorizontalPodAutoscalerSpec,
    /// The observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<HorizontalPodAutoscalerStatus>,
}

/// An autoscaler's desired behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerSpec {
    /// The workload to scale.
    #[serde(default)]
    pub scale_target_ref: CrossVersionObjectReference,
    /// The fewest replicas (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// The most replicas.
    #[serde(default)]
    pub max_replicas: i32,
    /// What to measure (default: CPU utilization 80%).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
    /// How fast to scale each way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// A reference to the scaled workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossVersionObjectReference {
    /// Its apiVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Its kind, e.g. `Deployment`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// One metric to scale on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Which of the sources below is set.
    #[serde(rename = "type")]
    pub type_: MetricSourceType,
    /// A resource of each pod (cpu, memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    /// A custom per-pod metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
}

/// The kind of metric source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricSourceType {
    /// Per-pod resource usage.
    #[default]
    Resource,
    /// A custom per-pod metric.
    Pods,
    /// A metric of another object.
    Object,
    /// A metric from outside the cluster.
    External,
}

/// A resource metric: usage of `name` across the target's pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceMetricSource {
    /// `cpu` or `memory`.
    pub name: String,
    /// The target.
    pub target: MetricTarget,
}

/// A custom per-pod metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodsMetricSource {
    /// Which metric.
    pub metric: MetricIdentifier,
    /// The target (an average value).
    pub target: MetricTarget,
}

/// Names a custom metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricIdentifier {
    /// The metric's name.
    pub name: String,
    /// Narrows the metric by its labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The target value of a metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTarget {
    /// Which field below holds the target.
    #[serde(rename = "type")]
    pub type_: MetricTargetType,
    /// A percentage of the pods' requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
    /// An average per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// A total value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
}

/// The kind of metric target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricTargetType {
    /// A percentage of requests.
    #[default]
    Utilization,
    /// An average per pod.
    AverageValue,
    /// A total value.
    Value,
}

/// Scale-up and scale-down rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerBehavior {
    /// Rules for scaling up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HPAScalingRules>,
    /// Rules for scaling down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HPAScalingRules>,
}

/// Rules for scaling one way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HPAScalingRules {
    /// Seconds of past recommendations considered, to avoid flapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    /// Which policy wins when several allow different changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<ScalingPolicySelect>,
    /// The limits on change per period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<HPAScalingPolicy>,
}

/// Which policy wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalingPolicySelect {
    /// The policy allowing the biggest change.
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling this way.
    Disabled,
}

/// A limit on change per period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HPAScalingPolicy {
    /// Pods or percent.
    #[serde(rename = "type")]
    pub type_: HPAScalingPolicyType,
    /// How many pods, or what percentage.
    pub value: i32,
    /// Over how many seconds.
    pub period_seconds: i32,
}

/// The unit of a scaling policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HPAScalingPolicyType {
    /// A number of pods.
    #[default]
    Pods,
    /// A percentage of the current replicas.
    Percent,
}

/// An autoscaler's observed state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When it last scaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// The target's replicas when last seen.
    #[serde(default)]
    pub current_replicas: i32,
    /// The replicas it wants.
    #[serde(default)]
    pub desired_replicas: i32,
    /// The last measured values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_metrics: Vec<MetricStatus>,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<HorizontalPodAutoscalerCondition>,
}

/// A measured metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricStatus {
    /// Which kind of source.
    #[serde(rename = "type")]
    pub type_: MetricSourceType,
    /// The metric's name (`cpu`, or a custom metric's).
    pub name: String,
    /// The measured value.
    pub current: MetricValueStatus,
}

/// A measured value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValueStatus {
    /// As a percentage of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
    /// As an average per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
}

/// One condition of an autoscaler.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerCondition {
    /// `AbleToScale`, `ScalingActive` or `ScalingLimited`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl HPAScalingRules {
    /// Kubernetes' default scale-up rules: no stabilization, at most the larger of 4
    /// pods or 100% per 15 s.
    pub fn default_scale_up() -> Self {
        HPAScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some(ScalingPolicySelect::Max),
            policies: vec![
                HPAScalingPolicy {
                    type_: HPAScalingPolicyType::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                HPAScalingPolicy {
                    type_: HPAScalingPolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// Kubernetes' default scale-down rules: a 300 s stabilization window, up to 100%
    /// per 15 s.
    pub fn default_scale_down() -> Self {
        HPAScalingRules {
            stabilization_window_seconds: Some(300),
            select_policy: Some(ScalingPolicySelect::Max),
            policies: vec![HPAScalingPolicy {
                type_: HPAScalingPolicyType::Percent,
                value: 100,
                period_seconds: 15,
            }],
        }
    }

    fn fill_from(&mut self, defaults: HPAScalingRules) {
        self.stabilization_window_seconds = self
            .stabilization_window_seconds
            .or(defaults.stabilization_window_seconds);
        self.select_policy = self.select_policy.or(defaults.select_policy);
        if self.policies.is_empty() {
            self.policies = defaults.policies;
        }
    }
}

impl MetricSpec {
    /// The pods' average CPU use, as a percentage of what they request, held at
    /// `percent`.
    pub fn cpu_utilization(percent: i32) -> MetricSpec {
        MetricSpec {
            type_: MetricSourceType::Resource,
            resource: Some(ResourceMetricSource {
                name: "cpu".to_owned(),
                target: MetricTarget {
                    type_: MetricTargetType::Utilization,
                    average_utilization: Some(percent),
                    ..Default::default()
                },
            }),
            pods: None,
        }
    }
}

impl HorizontalPodAutoscaler {
    /// An autoscaler named like the Deployment `name` it scales, between `min` and
    /// `max` replicas, holding their average CPU use at `cpu_percent` of their requests:
    /// what `kubectl autoscale deployment NAME --min --max --cpu-percent` creates.
    ///
    /// ```
    /// use orchestra_core::kinds::HorizontalPodAutoscaler;
    ///
    /// let hpa = HorizontalPodAutoscaler::for_deployment("web", 2, 10, 50);
    /// assert_eq!(hpa.spec.scale_target_ref.kind, "Deployment");
    /// assert_eq!(hpa.spec.max_replicas, 10);
    /// ```
    pub fn for_deployment(name: &str, min: i32, max: i32, cpu_percent: i32) -> Self {
        HorizontalPodAutoscaler {
            metadata: ObjectMeta::named(name),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".to_owned()),
                    kind: "Deployment".to_owned(),
                    name: name.to_owned(),
                },
                min_replicas: Some(min),
                max_replicas: max,
                metrics: vec![MetricSpec::cpu_utilization(cpu_percent)],
                behavior: None,
            },
            status: None,
        }
    }

    /// Fills in Kubernetes' defaults, as the API server does on every create and
    /// update.
    pub fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.min_replicas.get_or_insert(1);
        if spec.metrics.is_empty() {
            spec.metrics
                .push(MetricSpec::cpu_utilization(DEFAULT_CPU_UTILIZATION));
        }
        let behavior = spec.behavior.get_or_insert_with(Default::default);
        behavior
            .scale_up
            .get_or_insert_with(Default::default)
            .fill_from(HPAScalingRules::default_scale_up());
        behavior
            .scale_down
            .get_or_insert_with(Default::default)
            .fill_from(HPAScalingRules::default_scale_down());
    }

    /// Checks the kind's own fields (not metadata), naming every bad field, as the
    /// API server does before every write.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        self.field_problems().into_result()
    }

    fn field_problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        let spec = &self.spec;
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 {
            errors.push("spec.minReplicas", format!("{min} must be at least 1"));
        }
        if spec.max_replicas < min {
            errors.push(
                "spec.maxReplicas",
                format!("{} must be at least minReplicas ({min})", spec.max_replicas),
            );
        }
        if spec.scale_target_ref.kind.is_empty() {
            errors.push("spec.scaleTargetRef.kind", "must not be empty");
        }
        if spec.scale_target_ref.name.is_empty() {
            errors.push("spec.scaleTargetRef.name", "must not be empty");
        }
        for (i, m) in spec.metrics.iter().enumerate() {
            let field = format!("spec.metrics[{i}]");
            let present = match m.type_ {
                MetricSourceType::Resource => m.resource.is_some(),
                MetricSourceType::Pods => m.pods.is_some(),
                MetricSourceType::Object | MetricSourceType::External => {
                    errors.push(
                        format!("{field}.type"),
                        format!("{:?} metrics are not supported", m.type_),
                    );
                    true
                }
            };
            if !present {
                errors.push(
                    field.clone(),
                    format!("a {:?} metric needs its {:?} source set", m.type_, m.type_),
                );
            }
            if let Some(r) = &m.resource {
                if r.target.type_ == MetricTargetType::Utilization
                    && r.target.average_utilization.is_none_or(|u| u <= 0)
                {
                    errors.push(
                        format!("{field}.resource.target.averageUtilization"),
                        "must be a positive percentage",
                    );
                }
            }
        }
        if let Some(b) = &spec.behavior {
            for (name, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
                let Some(rules) = rules else { continue };
                if rules
                    .stabilization_window_seconds
                    .is_some_and(|w| !(0..=3600).contains(&w))
                {
                    errors.push(
                        format!("spec.behavior.{name}.stabilizationWindowSeconds"),
                        "must be within 0-3600",
                    );
                }
                for (i, p) in rules.policies.iter().enumerate() {
                    if p.value <= 0 {
                        errors.push(
                            format!("spec.behavior.{name}.policies[{i}].value"),
                            "must be positive",
                        );
                    }
                    if !(1..=1800).contains(&p.period_seconds) {
                        errors.push(
                            format!("spec.behavior.{name}.policies[{i}].periodSeconds"),
                            "must be within 1-1800",
                        );
                    }
                }
            }
        }
        errors
    }
}

spec_status_resource!(
    HorizontalPodAutoscaler,
    "HorizontalPodAutoscaler",
    "autoscaling/v2",
    "horizontalpodautoscalers",
    "horizontalpodautoscaler",
    ["hpa"],
    Namespaced
);
