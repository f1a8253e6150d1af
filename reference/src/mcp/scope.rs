//! The server scope of an MCP request: the path's server, else the server of a server-scoped
//! token (D2: such a token is narrowed to its server on the global `/mcp` too), else the whole
//! catalogue; then narrowed to the session's server, never widened by it.

use std::sync::Arc;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::rpc::dispatch::ServerScope;
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::Server;

use super::session::{SessionDenial, SessionRecord};

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(e)
}

/// A canonical server id (a token's restriction, a session's binding) as a scope: the server
/// when it exists, is enabled and the caller may see it; otherwise an empty catalogue under that
/// id. Looked up by id only: a restriction naming a server by its *name* must not reach it (D4).
async fn scope_of_id(state: &AppState, caller: &Caller, id: &str) -> Result<ServerScope, ApiError> {
    Ok(
        match state.store.servers.get(id).await.map_err(unavailable)? {
            Some(s) if s.enabled && visible_to(&s.owned, caller.viewer()) => ServerScope::Server(s),
            _ => ServerScope::Unknown(id.to_owned()),
        },
    )
}

/// The scope of a request on an endpoint whose path named `server` (already checked to exist
/// and be visible), or the global endpoint (`None`).
pub(crate) async fn request_scope(
    state: &AppState,
    caller: &Caller,
    server: Option<Arc<Server>>,
) -> Result<ServerScope, ApiError> {
    if let Some(s) = server {
        return Ok(ServerScope::Server(s));
    }
    match caller.scoped_server() {
        Some(sid) if state.policy().global_mcp_scoped => scope_of_id(state, caller, sid).await,
        _ => Ok(ServerScope::Global),
    }
}

/// The canonical server id a scope is bound to (`None` for the whole catalogue).
pub(crate) fn scope_server_id(scope: &ServerScope) -> Option<&str> {
    match scope {
        ServerScope::Global => None,
        ServerScope::Server(s) => Some(&s.id),
        ServerScope::Unknown(id) => Some(id),
    }
}

/// Narrow `scope` to the session's server. A request whose own scope names another server (a
/// token scoped elsewhere reusing the session) is refused: a session never changes server.
pub(crate) async fn bind_to_session(
    state: &AppState,
    caller: &Caller,
    scope: ServerScope,
    session: &SessionRecord,
) -> Result<ServerScope, ApiError> {
    let Some(bound) = session.server_id.as_deref() else {
        return Ok(scope);
    };
    match scope_server_id(&scope) {
        Some(id) if id == bound => Ok(scope),
        Some(_) => Err(SessionDenial::AccessDenied.into()),
        None => scope_of_id(state, caller, bound).await,
    }
}
