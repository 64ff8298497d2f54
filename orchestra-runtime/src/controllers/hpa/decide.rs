//! The autoscaler's decisions, as Kubernetes makes them: the replica count a usage ratio
//! asks for (the ratios themselves come from [`super::calculate`]), stabilization
//! windows, and the scaling policies that cap the rate.

use orchestra_core::Time;
use orchestra_core::kinds::{HPAScalingPolicyType, HPAScalingRules, ScalingPolicySelect};

/// Changes within this fraction of the target are ignored (Kubernetes' tolerance).
pub const TOLERANCE: f64 = 0.1;

/// Whether a usage ratio is close enough to 1 (or no number at all) to change nothing.
pub fn within_tolerance(usage_ratio: f64) -> bool {
    !usage_ratio.is_finite() || (usage_ratio - 1.0).abs() <= TOLERANCE
}

/// The replicas one metric asks for: `ceil(current × usage / target)`, or `current`
/// when the ratio is within the tolerance.
pub fn desired_for_ratio(current: i32, usage_ratio: f64) -> i32 {
    if within_tolerance(usage_ratio) {
        return current;
    }
    (f64::from(current) * usage_ratio).ceil() as i32
}

/// A past recommendation or scale change, for windows and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// When.
    pub at: Time,
    /// The recommended replicas, or the size of a scale change.
    pub value: i32,
}

/// Applies the stabilization windows: a scale-down goes only as low as the highest
/// recommendation within the scale-down window, a scale-up only as high as the lowest
/// within the scale-up window.
pub fn stabilize(
    current: i32,
    desired: i32,
    history: &[Stamped],
    up: &HPAScalingRules,
    down: &HPAScalingRules,
    now: Time,
) -> i32 {
    let window = |rules: &HPAScalingRules| {
        std::time::Duration::from_secs(rules.stabilization_window_seconds.unwrap_or(0).max(0) as u64)
    };
    let within = |w: std::time::Duration| {
        history
            .iter()
            .filter(move |r| now.since(r.at) < w)
            .map(|r| r.value)
    };
    if desired < current {
        within(window(down))
            .chain([desired])
            .max()
            .unwrap_or(desired)
            .min(current)
    } else if desired > current {
        within(window(up))
            .chain([desired])
            .min()
            .unwrap_or(desired)
            .max(current)
    } else {
        desired
    }
}

/// Caps a change from `current` to `desired` by the direction's policies, given the
/// scale changes made so far (positive up, negative down).
pub fn apply_policies(
    current: i32,
    desired: i32,
    changes: &[Stamped],
    up: &HPAScalingRules,
    down: &HPAScalingRules,
    now: Time,
) -> i32 {
    let changed_within = |period: i32, sign: i32| -> i32 {
        changes
            .iter()
            .filter(|c| {
                now.since(c.at) < std::time::Duration::from_secs(period.max(0) as u64)
                    && c.value.signum() == sign
            })
            .map(|c| c.value)
            .sum()
    };
    if desired > current {
        if up.select_policy == Some(ScalingPolicySelect::Disabled) {
            return current;
        }
        let limits = up.policies.iter().map(|p| {
            let start = current - changed_within(p.period_seconds, 1);
            match p.type_ {
                HPAScalingPolicyType::Pods => start + p.value,
                HPAScalingPolicyType::Percent => {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                }
            }
        });
        let limit = match up.select_policy {
            Some(ScalingPolicySelect::Min) => limits.min(),
            _ => limits.max(),
        };
        limit.map_or(desired, |l| desired.min(l.max(current)))
    } else if desired < current {
        if down.select_policy == Some(ScalingPolicySelect::Disabled) {
            return current;
        }
        let limits = down.policies.iter().map(|p| {
            let start = current - changed_within(p.period_seconds, -1);
            match p.type_ {
                HPAScalingPolicyType::Pods => start - p.value,
                HPAScalingPolicyType::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)).floor() as i32
                }
            }
        });
        // "Max" picks the policy allowing the biggest change: the lowest floor.
        let limit = match down.select_policy {
            Some(ScalingPolicySelect::Min) => limits.max(),
            _ => limits.min(),
        };
        limit.map_or(desired, |l| desired.max(l.min(current)))
    } else {
        desired
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(secs: u64) -> Time {
        Time::from_unix_seconds(1_700_000_000).plus(Duration::from_secs(secs))
    }

    #[test]
    fn ratio_and_tolerance() {
        assert_eq!(desired_for_ratio(4, 2.0), 8);
        assert_eq!(desired_for_ratio(4, 1.05), 4, "within the tolerance");
        assert_eq!(desired_for_ratio(3, 0.5), 2, "rounds up");
        assert_eq!(desired_for_ratio(10, 0.01), 1);
    }

    #[test]
    fn scale_down_waits_for_the_window() {
        let up = HPAScalingRules::default_scale_up();
        let down = HPAScalingRules::default_scale_down();
        let history = [
            Stamped { at: t(0), value: 8 },
            Stamped {
                at: t(100),
                value: 5,
            },
        ];
        assert_eq!(
            stabilize(8, 2, &history, &up, &down, t(200)),
            8,
            "8 was recommended within 300 s"
        );
        assert_eq!(stabilize(8, 2, &history, &up, &down, t(350)), 5);
        assert_eq!(stabilize(8, 2, &history, &up, &down, t(450)), 2);
        assert_eq!(
            stabilize(2, 9, &history, &up, &down, t(10)),
            9,
            "no scale-up window by default"
        );
    }

    #[test]
    fn default_policies_cap_the_rate() {
        let up = HPAScalingRules::default_scale_up();
        let down = HPAScalingRules::default_scale_down();
        // Up: the larger of +4 pods and +100% per 15 s.
        assert_eq!(apply_policies(2, 50, &[], &up, &down, t(0)), 6);
        assert_eq!(apply_policies(10, 50, &[], &up, &down, t(0)), 20);
        // A change 10 s ago counts against the period.
        let recent = [Stamped {
            at: t(0),
            value: 10,
        }];
        assert_eq!(apply_policies(20, 50, &recent, &up, &down, t(10)), 20);
        assert_eq!(apply_policies(20, 50, &recent, &up, &down, t(16)), 40);
        // Down: 100% per 15 s allows going straight to the target.
        assert_eq!(apply_policies(10, 1, &[], &up, &down, t(0)), 1);
    }
}
