//! The typed object API over a MemoryStore: object semantics a user relies on, and
//! bad input refused with a clear error that leaves the store unchanged.

mod common;

use std::time::Duration;

use common::{Rack, Widget, WidgetStatus, epoch, memory_client};
use orchestra::core::api::{DeleteOutcome, FieldSelector, PropagationPolicy};
use orchestra::core::registry::Registry;
use orchestra::core::{Api, ApiError, Client, Clock, DeleteParams, ListParams, ResourceExt};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn create_sets_server_fields_and_drops_client_ones() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    tokio::time::sleep(Duration::from_secs(90)).await;

    let mut w = Widget::new("a", 1);
    w.metadata.uid = Some("forged".into());
    w.metadata.generation = Some(7);
    w.metadata.resource_version = Some("999".into());
    w.status = Some(WidgetStatus { seen: 3 });
    let created = widgets.create(&w).await.unwrap();

    assert_ne!(created.uid(), "forged");
    assert_eq!(created.uid().len(), 36);
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        created.metadata.creation_timestamp,
        Some(epoch().plus(Duration::from_secs(90)))
    );
    assert_eq!(
        created.status, None,
        "status is written only through update_status"
    );
    assert!(created.resource_version() > 0);
    assert_eq!(widgets.get("a").await.unwrap(), created);
}

#[tokio::test]
async fn bad_names_are_rejected_before_they_become_keys() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let before = store.current_revision().await.unwrap();
    for bad in [
        "../x",
        "a/b",
        "UPPER",
        "",
        "with space",
        "x".repeat(254).as_str(),
    ] {
        let err = widgets.create(&Widget::new(bad, 1)).await.unwrap_err();
        assert!(matches!(err, ApiError::Invalid(_)), "{bad:?}: {err}");
        assert!(err.to_string().contains("metadata.name"), "{err}");
        assert!(widgets.get(bad).await.is_err());
    }
    let in_bad_ns: Api<Widget> = Api::namespaced(client, "../etc");
    let err = in_bad_ns.create(&Widget::new("ok", 1)).await.unwrap_err();
    assert!(err.to_string().contains("metadata.namespace"), "{err}");
    assert_eq!(
        store.current_revision().await.unwrap(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn bad_labels_finalizers_and_owner_references_are_named() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = Widget::new("a", 1).with_label("app", "not valid!");
    w.metadata.finalizers.push("has space".into());
    w.metadata.owner_references.push(Default::default());
    let err = widgets.create(&w).await.unwrap_err();
    let text = err.to_string();
    for field in [
        "metadata.labels[\"app\"]",
        "metadata.finalizers[0]",
        "metadata.ownerReferences[0].uid",
    ] {
        assert!(text.contains(field), "{field} missing from: {text}");
    }
    assert_eq!(store.current_revision().await.unwrap(), 0);
}

#[tokio::test]
async fn generate_name_makes_unique_names() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut template = Widget::new("", 1);
    template.metadata.name = None;
    template.metadata.generate_name = Some("web-".into());
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let w = widgets.create(&template).await.unwrap();
        assert!(
            w.name_any().starts_with("web-") && w.name_any().len() == 9,
            "{}",
            w.name_any()
        );
        names.insert(w.name_any().to_owned());
    }
    assert_eq!(names.len(), 50);

    template.metadata.generate_name = Some("Bad_".into());
    let err = widgets.create(&template).await.unwrap_err();
    assert!(matches!(err, ApiError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn duplicate_create_is_already_exists() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let err = widgets.create(&Widget::new("a", 2)).await.unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(widgets.get("a").await.unwrap().spec.size, 1);
}

#[tokio::test]
async fn stale_update_conflicts_and_changes_nothing() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let v1 = widgets.create(&Widget::new("a", 1)).await.unwrap();
    let mut v2 = v1.clone();
    v2.spec.size = 2;
    let v2 = widgets.update(&v2).await.unwrap();
    assert_eq!(v2.metadata.generation, Some(2));

    let mut stale = v1.clone();
    stale.spec.size = 99;
    let err = widgets.update(&stale).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .contains("Operation cannot be fulfilled on widgets.example.dev \"a\""),
        "{err}"
    );
    assert_eq!(widgets.get("a").await.unwrap(), v2);
}

