//! What the agent remembers about a pod between syncs: its uid, and for each of its
//! containers the current instance, restart count, crash-loop backoff, probes and the
//! instance before.
//!
//! An agent keeps one [`PodRecord`] for every pod it runs, so the record is laid out
//! for the common case, a running container that never restarted and has no probes:
//! its current status, its restart count and two empty pointers. What only restarts,
//! failures and removals need (the previous instance, the backoff, when it may start
//! again, a waiting reason) lives in one boxed [`ColdRecord`], made on first use. A
//! pod's uid (a UUID) and its container names (short DNS labels) are held inline
//! (`record/names.rs`), so a pod with one container costs its record and one
//! allocation.

use std::time::Duration;

use orchestra_core::ContainerId;
use orchestra_core::kinds::{Container, Pod, Probe};
use tokio::time::Instant;

use self::names::{ContainerName, PodUid};
use super::probes::{ProbeKind, ProbeTracker};
use super::status::{InstanceStatus, Waiting};
use crate::keys::{KeyRef, Keyed, KeyedSet, ObjectKey};

mod names;

/// An agent's records, by pod key. Each record is boxed with its key and the set's
/// slot is the box alone: an agent's few dozen records sit in a table of up to twice
/// as many slots, so a slot of a key and a pointer (a map's) would cost more than the
/// key kept once in the box.
#[derive(Default)]
pub(crate) struct PodRecords(KeyedSet<KeyedRecord>);

impl PodRecords {
    /// Takes out the record of pod `key`, for a sync.
    pub(crate) fn take(&mut self, key: &ObjectKey) -> Option<KeyedRecord> {
        self.0.take(key)
    }

    /// Puts a record (back) in, replacing one of the same key.
    pub(crate) fn put(&mut self, record: KeyedRecord) {
        self.0.replace(record);
    }

    /// The key a record holds for `key` (its strings shared, nothing allocated).
    pub(crate) fn held_key(&self, key: KeyRef<'_>) -> Option<ObjectKey> {
        self.0.held_key(key)
    }
}

/// A pod's record with its key, in one box.
pub(crate) struct KeyedRecord(Box<(ObjectKey, PodRecord)>);

impl KeyedRecord {
    pub(crate) fn new(key: ObjectKey, record: PodRecord) -> KeyedRecord {
        KeyedRecord(Box::new((key, record)))
    }

    pub(crate) fn key(&self) -> &ObjectKey {
        &self.0.0
    }

    pub(crate) fn record(&self) -> &PodRecord {
        &self.0.1
    }

    pub(crate) fn record_mut(&mut self) -> &mut PodRecord {
        &mut self.0.1
    }
}

impl Keyed for KeyedRecord {
    fn key(&self) -> &ObjectKey {
        KeyedRecord::key(self)
    }
}

/// What the agent remembers about one pod between syncs.
#[derive(Debug)]
pub(crate) struct PodRecord {
    uid: PodUid,
    pub(super) containers: ContainerRecords,
    pub(super) terminating: bool,
}

impl PodRecord {
    /// An empty record for the pod with uid `uid` and `containers` containers.
    pub(super) fn new(uid: &str, containers: usize) -> PodRecord {
        PodRecord {
            uid: PodUid::new(uid),
            containers: ContainerRecords::with_capacity(containers),
            terminating: false,
        }
    }

    /// Whether this is the record of `pod` (and not of an earlier pod of its name).
    pub(crate) fn is_of(&self, pod: &Pod) -> bool {
        pod.metadata
            .uid
            .as_deref()
            .is_some_and(|uid| self.uid.is(uid))
    }

    /// Every container instance the record knows.
    pub(crate) fn container_ids(&self) -> Vec<ContainerId> {
        self.containers
            .values()
            .flat_map(|c| {
                c.id()
                    .cloned()
                    .into_iter()
                    .chain(c.previous().map(|p| p.id.clone()))
            })
            .collect()
    }
}

/// The records of a pod's containers, by name, in the order they were first seen.
/// Most pods have one container, held inline; a pod has a handful at most, so a
/// vector beats a hash map for the others.
#[derive(Debug)]
pub(super) enum ContainerRecords {
    One((ContainerName, ContainerRecord)),
    Many(Vec<(ContainerName, ContainerRecord)>),
}

impl ContainerRecords {
    /// Room for `containers` records: a pod of several has its vector sized up front,
    /// as growing from empty would reserve room for four.
    fn with_capacity(containers: usize) -> ContainerRecords {
        match containers {
            0 | 1 => ContainerRecords::Many(Vec::new()),
            n => ContainerRecords::Many(Vec::with_capacity(n)),
        }
    }

