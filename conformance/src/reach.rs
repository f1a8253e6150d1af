//! What a request step's caller may reach, and the two invariants the runner checks on every
//! response beside what the step states (issue 16 §1):
//!
//! - `outside-reach-shown`: a caller with limited reach (a server-scoped token, a server's own
//!   endpoint, no credential on a gateway that needs one) is shown no name, id or URI of a
//!   fixture outside its reach, anywhere in the response, headers included;
//! - `outside-reach-run`: no harness upstream runs, reads or renders an item outside that reach
//!   (a `tools/call`, `resources/read` or `prompts/get`, batches included, or any request to a
//!   REST tool), counted until the next step starts or a short settle after the last one.
//!
//! A step's own expectations say what its answer must be; these catch what no step thought to
//! ask: a 403 whose body or headers also list another server's tools, a refused call that still
//! reaches the upstream after the answer. Reach is only ever narrowed where the scenario makes
//! it certain (the token's server, the path's server, no credential); anything else is taken to
//! reach everything, so the invariants never judge what the spec leaves open.
//!
//! Pure: [`World::of`] reads the fixtures as provisioned, the rest are functions of what was
//! sent, what came back and what the upstreams logged.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::client::{WireRequest, WireResponse};
use crate::manifest::model::Reach as PrincipalReach;
use crate::provision::Provisioned;
use crate::scenario::{Capability, Fixtures, Request};
use crate::target::Target;

/// The invariants checked on every request step.
pub const SHOWN: &str = crate::scenario::WAIVABLE[0];
pub const RUN: &str = crate::scenario::WAIVABLE[1];

/// Strings shorter than this are not searched for: they occur by chance.
const SHORTEST_NAME: usize = 3;

/// One item a server may offer (a tool, resource or prompt), as the target named it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    /// `tool up1.echo`, `resource docs`: for messages.
    label: String,
    /// Its name, id and URI on the target (those that are not empty).
    shown_as: Vec<String>,
    /// How a harness upstream sees it run: (upstream or REST tool key, method, name or URI).
    runs_as: Option<Call>,
}

/// A call an upstream received: its key, the JSON-RPC method (REST tools: `rest`), and the
/// tool or prompt name or resource URI.
pub type Call = (String, String, String);

/// A server: its key, its name and id on the target, and the labels of the items it offers.
#[derive(Debug, Clone)]
struct Server {
    key: String,
    shown_as: Vec<String>,
    offers: BTreeSet<String>,
}

/// The scenario's world as the reach invariants need it.
#[derive(Debug, Clone, Default)]
pub struct World {
    servers: Vec<Server>,
    items: Vec<Item>,
    /// The server endpoint template (`/servers/{id}/mcp`), if the target has one.
    server_mcp: Option<String>,
    name_resolution: bool,
    anonymous_reaches_all: bool,
    /// Header names that carry a credential on this target (lower case).
    credential_headers: Vec<String>,
}

/// The servers a request's caller may reach: `None` is every server (or not known).
pub type Reach = Option<BTreeSet<String>>;

