//! `/resources` and `/prompts`: items with inline content (`{"resource": {...}}`,
//! `{"prompt": {...}}` on create).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RestCaller};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::{Prompt, PromptArgument, Resource};

#[derive(Debug, Deserialize)]
pub(crate) struct ResourceCreateBody {
    resource: ResourceCreate,
    visibility: Option<String>,
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ResourceCreate {
    uri: String,
    name: String,
    description: Option<String>,
    #[serde(default, alias = "mimeType")]
    mime_type: Option<String>,
    content: String,
    visibility: Option<String>,
    team_id: Option<String>,
    tags: Option<Vec<String>>,
}

fn resource_json(r: &Resource) -> Value {
    json!({
        "id": r.id, "uri": r.uri, "name": r.name, "description": r.description, "mimeType": r.mime_type,
        "gatewayId": r.gateway_id, "size": r.content.as_ref().map(String::len), "enabled": r.enabled,
        "teamId": r.owned.team_id, "ownerEmail": r.owned.owner_email, "visibility": r.owned.visibility.as_str(),
        "createdAt": r.created_at, "tags": r.tags,
    })
}

pub(crate) async fn create_resource(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<ResourceCreateBody>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    let r = body.resource;
    if r.uri.is_empty() || r.uri.len() > 2048 || r.uri.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "uri must be 1-2048 printable characters".to_owned(),
        ));
    }
    if state
        .store
        .resources
        .find_by_name(&r.uri)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "Resource already exists with URI: {}",
            r.uri
        )));
    }
    let visibility = parse_visibility(body.visibility.as_deref().or(r.visibility.as_deref()))?;
    let owned =
        ownership_for_create(&state, &caller, visibility, r.team_id.or(body.team_id)).await?;
    let res = Resource {
        id: crate::ids::new_id(),
        uri: r.uri,
        name: r.name,
        description: r.description,
        mime_type: r.mime_type,
        content: Some(r.content),
        gateway_id: None,
        owned,
        enabled: true,
        tags: r.tags.unwrap_or_default(),
        created_at: state.now_rfc3339(),
    };
    state
        .store
        .resources
        .insert(res.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(resource_json(&res)).into_response())
}

pub(crate) async fn list_resources(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
) -> ApiResult<Response> {
    let out: Vec<Value> = state
        .store
        .resources
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|r| r.enabled && visible_to(&r.owned, caller.viewer()))
        .map(|r| resource_json(r))
        .collect();
    Ok(axum::Json(Value::Array(out)).into_response())
}

async fn find_resource(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Resource>> {
    let key = normalize_id(id).unwrap_or_else(|| id.to_owned());
    state
        .store
        .resources
        .get(&key)
        .await
        .map_err(store_err)?
        .filter(|r| visible_to(&r.owned, caller.viewer()))
        .ok_or_else(|| ApiError::not_found(format!("Resource not found: {id}")))
}

pub(crate) async fn get_resource(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let r = find_resource(&state, &caller, &id).await?;
    Ok(axum::Json(json!({"type": "resource", "id": r.id, "uri": r.uri, "mime_type": r.mime_type, "text": r.content, "blob": null}))
        .into_response())
}

pub(crate) async fn delete_resource(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let r = find_resource(&state, &caller, &id).await?;
    if !may_modify(&caller, &r.owned) {
        return Err(ApiError::access_denied());
    }
    state
        .store
        .resources
        .delete(&r.id)
        .await
        .map_err(store_err)?;
    Ok(
        axum::Json(json!({"status": "success", "message": format!("Resource {} deleted", r.id)}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct PromptCreateBody {
    prompt: PromptCreate,
    visibility: Option<String>,
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PromptCreate {
    name: String,
    description: Option<String>,
    template: String,
    #[serde(default)]
    arguments: Vec<PromptArgIn>,
    visibility: Option<String>,
    team_id: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct PromptArgIn {
    name: String,
    description: Option<String>,
    #[serde(default)]
    required: bool,
}

fn prompt_json(p: &Prompt) -> Value {
    json!({
        "id": p.id, "name": p.name, "originalName": p.original_name, "description": p.description,
        "template": p.template.clone().unwrap_or_default(),
        "arguments": p.arguments.iter().map(|a| json!({"name": a.name, "description": a.description.clone().unwrap_or_default(), "required": a.required})).collect::<Vec<_>>(),
        "gatewayId": p.gateway_id, "enabled": p.enabled, "teamId": p.owned.team_id,
        "ownerEmail": p.owned.owner_email, "visibility": p.owned.visibility.as_str(), "createdAt": p.created_at, "tags": p.tags,
    })
}

pub(crate) async fn create_prompt(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<PromptCreateBody>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    let p = body.prompt;
    let name = slugify(&p.name);
    if name.is_empty() || p.name.len() > 255 {
        return Err(ApiError::Unprocessable(
            "Prompt name must be 1-255 characters with a letter or digit".to_owned(),
        ));
    }
    let visibility = parse_visibility(body.visibility.as_deref().or(p.visibility.as_deref()))?;
    let owned =
        ownership_for_create(&state, &caller, visibility, p.team_id.or(body.team_id)).await?;
    let prompt = Prompt {
        id: crate::ids::new_id(),
        name,
        original_name: p.name,
        description: p.description,
        template: Some(p.template),
        arguments: p
            .arguments
            .into_iter()
            .map(|a| PromptArgument {
                name: a.name,
                description: a.description,
                required: a.required,
            })
            .collect(),
        gateway_id: None,
        owned,
        enabled: true,
        tags: p.tags.unwrap_or_default(),
        created_at: state.now_rfc3339(),
    };
    state
        .store
        .prompts
        .insert(prompt.clone())
        .await
        .map_err(store_err)?;
    Ok(axum::Json(prompt_json(&prompt)).into_response())
}

pub(crate) async fn list_prompts(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
) -> ApiResult<Response> {
    let out: Vec<Value> = state
        .store
        .prompts
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|p| p.enabled && visible_to(&p.owned, caller.viewer()))
        .map(|p| prompt_json(p))
        .collect();
    Ok(axum::Json(Value::Array(out)).into_response())
}

async fn find_prompt(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Prompt>> {
    let key = normalize_id(id).unwrap_or_else(|| id.to_owned());
    state
        .store
        .prompts
        .get(&key)
        .await
        .map_err(store_err)?
        .filter(|p| visible_to(&p.owned, caller.viewer()))
        .ok_or_else(|| ApiError::not_found(format!("Prompt not found: {id}")))
}

pub(crate) async fn get_prompt(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = find_prompt(&state, &caller, &id).await?;
    Ok(axum::Json(prompt_json(&p)).into_response())
}

pub(crate) async fn delete_prompt(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = find_prompt(&state, &caller, &id).await?;
    if !may_modify(&caller, &p.owned) {
        return Err(ApiError::access_denied());
    }
    state.store.prompts.delete(&p.id).await.map_err(store_err)?;
    Ok(
        axum::Json(json!({"status": "success", "message": format!("Prompt {} deleted", p.id)}))
            .into_response(),
    )
}
