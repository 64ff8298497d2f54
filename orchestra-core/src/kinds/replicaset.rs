//! `ReplicaSet` (apps/v1): keeps a number of identical pods running.

use serde::{Deserialize, Serialize};

use super::{
    ConditionStatus, PodTemplateSpec, check_selector_matches_template, spec_status_resource,
};
use crate::labels::LabelSelector;
use crate::meta::ObjectMeta;
use crate::time::Time;
use crate::validation::FieldErrors;

/// A replica set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSet {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired replicas.
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    /// The observed replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicaSetStatus>,
}

/// A replica set's desired state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// How many pods (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a pod must be ready to count as available (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Which pods it owns; must match the template's labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// The pods it creates.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// A replica set's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// Pods it owns.
    #[serde(default)]
    pub replicas: i32,
    /// Pods whose labels match the template's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    /// Pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods ready for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// E.g. `ReplicaFailure`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ReplicaSetCondition>,
}

/// One condition of a replica set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetCondition {
    /// E.g. `ReplicaFailure`.
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

impl ReplicaSet {
    /// The desired number of pods.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    /// Fills in Kubernetes' defaults, as the API server does on every create and
    /// update.
    pub fn apply_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        self.spec.min_ready_seconds.get_or_insert(0);
        self.spec.template.spec.apply_defaults();
    }

    /// Checks the kind's own fields (not metadata), naming every bad field, as the
    /// API server does before every write.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        self.field_problems().into_result()
    }

    fn field_problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if self.replicas() < 0 {
            errors.push(
                "spec.replicas",
                format!("{} must not be negative", self.replicas()),
            );
        }
        if self.spec.min_ready_seconds.unwrap_or(0) < 0 {
            errors.push("spec.minReadySeconds", "must not be negative");
        }
        check_selector_matches_template(
            &self.spec.selector,
            &self.spec.template,
            "spec",
            &mut errors,
        );
        self.spec
            .template
            .spec
            .validate_into("spec.template.spec", &mut errors);
        errors
    }
}

spec_status_resource!(
    ReplicaSet,
    "ReplicaSet",
    "apps/v1",
    "replicasets",
    "replicaset",
    ["rs"],
    Namespaced
);
