//! Typed watches over a MemoryStore: event kinds, resuming from a resourceVersion,
//! selector semantics, and the Gone error after compaction.

mod common;

use std::time::Duration;

use common::{Widget, memory_client};
use futures::StreamExt;
use orchestra::core::api::{FieldSelector, ObjectWatch};
use orchestra::core::{Api, ApiError, DeleteParams, ListParams, ObjectEvent, ResourceExt};

async fn next(watch: &mut ObjectWatch<Widget>) -> ObjectEvent<Widget> {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("an event within 5 s")
        .expect("the watch is still open")
        .expect("no error")
}

fn summary(event: &ObjectEvent<Widget>) -> (String, String, u32) {
    let kind = match event {
        ObjectEvent::Added(_) => "Added",
        ObjectEvent::Modified(_) => "Modified",
        ObjectEvent::Deleted(_) => "Deleted",
        ObjectEvent::Bookmark { .. } => panic!("no bookmarks were asked for"),
    };
    let obj = event.object().expect("an object event");
    (kind.to_owned(), obj.name_any().to_owned(), obj.spec.size)
}

#[tokio::test]
async fn watch_reports_added_modified_deleted_in_order() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let list = widgets.list(&ListParams::default()).await.unwrap();
    let mut watch = widgets
        .watch(&ListParams::default(), list.resource_version)
        .await
        .unwrap();

    let a = widgets.create(&Widget::new("a", 1)).await.unwrap();
    widgets.update_with("a", |w| w.spec.size = 2).await.unwrap();
    widgets.delete("a", &DeleteParams::default()).await.unwrap();

    let added = next(&mut watch).await;
    assert_eq!(summary(&added), ("Added".into(), "a".into(), 1));
    assert_eq!(
        added.object().unwrap().resource_version(),
        a.resource_version()
    );
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Modified".into(), "a".into(), 2)
    );
    let deleted = next(&mut watch).await;
    assert_eq!(summary(&deleted), ("Deleted".into(), "a".into(), 2));
    assert!(
        deleted.object().unwrap().resource_version() > a.resource_version(),
        "a deletion has its own version"
    );
}

#[tokio::test]
async fn watch_from_a_resource_version_replays_exactly_what_followed() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let mark = widgets
        .create(&Widget::new("b", 1))
        .await
        .unwrap()
        .resource_version();
    widgets.create(&Widget::new("c", 1)).await.unwrap();
    widgets.update_with("a", |w| w.spec.size = 5).await.unwrap();

    let mut watch = widgets.watch(&ListParams::default(), mark).await.unwrap();
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Added".into(), "c".into(), 1)
    );
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Modified".into(), "a".into(), 5)
    );
}

#[tokio::test]
async fn watch_is_scoped_to_its_namespace() {
    let (client, _) = memory_client();
    let default: Api<Widget> = Api::namespaced(client.clone(), "default");
    let other: Api<Widget> = Api::namespaced(client, "default2");
    let mut watch = default.watch(&ListParams::default(), 0).await.unwrap();
    other.create(&Widget::new("elsewhere", 1)).await.unwrap();
    default.create(&Widget::new("here", 1)).await.unwrap();
    assert_eq!(summary(&next(&mut watch).await).1, "here");
}

#[tokio::test]
async fn a_selector_watch_sees_objects_enter_and_leave_the_selection() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let already = widgets.create(&Widget::new("already", 1)).await.unwrap();
    widgets
        .update_with("already", |w| w.spec.node_name = "node-1".into())
        .await
        .unwrap();
    let start = widgets
        .create(&Widget::new("a", 1))
        .await
        .unwrap()
        .resource_version();
    assert!(start > already.resource_version());

    let on_node =
        ListParams::default().fields(FieldSelector::everything().equals("spec.nodeName", "node-1"));
    let mut watch = widgets.watch(&on_node, start).await.unwrap();

    widgets.update_with("a", |w| w.spec.size = 2).await.unwrap(); // not selected: no event
    widgets
        .update_with("a", |w| w.spec.node_name = "node-1".into())
        .await
        .unwrap();
    widgets.update_with("a", |w| w.spec.size = 3).await.unwrap();
    widgets
        .update_with("a", |w| w.spec.node_name = "node-2".into())
        .await
        .unwrap();
    widgets
        .update_with("already", |w| w.spec.node_name = String::new())
        .await
        .unwrap();

    assert_eq!(
        summary(&next(&mut watch).await),
        ("Added".into(), "a".into(), 2)
    );
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Modified".into(), "a".into(), 3)
    );
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Deleted".into(), "a".into(), 3)
    );
    // "already" matched before the watch began, so leaving the selection is a Deleted.
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Deleted".into(), "already".into(), 1)
    );
}

#[tokio::test]
async fn watching_a_compacted_version_is_gone() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client, "default");
    let first = widgets
        .create(&Widget::new("a", 1))
        .await
        .unwrap()
        .resource_version();
    for size in 2..10 {
        widgets
            .update_with("a", |w| w.spec.size = size)
            .await
            .unwrap();
    }
    let now = store.current_revision().await.unwrap();
    store.compact(now).await.unwrap();

    let err = match widgets.watch(&ListParams::default(), first).await {
        Err(e) => e,
        Ok(mut watch) => watch
            .next()
            .await
            .expect("an item")
            .expect_err("a Gone error"),
    };
    assert!(
        matches!(&err, ApiError::Gone(_))
            && err.message().contains(&format!("{first}"))
            && err
                .message()
                .contains(&format!("oldest available is {now}")),
        "{err}"
    );

    // The recovery every informer performs: list again, watch from the list.
    let list = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items[0].spec.size, 9);
    let mut watch = widgets
        .watch(&ListParams::default(), list.resource_version)
        .await
        .unwrap();
    widgets
        .update_with("a", |w| w.spec.size = 10)
        .await
        .unwrap();
    assert_eq!(
        summary(&next(&mut watch).await),
        ("Modified".into(), "a".into(), 10)
    );
}
