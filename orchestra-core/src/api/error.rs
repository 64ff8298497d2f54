//! The one error type of the object API, and the Kubernetes `Status` it travels as.
//!
//! Every [`ApiError`] but [`ApiError::Decode`] (which a client makes of a reply it
//! cannot read) is one Kubernetes Status reason with its HTTP code, and carries exactly
//! what a `metav1.Status` carries: the message and the details (name, group, kind,
//! field causes). So an error crosses a process boundary — [`Status::from`] on one
//! side, [`ApiError::from`] on the other — and comes out equal, and kubectl prints a
//! server's errors as it prints kube-apiserver's.

use serde::{Deserialize, Serialize};

use crate::resource::ApiResource;
use crate::store::StoreError;
use crate::validation::{FieldError, FieldErrors};

/// What every error carries: the message people read and the details programs read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The whole message, e.g. `deployments.apps "web" not found`.
    pub message: String,
    /// The object and the field causes, when the error is about one (boxed: errors
    /// travel in every `Result` of the API, and most carry none).
    pub details: Option<Box<StatusDetails>>,
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ErrorBody {
    fn message(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            details: None,
        }
    }

    fn about(message: String, name: &str, group: &str, kind: &str) -> ErrorBody {
        ErrorBody {
            message,
            details: Some(Box::new(StatusDetails {
                name: Some(name.to_owned()).filter(|n| !n.is_empty()),
                group: Some(group.to_owned()).filter(|g| !g.is_empty()),
                kind: Some(kind.to_owned()),
                ..Default::default()
            })),
        }
    }
}

/// Errors of the object API. Each variant is one Kubernetes Status reason (named in
/// its doc, with its HTTP code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// `NotFound` (404): the object, or the kind, does not exist.
    #[error("{0}")]
    NotFound(ErrorBody),
    /// `AlreadyExists` (409): an object with this name exists.
    #[error("{0}")]
    AlreadyExists(ErrorBody),
    /// `Conflict` (409): the object changed since it was read (a stale
    /// resourceVersion, or a precondition that no longer holds). Read it again and
    /// retry.
    #[error("{0}")]
    Conflict(ErrorBody),
    /// `Invalid` (422): the object is not valid; the details name every bad field
    /// ([`ApiError::field_errors`]).
    #[error("{0}")]
    Invalid(ErrorBody),
    /// `BadRequest` (400): the request itself is malformed (a body that does not
    /// decode, a selector that does not parse, a namespace missing where one is
    /// needed).
    #[error("{0}")]
    BadRequest(ErrorBody),
    /// `RequestEntityTooLarge` (413): the object is over the size limit.
    #[error("{0}")]
    TooLarge(ErrorBody),
    /// `UnsupportedMediaType` (415): a body or patch type the server does not take.
    #[error("{0}")]
    UnsupportedMediaType(ErrorBody),
    /// `Expired` (410): a list or watch asked for a resourceVersion that has been
    /// compacted away. List again and watch from the list's resourceVersion.
    #[error("{0}")]
    Gone(ErrorBody),
    /// `MethodNotAllowed` (405): the kind does not support the operation (a status
    /// write to a kind without status, a bind of something that is not a pod).
    #[error("{0}")]
    MethodNotAllowed(ErrorBody),
    /// `Timeout` (504): the request may or may not have been carried out — the store
    /// lost track of a write it had sent. Read the object to find out before retrying
    /// anything that is not idempotent.
    #[error("{0}")]
    Timeout(ErrorBody),
    /// `ServiceUnavailable` (503): the server or its store cannot serve now and did
    /// nothing; retrying later may succeed.
    #[error("{0}")]
    Unavailable(ErrorBody),
    /// `InternalError` (500): the server failed (a stored object it cannot decode, a
    /// store failure that is not transient).
    #[error("{0}")]
    Internal(ErrorBody),
    /// A reply this client could not decode as the kind it asked for (never sent by a
    /// server; it becomes an `InternalError` if passed on). A watch yields it for one
    /// event and goes on.
    #[error("{0}")]
    Decode(ErrorBody),
    /// Any other Status a server answered with (`Unauthorized`, `Forbidden`,
    /// `TooManyRequests`, …), kept whole.
    #[error("{body}")]
    Other {
        /// The HTTP code.
        code: u16,
        /// The Status reason.
        reason: String,
        /// The message and details.
        body: ErrorBody,
    },
}

