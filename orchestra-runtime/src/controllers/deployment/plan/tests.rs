use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentStrategy, DeploymentStrategyType,
    IntOrString, ReplicaSet, ReplicaSetStatus, RollingUpdateDeployment,
};
use orchestra_core::{ResourceExt, Time};

use super::*;

mod rollouts;
use crate::controllers::deployment::status::{
    REASON_COMPLETE, REASON_DEADLINE, REASON_PAUSED, REASON_UPDATED, is_complete,
};

fn now() -> Time {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

/// `web`, `replicas` of `image`, in generation 1.
fn deployment(replicas: i32, image: &str) -> Deployment {
    let mut d = Deployment::new("web", replicas, image);
    d.metadata.namespace = Some("default".into());
    d.metadata.uid = Some("web-uid".into());
    d.metadata.generation = Some(1);
    d
}

fn with_image(d: &Deployment, image: &str) -> Deployment {
    let mut d = d.clone();
    d.spec.template.spec.containers[0].image = image.into();
    d.metadata.generation = d.metadata.generation.map(|g| g + 1);
    d
}

fn rolling(d: &mut Deployment, surge: IntOrString, unavailable: IntOrString) {
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::RollingUpdate),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        }),
    });
}

fn recreate(d: &mut Deployment) {
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(DeploymentStrategyType::Recreate),
        rolling_update: None,
    });
}

/// The ReplicaSet `d`'s plan creates for its template, as stored `age` seconds ago at
/// revision `revision`: `replicas` asked for, as many pods, `available` of them.
fn replicaset(
    d: &Deployment,
    revision: u64,
    replicas: i32,
    available: i32,
    age: u64,
) -> Arc<ReplicaSet> {
    let mut rs = new_replicaset(d, replicas, revision);
    rs.metadata.uid = Some(format!("rs-uid-{revision}"));
    rs.metadata.creation_timestamp = Some(now().minus(Duration::from_secs(age)));
    rs.status = Some(ReplicaSetStatus {
        replicas,
        ready_replicas: Some(available),
        available_replicas: Some(available),
        ..Default::default()
    });
    Arc::new(rs)
}

fn scale(rs: &ReplicaSet, replicas: i32, desired: i32) -> Step {
    Step::Scale {
        name: rs.name_any().to_owned(),
        replicas,
        desired,
    }
}

fn created(plan: &DeploymentPlan) -> Vec<&ReplicaSet> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::Create(rs) => Some(rs.as_ref()),
            _ => None,
        })
        .collect()
}

/// The plan's steps other than annotations of the Deployment or a ReplicaSet.
fn moves(plan: &DeploymentPlan) -> Vec<Step> {
    plan.steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::Create(_) | Step::Scale { .. } | Step::Delete { .. }
            )
        })
        .cloned()
        .collect()
}

fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> &'a DeploymentCondition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"))
}

#[test]
fn a_new_deployment_gets_its_first_replicaset_at_full_size() {
    let d = deployment(10, "web:1");
    let plan = plan(&d, &[], now()).unwrap();
    let [rs] = created(&plan)[..] else {
        panic!("one ReplicaSet to create: {plan:?}");
    };
    let hash = &rs.metadata.labels[POD_TEMPLATE_HASH];
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    assert_eq!(rs.namespace(), Some("default"));
    assert_eq!(rs.replicas(), 10, "nothing old to replace");
    assert_eq!(rs.spec.selector.match_labels[POD_TEMPLATE_HASH], *hash);
    assert_eq!(
        rs.spec.template.metadata.as_ref().unwrap().labels[POD_TEMPLATE_HASH],
        *hash
    );
    assert_eq!(rs.metadata.labels["app"], "web");
    assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "1");
    assert_eq!(rs.metadata.annotations[DESIRED_REPLICAS_ANNOTATION], "10");
    let owner = rs.metadata.controller_ref().expect("controlled");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Deployment", "web-uid")
    );
    assert_eq!(without_hash(&rs.spec.template), d.spec.template);
}

