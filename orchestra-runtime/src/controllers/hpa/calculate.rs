//! Kubernetes' replica calculator: from the figures of a scale target's pods, the ratio
//! of one metric's usage to its target and the number of pods that ratio scales.
//!
//! The inputs are plain numbers in milli-units (usage and requests of each pod), so
//! every rule is tested without pods or a metrics source; the controller fetches the
//! figures and [`UsageRatio::desired_replicas`] turns the result into a replica count.
//! Pods that are starting (not ready yet) or have no figure are counted as using nothing
//! when the measured pods ask for more replicas, and those without a figure as using
//! exactly the target when the measured pods ask for fewer: either way the load the
//! unmeasured pods take or may already carry damps the change.

use super::decide::{desired_for_ratio, within_tolerance};

/// What one metric asks of the pods: their usage over the target, and how many pods
/// that ratio was computed over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UsageRatio {
    /// Usage over target: above 1 asks for more replicas, below 1 for fewer.
    pub ratio: f64,
    /// The pods the ratio covers, which are the pods it scales.
    pub counted: usize,
}

impl UsageRatio {
    /// The replicas this ratio asks for: `current` within the tolerance, otherwise
    /// `ceil(counted × ratio)`. It scales the pods that were counted, not `current`,
    /// as Kubernetes does: `current` may include pods that do not exist yet, and
    /// scaling those would compound one load into several scale-outs.
    pub fn desired_replicas(self, current: i32) -> i32 {
        if within_tolerance(self.ratio) {
            return current;
        }
        desired_for_ratio(i32::try_from(self.counted).unwrap_or(i32::MAX), self.ratio)
    }
}

/// The figures of one pod that has a usage figure, in milli-units of the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodUsage {
    /// What the pod uses.
    pub usage: i64,
    /// What its containers request.
    pub request: i64,
}

/// A resource metric measured as utilization, a percentage of the pods' requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Utilization {
    /// The measured pods' usage as a whole percentage of their requests (rounded down,
    /// as Kubernetes computes it): the figure the autoscaler's status reports.
    pub percent: i32,
    /// The ratio to the target, with the unmeasured pods counted.
    pub usage: UsageRatio,
}

/// The utilization of the `measured` pods against `target_percent` (at least 1), with
/// the requests of the ready pods that have no figure (`missing`) and of the pods not
/// ready yet (`starting`).
///
/// When the measured pods ask for more replicas, the missing and starting pods are
/// counted as using nothing: the new pods are about to take load, and scaling out again
/// for it would overshoot. When they ask for fewer, the missing pods are counted as
/// using exactly the target, so a gap in the metrics never removes pods that may be
/// busy; starting pods are left out. If counting them would turn a scale-out into a
/// scale-in or back, the ratio is exactly 1: nothing changes.
///
/// `None` when the measured pods request none of the resource (or there are none), so
/// their utilization is undefined.
pub fn utilization_ratio(
    measured: &[PodUsage],
    missing: &[i64],
    starting: &[i64],
    target_percent: i32,
) -> Option<Utilization> {
    let used: i64 = measured.iter().map(|p| p.usage).sum();
    let requested: i64 = measured.iter().map(|p| p.request).sum();
    if requested == 0 {
        return None;
    }
    let percent = whole_percent(used, requested);
    let target = target_percent.max(1);
    // Every ratio comes from a whole percent rounded down, as Kubernetes computes it:
    // the measured one and the one with the unmeasured pods counted alike.
    let ratio_of = |percent: i32| f64::from(percent) / f64::from(target);
    let measured_ratio = ratio_of(percent);
    let mut ratio = measured_ratio;
    let mut counted = measured.len();
    if ratio > 1.0 && (!starting.is_empty() || !missing.is_empty()) {
        let idle = starting.iter().sum::<i64>() + missing.iter().sum::<i64>();
        ratio = ratio_of(whole_percent(used, requested + idle));
        counted += starting.len() + missing.len();
    } else if ratio < 1.0 && !missing.is_empty() {
        let missing_request: i64 = missing.iter().sum();
        let assumed = missing_request * i64::from(target) / 100;
        ratio = ratio_of(whole_percent(used + assumed, requested + missing_request));
        counted += missing.len();
    }
    Some(Utilization {
        percent,
        usage: UsageRatio {
            ratio: unless_reversed(measured_ratio, ratio),
            counted,
        },
    })
}

/// A metric measured as an average value per pod.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AverageValue {
    /// The measured pods' average, in milli-units (rounded down): the figure the
    /// autoscaler's status reports.
    pub average: i64,
    /// The ratio to the target, with the starting pods counted.
    pub usage: UsageRatio,
}

/// The average of the measured pods' `values` (milli-units) against `target_average`
/// (milli-units, at least 1), for a resource metric with an average-value target or a
/// Pods metric. When it asks for more replicas, the `starting` pods (a count: not ready
/// yet) are counted as using nothing; if that would turn the scale-out into a scale-in,
/// the ratio is exactly 1. Ready pods without a figure are left out.
///
/// `None` when no pod was measured.
pub fn average_value_ratio(
    values: &[i64],
    starting: usize,
    target_average: i64,
) -> Option<AverageValue> {
    if values.is_empty() {
        return None;
    }
    let used: i64 = values.iter().sum();
    let average = used / values.len() as i64;
    let target = target_average.max(1);
    let measured_ratio = average as f64 / target as f64;
    let mut ratio = measured_ratio;
    let mut counted = values.len();
    if ratio > 1.0 && starting > 0 {
        let all = (values.len() + starting) as f64;
        ratio = used as f64 / all / target as f64;
        counted += starting;
    }
    Some(AverageValue {
        average,
        usage: UsageRatio {
            ratio: unless_reversed(measured_ratio, ratio),
            counted,
        },
    })
}

/// `used` as a whole percentage of `requested` (positive), rounded down.
fn whole_percent(used: i64, requested: i64) -> i32 {
    i32::try_from(used.saturating_mul(100) / requested).unwrap_or(i32::MAX)
}

/// `ratio` (the unmeasured pods counted), or exactly 1 (no change) if counting them
/// turned the `measured` ratio's scale-out into a scale-in or back, as Kubernetes'
/// replica calculator rules for every metric type.
fn unless_reversed(measured: f64, ratio: f64) -> f64 {
    if (measured - 1.0).signum() == (ratio - 1.0).signum() {
        ratio
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests;
