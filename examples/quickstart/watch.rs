//! Watching the application from outside: how many of its pods are available after
//! every single store event, and the lowest count since a mark. Polling a status would
//! miss a short dip; the store's watch cannot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use orchestra::core::kinds::Pod;
use orchestra::core::{ListOptions, Store, WatchEvent};
use parking_lot::Mutex;

/// Live counts of the application's available pods (Ready and not being deleted).
#[derive(Clone, Default)]
pub struct Availability {
    current: Arc<AtomicI64>,
    min: Arc<AtomicI64>,
    /// Why the watch stopped, if it did: the counts are no longer measured.
    failed: Arc<Mutex<Option<String>>>,
}

impl Availability {
    /// Follows the pods under `prefix` labelled `app=<app>` from now on.
    pub async fn track(
        store: Arc<dyn Store>,
        prefix: String,
        app: &'static str,
    ) -> Result<Availability, orchestra::core::StoreError> {
        let counts = Availability::default();
        let listed = store
            .list(prefix.as_bytes(), ListOptions::default())
            .await?;
        let mut available: HashMap<Bytes, bool> = HashMap::new();
        for kv in &listed.kvs {
            available.insert(kv.key.clone(), is_available(&kv.value, app));
        }
        counts.publish(&available);
        counts.mark();
        let mut events = store.watch(prefix.as_bytes(), listed.revision).await?;
        let out = counts.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        *out.failed.lock() = Some(e.to_string());
                        return;
                    }
                };
                match event {
                    WatchEvent::Put { kv } => {
                        available.insert(kv.key.clone(), is_available(&kv.value, app));
                    }
                    WatchEvent::Delete { prev, .. } => {
                        available.remove(&prev.key);
                    }
                }
                out.publish(&available);
            }
        });
        Ok(counts)
    }

    fn publish(&self, available: &HashMap<Bytes, bool>) {
        let n = available.values().filter(|a| **a).count() as i64;
        self.current.store(n, Ordering::SeqCst);
        self.min.fetch_min(n, Ordering::SeqCst);
    }

    /// Starts a new low-water mark from the current count.
    pub fn mark(&self) {
        self.min
            .store(self.current.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The lowest count since the last [`mark`](Availability::mark), or why it is no
    /// longer known (the watch failed).
    pub fn min_since_mark(&self) -> Result<i64, String> {
        match &*self.failed.lock() {
            Some(why) => Err(format!("availability is no longer watched: {why}")),
            None => Ok(self.min.load(Ordering::SeqCst)),
        }
    }
}

fn is_available(value: &[u8], app: &str) -> bool {
    serde_json::from_slice::<Pod>(value).is_ok_and(|p| {
        p.metadata.labels.get("app").map(String::as_str) == Some(app)
            && p.metadata.deletion_timestamp.is_none()
            && p.is_ready()
    })
}
