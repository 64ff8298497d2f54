//! What the in-process registry does beneath the API that the Api conformance kit
//! (tests/api_conformance.rs) cannot see from a client: its clock, its id generator,
//! how many store writes a call makes, and the raw values in its store.

mod common;

use std::time::Duration;

use common::{Widget, epoch, memory_client};
use futures::StreamExt;
use orchestra::core::kinds::{Pod, PodSpec};
use orchestra::core::{Api, ApiError, ListParams, ObjectMeta, ResourceExt};

#[tokio::test(start_paused = true)]
async fn creation_timestamps_come_from_the_registrys_clock() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    tokio::time::sleep(Duration::from_secs(90)).await;
    let created = widgets.create(&Widget::new("a", 1)).await.unwrap();
    assert_eq!(
        created.metadata.creation_timestamp,
        Some(epoch().plus(Duration::from_secs(90)))
    );
    assert_eq!(created.uid().len(), 36, "a uid is a UUID");
}

#[tokio::test]
async fn generated_names_have_five_random_characters_and_never_repeat() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut template = Widget::new("", 1);
    template.metadata.name = None;
    template.metadata.generate_name = Some("web-".into());
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let w = widgets.create(&template).await.unwrap();
        assert_eq!(w.name_any().len(), "web-".len() + 5, "{}", w.name_any());
        names.insert(w.name_any().to_owned());
    }
    assert_eq!(names.len(), 50);
}

#[tokio::test]
async fn refused_and_no_op_writes_write_nothing_to_the_store() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let mut bad = Widget::new("a", 1).with_label("app", "not valid!");
    bad.metadata.finalizers.push("has space".into());
    assert!(widgets.create(&bad).await.is_err());
    assert!(widgets.create(&Widget::new("../x", 1)).await.is_err());
    assert_eq!(store.current_revision().await.unwrap(), 0);

    let w = widgets.create(&Widget::new("a", 1)).await.unwrap();
    widgets.update(&w).await.unwrap();
    widgets.update_status(&w).await.unwrap();
    assert_eq!(
        store.current_revision().await.unwrap(),
        w.resource_version(),
        "no-op updates do not write"
    );
}

#[tokio::test]
async fn a_bind_is_one_store_write() {
    let (client, store) = memory_client();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod = Pod {
        metadata: ObjectMeta::named("a"),
        spec: PodSpec {
            ..common::web_template("web:1").spec
        },
        ..Default::default()
    };
    let created = pods.create(&pod).await.unwrap();
    let before = store.current_revision().await.unwrap();
    pods.bind(&created, "node-1").await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), before + 1);
}

#[tokio::test]
async fn a_stored_value_that_is_not_json_is_a_500_naming_its_key() {
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
async fn gone_names_the_oldest_revision_still_available() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let first = widgets
        .create(&Widget::new("a", 1))
        .await
        .unwrap()
        .resource_version();
    for size in 2..5 {
        widgets
            .update_with("a", |w| w.spec.size = size)
            .await
            .unwrap();
    }
    let now = store.current_revision().await.unwrap();
    store.compact(now).await.unwrap();
    let err = match widgets.watch(&ListParams::default(), first).await {
        Err(e) => e,
        Ok(mut watch) => watch.next().await.unwrap().unwrap_err(),
    };
    assert!(
        err.is_gone()
            && err
                .message()
                .contains(&format!("oldest available is {now}")),
        "{err}"
    );
}
