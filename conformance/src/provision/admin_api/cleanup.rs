//! Cleanup: the deletions scheduled while fixtures were made, run newest first, tolerant of
//! what a scenario already removed and of what ContextForge refuses to delete.

use serde_json::json;

use super::Admin;
use super::users::USERS;
use crate::provision::Provisioned;
use crate::target::Target;

/// Delete everything `p` created, newest first. Returns what could not be deleted.
pub(super) async fn cleanup(target: &Target, p: &mut Provisioned) -> Vec<String> {
    let admin = Admin { target };
    let mut errors = Vec::new();
    while let Some((method, path)) = p.cleanup.pop() {
        if let Err(e) = admin
            .call(&format!("delete {path}"), &method, &path, None)
            .await
        {
            // A step may have deleted it already (e.g. revoked a token): 404, or ContextForge's
            // 409 for a second token revocation, means it is gone.
            let status = e
                .exchange
                .as_ref()
                .and_then(|x| x.response.as_ref())
                .map(|r| r.status);
            // ContextForge's DELETE /tokens/{id} finds only the caller's own tokens (404 for
            // another user's); an administrator revokes those at /tokens/admin/{id}.
            let status = match (status, path.strip_prefix("/tokens/")) {
                (Some(404), Some(id)) => admin
                    .call(
                        &format!("revoke token {id} as administrator"),
                        "DELETE",
                        &format!("/tokens/admin/{id}"),
                        None,
                    )
                    .await
                    .map_or_else(
                        |e2| e2.exchange.and_then(|x| x.response).map(|r| r.status),
                        |(code, _)| Some(code),
                    ),
                _ => status,
            };
            let gone = matches!(status, Some(200..=299) | Some(404))
                || (status == Some(409) && path.starts_with("/tokens/"));
            if gone {
                continue;
            }
            // ContextForge 1.1.0 on SQLite refuses to delete a user who was ever a member of a
            // team (409 "existing references": the membership history keeps the row). The most
            // the API allows is to switch the account off, which is said, not hidden.
            if status == Some(409) && path.starts_with(USERS) {
                let deactivated = admin
                    .call(
                        &format!("deactivate {path}"),
                        "PATCH",
                        &path,
                        Some(json!({"is_active": false})),
                    )
                    .await;
                errors.push(match deactivated {
                    Ok(_) => format!(
                        "user {} left behind, deactivated: the target refused to delete it ({})",
                        &path[USERS.len()..],
                        e.detail
                    ),
                    Err(e2) => format!("{e}; then {e2}"),
                });
                continue;
            }
            errors.push(e.to_string());
        }
    }
    errors
}
