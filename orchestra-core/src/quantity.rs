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

/// Most significant digits accepted: keeps the mantissa exact in an `i128`.
const MAX_SIGNIFICANT_DIGITS: usize = 36;

/// Largest exponent magnitude kept: any `e` beyond it is out of range either way, and
/// clamping keeps the exponent arithmetic from overflowing.
const MAX_EXPONENT: i64 = 1_000_000;

/// Parses the digits after `e`/`E` (`3`, `-3`, `+3`), clamping huge exponents to
/// ±[`MAX_EXPONENT`]. `None` when it is not a signed integer.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits
        .parse::<i64>()
        .map_or(MAX_EXPONENT, |e| e.min(MAX_EXPONENT));
    Some(if negative { -magnitude } else { magnitude })
}

/// A resource amount such as `500m`, `2`, `128Mi`, `1G` or `1e3`.
///
/// The text form is Kubernetes': an optional sign, a decimal number (`2`, `0.5`, `.5`),
/// then one suffix: decimal SI (`n u m k M G T P E`), binary (`Ki Mi Gi Ti Pi Ei`) or a
/// decimal exponent (`e3`, `E-3`). Amounts finer than a milli-unit round up (`1u` is
/// `1m`). Negative amounts parse, as in Kubernetes; [`is_negative`](Self::is_negative)
/// lets validation of requests and limits reject them.
///
/// Equality, ordering and hashing are by amount: `1000m == 1`, `1Gi != 1G`. A parsed
/// quantity displays (and serializes) as it was written; a computed one in a canonical
/// form: whole units as an integer (`2`, `134217728`), anything else in milli-units
/// (`1500m`). Arithmetic (`+`, `-`, [`Sum`](std::iter::Sum)) is exact and saturates at
/// ±10^30 milli-units, far beyond any real cluster, rather than panicking.
///
/// ```
/// use orchestra_core::Quantity;
///
/// let cpu: Quantity = "500m".parse().unwrap();
/// assert_eq!(cpu.milli_value(), 500);
/// let total = cpu + "1".parse().unwrap();
/// assert_eq!(total.to_string(), "1500m");
/// assert_eq!("128Mi".parse::<Quantity>().unwrap().value(), 134_217_728);
/// ```
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

/// Totals saturate like [`Add`]; the sum of nothing is zero.
impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::default(), |total, q| total + q)
    }
}

/// Totals saturate like [`Add`]; the sum of nothing is zero.
impl<'a> std::iter::Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        Quantity::computed(iter.fold(0i128, |total, q| {
            (total + q.milli).clamp(-MAX_MILLI, MAX_MILLI)
        }))
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
            Some((exp10, exp2)) => (i64::from(exp10), exp2),
            None => match suffix.strip_prefix(['e', 'E']).and_then(parse_exponent) {
                Some(e) => (e, 0),
                None => {
                    return Err(QuantityError::UnknownSuffix {
                        input: input.to_owned(),
                        suffix: suffix.to_owned(),
                    });
                }
            },
        };
        // The amount is `digits × 10^exp × 2^exp2` milli-units. Zeros at either end of
        // the digits carry no precision: strip them (trailing ones into the exponent) so
        // `1.000…0` and `1000…0e-40` are not mistaken for huge numbers.
        let digits = format!("{whole}{frac}");
        let digits = digits.trim_start_matches('0');
        let significant = digits.trim_end_matches('0');
        if significant.is_empty() {
            // Zero, whatever the exponent (`0e99` is zero, not too large).
            return Ok(Quantity {
                milli: 0,
                text: Some(input.into()),
            });
        }
        // Input lengths and the clamped exponent keep this far from i64's bounds.
        let exp = 3 + exp10 - frac.len() as i64 + (digits.len() - significant.len()) as i64;
        let too_large = || QuantityError::TooLarge(input.to_owned());
        // At least 10^(digits + exp - 1) milli-units: past MAX_MILLI = 10^30 when over 31.
        if significant.len() as i64 + exp > 31 {
            return Err(too_large());
        }
        if significant.len() > MAX_SIGNIFICANT_DIGITS {
            return Err(malformed("more than 36 significant digits"));
        }
        let mantissa: i128 = significant.parse().map_err(|_| malformed("bad digits"))?;
        // mantissa < 10^36 < 2^120, so only an absurd suffix-and-precision mix overflows.
        let binary = mantissa.checked_mul(1i128 << exp2).ok_or_else(too_large)?;
        let scaled = if exp >= 0 {
            // The mantissa is at least 1, so 10^39 and up is beyond MAX_MILLI anyway.
            u32::try_from(exp)
                .ok()
                .and_then(|e| 10i128.checked_pow(e))
                .and_then(|factor| binary.checked_mul(factor))
                .ok_or_else(too_large)?
        } else {
            match u32::try_from(-exp).ok().and_then(|e| 10i128.checked_pow(e)) {
                // Round up: an amount finer than a milli-unit is never understated.
                Some(d) => binary / d + i128::from(binary % d != 0),
                // Smaller than any milli-unit, but not zero: one milli-unit.
                None => 1,
            }
        };
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

/// Accepts a string (`"500m"`) or a JSON number (`2`, `0.5`): Kubernetes manifests
/// often write `cpu: 2`. Integers are taken exactly; a fractional number goes through
/// its shortest decimal form (`0.1` is `100m`).
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl serde::de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as \"500m\", \"128Mi\" or 2")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Quantity, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Quantity, E> {
        Ok(Quantity::from_value(n))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Quantity, E> {
        // Every u64 is below MAX_MILLI / 1000, so this is exact.
        Ok(Quantity::computed(i128::from(n) * 1000))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Quantity, E> {
        if !n.is_finite() {
            return Err(E::custom(format!(
                "invalid quantity {n}: not a finite number"
            )));
        }
        self.visit_str(&n.to_string())
    }
}

#[cfg(test)]
mod tests;
