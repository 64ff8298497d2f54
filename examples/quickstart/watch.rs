//! Watching the application from outside, as any client of the API would: how many of
//! its pods are available after every single change, and the lowest count since a
//! mark. Polling a status would miss a short dip; a watch cannot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::StreamExt;
use orchestra::core::kinds::Pod;
use orchestra::core::{Api, ApiError, LabelSelector, ListParams, ObjectEvent, ResourceExt};
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
    /// Follows the pods of `pods` labelled `app=<app>` from now on.
    pub async fn track(pods: Api<Pod>, app: &'static str) -> Result<Availability, ApiError> {
        let counts = Availability::default();
        let selector = ListParams::default().labels(LabelSelector::new().match_label("app", app));
        let listed = pods.list(&selector).await?;
        let mut available: HashMap<String, bool> = HashMap::new();
        for pod in &listed.items {
            available.insert(pod.name_any().to_owned(), is_available(pod));
        }
        counts.publish(&available);
        counts.mark();
        let mut events = pods.watch(&selector, listed.resource_version).await?;
        let out = counts.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    Ok(ObjectEvent::Added(pod) | ObjectEvent::Modified(pod)) => {
                        available.insert(pod.name_any().to_owned(), is_available(&pod));
                    }
                    Ok(ObjectEvent::Deleted(pod)) => {
                        available.remove(pod.name_any());
                    }
                    Ok(ObjectEvent::Bookmark { .. }) => continue,
                    Err(e) => {
                        *out.failed.lock() = Some(e.to_string());
                        return;
                    }
                }
                out.publish(&available);
            }
        });
        Ok(counts)
    }

    fn publish(&self, available: &HashMap<String, bool>) {
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

fn is_available(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod.is_ready()
}
