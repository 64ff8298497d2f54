//! Watches: one JSON event a line over a chunked response, as kube-apiserver sends
//! them. An error after the response has started (a compacted start, a store that
//! went away) is an `ERROR` event carrying a Status, after which the stream ends and
//! the client lists again.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use orchestra_core::api::{ApiError, ListParams, ObjectBody, ObjectEvent, ObjectService, Status};
use orchestra_core::{ApiResource, Registry};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::query::{InitialEvents, Query};
use crate::response::{Failure, json_bytes};
use crate::rest::ResourceRequest;

/// The annotation of the bookmark that ends a watch's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Serves a watch until it ends, times out, or the server shuts down.
pub(crate) async fn serve(
    registry: Registry,
    request: &ResourceRequest<'_>,
    query: &Query,
    shutdown: CancellationToken,
    open: crate::metrics::OpenWatch,
    rows: Option<crate::table::WatchRows>,
) -> Result<Response, Failure> {
    // Each object as JSON, or as a Table of one row for `kubectl get --watch`.
    let rows = std::sync::Arc::new(rows);
    let render = move |item: &ObjectBody| match rows.as_ref() {
        Some(rows) => rows.row(item),
        None => item_json(item),
    };
    let (mut params, initial) = query.watch_params()?;
    let resource = request.resource().clone();
    let target = request.target();
    let mut lines: Vec<Bytes> = Vec::new();
    if initial != InitialEvents::None {
        let mut list = ListParams::default();
        list.label_selector = params.label_selector.clone();
        list.field_selector = params.field_selector.clone();
        let current = registry.list(target, &list).await?;
        for item in &current.items {
            lines.push(event_line("ADDED", &render(item)?));
        }
        if initial == InitialEvents::AddedThenBookmark {
            lines.push(bookmark_line(&resource, current.resource_version, true));
        }
        params.resource_version = Some(current.resource_version);
    }
    let timeout = params.timeout;
    let events = match registry.watch(target, &params).await {
        Ok(events) => events,
        Err(error) if error.is_gone() => {
            lines.push(error_line(&error));
            return Ok(streaming(stream::iter(lines)));
        }
        Err(error) => return Err(error.into()),
    };
    let changes = events
        .map(move |event| match event {
            Ok(ObjectEvent::Added(o)) => render(&o).map(|j| event_line("ADDED", &j)),
            Ok(ObjectEvent::Modified(o)) => render(&o).map(|j| event_line("MODIFIED", &j)),
            Ok(ObjectEvent::Deleted(o)) => render(&o).map(|j| event_line("DELETED", &j)),
            Ok(ObjectEvent::Bookmark { resource_version }) => {
                Ok(bookmark_line(&resource, resource_version, false))
            }
            Err(error) => Err(error),
        })
        // The first error is sent as an ERROR event, and ends the stream.
        .scan(false, |failed, line| {
            if *failed {
                return futures::future::ready(None);
            }
            futures::future::ready(Some(match line {
                Ok(line) => line,
                Err(error) => {
                    *failed = true;
                    error_line(&error)
                }
            }))
        });
    let deadline = async move {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let end = async move {
        // Counted open for as long as the stream lasts.
        let _open = open;
        tokio::select! {
            () = deadline => {}
            () = shutdown.cancelled() => {}
        }
    };
    Ok(streaming(
        stream::iter(lines).chain(changes).take_until(end),
    ))
}

fn streaming(lines: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    json_bytes(
        StatusCode::OK,
        Body::from_stream(lines.map(Ok::<_, Infallible>)),
    )
}

fn item_json(item: &ObjectBody) -> Result<Bytes, ApiError> {
    item.to_json()
        .map_err(|e| ApiError::internal(format!("encoding a watched object: {e}")))
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(br#"{"type":""#);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(br#"","object":"#);
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn bookmark_line(resource: &ApiResource, revision: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
    }
    let object = json!({
        "kind": resource.kind(),
        "apiVersion": resource.api_version(),
        "metadata": metadata,
    });
    event_line("BOOKMARK", object.to_string().as_bytes())
}

fn error_line(error: &ApiError) -> Bytes {
    let status = serde_json::to_string(&Status::from(error))
        .unwrap_or_else(|_| r#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#.into());
    event_line("ERROR", status.as_bytes())
}
