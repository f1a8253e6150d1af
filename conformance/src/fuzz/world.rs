//! The fuzzer's fixture set ("the world") and what a campaign may say about it.
//!
//! A target that makes fixtures on demand (an admin API) gets the default world: three virtual
//! servers, each with a tool on an MCP upstream the harness runs, provisioned once with the
//! same code scenarios use and rebuilt only when a generated request may have changed it;
//! server C shares upstream `ua`'s tool with A, so "another server's tool" is decided by
//! membership, not by upstream; server B also offers all of the fidelity fixture, whose
//! answers a gateway must relay unchanged. A gateway configured from a file is fuzzed on the world its
//! manifest declares ([`Provisioner::declared_fixtures`]). Either way the campaign sees the
//! same [`WorldView`], and the generator the same [`Vocabulary`]: server keys, tools, endpoint
//! templates and the callers the target can be sent as. Tokens are made on first use and kept
//! per caller.
//!
//! [`Provisioner::declared_fixtures`]: crate::provision::Provisioner::declared_fixtures

use std::collections::{BTreeMap, BTreeSet};

use crate::provision::{self, ProvisionError, Provisioned};
use crate::scenario::{
    Capability, Fixtures, MemoryOp, OauthFixture, ServerFixture, TokenFixture, UpstreamFixture,
    UpstreamTool, UserFixture,
};
use crate::target::Target;

use super::case::{Caller, Callers, OTHER_USER, Vocabulary};
use super::sessions::{self, SessionPlan};

/// Upstream key and the tool it serves in the default world (one tool per upstream, so an
/// upstream that receives a `tools/call` names the tool that ran). `ud`'s tool has the name of
/// `ua`'s: two servers' tools of one name stay two tools, each run on its own upstream.
pub const UPSTREAMS: [(&str, &str); 4] = [
    ("ua", "alpha"),
    ("ub", "beta"),
    ("uc", "gamma"),
    ("ud", "alpha"),
];

/// Server key and its tools (`<upstream>.<tool>` keys) in the default world.
pub const SERVERS: [(&str, &[&str]); 3] = [
    ("A", &["ua.alpha"]),
    ("B", &["ub.beta", "ud.alpha"]),
    ("C", &["uc.gamma", "ua.alpha"]),
];

/// The fidelity fixture's upstream in the default world, and the server that offers its tools:
/// its answers (every content type, structured content, a JSON-RPC error, `_meta` echoed, an
/// upstream that dies mid-call) are what a gateway must relay unchanged, and they follow from
/// the call alone, so the campaign can tell an altered answer.
pub const FIDELITY_UPSTREAM: (&str, &str) = ("uf", "B");

/// The fidelity fixture's tools the generator never names: a megabyte answer (`fid-large`)
/// would make a campaign a throughput test, and notifications (`fid-progress`) are judged by
/// `fidelity`, not by an invariant on one answer.
const UNNAMED_FIDELITY_TOOLS: [&str; 2] = ["fid-large", "fid-progress"];

/// The server whose RFC 9728 document exists (when the target has OAuth).
const OAUTH_SERVER: &str = "A";

