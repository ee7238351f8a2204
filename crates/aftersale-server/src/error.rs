//! The one error shape every endpoint answers with:
//! `{"error": {"code", "message", "term"?, "position"?, "problems"?}}` and a status code
//! that says whose fault it is.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use aftersale_core::EvalError;

use crate::catalog::{Problem, SelectError};

/// A place in a bundle's script.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Position {
    /// The file, relative to the bundle.
    pub file: String,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code (`invalid_facts`, `unknown_contract`, `evaluation`, ...).
    pub code: String,
    /// A message for people.
    pub message: String,
    /// The term that failed, for evaluation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Where in the term's script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The HTTP status this error would have on its own (items of `evaluate-batch` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Every problem found, for a failed reload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error answered to a request: a status and an [`ErrorDetail`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {}", detail.message)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// The body (boxed: errors travel in every `Result` of a request's path).
    pub detail: Box<ErrorDetail>,
    /// Seconds for a `Retry-After` header: when the server or the tenant is full, waiting
    /// helps.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: Box::new(ErrorDetail {
                code: code.to_string(),
                message: message.into(),
                term: None,
                position: None,
                status: None,
                problems: Vec::new(),
            }),
            retry_after: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 500: a fault of the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The body of a batch item: the detail, carrying its status.
    pub fn into_batch_item(self) -> ErrorBody {
        let mut detail = *self.detail;
        detail.status = Some(self.status.as_u16());
        ErrorBody { error: detail }
    }
}

impl From<&EvalError> for ApiError {
    /// 400 when the request is wrong (facts not an object, unknown output), 422 when a term
    /// fails on it.
    fn from(e: &EvalError) -> Self {
        let status = if e.is_bad_request() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let mut error = Self::new(status, e.code(), e.to_string());
        error.detail.term = e.term().map(str::to_string);
        error.detail.position = e.location().map(|l| Position {
            file: l.file.clone(),
            line: l.line,
            column: l.column,
        });
        error
    }
}

impl From<SelectError> for ApiError {
    fn from(e: SelectError) -> Self {
        let (status, code) = match &e {
            SelectError::UnknownContract { .. } => (StatusCode::NOT_FOUND, "unknown_contract"),
            SelectError::UnknownVersion { .. } => (StatusCode::NOT_FOUND, "unknown_version"),
            SelectError::NoneInForce { .. } => (StatusCode::NOT_FOUND, "no_version_in_force"),
            SelectError::AsOf(_) => (StatusCode::BAD_REQUEST, "invalid_as_of"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error: *self.detail,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The error for a status answered by a layer or by the router itself (an unknown route, a
/// timeout, a body over the limit), which would otherwise have no JSON body.
pub fn for_bare_status(status: StatusCode) -> ApiError {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this endpoint")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("too_large", "request body larger than the server's limit")
        }
        StatusCode::REQUEST_TIMEOUT => {
            ("timeout", "the request took longer than the server's limit")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send a JSON body"),
        StatusCode::SERVICE_UNAVAILABLE => {
            ("overloaded", "the server is at its limit; retry later")
        }
        s if s.is_client_error() => ("bad_request", "bad request"),
        _ => ("internal", "internal error"),
    };
    ApiError::new(status, code, message)
}
