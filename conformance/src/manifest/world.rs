//! Mapping a scenario's abstract fixtures onto the world a statically configured gateway was
//! given (pure: no I/O).
//!
//! A scenario names fixtures of its own (upstreams U with tools, servers S fronting them, tokens
//! scoped to S); a gateway configured from a file has fixed upstreams, servers and principals.
//! [`plan`] finds an assignment that keeps every meaning: an upstream maps onto a declared one
//! with the same tools, resources and prompts; a server onto a distinct declared server that
//! fronts exactly that upstream's items; a token onto a principal whose reach is the same. When
//! none exists the scenario is NOT-APPLICABLE, and the error names the first need the world
//! cannot meet.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{DeclaredUpstream, Principal, Reach, StaticWorld};
use crate::scenario::{Fixtures, TokenFixture, TokenSource, UpstreamFixture, Visibility};

/// Which declared thing stands for each scenario fixture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Scenario upstream key -> declared upstream key.
    pub upstreams: BTreeMap<String, String>,
    /// Scenario server key -> declared server key.
    pub servers: BTreeMap<String, String>,
    /// Scenario token key -> principal name.
    pub tokens: BTreeMap<String, String>,
}

/// Find a mapping of `fixtures` onto `world`, or say what the world lacks.
pub fn plan(
    world: &StaticWorld,
    principals: &BTreeMap<String, Principal>,
    fixtures: &Fixtures,
) -> Result<Mapping, String> {
    for (kind, n) in [
        ("users", fixtures.users.len()),
        ("teams", fixtures.teams.len()),
        ("rest_tools", fixtures.rest_tools.len()),
        ("resources", fixtures.resources.len()),
        ("prompts", fixtures.prompts.len()),
    ] {
        if n > 0 {
            return Err(format!(
                "needs `{kind}` fixtures, which only an admin API can make (the target was \
                 configured from a file)"
            ));
        }
    }
    for (k, u) in &fixtures.upstreams {
        if u.visibility != Visibility::Public || u.team.is_some() {
            return Err(format!(
                "upstream `{k}` needs {} visibility, which a configured world does not model",
                u.visibility.as_str()
            ));
        }
    }
    for (k, s) in &fixtures.servers {
        if s.oauth.is_some() {
            return Err(format!("server `{k}` needs OAuth settings made for it"));
        }
        if !s.enabled {
            return Err(format!("server `{k}` needs to be disabled"));
        }
        if s.visibility != Visibility::Public || s.team.is_some() {
            return Err(format!(
                "server `{k}` needs {} visibility, which a configured world does not model",
                s.visibility.as_str()
            ));
        }
    }
    for (k, t) in &fixtures.tokens {
        token_need(k, t)?;
    }
    let scenario_ups: Vec<&String> = fixtures.upstreams.keys().collect();
    let mut search = Search {
        world,
        principals,
        fixtures,
        best_error: None,
    };
    let mut m = Mapping::default();
    if search.upstreams(&scenario_ups, &mut m) {
        return Ok(m);
    }
    Err(search.best_error.unwrap_or_else(|| {
        "the declared world has no assignment of upstreams and servers that fits".to_owned()
    }))
}

/// A token the static world can stand for: the administrator's plain token, or one scoped to a
/// server. Anything with claims, users, teams or restrictions needs a token issuer.
fn token_need(k: &str, t: &TokenFixture) -> Result<(), String> {
    if t.forged {
        // Made from a real secret, altered: any world with a principal can have one.
        return Ok(());
    }
    let special = [
        (t.needs_signing(), "locally signed claims"),
        (
            t.source != TokenSource::Auto,
            "a token made by a chosen source",
        ),
        (t.user.is_some(), "a user of its own"),
        (t.teams.is_some(), "team claims"),
        (t.server_id.is_some(), "a literal server id claim"),
        (!t.permissions.is_empty(), "a permission list"),
        (!t.ip_restrictions.is_empty(), "IP restrictions"),
        (t.time_restrictions.is_some(), "time restrictions"),
        (t.admin == Some(false), "a non-admin identity"),
        (t.revoked, "a revoked token"),
    ];
    match special.iter().find(|(has, _)| *has) {
        Some((_, what)) => Err(format!(
            "token `{k}` needs {what}; the manifest's principals are fixed credentials"
        )),
        None => Ok(()),
    }
}

struct Search<'a> {
    world: &'a StaticWorld,
    principals: &'a BTreeMap<String, Principal>,
    fixtures: &'a Fixtures,
    /// The most specific reason a branch failed, for the NOT-APPLICABLE message.
    best_error: Option<String>,
}