/// The default world's fixtures, as a scenario would declare them; with `other_user`, a second
/// platform administrator ([`OTHER_USER`]) to send sessions it did not open.
pub fn default_fixtures(target_has_oauth: bool, other_user: bool) -> Fixtures {
    let mut f = Fixtures::default();
    if other_user {
        f.users
            .insert(OTHER_USER.to_owned(), UserFixture { admin: true });
    }
    for (up, tool) in UPSTREAMS {
        f.upstreams.insert(
            up.to_owned(),
            UpstreamFixture {
                tools: vec![UpstreamTool {
                    name: tool.to_owned(),
                    description: Some(format!("fuzz fixture tool {tool}")),
                    input_schema: None,
                    result: None,
                    memory: None,
                }],
                ..Default::default()
            },
        );
    }
    let (fid_up, fid_server) = FIDELITY_UPSTREAM;
    let fidelity = UpstreamFixture {
        fidelity: true,
        ..Default::default()
    };
    // All it serves is the server's: its tool results link to its resources.
    let served = fidelity.served();
    let refs = |items: Vec<(String, String)>| -> Vec<String> {
        items
            .into_iter()
            .map(|(name, _)| format!("{fid_up}.{name}"))
            .collect()
    };
    let (fid_tools, fid_resources, fid_prompts) = (
        refs(served.tools),
        refs(served.resources),
        refs(served.prompts),
    );
    f.upstreams.insert(fid_up.to_owned(), fidelity);
    for (key, tools) in SERVERS {
        let oauth = (target_has_oauth && key == OAUTH_SERVER).then(|| OauthFixture {
            authorization_servers: vec!["https://auth.example.com".to_owned()],
            scopes_supported: Vec::new(),
        });
        let (fid_tools, resources, prompts) = if key == fid_server {
            (
                fid_tools.clone(),
                fid_resources.clone(),
                fid_prompts.clone(),
            )
        } else {
            Default::default()
        };
        f.servers.insert(
            key.to_owned(),
            ServerFixture {
                tools: tools
                    .iter()
                    .map(|t| (*t).to_owned())
                    .chain(fid_tools)
                    .collect(),
                resources,
                prompts,
                oauth,
                // `ServerFixture::default()` is disabled (serde's default is enabled).
                enabled: true,
                ..Default::default()
            },
        );
    }
    f
}

/// The fixtures a campaign on `target` works on: the world it declares, else the default one
/// (with a second user where sessions are kept: only then is there an owner to cross).
pub fn fixtures_for(target: &Target) -> Fixtures {
    target.provisioner.declared_fixtures().unwrap_or_else(|| {
        default_fixtures(
            target.has(Capability::Oauth),
            target.has(Capability::Stateful),
        )
    })
}

/// The memory upstream a sequence campaign adds to the default world, and the server it is on:
/// it keeps what `remember` is given per upstream session and `recall` answers it, so a gateway
/// that shares one upstream session between users hands one user's secret to another.
pub const MEMORY_UPSTREAM: (&str, &str) = ("um", "A");

