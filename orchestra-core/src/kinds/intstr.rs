//! `IntOrString`: a field that holds either a count or a percentage (`maxSurge: 3`,
//! `maxUnavailable: "25%"`), or either a port number or a port name.

use serde::{Deserialize, Serialize};

/// An integer or a string, serialized as whichever it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A plain integer.
    Int(i32),
    /// A string, e.g. `"25%"` or a port name.
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> Self {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        IntOrString::String(v.to_owned())
    }
}

impl IntOrString {
    /// The absolute value this stands for out of `total`: an integer as is, a percentage
    /// of `total` rounded up or down, as Kubernetes' `GetScaledValueFromIntOrPercent`.
    /// A string that is not a percentage is an error naming it.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, String> {
        match self {
            IntOrString::Int(v) => Ok(*v),
            IntOrString::String(s) => {
                let percent: i64 = s
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| {
                        format!(
                            "invalid value {s:?}: must be an integer or a percentage like \"25%\""
                        )
                    })?;
                let scaled = i64::from(total) * percent;
                let value = if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                };
                i32::try_from(value).map_err(|_| format!("{s:?} of {total} is out of range"))
            }
        }
    }

    /// Whether this is a valid count or percentage: a non-negative integer, or a string
    /// `N%` with `N >= 0`.
    pub fn validate_count_or_percent(&self) -> Result<(), String> {
        match self {
            IntOrString::Int(v) if *v < 0 => Err(format!("{v} must not be negative")),
            IntOrString::Int(_) => Ok(()),
            IntOrString::String(_) => self.scaled_value(100, false).map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_rolling_update_example() {
        // 10 replicas with 25% / 25%: surge rounds up to 3, unavailable down to 2.
        assert_eq!(IntOrString::from("25%").scaled_value(10, true), Ok(3));
        assert_eq!(IntOrString::from("25%").scaled_value(10, false), Ok(2));
        assert_eq!(IntOrString::from(4).scaled_value(10, true), Ok(4));
        assert_eq!(IntOrString::from("0%").scaled_value(10, true), Ok(0));
    }

    #[test]
    fn json_shapes_and_errors() {
        let v: IntOrString = serde_json::from_str("\"25%\"").unwrap();
        assert_eq!(v, IntOrString::from("25%"));
        let v: IntOrString = serde_json::from_str("3").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "3");
        let err = IntOrString::from("lots")
            .scaled_value(10, true)
            .unwrap_err();
        assert!(err.contains("\"lots\""), "{err}");
        assert!(
            IntOrString::from("-5%")
                .validate_count_or_percent()
                .is_err()
        );
        assert!(IntOrString::from(-1).validate_count_or_percent().is_err());
    }
}