#[tokio::test]
async fn generation_moves_on_spec_changes_only_and_noop_updates_write_nothing() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let w = widgets.create(&Widget::new("a", 1)).await.unwrap();

    let same = widgets.update(&w).await.unwrap();
    assert_eq!(
        same.resource_version(),
        w.resource_version(),
        "a no-op update does not write"
    );
    assert_eq!(
        store.current_revision().await.unwrap(),
        w.resource_version()
    );

    let labelled = widgets
        .update(&same.clone().with_label("tier", "web"))
        .await
        .unwrap();
    assert!(labelled.resource_version() > same.resource_version());
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata is not desired state"
    );

    let mut status = labelled.clone();
    status.status = Some(WidgetStatus { seen: 1 });
    let status = widgets.update_status(&status).await.unwrap();
    assert_eq!(
        status.metadata.generation,
        Some(1),
        "status is not desired state"
    );

    let mut resized = status.clone();
    resized.spec.size = 5;
    let resized = widgets.update(&resized).await.unwrap();
    assert_eq!(resized.metadata.generation, Some(2));
    assert_eq!(
        resized.status,
        Some(WidgetStatus { seen: 1 }),
        "update keeps the stored status"
    );
}

#[tokio::test]
async fn update_status_never_touches_spec_or_metadata() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let w = widgets.create(&Widget::new("a", 1)).await.unwrap();
    let mut sneaky = w.clone();
    sneaky.spec.size = 100;
    sneaky.metadata.labels.insert("x".into(), "y".into());
    sneaky.status = Some(WidgetStatus { seen: 9 });
    let written = widgets.update_status(&sneaky).await.unwrap();
    assert_eq!(written.spec.size, 1);
    assert!(written.metadata.labels.is_empty());
    assert_eq!(written.status, Some(WidgetStatus { seen: 9 }));
    assert_eq!(widgets.get("a").await.unwrap(), written);

    let err = widgets.update_status(&w).await.unwrap_err();
    assert!(err.is_conflict(), "stale status update: {err}");
}

#[tokio::test]
async fn merge_patch_applies_to_the_latest_state() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets
        .create(&Widget::new("a", 1).with_label("app", "web"))
        .await
        .unwrap();
    let patched = widgets
        .patch(
            "a",
            &json!({"metadata": {"labels": {"app": null, "tier": "db"}}, "spec": {"size": 4}}),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.size, 4);
    assert_eq!(patched.metadata.labels.len(), 1);
    assert_eq!(patched.metadata.labels["tier"], "db");
    assert_eq!(patched.metadata.generation, Some(2));

    let status = widgets
        .patch_status("a", &json!({"status": {"seen": 2}, "spec": {"size": 50}}))
        .await
        .unwrap();
    assert_eq!(status.status, Some(WidgetStatus { seen: 2 }));
    assert_eq!(status.spec.size, 4, "a status patch leaves the spec alone");

    let before = store.current_revision().await.unwrap();
    let err = widgets
        .patch("a", &json!({"spec": {"size": "big"}}))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
    assert!(
        err.to_string().contains("size") || err.to_string().contains("invalid type"),
        "{err}"
    );
    let err = widgets.patch("a", &json!([1, 2])).await.unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
    let err = widgets
        .patch(
            "a",
            &json!({"metadata": {"resourceVersion": "1"}, "spec": {"size": 9}}),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_conflict(),
        "patch pinned to a stale resourceVersion: {err}"
    );
    assert_eq!(
        store.current_revision().await.unwrap(),
        before,
        "failed patches write nothing"
    );
    assert!(
        widgets
            .patch("missing", &json!({}))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn update_with_retries_over_concurrent_writers() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets.create(&Widget::new("counter", 0)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let widgets = widgets.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                widgets
                    .update_with("counter", |w| w.spec.size += 1)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        widgets.get("counter").await.unwrap().spec.size,
        80,
        "no increment was lost"
    );
}

#[tokio::test]
async fn oversized_objects_are_refused() {
    let (client, store) = memory_client();
    let small = Client::new(
        Registry::builder(store.clone())
            .clock(Clock::new())
            .max_object_bytes(4096)
            .kind::<Widget>()
            .build(),
    );
    let widgets: Api<Widget> = Api::namespaced(small, "default");
    let mut w = Widget::new("big", 1);
    w.spec.tags = vec!["x".repeat(100); 100];
    let err = widgets.create(&w).await.unwrap_err();
    assert!(
        matches!(err, ApiError::TooLarge(_)) && err.to_string().contains("limit is 4096"),
        "{err}"
    );
    assert!(err.to_string().contains("\"big\""), "{err}");

    // The default limit is etcd's 1.5 MiB.
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let ok = widgets.create(&Widget::new("small", 1)).await.unwrap();
    let mut grown = ok.clone();
    grown.spec.tags = vec!["y".repeat(1024); 1600];
    assert!(matches!(
        widgets.update(&grown).await.unwrap_err(),
        ApiError::TooLarge(_)
    ));
    assert_eq!(widgets.get("small").await.unwrap(), ok);
    assert_eq!(
        store.current_revision().await.unwrap(),
        ok.resource_version()
    );
}

