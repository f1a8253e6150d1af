//! One generated request ([`Case`]) and the proptest strategy that makes them.
//!
//! Paths and bodies are kept as scenario templates (`/servers/${servers.B.name}/mcp`): the
//! fuzzer renders them with the same substitution the runner uses, so a shrunk case becomes a
//! scenario step without translation and replays against fixtures made afresh. Literal text
//! from the oracle's generators is escaped (`${` -> `$${`).
//!
//! The strategy leans towards requests that can break an invariant: server routes naming the
//! fixture servers by id, name and near-miss spellings; traversal segments (`..`, `%2e%2e`,
//! `%252e%252e`, `%c0%ae%c0%ae`, fullwidth dots) that cancel out so a normalising gateway
//! would serve a real route; encoded separators, NUL, `;`, `//`, trailing slashes, `/v1`;
//! JSON-RPC bodies with another server's `params.server_id`, wrong `params` types, missing
//! fields and odd ids. Alternatives are ordered simplest first, because proptest shrinks
//! towards the first.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use crate::oracle::strategies;
use crate::scenario::Request;

/// Who sends the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform administrator with an admin bypass and no scopes (on a configured world:
    /// a principal that reaches every server).
    Admin,
    /// An admin-bypass token with `scopes`: `server` is a fixture server key (`None`: no
    /// server restriction, only permissions). On a configured world: a principal that reaches
    /// only that server.
    Scoped {
        server: Option<String>,
        permissions: Vec<String>,
    },
    /// `scopes.server_id: ""`, which means unrestricted (C-SCOPE-15).
    EmptyServerScope { permissions: Vec<String> },
    /// A credential of the right form that the target never issued.
    Forged,
    /// An administrator's API token that the target issued and then revoked (C-AUTH-10): it
    /// reaches what no credential reaches.
    Revoked,
    /// No credential.
    Anonymous,
    /// `Authorization: Bearer ` with nothing after it.
    EmptyBearer,
    /// An admin token usable only from [`RESTRICTED_TO`] (the harness is elsewhere).
    IpRestricted,
    /// An administrator's valid token sent only in the query string (`?access_token=`), which
    /// MCP's authorization spec forbids (RFC 6750 §2.3 says why): it reaches what no
    /// credential reaches.
    QueryToken,
    /// Another platform administrator ([`OTHER_USER`]): it reaches every server but opened
    /// none of the campaign's sessions (C-MCP-18/19: a session is its creator's).
    OtherUser,
    /// An administrator's token, signed with the target's key, whose claims make it invalid
    /// (RFC 7519 §4.1): one of [`BAD_CLAIMS`].
    BadClaims(&'static str),
}

/// Claims that make a well-signed token invalid, by name: (name, claims merged over the
/// generated ones; `exp`/`nbf` relative to now).
pub const BAD_CLAIMS: &[(&str, &str)] = &[
    ("expired", r#"{"exp": -60}"#),
    ("not-yet-valid", r#"{"nbf": 3600}"#),
    ("wrong-audience", r#"{"aud": "mcpgw-another-audience"}"#),
    (
        "array-audience-without-ours",
        r#"{"aud": ["mcpgw-another-audience", "mcpgw-yet-another"]}"#,
    ),
    ("wrong-issuer", r#"{"iss": "https://issuer.invalid"}"#),
];

/// The user fixture key of [`Caller::OtherUser`].
pub const OTHER_USER: &str = "other";

/// The one address an [`Caller::IpRestricted`] token may be used from: not the harness's.
pub const RESTRICTED_TO: &str = "10.0.0.1";

/// A session id no gateway issued, sent with an `initialize` (session fixation, CWE-384): a
/// gateway must never adopt it as the new session's id.
pub const PLANTED_SESSION: &str = "fuzz-planted-session-4f1d2c";

/// A host the client names only in its forwarding headers (`X-Forwarded-Host`,
/// `Forwarded: host=`): a gateway that does not trust the client never builds a URL on it.
pub const FORWARDED_HOST: &str = "forwarded-host.example";

/// An `MCP-Protocol-Version` from the future: no gateway supports it, so every MCP endpoint
/// refuses it (MCP transports §protocol-version-header: 400 Bad Request).
pub const FUTURE_PROTOCOL_VERSION: &str = "2099-01-01";

impl Caller {
    /// The fixture server key the token is restricted to.
    pub fn server_scope(&self) -> Option<&str> {
        match self {
            Caller::Scoped { server, .. } => server.as_deref(),
            _ => None,
        }
    }

    /// The permission list (empty: not restricted by the permission map).
    pub fn permissions(&self) -> &[String] {
        match self {
            Caller::Scoped { permissions, .. } | Caller::EmptyServerScope { permissions } => {
                permissions
            }
            _ => &[],
        }
    }

    /// Whether the token has a `scopes` claim at all.
    pub fn is_scoped(&self) -> bool {
        matches!(
            self,
            Caller::Scoped { .. } | Caller::EmptyServerScope { .. }
        )
    }
}

/// Which callers a target can be sent as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callers {
    /// Tokens with any scopes can be made (an admin API with a token issuer).
    Minted,
    /// Only these (a configured world's principals, a forgery and no credential).
    Fixed(Vec<Caller>),
}

/// What the generator builds requests from: the world's keys and the target's URL shapes.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Server fixture keys.
    pub servers: Vec<String>,
    /// Tools: (`<upstream>.<tool>` key, the upstream's name for it).
    pub tools: Vec<(String, String)>,
    /// The per-server MCP endpoint template (`{id}` / `{name}`).
    pub server_mcp: Option<String>,
    /// The per-server RFC 9728 document template.
    pub server_metadata: Option<String>,
    /// Endpoints that serve every server (`/mcp`, `/rpc`).
    pub general: Vec<String>,
    /// The target speaks ContextForge's API: its SSE/WS streams and `params.server_id` are
    /// worth sending too.
    pub contextforge_api: bool,
    /// The manifest's other routes (`routes.served`; none: only `/`) and near misses.
    pub routes: Vec<String>,
    pub near_misses: Vec<String>,
    pub callers: Callers,
    /// The fixtures can be made again after a request changed them (an admin API). A declared
    /// world cannot: only `GET` and `POST` are sent anywhere, `DELETE` only to an MCP endpoint
    /// as its template spells it (ending a session), never `PUT`.
    pub rebuildable: bool,
    /// Sessions opened before the campaign: the name its id is saved under
    /// (`${saved.<name>}`) and the server key whose endpoint opened it. Sent as
    /// `mcp-session-id` on their own endpoint and where they do not belong.
    pub sessions: Vec<(String, String)>,
    /// A second user can be sent ([`Caller::OtherUser`]): the sessions have an owner to cross.
    pub other_user: bool,
    /// How many workers the target has (each case picks one: `via`).
    pub workers: usize,
    /// The gateway's own hop headers (name, value), `{client}` standing for the client address
    /// the hop claims: sent by a client they must change nothing.
    pub hop_headers: Vec<(String, String)>,
    /// Tokens are signed here with the target's key: well-signed tokens with invalid claims
    /// ([`Caller::BadClaims`]) can be sent.
    pub signs_tokens: bool,
}

/// A list of paths of the built-in ContextForge manifest.
#[cfg(test)]
fn manifest_paths(
    list: impl Fn(&crate::manifest::Manifest) -> &Vec<serde_saphyr::Spanned<String>>,
) -> Vec<String> {
    crate::manifest::builtin("contextforge")
        .map(|m| list(&m).iter().map(|p| p.value.clone()).collect())
        .unwrap_or_default()
}

impl Vocabulary {
    /// The vocabulary of the default world on a ContextForge-shaped target (tests).
    #[cfg(test)]
    pub fn contextforge_default() -> Vocabulary {
        Vocabulary {
            servers: ["A", "B", "C"].map(str::to_owned).to_vec(),
            tools: [
                ("ua.alpha", "alpha"),
                ("ub.beta", "beta"),
                ("uc.gamma", "gamma"),
            ]
            .map(|(k, o)| (k.to_owned(), o.to_owned()))
            .to_vec(),
            server_mcp: Some("/servers/{id}/mcp".to_owned()),
            server_metadata: Some(
                "/.well-known/oauth-protected-resource/servers/{id}/mcp".to_owned(),
            ),
            general: vec!["/mcp".to_owned(), "/rpc".to_owned()],
            contextforge_api: true,
            routes: manifest_paths(|m| &m.routes.served),
            near_misses: manifest_paths(|m| &m.routes.near_misses),
            callers: Callers::Minted,
            rebuildable: true,
            sessions: Vec::new(),
            other_user: false,
            workers: 1,
            hop_headers: Vec::new(),
            signs_tokens: false,
        }
    }

    /// The MCP endpoints exactly as their templates spell them, for every server.
    fn exact_endpoints(&self) -> Vec<String> {
        let mut out = self.general.clone();
        if let Some(t) = &self.server_mcp {
            for k in &self.servers {
                let field = if t.contains("{id}") { "id" } else { "name" };
                let segment = format!("${{servers.{k}.{field}}}");
                out.push(crate::manifest::fill(t, &segment, &segment));
            }
        }
        if out.is_empty() {
            out.push("/".to_owned());
        }
        out
    }
}

/// A request body, as a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Sent as JSON; strings may hold `${...}` references.
    Json(Value),
    /// Sent as written (broken JSON, stray bytes made valid UTF-8).
    Raw(String),
}

/// One generated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub method: &'static str,
    /// The request target as a template.
    pub path: String,
    pub caller: Caller,
    pub body: Option<Body>,
    /// Extra headers (lowercase names): an `Origin`, a protocol version, forwarding headers.
    pub headers: Vec<(String, String)>,
    /// The worker it is sent to (0-based; always 0 on a single-worker target).
    pub via: usize,
    /// Sent in absolute form (`POST http://host/path`, RFC 9112 §3.2.2), which a gateway must
    /// judge by the same path as the origin form.
    pub absolute_form: bool,
}

