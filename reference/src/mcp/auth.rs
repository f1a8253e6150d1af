//! Authentication on the MCP transport: who the caller is, or the 401 to answer with.
//!
//! Rules (§3.2, D5): an OAuth-enabled server answers every unauthenticated request (no token,
//! empty bearer, a token that fails) with 401 and a `resource_metadata` challenge, in strict and
//! permissive mode alike. Otherwise strict mode answers 401 with a bare `Bearer` challenge and
//! permissive mode admits the anonymous caller (public items only).

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthOutcome, Caller};
use crate::error::ApiError;
use crate::pipeline::RequestContext;
use crate::policy::EmptyBearerChallenge;
use crate::state::AppState;
use crate::store::Server;

/// The `WWW-Authenticate` value pointing at a server's protected-resource metadata.
pub(crate) fn resource_metadata_challenge(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    server_id: &str,
) -> String {
    let fallback = format!("{}:{}", state.settings.host, state.settings.port);
    let base = ctx.public_base(headers, state.settings.root_path(), &fallback);
    format!(
        "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/servers/{server_id}/mcp\""
    )
}

fn unauthorized(detail: &str, challenge: String) -> Box<Response> {
    Box::new(
        ApiError::Unauthorized {
            detail: detail.to_owned(),
            challenge,
        }
        .into_response(),
    )
}

/// Decide who the caller is on an MCP request.
pub(crate) fn transport_caller(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    outcome: &AuthOutcome,
    server: Option<&Server>,
) -> Result<Arc<Caller>, Box<Response>> {
    let oauth = server.filter(|s| s.oauth_enabled);
    let oauth_challenge = || oauth.map(|s| resource_metadata_challenge(state, ctx, headers, &s.id));
    match outcome {
        AuthOutcome::Authenticated { caller, .. } => Ok(Arc::clone(caller)),
        AuthOutcome::Unavailable(e) => Err(Box::new(ApiError::unavailable(e).into_response())),
        AuthOutcome::EmptyBearer => {
            let challenge = match state.policy().empty_bearer_challenge {
                EmptyBearerChallenge::ResourceMetadata => oauth_challenge(),
                EmptyBearerChallenge::Bare => None,
            };
            Err(unauthorized(
                "Invalid authentication credentials",
                challenge.unwrap_or_else(|| "Bearer".to_owned()),
            ))
        }
        AuthOutcome::Rejected(_) => Err(unauthorized(
            "Invalid authentication credentials",
            oauth_challenge().unwrap_or_else(|| "Bearer".to_owned()),
        )),
        AuthOutcome::Missing => {
            if let Some(challenge) = oauth_challenge() {
                return Err(unauthorized(
                    "This server requires OAuth authentication",
                    challenge,
                ));
            }
            if state.settings.mcp_requires_auth() {
                Err(unauthorized(
                    "Authentication required for MCP endpoints",
                    "Bearer".to_owned(),
                ))
            } else {
                Ok(Arc::new(Caller::anonymous()))
            }
        }
    }
}
