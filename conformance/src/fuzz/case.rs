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
    /// The platform administrator with an admin bypass and no scopes.
    Admin,
    /// An admin-bypass token with `scopes`: `server` is a fixture server key (`None`: no
    /// server restriction, only permissions).
    Scoped {
        server: Option<&'static str>,
        permissions: Vec<String>,
    },
    /// `scopes.server_id: ""`, which means unrestricted (C-SCOPE-15).
    EmptyServerScope { permissions: Vec<String> },
    /// No `Authorization` header.
    Anonymous,
}

impl Caller {
    /// The fixture server key the token is restricted to.
    pub fn server_scope(&self) -> Option<&'static str> {
        match self {
            Caller::Scoped { server, .. } => *server,
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
}

impl Case {
    /// The scenario request for this case; `token` is the key of its token fixture.
    pub fn request(&self, token: Option<String>) -> Request {
        let mut request = Request {
            method: self.method.to_owned(),
            path: self.path.clone(),
            token,
            headers: Default::default(),
            json: None,
            body: None,
        };
        match &self.body {
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

/// A fixture server (or a near miss) as a path segment.
#[rustfmt::skip]
const SERVER_SEGMENTS: &[&str] = &[
    "${servers.A.id}", "${servers.B.id}", "${servers.C.id}",
    "${servers.B.name}", "${servers.A.name}", "${servers.C.name}",
    "${servers.A.id|upper}", "${servers.B.id|dashed}", "${servers.C.id|pct}",
    "${servers.B.name|upper}", "${servers.A.id|pct|pct}",
    "99999999999999999999999999999999",
];

/// What follows `/servers/{x}`.
#[rustfmt::skip]
const SERVER_RESTS: &[&str] = &[
    "/mcp", "/mcp/", "", "/", "/tools", "/resources", "/prompts", "/sse", "/message",
    "/mcp/x", "/x/y", "/.well-known/oauth-protected-resource",
];

/// General endpoints (D1) and the root.
#[rustfmt::skip]
const GENERAL: &[&str] = &[
    "/rpc", "/mcp", "/rpc", "/mcp", "/", "/rpc/", "/mcp/", "/health", "/sse", "/metrics",
    "/docs", "/openapi.json", "/redoc",
];

/// Near misses of general endpoints and routes a scoped token may not reach.
#[rustfmt::skip]
const NEAR_MISSES: &[&str] = &[
    "/rpcx", "/rpc/x", "/mcp-servers/x", "/mcp-x", "/metrics/reset", "/healthz", "/sse2",
    "/tools", "/servers", "/servers/", "/admin/", "/prompts", "/RPC", "/mcp/sse",
    "/mcp/message", "/search", "/teams", "/gateways", "/resources", "/tokens", "/roots",
    "//", "/rpc//", "/sse/x/y", "/docsx", "/health/x",
];

/// What follows `/.well-known/oauth-protected-resource/servers/{x}`.
#[rustfmt::skip]
const WELL_KNOWN_RESTS: &[&str] = &["/mcp", "", "/", "/mcp/", "/x", "/sse", "/mcp/extra"];

/// Dot segments, spelled every way D8 names and some it does not.
#[rustfmt::skip]
const DOTS: &[&str] = &[
    "..", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%252e%252e", "%c0%ae%c0%ae",
    "%ef%bc%8e%ef%bc%8e", "．．", ".", "%2e", "%252e", "..;", "..%00", "..%2f", "..%5c",
];

/// What a traversal climbs out of.
#[rustfmt::skip]
const CLIMB_FROM: &[&str] = &["x", "servers", "${servers.A.id}", "mcp", "v1", "rpc"];

/// Bytes and separators glued onto a segment.
#[rustfmt::skip]
const SUFFIXES: &[&str] = &[
    ";", ";x=1", "%2f", "%2F", "%5c", "%00", "%2e", "%252f", "%3b", "%20", "%0a", "/", ".",
];

fn server_route() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        2 => select(&SERVER_SEGMENTS[..6]),
        1 => select(SERVER_SEGMENTS),
    ];
    let rest = prop_oneof![2 => select(&["/mcp", "/mcp/"][..]), 1 => select(SERVER_RESTS)];
    let servers = (segment.clone(), rest).prop_map(|(s, rest)| format!("/servers/{s}{rest}"));
    let stream = (
        select(&["sse", "ws"][..]),
        segment,
        select(&["", "/", "/x"][..]),
    )
        .prop_map(|(k, s, rest)| format!("/{k}/{s}{rest}"));
    prop_oneof![5 => servers, 1 => stream]
}

fn well_known_route() -> impl Strategy<Value = String> {
    (select(SERVER_SEGMENTS), select(WELL_KNOWN_RESTS))
        .prop_map(|(s, rest)| format!("/.well-known/oauth-protected-resource/servers/{s}{rest}"))
}

/// A route before mutations.
fn base_route() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => server_route(),
        3 => select(GENERAL).prop_map(str::to_owned),
        2 => select(NEAR_MISSES).prop_map(str::to_owned),
        1 => well_known_route(),
        1 => strategies::route_path().prop_map(|p| literal(&p)),
        1 => strategies::raw_path().prop_map(|p| literal(&p)),
    ]
}

