//! The static adapter: the gateway was configured from a file, so nothing is created. A
//! scenario's fixtures are mapped onto the world its manifest declares
//! ([`crate::manifest::world::plan`]); upstream counters are read from what the declared
//! fixtures record; tokens are the declared principals' secrets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Entity, MadeToken, MadeUpstream, ProvisionError, Provisioned, Provisioner, perr};
use crate::manifest::world::{self, Mapping};
use crate::manifest::{Principal, StaticWorld, UpstreamTransport};
use crate::scenario::{Fixtures, ServerFixture, UpstreamFixture};
use crate::target::Target;
use crate::upstream::{Recorded, UpstreamHandle};

/// The adapter for gateways configured from a file.
#[derive(Debug)]
pub struct StaticProvisioner {
    world: StaticWorld,
    principals: BTreeMap<String, Principal>,
    /// Principal name -> its secret, read from its environment variable at start.
    secrets: BTreeMap<String, String>,
    record_dir: PathBuf,
    upstream_host: String,
}

impl StaticProvisioner {
    /// The adapter for `world`; fails when a principal's secret is not in the environment.
    pub fn new(
        world: StaticWorld,
        principals: BTreeMap<String, Principal>,
        record_dir: PathBuf,
        upstream_host: String,
    ) -> Result<StaticProvisioner, String> {
        let mut secrets = BTreeMap::new();
        for (name, p) in &principals {
            // A principal without a secret sends no credential: its secret is empty.
            let secret = match &p.secret_env {
                None => String::new(),
                Some(env) => std::env::var(env)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        format!("principal `{name}` reads its secret from ${env}, which is not set")
                    })?,
            };
            secrets.insert(name.clone(), secret);
        }
        Ok(StaticProvisioner {
            world,
            principals,
            secrets,
            record_dir,
            upstream_host,
        })
    }

    /// The secret of a principal that reaches every server: what probes use.
    pub fn unrestricted_secret(&self) -> Option<&str> {
        self.principals
            .iter()
            .find(|(_, p)| p.reach == crate::manifest::Reach::All)
            .and_then(|(name, _)| self.secrets.get(name))
            .map(String::as_str)
    }

    fn plan(&self, fixtures: &Fixtures) -> Result<Mapping, String> {
        world::plan(&self.world, &self.principals, fixtures)
    }

    /// How the gateway names upstream tool `tool` behind declared server `server`.
    fn tool_name(&self, server: &str, tool: &str) -> String {
        self.world
            .tool_name
            .value
            .replace("{server}", server)
            .replace("{tool}", tool)
    }

    fn resource_name(&self, server: &str, resource: &str) -> String {
        self.world
            .resource_name
            .replace("{server}", server)
            .replace("{resource}", resource)
    }
}

#[async_trait::async_trait]
impl Provisioner for StaticProvisioner {
    fn unmet_need(&self, fixtures: &Fixtures) -> Option<String> {
        self.plan(fixtures).err()
    }

    fn shared_world(&self) -> bool {
        true
    }

    fn declared_fixtures(&self) -> Option<Fixtures> {
        Some(declared_fixtures(&self.world))
    }

