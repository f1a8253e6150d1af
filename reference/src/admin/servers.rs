//! `/servers`: virtual servers (`{"server": {...}}` on create, camelCase responses).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RequestContext, RestCaller};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::{Server, Store};

#[derive(Debug, Deserialize)]
pub(crate) struct ServerCreateBody {
    server: ServerCreate,
    visibility: Option<String>,
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ServerCreate {
    id: Option<String>,
    name: String,
    description: Option<String>,
    icon: Option<String>,
    visibility: Option<String>,
    team_id: Option<String>,
    #[serde(default)]
    associated_tools: IdList,
    #[serde(default)]
    associated_resources: IdList,
    #[serde(default)]
    associated_prompts: IdList,
    oauth_enabled: Option<bool>,
    oauth_config: Option<Value>,
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ServerUpdate {
    name: Option<String>,
    description: Option<String>,
    icon: Option<String>,
    visibility: Option<String>,
    #[serde(alias = "teamId")]
    team_id: Option<String>,
    #[serde(alias = "associatedTools")]
    associated_tools: Option<IdList>,
    #[serde(alias = "associatedResources")]
    associated_resources: Option<IdList>,
    #[serde(alias = "associatedPrompts")]
    associated_prompts: Option<IdList>,
    #[serde(alias = "oauthEnabled")]
    oauth_enabled: Option<bool>,
    #[serde(alias = "oauthConfig")]
    oauth_config: Option<Value>,
    tags: Option<Vec<String>>,
}

/// A server name must be non-empty text, and must not look like a canonical id (so that an id
/// and a name can never be confused when resolving, D4).
fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "Server name must be 1-255 printable characters".to_owned(),
        ));
    }
    if crate::ids::is_canonical_id(name) {
        return Err(ApiError::Unprocessable(
            "Server name must not look like a server id".to_owned(),
        ));
    }
    Ok(())
}

async fn check_associations(
    store: &Store,
    tools: &[String],
    resources: &[String],
    prompts: &[String],
) -> ApiResult<()> {
    for id in tools {
        if store.tools.get(id).await.map_err(store_err)?.is_none() {
            return Err(ApiError::BadRequest(format!(
                "Failed to register server: Tool with id {id} does not exist."
            )));
        }
    }
    for id in resources {
        if store.resources.get(id).await.map_err(store_err)?.is_none() {
            return Err(ApiError::BadRequest(format!(
                "Failed to register server: Resource with id {id} does not exist."
            )));
        }
    }
    for id in prompts {
        if store.prompts.get(id).await.map_err(store_err)?.is_none() {
            return Err(ApiError::BadRequest(format!(
                "Failed to register server: Prompt with id {id} does not exist."
            )));
        }
    }
    Ok(())
}

/// The ServerRead shape.
pub(crate) async fn server_json(state: &AppState, s: &Server, base: &str) -> Value {
    let mut tool_names = Vec::with_capacity(s.associated_tools.len());
    for id in &s.associated_tools {
        if let Ok(Some(t)) = state.store.tools.get(id).await {
            tool_names.push(t.name.clone());
        }
    }
    json!({
        "id": s.id, "name": s.name, "description": s.description, "icon": s.icon,
        "createdAt": s.created_at, "updatedAt": s.updated_at, "enabled": s.enabled,
        "url": format!("{base}/servers/{}/mcp", s.id),
        "associatedTools": tool_names, "associatedToolIds": s.associated_tools,
        "associatedResources": s.associated_resources, "associatedPrompts": s.associated_prompts,
        "tags": s.tags, "teamId": s.owned.team_id, "ownerEmail": s.owned.owner_email,
        "visibility": s.owned.visibility.as_str(), "oauthEnabled": s.oauth_enabled, "oauthConfig": s.oauth_config,
    })
}

fn base(state: &AppState, ctx: &RequestContext, headers: &HeaderMap) -> String {
    let fallback = format!("{}:{}", state.settings.host, state.settings.port);
    ctx.public_base(headers, state.settings.root_path(), &fallback)
}