impl Case {
    /// The scenario request for this case; `token` is the key of its token fixture.
    pub fn request(&self, token: Option<String>) -> Request {
        // A query token travels in the target, never in `Authorization`.
        let (path, token) = match (&self.caller, token) {
            (Caller::QueryToken, Some(key)) => {
                let join = if self.path.contains('?') { '&' } else { '?' };
                (
                    format!("{}{join}access_token=${{tokens.{key}}}", self.path),
                    None,
                )
            }
            (_, token) => (self.path.clone(), token),
        };
        let mut request = Request {
            method: self.method.to_owned(),
            path,
            token,
            headers: Default::default(),
            json: None,
            body: None,
            absolute_form: self.absolute_form,
            stream_ms: None,
        };
        // `json: null` reads back as no body: a JSON null is sent as its text.
        let raw_null = Body::Raw("null".to_owned());
        let body = match &self.body {
            Some(Body::Json(Value::Null)) => Some(&raw_null),
            other => other.as_ref(),
        };
        for (name, value) in &self.headers {
            request.headers.insert(name.clone(), Some(value.clone()));
        }
        if self.caller == Caller::EmptyBearer {
            request
                .headers
                .insert("authorization".to_owned(), Some("Bearer ".to_owned()));
        }
        match body {
            Some(Body::Json(v)) => request.json = Some(v.clone()),
            Some(Body::Raw(s)) => {
                request.body = Some(s.clone());
                request.headers.insert(
                    "content-type".to_owned(),
                    Some("application/json".to_owned()),
                );
            }
            None => {}
        }
        request
    }

    /// Whether a template names a server by name (needs D4's name resolution to mean that
    /// server).
    pub fn uses_server_names(&self) -> bool {
        let body = match &self.body {
            Some(Body::Json(v)) => v.to_string(),
            Some(Body::Raw(s)) => s.clone(),
            None => String::new(),
        };
        [&self.path, &body]
            .iter()
            .any(|t| t.contains(".name}") || t.contains(".name|"))
    }
}

/// `${` in literal text, escaped for a template.
pub fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

/// Every string in a JSON value escaped as literal text.
fn literal_json(v: &Value) -> Value {
    crate::scenario::subst::map_json_strings(v, &mut |s| {
        Ok::<_, std::convert::Infallible>(Value::String(literal(s)))
    })
    .unwrap_or_else(|never| match never {})
}

/// Server spellings that name no fixture.
const NO_SERVER: &[&str] = &["99999999999999999999999999999999", "mcpgw-no-such-server"];

