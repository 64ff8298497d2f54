//! The resource endpoints: each request names a kind, maybe a namespace, an object
//! and a subresource, and becomes one call of the registry. The object rules live
//! there; this module only maps HTTP onto them and checks what only the URL knows
//! (that a body's kind, namespace and name agree with the path).

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, BytesMut};
use orchestra_core::api::{
    ApiError, Binding, DeleteOutcome, DeleteParams, ObjectBody, ObjectList, ObjectService, Patch,
    Scale, Status, Target,
};
use orchestra_core::registry::Subresource;
use orchestra_core::{ApiResource, Registry};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::body::{BodyOf, delete_options, json_body, patch_body};
use crate::conversion::Conversion;
use crate::discovery::ServedKind;
use crate::query::{Query, propagation};
use crate::response::{Failure, json_bytes};
use crate::route::ResourcePath;
use crate::{table, watch};

/// What a request may need of the server beyond the registry.
pub(crate) struct Context<'a> {
    /// Ends open watches when the server stops.
    pub shutdown: &'a CancellationToken,
    pub metrics: &'a std::sync::Arc<crate::metrics::ServerMetrics>,
    pub printers: &'a crate::table::Printers,
}

/// A request for one kind, resolved against the registered kinds.
pub(crate) struct ResourceRequest<'a> {
    pub kind: ServedKind,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
    /// Set when the path names a version served by converting to and from the
    /// registered one.
    pub conversion: Option<Conversion>,
}

impl ResourceRequest<'_> {
    /// The registered resource, which the registry is called with.
    pub(crate) fn resource(&self) -> &ApiResource {
        &self.kind.resource
    }

    /// The resource as the path names it: the registered one, or its converted
    /// version.
    fn served(&self) -> ApiResource {
        match self.conversion {
            Some(conversion) => conversion.served(&self.kind.resource),
            None => self.kind.resource.clone(),
        }
    }

    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            resource: &self.kind.resource,
            namespace: self.namespace,
        }
    }

    fn has(&self, sub: Subresource) -> bool {
        self.kind.subresources.contains(&sub)
    }
}

/// A 404 for a path or kind the server does not have, worded as kube-apiserver's.
pub(crate) fn not_found() -> ApiError {
    ApiError::from(Status {
        code: 404,
        reason: "NotFound".into(),
        message: "the server could not find the requested resource".into(),
        ..Status::default()
    })
}

fn method_not_allowed(method: &Method, what: &str) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method} {what})"
    ))
}

/// Finds the kind a path names; `None` when the server has none by that name, or the
/// path does not fit its scope.
pub(crate) fn resolve<'a>(
    kinds: &[ServedKind],
    path: &ResourcePath<'a>,
) -> Option<ResourceRequest<'a>> {
    let (kind, conversion) = match kinds.iter().find(|k| {
        let r = &k.resource;
        r.group() == path.group && r.version() == path.version && r.plural() == path.plural
    }) {
        Some(kind) => (kind.clone(), None),
        None => {
            let (kind, conversion) = Conversion::find(kinds, path)?;
            (kind, Some(conversion))
        }
    };
    let namespaced = kind.resource.is_namespaced();
    if path.namespace.is_some() && !namespaced {
        return None;
    }
    // One object of a namespaced kind is always addressed within its namespace.
    if namespaced && path.namespace.is_none() && path.name.is_some() {
        return None;
    }
    Some(ResourceRequest {
        kind,
        namespace: path.namespace,
        name: path.name,
        subresource: path.subresource,
        conversion,
    })
}

