//! The scheduling framework: the extension points a scheduling cycle runs, each a small
//! trait, and the [`Profile`] that chooses which plugins run at each and how scores
//! weigh.
//!
//! One cycle for one pod, in order (Kubernetes' scheduling framework):
//! **PreFilter** (once per pod: precompute, or reject, or narrow the candidate nodes) →
//! **Filter** (per node: can the pod run there?) → if no node passes, **PostFilter**
//! (make room, e.g. preemption) → **PreScore** (once, over the feasible nodes) →
//! **Score** (per feasible node) → **NormalizeScore** (per plugin, into 0–100) → the
//! highest weighted sum wins → **Reserve** (claim the node; **Unreserve** undoes it
//! if a later step fails) → **Bind** (write the placement, off the scheduling loop).
//!
//! A plugin is a type implementing the traits of the points it extends; register it in
//! a profile at each of them. Plugins keep per-cycle data in the [`CycleState`].

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use orchestra_core::ApiError;
use orchestra_core::kinds::Pod;

use super::node_info::NodeInfo;
use super::pod_info::PodInfo;
use super::snapshot::Snapshot;

/// The highest score a plugin gives a node after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Why a node cannot take the pod: one or more short reasons in Kubernetes' words
/// (`Insufficient cpu`, `node(s) had untolerated taint {dedicated: gpu}`), counted
/// per reason in the pod's `PodScheduled` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfit {
    reasons: Vec<Cow<'static, str>>,
}

impl Unfit {
    /// A node is unfit for one reason.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Unfit {
        Unfit {
            reasons: vec![reason.into()],
        }
    }

    /// A node is unfit for several reasons at once.
    pub fn with_reasons(reasons: Vec<Cow<'static, str>>) -> Unfit {
        Unfit { reasons }
    }

    /// The reasons.
    pub fn reasons(&self) -> &[Cow<'static, str>] {
        &self.reasons
    }
}

/// Why a plugin could not do what its extension point asked of it (a Reserve plugin
/// that could not claim what the pod needs, say): which plugin, what it says went
/// wrong, and the cause, if there is one.
///
/// The message names the plugin (`VolumeBinding: no volume left in zone a`); a cause
/// stays out of it and is the error's [`source`](std::error::Error::source), so a log
/// line that prints the chain prints each cause once.
///
/// ```
/// use orchestra_runtime::scheduler::PluginError;
///
/// let refused = PluginError::new("VolumeBinding", "no volume left in zone a");
/// assert_eq!(refused.to_string(), "VolumeBinding: no volume left in zone a");
///
/// let io = std::io::Error::other("quota service unreachable");
/// let failed = PluginError::with_source("Quota", "could not claim the quota", io);
/// assert_eq!(failed.to_string(), "Quota: could not claim the quota");
/// assert!(std::error::Error::source(&failed).is_some());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{plugin}: {message}")]
pub struct PluginError {
    plugin: &'static str,
    message: Cow<'static, str>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PluginError {
    /// Plugin `plugin` (its [`Plugin::name`]) failed, for the reason `message`.
    pub fn new(plugin: &'static str, message: impl Into<Cow<'static, str>>) -> PluginError {
        PluginError {
            plugin,
            message: message.into(),
            source: None,
        }
    }

    /// Plugin `plugin` failed, saying `message`, because of `source`.
    pub fn with_source(
        plugin: &'static str,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> PluginError {
        PluginError {
            plugin,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The name of the plugin that failed.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// What the plugin said went wrong (without the cause).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Per-cycle storage the plugins share: what a PreFilter computes, its Filter reads.
///
/// Values are keyed by their type, so each plugin stores its own private type. Lookups
/// compare type ids over a handful of entries: filters read it once per node, so it
/// must cost next to nothing.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(TypeId, Box<dyn Any + Send + Sync>)>,
}

impl CycleState {
    /// An empty state.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores `value`, replacing an earlier value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        match self.data.iter_mut().find(|(t, _)| *t == id) {
            Some(slot) => slot.1 = Box::new(value),
            None => self.data.push((id, Box::new(value))),
        }
    }

    /// The value of type `T`, if one was stored this cycle.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.data
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref())
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field("entries", &self.data.len())
            .finish()
    }
}

/// What a PreFilter plugin decides before any node is looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PreFilterResult {
    /// Every node is a candidate.
    #[default]
    AllNodes,
    /// Only these nodes (by name) can possibly fit (e.g. `spec.nodeName` is set).
    Only(Vec<String>),
    /// This pod asks nothing of this plugin (no node selector, no constraints): its
    /// Filter of the same name is skipped for this cycle, as Kubernetes' `Skip`.
    Skip,
}

/// What a PreScore plugin decides before the nodes are scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreScoreResult {
    /// Score the nodes.
    #[default]
    Score,
    /// Every node would score the same for this pod: the plugin's Score of the same
    /// name is skipped for this cycle.
    Skip,
}

/// Every plugin has a name, used in its messages and metrics.
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name (`NodeResourcesFit`).
    fn name(&self) -> &'static str;
}

/// Runs once per pod before filtering.
pub trait PreFilterPlugin: Plugin {
    /// Precomputes into `state`, narrows the candidates, or rejects the pod outright
    /// (`Err`: no node can fit, for this reason).
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Unfit>;
}

/// Decides whether the pod can run on one node. Must be cheap and must not allocate
/// on success: it runs for hundreds of nodes per pod.
pub trait FilterPlugin: Plugin {
    /// `Ok` when the pod fits `node` as far as this plugin is concerned.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit>;
}

