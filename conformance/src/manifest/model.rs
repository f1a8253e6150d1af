//! The target manifest format: one YAML file says what a gateway is, so that a new gateway needs
//! a manifest, a peer script and a baseline, never Rust code.
//!
//! Every struct refuses unknown fields (a typo is an error with its line). The doc comments are
//! the field descriptions of the generated JSON Schema (`gateways/schema.json`).

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use crate::scenario::{Capability, UpstreamPrompt, UpstreamResource, UpstreamTool};

/// What a gateway is: where it listens, how credentials travel, who the suite may act as, its
/// URL templates, what it can do and how fixtures come to exist on it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The target's name (`[a-z0-9][a-z0-9-]*`): snapshots live in `snapshots/<name>/`, reports
    /// and replay commands name it.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What the gateway is, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Base URLs (`http://host:port[/root]`), one per worker. `--target` on the command line
    /// replaces them; `${env:VAR}` reads an environment variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub urls: Vec<Spanned<String>>,
    /// How a credential travels in a request.
    #[serde(default)]
    pub credentials: Credentials,
    /// The principals the suite may act as, by name. With `provisioning: static` these are all
    /// the suite has: a scenario token maps onto a principal with the same reach.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, Principal>")]
    pub principals: BTreeMap<String, Spanned<Principal>>,
    /// URL templates of the gateway's endpoints.
    #[serde(default)]
    pub endpoints: Endpoints,
    /// What every gateway described by this manifest can do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// Capabilities that depend on how the gateway was started, found out by probing it
    /// (`stateful`: `initialize` answers an `mcp-session-id`; `sse-response`: it answers SSE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<Capability>")]
    pub detect: Vec<Spanned<Capability>>,
    /// How fixtures come to exist.
    pub provisioning: Provisioning,
    /// Headers the gateway's own workers put on a request one forwards to another (a cluster's
    /// internal hop), by name; in a value, `{client}` stands for the client address the hop
    /// claims. A client that sends them must change nothing: `fuzz` sends them forged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub hop_headers: BTreeMap<String, Spanned<String>>,
    /// Bounds on what the suite waits for and reads from this gateway, each replacing its
    /// built-in default (a command-line flag replaces it in turn).
    #[serde(default, skip_serializing_if = "Limits::is_unset")]
    pub limits: Limits,
    /// Routes beside the MCP endpoints that `fuzz` sends requests to, as they are and mutated.
    #[serde(default, skip_serializing_if = "Routes::is_unset")]
    pub routes: Routes,
    /// A deployment of several workers: how the suite sees a request forwarded between them and
    /// how it causes faults on them.
    #[serde(default, skip_serializing_if = "ClusterSpec::is_unset")]
    pub cluster: ClusterSpec,
    /// What `fidelity` lets this gateway change in what it passes through, beyond the names it
    /// gives an upstream's items (which the provisioning knows) and pagination (its own
    /// business: pages are joined before comparing).
    #[serde(default, skip_serializing_if = "Fidelity::is_unset")]
    pub fidelity: Fidelity,
}

/// What the suite needs to judge a cluster it did not start. A cluster is several `urls`, one
/// per worker; these say how its behaviour between workers can be seen and disturbed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// How a forwarded request shows: a step that expects its request to be forwarded (it
    /// reaches a worker that does not own its session) tests something only if it was. Without
    /// this, such a step is UNTESTABLE on a cluster the suite did not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwards: Option<ForwardEvidence>,
    /// Shell commands (`sh -c`) that cause the faults of `fault` steps. `{worker}` in a
    /// command, and `MCPGW_WORKER` in its environment, is the worker's index in `urls`. Each
    /// must finish within 120 s and exit 0 once the fault holds (a restarted worker answers
    /// again). Declaring any of them gives the target the `cluster-faults` capability; a fault
    /// whose command is not declared is UNTESTABLE.
    #[serde(default, skip_serializing_if = "FaultCommands::is_unset")]
    pub faults: FaultCommands,
    /// Workers behind each URL, where the suite cannot choose among them (a load balancer, or
    /// one server of several processes on one port; default 1). Above 1 the target is a
    /// cluster even with one URL: a step's `via` only picks a URL, and a step that expects a
    /// forward is sent again, up to `repeat` times, until a forward shows. Every answer must
    /// hold the step's expectations. A `DELETE` is sent once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers_per_url: Option<NonZeroU64>,
    /// With `workers_per_url`: how many times at most a step that expects a forward is sent
    /// (default 24: with two workers that each take half of the connections, all 24 reach the
    /// owner about once in 16 million runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<NonZeroU64>,
}

