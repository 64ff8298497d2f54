//! One scheduling cycle as a pure function: given a pod, the snapshot and a profile,
//! which node (or why none)? No tasks, no store, no clock — the scheduling loop calls
//! it and does the I/O.
//!
//! Like Kubernetes, it does not look at every node of a large cluster: it stops
//! filtering once it has found [`num_feasible_nodes_to_find`] feasible nodes, starting
//! each cycle where the previous one stopped so every node gets its turn. Filtering
//! runs on several threads only when a cycle has to scan many nodes (a pod that fits
//! almost nowhere); for the common case one thread is faster than the hand-off.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

use super::framework::{
    CycleState, FilterPlugin, PostFilterResult, PreFilterResult, PreScoreResult, Profile, Unfit,
};
use super::pod_info::PodInfo;
use super::snapshot::Snapshot;

/// Below this many nodes every node is filtered (Kubernetes' minFeasibleNodesToFind).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;

/// Settings of the scheduling cycle.
#[derive(Clone, Debug)]
pub struct AlgorithmConfig {
    /// `None`: adapt to the cluster's size.
    pub(crate) percentage_of_nodes_to_score: Option<u32>,
    pub(crate) parallelism: usize,
    pub(crate) parallel_threshold: usize,
}

impl Default for AlgorithmConfig {
    fn default() -> Self {
        AlgorithmConfig {
            percentage_of_nodes_to_score: None,
            parallelism: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4),
            parallel_threshold: 2_000,
        }
    }
}

impl AlgorithmConfig {
    /// Score after finding this percentage of nodes feasible (1–100). By default the
    /// share adapts to the cluster's size as Kubernetes' does (50% − nodes/125, at
    /// least 5%).
    #[must_use]
    pub fn percentage_of_nodes_to_score(mut self, percent: u32) -> Self {
        self.percentage_of_nodes_to_score = Some(percent.clamp(1, 100));
        self
    }

    /// Filter on up to this many threads (1: never in parallel), once a cycle has
    /// scanned [`parallel_threshold`](Self::parallel_threshold) nodes without finding
    /// enough feasible ones. Default: the machine's parallelism, at most 4.
    #[must_use]
    pub fn parallelism(mut self, threads: usize) -> Self {
        self.parallelism = threads.max(1);
        self
    }

    /// Scan this many nodes on one thread before filtering the rest in parallel.
    /// Default 2,000: starting threads costs more than filtering a few hundred nodes,
    /// so only pods that fit almost nowhere pay for it.
    #[must_use]
    pub fn parallel_threshold(mut self, nodes: usize) -> Self {
        self.parallel_threshold = nodes;
        self
    }
}

/// How many feasible nodes a cycle looks for among `num_all_nodes` before scoring.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let percent = match percentage {
        Some(p) => p as usize,
        None => 50usize.saturating_sub(num_all_nodes / 125).max(5),
    };
    if percent >= 100 {
        return num_all_nodes;
    }
    (num_all_nodes * percent / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Where a cycle placed the pod.
#[derive(Debug)]
pub struct ScheduleResult {
    /// The chosen node's index in the snapshot.
    pub node_index: usize,
    /// The chosen node's name.
    pub node_name: Arc<str>,
    /// How many nodes were filtered.
    pub evaluated: usize,
    /// How many of them were feasible.
    pub feasible: usize,
    /// The cycle's state, for Reserve/Unreserve.
    pub state: CycleState,
}

/// Why no node could take the pod, counted per reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    /// How many nodes the snapshot had.
    pub num_all_nodes: usize,
    /// How many nodes failed for each reason (a node may count under several).
    pub reasons: BTreeMap<String, usize>,
    /// Per-node verdicts, by node name (for PostFilter plugins).
    pub unfit_nodes: BTreeMap<String, Unfit>,
    /// The node a PostFilter plugin made room on, if one did: the pod is tried again
    /// after a backoff rather than parked as unschedulable.
    pub nominated: Option<String>,
}

