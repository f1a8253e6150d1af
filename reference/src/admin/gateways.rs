//! `/gateways`: upstream MCP servers. Registration discovers their tools, resources and prompts
//! at once; deletion removes them and drops them from every virtual server.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RestCaller};
use crate::scoping::ownership::visible_to;
use crate::state::AppState;
use crate::store::{Gateway, Integration, Owned, Prompt, PromptArgument, Resource, Tool};
use crate::upstream::mcp;

#[derive(Debug, Deserialize)]
pub(crate) struct GatewayCreate {
    name: String,
    url: String,
    transport: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
    team_id: Option<String>,
    tags: Option<Vec<String>>,
}

fn gateway_json(g: &Gateway, counts: (usize, usize, usize)) -> Value {
    json!({
        "id": g.id, "name": g.name, "slug": g.slug, "url": g.url, "description": g.description,
        "transport": g.transport, "capabilities": g.capabilities, "enabled": g.enabled, "reachable": true,
        "teamId": g.owned.team_id, "ownerEmail": g.owned.owner_email, "visibility": g.owned.visibility.as_str(),
        "createdAt": g.created_at, "tags": g.tags,
        "toolCount": counts.0, "resourceCount": counts.1, "promptCount": counts.2,
    })
}

async fn counts(state: &AppState, id: &str) -> ApiResult<(usize, usize, usize)> {
    let s = &state.store;
    let tools = s
        .tools
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|t| t.gateway_id.as_deref() == Some(id))
        .count();
    let res = s
        .resources
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|r| r.gateway_id.as_deref() == Some(id))
        .count();
    let prompts = s
        .prompts
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|p| p.gateway_id.as_deref() == Some(id))
        .count();
    Ok((tools, res, prompts))
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// What an upstream's tool says beyond the fields the catalogue keeps apart (`title`,
/// `outputSchema`, `_meta`, and whatever later revisions of MCP add), kept so `tools/list`
/// shows the tool as its upstream did.
fn tool_extra(t: &Value) -> serde_json::Map<String, Value> {
    const KEPT_APART: [&str; 4] = ["name", "description", "inputSchema", "annotations"];
    t.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !KEPT_APART.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The records a discovery turns into, before anything is stored.
struct Discovered {
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    prompts: Vec<Prompt>,
}

fn records(gw: &Gateway, d: &mcp::Discovery, now: &str) -> Discovered {
    let owned: Owned = gw.owned.clone();
    let prefixed = |name: &str| format!("{}-{}", gw.slug, slugify(name));
    let tools = d
        .tools
        .iter()
        .filter_map(|t| {
            let name = str_field(t, "name")?;
            Some(Tool {
                id: crate::ids::new_id(),
                name: prefixed(name),
                original_name: name.to_owned(),
                description: str_field(t, "description").map(str::to_owned),
                integration: Integration::Mcp,
                url: Some(gw.url.clone()),
                request_type: "STREAMABLEHTTP".to_owned(),
                headers: None,
                input_schema: t
                    .get("inputSchema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                annotations: t.get("annotations").cloned(),
                extra: tool_extra(t),
                gateway_id: Some(gw.id.clone()),
                owned: owned.clone(),
                enabled: true,
                tags: Vec::new(),
                created_at: now.to_owned(),
                mcp_text: Default::default(),
            })
        })
        .collect();
    let resources = d
        .resources
        .iter()
        .filter_map(|r| {
            let uri = str_field(r, "uri")?;
            let name = str_field(r, "name").unwrap_or(uri);
            Some(Resource {
                id: crate::ids::new_id(),
                uri: uri.to_owned(),
                name: prefixed(name),
                description: str_field(r, "description").map(str::to_owned),
                mime_type: str_field(r, "mimeType").map(str::to_owned),
                content: None,
                gateway_id: Some(gw.id.clone()),
                owned: owned.clone(),
                enabled: true,
                tags: Vec::new(),
                created_at: now.to_owned(),
            })
        })
        .collect();
    let prompts = d
        .prompts
        .iter()
        .filter_map(|p| {
            let name = str_field(p, "name")?;
            let arguments = p
                .get("arguments")
                .and_then(Value::as_array)
                .map(|args| {
                    args.iter()
                        .filter_map(|a| {
                            Some(PromptArgument {
                                name: str_field(a, "name")?.to_owned(),
                                description: str_field(a, "description").map(str::to_owned),
                                required: a
                                    .get("required")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Prompt {
                id: crate::ids::new_id(),
                name: prefixed(name),
                original_name: name.to_owned(),
                description: str_field(p, "description").map(str::to_owned),
                template: None,
                arguments,
                gateway_id: Some(gw.id.clone()),
                owned: owned.clone(),
                enabled: true,
                tags: Vec::new(),
                created_at: now.to_owned(),
            })
        })
        .collect();
    Discovered {
        tools,
        resources,
        prompts,
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<GatewayCreate>,
) -> ApiResult<Response> {
    require_user(&caller)?;
    if body.name.trim().is_empty() || body.name.len() > 255 {
        return Err(ApiError::Unprocessable(
            "Gateway name must be 1-255 characters".to_owned(),
        ));
    }
    let transport = body
        .transport
        .unwrap_or_else(|| "STREAMABLEHTTP".to_owned())
        .to_ascii_uppercase();
    if transport != "STREAMABLEHTTP" {
        return Err(ApiError::Unprocessable(format!(
            "Invalid transport type: '{transport}'. Only STREAMABLEHTTP is supported"
        )));
    }
    let uri_ok = body
        .url
        .parse::<http::Uri>()
        .ok()
        .is_some_and(|u| u.scheme_str() == Some("http") && u.host().is_some());
    if !uri_ok {
        return Err(ApiError::Unprocessable(format!(
            "Invalid gateway URL (http:// only): {}",
            body.url
        )));
    }
    if state
        .store
        .gateways
        .find_by_name(&body.name)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(ApiError::Conflict("Gateway name already exists".to_owned()));
    }
    let visibility = parse_visibility(body.visibility.as_deref())?;
    let owned = ownership_for_create(&state, &caller, visibility, body.team_id).await?;
    let cursors = if state.policy().upstream_cursors_verbatim {
        mcp::Cursors::Verbatim
    } else {
        mcp::Cursors::FormDecoded
    };
    let discovery = mcp::discover(&state.upstream, &body.url, cursors)
        .await
        .map_err(|e| {
            ApiError::BadGateway(format!("Failed to initialize gateway at {}: {e}", body.url))
        })?;
    let now = state.now_rfc3339();
    let gw = Gateway {
        id: crate::ids::new_id(),
        slug: slugify(&body.name),
        name: body.name,
        url: body.url,
        transport,
        description: body.description,
        owned,
        enabled: true,
        capabilities: discovery.capabilities.clone(),
        tags: body.tags.unwrap_or_default(),
        created_at: now.clone(),
    };
    let found = records(&gw, &discovery, &now);
    for t in &found.tools {
        if state
            .store
            .tools
            .find_by_name(&t.name)
            .await
            .map_err(store_err)?
            .is_some()
        {
            return Err(ApiError::Conflict(format!(
                "Tool already exists with name: {}",
                t.name
            )));
        }
    }
    state
        .store
        .gateways
        .insert(gw.clone())
        .await
        .map_err(store_err)?;
    for t in found.tools {
        state.store.tools.insert(t).await.map_err(store_err)?;
    }
    for r in found.resources {
        // A URI another item already serves is skipped rather than failing the registration.
        if state
            .store
            .resources
            .find_by_name(&r.uri)
            .await
            .map_err(store_err)?
            .is_none()
        {
            state.store.resources.insert(r).await.map_err(store_err)?;
        }
    }
    for p in found.prompts {
        if state
            .store
            .prompts
            .find_by_name(&p.name)
            .await
            .map_err(store_err)?
            .is_none()
        {
            state.store.prompts.insert(p).await.map_err(store_err)?;
        }
    }
    let c = counts(&state, &gw.id).await?;
    Ok(axum::Json(gateway_json(&gw, c)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let mut out = Vec::new();
    for g in state.store.gateways.list().await.map_err(store_err)? {
        if (g.enabled || q.include_inactive == Some(true)) && visible_to(&g.owned, caller.viewer())
        {
            out.push(gateway_json(&g, counts(&state, &g.id).await?));
        }
    }
    Ok(axum::Json(Value::Array(out)).into_response())
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Gateway>> {
    let key = normalize_id(id).unwrap_or_else(|| id.to_owned());
    state
        .store
        .gateways
        .get(&key)
        .await
        .map_err(store_err)?
        .filter(|g| visible_to(&g.owned, caller.viewer()))
        .ok_or_else(|| ApiError::not_found(format!("Gateway not found: {id}")))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let g = find(&state, &caller, &id).await?;
    Ok(axum::Json(gateway_json(&g, counts(&state, &g.id).await?)).into_response())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let g = find(&state, &caller, &id).await?;
    if !may_modify(&caller, &g.owned) {
        return Err(ApiError::access_denied());
    }
    let store = &state.store;
    let mut gone_tools = Vec::new();
    let mut gone_resources = Vec::new();
    let mut gone_prompts = Vec::new();
    for t in store.tools.list().await.map_err(store_err)? {
        if t.gateway_id.as_deref() == Some(g.id.as_str()) {
            store.tools.delete(&t.id).await.map_err(store_err)?;
            gone_tools.push(t.id.clone());
        }
    }
    for r in store.resources.list().await.map_err(store_err)? {
        if r.gateway_id.as_deref() == Some(g.id.as_str()) {
            store.resources.delete(&r.id).await.map_err(store_err)?;
            gone_resources.push(r.id.clone());
        }
    }
    for p in store.prompts.list().await.map_err(store_err)? {
        if p.gateway_id.as_deref() == Some(g.id.as_str()) {
            store.prompts.delete(&p.id).await.map_err(store_err)?;
            gone_prompts.push(p.id.clone());
        }
    }
    for s in store.servers.list().await.map_err(store_err)? {
        let mut updated = (*s).clone();
        updated
            .associated_tools
            .retain(|id| !gone_tools.contains(id));
        updated
            .associated_resources
            .retain(|id| !gone_resources.contains(id));
        updated
            .associated_prompts
            .retain(|id| !gone_prompts.contains(id));
        if updated != *s {
            store.servers.upsert(updated).await.map_err(store_err)?;
        }
    }
    store.gateways.delete(&g.id).await.map_err(store_err)?;
    Ok(
        axum::Json(json!({"status": "success", "message": format!("Gateway {} deleted", g.id)}))
            .into_response(),
    )
}
