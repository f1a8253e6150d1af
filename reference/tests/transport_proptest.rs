//! No input makes the transport panic or answer 5xx: raw paths (traversal material, server ids
//! and names, encodings, arbitrary printable bytes), methods, headers (credentials, `Accept`,
//! `Content-Type`, session ids, protocol versions, `Origin`) and bodies (arbitrary bytes,
//! JSON-RPC-shaped values, batches) against `app()`, on a stateless JSON gateway and on a
//! stateful, permissive, SSE-mode gateway mounted under a root path.
//!
//! 10,000 cases by default; `PROPTEST_CASES` overrides. A failure's seed is kept in
//! `transport_proptest.proptest-regressions` next to this file (commit it).

use std::sync::OnceLock;

use mcpgw_reference::Settings;
use mcpgw_reference::testing::TestGateway;
use mcpgw_reference::testing::mcp::TwoServers;
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const DEFAULT_CASES: u32 = 10_000;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The gateways and credentials every case draws from, built once.
struct World {
    rt: Runtime,
    /// [stateless JSON, stateful SSE permissive under `/p`]
    gateways: [TestGateway; 2],
    servers: [TwoServers; 2],
    /// Tokens per gateway: admin, scoped to S, an ordinary user.
    tokens: [[String; 3]; 2],
    /// A live session on the stateful gateway's `/mcp`, owned by the administrator.
    session: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let stateless = Settings::default_for_tests();
        let mut stateful = Settings::default_for_tests();
        stateful.use_stateful_sessions = true;
        stateful.json_response_enabled = false;
        stateful.mcp_require_auth = Some(false);
        stateful.app_root_path = "/p".into();
        let (gateways, servers, tokens, session) = rt.block_on(async {
            let mut gateways = Vec::new();
            let mut servers = Vec::new();
            let mut tokens = Vec::new();
            for settings in [stateless, stateful] {
                let gw = TestGateway::with_settings(settings).await;
                let f = gw.two_servers().await;
                gw.create_user("user@example.com", false).await;
                tokens.push([
                    gw.admin.clone(),
                    gw.scoped(&f.s),
                    gw.token("user@example.com", false, Some(vec![]), None),
                ]);
                servers.push(f);
                gateways.push(gw);
            }
            let session = gateways[1].open_session("/p/mcp", &tokens[1][0]).await;
            (gateways, servers, tokens, session)
        });
        World {
            gateways: gateways.try_into().expect("two"),
            servers: servers.try_into().expect("two"),
            tokens: tokens.try_into().expect("two"),
            session,
            rt,
        }
    })
}

/// Path material: placeholders `{S}`, `{T}` become the servers' ids, `{R}` the gateway's root
/// path.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "servers", "mcp", "{S}", "{T}", "alpha", "beta", "rpc", "p", "", ".", "..", "%2e",
            "%2E%2e", ".%2e", "%252e%252e", "%25252e", "a%2fb", "a%2Fb", "a%5cb", "%5C", "%00",
            "%0a", "%c0%ae%c0%ae", "%ef%bc%8e%ef%bc%8e", "%e2%80%a5", "{S}.", "{S};x=1", ";",
            "%3b", "xyz", "AABB", "hello%20world", ".well-known", "oauth-protected-resource",
            "sse", "message", "tools", "admin", "%", "%zz", "%ff", "~", "*",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9%._~;:@!$&'()*+,=-]{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let structured = (
        prop::collection::vec(segment(), 0..6),
        any::<bool>(),
        prop::option::of("[a-z=&%0-9]{0,10}"),
    )
        .prop_map(|(segments, trailing, query)| {
            let mut p = format!("/{}", segments.join("/"));
            if trailing {
                p.push('/');
            }
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
            p
        });
    prop_oneof![
        3 => structured,
        1 => "/[ -~]{0,40}",
        12 => prop::sample::select(vec!["{R}/mcp", "{R}/mcp/", "{R}/servers/{S}/mcp",
            "{R}/servers/alpha/mcp/", "{R}/servers/{T}/mcp", "{R}/servers/beta/mcp"])
            .prop_map(str::to_owned),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,16}".prop_map(Value::from),
        prop::sample::select(vec![
            "{S}",
            "{T}",
            "alpha",
            "alpha-tool",
            "beta-tool",
            "2.0"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Usually `right`, sometimes absent, sometimes `wrong`.
fn mostly(
    right: impl Strategy<Value = Value> + 'static,
    wrong: impl Strategy<Value = Value> + 'static,
) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        20 => right.prop_map(Some),
        1 => Just(None),
        1 => wrong.prop_map(Some),
    ]
}

