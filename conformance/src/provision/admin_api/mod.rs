//! The admin-API adapter: fixtures created through the target's admin API and deleted after
//! the scenario.
//!
//! The admin API is ContextForge's (see `docs/research/contextforge-api.md`), which the reference
//! speaks too: wrapped bodies for servers/tools/resources/prompts, `POST /gateways` unwrapped,
//! `POST /teams/` with its trailing slash, `POST /tokens` with `expires_in_days`. Names are read
//! back from responses, never assumed (gateway tools become `<gateway slug>-<tool slug>`).
//!
//! This module holds the adapter, the HTTP helper every kind uses ([`Admin`]) and the order in
//! which kinds are made; each kind of fixture has its own module.

mod catalog;
mod cleanup;
mod servers;
mod teams;
mod tokens;
mod upstreams;
mod users;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Entity, ProvisionError, Provisioned, Provisioner};
use crate::client::{self, WireRequest};
use crate::scenario::{Fixtures, Visibility};
use crate::target::Target;

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
        cleanup::cleanup(target, p).await
    }
}

/// Create every fixture. On error, what was created so far is in `p` and must be cleaned up.
///
/// The order is the order of dependence: teams name their member users; upstreams, catalog
/// entries and servers may belong to a team; a resource's URI may name an upstream's URL;
/// servers associate tools, resources and prompts by id; tokens may be scoped to a server or
/// teams.
async fn provision(target: &Target, fixtures: &Fixtures, p: &mut Provisioned) -> Made {
    let admin = Admin { target };
    users::create(&admin, fixtures, p).await?;
    teams::create(&admin, fixtures, p).await?;
    upstreams::create(&admin, fixtures, p).await?;
    catalog::create_rest_tools(&admin, fixtures, p).await?;
    catalog::create_resources(&admin, fixtures, p).await?;
    catalog::create_prompts(&admin, fixtures, p).await?;
    servers::create(&admin, fixtures, p).await?;
    tokens::create(&admin, fixtures, p).await
}

/// What making one kind of fixture gives: nothing, or why it failed (what was made before the
/// failure is in `p`, for cleanup).
type Made = Result<(), ProvisionError>;

/// Talks to the admin API with the target's admin token.
struct Admin<'a> {
    target: &'a Target,
}

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Admin<'_> {
    /// Send one admin request; any status outside 2xx is an error carrying the exchange.
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

    /// POST a new entity to `collection` and schedule its `DELETE {collection}/{id}` at once, so
    /// that cleanup undoes it whatever fails after. Returns its id and name as the target
    /// answered them (names are never assumed), and no URI.
    async fn create(
        &self,
        p: &mut Provisioned,
        what: &str,
        collection: &str,
        body: Value,
    ) -> Result<Entity, ProvisionError> {
        let (_, v) = self.call(what, "POST", collection, Some(body)).await?;
        let id = str_of(&v, "id");
        // `POST /teams/` has a trailing slash; the entity's own path has none.
        delete_later(p, format!("{}/{id}", collection.trim_end_matches('/')));
        Ok(Entity {
            id,
            name: str_of(&v, "name"),
            uri: String::new(),
        })
    }
}

/// Schedule a `DELETE path` for cleanup (which runs them newest first).
fn delete_later(p: &mut Provisioned, path: String) {
    p.cleanup.push(("DELETE".into(), path));
}

/// A fixture's name on the target: its key and the run id, so concurrent and leftover runs
/// never collide.
fn fixture_name(p: &Provisioned, key: &str) -> String {
    format!("{key}-{}", p.run_id)
}

/// `body` with the fixture's `visibility` and, when it belongs to a team made for this run,
/// that team's `team_id` added at its top level. Callers pass the object ContextForge reads
/// them from: the request beside the wrapped entity, but a REST tool's inner `tool`.
fn owned(mut body: Value, p: &Provisioned, visibility: Visibility, team: Option<&String>) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.insert("visibility".into(), json!(visibility.as_str()));
        if let Some(t) = team.and_then(|t| p.teams.get(t)) {
            o.insert("team_id".into(), json!(t.id));
        }
    }
    body
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
