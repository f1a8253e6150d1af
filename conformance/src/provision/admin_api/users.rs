//! Users: the accounts a scenario's tokens and team memberships are about, created with a
//! per-run email so that runs never share one.

use serde_json::json;

use super::{Admin, Made, delete_later};
use crate::provision::Provisioned;
use crate::scenario::Fixtures;

/// Where users are created and deleted (a user's own path is this and its email).
pub(super) const USERS: &str = "/auth/email/admin/users/";

/// Create every user; `p.users` maps its key to its email, which is how the admin API names a
/// user everywhere else (team members, token owners).
pub(super) async fn create(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, u) in &f.users {
        let email = format!("{}-{}@example.com", k.to_lowercase(), p.run_id);
        let body = json!({
            "email": email,
            "password": "Conformance-Harness-Passw0rd!",
            "full_name": k,
            "is_admin": u.admin,
        });
        let what = format!("create user {k}");
        admin
            .call(&what, "POST", USERS.trim_end_matches('/'), Some(body))
            .await?;
        delete_later(p, format!("{USERS}{email}"));
        p.users.insert(k.clone(), email);
    }
    Ok(())
}
