//! Get and list: not-found errors, selectors, paging, resourceVersions, scopes.

use super::{
    Rack, Room, Step, Widget, ensure, ensure_eq, expect_status, refused, refused_with, rv_of,
};
use crate::api::{FieldSelector, ListParams};
use crate::conformance::CaseResult;
use crate::kinds::{Container, Pod, PodPhase, PodSpec, PodStatus};
use crate::labels::{LabelSelector, SelectorOperator};
use crate::meta::ObjectMeta;
use crate::resource::{Resource, ResourceExt};
use crate::{Api, DeleteParams};

/// The names of a list's items, in order.
fn names<K: Resource>(items: &[K]) -> Vec<String> {
    items.iter().map(|o| o.name_any().to_owned()).collect()
}

/// A pod the API accepts: one container.
pub(super) fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: "main:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

pub(super) async fn get_missing_is_not_found(room: Room) -> CaseResult {
    let err = refused_with(
        room.widgets().get("missing").await,
        404,
        "NotFound",
        "get of a missing widget",
    )?;
    ensure_eq!(
        err.message(),
        format!("widgets.{} \"missing\" not found", super::GROUP),
        "NotFound message"
    );
    let details = err
        .body()
        .details
        .as_deref()
        .ok_or("NotFound: expected details, got none")?;
    ensure_eq!(
        (
            details.name.as_deref(),
            details.group.as_deref(),
            details.kind.as_deref()
        ),
        (Some("missing"), Some(super::GROUP), Some(Widget::PLURAL)),
        "NotFound details (name, group, kind)"
    );
    ensure!(
        room.widgets()
            .get_opt("missing")
            .await
            .step("get_opt")?
            .is_none(),
        "get_opt of a missing object is None"
    );
    Ok(())
}

pub(super) async fn label_selectors(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let labelled = [
        ("a", &[("app", "web"), ("tier", "front")][..]),
        ("b", &[("app", "web"), ("tier", "back")][..]),
        ("c", &[("app", "db"), ("tier", "back")][..]),
        ("d", &[("app", "db")][..]),
        ("e", &[][..]),
    ];
    for (name, labels) in labelled {
        let mut w = room.widget(name, 1);
        for (k, v) in labels {
            w = w.with_label(k, v);
        }
        widgets.create(&w).await.step("create")?;
    }
    let cases: [(&str, &[&str]); 10] = [
        ("app=web", &["a", "b"]),
        ("app==db", &["c", "d"]),
        ("app!=web", &["c", "d", "e"]),
        ("tier in (front,back)", &["a", "b", "c"]),
        ("tier notin (back)", &["a", "d", "e"]),
        ("tier", &["a", "b", "c"]),
        ("!tier", &["d", "e"]),
        ("app=db,tier=back", &["c"]),
        ("app in (web),tier!=front", &["b"]),
        ("app=web,app=db", &[]),
    ];
    for (selector, want) in cases {
        let parsed: LabelSelector = selector
            .parse()
            .map_err(|e| format!("the kit's selector {selector:?} does not parse: {e}"))?;
        let list = widgets
            .list(&ListParams::default().labels(parsed))
            .await
            .step(selector)?;
        ensure_eq!(names(&list.items), want, "list with labels {selector:?}");
    }
    let built = LabelSelector::new()
        .match_label("app", "db")
        .match_expression("tier", SelectorOperator::DoesNotExist, Vec::<String>::new());
    let list = widgets
        .list(&ListParams::default().labels(built))
        .await
        .step("a selector built in code")?;
    ensure_eq!(
        names(&list.items),
        ["d"],
        "list with app=db,!tier built in code"
    );
    Ok(())
}

