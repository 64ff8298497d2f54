//! Watches: event kinds and order, resuming, the initial state, namespaces, selectors
//! entering and leaving, bookmarks, timeouts and compaction.

use std::time::Duration;

use futures::StreamExt;

use super::list::invalid_selectors;
use super::{
    DEFAULT_BOOKMARK_WAIT, Room, Step, WATCH_WAIT, Widget, describe, ensure, ensure_eq,
    expect_status, next_change, quiet, rv_of, summary,
};
use crate::api::{FieldSelector, ObjectWatch, WatchParams};
use crate::conformance::CaseResult;
use crate::{DeleteParams, ListParams, ObjectEvent};

/// The next change as `Kind name size`.
async fn next_sized(watch: &mut ObjectWatch<Widget>, what: &str) -> Result<String, String> {
    let event = next_change(watch, what).await?;
    let size = event.object().map_or(0, |w| w.spec.size);
    Ok(format!("{} {size}", summary(&event)))
}

pub(super) async fn event_order(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let list = widgets.list(&ListParams::default()).await.step("list")?;
    let mut watch = widgets
        .watch(&ListParams::default(), list.resource_version)
        .await
        .step("watch from the list")?;
    let a = widgets.create(&room.widget("a", 1)).await.step("create")?;
    let a2 = widgets
        .update_with("a", |w| w.spec.size = 2)
        .await
        .step("update")?;
    widgets
        .delete("a", &DeleteParams::default())
        .await
        .step("delete")?;

    let added = next_change(&mut watch, "the create's event").await?;
    ensure_eq!(summary(&added), "Added a", "first event");
    ensure_eq!(
        added.object().map(rv_of).transpose()?,
        Some(rv_of(&a)?),
        "Added's resourceVersion"
    );
    let modified = next_change(&mut watch, "the update's event").await?;
    ensure_eq!(summary(&modified), "Modified a", "second event");
    ensure_eq!(
        modified
            .object()
            .map(|w| (w.spec.size, rv_of(w)))
            .map(|(s, r)| r.map(|r| (s, r)))
            .transpose()?,
        Some((2, rv_of(&a2)?)),
        "Modified's size and resourceVersion"
    );
    let deleted = next_change(&mut watch, "the delete's event").await?;
    ensure_eq!(summary(&deleted), "Deleted a", "third event");
    let last = deleted.object().ok_or("Deleted carries the object")?;
    ensure_eq!(last.spec.size, 2, "Deleted carries the last state");
    ensure!(
        rv_of(last)? > rv_of(&a2)?,
        "a deletion has its own resourceVersion: {} after {}",
        rv_of(last)?,
        rv_of(&a2)?
    );
    quiet(&mut watch, "after the three events").await
}

pub(super) async fn from_version(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets
        .create(&room.widget("a", 1))
        .await
        .step("create a")?;
    let mark = rv_of(
        &widgets
            .create(&room.widget("b", 1))
            .await
            .step("create b")?,
    )?;
    widgets
        .create(&room.widget("c", 1))
        .await
        .step("create c")?;
    widgets
        .update_with("a", |w| w.spec.size = 5)
        .await
        .step("update a")?;
    widgets
        .delete("b", &DeleteParams::default())
        .await
        .step("delete b")?;
    let mut watch = widgets
        .watch(&ListParams::default(), mark)
        .await
        .step("watch from b's version")?;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_sized(&mut watch, "replayed events").await?);
    }
    ensure_eq!(
        got,
        ["Added c 1", "Modified a 5", "Deleted b 1"],
        "the events after b's creation"
    );
    quiet(&mut watch, "after the replay").await
}

pub(super) async fn initial_state(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets
        .create(&room.widget("a", 1))
        .await
        .step("create a")?;
    widgets
        .create(&room.widget("b", 2))
        .await
        .step("create b")?;
    let mut watch = widgets
        .watch_with(&WatchParams::default())
        .await
        .step("watch without a resourceVersion")?;
    let mut first = vec![
        next_sized(&mut watch, "the initial objects").await?,
        next_sized(&mut watch, "the initial objects").await?,
    ];
    first.sort();
    ensure_eq!(
        first,
        ["Added a 1", "Added b 2"],
        "the current objects come first as Added"
    );
    widgets
        .update_with("b", |w| w.spec.size = 3)
        .await
        .step("update b")?;
    ensure_eq!(
        next_sized(&mut watch, "the update").await?,
        "Modified b 3",
        "then the changes"
    );
    Ok(())
}

