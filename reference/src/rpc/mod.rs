//! `POST /rpc`: JSON-RPC 2.0 over plain HTTP (§2).

mod batch;
pub(crate) mod dispatch;
pub mod envelope;
pub mod inject;
pub mod protocol;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::pipeline::{RestCaller, read_body};
use crate::policy::Policy;
use crate::scoping::ownership::visible_to;
use crate::scoping::server::validate_server_access;
use crate::state::AppState;
use dispatch::{RpcContext, ServerScope, Transport};
use envelope::{ACCESS_DENIED, RpcError};

/// A JSON response with a status.
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, axum::Json(body)).into_response()
}

/// The 200 answer to a successful call: its result in the JSON-RPC envelope.
pub(crate) fn answer_response(id: &Value, answer: dispatch::Answer) -> Response {
    match answer {
        dispatch::Answer::Value(v) => json_response(200, &envelope::result_body(id, v)),
        dispatch::Answer::Text(t) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            envelope::result_text(id, &t),
        )
            .into_response(),
    }
}

/// An error envelope. Access denials carry the policy's denial code (D9: -32003, never 0).
pub(crate) fn error_response(policy: &Policy, id: &Value, err: &RpcError) -> Response {
    let mut err = err.clone();
    if err.code == ACCESS_DENIED {
        err.code = policy.denial_code;
    }
    json_response(err.http_status, &envelope::error_body(id, &err))
}

/// Why a `/rpc` call may not use the session it names.
enum SessionCheck {
    Denied(RpcError),
    Unavailable(Response),
}

/// C-RPC-21: with stateful sessions, a `/rpc` call naming an `mcp-session-id` (other than
/// `initialize`) must name an existing session of the caller's: an unknown (or malformed) one
/// is -32002 "Session not found", another caller's -32003 "Session access denied", both with
/// HTTP 200 as ContextForge sends them.
async fn check_rpc_session(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    method: &str,
) -> Result<(), SessionCheck> {
    use crate::mcp::session::{SESSION_HEADER, is_valid_session_id};
    if !state.settings.use_stateful_sessions
        || method == "initialize"
        || !state.policy().rpc_checks_session
    {
        return Ok(());
    }
    let Some(value) = headers.get(SESSION_HEADER) else {
        return Ok(());
    };
    let not_found =
        || SessionCheck::Denied(RpcError::new(envelope::NOT_FOUND, "Session not found"));
    let id = value
        .to_str()
        .ok()
        .filter(|id| is_valid_session_id(id))
        .ok_or_else(not_found)?;
    let record = state.sessions.store.get(id).await.map_err(|e| {
        SessionCheck::Unavailable(crate::error::ApiError::unavailable(e).into_response())
    })?;
    match record {
        None => Err(not_found()),
        Some(r) if r.owner.as_deref() != caller.email.as_deref() => Err(SessionCheck::Denied(
            RpcError::new(ACCESS_DENIED, "Session access denied"),
        )),
        Some(_) => Ok(()),
    }
}

/// The server scope of a `/rpc` call: `params.server_id` when given (a scoped token may only
/// name its own server: otherwise HTTP 403 with -32003), else the token's own server (D2), else
/// the whole catalogue.
pub(crate) async fn rpc_scope(
    state: &AppState,
    caller: &Caller,
    params: &Map<String, Value>,
) -> Result<ServerScope, RpcError> {
    let requested = match params.get("server_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(RpcError::invalid_request()),
    };
    let token_server = caller.scoped_server();
    let Some(wanted) = requested.or(token_server) else {
        return Ok(ServerScope::Global);
    };
    // A requested server resolves by id or name (D4). The token's own restriction is a canonical
    // id and is looked up as one: a name in a token denotes no server, because the name could
    // later be given to another server.
    let lookup = if requested.is_some() {
        state.store.resolve_server(wanted).await
    } else {
        state.store.servers.get(wanted).await
    };
    let resolved = lookup
        .map_err(|e| RpcError::internal(e.to_string()))?
        .filter(|s| s.enabled);
    if requested.is_some() {
        let canonical = resolved.as_ref().map_or(wanted, |s| s.id.as_str());
        if !validate_server_access(token_server, canonical) {
            return Err(RpcError::new(
                ACCESS_DENIED,
                format!("Token not authorized for server: {wanted}"),
            )
            .with_status(403));
        }
    }
    Ok(match resolved {
        Some(s) if visible_to(&s.owned, caller.viewer()) => ServerScope::Server(s),
        _ => ServerScope::Unknown(wanted.to_owned()),
    })
}

/// The method whose permission is checked: the one that runs, except in the defect matrix's
/// gateway that checks the first `"method"` the raw body names (duplicate keys, RFC 8259 §4).
pub(crate) fn checked_method<'a>(
    state: &AppState,
    body: &[u8],
    method: &'a str,
) -> std::borrow::Cow<'a, str> {
    // Borrowed, and the body not scanned, on the strict path: every request passes here.
    if state.policy().one_method_per_request {
        return std::borrow::Cow::Borrowed(method);
    }
    envelope::first_method(body).map_or(std::borrow::Cow::Borrowed(method), std::borrow::Cow::Owned)
}

/// `POST /rpc` and `POST /rpc/`.
pub(crate) async fn rpc_endpoint(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(body) =
        protocol::check_version_header(&headers, state.policy().protocol_versions_exact)
    {
        return json_response(400, &body);
    }
    let bytes = match read_body(body, state.body_limit()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(failed) = crate::pipeline::fails_on_deep_json(&state, &bytes) {
        return failed;
    }
    if !state.policy().batches_refused
        && let Ok(Value::Array(calls)) = serde_json::from_slice::<Value>(&bytes)
        && !calls.is_empty()
    {
        return batch::serve_first_checked(&state, &caller, calls).await;
    }
    let request = match envelope::parse_request(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let (status, body) = e.into_response_body();
            return json_response(status, &body);
        }
    };
    // ContextForge answers notifications on /rpc with a body carrying a generated id (C-RPC-07).
    let id = request
        .id
        .clone()
        .unwrap_or_else(|| Value::String(uuid::Uuid::new_v4().to_string()));
    if let Err(e) = check_rpc_session(&state, &caller, &headers, &request.method).await {
        return match e {
            SessionCheck::Denied(e) => error_response(state.policy(), &id, &e),
            SessionCheck::Unavailable(r) => r,
        };
    }
    let scope = match rpc_scope(&state, &caller, &request.params).await {
        Ok(s) => s,
        Err(e) => return error_response(state.policy(), &id, &e),
    };
    let ctx = RpcContext {
        state: &state,
        caller: &caller,
        scope,
        transport: Transport::Rpc,
        relayed: Default::default(),
        upstream_session: Default::default(),
    };
    let checked = checked_method(&state, &bytes, &request.method);
    match dispatch::dispatch_checked_as(&ctx, &checked, &request.method, &request.params).await {
        Ok(answer) => answer_response(&id, answer),
        Err(e) => error_response(state.policy(), &id, &e),
    }
}
