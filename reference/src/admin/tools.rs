//! `/tools`: REST tools (`{"tool": {...}}` on create) and the discovered tools of gateways.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RestCaller};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::{Integration, Tool};

static TOOL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$").expect("static regex"));

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCreateBody {
    tool: ToolCreate,
    team_id: Option<String>,
    visibility: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCreate {
    name: String,
    description: Option<String>,
    #[serde(default, alias = "integrationType")]
    integration_type: Option<String>,
    #[serde(default, alias = "requestType")]
    request_type: Option<String>,
    url: Option<String>,
    headers: Option<Value>,
    #[serde(default, alias = "inputSchema")]
    input_schema: Option<Value>,
    annotations: Option<Value>,
    visibility: Option<String>,
    team_id: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolUpdate {
    description: Option<String>,
    url: Option<String>,
    headers: Option<Value>,
    #[serde(default, alias = "inputSchema")]
    input_schema: Option<Value>,
    #[serde(default, alias = "requestType")]
    request_type: Option<String>,
    annotations: Option<Value>,
    visibility: Option<String>,
    tags: Option<Vec<String>>,
}

/// The ToolRead shape.
pub(crate) fn tool_json(t: &Tool) -> Value {
    json!({
        "id": t.id, "name": t.name, "originalName": t.original_name, "displayName": t.original_name,
        "customName": t.original_name, "customNameSlug": slugify(&t.original_name),
        "description": t.description, "url": t.url, "requestType": t.request_type,
        "integrationType": t.integration, "headers": t.headers, "inputSchema": t.input_schema,
        "annotations": t.annotations.clone().unwrap_or_else(|| json!({})), "gatewayId": t.gateway_id,
        "enabled": t.enabled, "teamId": t.owned.team_id, "ownerEmail": t.owned.owner_email,
        "visibility": t.owned.visibility.as_str(), "createdAt": t.created_at, "tags": t.tags,
    })
}

fn check_url(url: &str) -> ApiResult<()> {
    let ok = url
        .parse::<http::Uri>()
        .ok()
        .is_some_and(|u| u.scheme_str() == Some("http") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "Invalid tool URL (http:// only): {url}"
        )))
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<ToolCreateBody>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    let t = body.tool;
    if !TOOL_NAME.is_match(&t.name) || t.name.len() > 255 {
        return Err(ApiError::Unprocessable(
            "Tool name must start with a letter, number, or underscore and contain only letters, numbers, periods, underscores, hyphens, and slashes".to_owned(),
        ));
    }
    let integration = match t
        .integration_type
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("REST") => Integration::Rest,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "integration_type {other} cannot be created here (REST only)"
            )));
        }
    };
    let url = t
        .url
        .ok_or_else(|| ApiError::Unprocessable("url is required for a REST tool".to_owned()))?;
    check_url(&url)?;
    let request_type = t
        .request_type
        .unwrap_or_else(|| "POST".to_owned())
        .to_ascii_uppercase();
    if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&request_type.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "request_type must be GET, POST, PUT, DELETE or PATCH: {request_type}"
        )));
    }
    let visibility = parse_visibility(body.visibility.as_deref().or(t.visibility.as_deref()))?;
    let owned =
        ownership_for_create(&state, &caller, visibility, t.team_id.or(body.team_id)).await?;
    let tool = Tool {
        id: crate::ids::new_id(),
        name: slugify(&t.name),
        original_name: t.name,
        description: t.description,
        integration,
        url: Some(url),
        request_type,
        headers: t.headers,
        input_schema: t
            .input_schema
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        annotations: t.annotations,
        extra: Default::default(),
        gateway_id: None,
        owned,
        enabled: true,
        tags: t.tags.unwrap_or_default(),
        created_at: state.now_rfc3339(),
        mcp_text: Default::default(),
    };
    state
        .store
        .tools
        .insert(tool.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(tool_json(&tool)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let all = state.store.tools.list().await.map_err(store_err)?;
    // Only the matrix's `rest-list-ignores-visibility` lists what the caller may not see.
    let filtered = state.policy().rest_lists_filtered;
    let out: Vec<Value> = all
        .iter()
        .filter(|t| {
            (t.enabled || q.include_inactive == Some(true))
                && (!filtered || visible_to(&t.owned, caller.viewer()))
        })
        .map(|t| tool_json(t))
        .collect();
    Ok(axum::Json(Value::Array(out)).into_response())
}

async fn find(state: &AppState, caller: &crate::auth::Caller, id: &str) -> ApiResult<Arc<Tool>> {
    let key = normalize_id(id).unwrap_or_else(|| id.to_owned());
    state
        .store
        .tools
        .get(&key)
        .await
        .map_err(store_err)?
        // Only the matrix's `item-ownership-unchecked` reads what the caller may not see.
        .filter(|t| !state.policy().item_ownership_checked || visible_to(&t.owned, caller.viewer()))
        .ok_or_else(|| ApiError::not_found(format!("Tool not found: {id}")))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let t = find(&state, &caller, &id).await?;
    Ok(axum::Json(tool_json(&t)).into_response())
}

pub(crate) async fn update(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
    JsonBody(u): JsonBody<ToolUpdate>,
) -> ApiResult<Response> {
    let current = find(&state, &caller, &id).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    let mut t = (*current).clone();
    if u.description.is_some() {
        t.description = u.description;
    }
    if let Some(url) = u.url {
        check_url(&url)?;
        t.url = Some(url);
    }
    if u.headers.is_some() {
        t.headers = u.headers;
    }
    if let Some(s) = u.input_schema {
        t.input_schema = s;
    }
    if let Some(r) = u.request_type {
        t.request_type = r.to_ascii_uppercase();
    }
    if u.annotations.is_some() {
        t.annotations = u.annotations;
    }
    if let Some(v) = parse_visibility(u.visibility.as_deref())? {
        t.owned.visibility = v;
    }
    if let Some(tags) = u.tags {
        t.tags = tags;
    }
    state
        .store
        .tools
        .upsert(t.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(tool_json(&t)).into_response())
}

pub(crate) async fn set_state(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
    Query(q): Query<ActivateQuery>,
) -> ApiResult<Response> {
    let current = find(&state, &caller, &id).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    let mut t = (*current).clone();
    t.enabled = q.activate.unwrap_or(true);
    state
        .store
        .tools
        .upsert(t.clone())
        .await
        .map_err(store_err)?;
    let verb = if t.enabled {
        "activated"
    } else {
        "deactivated"
    };
    Ok(axum::Json(json!({"status": "success", "message": format!("Tool {} {verb}", t.id), "tool": tool_json(&t)}))
        .into_response())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let current = find(&state, &caller, &id).await?;
    if !may_modify(&caller, &current.owned) {
        return Err(ApiError::access_denied());
    }
    state
        .store
        .tools
        .delete(&current.id)
        .await
        .map_err(store_err)?;
    Ok(axum::Json(
        json!({"status": "success", "message": format!("Tool {} permanently deleted", current.id)}),
    )
    .into_response())
}
