//! [`ApiSubject`]: what the kit runs against, and what only the subject can declare.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::Client;
use crate::api::ObjectService;
use crate::registry::Registry;

/// Compacts the subject's history up to its current revision.
pub type Compactor = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// What the kit runs against: a [`Client`] of the service under test, and what only
/// the subject can declare about it.
#[derive(Clone)]
pub struct ApiSubject {
    pub(super) client: Client,
    pub(super) max_object_bytes: Option<usize>,
    pub(super) bookmark_interval: Option<Duration>,
    pub(super) compactor: Option<Compactor>,
}

impl fmt::Debug for ApiSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSubject")
            .field("max_object_bytes", &self.max_object_bytes)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("compactor", &self.compactor.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiSubject {
    /// A subject of `client`, declaring nothing more.
    pub fn new(client: Client) -> ApiSubject {
        ApiSubject {
            client,
            max_object_bytes: None,
            bookmark_interval: None,
            compactor: None,
        }
    }

    /// A subject of `registry` itself, declaring its size limit and bookmark interval
    /// and compacting its store. The kit's kinds must be registered
    /// ([`register_kinds`](super::register_kinds)).
    pub fn of_registry(registry: &Registry) -> ApiSubject {
        let store = registry.store().clone();
        let compactor: Compactor = Arc::new(move || {
            let store = store.clone();
            Box::pin(async move {
                let now = store
                    .current_revision()
                    .await
                    .map_err(|e| format!("reading the current revision: {e}"))?;
                store
                    .compact(now)
                    .await
                    .map_err(|e| format!("compacting at {now}: {e}"))
            })
        });
        ApiSubject {
            client: Client::over(Arc::new(registry.clone()), registry.clock().clone()),
            max_object_bytes: Some(registry.max_object_bytes()),
            bookmark_interval: Some(registry.bookmark_interval()),
            compactor: Some(compactor),
        }
    }

    /// The same declarations, with calls going to `service` (a middleware around the
    /// declared server, say) on the same clock.
    #[must_use]
    pub fn with_service(mut self, service: impl ObjectService) -> ApiSubject {
        self.client = Client::over(Arc::new(service), self.client.clock().clone());
        self
    }

    /// Declares the largest encoded object the server accepts.
    #[must_use]
    pub fn max_object_bytes(mut self, bytes: usize) -> ApiSubject {
        self.max_object_bytes = Some(bytes);
        self
    }

    /// Declares how often a watch that asked for bookmarks gets one.
    #[must_use]
    pub fn bookmark_interval(mut self, interval: Duration) -> ApiSubject {
        self.bookmark_interval = Some(interval);
        self
    }

    /// Declares how to compact the server's history up to its current revision.
    #[must_use]
    pub fn compactor(mut self, compactor: Compactor) -> ApiSubject {
        self.compactor = Some(compactor);
        self
    }

    /// The client the cases call through.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