impl ClusterSpec {
    pub fn is_unset(&self) -> bool {
        self.forwards.is_none()
            && self.faults.is_unset()
            && self.workers_per_url.is_none()
            && self.repeat.is_none()
    }

    /// Whether several workers share each URL.
    pub fn behind_one_url(&self) -> bool {
        self.workers_per_url.is_some_and(|n| n.get() > 1)
    }

    /// How many times a step that expects a forward is sent at most.
    pub fn sends_per_forwarded_step(&self) -> u32 {
        if !self.behind_one_url() {
            return 1;
        }
        self.repeat
            .map_or(24, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    }
}

/// Forwarded requests, as the workers' logs record them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardEvidence {
    /// Files the workers append their log to (`${env:VAR}` reads an environment variable).
    /// Only what is appended while a scenario runs is read. Absent on a cluster the suite
    /// starts itself: it keeps its workers' logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub logs: Vec<Spanned<String>>,
    /// A regular expression matching the one line a worker logs for each request it forwards
    /// to another.
    #[schemars(with = "String")]
    pub pattern: Spanned<String>,
}

/// The commands of [`ClusterSpec::faults`], one per kind of `fault` step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultCommands {
    /// Kill worker `{worker}` at once (SIGKILL: no goodbye).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub kill_worker: Option<Spanned<String>>,
    /// Start worker `{worker}` again on its URL with its state; exit once it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub restart_worker: Option<Spanned<String>>,
    /// Make the shared Redis stop answering while keeping its connections open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub pause_redis: Option<Spanned<String>>,
    /// Undo `pause_redis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub unpause_redis: Option<Spanned<String>>,
}

impl FaultCommands {
    pub fn is_unset(&self) -> bool {
        self.all().iter().all(|(_, c)| c.is_none())
    }

    /// Each command by its field name.
    pub fn all(&self) -> [(&'static str, Option<&Spanned<String>>); 4] {
        [
            ("kill_worker", self.kill_worker.as_ref()),
            ("restart_worker", self.restart_worker.as_ref()),
            ("pause_redis", self.pause_redis.as_ref()),
            ("unpause_redis", self.unpause_redis.as_ref()),
        ]
    }
}

/// What a gateway may legitimately change in a conversation it passes through, so that
/// `mcpgw-conformance fidelity` does not count it as a difference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fidelity {
    /// `_meta` keys the gateway may add, to requests it forwards and results it returns
    /// (`io.example/trace-id`; a trailing `*` matches any rest: `io.example/*`). Any other
    /// added key is a WARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_meta: Vec<String>,
    /// The gateway may put the session id it issued to the client into the messages it passes
    /// on: a string equal to it is compared as a placeholder. (Session ids in headers are
    /// never compared: each side of a gateway has its own.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_session_ids: bool,
    /// Features the gateway does not offer, by id (`progress-notifications`; the ids are in
    /// `mcpgw-conformance fidelity --list`): NOT-APPLICABLE, shown as "not supported", instead
    /// of a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

impl Fidelity {
    pub fn is_unset(&self) -> bool {
        *self == Fidelity::default()
    }
}

/// The gateway's other routes (REST, health, documentation) and near misses of its routes:
/// where a scoped token, a path trick or a forged credential may reach what it should not.
/// Each is a request target that starts with `/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    /// Routes the gateway serves (default: `/` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub served: Vec<Spanned<String>>,
    /// Paths one character or segment away from a real route (`/rpcx`, `/servers/`), beside
    /// those `fuzz` derives from the endpoints itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub near_misses: Vec<Spanned<String>>,
}

impl Routes {
    pub fn is_unset(&self) -> bool {
        self.served.is_empty() && self.near_misses.is_empty()
    }
}

