//! The status of a condition, shared by every kind's conditions.

use serde::{Deserialize, Serialize};

/// Whether a condition holds: `"True"`, `"False"` or `"Unknown"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// It is not known whether the condition holds.
    #[default]
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(v: bool) -> Self {
        if v {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}
