//! The user's commands as SDK calls, one function per step:
//!
//! | kubectl | here |
//! | --- | --- |
//! | `kubectl run --replicas=1000 my-web-server` | `Api<Deployment>::create` |
//! | `kubectl scale --replicas=2000 my-web-server` | `Api<Deployment>::update_with` |
//! | `kubectl autoscale ...` | `Api<HorizontalPodAutoscaler>::create` |
//! | `kubectl set image ...` / `rollout status` | `update_with` + the Deployment's status |
//! | `kubectl rollout undo my-web-server` | `Api<Deployment>::rollback` (`DeploymentExt`) |

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orchestra::core::kinds::{
    Deployment, HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    IntOrString, Node, Pod, PodPhase, ReplicaSet,
};
use orchestra::core::{Api, DeleteParams, ListParams, LogOptions, ResourceExt};
use orchestra::runtime::controllers::DeploymentExt;
use orchestra::runtime::controllers::deployment::revision::revision;
use orchestra::runtime::controllers::deployment::rolling::fenceposts;

use crate::args::RuntimeKind;
use crate::narrate::{Narrator, Step};
use crate::watch::Availability;
use crate::{APP, BoxError, Demo, TOLERATION_SECONDS, serve, web_server};

/// How long any one wait may take before the demo gives up and says why.
const PATIENCE: Duration = Duration::from_secs(120);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

pub async fn run(demo: &Demo) -> Result<(), BoxError> {
    let n = demo.args.replicas;
    let deployments: Api<Deployment> = demo.cluster.api();
    remove_leftovers(demo).await?;
    let availability = Availability::track(demo.cluster.api(), APP).await?;
    let mut narrator = Narrator::new(7);

    // 1. Run.
    let step = narrator.step(
        &format!("run {n} replicas of {APP} (web-server:1)"),
        n as u64,
    );
    deployments
        .create(&web_server(demo, n, "web-server:1"))
        .await?;
    wait(&deployments, &step, |d, s| {
        let st = d.status.clone().unwrap_or_default();
        s.progress(st.ready_replicas as u64, "ready");
        st.ready_replicas == n && st.available_replicas == n && st.replicas == n
    })
    .await?;
    let running = running_and_ready(demo).await?;
    if running != n as usize {
        return Err(format!("{running} pods Running and Ready, expected {n}").into());
    }
    if demo.args.runtime == RuntimeKind::Process {
        fetch_pages(demo, &step, 3).await?;
    }
    narrator.finish(step, &format!("{running} pods Running and Ready"));

    // 2. Scale up and down.
    let step = narrator.step(&format!("scale to {} and back to {n}", 2 * n), 2 * n as u64);
    scale(&deployments, 2 * n).await?;
    wait(&deployments, &step, |d, s| {
        let st = d.status.clone().unwrap_or_default();
        s.progress(st.ready_replicas as u64, format!("ready (of {})", 2 * n));
        st.ready_replicas == 2 * n && st.available_replicas == 2 * n
    })
    .await?;
    step.say(format!("{} replicas ready; scaling back to {n}", 2 * n));
    scale(&deployments, n).await?;
    wait(&deployments, &step, |d, s| {
        let st = d.status.clone().unwrap_or_default();
        s.progress(st.replicas as u64, "pods (scaling in)");
        st.replicas == n && st.available_replicas == n
    })
    .await?;
    narrator.finish(step, &format!("up to {} and back to {n}", 2 * n));

    // 3. Autoscale.
    autoscale(demo, &mut narrator).await?;

    // 4. Rolling update; 5. roll back.
    let (surge, unavailable) = bounds(n);
    let step = narrator.step("rolling update to web-server:2", n as u64);
    availability.mark();
    deployments
        .update_with(APP, |d| {
            let container = &mut d.spec.template.spec.containers[0];
            match demo.args.runtime {
                RuntimeKind::Sim => container.image = "web-server:2".into(),
                RuntimeKind::Process => {
                    crate::set_process_image(container, &demo.exe, "web-server:2")
                }
            }
        })
        .await?;
    rollout_status(&deployments, &step).await?;
    if demo.args.runtime == RuntimeKind::Process {
        fetch_pages(demo, &step, 2).await?;
    }
    let low = availability.min_since_mark()?;
    check_bound(low, n - unavailable, "during the rollout")?;
    narrator.finish(
        step,
        &format!(
            "at most {surge} extra pods, never fewer than {low} available (bound {})",
            n - unavailable
        ),
    );

    let step = narrator.step("roll back to the previous revision", n as u64);
    availability.mark();
    let rolled = deployments.rollback(APP, None).await?;
    step.say(format!(
        "{rolled}: template back to {}",
        rolled.deployment().spec.template.spec.containers[0].image
    ));
    rollout_status(&deployments, &step).await?;
    let low = availability.min_since_mark()?;
    check_bound(low, n - unavailable, "during the rollback")?;
    narrator.finish(
        step,
        &format!("web-server:1 again, as a new revision; never fewer than {low} available"),
    );

    // 6. A node fails.
    stop_a_node(demo, &mut narrator, &availability, n - unavailable).await?;

    // 7. The cluster now.
    let step = narrator.step("the cluster now", 1);
    let shown = show_cluster(demo, &step).await?;
    narrator.finish(step, &shown);
    narrator.summary();
    Ok(())
}