/// Serves one request for a resolved kind.
pub(crate) async fn serve(
    registry: &Registry,
    request: ResourceRequest<'_>,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
    context: &Context<'_>,
) -> Result<Response, Failure> {
    if query.dry_run() && method != Method::GET {
        return Err(ApiError::bad_request("dryRun is not supported by this server").into());
    }
    if let Some(conversion) = request.conversion {
        return serve_converted(registry, &request, conversion, method, headers, query, body).await;
    }
    let what = request.resource().plural().to_owned();
    match (method.as_str(), request.name, request.subresource) {
        ("GET", None, None) if query.is_watch()? => {
            let open = context.metrics.watch_opened(request.resource().plural());
            let rows = match table::wanted(accept(headers)) {
                true => Some(table::WatchRows::new(
                    context.printers.of(request.resource()),
                    registry.clock().clone(),
                    table::include_object(query)?,
                )),
                false => None,
            };
            watch::serve(
                registry.clone(),
                &request,
                query,
                context.shutdown.clone(),
                open,
                rows,
            )
            .await
        }
        ("GET", None, None) if table::wanted(accept(headers)) => {
            let include = table::include_object(query)?;
            let list = registry
                .list(request.target(), &query.list_params()?)
                .await?;
            let printer = context.printers.of(request.resource());
            let now = registry.clock().now();
            Ok(json_bytes(
                StatusCode::OK,
                table::of_list(&*printer, &list, now, include)?,
            ))
        }
        ("GET", Some(name), None) if table::wanted(accept(headers)) => {
            let include = table::include_object(query)?;
            let object = registry.get(request.target(), name).await?;
            let printer = context.printers.of(request.resource());
            let now = registry.clock().now();
            Ok(json_bytes(
                StatusCode::OK,
                table::of_object(&*printer, &object, now, include)?,
            ))
        }
        ("GET", None, None) => list(registry, &request, query).await,
        ("POST", None, None) => create(registry, &request, headers, body).await,
        ("DELETE", None, None) => delete_collection(registry, &request, query, headers, body).await,
        ("GET", Some(name), None) => Ok(object(
            StatusCode::OK,
            registry.get(request.target(), name).await?,
        )?),
        ("PUT", Some(name), None) => replace(registry, &request, name, headers, body, false).await,
        ("PATCH", Some(name), None) => patch(registry, &request, name, headers, body, false).await,
        ("DELETE", Some(name), None) => {
            delete(registry, &request, name, query, headers, body).await
        }
        (_, Some(name), Some(sub)) => {
            serve_subresource(registry, &request, name, sub, method, headers, body).await
        }
        _ => Err(method_not_allowed(method, &what).into()),
    }
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Serves a request of a converted version: the registry's object converted on the
/// way in and out. See [`crate::conversion`] for what is served.
async fn serve_converted(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    conversion: Conversion,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Response, Failure> {
    let served = request.served();
    let target = request.target();
    let reply = |code: StatusCode, body: ObjectBody| -> Result<Response, Failure> {
        let value = conversion.to_served(stored_value(&body)?);
        Ok(json_bytes(code, value.to_string()))
    };
    let written = |value: Value| ObjectBody::from_json(conversion.to_stored(value).to_string());
    match (method.as_str(), request.name, request.subresource) {
        ("GET", None, None) if !query.is_watch()? => {
            let params = query.list_params()?;
            let mut list = registry.list(target, &params).await?;
            for item in &mut list.items {
                let value = conversion.to_served(stored_value(item)?);
                *item = ObjectBody::from_json(value.to_string());
            }
            Ok(list_reply(&served, &list)?)
        }
        ("GET", Some(name), None) => reply(StatusCode::OK, registry.get(target, name).await?),
        ("POST", None, None) => {
            let mut value = json_body(headers, body, BodyOf::Object(&served)).await?;
            fit_to_path(&mut value, request, None)?;
            reply(
                StatusCode::CREATED,
                registry.create(target, written(value)).await?,
            )
        }
        ("PUT", Some(name), None) => {
            let mut value = json_body(headers, body, BodyOf::Object(&served)).await?;
            fit_to_path(&mut value, request, Some(name))?;
            reply(
                StatusCode::OK,
                registry.replace(target, name, written(value)).await?,
            )
        }
        ("DELETE", Some(name), None) => {
            let params = delete_params(query, headers, body).await?;
            match registry.delete(target, name, &params).await? {
                DeleteOutcome::Deleted(last) => reply(StatusCode::OK, last),
                DeleteOutcome::Pending(now) => reply(StatusCode::ACCEPTED, now),
            }
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} of {} {} is not served by this server: use {}",
            served.api_version(),
            served.plural(),
            request.resource().api_version()
        ))
        .into()),
    }
}

