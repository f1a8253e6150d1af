//! proptest strategies for the inputs gateways get wrong: raw paths with odd encodings, server
//! ids and names, permission lists with wildcards, and JSON-RPC bodies.
//!
//! They lean towards the interesting: most path segments come from a vocabulary of route
//! keywords, ids and encodings of `.`, `/`, `\` and NUL, so that the rare shapes (a dot segment
//! hidden behind two rounds of encoding, a server id that differs only in case) turn up in
//! thousands of cases rather than billions.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// Route keywords, first segments of every family the oracle knows, and near misses.
pub const KEYWORDS: &[&str] = &[
    "servers",
    "sse",
    "ws",
    "rpc",
    "mcp",
    "tools",
    "resources",
    "prompts",
    "gateways",
    "health",
    "metrics",
    "openapi.json",
    "docs",
    "redoc",
    ".well-known",
    "search",
    "admin",
    "tokens",
    "roots",
    "mcp-servers",
    "plugins",
    "v1",
    "call",
    "preview",
    "subscribe",
    "state",
    "toggle",
    "message",
    "test",
    "teams",
    "reset",
    "oauth-protected-resource",
    "Servers",
    "RPC",
    "rpcx",
    "mcp-x",
    "healthz",
    "sse2",
    "adminx",
    "search2",
];

/// Encoded and literal forms of the characters path handling gets wrong.
pub const TRICKY: &[&str] = &[
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2e.",
    "%252e",
    "%252e%252e",
    "%25252e%25252e",
    "%c0%ae",
    "%c0%ae%c0%ae",
    "%ef%bc%8e",
    "%EF%BC%8E%EF%BC%8E",
    "．．",
    "%2f",
    "%2F",
    "a%2fb",
    "%252f",
    "%5c",
    "%5C",
    "a%5cb",
    "\\",
    "%00",
    "a%00",
    "%0a",
    "%7f",
    "%1f",
    ";",
    "a;b",
    ";x=1",
    "%3b",
    "%3f",
    "a%3fb",
    "%23",
    "%20",
    "hello%20world",
    "%25",
    "%zz",
    "%2",
    "%",
    "~",
    "@",
    ":",
    "a.b",
    "a%2eb",
    "...",
    ".a",
    "%41",
    "%e2%80%a8",
    "é",
    "%c3%a9",
    "*",
    "'",
];

/// A server id: 32 lowercase hex, sometimes upper-cased or in the dashed UUID form.
pub fn server_id() -> impl Strategy<Value = String> {
    ("[0-9a-f]{32}", 0..6u8).prop_map(|(hex, form)| match form {
        0 => hex.to_ascii_uppercase(),
        1 => format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ),
        _ => hex,
    })
}

/// A fixed pool of ids, so that a token's server and a path's server often coincide.
pub const POOL_IDS: &[&str] = &[
    "0123456789abcdef0123456789abcdef",
    "fedcba9876543210fedcba9876543210",
    "0123456789ABCDEF0123456789ABCDEF",
];

/// A fixed pool of names (D4).
pub const POOL_NAMES: &[&str] = &["alpha", "beta-2", "Alpha", "a", "x_y"];

/// A server name as D4 allows it, or a near miss.
pub fn server_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9][a-zA-Z0-9_-]{0,12}[a-zA-Z0-9]",
        1 => "[a-zA-Z0-9]",
        1 => "[-_][a-z]{1,4}",
        1 => "[a-z]{1,4}[-_]",
    ]
}

/// A server id or name, from the pools or fresh.
pub fn server_ref() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(POOL_IDS).prop_map(str::to_owned),
        2 => select(POOL_NAMES).prop_map(str::to_owned),
        1 => server_id(),
        1 => server_name(),
    ]
}

/// One raw path segment.
pub fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(KEYWORDS).prop_map(str::to_owned),
        4 => select(TRICKY).prop_map(str::to_owned),
        3 => server_ref(),
        1 => Just(String::new()),
        2 => "[a-zA-Z0-9._~!$&'()*+,;=:@%-]{1,6}",
        1 => "(%[0-9a-fA-F]{2}){1,3}",
        1 => (select(TRICKY), select(KEYWORDS)).prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

/// A raw request target: optional root and `/v1` prefixes, segments, an optional trailing
/// slash and query.
pub fn raw_path() -> impl Strategy<Value = String> {
    let prefix =
        prop_oneof![6 => Just(""), 2 => Just("/v1"), 1 => Just("/gw"), 1 => Just("/v1/v1")];
    let query = prop_oneof![
        6 => Just(String::new()),
        1 => Just("?x=1".to_owned()),
        1 => Just("?a=../..&b=%2e%2e".to_owned()),
    ];
    (
        prefix,
        prop::collection::vec(segment(), 0..5),
        any::<bool>(),
        query,
    )
        .prop_map(|(prefix, segs, slash, query)| {
            let mut p = prefix.to_owned();
            for s in segs {
                p.push('/');
                p.push_str(&s);
            }
            if slash || p.is_empty() {
                p.push('/');
            }
            p + &query
        })
}

