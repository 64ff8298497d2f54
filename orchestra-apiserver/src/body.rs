//! Request bodies: read up to a size limit, and decoded by their Content-Type —
//! JSON objects, Kubernetes protobuf for the kinds with a decoder (see
//! [`crate::protobuf`]), and the patch types.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use orchestra_core::ApiResource;
use orchestra_core::api::{ApiError, Patch, Status};
use serde_json::{Value, json};

use crate::protobuf;
use crate::rest::check_type;

/// The largest request body accepted, as kube-apiserver's limit: 3 MiB.
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// Reads a whole body, up to [`MAX_REQUEST_BODY`].
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|_| {
            ApiError::from(Status {
                code: 413,
                reason: "RequestEntityTooLarge".into(),
                message: format!(
                    "the request body is too large: the limit is {MAX_REQUEST_BODY} bytes"
                ),
                ..Status::default()
            })
        })
}

pub(crate) fn decode_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// The media type of a request body, without parameters, lower-cased.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// What a request body must be.
#[derive(Clone, Copy)]
pub(crate) enum BodyOf<'a> {
    /// An object of the URL's kind, in JSON or, for the kinds with a decoder, in
    /// protobuf.
    Object(&'a ApiResource),
    /// An object of the URL's kind replacing its status: JSON only, since the
    /// protobuf decoders leave statuses out.
    Status(&'a ApiResource),
    /// Another kind (a `Scale`, a `Binding`): JSON only.
    Other(&'static str),
}

/// A JSON object body of a create or replace; a protobuf one is decoded into the
/// JSON the same object would have been sent as.
pub(crate) async fn json_body(
    headers: &HeaderMap,
    body: Body,
    of: BodyOf<'_>,
) -> Result<Value, ApiError> {
    let value = match media_type(headers).as_str() {
        "" | "application/json" => decode_json(&read_body(body).await?)?,
        protobuf::MEDIA_TYPE => match of {
            BodyOf::Object(resource)
                if protobuf::decodes(&resource.api_version(), resource.kind()) =>
            {
                decode_protobuf(&read_body(body).await?, resource)?
            }
            BodyOf::Object(resource) => return Err(no_protobuf(resource.kind())),
            BodyOf::Status(resource) => {
                return Err(no_protobuf(&format!("{} status", resource.kind())));
            }
            BodyOf::Other(kind) => return Err(no_protobuf(kind)),
        },
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}); accepted media types include: application/json, {} (for Pod, ReplicaSet, Deployment and HorizontalPodAutoscaler)",
                protobuf::MEDIA_TYPE
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// The `DeleteOptions` body of a delete, as JSON (sent as JSON or protobuf); `None`
/// for an empty body.
pub(crate) async fn delete_options(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Value>, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let options = match media_type(headers).as_str() {
        protobuf::MEDIA_TYPE => {
            let bad = |e: protobuf::DecodeError| ApiError::bad_request(e.to_string());
            let envelope = protobuf::Envelope::open(&bytes).map_err(bad)?;
            match envelope.type_meta.kind.as_str() {
                "" | "DeleteOptions" => envelope.decode_delete_options().map_err(bad)?,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "the body of a delete must be DeleteOptions, not {other}"
                    )));
                }
            }
        }
        _ => decode_json(&bytes)?,
    };
    if !options.is_object() {
        return Err(ApiError::bad_request(
            "the body of a delete must be a DeleteOptions object",
        ));
    }
    Ok(Some(options))
}

fn no_protobuf(what: &str) -> ApiError {
    ApiError::unsupported_media_type(format!(
        "the body of the request was in {}, which this server decodes only for Pod, ReplicaSet, Deployment and HorizontalPodAutoscaler objects, not for {what}; send application/json",
        protobuf::MEDIA_TYPE
    ))
}

/// A protobuf body of `resource`'s kind as JSON. The envelope's type is checked
/// before the object is read, with the JSON path's wording.
fn decode_protobuf(bytes: &[u8], resource: &ApiResource) -> Result<Value, ApiError> {
    let bad = |e: protobuf::DecodeError| ApiError::bad_request(e.to_string());
    let mut envelope = protobuf::Envelope::open(bytes).map_err(bad)?;
    let mut stated = json!({
        "apiVersion": envelope.type_meta.api_version,
        "kind": envelope.type_meta.kind,
    });
    check_type(&mut stated, resource)?;
    // An empty type in the envelope is the URL's, as a JSON body without one.
    envelope.type_meta.api_version = resource.api_version();
    envelope.type_meta.kind = resource.kind().to_owned();
    match envelope.decode() {
        Some(decoded) => decoded.map_err(bad),
        None => Err(no_protobuf(resource.kind())),
    }
}

/// A patch body, by its Content-Type.
pub(crate) async fn patch_body(headers: &HeaderMap, body: Body) -> Result<Patch, ApiError> {
    let media = media_type(headers);
    let make: fn(Value) -> Patch = match media.as_str() {
        "application/merge-patch+json" => Patch::Merge,
        "application/json-patch+json" => Patch::Json,
        "application/strategic-merge-patch+json" => Patch::Strategic,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}); accepted patch types: application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json"
            )));
        }
    };
    Ok(make(decode_json(&read_body(body).await?)?))
}