/// Look a server up by id or name for the admin API; 404 when it is missing or not visible.
pub(crate) async fn find_server(
    state: &AppState,
    caller: &crate::auth::Caller,
    key: &str,
) -> ApiResult<Arc<Server>> {
    let key_id = normalize_id(key).unwrap_or_else(|| key.to_owned());
    state
        .store
        .resolve_server(&key_id)
        .await
        .map_err(store_err)?
        .filter(|s| visible_to(&s.owned, caller.viewer()))
        .ok_or_else(|| ApiError::not_found(format!("Server not found: {key}")))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ServerCreateBody>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    let s = body.server;
    check_name(&s.name)?;
    let visibility = parse_visibility(body.visibility.as_deref().or(s.visibility.as_deref()))?;
    let team_id = s.team_id.clone().or(body.team_id.clone());
    let owned = ownership_for_create(&state, &caller, visibility, team_id).await?;
    let id = match &s.id {
        Some(raw) => normalize_id(raw).ok_or_else(|| {
            ApiError::Unprocessable("Server ID must be a valid UUID format".to_owned())
        })?,
        None => crate::ids::new_id(),
    };
    if state
        .store
        .servers
        .get(&id)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "A server with this ID already exists".to_owned(),
        ));
    }
    let tools = s.associated_tools.canonical("associated_tools")?;
    let resources = s.associated_resources.canonical("associated_resources")?;
    let prompts = s.associated_prompts.canonical("associated_prompts")?;
    check_associations(&state.store, &tools, &resources, &prompts).await?;
    let now = state.now_rfc3339();
    let server = Server {
        id,
        name: s.name,
        description: s.description,
        icon: s.icon,
        owned,
        enabled: true,
        oauth_enabled: s.oauth_enabled.unwrap_or(false),
        oauth_config: s.oauth_config,
        associated_tools: tools,
        associated_resources: resources,
        associated_prompts: prompts,
        tags: s.tags.unwrap_or_default(),
        created_at: now.clone(),
        updated_at: now,
    };
    state
        .store
        .servers
        .insert(server.clone())
        .await
        .map_err(store_err)?;
    let body = server_json(&state, &server, &base(&state, &ctx, &headers)).await;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let base = base(&state, &ctx, &headers);
    let mut out = Vec::new();
    for s in state.store.servers.list().await.map_err(store_err)? {
        if (s.enabled || q.include_inactive == Some(true)) && visible_to(&s.owned, caller.viewer())
        {
            out.push(server_json(&state, &s, &base).await);
        }
    }
    Ok(axum::Json(Value::Array(out)).into_response())
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let s = find_server(&state, &caller, &key).await?;
    Ok(axum::Json(server_json(&state, &s, &base(&state, &ctx, &headers)).await).into_response())
}

pub(crate) async fn update(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(key): Path<String>,
    JsonBody(u): JsonBody<ServerUpdate>,
) -> ApiResult<Response> {
    let current = find_server(&state, &caller, &key).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    let mut s = (*current).clone();
    if let Some(n) = u.name {
        check_name(&n)?;
        s.name = n;
    }
    if u.description.is_some() {
        s.description = u.description;
    }
    if u.icon.is_some() {
        s.icon = u.icon;
    }
    if let Some(v) = parse_visibility(u.visibility.as_deref())? {
        s.owned.visibility = v;
    }
    if let Some(t) = u.team_id {
        s.owned = ownership_for_create(&state, &caller, Some(s.owned.visibility), Some(t))
            .await
            .map(|mut o| {
                o.owner_email = s.owned.owner_email.clone();
                o
            })?;
    }
    if let Some(l) = u.associated_tools {
        s.associated_tools = l.canonical("associated_tools")?;
    }
    if let Some(l) = u.associated_resources {
        s.associated_resources = l.canonical("associated_resources")?;
    }
    if let Some(l) = u.associated_prompts {
        s.associated_prompts = l.canonical("associated_prompts")?;
    }
    check_associations(
        &state.store,
        &s.associated_tools,
        &s.associated_resources,
        &s.associated_prompts,
    )
    .await?;
    if let Some(o) = u.oauth_enabled {
        s.oauth_enabled = o;
    }
    if u.oauth_config.is_some() {
        s.oauth_config = u.oauth_config;
    }
    if let Some(t) = u.tags {
        s.tags = t;
    }
    s.updated_at = state.now_rfc3339();
    state
        .store
        .servers
        .upsert(s.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(server_json(&state, &s, &base(&state, &ctx, &headers)).await).into_response())
}

pub(crate) async fn set_state(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<ActivateQuery>,
) -> ApiResult<Response> {
    let current = find_server(&state, &caller, &key).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    let mut s = (*current).clone();
    s.enabled = q.activate.unwrap_or(true);
    s.updated_at = state.now_rfc3339();
    state
        .store
        .servers
        .upsert(s.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(server_json(&state, &s, &base(&state, &ctx, &headers)).await).into_response())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let current = find_server(&state, &caller, &key).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    state
        .store
        .servers
        .delete(&current.id)
        .await
        .map_err(store_err)?;
    Ok(axum::Json(json!({"status": "success", "message": format!("Server {} deleted successfully", current.id)}))
        .into_response())
}

/// `GET /servers/{id}/tools`: the server's tools the caller can see.
pub(crate) async fn tools(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let s = find_server(&state, &caller, &key).await?;
    let mut out = Vec::new();
    for id in &s.associated_tools {
        if let Some(t) = state.store.tools.get(id).await.map_err(store_err)?
            && t.enabled
            && visible_to(&t.owned, caller.viewer())
        {
            out.push(super::tools::tool_json(&t));
        }
    }
    Ok(axum::Json(Value::Array(out)).into_response())
}
