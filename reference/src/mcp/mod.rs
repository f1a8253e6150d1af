//! MCP Streamable HTTP on `/mcp` and `/servers/{id-or-name}/mcp` (§3).
//!
//! This module answers POSTs in stateless JSON mode; sessions and SSE are added by the
//! transport issue. Authentication here follows the transport's rules (strict/permissive mode,
//! OAuth challenges with `resource_metadata`, D5); token scoping has already run.

pub mod auth;

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::{AuthOutcome, Caller};
use crate::defects::Defect;
use crate::error::ApiError;
use crate::paths::parse_server_path;
use crate::pipeline::{RequestContext, read_body};
use crate::rpc::dispatch::{self, RpcContext, ServerScope, Transport};
use crate::rpc::{envelope, error_response, json_response, protocol};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::Server;

/// Which endpoint an MCP request addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTarget {
    /// `/mcp`
    Global,
    /// `/servers/{segment}/mcp`
    Server(String),
}

/// Classify an app path on the MCP routes.
pub fn mcp_target(path: &str) -> Option<McpTarget> {
    let p = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    if p == "/mcp" {
        return Some(McpTarget::Global);
    }
    let sp = parse_server_path(p)?;
    (sp.rest == "/mcp").then(|| McpTarget::Server(sp.segment.to_owned()))
}

/// Whether `segment` is a server id under the hex-only rule of issue 3891 (defect only).
fn hex_only(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The request's MCP entry point: everything after routing.
pub async fn mcp_endpoint(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(outcome): Extension<AuthOutcome>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(mut target) = mcp_target(ctx.app_path.as_str()) else {
        return ApiError::not_found("Not found").into_response();
    };
    if let McpTarget::Server(seg) = &target
        && state.defects.has(Defect::HexOnlyServerRegex)
        && !hex_only(seg)
    {
        // Issue 3891: a non-hex id did not match the server regex and fell through to /mcp.
        target = McpTarget::Global;
    }

    let server = match &target {
        McpTarget::Server(seg) => match state.store.resolve_server(seg).await {
            Ok(s) => s,
            Err(e) => {
                return ApiError::ServiceUnavailable(format!("Service unavailable: {e}"))
                    .into_response();
            }
        },
        McpTarget::Global => None,
    };
    let caller = match auth::transport_caller(&state, &ctx, &headers, &outcome, server.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let server = match (&target, server) {
        (McpTarget::Server(_), None) => {
            return ApiError::not_found("Server not found").into_response();
        }
        (McpTarget::Server(_), Some(s)) if !s.enabled => {
            return ApiError::not_found("Server not found").into_response();
        }
        (McpTarget::Server(_), Some(s)) if !visible_to(&s.owned, caller.viewer()) => {
            return ApiError::access_denied().into_response();
        }
        (_, s) => s,
    };

    match method {
        Method::POST => post(&state, &caller, &headers, server, body).await,
        Method::GET => ApiError::MethodNotAllowed {
            detail:
                "Stateful sessions disabled on this gateway; passive SSE stream is not available."
                    .to_owned(),
            allow: "POST, DELETE",
        }
        .into_response(),
        Method::DELETE => ApiError::MethodNotAllowed {
            detail: "Session termination is not supported without stateful sessions".to_owned(),
            allow: "POST",
        }
        .into_response(),
        _ => ApiError::MethodNotAllowed {
            detail: "Method Not Allowed".to_owned(),
            allow: "POST, DELETE",
        }
        .into_response(),
    }
}

fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let mt = part.split(';').next().unwrap_or("").trim();
        mt == "application/json" || mt == "*/*" || mt == "application/*"
    })
}

async fn post(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    server: Option<Arc<Server>>,
    body: Body,
) -> Response {
    if let Err(body) = protocol::check_version_header(headers) {
        return json_response(400, &body);
    }
    if !accepts_json(headers) {
        return ApiError::NotAcceptable(
            "Not Acceptable: Client must accept application/json".to_owned(),
        )
        .into_response();
    }
    let bytes = match read_body(body, state.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if bytes.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => {
            return json_response(400, &envelope::EnvelopeError::Parse.into_response_body().1);
        }
    };
    // A JSON-RPC response or a notification from the client needs no answer.
    if value.get("id").is_none() || value.get("method").is_none() {
        let is_message = value.is_object()
            && (value.get("result").is_some()
                || value.get("error").is_some()
                || value.get("method").is_some());
        if is_message {
            return StatusCode::ACCEPTED.into_response();
        }
    }
    let request = match envelope::parse_value(value) {
        Ok(r) => r,
        Err(e) => {
            let (status, body) = e.into_response_body();
            return json_response(status, &body);
        }
    };
    let id = request.id.clone().unwrap_or(Value::Null);
    let scope = match server {
        Some(s) => ServerScope::Server(s),
        None => match caller.scoped_server() {
            Some(sid) if !state.defects.has(Defect::GlobalMcpUnscoped) => {
                match state.store.resolve_server(sid).await {
                    Ok(Some(s)) if s.enabled => ServerScope::Server(s),
                    Ok(_) => ServerScope::Unknown(sid.to_owned()),
                    Err(e) => return ApiError::ServiceUnavailable(e.to_string()).into_response(),
                }
            }
            _ => ServerScope::Global,
        },
    };
    let ctx = RpcContext {
        state,
        caller,
        scope,
        transport: Transport::Mcp,
    };
    match dispatch::dispatch(&ctx, &request.method, &request.params).await {
        Ok(result) => json_response(200, &envelope::result_body(&id, result)),
        Err(e) => error_response(state, &id, &e),
    }
}