impl World {
    /// The world of a scenario whose fixtures were made as `p` records.
    pub fn of(fixtures: &Fixtures, p: &Provisioned, target: &Target) -> World {
        let mut items = Vec::new();
        let entity_strings = |e: Option<&crate::provision::Entity>| -> Vec<String> {
            e.map(|e| {
                [&e.name, &e.id, &e.uri]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
        };
        for (up, u) in &fixtures.upstreams {
            // What it serves, not only what it declares: the fidelity fixture declares nothing.
            let served = u.served();
            for (name, _) in served.tools {
                let key = format!("{up}.{name}");
                items.push(Item {
                    label: format!("tool {key}"),
                    shown_as: entity_strings(p.tools.get(&key)),
                    runs_as: Some((up.clone(), "tools/call".into(), name)),
                });
            }
            for (name, declared_uri) in served.resources {
                let key = format!("{up}.{name}");
                let made = p.resources.get(&key);
                // The URI as made (fixture URIs may carry the run id).
                let uri = made
                    .map(|e| e.uri.clone())
                    .filter(|u| !u.is_empty())
                    .unwrap_or(declared_uri);
                items.push(Item {
                    label: format!("resource {key}"),
                    shown_as: entity_strings(made),
                    runs_as: Some((up.clone(), "resources/read".into(), uri)),
                });
            }
            for (name, _) in served.prompts {
                let key = format!("{up}.{name}");
                items.push(Item {
                    label: format!("prompt {key}"),
                    shown_as: entity_strings(p.prompts.get(&key)),
                    runs_as: Some((up.clone(), "prompts/get".into(), name)),
                });
            }
        }
        for key in fixtures.rest_tools.keys() {
            items.push(Item {
                label: format!("tool {key}"),
                shown_as: entity_strings(p.tools.get(key)),
                runs_as: Some((key.clone(), "rest".into(), String::new())),
            });
        }
        for key in fixtures.resources.keys() {
            items.push(Item {
                label: format!("resource {key}"),
                shown_as: entity_strings(p.resources.get(key)),
                runs_as: None,
            });
        }
        for key in fixtures.prompts.keys() {
            items.push(Item {
                label: format!("prompt {key}"),
                shown_as: entity_strings(p.prompts.get(key)),
                runs_as: None,
            });
        }
        let servers = fixtures
            .servers
            .iter()
            .map(|(key, s)| {
                let offers = [
                    ("tool", &s.tools),
                    ("resource", &s.resources),
                    ("prompt", &s.prompts),
                ]
                .into_iter()
                .flat_map(|(kind, list)| list.iter().map(move |k| format!("{kind} {k}")))
                .collect();
                Server {
                    key: key.clone(),
                    shown_as: entity_strings(p.servers.get(key)),
                    offers,
                }
            })
            .collect();
        let mut credential_headers = vec![
            "authorization".to_owned(),
            "cookie".to_owned(),
            "proxy-authorization".to_owned(),
        ];
        credential_headers.push(
            target
                .manifest
                .credentials
                .header
                .value
                .to_ascii_lowercase(),
        );
        World {
            servers,
            items,
            server_mcp: target
                .manifest
                .endpoints
                .template("server_mcp")
                .map(str::to_owned),
            name_resolution: target.has(Capability::NameResolution),
            anonymous_reaches_all: anonymous_reaches_all(target),
            credential_headers,
        }
    }

    /// The servers the caller of `r` may reach on the path `path` (rendered, without the
    /// target's root): the token's server, the path's server, both (their intersection), or
    /// none for a request without a credential on a gateway that needs one.
    pub fn reach(&self, r: &Request, fixtures: &Fixtures, p: &Provisioned, path: &str) -> Reach {
        let by_token = match &r.token {
            Some(key) => fixtures.tokens.get(key).and_then(|t| {
                // A credential the gateway never issued, or revoked, reaches what no credential
                // reaches.
                if t.forged || t.revoked {
                    return (!self.anonymous_reaches_all).then(BTreeSet::new);
                }
                if let Some(s) = &t.server {
                    return Some(BTreeSet::from([s.clone()]));
                }
                // A scope given as an id: the server with that id, else not known.
                let id = crate::scenario::subst::render(t.server_id.as_deref()?, p).ok()?;
                let server = p
                    .servers
                    .iter()
                    .find(|(_, e)| !id.is_empty() && e.id == id)?;
                Some(BTreeSet::from([server.0.clone()]))
            }),
            None => {
                let credential = r.headers.keys().any(|h| {
                    self.credential_headers
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(h))
                });
                (!credential && !self.anonymous_reaches_all).then(BTreeSet::new)
            }
        };
        let by_path = self
            .server_endpoint_of(path, p)
            .map(|k| BTreeSet::from([k]));
        match (by_token, by_path) {
            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
            (a, b) => a.or(b),
        }
    }

    /// The server whose MCP endpoint `path` is, exactly as the template spells it (one trailing
    /// slash allowed, no normalisation).
    fn server_endpoint_of(&self, path: &str, p: &Provisioned) -> Option<String> {
        let (field, segment) = server_segment(self.server_mcp.as_deref()?, path)?;
        p.servers
            .iter()
            .find(|(_, e)| match field {
                "{id}" => e.id == segment || (self.name_resolution && e.name == segment),
                _ => e.name == segment,
            })
            .map(|(k, _)| k.clone())
    }

    /// What of the items and servers outside `reach` a response shows, one message each
    /// (empty: nothing). A string the request itself carried is not searched for (an echo is
    /// no leak), nor one inside a string the caller may see.
    pub fn shown_outside(
        &self,
        reach: &BTreeSet<String>,
        sent: &WireRequest,
        resp: &WireResponse,
    ) -> Vec<String> {
        let reached: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| reach.contains(&s.key))
            .collect();
        let inside = |label: &str| reached.iter().any(|s| s.offers.contains(label));
        let mut allowed: Vec<String> = reached.iter().flat_map(|s| s.shown_as.clone()).collect();
        let mut outside: Vec<(String, &str)> = Vec::new();
        for item in &self.items {
            if inside(&item.label) {
                allowed.extend(item.shown_as.iter().cloned());
            } else {
                outside.extend(
                    item.shown_as
                        .iter()
                        .map(|s| (item.label.clone(), s.as_str())),
                );
            }
        }
        let request_text = request_text(sent);
        for s in self.servers.iter().filter(|s| !reach.contains(&s.key)) {
            // A server the request named (by id or by name) may be named back by either: the
            // metadata of `/servers/{name}/...` carries its id (D4).
            if s.shown_as.iter().any(|n| request_text.contains(n.as_str())) {
                continue;
            }
            let label = format!("server {}", s.key);
            outside.extend(s.shown_as.iter().map(|n| (label.clone(), n.as_str())));
        }
        let body = String::from_utf8_lossy(&resp.body);
        let mut out = Vec::new();
        let mut reported = BTreeSet::new();
        for (label, text) in outside {
            let searchable = text.chars().count() >= SHORTEST_NAME
                && !request_text.contains(text)
                && !allowed.iter().any(|a| a.contains(text));
            if !searchable || reported.contains(&label) {
                continue;
            }
            let place = if body.contains(text) {
                Some("the body".to_owned())
            } else {
                resp.headers
                    .iter()
                    .find(|(_, v)| v.contains(text))
                    .map(|(h, _)| format!("header `{h}`"))
            };
            if let Some(place) = place {
                out.push(format!(
                    "{SHOWN}: {} was shown `{text}` ({label}, outside its reach) in {place}",
                    who(reach)
                ));
                reported.insert(label);
            }
        }
        out
    }