    fn as_slice(&self) -> &[(ContainerName, ContainerRecord)] {
        match self {
            ContainerRecords::One(one) => std::slice::from_ref(one),
            ContainerRecords::Many(many) => many,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [(ContainerName, ContainerRecord)] {
        match self {
            ContainerRecords::One(one) => std::slice::from_mut(one),
            ContainerRecords::Many(many) => many,
        }
    }

    /// The record of container `name`, made empty if there is none.
    pub(super) fn entry(&mut self, name: &str) -> &mut ContainerRecord {
        let found = self.as_slice().iter().position(|(n, _)| n.is(name));
        let i = found.unwrap_or_else(|| {
            self.push((ContainerName::new(name), ContainerRecord::default()));
            self.as_slice().len() - 1
        });
        &mut self.as_mut_slice()[i].1
    }

    fn push(&mut self, record: (ContainerName, ContainerRecord)) {
        match self {
            ContainerRecords::Many(many) if many.capacity() == 0 => {
                *self = ContainerRecords::One(record);
            }
            ContainerRecords::Many(many) => many.push(record),
            ContainerRecords::One(_) => {
                let empty = ContainerRecords::Many(Vec::new());
                let ContainerRecords::One(first) = std::mem::replace(self, empty) else {
                    unreachable!("matched One");
                };
                *self = ContainerRecords::Many(vec![first, record]);
            }
        }
    }

    /// The record of container `name`, if there is one.
    pub(super) fn get(&self, name: &str) -> Option<&ContainerRecord> {
        self.as_slice()
            .iter()
            .find(|(n, _)| n.is(name))
            .map(|(_, c)| c)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.as_slice().iter().map(|(_, c)| c)
    }
}

/// What the agent remembers about one container of a pod.
///
/// The current instance's id is its status's id; only while a started instance's
/// status could not be read yet is it held apart (in the cold part).
#[derive(Debug, Default)]
pub(crate) struct ContainerRecord {
    /// The current instance's last known status.
    current: Option<InstanceStatus>,
    pub(super) restart_count: i32,
    /// The probes of the current instance while it runs; `None` when it has none.
    pub(super) probes: Option<Box<Probes>>,
    cold: Option<Box<ColdRecord>>,
}

/// The part of a container's record that only restarts, failures and removals need.
#[derive(Debug, Default)]
pub(crate) struct ColdRecord {
    /// The current instance's id while its status is unknown (`current` is `None`).
    unread_id: Option<ContainerId>,
    /// The instance before the current one, once it exited.
    pub(super) previous: Option<InstanceStatus>,
    /// The backoff before the last restart (None: never restarted since a reset).
    pub(super) backoff: Option<Duration>,
    /// Not before this instant may it start again.
    pub(super) next_start: Option<Instant>,
    /// The exited instance whose backoff was already counted.
    pub(super) counted_exit: Option<ContainerId>,
    /// Why it is not running, when it waits to start.
    pub(super) waiting: Option<Waiting>,
}

impl ContainerRecord {
    /// The current instance, if there is one.
    pub(super) fn id(&self) -> Option<&ContainerId> {
        match &self.current {
            Some(status) => Some(&status.id),
            None => self.cold.as_ref().and_then(|c| c.unread_id.as_ref()),
        }
    }

    /// The current instance's last known status.
    pub(super) fn current(&self) -> Option<&InstanceStatus> {
        self.current.as_ref()
    }

    /// The cold part, if anything was ever put there.
    pub(super) fn cold(&self) -> Option<&ColdRecord> {
        self.cold.as_deref()
    }

    /// The cold part, made on first use.
    pub(super) fn cold_mut(&mut self) -> &mut ColdRecord {
        self.cold.get_or_insert_default()
    }

    pub(super) fn previous(&self) -> Option<&InstanceStatus> {
        self.cold().and_then(|c| c.previous.as_ref())
    }

    pub(super) fn waiting(&self) -> Option<&Waiting> {
        self.cold().and_then(|c| c.waiting.as_ref())
    }

    pub(super) fn backoff(&self) -> Option<Duration> {
        self.cold().and_then(|c| c.backoff)
    }

    pub(super) fn next_start(&self) -> Option<Instant> {
        self.cold().and_then(|c| c.next_start)
    }

    /// Clears the waiting reason.
    pub(super) fn stop_waiting(&mut self) {
        if let Some(cold) = &mut self.cold {
            cold.waiting = None;
        }
    }

    /// A fresh status of the current instance (whose id it carries).
    pub(super) fn observe(&mut self, status: InstanceStatus) {
        self.current = Some(status);
        if let Some(cold) = &mut self.cold {
            cold.unread_id = None;
        }
    }

    /// The current instance is `id`, whose status is `status` if it could be read.
    pub(super) fn set_current(&mut self, id: ContainerId, status: Option<InstanceStatus>) {
        match status {
            Some(status) => self.observe(status),
            None => {
                self.current = None;
                self.cold_mut().unread_id = Some(id);
            }
        }
    }

    /// The current instance is gone from the runtime: its last known status becomes
    /// the previous instance (as a restart), and there is no current one.
    pub(super) fn lose_current(&mut self) {
        let last = self.current.take();
        if last.is_some() || self.cold.is_some() {
            let cold = self.cold_mut();
            cold.unread_id = None;
            cold.previous = last;
        }
    }

    /// Takes the current instance's status, to be replaced by a new instance.
    pub(super) fn take_current(&mut self) -> Option<InstanceStatus> {
        self.current.take()
    }

    /// Adopts an instance found in the runtime: the current one if there is none yet,
    /// else the previous one if it exited and there is none yet. Gives it back if it
    /// is neither (a stale instance).
    pub(super) fn adopt(
        &mut self,
        spec: &Container,
        status: InstanceStatus,
        attempt: u32,
    ) -> Result<(), InstanceStatus> {
        if self.current.is_none() {
            self.restart_count = i32::try_from(attempt).unwrap_or(i32::MAX);
            if status.is_running() {
                self.arm_probes(spec, Instant::now());
            }
            self.observe(status);
            Ok(())
        } else if self.previous().is_none() && status.exit().is_some() {
            self.cold_mut().previous = Some(status);
            Ok(())
        } else {
            Err(status)
        }
    }

    /// Sets up the probes of a newly started instance.
    pub(super) fn arm_probes(&mut self, spec: &Container, started: Instant) {
        let track = |kind, probe: &Option<Box<Probe>>| {
            probe
                .as_deref()
                .and_then(|p| ProbeTracker::new(kind, p, started))
        };
        let probes = Probes {
            startup: track(ProbeKind::Startup, &spec.startup_probe),
            liveness: track(ProbeKind::Liveness, &spec.liveness_probe),
            readiness: track(ProbeKind::Readiness, &spec.readiness_probe),
        };
        let any =
            probes.startup.is_some() || probes.liveness.is_some() || probes.readiness.is_some();
        self.probes = any.then(|| Box::new(probes));
    }

    pub(super) fn started(&self) -> bool {
        self.is_running() && self.probe_passing(|p| p.startup.as_ref())
    }

    pub(super) fn is_running(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(InstanceStatus::is_running)
    }

    pub(super) fn ready(&self) -> bool {
        self.started() && self.probe_passing(|p| p.readiness.as_ref())
    }

    /// Whether the probe `pick` chooses passes, or the container does not have it.
    fn probe_passing(&self, pick: impl FnOnce(&Probes) -> Option<&ProbeTracker>) -> bool {
        self.probes
            .as_deref()
            .and_then(pick)
            .is_none_or(ProbeTracker::is_passing)
    }
}

/// The probe trackers of one running container (at least one is set).
#[derive(Debug)]
pub(super) struct Probes {
    pub(super) startup: Option<ProbeTracker>,
    pub(super) liveness: Option<ProbeTracker>,
    pub(super) readiness: Option<ProbeTracker>,
}

impl Probes {
    pub(super) fn startup_pending(&self) -> bool {
        self.startup.as_ref().is_some_and(|s| !s.is_passing())
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::Time;

    use super::super::status::{InstanceExit, InstanceState};
    use super::*;

    fn status(id: &str, state: InstanceState) -> InstanceStatus {
        InstanceStatus {
            id: ContainerId(id.into()),
            state,
            started_at: Some(Time::UNIX_EPOCH),
            ip: None,
        }
    }

    fn exited() -> InstanceState {
        InstanceState::Exited(Box::new(InstanceExit {
            exit_code: 1,
            signal: None,
            reason: "Error".into(),
            message: None,
            finished_at: Some(Time::UNIX_EPOCH),
        }))
    }

    #[test]
    fn records_are_found_by_key_or_borrowed_parts() {
        let mut records = PodRecords::default();
        let web = ObjectKey::namespaced("default", "web");
        let mut record = KeyedRecord::new(web.clone(), PodRecord::new("uid-1", 1));
        record.record_mut().terminating = true;
        records.put(record);
        records.put(KeyedRecord::new(
            ObjectKey::cluster("web"),
            PodRecord::new("uid-2", 1),
        ));
        let held = records
            .held_key(KeyRef::new(Some("default"), "web"))
            .unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&held.name, &web.name),
            "the record's own key"
        );
        assert!(
            records
                .held_key(KeyRef::new(Some("other"), "web"))
                .is_none()
        );
        let taken = records.take(&web).unwrap();
        assert!(taken.record().terminating);
        assert!(records.take(&web).is_none(), "taken out");
        assert!(records.take(&ObjectKey::cluster("web")).is_some());
        records.put(taken);
        records.put(KeyedRecord::new(web.clone(), PodRecord::new("uid-3", 1)));
        let replaced = records.take(&web).unwrap();
        assert!(!replaced.record().terminating, "replaced");
        assert!(records.take(&web).is_none());
    }

    #[test]
    fn a_running_container_stays_small() {
        // Its status, restart count and two empty pointers.
        assert!(
            size_of::<ContainerRecord>() <= 96,
            "{}",
            size_of::<ContainerRecord>()
        );
        let mut c = ContainerRecord::default();
        c.set_current(
            ContainerId("c1".into()),
            Some(status("c1", InstanceState::Running)),
        );
        assert!(c.cold().is_none(), "nothing cold for a running container");
        assert_eq!(c.id(), Some(&ContainerId("c1".into())));
    }

    #[test]
    fn records_are_found_by_name_one_or_many() {
        let mut records = ContainerRecords::with_capacity(1);
        records.entry("main").restart_count = 1;
        assert!(matches!(records, ContainerRecords::One(_)));
        records.entry("main").restart_count += 1;
        records.entry("sidecar").restart_count = 7;
        records.entry("third").restart_count = 9;
        assert_eq!(records.get("main").map(|c| c.restart_count), Some(2));
        assert_eq!(records.get("sidecar").map(|c| c.restart_count), Some(7));
        assert_eq!(records.get("third").map(|c| c.restart_count), Some(9));
        assert!(records.get("fourth").is_none());
        assert_eq!(records.values().count(), 3);

        let mut sized = ContainerRecords::with_capacity(2);
        sized.entry("a");
        sized.entry("b");
        assert!(matches!(&sized, ContainerRecords::Many(v) if v.capacity() == 2));
    }

    /// The cold part keeps what restarts need, and the current id survives a status
    /// that could not be read.
    #[test]
    fn the_cold_part_keeps_backoff_and_instances() {
        let mut c = ContainerRecord::default();
        c.set_current(ContainerId("c1".into()), None);
        assert_eq!(
            c.id(),
            Some(&ContainerId("c1".into())),
            "unread, still known"
        );
        assert!(c.current().is_none());
        c.observe(status("c1", exited()));
        assert_eq!(c.cold().and_then(|k| k.unread_id.as_ref()), None);
        c.cold_mut().backoff = Some(Duration::from_secs(10));
        c.cold_mut().counted_exit = Some(ContainerId("c1".into()));
        c.cold_mut().waiting = Some(Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        });

        // A restart: the exited instance becomes the previous one.
        let done = c.take_current();
        c.cold_mut().previous = done;
        c.restart_count = 1;
        c.set_current(
            ContainerId("c2".into()),
            Some(status("c2", InstanceState::Running)),
        );
        c.stop_waiting();
        assert_eq!(c.id(), Some(&ContainerId("c2".into())));
        assert_eq!(c.previous().map(|p| p.id.0.as_str()), Some("c1"));
        assert_eq!(c.backoff(), Some(Duration::from_secs(10)), "kept");
        assert_eq!(c.restart_count, 1);
        assert!(c.waiting().is_none());

        // Removed behind the agent's back: the last status becomes the previous one.
        c.lose_current();
        assert_eq!(c.id(), None);
        assert_eq!(c.previous().map(|p| p.id.0.as_str()), Some("c2"));
        c.lose_current();
        assert!(c.previous().is_none(), "as the assignment it replaces did");
        assert_eq!(c.backoff(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn adoption_takes_the_latest_instance_then_one_exited_before() {
        let spec = Container::default();
        let mut c = ContainerRecord::default();
        assert!(
            c.adopt(&spec, status("c3", InstanceState::Running), 3)
                .is_ok()
        );
        assert!(c.adopt(&spec, status("c2", exited()), 2).is_ok());
        assert!(c.adopt(&spec, status("c1", exited()), 1).is_err(), "stale");
        assert_eq!(c.restart_count, 3);
        assert_eq!(c.id(), Some(&ContainerId("c3".into())));
        assert_eq!(c.previous().map(|p| p.id.0.as_str()), Some("c2"));
    }
}
