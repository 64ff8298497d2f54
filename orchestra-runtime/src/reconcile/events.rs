//! Recording [`Event`]s about objects, for people (`kubectl describe`'s "Events").
//!
//! Repeats are folded as Kubernetes' event correlator does: the same reason and message
//! about the same object bump one Event's `count` and `lastTimestamp` instead of piling
//! up new Events. The Event's name is derived from the object, reason and message, so
//! folding needs no local state and works across restarts and replicas.

use orchestra_core::kinds::{Event, EventSource, ObjectReference};
use orchestra_core::{Api, ApiError, Client, ObjectMeta, Resource};

use crate::stable_hash::stable_hash;

/// Whether an event is routine or a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong (`FailedScheduling`, `BackOff`).
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Writes Events on behalf of one component (`default-scheduler`, `node-agent`).
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
    host: Option<String>,
}

impl EventRecorder {
    /// A recorder writing as `component`.
    pub fn new(client: Client, component: impl Into<String>) -> EventRecorder {
        EventRecorder {
            client,
            component: component.into(),
            host: None,
        }
    }

    /// Names the host the component runs on (a node agent's node).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Records that `reason` happened to `obj`; a repeat of the same reason and message
    /// counts up the existing Event.
    pub async fn record<K: Resource>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let meta = obj.meta();
        let namespace = meta.namespace.as_deref().unwrap_or("default");
        let object_name = meta.name.as_deref().unwrap_or_default();
        let uid = meta.uid.as_deref().unwrap_or_default();
        let identity = [K::KIND, uid, reason, message, &self.component]
            .iter()
            .fold(Vec::new(), |mut bytes, part| {
                // A separator no UTF-8 text holds, so parts cannot run into each other.
                bytes.extend_from_slice(part.as_bytes());
                bytes.push(0xff);
                bytes
            });
        let name = format!("{object_name}.{:016x}", stable_hash(&[&identity]));
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let now = self.client.clock().now();
        let event = Event {
            metadata: ObjectMeta::namespaced(namespace, &name),
            involved_object: ObjectReference {
                api_version: Some(K::API_VERSION.to_owned()),
                kind: Some(K::KIND.to_owned()),
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
                uid: meta.uid.clone(),
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(type_.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            reporting_component: Some(self.component.clone()),
        };
        match events.create(&event).await {
            Ok(_) => Ok(()),
            Err(ApiError::AlreadyExists { .. }) => events
                .update_with(&name, |e| {
                    e.count = Some(e.count.unwrap_or(1) + 1);
                    e.last_timestamp = Some(now);
                })
                .await
                .map(drop),
            Err(e) => Err(e),
        }
    }
}