#[test]
fn a_new_template_surges_by_25_percent_rounded_up() {
    let v1 = deployment(10, "web:1");
    let old = replicaset(&v1, 1, 10, 10, 600);
    let plan = plan(&with_image(&v1, "web:2"), &[old], now()).unwrap();
    let [rs] = created(&plan)[..] else {
        panic!("one ReplicaSet to create: {plan:?}");
    };
    assert_eq!(rs.replicas(), 3, "25% of 10 is 2.5, rounded up");
    assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "2");
    assert!(
        !plan.steps.iter().any(|s| matches!(s, Step::Scale { .. })),
        "the old ReplicaSet keeps its pods this round: {plan:?}"
    );
}

#[test]
fn old_replicasets_shrink_by_25_percent_rounded_down() {
    let v1 = deployment(10, "web:1");
    let v2 = with_image(&v1, "web:2");
    let old = replicaset(&v1, 1, 10, 10, 600);
    let new = replicaset(&v2, 2, 3, 0, 10);
    let plan = plan(&v2, &[old.clone(), new], now()).unwrap();
    assert_eq!(
        moves(&plan),
        [scale(&old, 8, 10)],
        "25% of 10 is 2.5, rounded down; the new pods are not available yet"
    );
}

#[test]
fn old_replicasets_shrink_as_new_pods_become_available() {
    let v1 = deployment(10, "web:1");
    let v2 = with_image(&v1, "web:2");
    let old = replicaset(&v1, 1, 8, 8, 600);
    let new = replicaset(&v2, 2, 5, 5, 10);
    let plan = plan(&v2, &[old.clone(), new], now()).unwrap();
    assert_eq!(moves(&plan), [scale(&old, 3, 10)]);
}

#[test]
fn zero_surge_and_zero_unavailable_still_replace_one_pod_at_a_time() {
    let mut v1 = deployment(4, "web:1");
    rolling(&mut v1, 0.into(), 0.into());
    let v2 = with_image(&v1, "web:2");
    let old = replicaset(&v1, 1, 4, 4, 600);
    let first = plan(&v2, std::slice::from_ref(&old), now()).unwrap();
    assert_eq!(created(&first)[0].replicas(), 0, "no room above 4 pods");
    let new = replicaset(&v2, 2, 0, 0, 10);
    let second = plan(&v2, &[old.clone(), new], now()).unwrap();
    assert_eq!(
        moves(&second),
        [scale(&old, 3, 4)],
        "maxUnavailable 0 becomes 1"
    );
}

#[test]
fn surplus_pods_of_a_shrinking_replicaset_still_count_against_the_surge() {
    let v1 = deployment(10, "web:1");
    let v2 = with_image(&v1, "web:2");
    // Scaled to 8, but its two surplus pods are not deleted yet.
    let mut old = (*replicaset(&v1, 1, 8, 10, 600)).clone();
    old.status.as_mut().unwrap().replicas = 10;
    let new = replicaset(&v2, 2, 3, 3, 10);
    let old = Arc::new(old);
    let plan = plan(&v2, &[old.clone(), new], now()).unwrap();
    assert_eq!(
        moves(&plan),
        [scale(&old, 5, 10)],
        "13 pods exist: the new ReplicaSet does not grow, the old one makes room"
    );
}

