//! The admin-API adapter: fixtures created through the target's admin API and deleted after
//! the scenario.
//!
//! The admin API is ContextForge's (see `docs/research/contextforge-api.md`), which the reference
//! speaks too: wrapped bodies for servers/tools/resources/prompts, `POST /gateways` unwrapped,
//! `POST /teams/` with its trailing slash, `POST /tokens` with `expires_in_days`. Names are read
//! back from responses, never assumed (gateway tools become `<gateway slug>-<tool slug>`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Entity, MadeToken, MadeUpstream, ProvisionError, Provisioned, Provisioner, perr};
use crate::client::{self, WireRequest};
use crate::scenario::subst;
use crate::scenario::{Fixtures, TokenFixture, Visibility};
use crate::target::Target;
use crate::tokens::{self, TokenInputs};
use crate::upstream::{McpUpstream, RestEcho, UpstreamHandle};

/// The adapter for gateways with an admin REST API in ContextForge's shapes.
#[derive(Debug, Default)]
pub struct AdminApiProvisioner;

#[async_trait::async_trait]
impl Provisioner for AdminApiProvisioner {
    fn unmet_need(&self, _fixtures: &Fixtures) -> Option<String> {
        // Everything a scenario declares can be made through the API (tokens it cannot make
        // are signed, which the `jwt-secret` capability already covers).
        None
    }

    fn shared_world(&self) -> bool {
        false
    }

    async fn provision(
        &self,
        target: &Target,
        fixtures: &Fixtures,
        p: &mut Provisioned,
    ) -> Result<(), ProvisionError> {
        provision(target, fixtures, p).await
    }

    async fn cleanup(&self, target: &Target, p: &mut Provisioned) -> Vec<String> {
        cleanup(target, p).await
    }
}

