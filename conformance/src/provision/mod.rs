//! Fixtures: made before a scenario's steps and undone afterwards (also when a step or the
//! provisioning itself fails), by the target's [`Provisioner`]:
//! [`admin_api`] creates them through an admin REST API in ContextForge's shapes (ContextForge and
//! the reference); [`static_world`] maps them onto the world a gateway configured from a file was
//! given (see `crate::manifest::world`). [`Provisioned`] is what a scenario's `${...}` references
//! resolve against, whichever adapter made it.

pub mod admin_api;
pub mod static_world;

use std::collections::BTreeMap;

use crate::client::Exchange;
use crate::manifest::Endpoints;
use crate::scenario::Fixtures;
use crate::scenario::subst::Lookup;
use crate::target::Target;
use crate::upstream::{Received, RestEcho, UpstreamHandle};

/// How fixtures come to exist on a target: one adapter per way a gateway can be configured.
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync + std::fmt::Debug {
    /// Why `fixtures` cannot exist on this target (the scenario is then NOT-APPLICABLE), if so.
    fn unmet_need(&self, fixtures: &Fixtures) -> Option<String>;
    /// Whether every scenario shares one world (fixtures are not made per scenario), so that
    /// scenarios must run one at a time to read what reached an upstream as their own.
    fn shared_world(&self) -> bool;
    /// The fixtures this target has already, when it cannot make others (a gateway configured
    /// from a file): what a fuzz campaign works on. `None`: fixtures are made on demand.
    fn declared_fixtures(&self) -> Option<Fixtures> {
        None
    }
    /// Make every fixture. On error, what was made so far is in `p` and must be cleaned up.
    async fn provision(
        &self,
        target: &Target,
        fixtures: &Fixtures,
        p: &mut Provisioned,
    ) -> Result<(), ProvisionError>;
    /// Undo what `p` made, newest first. Returns what could not be undone.
    async fn cleanup(&self, target: &Target, p: &mut Provisioned) -> Vec<String>;
}

/// Why a fixture could not be made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to {what}: {detail}")]
pub struct ProvisionError {
    /// e.g. `create server S`
    pub what: String,
    pub detail: String,
    /// The admin request that failed, when there was one.
    pub exchange: Option<Box<Exchange>>,
}

pub(crate) fn perr(what: impl Into<String>, detail: impl Into<String>) -> ProvisionError {
    ProvisionError {
        what: what.into(),
        detail: detail.into(),
        exchange: None,
    }
}

/// An entity created on the target.
#[derive(Debug, Clone, Default)]
pub struct Entity {
    pub id: String,
    pub name: String,
    /// Resources only.
    pub uri: String,
}

/// A token made for a scenario.
#[derive(Debug, Clone)]
pub struct MadeToken {
    /// The secret a request carries (a JWT, or an API key of a declared principal).
    pub jwt: String,
    /// The API token id, when made with `POST /tokens`.
    pub id: Option<String>,
}

/// A harness-run upstream and its gateway registration.
#[derive(Debug)]
pub struct MadeUpstream {
    pub server: UpstreamHandle,
    pub gateway_id: String,
    pub url: String,
}

/// What one scenario run provisioned.
#[derive(Debug, Default)]
pub struct Provisioned {
    /// Unique per scenario run; fixture names end with it.
    pub run_id: String,
    pub base_url: String,
    pub host: String,
    pub root: String,
    pub users: BTreeMap<String, String>,
    pub teams: BTreeMap<String, Entity>,
    pub upstreams: BTreeMap<String, MadeUpstream>,
    pub rest_echoes: BTreeMap<String, RestEcho>,
    /// `rest key` or `upstream.tool` -> tool.
    pub tools: BTreeMap<String, Entity>,
    /// `resource key` or `upstream.resource name` -> resource.
    pub resources: BTreeMap<String, Entity>,
    /// `prompt key` or `upstream.prompt` -> prompt.
    pub prompts: BTreeMap<String, Entity>,
    pub servers: BTreeMap<String, Entity>,
    pub tokens: BTreeMap<String, MadeToken>,
    /// Values saved by steps.
    pub saved: BTreeMap<String, String>,
    /// The target's endpoint templates (`${servers.S.mcp}`, `${endpoints.rpc}`).
    pub endpoints: Endpoints,
    /// Deletions to run at cleanup, in creation order (run in reverse).
    cleanup: Vec<(String, String)>,
}

