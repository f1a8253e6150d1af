//! Users (`/auth/email/admin/users`) and teams (`/teams`): the minimum to provision scenarios.
//! The reference has no password login; passwords are checked for length only, and tokens come
//! from `POST /tokens` or are signed with the gateway's key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::*;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{JsonBody, RestCaller};
use crate::state::AppState;
use crate::store::{Team, TeamMember, User, Visibility};

#[derive(Debug, Deserialize)]
pub(crate) struct UserCreate {
    email: String,
    password: String,
    full_name: Option<String>,
    #[serde(default)]
    is_admin: bool,
    is_active: Option<bool>,
}

fn user_json(u: &User) -> Value {
    json!({
        "email": u.email, "full_name": u.full_name, "is_admin": u.is_admin, "is_active": u.is_active,
        "auth_provider": "local", "created_at": u.created_at,
    })
}

fn plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<UserCreate>,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    if !plausible_email(&body.email) {
        return Err(ApiError::Unprocessable(format!(
            "Invalid email address: {}",
            body.email
        )));
    }
    let min = if body.is_admin { 22 } else { 12 };
    if body.password.chars().count() < min {
        let kind = if body.is_admin {
            "privileged account"
        } else {
            "user account"
        };
        return Err(ApiError::BadRequest(format!(
            "Password must be at least {min} characters long ({kind})"
        )));
    }
    if state
        .store
        .users
        .get(&body.email)
        .await
        .map_err(store_err)?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "User with email {} already exists",
            body.email
        )));
    }
    let user = User {
        email: body.email.clone(),
        full_name: body.full_name.unwrap_or_else(|| body.email.clone()),
        is_admin: body.is_admin,
        is_active: body.is_active.unwrap_or(true),
        created_at: state.now_rfc3339(),
    };
    state
        .store
        .users
        .insert(user.clone())
        .await
        .map_err(store_err)?;
    Ok((StatusCode::CREATED, axum::Json(user_json(&user))).into_response())
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    let users: Vec<Value> = state
        .store
        .users
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .map(|u| user_json(u))
        .collect();
    Ok(axum::Json(Value::Array(users)).into_response())
}

pub(crate) async fn get_user(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(email): Path<String>,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    let u = state.store.users.get(&email).await.map_err(store_err)?;
    u.map(|u| axum::Json(user_json(&u)).into_response())
        .ok_or_else(|| ApiError::not_found(format!("User not found: {email}")))
}

