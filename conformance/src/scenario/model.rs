//! The scenario file format: one YAML file is one [`Scenario`].
//!
//! Every struct refuses unknown fields, so a typo is an error with its line, never a silently
//! ignored expectation. The doc comments here are the field descriptions of the generated JSON
//! Schema (`scenarios/schema.json`), which editors use to validate and complete scenario files.
//!
//! A step is read as written ([`StepFile`], optional `request`, `fault` and `wait_ms`) and the
//! loader types it ([`Step`]: one [`Action`]), so the runner never meets a step that is both a
//! request and a fault, or an expectation on a pause.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::matcher::Matcher;

/// One conformance scenario: fixtures to provision, then steps (checks) to run in order.
// `S` is the step: as written (`StepFile`, what serde reads and the JSON Schema describes), or as
// the loader typed it (`Step`, what everything else uses).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Scenario")]
pub struct Scenario<S = Step> {
    /// `<area>/<slug>`; must equal the file's path under `scenarios/` without `.yaml`.
    pub id: String,
    /// One line saying what must hold.
    pub title: String,
    /// Longer explanation (why it matters, what a failure means).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// References: checklist ids (`C-SCOPE-01`), decisions (`D4`), upstream issues
    /// (`issue 2192`), RFC sections (`RFC 9728 §3`). At least one.
    pub spec: Vec<String>,
    /// `MUST`: a broken check is FAIL. `SHOULD`: a broken check is WARN.
    #[serde(default)]
    pub level: Level,
    /// Capabilities the target needs; when one is missing the scenario is NOT-APPLICABLE.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Capability>,
    /// The target manifest (its `name`) whose URL shapes the literal request paths are written
    /// in, as a fuzz campaign on a gateway configured from a file writes them. The scenario is
    /// NOT-APPLICABLE on any other target, and on that one its literal paths need no
    /// `contextforge-api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_of: Option<String>,
    /// What to create before the steps run (through the target's admin API) and delete after.
    #[serde(default)]
    pub fixtures: Fixtures,
    /// The checks, run in order. Each step is one check with id `<scenario id>:<step name>`.
    pub steps: Vec<S>,
}

/// A scenario as written, before the loader checks it and types its steps.
pub type ScenarioFile = Scenario<StepFile>;

/// How strictly a scenario (or a step) is required.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Level {
    /// Broken -> FAIL.
    #[default]
    #[serde(rename = "MUST")]
    Must,
    /// Broken -> WARN.
    #[serde(rename = "SHOULD")]
    Should,
}

/// Something a target may or may not be able to do. A scenario that requires a capability the
/// target's profile lacks is NOT-APPLICABLE there.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Stateful Streamable HTTP sessions (`mcp-session-id`, GET streams, DELETE).
    Stateful,
    /// OAuth-enabled virtual servers (`oauth_enabled`, RFC 9728 metadata).
    Oauth,
    /// Virtual servers resolve by name as well as by id (D4).
    NameResolution,
    /// Several workers behind one address (`via: N` picks a worker).
    Cluster,
    /// The target trusts the harness's address as a proxy (`X-Forwarded-*` honoured).
    TrustedProxy,
    /// MCP POSTs may be answered with an SSE stream.
    SseResponse,
    /// The target's JWT secret is known, so tokens can be signed locally with any claims.
    JwtSecret,
    /// The gateway is mounted under a path prefix (`APP_ROOT_PATH`), given in the target URL.
    RootPath,
    /// Mode: the MCP transport admits requests without a token (`MCP_REQUIRE_AUTH=false`).
    McpAuthOptional,
    /// Mode: REST and `/rpc` admit requests without a token (`AUTH_REQUIRED=false`).
    AuthOptional,
    /// Mode: the `/.well-known` endpoints are switched off (`WELL_KNOWN_ENABLED=false`).
    WellKnownDisabled,
    /// The harness started the cluster itself (`--cluster N`), so `fault` steps can kill and
    /// restart workers and pause Redis. An external cluster (`--target URL1,URL2`) lacks it.
    ClusterFaults,
    /// The gateway speaks ContextForge's REST paths and answers (`/servers`, `/tokens`,
    /// `/servers/{id}/mcp`, `{"detail": ...}` errors), as the reference does. Implied by a
    /// request path written literally rather than from an endpoint reference.
    ContextforgeApi,
    /// In a session, the events of SSE answers carry ids and a `GET` with `Last-Event-ID`
    /// resumes after one (MCP transports, resumability and redelivery).
    ResumableStreams,
}

