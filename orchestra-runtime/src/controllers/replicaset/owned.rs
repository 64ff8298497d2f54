//! What the pod cache keeps counted for each controller: its pods by label set, and
//! how many of them are active, ready and available — so a ReplicaSet of 100,000 pods
//! learns where it stands without visiting them.

use orchestra_core::StringMap;
use orchestra_core::kinds::Pod;

use crate::controllers::pod_helpers::is_active;
use crate::reconcile::Tally;

/// Counts of the pods that share one label set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelGroup {
    /// The labels these pods carry.
    pub labels: StringMap,
    /// Every pod with these labels, finished or not.
    pub pods: u32,
    /// Pods neither finished nor being deleted.
    pub active: u32,
    /// Active pods whose Ready condition is True.
    pub ready: u32,
    /// Active ready pods that say since when (available at `minReadySeconds` 0).
    pub ready_since_known: u32,
}

/// The pods whose controller (the owner reference with `controller: true`) has one
/// uid, grouped by label set. Pods of one ReplicaSet usually share one label set, so
/// this is a handful of numbers however many pods there are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlledPods {
    /// One entry per distinct label set.
    pub groups: Vec<LabelGroup>,
}

impl ControlledPods {
    fn group_mut(&mut self, labels: &StringMap) -> Option<&mut LabelGroup> {
        self.groups.iter_mut().find(|g| &g.labels == labels)
    }

    fn count(group: &mut LabelGroup, pod: &Pod, add: bool) {
        let step = |n: &mut u32, on: bool| {
            if on {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        let active = is_active(pod);
        let ready = active && pod.is_ready();
        step(&mut group.pods, true);
        step(&mut group.active, active);
        step(&mut group.ready, ready);
        step(
            &mut group.ready_since_known,
            ready && pod.ready_since().is_some(),
        );
    }
}

impl Tally<Pod> for ControlledPods {
    fn group(pod: &Pod) -> Option<&str> {
        pod.metadata.controller_ref().map(|r| r.uid.as_str())
    }

    fn add(&mut self, pod: &Pod) {
        let labels = &pod.metadata.labels;
        if self.group_mut(labels).is_none() {
            self.groups.push(LabelGroup {
                labels: labels.clone(),
                ..LabelGroup::default()
            });
        }
        let group = self.group_mut(labels).expect("just made sure it exists");
        Self::count(group, pod, true);
    }

    fn remove(&mut self, pod: &Pod) {
        if let Some(group) = self.group_mut(&pod.metadata.labels) {
            Self::count(group, pod, false);
        }
        self.groups.retain(|g| g.pods > 0);
    }

    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}
