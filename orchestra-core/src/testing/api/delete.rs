//! Deletion: at once, held by finalizers, guarded by preconditions, with propagation
//! recorded, and graceful.

use std::time::Duration;

use super::list::pod;
use super::{CLOCK_SKEW, Room, Step, ensure, ensure_eq, refused_with};
use crate::DeleteParams;
use crate::api::{
    DeleteOutcome, FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN, PropagationPolicy,
};
use crate::conformance::CaseResult;
use crate::kinds::Pod;
use crate::resource::ResourceExt;
use crate::time::Time;

/// Checks that `stamp` is about `want`, within the clock skew the kit allows.
fn about(stamp: Option<Time>, want: Time, what: &str) -> CaseResult {
    let stamp = stamp.ok_or_else(|| format!("{what}: expected a deletionTimestamp, got none"))?;
    ensure!(
        stamp >= want.minus(CLOCK_SKEW) && stamp <= want.plus(CLOCK_SKEW),
        "{what}: expected a deletionTimestamp about {want}, got {stamp}"
    );
    Ok(())
}

pub(super) async fn immediate(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let outcome = widgets
        .delete("a", &DeleteParams::default())
        .await
        .step("delete")?;
    let DeleteOutcome::Deleted(last) = outcome else {
        return Err("delete without finalizers: expected Deleted, got Pending".into());
    };
    ensure_eq!(last.uid(), w.uid(), "the deleted object's last state");
    refused_with(widgets.get("a").await, 404, "NotFound", "get after delete")?;
    refused_with(
        widgets.delete("a", &DeleteParams::default()).await,
        404,
        "NotFound",
        "a second delete",
    )?;
    Ok(())
}

pub(super) async fn finalizers_hold(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let mut w = room.widget("a", 1);
    w.metadata.finalizers.push("example.dev/cleanup".into());
    widgets.create(&w).await.step("create")?;
    let now = room.now();
    let DeleteOutcome::Pending(pending) = widgets
        .delete("a", &DeleteParams::default())
        .await
        .step("delete")?
    else {
        return Err("delete with a finalizer: expected Pending, got Deleted".into());
    };
    about(
        pending.metadata.deletion_timestamp,
        now,
        "the pending object",
    )?;
    ensure_eq!(
        pending.metadata.finalizers,
        ["example.dev/cleanup"],
        "the finalizers of the pending object"
    );
    let stored = widgets.get("a").await.step("get the pending object")?;
    ensure!(
        stored.metadata.is_being_deleted(),
        "the stored object is being deleted"
    );

    let err = refused_with(
        widgets
            .update_with("a", |w| {
                w.metadata.finalizers.push("example.dev/late".into())
            })
            .await,
        422,
        "Invalid",
        "adding a finalizer to an object being deleted",
    )?;
    ensure!(
        err.field_errors()
            .0
            .iter()
            .any(|f| f.field.starts_with("metadata.finalizers")),
        "the cause names metadata.finalizers: got {}",
        err.message()
    );
    let mut undo = widgets.get("a").await.step("get")?;
    undo.metadata.deletion_timestamp = None;
    undo.spec.size = 2;
    let kept = widgets
        .update(&undo)
        .await
        .step("an update clearing deletionTimestamp")?;
    ensure!(
        kept.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp cannot be cleared by an update"
    );
    widgets
        .update_with("a", |w| w.metadata.finalizers.clear())
        .await
        .step("removing the last finalizer")?;
    refused_with(
        widgets.get("a").await,
        404,
        "NotFound",
        "get after the last finalizer is removed",
    )?;
    Ok(())
}

pub(super) async fn preconditions(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    refused_with(
        widgets
            .delete("a", &DeleteParams::default().precondition_uid("other"))
            .await,
        409,
        "Conflict",
        "delete with another uid as precondition",
    )?;
    let stale = super::rv_of(&w)?;
    widgets
        .update_with("a", |w| w.spec.size = 2)
        .await
        .step("update")?;
    refused_with(
        widgets
            .delete(
                "a",
                &DeleteParams::default().precondition_resource_version(stale),
            )
            .await,
        409,
        "Conflict",
        "delete with a stale resourceVersion as precondition",
    )?;
    let now = widgets.get("a").await.step("get")?;
    let ok = DeleteParams::default()
        .precondition_uid(now.uid())
        .precondition_resource_version(super::rv_of(&now)?);
    let outcome = widgets
        .delete("a", &ok)
        .await
        .step("delete with preconditions that hold")?;
    ensure!(
        outcome.is_deleted(),
        "delete with preconditions that hold: expected Deleted"
    );
    Ok(())
}

