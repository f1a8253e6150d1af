//! The fuzzer's fixture set ("the world"): three virtual servers, each with a tool on an MCP
//! upstream the harness runs, provisioned once through the target's admin API with the same
//! code scenarios use, and rebuilt only when a generated request may have changed it.
//!
//! Server C shares upstream `ua`'s tool with A, so "another server's tool" is decided by
//! membership, not by upstream. Tokens are made on first use and kept per caller.

use std::collections::{BTreeMap, BTreeSet};

use crate::provision::{self, ProvisionError, Provisioned};
use crate::scenario::{
    Capability, Fixtures, OauthFixture, ServerFixture, TokenFixture, UpstreamFixture, UpstreamTool,
};
use crate::target::Target;

use super::case::Caller;

/// Upstream key and the tool it serves (one tool per upstream, so an upstream that receives a
/// `tools/call` names the tool that ran).
pub const UPSTREAMS: [(&str, &str); 3] = [("ua", "alpha"), ("ub", "beta"), ("uc", "gamma")];

/// Server key and its tools (`<upstream>.<tool>` keys).
pub const SERVERS: [(&str, &[&str]); 3] = [
    ("A", &["ua.alpha"]),
    ("B", &["ub.beta"]),
    ("C", &["uc.gamma", "ua.alpha"]),
];

/// The server whose RFC 9728 document exists (when the target has OAuth).
const OAUTH_SERVER: &str = "A";

/// The fixtures of the world, as a scenario would declare them.
pub fn fixtures(target_has_oauth: bool) -> Fixtures {
    let mut f = Fixtures::default();
    for (up, tool) in UPSTREAMS {
        f.upstreams.insert(
            up.to_owned(),
            UpstreamFixture {
                tools: vec![UpstreamTool {
                    name: tool.to_owned(),
                    description: Some(format!("fuzz fixture tool {tool}")),
                    input_schema: None,
                    result: None,
                }],
                ..Default::default()
            },
        );
    }
    for (key, tools) in SERVERS {
        let oauth = (target_has_oauth && key == OAUTH_SERVER).then(|| OauthFixture {
            authorization_servers: vec!["https://auth.example.com".to_owned()],
            scopes_supported: Vec::new(),
        });
        f.servers.insert(
            key.to_owned(),
            ServerFixture {
                tools: tools.iter().map(|t| (*t).to_owned()).collect(),
                oauth,
                // `ServerFixture::default()` is disabled (serde's default is enabled).
                enabled: true,
                ..Default::default()
            },
        );
    }
    f
}

/// A tool as the target named it.
#[derive(Debug, Clone)]
pub struct ToolView {
    /// `ua.alpha`
    pub key: String,
    pub upstream: String,
    /// The upstream's own name (what the upstream receives in `tools/call`).
    pub original: String,
    /// The gateway's name for it.
    pub name: String,
    pub id: String,
}

/// A server as the target knows it.
#[derive(Debug, Clone)]
pub struct ServerView {
    pub key: String,
    pub id: String,
    pub name: String,
    /// Tool keys.
    pub tools: BTreeSet<String>,
}

/// What the invariants need to know about the world: a pure snapshot.
#[derive(Debug, Clone)]
pub struct WorldView {
    pub servers: Vec<ServerView>,
    pub tools: Vec<ToolView>,
    /// Whether `/servers/{name}/mcp` resolves names (D4).
    pub name_resolution: bool,
}

impl WorldView {
    /// The server a decoded path segment names: by id, or by name where names resolve.
    pub fn resolve(&self, segment: &str) -> Option<&ServerView> {
        self.servers
            .iter()
            .find(|s| s.id == segment || (self.name_resolution && s.name == segment))
    }

    pub fn server(&self, key: &str) -> Option<&ServerView> {
        self.servers.iter().find(|s| s.key == key)
    }

