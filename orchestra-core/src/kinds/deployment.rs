//! `Deployment` (apps/v1): declarative updates of replicated pods through ReplicaSets.

use serde::{Deserialize, Serialize};

use super::{
    ConditionStatus, Container, IntOrString, PodSpec, PodTemplateSpec,
    check_selector_matches_template, spec_status_resource,
};
use crate::labels::LabelSelector;
use crate::meta::ObjectMeta;
use crate::time::Time;
use crate::validation::FieldErrors;

/// A deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: DeploymentSpec,
    /// The observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

/// A deployment's desired state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// How many pods (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Which pods it manages; must match the template's labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// The pods it runs.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How old pods are replaced by new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
    /// Seconds a pod must be ready to count as available (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets kept for rollback (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Seconds without progress before the rollout counts as failed (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Whether rollouts are paused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// How a deployment replaces pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<DeploymentStrategyType>,
    /// Parameters of `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// The kind of deployment strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeploymentStrategyType {
    /// Replace pods gradually, within maxSurge and maxUnavailable.
    #[default]
    RollingUpdate,
    /// Remove every old pod before creating new ones.
    Recreate,
}

/// Bounds of a rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// How many pods (or what percentage, rounded up) may exist above `replicas`
    /// (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// How many pods (or what percentage, rounded down) may be unavailable (default
    /// 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// A deployment's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods of all its ReplicaSets.
    #[serde(default)]
    pub replicas: i32,
    /// Pods with the current template.
    #[serde(default)]
    pub updated_replicas: i32,
    /// Ready pods.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Pods ready for at least minReadySeconds.
    #[serde(default)]
    pub available_replicas: i32,
    /// Pods still needed for full availability.
    #[serde(default)]
    pub unavailable_replicas: i32,
    /// Bumped when a template hash collides with an existing ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// `Available`, `Progressing`, `ReplicaFailure`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
}

/// One condition of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word (e.g. `ProgressDeadlineExceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl Deployment {
    /// A Deployment `name` of `replicas` pods of one container (named `name` too)
    /// running `image`, labelled and selected by `app=name`, with every other field at
    /// its default (rolling update, 25% / 25%): what `kubectl create deployment NAME
    /// --image=IMAGE --replicas=N` creates. Adjust the template before creating it for
    /// more.
    ///
    /// ```
    /// use orchestra_core::kinds::Deployment;
    ///
    /// let web = Deployment::new("my-web-server", 1000, "web-server:1");
    /// assert_eq!(web.replicas(), 1000);
    /// assert!(web.spec.selector.matches(&web.spec.template.metadata.unwrap().labels));
    /// ```
    pub fn new(name: &str, replicas: i32, image: &str) -> Self {
        let selector = LabelSelector::new().match_label("app", name);
        Deployment {
            metadata: ObjectMeta::named(name),
            spec: DeploymentSpec {
                replicas: Some(replicas),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: selector.match_labels.clone(),
                        ..ObjectMeta::default()
                    }),
                    spec: PodSpec {
                        containers: vec![Container {
                            name: name.to_owned(),
                            image: image.to_owned(),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    },
                },
                selector,
                ..DeploymentSpec::default()
            },
            status: None,
        }
    }

    /// The desired number of pods.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// The strategy type.
    pub fn strategy_type(&self) -> DeploymentStrategyType {
        self.spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_)
            .unwrap_or_default()
    }

    /// The condition of type `type_`, if reported.
    pub fn condition(&self, type_: &str) -> Option<&DeploymentCondition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Fills in Kubernetes' defaults, as the API server does on every create and
    /// update.
    pub fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        spec.min_ready_seconds.get_or_insert(0);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        let type_ = *strategy
            .type_
            .get_or_insert(DeploymentStrategyType::RollingUpdate);
        if type_ == DeploymentStrategyType::RollingUpdate {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            rolling
                .max_surge
                .get_or_insert_with(|| IntOrString::from("25%"));
            rolling
                .max_unavailable
                .get_or_insert_with(|| IntOrString::from("25%"));
        }
        spec.template.spec.apply_defaults();
    }

    /// Checks the kind's own fields (not metadata), naming every bad field, as the
    /// API server does before every write.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        self.field_problems().into_result()
    }

    fn field_problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        let spec = &self.spec;
        if self.replicas() < 0 {
            errors.push(
                "spec.replicas",
                format!("{} must not be negative", self.replicas()),
            );
        }
        for (field, value) in [
            ("spec.minReadySeconds", spec.min_ready_seconds),
            ("spec.revisionHistoryLimit", spec.revision_history_limit),
        ] {
            if value.is_some_and(|v| v < 0) {
                errors.push(field, "must not be negative");
            }
        }
        if spec.progress_deadline_seconds.is_some_and(|d| d <= 0) {
            errors.push("spec.progressDeadlineSeconds", "must be positive");
        }
        if let (Some(deadline), Some(min_ready)) =
            (spec.progress_deadline_seconds, spec.min_ready_seconds)
        {
            if deadline <= min_ready {
                errors.push(
                    "spec.progressDeadlineSeconds",
                    "must be greater than minReadySeconds",
                );
            }
        }
        if let Some(strategy) = &spec.strategy {
            let rolling = strategy.rolling_update.as_ref();
            if strategy.type_ == Some(DeploymentStrategyType::Recreate) && rolling.is_some() {
                errors.push(
                    "spec.strategy.rollingUpdate",
                    "may not be set when strategy type is Recreate",
                );
            }
            if let Some(r) = rolling {
                let mut values = Vec::new();
                for (field, v) in [
                    ("maxSurge", &r.max_surge),
                    ("maxUnavailable", &r.max_unavailable),
                ] {
                    let Some(v) = v else { continue };
                    match v.validate_count_or_percent() {
                        Err(e) => errors.push(format!("spec.strategy.rollingUpdate.{field}"), e),
                        Ok(()) => values.push(v.scaled_value(100, true).unwrap_or(1)),
                    }
                }
                if let Some(IntOrString::String(s)) = &r.max_unavailable {
                    if s.strip_suffix('%')
                        .and_then(|p| p.parse::<i64>().ok())
                        .is_some_and(|p| p > 100)
                    {
                        errors.push(
                            "spec.strategy.rollingUpdate.maxUnavailable",
                            "must not be greater than 100%",
                        );
                    }
                }
                if values.len() == 2 && values.iter().all(|v| *v == 0) {
                    errors.push(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "may not be 0 when maxSurge is 0",
                    );
                }
            }
        }
        check_selector_matches_template(&spec.selector, &spec.template, "spec", &mut errors);
        spec.template
            .spec
            .validate_into("spec.template.spec", &mut errors);
        errors
    }
}

spec_status_resource!(
    Deployment,
    "Deployment",
    "apps/v1",
    "deployments",
    "deployment",
    ["deploy"],
    Namespaced
);