pub(super) async fn propagation(room: Room) -> CaseResult {
    let widgets = room.widgets();
    for (name, params, finalizer) in [
        (
            "fg",
            DeleteParams::foreground(),
            FINALIZER_FOREGROUND_DELETION,
        ),
        ("orphan", DeleteParams::orphan(), FINALIZER_ORPHAN),
    ] {
        widgets.create(&room.widget(name, 1)).await.step("create")?;
        let outcome = widgets.delete(name, &params).await.step("delete")?;
        ensure!(
            !outcome.is_deleted(),
            "{name}: expected Pending, got Deleted"
        );
        ensure_eq!(
            outcome.object().metadata.finalizers,
            [finalizer],
            "{name}: the finalizer recording the policy"
        );
        ensure!(
            outcome.object().metadata.deletion_timestamp.is_some(),
            "{name}: deletionTimestamp is set"
        );
    }
    widgets.create(&room.widget("bg", 1)).await.step("create")?;
    let bg = DeleteParams::default().propagation(PropagationPolicy::Background);
    ensure!(
        widgets
            .delete("bg", &bg)
            .await
            .step("background delete")?
            .is_deleted(),
        "background delete: expected Deleted"
    );
    Ok(())
}

pub(super) async fn grace_period(room: Room) -> CaseResult {
    // A widget has nothing to stop: as in Kubernetes, a grace period asked of it is
    // ignored.
    let widgets = room.widgets();
    widgets
        .create(&room.widget("a", 1))
        .await
        .step("create widget")?;
    let outcome = widgets
        .delete("a", &DeleteParams::default().grace_period(30))
        .await
        .step("delete a widget with 30 s grace")?;
    ensure!(
        outcome.is_deleted(),
        "a kind without graceful deletion: expected Deleted at once, got Pending"
    );

    let pods = room.api::<Pod>();
    let created = pods.create(&pod("bound")).await.step("create pod")?;
    pods.bind(&created, "node-a").await.step("bind")?;
    let now = room.now();
    let outcome = pods
        .delete("bound", &DeleteParams::default().grace_period(30))
        .await
        .step("delete a bound pod with 30 s grace")?;
    ensure!(
        !outcome.is_deleted(),
        "a bound pod with a grace period: expected Pending, got Deleted"
    );
    let marked = outcome.object();
    ensure_eq!(
        marked.metadata.deletion_grace_period_seconds,
        Some(30),
        "deletionGracePeriodSeconds"
    );
    about(
        marked.metadata.deletion_timestamp,
        now.plus(Duration::from_secs(30)),
        "a 30 s grace period",
    )?;
    pods.get("bound")
        .await
        .step("get during the grace period")?;
    let gone = pods
        .delete("bound", &DeleteParams::default().grace_period(0))
        .await
        .step("delete with zero grace")?;
    ensure!(gone.is_deleted(), "a zero grace delete: expected Deleted");
    refused_with(
        pods.get("bound").await,
        404,
        "NotFound",
        "get after the zero grace delete",
    )?;

    pods.create(&pod("unbound"))
        .await
        .step("create unbound pod")?;
    ensure!(
        pods.delete("unbound", &DeleteParams::default().grace_period(30))
            .await
            .step("delete an unbound pod with 30 s grace")?
            .is_deleted(),
        "an unbound pod has nothing to stop: expected Deleted at once, whatever the grace period"
    );
    Ok(())
}

pub(super) async fn pod_graceful(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    let mut p = pod("bound");
    p.spec.termination_grace_period_seconds = Some(45);
    let created = pods.create(&p).await.step("create pod")?;
    pods.bind(&created, "node-a").await.step("bind")?;
    let now = room.now();
    let outcome = pods
        .delete("bound", &DeleteParams::default())
        .await
        .step("delete the bound pod")?;
    ensure!(
        !outcome.is_deleted(),
        "a bound pod: expected Pending, got Deleted"
    );
    ensure_eq!(
        outcome.object().metadata.deletion_grace_period_seconds,
        Some(45),
        "the pod's terminationGracePeriodSeconds"
    );
    about(
        outcome.object().metadata.deletion_timestamp,
        now.plus(Duration::from_secs(45)),
        "a bound pod's graceful deletion",
    )?;
    // A shorter grace period shortens the deadline; zero removes the pod.
    let shorter = pods
        .delete("bound", &DeleteParams::default().grace_period(5))
        .await
        .step("delete again with 5 s")?;
    ensure_eq!(
        shorter.object().metadata.deletion_grace_period_seconds,
        Some(5),
        "the shortened grace period"
    );
    ensure!(
        pods.delete("bound", &DeleteParams::default().grace_period(0))
            .await
            .step("delete with zero grace")?
            .is_deleted(),
        "a zero grace delete of a terminating pod: expected Deleted"
    );

    pods.create(&pod("unbound"))
        .await
        .step("create unbound pod")?;
    ensure!(
        pods.delete("unbound", &DeleteParams::default())
            .await
            .step("delete the unbound pod")?
            .is_deleted(),
        "an unbound pod has nothing to stop: expected Deleted at once"
    );
    Ok(())
}
