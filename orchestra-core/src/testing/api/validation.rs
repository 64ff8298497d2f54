//! Validation and size limits: 422 Invalid with a cause per field, 413 over the limit.

use super::{Room, Step, Widget, ensure, ensure_eq, expect_status, refused, refused_with, rv_of};
use crate::ListParams;
use crate::conformance::CaseResult;
use crate::kinds::Deployment;
use crate::meta::OwnerReference;

pub(super) async fn bad_names(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let long = "x".repeat(254);
    for bad in ["../x", "a/b", "UPPER", "with space", "-dash", long.as_str()] {
        let err = refused(
            widgets.create(&room.widget(bad, 1)).await,
            &format!("create named {bad:.20?}"),
        )?;
        expect_status(&err, 422, "Invalid", &format!("create named {bad:.20?}"))?;
        ensure!(
            err.field_errors()
                .0
                .iter()
                .any(|f| f.field == "metadata.name"),
            "create named {bad:.20?}: expected a cause naming metadata.name, got {}",
            err.message()
        );
    }
    let err = refused_with(
        room.api_in::<Widget>("Bad_NS")
            .create(&room.widget("ok", 1))
            .await,
        422,
        "Invalid",
        "create in an invalid namespace",
    )?;
    ensure!(
        err.field_errors()
            .0
            .iter()
            .any(|f| f.field == "metadata.namespace"),
        "expected a cause naming metadata.namespace, got {}",
        err.message()
    );
    let listed = widgets.list(&ListParams::default()).await.step("list")?;
    ensure!(
        listed.items.is_empty(),
        "refused creates create nothing: got {} objects",
        listed.items.len()
    );
    Ok(())
}

pub(super) async fn field_causes(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let mut w = room.widget("a", 1).with_label("app", "not valid!");
    w.metadata.finalizers.push("has space".into());
    w.metadata.owner_references.push(OwnerReference::default());
    let err = refused_with(
        widgets.create(&w).await,
        422,
        "Invalid",
        "create of an invalid widget",
    )?;
    let fields: Vec<String> = err.field_errors().0.into_iter().map(|f| f.field).collect();
    for field in [
        "metadata.labels[\"app\"]",
        "metadata.finalizers[0]",
        "metadata.ownerReferences[0].uid",
    ] {
        ensure!(
            fields.iter().any(|f| f == field),
            "expected a cause naming {field}, got causes {fields:?}"
        );
    }
    refused_with(
        widgets.get("a").await,
        404,
        "NotFound",
        "get of the refused widget",
    )?;
    let prefix = format!("Widget.{} \"a\" is invalid:", super::GROUP);
    ensure!(
        err.message().starts_with(&prefix),
        "Invalid message: expected it to start with {prefix:?}, got {:?}",
        err.message()
    );
    let details = err
        .body()
        .details
        .as_deref()
        .ok_or("Invalid: expected details")?;
    ensure_eq!(
        (details.name.as_deref(), details.kind.as_deref()),
        (Some("a"), Some("Widget")),
        "Invalid details name the object and its kind"
    );

    let deployments = room.api::<Deployment>();
    let mut d = Deployment::new("web", -1, "web:1");
    d.spec.template.spec.containers[0].image = String::new();
    let err = refused_with(
        deployments.create(&d).await,
        422,
        "Invalid",
        "create of a deployment with negative replicas and no image",
    )?;
    let fields: Vec<String> = err.field_errors().0.into_iter().map(|f| f.field).collect();
    ensure!(
        fields.iter().any(|f| f == "spec.replicas"),
        "expected a cause naming spec.replicas, got {fields:?}"
    );
    ensure!(
        fields.len() >= 2,
        "every bad field has its cause (replicas and image): got {fields:?}"
    );
    // An update is validated too, and changes nothing.
    let good = deployments
        .create(&Deployment::new("ok", 1, "web:1"))
        .await
        .step("create a valid deployment")?;
    let mut bad = good.clone();
    bad.spec.replicas = Some(-3);
    refused_with(
        deployments.update(&bad).await,
        422,
        "Invalid",
        "an invalid update",
    )?;
    ensure_eq!(
        rv_of(&deployments.get("ok").await.step("get")?)?,
        rv_of(&good)?,
        "a refused update writes nothing"
    );
    Ok(())
}

/// Uses the subject's declared size limit; without one, etcd's 1.5 MiB.
pub(super) async fn object_size_limit(room: Room) -> CaseResult {
    let widgets = room.widgets();
    // Without a declared limit, 2 MiB is over etcd's, which Kubernetes objects live in.
    let limit = room.subject.max_object_bytes.unwrap_or(1536 * 1024);
    let tag = "x".repeat(1000);
    let over = limit / 1000 + 2;
    let mut big = room.widget("big", 1);
    big.spec.tags = vec![tag.clone(); over];
    let err = refused_with(
        widgets.create(&big).await,
        413,
        "RequestEntityTooLarge",
        "create of an object over the limit",
    )?;
    if room.subject.max_object_bytes.is_some() {
        ensure!(
            err.message().contains(&format!("limit is {limit}")),
            "the error names the limit {limit}: got {}",
            err.message()
        );
    }
    ensure!(
        err.message().contains("\"big\""),
        "the error names the object: got {}",
        err.message()
    );
    refused_with(
        widgets.get("big").await,
        404,
        "NotFound",
        "get of the refused object",
    )?;

    let small = widgets
        .create(&room.widget("small", 1))
        .await
        .step("create small")?;
    let mut grown = small.clone();
    grown.spec.tags = vec![tag; over];
    refused_with(
        widgets.update(&grown).await,
        413,
        "RequestEntityTooLarge",
        "an update growing the object over the limit",
    )?;
    ensure_eq!(
        widgets.get("small").await.step("get")?,
        small,
        "the stored object"
    );
    Ok(())
}
