//! The arithmetic of a rolling update, exactly as Kubernetes computes it, as pure
//! functions of replica counts.

/// How many pods a rollout may add above `replicas` (surge, rounded up) and take away
/// below it (unavailable, rounded down); both zero becomes unavailable 1, so a rollout
/// can always move. Percentages are of `replicas`.
pub fn fenceposts(
    replicas: i32,
    max_surge: &orchestra_core::kinds::IntOrString,
    max_unavailable: &orchestra_core::kinds::IntOrString,
) -> Result<(i32, i32), String> {
    let surge = max_surge.scaled_value(replicas, true)?.max(0);
    let mut unavailable = max_unavailable.scaled_value(replicas, false)?.max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

/// One ReplicaSet as the rollout arithmetic sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsCounts {
    /// Desired replicas (`spec.replicas`).
    pub replicas: i32,
    /// Available pods (`status.availableReplicas`).
    pub available: i32,
}

/// The new ReplicaSet's next size: grow toward `replicas` while the total stays within
/// `replicas + surge` (or shrink it if it is larger than `replicas`).
pub fn new_rs_target(replicas: i32, surge: i32, new: &RsCounts, old: &[RsCounts]) -> i32 {
    if new.replicas >= replicas {
        return replicas;
    }
    let total: i32 = new.replicas + old.iter().map(|r| r.replicas).sum::<i32>();
    let max_total = replicas + surge;
    if total >= max_total {
        return new.replicas;
    }
    new.replicas + (max_total - total).min(replicas - new.replicas)
}

/// The old ReplicaSets' next sizes (same order as `old`, which must be oldest first):
/// first drop their unavailable pods, then available ones, never taking the available
/// total below `replicas - unavailable`.
pub fn old_rs_targets(
    replicas: i32,
    unavailable: i32,
    new: &RsCounts,
    old: &[RsCounts],
) -> Vec<i32> {
    let mut targets: Vec<i32> = old.iter().map(|r| r.replicas).collect();
    let all_pods: i32 = new.replicas + targets.iter().sum::<i32>();
    let min_available = replicas - unavailable;
    let new_unavailable = (new.replicas - new.available).max(0);
    let mut budget = all_pods - min_available - new_unavailable;
    if budget <= 0 {
        return targets;
    }
    // Unhealthy pods first: they add nothing to availability.
    for (target, rs) in targets.iter_mut().zip(old) {
        let unhealthy = (*target - rs.available).max(0).min(budget);
        *target -= unhealthy;
        budget -= unhealthy;
        if budget == 0 {
            break;
        }
    }
    // Then available pods, keeping at least `min_available` available in total.
    let available: i32 = new.available
        + old
            .iter()
            .zip(&targets)
            .map(|(rs, t)| rs.available.min(*t))
            .sum::<i32>();
    let mut spare = (available - min_available).max(0);
    for (target, _) in targets.iter_mut().zip(old) {
        if spare == 0 {
            break;
        }
        let cut = (*target).min(spare);
        *target -= cut;
        spare -= cut;
    }
    targets
}