/// Bounds on a run against the gateway. A response over a limit is a FAIL of its step that
/// names the limit, and the run goes on. Each field left out keeps its default; each has a
/// flag that wins over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Bytes of one response body, after de-chunking (`--max-response-bytes`; default
    /// 16777216, 16 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<NonZeroU64>,
    /// Milliseconds for one request: connecting, sending it and receiving the whole response,
    /// head and body (`--timeout`, in seconds; default 15000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<NonZeroU64>,
    /// Milliseconds for one scenario: making its fixtures and running its steps; steps it
    /// leaves are reported as not run (`--scenario-timeout`, in seconds; default 120000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_timeout_ms: Option<NonZeroU64>,
    /// Seconds for the whole run of the scenarios; scenarios it leaves are reported as not run
    /// and the run fails (`--run-timeout`; default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_s: Option<NonZeroU64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_unset(&self) -> bool {
        *self == Limits::default()
    }

    /// Each limit of `self`, else `other`'s.
    #[must_use]
    pub fn or(self, other: Limits) -> Limits {
        Limits {
            max_response_bytes: self.max_response_bytes.or(other.max_response_bytes),
            request_timeout_ms: self.request_timeout_ms.or(other.request_timeout_ms),
            scenario_timeout_ms: self.scenario_timeout_ms.or(other.scenario_timeout_ms),
            run_timeout_s: self.run_timeout_s.or(other.run_timeout_s),
        }
    }
}

/// How a credential travels.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The header that carries it (default `authorization`).
    #[serde(default = "authorization")]
    #[schemars(with = "String")]
    pub header: Spanned<String>,
    /// Written before the secret, separated by one space (default `Bearer`); empty: the bare
    /// secret.
    #[serde(default = "bearer")]
    pub scheme: String,
}

fn authorization() -> Spanned<String> {
    unspanned("authorization".to_owned())
}

fn bearer() -> String {
    "Bearer".to_owned()
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            header: authorization(),
            scheme: bearer(),
        }
    }
}

impl Credentials {
    /// The header a request carrying `secret` sends.
    pub fn header_for(&self, secret: &str) -> (String, String) {
        let value = if self.scheme.is_empty() {
            secret.to_owned()
        } else {
            format!("{} {secret}", self.scheme)
        };
        (self.header.value.to_ascii_lowercase(), value)
    }
}

/// A principal: a credential the suite may use, and what it may reach.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The environment variable that holds its secret (a token or an API key). Absent: the
    /// principal is anyone, and its requests carry no credential (a gateway without
    /// authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// What it may reach: `all` servers, `none`, or `{servers: [KEY, ...]}`.
    pub reach: Reach,
}

/// What a principal may reach: `all`, `none` or `{servers: [KEY, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// Every server.
    All,
    /// No server (a valid credential that may reach nothing).
    None,
    /// These servers only (keys of `provisioning.static.servers`).
    Servers(#[schemars(with = "Vec<String>")] Vec<Spanned<String>>),
}

/// URL templates. `{id}` and `{name}` stand for a server's id and name. An endpoint the gateway
/// does not have is left out (or `null`): scenarios that need it are NOT-APPLICABLE.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// The MCP endpoint that serves every server (`/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub mcp: Option<Spanned<String>>,
    /// One server's MCP endpoint (`/servers/{id}/mcp`, `/mcp/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub server_mcp: Option<Spanned<String>>,
    /// The JSON-RPC endpoint beside MCP (`/rpc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub rpc: Option<Spanned<String>>,
    /// RFC 9728 metadata of one server's MCP endpoint
    /// (`/.well-known/oauth-protected-resource/servers/{id}/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub server_metadata: Option<Spanned<String>>,
}

impl Endpoints {
    /// The template of an endpoint by its reference name (`mcp`, `server_mcp`, ...).
    pub fn template(&self, name: &str) -> Option<&str> {
        let spanned = match name {
            "mcp" => self.mcp.as_ref(),
            "server_mcp" => self.server_mcp.as_ref(),
            "rpc" => self.rpc.as_ref(),
            "server_metadata" => self.server_metadata.as_ref(),
            _ => None,
        };
        spanned.map(|s| s.value.as_str())
    }

