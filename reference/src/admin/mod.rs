//! The admin REST API, in ContextForge's request and response shapes, so the harness provisions
//! the reference and ContextForge with the same code.

pub(crate) mod catalog;
pub(crate) mod common;
pub(crate) mod gateways;
pub(crate) mod servers;
pub(crate) mod tokens;
pub(crate) mod tools;
pub(crate) mod users;

use axum::Router;
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::state::AppState;

/// `GET /health`.
pub(crate) async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "healthy"}))
}

/// Every admin route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/servers", get(servers::list).post(servers::create))
        .route("/servers/", get(servers::list).post(servers::create))
        .route(
            "/servers/{id}",
            get(servers::get_one)
                .put(servers::update)
                .delete(servers::delete),
        )
        .route("/servers/{id}/state", post(servers::set_state))
        .route("/servers/{id}/tools", get(servers::tools))
        .route("/tools", get(tools::list).post(tools::create))
        .route("/tools/", get(tools::list).post(tools::create))
        .route(
            "/tools/{id}",
            get(tools::get_one).put(tools::update).delete(tools::delete),
        )
        .route("/tools/{id}/state", post(tools::set_state))
        .route("/gateways", get(gateways::list).post(gateways::create))
        .route("/gateways/", get(gateways::list).post(gateways::create))
        .route(
            "/gateways/{id}",
            get(gateways::get_one).delete(gateways::delete),
        )
        .route(
            "/resources",
            get(catalog::list_resources).post(catalog::create_resource),
        )
        .route(
            "/resources/",
            get(catalog::list_resources).post(catalog::create_resource),
        )
        .route(
            "/resources/{id}",
            get(catalog::get_resource).delete(catalog::delete_resource),
        )
        .route(
            "/prompts",
            get(catalog::list_prompts).post(catalog::create_prompt),
        )
        .route(
            "/prompts/",
            get(catalog::list_prompts).post(catalog::create_prompt),
        )
        .route(
            "/prompts/{id}",
            get(catalog::get_prompt).delete(catalog::delete_prompt),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", get(tokens::get_one).delete(tokens::revoke))
        .route(
            "/auth/email/admin/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/auth/email/admin/users/{email}",
            get(users::get_user).delete(users::delete_user),
        )
        .route("/teams", get(users::list_teams).post(users::create_team))
        .route("/teams/", get(users::list_teams).post(users::create_team))
        .route(
            "/teams/{id}",
            get(users::get_team).delete(users::delete_team),
        )
        .route(
            "/teams/{id}/members",
            get(users::list_members).post(users::add_member),
        )
        .route("/teams/{id}/members/{email}", delete(users::remove_member))
}
