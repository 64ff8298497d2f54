//! The garbage collector with the workload controllers, in paused virtual time:
//! background, foreground and orphan deletion.

mod common;

use std::time::Duration;

use common::{mark_pods_ready, memory_client};
use orchestra::cluster::Cluster;
use orchestra::core::kinds::{Deployment, Pod, ReplicaSet};
use orchestra::core::{Api, Client, DeleteParams, LabelSelector, ListParams, ObjectMeta};
use orchestra::runtime::controllers::{
    DeploymentController, GarbageCollector, ReplicaSetController,
};
use orchestra::runtime::reconcile::Manager;
use tokio_util::sync::CancellationToken;

fn web(replicas: i32) -> Deployment {
    common::web_deployment(replicas, "web-server:1")
}

fn start(client: &Client, with_controllers: bool) -> CancellationToken {
    let mut manager = Manager::new(client.clone());
    if with_controllers {
        let rs = ReplicaSetController::new(client.clone(), manager.informers());
        let d = DeploymentController::new(client.clone(), manager.informers());
        manager = manager.controller(rs);
        manager = manager.controller(d);
    }
    manager = GarbageCollector::new(client.clone(), manager.informers()).add_to(manager);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });
    stop
}

async fn settle(client: &Client) {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        mark_pods_ready(client).await;
    }
}

async fn counts(client: &Client) -> (usize, usize, usize) {
    let d = Api::<Deployment>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    let pods = Api::<Pod>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    (d, rs, pods)
}