/// Talks to the admin API with the target's admin token.
struct Admin<'a> {
    target: &'a Target,
}

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Admin<'_> {
    async fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ProvisionError> {
        let base = &self.target.bases[0];
        let mut headers = vec![
            ("host".to_owned(), base.authority.clone()),
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.target.admin_token),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let body = match body {
            Some(b) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                let bytes = Bytes::from(b.to_string());
                headers.push(("content-length".to_owned(), bytes.len().to_string()));
                bytes
            }
            None => Bytes::new(),
        };
        let req = WireRequest {
            method: method.to_owned(),
            target: format!("{}{path}", base.root),
            headers,
            body,
        };
        let ex = client::send(&base.authority, req, ADMIN_TIMEOUT).await;
        let Some(resp) = &ex.response else {
            return Err(ProvisionError {
                what: what.to_owned(),
                detail: ex.error.clone().unwrap_or_default(),
                exchange: Some(Box::new(ex)),
            });
        };
        let status = resp.status;
        let value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let detail = format!(
                "{method} {path} -> {status}: {}",
                resp.text().chars().take(300).collect::<String>()
            );
            return Err(ProvisionError {
                what: what.to_owned(),
                detail,
                exchange: Some(Box::new(ex)),
            });
        }
        Ok((status, value))
    }

    /// GET a list endpoint; accepts a bare array or `{"<key>": [...]}`.
    async fn list(&self, what: &str, path: &str, key: &str) -> Result<Vec<Value>, ProvisionError> {
        let (_, v) = self.call(what, "GET", path, None).await?;
        Ok(match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove(key) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Create every fixture. On error, what was created so far is in `p` and must be cleaned up.
async fn provision(
    target: &Target,
    fixtures: &Fixtures,
    p: &mut Provisioned,
) -> Result<(), ProvisionError> {
    let admin = Admin { target };
    let run = p.run_id.clone();
    let fixture_name = |key: &str| format!("{key}-{run}");
    let host = target.upstream_host.clone();

    for (k, u) in &fixtures.users {
        let email = format!("{}-{run}@example.com", k.to_lowercase());
        let what = format!("create user {k}");
        admin
            .call(
                &what,
                "POST",
                "/auth/email/admin/users",
                Some(json!({"email": email, "password": "Conformance-Harness-Passw0rd!", "full_name": k, "is_admin": u.admin})),
            )
            .await?;
        p.cleanup.push(("DELETE".into(), format!("{USERS}{email}")));
        p.users.insert(k.clone(), email);
    }

    for (k, t) in &fixtures.teams {
        let name = fixture_name(k);
        let what = format!("create team {k}");
        let (_, v) = admin
            .call(
                &what,
                "POST",
                "/teams/",
                Some(json!({"name": name, "visibility": "private"})),
            )
            .await?;
        let id = str_of(&v, "id");
        p.cleanup.push(("DELETE".into(), format!("/teams/{id}")));
        for m in &t.members {
            let email = p.users.get(m).cloned().unwrap_or_default();
            admin
                .call(
                    &format!("add {m} to team {k}"),
                    "POST",
                    &format!("/teams/{id}/members"),
                    Some(json!({"email": email, "role": "member"})),
                )
                .await?;
        }
        p.teams.insert(
            k.clone(),
            Entity {
                id,
                name,
                uri: String::new(),
            },
        );
    }
    let team_id = |team: &Option<String>, p: &Provisioned| -> Option<String> {
        team.as_ref()
            .and_then(|t| p.teams.get(t))
            .map(|t| t.id.clone())
    };
    let ownership = |vis: Visibility, team: Option<String>| {
        let mut o = serde_json::Map::new();
        o.insert("visibility".into(), json!(vis.as_str()));
        if let Some(t) = team {
            o.insert("team_id".into(), json!(t));
        }
        o
    };

    for (k, u) in &fixtures.upstreams {
        let mut spec = u.clone();
        for r in &mut spec.resources {
            r.uri = subst::render(&r.uri, p).map_err(|e| perr(format!("start upstream {k}"), e))?;
        }
        let server = McpUpstream::start(&host, spec.clone())
            .await
            .map_err(|e| perr(format!("start upstream {k}"), e.to_string()))?;
        let url = server.url();
        let mut body = json!({"name": fixture_name(&k.to_lowercase()), "url": url, "transport": "STREAMABLEHTTP"});
        if let Some(o) = body.as_object_mut() {
            o.extend(ownership(u.visibility, team_id(&u.team, p)));
        }
        let what = format!("register upstream {k} as a gateway");
        let (_, v) = admin.call(&what, "POST", "/gateways", Some(body)).await?;
        let gateway_id = str_of(&v, "id");
        p.cleanup
            .push(("DELETE".into(), format!("/gateways/{gateway_id}")));
        p.upstreams.insert(
            k.clone(),
            MadeUpstream {
                server: UpstreamHandle::Local(server),
                gateway_id: gateway_id.clone(),
                url,
            },
        );
        let of_gateway =
            |v: &Value| v.get("gatewayId").and_then(Value::as_str) == Some(gateway_id.as_str());
        let tools = admin
            .list(&format!("list tools of upstream {k}"), "/tools", "tools")
            .await?;
        for t in &spec.tools {
            let found = tools
                .iter()
                .find(|v| of_gateway(v) && str_of(v, "originalName") == t.name)
                .ok_or_else(|| {
                    perr(
                        format!("find tool {k}.{}", t.name),
                        "the gateway did not discover it (GET /tools)",
                    )
                })?;
            p.tools.insert(
                format!("{k}.{}", t.name),
                Entity {
                    id: str_of(found, "id"),
                    name: str_of(found, "name"),
                    uri: String::new(),
                },
            );
        }
        if !spec.resources.is_empty() {
            let list = admin
                .list(
                    &format!("list resources of upstream {k}"),
                    "/resources",
                    "resources",
                )
                .await?;
            for r in &spec.resources {
                let found = list
                    .iter()
                    .find(|v| of_gateway(v) && str_of(v, "uri") == r.uri)
                    .ok_or_else(|| {
                        perr(
                            format!("find resource {k}.{}", r.name),
                            "the gateway did not discover it (GET /resources)",
                        )
                    })?;
                p.resources.insert(
                    format!("{k}.{}", r.name),
                    Entity {
                        id: str_of(found, "id"),
                        name: str_of(found, "name"),
                        uri: r.uri.clone(),
                    },
                );
            }
        }
        if !spec.prompts.is_empty() {
            let list = admin
                .list(
                    &format!("list prompts of upstream {k}"),
                    "/prompts",
                    "prompts",
                )
                .await?;
            for pr in &spec.prompts {
                let found = list
                    .iter()
                    .find(|v| of_gateway(v) && str_of(v, "originalName") == pr.name)
                    .ok_or_else(|| {
                        perr(
                            format!("find prompt {k}.{}", pr.name),
                            "the gateway did not discover it (GET /prompts)",
                        )
                    })?;
                p.prompts.insert(
                    format!("{k}.{}", pr.name),
                    Entity {
                        id: str_of(found, "id"),
                        name: str_of(found, "name"),
                        uri: String::new(),
                    },
                );
            }
        }
    }

    for (k, t) in &fixtures.rest_tools {
        let echo = RestEcho::start(&host)
            .await
            .map_err(|e| perr(format!("start the echo for REST tool {k}"), e.to_string()))?;
        let mut tool = json!({
            "name": fixture_name(&k.to_lowercase()),
            "integration_type": "REST",
            "request_type": t.request_type,
            "url": echo.url(),
            "description": t.description.clone().unwrap_or_else(|| format!("conformance REST tool {k}")),
            "input_schema": t.input_schema.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        if let Some(o) = tool.as_object_mut() {
            o.extend(ownership(t.visibility, team_id(&t.team, p)));
        }
        let (_, v) = admin
            .call(
                &format!("create REST tool {k}"),
                "POST",
                "/tools",
                Some(json!({"tool": tool})),
            )
            .await?;
        let id = str_of(&v, "id");
        p.cleanup.push(("DELETE".into(), format!("/tools/{id}")));
        p.tools.insert(
            k.clone(),
            Entity {
                id,
                name: str_of(&v, "name"),
                uri: String::new(),
            },
        );
        p.rest_echoes.insert(k.clone(), echo);
    }

    for (k, r) in &fixtures.resources {
        let uri = match &r.uri {
            Some(u) => subst::render(u, p).map_err(|e| perr(format!("create resource {k}"), e))?,
            None => format!("test://{}", fixture_name(&k.to_lowercase())),
        };
        let mut body = json!({"resource": {"uri": uri, "name": fixture_name(&k.to_lowercase()), "content": r.content, "mime_type": r.mime_type}});
        if let Some(o) = body.as_object_mut() {
            o.extend(ownership(r.visibility, team_id(&r.team, p)));
        }
        let (_, v) = admin
            .call(
                &format!("create resource {k}"),
                "POST",
                "/resources",
                Some(body),
            )
            .await?;
        let id = str_of(&v, "id");
        p.cleanup
            .push(("DELETE".into(), format!("/resources/{id}")));
        p.resources.insert(
            k.clone(),
            Entity {
                id,
                name: str_of(&v, "name"),
                uri,
            },
        );
    }

    for (k, pr) in &fixtures.prompts {
        let mut body = json!({"prompt": {"name": fixture_name(&k.to_lowercase()), "template": pr.template, "arguments": pr.arguments}});
        if let Some(o) = body.as_object_mut() {
            o.extend(ownership(pr.visibility, team_id(&pr.team, p)));
        }
        let (_, v) = admin
            .call(
                &format!("create prompt {k}"),
                "POST",
                "/prompts",
                Some(body),
            )
            .await?;
        let id = str_of(&v, "id");
        p.cleanup.push(("DELETE".into(), format!("/prompts/{id}")));
        p.prompts.insert(
            k.clone(),
            Entity {
                id,
                name: str_of(&v, "name"),
                uri: String::new(),
            },
        );
    }

    for (k, s) in &fixtures.servers {
        let ids = |list: &[String], map: &BTreeMap<String, Entity>| -> Vec<String> {
            list.iter()
                .filter_map(|r| map.get(r))
                .map(|e| e.id.clone())
                .collect()
        };
        let mut server = json!({
            "name": fixture_name(k),
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
        let mut body = json!({"server": server});
        if let Some(o) = body.as_object_mut() {
            o.extend(ownership(s.visibility, team_id(&s.team, p)));
        }
        let what = format!("create server {k}");
        let (_, v) = admin.call(&what, "POST", "/servers", Some(body)).await?;
        let id = str_of(&v, "id");
        p.cleanup.push(("DELETE".into(), format!("/servers/{id}")));
        if !s.enabled {
            admin
                .call(
                    &format!("disable server {k}"),
                    "POST",
                    &format!("/servers/{id}/state?activate=false"),
                    None,
                )
                .await?;
        }
        p.servers.insert(
            k.clone(),
            Entity {
                id,
                name: str_of(&v, "name"),
                uri: String::new(),
            },
        );
    }

    for (k, t) in &fixtures.tokens {
        let made = make_token(&admin, target, k, t, fixtures, p).await?;
        if let Some(id) = &made.id {
            p.cleanup.push(("DELETE".into(), format!("/tokens/{id}")));
        }
        p.tokens.insert(k.clone(), made);
    }
    Ok(())
}

async fn make_token(
    admin: &Admin<'_>,
    target: &Target,
    key: &str,
    t: &TokenFixture,
    fixtures: &Fixtures,
    p: &Provisioned,
) -> Result<MadeToken, ProvisionError> {
    let what = format!("make token {key}");
    if t.forged {
        // Signed with a key the target never had; the claims of the administrator's token.
        let keys = tokens::JwtKeys {
            secret: uuid::Uuid::new_v4().simple().to_string(),
            audience: target
                .jwt
                .as_ref()
                .map_or_else(|| "mcpgateway-api".to_owned(), |k| k.audience.clone()),
            issuer: target
                .jwt
                .as_ref()
                .map_or_else(|| "mcpgateway".to_owned(), |k| k.issuer.clone()),
        };
        let claims = tokens::admin_claims(&target.admin_email, &keys);
        return Ok(MadeToken {
            jwt: tokens::sign_claims(
                &claims,
                keys.secret.as_bytes(),
                crate::scenario::Algorithm::HS256,
            ),
            id: None,
        });
    }
    let email = match &t.user {
        Some(u) => p.users.get(u).cloned().unwrap_or_default(),
        None => target.admin_email.clone(),
    };
    let admin_flag = t.admin.unwrap_or(t.user.is_none());
    let teams = t.teams.as_ref().map(|keys| {
        keys.iter()
            .filter_map(|k| p.teams.get(k).map(|e| e.id.clone()))
            .collect::<Vec<_>>()
    });
    let server_id = match (&t.server, &t.server_id) {
        (Some(s), _) => p.servers.get(s).map(|e| e.id.clone()),
        (None, Some(raw)) => Some(subst::render(raw, p).map_err(|e| perr(&what, e))?),
        (None, None) => None,
    };
    // Day names like `${clock.not_today}` in time restrictions are rendered when the token is
    // made, so a scenario about "a day other than today" is deterministic on every day.
    let rendered;
    let t = match &t.time_restrictions {
        Some(tr) => {
            rendered = TokenFixture {
                time_restrictions: Some(subst::render_json(tr, p).map_err(|e| perr(&what, e))?),
                ..t.clone()
            };
            &rendered
        }
        None => t,
    };
    let inputs = TokenInputs {
        fixture: t,
        email: email.clone(),
        admin: admin_flag,
        teams,
        server_id,
    };
    let sign = match target.mint(t, fixtures) {
        tokens::Mint::Sign => true,
        tokens::Mint::Api => false,
        tokens::Mint::AdminToken => {
            return Ok(MadeToken {
                jwt: target.admin_token.clone(),
                id: None,
            });
        }
    };
    if sign {
        let keys = target.jwt.as_ref().ok_or_else(|| {
            perr(
                &what,
                format!(
                    "signing needs the target's JWT secret (--jwt-secret); POST /tokens cannot make {}",
                    tokens::api_refusal(t, fixtures).unwrap_or("it")
                ),
            )
        })?;
        let claims = tokens::claims(&inputs, keys, tokens::now_secs());
        let secret = t.signing_key.clone().unwrap_or_else(|| keys.secret.clone());
        let alg = t.algorithm.unwrap_or(crate::scenario::Algorithm::HS256);
        return Ok(MadeToken {
            jwt: tokens::sign_claims(&claims, secret.as_bytes(), alg),
            id: None,
        });
    }
    let body = tokens::api_request(&inputs, &format!("{key}-{}", p.run_id), &target.admin_email);
    let (_, v) = admin.call(&what, "POST", "/tokens", Some(body)).await?;
    let jwt = str_of(&v, "access_token");
    if jwt.is_empty() {
        return Err(perr(
            &what,
            format!("POST /tokens answered no access_token: {v}"),
        ));
    }
    let id = v
        .get("token")
        .map(|t| str_of(t, "id"))
        .filter(|s| !s.is_empty());
    Ok(MadeToken { jwt, id })
}

/// Where users are created and deleted.
const USERS: &str = "/auth/email/admin/users/";

/// Delete everything `p` created, newest first. Returns what could not be deleted.
async fn cleanup(target: &Target, p: &mut Provisioned) -> Vec<String> {
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
