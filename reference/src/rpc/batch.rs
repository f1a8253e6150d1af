//! The defect matrix's `/rpc` that serves JSON-RPC batches (`batch-checked-by-first-call`): the
//! first call of a batch is scoped as any request is, and the others run in the whole catalogue,
//! as a gateway does whose permission and scope checks read the body's first message and then
//! let the whole body through. The strict policy never comes here: a batch is -32600 Invalid
//! Request (C-RPC-02).

use axum::response::Response;
use serde_json::Value;

use super::dispatch::{self, Answer, RpcContext, ServerScope, Transport};
use super::{envelope, json_response, rpc_scope};
use crate::auth::Caller;
use crate::state::AppState;

/// Answer every call of `calls` (a non-empty batch), in order, as one JSON array.
pub(crate) async fn serve_first_checked(
    state: &AppState,
    caller: &Caller,
    calls: Vec<Value>,
) -> Response {
    let mut answers = Vec::with_capacity(calls.len());
    for (i, call) in calls.into_iter().enumerate() {
        let bytes = serde_json::to_vec(&call).unwrap_or_default();
        let request = match envelope::parse_request(&bytes) {
            Ok(r) => r,
            Err(e) => {
                answers.push(e.into_response_body().1);
                continue;
            }
        };
        let id = request.id.clone().unwrap_or(Value::Null);
        let scope = if i == 0 {
            match rpc_scope(state, caller, &request.params).await {
                Ok(s) => s,
                Err(e) => {
                    answers.push(envelope::error_body(&id, &e));
                    continue;
                }
            }
        } else {
            ServerScope::Global
        };
        let ctx = RpcContext {
            state,
            caller,
            scope,
            transport: Transport::Rpc,
            relayed: Default::default(),
            upstream_session: Default::default(),
        };
        let answered =
            dispatch::dispatch_checked_as(&ctx, &request.method, &request.method, &request.params)
                .await;
        answers.push(match answered {
            Ok(Answer::Value(v)) => envelope::result_body(&id, v),
            Ok(Answer::Text(t)) => {
                serde_json::from_str(&envelope::result_text(&id, &t)).unwrap_or(Value::Null)
            }
            Err(e) => envelope::error_body(&id, &e),
        });
    }
    json_response(200, &Value::Array(answers))
}