impl Lookup for Provisioned {
    fn lookup(&self, path: &[&str]) -> Result<String, String> {
        let missing = || format!("`{}` was not provisioned", path.join("."));
        let entity = |e: Option<&Entity>, f: &str| -> Result<String, String> {
            let e = e.ok_or_else(missing)?;
            Ok(match f {
                "id" => e.id.clone(),
                "uri" => e.uri.clone(),
                _ => e.name.clone(),
            })
        };
        match path {
            ["servers", k, f @ ("mcp" | "metadata")] => {
                let e = self.servers.get(*k).ok_or_else(missing)?;
                self.endpoint(server_endpoint(f), &e.id, &e.name)
            }
            ["absent_server", f] => {
                let absent = format!("mcpgw-absent-{}", self.run_id);
                self.endpoint(server_endpoint(f), &absent, &absent)
            }
            ["endpoints", name] => self.endpoint(name, "", ""),
            ["servers", k, f] => entity(self.servers.get(*k), f),
            ["teams", k, f] => entity(self.teams.get(*k), f),
            ["users", k, _] => self.users.get(*k).cloned().ok_or_else(missing),
            ["tokens", k] => self
                .tokens
                .get(*k)
                .map(|t| t.jwt.clone())
                .ok_or_else(missing),
            ["tokens", k, _] => self
                .tokens
                .get(*k)
                .and_then(|t| t.id.clone())
                .ok_or_else(|| {
                    format!("token `{k}` has no id (only `source: api` tokens have one)")
                }),
            ["upstreams", k, "url"] => self
                .upstreams
                .get(*k)
                .map(|u| u.url.clone())
                .ok_or_else(missing),
            ["upstreams", k, _] => self
                .upstreams
                .get(*k)
                .map(|u| u.gateway_id.clone())
                .ok_or_else(missing),
            ["tools", k, f] => entity(self.tools.get(*k), f),
            ["resources", k, f] => entity(self.resources.get(*k), f),
            ["prompts", k, f] => entity(self.prompts.get(*k), f),
            [kind @ ("tools" | "resources" | "prompts"), up, item, f] => {
                let key = format!("{up}.{item}");
                let map = match *kind {
                    "tools" => &self.tools,
                    "resources" => &self.resources,
                    _ => &self.prompts,
                };
                entity(map.get(&key), f)
            }
            ["saved", name] => self.saved.get(*name).cloned().ok_or_else(|| {
                format!("`{name}` was not saved (did the step that saves it fail?)")
            }),
            ["target", "base"] => Ok(self.base_url.clone()),
            ["target", "host"] => Ok(self.host.clone()),
            ["target", "root"] => Ok(self.root.clone()),
            ["run", "id"] => Ok(self.run_id.clone()),
            ["clock", "today"] => Ok(weekday_name(now_weekday(), 0)),
            ["clock", "not_today"] => Ok(weekday_name(now_weekday(), 3)),
            ["clock", "noon_timezone"] => Ok(noon_timezone(now_utc_minutes())),
            _ => Err(format!("unknown reference `{}`", path.join("."))),
        }
    }
}

/// The endpoint template a server reference names.
fn server_endpoint(field: &str) -> &'static str {
    if field == "metadata" {
        "server_metadata"
    } else {
        "server_mcp"
    }
}

impl Provisioned {
    /// An endpoint's path from its template; an error names what the target lacks.
    fn endpoint(&self, name: &str, id: &str, server_name: &str) -> Result<String, String> {
        self.endpoints
            .template(name)
            .map(|t| crate::manifest::fill(t, id, server_name))
            .ok_or_else(|| format!("the target has no `{name}` endpoint (see its manifest)"))
    }

    /// Nothing provisioned yet, for a run with this id against `base`.
    pub fn new(run_id: String, base: &crate::target::Base, endpoints: Endpoints) -> Provisioned {
        Provisioned {
            endpoints,
            run_id,
            base_url: base.url.clone(),
            host: base.authority.clone(),
            root: base.root.clone(),
            ..Default::default()
        }
    }

    /// Requests received by an upstream or REST echo so far.
    pub async fn received(&self, key: &str) -> Option<Vec<Received>> {
        if let Some(u) = self.upstreams.get(key) {
            return Some(u.server.received().await);
        }
        if let Some(e) = self.rest_echoes.get(key) {
            return Some(e.received().await);
        }
        None
    }

