//! Whole rollouts: plans carried out one after another against a model of the
//! ReplicaSets and their pods, checked for the rollout bounds after every event.

use std::collections::HashMap;

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A Deployment's ReplicaSets and their pods, driven by its plans and by a stand-in for
/// the ReplicaSet controller, which reaches each ReplicaSet's size only when it runs:
/// until then pods lag behind what was asked (surplus pods still run, missing ones do
/// not exist yet). Pods are created unavailable and become available one by one; the
/// ReplicaSet controller deletes unavailable pods first. A ReplicaSet's status is what
/// the ReplicaSet controller last reported, so the plans see pods and availability late.
struct World {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    /// Pods of each ReplicaSet, by name: (existing, available).
    pods: HashMap<String, (i32, i32)>,
    clock: Time,
    created: u64,
}

impl World {
    /// `d` fully rolled out at its first template.
    fn rolled_out(d: Deployment) -> World {
        let mut world = World {
            d,
            rss: Vec::new(),
            pods: HashMap::new(),
            clock: now(),
            created: 0,
        };
        world.plan_and_apply();
        world.run_replicaset_controller();
        for (pods, available) in world.pods.values_mut() {
            *available = *pods;
        }
        world.run_replicaset_controller();
        world.plan_and_apply();
        assert!(
            world.is_finished(),
            "the first rollout: {:?}",
            world.d.status
        );
        world
    }

    fn plan_and_apply(&mut self) {
        let rss: Vec<Arc<ReplicaSet>> = self.rss.iter().cloned().map(Arc::new).collect();
        let plan = plan(&self.d, &rss, self.clock).unwrap();
        for step in plan.steps {
            match step {
                Step::Create(rs) => {
                    let mut rs = *rs;
                    assert!(
                        !self.rss.iter().any(|o| o.name_any() == rs.name_any()),
                        "{} created twice",
                        rs.name_any()
                    );
                    self.created += 1;
                    rs.metadata.uid = Some(format!("rs-{}", self.created));
                    rs.metadata.creation_timestamp =
                        Some(self.clock.plus(Duration::from_millis(self.created)));
                    self.pods.insert(rs.name_any().to_owned(), (0, 0));
                    self.rss.push(rs);
                    self.report(self.rss.len() - 1);
                }
                Step::Scale {
                    name,
                    replicas,
                    desired,
                } => {
                    let rs = self.rs_mut(&name);
                    rs.spec.replicas = Some(replicas);
                    rs.metadata
                        .annotations
                        .insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
                }
                Step::AnnotateReplicaSet { name, annotations } => {
                    self.rs_mut(&name).metadata.annotations.extend(annotations);
                }
                Step::AnnotateDeployment { annotations } => {
                    self.d.metadata.annotations.extend(annotations);
                }
                Step::Delete { name } => {
                    assert_eq!(self.pods[&name].0, 0, "{name} deleted with pods");
                    self.rss.retain(|rs| rs.name_any() != name);
                    self.pods.remove(&name);
                }
            }
        }
        if let Some(status) = plan.status {
            self.d.status = Some(status);
        }
    }

    fn rs_mut(&mut self, name: &str) -> &mut ReplicaSet {
        self.rss
            .iter_mut()
            .find(|rs| rs.name_any() == name)
            .unwrap_or_else(|| panic!("no ReplicaSet {name}"))
    }

    /// The ReplicaSet controller's run over the ReplicaSet at `i`.
    fn sync_replicaset(&mut self, i: usize) {
        let name = self.rss[i].name_any().to_owned();
        let want = self.rss[i].replicas();
        let (pods, available) = self.pods.get_mut(&name).expect("pods of every ReplicaSet");
        if *pods > want {
            let surplus = *pods - want;
            let unavailable = (*pods - *available).min(surplus);
            *available -= surplus - unavailable;
        }
        *pods = want;
        self.report(i);
    }

    fn run_replicaset_controller(&mut self) {
        for i in 0..self.rss.len() {
            self.sync_replicaset(i);
        }
    }

    fn report(&mut self, i: usize) {
        let (pods, available) = self.pods[self.rss[i].name_any()];
        self.rss[i].status = Some(ReplicaSetStatus {
            replicas: pods,
            ready_replicas: Some(available),
            available_replicas: Some(available),
            ..Default::default()
        });
    }

    /// One more pod of `name` is available; its status says so once the ReplicaSet
    /// controller runs.
    fn make_available(&mut self, name: &str) {
        let (pods, available) = self.pods.get_mut(name).expect("a ReplicaSet");
        if *available < *pods {
            *available += 1;
        }
    }

    fn pods(&self) -> i32 {
        self.pods.values().map(|(p, _)| p).sum()
    }

    fn available(&self) -> i32 {
        self.pods.values().map(|(_, a)| a).sum()
    }

