//! Start-up: the platform administrator and the token printed for them.

use serde_json::Value;

use crate::auth::mint::TokenSpec;
use crate::state::AppState;
use crate::store::{StoreResult, User};

/// Make sure the platform administrator exists and is an active admin.
pub(crate) async fn ensure_admin(state: &AppState) -> StoreResult<()> {
    let email = state.settings.platform_admin_email.clone();
    let existing = state.store.users.get(&email).await?;
    if existing.as_ref().is_some_and(|u| u.is_admin && u.is_active) {
        return Ok(());
    }
    state
        .store
        .users
        .upsert(User {
            email,
            full_name: "Platform Administrator".to_owned(),
            is_admin: true,
            is_active: true,
            created_at: state.now_rfc3339(),
        })
        .await
}

/// An admin-bypass token for `email` (`teams: null`, `is_admin: true`), valid `minutes`.
pub(crate) fn admin_token(state: &AppState, email: &str, minutes: u64) -> String {
    token_for(state, email, true, None, None, Some(minutes as i64 * 60))
}

/// A token for `email` with the given claims, signed with the gateway's key.
pub(crate) fn token_for(
    state: &AppState,
    email: &str,
    is_admin: bool,
    teams: Option<Vec<String>>,
    scopes: Option<Value>,
    lifetime_secs: Option<i64>,
) -> String {
    TokenSpec {
        email,
        full_name: email,
        is_admin,
        teams,
        scopes,
        token_use: None,
        jti: uuid::Uuid::new_v4().to_string(),
        now: state.now_secs(),
        lifetime: lifetime_secs,
        issuer: &state.settings.jwt_issuer,
        audience: &state.settings.jwt_audience,
        environment: &state.settings.environment,
    }
    .sign(&state.jwt.secret)
}