/// A JSON-RPC-shaped message: every field present, absent, right or wrong.
fn message() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        12 => prop::sample::select(vec![
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "resources/list",
            "resources/read",
            "prompts/list",
            "prompts/get",
            "notifications/initialized",
            "roots/list",
            "logging/setLevel",
            "completion/complete",
            "extensions/x",
            "alpha-tool",
            "1abc",
        ])
        .prop_map(Value::from),
        1 => json_value(),
    ];
    let params = prop_oneof![
        Just(json!({})),
        Just(json!({"name": "alpha-tool", "arguments": {"a": 1}})),
        Just(json!({"name": "beta-tool"})),
        Just(json!({"server_id": "{T}"})),
        Just(json!({"uri": "x://y"})),
        Just(json!({"protocolVersion": "2025-06-18", "capabilities": {}})),
        json_value(),
    ];
    (
        mostly(Just(json!("2.0")), json_value()),
        mostly(prop_oneof![Just(json!(1)), Just(json!("a"))], json_value()),
        mostly(method, json_value()),
        prop::option::weighted(0.8, params),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params, result)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
                ("result", result),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..128),
        12 => message().prop_map(|m| m.to_string().into_bytes()),
        1 => prop::collection::vec(message(), 0..3).prop_map(|b| Value::Array(b).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// A header value: mostly absent or one a client would send (so that most cases get past the
/// header checks and reach dispatch), sometimes a wrong one, sometimes anything printable.
fn header_choice(
    absent: u32,
    good_weight: u32,
    good: &'static [&'static str],
    bad: &'static [&'static str],
) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        absent => Just(None),
        good_weight => prop::sample::select(good).prop_map(|s| Some(s.to_owned())),
        1 => prop::sample::select(bad).prop_map(|s| Some(s.to_owned())),
        1 => "[ -~]{0,30}".prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Input {
    stateful: bool,
    method: &'static str,
    path: String,
    /// 0..3: a token of the world; 3: garbage; 4: empty bearer; 5: none.
    credential: usize,
    accept: Option<String>,
    content_type: Option<String>,
    /// 0: none, 1: the live session, 2: arbitrary text.
    session_kind: u8,
    session_text: String,
    protocol_version: Option<String>,
    origin: Option<String>,
    body: Vec<u8>,
}

fn input() -> impl Strategy<Value = Input> {
    // Weighted towards requests a client would send, so that most cases reach dispatch; each
    // part is sometimes wrong on its own.
    (
        any::<bool>(),
        prop::sample::select(vec![
            "POST", "POST", "POST", "POST", "POST", "POST", "POST", "POST", "POST", "POST", "GET",
            "GET", "DELETE", "PUT", "OPTIONS", "HEAD", "PATCH",
        ]),
        path(),
        prop::sample::select(vec![0usize, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 5]),
        header_choice(
            2,
            12,
            &[
                "application/json, text/event-stream",
                "application/json",
                "text/event-stream",
                "*/*",
            ],
            &["text/html", "application/json;q=0", ""],
        ),
        header_choice(
            3,
            12,
            &["application/json", "application/json; charset=utf-8"],
            &["text/plain"],
        ),
        (
            prop::sample::select(vec![0u8, 1, 1, 1, 1, 1, 1, 2]),
            "[a-zA-Z0-9_.:/ -]{0,140}",
        ),
        header_choice(
            20,
            6,
            &["2025-03-26", "2025-06-18", "2025-11-25"],
            &["1999-01-01"],
        ),
        header_choice(
            40,
            6,
            &["http://localhost:3000"],
            &["http://evil.example", "null"],
        ),
        body(),
    )
        .prop_map(
            |(
                stateful,
                method,
                path,
                credential,
                accept,
                content_type,
                (session_kind, session_text),
                protocol_version,
                origin,
                body,
            )| Input {
                stateful,
                method,
                path,
                credential,
                accept,
                content_type,
                session_kind,
                session_text,
                protocol_version,
                origin,
                body,
            },
        )
}

/// Send one input; `Err` describes a 5xx. Inputs `http` cannot even put in a request are skipped.
async fn run(w: &World, i: &Input) -> Result<(), String> {
    let g = usize::from(i.stateful);
    let gw = &w.gateways[g];
    let root = if i.stateful { "/p" } else { "" };
    let fill = |s: &str| {
        s.replace("{S}", &w.servers[g].s)
            .replace("{T}", &w.servers[g].t)
            .replace("{R}", root)
    };
    let mut r = gw
        .req(i.method, &fill(&i.path))
        .raw_body(fill(&String::from_utf8_lossy(&i.body)));
    if !i.body.is_empty() && std::str::from_utf8(&i.body).is_err() {
        r = r.raw_body(i.body.clone());
    }
    match i.credential {
        n @ 0..=2 => r = r.bearer(&w.tokens[g][n]),
        3 => r = r.bearer("garbage"),
        4 => r = r.header("authorization", "Bearer "),
        _ => {}
    }
    // A GET on the live session would open its stream, which never ends by itself.
    let session = match i.session_kind {
        1 if i.method != "GET" => Some(w.session.clone()),
        2 => Some(i.session_text.clone()),
        _ => None,
    };
    let optional = [
        ("accept", &i.accept),
        ("content-type", &i.content_type),
        ("mcp-session-id", &session),
        ("mcp-protocol-version", &i.protocol_version),
        ("origin", &i.origin),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            r = r.header(name, v);
        }
    }
    let Some(response) = gw.try_send(r).await else {
        return Ok(());
    };
    if response.status.is_server_error() {
        return Err(format!("{} {}", response.status, response.text()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_input_makes_the_transport_panic_or_answer_5xx(i in input()) {
        let w = world();
        let outcome = w.rt.block_on(run(w, &i));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }
}
