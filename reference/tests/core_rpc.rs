//! `POST /rpc` through `app()`: the envelope taxonomy (C-RPC-01..07), server scoping
//! (C-RPC-08..10, C-RPC-22, D2, D4), method errors (C-RPC-11..18), authentication on `/rpc`
//! (C-RPC-19..20), the protocol-version header (C-RPC-23), and D9/D12.

use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};

/// S ("alpha") with tool `s-tool`, T ("beta") with `t-tool`, and `loose-tool` on no server.
/// Every tool points at a closed port, so a call that runs comes back as an `isError` result.
struct Fixture {
    gw: TestGateway,
    s: String,
    t: String,
}

async fn fixture() -> Fixture {
    let gw = TestGateway::new().await;
    let (s, t) = gw.alpha_and_beta().await;
    gw.create_rest_tool("loose-tool", "http://127.0.0.1:9/l", json!({}))
        .await;
    Fixture { gw, s, t }
}

async fn raw(gw: &TestGateway, body: &str) -> TestResponse {
    gw.send(
        gw.req("POST", "/rpc")
            .bearer(&gw.admin)
            .header("content-type", "application/json")
            .raw_body(body.to_owned()),
    )
    .await
}

fn error_of(r: &TestResponse) -> (i64, String) {
    let e = &r.json()["error"];
    (
        e["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error code: {}", r.text())),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn invalid_request(r: &TestResponse, id: Value) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": id})
    );
}

// ---- envelope -------------------------------------------------------------------------------