    async fn provision(
        &self,
        _target: &Target,
        fixtures: &Fixtures,
        p: &mut Provisioned,
    ) -> Result<(), ProvisionError> {
        let m = self
            .plan(fixtures)
            .map_err(|e| perr("map the scenario's fixtures onto the declared world", e))?;
        let server_name = |declared: &str| -> String {
            self.world
                .servers
                .get(declared)
                .and_then(|s| s.value.name.clone())
                .unwrap_or_else(|| declared.to_owned())
        };
        for (k, declared) in &m.servers {
            let ds = &self.world.servers[declared].value;
            let name = server_name(declared);
            p.servers.insert(
                k.clone(),
                Entity {
                    id: ds.id.clone().unwrap_or_else(|| name.clone()),
                    name,
                    uri: String::new(),
                },
            );
        }
        for (k, declared) in &m.upstreams {
            let du = &self.world.upstreams[declared].value;
            let file = self.record_dir.join(format!("{declared}.jsonl"));
            let url = match (du.transport, du.port) {
                (UpstreamTransport::Http, Some(port)) => {
                    format!("http://{}:{port}/mcp", self.upstream_host)
                }
                _ => format!("stdio:{declared}"),
            };
            // The server that fronts it names its tools (the first, when several do).
            let front = m
                .servers
                .values()
                .find(|s| self.world.servers[*s].value.upstream.value == *declared)
                .cloned()
                .or_else(|| {
                    self.world
                        .servers
                        .iter()
                        .find(|(_, s)| s.value.upstream.value == *declared)
                        .map(|(key, _)| key.clone())
                })
                .map(|s| server_name(&s))
                .unwrap_or_default();
            if let Some(u) = fixtures.upstreams.get(k) {
                let served = u.served();
                let entity = |name: String, uri: String| Entity {
                    id: String::new(),
                    name,
                    uri,
                };
                for (t, _) in served.tools {
                    let name = self.tool_name(&front, &t);
                    p.tools
                        .insert(format!("{k}.{t}"), entity(name, String::new()));
                }
                for (r, uri) in served.resources {
                    let name = self.resource_name(&front, &r);
                    p.resources.insert(format!("{k}.{r}"), entity(name, uri));
                }
                for (pr, _) in served.prompts {
                    let name = self.tool_name(&front, &pr);
                    p.prompts
                        .insert(format!("{k}.{pr}"), entity(name, String::new()));
                }
            }
            p.upstreams.insert(
                k.clone(),
                MadeUpstream {
                    server: UpstreamHandle::Recorded(Recorded::from_now(file)),
                    gateway_id: declared.clone(),
                    url,
                },
            );
        }
        for k in fixtures
            .tokens
            .iter()
            .filter(|(_, t)| t.forged)
            .map(|(k, _)| k)
        {
            // Shaped like a real secret when there is one; else any bearer-like text.
            let real = self
                .secrets
                .values()
                .find(|s| !s.is_empty())
                .map_or("mcpgw-forged-credential", String::as_str);
            p.tokens.insert(
                k.clone(),
                MadeToken {
                    jwt: forge(real, &p.run_id),
                    id: None,
                },
            );
        }
        for (k, principal) in &m.tokens {
            let secret = self.secrets.get(principal).cloned().ok_or_else(|| {
                perr(
                    format!("use principal {principal} for token {k}"),
                    "its secret was not read",
                )
            })?;
            p.tokens.insert(
                k.clone(),
                MadeToken {
                    jwt: secret,
                    id: None,
                },
            );
        }
        Ok(())
    }

    async fn cleanup(&self, _target: &Target, _p: &mut Provisioned) -> Vec<String> {
        // Nothing was created.
        Vec::new()
    }
}

/// The declared world as a scenario would write it: each declared upstream with its items, each
/// declared server fronting all of its upstream's items (keys as declared, so the planner maps
/// the set onto itself).
fn declared_fixtures(world: &StaticWorld) -> Fixtures {
    let mut f = Fixtures::default();
    for (k, u) in &world.upstreams {
        f.upstreams
            .insert(k.clone(), crate::manifest::world::fixture_of(&u.value));
    }
    for (k, s) in &world.servers {
        let up = &s.value.upstream.value;
        let served = f
            .upstreams
            .get(up)
            .map(UpstreamFixture::served)
            .unwrap_or_default();
        let items = |v: Vec<(String, String)>| -> Vec<String> {
            v.into_iter().map(|(n, _)| format!("{up}.{n}")).collect()
        };
        f.servers.insert(
            k.clone(),
            ServerFixture {
                tools: items(served.tools),
                resources: items(served.resources),
                prompts: items(served.prompts),
                enabled: true,
                ..Default::default()
            },
        );
    }
    f
}

/// A credential of the same form as `real` that the gateway never issued: same length and
/// prefix, its second half replaced by letters derived from the run id.
fn forge(real: &str, run_id: &str) -> String {
    let keep = real.chars().count() / 2;
    let mut out: String = real.chars().take(keep).collect();
    let filler: Vec<char> = format!("forged{run_id}").chars().collect();
    for i in 0..real.chars().count() - keep {
        out.push(filler[i % filler.len()]);
    }
    if out == real {
        out.push('x');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::forge;

    #[test]
    fn a_forgery_keeps_the_form_and_differs() {
        let real = "sk-1234567890abcdef";
        let f = forge(real, "abc123");
        assert_ne!(f, real);
        assert_eq!(f.len(), real.len());
        assert!(f.starts_with("sk-1234"));
        assert_ne!(forge("ab", "x"), "ab");
    }
}