/// A path a gateway routes: a well-formed route with a server reference in it.
pub fn route_path() -> impl Strategy<Value = String> {
    let server_route = (
        select(&["servers", "sse", "ws"][..]),
        server_ref(),
        select(
            &[
                "",
                "/",
                "/mcp",
                "/mcp/",
                "/tools",
                "/sse",
                "/message",
                "/resources",
                "/prompts",
                "/tools/t/call",
                "/state",
                "/x/y",
            ][..],
        ),
    )
        .prop_map(|(k, s, rest)| format!("/{k}/{s}{rest}"));
    let plain = (
        select(KEYWORDS),
        select(
            &[
                "",
                "/",
                "/x",
                "/x/",
                "/x/y",
                "/preview",
                "/subscribe",
                "/reset",
                "/test",
            ][..],
        ),
    )
        .prop_map(|(k, rest)| format!("/{k}{rest}"));
    let prefix = prop_oneof![4 => Just(""), 1 => Just("/v1")];
    (
        prefix,
        prop_oneof![server_route, plain, Just("/".to_owned())],
    )
        .prop_map(|(prefix, p)| {
            if p == "/" {
                format!("{prefix}/")
            } else {
                format!("{prefix}{p}")
            }
        })
}

/// An HTTP method the permission map knows, or one it does not.
pub fn method() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => select(&["GET", "POST", "PUT", "DELETE"][..]),
        1 => select(&["PATCH", "HEAD", "OPTIONS"][..]),
    ]
}

/// Permission names: the real ones, wildcards, and near misses.
pub const PERMISSIONS: &[&str] = &[
    "tools.read",
    "tools.create",
    "tools.update",
    "tools.delete",
    "tools.execute",
    "tools.preview",
    "resources.read",
    "resources.create",
    "resources.update",
    "resources.delete",
    "prompts.read",
    "prompts.create",
    "prompts.update",
    "servers.read",
    "servers.create",
    "servers.use",
    "servers.update",
    "servers.delete",
    "gateways.read",
    "gateways.create",
    "gateways.update",
    "gateways.delete",
    "tokens.read",
    "tokens.create",
    "plugins.read",
    "admin.metrics",
    "a2a.read",
    "metrics:read",
    "*",
    "tools.*",
    "servers.*",
    "resources.*",
    "prompts.*",
    "gateways.*",
    "admin.*",
    "Tools.read",
    "tools",
    "tools.",
    ".*",
    "*.*",
    "tools.read.*",
    "servers.use ",
    "",
];

/// A token's permission list.
pub fn permissions() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(select(PERMISSIONS).prop_map(str::to_owned), 0..4)
}

/// A permission the map may require.
pub fn permission_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(PERMISSIONS).prop_map(str::to_owned),
        1 => "[a-z]{1,6}[.:][a-z_]{1,8}",
    ]
}

/// A JSON value of the kinds `params`, `id` and the body itself may wrongly be.
pub fn json_scalar_or_shape() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        Just(json!(1.0)),
        Just(json!(1e20)),
        "[a-z0-9 ._/<>-]{0,8}".prop_map(Value::String),
        Just(json!([])),
        Just(json!([1, 2])),
        Just(json!({})),
        Just(json!({"a": 1})),
        Just(json!({"server_id": "other"})),
    ]
}

/// A JSON-RPC method name, valid or not.
pub fn rpc_method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["tools/list", "tools/call", "initialize", "ping", "resources/read", "prompts/get", "notifications/initialized", "foo/bar"][..]).prop_map(str::to_owned),
        2 => "[a-zA-Z][a-zA-Z0-9_./-]{0,10}",
        1 => "[0-9<_./-][a-z]{0,4}",
        1 => Just(String::new()),
        1 => Just("a".repeat(128)),
        1 => Just("a".repeat(129)),
        1 => Just("tools/list\n".to_owned()),
        1 => Just("töols".to_owned()),
    ]
}

/// A JSON-RPC body as a JSON value: each member present, missing, or of a wrong type.
pub fn rpc_value() -> impl Strategy<Value = Value> {
    let jsonrpc = prop_oneof![
        6 => Just(Some(json!("2.0"))),
        1 => Just(None),
        1 => Just(Some(json!("1.0"))),
        1 => Just(Some(json!(2.0))),
    ];
    let id = prop_oneof![
        2 => Just(None),
        3 => any::<i32>().prop_map(|i| Some(json!(i))),
        2 => "[a-z0-9-]{0,8}".prop_map(|s| Some(json!(s))),
        2 => json_scalar_or_shape().prop_map(Some),
    ];
    let method = prop_oneof![
        8 => rpc_method().prop_map(|m| Some(json!(m))),
        1 => Just(None),
        1 => json_scalar_or_shape().prop_map(Some),
    ];
    let params = prop_oneof![
        2 => Just(None),
        3 => prop::collection::btree_map("[a-z_]{1,6}", json_scalar_or_shape(), 0..3)
            .prop_map(|m| Some(Value::Object(m.into_iter().collect()))),
        2 => json_scalar_or_shape().prop_map(Some),
    ];
    let body = (jsonrpc, id, method, params).prop_map(|(jsonrpc, id, method, params)| {
        let mut m = Map::new();
        for (k, v) in [
            ("jsonrpc", jsonrpc),
            ("id", id),
            ("method", method),
            ("params", params),
        ] {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        }
        Value::Object(m)
    });
    prop_oneof![9 => body, 1 => json_scalar_or_shape()]
}

/// A JSON-RPC body as bytes: mostly serialised values, sometimes broken JSON.
pub fn rpc_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => rpc_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => select(&["", "{", "[]", "null", "{\"jsonrpc\":\"2.0\",}", "\u{feff}{}", "{\"id\":NaN}", "{\"a\":\"\\ud800\"}", " {} ", "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1,\"id\":{}}"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ]
}
