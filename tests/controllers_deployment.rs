//! The Deployment and ReplicaSet controllers together, in paused virtual time, with pods
//! made Ready by a test helper standing in for node agents: rolling updates within
//! their bounds (checked after every store event), rollback, and a stuck rollout that
//! hits its progress deadline without destroying the old ReplicaSet.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{mark_pods_ready_except, memory_client};
use futures::StreamExt;
use orchestra::core::kinds::{Deployment, DeploymentStrategy, Pod, ReplicaSet};
use orchestra::core::{Api, Client, ListParams, Store, WatchEvent};
use orchestra::runtime::controllers::deployment::status::{REASON_DEADLINE, is_complete};
use orchestra::runtime::controllers::{DeploymentController, ReplicaSetController, rollback};
use orchestra::runtime::reconcile::Manager;
use orchestra::store::testing::{InterceptedStore, StoreCall, Verdict};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

fn deployment(replicas: i32, image: &str) -> Deployment {
    common::web_deployment(replicas, image)
}

fn start(client: &Client) -> CancellationToken {
    let mut manager = Manager::new(client.clone());
    let rs = ReplicaSetController::new(client.clone(), manager.informers());
    let d = DeploymentController::new(client.clone(), manager.informers());
    manager = manager.controller(rs);
    manager = manager.controller(d);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });
    stop
}

/// Drives the cluster until the deployment's rollout completes (or `limit` passes),
/// making pods ready as agents would, except those `broken` picks.
async fn drive(client: &Client, limit: Duration, broken: fn(&Pod) -> bool) -> Deployment {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let start = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        mark_pods_ready_except(client, broken).await;
        let d = deployments.get("web").await.unwrap();
        if d.status.as_ref().is_some_and(|s| is_complete(&d, s)) || start.elapsed() > limit {
            return d;
        }
    }
}

fn image_of(pod: &Pod) -> &str {
    &pod.spec.containers[0].image
}

