//! # orchestra-apiserver
//!
//! The Kubernetes REST API over Orchestra's [`Registry`], so `kubectl`, kube-rs and
//! other Kubernetes clients work against an Orchestra cluster.
//!
//! The server maps HTTP onto the registry and nothing more: every object rule
//! (validation, defaults, uid, generation, resourceVersion, finalizers, size limits)
//! is the registry's, applied once whoever calls. What the server adds is what only a
//! URL knows — that a body's kind, namespace and name agree with its path — and the
//! documents a client reads before it calls anything: version, health and discovery.
//!
//! ```no_run
//! use orchestra_apiserver::ApiServer;
//! use orchestra_core::Registry;
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(registry: Registry) -> std::io::Result<()> {
//! let server = ApiServer::builder(registry).build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:6443").await?;
//! let stop = CancellationToken::new();
//! server.serve(listener, stop).await // until `stop` is cancelled
//! # }
//! ```
//!
//! What it serves:
//! - `/version`, `/healthz`, `/livez`, `/readyz`, and `/metrics` (Prometheus text,
//!   under kube-apiserver's metric names: requests by verb, resource and code, their
//!   latency, requests in flight, open watches);
//! - `/openapi/v3`: the documents `kubectl apply` reads (without schemas);
//! - discovery, aggregated (`apidiscovery.k8s.io/v2`, chosen by the `Accept` header
//!   as kube-apiserver chooses it) and legacy (`/api`, `/apis`, `/api/v1`,
//!   `/apis/{group}[/{version}]`), from the kinds registered at the time;
//! - for every registered kind, at the Kubernetes API's paths (namespaced and
//!   cluster-scoped): create, get, list, replace, patch (merge and JSON patch),
//!   delete, deletecollection and watch, and the `status`, `scale` and `binding`
//!   subresources a kind has;
//! - `autoscaling/v1` HorizontalPodAutoscalers, converted to and from the registry's
//!   `autoscaling/v2` (get, list, create, replace, delete), for the kubectl versions
//!   that create autoscalers through v1.
//!
//! Request bodies are JSON, or Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`, which kubectl 1.32 and later send for
//! `create deployment` and `autoscale`) for Pods, ReplicaSets, Deployments and
//! HorizontalPodAutoscalers; replies are always JSON.
//!
//! Errors are `metav1.Status` replies with kube-apiserver's codes and reasons; a body
//! over [`MAX_REQUEST_BODY`] is a 413.

mod body;
mod conversion;
mod discovery;
mod metrics;
mod openapi;
mod protobuf;
mod query;
mod response;
mod rest;
mod route;
mod table;
mod version;
mod watch;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orchestra_core::Registry;
use orchestra_core::api::ApiError;
use tokio_util::sync::CancellationToken;

pub use body::MAX_REQUEST_BODY;
pub use version::ServerVersion;
pub use watch::INITIAL_EVENTS_END;

use discovery::ServedKind;
use response::{Failure, json_value};
use route::Route;

/// Builds an [`ApiServer`].
#[must_use]
pub struct ApiServerBuilder {
    registry: Registry,
    version: ServerVersion,
    printers: table::Printers,
}

impl ApiServerBuilder {
    /// The version `/version` reports. Default [`ServerVersion::default`].
    pub fn version(mut self, version: ServerVersion) -> Self {
        self.version = version;
        self
    }

    /// Serves kind `K` too, with the registry's default strategy (a kind already
    /// registered keeps its own).
    pub fn kind<K: orchestra_core::Resource>(self) -> Self {
        let resource = orchestra_core::ApiResource::of::<K>();
        if self.registry.subresources(&resource).is_none() {
            self.registry.register::<K>();
        }
        self
    }

    /// Serves kind `K` as [`kind`](Self::kind) does, with the Table columns `K`
    /// gives (`kubectl get` shows them) instead of Name and Age.
    pub fn kind_with_columns<K: orchestra_core::table::Columns>(self) -> Self {
        let this = self.kind::<K>();
        this.printers.add(
            &orchestra_core::ApiResource::of::<K>(),
            Arc::new(orchestra_core::table::KindPrinter::<K>::new()),
        );
        this
    }

    /// The server.
    pub fn build(self) -> ApiServer {
        ApiServer {
            shared: Arc::new(Shared {
                registry: self.registry,
                version: self.version,
                shutdown: CancellationToken::new(),
                metrics: Arc::default(),
                printers: self.printers,
            }),
        }
    }
}

/// The API server: an HTTP front end of one [`Registry`]. Cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    shared: Arc<Shared>,
}

struct Shared {
    registry: Registry,
    version: ServerVersion,
    /// Ends open watches when the server stops.
    shutdown: CancellationToken,
    metrics: Arc<metrics::ServerMetrics>,
    /// The Table printers of kinds with columns of their own.
    printers: table::Printers,
}

impl ApiServer {
    /// A builder of a server of `registry`'s kinds.
    pub fn builder(registry: Registry) -> ApiServerBuilder {
        ApiServerBuilder {
            registry,
            version: ServerVersion::default(),
            printers: table::Printers::default(),
        }
    }

