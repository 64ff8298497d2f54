//! Replace and replace_status: optimistic concurrency, generation, no-op writes, the
//! status kept apart.

use super::{
    Room, Step, Widget, WidgetStatus, ensure, ensure_eq, quiet, refused, refused_with, rv_of,
};
use crate::conformance::CaseResult;
use crate::{Api, ListParams};

pub(super) async fn stale_version_conflicts(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let v1 = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let mut v2 = v1.clone();
    v2.spec.size = 2;
    let v2 = widgets
        .update(&v2)
        .await
        .step("update at the current version")?;
    ensure!(
        rv_of(&v2)? > rv_of(&v1)?,
        "an update moves the resourceVersion: {} then {}",
        rv_of(&v1)?,
        rv_of(&v2)?
    );
    let mut stale = v1.clone();
    stale.spec.size = 99;
    let err = refused_with(
        widgets.update(&stale).await,
        409,
        "Conflict",
        "an update at a stale resourceVersion",
    )?;
    let prefix = format!(
        "Operation cannot be fulfilled on widgets.{} \"a\"",
        super::GROUP
    );
    ensure!(
        err.message().starts_with(&prefix),
        "Conflict message: expected it to start with {prefix:?}, got {:?}",
        err.message()
    );
    ensure_eq!(
        widgets.get("a").await.step("get")?,
        v2,
        "the stored object after a stale update"
    );
    Ok(())
}

pub(super) async fn generation_follows_spec(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let labelled = widgets
        .update(&w.clone().with_label("tier", "web"))
        .await
        .step("relabel")?;
    ensure!(rv_of(&labelled)? > rv_of(&w)?, "a label change is written");
    ensure_eq!(
        labelled.metadata.generation,
        Some(1),
        "generation after a metadata change"
    );
    let mut status = labelled.clone();
    status.status = Some(WidgetStatus { seen: 1 });
    let status = widgets.update_status(&status).await.step("status write")?;
    ensure_eq!(
        status.metadata.generation,
        Some(1),
        "generation after a status write"
    );
    let mut resized = status.clone();
    resized.spec.size = 5;
    let resized = widgets.update(&resized).await.step("spec change")?;
    ensure_eq!(
        resized.metadata.generation,
        Some(2),
        "generation after a spec change"
    );
    let mut forged = resized.clone();
    forged.metadata.generation = Some(40);
    forged.spec.size = 6;
    let forged = widgets
        .update(&forged)
        .await
        .step("spec change with a forged generation")?;
    ensure_eq!(
        forged.metadata.generation,
        Some(3),
        "generation is the server's, not the client's"
    );
    Ok(())
}

pub(super) async fn noop_keeps_version(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let rv = rv_of(&w)?;
    let mut watch = widgets
        .watch(&ListParams::default(), rv)
        .await
        .step("watch after the create")?;
    let same = widgets.update(&w).await.step("a no-op update")?;
    ensure_eq!(rv_of(&same)?, rv, "resourceVersion after a no-op update");
    let same = widgets
        .update_status(&same)
        .await
        .step("a no-op status update")?;
    ensure_eq!(
        rv_of(&same)?,
        rv,
        "resourceVersion after a no-op status update"
    );
    let same = widgets
        .patch("a", &serde_json::json!({"spec": {"size": 1}}))
        .await
        .step("a no-op patch")?;
    ensure_eq!(rv_of(&same)?, rv, "resourceVersion after a no-op patch");
    quiet(&mut watch, "a watch over no-op writes").await?;
    ensure_eq!(
        rv_of(&widgets.get("a").await.step("get")?)?,
        rv,
        "stored resourceVersion"
    );
    Ok(())
}

pub(super) async fn status_kept_on_main_resource(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let mut reported = w.clone();
    reported.status = Some(WidgetStatus { seen: 4 });
    let reported = widgets
        .update_status(&reported)
        .await
        .step("status write")?;

    let mut sneaky = reported.clone();
    sneaky.status = Some(WidgetStatus { seen: 99 });
    sneaky.spec.size = 2;
    let written = widgets
        .update(&sneaky)
        .await
        .step("update with another status")?;
    ensure_eq!(written.spec.size, 2, "the spec is written");
    ensure_eq!(
        written.status,
        Some(WidgetStatus { seen: 4 }),
        "update keeps the stored status"
    );
    let mut cleared = written.clone();
    cleared.status = None;
    cleared.spec.size = 3;
    let cleared = widgets
        .update(&cleared)
        .await
        .step("update with no status")?;
    ensure_eq!(
        cleared.status,
        Some(WidgetStatus { seen: 4 }),
        "update without status keeps it"
    );

    // An empty resourceVersion means "whatever is stored now".
    let mut unconditional = w.clone();
    unconditional.metadata.resource_version = None;
    unconditional.spec.size = 7;
    let forced = widgets
        .update(&unconditional)
        .await
        .step("update without a resourceVersion")?;
    ensure_eq!(forced.spec.size, 7, "an unconditional update is written");
    Ok(())
}