    /// The calls among `calls` (what harness upstreams received after the step was sent) that
    /// ran an item outside `reach`, one message each: a call of an item of the world outside it,
    /// or any call to an upstream none of whose items it reaches. A name an upstream inside the
    /// reach does not know is not judged here: a pass-through proxy forwards it, the upstream
    /// refuses it, and nothing outside the reach ran.
    pub fn ran_outside(&self, reach: &BTreeSet<String>, calls: &[Call]) -> Vec<String> {
        let inside = |i: &Item| {
            self.servers
                .iter()
                .any(|s| reach.contains(&s.key) && s.offers.contains(&i.label))
        };
        let allowed: BTreeSet<&Call> = self
            .items
            .iter()
            .filter(|i| inside(i))
            .filter_map(|i| i.runs_as.as_ref())
            .collect();
        let upstreams_inside: BTreeSet<&str> = allowed.iter().map(|(u, _, _)| u.as_str()).collect();
        let mut out = Vec::new();
        for call in calls {
            let (up, method, what) = call;
            if allowed.contains(call) {
                continue;
            }
            let item = self.items.iter().find(|i| i.runs_as.as_ref() == Some(call));
            let known_outside = item.is_some_and(|i| !inside(i));
            let upstream_outside = !upstreams_inside.contains(up.as_str());
            if !known_outside && !upstream_outside {
                continue;
            }
            let item = item.map_or_else(|| format!("`{what}`"), |i| i.label.clone());
            let message = if method == "rest" {
                format!(
                    "{RUN}: REST tool {up} was called for {} (outside its reach) after the step was sent",
                    who(reach)
                )
            } else {
                format!(
                    "{RUN}: upstream {up} received {method} of {item} for {} (outside its reach) after the step was sent",
                    who(reach)
                )
            };
            if !out.contains(&message) {
                out.push(message);
            }
        }
        out
    }
}

