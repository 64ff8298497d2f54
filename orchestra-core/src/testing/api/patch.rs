//! Patches: merge and JSON patches, of the object and of its status, and the patches
//! that are refused.

use serde_json::json;

use super::{
    Room, Step, WidgetStatus, ensure, ensure_eq, expect_status, refused, refused_with, rv_of,
};
use crate::api::Patch;
use crate::conformance::CaseResult;

pub(super) async fn merge(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets
        .create(&room.widget("a", 1).with_label("app", "web"))
        .await
        .step("create")?;
    let patched = widgets
        .patch(
            "a",
            &json!({"metadata": {"labels": {"app": null, "tier": "db"}}, "spec": {"size": 4}}),
        )
        .await
        .step("merge patch")?;
    ensure_eq!(patched.spec.size, 4, "spec.size after the patch");
    ensure!(
        !patched.metadata.labels.contains_key("app"),
        "null removes the label app: got {:?}",
        patched.metadata.labels
    );
    ensure_eq!(
        patched.metadata.labels.get("tier").map(String::as_str),
        Some("db"),
        "the label tier added"
    );
    ensure!(
        patched.metadata.labels.contains_key(super::CASE_LABEL),
        "labels the patch does not name are kept"
    );
    ensure_eq!(
        patched.metadata.generation,
        Some(2),
        "generation after a spec patch"
    );

    let status = widgets
        .patch_status("a", &json!({"status": {"seen": 2}, "spec": {"size": 50}}))
        .await
        .step("status merge patch")?;
    ensure_eq!(
        status.status,
        Some(WidgetStatus { seen: 2 }),
        "the status patched"
    );
    ensure_eq!(status.spec.size, 4, "a status patch leaves the spec");
    let main = widgets
        .patch("a", &json!({"status": {"seen": 7}}))
        .await
        .step("a main-resource patch of the status")?;
    ensure_eq!(
        main.status,
        Some(WidgetStatus { seen: 2 }),
        "a patch of the main resource leaves the status"
    );
    Ok(())
}

pub(super) async fn json(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let mut w = room.widget("a", 1);
    w.spec.tags = vec!["a".into()];
    widgets.create(&w).await.step("create")?;
    let ops = json!([
        {"op": "test", "path": "/spec/tags/0", "value": "a"},
        {"op": "replace", "path": "/spec/size", "value": 3},
        {"op": "add", "path": "/spec/tags/-", "value": "b"},
        {"op": "add", "path": "/spec/nodeName", "value": "n1"},
    ]);
    let patched = widgets
        .patch_with("a", &Patch::Json(ops))
        .await
        .step("JSON patch")?;
    ensure_eq!(
        (
            patched.spec.size,
            patched.spec.tags.clone(),
            patched.spec.node_name.clone()
        ),
        (3, vec!["a".to_owned(), "b".to_owned()], "n1".to_owned()),
        "spec after the JSON patch"
    );
    ensure_eq!(
        patched.metadata.generation,
        Some(2),
        "generation after a JSON patch"
    );
    let rv = rv_of(&patched)?;
    let failing = json!([
        {"op": "replace", "path": "/spec/size", "value": 9},
        {"op": "test", "path": "/spec/tags/0", "value": "zzz"},
    ]);
    let err = refused(
        widgets.patch_with("a", &Patch::Json(failing)).await,
        "a JSON patch whose test fails",
    )?;
    expect_status(&err, 400, "BadRequest", "a JSON patch whose test fails")?;
    let after = widgets.get("a").await.step("get")?;
    ensure_eq!(
        (after.spec.size, rv_of(&after)?),
        (3, rv),
        "a failed JSON patch writes nothing"
    );
    let status = widgets
        .client()
        .service()
        .patch_status(
            crate::api::Target::new(widgets.resource(), widgets.namespace()),
            "a",
            &Patch::Json(json!([{"op": "add", "path": "/status", "value": {"seen": 5}}])),
        )
        .await
        .step("JSON patch of the status")?
        .into_object::<super::Widget>()
        .map_err(|e| format!("the status patch's reply: {e}"))?;
    ensure_eq!(
        status.status,
        Some(WidgetStatus { seen: 5 }),
        "the status after a JSON patch"
    );
    Ok(())
}

pub(super) async fn refusals(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let rv = rv_of(&w)?;
    let err = refused_with(
        widgets.patch("a", &json!({"spec": {"size": "big"}})).await,
        400,
        "BadRequest",
        "a merge patch giving a field the wrong type",
    )?;
    ensure!(
        err.message().contains("size") || err.message().contains("invalid type"),
        "the error says what is wrong: got {}",
        err.message()
    );
    refused_with(
        widgets.patch("a", &json!([1, 2])).await,
        400,
        "BadRequest",
        "a merge patch that is not an object",
    )?;
    refused_with(
        widgets
            .patch_with("a", &Patch::Json(json!({"op": "add"})))
            .await,
        400,
        "BadRequest",
        "a JSON patch that is not a list of operations",
    )?;
    refused_with(
        widgets
            .patch_with(
                "a",
                &Patch::Json(json!([{"op": "remove", "path": "/spec/missing"}])),
            )
            .await,
        400,
        "BadRequest",
        "a JSON patch removing a missing path",
    )?;
    refused_with(
        widgets
            .patch("a", &json!({"metadata": {"resourceVersion": (rv + 1000).to_string()}, "spec": {"size": 9}}))
            .await,
        409,
        "Conflict",
        "a patch pinned to a stale resourceVersion",
    )?;
    refused_with(
        widgets.patch("missing", &json!({})).await,
        404,
        "NotFound",
        "a patch of a missing object",
    )?;
    let after = widgets.get("a").await.step("get")?;
    ensure_eq!(
        (after.spec.size, rv_of(&after)?),
        (1, rv),
        "refused patches write nothing"
    );
    let pinned = widgets
        .patch(
            "a",
            &json!({"metadata": {"resourceVersion": rv.to_string()}, "spec": {"size": 2}}),
        )
        .await
        .step("a patch pinned to the current resourceVersion")?;
    ensure_eq!(
        pinned.spec.size,
        2,
        "a patch at the current version is written"
    );
    Ok(())
}