#[tokio::test]
async fn c_rpc_01_unparseable_body_is_400_parse_error() {
    let gw = TestGateway::new().await;
    for body in ["{", "", "not json", "{\"jsonrpc\":\"2.0\",", "\u{0}"] {
        let r = raw(&gw, body).await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn c_rpc_02_batches_and_scalars_are_invalid_requests() {
    let gw = TestGateway::new().await;
    for body in [
        "[]",
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        "3",
        "\"ping\"",
        "null",
    ] {
        invalid_request(&raw(&gw, body).await, Value::Null);
    }
}

#[tokio::test]
async fn c_rpc_03_wrong_jsonrpc_version_keeps_the_id() {
    let gw = TestGateway::new().await;
    invalid_request(
        &raw(&gw, r#"{"jsonrpc":"1.0","method":"ping","id":1}"#).await,
        json!(1),
    );
    invalid_request(&raw(&gw, r#"{"method":"ping","id":"a"}"#).await, json!("a"));
}

#[tokio::test]
async fn c_rpc_04_params_must_be_an_object_null_means_empty() {
    let gw = TestGateway::new().await;
    invalid_request(
        &raw(
            &gw,
            r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":[1,2]}"#,
        )
        .await,
        json!(1),
    );
    invalid_request(
        &raw(
            &gw,
            r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":"x"}"#,
        )
        .await,
        json!(1),
    );
    let r = raw(
        &gw,
        r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":null}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "result": {}, "id": 1}));
}

#[tokio::test]
async fn c_rpc_05_ids_must_be_strings_or_integers() {
    let gw = TestGateway::new().await;
    for id in [r#"{"a":1}"#, "1.5", "[1]", "true"] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{id}}}"#);
        invalid_request(&raw(&gw, &body).await, Value::Null);
    }
    let r = raw(&gw, r#"{"jsonrpc":"2.0","method":"ping","id":"abc"}"#).await;
    assert_eq!(r.json()["id"], "abc");
}

#[tokio::test]
async fn c_rpc_06_method_names_are_validated() {
    let gw = TestGateway::new().await;
    for m in [
        "1abc".to_owned(),
        "<script>".to_owned(),
        "a".repeat(129),
        String::new(),
        "a b".to_owned(),
    ] {
        let body = json!({"jsonrpc": "2.0", "method": m, "id": 7}).to_string();
        invalid_request(&raw(&gw, &body).await, json!(7));
    }
    invalid_request(
        &raw(&gw, r#"{"jsonrpc":"2.0","method":5,"id":7}"#).await,
        json!(7),
    );
    // 128 characters is still a (legacy tool) name: the miss is -32601, not -32600.
    let body = json!({"jsonrpc": "2.0", "method": "a".repeat(128), "id": 7}).to_string();
    assert_eq!(error_of(&raw(&gw, &body).await).0, -32601);
}

#[tokio::test]
async fn c_rpc_07_notifications_get_a_response_with_a_generated_id() {
    let gw = TestGateway::new().await;
    let r = raw(
        &gw,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["result"], json!({}));
    assert!(
        v["id"].as_str().is_some_and(|s| !s.is_empty()),
        "id: {}",
        v["id"]
    );
}

// ---- server scoping -------------------------------------------------------------------------

#[tokio::test]
async fn c_rpc_08_scoped_token_naming_another_server_is_http_403() {
    let f = fixture().await;
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.scoped(&f.s),
            "tools/list",
            json!({"server_id": f.t}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"jsonrpc": "2.0", "error": {"code": -32003,
            "message": format!("Token not authorized for server: {}", f.t)}, "id": 1})
    );
}

#[tokio::test]
async fn c_rpc_08_and_d2_every_method_checks_params_server_id() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for (method, params) in [
        ("tools/call", json!({"name": "s-tool", "server_id": f.t})),
        ("resources/list", json!({"server_id": f.t})),
        ("resources/read", json!({"uri": "x", "server_id": f.t})),
        ("prompts/list", json!({"server_id": f.t})),
        ("prompts/get", json!({"name": "x", "server_id": f.t})),
        ("initialize", json!({"server_id": f.t})),
        ("ping", json!({"server_id": f.t})),
        ("s-tool", json!({"server_id": f.t})),
    ] {
        let r = f.gw.rpc("/rpc", &scoped, method, params).await;
        assert_eq!(r.status, 403, "{method}: {}", r.text());
        assert_eq!(error_of(&r).0, -32003, "{method}");
    }
}

#[tokio::test]
async fn c_rpc_09_scoped_token_lists_only_its_servers_tools() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let implicit = f.gw.rpc("/rpc", &scoped, "tools/list", json!({})).await;
    let explicit =
        f.gw.rpc("/rpc", &scoped, "tools/list", json!({"server_id": f.s}))
            .await;
    assert_eq!(implicit.json()["result"], explicit.json()["result"]);
    assert_eq!(
        f.gw.tool_names("/rpc", &scoped, json!({})).await,
        vec!["s-tool"]
    );
    assert!(
        implicit.json()["result"].get("nextCursor").is_none(),
        "{}",
        implicit.text()
    );
}

#[tokio::test]
async fn c_rpc_10_unscoped_token_lists_a_server_or_everything() {
    let f = fixture().await;
    assert_eq!(
        f.gw.tool_names("/rpc", &f.gw.admin, json!({"server_id": f.s}))
            .await,
        vec!["s-tool"]
    );
    assert_eq!(
        f.gw.tool_names("/rpc", &f.gw.admin, json!({})).await,
        vec!["loose-tool", "s-tool", "t-tool"]
    );
}

#[tokio::test]
async fn d4_params_server_id_resolves_names_and_scoping_compares_canonical_ids() {
    let f = fixture().await;
    assert_eq!(
        f.gw.tool_names("/rpc", &f.gw.admin, json!({"server_id": "beta"}))
            .await,
        vec!["t-tool"]
    );
    let scoped = f.gw.scoped(&f.s);
    assert_eq!(
        f.gw.tool_names("/rpc", &scoped, json!({"server_id": "alpha"}))
            .await,
        vec!["s-tool"]
    );
    let r =
        f.gw.rpc("/rpc", &scoped, "tools/list", json!({"server_id": "beta"}))
            .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        error_of(&r),
        (-32003, "Token not authorized for server: beta".to_owned())
    );
}

/// ContextForge's legacy "method = tool name" branch re-reads `params.server_id` and so drops the
/// token's server (C-RPC-22, gap G2): a tool of T runs for a token scoped to S. D2: the reference
/// keeps the scope and answers -32003 without running the tool.
#[tokio::test]
async fn c_rpc_22_vs_d2_legacy_tool_name_form_stays_inside_the_tokens_server() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for tool in ["t-tool", "loose-tool"] {
        let r = f.gw.rpc("/rpc", &scoped, tool, json!({"x": 1})).await;
        assert_eq!(r.status, 200, "{tool}: {}", r.text());
        assert_eq!(error_of(&r).0, -32003, "{tool}: {}", r.text());
        assert!(r.json().get("result").is_none(), "{tool} ran: {}", r.text());
    }
    // Its own server's tool runs (the upstream is down, so the result is an error result).
    let r = f.gw.rpc("/rpc", &scoped, "s-tool", json!({})).await;
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
    // Unscoped, the legacy form reaches any tool.
    let r = f.gw.rpc("/rpc", &f.gw.admin, "t-tool", json!({})).await;
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
}

#[tokio::test]
async fn d2_scoped_token_cannot_call_tools_outside_its_server() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for name in ["t-tool", "loose-tool"] {
        let r =
            f.gw.rpc("/rpc", &scoped, "tools/call", json!({"name": name}))
                .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(error_of(&r).0, -32003, "{name}: {}", r.text());
    }
    let r =
        f.gw.rpc("/rpc", &scoped, "tools/call", json!({"name": "s-tool"}))
            .await;
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
}

// ---- method errors --------------------------------------------------------------------------

#[tokio::test]
async fn c_rpc_11_tools_call_without_a_name() {
    let gw = TestGateway::new().await;
    let r = gw
        .rpc("/rpc", &gw.admin, "tools/call", json!({"arguments": {}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        error_of(&r),
        (-32602, "Missing tool name in parameters".to_owned())
    );
}

#[tokio::test]
async fn c_rpc_12_tools_call_of_an_unknown_tool() {
    let gw = TestGateway::new().await;
    let r = gw
        .rpc("/rpc", &gw.admin, "tools/call", json!({"name": "nope"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"jsonrpc": "2.0", "id": 1,
            "error": {"code": -32601, "message": "Tool not found: nope", "data": null}})
    );
}

#[tokio::test]
async fn c_rpc_13_unknown_method_is_method_not_found() {
    let gw = TestGateway::new().await;
    let r = gw.rpc("/rpc", &gw.admin, "foo/bar", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["error"],
        json!({"code": -32601, "message": "Method not found: foo/bar", "data": {}})
    );
}

#[tokio::test]
async fn c_rpc_14_extension_namespaces_are_method_not_found() {
    let gw = TestGateway::new().await;
    for m in ["extensions/anything", "io.modelcontextprotocol/x"] {
        let r = gw.rpc("/rpc", &gw.admin, m, json!({})).await;
        assert_eq!(error_of(&r), (-32601, format!("Method not found: {m}")));
    }
}

#[tokio::test]
async fn c_rpc_15_missing_uri_and_prompt_name() {
    let gw = TestGateway::new().await;
    let r = gw
        .rpc("/rpc", &gw.admin, "resources/read", json!({"other": 1}))
        .await;
    assert_eq!(
        r.json()["error"],
        json!({"code": -32602, "message": "Missing resource URI in parameters", "data": {"other": 1}})
    );
    let r = gw.rpc("/rpc", &gw.admin, "prompts/get", json!({})).await;
    assert_eq!(
        error_of(&r),
        (-32602, "Missing prompt name in parameters".to_owned())
    );
    let r = gw
        .rpc(
            "/rpc",
            &gw.admin,
            "resources/read",
            json!({"uri": "nope://x"}),
        )
        .await;
    assert_eq!(
        error_of(&r),
        (-32002, "Resource not found: nope://x".to_owned())
    );
    let r = gw
        .rpc("/rpc", &gw.admin, "prompts/get", json!({"name": "nope"}))
        .await;
    assert_eq!(error_of(&r), (-32002, "Prompt not found: nope".to_owned()));
}

#[tokio::test]
async fn c_rpc_16_method_permissions_are_checked_per_method() {
    let gw = TestGateway::new().await;
    let tok = gw.admin_with_scopes(json!({"permissions": ["resources.read"]}));
    let r = gw.rpc("/rpc", &tok, "tools/list", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["error"],
        json!({"code": -32003, "message": "Access denied", "data": {"method": "tools/list"}})
    );
    let r = gw.rpc("/rpc", &tok, "resources/list", json!({})).await;
    assert!(r.json().get("result").is_some(), "{}", r.text());
}

#[tokio::test]
async fn c_rpc_17_roots_list_needs_an_unrestricted_administrator() {
    let gw = TestGateway::new().await;
    gw.create_user("user@example.com", false).await;
    let user = gw.user_token("user@example.com", Some(vec![]), None);
    let r = gw.rpc("/rpc", &user, "roots/list", json!({})).await;
    assert_eq!(error_of(&r).0, -32003, "{}", r.text());
    let r = gw.rpc("/rpc", &gw.admin, "roots/list", json!({})).await;
    assert!(r.json().get("result").is_some(), "{}", r.text());
}

#[tokio::test]
async fn c_rpc_18_catch_all_namespaces_succeed_empty() {
    let gw = TestGateway::new().await;
    for m in [
        "logging/foo",
        "sampling/foo",
        "elicitation/foo",
        "roots/foo",
        "completion/foo",
    ] {
        let r = gw.rpc("/rpc", &gw.admin, m, json!({})).await;
        assert_eq!(r.json()["result"], json!({}), "{m}: {}", r.text());
    }
}

// ---- authentication on /rpc -----------------------------------------------------------------

fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}

#[tokio::test]
async fn c_rpc_19_missing_token_is_401_or_a_login_redirect() {
    let gw = TestGateway::new().await;
    let r = gw.post_json("/rpc", None, &ping()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Authorization token required"}));
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .header("accept", "text/html")
                .json(&ping()),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("location"), Some("/admin/login"));
}

#[tokio::test]
async fn c_rpc_20_cookie_only_authentication_is_refused_for_api_clients() {
    let gw = TestGateway::new().await;
    let r = gw
        .send(gw.req("POST", "/rpc").cookie_token(&gw.admin).json(&ping()))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"detail": "Cookie authentication not allowed for API requests. Use Authorization header."})
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // A browser may use the cookie.
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .cookie_token(&gw.admin)
                .header("accept", "text/html, application/json")
                .json(&ping()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_rpc_23_unsupported_protocol_version_header_is_400() {
    let gw = TestGateway::new().await;
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .bearer(&gw.admin)
                .header("mcp-protocol-version", "1999-01-01")
                .json(&ping()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"], "Bad Request");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Unsupported protocol version: 1999-01-01. Supported versions: "),
        "{v}"
    );
    for ok in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = gw
            .send(
                gw.req("POST", "/rpc")
                    .bearer(&gw.admin)
                    .header("mcp-protocol-version", ok)
                    .json(&ping()),
            )
            .await;
        assert_eq!(r.status, 200, "{ok}: {}", r.text());
    }
}

