//! `Lease` (coordination.k8s.io/v1): a lock with a holder and an expiry, used for node
//! heartbeats and leader election.

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::{Resource, Scope};
use crate::time::Time;
use crate::validation::FieldErrors;

/// A lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The lease.
    #[serde(default)]
    pub spec: LeaseSpec,
}

/// The state of a lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    /// Who holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    /// How long it is valid after a renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<Time>,
    /// When the current holder last renewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<Time>,
    /// How many times it changed holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
}

impl Resource for Lease {
    const KIND: &'static str = "Lease";
    const API_VERSION: &'static str = "coordination.k8s.io/v1";
    const PLURAL: &'static str = "leases";
    const SINGULAR: &'static str = "lease";
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Lease {
    /// Checks the lease's own fields, naming every bad one.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Some(d) = self.spec.lease_duration_seconds {
            if d <= 0 {
                errors.push("spec.leaseDurationSeconds", format!("{d} must be positive"));
            }
        }
        if self.spec.lease_transitions.is_some_and(|t| t < 0) {
            errors.push("spec.leaseTransitions", "must not be negative");
        }
        errors.into_result()
    }
}