impl ApiError {
    /// `{resource} "{name}" not found`.
    pub fn not_found(resource: &ApiResource, name: &str) -> ApiError {
        let gr = resource.group_resource();
        ApiError::NotFound(ErrorBody::about(
            format!("{gr} {name:?} not found"),
            name,
            &gr.group,
            &gr.resource,
        ))
    }

    /// The kind itself is not served: `the server could not find the requested
    /// resource`, and why.
    pub fn unknown_kind(why: impl std::fmt::Display) -> ApiError {
        ApiError::NotFound(ErrorBody::message(format!(
            "the server could not find the requested resource: {why}"
        )))
    }

    /// `{resource} "{name}" already exists`.
    pub fn already_exists(resource: &ApiResource, name: &str) -> ApiError {
        let gr = resource.group_resource();
        ApiError::AlreadyExists(ErrorBody::about(
            format!("{gr} {name:?} already exists"),
            name,
            &gr.group,
            &gr.resource,
        ))
    }

    /// `Operation cannot be fulfilled on {resource} "{name}": {why}`.
    pub fn conflict(resource: &ApiResource, name: &str, why: impl std::fmt::Display) -> ApiError {
        let gr = resource.group_resource();
        ApiError::Conflict(ErrorBody::about(
            format!("Operation cannot be fulfilled on {gr} {name:?}: {why}"),
            name,
            &gr.group,
            &gr.resource,
        ))
    }

    /// `{Kind.group} "{name}" is invalid: {field: problem; …}`, with a cause per field.
    pub fn invalid(resource: &ApiResource, name: &str, errors: FieldErrors) -> ApiError {
        let gk = resource.group_kind();
        let mut body = ErrorBody::about(
            format!("{gk} {name:?} is invalid: {errors}"),
            name,
            &gk.group,
            &gk.kind,
        );
        if let Some(details) = &mut body.details {
            details.causes = errors
                .0
                .into_iter()
                .map(|e| StatusCause {
                    reason: Some(CAUSE_FIELD_INVALID.to_owned()),
                    message: Some(e.message),
                    field: Some(e.field),
                })
                .collect();
        }
        ApiError::Invalid(body)
    }

