//! [`Client`]: a handle on one cluster's API — an [`ObjectService`] and this side's
//! clock — shared by every [`Api`](super::Api) made from it.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::resource::ApiResource;
use crate::time::Clock;

use super::error::ApiError;
use super::service::ObjectService;

/// A handle on one cluster's API, shared by every [`Api`](super::Api) made from it.
///
/// It holds the [`ObjectService`] the calls go to — the in-process
/// [`Registry`](crate::registry::Registry), a remote server, or a middleware around
/// either — and the clock this side of the seam stamps its own times with (conditions,
/// events, lease renewals). Cheap to clone. Code written against `Api<K>` runs
/// unchanged whichever service is beneath.
///
/// ```
/// use orchestra_core::Client;
/// use orchestra_core::registry::Registry;
/// # fn demo(store: std::sync::Arc<dyn orchestra_core::Store>) {
/// let client = Client::new(Registry::new(store));
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    service: Arc<dyn ObjectService>,
    clock: Clock,
    /// The kinds the service served when last asked.
    discovery: Mutex<Option<Arc<Vec<ApiResource>>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `service`, with a clock following tokio time.
    pub fn new(service: impl ObjectService) -> Client {
        Client::over(Arc::new(service), Clock::new())
    }

    /// A client of a shared `service`, stamping time with `clock`.
    pub fn over(service: Arc<dyn ObjectService>, clock: Clock) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                service,
                clock,
                discovery: Mutex::new(None),
            }),
        }
    }

    /// The same service, with another clock.
    #[must_use]
    pub fn with_clock(&self, clock: Clock) -> Client {
        Client::over(self.inner.service.clone(), clock)
    }

    /// The service calls go to.
    pub fn service(&self) -> &Arc<dyn ObjectService> {
        &self.inner.service
    }

    /// This side's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The kinds the service serves (discovery), as last read; read again with
    /// [`Client::refresh_resources`].
    pub async fn resources(&self) -> Result<Arc<Vec<ApiResource>>, ApiError> {
        if let Some(known) = self.inner.discovery.lock().clone() {
            return Ok(known);
        }
        self.refresh_resources().await
    }

    /// Reads the served kinds again.
    pub async fn refresh_resources(&self) -> Result<Arc<Vec<ApiResource>>, ApiError> {
        let fresh = Arc::new(self.inner.service.resources().await?);
        *self.inner.discovery.lock() = Some(fresh.clone());
        Ok(fresh)
    }

    /// The served kind `kind` of `api_version` (as an owner reference or a scale
    /// target names it), reading discovery again once if it is not known yet.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, ApiError> {
        let find = |all: &[ApiResource]| all.iter().find(|r| r.is(api_version, kind)).cloned();
        if let Some(found) = find(&self.resources().await?) {
            return Ok(found);
        }
        find(&self.refresh_resources().await?).ok_or_else(|| {
            ApiError::unknown_kind(format!("the server serves no kind {kind} of {api_version}"))
        })
    }
}