async fn live_pods(client: &Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Follows every store event in order and records each moment a bound was broken.
fn check_bounds(
    store: Arc<dyn Store>,
    replicas: i32,
    surge: i32,
    unavailable: i32,
    from: u64,
) -> Arc<Mutex<Vec<String>>> {
    let violations = Arc::new(Mutex::new(Vec::new()));
    let out = violations.clone();
    tokio::spawn(async move {
        let mut watch = store.watch(b"/registry/", from).await.unwrap();
        let mut pods: HashMap<bytes::Bytes, Pod> = HashMap::new();
        let mut sets: HashMap<bytes::Bytes, ReplicaSet> = HashMap::new();
        // Seed with the state at `from`.
        for kv in store
            .list(
                b"/registry/",
                orchestra::core::ListOptions::default().at_revision(from),
            )
            .await
            .unwrap()
            .kvs
        {
            if kv.key.starts_with(b"/registry/pods/") {
                pods.insert(kv.key.clone(), serde_json::from_slice(&kv.value).unwrap());
            } else if kv.key.starts_with(b"/registry/apps/replicasets/") {
                sets.insert(kv.key.clone(), serde_json::from_slice(&kv.value).unwrap());
            }
        }
        while let Some(Ok(event)) = watch.next().await {
            let revision = event.revision();
            match event {
                WatchEvent::Put { kv } if kv.key.starts_with(b"/registry/pods/") => {
                    pods.insert(kv.key.clone(), serde_json::from_slice(&kv.value).unwrap());
                }
                WatchEvent::Put { kv } if kv.key.starts_with(b"/registry/apps/replicasets/") => {
                    sets.insert(kv.key.clone(), serde_json::from_slice(&kv.value).unwrap());
                }
                WatchEvent::Delete { prev, .. } => {
                    pods.remove(&prev.key);
                    sets.remove(&prev.key);
                }
                _ => continue,
            }
            out.lock().push(String::new()); // one entry per event checked; violations are non-empty
            let total: i32 = sets.values().map(|rs| rs.replicas()).sum();
            let available = pods
                .values()
                .filter(|p| p.is_ready() && p.metadata.deletion_timestamp.is_none())
                .count() as i32;
            if total > replicas + surge {
                out.lock().push(format!(
                    "revision {revision}: {total} replicas > {replicas} + {surge}"
                ));
            }
            if available < replicas - unavailable {
                out.lock().push(format!(
                    "revision {revision}: {available} available < {replicas} - {unavailable}"
                ));
            }
        }
    });
    violations
}

#[tokio::test(start_paused = true)]
async fn a_rolling_update_of_100_replicas_stays_within_its_bounds() {
    let (client, store) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&deployment(100, "web-server:1"))
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(300), |_| false).await;
    assert!(
        is_complete(&d, d.status.as_ref().unwrap()),
        "initial rollout: {:?}",
        d.status
    );

    let from = store.current_revision().await.unwrap();
    let violations = check_bounds(store.clone(), 100, 25, 25, from);
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(600), |_| false).await;
    let status = d.status.clone().unwrap();
    assert!(
        is_complete(&d, &status),
        "rollout did not finish: {status:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let checked = violations.lock().iter().filter(|v| v.is_empty()).count();
    let broken: Vec<String> = violations
        .lock()
        .iter()
        .filter(|v| !v.is_empty())
        .take(5)
        .cloned()
        .collect();
    assert!(broken.is_empty(), "bounds broken: {broken:?}");
    assert!(
        checked > 300,
        "the bounds were checked after every one of {checked} events"
    );

    let pods = live_pods(&client).await;
    assert_eq!(pods.len(), 100);
    assert!(pods.iter().all(|p| image_of(p) == "web-server:2"));
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 2, "the old ReplicaSet is kept for rollback");
    let revisions: Vec<_> = sets
        .iter()
        .map(|rs| {
            (
                rs.metadata.annotations["deployment.kubernetes.io/revision"].clone(),
                rs.replicas(),
            )
        })
        .collect();
    assert!(
        revisions.contains(&("1".into(), 0)) && revisions.contains(&("2".into(), 100)),
        "{revisions:?}"
    );
    let available = d.condition("Available").unwrap();
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn rollback_restores_the_previous_template_as_a_new_revision() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&deployment(10, "web-server:1"))
        .await
        .unwrap();
    drive(&client, Duration::from_secs(120), |_| false).await;
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    drive(&client, Duration::from_secs(120), |_| false).await;

    let err = rollback(&client, "default", "web", Some(42))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no revision 42"), "{err}");
    rollback(&client, "default", "web", None).await.unwrap();
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert!(is_complete(&d, d.status.as_ref().unwrap()));
    assert!(
        live_pods(&client)
            .await
            .iter()
            .all(|p| image_of(p) == "web-server:1")
    );
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let current = sets.iter().find(|rs| rs.replicas() == 10).unwrap();
    assert_eq!(
        current.metadata.annotations["deployment.kubernetes.io/revision"], "3",
        "the restored template is a new revision"
    );

    deployments
        .update_with("web", |d| d.spec.paused = true)
        .await
        .unwrap();
    let err = rollback(&client, "default", "web", None).await.unwrap_err();
    assert!(err.to_string().contains("paused"), "{err}");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_rollout_that_never_becomes_ready_hits_its_deadline_and_keeps_the_old_pods() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment(8, "web-server:1");
    d.spec.progress_deadline_seconds = Some(60);
    deployments.create(&d).await.unwrap();
    drive(&client, Duration::from_secs(60), |_| false).await;
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "broken:1".into()
        })
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(200), |p| {
        image_of(p) == "broken:1"
    })
    .await;
    let progressing = d.condition("Progressing").expect("a Progressing condition");
    assert_eq!(
        progressing.reason.as_deref(),
        Some(REASON_DEADLINE),
        "{progressing:?}"
    );
    let old_ready = live_pods(&client)
        .await
        .iter()
        .filter(|p| image_of(p) == "web-server:1" && p.is_ready())
        .count();
    assert!(
        old_ready >= 6,
        "the old ReplicaSet keeps replicas - maxUnavailable ready pods, has {old_ready}"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn recreate_removes_every_old_pod_before_starting_new_ones() {
    let (client, store) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment(5, "web-server:1");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some(orchestra::core::kinds::DeploymentStrategyType::Recreate),
        rolling_update: None,
    });
    deployments.create(&d).await.unwrap();
    drive(&client, Duration::from_secs(60), |_| false).await;

    // Record every moment old and new pods coexist.
    let from = store.current_revision().await.unwrap();
    let mixed = Arc::new(Mutex::new((0usize, 0usize))); // (events seen, events with both images)
    let seen = mixed.clone();
    let watcher = store.clone();
    tokio::spawn(async move {
        let mut watch = watcher.watch(b"/registry/pods/", from).await.unwrap();
        let mut pods: HashMap<bytes::Bytes, String> = HashMap::new();
        while let Some(Ok(event)) = watch.next().await {
            match event {
                WatchEvent::Put { kv } => {
                    let pod: Pod = serde_json::from_slice(&kv.value).unwrap();
                    pods.insert(kv.key.clone(), image_of(&pod).to_owned());
                }
                WatchEvent::Delete { prev, .. } => {
                    pods.remove(&prev.key);
                }
            }
            let images: std::collections::BTreeSet<&String> = pods.values().collect();
            let mut counts = seen.lock();
            counts.0 += 1;
            if images.len() > 1 {
                counts.1 += 1;
            }
        }
    });
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert!(is_complete(&d, d.status.as_ref().unwrap()));
    assert!(
        live_pods(&client)
            .await
            .iter()
            .all(|p| image_of(p) == "web-server:2")
    );
    let (events, together) = *mixed.lock();
    assert!(
        events >= 10,
        "the pods were followed through {events} events"
    );
    assert_eq!(together, 0, "old and new pods never ran together");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_paused_deployment_scales_but_does_not_roll_until_resumed() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&deployment(4, "web-server:1"))
        .await
        .unwrap();
    drive(&client, Duration::from_secs(60), |_| false).await;
    deployments
        .update_with("web", |d| {
            d.spec.paused = true;
            d.spec.template.spec.containers[0].image = "web-server:2".into();
            d.spec.replicas = Some(6);
        })
        .await
        .unwrap();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        common::mark_pods_ready(&client).await;
    }
    let pods = live_pods(&client).await;
    assert_eq!(pods.len(), 6, "scaling applies while paused");
    assert!(
        pods.iter().all(|p| image_of(p) == "web-server:1"),
        "the new template waits"
    );
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.condition("Progressing")
            .and_then(|c| c.reason.clone())
            .as_deref(),
        Some("DeploymentPaused")
    );

    deployments
        .update_with("web", |d| d.spec.paused = false)
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert!(is_complete(&d, d.status.as_ref().unwrap()));
    assert!(
        live_pods(&client)
            .await
            .iter()
            .all(|p| image_of(p) == "web-server:2")
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn scaling_during_a_rollout_spreads_over_both_replicasets() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&deployment(10, "web-server:1"))
        .await
        .unwrap();
    drive(&client, Duration::from_secs(60), |_| false).await;
    // The new pods never become ready, so the rollout stalls half-way.
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "slow:2".into()
        })
        .await
        .unwrap();
    drive(&client, Duration::from_secs(30), |p| {
        image_of(p) == "slow:2"
    })
    .await;
    deployments
        .update_with("web", |d| d.spec.replicas = Some(20))
        .await
        .unwrap();
    drive(&client, Duration::from_secs(30), |p| {
        image_of(p) == "slow:2"
    })
    .await;
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let sizes: Vec<i32> = sets
        .iter()
        .map(|rs| rs.spec.replicas.unwrap_or(0))
        .collect();
    assert_eq!(sizes.len(), 2);
    assert!(
        sizes.iter().all(|s| *s > 0),
        "both ReplicaSets grew: {sizes:?}"
    );
    assert_eq!(
        sizes.iter().sum::<i32>(),
        25,
        "20 replicas + 25% surge, spread in proportion: {sizes:?}"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn rollback_starts_over_when_another_writer_gets_in_between() {
    // Once armed, another writer updates the Deployment just before the next write of
    // it: the writer's copy is stale by the time it writes.
    let inner: Arc<dyn Store> = Arc::new(orchestra::store::MemoryStore::new());
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (racer, trigger) = (inner.clone(), armed.clone());
    let store = Arc::new(
        InterceptedStore::new(inner).on_call(move |call| match call {
            StoreCall::Update { key, .. }
                if key.starts_with(b"/registry/apps/deployments/")
                    && trigger.swap(false, std::sync::atomic::Ordering::SeqCst) =>
            {
                let (racer, key) = (racer.clone(), key.clone());
                Verdict::after(async move {
                    if let Ok(Some(kv)) = racer.get(&key).await {
                        let mut other: serde_json::Value =
                            serde_json::from_slice(&kv.value).unwrap();
                        other["metadata"]["labels"]["raced"] = "yes".into();
                        let value = serde_json::to_vec(&other).unwrap();
                        racer
                            .update(&key, value.into(), kv.mod_revision)
                            .await
                            .unwrap();
                    }
                    Verdict::Pass
                })
            }
            _ => Verdict::Pass,
        }),
    );
    let client = Client::new(
        orchestra::core::Registry::builder(store.clone())
            .clock(orchestra::core::Clock::starting_at(common::epoch()))
            .seed(1)
            .build(),
    );
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&deployment(4, "web-server:1"))
        .await
        .unwrap();
    drive(&client, Duration::from_secs(120), |_| false).await;
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    drive(&client, Duration::from_secs(120), |_| false).await;

    // The controller's status writes race a rollback like this all through a rollout.
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let rolled = rollback(&client, "default", "web", None).await.unwrap();
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "the race happened"
    );
    assert_eq!(
        rolled.metadata.labels.get("raced").map(String::as_str),
        Some("yes"),
        "the rollback started over from the other writer's state"
    );
    assert_eq!(
        rolled.spec.template.spec.containers[0].image,
        "web-server:1"
    );
    stop.cancel();
}

