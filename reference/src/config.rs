//! Settings of the reference gateway: CLI flags with environment fallbacks.
//!
//! Names follow ContextForge's settings wherever one exists (`HOST`, `PORT`, `JWT_SECRET_KEY`,
//! `PLATFORM_ADMIN_EMAIL`, ...), so an operator can point the same environment at either gateway.

use std::net::IpAddr;

use clap::Parser;
use ipnet::IpNet;

use crate::policy::Policy;

/// Every knob the reference understands. `Settings::default_for_tests()` gives the in-process
/// defaults the harness and the unit tests use.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mcpgw-reference",
    version,
    about = "Spec-faithful reference MCP gateway"
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4444)]
    pub port: u16,
    /// HS256 signing key; a random one is generated (and printed) when absent.
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true)]
    pub jwt_secret_key: Option<String>,
    /// Expected `aud` claim.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "mcpgateway-api")]
    pub jwt_audience: String,
    /// Expected `iss` claim.
    #[arg(long, env = "JWT_ISSUER", default_value = "mcpgateway")]
    pub jwt_issuer: String,
    /// Deployment environment, compared with a token's `env` claim.
    #[arg(long, env = "ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// Refuse tokens without `exp`.
    #[arg(long, env = "REQUIRE_TOKEN_EXPIRATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_token_expiration: bool,
    /// Refuse tokens without `jti`.
    #[arg(long, env = "REQUIRE_JTI", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_jti: bool,
    /// Email of the platform administrator created at start.
    #[arg(
        long,
        env = "PLATFORM_ADMIN_EMAIL",
        default_value = "admin@example.com"
    )]
    pub platform_admin_email: String,
    /// Postgres URL; without it the store is in memory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Redis URL; without it sessions live in this process only.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Require a token on REST and `/rpc`.
    #[arg(long, env = "AUTH_REQUIRED", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_required: bool,
    /// Require a token on the MCP transport; inherits `AUTH_REQUIRED` when unset.
    #[arg(long, env = "MCP_REQUIRE_AUTH", action = clap::ArgAction::Set)]
    pub mcp_require_auth: Option<bool>,
    /// Path prefix the gateway is mounted under behind a proxy (e.g. `/gw`).
    #[arg(long, env = "APP_ROOT_PATH", default_value = "")]
    pub app_root_path: String,
    /// Peers whose `X-Forwarded-*` headers are believed (comma-separated IPs or CIDRs). Empty by
    /// default: forwarded headers from anyone else are ignored (decision D3).
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_ipnet)]
    pub trusted_proxies: Vec<IpNet>,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest accepted request head (request line plus headers) in bytes; larger get 431.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Milliseconds a client may take to send a request head, counted from its first byte; a
    /// slower head (slowloris) gets its connection closed. 0 turns the bound off.
    // 10 s: a real client sends its head (at most MAX_HEADER_BYTES) in one go, within
    // milliseconds; hyper's 30 s default also counted the wait before the first byte, which the
    // idle bound covers here.
    #[arg(long, env = "MCPGW_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// Milliseconds from a complete request head to the end of its body; a body not received by
    /// then is answered with 408 and its connection closed. 0 turns the bound off.
    // 30 s: a body is at most MAX_BODY_BYTES (4 MiB), which takes about 30 s at 1 Mbit/s.
    #[arg(long, env = "MCPGW_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,
    /// Milliseconds a connection may sit with no request in flight and no byte received or sent
    /// before the server closes it. A response still streaming (an SSE `GET` stream) is not
    /// idle. 0 turns the bound off.
    // 60 s: MCP clients pause between calls while a model thinks, and reconnecting after each
    // pause would cost them a handshake; a minute still frees abandoned connections long before
    // the cap matters at any plausible rate of new ones.
    #[arg(long, env = "MCPGW_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Most connections served at once. When full, a new connection closes the one that has had
    /// no request in flight the longest (idle or with a half-sent head); when every connection
    /// is serving a request, the new one gets 503 at once.
    // 10 000: an idle connection holds about 8 KiB (hyper's read buffer), so some 80 MiB at the
    // cap. Where the descriptor limit is lower (a soft limit of 1024 is common), running out of
    // descriptors sheds the longest-idle connection the same way.
    #[arg(
        long,
        env = "MCPGW_MAX_CONNECTIONS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: u32,
    /// Issue `mcp-session-id` on initialize and keep per-session state.
    #[arg(long, env = "USE_STATEFUL_SESSIONS", default_value_t = false, action = clap::ArgAction::Set)]
    pub use_stateful_sessions: bool,
    /// Answer MCP POSTs with `application/json`; when false, with a one-shot SSE stream.
    #[arg(long, env = "JSON_RESPONSE_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub json_response_enabled: bool,
    /// Serve the RFC 9728 and other `/.well-known` endpoints.
    #[arg(long, env = "WELL_KNOWN_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub well_known_enabled: bool,
    /// `Origin` values accepted on the MCP transport (comma-separated). Requests without an
    /// `Origin` header are always accepted; loopback origins are accepted when the list is empty.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Lifetime in minutes of the admin token printed at start.
    #[arg(long, env = "TOKEN_EXPIRY", default_value_t = 10080)]
    pub token_expiry_minutes: u64,
    /// Shared secret that signs requests forwarded between cluster workers.
    #[arg(long, env = "CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// This worker's name in the cluster registry (default `host:pid`).
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// URL other workers forward to (default `http://{listen address}`; loopback when listening
    /// on every interface).
    #[arg(long, env = "MCPGW_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Seconds a session's owner record lives in Redis without use.
    #[arg(long, env = "MCPGATEWAY_SESSION_AFFINITY_TTL", default_value_t = 300)]
    pub session_affinity_ttl: u64,
    /// Seconds a worker's heartbeat lives in Redis; refreshed every third of it. A worker whose
    /// heartbeat expired is dead and its sessions are taken over.
    #[arg(long, env = "MCPGW_WORKER_HEARTBEAT_TTL", default_value_t = 30)]
    pub worker_heartbeat_ttl: u64,
    /// Milliseconds a Redis command may take before the request that needs it gets 503.
    #[arg(long, env = "MCPGW_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
    /// Cluster mode: keep what is read from Postgres in this worker, valid until any worker
    /// writes (a generation in Redis). Turn it off when something other than the gateway's
    /// workers writes to the database: such writes do not change the generation. Workers with
    /// and without it may share a database (every worker's writes change the generation).
    #[arg(long, env = "MCPGW_STORE_READ_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub store_read_cache: bool,
    /// The rules handlers consult. Not a flag and not read from the environment: parsing
    /// always gives [`Policy::strict`], so no command line or environment of the binary can
    /// loosen it; only a caller in code (the harness) sets another.
    #[arg(skip = Policy::strict())]
    pub policy: Policy,
}