/// The fixtures of a sequence campaign on `target`: [`fixtures_for`], and on the default world
/// the [`MEMORY_UPSTREAM`] in place of the [`FIDELITY_UPSTREAM`] (a declared world is fuzzed as
/// it is). A sequence judges what crosses between sessions and users, which needs one user's
/// `remember` and another's `recall`; the fidelity fixture's many tools would crowd them out,
/// and what one answer's relay alters the single-request campaign judges.
pub fn sequence_fixtures(target: &Target) -> Fixtures {
    let mut f = fixtures_for(target);
    if target.provisioner.declared_fixtures().is_some() {
        return f;
    }
    let (fid_up, fid_server) = FIDELITY_UPSTREAM;
    f.upstreams.remove(fid_up);
    if let Some(s) = f.servers.get_mut(fid_server) {
        let theirs = |r: &String| r.starts_with(&format!("{fid_up}."));
        s.tools.retain(|r| !theirs(r));
        s.resources.retain(|r| !theirs(r));
        s.prompts.retain(|r| !theirs(r));
    }
    let (up, server) = MEMORY_UPSTREAM;
    let tool = |name: &str, op| UpstreamTool {
        name: name.to_owned(),
        description: Some(format!("fuzz fixture memory tool {name}")),
        input_schema: None,
        result: None,
        memory: Some(op),
    };
    f.upstreams.insert(
        up.to_owned(),
        UpstreamFixture {
            tools: vec![
                tool("remember", MemoryOp::Remember),
                tool("recall", MemoryOp::Recall),
            ],
            ..Default::default()
        },
    );
    if let Some(s) = f.servers.get_mut(server) {
        s.tools
            .extend([format!("{up}.remember"), format!("{up}.recall")]);
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
#[derive(Debug, Clone, Default)]
pub struct WorldView {
    pub servers: Vec<ServerView>,
    pub tools: Vec<ToolView>,
    /// Whether `/servers/{name}/mcp` resolves names (D4).
    pub name_resolution: bool,
    /// The server endpoint template (`/servers/{id}/mcp`, `/mcp/{name}`), if the target has one.
    pub server_mcp: Option<String>,
    /// The MCP endpoint that serves every server (`/mcp`), if the target has one.
    pub global_mcp: Option<String>,
    /// Whether a request without a valid credential reaches every server (a gateway without
    /// authentication, or with it switched off); otherwise it reaches none.
    pub anonymous_reaches_all: bool,
    /// The reference's decisions (D1-D12) apply: the target speaks ContextForge's API shapes,
    /// so its refusals, routes and scoping 403 are judged as the reference's.
    pub strict: bool,
    /// Sessions opened before the campaign.
    pub sessions: Vec<SessionView>,
    /// The JSON-RPC endpoint (`/rpc`), if the target has one.
    pub rpc: Option<String>,
    /// Server keys with OAuth (an RFC 9728 document and a challenge that names it).
    pub oauth_servers: Vec<String>,
    /// The target trusts the harness's forwarding headers (`trusted-proxy`).
    pub trusted_proxy: bool,
}

/// A session the campaign opened.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The key its id is saved under (`${saved.KEY}` in a template).
    pub key: String,
    /// Its `mcp-session-id`.
    pub id: String,
    /// The server key whose endpoint opened it (`None`: the endpoint of every server).
    pub server: Option<String>,
    /// Ended (before the campaign started, or by an earlier step of a sequence).
    pub ended: bool,
    /// The user who opened it ([`user_of`]).
    pub owner: &'static str,
}

/// The user of the platform administrator and of every token made for it (scoped or not).
pub const ADMIN_USER: &str = "admin";

/// The user a caller acts as, where it is one (`None`: no valid credential, so no user). Every
/// token of the default world but [`Caller::OtherUser`]'s is the administrator's, whatever its
/// scopes; a configured world's principals are taken for one user too, because its manifest
/// does not say whose they are.
pub fn user_of(caller: &Caller) -> Option<&'static str> {
    match caller {
        Caller::Admin
        | Caller::Scoped { .. }
        | Caller::EmptyServerScope { .. }
        | Caller::IpRestricted
        | Caller::Revoked => Some(ADMIN_USER),
        Caller::OtherUser => Some(OTHER_USER),
        Caller::Anonymous
        | Caller::Forged
        | Caller::EmptyBearer
        | Caller::BadClaims(_)
        | Caller::QueryToken => None,
    }
}

impl WorldView {
    /// Whether `body` names the tool `original` of `upstream`, by the gateway's name or id of it:
    /// a call of that tool is then one the request asked for (a campaign sends cases side by
    /// side, and another case's call may land meanwhile).
    pub fn names_tool(&self, body: &str, upstream: &str, original: &str) -> bool {
        let names = |s: &str| !s.is_empty() && body.contains(s);
        self.tools
            .iter()
            .filter(|t| t.upstream == upstream && t.original == original)
            .any(|t| names(&t.name) || names(&t.id))
    }

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

    /// The server whose MCP endpoint a decoded path is, exactly as the endpoint template spells
    /// it (one trailing slash allowed): no normalisation, so a path with dot segments or
    /// encoded separators names no server here.
    pub fn server_endpoint_of(&self, decoded: &str) -> Option<&ServerView> {
        let (field, segment) = crate::reach::server_segment(self.server_mcp.as_deref()?, decoded)?;
        self.servers.iter().find(|s| match field {
            "{id}" => s.id == segment || (self.name_resolution && s.name == segment),
            _ => s.name == segment,
        })
    }

