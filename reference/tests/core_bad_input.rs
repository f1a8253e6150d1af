//! Bad input (issue 2, section 7): oversized bodies get 413, malformed JSON a clear 4xx, bad
//! UTF-8 in paths or headers a 4xx, absurd request heads 431 (on a real socket), and crafted
//! paths are refused before routing (D8, on REST and `/rpc` routes). Never a 5xx, never a panic.

use std::time::Duration;

use mcpgw_reference::Settings;
use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

fn no_5xx(r: &TestResponse, what: &str) {
    assert!(r.status.as_u16() < 500, "{what}: {} {}", r.status, r.text());
}

fn client_error(r: &TestResponse, what: &str) {
    assert!(
        r.status.is_client_error(),
        "{what}: {} {}",
        r.status,
        r.text()
    );
}

/// `ping` padded with spaces to exactly `len` bytes (still valid JSON).
fn padded_ping(len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&ping()).expect("JSON");
    body.resize(len, b' ');
    body
}

// ---- body size ------------------------------------------------------------------------------

async fn post_raw(gw: &TestGateway, path: &str, body: Vec<u8>) -> TestResponse {
    gw.send(
        gw.req("POST", path)
            .bearer(&gw.admin)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .raw_body(body),
    )
    .await
}

#[tokio::test]
async fn bodies_over_the_default_4_mib_get_413_everywhere() {
    let gw = TestGateway::new().await;
    let s = gw.create_server("alpha", json!({})).await;
    let too_big = padded_ping(4 * MIB + 1);
    for path in [
        "/rpc".to_owned(),
        "/mcp".to_owned(),
        format!("/servers/{s}/mcp"),
        "/servers".to_owned(),
        "/tools".to_owned(),
        "/tokens".to_owned(),
        "/gateways".to_owned(),
    ] {
        let r = post_raw(&gw, &path, too_big.clone()).await;
        assert_eq!(r.status, 413, "{path}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({"detail": "Request body too large"}),
            "{path}"
        );
    }
    // Exactly the limit is fine.
    let r = post_raw(&gw, "/rpc", padded_ping(4 * MIB)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn max_body_bytes_is_configurable() {
    let parsed =
        <Settings as clap::Parser>::try_parse_from(["mcpgw-reference", "--max-body-bytes", "1024"])
            .expect("the flag parses");
    assert_eq!(parsed.max_body_bytes, 1024);
    let mut settings = Settings::default_for_tests();
    settings.max_body_bytes = 1024;
    let gw = TestGateway::with_settings(settings).await;
    assert_eq!(post_raw(&gw, "/rpc", padded_ping(1024)).await.status, 200);
    for path in ["/rpc", "/mcp", "/servers"] {
        let r = post_raw(&gw, path, padded_ping(1025)).await;
        assert_eq!(r.status, 413, "{path}: {}", r.text());
    }
}

// ---- malformed JSON -------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_a_clear_4xx() {
    let gw = TestGateway::new().await;
    let deep = "[".repeat(100_000);
    let bodies: [&[u8]; 6] = [
        b"{",
        b"",
        b"\xff\xfe",
        b"{\"server\":",
        deep.as_bytes(),
        b"nul",
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
        // REST: 400 with a detail.
        let r = post_raw(&gw, "/servers", body.to_vec()).await;
        assert_eq!(r.status, 400, "REST {shown:?}: {}", r.text());
        assert!(
            r.json()["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("Malformed JSON body")),
            "{}",
            r.text()
        );
        // JSON-RPC endpoints: 400 Parse error.
        for path in ["/rpc", "/mcp"] {
            let r = post_raw(&gw, path, body.to_vec()).await;
            if path == "/mcp" && body.is_empty() {
                // An empty POST on the MCP transport carries no message: 202.
                assert_eq!(r.status, 202, "{path} empty: {}", r.text());
                continue;
            }
            assert_eq!(r.status, 400, "{path} {shown:?}: {}", r.text());
            assert_eq!(r.json()["error"]["code"], -32700, "{path} {shown:?}");
        }
    }
    // Well-formed JSON of the wrong shape is 422 on REST.
    for body in [
        json!({}),
        json!({"server": {}}),
        json!({"server": {"name": 5}}),
        json!([1]),
    ] {
        let r = post_raw(&gw, "/servers", serde_json::to_vec(&body).expect("JSON")).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
    }
}

// ---- bad UTF-8 in paths and headers ---------------------------------------------------------

/// Percent-encoded bytes that are not UTF-8, aimed at every route family.
const BAD_UTF8_PATHS: &[&str] = &[
    "/%ff",
    "/tools/%ff",
    "/tools/%c3%28",
    "/servers/%ff",
    "/servers/%ff/mcp",
    "/servers/%ed%a0%80/tools",
    "/rpc/%ff",
    "/rpc%ff",
    "/mcp/%ff",
    "/.well-known/%ff",
    "/.well-known/oauth-protected-resource/servers/%ff/mcp",
    "/.well-known/oauth-protected-resource/%c0%af",
    "/servers/%ff/.well-known/oauth-protected-resource",
    "/health%ff",
];

#[tokio::test]
async fn percent_encoded_invalid_utf8_paths_are_4xx_never_5xx() {
    let gw = TestGateway::new().await;
    let tokens = [Some(gw.admin.clone()), None, Some("garbage".to_owned())];
    for path in BAD_UTF8_PATHS {
        for method in ["GET", "POST", "DELETE"] {
            for tok in &tokens {
                let mut req = gw.req(method, path).json(&ping());
                if let Some(t) = tok {
                    req = req.bearer(t);
                }
                let r = gw.send(req).await;
                client_error(&r, &format!("{method} {path}"));
                assert!(
                    r.json().get("result").is_none(),
                    "{method} {path} was routed: {}",
                    r.text()
                );
            }
        }
    }
}

#[tokio::test]
async fn non_utf8_header_values_are_4xx_never_5xx() {
    let gw = TestGateway::new().await;
    let s = gw.create_server(
        "alpha",
        json!({"oauth_enabled": true, "oauth_config": {"authorization_servers": ["https://as.example.com"]}}),
    )
    .await;
    let targets = [
        ("GET", "/tools".to_owned()),
        ("POST", "/servers".to_owned()),
        ("POST", "/rpc".to_owned()),
        ("POST", "/mcp".to_owned()),
        ("POST", format!("/servers/{s}/mcp")),
        (
            "GET",
            format!("/.well-known/oauth-protected-resource/servers/{s}/mcp"),
        ),
        (
            "GET",
            format!("/servers/{s}/.well-known/oauth-protected-resource"),
        ),
        ("GET", "/health".to_owned()),
    ];
    let headers: [(&str, &[u8]); 11] = [
        ("authorization", b"Bearer \xff\xfe"),
        ("authorization", b"\xc3\x28"),
        ("cookie", b"jwt_token=\xff"),
        ("mcp-protocol-version", b"2025-06-18\xff"),
        ("x-forwarded-for", b"10.0.0.1\xff"),
        ("x-forwarded-proto", b"\xffhttps"),
        ("x-forwarded-host", b"h\xffst"),
        ("host", b"gw\xff.example.com"),
        ("accept", b"application/json\xff"),
        ("content-type", b"application/json\xff"),
        ("mcp-session-id", b"\xff\xff"),
    ];
    for (method, path) in &targets {
        for (name, value) in headers {
            // With the admin token (unless the header under test is the credential) and without.
            for with_token in [true, false] {
                let mut req = gw.req(method, path).json(&ping());
                if with_token && name != "authorization" && name != "cookie" {
                    req = req.bearer(&gw.admin);
                }
                let r = gw.send(req.header_bytes(name, value)).await;
                no_5xx(&r, &format!("{method} {path} {name}"));
                let needs_auth = !path.starts_with("/.well-known/")
                    && !path.contains("/.well-known/")
                    && path != "/health";
                if name == "authorization" && needs_auth {
                    assert_eq!(
                        r.status,
                        401,
                        "{method} {path}: a non-text credential: {}",
                        r.text()
                    );
                }
            }
        }
    }
    // A non-UTF-8 protocol version is refused with a readable message.
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .bearer(&gw.admin)
                .json(&ping())
                .header_bytes("mcp-protocol-version", b"\xff"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

// ---- D8 on REST and /rpc --------------------------------------------------------------------

/// Raw paths that a normalising layer would turn into `/rpc`, `/tools`, `/admin/...` or another
/// server. Each must be refused (400 or 404) as written, never routed.
const TRAVERSALS: &[&str] = &[
    "/tools/../rpc",
    "/tools/%2e%2e/rpc",
    "/tools/%2E%2e/rpc",
    "/tools/.%2e/rpc",
    "/tools/%252e%252e/rpc",
    "/tools/%25252e%25252e/rpc",
    "/tools/%ef%bc%8e%ef%bc%8e/rpc",
    "/%2e%2e/rpc",
    "/./rpc",
    "/rpc/.",
    "/rpc/./",
    "/v1/../rpc",
    "//rpc",
    "/rpc//",
    "/tools%2f..%2frpc",
    "/tools%5c..%5crpc",
    "/tools\\..\\rpc",
    "/rpc;x=1",
    "/rpc%3bx=1",
    "/rpc%00",
    "/rpc%0a",
    "/tools/%c0%ae%c0%ae/rpc",
    "/tools/%zz",
    "/.well-known/../rpc",
    "/.well-known/%2e%2e/rpc",
    "/health/../rpc",
];

#[tokio::test]
async fn d8_traversal_variants_never_reach_rest_or_rpc_routes() {
    let gw = TestGateway::new().await;
    for path in TRAVERSALS {
        for method in ["POST", "GET"] {
            let r = gw
                .try_send(gw.req(method, path).bearer(&gw.admin).json(&ping()))
                .await;
            let Some(r) = r else {
                // `http` refuses the target itself (e.g. a raw backslash): never sent.
                continue;
            };
            assert!(
                r.status == 400 || r.status == 404,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
            assert!(
                r.json().get("result").is_none(),
                "{method} {path} was routed: {}",
                r.text()
            );
        }
    }
}

/// The guard answers in the shape of the area a path aims at.
#[tokio::test]
async fn d8_rejections_name_the_reason() {
    let gw = TestGateway::new().await;
    for (path, status, detail) in [
        ("/tools/../rpc", 400, "Invalid request path: dot segment"),
        (
            "/tools/%2E%2e/rpc",
            400,
            "Invalid request path: dot segment",
        ),
        (
            "/tools%2frpc",
            400,
            "Invalid request path: encoded path separator",
        ),
        ("//rpc", 400, "Invalid request path: empty path segment"),
        ("/rpc;x", 400, "Invalid request path: path parameter"),
        ("/rpc%00", 400, "Invalid request path: control byte"),
        ("/rpc%ff", 400, "Invalid request path: path is not UTF-8"),
        ("/servers/../tools", 404, "Invalid server identifier"),
        ("/servers//mcp", 404, "Invalid server identifier"),
        (
            "/.well-known/oauth-protected-resource/servers/%2e%2e/mcp",
            404,
            "Invalid server_id format. Must be a valid UUID or server name.",
        ),
    ] {
        let r = gw
            .send(gw.req("POST", path).bearer(&gw.admin).json(&ping()))
            .await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.json(), json!({"detail": detail}), "{path}");
    }
}

#[tokio::test]
async fn d8_traversal_cannot_move_a_scoped_token_to_another_server() {
    let gw = TestGateway::new().await;
    let s = gw.create_server("alpha", json!({})).await;
    let t = gw.create_server("beta", json!({})).await;
    let scoped = gw.scoped(&s);
    for path in [
        format!("/servers/{s}/../{t}/mcp"),
        format!("/servers/{s}/%2e%2e/{t}/mcp"),
        format!("/servers/{s}%2f..%2f{t}/mcp"),
        format!("/servers/{s}/..%2f{t}/tools"),
        format!("/servers/{s}/%252e%252e/{t}/tools"),
        format!("/rpc/../servers/{t}/tools"),
        format!("/servers/{s}/../../tools"),
    ] {
        let r = gw
            .send(gw.req("POST", &path).bearer(&scoped).json(&ping()))
            .await;
        assert!(
            r.status == 400 || r.status == 404,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(r.json().get("result").is_none(), "{path}: {}", r.text());
    }
}

#[tokio::test]
async fn no_method_path_or_token_combination_yields_5xx() {
    let gw = TestGateway::new().await;
    let s = gw.create_server("alpha", json!({})).await;
    let tokens = [
        None,
        Some(gw.admin.clone()),
        Some(gw.scoped(&s)),
        Some("x.y.z".to_owned()),
    ];
    let mut paths: Vec<String> = TRAVERSALS
        .iter()
        .chain(BAD_UTF8_PATHS)
        .map(|p| (*p).to_owned())
        .collect();
    paths.extend(
        [
            "/",
            "/servers",
            "/servers/",
            "/servers/x",
            "/servers/x/mcp",
            "/servers/x/mcp/",
            "/servers//mcp",
            "/servers/a/b/mcp",
            "/mcp/foo",
            "/tools/x/state",
            "/tokens/x",
            "/teams/x/members/y",
            "/auth/email/admin/users/x",
            "/.well-known/oauth-protected-resource/servers/x",
            "/servers/hello%20world/mcp",
            "/%",
            "/%2",
            "/servers/%e2%80%ae/mcp",
            "/servers?include_inactive=%ff",
            "/servers?include_inactive=true&include_inactive=false",
            "/tools?%zz=%",
            "/servers/alpha/state?activate=%ff",
            "/.well-known/oauth-protected-resource?server_id=%ff",
            "/rpc?x=%00",
        ]
        .iter()
        .map(|p| (*p).to_owned()),
    );
    paths.push(format!("/servers/{s}/mcp"));
    for path in &paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
            for tok in &tokens {
                let mut req = gw
                    .req(method, path)
                    .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
                if let Some(t) = tok {
                    req = req.bearer(t);
                }
                if let Some(r) = gw.try_send(req).await {
                    no_5xx(&r, &format!("{method} {path}"));
                }
            }
        }
    }
}

// ---- the request head, on a real socket -----------------------------------------------------

/// Send `request` on a fresh connection to an embedded gateway and read what comes back.
async fn exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the embedded gateway");
    // The gateway may answer (and close) before it has read everything; that is its right.
    let _ = stream.write_all(&request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn absurd_request_heads_get_431_on_a_real_socket() {
    let gw = mcpgw_reference::spawn_embedded(Settings::default_for_tests())
        .await
        .expect("the embedded gateway starts");
    let addr = gw.addr;

    let ok = exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(status_line(&ok).starts_with("HTTP/1.1 200"), "{ok}");

    let huge_value = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let r = exchange(addr, huge_value.into_bytes()).await;
    assert!(
        status_line(&r).starts_with("HTTP/1.1 431"),
        "one huge header: {:?}",
        status_line(&r)
    );

    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let r = exchange(addr, many.into_bytes()).await;
    assert!(
        status_line(&r).starts_with("HTTP/1.1 431"),
        "500 headers: {:?}",
        status_line(&r)
    );

    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let r = exchange(addr, long_target.into_bytes()).await;
    let line = status_line(&r);
    assert!(
        line.starts_with("HTTP/1.1 431") || line.starts_with("HTTP/1.1 414"),
        "long target: {line:?}"
    );

    // Raw non-UTF-8 bytes in the request target and in a header value.
    let r = exchange(
        addr,
        b"GET /servers/\xff\xfe/mcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    let line = status_line(&r);
    assert!(
        line.starts_with("HTTP/1.1 4"),
        "raw bytes in the target: {line:?}"
    );
    let r = exchange(
        addr,
        b"GET /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(
        status_line(&r).starts_with("HTTP/1.1 401"),
        "raw bytes in a header: {:?}",
        status_line(&r)
    );

    // The gateway is still serving after all that.
    let ok = exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(status_line(&ok).starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test]
async fn oversized_body_gets_413_on_a_real_socket() {
    let mut settings = Settings::default_for_tests();
    settings.max_body_bytes = 64 * 1024;
    let gw = mcpgw_reference::spawn_embedded(settings)
        .await
        .expect("the embedded gateway starts");
    let body = padded_ping(64 * 1024 + 1);
    let mut request = format!(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gw.admin_token,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let r = exchange(gw.addr, request).await;
    assert!(
        status_line(&r).starts_with("HTTP/1.1 413"),
        "{:?}",
        status_line(&r)
    );
}

// ---- generated input ------------------------------------------------------------------------

mod generated {
    use super::*;
    use proptest::prelude::*;

    /// Path pieces that exercise the guard, the router and the classifiers together.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("servers".to_owned()),
            Just("mcp".to_owned()),
            Just("rpc".to_owned()),
            Just("tools".to_owned()),
            Just(".well-known".to_owned()),
            Just("oauth-protected-resource".to_owned()),
            Just("alpha".to_owned()),
            Just("0123456789abcdef0123456789abcdef".to_owned()),
            Just("..".to_owned()),
            Just("%2e%2E".to_owned()),
            Just("%25".to_owned()),
            Just("%2f".to_owned()),
            Just("%ff".to_owned()),
            Just("%c0%ae".to_owned()),
            Just("%00".to_owned()),
            Just(";x".to_owned()),
            Just(String::new()),
            "[a-zA-Z0-9_.~-]{1,12}",
            "(%[0-9a-fA-F]{2}){1,4}",
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        (prop::collection::vec(piece(), 0..6), any::<bool>()).prop_map(|(parts, slash)| {
            let mut p = format!("/{}", parts.join("/"));
            if slash {
                p.push('/');
            }
            p
        })
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::from),
            Just(json!("tools/list")),
            Just(json!("2.0")),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("jsonrpc".to_owned()),
                        Just("id".to_owned()),
                        Just("method".to_owned()),
                        Just("params".to_owned()),
                        Just("name".to_owned()),
                        Just("server_id".to_owned()),
                        Just("uri".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn no_generated_path_yields_5xx(p in path(), method in prop::sample::select(vec!["GET", "POST", "DELETE"]), scoped in any::<bool>()) {
            let rt = runtime();
            rt.block_on(async {
                let gw = TestGateway::new().await;
                let (s, _) = gw.alpha_and_beta().await;
                let token = if scoped { gw.scoped(&s) } else { gw.admin.clone() };
                if let Some(r) = gw.try_send(gw.req(method, &p).bearer(&token).json(&ping())).await {
                    prop_assert!(r.status.as_u16() < 500, "{} {}: {} {}", method, p, r.status, r.text());
                }
                Ok(())
            })?;
        }

        #[test]
        fn no_generated_rpc_body_yields_5xx(body in json_value(), scoped in any::<bool>()) {
            let rt = runtime();
            rt.block_on(async {
                let gw = TestGateway::new().await;
                let (s, _) = gw.alpha_and_beta().await;
                let token = if scoped { gw.scoped(&s) } else { gw.admin.clone() };
                for path in ["/rpc", "/mcp"] {
                    let r = gw.post_json(path, Some(&token), &body).await;
                    prop_assert!(r.status.as_u16() < 500, "{} {}: {} {}", path, body, r.status, r.text());
                    if let Some(code) = r.json()["error"]["code"].as_i64() {
                        prop_assert_ne!(code, 0, "D9: {}", r.text());
                    }
                }
                Ok(())
            })?;
        }
    }
}