pub(super) async fn namespace_scoped(room: Room) -> CaseResult {
    let here = room.widgets();
    let other = room.api_in::<Widget>(&room.other_ns());
    let list = here.list(&ListParams::default()).await.step("list")?;
    let mut watch = here
        .watch(&ListParams::default(), list.resource_version)
        .await
        .step("watch")?;
    other
        .create(&room.widget("elsewhere", 1))
        .await
        .step("create elsewhere")?;
    here.create(&room.widget("here", 1))
        .await
        .step("create here")?;
    ensure_eq!(
        summary(&next_change(&mut watch, "the namespace's event").await?),
        "Added here",
        "the only event of the watched namespace"
    );
    Ok(())
}

pub(super) async fn field_selector_enter_leave(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets
        .create(&room.widget("already", 1))
        .await
        .step("create already")?;
    widgets
        .update_with("already", |w| w.spec.node_name = "node-1".into())
        .await
        .step("move already onto node-1")?;
    let start = rv_of(
        &widgets
            .create(&room.widget("a", 1))
            .await
            .step("create a")?,
    )?;
    let on_node =
        ListParams::default().fields(FieldSelector::everything().equals("spec.nodeName", "node-1"));
    let mut watch = widgets.watch(&on_node, start).await.step("watch node-1")?;

    widgets
        .update_with("a", |w| w.spec.size = 2)
        .await
        .step("a off the node")?;
    widgets
        .update_with("a", |w| w.spec.node_name = "node-1".into())
        .await
        .step("a onto node-1")?;
    widgets
        .update_with("a", |w| w.spec.size = 3)
        .await
        .step("a on the node")?;
    widgets
        .update_with("a", |w| w.spec.node_name = "node-2".into())
        .await
        .step("a off to node-2")?;
    widgets
        .update_with("already", |w| w.spec.node_name = String::new())
        .await
        .step("already off the node")?;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_sized(&mut watch, "the selection's events").await?);
    }
    ensure_eq!(
        got,
        [
            "Added a 2",
            "Modified a 3",
            "Deleted a 3",
            "Deleted already 1"
        ],
        "an object entering and leaving the selection (already matched before the watch)"
    );
    quiet(&mut watch, "after leaving the selection").await
}

pub(super) async fn label_selector_enter_leave(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let start = widgets
        .list(&ListParams::default())
        .await
        .step("list")?
        .resource_version;
    let web = ListParams::default().labels("app=web".parse().map_err(|e| format!("{e}"))?);
    let mut watch = widgets.watch(&web, start).await.step("watch app=web")?;
    widgets
        .create(&room.widget("db", 1).with_label("app", "db"))
        .await
        .step("create db")?;
    widgets
        .create(&room.widget("a", 1))
        .await
        .step("create a")?;
    widgets
        .update_with("a", |w| {
            w.metadata.labels.insert("app".into(), "web".into());
        })
        .await
        .step("label a app=web")?;
    widgets
        .update_with("a", |w| {
            w.metadata.labels.insert("app".into(), "db".into());
        })
        .await
        .step("label a app=db")?;
    widgets
        .create(&room.widget("b", 7).with_label("app", "web"))
        .await
        .step("create b")?;
    widgets
        .delete("b", &DeleteParams::default())
        .await
        .step("delete b")?;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_sized(&mut watch, "the selection's events").await?);
    }
    ensure_eq!(
        got,
        ["Added a 1", "Deleted a 1", "Added b 7", "Deleted b 7"],
        "relabelling in and out, and a matching object's creation and deletion"
    );
    quiet(&mut watch, "after the selection's events").await
}

pub(super) async fn invalid_label_selector(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets.create(&room.widget("a", 1)).await.step("create")?;
    for (what, selector) in invalid_selectors() {
        let what = format!("watch with {what}");
        let err = match widgets
            .watch_with(&WatchParams::default().labels(selector))
            .await
        {
            Err(e) => e,
            Ok(mut watch) => match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
                Ok(Some(Err(e))) => e,
                Ok(Some(Ok(event))) => {
                    return Err(format!(
                        "{what}: expected 400 BadRequest, got the event {}",
                        summary(&event)
                    ));
                }
                Ok(None) => {
                    return Err(format!(
                        "{what}: expected 400 BadRequest, the watch just ended"
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "{what}: expected 400 BadRequest, the watch stayed open and silent (it matches nothing)"
                    ));
                }
            },
        };
        expect_status(&err, 400, "BadRequest", &what)?;
    }
    Ok(())
}