impl Capability {
    pub const ALL: [Capability; 14] = [
        Capability::Stateful,
        Capability::Oauth,
        Capability::NameResolution,
        Capability::Cluster,
        Capability::TrustedProxy,
        Capability::SseResponse,
        Capability::JwtSecret,
        Capability::RootPath,
        Capability::McpAuthOptional,
        Capability::AuthOptional,
        Capability::WellKnownDisabled,
        Capability::ClusterFaults,
        Capability::ContextforgeApi,
        Capability::ResumableStreams,
    ];

    /// A *mode*: a non-default configuration under which scenarios written for the default one
    /// need not hold (e.g. a trusted proxy makes `X-Forwarded-For` count). On a target in a mode,
    /// only scenarios that require that mode run; the others are NOT-APPLICABLE.
    pub fn is_mode(self) -> bool {
        matches!(
            self,
            Capability::TrustedProxy
                | Capability::McpAuthOptional
                | Capability::AuthOptional
                | Capability::WellKnownDisabled
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Stateful => "stateful",
            Capability::Oauth => "oauth",
            Capability::NameResolution => "name-resolution",
            Capability::Cluster => "cluster",
            Capability::TrustedProxy => "trusted-proxy",
            Capability::SseResponse => "sse-response",
            Capability::JwtSecret => "jwt-secret",
            Capability::RootPath => "root-path",
            Capability::McpAuthOptional => "mcp-auth-optional",
            Capability::AuthOptional => "auth-optional",
            Capability::WellKnownDisabled => "well-known-disabled",
            Capability::ClusterFaults => "cluster-faults",
            Capability::ContextforgeApi => "contextforge-api",
            Capability::ResumableStreams => "resumable-streams",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Fixtures, keyed by names local to the scenario. Each gets a unique name per run
/// (`<key>-<run id>`) and is deleted after the scenario, also when it fails.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Users (email `<key>-<run id>@example.com`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserFixture>,
    /// Teams owned by the administrator, with members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, TeamFixture>,
    /// MCP servers the harness itself runs and registers as gateways (`POST /gateways`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, UpstreamFixture>,
    /// REST tools (`POST /tools`) pointing at an HTTP echo the harness runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rest_tools: BTreeMap<String, RestToolFixture>,
    /// Resources with static content (`POST /resources`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceFixture>,
    /// Prompt templates (`POST /prompts`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompts: BTreeMap<String, PromptFixture>,
    /// Virtual servers (`POST /servers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, ServerFixture>,
    /// Tokens; by default for the platform administrator with an admin bypass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, TokenFixture>,
}

/// Who may see a fixture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Team,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Team => "team",
            Visibility::Private => "private",
        }
    }
}

/// A user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFixture {
    /// Make the user a platform administrator.
    #[serde(default)]
    pub admin: bool,
}

/// A team.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamFixture {
    /// Keys of `users` to add as members.
    #[serde(default)]
    pub members: Vec<String>,
}

/// An MCP server run by the harness (wiremock, Streamable HTTP, JSON responses).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFixture {
    #[serde(default)]
    pub tools: Vec<UpstreamTool>,
    #[serde(default)]
    pub resources: Vec<UpstreamResource>,
    #[serde(default)]
    pub prompts: Vec<UpstreamPrompt>,
    /// Visibility of the gateway and of what it discovers.
    #[serde(default)]
    pub visibility: Visibility,
    /// Key of the owning team (with `visibility: team`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Serve the fidelity fixture instead of the items above: paginated lists, every content
    /// type, structured content, errors, large and non-ASCII results, `_meta` echoed, progress
    /// and logging notifications (what `mcpgw-conformance fidelity` compares).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fidelity: bool,
}

/// What an upstream fixture serves, each item as (its name in references, the value the target's
/// listing shows it by: a tool's or prompt's own name, a resource's URI).
#[derive(Debug, Clone, Default)]
pub struct Served {
    pub tools: Vec<(String, String)>,
    pub resources: Vec<(String, String)>,
    pub prompts: Vec<(String, String)>,
}

impl UpstreamFixture {
    /// Whether the upstream keeps session memory (one of its tools has `memory`), and so
    /// issues sessions.
    pub fn keeps_memory(&self) -> bool {
        !self.fidelity && self.tools.iter().any(|t| t.memory.is_some())
    }

