//! `/tokens`: scoped API tokens (C-AUTH-10..13).

use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::auth::mint::TokenSpec;
use crate::auth::{Caller, TeamScope};
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RestCaller};
use crate::scoping::ip::is_ip_or_cidr;
use crate::scoping::permissions::grants;
use crate::state::AppState;
use crate::store::{ApiToken, Revocation};

static PERMISSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z][a-zA-Z0-9_]*[.:][a-zA-Z][a-zA-Z0-9_]*$").expect("static regex")
});

/// Lifetime given to a token created without `expires_in_days` while tokens must expire.
const DEFAULT_EXPIRY_DAYS: i64 = 30;

#[derive(Debug, Deserialize)]
pub(crate) struct TokenCreate {
    name: String,
    description: Option<String>,
    expires_in_days: Option<i64>,
    #[serde(default)]
    scope: Option<TokenScopeIn>,
    tags: Option<Vec<String>>,
    team_id: Option<String>,
    user_email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TokenScopeIn {
    server_id: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    ip_restrictions: Vec<String>,
    #[serde(default)]
    time_restrictions: Option<Value>,
    #[serde(default)]
    usage_limits: Option<Value>,
}

/// Validate a requested permission list (422 on a bad entry). `*` or `resource.action` only.
pub(crate) fn validate_permissions(perms: &[String]) -> ApiResult<()> {
    for p in perms {
        if p != "*" && !PERMISSION.is_match(p) {
            return Err(ApiError::Unprocessable(format!(
                "Invalid permission format '{p}'. Use 'resource.action' format (e.g., 'tools.read') or '*' for full access"
            )));
        }
    }
    Ok(())
}

/// The permissions written into the JWT: `servers.use` is added when the list names MCP
/// permissions but not it, so MCP transports keep working.
pub(crate) fn effective_permissions(perms: &[String]) -> Vec<String> {
    let mut out = perms.to_vec();
    let mcp = perms.iter().any(|p| {
        ["tools.", "resources.", "prompts."]
            .iter()
            .any(|c| p.starts_with(c))
    });
    if !perms.is_empty() && mcp && !perms.iter().any(|p| p == "*" || p == "servers.use") {
        out.push("servers.use".to_owned());
    }
    out
}

/// The id a token's `server_id` is written as: a dashed or upper-case UUID becomes the canonical
/// id, and a server name the id of the server it names now (D4: scoping compares canonical ids,
/// so a name left in a token would match nothing). Anything else is kept as given.
async fn canonical_server_id(state: &AppState, given: &str) -> ApiResult<String> {
    if let Some(id) = normalize_id(given) {
        return Ok(id);
    }
    let named = state.store.resolve_server(given).await.map_err(store_err)?;
    Ok(named.map_or_else(|| given.to_owned(), |s| s.id.clone()))
}

/// A token may not widen its creator's own restrictions.
fn check_containment(caller: &Caller, server: Option<&str>, perms: &[String]) -> ApiResult<()> {
    if let Some(own) = caller.scoped_server()
        && server != Some(own)
    {
        return Err(ApiError::Forbidden(
            "A server-scoped token can only create tokens for its own server".to_owned(),
        ));
    }
    if let Some(own) = caller.scopes.restricting_permissions()
        && !own.iter().any(|p| p == "*")
        && (perms.is_empty() || perms.iter().any(|p| !grants(own, p)))
    {
        return Err(ApiError::Forbidden(
            "Requested permissions exceed the caller's own permissions".to_owned(),
        ));
    }
    Ok(())
}

/// The TokenResponse shape (snake_case, as ContextForge's tokens router answers).
pub(crate) fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id, "name": t.name, "description": t.description, "user_email": t.user_email,
        "team_id": t.team_id, "server_id": t.server_id, "resource_scopes": t.permissions,
        "ip_restrictions": t.ip_restrictions, "time_restrictions": t.time_restrictions,
        "usage_limits": t.usage_limits, "created_at": t.created_at, "expires_at": t.expires_at,
        "last_used": null, "is_active": t.is_active, "is_revoked": t.is_revoked, "revoked_at": t.revoked_at,
        "revoked_by": t.revoked_by, "revocation_reason": t.revocation_reason, "tags": t.tags,
    })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<TokenCreate>,
) -> ApiResult<Response> {
    let caller_email = require_user(&caller)?.to_owned();
    if body.name.trim().is_empty() || body.name.len() > 255 {
        return Err(ApiError::Unprocessable(
            "name must be 1-255 characters".to_owned(),
        ));
    }
    if body.description.as_ref().is_some_and(|d| d.len() > 1000) {
        return Err(ApiError::Unprocessable(
            "description must be at most 1000 characters".to_owned(),
        ));
    }
    if let Some(d) = body.expires_in_days
        && d < 1
    {
        return Err(ApiError::Unprocessable(
            "expires_in_days must be greater than or equal to 1".to_owned(),
        ));
    }
    let scope = body.scope.unwrap_or_default();
    validate_permissions(&scope.permissions)?;
    if let Some(bad) = scope.ip_restrictions.iter().find(|ip| !is_ip_or_cidr(ip)) {
        return Err(ApiError::Unprocessable(format!(
            "Invalid IP address or CIDR: {bad}"
        )));
    }
    let server_id = match scope.server_id.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(canonical_server_id(&state, s).await?),
    };
    check_containment(&caller, server_id.as_deref(), &scope.permissions)?;

    let owner_email = match body.user_email.filter(|e| *e != caller_email) {
        Some(other) => {
            if !caller.is_admin {
                return Err(ApiError::Forbidden(
                    "Admin access required to create tokens for other users".to_owned(),
                ));
            }
            other
        }
        None => caller_email,
    };
    let owner = state
        .store
        .users
        .get(&owner_email)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found(format!("User not found: {owner_email}")))?;
    if let Some(t) = &body.team_id {
        let team = state.store.teams.get(t).await.map_err(store_err)?;
        if !team.is_some_and(|team| team.has_member(&owner.email) || caller.is_admin) {
            return Err(ApiError::Forbidden(format!("Not a member of team {t}")));
        }
    }
    // A token made by a team-narrowed token inherits no more than its creator's visibility.
    if let TeamScope::Teams(own) = &caller.teams
        && let Some(t) = &body.team_id
        && !own.contains(t)
        && !caller.is_admin
    {
        return Err(ApiError::Forbidden(format!("Not a member of team {t}")));
    }

    let now = state.now();
    let days = body.expires_in_days.or(state
        .settings
        .require_token_expiration
        .then_some(DEFAULT_EXPIRY_DAYS));
    // Checked: a lifetime past what a timestamp can hold is the caller's error, not a panic.
    let too_long = || ApiError::Unprocessable("expires_in_days is too large".to_owned());
    let lifetime = match days {
        None => None,
        Some(d) => {
            let secs = d.checked_mul(86_400).ok_or_else(too_long)?;
            let until = now
                .checked_add(jiff::SignedDuration::from_secs(secs))
                .map_err(|_| too_long())?;
            Some((secs, until))
        }
    };
    let expires_at = lifetime.map(|(_, until)| until.to_string());
    let jti = uuid::Uuid::new_v4().to_string();
    let time_restrictions = scope.time_restrictions.unwrap_or_else(|| json!({}));
    let scopes_claim = json!({
        "server_id": server_id,
        "permissions": effective_permissions(&scope.permissions),
        "ip_restrictions": scope.ip_restrictions,
        "time_restrictions": time_restrictions,
    });
    let spec = TokenSpec {
        email: &owner.email,
        full_name: &owner.full_name,
        is_admin: owner.is_admin,
        teams: body.team_id.clone().map(|t| vec![t]),
        scopes: Some(scopes_claim),
        token_use: Some("api"),
        jti: jti.clone(),
        now: now.as_second(),
        lifetime: lifetime.map(|(secs, _)| secs),
        issuer: &state.settings.jwt_issuer,
        audience: &state.settings.jwt_audience,
        environment: &state.settings.environment,
    };
    let access_token = spec.sign(&state.jwt.secret);
    let record = ApiToken {
        id: uuid::Uuid::new_v4().to_string(),
        name: body.name,
        description: body.description,
        jti,
        user_email: owner.email.clone(),
        team_id: body.team_id,
        server_id,
        permissions: scope.permissions,
        ip_restrictions: spec_ip(&spec),
        time_restrictions,
        usage_limits: scope.usage_limits.unwrap_or_else(|| json!({})),
        tags: body.tags.unwrap_or_default(),
        created_at: now.to_string(),
        expires_at,
        is_active: true,
        is_revoked: false,
        revoked_at: None,
        revoked_by: None,
        revocation_reason: None,
    };
    state
        .store
        .tokens
        .insert(record.clone())
        .await
        .map_err(store_err)?;
    let body = json!({"token": token_json(&record), "access_token": access_token, "warnings": []});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn spec_ip(spec: &TokenSpec<'_>) -> Vec<String> {
    spec.scopes
        .as_ref()
        .and_then(|s| s.get("ip_restrictions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let email = require_user(&caller)?;
    let tokens: Vec<Value> = state
        .store
        .tokens
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|t| t.user_email == email && (!t.is_revoked || q.include_inactive == Some(true)))
        .map(|t| token_json(t))
        .collect();
    let total = tokens.len();
    Ok(
        axum::Json(json!({"tokens": tokens, "total": total, "limit": 50, "offset": 0}))
            .into_response(),
    )
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApiToken> {
    let t = state.store.tokens.get(id).await.map_err(store_err)?;
    match t {
        Some(t) if caller.is_admin || caller.email.as_deref() == Some(t.user_email.as_str()) => {
            Ok((*t).clone())
        }
        _ => Err(ApiError::not_found(format!("Token not found: {id}"))),
    }
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(token_json(&find(&state, &caller, &id).await?)).into_response())
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut t = find(&state, &caller, &id).await?;
    if t.is_revoked {
        return Err(ApiError::not_found(format!("Token not found: {id}")));
    }
    let now = state.now_rfc3339();
    state
        .store
        .revocations
        .upsert(Revocation {
            jti: t.jti.clone(),
            revoked_at: now.clone(),
            reason: Some("revoked via API".to_owned()),
        })
        .await
        .map_err(store_err)?;
    // The defect matrix's worker forgets only its own memory of the token (the strict policy
    // keeps none).
    state.unrevoked_seen.forget(&t.jti);
    t.is_revoked = true;
    t.is_active = false;
    t.revoked_at = Some(now);
    t.revoked_by = caller.email.clone();
    state.store.tokens.upsert(t).await.map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn c_auth_10_servers_use_is_appended_for_mcp_permissions() {
        assert_eq!(
            effective_permissions(&v(&["tools.read"])),
            v(&["tools.read", "servers.use"])
        );
        assert_eq!(effective_permissions(&v(&["*"])), v(&["*"]));
        assert_eq!(effective_permissions(&v(&[])), v(&[]));
        assert_eq!(
            effective_permissions(&v(&["tools.read", "servers.use"])),
            v(&["tools.read", "servers.use"])
        );
        assert_eq!(
            effective_permissions(&v(&["gateways.read"])),
            v(&["gateways.read"])
        );
    }

    #[test]
    fn c_auth_11_permission_format() {
        assert!(validate_permissions(&v(&["tools.*"])).is_err());
        assert!(validate_permissions(&v(&["bad"])).is_err());
        assert!(validate_permissions(&v(&["tools.read", "metrics:read", "*"])).is_ok());
    }
}