/// A fixture server (or a near miss) as a path segment: by id and by name, then in other
/// spellings (case, percent-encoding once and twice, dashes in a hex id).
fn server_segments(v: &Vocabulary) -> (Vec<String>, Vec<String>) {
    let plain: Vec<String> = ["id", "name"]
        .iter()
        .flat_map(|f| {
            v.servers
                .iter()
                .map(move |k| format!("${{servers.{k}.{f}}}"))
        })
        .collect();
    let mut odd = Vec::new();
    for (i, k) in v.servers.iter().enumerate() {
        let f = if i % 2 == 0 { "id" } else { "name" };
        odd.push(format!("${{servers.{k}.{f}|upper}}"));
        odd.push(format!("${{servers.{k}.{f}|pct}}"));
        odd.push(format!("${{servers.{k}.id|pct|pct}}"));
        if v.contextforge_api {
            odd.push(format!("${{servers.{k}.id|dashed}}"));
        }
    }
    odd.extend(NO_SERVER.iter().map(|s| (*s).to_owned()));
    odd.extend(plain.iter().cloned());
    (plain, odd)
}

/// What follows `/servers/{x}` on a ContextForge-shaped target.
#[rustfmt::skip]
const SERVER_RESTS: &[&str] = &[
    "/mcp", "/mcp/", "", "/", "/tools", "/resources", "/prompts", "/sse", "/message",
    "/mcp/x", "/x/y", "/.well-known/oauth-protected-resource",
];

/// Dot segments, spelled every way D8 names and some it does not.
#[rustfmt::skip]
const DOTS: &[&str] = &[
    "..", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%252e%252e", "%c0%ae%c0%ae",
    "%ef%bc%8e%ef%bc%8e", "．．", ".", "%2e", "%252e", "..;", "..%00", "..%2f", "..%5c",
];

/// Bytes and separators glued onto a segment.
#[rustfmt::skip]
const SUFFIXES: &[&str] = &[
    ";", ";x=1", "%2f", "%2F", "%5c", "%00", "%2e", "%252f", "%3b", "%20", "%0a", "/", ".",
];

/// A template split around its server placeholder: (before, after).
fn split_template(template: &str) -> Option<(&str, &str)> {
    ["{id}", "{name}"].iter().find_map(|f| {
        template
            .find(f)
            .map(|at| (&template[..at], &template[at + f.len()..]))
    })
}

/// What may follow the server segment of a template: the template's own rest first.
fn rests(after: &str, extra: &[&str]) -> Vec<String> {
    let mut out = vec![
        after.to_owned(),
        format!("{after}/"),
        String::new(),
        "/".to_owned(),
    ];
    out.push(format!("{after}/x"));
    out.push("/x/y".to_owned());
    out.extend(extra.iter().map(|e| (*e).to_owned()));
    out.dedup();
    out
}

/// A template's stem (what precedes the server) as written, or with its last word replaced:
/// a gateway that matches only the stem's shape serves the near miss too.
fn stem(before: &str) -> BoxedStrategy<String> {
    let trimmed = before.trim_end_matches('/');
    let Some((head, _)) = trimmed.rsplit_once('/') else {
        return Just(before.to_owned()).boxed();
    };
    let tail = &before[trimmed.len()..];
    let alternatives: Vec<String> = ["x", "mcp", "tools"]
        .iter()
        .map(|w| format!("{head}/{w}{tail}"))
        .filter(|a| a != before)
        .collect();
    prop_oneof![4 => Just(before.to_owned()), 1 => select(alternatives)].boxed()
}

/// Requests to one server's endpoint, spelled right and nearly right.
fn server_route(v: &Vocabulary, template: &str) -> BoxedStrategy<String> {
    let Some((before, after)) = split_template(template) else {
        return Just(template.to_owned()).boxed();
    };
    let (plain, odd) = server_segments(v);
    let segment = prop_oneof![2 => select(plain), 1 => select(odd.clone())];
    let own = rests(
        after,
        if v.contextforge_api {
            SERVER_RESTS
        } else {
            &[]
        },
    );
    let rest = prop_oneof![2 => select(own[..2].to_vec()), 1 => select(own)];
    let servers = (stem(before), segment, rest)
        .prop_map(move |(before, s, rest)| format!("{before}{s}{rest}"));
    if !v.contextforge_api {
        return servers.boxed();
    }
    let stream = (
        select(&["sse", "ws"][..]),
        select(odd),
        select(&["", "/", "/x"][..]),
    )
        .prop_map(|(k, s, rest)| format!("/{k}/{s}{rest}"));
    prop_oneof![5 => servers, 1 => stream].boxed()
}

/// The RFC 9728 document of a server, spelled right and nearly right.
fn well_known_route(v: &Vocabulary, template: &str) -> BoxedStrategy<String> {
    let Some((before, after)) = split_template(template) else {
        return Just(template.to_owned()).boxed();
    };
    let (_, odd) = server_segments(v);
    (
        stem(before),
        select(odd),
        select(rests(after, &["/sse", "/mcp/extra"])),
    )
        .prop_map(move |(before, s, rest)| format!("{before}{s}{rest}"))
        .boxed()
}

/// The general endpoints, the root and near misses of them.
fn general_routes(v: &Vocabulary) -> (Vec<String>, Vec<String>) {
    let mut general = v.general.clone();
    let mut near = Vec::new();
    for g in &v.general {
        near.push(format!("{g}x"));
        near.push(format!("{g}/x"));
        near.push(format!("{g}//"));
        near.push(g.to_uppercase());
    }
    if let Some(t) = &v.server_mcp
        && let Some((before, _)) = split_template(t)
    {
        // The server route's stem without a server.
        near.push(before.trim_end_matches('/').to_owned());
        near.push(before.to_owned());
    }
    near.push("//".to_owned());
    if v.routes.is_empty() {
        general.push("/".to_owned());
    }
    general.extend(v.routes.iter().cloned());
    near.extend(v.near_misses.iter().cloned());
    near.retain(|n| !n.is_empty());
    if general.is_empty() {
        general.push("/".to_owned());
    }
    (general, near)
}

/// A route before mutations.
fn base_route(v: &Vocabulary) -> BoxedStrategy<String> {
    let (general, near) = general_routes(v);
    let mut choices: Vec<(u32, BoxedStrategy<String>)> = Vec::new();
    if let Some(t) = v.server_mcp.as_ref().filter(|_| !v.servers.is_empty()) {
        choices.push((6, server_route(v, t)));
    }
    choices.push((3, select(general).boxed()));
    choices.push((2, select(near).boxed()));
    if let Some(t) = &v.server_metadata {
        choices.push((1, well_known_route(v, t)));
    }
    if v.contextforge_api {
        choices.push((
            1,
            strategies::route_path().prop_map(|p| literal(&p)).boxed(),
        ));
    }
    choices.push((1, strategies::raw_path().prop_map(|p| literal(&p)).boxed()));
    proptest::strategy::Union::new_weighted(choices).boxed()
}