/// A stored object as a JSON value, to convert.
fn stored_value(body: &ObjectBody) -> Result<Value, ApiError> {
    let json = body
        .to_json()
        .map_err(|e| ApiError::internal(format!("encoding the object: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| ApiError::internal(format!("reading a stored object: {e}")))
}

async fn serve_subresource(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    name: &str,
    sub: &str,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let target = request.target();
    let status = sub == "status" && request.has(Subresource::Status);
    let scale = sub == "scale" && request.has(Subresource::Scale);
    let binding = sub == "binding" && request.has(Subresource::Binding);
    match method.as_str() {
        "GET" if status => Ok(object(StatusCode::OK, registry.get(target, name).await?)?),
        "PUT" if status => replace(registry, request, name, headers, body, true).await,
        "PATCH" if status => patch(registry, request, name, headers, body, true).await,
        "GET" if scale => scale_reply(registry.get_scale(target, name).await?),
        "PUT" if scale => {
            let value = json_body(headers, body, BodyOf::Other("Scale")).await?;
            let scale: Scale = serde_json::from_value(value)
                .map_err(|e| ApiError::bad_request(format!("invalid Scale: {e}")))?;
            check_name(scale.metadata.name.as_deref(), name)?;
            scale_reply(registry.replace_scale(target, name, &scale).await?)
        }
        "PATCH" if scale => {
            let patch = patch_body(headers, body).await?;
            let current = registry.get_scale(target, name).await?;
            let mut value = serde_json::to_value(&current)
                .map_err(|e| ApiError::internal(format!("encoding a Scale: {e}")))?;
            match &patch {
                Patch::Merge(p) => {
                    orchestra_core::api::merge_patch::apply_merge_patch(&mut value, p)
                }
                Patch::Json(p) => orchestra_core::api::json_patch::apply_json_patch(&mut value, p)
                    .map_err(ApiError::bad_request)?,
                other => {
                    return Err(ApiError::unsupported_media_type(format!(
                        "scale takes a merge patch or a JSON patch, not {}",
                        other.content_type()
                    ))
                    .into());
                }
            }
            let scale: Scale = serde_json::from_value(value)
                .map_err(|e| ApiError::bad_request(format!("the patched Scale is invalid: {e}")))?;
            scale_reply(registry.replace_scale(target, name, &scale).await?)
        }
        "POST" if binding => {
            let value = json_body(headers, body, BodyOf::Other("Binding")).await?;
            let node = value
                .pointer("/target/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::bad_request("a Binding needs target.name, the node"))?;
            let mut bind = Binding::to_node(node);
            if let Some(uid) = value.pointer("/metadata/uid").and_then(Value::as_str) {
                bind = bind.pod_uid(uid);
            }
            let namespace = request.namespace.unwrap_or_default();
            registry.bind(namespace, name, &bind).await?;
            Ok(json_bytes(
                StatusCode::CREATED,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
                    .to_string(),
            ))
        }
        _ if status || scale || binding => Err(method_not_allowed(method, sub).into()),
        _ => Err(not_found().into()),
    }
}

/// One object as JSON.
fn object(code: StatusCode, body: ObjectBody) -> Result<Response, ApiError> {
    let json = body
        .to_json()
        .map_err(|e| ApiError::internal(format!("encoding the object: {e}")))?;
    Ok(json_bytes(code, json))
}

fn scale_reply(scale: Scale) -> Result<Response, Failure> {
    let mut value = serde_json::to_value(&scale)
        .map_err(|e| ApiError::internal(format!("encoding a Scale: {e}")))?;
    value["kind"] = json!("Scale");
    value["apiVersion"] = json!("autoscaling/v1");
    Ok(json_bytes(StatusCode::OK, value.to_string()))
}

/// A list as `{kind}List`, its items written as they are stored (never decoded and
/// encoded again).
pub(crate) fn list_reply(
    resource: &ApiResource,
    list: &ObjectList<ObjectBody>,
) -> Result<Response, ApiError> {
    let mut out = BytesMut::with_capacity(256 + list.items.len() * 1024);
    let mut metadata = json!({"resourceVersion": list.resource_version.to_string()});
    if let Some(token) = &list.continue_token {
        metadata["continue"] = json!(token);
    }
    out.put_slice(
        format!(
            r#"{{"kind":"{}List","apiVersion":"{}","metadata":{},"items":["#,
            resource.kind(),
            resource.api_version(),
            metadata
        )
        .as_bytes(),
    );
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        let json = item
            .to_json()
            .map_err(|e| ApiError::internal(format!("encoding a list item: {e}")))?;
        out.put_slice(&json);
    }
    out.put_slice(b"]}");
    Ok(json_bytes(StatusCode::OK, out.freeze()))
}

async fn list(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    query: &Query,
) -> Result<Response, Failure> {
    let params = query.list_params()?;
    let list = registry.list(request.target(), &params).await?;
    Ok(list_reply(request.resource(), &list)?)
}

async fn create(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let mut value = json_body(headers, body, BodyOf::Object(request.resource())).await?;
    fit_to_path(&mut value, request, None)?;
    let created = registry
        .create(request.target(), ObjectBody::from_json(value.to_string()))
        .await?;
    Ok(object(StatusCode::CREATED, created)?)
}

async fn replace(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    name: &str,
    headers: &HeaderMap,
    body: Body,
    status: bool,
) -> Result<Response, Failure> {
    let of = if status {
        BodyOf::Status(request.resource())
    } else {
        BodyOf::Object(request.resource())
    };
    let mut value = json_body(headers, body, of).await?;
    fit_to_path(&mut value, request, Some(name))?;
    let body = ObjectBody::from_json(value.to_string());
    let target = request.target();
    let replaced = if status {
        registry.replace_status(target, name, body).await?
    } else {
        registry.replace(target, name, body).await?
    };
    Ok(object(StatusCode::OK, replaced)?)
}

async fn patch(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    name: &str,
    headers: &HeaderMap,
    body: Body,
    status: bool,
) -> Result<Response, Failure> {
    let patch = patch_body(headers, body).await?;
    let target = request.target();
    let patched = if status {
        registry.patch_status(target, name, &patch).await?
    } else {
        registry.patch(target, name, &patch).await?
    };
    Ok(object(StatusCode::OK, patched)?)
}

async fn delete(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    name: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let params = delete_params(query, headers, body).await?;
    match registry.delete(request.target(), name, &params).await? {
        DeleteOutcome::Deleted(last) => Ok(object(StatusCode::OK, last)?),
        DeleteOutcome::Pending(now) => Ok(object(StatusCode::ACCEPTED, now)?),
    }
}

async fn delete_collection(
    registry: &Registry,
    request: &ResourceRequest<'_>,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let params = delete_params(query, headers, body).await?;
    let mut listed = query.list_params()?;
    listed.limit = None;
    listed.continue_token = None;
    let list = registry.list(request.target(), &listed).await?;
    let mut gone = ObjectList {
        items: Vec::with_capacity(list.items.len()),
        resource_version: list.resource_version,
        continue_token: None,
    };
    for item in list.items {
        let meta = item
            .meta()
            .map_err(|e| ApiError::internal(format!("reading a listed object: {e}")))?;
        let name = meta.name.unwrap_or_default();
        let target = Target {
            resource: request.resource(),
            namespace: meta.namespace.as_deref().or(request.namespace),
        };
        match registry.delete(target, &name, &params).await {
            Ok(DeleteOutcome::Deleted(last) | DeleteOutcome::Pending(last)) => {
                gone.items.push(last)
            }
            // Deleted by someone else meanwhile: that is what was asked for.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(list_reply(request.resource(), &gone)?)
}

/// The delete options of the query and of the body (a `DeleteOptions`), the body's
/// winning where both say something.
async fn delete_params(
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<DeleteParams, Failure> {
    let mut params = query.delete_params()?;
    let Some(options) = delete_options(headers, body).await? else {
        return Ok(params);
    };
    if let Some(policy) = options.get("propagationPolicy").and_then(Value::as_str) {
        params.propagation_policy = Some(propagation(policy)?);
    } else if let Some(orphan) = options.get("orphanDependents").and_then(Value::as_bool) {
        params.propagation_policy = Some(if orphan {
            orchestra_core::api::PropagationPolicy::Orphan
        } else {
            orchestra_core::api::PropagationPolicy::Background
        });
    }
    if let Some(grace) = options.get("gracePeriodSeconds") {
        params.grace_period_seconds = Some(
            grace
                .as_i64()
                .ok_or_else(|| ApiError::bad_request("gracePeriodSeconds must be an integer"))?,
        );
    }
    if let Some(uid) = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
    {
        params.precondition_uid = Some(uid.to_owned());
    }
    if let Some(rv) = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
    {
        params.precondition_resource_version = Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid preconditions.resourceVersion {rv:?}"))
        })?);
    }
    Ok(params)
}

fn check_name(in_body: Option<&str>, in_url: &str) -> Result<(), ApiError> {
    match in_body {
        Some(name) if !name.is_empty() && name != in_url => Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({in_url})"
        ))),
        _ => Ok(()),
    }
}