/// A sync whose cache has not shown the ReplicaSet an earlier sync created meets
/// AlreadyExists: that is its own ReplicaSet, not a hash collision — no second
/// ReplicaSet, no collision count (at 100,000 pods under load, a bumped count once
/// made the Deployment roll all its pods over to a twin ReplicaSet). A different
/// template under the same name still counts as a collision.
#[tokio::test]
async fn a_lagging_cache_is_no_hash_collision() {
    use orchestra::core::ResourceExt;
    use orchestra::runtime::reconcile::{Context, Controller, ObjectKey};

    let (client, _) = memory_client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let d = Arc::new(deployments.create(&deployment(3, "web:1")).await.unwrap());
    // The informers never run: the controller's cache stays empty, as far behind
    // its own writes as a cache can be.
    let manager = Manager::new(client.clone());
    let controller = DeploymentController::new(client.clone(), manager.informers());
    let ctx = Context {
        key: ObjectKey::namespaced("default", "web"),
        client: client.clone(),
        cache: manager.informers().cache::<Deployment>(),
        retries: 0,
    };
    for _ in 0..2 {
        controller.reconcile(d.clone(), &ctx).await.unwrap();
    }
    let rss = replicasets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(rss.len(), 1, "one ReplicaSet");
    let collisions = |d: &Deployment| d.status.as_ref().and_then(|s| s.collision_count);
    assert_eq!(collisions(&deployments.get("web").await.unwrap()), None);

    // Someone else's ReplicaSet under the name the template hashes to.
    let name = rss[0].name_any().to_owned();
    replicasets
        .delete(&name, &Default::default())
        .await
        .unwrap();
    let mut squatter = rss[0].clone();
    squatter.metadata = orchestra::core::ObjectMeta::namespaced("default", &name);
    squatter.spec.template.spec.containers[0].image = "other:1".into();
    replicasets.create(&squatter).await.unwrap();
    controller.reconcile(d.clone(), &ctx).await.unwrap();
    let counted = Arc::new(deployments.get("web").await.unwrap());
    assert_eq!(collisions(&counted), Some(1));
    // The next sync hashes with the count: a ReplicaSet under another name.
    controller.reconcile(counted, &ctx).await.unwrap();
    let rss = replicasets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(rss.len(), 2, "the squatter and the Deployment's own");
    assert!(rss.iter().any(|rs| rs.name_any() != name));
}