    /// The items this fixture serves: those declared, or the fidelity fixture's (which the
    /// engine's upstream knows: without the `engine` feature, only the loader is built).
    #[cfg(feature = "engine")]
    pub fn served(&self) -> Served {
        let named = |v: Vec<serde_json::Value>, key: &str| -> Vec<(String, String)> {
            v.iter()
                .filter_map(|i| {
                    let name = i.get("name")?.as_str()?.to_owned();
                    let by = i.get(key)?.as_str()?.to_owned();
                    Some((name, by))
                })
                .collect()
        };
        if self.fidelity {
            use crate::upstream::rich;
            return Served {
                tools: named(rich::tools(), "name"),
                resources: named(rich::resources(), "uri"),
                prompts: named(rich::prompts(), "name"),
            };
        }
        Served {
            tools: self
                .tools
                .iter()
                .map(|t| (t.name.clone(), t.name.clone()))
                .collect(),
            resources: self
                .resources
                .iter()
                .map(|r| (r.name.clone(), r.uri.clone()))
                .collect(),
            prompts: self
                .prompts
                .iter()
                .map(|p| (p.name.clone(), p.name.clone()))
                .collect(),
        }
    }
}

/// A tool of an upstream.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTool {
    /// The upstream's own name (the gateway exposes it under a prefixed name:
    /// use `${tools.<upstream>.<name>.name}`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (default `{type: object}`).
    #[serde(
        default,
        rename = "inputSchema",
        alias = "input_schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_schema: Option<Value>,
    /// The `tools/call` result to answer; default: one text item with the arguments as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// A tool of the upstream session's memory instead of a fixed result: `remember` keeps the
    /// call's arguments in the upstream session the call arrives in, `recall` answers what that
    /// session kept (a JSON array, as text). An upstream with such a tool issues a session id on
    /// `initialize`, and answers a memory call outside a session it issued with 400 (no
    /// `Mcp-Session-Id`) or 404 (an id it never issued or already ended), as MCP's session
    /// management says a server that needs sessions does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryOp>,
}

/// What a memory tool of an upstream does (see [`UpstreamTool::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryOp {
    Remember,
    Recall,
}

/// A resource of an upstream.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamResource {
    pub uri: String,
    pub name: String,
    /// Text returned by `resources/read`.
    #[serde(default)]
    pub text: String,
    #[serde(default = "text_plain", rename = "mimeType", alias = "mime_type")]
    pub mime_type: String,
}

fn text_plain() -> String {
    "text/plain".to_owned()
}

/// A prompt of an upstream.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPrompt {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub arguments: Vec<PromptArgument>,
    /// Message text; `{{arg}}` is replaced by the argument's value.
    #[serde(default)]
    pub text: String,
}

/// A prompt argument.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptArgument {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

