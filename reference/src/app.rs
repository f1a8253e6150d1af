//! `app(state)`: the whole gateway as an axum `Router`, testable without a socket.
//!
//! In front of the routes, in order: raw-path guard and request context -> cluster affinity
//! (forwarding to a session's owner; cluster mode only) -> one store generation per request
//! (only with the cluster's read cache) -> authentication -> token scoping -> routes. On a
//! single process that is one middleware (`pipeline::front`); in cluster mode the guard and
//! the checks are two, around affinity and the generation. They wrap the router from outside,
//! so they run before route matching (and the guard may strip `APP_ROOT_PATH` from the URI the
//! router sees).

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::error::ApiError;
use crate::pipeline::{self, RequestContext};
use crate::state::AppState;
use crate::{admin, mcp, rpc, wellknown};

/// Paths no route matched: a malformed server MCP path gets C-MCP-01/02's answer.
async fn fallback(req: Request) -> Response {
    let path = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.app_path.as_str().to_owned())
        .unwrap_or_default();
    let trimmed = path.strip_suffix('/').unwrap_or(&path);
    if trimmed.starts_with("/servers/") && trimmed.ends_with("/mcp") {
        return ApiError::not_found("Invalid server identifier").into_response();
    }
    pipeline::not_found().await
}

/// Run the rest of the request inside one store generation (`store::generation::scope`).
async fn read_at_one_generation(req: Request, next: Next) -> Response {
    crate::store::generation::scope(next.run(req)).await
}

/// The gateway.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(admin::routes())
        .route("/rpc", post(rpc::rpc_endpoint))
        .route("/rpc/", post(rpc::rpc_endpoint))
        .route("/mcp", any(mcp::mcp_endpoint))
        .route("/mcp/", any(mcp::mcp_endpoint))
        .route(
            "/mcp/{*rest}",
            any(|| async { ApiError::not_found("Not found") }),
        )
        .route("/servers/{id}/mcp", any(mcp::mcp_endpoint))
        .route("/servers/{id}/mcp/", any(mcp::mcp_endpoint))
        .route(
            "/servers/{id}/.well-known/{file}",
            get(wellknown::server_well_known),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(wellknown::protected_resource_query),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*rest}",
            get(wellknown::protected_resource),
        )
        .route("/.well-known/{file}", get(wellknown::well_known_file))
        .fallback(fallback)
        .with_state(state.clone());
    let inner = Router::new().fallback_service(routes);
    // A single process: the pipeline is one function in front of the router.
    if state.cluster.is_none() && !state.store.has_read_cache() {
        return inner.layer(from_fn_with_state(state, pipeline::front));
    }
    let inner = inner.layer(from_fn_with_state(state.clone(), pipeline::checked_layer));
    // Cluster mode on Postgres: a request reads the store at one generation (one Redis round
    // trip per request, however many records it reads).
    let inner = if state.store.has_read_cache() {
        inner.layer(axum::middleware::from_fn(read_at_one_generation))
    } else {
        inner
    };
    // Outside cluster mode the affinity layer would only pass requests on: leave it out.
    let inner = if state.cluster.is_some() {
        inner.layer(from_fn_with_state(
            state.clone(),
            crate::cluster::forward::affinity_layer,
        ))
    } else {
        inner
    };
    inner.layer(from_fn_with_state(state, pipeline::guard_layer))
}