/// A change to one place of a path. Places are slots taken modulo the number of places, so
/// they shrink towards the first.
#[derive(Debug, Clone)]
enum Mutation {
    /// Insert `{from}/{dot}` before a segment: a normalising gateway climbs back out.
    Climb(usize, String, &'static str),
    /// Insert a dot segment or a tricky segment of the oracle's vocabulary.
    Insert(usize, String),
    /// Append bytes to a segment.
    Append(usize, &'static str),
    /// Double the slash before a segment.
    DoubleSlash(usize),
    /// Add a trailing slash.
    TrailingSlash,
}

fn slot() -> impl Strategy<Value = usize> {
    0..8usize
}

/// What a traversal climbs out of: a bare word, the words of the target's templates, a server.
fn climb_from(v: &Vocabulary) -> Vec<String> {
    let mut from = vec!["x".to_owned()];
    let templates = v.general.iter().chain(&v.server_mcp);
    for word in templates.flat_map(|t| t.split('/')) {
        if !word.is_empty() && !word.contains('{') && !from.iter().any(|f| f == word) {
            from.push(word.to_owned());
        }
    }
    if let Some(k) = v.servers.first() {
        from.push(format!("${{servers.{k}.id}}"));
    }
    from.push("v1".to_owned());
    from
}

fn mutation(v: &Vocabulary) -> impl Strategy<Value = Mutation> + use<> {
    let tricky = prop_oneof![
        select(DOTS).prop_map(str::to_owned),
        select(strategies::TRICKY).prop_map(literal),
    ];
    prop_oneof![
        4 => (slot(), select(climb_from(v)), select(DOTS))
            .prop_map(|(i, from, dot)| Mutation::Climb(i, from, dot)),
        2 => (slot(), tricky).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (slot(), select(SUFFIXES)).prop_map(|(i, s)| Mutation::Append(i, s)),
        1 => slot().prop_map(Mutation::DoubleSlash),
        1 => Just(Mutation::TrailingSlash),
    ]
}

/// Apply mutations to the path part of a template (segments are split at `/`; a template's
/// `${...}` never holds one).
fn mutate(path: &str, mutations: &[Mutation]) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), format!("?{q}")),
        None => (path.to_owned(), String::new()),
    };
    let Some(body) = path.strip_prefix('/') else {
        return path + &query;
    };
    let mut segs: Vec<String> = body.split('/').map(str::to_owned).collect();
    for m in mutations {
        match m {
            Mutation::Climb(i, from, dot) => {
                let at = i % (segs.len() + 1);
                segs.insert(at, (*dot).to_owned());
                segs.insert(at, from.clone());
            }
            Mutation::Insert(i, t) => {
                let at = i % (segs.len() + 1);
                segs.insert(at, t.clone());
            }
            Mutation::Append(i, s) => {
                let at = i % segs.len();
                segs[at].push_str(s);
            }
            Mutation::DoubleSlash(i) => {
                let at = i % segs.len();
                segs.insert(at, String::new());
            }
            Mutation::TrailingSlash => segs.push(String::new()),
        }
    }
    format!("/{}{query}", segs.join("/"))
}

/// A request target template.
pub fn path(v: &Vocabulary) -> BoxedStrategy<String> {
    let prefix = prop_oneof![5 => Just(""), 1 => Just("/v1")];
    let query = prop_oneof![8 => Just(""), 1 => Just("?x=1"), 1 => Just("?a=../..&b=%2e%2e")];
    (
        prefix,
        base_route(v),
        prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(mutation(v), 1..3)],
        query,
    )
        .prop_map(|(prefix, base, mutations, query)| {
            let mutated = mutate(&base, &mutations);
            let joined = if prefix.is_empty() || mutated != "/" {
                format!("{prefix}{mutated}")
            } else {
                format!("{prefix}/")
            };
            if joined.contains('?') {
                joined
            } else {
                joined + query
            }
        })
        .boxed()
}

/// `params.server_id` values: fixture servers by id and name, near misses, wrong types.
fn server_id_value(v: &Vocabulary) -> BoxedStrategy<Value> {
    let (plain, odd) = server_segments(v);
    let mut refs = plain;
    refs.extend(odd.into_iter().take(3));
    refs.push(String::new());
    prop_oneof![
        6 => select(refs).prop_map(|s| json!(s)),
        1 => strategies::json_scalar_or_shape().prop_map(|v| literal_json(&v)),
    ]
    .boxed()
}

/// A tool name as a client would send it: a fixture tool as the gateway names it, as the
/// upstream names it, or one that does not exist.
fn tool_name(v: &Vocabulary) -> BoxedStrategy<String> {
    let mut names: Vec<String> = v
        .tools
        .iter()
        .map(|(key, _)| format!("${{tools.{key}.name}}"))
        .collect();
    names.extend(
        v.tools
            .iter()
            .take(1)
            .map(|(_, original)| literal(original)),
    );
    names.push("no-such-tool".to_owned());
    select(names).boxed()
}

/// A JSON-RPC request id: mostly a small integer, then every other JSON type.
fn request_id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        5 => Just(Some(json!(1))),
        1 => Just(None),
        1 => "[a-z0-9-]{0,8}".prop_map(|s| Some(json!(s))),
        1 => select(vec![
            json!(0), json!(-1), json!(9_007_199_254_740_993_u64), json!(1.5), json!(""),
            json!("1"), json!(" 1"), json!("\u{0}"), json!("ü\u{202e}"), json!(null),
        ]).prop_map(|v| Some(literal_json(&v))),
        1 => strategies::json_scalar_or_shape().prop_map(|v| Some(literal_json(&v))),
    ]
}