impl Search<'_> {
    fn fail(&mut self, why: String) -> bool {
        if self.best_error.is_none() {
            self.best_error = Some(why);
        }
        false
    }

    /// Assign declared upstreams to `rest`, then servers.
    fn upstreams(&mut self, rest: &[&String], m: &mut Mapping) -> bool {
        let Some((first, rest)) = rest.split_first() else {
            let servers: Vec<&String> = self.fixtures.servers.keys().collect();
            return self.servers(&servers, m);
        };
        let want = &self.fixtures.upstreams[*first];
        let used: BTreeSet<&String> = m.upstreams.values().collect();
        let candidates: Vec<String> = self
            .world
            .upstreams
            .iter()
            .filter(|(d, u)| !used.contains(d) && covers(&u.value, want))
            .map(|(d, _)| d.clone())
            .collect();
        if candidates.is_empty() {
            return self.fail(format!(
                "upstream `{first}` needs a declared upstream with its tools, resources and \
                 prompts ({}); none is free",
                describe(want)
            ));
        }
        for d in candidates {
            m.upstreams.insert((*first).clone(), d);
            if self.upstreams(rest, m) {
                return true;
            }
            m.upstreams.remove(*first);
        }
        false
    }

    /// Assign declared servers to `rest`, then principals.
    fn servers(&mut self, rest: &[&String], m: &mut Mapping) -> bool {
        let Some((first, rest)) = rest.split_first() else {
            return self.tokens(m);
        };
        let s = &self.fixtures.servers[*first];
        // Every item of a server comes from one scenario upstream (or the server is empty).
        let sources: BTreeSet<&str> = s
            .tools
            .iter()
            .chain(&s.resources)
            .chain(&s.prompts)
            .filter_map(|r| r.split_once('.').map(|(u, _)| u))
            .collect();
        if sources.len() > 1 {
            return self.fail(format!(
                "server `{first}` combines items of several upstreams; a declared server fronts one"
            ));
        }
        let source = sources.into_iter().next();
        let used: BTreeSet<&String> = m.servers.values().collect();
        let mut candidates = Vec::new();
        for (d, ds) in &self.world.servers {
            if used.contains(d) {
                continue;
            }
            let Some(du) = self.world.upstreams.get(&ds.value.upstream.value) else {
                continue;
            };
            let fits = match source {
                // It fronts exactly the mapped upstream, and all of its items are the server's.
                Some(u) => {
                    m.upstreams.get(u) == Some(&ds.value.upstream.value)
                        && names(&s.tools) == item_names(du, Item::Tool)
                        && names(&s.resources) == item_names(du, Item::Resource)
                        && names(&s.prompts) == item_names(du, Item::Prompt)
                }
                // An empty server stands for a declared server that serves nothing.
                None => {
                    du.value.tools.is_empty()
                        && du.value.resources.is_empty()
                        && du.value.prompts.is_empty()
                        && !du.value.fidelity
                }
            };
            if fits {
                candidates.push(d.clone());
            }
        }
        if candidates.is_empty() {
            return self.fail(match source {
                Some(u) => format!(
                    "server `{first}` needs a free declared server that fronts upstream `{u}` \
                     with exactly its items ({})",
                    [&s.tools, &s.resources, &s.prompts]
                        .iter()
                        .flat_map(|l| l.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => {
                    format!("server `{first}` needs a free declared server that serves nothing")
                }
            });
        }
        for d in candidates {
            m.servers.insert((*first).clone(), d);
            if self.servers(rest, m) {
                return true;
            }
            m.servers.remove(*first);
        }
        false
    }

    /// Find a principal for each token (several tokens may share one).
    fn tokens(&mut self, m: &mut Mapping) -> bool {
        let mut chosen = BTreeMap::new();
        for (k, t) in &self
            .fixtures
            .tokens
            .iter()
            .filter(|(_, t)| !t.forged)
            .collect::<Vec<_>>()
        {
            let want: Option<BTreeSet<&String>> = match &t.server {
                Some(s) => match m.servers.get(s) {
                    Some(d) => Some(std::iter::once(d).collect()),
                    None => return self.fail(format!("token `{k}` names undeclared server `{s}`")),
                },
                None => None,
            };
            let found = self
                .principals
                .iter()
                .find(|(_, p)| match (&p.reach, &want) {
                    (Reach::All, None) => true,
                    (Reach::Servers(list), Some(want)) => {
                        list.iter().map(|s| &s.value).collect::<BTreeSet<_>>() == *want
                    }
                    _ => false,
                });
            match found {
                Some((name, _)) => {
                    chosen.insert((*k).clone(), name.clone());
                }
                None => {
                    return self.fail(match &want {
                        None => format!(
                            "token `{k}` needs a principal that reaches every server; the \
                             manifest declares none"
                        ),
                        Some(w) => format!(
                            "token `{k}` needs a principal that reaches only server {}; the \
                             manifest declares none",
                            w.iter()
                                .map(|s| format!("`{s}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
        }
        m.tokens = chosen;
        true
    }
}

#[derive(Clone, Copy)]
enum Item {
    Tool,
    Resource,
    Prompt,
}

/// Whether a declared upstream serves everything the scenario's upstream declares, identically.
/// The fidelity fixture stands only for itself.
fn covers(declared: &DeclaredUpstream, want: &UpstreamFixture) -> bool {
    fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
        serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
    }
    if declared.fidelity || want.fidelity {
        return declared.fidelity && want.fidelity;
    }
    want.tools.iter().all(|t| {
        declared
            .tools
            .iter()
            .any(|d| d.name == t.name && same(d, t))
    }) && want.resources.iter().all(|r| {
        declared
            .resources
            .iter()
            .any(|d| d.name == r.name && same(d, r))
    }) && want.prompts.iter().all(|p| {
        declared
            .prompts
            .iter()
            .any(|d| d.name == p.name && same(d, p))
    })
}

/// `U.item` references -> the item names.
fn names(refs: &[String]) -> BTreeSet<String> {
    refs.iter()
        .filter_map(|r| r.split_once('.').map(|(_, n)| n.to_owned()))
        .collect()
}

/// What a declared upstream serves, as a fixture (its own items, or the fidelity fixture's).
pub fn fixture_of(d: &DeclaredUpstream) -> UpstreamFixture {
    UpstreamFixture {
        tools: d.tools.clone(),
        resources: d.resources.clone(),
        prompts: d.prompts.clone(),
        fidelity: d.fidelity,
        ..Default::default()
    }
}

fn item_names(u: &serde_saphyr::Spanned<DeclaredUpstream>, kind: Item) -> BTreeSet<String> {
    let served = fixture_of(&u.value).served();
    let items = match kind {
        Item::Tool => served.tools,
        Item::Resource => served.resources,
        Item::Prompt => served.prompts,
    };
    items.into_iter().map(|(name, _)| name).collect()
}

fn describe(u: &UpstreamFixture) -> String {
    let mut parts: Vec<String> = u.tools.iter().map(|t| format!("tool {}", t.name)).collect();
    parts.extend(u.resources.iter().map(|r| format!("resource {}", r.name)));
    parts.extend(u.prompts.iter().map(|p| format!("prompt {}", p.name)));
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;
    use std::path::Path;

    const WORLD: &str = r#"
name: w
principals:
  master: {secret_env: MASTER, reach: all}
  alpha_only: {secret_env: ALPHA, reach: {servers: [alpha]}}
provisioning:
  static:
    upstreams:
      a: {port: 4701, tools: [{name: echo}, {name: add}]}
      b: {port: 4702, tools: [{name: secret}]}
    servers:
      alpha: {upstream: a}
      beta: {upstream: b}
"#;

    fn scenario_fixtures(yaml: &str) -> Fixtures {
        serde_saphyr::from_str(yaml).expect("fixtures parse")
    }

    fn plan_of(yaml: &str) -> Result<Mapping, String> {
        let m = parse_str(Path::new("w.yaml"), WORLD).expect("world parses");
        let w = m.static_world().expect("static");
        let principals = m
            .principals
            .iter()
            .map(|(k, p)| (k.clone(), p.value.clone()))
            .collect();
        plan(w, &principals, &scenario_fixtures(yaml))
    }

    #[test]
    fn two_servers_map_onto_distinct_declared_ones() {
        let m = plan_of(
            "upstreams:\n  U: {tools: [{name: echo}, {name: add}]}\n  V: {tools: [{name: secret}]}\n\
             servers:\n  S: {tools: [U.echo, U.add]}\n  T: {tools: [V.secret]}\n\
             tokens:\n  admin: {}\n  scoped: {server: S}\n",
        )
        .expect("fits");
        assert_eq!(m.upstreams["U"], "a");
        assert_eq!(m.upstreams["V"], "b");
        assert_eq!(m.servers["S"], "alpha");
        assert_eq!(m.servers["T"], "beta");
        assert_eq!(m.tokens["admin"], "master");
        assert_eq!(m.tokens["scoped"], "alpha_only");
    }

    #[test]
    fn what_the_world_lacks_is_named() {
        let e = plan_of("servers:\n  S: {}\n  T: {}\ntokens:\n  t: {server: T}\n").unwrap_err();
        assert!(
            e.contains("server `S`") && e.contains("serves nothing"),
            "{e}"
        );
        let e = plan_of(
            "upstreams:\n  V: {tools: [{name: secret}]}\nservers:\n  T: {tools: [V.secret]}\n\
             tokens:\n  t: {server: T}\n",
        )
        .unwrap_err();
        assert!(e.contains("reaches only server `beta`"), "{e}");
        let e = plan_of("users: {alice: {}}\n").unwrap_err();
        assert!(e.contains("`users`"), "{e}");
        let e = plan_of("tokens:\n  t: {claims: {exp: -60}}\n").unwrap_err();
        assert!(e.contains("token `t` needs locally signed claims"), "{e}");
        // A server that shows only part of its upstream's tools is not what a declared server is.
        let e = plan_of(
            "upstreams:\n  U: {tools: [{name: echo}, {name: add}]}\nservers:\n  S: {tools: [U.echo]}\n",
        )
        .unwrap_err();
        assert!(e.contains("exactly its items"), "{e}");
    }

    #[test]
    fn a_tool_with_another_result_is_another_tool() {
        let e = plan_of("upstreams:\n  U: {tools: [{name: echo, result: {content: []}}]}\n")
            .unwrap_err();
        assert!(e.contains("upstream `U`"), "{e}");
    }
}
