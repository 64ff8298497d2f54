use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// `n` pods that each request `request` and use `usage`.
fn pods(n: usize, usage: i64, request: i64) -> Vec<PodUsage> {
    vec![PodUsage { usage, request }; n]
}

fn ratio(ratio: f64, counted: usize) -> UsageRatio {
    UsageRatio { ratio, counted }
}

fn utilization(
    measured: &[PodUsage],
    missing: &[i64],
    starting: &[i64],
    target: i32,
) -> Utilization {
    utilization_ratio(measured, missing, starting, target).expect("the pods request the resource")
}

#[test]
fn scales_the_counted_pods_outside_the_tolerance() {
    // 4 pods at 200% of a 100% target ask for 8, whatever the target's count says.
    let u = utilization(&pods(4, 200, 100), &[], &[], 100);
    assert_eq!(u.percent, 200);
    assert_eq!(u.usage, ratio(2.0, 4));
    assert_eq!(u.usage.desired_replicas(6), 8);
    // Below the target: 4 pods at 25% of 50% ask for 2.
    assert_eq!(
        utilization(&pods(4, 25, 100), &[], &[], 50)
            .usage
            .desired_replicas(4),
        2
    );
}

#[test]
fn the_tolerance_keeps_current() {
    // 105% and 95% of the target are within 10%: the current count stays, even when
    // it differs from the pods measured.
    let above = utilization(&pods(4, 105, 100), &[], &[], 100);
    assert_eq!(above.usage.ratio, 1.05);
    assert_eq!(above.usage.desired_replicas(6), 6);
    let below = utilization(&pods(4, 95, 100), &[], &[], 100);
    assert_eq!(below.usage.desired_replicas(3), 3);
    // So does a ratio that is no number at all.
    let undefined = ratio(f64::NAN, 4);
    assert_eq!(undefined.desired_replicas(5), 5);
}

#[test]
fn starting_and_missing_pods_damp_a_scale_out() {
    // 2 measured pods at 300% of their requests ask for 6 on their own.
    let measured = pods(2, 300, 100);
    assert_eq!(
        utilization(&measured, &[], &[], 100)
            .usage
            .desired_replicas(2),
        6
    );
    // A starting pod and one without a figure count as using nothing: the load of 2
    // pods at 300% spread over 4 is 150%, which 6 pods still carry, not 12.
    let u = utilization(&measured, &[100], &[100], 100);
    assert_eq!(u.percent, 300, "the status reports the measured pods");
    assert_eq!(u.usage, ratio(1.5, 4));
    assert_eq!(u.usage.desired_replicas(4), 6);
    // Either kind alone damps too.
    assert_eq!(
        utilization(&measured, &[100], &[], 100).usage,
        ratio(2.0, 3)
    );
    assert_eq!(
        utilization(&measured, &[], &[100], 100).usage,
        ratio(2.0, 3)
    );
}

#[test]
fn missing_pods_at_the_target_damp_a_scale_in() {
    // 2 measured pods at 20% of a 50% target would shrink 4 pods to 1; the 2 without a
    // figure count as using exactly 50%, so the 4 go to 3.
    let measured = pods(2, 20, 100);
    let u = utilization(&measured, &[100, 100], &[], 50);
    assert_eq!(u.percent, 20);
    assert_eq!(u.usage.counted, 4);
    assert!((u.usage.ratio - 0.7).abs() < 1e-12, "{u:?}");
    assert_eq!(u.usage.desired_replicas(4), 3);
    // Starting pods are left out of a scale-in.
    assert_eq!(
        utilization(&measured, &[100, 100], &[100], 50).usage,
        u.usage
    );
    assert_eq!(utilization(&measured, &[], &[100], 50).usage, ratio(0.4, 2));
}

#[test]
fn a_flip_in_direction_is_no_change() {
    // One pod at 120% asks for more; counting 3 idle pods would make it 30%, a
    // scale-in for load the measured pod says is too high. Nothing changes instead.
    let u = utilization(&pods(1, 120, 100), &[100], &[100, 100], 100);
    assert_eq!(u.usage.ratio, 1.0);
    assert_eq!(u.usage.counted, 4);
    assert_eq!(u.usage.desired_replicas(4), 4);
}

