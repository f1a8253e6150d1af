//! Cleanup: the deletions scheduled while fixtures were made, run newest first, tolerant of
//! what a scenario already removed and of what ContextForge refuses to delete.

use serde_json::json;

use super::users::USERS;
use super::{Admin, tokens};
use crate::provision::Provisioned;
use crate::target::Target;

/// Delete everything `p` created, newest first. Returns what could not be deleted.
pub(super) async fn cleanup(target: &Target, p: &mut Provisioned) -> Vec<String> {
    let admin = Admin { target };
    let mut errors = Vec::new();
    while let Some((method, path)) = p.cleanup.pop() {
        let what = format!("delete {path}");
        // A token is revoked the way the scenario's revoked tokens are (its owner's route, else
        // the administrator's).
        let deleted = match path.strip_prefix("/tokens/") {
            Some(id) if method == "DELETE" => tokens::revoke(&admin, &what, id).await,
            _ => admin.call(&what, &method, &path, None).await.map(|_| ()),
        };
        if let Err(e) = deleted {
            // A step may have deleted it already (e.g. revoked a token): 404, or ContextForge's
            // 409 for a second token revocation, means it is gone.
            let status = tokens::status_of(&e);
            let gone = status == Some(404) || (status == Some(409) && path.starts_with("/tokens/"));
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