fn parse_ipnet(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not an IP address or CIDR: {s:?}"))
}

impl Settings {
    /// Defaults as if no flag and no environment variable were given, with a fixed secret.
    pub fn default_for_tests() -> Self {
        let mut s = Settings::parse_from(["mcpgw-reference"]);
        // `parse_from` still reads the environment; tests must not depend on the caller's shell.
        s.jwt_secret_key = Some("reference-test-secret".to_owned());
        s.jwt_audience = "mcpgateway-api".to_owned();
        s.jwt_issuer = "mcpgateway".to_owned();
        s.environment = "development".to_owned();
        s.require_token_expiration = true;
        s.require_jti = true;
        s.platform_admin_email = "admin@example.com".to_owned();
        s.database_url = None;
        s.redis_url = None;
        s.auth_required = true;
        s.mcp_require_auth = None;
        s.app_root_path = String::new();
        s.trusted_proxies = Vec::new();
        s.max_body_bytes = 4 * 1024 * 1024;
        s.max_header_bytes = 64 * 1024;
        s.header_read_timeout_ms = 10_000;
        s.body_read_timeout_ms = 30_000;
        s.idle_timeout_ms = 60_000;
        s.max_connections = 10_000;
        s.use_stateful_sessions = false;
        s.json_response_enabled = true;
        s.well_known_enabled = true;
        s.allowed_origins = Vec::new();
        s.cluster_secret = None;
        s.worker_id = None;
        s.advertise_url = None;
        s.session_affinity_ttl = 300;
        s.worker_heartbeat_ttl = 30;
        s.redis_timeout_ms = 2000;
        s.store_read_cache = true;
        s.policy = Policy::strict();
        s.host = IpAddr::from([127, 0, 0, 1]);
        s.port = 0;
        s
    }

    /// Whether the MCP transport demands a token.
    pub fn mcp_requires_auth(&self) -> bool {
        self.mcp_require_auth.unwrap_or(self.auth_required)
    }

    /// `APP_ROOT_PATH` without a trailing slash, with a leading one (or empty).
    pub fn root_path(&self) -> &str {
        let p = self.app_root_path.trim_end_matches('/');
        if p.is_empty() || !p.starts_with('/') {
            ""
        } else {
            p
        }
    }
}
