//! Every HTTP-level rejection the gateway can give, each with one fixed status and body.
//!
//! JSON-RPC errors travel inside 200 (or 400/403) JSON-RPC envelopes instead; see `rpc::envelope`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A rejection answered with `{"detail": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate`; `challenge` is the full header value.
    #[error("{detail}")]
    Unauthorized { detail: String, challenge: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 405 with the `Allow` header.
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: &'static str },
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// 408 with `Connection: close`: the body did not arrive within its read deadline.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    ServiceUnavailable(String),
}

impl ApiError {
    /// The standard 403 of token scoping.
    pub(crate) fn access_denied() -> Self {
        ApiError::Forbidden("Access denied".to_owned())
    }

    /// 401 with a bare `WWW-Authenticate: Bearer` challenge.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            detail: detail.into(),
            challenge: "Bearer".to_owned(),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound(detail.into())
    }

    /// 503 for a backing service (store, session registry) that failed or did not answer.
    pub(crate) fn unavailable(e: impl std::fmt::Display) -> Self {
        ApiError::ServiceUnavailable(format!("Service unavailable: {e}"))
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::PayloadTooLarge => "Request body too large".to_owned(),
            other => other.to_string(),
        };
        let mut response = (status, axum::Json(json!({ "detail": detail }))).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized { challenge, .. } => {
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            // The rest of the body may still come: this connection cannot carry another request.
            ApiError::RequestTimeout(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// Result alias for handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
