//! Errors as they travel: every error the service answers becomes a Kubernetes
//! `Status` and back without losing anything.

use super::{Room, Step, refused};
use crate::api::{ApiError, Status};
use crate::conformance::CaseResult;
use crate::kinds::Lease;
use crate::meta::ObjectMeta;
use crate::{DeleteParams, LabelSelector, ListParams};

pub(super) async fn status_round_trip(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let w = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let mut stale = w.clone();
    stale.spec.size = 3;
    widgets
        .update_with("a", |w| w.spec.size = 2)
        .await
        .step("update")?;
    let mut errors: Vec<(u16, &str, ApiError)> = vec![
        (
            404,
            "NotFound",
            refused(widgets.get("missing").await, "get missing")?,
        ),
        (
            409,
            "AlreadyExists",
            refused(widgets.create(&room.widget("a", 1)).await, "create twice")?,
        ),
        (
            409,
            "Conflict",
            refused(widgets.update(&stale).await, "stale update")?,
        ),
        (
            422,
            "Invalid",
            refused(
                widgets
                    .create(&room.widget("a", 1).with_label("k", "not valid!"))
                    .await,
                "invalid create",
            )?,
        ),
        (
            400,
            "BadRequest",
            refused(
                widgets
                    .list(
                        &ListParams::default()
                            .labels(LabelSelector::new().match_label("bad key!", "v")),
                    )
                    .await,
                "invalid selector",
            )?,
        ),
    ];
    let mut held = room.widget("held", 1);
    held.metadata.finalizers.push("example.dev/hold".into());
    widgets.create(&held).await.step("create held")?;
    errors.push((
        409,
        "Conflict",
        refused(
            widgets
                .delete("held", &DeleteParams::default().precondition_uid("nope"))
                .await,
            "delete precondition",
        )?,
    ));
    // Leases have no status subresource.
    let leases = room.api::<Lease>();
    let mut lease = Lease {
        metadata: ObjectMeta::named("l"),
        ..Default::default()
    };
    lease
        .metadata
        .labels
        .insert(super::CASE_LABEL.into(), room.ns.clone());
    let lease = leases.create(&lease).await.step("create lease")?;
    errors.push((
        405,
        "MethodNotAllowed",
        refused(
            leases.update_status(&lease).await,
            "status write of a lease",
        )?,
    ));
    for (code, reason, error) in errors {
        super::expect_status(&error, code, reason, reason)?;
        let status = Status::from(&error);
        if status.kind != "Status" || status.api_version != "v1" || status.status != "Failure" {
            return Err(format!(
                "{reason}: a Status is kind Status, apiVersion v1, status Failure: got {status:?}"
            ));
        }
        if status.code != code || status.reason != reason || status.message != error.message() {
            return Err(format!(
                "{reason}: the Status carries code, reason and message: got {status:?}"
            ));
        }
        let json =
            serde_json::to_string(&status).map_err(|e| format!("{reason}: encoding: {e}"))?;
        let back: Status =
            serde_json::from_str(&json).map_err(|e| format!("{reason}: decoding {json}: {e}"))?;
        let again = ApiError::from(back);
        if again != error {
            return Err(format!(
                "{reason}: through {json}: expected {error:?}, got {again:?}"
            ));
        }
    }
    Ok(())
}
