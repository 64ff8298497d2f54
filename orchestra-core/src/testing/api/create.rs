//! Create: the fields the server sets, generated names, defaults, duplicates, scope.

use super::{
    CLOCK_SKEW, Rack, Room, Step, Widget, WidgetStatus, ensure, ensure_eq, expect_status, refused,
    refused_with, rv_of,
};
use crate::ResourceExt;
use crate::api::ApiError;
use crate::conformance::CaseResult;
use crate::kinds::{Deployment, DeploymentStrategyType, IntOrString};
use crate::resource::Resource;

pub(super) async fn sets_server_fields(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let before = room.now();
    let mut w = room.widget("a", 1);
    w.metadata.uid = Some("forged".into());
    w.metadata.generation = Some(7);
    w.metadata.resource_version = Some("999999999".into());
    w.status = Some(WidgetStatus { seen: 3 });
    let created = widgets.create(&w).await.step("create")?;

    ensure!(
        !created.uid().is_empty() && created.uid() != "forged",
        "the server sets the uid: expected a fresh one, got {:?}",
        created.uid()
    );
    ensure_eq!(
        created.metadata.generation,
        Some(1),
        "generation of a new object"
    );
    ensure_eq!(
        created.metadata.namespace.as_deref(),
        Some(room.ns.as_str()),
        "the namespace comes from the request"
    );
    let rv = rv_of(&created)?;
    ensure!(
        rv > 0,
        "resourceVersion: expected a positive number, got {rv}"
    );
    let stamp = created
        .metadata
        .creation_timestamp
        .ok_or("creationTimestamp: expected one, got none")?;
    let after = room.now();
    ensure!(
        stamp >= before.minus(CLOCK_SKEW) && stamp <= after.plus(CLOCK_SKEW),
        "creationTimestamp: expected about {before}, got {stamp}"
    );
    ensure_eq!(
        created.status,
        None,
        "status is written only through the status subresource"
    );
    ensure!(
        created.metadata.deletion_timestamp.is_none(),
        "a new object is not being deleted"
    );
    let got = widgets.get("a").await.step("get")?;
    ensure_eq!(got, created, "get returns what create returned");
    Ok(())
}

pub(super) async fn generate_name(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let mut template = room.widget("", 1);
    template.metadata.name = None;
    template.metadata.generate_name = Some("web-".into());
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let w = widgets
            .create(&template)
            .await
            .step("create by generateName")?;
        let name = w.name_any().to_owned();
        ensure!(
            name.starts_with("web-") && name.len() > "web-".len(),
            "generated name: expected web- and a suffix, got {name:?}"
        );
        crate::validation::validate_dns1123_subdomain(&name)
            .map_err(|e| format!("generated name {name:?} is not a valid name: {e}"))?;
        ensure_eq!(
            w.metadata.generate_name.as_deref(),
            Some("web-"),
            "generateName is kept"
        );
        names.insert(name);
    }
    ensure_eq!(names.len(), 10, "ten creates make ten names");

    template.metadata.generate_name = Some("Bad_".into());
    refused_with(
        widgets.create(&template).await,
        422,
        "Invalid",
        "an invalid generateName",
    )?;
    let mut nameless = room.widget("", 1);
    nameless.metadata.name = None;
    let err = refused_with(
        widgets.create(&nameless).await,
        422,
        "Invalid",
        "neither name nor generateName",
    )?;
    ensure!(
        err.field_errors()
            .0
            .iter()
            .any(|f| f.field == "metadata.name"),
        "the cause names metadata.name: got {:?}",
        err.field_errors()
    );
    Ok(())
}