pub(crate) async fn delete_user(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(email): Path<String>,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    if email == state.settings.platform_admin_email {
        return Err(ApiError::BadRequest(
            "The platform administrator cannot be deleted".to_owned(),
        ));
    }
    if !state.store.users.delete(&email).await.map_err(store_err)? {
        return Err(ApiError::not_found(format!("User not found: {email}")));
    }
    Ok(
        axum::Json(json!({"success": true, "message": format!("User {email} deleted")}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct TeamCreate {
    name: String,
    description: Option<String>,
    visibility: Option<String>,
}

fn team_json(t: &Team) -> Value {
    json!({
        "id": t.id, "name": t.name, "slug": t.slug, "description": t.description,
        "created_by": t.created_by, "is_personal": false, "visibility": t.visibility.as_str(),
        "member_count": t.members.len(), "created_at": t.created_at, "updated_at": t.created_at, "is_active": true,
    })
}

fn member_json(team: &Team, m: &TeamMember) -> Value {
    json!({"team_id": team.id, "user_email": m.email, "role": m.role, "is_active": true})
}

pub(crate) async fn create_team(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    JsonBody(body): JsonBody<TeamCreate>,
) -> ApiResult<Response> {
    let email = require_user(&caller)?.to_owned();
    if body.name.trim().is_empty() || body.name.len() > 255 {
        return Err(ApiError::Unprocessable(
            "Team name must be 1-255 characters".to_owned(),
        ));
    }
    let visibility = parse_visibility(body.visibility.as_deref())?.unwrap_or(Visibility::Private);
    let team = Team {
        id: crate::ids::new_id(),
        slug: slugify(&body.name),
        name: body.name,
        description: body.description,
        visibility,
        created_by: email.clone(),
        members: vec![TeamMember {
            email,
            role: "owner".to_owned(),
        }],
        created_at: state.now_rfc3339(),
    };
    state
        .store
        .teams
        .insert(team.clone())
        .await
        .map_err(store_err)?;
    Ok((StatusCode::CREATED, axum::Json(team_json(&team))).into_response())
}

pub(crate) async fn list_teams(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
) -> ApiResult<Response> {
    let email = require_user(&caller)?;
    let teams: Vec<Value> = state
        .store
        .teams
        .list()
        .await
        .map_err(store_err)?
        .iter()
        .filter(|t| caller.is_admin || t.has_member(email))
        .map(|t| team_json(t))
        .collect();
    let total = teams.len();
    Ok(axum::Json(json!({"teams": teams, "total": total})).into_response())
}

async fn find_team(state: &AppState, caller: &crate::auth::Caller, id: &str) -> ApiResult<Team> {
    let email = require_user(caller)?;
    match state.store.teams.get(id).await.map_err(store_err)? {
        Some(t) if caller.is_admin || t.has_member(email) => Ok((*t).clone()),
        _ => Err(ApiError::not_found(format!("Team not found: {id}"))),
    }
}

fn require_team_owner(caller: &crate::auth::Caller, team: &Team) -> ApiResult<()> {
    let owner = team
        .members
        .iter()
        .any(|m| Some(m.email.as_str()) == caller.email.as_deref() && m.role == "owner");
    if caller.is_admin || owner {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only team owners can manage members".to_owned(),
        ))
    }
}

pub(crate) async fn get_team(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(team_json(&find_team(&state, &caller, &id).await?)).into_response())
}

pub(crate) async fn delete_team(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let team = find_team(&state, &caller, &id).await?;
    require_team_owner(&caller, &team)?;
    state
        .store
        .teams
        .delete(&team.id)
        .await
        .map_err(store_err)?;
    Ok(
        axum::Json(json!({"success": true, "message": format!("Team {id} deleted")}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct MemberAdd {
    email: String,
    role: Option<String>,
}

pub(crate) async fn add_member(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MemberAdd>,
) -> ApiResult<Response> {
    let mut team = find_team(&state, &caller, &id).await?;
    require_team_owner(&caller, &team)?;
    let role = body.role.unwrap_or_else(|| "member".to_owned());
    if role != "owner" && role != "member" {
        return Err(ApiError::Unprocessable(format!(
            "role must be owner or member: {role}"
        )));
    }
    if state
        .store
        .users
        .get(&body.email)
        .await
        .map_err(store_err)?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "User not found: {}",
            body.email
        )));
    }
    if team.has_member(&body.email) {
        return Err(ApiError::Conflict(format!(
            "{} is already a member",
            body.email
        )));
    }
    let member = TeamMember {
        email: body.email,
        role,
    };
    team.members.push(member.clone());
    state
        .store
        .teams
        .upsert(team.clone())
        .await
        .map_err(store_err)?;
    Ok((StatusCode::CREATED, axum::Json(member_json(&team, &member))).into_response())
}

pub(crate) async fn list_members(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let team = find_team(&state, &caller, &id).await?;
    let members: Vec<Value> = team.members.iter().map(|m| member_json(&team, m)).collect();
    Ok(axum::Json(Value::Array(members)).into_response())
}

pub(crate) async fn remove_member(
    State(state): State<AppState>,
    RestCaller(caller): RestCaller,
    Path((id, email)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut team = find_team(&state, &caller, &id).await?;
    require_team_owner(&caller, &team)?;
    let before = team.members.len();
    team.members.retain(|m| m.email != email);
    if team.members.len() == before {
        return Err(ApiError::not_found(format!("{email} is not a member")));
    }
    state.store.teams.upsert(team).await.map_err(store_err)?;
    Ok(axum::Json(json!({"success": true, "message": format!("{email} removed")})).into_response())
}
