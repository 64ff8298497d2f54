//! The `binding` subresource of pods and the `scale` subresource of Deployments and
//! ReplicaSets.

use super::list::pod;
use super::{Room, Step, Widget, ensure, ensure_eq, refused, refused_with, rv_of};
use crate::api::Scale;
use crate::conformance::CaseResult;
use crate::kinds::{
    ConditionStatus, Deployment, POD_SCHEDULED, Pod, PodStatus, ReplicaSet, ReplicaSetSpec,
};
use crate::labels::LabelSelector;
use crate::meta::ObjectMeta;
use crate::{Api, DeleteParams};

pub(super) async fn bind_sets_node(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    let created = pods.create(&pod("a")).await.step("create pod")?;
    let mut watch = pods
        .watch(&crate::ListParams::default(), rv_of(&created)?)
        .await
        .step("watch")?;
    let bound = pods.bind(&created, "node-1").await.step("bind")?;
    ensure_eq!(
        bound.node_name(),
        Some("node-1"),
        "spec.nodeName after bind"
    );
    let scheduled = bound
        .condition(POD_SCHEDULED)
        .ok_or("PodScheduled: expected the condition, got none")?;
    ensure_eq!(
        scheduled.status,
        ConditionStatus::True,
        "PodScheduled status"
    );
    ensure_eq!(pods.get("a").await.step("get")?, bound, "the stored pod");
    let event = super::next_change(&mut watch, "the bind's event").await?;
    ensure_eq!(super::summary(&event), "Modified a", "the bind's event");
    super::quiet(&mut watch, "one bind is one write").await?;
    Ok(())
}

pub(super) async fn bind_twice_conflicts(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    let created = pods.create(&pod("a")).await.step("create pod")?;
    pods.bind(&created, "node-1").await.step("bind")?;
    let err = refused_with(
        pods.bind(&created, "node-2").await,
        409,
        "Conflict",
        "binding a bound pod",
    )?;
    ensure!(
        err.message().contains("already bound to node \"node-1\""),
        "the error names the node: got {}",
        err.message()
    );
    ensure_eq!(
        pods.get("a").await.step("get")?.node_name(),
        Some("node-1"),
        "the pod stays on its node"
    );
    Ok(())
}

pub(super) async fn bind_keeps_status(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    let created = pods.create(&pod("a")).await.step("create pod")?;
    let mut status = created.clone();
    status.status = Some(PodStatus {
        message: Some("waiting".into()),
        ..Default::default()
    });
    pods.update_status(&status).await.step("status write")?;
    let bound = pods
        .bind(&created, "node-1")
        .await
        .step("bind over an older copy")?;
    ensure_eq!(
        bound.node_name(),
        Some("node-1"),
        "spec.nodeName after bind"
    );
    ensure_eq!(
        bound.status.as_ref().and_then(|s| s.message.as_deref()),
        Some("waiting"),
        "the status written in between is kept"
    );
    Ok(())
}

pub(super) async fn bind_refusals(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    let now = DeleteParams::default().grace_period(0);

    let gone = pods.create(&pod("gone")).await.step("create")?;
    pods.delete("gone", &now).await.step("delete")?;
    refused_with(
        pods.bind(&gone, "node-1").await,
        404,
        "NotFound",
        "binding a deleted pod",
    )?;

    let old = pods.create(&pod("again")).await.step("create")?;
    pods.delete("again", &now).await.step("delete")?;
    pods.create(&pod("again")).await.step("re-create")?;
    let err = refused_with(
        pods.bind(&old, "node-1").await,
        409,
        "Conflict",
        "binding a re-created pod by the old one's uid",
    )?;
    ensure!(
        err.message().contains("re-created"),
        "the error says why: got {}",
        err.message()
    );

    let mut held = pod("terminating");
    held.metadata.finalizers.push("example.dev/hold".into());
    let terminating = pods.create(&held).await.step("create")?;
    pods.delete("terminating", &DeleteParams::default())
        .await
        .step("delete")?;
    let err = refused_with(
        pods.bind(&terminating, "node-1").await,
        409,
        "Conflict",
        "binding a terminating pod",
    )?;
    ensure!(
        err.message().contains("being deleted"),
        "the error says why: got {}",
        err.message()
    );

    let err = refused(
        pods.bind(&terminating, "").await,
        "binding to an empty node name",
    )?;
    ensure!(
        err.code() == 400 || err.code() == 422,
        "binding to an empty node name: expected 400 or 422, got {}",
        super::describe(&err)
    );
    Ok(())
}

fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    let template = Deployment::new(name, 1, "web:1").spec.template;
    ReplicaSet {
        metadata: ObjectMeta::named(name),
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector::new().match_label("app", name),
            template,
            ..Default::default()
        },
        status: None,
    }
}

pub(super) async fn scale(room: Room) -> CaseResult {
    let deployments = room.api::<Deployment>();
    let d = deployments
        .create(&Deployment::new("web", 2, "web:1"))
        .await
        .step("create deployment")?;
    let s = deployments.scale("web").await.step("get scale")?;
    ensure_eq!(s.spec.replicas, 2, "the scale's spec.replicas");
    ensure_eq!(s.status.selector, "app=web", "the scale's status.selector");
    ensure_eq!(
        s.metadata.uid.as_deref(),
        d.metadata.uid.as_deref(),
        "the scale's uid"
    );
    ensure_eq!(
        s.metadata.resource_version,
        d.metadata.resource_version,
        "the scale's resourceVersion"
    );
    let mut want = Scale::default();
    want.spec.replicas = 5;
    let set = deployments
        .replace_scale("web", &want)
        .await
        .step("set scale")?;
    ensure_eq!(set.spec.replicas, 5, "the scale after setting it");
    let after = deployments.get("web").await.step("get")?;
    ensure_eq!(
        after.spec.replicas,
        Some(5),
        "the deployment's spec.replicas"
    );
    ensure_eq!(
        after.metadata.generation,
        Some(2),
        "generation after a scale"
    );

    let mut stale = s.clone();
    stale.spec.replicas = 9;
    refused_with(
        deployments.replace_scale("web", &stale).await,
        409,
        "Conflict",
        "setting the scale at a stale resourceVersion",
    )?;
    ensure_eq!(
        deployments.get("web").await.step("get")?.spec.replicas,
        Some(5),
        "a refused scale writes nothing"
    );

    let replicasets = room.api::<ReplicaSet>();
    replicasets
        .create(&replicaset("rs", 1))
        .await
        .step("create replicaset")?;
    let mut current = replicasets.scale("rs").await.step("get replicaset scale")?;
    ensure_eq!(current.spec.replicas, 1, "the replicaset's scale");
    current.spec.replicas = 3;
    replicasets
        .replace_scale("rs", &current)
        .await
        .step("set replicaset scale")?;
    ensure_eq!(
        replicasets.get("rs").await.step("get")?.spec.replicas,
        Some(3),
        "the replicaset's spec.replicas"
    );

    let widgets: Api<Widget> = room.widgets();
    widgets
        .create(&room.widget("w", 1))
        .await
        .step("create widget")?;
    refused_with(
        widgets.scale("w").await,
        404,
        "NotFound",
        "the scale of a kind without one",
    )?;
    refused_with(
        deployments.scale("missing").await,
        404,
        "NotFound",
        "the scale of a missing deployment",
    )?;
    Ok(())
}
