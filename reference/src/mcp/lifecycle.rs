//! `GET` (a stateful session's SSE stream, resumed after `Last-Event-ID` when the client names
//! one of the session's events) and `DELETE` (ending a session, D10).

use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::accept;
use super::replay::Audience;
use super::{McpCall, bad_request, sse, unavailable, with_session_id};
use crate::error::ApiError;
use crate::rpc::json_response;

/// The header a client resumes a stream with (SSE; MCP transports, resumability).
const LAST_EVENT_ID: &str = "last-event-id";

/// `GET`: 405 without stateful sessions or without a session id (C-MCP-16), the session checks
/// (C-MCP-19), 406 unless the client takes `text/event-stream`, 409 when the session already
/// has a stream; otherwise the stream.
pub(super) async fn get(call: &McpCall<'_>) -> Response {
    if !call.stateful() {
        return ApiError::MethodNotAllowed {
            detail:
                "Stateful sessions disabled on this gateway; passive SSE stream is not available."
                    .to_owned(),
            allow: "POST, DELETE",
        }
        .into_response();
    }
    let session = match call.session().await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ApiError::MethodNotAllowed {
                detail:
                    "Missing session ID: open the stream with the mcp-session-id from initialize"
                        .to_owned(),
                allow: "POST, DELETE",
            }
            .into_response();
        }
        Err(r) => return r,
    };
    let takes_sse = accept::accepts(
        accept::accept_header(call.headers).as_deref(),
        sse::EVENT_STREAM,
    );
    if !takes_sse {
        return ApiError::NotAcceptable(
            "Not Acceptable: Client must accept text/event-stream".to_owned(),
        )
        .into_response();
    }
    let Some(claim) = call.state.sessions.listeners.claim(&session.id) else {
        return ApiError::Conflict(
            "Conflict: Only one SSE stream is allowed per session".to_owned(),
        )
        .into_response();
    };
    // A resumption replays this session's events after the one named; only the defect
    // matrix's gateway looks the id up in every session's log.
    let log = &call.state.sessions.events;
    let replayed = match call
        .headers
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
    {
        Some(last) if call.state.policy().event_replay_per_session => {
            log.after(&session.id, &Audience::of(call.caller), last)
        }
        Some(last) => log.after_in_any_session(last),
        None => Vec::new(),
    };
    with_session_id(sse::listen(claim, replayed), Some(&session.id))
}

/// `DELETE`: 405 without stateful sessions, 400 without a session id, the session checks, then
/// the session ends (its stream too) and later requests naming it get 404 (D10).
pub(super) async fn delete(call: &McpCall<'_>) -> Response {
    if !call.stateful() {
        return ApiError::MethodNotAllowed {
            detail: "Session termination is not supported without stateful sessions".to_owned(),
            allow: "POST",
        }
        .into_response();
    }
    let session = match call.session().await {
        Ok(Some(s)) => s,
        Ok(None) => return bad_request("Bad Request: Missing session ID"),
        Err(r) => return r,
    };
    if call.state.policy().delete_ends_session {
        if let Err(e) = call.state.sessions.store.delete(&session.id).await {
            return unavailable(e);
        }
        call.state.sessions.listeners.close(&session.id);
        call.state.sessions.events.forget(&session.id);
    }
    json_response(200, &json!({"jsonrpc": "2.0", "result": {}}))
}
