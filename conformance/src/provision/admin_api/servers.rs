//! Virtual servers: what a scenario's requests go through (`/servers/{id}/mcp`) and what its
//! tokens are scoped to, made last of the catalog because they associate its entries by id.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Admin, Made, fixture_name, owned};
use crate::provision::{Entity, Provisioned};
use crate::scenario::Fixtures;

/// Create every server with its associated tools, resources and prompts (and OAuth settings);
/// disable those declared `enabled: false`.
pub(super) async fn create(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, s) in &f.servers {
        let mut server = json!({
            "name": fixture_name(p, k),
            "description": format!("conformance server {k}"),
            "associated_tools": ids(&s.tools, &p.tools),
            "associated_resources": ids(&s.resources, &p.resources),
            "associated_prompts": ids(&s.prompts, &p.prompts),
        });
        if let (Some(oauth), Some(o)) = (&s.oauth, server.as_object_mut()) {
            o.insert("oauth_enabled".into(), json!(true));
            o.insert(
                "oauth_config".into(),
                serde_json::to_value(oauth).unwrap_or_default(),
            );
        }
        let body = owned(json!({"server": server}), p, s.visibility, s.team.as_ref());
        let made = admin
            .create(p, &format!("create server {k}"), "/servers", body)
            .await?;
        // Disabling is a state change of an existing server (`POST /servers/{id}/state`).
        if !s.enabled {
            admin
                .call(
                    &format!("disable server {k}"),
                    "POST",
                    &format!("/servers/{}/state?activate=false", made.id),
                    None,
                )
                .await?;
        }
        p.servers.insert(k.clone(), made);
    }
    Ok(())
}

/// The ids of the entities `keys` name; a key made by no fixture is left out.
fn ids(keys: &[String], made: &BTreeMap<String, Entity>) -> Vec<String> {
    keys.iter()
        .filter_map(|k| made.get(k))
        .map(|e| e.id.clone())
        .collect()
}