    /// Whether a decoded path is an MCP endpoint (global or a server's) as its template spells
    /// it, one trailing slash allowed.
    pub fn is_mcp_endpoint(&self, decoded: &str) -> bool {
        let path = decoded.split_once('?').map_or(decoded, |(p, _)| p);
        let global = self
            .global_mcp
            .as_deref()
            .is_some_and(|g| path == g || path.strip_suffix('/') == Some(g));
        global || self.server_endpoint_of(decoded).is_some()
    }

    /// The servers `caller` may reach; `None`: every server.
    pub fn reach(&self, caller: &Caller) -> Option<Vec<&ServerView>> {
        match caller {
            Caller::Admin | Caller::EmptyServerScope { .. } => None,
            Caller::Scoped { server: None, .. } => None,
            Caller::Scoped {
                server: Some(key), ..
            } => Some(self.server(key).into_iter().collect()),
            Caller::Anonymous
            | Caller::Forged
            | Caller::Revoked
            | Caller::EmptyBearer
            | Caller::QueryToken
            | Caller::BadClaims(_) => (!self.anonymous_reaches_all).then(Vec::new),
            // From the harness's address it reaches nothing, unless the target believes the
            // harness's forwarding headers (then it may be anywhere).
            Caller::IpRestricted => (!self.trusted_proxy).then(Vec::new),
            Caller::OtherUser => None,
        }
    }
}

/// The provisioned world and the tokens made so far.
pub struct World {
    pub provisioned: Provisioned,
    pub view: WorldView,
    /// The fixtures it was made from (what a regression scenario declares).
    pub fixtures: Fixtures,
    /// The sessions opened on it (a stateful target), their ids in `provisioned.saved`.
    pub sessions: Vec<SessionPlan>,
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
    /// Provision the world on `target`, its sessions opened on worker `session_worker`. On
    /// error, whatever was made is deleted again.
    pub async fn build(target: &Target, session_worker: usize) -> Result<World, ProvisionError> {
        let mut world = World::build_from(target, fixtures_for(target)).await?;
        if target.has(Capability::Stateful) {
            world.open_sessions(target, session_worker).await;
        }
        Ok(world)
    }

    /// Provision `fixtures` on `target`, opening no session. On error, whatever was made is
    /// deleted again.
    pub async fn build_from(target: &Target, fixtures: Fixtures) -> Result<World, ProvisionError> {
        let mut p = Provisioned::new(
            provision::new_run_id(),
            &target.bases[0],
            target.manifest.endpoints.clone(),
        );
        if let Err(e) = target
            .provisioner
            .provision(target, &fixtures, &mut p)
            .await
        {
            target.provisioner.cleanup(target, &mut p).await;
            return Err(e);
        }
        let view = view_of(&p, &fixtures, target);
        Ok(World {
            provisioned: p,
            view,
            fixtures,
            sessions: Vec::new(),
            tokens: BTreeMap::new(),
        })
    }

    /// Open the campaign's sessions ([`sessions::plan`]) on worker `via` as the caller that
    /// reaches every server, where there is one (again, after a case ended one of them).
    pub(super) async fn open_sessions(&mut self, target: &Target, via: usize) {
        let Ok(Some(token)) = self.token_for(target, &Caller::Admin).await else {
            return;
        };
        let keys: Vec<String> = self.view.servers.iter().map(|s| s.key.clone()).collect();
        let plans = sessions::plan(&keys, via);
        let timeout = std::time::Duration::from_secs(15);
        self.sessions = sessions::open(target, self, &plans, &token, timeout).await;
        self.view.sessions = self
            .sessions
            .iter()
            .filter_map(|plan| {
                let id = self.provisioned.saved.get(&plan.key)?;
                Some(SessionView {
                    key: plan.key.clone(),
                    id: id.clone(),
                    server: Some(plan.server.clone()),
                    ended: plan.ended,
                    owner: ADMIN_USER,
                })
            })
            .collect();
    }