    /// How many ReplicaSets have pods.
    fn running_templates(&self) -> usize {
        self.pods.values().filter(|(p, _)| *p > 0).count()
    }

    fn is_finished(&self) -> bool {
        let current = without_hash(&self.d.spec.template);
        self.d
            .status
            .as_ref()
            .is_some_and(|s| is_complete(&self.d, s))
            && self.rss.iter().all(|rs| {
                let pods = self.pods[rs.name_any()].0;
                without_hash(&rs.spec.template) == current || (rs.replicas() == 0 && pods == 0)
            })
    }

    fn set_image(&mut self, image: &str) {
        self.d = with_image(&self.d, image);
    }
}

/// The Deployment a property case runs: `replicas`, and a rolling update with these
/// bounds (a count, or a percentage when `percent`), or Recreate.
fn strategy_case(
    replicas: i32,
    surge: i32,
    unavailable: i32,
    percent: bool,
    use_recreate: bool,
) -> Deployment {
    let mut d = deployment(replicas, "web:0");
    d.spec.revision_history_limit = Some(2);
    if use_recreate {
        recreate(&mut d);
    } else if percent {
        rolling(
            &mut d,
            IntOrString::String(format!("{surge}%")),
            IntOrString::String(format!("{unavailable}%")),
        );
    } else {
        rolling(&mut d, surge.into(), unavailable.into());
    }
    d
}

proptest! {
    /// Plans carried out step by step against [`World`], with the ReplicaSet controller
    /// running late and pods becoming available at random, and the template changing
    /// again mid-rollout (to a new image, or back to an earlier one): pods never exceed
    /// replicas + maxSurge, available pods never drop below replicas − maxUnavailable,
    /// Recreate never runs two templates at once, and the rollout always finishes with
    /// the Deployment complete, old ReplicaSets empty, history within its limit, and the
    /// current template the newest revision, recorded on the Deployment.
    #[test]
    fn rollouts_keep_their_bounds_and_finish(
        replicas in 1i32..40,
        surge in 0i32..60,
        unavailable in 0i32..60,
        percent in any::<bool>(),
        use_recreate in prop::bool::weighted(0.2),
        changes in 1usize..4,
        seed in any::<u64>(),
    ) {
        let d = strategy_case(replicas, surge, unavailable, percent, use_recreate);
        let (max_surge, max_unavailable) = bounds(&d).unwrap();
        let mut world = World::rolled_out(d);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut changes_left = changes;
        let mut next_image = 1;
        for step in 0..20_000 {
            let finished = world.is_finished();
            if changes_left > 0 && (finished || rng.random_bool(0.02)) {
                // A new image, or now and then one run before.
                let image = if next_image > 1 && rng.random_bool(0.3) {
                    rng.random_range(0..next_image)
                } else {
                    next_image += 1;
                    next_image - 1
                };
                world.set_image(&format!("web:{image}"));
                changes_left -= 1;
            } else if finished {
                let kept = world.rss.len() - 1;
                prop_assert!(kept <= 2, "{kept} old ReplicaSets kept, limit 2");
                // The current template, new or restored, is the newest revision.
                let current = without_hash(&world.d.spec.template);
                let (new, old): (Vec<&ReplicaSet>, Vec<&ReplicaSet>) = world
                    .rss
                    .iter()
                    .partition(|rs| without_hash(&rs.spec.template) == current);
                prop_assert_eq!(new.len(), 1);
                let newest = revision(new[0]);
                prop_assert!(old.iter().all(|rs| revision(rs) < newest), "{:?}", world.rss);
                prop_assert_eq!(
                    world.d.metadata.annotations.get(REVISION_ANNOTATION),
                    Some(&newest.to_string())
                );
                return Ok(());
            }
            match rng.random_range(0..4) {
                0 => world.plan_and_apply(),
                1 => {
                    let i = rng.random_range(0..world.rss.len());
                    world.sync_replicaset(i);
                }
                _ => {
                    let waiting: Vec<String> = world
                        .pods
                        .iter()
                        .filter(|(_, (p, a))| a < p)
                        .map(|(name, _)| name.clone())
                        .collect();
                    if !waiting.is_empty() {
                        let name = &waiting[rng.random_range(0..waiting.len())];
                        world.make_available(name);
                    }
                }
            }
            world.clock = world.clock.plus(Duration::from_secs(1));
            let (pods, available) = (world.pods(), world.available());
            prop_assert!(
                pods <= replicas + max_surge,
                "step {step}: {pods} pods > {replicas} + {max_surge}"
            );
            prop_assert!(
                available >= replicas - max_unavailable,
                "step {step}: {available} available < {replicas} - {max_unavailable}"
            );
            if use_recreate {
                prop_assert!(world.running_templates() <= 1, "step {step}: two templates run");
            }
        }
        prop_assert!(false, "never finished: {:?} {:?}", world.d.status, world.pods);
    }
}