/// What `kubectl rollout history` reads: each ReplicaSet's revision and change cause,
/// and on the Deployment the revision it runs.
#[tokio::test(start_paused = true)]
async fn the_deployment_and_its_replicasets_record_revisions_and_change_causes() {
    const REVISION: &str = "deployment.kubernetes.io/revision";
    const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment(4, "web-server:1");
    d.metadata
        .annotations
        .insert(CHANGE_CAUSE.into(), "first release".into());
    deployments.create(&d).await.unwrap();
    let d = drive(&client, Duration::from_secs(60), |_| false).await;
    assert_eq!(
        d.metadata.annotations.get(REVISION).map(String::as_str),
        Some("1")
    );

    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into();
            d.metadata
                .annotations
                .insert(CHANGE_CAUSE.into(), "image web-server:2".into());
        })
        .await
        .unwrap();
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert!(is_complete(&d, d.status.as_ref().unwrap()));
    assert_eq!(
        d.metadata.annotations.get(REVISION).map(String::as_str),
        Some("2")
    );
    let mut history: Vec<(String, String, String)> =
        Api::<ReplicaSet>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|rs| {
                let annotation = |key: &str| rs.metadata.annotations.get(key).cloned();
                (
                    annotation(REVISION).unwrap_or_default(),
                    rs.spec.template.spec.containers[0].image.clone(),
                    annotation(CHANGE_CAUSE).unwrap_or_default(),
                )
            })
            .collect();
    history.sort();
    assert_eq!(
        history,
        [
            ("1".into(), "web-server:1".into(), "first release".into()),
            (
                "2".into(),
                "web-server:2".into(),
                "image web-server:2".into()
            ),
        ]
    );
    stop.cancel();
}