/// A REST tool calling the harness's HTTP echo, which answers
/// `{"ok": true, "received_method", "received_path", "received_body"}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestToolFixture {
    /// HTTP method the gateway uses towards the echo.
    #[serde(default = "post")]
    pub request_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (default: any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Key of the owning team (with `visibility: team`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

fn post() -> String {
    "POST".to_owned()
}

/// A resource with static content.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceFixture {
    /// The URI; `${run.id}` keeps it unique per run (default `test://<key>-<run id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(default = "text_plain")]
    pub mime_type: String,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A prompt template (`{{ var }}` placeholders).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptFixture {
    pub template: String,
    #[serde(default)]
    pub arguments: Vec<PromptArgument>,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A virtual server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerFixture {
    /// Tools: `<upstream>.<tool>` or a `rest_tools` key.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Resources: `<upstream>.<resource name>` or a `resources` key.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Prompts: `<upstream>.<prompt>` or a `prompts` key.
    #[serde(default)]
    pub prompts: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Key of the owning team (with `visibility: team`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Enable OAuth with this configuration (RFC 9728 metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OauthFixture>,
    /// `false` disables the server after creating it.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// OAuth configuration of a server (`oauth_config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OauthFixture {
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
}

/// A token. Signed locally when the target's JWT secret is known (or when `claims`,
/// `without`, `signing_key` or `algorithm` ask for something the admin API cannot make),
/// otherwise created with `POST /tokens` and revoked afterwards.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenFixture {
    /// Key of `users`; default: the platform administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Admin bypass (`teams: null` + `is_admin: true`). Default: true for the platform
    /// administrator, false for `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// Team keys written to the `teams` claim. Absent: no `teams` claim for a non-admin
    /// (public-only), `null` for an admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<Vec<String>>,
    /// Key of `servers`: `scopes.server_id` becomes that server's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A literal `scopes.server_id` (e.g. an id that does not exist); `${...}` allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// `scopes.permissions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// `scopes.ip_restrictions` (IPs or CIDRs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_restrictions: Vec<String>,
    /// `scopes.time_restrictions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_restrictions: Option<Value>,
    /// Raw claims merged over the generated ones (needs the JWT secret). `exp`, `iat` and `nbf`
    /// below 1000000000 are relative to now in seconds (`exp: -60` expired a minute ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Map<String, Value>>,
    /// Claims to remove (e.g. `[exp]`, `[jti]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub without: Vec<String>,
    /// Sign with this key instead of the target's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// Signature algorithm: HS256 (default), HS384, HS512 or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// Where the token comes from: `auto` (default), `api` (`POST /tokens`) or `sign`.
    #[serde(default)]
    pub source: TokenSource,
    /// A credential the gateway never issued, in the form its real ones take (a JWT signed
    /// with a random key; on a target configured from a file, a random secret). Every other
    /// field is ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forged: bool,
    /// `true`: made by the target's token issuer (`POST /tokens`, whatever `source` says) and
    /// revoked through it before the first step: a credential that was valid and is no longer.
    /// It reaches what no credential reaches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// Signature algorithm of a locally signed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    #[serde(rename = "none")]
    None,
}

/// Where a token comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// Signed locally when the JWT secret is known, else `POST /tokens`.
    #[default]
    Auto,
    /// Always `POST /tokens` (revoked afterwards); `${tokens.KEY.id}` is its id.
    Api,
    /// Always signed locally (the scenario needs the `jwt-secret` capability).
    Sign,
}

impl TokenFixture {
    /// Whether only local signing can make this token.
    pub fn needs_signing(&self) -> bool {
        self.source == TokenSource::Sign
            || self.claims.is_some()
            || !self.without.is_empty()
            || self.signing_key.is_some()
            || self.algorithm.is_some()
            // `POST /tokens` takes one team_id; without one ContextForge picks the personal team.
            || self.teams.as_ref().is_some_and(|t| t.len() != 1)
    }
}

/// One check: a request and what its response must look like; or, on a cluster the harness
/// started, a `fault` to cause; or a pause (`wait_ms`). A step has exactly one of `request`,
/// `fault` and `wait_ms`; `via`, `expect`, `retry_for_ms` and `save` belong to a request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Step",
    extend("oneOf" = [
        {"required": ["request"]},
        {"required": ["fault"]},
        {"required": ["wait_ms"]},
    ]),
)]
pub struct StepFile {
    /// Unique within the scenario (`[a-z0-9][a-z0-9-]*`); the check id is `<scenario id>:<name>`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Overrides the scenario's level for this check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Cluster targets: the worker to send to (0-based, default 0). Anything but 0 requires
    /// `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// What the response must look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Send the request again (every 250 ms) until `expect` holds or this many milliseconds have
    /// passed; the last response is judged. For outcomes that take a while on a cluster (a dead
    /// worker's sessions are taken over once its heartbeat expires), instead of a blind wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_for_ms: Option<Millis>,
    /// With `retry_for_ms`: retry only while the response matches this (the answer of a state
    /// that has not settled yet, e.g. `{status: 404}` for a session the other workers do not
    /// know yet); any other response that misses `expect` is judged at once, so a wrong
    /// answer (a leak) is never retried away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_while: Option<Expect>,
    /// Cause a fault instead of sending a request (needs `cluster-faults`). The cluster is made
    /// whole again after the scenario (workers restarted, Redis unpaused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Wait this many milliseconds instead of sending a request (prefer `retry_for_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<Millis>,
    /// Values to keep for later steps as `${saved.NAME}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<BTreeMap<String, SaveFrom>>,
}

/// One check, typed: its name and level, and the one thing it does.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "StepFile")]
pub struct Step {
    pub name: String,
    pub description: Option<String>,
    /// Overrides the scenario's level for this check.
    pub level: Option<Level>,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send a request and judge its response.
    Request(Box<RequestStep>),
    /// Cause a fault on a cluster the harness started.
    Fault(Fault),
    /// Pause.
    Wait(Duration),
}

/// A request step: where the request goes, what the response must look like, what to keep.
#[derive(Debug, Clone)]
pub struct RequestStep {
    /// The worker to send to (0-based).
    pub via: usize,
    pub request: Request,
    pub expect: Expect,
    /// Send again until `expect` holds, for at most this long.
    pub retry_for: Option<Duration>,
    /// Send again only while the response matches this.
    pub retry_while: Option<Expect>,
    /// Values to keep for later steps as `${saved.NAME}`.
    pub save: BTreeMap<String, SaveFrom>,
}

impl Step {
    /// What the step sends, if it is a request step.
    pub fn request(&self) -> Option<&RequestStep> {
        match &self.action {
            Action::Request(r) => Some(r),
            Action::Fault(_) | Action::Wait(_) => None,
        }
    }

    /// The fault the step causes, if it is a fault step.
    pub fn fault(&self) -> Option<Fault> {
        match self.action {
            Action::Fault(f) => Some(f),
            Action::Request(_) | Action::Wait(_) => None,
        }
    }
}

/// A step written back as a file has it.
impl From<Step> for StepFile {
    fn from(step: Step) -> StepFile {
        let mut file = StepFile {
            name: step.name,
            description: step.description,
            level: step.level,
            via: None,
            request: None,
            expect: None,
            retry_for_ms: None,
            retry_while: None,
            fault: None,
            wait_ms: None,
            save: None,
        };
        match step.action {
            Action::Request(r) => {
                let RequestStep {
                    via,
                    request,
                    expect,
                    retry_for,
                    retry_while,
                    save,
                } = *r;
                file.via = (via != 0).then_some(via);
                file.request = Some(request);
                file.expect = Some(expect);
                file.retry_for_ms = retry_for.map(Millis::from);
                file.retry_while = retry_while;
                file.save = (!save.is_empty()).then_some(save);
            }
            Action::Fault(f) => file.fault = Some(f),
            Action::Wait(d) => file.wait_ms = Some(Millis::from(d)),
        }
        file
    }
}

/// The longest `retry_for_ms` / `wait_ms` a step may ask for.
pub const MAX_WAIT_MS: u64 = 120_000;

/// A number of milliseconds from 1 to 120000 (`wait_ms`, `retry_for_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(inline, with = "u64", extend("minimum" = 1, "maximum" = MAX_WAIT_MS))]
pub struct Millis(u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ms = u64::deserialize(d)?;
        if (1..=MAX_WAIT_MS).contains(&ms) {
            Ok(Millis(ms))
        } else {
            Err(de::Error::invalid_value(
                Unexpected::Unsigned(ms),
                &format!("milliseconds between 1 and {MAX_WAIT_MS}").as_str(),
            ))
        }
    }
}

