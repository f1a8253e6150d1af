//! MCP Streamable HTTP on `/mcp` and `/servers/{id-or-name}/mcp` (§3).
//!
//! Every request, in order: which endpoint the path names (`/mcp/*` and malformed server paths
//! never get here, D8 and routing refuse them), `Origin` (DNS-rebinding protection, 403), who
//! the caller is (transport auth with OAuth challenges, D5; token scoping already ran, after name
//! resolution, D4), the `MCP-Protocol-Version` header (C-RPC-23), whether the server exists and
//! the caller may see it; then the method: `POST` (a JSON-RPC message, answered as JSON or as a
//! one-shot SSE stream), `GET` (a stateful session's SSE stream) or `DELETE` (ending a session).
//!
//! Sessions are off by default (stateless: every POST stands alone). With
//! `USE_STATEFUL_SESSIONS=true`, `initialize` opens one and every later request must carry it.

pub(crate) mod accept;
pub(crate) mod auth;
pub(crate) mod crossing;
mod lifecycle;
pub(crate) mod message;
pub(crate) mod origin;
mod post;
pub(crate) mod replay;
pub(crate) mod scope;
pub mod session;
pub(crate) mod sse;

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthOutcome, Caller};
use crate::error::ApiError;
use crate::paths::parse_server_path;
use crate::pipeline::RequestContext;
use crate::rpc::{json_response, protocol};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::Server;
use session::{SESSION_HEADER, SessionEndpoint, SessionRecord};

/// Which endpoint an MCP request addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum McpTarget {
    /// `/mcp`
    Global,
    /// `/servers/{segment}/mcp`
    Server(String),
}

/// Classify an app path on the MCP routes.
pub(crate) fn mcp_target(path: &str) -> Option<McpTarget> {
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

/// One admitted MCP request: who asks, on which endpoint.
#[derive(Debug)]
pub(crate) struct McpCall<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub headers: &'a HeaderMap,
    /// The server the path named (checked to exist and be visible); `None` on `/mcp`.
    pub server: Option<Arc<Server>>,
    pub endpoint: SessionEndpoint,
    /// A forwarded request that the policy served without its server scope (issue 3018's
    /// forwarded requests lost `params.server_id`): its session is then checked against the
    /// session's own endpoint, since the request no longer knows which endpoint it came to.
    pub unscoped_forward: bool,
}

impl McpCall<'_> {
    fn stateful(&self) -> bool {
        self.state.settings.use_stateful_sessions
    }

    /// The session the request names, checked: `Ok(None)` when it names none; 400 for a
    /// malformed id or a protocol version other than the session's, 404 for an unknown one or
    /// one of another endpoint (D10 after DELETE), 403 for another caller's (C-MCP-18/19).
    async fn session(&self) -> Result<Option<SessionRecord>, Response> {
        let mut values = self.headers.get_all(SESSION_HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        let id = value
            .to_str()
            .ok()
            .filter(|id| session::is_valid_session_id(id) && values.next().is_none())
            .ok_or_else(|| bad_request("Bad Request: Invalid session ID"))?;
        let store = &self.state.sessions.store;
        let found = store.get(id).await.map_err(unavailable)?;
        // Where the session is looked for: this endpoint, unless a policy shares one session
        // table across endpoints (or an unscoped forward re-creates issue 3018).
        let anywhere = self.unscoped_forward || !self.state.policy().sessions_per_endpoint;
        let endpoint = match (&found, anywhere) {
            (Some(r), true) => r.endpoint.clone(),
            _ => self.endpoint.clone(),
        };
        let caller = match &found {
            // A policy that does not check owners lets every caller pass for the owner.
            Some(r) if !self.state.policy().session_owner_checked => r.owner.clone(),
            _ => self.caller.email.clone(),
        };
        let record = session::check_access(found, &endpoint, caller.as_deref())
            .map_err(|d| ApiError::from(d).into_response())?;
        if let Some(v) = self.headers.get("mcp-protocol-version")
            && v.as_bytes() != record.protocol_version.as_bytes()
        {
            return Err(bad_request(&format!(
                "Bad Request: MCP-Protocol-Version does not match the session's negotiated version {}",
                record.protocol_version
            )));
        }
        store
            .touch(id, self.state.now_secs())
            .await
            .map_err(unavailable)?;
        Ok(Some(record))
    }
}

fn bad_request(detail: &str) -> Response {
    ApiError::BadRequest(detail.to_owned()).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    ApiError::unavailable(e).into_response()
}

/// Add `mcp-session-id: id` to a response.
fn with_session_id(mut response: Response, id: Option<&str>) -> Response {
    if let Some(v) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

/// The request's MCP entry point: everything after routing.
pub(crate) async fn mcp_endpoint(
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
    let policy = state.policy();
    if let McpTarget::Server(seg) = &target
        && !policy.server_segments.recognises(seg)
    {
        // A segment the server route does not recognise falls through to the global endpoint
        // (how issue 3891's hex-only regex behaved).
        target = McpTarget::Global;
    }
    let unscoped_forward = ctx.forwarded_from.is_some() && !policy.forward_keeps_server_scope;
    if unscoped_forward {
        target = McpTarget::Global;
    }
    if policy.origin_checked && !origin::origin_allowed(&headers, &state.settings.allowed_origins) {
        return ApiError::Forbidden("Forbidden: invalid Origin header".to_owned()).into_response();
    }

    let server = match &target {
        McpTarget::Server(seg) => match state.store.resolve_server(seg).await {
            Ok(s) => s,
            Err(e) => return unavailable(e),
        },
        McpTarget::Global => None,
    };
    let caller = match auth::transport_caller(&state, &ctx, &headers, &outcome, server.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Err(body) =
        protocol::check_version_header(&headers, state.policy().protocol_versions_exact)
    {
        return json_response(400, &body);
    }
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
    let endpoint = match &server {
        Some(s) => SessionEndpoint::Server(s.id.clone()),
        None => SessionEndpoint::Global,
    };
    let call = McpCall {
        state: &state,
        caller: &caller,
        headers: &headers,
        server,
        endpoint,
        unscoped_forward,
    };

    match method {
        Method::POST => post::post(&call, body).await,
        Method::GET => lifecycle::get(&call).await,
        Method::DELETE => lifecycle::delete(&call).await,
        _ => ApiError::MethodNotAllowed {
            detail: "Method Not Allowed".to_owned(),
            allow: "POST, DELETE",
        }
        .into_response(),
    }
}