    /// A malformed request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(ErrorBody::message(message))
    }

    /// An object over the size limit.
    pub fn too_large(resource: &ApiResource, name: &str, size: usize, limit: usize) -> ApiError {
        let gr = resource.group_resource();
        ApiError::TooLarge(ErrorBody::about(
            format!(
                "Request entity too large: {gr} {name:?} is {size} bytes encoded, limit is {limit}"
            ),
            name,
            &gr.group,
            &gr.resource,
        ))
    }

    /// A body or patch type the server does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::UnsupportedMediaType(ErrorBody::message(message))
    }

    /// A resourceVersion compacted away.
    pub fn gone(requested: u64, oldest: u64) -> ApiError {
        ApiError::Gone(ErrorBody::message(format!(
            "too old resource version: {requested} (oldest available is {oldest})"
        )))
    }

    /// An operation the kind does not support.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::MethodNotAllowed(ErrorBody::message(message))
    }

    /// The server cannot serve now and did nothing.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::Unavailable(ErrorBody::message(message))
    }

    /// A server failure.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::Internal(ErrorBody::message(message))
    }

    /// A reply the client cannot decode.
    pub fn decode(message: impl Into<String>) -> ApiError {
        ApiError::Decode(ErrorBody::message(message))
    }

    /// What a store failure means to a caller of the API: an unavailable store did
    /// nothing (503), a write with an unknown outcome may have been applied (504), and
    /// anything else is the server's failure (500). `Conflict`, `NotFound` and
    /// `AlreadyExists` from the store are mapped by the registry, which knows the object.
    pub fn from_store(error: &StoreError) -> ApiError {
        let message = format!("store: {error}");
        if error.is_outcome_unknown() {
            ApiError::Timeout(ErrorBody::message(format!(
                "{message} (the write may or may not have been applied)"
            )))
        } else if error.is_transient() {
            ApiError::Unavailable(ErrorBody::message(message))
        } else {
            ApiError::Internal(ErrorBody::message(message))
        }
    }

    /// The message and details.
    pub fn body(&self) -> &ErrorBody {
        match self {
            ApiError::NotFound(b)
            | ApiError::AlreadyExists(b)
            | ApiError::Conflict(b)
            | ApiError::Invalid(b)
            | ApiError::BadRequest(b)
            | ApiError::TooLarge(b)
            | ApiError::UnsupportedMediaType(b)
            | ApiError::Gone(b)
            | ApiError::MethodNotAllowed(b)
            | ApiError::Timeout(b)
            | ApiError::Unavailable(b)
            | ApiError::Internal(b)
            | ApiError::Decode(b)
            | ApiError::Other { body: b, .. } => b,
        }
    }

    /// The whole message.
    pub fn message(&self) -> &str {
        &self.body().message
    }

    /// The Status reason, e.g. `NotFound`.
    pub fn reason(&self) -> &str {
        match self {
            ApiError::NotFound(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Invalid(_) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Gone(_) => "Expired",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Timeout(_) => "Timeout",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) | ApiError::Decode(_) => "InternalError",
            ApiError::Other { reason, .. } => reason,
        }
    }

    /// The HTTP code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(_) => 409,
            ApiError::Invalid(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Gone(_) => 410,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Timeout(_) => 504,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) | ApiError::Decode(_) => 500,
            ApiError::Other { code, .. } => *code,
        }
    }

    /// The field problems of an [`ApiError::Invalid`] (empty for other errors).
    pub fn field_errors(&self) -> FieldErrors {
        let causes = self
            .body()
            .details
            .as_ref()
            .map(|d| d.causes.as_slice())
            .unwrap_or_default();
        FieldErrors(
            causes
                .iter()
                .map(|c| FieldError {
                    field: c.field.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// Whether this is [`ApiError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound(_))
    }

    /// Whether this is [`ApiError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Conflict(_))
    }

    /// Whether this is [`ApiError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ApiError::AlreadyExists(_))
    }

    /// Whether this is [`ApiError::Gone`].
    pub fn is_gone(&self) -> bool {
        matches!(self, ApiError::Gone(_))
    }

    /// Whether this is [`ApiError::Invalid`].
    pub fn is_invalid(&self) -> bool {
        matches!(self, ApiError::Invalid(_))
    }

    /// Whether the outcome of the call is unknown ([`ApiError::Timeout`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, ApiError::Timeout(_))
    }

    /// Whether retrying the same call later may succeed (503, 504, 429, and 500s a
    /// server marks with a retry-after).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Unavailable(_) | ApiError::Timeout(_) => true,
            ApiError::Other { code, .. } => *code == 429,
            ApiError::Internal(b) => b
                .details
                .as_ref()
                .is_some_and(|d| d.retry_after_seconds.is_some()),
            _ => false,
        }
    }
}

/// The cause reason of a field error, as Kubernetes names it.
const CAUSE_FIELD_INVALID: &str = "FieldValueInvalid";

/// A Kubernetes `metav1.Status` in its JSON shape: what a server sends for an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    #[serde(default)]
    pub kind: String,
    /// Always `v1`.
    #[serde(default)]
    pub api_version: String,
    /// Empty list metadata.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Failure` for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The reason, e.g. `NotFound`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The object and causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP code.
    #[serde(default)]
    pub code: u16,
}

/// `metav1.StatusDetails`: which object an error is about, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The resource (plural) or kind the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Every field problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i32>,
}