fn who(reach: &BTreeSet<String>) -> String {
    match reach.len() {
        0 => "a caller that reaches no server".to_owned(),
        1 => format!(
            "a caller that reaches only server {}",
            reach.iter().next().map_or("", String::as_str)
        ),
        _ => format!(
            "a caller that reaches only servers {}",
            reach.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Everything a request carried, as text, also percent-decoded (a name sent encoded and echoed
/// decoded is still an echo).
fn request_text(sent: &WireRequest) -> String {
    let mut text = sent.target.clone();
    text.push('\n');
    if let Some(decoded) = crate::oracle::raw_path::decode(sent.target.as_bytes()) {
        text.push_str(&String::from_utf8_lossy(&decoded));
    }
    for (k, v) in &sent.headers {
        text.push('\n');
        text.push_str(k);
        text.push_str(": ");
        text.push_str(v);
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&sent.body));
    text
}

/// The calls among JSON-RPC `bodies` an upstream received (`tools/call` and `prompts/get` by
/// name, `resources/read` by URI), also inside a batch (a gateway may forward a client's batch
/// as one).
pub fn calls_in(upstream: &str, bodies: &[Value]) -> Vec<Call> {
    let call = |m: &Value| {
        let method = m.get("method").and_then(Value::as_str)?;
        let field = match method {
            "tools/call" | "prompts/get" => "/params/name",
            "resources/read" => "/params/uri",
            _ => return None,
        };
        let what = m.pointer(field).and_then(Value::as_str).unwrap_or_default();
        Some((upstream.to_owned(), method.to_owned(), what.to_owned()))
    };
    bodies
        .iter()
        .flat_map(|b| match b {
            Value::Array(batch) => batch.iter().filter_map(call).collect(),
            one => call(one).into_iter().collect::<Vec<_>>(),
        })
        .collect()
}

/// The server segment of a path that is a server endpoint as `template` spells it: which field
/// the template has there (`{id}` or `{name}`) and the segment. One trailing slash is allowed;
/// nothing is normalised, so a path with dot segments or encoded separators is no endpoint.
pub fn server_segment<'a>(template: &str, path: &'a str) -> Option<(&'static str, &'a str)> {
    let (field, at) = ["{id}", "{name}"]
        .iter()
        .find_map(|f| template.find(f).map(|at| (*f, at)))?;
    let (prefix, suffix) = (&template[..at], &template[at + field.len()..]);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let trimmed = match path.strip_suffix('/') {
        Some(t) if !suffix.ends_with('/') && !t.is_empty() => t,
        _ => path,
    };
    let segment = trimmed.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!segment.is_empty() && !segment.contains('/')).then_some((field, segment))
}

/// Whether a request without a valid credential reaches every server on `target`: a declared
/// principal without a secret that reaches all, or an admin-API target with authentication off.
pub fn anonymous_reaches_all(target: &Target) -> bool {
    let principals = &target.manifest.principals;
    if principals.is_empty() {
        target.has(Capability::McpAuthOptional) || target.has(Capability::AuthOptional)
    } else {
        principals
            .values()
            .any(|p| p.value.secret_env.is_none() && p.value.reach == PrincipalReach::All)
    }
}

/// The calls each upstream of `p` logged after `marks` (its count when the step started), and
/// the counts now.
pub async fn calls_since(
    p: &Provisioned,
    marks: &BTreeMap<String, usize>,
) -> (Vec<Call>, BTreeMap<String, usize>) {
    let mut calls = Vec::new();
    let mut now = BTreeMap::new();
    for key in p.upstreams.keys() {
        let skip = marks.get(key).copied().unwrap_or(usize::MAX);
        if let Some((count, bodies)) = p.messages_since(key, skip).await {
            if skip != usize::MAX {
                calls.extend(calls_in(key, &bodies));
            }
            now.insert(key.clone(), count);
        }
    }
    for key in p.rest_echoes.keys() {
        let received = p.received(key).await.unwrap_or_default();
        if let Some(skip) = marks.get(key) {
            calls.extend(
                received
                    .iter()
                    .skip(*skip)
                    .map(|_| (key.clone(), "rest".to_owned(), String::new())),
            );
        }
        now.insert(key.clone(), received.len());
    }
    (calls, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn world() -> World {
        let item = |label: &str, shown: &[&str], runs: Option<(&str, &str, &str)>| Item {
            label: label.into(),
            shown_as: shown.iter().map(|s| (*s).to_owned()).collect(),
            runs_as: runs.map(|(u, m, w)| (u.into(), m.into(), w.into())),
        };
        let server = |key: &str, shown: &[&str], offers: &[&str]| Server {
            key: key.into(),
            shown_as: shown.iter().map(|s| (*s).to_owned()).collect(),
            offers: offers.iter().map(|s| (*s).to_owned()).collect(),
        };
        World {
            servers: vec![
                server("S", &["s-run1", "id-s-0001"], &["tool u1.echo"]),
                server(
                    "T",
                    &["t-run1", "id-t-0002"],
                    &["tool u2.secret", "tool rt"],
                ),
            ],
            items: vec![
                item(
                    "tool u1.echo",
                    &["u1-run1-echo", "tool-id-1"],
                    Some(("u1", "tools/call", "echo")),
                ),
                item(
                    "tool u2.secret",
                    &["u2-run1-secret", "tool-id-2"],
                    Some(("u2", "tools/call", "secret")),
                ),
                item("tool rt", &["rt-run1"], Some(("rt", "rest", ""))),
            ],
            ..World::default()
        }
    }

    fn sent(target: &str, body: &str) -> WireRequest {
        WireRequest {
            method: "POST".into(),
            target: target.into(),
            headers: vec![],
            body: body.to_owned().into(),
        }
    }

    fn resp(headers: &[(&str, &str)], body: &str) -> WireResponse {
        WireResponse {
            status: 403,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: body.to_owned().into(),
        }
    }

    #[test]
    fn a_name_outside_the_reach_is_a_leak_in_the_body_or_a_header() {
        let w = world();
        let s = BTreeSet::from(["S".to_owned()]);
        let req = sent("/rpc", r#"{"method":"tools/list"}"#);
        assert!(
            w.shown_outside(
                &s,
                &req,
                &resp(&[], r#"{"tools":[{"name":"u1-run1-echo"}]}"#)
            )
            .is_empty()
        );
        let leak = w.shown_outside(
            &s,
            &req,
            &resp(&[], r#"{"detail":"no, try u2-run1-secret"}"#),
        );
        assert_eq!(leak.len(), 1, "{leak:?}");
        assert!(leak[0].contains("tool u2.secret") && leak[0].contains("the body"));
        let leak = w.shown_outside(&s, &req, &resp(&[("x-hint", "t-run1")], "{}"));
        assert!(leak[0].contains("server T") && leak[0].contains("header `x-hint`"));
        // Reaching nothing, even the server's own tool is outside.
        let none = BTreeSet::new();
        assert_eq!(
            w.shown_outside(&none, &req, &resp(&[], "u1-run1-echo"))
                .len(),
            1
        );
    }

    #[test]
    fn an_echo_of_the_request_is_no_leak() {
        let w = world();
        let s = BTreeSet::from(["S".to_owned()]);
        let req = sent(
            "/rpc",
            r#"{"method":"tools/call","params":{"name":"u2-run1-secret"}}"#,
        );
        let answer = resp(&[], r#"{"error":{"message":"not here: u2-run1-secret"}}"#);
        assert!(w.shown_outside(&s, &req, &answer).is_empty());
        // Percent-encoded in the path, decoded in the answer.
        let req = sent("/servers/t%2Drun1/mcp", "");
        assert!(
            w.shown_outside(&s, &req, &resp(&[], "unknown server t-run1"))
                .is_empty()
        );
    }

    #[test]
    fn a_call_outside_the_reach_is_reported_also_inside_a_batch() {
        let w = world();
        let s = BTreeSet::from(["S".to_owned()]);
        let bodies = [
            json!({"method": "tools/call", "params": {"name": "echo"}}),
            json!([{"method": "tools/list"}, {"method": "tools/call", "params": {"name": "secret"}}]),
        ];
        let mut calls = calls_in("u1", &bodies[..1]);
        calls.extend(calls_in("u2", &bodies[1..]));
        assert_eq!(calls.len(), 2);
        let ran = w.ran_outside(&s, &calls);
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert!(ran[0].contains("upstream u2 received tools/call of tool u2.secret"));
        // An upstream inside the reach asked for a name it does not have: nothing ran.
        let unknown_inside = calls_in(
            "u1",
            &[json!({"method": "tools/call", "params": {"name": "vault"}})],
        );
        assert!(w.ran_outside(&s, &unknown_inside).is_empty());
        // Any call to an upstream outside the reach is outside it, known or not.
        let unknown_outside = calls_in(
            "u2",
            &[json!({"method": "tools/call", "params": {"name": "x"}})],
        );
        assert_eq!(w.ran_outside(&s, &unknown_outside).len(), 1);
        let rest = vec![("rt".to_owned(), "rest".to_owned(), String::new())];
        assert_eq!(w.ran_outside(&s, &rest).len(), 1);
        let t = BTreeSet::from(["T".to_owned()]);
        assert!(w.ran_outside(&t, &rest).is_empty());
    }

    #[test]
    fn server_endpoints_are_matched_as_spelled() {
        assert_eq!(
            server_segment("/servers/{id}/mcp", "/servers/abc/mcp/"),
            Some(("{id}", "abc"))
        );
        assert_eq!(
            server_segment("/servers/{id}/mcp", "/servers/abc/mcp?x=1"),
            Some(("{id}", "abc"))
        );
        assert_eq!(
            server_segment("/servers/{id}/mcp", "/servers/a/../b/mcp"),
            None
        );
        assert_eq!(
            server_segment("/mcp/{name}", "/mcp/alpha"),
            Some(("{name}", "alpha"))
        );
        assert_eq!(server_segment("/mcp", "/mcp"), None);
    }
}