    /// Tools not on `server`.
    pub fn tools_outside(&self, server: &ServerView) -> Vec<&ToolView> {
        self.tools
            .iter()
            .filter(|t| !server.tools.contains(&t.key))
            .collect()
    }
}

/// The provisioned world and the tokens made so far.
pub struct World {
    pub provisioned: Provisioned,
    pub view: WorldView,
    /// Caller -> token fixture key in `provisioned.tokens`, or why the target would not make
    /// it (asked once: the admin API refuses some scopes, e.g. `tools.*`, C-AUTH-11).
    tokens: BTreeMap<String, Result<String, String>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("view", &self.view).finish()
    }
}

impl World {
    /// Provision the world on `target`. On error, whatever was made is deleted again.
    pub async fn build(target: &Target) -> Result<World, ProvisionError> {
        let mut p = Provisioned::new(
            provision::new_run_id(),
            &target.bases[0],
            target.manifest.endpoints.clone(),
        );
        let fixtures = fixtures(target.has(Capability::Oauth));
        if let Err(e) = target
            .provisioner
            .provision(target, &fixtures, &mut p)
            .await
        {
            target.provisioner.cleanup(target, &mut p).await;
            return Err(e);
        }
        let view = view_of(&p, target.has(Capability::NameResolution));
        Ok(World {
            provisioned: p,
            view,
            tokens: BTreeMap::new(),
        })
    }

    /// Delete everything; returns what could not be deleted.
    pub async fn tear_down(mut self, target: &Target) -> Vec<String> {
        target
            .provisioner
            .cleanup(target, &mut self.provisioned)
            .await
    }

    /// The token fixture key for `caller`, making the token on first use (`None`: no token);
    /// `Err` says why the target would not make it.
    pub async fn token_for(
        &mut self,
        target: &Target,
        caller: &Caller,
    ) -> Result<Option<String>, String> {
        let Some(fixture) = caller.token_fixture() else {
            return Ok(None);
        };
        let spec = format!("{caller:?}");
        if let Some(made) = self.tokens.get(&spec) {
            return made.clone().map(Some);
        }
        let key = format!("t{}", self.tokens.len());
        let only_token = Fixtures {
            tokens: BTreeMap::from([(key.clone(), fixture)]),
            ..Default::default()
        };
        let made = target
            .provisioner
            .provision(target, &only_token, &mut self.provisioned)
            .await
            .map(|()| key)
            .map_err(|e| e.to_string());
        self.tokens.insert(spec, made.clone());
        made.map(Some)
    }
}

fn view_of(p: &Provisioned, name_resolution: bool) -> WorldView {
    let tools = UPSTREAMS
        .iter()
        .map(|(up, tool)| {
            let key = format!("{up}.{tool}");
            let made = p.tools.get(&key).cloned().unwrap_or_default();
            ToolView {
                key,
                upstream: (*up).to_owned(),
                original: (*tool).to_owned(),
                name: made.name,
                id: made.id,
            }
        })
        .collect();
    let servers = SERVERS
        .iter()
        .map(|(key, tools)| {
            let made = p.servers.get(*key).cloned().unwrap_or_default();
            ServerView {
                key: (*key).to_owned(),
                id: made.id,
                name: made.name,
                tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            }
        })
        .collect();
    WorldView {
        servers,
        tools,
        name_resolution,
    }
}

impl Caller {
    /// The token fixture this caller presents, or `None` for no token.
    pub fn token_fixture(&self) -> Option<TokenFixture> {
        match self {
            Caller::Anonymous => None,
            Caller::Admin => Some(TokenFixture::default()),
            Caller::Scoped {
                server,
                permissions,
            } => Some(TokenFixture {
                server: server.map(str::to_owned),
                permissions: permissions.clone(),
                ..Default::default()
            }),
            Caller::EmptyServerScope { permissions } => Some(TokenFixture {
                server_id: Some(String::new()),
                permissions: permissions.clone(),
                ..Default::default()
            }),
        }
    }
}