impl fmt::Display for FitError {
    /// Kubernetes' message: `0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had
    /// untolerated taint {dedicated: gpu}` (most common reason first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available", self.num_all_nodes)?;
        if self.num_all_nodes == 0 {
            return f.write_str(": no nodes registered");
        }
        let mut reasons: Vec<(&String, &usize)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        for (i, (reason, count)) in reasons.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(f, "{count} {reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

/// Keeps the rotating start of the node scan between cycles.
#[derive(Debug, Default)]
pub struct ScanCursor {
    pub(crate) next_start: usize,
}

/// Lets the profile's PostFilter plugins, in order, try to make room for a pod no node
/// took, with the cycle's own state (what their PreFilter stored); the first that
/// nominates a node ends the round.
fn post_filter(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    mut error: FitError,
) -> FitError {
    for plugin in &profile.post_filter {
        if let PostFilterResult::Nominated(node) =
            plugin.post_filter(state, pod, snapshot, &error.unfit_nodes)
        {
            tracing::info!(%node, plugin = plugin.name(), "room made by post-filter");
            error.nominated = Some(node);
            break;
        }
    }
    error
}

/// Runs one scheduling cycle for `pod`.
pub fn schedule_pod(
    profile: &Profile,
    config: &AlgorithmConfig,
    pod: &PodInfo,
    snapshot: &Snapshot,
    cursor: &mut ScanCursor,
    rng: &mut impl Rng,
) -> Result<ScheduleResult, FitError> {
    let mut state = CycleState::new();
    let all = snapshot.len();
    let fit_error = |reasons: Vec<(usize, Unfit)>| {
        let mut error = FitError {
            num_all_nodes: all,
            reasons: BTreeMap::new(),
            unfit_nodes: BTreeMap::new(),
            nominated: None,
        };
        for (index, unfit) in reasons {
            for reason in unfit.reasons() {
                *error.reasons.entry(reason.to_string()).or_default() += 1;
            }
            error
                .unfit_nodes
                .insert(snapshot.node(index).name().to_owned(), unfit);
        }
        error
    };

    // PreFilter: narrow the candidates, skip filters with nothing to do, or reject the
    // pod for every node at once.
    let mut only: Option<Vec<usize>> = None;
    let mut skipped: Vec<&'static str> = Vec::new();
    for plugin in &profile.pre_filter {
        match plugin.pre_filter(&mut state, pod, snapshot) {
            Ok(PreFilterResult::AllNodes) => {}
            Ok(PreFilterResult::Skip) => skipped.push(plugin.name()),
            Ok(PreFilterResult::Only(names)) => {
                let indexes: Vec<usize> =
                    names.iter().filter_map(|n| snapshot.index_of(n)).collect();
                only = Some(match only {
                    None => indexes,
                    Some(prev) => prev.into_iter().filter(|i| indexes.contains(i)).collect(),
                });
            }
            Err(unfit) => {
                let error = fit_error((0..all).map(|i| (i, unfit.clone())).collect());
                return Err(post_filter(profile, &state, pod, snapshot, error));
            }
        }
    }

    // Filter, from the rotating start, until enough feasible nodes are found.
    let candidates = only.as_ref().map_or(all, Vec::len);
    let to_find = num_feasible_nodes_to_find(config.percentage_of_nodes_to_score, candidates);
    let start = if only.is_some() || candidates == 0 {
        0
    } else {
        cursor.next_start % candidates
    };
    let node_at = |i: usize| match &only {
        Some(list) => list[i],
        // Wrap by subtraction: a division per node would cost more than a filter.
        None if start + i >= candidates => start + i - candidates,
        None => start + i,
    };
    let filters: Vec<&dyn FilterPlugin> = profile
        .filter
        .iter()
        .filter(|p| !skipped.contains(&p.name()))
        .map(|p| &**p)
        .collect();
    let scan = Scan {
        filters: &filters,
        state: &state,
        pod,
        snapshot,
        node_at: &node_at,
        to_find,
    };
    let (feasible, unfit, processed) =
        scan.run(candidates, config.parallel_threshold, config.parallelism);
    if only.is_none() && candidates > 0 {
        cursor.next_start = (start + processed) % candidates;
    }
    if feasible.is_empty() {
        let mut error = fit_error(unfit);
        if let Some(list) = &only {
            // Nodes outside the PreFilter's choice count as failing it.
            let outside = all - list.len();
            if outside > 0 {
                *error
                    .reasons
                    .entry("node(s) didn't match the requested node name".to_owned())
                    .or_default() += outside;
            }
        }
        return Err(post_filter(profile, &state, pod, snapshot, error));
    }

    // Score the feasible nodes and take the best (ties broken at random).
    let chosen = if feasible.len() == 1 {
        feasible[0]
    } else {
        let infos: Vec<_> = feasible.iter().map(|&i| snapshot.node(i)).collect();
        let mut skipped: Vec<&'static str> = Vec::new();
        for plugin in &profile.pre_score {
            if plugin.pre_score(&mut state, pod, &infos, snapshot) == PreScoreResult::Skip {
                skipped.push(plugin.name());
            }
        }
        let mut total = vec![0i64; infos.len()];
        let mut scores = vec![0i64; infos.len()];
        for (plugin, weight) in &profile.score {
            if skipped.contains(&plugin.name()) {
                continue;
            }
            for (s, node) in scores.iter_mut().zip(&infos) {
                *s = plugin.score(&state, pod, node);
            }
            plugin.normalize(&state, pod, &mut scores);
            for (t, s) in total.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        pick_best(&feasible, &total, rng)
    };
    Ok(ScheduleResult {
        node_index: chosen,
        node_name: snapshot.node(chosen).name_arc().clone(),
        evaluated: processed,
        feasible: feasible.len(),
        state,
    })
}

/// The node with the highest total; among equals, each is equally likely.
fn pick_best(feasible: &[usize], total: &[i64], rng: &mut impl Rng) -> usize {
    let Some(&max) = total.iter().max() else {
        return feasible[0];
    };
    let ties = total.iter().filter(|&&t| t == max).count();
    let pick = rng.random_range(0..ties);
    let best = total
        .iter()
        .enumerate()
        .filter(|&(_, &t)| t == max)
        .nth(pick)
        .map_or(0, |(i, _)| i);
    feasible[best]
}

/// The filter phase of one cycle.
struct Scan<'a, F: Fn(usize) -> usize + Sync> {
    filters: &'a [&'a dyn FilterPlugin],
    state: &'a CycleState,
    pod: &'a PodInfo,
    snapshot: &'a Snapshot,
    node_at: &'a F,
    to_find: usize,
}

type ScanOutcome = (Vec<usize>, Vec<(usize, Unfit)>, usize);

impl<F: Fn(usize) -> usize + Sync> Scan<'_, F> {
    /// Filters positions `0..candidates`: the first `sequential` on this thread, and
    /// only if those did not yield enough feasible nodes, the rest on `threads`
    /// threads. Returns the feasible node indexes (at most `to_find`, in scan order),
    /// the unfit ones with their reasons, and how many positions were processed.
    fn run(&self, candidates: usize, sequential: usize, threads: usize) -> ScanOutcome {
        let found = AtomicUsize::new(0);
        let first = if threads <= 1 {
            candidates
        } else {
            sequential.min(candidates)
        };
        let (mut feasible, mut unfit, mut processed) = self.range(0, first, &found);
        let rest = candidates - first;
        if feasible.len() >= self.to_find || rest == 0 {
            return (feasible, unfit, processed);
        }
        // A pod that fits almost nowhere: scan the rest of the cluster in parallel.
        let chunk = rest.div_ceil(threads);
        let parts: Vec<ScanOutcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let from = first + t * chunk;
                    let to = (from + chunk).min(candidates);
                    let found = &found;
                    scope.spawn(move || self.range(from, to, found))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a filter plugin panicked"))
                .collect()
        });
        for (t, (f, u, p)) in parts.into_iter().enumerate() {
            if feasible.len() < self.to_find && p > 0 {
                // Positions up to the end of the last chunk that contributed count as
                // processed, so the next cycle starts after them.
                processed = first + t * chunk + p;
            }
            feasible.extend(f);
            unfit.extend(u);
        }
        feasible.truncate(self.to_find);
        (feasible, unfit, processed)
    }

    fn range(&self, from: usize, to: usize, found: &AtomicUsize) -> ScanOutcome {
        let mut feasible = Vec::new();
        let mut unfit = Vec::new();
        let mut processed = 0;
        for pos in from..to {
            if found.load(Ordering::Relaxed) >= self.to_find {
                break;
            }
            processed += 1;
            let index = (self.node_at)(pos);
            let node = self.snapshot.node(index);
            let verdict = self
                .filters
                .iter()
                .try_for_each(|p| p.filter(self.state, self.pod, node));
            match verdict {
                Ok(()) => {
                    feasible.push(index);
                    found.fetch_add(1, Ordering::Relaxed);
                }
                Err(u) => unfit.push((index, u)),
            }
        }
        (feasible, unfit, processed)
    }
}

#[cfg(test)]
mod tests;