#[tokio::test]
async fn corrupt_stored_objects_give_a_decode_error_naming_the_key() {
    let (client, store) = memory_client();
    store
        .create(
            b"/registry/example.dev/widgets/default/broken",
            bytes::Bytes::from_static(b"{not json"),
        )
        .await
        .unwrap();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let err = widgets.get("broken").await.unwrap_err();
    assert!(matches!(err, ApiError::Internal(_)), "{err}");
    assert!(
        err.to_string()
            .contains("/registry/example.dev/widgets/default/broken"),
        "{err}"
    );
}

#[tokio::test]
async fn delete_without_finalizers_removes_at_once() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let outcome = widgets.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(outcome.is_deleted());
    assert!(widgets.get("a").await.unwrap_err().is_not_found());
    assert!(
        widgets
            .delete("a", &DeleteParams::default())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test(start_paused = true)]
async fn finalizers_hold_deletion_until_removed() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut w = Widget::new("a", 1);
    w.metadata.finalizers.push("example.dev/cleanup".into());
    widgets.create(&w).await.unwrap();

    let DeleteOutcome::Pending(pending) =
        widgets.delete("a", &DeleteParams::default()).await.unwrap()
    else {
        panic!("a finalizer must hold the object");
    };
    assert_eq!(pending.metadata.deletion_timestamp, Some(epoch()));
    let err = widgets
        .update_with("a", |w| {
            w.metadata.finalizers.push("example.dev/late".into())
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot add finalizer"), "{err}");

    let mut undo = widgets.get("a").await.unwrap();
    undo.metadata.deletion_timestamp = None;
    let kept = widgets.update(&undo).await.unwrap();
    assert!(
        kept.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp cannot be cleared"
    );

    widgets
        .update_with("a", |w| w.metadata.finalizers.clear())
        .await
        .unwrap();
    assert!(
        widgets.get("a").await.unwrap_err().is_not_found(),
        "removing the last finalizer deletes"
    );
}

#[tokio::test]
async fn propagation_policy_is_recorded_as_a_finalizer() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    for (name, params, finalizer) in [
        ("fg", DeleteParams::foreground(), "foregroundDeletion"),
        ("orphan", DeleteParams::orphan(), "orphan"),
    ] {
        widgets.create(&Widget::new(name, 1)).await.unwrap();
        let outcome = widgets.delete(name, &params).await.unwrap();
        assert!(!outcome.is_deleted(), "{name}");
        assert_eq!(outcome.object().metadata.finalizers, [finalizer]);
        assert!(outcome.object().metadata.deletion_timestamp.is_some());
    }
    widgets.create(&Widget::new("bg", 1)).await.unwrap();
    let bg = DeleteParams::default().propagation(PropagationPolicy::Background);
    assert!(widgets.delete("bg", &bg).await.unwrap().is_deleted());
}

#[tokio::test(start_paused = true)]
async fn a_grace_period_marks_then_a_zero_grace_delete_removes() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let outcome = widgets
        .delete("a", &DeleteParams::default().grace_period(30))
        .await
        .unwrap();
    let marked = outcome.object();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    assert_eq!(
        marked.metadata.deletion_timestamp,
        Some(epoch().plus(Duration::from_secs(30)))
    );
    assert!(widgets.get("a").await.is_ok());
    assert!(
        widgets
            .delete("a", &DeleteParams::default().grace_period(0))
            .await
            .unwrap()
            .is_deleted()
    );
}