    /// How many requests an upstream received so far, and the bodies of those after the
    /// first `skip`; `None` for a key that is no upstream.
    pub async fn messages_since(
        &self,
        key: &str,
        skip: usize,
    ) -> Option<(usize, Vec<serde_json::Value>)> {
        Some(self.upstreams.get(key)?.server.messages_since(skip).await)
    }

    /// Every (value, placeholder) pair worth hiding in snapshots, longest value first.
    pub fn redactions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |v: &str, p: String| {
            // A value that stands for two things (a name that is also the id) once.
            if v.len() >= 4 && !out.iter().any(|(seen, _)| seen == v) {
                out.push((v.to_owned(), format!("[{p}]")));
            }
        };
        for (k, e) in &self.servers {
            add(&e.id, format!("servers.{k}.id"));
            add(&e.name, format!("servers.{k}.name"));
        }
        for (k, e) in &self.teams {
            add(&e.id, format!("teams.{k}.id"));
            add(&e.name, format!("teams.{k}.name"));
        }
        for (k, e) in &self.tools {
            add(&e.id, format!("tools.{k}.id"));
            add(&e.name, format!("tools.{k}.name"));
        }
        for (k, e) in &self.resources {
            add(&e.id, format!("resources.{k}.id"));
            add(&e.uri, format!("resources.{k}.uri"));
            add(&e.name, format!("resources.{k}.name"));
        }
        for (k, e) in &self.prompts {
            add(&e.id, format!("prompts.{k}.id"));
            add(&e.name, format!("prompts.{k}.name"));
        }
        for (k, email) in &self.users {
            add(email, format!("users.{k}.email"));
        }
        for (k, u) in &self.upstreams {
            add(&u.url, format!("upstreams.{k}.url"));
            add(&u.gateway_id, format!("upstreams.{k}.gateway_id"));
        }
        for (k, t) in &self.tokens {
            add(&t.jwt, format!("tokens.{k}"));
        }
        for (k, v) in &self.saved {
            add(v, format!("saved.{k}"));
        }
        add(&self.base_url, "target.base".to_owned());
        add(&self.host, "target.host".to_owned());
        add(&self.run_id, "run.id".to_owned());
        out.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        out
    }
}

/// A random lowercase run id of 6 characters.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_owned()
}

fn now_weekday() -> u8 {
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .weekday();
    // Monday..Sunday are 1..7 in jiff's numbering from Monday.
    (day.to_monday_one_offset() - 1) as u8
}

/// Minutes since midnight UTC, now.
fn now_utc_minutes() -> u16 {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    now.hour() as u16 * 60 + now.minute() as u16
}

/// A fixed-offset IANA zone (`Etc/GMT-5` is UTC+5) in which the local time is within half an
/// hour of noon when it is `utc_minutes` past midnight UTC, so a time window in it written an
/// hour or more away from noon gives the same verdict whenever the suite runs.
fn noon_timezone(utc_minutes: u16) -> String {
    // The whole hours to add to UTC, rounded: -12..=12.
    let offset = 12 - ((i32::from(utc_minutes) + 30) / 60);
    match offset {
        0 => "Etc/GMT".to_owned(),
        // The `Etc` zones' signs are POSIX's, the opposite of ISO 8601's.
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// The English name of the weekday `offset` days after `today` (Monday = 0), the form time
/// restrictions use.
fn weekday_name(today: u8, offset: u8) -> String {
    const NAMES: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    NAMES[usize::from((today + offset) % 7)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noon_timezone_puts_local_time_within_half_an_hour_of_noon() {
        for utc in 0..24 * 60u16 {
            let zone = noon_timezone(utc);
            let offset_hours: i32 = match zone.strip_prefix("Etc/GMT") {
                Some("") => 0,
                Some(rest) => -rest.parse::<i32>().unwrap(),
                None => panic!("{zone}"),
            };
            let local = (i32::from(utc) + offset_hours * 60).rem_euclid(24 * 60);
            assert!(
                (11 * 60 + 30..12 * 60 + 30).contains(&local),
                "{utc} -> {zone} -> {local}"
            );
            assert!((-12..=12).contains(&offset_hours), "{zone}");
        }
    }

    #[test]
    fn not_today_is_never_today() {
        for today in 0..7 {
            assert_ne!(weekday_name(today, 0), weekday_name(today, 3));
        }
        assert_eq!(weekday_name(6, 0), "Sunday");
        assert_eq!(weekday_name(6, 3), "Wednesday");
        let now = now_weekday();
        assert!(now < 7);
    }
}