/// `metav1.StatusCause`: one problem, usually with one field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// E.g. `FieldValueInvalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The field's path, e.g. `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&ApiError> for Status {
    fn from(error: &ApiError) -> Status {
        let body = error.body();
        Status {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: Default::default(),
            status: "Failure".to_owned(),
            message: body.message.clone(),
            reason: error.reason().to_owned(),
            details: body.details.as_deref().cloned(),
            code: error.code(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        Status::from(&error)
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> ApiError {
        let body = ErrorBody {
            message: status.message,
            details: status.details.map(Box::new),
        };
        match (status.reason.as_str(), status.code) {
            ("NotFound", 404) => ApiError::NotFound(body),
            ("AlreadyExists", 409) => ApiError::AlreadyExists(body),
            ("Conflict", 409) => ApiError::Conflict(body),
            ("Invalid", 422) => ApiError::Invalid(body),
            ("BadRequest", 400) => ApiError::BadRequest(body),
            ("RequestEntityTooLarge", 413) => ApiError::TooLarge(body),
            ("UnsupportedMediaType", 415) => ApiError::UnsupportedMediaType(body),
            ("Expired", 410) => ApiError::Gone(body),
            ("MethodNotAllowed", 405) => ApiError::MethodNotAllowed(body),
            ("Timeout", 504) => ApiError::Timeout(body),
            ("ServiceUnavailable", 503) => ApiError::Unavailable(body),
            ("InternalError", 500) => ApiError::Internal(body),
            (reason, code) => ApiError::Other {
                code,
                reason: reason.to_owned(),
                body,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Deployment;
    use crate::resource::Resource;

    fn every_error() -> Vec<ApiError> {
        let d = Deployment::api_resource();
        let mut errors = FieldErrors::new();
        errors.push("spec.replicas", "-1 must not be negative");
        errors.push("metadata.name", "name or generateName is required");
        vec![
            ApiError::not_found(&d, "web"),
            ApiError::unknown_kind("gadgets.example.dev/v1 is not a registered kind"),
            ApiError::already_exists(&d, "web"),
            ApiError::conflict(&d, "web", "the object has been modified"),
            ApiError::invalid(&d, "web", errors),
            ApiError::bad_request("invalid label selector \"a==\""),
            ApiError::too_large(&d, "web", 2_000_000, 1_572_864),
            ApiError::unsupported_media_type("patch type application/apply-patch+yaml"),
            ApiError::gone(5, 10),
            ApiError::method_not_allowed("events have no status"),
            ApiError::from_store(&StoreError::outcome_unknown("create /x: request timed out")),
            ApiError::from_store(&StoreError::unavailable("no leader")),
            ApiError::internal("cannot decode stored Pod at /registry/pods/default/x"),
            ApiError::Other {
                code: 403,
                reason: "Forbidden".into(),
                body: ErrorBody::message("pods is forbidden"),
            },
        ]
    }

    #[test]
    fn every_error_crosses_a_process_boundary_unchanged() {
        for error in every_error() {
            let status = Status::from(&error);
            let json = serde_json::to_string(&status).unwrap();
            let back: Status = serde_json::from_str(&json).unwrap();
            assert_eq!(ApiError::from(back), error, "through {json}");
        }
    }

    #[test]
    fn codes_and_reasons_are_kubernetes_own() {
        let codes: Vec<(u16, String)> = every_error()
            .iter()
            .map(|e| (e.code(), e.reason().to_owned()))
            .collect();
        let want = [
            (404, "NotFound"),
            (404, "NotFound"),
            (409, "AlreadyExists"),
            (409, "Conflict"),
            (422, "Invalid"),
            (400, "BadRequest"),
            (413, "RequestEntityTooLarge"),
            (415, "UnsupportedMediaType"),
            (410, "Expired"),
            (405, "MethodNotAllowed"),
            (504, "Timeout"),
            (503, "ServiceUnavailable"),
            (500, "InternalError"),
            (403, "Forbidden"),
        ];
        let want: Vec<(u16, String)> = want.iter().map(|(c, r)| (*c, (*r).to_owned())).collect();
        assert_eq!(codes, want);
    }

    #[test]
    fn messages_read_like_kube_apiserver() {
        let d = Deployment::api_resource();
        assert_eq!(
            ApiError::not_found(&d, "nosuch").to_string(),
            "deployments.apps \"nosuch\" not found"
        );
        let status = Status::from(ApiError::not_found(&d, "nosuch"));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"deployments.apps \"nosuch\" not found","reason":"NotFound",
                "details":{"name":"nosuch","group":"apps","kind":"deployments"},"code":404})
        );
        let mut errors = FieldErrors::new();
        errors.push("spec.replicas", "-1 must not be negative");
        let invalid = ApiError::invalid(&d, "web", errors.clone());
        assert_eq!(
            invalid.to_string(),
            "Deployment.apps \"web\" is invalid: spec.replicas: -1 must not be negative"
        );
        assert_eq!(invalid.field_errors(), errors);
    }
}
