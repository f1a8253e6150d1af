//! Teams: private teams with their member users, which other fixtures name as their owner
//! (`visibility: team`) and tokens as their scope.

use serde_json::json;

use super::{Admin, Made, fixture_name};
use crate::provision::{Entity, Provisioned};
use crate::scenario::Fixtures;

/// Create every team and add its members (users are made before teams for this).
pub(super) async fn create(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, t) in &f.teams {
        let name = fixture_name(p, k);
        let body = json!({"name": name, "visibility": "private"});
        let made = admin
            .create(p, &format!("create team {k}"), "/teams/", body)
            .await?;
        for m in &t.members {
            let email = p.users.get(m).cloned().unwrap_or_default();
            admin
                .call(
                    &format!("add {m} to team {k}"),
                    "POST",
                    &format!("/teams/{}/members", made.id),
                    Some(json!({"email": email, "role": "member"})),
                )
                .await?;
        }
        // A team's name is stored as given (only its slug is derived): record the one asked for.
        p.teams.insert(k.clone(), Entity { name, ..made });
    }
    Ok(())
}