/// `kubectl rollout undo [--to-revision=N]` as `Api<Deployment>::rollback`: the previous
/// revision by default, a named one on request, "skipped" when the template already is
/// that revision's, and NotFound-style errors for what does not exist.
#[tokio::test(start_paused = true)]
async fn rollback_on_the_deployment_api_mirrors_rollout_undo() {
    use orchestra::core::ResourceExt;
    use orchestra::runtime::controllers::{DeploymentError, DeploymentExt, RollbackOutcome};

    const REVISION: &str = "deployment.kubernetes.io/revision";
    const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
    let (client, _) = memory_client();
    let stop = start(&client);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment(4, "web-server:1");
    d.metadata
        .annotations
        .insert(CHANGE_CAUSE.into(), "release 1".into());
    deployments.create(&d).await.unwrap();
    drive(&client, Duration::from_secs(60), |_| false).await;
    let err = deployments.rollback("web", None).await.unwrap_err();
    assert!(
        matches!(err, DeploymentError::NoPreviousRevision(_)) && err.is_not_found(),
        "{err}"
    );
    for release in 2..=3 {
        deployments
            .update_with("web", |d| {
                d.spec.template.spec.containers[0].image = format!("web-server:{release}");
                d.metadata
                    .annotations
                    .insert(CHANGE_CAUSE.into(), format!("release {release}"));
            })
            .await
            .unwrap();
        drive(&client, Duration::from_secs(120), |_| false).await;
    }

    let err = deployments.rollback("web", Some(42)).await.unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("no revision 42"),
        "{err}"
    );
    let err = deployments.rollback("nobody", None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let before = deployments.get("web").await.unwrap();
    let skipped = deployments.rollback("web", Some(3)).await.unwrap();
    assert!(skipped.is_skipped(), "{skipped}");
    assert_eq!(skipped.revision(), 3);
    assert!(
        skipped.to_string().contains("skipped rollback"),
        "{skipped}"
    );
    assert_eq!(
        deployments
            .get("web")
            .await
            .unwrap()
            .metadata
            .resource_version,
        before.metadata.resource_version,
        "a skipped rollback writes nothing"
    );

    // By default, the previous revision; its change cause comes back with it.
    let undone = deployments.rollback("web", None).await.unwrap();
    let RollbackOutcome::RolledBack {
        revision,
        deployment,
    } = &undone
    else {
        panic!("rolled back: {undone}");
    };
    assert_eq!(*revision, 2);
    assert_eq!(
        deployment.spec.template.spec.containers[0].image,
        "web-server:2"
    );
    assert_eq!(deployment.metadata.annotations[CHANGE_CAUSE], "release 2");
    assert_eq!(
        undone.to_string(),
        "deployment default/web rolled back to revision 2"
    );
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert!(is_complete(&d, d.status.as_ref().unwrap()));
    assert_eq!(
        d.metadata.annotations[REVISION], "4",
        "the restored template is new"
    );
    assert!(
        live_pods(&client)
            .await
            .iter()
            .all(|p| image_of(p) == "web-server:2")
    );

    // --to-revision: revision 1 is still kept in the history.
    let to_first = deployments.rollback("web", Some(1)).await.unwrap();
    assert_eq!((to_first.is_skipped(), to_first.revision()), (false, 1));
    let d = drive(&client, Duration::from_secs(120), |_| false).await;
    assert_eq!(d.metadata.annotations[REVISION], "5");
    assert_eq!(d.metadata.annotations[CHANGE_CAUSE], "release 1");
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let current = sets.iter().find(|rs| rs.replicas() == 4).unwrap();
    assert_eq!(current.metadata.annotations[REVISION], "5");
    assert_eq!(current.metadata.annotations[CHANGE_CAUSE], "release 1");
    assert_eq!(
        current.spec.template.spec.containers[0].image,
        "web-server:1",
        "{}",
        current.name_any()
    );
    stop.cancel();
}