/// A change to one place of a path. Places are slots taken modulo the number of places, so
/// they shrink towards the first.
#[derive(Debug, Clone)]
enum Mutation {
    /// Insert `{from}/{dot}` before a segment: a normalising gateway climbs back out.
    Climb(usize, &'static str, &'static str),
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

fn mutation() -> impl Strategy<Value = Mutation> {
    let tricky = prop_oneof![
        select(DOTS).prop_map(str::to_owned),
        select(strategies::TRICKY).prop_map(literal),
    ];
    prop_oneof![
        4 => (slot(), select(CLIMB_FROM), select(DOTS))
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
                segs.insert(at, (*from).to_owned());
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
pub fn path() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![5 => Just(""), 1 => Just("/v1")];
    let query = prop_oneof![8 => Just(""), 1 => Just("?x=1"), 1 => Just("?a=../..&b=%2e%2e")];
    (
        prefix,
        base_route(),
        prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(mutation(), 1..3)],
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
}

/// `params.server_id` values: fixture servers by id and name, near misses, wrong types.
fn server_id_value() -> impl Strategy<Value = Value> {
    #[rustfmt::skip]
    let refs = select(&[
        "${servers.B.id}", "${servers.A.id}", "${servers.C.id}", "${servers.B.name}",
        "${servers.A.id|upper}", "${servers.C.id|dashed}", "", "99999999999999999999999999999999",
    ][..]);
    prop_oneof![
        6 => refs.prop_map(|s| json!(s)),
        1 => strategies::json_scalar_or_shape().prop_map(|v| literal_json(&v)),
    ]
}

/// A tool name as a client would send it: a fixture tool, or one that does not exist.
fn tool_name() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    let names = select(&[
        "${tools.ua.alpha.name}", "${tools.ub.beta.name}", "${tools.uc.gamma.name}", "alpha",
        "no-such-tool",
    ][..]);
    names.prop_map(str::to_owned)
}

/// A JSON-RPC request aimed at the fixtures, with one member sometimes broken.
fn rpc_request() -> impl Strategy<Value = Value> {
    #[rustfmt::skip]
    let method = prop_oneof![
        6 => select(&["tools/list", "tools/call", "tools/list", "tools/call", "ping",
                      "initialize", "resources/list", "prompts/list",
                      "notifications/initialized"][..]).prop_map(|m| json!(m)),
        1 => tool_name().prop_map(|t| json!(t)),
        1 => strategies::rpc_method().prop_map(|m| json!(literal(&m))),
    ];
    let call = (tool_name(), prop::option::of(server_id_value())).prop_map(|(name, sid)| {
        let mut p = json!({"name": name, "arguments": {"q": 1}});
        if let Some(sid) = sid {
            p["server_id"] = sid;
        }
        Some(p)
    });
    let params = prop_oneof![
        3 => Just(None),
        3 => server_id_value().prop_map(|s| Some(json!({"server_id": s}))),
        3 => call,
        1 => strategies::json_scalar_or_shape().prop_map(|v| Some(literal_json(&v))),
    ];
    let id = prop_oneof![
        5 => Just(Some(json!(1))),
        1 => Just(None),
        1 => "[a-z0-9-]{0,8}".prop_map(|s| Some(json!(s))),
        1 => strategies::json_scalar_or_shape().prop_map(|v| Some(literal_json(&v))),
    ];
    let jsonrpc =
        prop_oneof![8 => Just(Some(json!("2.0"))), 1 => Just(None), 1 => Just(Some(json!("1.0")))];
    (jsonrpc, id, method, params).prop_map(|(jsonrpc, id, method, params)| {
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
}

/// A request body.
pub fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        7 => rpc_request().prop_map(Body::Json),
        2 => strategies::rpc_value().prop_map(|v| Body::Json(literal_json(&v))),
        1 => strategies::rpc_body()
            .prop_map(|b| Body::Raw(literal(&String::from_utf8_lossy(&b)))),
    ]
}

/// A caller: admin, a server-scoped token with a random permission list, and the odd ones.
pub fn caller() -> impl Strategy<Value = Caller> {
    let perms = prop_oneof![3 => Just(Vec::new()), 1 => strategies::permissions()];
    let server = prop_oneof![
        4 => select(&["A", "B", "C"][..]).prop_map(Some),
        1 => Just(None),
    ];
    prop_oneof![
        2 => Just(Caller::Admin),
        6 => (server, perms.clone()).prop_map(|(server, permissions)| Caller::Scoped { server, permissions }),
        1 => perms.prop_map(|permissions| Caller::EmptyServerScope { permissions }),
        1 => Just(Caller::Anonymous),
    ]
}

/// Any case.
pub fn case() -> impl Strategy<Value = Case> {
    let method =
        prop_oneof![6 => Just("POST"), 2 => Just("GET"), 1 => Just("DELETE"), 1 => Just("PUT")];
    (method, path(), caller(), body()).prop_map(|(method, path, caller, body)| Case {
        method,
        path,
        caller,
        body: matches!(method, "POST" | "PUT").then_some(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::subst;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn mutations_keep_query_and_root() {
        assert_eq!(
            mutate("/servers/S/mcp", &[Mutation::Climb(0, "x", "..")]),
            "/x/../servers/S/mcp"
        );
        assert_eq!(mutate("/rpc?x=1", &[Mutation::TrailingSlash]), "/rpc/?x=1");
        assert_eq!(mutate("/", &[Mutation::Append(0, ";")]), "/;");
        assert_eq!(mutate("/a/b", &[Mutation::DoubleSlash(7)]), "/a//b");
    }

    #[test]
    fn generated_templates_parse() {
        let mut runner = TestRunner::deterministic();
        let strategy = case();
        for _ in 0..2_000 {
            let c = strategy.new_tree(&mut runner).unwrap().current();
            subst::parse(&c.path).unwrap_or_else(|e| panic!("{e}: {c:?}"));
            if let Some(Body::Json(v)) = &c.body {
                for s in subst::json_strings(v) {
                    subst::parse(&s).unwrap_or_else(|e| panic!("{e}: {c:?}"));
                }
            }
        }
    }
}
