//! `POST`: one JSON-RPC message from the client.
//!
//! Order: `Accept` (406) and `Content-Type` (415), the body (413, empty -> 202, not JSON -> 400),
//! the message's shape, the session it names (stateful mode: required on everything but
//! `initialize`), then notifications and client responses get 202 and requests are dispatched in
//! the request's server scope. `initialize` in stateful mode opens a session.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::accept::{self, ResponseMode};
use super::message::{self, Incoming};
use super::replay::Audience;
use super::session::{self, SessionRecord};
use super::{McpCall, bad_request, scope, sse, unavailable, with_session_id};
use crate::error::ApiError;
use crate::pipeline::read_body;
use crate::rpc::dispatch::{self, RpcContext, Transport};
use crate::rpc::{envelope, error_response, json_response};

fn envelope_error(e: envelope::EnvelopeError) -> Response {
    let (status, body) = e.into_response_body();
    json_response(status, &body)
}

pub(super) async fn post(call: &McpCall<'_>, body: Body) -> Response {
    let settings = &call.state.settings;
    let preferred = if settings.json_response_enabled {
        ResponseMode::Json
    } else {
        ResponseMode::Sse
    };
    let mode = accept::choose_mode(accept::accept_header(call.headers).as_deref(), preferred);
    let Some(mode) = mode else {
        return ApiError::NotAcceptable(
            "Not Acceptable: Client must accept application/json or text/event-stream".to_owned(),
        )
        .into_response();
    };
    if !accept::content_type_is_json(call.headers) {
        return ApiError::UnsupportedMediaType(
            "Unsupported Media Type: Content-Type must be application/json".to_owned(),
        )
        .into_response();
    }
    let bytes = match read_body(body, call.state.body_limit()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(failed) = crate::pipeline::fails_on_deep_json(call.state, &bytes) {
        return failed;
    }
    if bytes.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return envelope_error(envelope::EnvelopeError::Parse);
    };
    let incoming = match message::classify(value, bytes.len()) {
        Ok(m) => m,
        Err(e) => return envelope_error(e),
    };

    let opens_session = call.stateful() && incoming.is_initialize();
    let session = if call.stateful() && !opens_session {
        match call.session().await {
            Ok(Some(s)) => Some(s),
            Ok(None) => return bad_request("Bad Request: Missing session ID"),
            Err(r) => return r,
        }
    } else {
        None
    };
    let session_id = session.as_ref().map(|s| s.id.as_str());
    let request = match incoming {
        Incoming::Request(r) => r,
        Incoming::Notification { .. } | Incoming::Response => {
            return with_session_id(StatusCode::ACCEPTED.into_response(), session_id);
        }
    };

    let mut server_scope =
        match scope::request_scope(call.state, call.caller, call.server.clone()).await {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
    if let Some(s) = session.as_ref().filter(|_| !call.unscoped_forward) {
        server_scope = match scope::bind_to_session(call.state, call.caller, server_scope, s).await
        {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
    }
    let scope_server = scope::scope_server_id(&server_scope).map(str::to_owned);
    let id = match request.id.clone().unwrap_or(Value::Null) {
        // A policy that does not keep ids as they came answers a number as a string.
        Value::Number(n) if !call.state.policy().ids_verbatim => Value::String(n.to_string()),
        id => id,
    };
    let ctx = RpcContext {
        state: call.state,
        caller: call.caller,
        scope: server_scope,
        transport: Transport::Mcp,
        relayed: Default::default(),
        upstream_session: Default::default(),
    };
    let checked = crate::rpc::checked_method(call.state, &bytes, &request.method);
    let dispatched =
        dispatch::dispatch_checked_as(&ctx, &checked, &request.method, &request.params);
    let dispatched =
        if request.method == "tools/call" && !call.state.policy().answers_kept_per_request {
            call.state.crossing.route(&id, dispatched).await
        } else {
            dispatched.await
        };
    let (response, opened) = match dispatched {
        Ok(answer) => {
            let opened = if opens_session {
                let result = answer.value().unwrap_or(&Value::Null);
                match open_session(call, scope_server, result).await {
                    Ok(id) => Some(id),
                    Err(r) => return r,
                }
            } else {
                None
            };
            (crate::rpc::answer_response(&id, answer), opened)
        }
        Err(e) => (error_response(call.state.policy(), &id, &e), None),
    };
    let relayed = std::mem::take(&mut *ctx.relayed.lock().unwrap_or_else(|e| e.into_inner()));
    // Notifications from upstreams can only travel in a stream: when there are some and the
    // client takes one, the answer is a stream whatever the preferred mode.
    let accept = accept::accept_header(call.headers);
    let mode = if !relayed.is_empty() && accept::accepts(accept.as_deref(), sse::EVENT_STREAM) {
        ResponseMode::Sse
    } else {
        mode
    };
    let response = match mode {
        ResponseMode::Json => response,
        ResponseMode::Sse => {
            let in_session = opened.as_deref().or(session_id);
            let log = &call.state.sessions.events;
            let audience = Audience::of(call.caller);
            sse::into_one_shot(
                response,
                &relayed,
                in_session.map(|s| (&**log, s, &audience)),
            )
            .await
        }
    };
    // Only a loosened policy records the upstream's session id (and so passes it on).
    let leaked = ctx
        .upstream_session
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    with_session_id(
        response,
        leaked.as_deref().or(opened.as_deref()).or(session_id),
    )
}

/// Record a new session for a successful `initialize`; its id.
async fn open_session(
    call: &McpCall<'_>,
    server_id: Option<String>,
    initialize_result: &Value,
) -> Result<String, Response> {
    let now = call.state.now_secs();
    // Only the matrix's `session-id-from-client` takes the id the client sent with its
    // initialize (session fixation); the gateway issues every id itself.
    let chosen = (!call.state.policy().session_ids_issued)
        .then(|| call.headers.get(session::SESSION_HEADER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .filter(|v| session::is_valid_session_id(v))
        .map(str::to_owned);
    let record = SessionRecord {
        id: chosen.unwrap_or_else(session::new_session_id),
        owner: call.caller.email.clone(),
        endpoint: call.endpoint.clone(),
        server_id,
        protocol_version: initialize_result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(crate::rpc::protocol::LATEST_VERSION)
            .to_owned(),
        created_at: now,
        last_used_at: now,
    };
    let id = record.id.clone();
    call.state
        .sessions
        .store
        .create(record)
        .await
        .map_err(unavailable)?;
    Ok(id)
}