/// A JSON-RPC request aimed at the fixtures, with one member sometimes broken: listings,
/// tool calls (mostly naming a fixture tool) and odd methods in about equal parts.
fn rpc_request(v: &Vocabulary) -> BoxedStrategy<Value> {
    let server_id = if v.contextforge_api {
        prop::option::of(server_id_value(v)).boxed()
    } else {
        Just(None).boxed()
    };
    let odd_params = || strategies::json_scalar_or_shape().prop_map(|v| Some(literal_json(&v)));
    let scoped_params = server_id
        .clone()
        .prop_map(|s| s.map(|s| json!({"server_id": s})));
    #[rustfmt::skip]
    let listing = (
        select(&["tools/list", "tools/list", "resources/list", "prompts/list", "ping",
                 "initialize", "notifications/initialized"][..]).prop_map(|m| json!(m)),
        prop_oneof![3 => Just(None), 3 => scoped_params, 1 => odd_params()],
    );
    // Now and then a `_meta`, which a gateway must pass on (the progress token it may replace).
    let meta = prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!({"io.mcpgw.fuzz/trace": "t-1", "progressToken": "p-1"}))),
    ];
    let call = (tool_name(v), server_id, meta).prop_map(|(name, sid, meta)| {
        let mut p = json!({"name": name, "arguments": {"q": 1}});
        if let Some(sid) = sid {
            p["server_id"] = sid;
        }
        if let Some(meta) = meta {
            p["_meta"] = meta;
        }
        Some(p)
    });
    let calling = (
        Just(json!("tools/call")),
        prop_oneof![6 => call, 1 => Just(None), 1 => odd_params()],
    );
    let odd = (
        prop_oneof![
            1 => tool_name(v).prop_map(|t| json!(t)),
            1 => strategies::rpc_method().prop_map(|m| json!(literal(&m))),
        ],
        prop_oneof![1 => Just(None), 1 => odd_params()],
    );
    let method_and_params = prop_oneof![4 => listing, 4 => calling, 1 => odd];
    let jsonrpc =
        prop_oneof![8 => Just(Some(json!("2.0"))), 1 => Just(None), 1 => Just(Some(json!("1.0")))];
    (jsonrpc, request_id(), method_and_params)
        .prop_map(|(jsonrpc, id, (method, params))| {
            let mut m = Map::new();
            let members = [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", Some(method)),
                ("params", params),
            ];
            for (k, v) in members {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

/// A request body: mostly one JSON-RPC request aimed at the fixtures; then any JSON, raw
/// bytes, a batch of requests (which may mix servers' tools), members given twice, and now
/// and then an outsized value.
pub fn body(v: &Vocabulary) -> BoxedStrategy<Body> {
    prop_oneof![
        28 => rpc_request(v).prop_map(Body::Json),
        8 => strategies::rpc_value().prop_map(|v| Body::Json(literal_json(&v))),
        4 => strategies::rpc_body()
            .prop_map(|b| Body::Raw(literal(&String::from_utf8_lossy(&b)))),
        2 => prop::collection::vec(rpc_request(v), 1..=3).prop_map(|b| Body::Json(Value::Array(b))),
        2 => mixing_batch(v),
        2 => duplicate_members(v),
        1 => outsized(v),
    ]
    .boxed()
}

/// How a value outgrows what a gateway expects.
#[derive(Debug, Clone, Copy)]
enum Outsized {
    /// Arrays nested this deep: a recursive parser runs out of stack, or of its recursion
    /// limit, and must refuse rather than fail.
    Deep(usize),
    /// A string argument this long: a body limit refuses it, or the call goes through intact.
    Long(usize),
}

/// A tool call with one outsized argument, smallest first (shrinking keeps the smallest that
/// still fails). Written as text: a value nested this deep is never built as a `Value`.
fn outsized(v: &Vocabulary) -> BoxedStrategy<Body> {
    let sizes = vec![
        Outsized::Deep(64),
        Outsized::Long(100_000),
        Outsized::Deep(1_000),
        Outsized::Deep(100_000),
        Outsized::Long(2_100_000),
    ];
    (tool_name(v), select(sizes))
        .prop_map(|(tool, size)| {
            let value = match size {
                Outsized::Deep(n) => format!("{}{}", "[".repeat(n), "]".repeat(n)),
                Outsized::Long(n) => format!("\"{}\"", "a".repeat(n)),
            };
            Body::Raw(format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"q":{value}}}}}}}"#
            ))
        })
        .boxed()
}

/// A batch of two or three tool calls of fixture tools, as often of different servers' tools
/// as of one's (C-SCOPE-01: a gateway that scopes a batch by its first call runs the others
/// wherever they are).
fn mixing_batch(v: &Vocabulary) -> BoxedStrategy<Body> {
    prop::collection::vec(tool_name(v), 2..=3)
        .prop_map(|tools| {
            let calls = tools
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                           "params": {"name": name, "arguments": {"q": 1}}})
                })
                .collect();
            Body::Json(Value::Array(calls))
        })
        .boxed()
}

/// A request whose `method` or `params` is given twice, the second naming a tool (JSON text
/// with duplicate names, RFC 8259 §4: which one a parser keeps is its own choice, and a gateway
/// that checks one and forwards the other lets a call through). The `id` is given once, so the
/// answer's id is never in doubt.
fn duplicate_members(v: &Vocabulary) -> BoxedStrategy<Body> {
    (tool_name(v), any::<bool>())
        .prop_map(|(tool, twice_method)| {
            let call = format!(r#"{{"name":"{tool}","arguments":{{"q":1}}}}"#);
            Body::Raw(if twice_method {
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{call}}}"#
                )
            } else {
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"no-such-tool"}},"params":{call}}}"#
                )
            })
        })
        .boxed()
}

/// A caller: where tokens can be minted, admin, a server-scoped token with a random permission
/// list and the odd ones; otherwise one of the callers the target has.
pub fn caller(v: &Vocabulary) -> BoxedStrategy<Caller> {
    match &v.callers {
        Callers::Fixed(list) if !list.is_empty() => {
            // Credentials the target issued, three times as often as none or a forged one.
            let mut weighted = Vec::new();
            for c in list {
                let n = if matches!(c, Caller::Anonymous | Caller::Forged | Caller::Revoked) {
                    1
                } else {
                    3
                };
                weighted.extend(std::iter::repeat_n(c.clone(), n));
            }
            select(weighted).boxed()
        }
        Callers::Fixed(_) => Just(Caller::Anonymous).boxed(),
        Callers::Minted => {
            // Mostly none; else any list, the read-only MCP token a client is given to list
            // tools (it may use the endpoints and read, never execute), or one that may read
            // servers and not use them (D7).
            let owned = |l: &[&str]| l.iter().map(|p| p.to_string()).collect::<Vec<_>>();
            let perms = prop_oneof![
                6 => Just(Vec::new()),
                2 => strategies::permissions(),
                1 => Just(owned(&["tools.read", "servers.use"])),
                1 => Just(owned(&["servers.read"])),
            ];
            let server = prop_oneof![
                4 => select(v.servers.clone()).prop_map(Some),
                1 => Just(None),
            ];
            let mut callers: Vec<(u32, BoxedStrategy<Caller>)> = vec![
                (2, Just(Caller::Admin).boxed()),
                (
                    6,
                    (server, perms.clone())
                        .prop_map(|(server, permissions)| Caller::Scoped {
                            server,
                            permissions,
                        })
                        .boxed(),
                ),
                (
                    1,
                    perms
                        .prop_map(|permissions| Caller::EmptyServerScope { permissions })
                        .boxed(),
                ),
                (1, Just(Caller::Anonymous).boxed()),
                (1, Just(Caller::EmptyBearer).boxed()),
                (1, Just(Caller::IpRestricted).boxed()),
                (1, Just(Caller::Revoked).boxed()),
                (1, Just(Caller::QueryToken).boxed()),
            ];
            if v.other_user {
                callers.push((2, Just(Caller::OtherUser).boxed()));
            }
            if v.signs_tokens {
                let names: Vec<&'static str> = BAD_CLAIMS.iter().map(|(n, _)| *n).collect();
                callers.push((1, select(names).prop_map(Caller::BadClaims).boxed()));
            }
            prop::strategy::Union::new_weighted(callers).boxed()
        }
    }
}