#[tokio::test]
async fn delete_preconditions_guard_against_replacement() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let w = widgets.create(&Widget::new("a", 1)).await.unwrap();
    let err = widgets
        .delete("a", &DeleteParams::default().precondition_uid("other"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = widgets
        .delete(
            "a",
            &DeleteParams::default().precondition_resource_version(1_000),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let ok = DeleteParams::default()
        .precondition_uid(w.uid())
        .precondition_resource_version(w.resource_version());
    assert!(widgets.delete("a", &ok).await.unwrap().is_deleted());
}

#[tokio::test]
async fn list_filters_by_labels_and_fields_and_pages_consistently() {
    let (client, _) = memory_client();
    let default: Api<Widget> = Api::namespaced(client.clone(), "default");
    let other: Api<Widget> = Api::namespaced(client.clone(), "other");
    for i in 0..10 {
        let mut w = Widget::new(&format!("w{i}"), i)
            .with_label("app", if i % 2 == 0 { "web" } else { "db" });
        w.spec.node_name = format!("node-{}", i % 3);
        default.create(&w).await.unwrap();
    }
    other
        .create(&Widget::new("x", 1).with_label("app", "web"))
        .await
        .unwrap();

    let web = default
        .list(&ListParams::default().labels("app=web".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 5);
    let everywhere: Api<Widget> = Api::all(client);
    let all_web = everywhere
        .list(&ListParams::default().labels("app in (web)".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(all_web.items.len(), 6);
    let on_node = default
        .list(
            &ListParams::default()
                .fields(FieldSelector::everything().equals("spec.nodeName", "node-1")),
        )
        .await
        .unwrap();
    assert_eq!(
        on_node
            .items
            .iter()
            .map(|w| w.name_any())
            .collect::<Vec<_>>(),
        ["w1", "w4", "w7"]
    );
    let by_name: FieldSelector = "metadata.name=w3".parse().unwrap();
    assert_eq!(
        default
            .list(&ListParams::default().fields(by_name))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Pages are read at the first page's resourceVersion, even as writes continue.
    let mut page = default.list(&ListParams::default().limit(4)).await.unwrap();
    let rv = page.resource_version;
    let mut seen: Vec<String> = page.items.iter().map(|w| w.name_any().to_owned()).collect();
    default.create(&Widget::new("w99", 1)).await.unwrap();
    while let Some(token) = page.continue_token.clone() {
        page = default
            .list(&ListParams::default().limit(4).continue_from(token))
            .await
            .unwrap();
        assert_eq!(page.resource_version, rv);
        seen.extend(page.items.iter().map(|w| w.name_any().to_owned()));
    }
    assert_eq!(seen.len(), 10, "{seen:?}");

    let err = default
        .list(&ListParams::default().continue_from("garbage"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
}

#[tokio::test]
async fn cluster_scoped_kinds_refuse_namespaces_and_namespaced_ones_need_one() {
    let (client, _) = memory_client();
    let racks: Api<Rack> = Api::all(client.clone());
    let mut rack = Rack::default();
    rack.metadata.name = Some("r1".into());
    racks.create(&rack).await.unwrap();
    rack.metadata.name = Some("r2".into());
    rack.metadata.namespace = Some("default".into());
    let err = racks.create(&rack).await.unwrap_err();
    assert!(err.to_string().contains("metadata.namespace"), "{err}");

    let everywhere: Api<Widget> = Api::all(client.clone());
    let err = everywhere.get("a").await.unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
    let err = everywhere.create(&Widget::new("a", 1)).await.unwrap_err();
    assert!(err.to_string().contains("metadata.namespace"), "{err}");

    let default: Api<Widget> = Api::namespaced(client, "default");
    let mut elsewhere = Widget::new("a", 1);
    elsewhere.metadata.namespace = Some("other".into());
    let err = default.create(&elsewhere).await.unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
}

#[tokio::test]
async fn an_all_namespaces_api_writes_each_object_in_its_own_namespace() {
    let (client, _) = memory_client();
    let other: Api<Widget> = Api::namespaced(client.clone(), "other");
    let created = other.create(&Widget::new("w", 1)).await.unwrap();
    let everywhere: Api<Widget> = Api::all(client.clone());
    let mut changed = created.clone();
    changed.spec.size = 2;
    let updated = everywhere.update(&changed).await.unwrap();
    assert_eq!(updated.metadata.namespace.as_deref(), Some("other"));
    let mut status = updated.clone();
    status.status = Some(WidgetStatus { seen: 4 });
    everywhere.update_status(&status).await.unwrap();
    let stored = other.get("w").await.unwrap();
    assert_eq!(
        (stored.spec.size, stored.status.clone()),
        (2, Some(WidgetStatus { seen: 4 }))
    );
    // A namespaced Api refuses an object from another namespace rather than writing it.
    let default: Api<Widget> = Api::namespaced(client, "default");
    let err = default.update(&stored).await.unwrap_err();
    assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
}

#[tokio::test]
async fn replace_status_writes_over_the_callers_copy_without_reading() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let cached = widgets.create(&Widget::new("a", 1)).await.unwrap();
    let mut reported = cached.clone();
    reported.spec.size = 100;
    reported.status = Some(WidgetStatus { seen: 9 });
    let written = widgets.replace_status(&cached, &reported).await.unwrap();
    assert_eq!(
        written.spec.size, 1,
        "only the status is taken from the new copy"
    );
    assert_eq!(written.status, Some(WidgetStatus { seen: 9 }));
    assert_eq!(widgets.get("a").await.unwrap(), written);

    // The cached copy is now stale: the write is refused, nothing is lost.
    let err = widgets
        .replace_status(&cached, &reported)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "stale copy: {err}");
    let mut unversioned = cached.clone();
    unversioned.metadata.resource_version = None;
    let err = widgets
        .replace_status(&unversioned, &reported)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("resourceVersion"), "{err}");
    let mut gone = Widget::new("gone", 1);
    gone.metadata.resource_version = written.metadata.resource_version.clone();
    let err = widgets.replace_status(&gone, &reported).await.unwrap_err();
    assert!(err.is_not_found(), "a missing object: {err}");
}