/// Fills in the apiVersion and kind the body left out, and refuses a body whose
/// type is not `resource`'s.
pub(crate) fn check_type(value: &mut Value, resource: &ApiResource) -> Result<(), ApiError> {
    let api_version = resource.api_version();
    match value.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => value["apiVersion"] = json!(api_version),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match value.get("kind").and_then(Value::as_str) {
        None | Some("") => value["kind"] = json!(resource.kind()),
        Some(k) if k == resource.kind() => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind()
            )));
        }
    }
    Ok(())
}

/// Fills in what the path says and the body left out (kind, apiVersion, namespace,
/// name), and refuses a body that says otherwise.
fn fit_to_path(
    value: &mut Value,
    request: &ResourceRequest<'_>,
    name: Option<&str>,
) -> Result<(), ApiError> {
    let resource = &request.served();
    check_type(value, resource)?;
    if !value.get("metadata").is_some_and(Value::is_object) {
        if value.get("metadata").is_some_and(|m| !m.is_null()) {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        value["metadata"] = json!({});
    }
    let metadata = &mut value["metadata"];
    if let Some(namespace) = request.namespace {
        match metadata.get("namespace").and_then(Value::as_str) {
            None | Some("") => metadata["namespace"] = json!(namespace),
            Some(ns) if ns == namespace => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else if resource.is_namespaced() {
        return Err(ApiError::method_not_allowed(format!(
            "{} are namespaced: create them under /namespaces/{{namespace}}/{}",
            resource.plural(),
            resource.plural()
        )));
    }
    if let Some(name) = name {
        check_name(metadata.get("name").and_then(Value::as_str), name)?;
        metadata["name"] = json!(name);
    }
    Ok(())
}
