//! API errors: one error type per Prometheus `errorType`, each with exactly one status code and Prometheus's
//! JSON envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Prometheus's `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// 400: the request is malformed.
    BadData,
    /// 422: the expression cannot be executed.
    Execution,
    /// 503: the query timed out.
    Timeout,
    /// 503: the query was canceled.
    Canceled,
    /// 500: an internal error.
    Internal,
    /// 503: the server is not ready.
    Unavailable,
    /// 404: not found.
    NotFound,
}

impl ErrorType {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            ErrorType::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
            ErrorType::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            ErrorType::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ErrorType::Canceled => (StatusCode::SERVICE_UNAVAILABLE, "canceled"),
            ErrorType::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ErrorType::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorType::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

/// An API error with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The kind, which fixes the status code.
    pub kind: ErrorType,
    /// The message shown to the client.
    pub message: String,
}

impl ApiError {
    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError { kind: ErrorType::BadData, message: message.into() }
    }

    /// An `internal` error.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { kind: ErrorType::Internal, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.kind.parts();
        let body = serde_json::json!({"status": "error", "errorType": kind, "error": self.message});
        (status, [("Content-Type", "application/json")], body.to_string()).into_response()
    }
}