pub(super) async fn field_selectors(room: Room) -> CaseResult {
    let widgets = room.widgets();
    for i in 0..6u32 {
        let mut w = room.widget(&format!("w{i}"), i);
        w.spec.node_name = format!("node-{}", i % 3);
        widgets.create(&w).await.step("create")?;
    }
    room.api_in::<Widget>(&room.other_ns())
        .create(&room.widget("w9", 9))
        .await
        .step("create in the other namespace")?;
    let fields = |s: &str| {
        s.parse::<FieldSelector>()
            .map_err(|e| format!("the kit's field selector {s:?} does not parse: {e}"))
    };
    let on_node = widgets
        .list(
            &ListParams::default()
                .fields(FieldSelector::everything().equals("spec.nodeName", "node-1")),
        )
        .await
        .step("spec.nodeName=node-1")?;
    ensure_eq!(names(&on_node.items), ["w1", "w4"], "spec.nodeName=node-1");
    let off_node = widgets
        .list(&ListParams::default().fields(fields("spec.nodeName!=node-1")?))
        .await
        .step("spec.nodeName!=node-1")?;
    ensure_eq!(
        names(&off_node.items),
        ["w0", "w2", "w3", "w5"],
        "spec.nodeName!=node-1"
    );
    let by_name = widgets
        .list(&ListParams::default().fields(fields("metadata.name=w3")?))
        .await
        .step("metadata.name=w3")?;
    ensure_eq!(names(&by_name.items), ["w3"], "metadata.name=w3");
    let everywhere = Api::<Widget>::all(room.client());
    let in_other = everywhere
        .list(
            &ListParams::default()
                .labels(room.case_selector())
                .fields(FieldSelector::everything().equals("metadata.namespace", room.other_ns())),
        )
        .await
        .step("metadata.namespace=<other>")?;
    ensure_eq!(
        names(&in_other.items),
        ["w9"],
        "metadata.namespace=<other namespace>"
    );
    let both = widgets
        .list(&ListParams::default().fields(fields("spec.nodeName=node-2,metadata.name=w5")?))
        .await
        .step("two requirements")?;
    ensure_eq!(
        names(&both.items),
        ["w5"],
        "spec.nodeName=node-2,metadata.name=w5"
    );
    Ok(())
}

pub(super) async fn pod_field_selectors(room: Room) -> CaseResult {
    let pods = room.api::<Pod>();
    for name in ["p0", "p1", "p2"] {
        pods.create(&pod(name)).await.step("create pod")?;
    }
    let p1 = pods.get("p1").await.step("get p1")?;
    pods.bind(&p1, "node-a").await.step("bind p1")?;
    let mut running = pods.get("p2").await.step("get p2")?;
    running.status = Some(PodStatus {
        phase: Some(PodPhase::Running),
        ..Default::default()
    });
    pods.update_status(&running).await.step("set p2 Running")?;

    let select = |field: &str, value: &str| {
        ListParams::default().fields(FieldSelector::everything().equals(field, value))
    };
    let on_node = pods
        .list(&select("spec.nodeName", "node-a"))
        .await
        .step("spec.nodeName")?;
    ensure_eq!(
        names(&on_node.items),
        ["p1"],
        "pods with spec.nodeName=node-a"
    );
    let unbound = pods
        .list(&select("spec.nodeName", ""))
        .await
        .step("spec.nodeName=")?;
    ensure_eq!(
        names(&unbound.items),
        ["p0", "p2"],
        "pods with spec.nodeName= (unbound)"
    );
    let running = pods
        .list(&select("status.phase", "Running"))
        .await
        .step("status.phase")?;
    ensure_eq!(
        names(&running.items),
        ["p2"],
        "pods with status.phase=Running"
    );
    let pending = pods
        .list(&select("status.phase", "Pending"))
        .await
        .step("status.phase")?;
    ensure_eq!(
        names(&pending.items),
        ["p0", "p1"],
        "pods with status.phase=Pending"
    );
    let err = refused_with(
        pods.list(&select("spec.containers", "x")).await,
        400,
        "BadRequest",
        "a field selector on a field pods do not select by",
    )?;
    ensure!(
        err.message().contains("spec.containers"),
        "the error names the field: got {}",
        err.message()
    );
    Ok(())
}

