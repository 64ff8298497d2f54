//! Responses: objects and lists as JSON, errors as `metav1.Status`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use orchestra_core::api::{ApiError, Status};

/// The media type of every JSON reply.
pub(crate) const JSON: &str = "application/json";

/// `body` (already JSON) with `code`.
pub(crate) fn json_bytes(code: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `value` as JSON with `code`, under `content_type`.
pub(crate) fn json_value(
    code: StatusCode,
    content_type: &'static str,
    value: &serde_json::Value,
) -> Response {
    let mut response = json_bytes(code, Bytes::from(value.to_string()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An error as the Status kube-apiserver would send.
pub(crate) fn error(error: &ApiError) -> Response {
    let status = Status::from(error);
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(&status) {
        Ok(body) => json_bytes(code, body),
        // A Status of strings and numbers always encodes; say so plainly if not.
        Err(e) => (code, format!("{}: {e}", error.message())).into_response(),
    }
}

/// Errors become Status replies.
pub(crate) struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        error(&self.0)
    }
}