#[tokio::test(start_paused = true)]
async fn background_deletion_removes_replicasets_and_pods() {
    let (client, _) = memory_client();
    let stop = start(&client, true);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments.create(&web(4)).await.unwrap();
    settle(&client).await;
    assert_eq!(counts(&client).await, (1, 1, 4));
    assert!(
        deployments
            .delete("web", &DeleteParams::default())
            .await
            .unwrap()
            .is_deleted(),
        "background: the owner goes at once"
    );
    settle(&client).await;
    assert_eq!(counts(&client).await, (0, 0, 0));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn foreground_deletion_keeps_the_owner_until_its_dependents_are_gone() {
    let (client, _) = memory_client();
    let stop = start(&client, true);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments.create(&web(3)).await.unwrap();
    settle(&client).await;
    let outcome = deployments
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(!outcome.is_deleted());
    // Watch the order: the deployment must outlive every ReplicaSet.
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (d, rs, _) = counts(&client).await;
        if d == 0 {
            assert_eq!(rs, 0, "the owner went before its blocking dependents");
            break;
        }
    }
    assert_eq!(counts(&client).await, (0, 0, 0));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn orphan_deletion_leaves_the_dependents_without_an_owner() {
    let (client, _) = memory_client();
    // No workload controllers here: nothing would re-adopt or replace the pods.
    let stop = start(&client, false);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut rs = ReplicaSet {
        metadata: ObjectMeta::named("rs"),
        ..Default::default()
    };
    rs.spec.selector = LabelSelector::new().match_label("app", "x");
    rs.spec.template = web(1).spec.template;
    rs.spec.template.metadata = Some(ObjectMeta {
        labels: rs.spec.selector.match_labels.clone(),
        ..Default::default()
    });
    let rs = sets.create(&rs).await.unwrap();
    for i in 0..2 {
        let mut pod = Pod {
            metadata: ObjectMeta::named(format!("p{i}")),
            spec: rs.spec.template.spec.clone(),
            status: None,
        };
        pod.metadata
            .owner_references
            .push(orchestra::core::ResourceExt::owner_reference(&rs, true));
        pods.create(&pod).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    sets.delete("rs", &DeleteParams::orphan()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sets.get_opt("rs").await.unwrap().is_none(),
        "the owner is gone"
    );
    let left = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(left.len(), 2, "the dependents stay");
    assert!(
        left.iter().all(|p| p.metadata.owner_references.is_empty()),
        "without a reference to the owner"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_dependent_whose_owner_never_existed_is_collected_but_a_live_owner_protects() {
    let (client, _) = memory_client();
    let stop = start(&client, false);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = ReplicaSet {
        metadata: ObjectMeta::named("real"),
        ..Default::default()
    };
    rs.spec.selector = LabelSelector::new().match_label("app", "y");
    rs.spec.template = web(1).spec.template;
    rs.spec.template.metadata = Some(ObjectMeta {
        labels: rs.spec.selector.match_labels.clone(),
        ..Default::default()
    });
    let real = sets.create(&rs).await.unwrap();
    let template = real.spec.template.spec.clone();
    let mut ghost_owned = Pod {
        metadata: ObjectMeta::named("ghost-owned"),
        spec: template.clone(),
        status: None,
    };
    let mut dangling = orchestra::core::ResourceExt::owner_reference(&real, true);
    dangling.uid = "no-such-uid".into();
    ghost_owned.metadata.owner_references.push(dangling.clone());
    pods.create(&ghost_owned).await.unwrap();
    let mut two_owners = Pod {
        metadata: ObjectMeta::named("two-owners"),
        spec: template,
        status: None,
    };
    two_owners
        .metadata
        .owner_references
        .push(orchestra::core::ResourceExt::owner_reference(&real, false));
    dangling.controller = None;
    two_owners.metadata.owner_references.push(dangling);
    pods.create(&two_owners).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        pods.get_opt("ghost-owned").await.unwrap().is_none(),
        "all owners gone: collected"
    );
    let kept = pods.get("two-owners").await.unwrap();
    assert_eq!(
        kept.metadata.owner_references.len(),
        1,
        "the dangling reference was removed, the live one kept"
    );
    stop.cancel();
}

/// A pod owned by `owner`, blocking its foreground deletion.
fn pod_owned_by(name: &str, owner: &common::Widget) -> Pod {
    let mut pod = Pod {
        metadata: ObjectMeta::named(name),
        spec: web(1).spec.template.spec,
        status: None,
    };
    pod.metadata
        .owner_references
        .push(orchestra::core::ResourceExt::owner_reference(owner, true));
    pod
}

async fn gone<K: orchestra::core::Resource>(api: &Api<K>, name: &str) -> bool {
    for _ in 0..600 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(start_paused = true)]
async fn a_users_kind_that_owns_pods_in_a_cluster_is_collected_like_a_built_in_one() {
    // The collector follows discovery: the cluster serves Widget, so it follows it.
    let cluster = Cluster::builder()
        .clock(orchestra::core::Clock::starting_at(common::epoch()))
        .seed(3)
        .kind::<common::Widget>()
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();
    let widgets = cluster.api::<common::Widget>();
    let pods = cluster.api::<Pod>();

    // Background: the owner goes at once, then its pod.
    let owner = widgets
        .create(&common::Widget::new("owner", 1))
        .await
        .unwrap();
    pods.create(&pod_owned_by("owned", &owner)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    widgets
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        gone(&pods, "owned").await,
        "the pod of a deleted Widget is collected"
    );

    // Foreground: the owner waits for its pod, then goes.
    let owner = widgets.create(&common::Widget::new("fg", 1)).await.unwrap();
    pods.create(&pod_owned_by("fg-owned", &owner))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    widgets
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(gone(&pods, "fg-owned").await, "the dependent goes first");
    assert!(gone(&widgets, "fg").await, "then the owner");

    // Orphan: the pod lives on without the reference.
    let owner = widgets
        .create(&common::Widget::new("parent", 1))
        .await
        .unwrap();
    pods.create(&pod_owned_by("orphan", &owner)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    widgets
        .delete("parent", &DeleteParams::orphan())
        .await
        .unwrap();
    assert!(gone(&widgets, "parent").await);
    let orphan = pods.get("orphan").await.unwrap();
    assert!(
        orphan.metadata.owner_references.is_empty(),
        "{:?}",
        orphan.metadata
    );
    cluster.shutdown().await;
}