/// What a PostFilter plugin did about a pod no node could take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostFilterResult {
    /// It made room on this node (say, by preempting lower-priority pods); the pod
    /// will be retried and should fit there.
    Nominated(String),
    /// It could not help.
    NotHelped,
}

/// Runs when no node passed the filters: the place for preemption. The reference
/// profile registers none.
pub trait PostFilterPlugin: Plugin {
    /// Tries to make the pod schedulable; `unfit` says why each node refused.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        unfit: &BTreeMap<String, Unfit>,
    ) -> PostFilterResult;
}

/// Runs once per pod over the feasible nodes, before scoring them.
pub trait PreScorePlugin: Plugin {
    /// Precomputes into `state` what scoring needs, or says scoring has nothing to
    /// tell the nodes apart by.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> PreScoreResult;
}

/// Ranks feasible nodes: higher is better.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// Maps this plugin's raw scores, one per feasible node in order, into
    /// `0..=MAX_NODE_SCORE`. The default clamps, for plugins already on that scale.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) {
        for s in scores {
            *s = (*s).clamp(0, MAX_NODE_SCORE);
        }
    }
}

/// Claims resources on the chosen node before binding, and gives them back when a
/// later step fails.
pub trait ReservePlugin: Plugin {
    /// Claims; an error aborts this attempt: every Reserve plugin that ran for it,
    /// this one included, is unreserved, and the pod is retried after a backoff.
    fn reserve(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Result<(), PluginError>;

    /// Undoes [`reserve`](ReservePlugin::reserve); must be idempotent.
    fn unreserve(&self, state: &CycleState, pod: &PodInfo, node: &str);
}

/// Writes the placement. Runs on its own task, off the scheduling loop.
#[async_trait]
pub trait BindPlugin: Plugin {
    /// Binds `pod` to `node`. A pod must never end up bound twice.
    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), ApiError>;
}

/// Which plugins run at each extension point, and how much each score weighs.
#[derive(Clone)]
pub struct Profile {
    pub(crate) scheduler_name: String,
    pub(crate) pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    pub(crate) filter: Vec<Arc<dyn FilterPlugin>>,
    pub(crate) post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    pub(crate) pre_score: Vec<Arc<dyn PreScorePlugin>>,
    pub(crate) score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    pub(crate) reserve: Vec<Arc<dyn ReservePlugin>>,
    pub(crate) bind: Option<Arc<dyn BindPlugin>>,
}

impl Profile {
    /// An empty profile for pods naming `scheduler_name`: every node fits, all score
    /// alike. Add plugins with the builder methods; a profile needs a bind plugin
    /// before it can run (the reference scheduler supplies `DefaultBinder` when none
    /// is set).
    pub fn empty(scheduler_name: impl Into<String>) -> Profile {
        Profile {
            scheduler_name: scheduler_name.into(),
            pre_filter: Vec::new(),
            filter: Vec::new(),
            post_filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            reserve: Vec::new(),
            bind: None,
        }
    }

    /// The Filter plugins, in the order they run.
    pub fn filters(&self) -> &[Arc<dyn FilterPlugin>] {
        &self.filter
    }

    /// The scheduler name this profile serves.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler_name
    }

    /// Adds a PreFilter plugin.
    #[must_use]
    pub fn pre_filter(mut self, plugin: Arc<dyn PreFilterPlugin>) -> Self {
        self.pre_filter.push(plugin);
        self
    }

    /// Adds a Filter plugin.
    #[must_use]
    pub fn filter(mut self, plugin: Arc<dyn FilterPlugin>) -> Self {
        self.filter.push(plugin);
        self
    }

    /// Adds a PostFilter plugin.
    #[must_use]
    pub fn post_filter(mut self, plugin: Arc<dyn PostFilterPlugin>) -> Self {
        self.post_filter.push(plugin);
        self
    }

    /// Adds a PreScore plugin.
    #[must_use]
    pub fn pre_score(mut self, plugin: Arc<dyn PreScorePlugin>) -> Self {
        self.pre_score.push(plugin);
        self
    }

    /// Adds a Score plugin with its weight (Kubernetes' default weight is 1).
    #[must_use]
    pub fn score(mut self, plugin: Arc<dyn ScorePlugin>, weight: i64) -> Self {
        self.score.push((plugin, weight));
        self
    }

    /// Adds a Reserve plugin.
    #[must_use]
    pub fn reserve(mut self, plugin: Arc<dyn ReservePlugin>) -> Self {
        self.reserve.push(plugin);
        self
    }

    /// Sets the Bind plugin (one per profile).
    #[must_use]
    pub fn bind(mut self, plugin: Arc<dyn BindPlugin>) -> Self {
        self.bind = Some(plugin);
        self
    }

    /// Removes every plugin named `name` from every extension point (to drop one
    /// default plugin, say).
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.pre_filter.retain(|p| p.name() != name);
        self.filter.retain(|p| p.name() != name);
        self.post_filter.retain(|p| p.name() != name);
        self.pre_score.retain(|p| p.name() != name);
        self.score.retain(|(p, _)| p.name() != name);
        self.reserve.retain(|p| p.name() != name);
        self
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: Vec<&'static str>| v.join(",");
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "filter",
                &names(self.filter.iter().map(|p| p.name()).collect()),
            )
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(p, w)| format!("{}*{w}", p.name()))
                    .collect::<Vec<_>>(),
            )
            .field("bind", &self.bind.as_ref().map(|p| p.name()))
            .finish()
    }
}