impl From<Millis> for Duration {
    fn from(ms: Millis) -> Duration {
        Duration::from_millis(ms.0)
    }
}

impl From<Duration> for Millis {
    fn from(d: Duration) -> Millis {
        Millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A fault a `fault` step causes on a cluster: one the harness started (`--cluster N`), or one
/// whose manifest declares the commands that cause it (`cluster.faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "FaultFile", into = "FaultFile")]
pub enum Fault {
    /// SIGKILL this worker (0-based).
    KillWorker(usize),
    /// Start this worker again on its port and store.
    RestartWorker(usize),
    /// Freeze Redis.
    PauseRedis,
    /// Thaw a paused Redis.
    UnpauseRedis,
}

impl Fault {
    /// The worker the fault is about, if any.
    pub fn worker(self) -> Option<usize> {
        match self {
            Fault::KillWorker(w) | Fault::RestartWorker(w) => Some(w),
            Fault::PauseRedis | Fault::UnpauseRedis => None,
        }
    }
}

/// A fault as written: Redis faults take `true` (a map entry needs a value), and only that.
#[derive(Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Fault")]
enum FaultFile {
    /// SIGKILL this worker (0-based): it stops without handing anything over, and its
    /// heartbeat expires.
    KillWorker(usize),
    /// Start this worker again on its port (killing it first if it runs), on the same store.
    RestartWorker(usize),
    /// `true`: freeze Redis (its connections hang, as on a network partition).
    PauseRedis(True),
    /// `true`: thaw a paused Redis.
    UnpauseRedis(True),
}

impl From<FaultFile> for Fault {
    fn from(f: FaultFile) -> Fault {
        match f {
            FaultFile::KillWorker(w) => Fault::KillWorker(w),
            FaultFile::RestartWorker(w) => Fault::RestartWorker(w),
            FaultFile::PauseRedis(True) => Fault::PauseRedis,
            FaultFile::UnpauseRedis(True) => Fault::UnpauseRedis,
        }
    }
}

impl From<Fault> for FaultFile {
    fn from(f: Fault) -> FaultFile {
        match f {
            Fault::KillWorker(w) => FaultFile::KillWorker(w),
            Fault::RestartWorker(w) => FaultFile::RestartWorker(w),
            Fault::PauseRedis => FaultFile::PauseRedis(True),
            Fault::UnpauseRedis => FaultFile::UnpauseRedis(True),
        }
    }
}

/// `true`, the one value of a switch that can only be turned on (`pause_redis: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(inline, with = "bool", extend("const" = true))]
struct True;

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(True)
        } else {
            Err(de::Error::invalid_value(
                Unexpected::Bool(false),
                &"`true` (leave the step out to do nothing)",
            ))
        }
    }
}