#[test]
fn recreate_removes_the_old_pods_before_the_new_replicaset_grows() {
    let mut v1 = deployment(5, "web:1");
    recreate(&mut v1);
    let v2 = with_image(&v1, "web:2");
    let old = replicaset(&v1, 1, 5, 5, 600);

    let create = plan(&v2, std::slice::from_ref(&old), now()).unwrap();
    assert_eq!(created(&create)[0].replicas(), 0, "old pods still run");
    let new = replicaset(&v2, 2, 0, 0, 10);
    let down = plan(&v2, &[old.clone(), new.clone()], now()).unwrap();
    assert_eq!(moves(&down), [scale(&old, 0, 5)]);

    let mut draining = (*replicaset(&v1, 1, 0, 0, 600)).clone();
    draining.status.as_mut().unwrap().replicas = 2;
    let wait = plan(&v2, &[Arc::new(draining), new.clone()], now()).unwrap();
    assert_eq!(moves(&wait), [], "two old pods are still terminating");

    let gone = replicaset(&v1, 1, 0, 0, 600);
    let up = plan(&v2, &[gone, new.clone()], now()).unwrap();
    assert_eq!(moves(&up), [scale(&new, 5, 5)]);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll() {
    let v1 = deployment(4, "web:1");
    let old = replicaset(&v1, 1, 4, 4, 600);
    let mut paused = with_image(&v1, "web:2");
    paused.spec.paused = true;
    paused.spec.replicas = Some(6);
    let plan = plan(&paused, std::slice::from_ref(&old), now()).unwrap();
    assert_eq!(
        moves(&plan),
        [scale(&old, 6, 6)],
        "no new ReplicaSet while paused"
    );
    let status = plan.status.expect("a status to write");
    assert_eq!(
        condition(&status, "Progressing").reason.as_deref(),
        Some(REASON_PAUSED)
    );
    assert_eq!(
        condition(&status, "Progressing").status,
        ConditionStatus::Unknown
    );
}

#[test]
fn scaling_in_the_middle_of_a_rollout_spreads_replicas_plus_surge_in_proportion() {
    let v1 = deployment(10, "web:1");
    let mut v2 = with_image(&v1, "web:2");
    let old = replicaset(&v1, 1, 7, 7, 600);
    let new = replicaset(&v2, 2, 6, 0, 10);
    v2.spec.replicas = Some(20);
    let plan = plan(&v2, &[old.clone(), new.clone()], now()).unwrap();
    // 20 + 25% surge = 25, over 7 : 6, the larger remainder to the new one.
    assert_eq!(moves(&plan), [scale(&old, 13, 20), scale(&new, 12, 20)]);
}

#[test]
fn a_rollback_makes_the_restored_replicaset_the_newest_revision_first() {
    let v1 = deployment(10, "web:1");
    let v2 = with_image(&v1, "web:2");
    let first = replicaset(&v1, 1, 0, 0, 600);
    let second = replicaset(&v2, 2, 10, 10, 300);
    let mut back = with_image(&v2, "web:1");
    back.metadata
        .annotations
        .insert(CHANGE_CAUSE_ANNOTATION.into(), "back to web:1".into());
    let plan = plan(&back, &[first.clone(), second], now()).unwrap();
    assert_eq!(
        plan.steps,
        [
            Step::AnnotateReplicaSet {
                name: first.name_any().to_owned(),
                annotations: StringMap::from([
                    (REVISION_ANNOTATION, "3"),
                    (CHANGE_CAUSE_ANNOTATION, "back to web:1"),
                ]),
            },
            Step::AnnotateDeployment {
                annotations: StringMap::from([(REVISION_ANNOTATION, "3")]),
            }
        ],
        "nothing is scaled until revision 1 is revision 3"
    );
    assert_eq!(plan.status, None);
    assert_eq!(plan.check_again_in, None);
}

#[test]
fn the_deployment_records_the_revision_of_its_new_replicaset() {
    let v1 = deployment(4, "web:1");
    let first = plan(&v1, &[], now()).unwrap();
    assert!(matches!(first.steps[0], Step::Create(_)), "{first:?}");
    assert_eq!(
        first.steps[1..],
        [Step::AnnotateDeployment {
            annotations: StringMap::from([(REVISION_ANNOTATION, "1")]),
        }],
        "after the create, which may fail"
    );

    let old = replicaset(&v1, 1, 4, 4, 600);
    let v2 = with_image(&v1, "web:2");
    let new = replicaset(&v2, 2, 1, 0, 10);
    let mut behind = v2.clone();
    behind
        .metadata
        .annotations
        .insert(REVISION_ANNOTATION.into(), "1".into());
    let plan = plan(&behind, &[old, new], now()).unwrap();
    assert!(
        plan.steps.contains(&Step::AnnotateDeployment {
            annotations: StringMap::from([(REVISION_ANNOTATION, "2")]),
        }),
        "{plan:?}"
    );
}

#[test]
fn the_change_cause_is_copied_onto_the_new_replicaset() {
    let mut d = deployment(2, "web:1");
    d.metadata
        .annotations
        .insert(CHANGE_CAUSE_ANNOTATION.into(), "first release".into());
    let create = plan(&d, &[], now()).unwrap();
    assert_eq!(
        created(&create)[0].metadata.annotations[CHANGE_CAUSE_ANNOTATION],
        "first release"
    );

    // The cause changed without a new template: the current ReplicaSet follows.
    let rs = replicaset(&d, 1, 2, 2, 600);
    d.metadata
        .annotations
        .insert(CHANGE_CAUSE_ANNOTATION.into(), "scaled for the sale".into());
    let plan = plan(&d, std::slice::from_ref(&rs), now()).unwrap();
    assert!(
        plan.steps.contains(&Step::AnnotateReplicaSet {
            name: rs.name_any().to_owned(),
            annotations: StringMap::from([(CHANGE_CAUSE_ANNOTATION, "scaled for the sale")]),
        }),
        "{plan:?}"
    );

    // A Deployment without one leaves the ReplicaSet's as it is.
    let mut quiet = d.clone();
    quiet.metadata.annotations.remove(CHANGE_CAUSE_ANNOTATION);
    let plan = super::plan(&quiet, &[rs], now()).unwrap();
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::AnnotateReplicaSet { .. })),
        "{plan:?}"
    );
}