    /// Delete everything; returns what could not be deleted.
    pub async fn tear_down(mut self, target: &Target) -> Vec<String> {
        target
            .provisioner
            .cleanup(target, &mut self.provisioned)
            .await
    }

    /// What the generator may use on `target`.
    pub fn vocabulary(&self, target: &Target) -> Vocabulary {
        let endpoints = &target.manifest.endpoints;
        let general = ["mcp", "rpc"]
            .iter()
            .filter_map(|e| endpoints.template(e))
            .filter(|t| !t.contains('{'))
            .map(str::to_owned)
            .collect();
        let with_token = |token: TokenFixture| {
            let mut f = self.fixtures.clone();
            f.tokens.insert("t".to_owned(), token);
            target.provisioner.unmet_need(&f).is_none()
        };
        let first = self.view.servers.first().map(|s| s.key.clone());
        let minted = Caller::Scoped {
            server: first.clone(),
            permissions: vec!["tools.read".to_owned()],
        };
        let callers = if minted.token_fixture().is_some_and(with_token) {
            Callers::Minted
        } else {
            let mut fixed = vec![Caller::Admin];
            fixed.extend(self.view.servers.iter().map(|s| Caller::Scoped {
                server: Some(s.key.clone()),
                permissions: Vec::new(),
            }));
            fixed.push(Caller::Forged);
            fixed.push(Caller::Revoked);
            fixed.retain(|c| c.token_fixture().is_some_and(with_token));
            fixed.push(Caller::Anonymous);
            Callers::Fixed(fixed)
        };
        let callers_minted = matches!(callers, Callers::Minted);
        Vocabulary {
            servers: self.view.servers.iter().map(|s| s.key.clone()).collect(),
            tools: self
                .view
                .tools
                .iter()
                // A tool the gateway does not offer has no name to call it by.
                .filter(|t| !t.name.is_empty())
                .filter(|t| {
                    !(UNNAMED_FIDELITY_TOOLS.contains(&t.original.as_str())
                        && self
                            .fixtures
                            .upstreams
                            .get(&t.upstream)
                            .is_some_and(|u| u.fidelity))
                })
                .map(|t| (t.key.clone(), t.original.clone()))
                .collect(),
            server_mcp: endpoints.template("server_mcp").map(str::to_owned),
            server_metadata: endpoints.template("server_metadata").map(str::to_owned),
            general,
            contextforge_api: self.view.strict,
            callers,
            rebuildable: target.provisioner.declared_fixtures().is_none(),
            sessions: self
                .sessions
                .iter()
                .map(|p| (p.key.clone(), p.server.clone()))
                .collect(),
            other_user: callers_minted
                && self.fixtures.users.contains_key(OTHER_USER)
                && !self.sessions.is_empty(),
            workers: target.bases.len(),
            signs_tokens: callers_minted && target.jwt.is_some(),
            routes: paths(&target.manifest.routes.served),
            near_misses: paths(&target.manifest.routes.near_misses),
            hop_headers: target
                .manifest
                .hop_headers
                .iter()
                .map(|(n, v)| (n.clone(), v.value.clone()))
                .collect(),
        }
    }

    /// The world's tools (`<upstream>.<tool>`) the gateway does not offer, which a campaign
    /// therefore never names (a gateway that loses tools it was given is `run`'s and
    /// `fidelity`'s to judge; a campaign goes on without them).
    pub fn unoffered_tools(&self) -> Vec<String> {
        self.view
            .tools
            .iter()
            .filter(|t| t.name.is_empty())
            .map(|t| t.key.clone())
            .collect()
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
            // A configured world maps a token by the servers it reaches: it needs them named.
            servers: self.fixtures.servers.clone(),
            upstreams: self.fixtures.upstreams.clone(),
            ..Default::default()
        };
        let made = if target.provisioner.shared_world() {
            target
                .provisioner
                .provision(target, &only_token, &mut self.provisioned)
                .await
        } else {
            let tokens_only = Fixtures {
                tokens: only_token.tokens,
                ..Default::default()
            };
            target
                .provisioner
                .provision(target, &tokens_only, &mut self.provisioned)
                .await
        }
        .map(|()| key)
        .map_err(|e| e.to_string());
        self.tokens.insert(spec, made.clone());
        made.map(Some)
    }
}