pub(super) async fn paging(room: Room) -> CaseResult {
    let widgets = room.widgets();
    for i in 0..10 {
        widgets
            .create(&room.widget(&format!("w{i}"), i))
            .await
            .step("create")?;
    }
    let mut page = widgets
        .list(&ListParams::default().limit(4))
        .await
        .step("first page")?;
    ensure_eq!(page.items.len(), 4, "items on the first page of 4");
    ensure!(
        page.continue_token.is_some(),
        "a first page of 4 of 10 has a continue token"
    );
    let rv = page.resource_version;
    let mut seen = names(&page.items);
    // Writes after the first page are not seen by the pages that follow.
    widgets
        .create(&room.widget("w99", 1))
        .await
        .step("create w99")?;
    widgets
        .delete("w9", &DeleteParams::default())
        .await
        .step("delete w9")?;
    let mut pages = 1;
    while let Some(token) = page.continue_token.clone() {
        page = widgets
            .list(&ListParams::default().limit(4).continue_from(token))
            .await
            .step("next page")?;
        pages += 1;
        ensure_eq!(
            page.resource_version,
            rv,
            "page {pages} is read at the first page's version"
        );
        ensure!(
            page.items.len() <= 4,
            "page {pages} has at most 4 items: got {}",
            page.items.len()
        );
        seen.extend(names(&page.items));
        ensure!(pages <= 10, "paging did not end after 10 pages");
    }
    let want: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    let mut sorted = want.clone();
    sorted.sort();
    ensure_eq!(
        seen,
        sorted,
        "every object of the first page's version, once, in order"
    );
    refused_with(
        widgets
            .list(&ListParams::default().continue_from("garbage"))
            .await,
        400,
        "BadRequest",
        "a continue token that is not one",
    )?;
    Ok(())
}

pub(super) async fn resource_version_semantics(room: Room) -> CaseResult {
    let widgets = room.widgets();
    let a = widgets
        .create(&room.widget("a", 1))
        .await
        .step("create a")?;
    let list = widgets.list(&ListParams::default()).await.step("list")?;
    ensure!(
        list.resource_version >= rv_of(&a)?,
        "a list's resourceVersion {} covers the create at {}",
        list.resource_version,
        rv_of(&a)?
    );
    let past = list.resource_version;
    widgets
        .update_with("a", |w| w.spec.size = 2)
        .await
        .step("update a")?;
    widgets
        .create(&room.widget("b", 1))
        .await
        .step("create b")?;

    let exact = widgets
        .list(&ListParams::default().at_version(past))
        .await
        .step("list at the past version")?;
    ensure_eq!(
        exact.resource_version,
        past,
        "a list at an exact version reports it"
    );
    ensure_eq!(names(&exact.items), ["a"], "objects at the past version");
    ensure_eq!(exact.items[0].spec.size, 1, "a's size at the past version");

    let fresh = widgets
        .list(&ListParams::default().not_older_than(past))
        .await
        .step("list not older than the past version")?;
    ensure!(
        fresh.resource_version > past,
        "a list not older than {past} reads the latest state: got version {}",
        fresh.resource_version
    );
    ensure_eq!(names(&fresh.items), ["a", "b"], "objects now");
    ensure_eq!(fresh.items[0].spec.size, 2, "a's size now");

    let first = widgets
        .list(&ListParams::default().limit(1))
        .await
        .step("a first page")?;
    let token = first
        .continue_token
        .ok_or("a page of 1 of 2 has a continue token")?;
    let mut both = ListParams::default().continue_from(token);
    both = both.not_older_than(past);
    let err = refused(
        widgets.list(&both).await,
        "a continue token with a resourceVersion",
    )?;
    expect_status(
        &err,
        400,
        "BadRequest",
        "a continue token with a resourceVersion",
    )?;
    Ok(())
}