// ---- D9 and D12 -----------------------------------------------------------------------------

/// D9: every denial inside JSON-RPC is -32003 with a message, never code 0.
#[tokio::test]
async fn d9_jsonrpc_denials_use_32003_never_0() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let narrow =
        f.gw.admin_with_scopes(json!({"permissions": ["prompts.read"]}));
    for r in [
        f.gw.rpc("/rpc", &scoped, "tools/list", json!({"server_id": f.t}))
            .await,
        f.gw.rpc("/rpc", &scoped, "tools/call", json!({"name": "t-tool"}))
            .await,
        f.gw.rpc("/rpc", &scoped, "t-tool", json!({})).await,
        f.gw.rpc("/rpc", &narrow, "tools/list", json!({})).await,
        f.gw.rpc(
            &format!("/servers/{}/mcp", f.s),
            &narrow,
            "tools/list",
            json!({}),
        )
        .await,
        f.gw.rpc(
            &format!("/servers/{}/mcp", f.s),
            &scoped,
            "tools/call",
            json!({"name": "t-tool"}),
        )
        .await,
    ] {
        let (code, message) = error_of(&r);
        assert_eq!(code, -32003, "{}", r.text());
        assert!(!message.is_empty());
    }
}

/// D12: inside a server scope, a tool of another server and a tool that does not exist get the
/// same error, and the error names nothing of the other server.
#[tokio::test]
async fn d12_scoped_calls_do_not_reveal_whether_a_tool_exists_elsewhere() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let strip = |r: &TestResponse, name: &str| {
        let (code, message) = error_of(r);
        (code, message.replace(name, "<name>"))
    };
    for method in ["tools/call", "resources/read", "prompts/get"] {
        let key = if method == "resources/read" {
            "uri"
        } else {
            "name"
        };
        let existing =
            f.gw.rpc("/rpc", &scoped, method, json!({key: "t-tool"}))
                .await;
        let missing =
            f.gw.rpc("/rpc", &scoped, method, json!({key: "no-such-item"}))
                .await;
        assert_eq!(existing.status, missing.status, "{method}");
        assert_eq!(
            strip(&existing, "t-tool"),
            strip(&missing, "no-such-item"),
            "{method}"
        );
    }
    let a = f.gw.rpc("/rpc", &scoped, "t-tool", json!({})).await;
    let b = f.gw.rpc("/rpc", &scoped, "no-such-tool", json!({})).await;
    assert_eq!(
        strip(&a, "t-tool"),
        strip(&b, "no-such-tool"),
        "legacy form"
    );
    // Unknown and forbidden server ids get the same HTTP status and code.
    let unknown =
        f.gw.rpc(
            "/rpc",
            &scoped,
            "tools/list",
            json!({"server_id": "0123456789abcdef0123456789abcdef"}),
        )
        .await;
    let forbidden =
        f.gw.rpc("/rpc", &scoped, "tools/list", json!({"server_id": f.t}))
            .await;
    assert_eq!(unknown.status, forbidden.status);
    assert_eq!(error_of(&unknown).0, error_of(&forbidden).0);
}