#[test]
fn utilization_is_a_whole_percent_rounded_down() {
    // 809 of 1,000 requested is 80.9%: 80%, as Kubernetes computes it, for the status
    // and for the ratio alike.
    let u = utilization(
        &[PodUsage {
            usage: 809,
            request: 1000,
        }],
        &[],
        &[],
        50,
    );
    assert_eq!(u.percent, 80);
    assert_eq!(u.usage.ratio, 1.6);
    // Counting a starting pod: 809 of 2,000 is 40.45%, so 40%.
    let u = utilization(
        &[PodUsage {
            usage: 809,
            request: 1000,
        }],
        &[],
        &[1000],
        20,
    );
    assert_eq!(u.usage, ratio(2.0, 2));
}

#[test]
fn no_request_is_no_utilization() {
    assert_eq!(utilization_ratio(&pods(3, 50, 0), &[100], &[100], 80), None);
    assert_eq!(utilization_ratio(&[], &[100], &[100], 80), None);
}

#[test]
fn a_target_below_one_percent_counts_as_one() {
    assert_eq!(utilization(&pods(1, 2, 100), &[], &[], 0).usage.ratio, 2.0);
}

#[test]
fn average_values() {
    // 2 pods averaging 200 against 100 ask for 4; the average rounds down.
    let a = average_value_ratio(&[300, 100], 0, 100).unwrap();
    assert_eq!(a.average, 200);
    assert_eq!(a.usage, ratio(2.0, 2));
    assert_eq!(a.usage.desired_replicas(2), 4);
    assert_eq!(average_value_ratio(&[1, 2], 0, 1000).unwrap().average, 1);
    // Starting pods count as using nothing when scaling out: 400 over 4 pods is the
    // target, so the 4 pods stay.
    let a = average_value_ratio(&[300, 100], 2, 100).unwrap();
    assert_eq!(a.average, 200);
    assert_eq!(a.usage, ratio(1.0, 4));
    assert_eq!(a.usage.desired_replicas(4), 4);
    // They are left out of a scale-in.
    assert_eq!(
        average_value_ratio(&[50], 3, 100).unwrap().usage,
        ratio(0.5, 1)
    );
    // Nor may they turn a scale-out into a scale-in: one pod at 200 against 150 is
    // overloaded, and 3 starting pods do not make 4 pods into 2; nothing changes.
    let a = average_value_ratio(&[200], 3, 150).unwrap();
    assert_eq!(a.usage, ratio(1.0, 4));
    assert_eq!(a.usage.desired_replicas(4), 4);
    // A target of zero counts as one milli-unit.
    assert_eq!(average_value_ratio(&[3], 0, 0).unwrap().usage.ratio, 3.0);
    assert_eq!(average_value_ratio(&[], 2, 100), None);
}

/// Usage (milli-units) of 1 to 20 measured pods, and what each requests.
fn measured_pods() -> impl Strategy<Value = Vec<PodUsage>> {
    vec(
        (0i64..4000, 1i64..2000).prop_map(|(usage, request)| PodUsage { usage, request }),
        1..20,
    )
}