pub(super) async fn all_namespaces(room: Room) -> CaseResult {
    let here = room.widgets();
    let other = room.api_in::<Widget>(&room.other_ns());
    here.create(&room.widget("a", 1)).await.step("create a")?;
    here.create(&room.widget("b", 1)).await.step("create b")?;
    other
        .create(&room.widget("a", 2))
        .await
        .step("create a elsewhere")?;

    let everywhere = Api::<Widget>::all(room.client());
    let all = everywhere
        .list(&ListParams::default().labels(room.case_selector()))
        .await
        .step("list all namespaces")?;
    let got: Vec<(String, String)> = all
        .items
        .iter()
        .map(|w| {
            (
                w.namespace().unwrap_or("").to_owned(),
                w.name_any().to_owned(),
            )
        })
        .collect();
    let mut want = vec![
        (room.ns.clone(), "a".to_owned()),
        (room.ns.clone(), "b".to_owned()),
        (room.other_ns(), "a".to_owned()),
    ];
    want.sort();
    ensure_eq!(
        got,
        want,
        "every namespace's objects, ordered by namespace then name"
    );
    ensure_eq!(
        names(
            &here
                .list(&ListParams::default())
                .await
                .step("list here")?
                .items
        ),
        ["a", "b"],
        "a namespaced list"
    );
    let theirs = other
        .list(&ListParams::default())
        .await
        .step("list there")?;
    ensure_eq!(
        (names(&theirs.items), theirs.items[0].spec.size),
        (vec!["a".to_owned()], 2),
        "the other namespace's list"
    );
    Ok(())
}

pub(super) async fn cluster_scoped(room: Room) -> CaseResult {
    let racks = Api::<Rack>::all(room.client());
    let name = room.cluster_name("r1");
    let mut rack = Rack::new(&name, 8);
    rack.metadata
        .labels
        .insert(super::CASE_LABEL.into(), room.ns.clone());
    let created = racks.create(&rack).await.step("create rack")?;
    ensure_eq!(
        created.metadata.namespace.as_deref().unwrap_or(""),
        "",
        "a rack has no namespace"
    );
    // Through an Api "in" a namespace the namespace is ignored for a cluster-scoped kind.
    let via_ns = room
        .api::<Rack>()
        .get(&name)
        .await
        .step("get via a namespaced Api")?;
    ensure_eq!(
        via_ns,
        created,
        "a cluster-scoped get ignores the namespace"
    );
    let listed = racks
        .list(&ListParams::default().labels(room.case_selector()))
        .await
        .step("list racks")?;
    ensure_eq!(names(&listed.items), vec![name.clone()], "listed racks");
    let gone = racks
        .delete(&name, &DeleteParams::default())
        .await
        .step("delete rack")?;
    ensure!(
        gone.is_deleted(),
        "a rack without finalizers is deleted at once"
    );
    refused_with(
        racks.get(&name).await,
        404,
        "NotFound",
        "get of a deleted rack",
    )?;
    Ok(())
}

/// Selectors built in code that no string parses to: each is a 400 on list and watch.
pub(super) fn invalid_selectors() -> Vec<(&'static str, LabelSelector)> {
    vec![
        (
            "an invalid key",
            LabelSelector::new().match_label("bad key!", "x"),
        ),
        (
            "an invalid value",
            LabelSelector::new().match_label("app", "-not valid-"),
        ),
        (
            "an invalid expression key",
            LabelSelector::new().match_expression(
                "/",
                SelectorOperator::Exists,
                Vec::<String>::new(),
            ),
        ),
        (
            "In without values",
            LabelSelector::new().match_expression(
                "app",
                SelectorOperator::In,
                Vec::<String>::new(),
            ),
        ),
        (
            "Exists with values",
            LabelSelector::new().match_expression("app", SelectorOperator::Exists, ["web"]),
        ),
    ]
}

pub(super) async fn invalid_label_selector(room: Room) -> CaseResult {
    let widgets = room.widgets();
    widgets.create(&room.widget("a", 1)).await.step("create")?;
    for (what, selector) in invalid_selectors() {
        let err = refused(
            widgets.list(&ListParams::default().labels(selector)).await,
            &format!("list with {what}"),
        )?;
        expect_status(&err, 400, "BadRequest", &format!("list with {what}"))?;
    }
    Ok(())
}