#[tokio::test]
async fn c_rpc_06_params_over_256_kib_are_invalid_requests() {
    let gw = TestGateway::new().await;
    let big = "x".repeat(256 * 1024);
    let r = gw.rpc("/rpc", &gw.admin, "ping", json!({"pad": big})).await;
    invalid_request(&r, json!(1));
    let r = gw
        .rpc("/rpc", &gw.admin, "ping", json!({"pad": "x".repeat(1000)}))
        .await;
    assert_eq!(r.json()["result"], json!({}), "{}", r.text());
}

/// C-SCOPE-12 refuses `GET /gateways` to a server-scoped token; D2 narrows such a token to its
/// server everywhere, so the legacy `list_gateways` method must not list them either.
#[tokio::test]
async fn d2_scoped_token_cannot_list_gateways_over_rpc() {
    let f = fixture().await;
    let upstream =
        f.gw.state
            .store
            .gateways
            .insert(mcpgw_reference::store::Gateway {
                id: "0123456789abcdef0123456789abcdef".to_owned(),
                name: "hidden-upstream".to_owned(),
                slug: "hidden-upstream".to_owned(),
                url: "http://10.1.2.3/mcp".to_owned(),
                transport: "STREAMABLEHTTP".to_owned(),
                description: None,
                owned: mcpgw_reference::store::Owned::default(),
                enabled: true,
                capabilities: json!({}),
                tags: vec![],
                created_at: String::new(),
            })
            .await;
    assert!(upstream.is_ok());
    let r =
        f.gw.rpc("/rpc", &f.gw.admin, "list_gateways", json!({}))
            .await;
    assert!(r.text().contains("hidden-upstream"), "{}", r.text());
    let r =
        f.gw.rpc("/rpc", &f.gw.scoped(&f.s), "list_gateways", json!({}))
            .await;
    assert!(!r.text().contains("hidden-upstream"), "{}", r.text());
    assert_eq!(error_of(&r).0, -32003, "{}", r.text());
}

#[tokio::test]
async fn initialize_negotiates_the_protocol_version_on_rpc() {
    let gw = TestGateway::new().await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let r = gw
            .rpc(
                "/rpc",
                &gw.admin,
                "initialize",
                json!({"protocolVersion": asked, "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        let v = r.json();
        assert_eq!(
            v["result"]["protocolVersion"],
            answered,
            "{asked}: {}",
            r.text()
        );
        assert_eq!(v["result"]["serverInfo"]["name"], "mcpgw-reference");
        assert!(v["result"]["capabilities"]["tools"].is_object());
    }
}

#[tokio::test]
async fn c_rpc_19_login_redirect_respects_the_root_path() {
    let mut settings = mcpgw_reference::Settings::default_for_tests();
    settings.app_root_path = "/gw".to_owned();
    let gw = TestGateway::with_settings(settings).await;
    let r = gw
        .send(
            gw.req("POST", "/gw/rpc")
                .header("accept", "text/html")
                .json(&ping()),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("location"), Some("/gw/admin/login"));
}