    /// The server as an axum [`Router`], to serve by hand or nest in another.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(version_document))
            .route("/healthz", get(healthy))
            .route("/livez", get(healthy))
            .route("/readyz", get(ready))
            .route("/metrics", get(metrics_text))
            .route("/openapi/v3", get(openapi_index))
            .route("/openapi/v3/{*path}", get(openapi_document))
            .fallback(api)
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                measured,
            ))
            .with_state(self.shared.clone())
    }

    /// Serves connections from `listener` until `shutdown` fires; then it stops
    /// accepting, ends open watches, and returns once the requests in flight are done.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let watches = self.shared.shutdown.clone();
        let stopping = shutdown.clone();
        let ended = async move {
            stopping.cancelled().await;
            watches.cancel();
        };
        axum::serve(listener, self.router())
            .with_graceful_shutdown(ended)
            .await
    }
}

/// Counts and times every request.
async fn measured(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let labels = request_labels(request.method(), request.uri());
    let in_flight = shared.metrics.start(&labels);
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    shared
        .metrics
        .record(labels, response.status().as_u16(), started.elapsed());
    response
}

/// A request's labels: kube-apiserver's verb, and the resource it is about.
fn request_labels(method: &Method, uri: &axum::http::Uri) -> metrics::RequestLabels {
    let lower = method.as_str().to_ascii_lowercase();
    let Some(Route::Resource(path)) = route::parse(uri.path()) else {
        return metrics::RequestLabels {
            verb: lower,
            resource: String::new(),
            subresource: String::new(),
        };
    };
    let watch = || {
        query::Query::parse(uri.query())
            .and_then(|q| q.is_watch())
            .unwrap_or(false)
    };
    let verb = match (method.as_str(), path.name) {
        ("GET", None) if watch() => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", None) => "deletecollection",
        ("DELETE", Some(_)) => "delete",
        _ => lower.as_str(),
    };
    metrics::RequestLabels {
        verb: verb.to_owned(),
        resource: path.plural.to_owned(),
        subresource: path.subresource.unwrap_or_default().to_owned(),
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

async fn version_document(State(shared): State<Arc<Shared>>) -> Response {
    json_value(StatusCode::OK, response::JSON, &shared.version.to_json())
}

async fn healthy() -> &'static str {
    "ok"
}

/// Ready when the store answers.
async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    match shared.registry.store().current_revision().await {
        Ok(_) => "ok".into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("[-]store failed: {error}\nreadyz check failed\n"),
        )
            .into_response(),
    }
}

async fn openapi_index(State(shared): State<Arc<Shared>>) -> Response {
    let kinds = served_kinds(&shared.registry);
    json_value(StatusCode::OK, response::JSON, &openapi::index(&kinds))
}

async fn openapi_document(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let kinds = served_kinds(&shared.registry);
    match openapi::document(&kinds, &path) {
        Some(doc) => json_value(StatusCode::OK, response::JSON, &doc),
        None => response::error(&rest::not_found()),
    }
}

/// The registered kinds, with their subresources.
fn served_kinds(registry: &Registry) -> Vec<ServedKind> {
    registry
        .kinds_with_subresources()
        .into_iter()
        .map(|(resource, subresources)| ServedKind {
            resource,
            subresources,
        })
        .collect()
}

/// Everything under `/api` and `/apis`.
async fn api(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match serve_api(&shared, request).await {
        Ok(response) => response,
        Err(Failure(error)) => {
            tracing::debug!(code = error.code(), %error, "request failed");
            response::error(&error)
        }
    }
}

async fn serve_api(shared: &Shared, request: Request) -> Result<Response, Failure> {
    let (parts, body) = request.into_parts();
    let route = route::parse(parts.uri.path()).ok_or_else(rest::not_found)?;
    let kinds = served_kinds(&shared.registry);
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let discovery_only = |doc: Option<serde_json::Value>| -> Result<Response, Failure> {
        if parts.method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "{} is not allowed on a discovery document",
                parts.method
            ))
            .into());
        }
        let doc = doc.ok_or_else(rest::not_found)?;
        Ok(json_value(StatusCode::OK, response::JSON, &doc))
    };
    match route {
        Route::CoreVersions | Route::Groups if parts.method == Method::GET => {
            let core = route == Route::CoreVersions;
            Ok(match discovery::aggregated_version(accept) {
                Some(version) => {
                    let content_type = if version == "v2" {
                        discovery::AGGREGATED_V2
                    } else {
                        discovery::AGGREGATED_V2BETA1
                    };
                    json_value(
                        StatusCode::OK,
                        content_type,
                        &discovery::aggregated(&kinds, core, version),
                    )
                }
                None if core => json_value(
                    StatusCode::OK,
                    response::JSON,
                    &discovery::core_versions(&kinds),
                ),
                None => json_value(
                    StatusCode::OK,
                    response::JSON,
                    &discovery::group_list(&kinds),
                ),
            })
        }
        Route::CoreVersions | Route::Groups => discovery_only(None),
        Route::Group(group) => discovery_only(discovery::group(&kinds, group)),
        Route::GroupVersion { group, version } => {
            discovery_only(discovery::resource_list(&kinds, group, version))
        }
        Route::Resource(path) => {
            let request = rest::resolve(&kinds, &path).ok_or_else(rest::not_found)?;
            let query = query::Query::parse(parts.uri.query())?;
            rest::serve(
                &shared.registry,
                request,
                &parts.method,
                &parts.headers,
                &query,
                body,
                &rest::Context {
                    shutdown: &shared.shutdown,
                    metrics: &shared.metrics,
                    printers: &shared.printers,
                },
            )
            .await
        }
    }
}