#[test]
fn old_replicasets_without_pods_beyond_the_history_limit_are_deleted_oldest_first() {
    let mut d = deployment(2, "web:1");
    d.spec.revision_history_limit = Some(1);
    let mut rss: Vec<Arc<ReplicaSet>> = (1..=3)
        .map(|r| replicaset(&with_image(&d, &format!("web:{r}")), r, 0, 0, 1000 - r))
        .collect();
    // Revision 4 still has a pod: never deleted, and not counted by the limit.
    rss.push(replicaset(&with_image(&d, "web:4"), 4, 1, 1, 500));
    let current = with_image(&d, "web:5");
    rss.push(replicaset(&current, 5, 2, 2, 100));
    let plan = plan(&current, &rss, now()).unwrap();
    let deleted: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Delete { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [rss[0].name_any(), rss[1].name_any()]);
}

#[test]
fn a_finished_rollout_reports_complete_and_then_nothing_to_write() {
    let mut d = deployment(3, "web:1");
    let rs = replicaset(&d, 1, 3, 3, 600);
    d.metadata
        .annotations
        .insert(REVISION_ANNOTATION.into(), "1".into());
    let first = plan(&d, std::slice::from_ref(&rs), now()).unwrap();
    assert_eq!(moves(&first), []);
    let status = first.status.expect("a first status");
    assert!(is_complete(&d, &status), "{status:?}");
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas
        ),
        (3, 3, 3)
    );
    assert_eq!(
        (status.available_replicas, status.unavailable_replicas),
        (3, 0)
    );
    assert_eq!(status.observed_generation, Some(1));
    let available = condition(&status, "Available");
    assert_eq!(available.status, ConditionStatus::True);
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
    let progressing = condition(&status, "Progressing");
    assert_eq!(progressing.reason.as_deref(), Some(REASON_COMPLETE));
    assert_eq!(first.check_again_in, None);

    d.status = Some(status);
    let later = plan(&d, &[rs], now().plus(Duration::from_secs(30))).unwrap();
    assert_eq!(later.status, None, "nothing changed, so nothing to write");
}

