//! What a watch must show: the writes a case made, recorded as the events they must
//! produce, and the bounded waits that read a watch stream and compare.
//!
//! A deletion does not return its own revision, so a recorded deletion carries bounds
//! instead: above the deleted state's `mod_revision`, and at most the `current_revision`
//! read right after it.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use orchestra_core::{KeyValue, Revision, Store, WatchEvent, WatchStream};

use super::{CaseResult, Step, WATCH_WAIT, ensure, ensure_eq, show, value};

/// The event one recorded write must produce.
#[derive(Clone, Debug)]
pub(super) enum Expected {
    /// A create or update: the event is `Put` with exactly this key-value.
    Put(KeyValue),
    /// A deletion of `prev`, at a revision in `(prev.mod_revision, at_most]`.
    Delete {
        /// The state the deletion returned.
        prev: KeyValue,
        /// `current_revision` read right after the deletion.
        at_most: Revision,
    },
}

impl Expected {
    pub(super) fn key(&self) -> &Bytes {
        match self {
            Expected::Put(kv) => &kv.key,
            Expected::Delete { prev, .. } => &prev.key,
        }
    }

    /// Whether `event` is the one this write must produce.
    pub(super) fn matches(&self, event: &WatchEvent) -> bool {
        match (self, event) {
            (Expected::Put(want), WatchEvent::Put { kv }) => kv == want,
            (
                Expected::Delete {
                    prev: want,
                    at_most,
                },
                WatchEvent::Delete { prev, revision },
            ) => prev == want && *revision > want.mod_revision && revision <= at_most,
            _ => false,
        }
    }
}

/// Makes writes through a store and records the events they must produce.
pub(super) struct Recorder {
    store: Arc<dyn Store>,
    /// The events, in the order the writes returned.
    pub(super) expected: Vec<Expected>,
    /// The current state of every key written through this recorder.
    live: HashMap<Bytes, KeyValue>,
}

impl Recorder {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Recorder {
            store,
            expected: Vec::new(),
            live: HashMap::new(),
        }
    }

    pub(super) async fn create(&mut self, key: &Bytes, v: &str) -> Result<KeyValue, String> {
        let kv = self
            .store
            .create(key, value(v))
            .await
            .step(&format!("create {}", show(key)))?;
        self.expected.push(Expected::Put(kv.clone()));
        self.live.insert(kv.key.clone(), kv.clone());
        Ok(kv)
    }

    pub(super) async fn update(
        &mut self,
        key: &Bytes,
        v: &str,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, String> {
        let kv = self
            .store
            .update(key, value(v), expected_mod_revision)
            .await
            .step(&format!("update {}", show(key)))?;
        self.expected.push(Expected::Put(kv.clone()));
        self.live.insert(kv.key.clone(), kv.clone());
        Ok(kv)
    }

    pub(super) async fn delete(
        &mut self,
        key: &Bytes,
        guard: Option<Revision>,
    ) -> Result<KeyValue, String> {
        let prev = self
            .store
            .delete(key, guard)
            .await
            .step(&format!("delete {}", show(key)))?;
        let at_most = self
            .store
            .current_revision()
            .await
            .step("current_revision")?;
        self.live.remove(key);
        self.expected.push(Expected::Delete {
            prev: prev.clone(),
            at_most,
        });
        Ok(prev)
    }

    /// `writes` writes cycling over `keys`: each key is created, updated twice, deleted,
    /// and so on, so every kind of event appears. Continues from the keys' state left
    /// by earlier writes through this recorder.
    pub(super) async fn churn(&mut self, keys: &[Bytes], writes: usize) -> CaseResult {
        for i in 0..writes {
            let key = &keys[i % keys.len()];
            match self.live.get(key).cloned() {
                None => {
                    self.create(key, &format!("w{i}")).await?;
                }
                Some(kv) if kv.version < 3 => {
                    self.update(key, &format!("w{i}"), kv.mod_revision).await?;
                }
                Some(kv) => {
                    self.delete(key, Some(kv.mod_revision)).await?;
                }
            }
        }
        Ok(())
    }
}

/// The next event of `stream`, failing if none comes within [`WATCH_WAIT`], the stream
/// ends, or it yields an error.
pub(super) async fn next_event(stream: &mut WatchStream, what: &str) -> Result<WatchEvent, String> {
    match tokio::time::timeout(WATCH_WAIT, stream.next()).await {
        Err(_) => Err(format!("{what}: no event within {WATCH_WAIT:?}")),
        Ok(None) => Err(format!("{what}: the watch stream ended")),
        Ok(Some(Err(e))) => Err(format!("{what}: the watch stream yielded an error {e:?}")),
        Ok(Some(Ok(event))) => Ok(event),
    }
}

/// Reads `expected.len()` events from `stream` and checks they are exactly `expected`,
/// in order, at revisions strictly increasing from above `after`. Returns the events.
pub(super) async fn expect_events(
    stream: &mut WatchStream,
    expected: &[Expected],
    after: Revision,
    what: &str,
) -> Result<Vec<WatchEvent>, String> {
    let mut last = after;
    let mut events = Vec::with_capacity(expected.len());
    for (i, want) in expected.iter().enumerate() {
        let event = next_event(
            stream,
            &format!("{what}: waiting for event {i} of {}", expected.len()),
        )
        .await?;
        ensure!(
            want.matches(&event),
            "{what}: event {i} of {}: expected {want:?}, got {event:?}",
            expected.len()
        );
        ensure!(
            event.revision() > last,
            "{what}: event {i}: expected a revision above {last}, got {}",
            event.revision()
        );
        last = event.revision();
        events.push(event);
    }
    Ok(events)
}

/// Creates `fence` and checks it is the next event of `stream`: proof the stream holds
/// nothing more than what was already read.
pub(super) async fn expect_fence(
    store: &dyn Store,
    stream: &mut WatchStream,
    fence: &Bytes,
    what: &str,
) -> CaseResult {
    let kv = match store.get(fence).await.step("get the fence key")? {
        Some(kv) => kv,
        None => store
            .create(fence, value("fence"))
            .await
            .step("create the fence key")?,
    };
    let event = next_event(stream, &format!("{what}: waiting for the fence write")).await?;
    ensure_eq!(
        event,
        WatchEvent::Put { kv },
        "{what}: the event after the expected ones (an unexpected extra event?)"
    );
    Ok(())
}