pub(super) async fn status_ignores_spec(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let mut sneaky = w.clone();
    sneaky.spec.size = 100;
    sneaky.metadata.labels.insert("x".into(), "y".into());
    sneaky.status = Some(WidgetStatus { seen: 9 });
    let written = widgets.update_status(&sneaky).await.step("status write")?;
    ensure_eq!(written.spec.size, 1, "a status write leaves the spec");
    ensure!(
        !written.metadata.labels.contains_key("x"),
        "a status write leaves the labels: got {:?}",
        written.metadata.labels
    );
    ensure_eq!(
        written.status,
        Some(WidgetStatus { seen: 9 }),
        "the status is written"
    );
    ensure_eq!(
        widgets.get("a").await.step("get")?,
        written,
        "the stored object"
    );
    refused_with(
        widgets.update_status(&w).await,
        409,
        "Conflict",
        "a status write at a stale resourceVersion",
    )?;
    Ok(())
}

pub(super) async fn status_over_callers_copy(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let cached = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let mut reported = cached.clone();
    reported.spec.size = 100;
    reported.status = Some(WidgetStatus { seen: 9 });
    let written = widgets
        .replace_status(&cached, &reported)
        .await
        .step("replace_status over the cached copy")?;
    ensure_eq!(
        written.spec.size,
        1,
        "only the status is taken from the new copy"
    );
    ensure_eq!(
        written.status,
        Some(WidgetStatus { seen: 9 }),
        "the status written"
    );
    refused_with(
        widgets.replace_status(&cached, &reported).await,
        409,
        "Conflict",
        "replace_status over a stale copy",
    )?;
    let mut unversioned = cached.clone();
    unversioned.metadata.resource_version = None;
    let err = refused(
        widgets.replace_status(&unversioned, &reported).await,
        "replace_status over a copy without resourceVersion",
    )?;
    ensure!(
        err.message().contains("resourceVersion"),
        "the error names resourceVersion: got {}",
        err.message()
    );
    let mut gone = room.widget("gone", 1);
    gone.metadata.resource_version = written.metadata.resource_version.clone();
    refused_with(
        widgets.replace_status(&gone, &reported).await,
        404,
        "NotFound",
        "replace_status of a missing object",
    )?;
    Ok(())
}

pub(super) async fn concurrent_writers_lose_nothing(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets
        .create(&room.widget("counter", 0))
        .await
        .step("create")?;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let widgets = widgets.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                widgets.update_with("counter", |w| w.spec.size += 1).await?;
            }
            Ok::<(), crate::ApiError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| format!("a writer's task failed: {e}"))?
            .step("a racing update_with")?;
    }
    ensure_eq!(
        widgets.get("counter").await.step("get")?.spec.size,
        20,
        "increments by 4 writers of 5 each"
    );
    Ok(())
}

pub(super) async fn all_namespaces_api_writes_in_place(room: Room) -> CaseResult {
    let other = room.api_in::<Widget>(&room.other_ns());
    let created = other.create(&room.widget("w", 1)).await.step("create")?;
    let everywhere = Api::<Widget>::all(room.client());
    let mut changed = created.clone();
    changed.spec.size = 2;
    let updated = everywhere
        .update(&changed)
        .await
        .step("update through Api::all")?;
    ensure_eq!(
        updated.metadata.namespace.as_deref(),
        Some(room.other_ns().as_str()),
        "the namespace written"
    );
    let mut status = updated.clone();
    status.status = Some(WidgetStatus { seen: 4 });
    everywhere
        .update_status(&status)
        .await
        .step("status through Api::all")?;
    let stored = other.get("w").await.step("get")?;
    ensure_eq!(
        (stored.spec.size, stored.status.clone()),
        (2, Some(WidgetStatus { seen: 4 })),
        "spec and status written in the object's namespace"
    );
    refused_with(
        room.widgets().update(&stored).await,
        400,
        "BadRequest",
        "a namespaced Api writing another namespace's object",
    )?;
    Ok(())
}

pub(super) async fn preconditions_and_targets(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let old = widgets.create(&room.widget("a", 1)).await.step("create")?;
    widgets
        .delete("a", &crate::DeleteParams::default())
        .await
        .step("delete")?;
    let new = widgets
        .create(&room.widget("a", 2))
        .await
        .step("re-create")?;
    let mut stale = old.clone();
    stale.metadata.resource_version = None;
    stale.spec.size = 9;
    refused_with(
        widgets.update(&stale).await,
        409,
        "Conflict",
        "an update without resourceVersion carrying the deleted object's uid",
    )?;
    stale.status = Some(WidgetStatus { seen: 9 });
    refused_with(
        widgets.update_status(&stale).await,
        409,
        "Conflict",
        "a status update without resourceVersion carrying the deleted object's uid",
    )?;
    ensure_eq!(
        widgets.get("a").await.step("get")?,
        new,
        "the re-created object"
    );

    let mut missing = room.widget("missing", 1);
    missing.spec.size = 3;
    refused_with(
        widgets.update(&missing).await,
        404,
        "NotFound",
        "an update of a missing object",
    )?;
    refused_with(
        widgets
            .client()
            .service()
            .replace(
                crate::api::Target::new(widgets.resource(), widgets.namespace()),
                "b",
                crate::ObjectBody::from_object(new.clone()),
            )
            .await,
        400,
        "BadRequest",
        "a replace whose body names another object than the request",
    )?;
    Ok(())
}