/// Uses the subject's declared bookmark interval to know how long to wait.
pub(super) async fn bookmarks(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let interval = room.subject.bookmark_interval;
    let wait = interval.map_or(DEFAULT_BOOKMARK_WAIT, |i| i * 3 + WATCH_WAIT);
    let start = widgets
        .list(&ListParams::default())
        .await
        .step("list")?
        .resource_version;
    let none = ListParams::default().labels("app=none".parse().map_err(|e| format!("{e}"))?);
    let asked = none.watch_from(start);
    let mut with = widgets
        .watch_with(&WatchParams {
            bookmarks: true,
            ..asked.clone()
        })
        .await
        .step("watch with bookmarks")?;
    let mut without = widgets
        .watch_with(&asked)
        .await
        .step("watch without bookmarks")?;
    let written = rv_of(&widgets.create(&room.widget("a", 1)).await.step("create")?)?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let event = tokio::time::timeout_at(deadline, with.next())
            .await
            .map_err(|_| format!("no bookmark within {wait:?}"))?;
        match event {
            None => return Err("the watch with bookmarks ended".into()),
            Some(Err(e)) => {
                return Err(format!("the watch with bookmarks failed: {}", describe(&e)));
            }
            Some(Ok(ObjectEvent::Bookmark { resource_version })) if resource_version >= written => {
                break;
            }
            Some(Ok(ObjectEvent::Bookmark { .. })) => continue,
            Some(Ok(event)) => {
                return Err(format!(
                    "a selector matching nothing: expected only bookmarks, got {}",
                    summary(&event)
                ));
            }
        }
    }
    // The watch that did not ask has had the same time to send one.
    match tokio::time::timeout(Duration::from_millis(50), without.next()).await {
        Err(_) => Ok(()),
        Ok(None) => Err("the watch without bookmarks ended".into()),
        Ok(Some(Ok(event))) => Err(format!(
            "a watch that did not ask for bookmarks: expected nothing, got {}",
            summary(&event)
        )),
        Ok(Some(Err(e))) => Err(format!(
            "the watch without bookmarks failed: {}",
            describe(&e)
        )),
    }
}

pub(super) async fn timeout_ends(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let mut watch = widgets
        .watch_with(&WatchParams::default().timeout(Duration::from_millis(200)))
        .await
        .step("watch with a timeout")?;
    match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
        Err(_) => Err(format!(
            "a watch with a 200 ms timeout was still open after {WATCH_WAIT:?}"
        )),
        Ok(None) => Ok(()),
        Ok(Some(Ok(event))) => Err(format!(
            "an empty namespace's watch: expected its end, got {}",
            summary(&event)
        )),
        Ok(Some(Err(e))) => Err(format!(
            "a watch's timeout is no error: got {}",
            describe(&e)
        )),
    }
}

/// Needs [`ApiSubject::compactor`](super::ApiSubject::compactor); without one it checks
/// nothing and passes.
pub(super) async fn compacted_version_is_gone(room: Room) -> CaseResult {
    let Some(compact) = room.subject.compactor.clone() else {
        return Ok(());
    };
    let widgets = room.widgets();
    let first = rv_of(&widgets.create(&room.widget("a", 1)).await.step("create")?)?;
    for size in 2..6 {
        widgets
            .update_with("a", |w| w.spec.size = size)
            .await
            .step("update")?;
    }
    compact().await?;
    let what = "a watch from a compacted version";
    let err = match widgets.watch(&ListParams::default(), first).await {
        Err(e) => e,
        Ok(mut watch) => match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
            Ok(Some(Err(e))) => e,
            Ok(Some(Ok(event))) => {
                return Err(format!(
                    "{what}: expected 410 Expired, got {}",
                    summary(&event)
                ));
            }
            Ok(None) => {
                return Err(format!(
                    "{what}: expected 410 Expired, the watch just ended"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "{what}: expected 410 Expired, the watch stayed silent"
                ));
            }
        },
    };
    expect_status(&err, 410, "Expired", "a watch from a compacted version")?;
    ensure!(
        err.message().contains(&first.to_string()),
        "the error names the version asked for ({first}): got {}",
        err.message()
    );
    // The recovery every informer performs: list again, watch from the list.
    let list = widgets
        .list(&ListParams::default())
        .await
        .step("list again")?;
    ensure_eq!(
        list.items.first().map(|w| w.spec.size),
        Some(5),
        "the current state"
    );
    let mut watch = widgets
        .watch(&ListParams::default(), list.resource_version)
        .await
        .step("watch from the new list")?;
    widgets
        .update_with("a", |w| w.spec.size = 10)
        .await
        .step("update")?;
    ensure_eq!(
        next_sized(&mut watch, "after recovery").await?,
        "Modified a 10",
        "the watch after recovery"
    );
    Ok(())
}