#[test]
fn a_rollout_without_progress_for_its_deadline_is_reported_failed() {
    let v1 = deployment(4, "web:1");
    let mut v2 = with_image(&v1, "web:2");
    v2.spec.progress_deadline_seconds = Some(60);
    let rss = [replicaset(&v1, 1, 3, 3, 600), replicaset(&v2, 2, 2, 0, 10)];

    let start = plan(&v2, &rss, now()).unwrap();
    let status = start.status.expect("a status");
    assert_eq!(
        condition(&status, "Progressing").reason.as_deref(),
        Some(REASON_UPDATED)
    );
    assert_eq!(start.check_again_in, Some(Duration::from_secs(60)));

    v2.status = Some(status);
    let waiting = plan(&v2, &rss, now().plus(Duration::from_secs(20))).unwrap();
    assert_eq!(waiting.status, None, "no progress, nothing new to say yet");
    assert_eq!(waiting.check_again_in, Some(Duration::from_secs(40)));

    let late = plan(&v2, &rss, now().plus(Duration::from_secs(60))).unwrap();
    let status = late.status.expect("the deadline is news");
    let progressing = condition(&status, "Progressing");
    assert_eq!(progressing.status, ConditionStatus::False);
    assert_eq!(progressing.reason.as_deref(), Some(REASON_DEADLINE));
    assert_eq!(late.check_again_in, None);
    assert!(
        !late.steps.iter().any(|s| matches!(s, Step::Delete { .. })),
        "the old ReplicaSet stays"
    );
}

#[test]
fn a_deployment_being_deleted_is_left_alone() {
    let mut d = deployment(3, "web:1");
    d.metadata.deletion_timestamp = Some(now());
    assert_eq!(plan(&d, &[], now()).unwrap(), DeploymentPlan::default());
}

#[test]
fn a_bad_max_surge_is_an_error() {
    let mut d = deployment(3, "web:1");
    rolling(&mut d, "lots".into(), "25%".into());
    let err = plan(&d, &[], now()).unwrap_err();
    assert!(matches!(err, DeploymentError::BadStrategy { .. }), "{err}");
}

#[test]
fn replicasets_of_other_controllers_are_ignored() {
    let d = deployment(3, "web:1");
    let mut other = (*replicaset(&d, 1, 3, 3, 600)).clone();
    other.metadata.owner_references[0].uid = "someone-else".into();
    let plan = plan(&d, &[Arc::new(other)], now()).unwrap();
    assert_eq!(created(&plan).len(), 1, "{plan:?}");
    assert_eq!(created(&plan)[0].replicas(), 3);
}

#[test]
fn a_counted_hash_collision_names_the_new_replicaset_differently() {
    let d = deployment(3, "web:1");
    let mut collided = d.clone();
    collided.status = Some(DeploymentStatus {
        collision_count: Some(1),
        ..Default::default()
    });
    let first = plan(&d, &[], now()).unwrap();
    let second = plan(&collided, &[], now()).unwrap();
    assert_ne!(
        created(&first)[0].name_any(),
        created(&second)[0].name_any()
    );
}

#[test]
fn only_its_own_replicaset_of_the_same_template_is_no_collision() {
    let d = deployment(3, "web:1");
    let wanted = new_replicaset(&d, 3, 1);
    let mut earlier = wanted.clone();
    earlier.spec.replicas = Some(1);
    assert!(
        is_own_replicaset(&d, &earlier, &wanted),
        "an earlier round's"
    );
    let mut squatter = wanted.clone();
    squatter.metadata.owner_references.clear();
    assert!(!is_own_replicaset(&d, &squatter, &wanted));
    let other = new_replicaset(&with_image(&d, "other:1"), 3, 1);
    assert!(!is_own_replicaset(&d, &other, &wanted));
}