    /// The names [`Endpoints::template`] knows.
    pub const NAMES: [&'static str; 4] = ["mcp", "server_mcp", "rpc", "server_metadata"];
}

/// Fill `{id}` and `{name}` in a template.
pub fn fill(template: &str, id: &str, name: &str) -> String {
    template.replace("{id}", id).replace("{name}", name)
}

/// How fixtures come to exist on the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Provisioning {
    /// Fixtures are created through an admin REST API in ContextForge's shapes (ContextForge
    /// and the reference) and deleted after each scenario.
    AdminApi(AdminApi),
    /// The gateway was configured from a file: this is the world it was given. Scenarios'
    /// fixtures are mapped onto it; a scenario whose fixtures it cannot meet is NOT-APPLICABLE,
    /// with what is missing named.
    Static(Box<StaticWorld>),
}

/// Settings of the admin-API adapter.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminApi {
    /// Tokens without special claims come from the API's `POST /tokens` (the way the gateway's
    /// users mint them) and are signed locally only when it cannot make them.
    #[serde(default)]
    pub api_tokens_first: bool,
}

/// The world a gateway configured from a file was given.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticWorld {
    /// The harness's upstream MCP fixtures the gateway was configured to reach, by key
    /// (`mcpgw-conformance upstreams` serves them).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, DeclaredUpstream>")]
    pub upstreams: BTreeMap<String, Spanned<DeclaredUpstream>>,
    /// The gateway's servers, by key; each fronts one declared upstream.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, DeclaredServer>")]
    pub servers: BTreeMap<String, Spanned<DeclaredServer>>,
    /// How the gateway names an upstream's tools to its clients: `{server}` is the server's
    /// name, `{tool}` the upstream's name for it (default `{tool}`).
    #[serde(default = "tool_only")]
    #[schemars(with = "String")]
    pub tool_name: Spanned<String>,
    /// How the gateway names an upstream's resources to its clients (their URIs are kept):
    /// `{server}` is the server's name, `{resource}` the upstream's name for it (default
    /// `{resource}`). `fidelity` maps the names back before comparing.
    #[serde(default = "resource_only", skip_serializing_if = "is_resource_only")]
    pub resource_name: String,
    /// The same on the global `mcp` endpoint, which serves every server (default: as
    /// `tool_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub global_tool_name: Option<Spanned<String>>,
    /// Where the upstream fixtures record what reached them, one JSON line per message in
    /// `<dir>/<upstream key>.jsonl`, so the suite can check what a gateway forwarded (default
    /// `$TMPDIR/mcpgw-upstreams-<name>`). The suite and the fixtures must share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_dir: Option<String>,
}

fn resource_only() -> String {
    "{resource}".to_owned()
}

fn is_resource_only(s: &String) -> bool {
    s == "{resource}"
}

fn tool_only() -> Spanned<String> {
    unspanned("{tool}".to_owned())
}

/// One upstream MCP fixture run by the harness.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredUpstream {
    /// How the gateway reaches it: over Streamable HTTP at `port` on the upstream host, or by
    /// launching `mcpgw-conformance upstream --stdio KEY` as a command.
    #[serde(default)]
    pub transport: UpstreamTransport,
    /// Streamable HTTP: the loopback port it listens on (its URL is `http://HOST:PORT/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<UpstreamTool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<UpstreamResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<UpstreamPrompt>,
    /// Serve the fidelity fixture instead of the items above (what `mcpgw-conformance
    /// fidelity` compares directly and through the gateway).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fidelity: bool,
}

/// How a gateway reaches an upstream fixture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTransport {
    /// Streamable HTTP on a loopback port.
    #[default]
    Http,
    /// stdin/stdout of a command the gateway launches.
    Stdio,
}

/// One server the gateway was configured with.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredServer {
    /// Key of the upstream it fronts.
    #[schemars(with = "String")]
    pub upstream: Spanned<String>,
    /// Its name in URLs and tool prefixes (default: the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its id, where the gateway has ids apart from names (default: the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A value that came from no place in a file (a default).
pub fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}