fn paths(list: &[serde_saphyr::Spanned<String>]) -> Vec<String> {
    list.iter().map(|p| p.value.clone()).collect()
}

fn view_of(p: &Provisioned, fixtures: &Fixtures, target: &Target) -> WorldView {
    let mut tools = Vec::new();
    for (up, u) in &fixtures.upstreams {
        // What it serves, not only what it declares: the fidelity fixture declares no tools.
        for (name, _) in u.served().tools {
            let key = format!("{up}.{name}");
            let made = p.tools.get(&key).cloned().unwrap_or_default();
            tools.push(ToolView {
                key,
                upstream: up.clone(),
                original: name,
                name: made.name,
                id: made.id,
            });
        }
    }
    let servers = fixtures
        .servers
        .iter()
        .map(|(key, s)| {
            let made = p.servers.get(key).cloned().unwrap_or_default();
            ServerView {
                key: key.clone(),
                id: made.id,
                name: made.name,
                tools: s.tools.iter().cloned().collect(),
            }
        })
        .collect();
    WorldView {
        servers,
        tools,
        name_resolution: target.has(Capability::NameResolution),
        server_mcp: target
            .manifest
            .endpoints
            .template("server_mcp")
            .map(str::to_owned),
        global_mcp: target.manifest.endpoints.template("mcp").map(str::to_owned),
        anonymous_reaches_all: crate::reach::anonymous_reaches_all(target),
        strict: target.has(Capability::ContextforgeApi),
        sessions: Vec::new(),
        rpc: target.manifest.endpoints.template("rpc").map(str::to_owned),
        oauth_servers: fixtures
            .servers
            .iter()
            .filter(|(_, s)| s.oauth.is_some())
            .map(|(k, _)| k.clone())
            .collect(),
        trusted_proxy: target.has(Capability::TrustedProxy),
    }
}

impl Caller {
    /// The token fixture this caller presents, or `None` for no token.
    pub fn token_fixture(&self) -> Option<TokenFixture> {
        match self {
            Caller::Anonymous => None,
            Caller::Admin | Caller::QueryToken => Some(TokenFixture::default()),
            Caller::Forged => Some(TokenFixture {
                forged: true,
                ..Default::default()
            }),
            Caller::Revoked => Some(TokenFixture {
                revoked: true,
                ..Default::default()
            }),
            // Its header is the case's own.
            Caller::EmptyBearer => None,
            Caller::IpRestricted => Some(TokenFixture {
                ip_restrictions: vec![format!("{}/32", super::case::RESTRICTED_TO)],
                ..Default::default()
            }),
            Caller::Scoped {
                server,
                permissions,
            } => Some(TokenFixture {
                server: server.clone(),
                permissions: permissions.clone(),
                ..Default::default()
            }),
            Caller::EmptyServerScope { permissions } => Some(TokenFixture {
                server_id: Some(String::new()),
                permissions: permissions.clone(),
                ..Default::default()
            }),
            Caller::BadClaims(name) => {
                let claims = super::case::BAD_CLAIMS
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, c)| serde_json::from_str(c).ok());
                Some(TokenFixture {
                    claims,
                    ..Default::default()
                })
            }
            Caller::OtherUser => Some(TokenFixture {
                user: Some(OTHER_USER.to_owned()),
                admin: Some(true),
                ..Default::default()
            }),
        }
    }
}