/// Extra request headers (lowercase name, value).
type Headers = Vec<(String, String)>;

/// `Origin` values of pages the gateway's users never loaded (DNS rebinding, MCP transports
/// §security-warning).
pub const FOREIGN_ORIGINS: &[&str] = &["http://rebinding.example", "https://evil.example:8443"];

/// Extra headers: mostly none; else a foreign `Origin`, an `MCP-Protocol-Version` from the
/// past, the future or none at all, forwarding headers that claim another client or host, an
/// `Accept` a client should not send, or a session id the campaign opened elsewhere or ended.
fn headers(v: &Vocabulary) -> impl Strategy<Value = Vec<(String, String)>> + use<> {
    let one = |name: &'static str, values: &'static [&'static str]| {
        select(values).prop_map(move |v| vec![(name.to_owned(), v.to_owned())])
    };
    let session: BoxedStrategy<Vec<(String, String)>> = if v.sessions.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        select(session_keys(v))
            .prop_map(|k| vec![("mcp-session-id".to_owned(), saved(&k))])
            .boxed()
    };
    let mut options: Vec<(u32, BoxedStrategy<Headers>)> = vec![
        (12, Just(Vec::new()).boxed()),
        (8, session),
        (1, one("mcp-session-id", &[PLANTED_SESSION]).boxed()),
        (2, one("origin", FOREIGN_ORIGINS).boxed()),
        (
            1,
            one(
                "mcp-protocol-version",
                &["2024-11-05", "2099-01-01", "", "2025-06-18, 2025-03-26"],
            )
            .boxed(),
        ),
        (
            2,
            one(
                "x-forwarded-for",
                &["10.0.0.1", "127.0.0.1", "10.0.0.1, 127.0.0.1"],
            )
            .boxed(),
        ),
        (
            1,
            one("x-forwarded-host", &[FORWARDED_HOST, "localhost"]).boxed(),
        ),
        // An `Accept` that leaves out one of the two types a Streamable HTTP client must list
        // (MCP transports §2.1), or names neither: a refusal (406) is fine, a leak or a 5xx not.
        (
            1,
            one(
                "accept",
                &["application/json", "text/event-stream", "*/*", "text/html"],
            )
            .boxed(),
        ),
        (
            1,
            one(
                "forwarded",
                &["for=127.0.0.1;host=forwarded-host.example;proto=https"],
            )
            .boxed(),
        ),
    ];
    if !v.hop_headers.is_empty() {
        // A forged hop, with a session (a stateful endpoint serves nothing without one) or
        // without.
        let hop = forged_hop(v);
        let forged = if v.sessions.is_empty() {
            Just(hop).boxed()
        } else {
            prop::option::of(select(session_keys(v)))
                .prop_map(move |s| {
                    let mut h = hop.clone();
                    h.extend(s.map(|k| ("mcp-session-id".to_owned(), saved(&k))));
                    h
                })
                .boxed()
        };
        options.push((2, forged));
    }
    prop::strategy::Union::new_weighted(options)
}

/// The worker a case goes to. A single worker draws nothing here, so its campaigns are those
/// of before `via` existed.
fn worker(v: &Vocabulary) -> BoxedStrategy<usize> {
    if v.workers > 1 {
        (0..v.workers).boxed()
    } else {
        Just(0).boxed()
    }
}

/// The template of the id of the campaign's session saved as `key`.
fn saved(key: &str) -> String {
    format!("${{saved.{key}}}")
}

/// The names of the campaign's sessions.
fn session_keys(v: &Vocabulary) -> Vec<String> {
    v.sessions.iter().map(|(k, _)| k.clone()).collect()
}

/// The gateway's hop headers, forged: claiming the one address an IP-restricted token allows.
fn forged_hop(v: &Vocabulary) -> Vec<(String, String)> {
    v.hop_headers
        .iter()
        .map(|(n, val)| {
            let val = val.replace("{client}", RESTRICTED_TO);
            (n.to_ascii_lowercase(), literal(&val))
        })
        .collect()
}

/// A case that uses a session on an exact server endpoint: `POST` (or `GET`, `DELETE`), mostly
/// on the endpoint of the server that opened it, else on any server's, by any caller, through
/// any worker, sometimes with a forged hop. This is where a session must be served to its
/// owner only, on its own endpoint only, not at all once ended, and where a stateful endpoint
/// serves anything at all.
fn on_own_session(v: &Vocabulary) -> Option<BoxedStrategy<Case>> {
    let template = v.server_mcp.clone()?;
    let sessions = v.sessions.clone();
    if sessions.is_empty() {
        return None;
    }
    let via = worker(v);
    let method = prop_oneof![8 => Just("POST"), 1 => Just("GET"), 1 => Just("DELETE")];
    let hop = forged_hop(v);
    let with_hop = if hop.is_empty() {
        Just(false).boxed()
    } else {
        prop_oneof![2 => Just(false), 1 => Just(true)].boxed()
    };
    let elsewhere = prop_oneof![2 => Just(None), 1 => select(v.servers.clone()).prop_map(Some)];
    Some(
        (
            select(sessions),
            elsewhere,
            method,
            caller(v),
            rpc_request(v),
            via,
            with_hop,
        )
            .prop_map(
                move |((key, own), elsewhere, method, caller, body, via, with_hop)| {
                    let server = elsewhere.unwrap_or(own);
                    let field = if template.contains("{id}") {
                        "id"
                    } else {
                        "name"
                    };
                    let segment = format!("${{servers.{server}.{field}}}");
                    let mut headers = vec![("mcp-session-id".to_owned(), saved(&key))];
                    if with_hop {
                        headers.extend(hop.iter().cloned());
                    }
                    Case {
                        method,
                        path: crate::manifest::fill(&template, &segment, &segment),
                        caller,
                        body: (method == "POST").then_some(Body::Json(body)),
                        headers,
                        via,
                        absolute_form: false,
                    }
                },
            )
            .boxed(),
    )
}