/// Kubernetes' rollout bounds for `n` replicas at the default 25% / 25%.
fn bounds(n: i32) -> (i32, i32) {
    fenceposts(n, &IntOrString::from("25%"), &IntOrString::from("25%")).expect("valid percentages")
}

fn check_bound(low: i64, bound: i32, when: &str) -> Result<(), BoxError> {
    if low < i64::from(bound) {
        return Err(
            format!("only {low} replicas were available {when}, below the bound {bound}").into(),
        );
    }
    Ok(())
}

async fn scale(deployments: &Api<Deployment>, replicas: i32) -> Result<(), BoxError> {
    deployments
        .update_with(APP, |d| d.spec.replicas = Some(replicas))
        .await?;
    Ok(())
}

/// Polls the Deployment until `done` says so, or gives up after [`PATIENCE`].
async fn wait(
    deployments: &Api<Deployment>,
    step: &Step,
    mut done: impl FnMut(&Deployment, &Step) -> bool,
) -> Result<Deployment, BoxError> {
    let started = Instant::now();
    loop {
        let d = deployments.get(APP).await?;
        if done(&d, step) {
            return Ok(d);
        }
        if started.elapsed() > PATIENCE {
            return Err(format!("gave up after {PATIENCE:?}; status {:?}", d.status).into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Follows a rollout as `kubectl rollout status` does, printing its lines (at most
/// twenty a second) until it has finished.
async fn rollout_status(deployments: &Api<Deployment>, step: &Step) -> Result<(), BoxError> {
    let mut last = String::new();
    let mut printed = Instant::now() - Duration::from_secs(1);
    wait(deployments, step, |d, s| {
        let (message, done) = rollout_message(d);
        let st = d.status.clone().unwrap_or_default();
        s.progress(
            st.available_replicas.min(st.updated_replicas) as u64,
            "updated and available",
        );
        if message != last && (done || printed.elapsed() >= Duration::from_millis(50)) {
            s.say(&message);
            last = message;
            printed = Instant::now();
        }
        done
    })
    .await?;
    Ok(())
}

/// `kubectl rollout status`'s message for `d`, and whether the rollout is done.
fn rollout_message(d: &Deployment) -> (String, bool) {
    let name = d.name_any();
    let st = d.status.clone().unwrap_or_default();
    let replicas = d.replicas();
    if st.observed_generation < d.metadata.generation {
        return (
            "Waiting for deployment spec update to be observed...".into(),
            false,
        );
    }
    let waiting = |what: String| {
        (
            format!("Waiting for deployment {name:?} rollout to finish: {what}..."),
            false,
        )
    };
    if st.updated_replicas < replicas {
        waiting(format!(
            "{} out of {replicas} new replicas have been updated",
            st.updated_replicas
        ))
    } else if st.replicas > st.updated_replicas {
        waiting(format!(
            "{} old replicas are pending termination",
            st.replicas - st.updated_replicas
        ))
    } else if st.available_replicas < st.updated_replicas {
        waiting(format!(
            "{} of {} updated replicas are available",
            st.available_replicas, st.updated_replicas
        ))
    } else {
        (format!("deployment {name:?} successfully rolled out"), true)
    }
}

/// Step 3: an autoscaler on the Deployment, a load that drives it out, and back in.
async fn autoscale(demo: &Demo, narrator: &mut Narrator) -> Result<(), BoxError> {
    let n = demo.args.replicas;
    let max = n * 3 / 2;
    let deployments: Api<Deployment> = demo.cluster.api();
    let autoscalers: Api<HorizontalPodAutoscaler> = demo.cluster.api();
    let step = narrator.step(
        &format!("autoscale between {n} and {max} on CPU (target 50%)"),
        max as u64,
    );
    // 80% of the request: the autoscaler wants 1.6 times the replicas, capped at max.
    demo.load
        .set("web-server:1", (crate::CPU_REQUEST_MILLI * 8 / 10) as u64);
    step.say("load up: every replica at 80% of its CPU request");
    autoscalers.create(&autoscaler(n, max)).await?;
    let mut seen = n;
    wait(&deployments, &step, |d, s| {
        let st = d.status.clone().unwrap_or_default();
        if d.replicas() != seen {
            seen = d.replicas();
            s.say(format!("autoscaler set {seen} replicas"));
        }
        s.progress(
            st.ready_replicas as u64,
            format!("ready (wanted {})", d.replicas()),
        );
        d.replicas() == max && st.ready_replicas == max && st.available_replicas == max
    })
    .await?;
    demo.load
        .set("web-server:1", (crate::CPU_REQUEST_MILLI / 10) as u64);
    step.say("load down: every replica at 10%; the scale-in waits out a 3 s stabilization window");
    wait(&deployments, &step, |d, s| {
        let st = d.status.clone().unwrap_or_default();
        if d.replicas() != seen {
            seen = d.replicas();
            s.say(format!("autoscaler set {seen} replicas"));
        }
        s.progress(st.replicas as u64, "pods (scaling in)");
        d.replicas() == n && st.replicas == n && st.available_replicas == n
    })
    .await?;
    autoscalers.delete(APP, &DeleteParams::default()).await?;
    narrator.finish(
        step,
        &format!("out to {max} under load, back to {n} without it; autoscaler removed"),
    );
    Ok(())
}

fn autoscaler(min: i32, max: i32) -> HorizontalPodAutoscaler {
    let mut hpa = HorizontalPodAutoscaler::for_deployment(APP, min, max, 50);
    // Scale in after 3 s of low load instead of Kubernetes' 300 s: a short demo.
    hpa.spec.behavior = Some(HorizontalPodAutoscalerBehavior {
        scale_up: None,
        scale_down: Some(HPAScalingRules {
            stabilization_window_seconds: Some(3),
            ..Default::default()
        }),
    });
    hpa
}

/// Step 6: the busiest node's agent stops; its pods are evicted and replaced
/// elsewhere; it comes back and cleans up.
async fn stop_a_node(
    demo: &Demo,
    narrator: &mut Narrator,
    availability: &Availability,
    bound: i32,
) -> Result<(), BoxError> {
    let n = demo.args.replicas;
    let pods = live_pods(demo).await?;
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pods {
        *per_node
            .entry(p.node_name().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let (victim, on_it) = per_node
        .iter()
        .max_by_key(|(_, count)| **count)
        .map(|(node, count)| (node.clone(), *count))
        .ok_or("no pods to lose")?;
    let step = narrator.step(&format!("stop node {victim} ({on_it} pods)"), n as u64);
    availability.mark();
    let stopped = Instant::now();
    demo.cluster.stop_node(&victim).await?;
    step.say(format!(
        "{victim}'s agent stopped; unreachable after {} s, its pods evicted {TOLERATION_SECONDS} s later",
        crate::NODE_GRACE.as_secs()
    ));
    let mut evicted = false;
    loop {
        let pods = live_pods(demo).await?;
        let elsewhere_ready = pods
            .iter()
            .filter(|p| p.node_name() != Some(victim.as_str()) && p.is_ready())
            .count();
        if !evicted && !pods.iter().any(|p| p.node_name() == Some(victim.as_str())) {
            evicted = true;
            step.say(format!(
                "{on_it} pods evicted from {victim} after {:.1} s",
                stopped.elapsed().as_secs_f64()
            ));
        }
        step.progress(elsewhere_ready as u64, "ready on the other nodes");
        if evicted && elsewhere_ready == n as usize && pods.len() == n as usize {
            break;
        }
        if stopped.elapsed() > PATIENCE {
            return Err(
                format!("the pods of {victim} were not replaced within {PATIENCE:?}").into(),
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let low = availability.min_since_mark()?;
    step.say(format!(
        "all {n} replicas ready again after {:.1} s; never fewer than {low} available (bound {bound})",
        stopped.elapsed().as_secs_f64()
    ));
    check_bound(low, bound, "while the node was down")?;

    // It comes back: the agent adopts what is still bound to it and stops the
    // containers of the pods evicted meanwhile.
    demo.cluster.start_node(&victim)?;
    let pods_api: Api<Pod> = demo.cluster.api();
    let back = Instant::now();
    loop {
        let left = pods_api
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|p| p.node_name() == Some(victim.as_str()))
            .count();
        let node_ready = demo.cluster.api::<Node>().get(&victim).await?.is_ready();
        if left == 0 && node_ready {
            break;
        }
        if back.elapsed() > PATIENCE {
            return Err(format!("{victim} did not come back clean within {PATIENCE:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
    narrator.finish(
        step,
        &format!(
            "replaced on the other nodes (minimum available {low}); {victim} back, empty and Ready"
        ),
    );
    Ok(())
}

/// Step 7: nodes with their pods, and the ReplicaSets with their revisions.
async fn show_cluster(demo: &Demo, step: &Step) -> Result<String, BoxError> {
    let mut nodes = demo
        .cluster
        .api::<Node>()
        .list(&ListParams::default())
        .await?
        .items;
    // node-2 before node-10.
    nodes.sort_by_key(|n| (n.name_any().len(), n.name_any().to_owned()));
    let pods = live_pods(demo).await?;
    step.say(format!("{:<10} {:<8} {:>5}", "NODE", "STATUS", "PODS"));
    for node in &nodes {
        let name = node.name_any();
        let count = pods.iter().filter(|p| p.node_name() == Some(name)).count();
        let status = if node.is_ready() { "Ready" } else { "NotReady" };
        step.say(format!("{name:<10} {status:<8} {count:>5}"));
    }
    let sets: Api<ReplicaSet> = demo.cluster.api();
    let mut sets = sets.list(&ListParams::default()).await?.items;
    sets.sort_by_key(revision);
    step.say("");
    step.say(format!(
        "{:<28} {:>8} {:<14} {:>8} {:>6}",
        "REPLICASET", "REVISION", "IMAGE", "DESIRED", "READY"
    ));
    for rs in &sets {
        step.say(format!(
            "{:<28} {:>8} {:<14} {:>8} {:>6}",
            rs.name_any(),
            revision(rs),
            rs.spec.template.spec.containers[0].image,
            rs.replicas(),
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        ));
    }
    Ok(format!(
        "{} nodes, {} pods, {} ReplicaSets",
        nodes.len(),
        pods.len(),
        sets.len()
    ))
}

async fn live_pods(demo: &Demo) -> Result<Vec<Pod>, BoxError> {
    let pods: Api<Pod> = demo.cluster.api();
    Ok(pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

async fn running_and_ready(demo: &Demo) -> Result<usize, BoxError> {
    Ok(live_pods(demo)
        .await?
        .iter()
        .filter(|p| p.phase() == PodPhase::Running && p.is_ready())
        .count())
}

/// Process replicas: reads a few pods' ports from their logs and fetches a page from
/// each over 127.0.0.1.
async fn fetch_pages(demo: &Demo, step: &Step, count: usize) -> Result<(), BoxError> {
    let mut fetched = 0;
    for pod in live_pods(demo).await?.iter().filter(|p| p.is_ready()) {
        if fetched == count {
            break;
        }
        let Some(node) = pod.node_name() else {
            continue;
        };
        let Some(runtime) = demo.cluster.runtime(node) else {
            continue;
        };
        let Some(container) = runtime
            .list_containers()
            .await?
            .into_iter()
            .find(|c| c.sandbox.uid == pod.uid() && c.state.is_running())
        else {
            continue;
        };
        let mut log = Vec::new();
        let mut stream = runtime.logs(&container.id, LogOptions::default()).await?;
        while let Some(chunk) = stream.next().await {
            log.extend_from_slice(&chunk?);
        }
        let Some(port) = serve::port_from_log(&String::from_utf8_lossy(&log)) else {
            continue;
        };
        let page = tokio::task::spawn_blocking(move || serve::fetch(port)).await??;
        step.say(format!(
            "GET http://127.0.0.1:{port}/ (pod {} on {node}) -> {page}",
            pod.name_any()
        ));
        fetched += 1;
    }
    if fetched == 0 {
        return Err("could not fetch a page from any replica".into());
    }
    Ok(())
}

/// A durable or etcd store may hold the application from an earlier run: remove it
/// first, so this run starts from nothing.
async fn remove_leftovers(demo: &Demo) -> Result<(), BoxError> {
    let autoscalers: Api<HorizontalPodAutoscaler> = demo.cluster.api();
    if autoscalers.get_opt(APP).await?.is_some() {
        autoscalers.delete(APP, &DeleteParams::default()).await?;
    }
    if demo
        .cluster
        .api::<Deployment>()
        .get_opt(APP)
        .await?
        .is_some()
    {
        println!("Found {APP} from an earlier run in the store: removing it first.");
        remove_app(demo).await?;
    }
    Ok(())
}

/// Deletes the application and waits until its pods are gone (their containers
/// stopped by the agents).
pub async fn remove_app(demo: &Demo) -> Result<(), BoxError> {
    let deployments: Api<Deployment> = demo.cluster.api();
    if deployments.get_opt(APP).await?.is_some() {
        deployments.delete(APP, &DeleteParams::default()).await?;
    }
    let pods: Api<Pod> = demo.cluster.api();
    let started = Instant::now();
    while !pods.list(&ListParams::default()).await?.items.is_empty() {
        if started.elapsed() > PATIENCE {
            return Err("the application's pods were not removed in time".into());
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
