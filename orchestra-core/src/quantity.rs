//! Resource quantities (`500m` cpu, `128Mi` memory) with exact integer arithmetic.
//!
//! A [`Quantity`] holds its amount as an exact integer count of thousandths of a unit
//! ("milli-units"): `500m` is 500, `2` is 2000, `128Mi` is 134,217,728,000. Amounts
//! finer than a thousandth (`1u`, `0.0001`) round up to the next thousandth, as
//! Kubernetes' scaled values do, so a request is never understated.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Resource names to quantities, e.g. `{"cpu": "500m", "memory": "128Mi"}`.
pub type ResourceList = BTreeMap<String, Quantity>;

/// The resource name of CPU, in cores.
pub const CPU: &str = "cpu";
/// The resource name of memory, in bytes.
pub const MEMORY: &str = "memory";
/// The resource name of a node's pod capacity, in pods.
pub const PODS: &str = "pods";

/// Largest magnitude accepted, in milli-units (10^30): far above any real resource and
/// far below overflow in sums of many quantities.
const MAX_MILLI: i128 = 1_000_000_000_000_000_000_000_000_000_000;

/// A resource amount such as `500m`, `2`, `128Mi`, `1G` or `1e3`.
///
/// Equality, ordering and hashing are by amount: `1000m == 1`, `1Gi != 1G`. A parsed
/// quantity displays (and serializes) as it was written; a computed one in a canonical
/// form: whole units as an integer (`2`, `134217728`), anything else in milli-units
/// (`1500m`).
#[derive(Clone)]
pub struct Quantity {
    milli: i128,
    text: Option<Box<str>>,
}

/// A quantity string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The string is empty (or only whitespace).
    #[error("invalid quantity {0:?}: empty")]
    Empty(String),
    /// The number part is malformed.
    #[error("invalid quantity {input:?}: {reason}")]
    Malformed {
        /// The whole input.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// The suffix is not one Kubernetes knows.
    #[error("invalid quantity {input:?}: unknown suffix {suffix:?}")]
    UnknownSuffix {
        /// The whole input.
        input: String,
        /// The suffix that was not recognised.
        suffix: String,
    },
    /// The amount is too large to represent.
    #[error("invalid quantity {0:?}: too large")]
    TooLarge(String),
}

impl Quantity {
    /// A quantity of `milli` thousandths of a unit (`from_milli(500)` is `500m`).
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity {
            milli: i128::from(milli),
            text: None,
        }
    }

    /// A quantity of `value` whole units (bytes, cores, pods).
    pub fn from_value(value: i64) -> Quantity {
        Quantity {
            milli: i128::from(value) * 1000,
            text: None,
        }
    }

    /// The amount in thousandths of a unit (millicores for cpu), saturating at the
    /// bounds of `i64`.
    pub fn milli_value(&self) -> i64 {
        i64::try_from(self.milli).unwrap_or(if self.milli < 0 { i64::MIN } else { i64::MAX })
    }

    /// The amount in whole units (bytes for memory), rounded up, saturating at the
    /// bounds of `i64`.
    pub fn value(&self) -> i64 {
        let units = self.milli.div_euclid(1000) + i128::from(self.milli.rem_euclid(1000) != 0);
        i64::try_from(units).unwrap_or(if units < 0 { i64::MIN } else { i64::MAX })
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }

    /// Whether the amount is below zero. Kubernetes parses negative quantities;
    /// validation of requests and limits rejects them.
    pub fn is_negative(&self) -> bool {
        self.milli < 0
    }

    fn computed(milli: i128) -> Quantity {
        Quantity {
            milli: milli.clamp(-MAX_MILLI, MAX_MILLI),
            text: None,
        }
    }
}

impl Default for Quantity {
    fn default() -> Self {
        Quantity::from_milli(0)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.milli == other.milli
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.milli.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.milli.cmp(&other.milli)
    }
}

/// Sums saturate at ±10^30 milli-units, far beyond any real cluster.
impl Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity::computed(self.milli + rhs.milli)
    }
}

impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, rhs: Quantity) -> Quantity {
        Quantity::computed(self.milli - rhs.milli)
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        *self = Quantity::computed(self.milli + rhs.milli);
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, rhs: Quantity) {
        *self = Quantity::computed(self.milli - rhs.milli);
    }
}