/// Any case: mostly one from every generator; on a target with sessions, one in ten uses a
/// session on its own endpoint.
pub fn case(v: &Vocabulary) -> BoxedStrategy<Case> {
    let mut options = vec![(18, any_case(v))];
    if let Some(own) = on_own_session(v) {
        options.push((2, own));
    }
    if let Some(claim) = claiming_the_allowed_address(v) {
        options.push((1, claim));
    }
    options.push((1, with_protocol_version(v)));
    // Now and then in absolute form: a guard that reads only origin-form targets lets its dot
    // segments and encodings through (D8).
    options.push((
        1,
        any_case(v)
            .prop_map(|c| Case {
                absolute_form: true,
                ..c
            })
            .boxed(),
    ));
    options.push((2, on_exact_endpoint(v)));
    if let Some(restricted) = restricted_token_calls(v) {
        options.push((1, restricted));
    }
    if options.len() == 1 {
        return options.remove(0).1;
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// A token restricted to one address ([`Caller::IpRestricted`]) sent from the harness's with a
/// header that claims that address: `X-Forwarded-For`, `Forwarded`, or the gateway's own hop
/// headers forged (with a session, on a stateful target); a listing or a call on an exact
/// endpoint. A gateway that believes the header from anyone serves it (issue 5421, D3).
fn claiming_the_allowed_address(v: &Vocabulary) -> Option<BoxedStrategy<Case>> {
    if !matches!(v.callers, Callers::Minted) {
        return None;
    }
    let mut claims: Vec<Vec<(String, String)>> = vec![
        vec![("x-forwarded-for".to_owned(), RESTRICTED_TO.to_owned())],
        vec![("forwarded".to_owned(), format!("for={RESTRICTED_TO}"))],
    ];
    let hop = forged_hop(v);
    if !hop.is_empty() {
        claims.push(hop);
    }
    let session = if v.sessions.is_empty() {
        Just(None).boxed()
    } else {
        prop::option::of(select(session_keys(v))).boxed()
    };
    let via = worker(v);
    Some(
        (
            select(v.exact_endpoints()),
            select(claims),
            session,
            rpc_request(v),
            via,
        )
            .prop_map(|(path, mut headers, session, body, via)| {
                headers.extend(session.map(|k| ("mcp-session-id".to_owned(), saved(&k))));
                Case {
                    method: "POST",
                    path,
                    caller: Caller::IpRestricted,
                    body: Some(Body::Json(body)),
                    headers,
                    via,
                    absolute_form: false,
                }
            })
            .boxed(),
    )
}

/// A request to an exact MCP endpoint with an `MCP-Protocol-Version` header: one the target
/// must refuse (from the future, empty, a list) or an old one (MCP transports
/// §protocol-version-header).
fn with_protocol_version(v: &Vocabulary) -> BoxedStrategy<Case> {
    let versions = &[
        FUTURE_PROTOCOL_VERSION,
        "",
        "2024-11-05",
        "2025-06-18, 2025-03-26",
    ][..];
    (
        select(v.exact_endpoints()),
        select(versions),
        caller(v),
        rpc_request(v),
        worker(v),
    )
        .prop_map(|(path, version, caller, body, via)| Case {
            method: "POST",
            path,
            caller,
            body: Some(Body::Json(body)),
            headers: vec![("mcp-protocol-version".to_owned(), version.to_owned())],
            via,
            absolute_form: false,
        })
        .boxed()
}

/// Any body and headers sent to an exact endpoint (`/rpc`, `/mcp`, a server's), mostly
/// `POST`, else the `GET` that opens a stream or the `DELETE` that ends a session: where what a
/// body says (a method named twice, a batch) and what a method may do are decided.
fn on_exact_endpoint(v: &Vocabulary) -> BoxedStrategy<Case> {
    let method = prop_oneof![6 => Just("POST"), 1 => Just("GET"), 1 => Just("DELETE")];
    (
        select(v.exact_endpoints()),
        method,
        caller(v),
        body(v),
        headers(v),
        worker(v),
    )
        .prop_map(|(path, method, caller, body, headers, via)| Case {
            method,
            path,
            caller,
            body: (method == "POST").then_some(body),
            headers,
            via,
            absolute_form: false,
        })
        .boxed()
}

/// A restricted token (to one server, or to listing: `tools.read` and `servers.use`, or
/// both) asks an exact endpoint to run a tool in every form a body can take: a plain
/// `tools/call`, `method` named twice, a batch of several servers' calls, the legacy form (the
/// tool's name as the method). Whatever form it takes, no tool outside its server runs, and
/// none at all for a token that may not execute (C-SCOPE-01, C-RPC-16).
fn restricted_token_calls(v: &Vocabulary) -> Option<BoxedStrategy<Case>> {
    if !matches!(v.callers, Callers::Minted) {
        return None;
    }
    let lister = || vec!["tools.read".to_owned(), "servers.use".to_owned()];
    let caller = prop_oneof![
        select(v.servers.clone()).prop_map(|s| (Some(s), Vec::new())),
        prop::option::of(select(v.servers.clone())).prop_map(move |s| (s, lister())),
    ]
    .prop_map(|(server, permissions)| Caller::Scoped {
        server,
        permissions,
    });
    let legacy = tool_name(v).prop_map(|tool| {
        Body::Json(json!({"jsonrpc": "2.0", "id": 1, "method": tool, "params": {"q": 1}}))
    });
    let plain = tool_name(v).prop_map(|tool| {
        Body::Json(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": {"q": 1}}}))
    });
    let body = prop_oneof![plain, duplicate_members(v), mixing_batch(v), legacy];
    Some(
        (select(v.exact_endpoints()), caller, body, worker(v))
            .prop_map(|(path, caller, body, via)| Case {
                method: "POST",
                path,
                caller,
                body: Some(body),
                headers: Vec::new(),
                via,
                absolute_form: false,
            })
            .boxed(),
    )
}

/// A case from every generator.
fn any_case(v: &Vocabulary) -> BoxedStrategy<Case> {
    let target = if v.rebuildable {
        let method = prop_oneof![
            6 => Just("POST"), 2 => Just("GET"), 1 => Just("DELETE"), 1 => Just("PUT")
        ];
        (method, path(v)).boxed()
    } else {
        let read_or_post = prop_oneof![7 => Just("POST"), 2 => Just("GET")];
        prop_oneof![
            9 => (read_or_post, path(v)),
            1 => (Just("DELETE"), select(v.exact_endpoints())),
        ]
        .boxed()
    };
    let via = worker(v);
    (target, caller(v), body(v), headers(v), via)
        .prop_map(|((method, path), caller, body, headers, via)| Case {
            method,
            path,
            caller,
            body: matches!(method, "POST" | "PUT").then_some(body),
            headers,
            via,
            absolute_form: false,
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::subst;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    #[test]
    fn mutations_keep_query_and_root() {
        assert_eq!(
            mutate(
                "/servers/S/mcp",
                &[Mutation::Climb(0, "x".to_owned(), "..")]
            ),
            "/x/../servers/S/mcp"
        );
        assert_eq!(mutate("/rpc?x=1", &[Mutation::TrailingSlash]), "/rpc/?x=1");
        assert_eq!(mutate("/", &[Mutation::Append(0, ";")]), "/;");
        assert_eq!(mutate("/a/b", &[Mutation::DoubleSlash(7)]), "/a//b");
    }

    /// A configured world's vocabulary: LiteLLM's URL shapes, fixed callers.
    pub(crate) fn static_vocabulary() -> Vocabulary {
        Vocabulary {
            servers: vec!["alpha".into(), "beta".into()],
            tools: vec![
                ("a.echo".into(), "echo".into()),
                ("b.vault".into(), "vault".into()),
            ],
            server_mcp: Some("/mcp/{name}".into()),
            server_metadata: None,
            general: vec!["/mcp".into()],
            contextforge_api: false,
            routes: Vec::new(),
            near_misses: Vec::new(),
            callers: Callers::Fixed(vec![Caller::Admin, Caller::Forged, Caller::Anonymous]),
            rebuildable: false,
            sessions: vec![
                ("session_alpha".into(), "alpha".into()),
                ("session_ended".into(), "alpha".into()),
            ],
            other_user: false,
            workers: 1,
            hop_headers: Vec::new(),
            signs_tokens: false,
        }
    }

    /// The default world on a cluster: hop headers to forge, two workers, with sessions (and
    /// a second user) or without.
    fn cluster_vocabularies() -> [Vocabulary; 2] {
        let mut bare = Vocabulary::contextforge_default();
        bare.workers = 2;
        bare.hop_headers = vec![
            ("x-hop-client".into(), "{client}".into()),
            ("x-hop-sig".into(), "${not-a-reference}".into()),
        ];
        let mut stateful = bare.clone();
        stateful.sessions = vec![("session_A".into(), "A".into())];
        stateful.other_user = true;
        [bare, stateful]
    }

    #[test]
    fn cluster_vocabularies_use_every_worker_and_forge_hops() {
        let mut runner = TestRunner::deterministic();
        for v in cluster_vocabularies() {
            let strategy = case(&v);
            let cases: Vec<Case> = (0..2_000)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .collect();
            assert!(cases.iter().any(|c| c.via == 1) && cases.iter().all(|c| c.via < 2));
            let forged = cases
                .iter()
                .find(|c| c.headers.iter().any(|(n, _)| n == "x-hop-client"))
                .expect("a forged hop");
            assert!(
                forged
                    .headers
                    .contains(&("x-hop-client".to_owned(), RESTRICTED_TO.to_owned()))
                    && forged
                        .headers
                        .contains(&("x-hop-sig".to_owned(), "$${not-a-reference}".to_owned())),
                "{forged:?}"
            );
            assert_eq!(
                cases.iter().any(|c| c.caller == Caller::OtherUser),
                v.other_user
            );
        }
    }

    #[test]
    fn outsized_values_and_odd_accepts_are_generated() {
        let mut runner = TestRunner::deterministic();
        let strategy = case(&Vocabulary::contextforge_default());
        let (mut deep, mut long, mut accepts) = (0, 0, BTreeSet::new());
        for _ in 0..20_000 {
            let c = strategy.new_tree(&mut runner).unwrap().current();
            if let Some(Body::Raw(text)) = &c.body {
                deep += usize::from(text.contains(&"[".repeat(100_000)));
                long += usize::from(text.len() > 2_000_000);
            }
            accepts.extend(
                c.headers
                    .iter()
                    .filter(|(k, _)| k == "accept")
                    .map(|(_, v)| v.clone()),
            );
        }
        assert!(deep > 0 && long > 0, "deep {deep}, long {long}");
        assert!(accepts.contains("application/json"), "{accepts:?}");
        assert!(accepts.contains("text/event-stream"), "{accepts:?}");
    }

    #[test]
    fn generated_templates_parse() {
        let mut runner = TestRunner::deterministic();
        let [bare, stateful] = cluster_vocabularies();
        for v in [
            Vocabulary::contextforge_default(),
            static_vocabulary(),
            bare,
            stateful,
        ] {
            let strategy = case(&v);
            for _ in 0..2_000 {
                let c = strategy.new_tree(&mut runner).unwrap().current();
                subst::parse(&c.path).unwrap_or_else(|e| panic!("{e}: {c:?}"));
                if let Some(Body::Json(b)) = &c.body {
                    for s in subst::json_strings(b) {
                        subst::parse(&s).unwrap_or_else(|e| panic!("{e}: {c:?}"));
                    }
                }
            }
        }
    }

    #[test]
    fn a_configured_world_gets_its_own_url_shapes_only() {
        let mut runner = TestRunner::deterministic();
        let strategy = case(&static_vocabulary());
        let paths: Vec<String> = (0..3_000)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current().path)
            .collect();
        assert!(
            paths.iter().any(|p| p.starts_with("/mcp/${servers.beta.")),
            "{paths:?}"
        );
        // The oracle's raw paths may hold any word; server routes of ContextForge's shape and
        // its general endpoints may not.
        let leaked: Vec<&String> = paths
            .iter()
            .filter(|p| {
                ["/servers/${", "/sse/${", "/ws/${"]
                    .iter()
                    .any(|r| p.contains(r))
                    || p.as_str() == "/rpc"
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "ContextForge routes leaked in: {leaked:?}"
        );
        // Nothing that could change a declared world.
        let cases: Vec<Case> = (0..3_000)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        assert!(cases.iter().all(|c| c.method != "PUT"));
        assert!(
            cases
                .iter()
                .filter(|c| c.method == "DELETE")
                .all(|c| c.path == "/mcp" || c.path.starts_with("/mcp/${servers.")),
            "DELETE only to exact MCP endpoints"
        );
    }
}