impl Serialize for True {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

/// The request of a step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method, sent as written (`POST`, `GET`, `DELETE`, even `BREW`).
    pub method: String,
    /// Request target, sent byte for byte after `${...}` substitution: no normalisation of
    /// `.`/`..`, percent-encoding or slashes. Query strings go here too.
    pub path: String,
    /// Key of `tokens`: sends the token as the target's manifest says credentials travel
    /// (`Authorization: Bearer <token>` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Headers to send. `null` suppresses a default header (`host`, `content-type`, `accept`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Option<String>>,
    /// A JSON body (adds `content-type: application/json` and
    /// `accept: application/json, text/event-stream` unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A raw body, sent as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `true`: the request target is sent in absolute form (`http://host:port/path`, RFC 9112
    /// §3.2.2), which a server must accept and route exactly as the origin form.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absolute_form: bool,
    /// An SSE answer may stay open by design (a session's `GET` stream): read it for at most
    /// this many milliseconds after its head (1 to 120000), then judge what came. Without it
    /// an open stream is read until the request deadline, and the step fails there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_ms: Option<Millis>,
}

/// What the response must look like. Every field given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Matcher>,
    /// Response headers by (case-insensitive) name; repeated headers are joined with `, `.
    /// `{$absent: true}` requires a header to be missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Matcher>,
    /// The body parsed as JSON (an SSE body: the last `data:` event), matched as a subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Matcher>,
    /// JSON pointers into the body (`/error/code`), each with its own matcher.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pointers: BTreeMap<String, Matcher>,
    /// The raw body as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Matcher>,
    /// `true`: the request was refused, in either form a gateway may use: an HTTP 4xx, or an
    /// HTTP 200 whose JSON-RPC answer is an `error` with no `result`. A 5xx is not a refusal (the
    /// gateway failed), and neither is a result. For checks that hold on every gateway, whose
    /// refusals differ in form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<bool>,
    /// What harness-run upstreams received while this step ran, by upstream (or REST tool) key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstream: BTreeMap<String, UpstreamExpect>,
    /// Compare the redacted response with the stored snapshot of this name (insta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// `true`: the request reaches a worker that does not own its session, and the step is
    /// about what happens when that worker forwards it to the owner. Such a step tests something
    /// only if the request was forwarded: where the workers' logs show no forward (manifest
    /// `cluster.forwards`), or the target gives no way to see one, it is UNTESTABLE with that
    /// reason, never a silent PASS. A gateway that serves every session on any worker is not
    /// wrong; it just leaves forwarding untested.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
    /// Invariants the runner checks on every response that this step is not judged by, each
    /// with the reason: `outside-reach-shown` (a caller with limited reach is shown nothing
    /// outside it), `outside-reach-run` (no upstream outside that reach runs anything).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waive: BTreeMap<String, String>,
}

/// What an upstream received during a step.
///
/// The requests considered are those whose JSON-RPC `method` (for a REST tool: HTTP method)
/// equals `method` and whose `params` (REST: JSON body) match `params`. `count` is matched
/// against their number (default: at least one) and `headers` must hold for each of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Matcher>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Matcher>,
    /// How many requests were selected (default `{$gte: 1}`; `0` asserts none arrived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Matcher>,
    /// Texts that no request the upstream received may carry, anywhere in its headers or body
    /// (e.g. `${tokens.admin}`: the client's credential must not be passed through).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never_carries: Vec<String>,
}

/// Where a saved value comes from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SaveFrom {
    /// A response header.
    Header(String),
    /// A JSON pointer into the response body (strings saved as is, other values as JSON).
    Pointer(String),
    /// The `id` of an event of an SSE response (`last`: of the last event that has one), what a
    /// client resumes a stream after (`Last-Event-ID`).
    EventId(WhichEvent),
}

/// Which event of an SSE response [`SaveFrom::EventId`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhichEvent {
    Last,
}