impl<'a> AddAssign<&'a Quantity> for Quantity {
    fn add_assign(&mut self, rhs: &'a Quantity) {
        *self = Quantity::computed(self.milli + rhs.milli);
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => f.write_str(text),
            None if self.milli % 1000 == 0 => write!(f, "{}", self.milli / 1000),
            None => write!(f, "{}m", self.milli),
        }
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

/// How a suffix scales the number: by a power of ten and a power of two.
fn suffix_scale(suffix: &str) -> Option<(i32, u32)> {
    Some(match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => return None,
    })
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| QuantityError::Malformed {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.trim().is_empty() {
            return Err(QuantityError::Empty(input.to_owned()));
        }
        if input.chars().any(char::is_whitespace) {
            return Err(malformed("whitespace is not allowed"));
        }
        let (negative, rest) = match input.as_bytes()[0] {
            b'-' => (true, &input[1..]),
            b'+' => (false, &input[1..]),
            _ => (false, input),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(malformed("a number is required"));
        }
        if frac.contains('.') {
            return Err(malformed("more than one decimal point"));
        }
        let (exp10, exp2) = match suffix_scale(suffix) {
            Some(scale) => scale,
            None => match suffix.strip_prefix(['e', 'E']) {
                Some(exp)
                    if !exp.is_empty()
                        && exp
                            .trim_start_matches(['+', '-'])
                            .chars()
                            .all(|c| c.is_ascii_digit()) =>
                {
                    let e: i32 = exp
                        .parse()
                        .map_err(|_| QuantityError::TooLarge(input.to_owned()))?;
                    (e, 0)
                }
                _ => {
                    return Err(QuantityError::UnknownSuffix {
                        input: input.to_owned(),
                        suffix: suffix.to_owned(),
                    });
                }
            },
        };
        let digits = format!("{whole}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 36 {
            return Err(QuantityError::TooLarge(input.to_owned()));
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| malformed("bad digits"))?
        };
        // amount in milli-units = mantissa * 10^(3 + exp10 - frac_len) * 2^exp2
        let too_large = || QuantityError::TooLarge(input.to_owned());
        let mut scaled = mantissa
            .checked_mul(1i128.checked_shl(exp2).ok_or_else(too_large)?)
            .ok_or_else(too_large)?;
        let exp = 3 + exp10 - frac.len() as i32;
        if exp >= 0 {
            let factor = 10i128.checked_pow(exp as u32).ok_or_else(too_large)?;
            scaled = if scaled == 0 {
                0
            } else {
                scaled.checked_mul(factor).ok_or_else(too_large)?
            };
        } else {
            let divisor = 10i128.checked_pow((-exp) as u32);
            scaled = match divisor {
                // Round up: an amount finer than a milli-unit is never understated.
                Some(d) => scaled / d + i128::from(scaled % d != 0),
                None => i128::from(scaled != 0),
            };
        }
        if scaled > MAX_MILLI {
            return Err(too_large());
        }
        let milli = if negative { -scaled } else { scaled };
        Ok(Quantity {
            milli,
            text: Some(input.into()),
        })
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) if f.is_finite() => f.to_string(),
            Raw::Float(f) => {
                return Err(serde::de::Error::custom(format!(
                    "invalid quantity {f}: not a finite number"
                )));
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_kubernetes_forms_exactly() {
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("2").milli_value(), 2000);
        assert_eq!(q("0.5").milli_value(), 500);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E-3").milli_value(), 1);
        assert_eq!(q("1.5k").value(), 1500);
        assert_eq!(q("-2").milli_value(), -2000);
        assert_eq!(q("+2").milli_value(), 2000);
        assert_eq!(q("1Ei").value(), 1 << 60);
        assert_eq!(q("0").milli_value(), 0);
    }

    #[test]
    fn sub_milli_amounts_round_up() {
        assert_eq!(q("1u").milli_value(), 1);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("0.0001").milli_value(), 1);
        assert_eq!(q("1500u").milli_value(), 2);
        assert_eq!(q("1m").value(), 1, "whole units round up too");
    }

    #[test]
    fn equality_is_numeric_and_display_keeps_the_text() {
        assert_eq!(q("1000m"), q("1"));
        assert_ne!(q("1Gi"), q("1G"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("128Mi").to_string(), "128Mi");
        assert_eq!((q("1") + q("500m")).to_string(), "1500m");
        assert_eq!((q("1") + q("1")).to_string(), "2");
        let mut total = Quantity::default();
        total += q("250m");
        total -= q("50m");
        assert_eq!(total.milli_value(), 200);
    }

    #[test]
    fn bad_input_is_named() {
        for (bad, needle) in [
            ("", "empty"),
            (" 1", "whitespace"),
            ("1.2.3", "decimal point"),
            ("--1", "number"),
            ("Mi", "number"),
            ("12Q", "unknown suffix \"Q\""),
            ("1e", "unknown suffix"),
            ("1e99", "too large"),
            ("99999999999999999999999999999999999999999", "too large"),
            ("1Eix", "unknown suffix"),
        ] {
            let err = bad.parse::<Quantity>().unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
            assert!(
                err.contains(&format!("{bad:?}")),
                "{bad:?} not quoted in {err}"
            );
        }
    }

    #[test]
    fn serde_accepts_strings_and_numbers() {
        let list: ResourceList =
            serde_json::from_value(serde_json::json!({"cpu": 2, "memory": "64Mi", "x": 0.5}))
                .unwrap();
        assert_eq!(list[CPU].milli_value(), 2000);
        assert_eq!(list["x"].milli_value(), 500);
        assert_eq!(
            serde_json::to_value(&list[MEMORY]).unwrap(),
            serde_json::json!("64Mi")
        );
        let err = serde_json::from_value::<Quantity>(serde_json::json!("lots")).unwrap_err();
        assert!(err.to_string().contains("lots"), "{err}");
        assert!(serde_json::from_value::<Quantity>(serde_json::json!(true)).is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_amount(milli in -1_000_000_000_000i64..1_000_000_000_000) {
            let a = Quantity::from_milli(milli);
            prop_assert_eq!(a.to_string().parse::<Quantity>().unwrap(), a);
        }

        #[test]
        fn addition_and_subtraction_are_exact(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let (qa, qb) = (Quantity::from_milli(a), Quantity::from_milli(b));
            prop_assert_eq!(qa.clone() + qb.clone() - qb, qa);
        }

        #[test]
        fn suffixed_text_round_trips(n in 0u32..100_000, suffix in prop::sample::select(vec!["", "m", "k", "M", "G", "Ki", "Mi", "Gi"])) {
            let text = format!("{n}{suffix}");
            let parsed: Quantity = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text.clone());
            let computed = Quantity::from_milli(0) + parsed.clone();
            prop_assert_eq!(computed.to_string().parse::<Quantity>().unwrap(), parsed);
        }
    }
}