/// Distributes `total` replicas over ReplicaSets in proportion to their current sizes
/// (largest remainders first, ties to the newest, which is last), for a deployment
/// scaled in the middle of a rollout.
pub fn proportional(total: i32, sizes: &[i32]) -> Vec<i32> {
    let sum: i64 = sizes.iter().map(|s| i64::from((*s).max(0))).sum();
    if sizes.is_empty() {
        return Vec::new();
    }
    if sum == 0 {
        let mut out = vec![0; sizes.len()];
        *out.last_mut().expect("not empty") = total;
        return out;
    }
    let total64 = i64::from(total.max(0));
    let mut out: Vec<i32> = sizes
        .iter()
        .map(|s| (total64 * i64::from((*s).max(0)) / sum) as i32)
        .collect();
    let mut left = total - out.iter().sum::<i32>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse((total64 * i64::from(sizes[i].max(0))) % sum),
            std::cmp::Reverse(i),
        )
    });
    for i in order.into_iter().cycle() {
        if left <= 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use orchestra_core::kinds::IntOrString;
    use proptest::prelude::*;

    use super::*;

    fn rs(replicas: i32, available: i32) -> RsCounts {
        RsCounts {
            replicas,
            available,
        }
    }

    #[test]
    fn kubernetes_fencepost_examples() {
        let pct = IntOrString::from("25%");
        assert_eq!(fenceposts(10, &pct, &pct), Ok((3, 2)));
        assert_eq!(fenceposts(1, &pct, &pct), Ok((1, 0)));
        assert_eq!(
            fenceposts(3, &IntOrString::from(0), &IntOrString::from(0)),
            Ok((0, 1))
        );
        assert!(fenceposts(3, &IntOrString::from("x"), &pct).is_err());
    }

    #[test]
    fn the_new_rs_grows_within_the_surge() {
        // 10 replicas, surge 3: the new RS starts at 3 while the old keeps 10.
        assert_eq!(new_rs_target(10, 3, &rs(0, 0), &[rs(10, 10)]), 3);
        // Once the old RS shrank to 8, the new may reach 5.
        assert_eq!(new_rs_target(10, 3, &rs(3, 0), &[rs(8, 8)]), 5);
        assert_eq!(
            new_rs_target(10, 3, &rs(3, 3), &[rs(10, 10)]),
            3,
            "the total is at its bound"
        );
        assert_eq!(
            new_rs_target(10, 3, &rs(12, 12), &[]),
            10,
            "a larger new RS shrinks"
        );
    }

    #[test]
    fn old_rss_shrink_keeping_availability() {
        // 10 replicas, unavailable 2, new RS at 3 with nothing available yet: the old RS
        // may lose 2 available pods, keeping 8 available.
        assert_eq!(old_rs_targets(10, 2, &rs(3, 0), &[rs(10, 10)]), [8]);
        // With the old RS already at 8, nothing more may go until new pods are available.
        assert_eq!(old_rs_targets(10, 2, &rs(3, 0), &[rs(8, 8)]), [8]);
        // When the new RS's pods are available, the old may drop to keep 8 available.
        assert_eq!(old_rs_targets(10, 2, &rs(3, 3), &[rs(10, 10)]), [5]);
        // Unhealthy old pods go first, oldest RS first.
        assert_eq!(
            old_rs_targets(10, 2, &rs(3, 3), &[rs(4, 1), rs(6, 6)]),
            [0, 5]
        );
    }

    #[test]
    fn proportional_distribution() {
        assert_eq!(proportional(20, &[5, 5]), [10, 10]);
        assert_eq!(proportional(15, &[8, 2]), [12, 3]);
        assert_eq!(proportional(5, &[0, 0, 0]), [0, 0, 5]);
        assert_eq!(proportional(7, &[1, 1]).iter().sum::<i32>(), 7);
    }

    proptest! {
        /// Driving a rollout step by step with pods becoming available at random never
        /// breaks the bounds: total ≤ replicas + surge, available ≥ replicas − unavailable
        /// (once reached), and it always finishes.
        #[test]
        fn rolling_update_keeps_its_bounds(replicas in 1i32..60, surge_pct in 0i32..100, unavail_pct in 0i32..100, seed in any::<u64>()) {
            let (surge, unavailable) = fenceposts(replicas, &IntOrString::String(format!("{surge_pct}%")), &IntOrString::String(format!("{unavail_pct}%"))).unwrap();
            let mut new = rs(0, 0);
            let mut old = vec![rs(replicas, replicas)];
            let mut rng = seed;
            for _step in 0..10_000 {
                new.replicas = new_rs_target(replicas, surge, &new, &old);
                let targets = old_rs_targets(replicas, unavailable, &new, &old);
                for (o, t) in old.iter_mut().zip(targets) {
                    o.replicas = t;
                    o.available = o.available.min(t);
                }
                let total = new.replicas + old.iter().map(|o| o.replicas).sum::<i32>();
                prop_assert!(total <= replicas + surge, "total {total} > {replicas} + {surge}");
                let available = new.available + old.iter().map(|o| o.available).sum::<i32>();
                prop_assert!(available >= replicas - unavailable, "available {available} < {replicas} - {unavailable}");
                // Some of the new pods become available.
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if new.available < new.replicas && rng >> 62 != 0 {
                    new.available += 1;
                }
                if new.replicas == replicas && new.available == replicas && old.iter().all(|o| o.replicas == 0) {
                    return Ok(());
                }
            }
            prop_assert!(false, "the rollout never finished: new {new:?} old {old:?}");
        }
    }
}