/// Makes the pods' total usage a whole percent of their total request, by raising the
/// last pod's usage, so the rounded figure the status reports is exact.
fn whole_percent(mut measured: Vec<PodUsage>) -> Vec<PodUsage> {
    let requested: i64 = measured.iter().map(|p| p.request).sum();
    let used: i64 = measured.iter().map(|p| p.usage).sum();
    let step = requested / gcd(requested, 100);
    if let Some(last) = measured.last_mut() {
        last.usage += (step - used % step) % step;
    }
    measured
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

proptest! {
    /// Counting the pods that are starting or have no figure never reverses what the
    /// measured pods ask for: the ratio stays on the same side of 1 or becomes exactly
    /// 1, and the replicas move from the current count (every pod) in the measured
    /// direction or not at all.
    #[test]
    fn idle_pods_never_reverse_the_direction(
        measured in measured_pods(),
        missing in vec(0i64..2000, 0..10),
        starting in vec(0i64..2000, 0..10),
        target in 1i32..200,
    ) {
        let alone = utilization(&measured, &[], &[], target).usage.ratio;
        let with = utilization(&measured, &missing, &starting, target);
        let ratio = with.usage.ratio;
        prop_assert!(
            ratio == 1.0 || (ratio - 1.0).signum() == (alone - 1.0).signum(),
            "measured alone {alone}, with the others {ratio}"
        );
        let current = i32::try_from(measured.len() + missing.len() + starting.len()).unwrap();
        let desired = with.usage.desired_replicas(current);
        if alone > 1.0 {
            prop_assert!(desired >= current, "{alone} asks for more, {with:?} gives {desired} of {current}");
        } else {
            prop_assert!(desired <= current, "{alone} asks for fewer, {with:?} gives {desired} of {current}");
        }
    }

    /// With every pod measured, the replicas are `ceil(pods × ratio)` of the whole
    /// percent utilization (rounded down) outside the tolerance, and the current count
    /// inside it.
    #[test]
    fn measured_pods_scale_by_their_ratio(
        measured in measured_pods(),
        target in 1i32..200,
        current in 1i32..50,
    ) {
        let used: i64 = measured.iter().map(|p| p.usage).sum();
        let requested: i64 = measured.iter().map(|p| p.request).sum();
        let percent = 100 * used / requested;
        let ratio = percent as f64 / f64::from(target);
        let expected = if (ratio - 1.0).abs() <= 0.1 {
            current
        } else {
            (measured.len() as f64 * ratio).ceil() as i32
        };
        let u = utilization(&measured, &[], &[], target);
        prop_assert_eq!(i64::from(u.percent), percent);
        prop_assert_eq!(u.usage.counted, measured.len());
        prop_assert_eq!(u.usage.desired_replicas(current), expected);
    }

    /// Starting pods never reverse what the measured averages ask for either.
    #[test]
    fn starting_pods_never_reverse_an_average(
        values in vec(0i64..10_000, 1..20),
        starting in 0usize..20,
        target in 1i64..5000,
    ) {
        let alone = average_value_ratio(&values, 0, target).unwrap().usage.ratio;
        let ratio = average_value_ratio(&values, starting, target).unwrap().usage.ratio;
        prop_assert!(
            ratio == 1.0 || (ratio - 1.0).signum() == (alone - 1.0).signum(),
            "measured alone {alone}, with {starting} starting {ratio}"
        );
    }

    /// The same for an average value.
    #[test]
    fn measured_averages_scale_by_their_ratio(
        values in vec(0i64..10_000, 1..20),
        target in 1i64..5000,
        current in 1i32..50,
    ) {
        let average = values.iter().sum::<i64>() / values.len() as i64;
        let ratio = average as f64 / target as f64;
        let expected = if (ratio - 1.0).abs() <= 0.1 {
            current
        } else {
            (values.len() as f64 * ratio).ceil() as i32
        };
        let a = average_value_ratio(&values, 0, target).unwrap();
        prop_assert_eq!(a.average, average);
        prop_assert_eq!(a.usage.counted, values.len());
        prop_assert_eq!(a.usage.desired_replicas(current), expected);
    }

    /// A scale-out with idle pods of the same template (each requesting as much as a
    /// measured pod, or more) never asks for more replicas than the measured pods
    /// alone would. The measured utilization is made a whole percent: both ratios are
    /// whole percents rounded down (as Kubernetes computes them), and the fraction the
    /// measured one drops can be more than the counted idle pods' share of it, so
    /// otherwise the rounding alone could tip the two apart by a replica.
    #[test]
    fn idle_pods_never_scale_out_further(
        measured in measured_pods().prop_map(|pods| {
            let request = pods[0].request;
            whole_percent(pods.into_iter().map(|p| PodUsage { request, ..p }).collect())
        }),
        missing in vec(0i64..1000, 0..10),
        starting in vec(0i64..1000, 0..10),
        target in 1i32..200,
    ) {
        let request = measured[0].request;
        let idle = |extra: &[i64]| extra.iter().map(|e| request + e).collect::<Vec<_>>();
        let current = i32::try_from(measured.len() + missing.len() + starting.len()).unwrap();
        let alone = utilization(&measured, &[], &[], target);
        if alone.usage.ratio <= 1.0 {
            return Ok(());
        }
        let with = utilization(&measured, &idle(&missing), &idle(&starting), target);
        let measured_only = alone.usage.desired_replicas(current);
        let desired = with.usage.desired_replicas(current);
        prop_assert!(
            desired <= measured_only.max(current),
            "{with:?} gives {desired}; the measured pods {alone:?} alone give {measured_only}"
        );
    }
}
