//! Stored values the registry will not serve — undecodable, or naming another object
//! than their key — and how it tells people about them: an error line in the log, the
//! `orchestra_registry_unreadable_objects_total` counter, and a Warning Event on the
//! object, once per stored revision. Lists and watches leave such a value out, so the
//! rest of its kind syncs and runs; a get of it is an internal error naming the key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::api::{ObjectBody, ObjectService, Target};
use crate::kinds::{Event, EventSource, ObjectReference};
use crate::meta::ObjectMeta;
use crate::resource::{ApiResource, Resource};
use crate::store::Revision;

use super::Registry;
use super::codec::Unreadable;

/// The component Events about unreadable objects come from.
const COMPONENT: &str = "orchestra-registry";
/// How many unreadable keys are remembered at most (beyond, the oldest are forgotten
/// and would be reported again).
const MAX_REMEMBERED: usize = 10_000;

/// A stored object the registry will not serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableObject {
    /// The kind, as `plural.group`.
    pub resource: String,
    /// The store key.
    pub key: String,
    /// The revision of the stored value.
    pub resource_version: Revision,
    /// What is wrong with it.
    pub reason: String,
}

/// The unreadable values seen, by key.
#[derive(Default)]
pub(super) struct Reports {
    /// How many keys are known unreadable: lets the hot path skip the lock.
    count: AtomicUsize,
    known: Mutex<HashMap<Vec<u8>, UnreadableObject>>,
}

impl Reports {
    /// `key` decoded fine: forget it if it was unreadable (it was repaired).
    pub(super) fn readable(&self, key: &[u8]) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut known = self.known.lock();
        if known.remove(key).is_some() {
            self.count.store(known.len(), Ordering::Relaxed);
        }
    }

    /// Records `object` at `key`; whether it is news (a key or revision not seen
    /// unreadable before).
    fn record(&self, key: &[u8], object: UnreadableObject) -> bool {
        let mut known = self.known.lock();
        if known
            .get(key)
            .is_some_and(|k| k.resource_version == object.resource_version)
        {
            return false;
        }
        if known.len() >= MAX_REMEMBERED {
            known.clear();
        }
        known.insert(key.to_vec(), object);
        self.count.store(known.len(), Ordering::Relaxed);
        true
    }

    /// A whole, current listing of `prefix` found exactly `still` unreadable under it:
    /// forgets the others (repaired or deleted since).
    pub(super) fn listed(&self, prefix: &[u8], still: &[bytes::Bytes]) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut known = self.known.lock();
        known.retain(|key, _| !key.starts_with(prefix) || still.iter().any(|s| s == key));
        self.count.store(known.len(), Ordering::Relaxed);
    }

    pub(super) fn current(&self) -> Vec<UnreadableObject> {
        let mut all: Vec<_> = self.known.lock().values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }
}

impl Registry {
    /// Reports a value that cannot be served, once per key and revision.
    pub(super) fn report_unreadable(&self, resource: &ApiResource, unreadable: &Unreadable) {
        let object = UnreadableObject {
            resource: resource.group_resource().to_string(),
            key: unreadable.key.clone(),
            resource_version: unreadable.revision,
            reason: unreadable.reason.clone(),
        };
        if !self
            .shared
            .unreadable
            .record(unreadable.key.as_bytes(), object)
        {
            return;
        }
        tracing::error!(
            key = %unreadable.key,
            resource_version = unreadable.revision,
            reason = %unreadable.reason,
            "a stored object cannot be served; it is left out of lists and watches until it is repaired or deleted"
        );
        metrics::counter!(
            "orchestra_registry_unreadable_objects_total",
            "resource" => resource.group_resource().to_string()
        )
        .increment(1);
        if resource.is_of::<Event>() {
            // An Event about an unreadable Event could go round forever.
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let event = warning_event(resource, unreadable, self.clock().now());
        let registry = self.clone();
        handle.spawn(async move {
            let events = Event::api_resource();
            let namespace = event.metadata.namespace.clone();
            let target = Target::new(&events, namespace.as_deref());
            match registry.create(target, ObjectBody::from_object(event)).await {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => tracing::warn!(error = %e, "could not record an Event about an unreadable object"),
            }
        });
    }
}

/// The Warning Event that tells of `unreadable`, named after the object and the
/// revision so that reporting it again (after a restart) finds it already there.
fn warning_event(resource: &ApiResource, unreadable: &Unreadable, now: crate::time::Time) -> Event {
    let namespace = unreadable
        .namespace
        .clone()
        .filter(|ns| crate::validation::validate_dns1123_label(ns).is_ok())
        .unwrap_or_else(|| "default".to_owned());
    let name = format!("{}.unreadable-{}", unreadable.name, unreadable.revision);
    let name = if crate::validation::validate_dns1123_subdomain(&name).is_ok() {
        name
    } else {
        format!("unreadable-object-{}", unreadable.revision)
    };
    Event {
        metadata: ObjectMeta::namespaced(namespace, name),
        involved_object: ObjectReference {
            api_version: Some(resource.api_version()),
            kind: Some(resource.kind().to_owned()),
            namespace: unreadable.namespace.clone(),
            name: Some(unreadable.name.clone()),
            ..Default::default()
        },
        reason: Some("UnreadableObject".to_owned()),
        message: Some(format!(
            "{unreadable}; it is left out of lists and watches until it is repaired or deleted"
        )),
        type_: Some("Warning".to_owned()),
        count: Some(1),
        first_timestamp: Some(now),
        last_timestamp: Some(now),
        source: Some(EventSource {
            component: Some(COMPONENT.to_owned()),
            host: None,
        }),
        ..Default::default()
    }
}