pub(super) async fn applies_defaults(room: Room) -> CaseResult {
    let deployments = room.api::<Deployment>();
    let mut d = Deployment::new("web", 1, "web:1");
    d.spec.replicas = None;
    d.spec.strategy = None;
    d.spec.revision_history_limit = None;
    let created = deployments.create(&d).await.step("create")?;
    ensure_eq!(created.spec.replicas, Some(1), "defaulted spec.replicas");
    ensure_eq!(
        created.spec.revision_history_limit,
        Some(10),
        "defaulted spec.revisionHistoryLimit"
    );
    let strategy = created
        .spec
        .strategy
        .as_ref()
        .ok_or("defaulted spec.strategy: expected one, got none")?;
    ensure_eq!(
        strategy.type_,
        Some(DeploymentStrategyType::RollingUpdate),
        "defaulted spec.strategy.type"
    );
    let rolling = strategy
        .rolling_update
        .as_ref()
        .ok_or("defaulted spec.strategy.rollingUpdate: expected one, got none")?;
    ensure_eq!(
        (rolling.max_surge.clone(), rolling.max_unavailable.clone()),
        (
            Some(IntOrString::from("25%")),
            Some(IntOrString::from("25%"))
        ),
        "defaulted maxSurge and maxUnavailable"
    );
    ensure_eq!(
        deployments.get("web").await.step("get")?,
        created,
        "the defaults are stored"
    );
    Ok(())
}

pub(super) async fn duplicate_is_already_exists(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let first = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let err = refused_with(
        widgets.create(&room.widget("a", 2)).await,
        409,
        "AlreadyExists",
        "a second create of \"a\"",
    )?;
    ensure!(
        matches!(err, ApiError::AlreadyExists(_)),
        "expected ApiError::AlreadyExists, got {err:?}"
    );
    let details = err
        .body()
        .details
        .as_deref()
        .ok_or("AlreadyExists: expected details, got none")?;
    ensure_eq!(
        (
            details.name.as_deref(),
            details.group.as_deref(),
            details.kind.as_deref()
        ),
        (Some("a"), Some(super::GROUP), Some(Widget::PLURAL)),
        "AlreadyExists details (name, group, kind)"
    );
    ensure_eq!(
        err.message(),
        format!("widgets.{} \"a\" already exists", super::GROUP),
        "AlreadyExists message"
    );
    ensure_eq!(
        widgets.get("a").await.step("get")?,
        first,
        "the first object is unchanged"
    );
    Ok(())
}

pub(super) async fn scope_rules(room: Room) -> CaseResult {
    // As in Kubernetes, the namespace a cluster-scoped object names is dropped.
    let racks = room.api::<Rack>();
    let mut rack = Rack::new(&room.cluster_name("r"), 4);
    rack.metadata.namespace = Some(room.ns.clone());
    let created = racks
        .create(&rack)
        .await
        .step("create a cluster-scoped object naming a namespace")?;
    ensure_eq!(
        created.metadata.namespace.as_deref().unwrap_or(""),
        "",
        "the namespace of a cluster-scoped object"
    );
    let mut renamed = created.clone();
    renamed.metadata.namespace = Some("elsewhere".into());
    renamed.spec.slots = 5;
    let replaced = racks
        .update(&renamed)
        .await
        .step("update naming a namespace")?;
    ensure_eq!(
        (
            replaced.metadata.namespace.as_deref().unwrap_or(""),
            replaced.spec.slots
        ),
        ("", 5),
        "the namespace and slots after an update naming a namespace"
    );

    let everywhere = crate::Api::<Widget>::all(room.client());
    let err = refused(
        everywhere.create(&room.widget("a", 1)).await,
        "a namespaced object with no namespace",
    )?;
    ensure!(
        err.message().contains("metadata.namespace") || err.message().contains("namespace"),
        "the error names the missing namespace: got {}",
        super::describe(&err)
    );
    ensure!(
        matches!(err.code(), 400 | 422),
        "a missing namespace: expected 400 or 422, got {}",
        super::describe(&err)
    );
    refused_with(
        everywhere.get("a").await,
        400,
        "BadRequest",
        "a get of a namespaced kind without a namespace",
    )?;

    let mut elsewhere = room.widget("a", 1);
    elsewhere.metadata.namespace = Some(room.other_ns());
    let err = refused(
        room.widgets().create(&elsewhere).await,
        "an object naming another namespace than the request",
    )?;
    expect_status(&err, 400, "BadRequest", "a namespace mismatch")?;
    ensure!(
        room.api_in::<Widget>(&room.other_ns())
            .get_opt("a")
            .await
            .step("get in the other namespace")?
            .is_none(),
        "nothing was created in the other namespace"
    );
    Ok(())
}
