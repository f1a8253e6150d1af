//! Token scoping through `app()`: server restriction (C-SCOPE-01..12, D1, D4, D12), the
//! permission map (C-SCOPE-16..23, D7), IP and time restrictions (C-SCOPE-24..28, D3), teams and
//! ownership (C-SCOPE-33..36), and what scoping never does (C-SCOPE-37..39).
//!
//! "scoped(S)" is the checklist's token: the administrator's, `teams: null`, restricted to S, so
//! ownership never interferes unless a test says otherwise.

use mcpgw_reference::Settings;
use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};

/// Two public servers S ("alpha", tool `s-tool`) and T ("beta", tool `t-tool`).
struct Fixture {
    gw: TestGateway,
    s: String,
    t: String,
}

async fn fixture() -> Fixture {
    let gw = TestGateway::new().await;
    let (s, t) = gw.alpha_and_beta().await;
    Fixture { gw, s, t }
}

fn denied(r: &TestResponse, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text());
    assert_eq!(r.json(), json!({"detail": "Access denied"}), "{what}");
}

fn not_denied(r: &TestResponse, what: &str) {
    assert_ne!(r.status, 403, "{what}: {}", r.text());
}

async fn get(gw: &TestGateway, path: &str, token: &str) -> TestResponse {
    gw.send(gw.req("GET", path).bearer(token)).await
}

async fn call(gw: &TestGateway, method: &str, path: &str, token: &str) -> TestResponse {
    gw.send(
        gw.req(method, path)
            .bearer(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
    )
    .await
}

fn initialize_params() -> Value {
    json!({"protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "core-tests", "version": "1"}})
}

// ---- server restriction ---------------------------------------------------------------------

#[tokio::test]
async fn c_scope_01_server_scoped_token_may_post_rpc() {
    let f = fixture().await;
    let r =
        f.gw.rpc("/rpc", &f.gw.scoped(&f.s), "ping", json!({}))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "result": {}, "id": 1}));
    let r =
        f.gw.rpc("/rpc/", &f.gw.scoped(&f.s), "ping", json!({}))
            .await;
    assert_eq!(r.status, 200, "/rpc/: {}", r.text());
}

#[tokio::test]
async fn c_scope_02_scoped_token_may_initialize_its_own_server() {
    let f = fixture().await;
    let path = format!("/servers/{}/mcp", f.s);
    let r =
        f.gw.rpc(&path, &f.gw.scoped(&f.s), "initialize", initialize_params())
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["result"]["protocolVersion"].is_string(),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn c_scope_03_scoped_token_is_refused_another_servers_mcp() {
    let f = fixture().await;
    let path = format!("/servers/{}/mcp", f.t);
    let r =
        f.gw.rpc(&path, &f.gw.scoped(&f.s), "initialize", initialize_params())
            .await;
    denied(&r, "POST /servers/T/mcp");
    assert!(
        r.header("www-authenticate").is_none(),
        "a scoping 403 carries no challenge"
    );
}

#[tokio::test]
async fn c_scope_04_scoped_token_is_refused_another_servers_sse() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    denied(
        &get(&f.gw, &format!("/servers/{}/sse", f.t), &scoped).await,
        "GET /servers/T/sse",
    );
    // Its own server's SSE path passes scoping (the reference has no SSE transport: 404).
    not_denied(
        &get(&f.gw, &format!("/servers/{}/sse", f.s), &scoped).await,
        "GET /servers/S/sse",
    );
}

#[tokio::test]
async fn c_scope_05_scoped_token_is_refused_tools_listing() {
    let f = fixture().await;
    denied(
        &get(&f.gw, "/tools", &f.gw.scoped(&f.s)).await,
        "GET /tools",
    );
    // The same request without the restriction is fine, so the 403 is the restriction's.
    assert_eq!(get(&f.gw, "/tools", &f.gw.admin).await.status, 200);
}

#[tokio::test]
async fn c_scope_06_scoped_token_is_refused_the_server_list() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    denied(&get(&f.gw, "/servers", &scoped).await, "GET /servers");
    denied(&get(&f.gw, "/servers/", &scoped).await, "GET /servers/");
}

#[tokio::test]
async fn c_scope_07_health_and_docs_are_not_scoped() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let r = get(&f.gw, "/health", &scoped).await;
    assert_eq!(r.status, 200, "{}", r.text());
    for p in ["/openapi.json", "/docs", "/redoc"] {
        not_denied(&get(&f.gw, p, &scoped).await, p);
    }
}

#[tokio::test]
async fn c_scope_08_v1_prefix_is_stripped_before_matching() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    denied(
        &get(&f.gw, &format!("/v1/servers/{}/tools", f.t), &scoped).await,
        "GET /v1/servers/T/tools",
    );
    not_denied(
        &get(&f.gw, &format!("/v1/servers/{}/tools", f.s), &scoped).await,
        "GET /v1/servers/S/tools",
    );
}

#[tokio::test]
async fn c_scope_09_server_comparison_is_case_sensitive() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let upper = f.s.to_uppercase();
    denied(
        &call(&f.gw, "POST", &format!("/servers/{upper}/mcp"), &scoped).await,
        "POST /servers/<S upper>/mcp",
    );
    not_denied(
        &call(&f.gw, "POST", &format!("/servers/{}/mcp", f.s), &scoped).await,
        "POST /servers/S/mcp",
    );
}

#[tokio::test]
async fn c_scope_10_sse_and_ws_paths_name_a_server() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    denied(
        &get(&f.gw, &format!("/sse/{}", f.t), &scoped).await,
        "GET /sse/T",
    );
    denied(
        &get(&f.gw, &format!("/ws/{}?x=1", f.t), &scoped).await,
        "GET /ws/T?x=1",
    );
    not_denied(
        &get(&f.gw, &format!("/sse/{}", f.s), &scoped).await,
        "GET /sse/S",
    );
}

#[tokio::test]
async fn c_scope_11_scoped_token_may_use_the_global_mcp_endpoint() {
    let f = fixture().await;
    let r = call(&f.gw, "POST", "/mcp", &f.gw.scoped(&f.s)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"], json!({}));
}

#[tokio::test]
async fn c_scope_12_scoped_token_is_refused_admin_paths() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for p in [
        "/admin/",
        "/admin",
        "/admin/tools",
        "/gateways",
        "/tokens",
        "/resources",
        "/prompts",
        "/a2a",
        "/search",
    ] {
        denied(&get(&f.gw, p, &scoped).await, p);
    }
}

/// ContextForge admits `/mcp-servers/test` and `/metrics/reset` for a server-scoped token because
/// it matches general endpoints by prefix (C-SCOPE-13, gap G5). D1 matches whole paths, so the
/// reference refuses them; the permission-map half of C-SCOPE-13 holds unchanged.
#[tokio::test]
async fn c_scope_13_vs_d1_prefixes_of_general_endpoints_are_not_general() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for (m, p) in [("POST", "/mcp-servers/test"), ("POST", "/metrics/reset")] {
        denied(&call(&f.gw, m, p, &scoped).await, p);
    }
    // Unrestricted by server, the permission map decides: tools.read lacks gateways.read.
    let tools_read =
        f.gw.admin_with_scopes(json!({"permissions": ["tools.read"]}));
    denied(
        &call(&f.gw, "POST", "/mcp-servers/test", &tools_read).await,
        "tools.read on POST /mcp-servers/test",
    );
    let gateways_read =
        f.gw.admin_with_scopes(json!({"permissions": ["gateways.read"]}));
    not_denied(
        &call(&f.gw, "POST", "/mcp-servers/test", &gateways_read).await,
        "gateways.read on POST /mcp-servers/test",
    );
}

#[tokio::test]
async fn d1_general_endpoints_are_whole_paths_not_prefixes() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    for (m, p) in [
        ("POST", "/rpcXYZ"),
        ("GET", "/healthz"),
        ("GET", "/docsX"),
        ("GET", "/sseX"),
        ("GET", "/metrics/x"),
        ("POST", "/mcp/sse"),
        ("POST", "/mcp/message"),
        ("GET", "/openapi.json/x"),
    ] {
        denied(&call(&f.gw, m, p, &scoped).await, p);
    }
    for (m, p) in [
        ("POST", "/rpc"),
        ("POST", "/rpc/"),
        ("POST", "/mcp"),
        ("POST", "/mcp/"),
        ("GET", "/health/"),
    ] {
        not_denied(&call(&f.gw, m, p, &scoped).await, p);
    }
}

// ---- permission map -------------------------------------------------------------------------

fn with_permissions(gw: &TestGateway, perms: &[&str]) -> String {
    gw.admin_with_scopes(json!({"permissions": perms}))
}

#[tokio::test]
async fn c_scope_16_tools_read_may_list_but_not_create_tools() {
    let f = fixture().await;
    let tok = with_permissions(&f.gw, &["tools.read"]);
    let r =
        f.gw.send(
            f.gw.req("POST", "/tools")
                .bearer(&tok)
                .json(&json!({"tool": {"name": "x", "url": "http://127.0.0.1:9/x"}})),
        )
        .await;
    denied(&r, "POST /tools");
    assert_eq!(get(&f.gw, "/tools", &tok).await.status, 200);
}

#[tokio::test]
async fn c_scope_17_tool_permissions_imply_servers_use_on_transports() {
    let f = fixture().await;
    let tok = with_permissions(&f.gw, &["tools.execute"]);
    for p in ["/rpc", "/mcp"] {
        let r = call(&f.gw, "POST", p, &tok).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
    }
}

#[tokio::test]
async fn c_scope_18_unrelated_permissions_refuse_transports() {
    let f = fixture().await;
    let tok = with_permissions(&f.gw, &["a2a.read"]);
    denied(&call(&f.gw, "POST", "/rpc", &tok).await, "POST /rpc");
    denied(&call(&f.gw, "POST", "/mcp", &tok).await, "POST /mcp");
    denied(&get(&f.gw, "/sse", &tok).await, "GET /sse");
}

#[tokio::test]
async fn c_scope_19_unmapped_paths_are_refused_search_is_open() {
    let f = fixture().await;
    let tok = with_permissions(&f.gw, &["tools.read"]);
    denied(&get(&f.gw, "/roots", &tok).await, "GET /roots");
    not_denied(&get(&f.gw, "/search?q=x", &tok).await, "GET /search?q=x");
}

#[tokio::test]
async fn c_scope_20_star_and_empty_permissions_are_unrestricted() {
    let f = fixture().await;
    for perms in [json!(["*"]), json!([])] {
        let tok = f.gw.admin_with_scopes(json!({"permissions": perms}));
        let r = f
            .gw
            .send(f.gw.req("POST", "/tools").bearer(&tok).json(
                &json!({"tool": {"name": format!("made-with-{}", perms.as_array().map_or(0, Vec::len)),
                    "url": "http://127.0.0.1:9/x"}}),
            ))
            .await;
        assert_eq!(r.status, 200, "{perms}: POST /tools: {}", r.text());
        not_denied(&get(&f.gw, "/roots", &tok).await, "GET /roots");
    }
}

#[tokio::test]
async fn c_scope_21_tools_preview_needs_its_own_permission() {
    let f = fixture().await;
    for (perms, refused) in [
        (&["tools.read"][..], true),
        (&["tools.update"][..], true),
        (&["tools.preview"][..], false),
    ] {
        let r = call(
            &f.gw,
            "POST",
            "/tools/preview",
            &with_permissions(&f.gw, perms),
        )
        .await;
        if refused {
            denied(&r, &format!("{perms:?}"));
        } else {
            not_denied(&r, &format!("{perms:?}"));
        }
    }
}

/// ContextForge maps `GET /servers/S/mcp` to servers.read and `DELETE` to servers.delete (gap G3),
/// so a `servers.use` token gets 403 there (C-SCOPE-22). D7: every method on a server's MCP
/// endpoint needs servers.use, as on `/mcp`; the reference therefore admits servers.use and
/// refuses servers.read / servers.delete alone.
#[tokio::test]
async fn c_scope_22_vs_d7_server_mcp_needs_servers_use_for_every_method() {
    let f = fixture().await;
    let path = format!("/servers/{}/mcp", f.s);
    let use_ = with_permissions(&f.gw, &["servers.use"]);
    for m in ["POST", "GET", "DELETE"] {
        not_denied(
            &call(&f.gw, m, &path, &use_).await,
            &format!("servers.use {m} {path}"),
        );
        not_denied(
            &call(&f.gw, m, &format!("{path}/"), &use_).await,
            &format!("servers.use {m} {path}/"),
        );
        not_denied(
            &call(&f.gw, m, "/mcp", &use_).await,
            &format!("servers.use {m} /mcp"),
        );
    }
    denied(
        &call(
            &f.gw,
            "GET",
            &path,
            &with_permissions(&f.gw, &["servers.read"]),
        )
        .await,
        "servers.read GET /servers/S/mcp",
    );
    denied(
        &call(
            &f.gw,
            "DELETE",
            &path,
            &with_permissions(&f.gw, &["servers.delete"]),
        )
        .await,
        "servers.delete DELETE /servers/S/mcp",
    );
}

#[tokio::test]
async fn c_scope_23_patch_is_never_mapped() {
    let f = fixture().await;
    for perms in [&["tools.read"][..], &["tools.update"][..]] {
        denied(
            &call(&f.gw, "PATCH", "/tools/x", &with_permissions(&f.gw, perms)).await,
            &format!("{perms:?} PATCH /tools/x"),
        );
    }
}

// ---- IP restrictions (D3) -------------------------------------------------------------------

fn ip_restricted(gw: &TestGateway) -> String {
    gw.admin_with_scopes(json!({"ip_restrictions": ["10.0.0.0/24"]}))
}

#[tokio::test]
async fn c_scope_24_ip_restriction_refuses_other_clients() {
    let f = fixture().await;
    let tok = ip_restricted(&f.gw);
    denied(&get(&f.gw, "/tools", &tok).await, "from 127.0.0.1");
    let r =
        f.gw.send(f.gw.req("GET", "/tools").bearer(&tok).peer("10.0.0.5:5000"))
            .await;
    assert_eq!(r.status, 200, "from 10.0.0.5: {}", r.text());
}

/// ContextForge believes `X-Forwarded-For` from any peer, so C-SCOPE-25's header lets the request
/// through there (open issue 5421). D3: the header counts only from a configured trusted proxy.
#[tokio::test]
async fn c_scope_25_vs_d3_forwarded_for_counts_only_from_trusted_proxies() {
    let f = fixture().await;
    let tok = ip_restricted(&f.gw);
    let spoofed =
        f.gw.send(
            f.gw.req("GET", "/tools")
                .bearer(&tok)
                .header("x-forwarded-for", "10.0.0.5"),
        )
        .await;
    denied(&spoofed, "XFF from an untrusted peer");

    let mut settings = Settings::default_for_tests();
    settings.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    let gw = TestGateway::with_settings(settings).await;
    let tok = ip_restricted(&gw);
    let via_proxy = gw
        .send(
            gw.req("GET", "/tools")
                .bearer(&tok)
                .header("x-forwarded-for", "10.0.0.5"),
        )
        .await;
    assert_eq!(
        via_proxy.status,
        200,
        "XFF from a trusted proxy: {}",
        via_proxy.text()
    );
    // A client cannot prepend its own entry in front of the hop the proxy appended.
    let prepended = gw
        .send(
            gw.req("GET", "/tools")
                .bearer(&tok)
                .header("x-forwarded-for", "10.0.0.5, 192.0.2.7"),
        )
        .await;
    denied(
        &prepended,
        "spoofed leftmost XFF entry behind a trusted proxy",
    );
    // The trusted list does not make other peers trusted.
    let other_peer = gw
        .send(
            gw.req("GET", "/tools")
                .bearer(&tok)
                .peer("192.0.2.9:4000")
                .header("x-forwarded-for", "10.0.0.5"),
        )
        .await;
    denied(&other_peer, "XFF from a peer outside TRUSTED_PROXIES");
}

#[tokio::test]
async fn d3_client_internal_hop_headers_are_ignored() {
    let f = fixture().await;
    let path = format!("/servers/{}/mcp", f.s);
    // No token: the forwarded-internally marker does not admit anyone (strict mode: 401).
    for extra in [
        vec![("x-forwarded-internally", "true")],
        vec![
            ("x-forwarded-internally", "true"),
            ("x-forwarded-for", "127.0.0.1"),
        ],
        vec![
            ("x-contextforge-mcp-runtime", "rust"),
            ("x-contextforge-server-id", "x"),
        ],
    ] {
        let mut req =
            f.gw.req("POST", &path)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        for (k, v) in &extra {
            req = req.header(k, v);
        }
        let r = f.gw.send(req.peer("192.0.2.1:5000")).await;
        assert_eq!(r.status, 401, "{extra:?}: {}", r.text());
    }
    // With a token, DELETE does not take ContextForge's forwarded stub (200 `{"result":{}}`).
    let r =
        f.gw.send(
            f.gw.req("DELETE", &path)
                .bearer(&f.gw.admin)
                .header("x-forwarded-internally", "true"),
        )
        .await;
    assert_ne!(
        r.json(),
        json!({"jsonrpc": "2.0", "result": {}}),
        "{}",
        r.text()
    );
}

// ---- time restrictions (fixed clock) --------------------------------------------------------

/// 2026-11-21 is a Saturday, 2026-11-23 a Monday.
const SATURDAY_NOON: &str = "2026-11-21T12:00:00Z";
const MONDAY_NOON: &str = "2026-11-23T12:00:00Z";

async fn at(now: &str) -> TestGateway {
    TestGateway::with_clock(Settings::default_for_tests(), now).await
}

#[tokio::test]
async fn c_scope_26_weekdays_only_refuses_weekends() {
    let gw = at(SATURDAY_NOON).await;
    let tok = gw.admin_with_scopes(json!({"time_restrictions": {"weekdays_only": true}}));
    for r in [
        get(&gw, "/tools", &tok).await,
        gw.rpc("/rpc", &tok, "ping", json!({})).await,
    ] {
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(
            r.json(),
            json!({"detail": "Request not allowed at this time by token restrictions"})
        );
    }
    let gw = at(MONDAY_NOON).await;
    let tok = gw.admin_with_scopes(json!({"time_restrictions": {"weekdays_only": true}}));
    assert_eq!(get(&gw, "/tools", &tok).await.status, 200);
}

#[tokio::test]
async fn c_scope_26_business_hours_only_is_utc_nine_to_five() {
    for (now, ok) in [
        ("2026-11-23T08:59:00Z", false),
        ("2026-11-23T09:00:00Z", true),
        ("2026-11-23T16:59:00Z", true),
        ("2026-11-23T17:00:00Z", false),
    ] {
        let gw = at(now).await;
        let tok = gw.admin_with_scopes(json!({"time_restrictions": {"business_hours_only": true}}));
        let r = get(&gw, "/tools", &tok).await;
        assert_eq!(r.status == 200, ok, "{now}: {}", r.text());
    }
}

#[tokio::test]
async fn c_scope_27_half_a_time_window_is_refused() {
    let gw = at(MONDAY_NOON).await;
    let tok = gw.admin_with_scopes(json!({"time_restrictions": {"start_time": "09:00"}}));
    let r = get(&gw, "/tools", &tok).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"detail": "Token has incomplete time restriction: both start_time and end_time are required"})
    );
}

#[tokio::test]
async fn c_scope_28_bad_day_names_and_time_zones_are_refused() {
    let gw = at(MONDAY_NOON).await;
    let tok = gw.admin_with_scopes(json!({"time_restrictions": {"days": ["Funday"]}}));
    let r = get(&gw, "/tools", &tok).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"detail": "Token has invalid day names in time restrictions: Funday"})
    );
    let tok = gw.admin_with_scopes(json!({"time_restrictions":
        {"start_time": "00:00", "end_time": "23:59", "timezone": "Mars/Base"}}));
    let r = get(&gw, "/tools", &tok).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains("invalid timezone") && detail.contains("Mars/Base"),
        "{detail}"
    );
}

#[tokio::test]
async fn time_windows_are_read_in_their_zone_at_the_gateways_clock() {
    // 08:30 UTC on a Monday is 09:30 in Paris: inside 09:00-17:00 Europe/Paris, outside in UTC.
    let gw = at("2026-11-23T08:30:00Z").await;
    let paris = gw.admin_with_scopes(json!({"time_restrictions":
        {"start_time": "09:00", "end_time": "17:00", "timezone": "Europe/Paris", "days": ["Monday"]}}));
    assert_eq!(get(&gw, "/tools", &paris).await.status, 200);
    let utc = gw.admin_with_scopes(
        json!({"time_restrictions": {"start_time": "09:00", "end_time": "17:00"}}),
    );
    let r = get(&gw, "/tools", &utc).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Token access is restricted to 09:00 - 17:00")
    );
}

// ---- teams and ownership --------------------------------------------------------------------

const USER: &str = "user@example.com";

/// A non-admin user in team X, and a team-visibility server P of team X.
async fn team_fixture(gw: &TestGateway) -> (String, String) {
    gw.create_user(USER, false).await;
    let team = gw.create_team("xteam", &[USER]).await;
    let p = gw
        .create_server(
            "team-server",
            json!({"visibility": "team", "team_id": team}),
        )
        .await;
    (team, p)
}

#[tokio::test]
async fn c_scope_33_missing_server_is_403_for_team_tokens_404_for_admins() {
    let gw = TestGateway::new().await;
    let (team, _) = team_fixture(&gw).await;
    let missing = "0123456789abcdef0123456789abcdef";
    let path = format!("/servers/{missing}/mcp");
    let team_tok = gw.user_token(USER, Some(vec![team]), None);
    denied(
        &call(&gw, "POST", &path, &team_tok).await,
        "team token, missing server",
    );
    let r = call(&gw, "POST", &path, &gw.admin).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Server not found"}));
}

#[tokio::test]
async fn c_scope_34_delete_of_a_missing_server_is_404_resource_not_found() {
    let gw = TestGateway::new().await;
    let (team, _) = team_fixture(&gw).await;
    let missing = "0123456789abcdef0123456789abcdef";
    let tok = gw.user_token(USER, Some(vec![team]), None);
    for p in [
        format!("/servers/{missing}"),
        format!("/servers/{missing}/"),
    ] {
        let r = gw.send(gw.req("DELETE", &p).bearer(&tok)).await;
        assert_eq!(r.status, 404, "{p}: {}", r.text());
        assert_eq!(r.json(), json!({"detail": "Resource not found"}), "{p}");
    }
    // Gateways are looked up the same way; a missing tool, resource or prompt is "Access denied".
    let r = gw
        .send(
            gw.req("DELETE", &format!("/gateways/{missing}"))
                .bearer(&tok),
        )
        .await;
    assert_eq!(r.status, 404, "gateway: {}", r.text());
    assert_eq!(r.json(), json!({"detail": "Resource not found"}));
    for kind in ["tools", "resources", "prompts"] {
        denied(
            &gw.send(gw.req("DELETE", &format!("/{kind}/{missing}")).bearer(&tok))
                .await,
            kind,
        );
    }
    // Only the exact DELETE is a 404; any other miss is "Access denied".
    denied(
        &get(&gw, &format!("/servers/{missing}"), &tok).await,
        "GET missing server",
    );
    denied(
        &gw.send(
            gw.req("DELETE", &format!("/servers/{missing}/mcp"))
                .bearer(&tok),
        )
        .await,
        "DELETE missing server's mcp",
    );
}

#[tokio::test]
async fn c_scope_35_teams_null_is_admin_bypass_only_for_admins() {
    let gw = TestGateway::new().await;
    let (_, p) = team_fixture(&gw).await;
    let path = format!("/servers/{p}");
    // A non-admin with `teams: null` is public-only, even though the user is in X.
    let public_only = gw.user_token(USER, None, None);
    denied(&get(&gw, &path, &public_only).await, "non-admin teams:null");
    let listed = get(&gw, "/servers", &public_only).await.json();
    assert!(
        listed
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["id"] != p.as_str())),
        "team server listed for a public-only token: {listed}"
    );
    // The administrator with `teams: null` sees it.
    assert_eq!(get(&gw, &path, &gw.admin).await.status, 200);
    // A forged `is_admin` claim does not make a stored non-admin an administrator.
    let forged = gw.token(USER, true, None, None);
    denied(&get(&gw, &path, &forged).await, "forged is_admin");
}

#[tokio::test]
async fn c_scope_35_team_tokens_see_their_teams_items() {
    let gw = TestGateway::new().await;
    let (team, p) = team_fixture(&gw).await;
    let tok = gw.user_token(USER, Some(vec![team]), None);
    let r = get(&gw, &format!("/servers/{p}"), &tok).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&gw, "POST", &format!("/servers/{p}/mcp"), &tok).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_scope_31_removed_team_member_is_refused() {
    let gw = TestGateway::new().await;
    let (team, _) = team_fixture(&gw).await;
    let tok = gw.user_token(USER, Some(vec![team.clone()]), None);
    assert_eq!(get(&gw, "/tools", &tok).await.status, 200);
    let r = gw
        .send(
            gw.req("DELETE", &format!("/teams/{team}/members/{USER}"))
                .bearer(&gw.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&gw, "/tools", &tok).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"detail": "Token is invalid: User is no longer a member of the associated team"})
    );
}

#[tokio::test]
async fn c_scope_36_cookie_wins_over_the_authorization_header() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let r =
        f.gw.send(
            f.gw.req("GET", "/tools")
                .cookie_token(&scoped)
                .bearer(&f.gw.admin),
        )
        .await;
    denied(&r, "scoped cookie, unscoped header");
    let r =
        f.gw.send(
            f.gw.req("GET", "/tools")
                .cookie_token(&f.gw.admin)
                .bearer(&scoped),
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "unscoped cookie, scoped header: {}",
        r.text()
    );
}

#[tokio::test]
async fn c_scope_37_invalid_or_expired_tokens_never_get_a_scoping_403() {
    let gw = at(MONDAY_NOON).await;
    let s = gw.create_server("alpha", json!({})).await;
    let t = gw.create_server("beta", json!({})).await;
    let now = gw.state.now_secs();
    let claims = |exp: i64| {
        json!({"sub": "admin@example.com", "jti": "j", "iat": now - 100, "exp": exp,
            "iss": "mcpgateway", "aud": "mcpgateway-api", "is_admin": true, "teams": null,
            "user": {"email": "admin@example.com", "is_admin": true},
            "scopes": {"server_id": s, "permissions": ["tools.read"]}})
    };
    let expired = gw.sign(&claims(now - 10));
    let forged = mcpgw_reference::auth::jwt::sign(&claims(now + 600), b"not-the-gateway-key");
    for (tok, detail) in [(&expired, "Token has expired"), (&forged, "Invalid token")] {
        let r = get(&gw, "/tools", tok).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json(), json!({"detail": detail}));
        let r = call(&gw, "POST", &format!("/servers/{t}/mcp"), tok).await;
        assert_eq!(r.status, 401, "POST /servers/T/mcp: {}", r.text());
        let r = call(&gw, "POST", "/rpc", tok).await;
        assert_eq!(r.status, 401, "POST /rpc: {}", r.text());
    }
}

#[tokio::test]
async fn c_scope_38_well_known_paths_skip_scoping() {
    let gw = TestGateway::new().await;
    let s = gw.create_server("alpha", json!({})).await;
    let t = gw
        .create_server(
            "beta",
            json!({"oauth_enabled": true, "oauth_config": {"authorization_servers": ["https://as.example.com"]}}),
        )
        .await;
    let scoped = gw.scoped(&s);
    let r = get(
        &gw,
        &format!("/.well-known/oauth-protected-resource/servers/{t}/mcp"),
        &scoped,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(
        &gw,
        &format!("/servers/{t}/.well-known/oauth-protected-resource"),
        &scoped,
    )
    .await;
    assert_eq!(r.status, 301, "{}", r.text());
    // A scoped token with an IP restriction it fails is not consulted on these paths either.
    let restricted =
        gw.admin_with_scopes(json!({"server_id": s, "ip_restrictions": ["10.0.0.0/8"]}));
    let r = get(&gw, "/.well-known/robots.txt", &restricted).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_scope_39_validate_server_access() {
    use mcpgw_reference::scoping::server::validate_server_access;
    assert!(validate_server_access(Some("S"), "S"));
    assert!(!validate_server_access(Some("S"), "T"));
    assert!(validate_server_access(None, "T"));

    // The same rule, seen through /rpc's params.server_id.
    let f = fixture().await;
    let ok = |r: TestResponse| assert_eq!(r.status, 200, "{}", r.text());
    ok(f.gw
        .rpc(
            "/rpc",
            &f.gw.scoped(&f.s),
            "tools/list",
            json!({"server_id": f.s}),
        )
        .await);
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.scoped(&f.s),
            "tools/list",
            json!({"server_id": f.t}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    ok(f.gw
        .rpc("/rpc", &f.gw.admin, "tools/list", json!({"server_id": f.t}))
        .await);
    let null_server = f.gw.admin_with_scopes(json!({"server_id": null}));
    ok(f.gw
        .rpc(
            "/rpc",
            &null_server,
            "tools/list",
            json!({"server_id": f.t}),
        )
        .await);
}

#[tokio::test]
async fn c_scope_15_empty_server_id_is_unrestricted() {
    let f = fixture().await;
    let tok = f.gw.admin_with_scopes(json!({"server_id": ""}));
    let r = get(&f.gw, &format!("/servers/{}/tools", f.t), &tok).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

// ---- D4: scoping after name resolution ------------------------------------------------------

#[tokio::test]
async fn d4_scoped_token_reaches_its_server_by_name_never_another_by_name() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    assert_eq!(
        f.gw.tool_names("/servers/alpha/mcp", &scoped, json!({}))
            .await,
        vec!["s-tool"]
    );
    denied(
        &call(&f.gw, "POST", "/servers/beta/mcp", &scoped).await,
        "T by name",
    );
    denied(
        &get(&f.gw, "/servers/beta/tools", &scoped).await,
        "GET T's tools by name",
    );
    let r = get(&f.gw, "/servers/alpha/tools", &scoped).await;
    assert_eq!(r.status, 200, "GET S's tools by name: {}", r.text());
    // A token scoped to S's *name* is not scoped to S: scoping compares canonical ids.
    let by_name = f.gw.scoped("alpha");
    denied(
        &call(&f.gw, "POST", &format!("/servers/{}/mcp", f.s), &by_name).await,
        "name-scoped token",
    );
}

// ---- D12: no existence oracle for scoped tokens ---------------------------------------------

#[tokio::test]
async fn d12_scoped_token_gets_the_same_403_for_unknown_and_forbidden_servers() {
    let f = fixture().await;
    let scoped = f.gw.scoped(&f.s);
    let unknown_id = "0123456789abcdef0123456789abcdef";
    for (m, forbidden, unknown) in [
        (
            "POST",
            format!("/servers/{}/mcp", f.t),
            format!("/servers/{unknown_id}/mcp"),
        ),
        (
            "POST",
            "/servers/beta/mcp".to_owned(),
            "/servers/ghost/mcp".to_owned(),
        ),
        (
            "GET",
            format!("/servers/{}/tools", f.t),
            format!("/servers/{unknown_id}/tools"),
        ),
        (
            "GET",
            format!("/servers/{}", f.t),
            format!("/servers/{unknown_id}"),
        ),
        (
            "DELETE",
            format!("/servers/{}", f.t),
            format!("/servers/{unknown_id}"),
        ),
    ] {
        let a = call(&f.gw, m, &forbidden, &scoped).await;
        let b = call(&f.gw, m, &unknown, &scoped).await;
        denied(&a, &format!("{m} {forbidden}"));
        denied(&b, &format!("{m} {unknown}"));
        assert_eq!(a.body, b.body, "{m}: bodies differ");
        assert!(!a.text().contains("t-tool"), "a 403 names T's tool");
    }
}

/// D4 compares canonical ids: a token whose `server_id` is a server's *name* is not scoped to that
/// server anywhere (a name can be given to another server later; an id cannot). It reaches
/// nothing: 403 on the server's paths, an empty catalogue on `/rpc` and `/mcp`.
#[tokio::test]
async fn d4_a_token_scoped_to_a_name_is_not_scoped_to_that_server() {
    let f = fixture().await;
    let by_name = f.gw.scoped("alpha");
    for p in [
        format!("/servers/{}/mcp", f.s),
        "/servers/alpha/mcp".to_owned(),
    ] {
        denied(&call(&f.gw, "POST", &p, &by_name).await, &p);
    }
    assert_eq!(
        f.gw.tool_names("/rpc", &by_name, json!({})).await,
        Vec::<String>::new()
    );
    let r =
        f.gw.rpc("/rpc", &by_name, "tools/call", json!({"name": "s-tool"}))
            .await;
    assert_eq!(r.json()["error"]["code"], -32003, "{}", r.text());
}

#[tokio::test]
async fn d4_a_token_scoped_to_a_name_sees_nothing_on_the_global_mcp() {
    let f = fixture().await;
    let by_name = f.gw.scoped("alpha");
    assert_eq!(
        f.gw.tool_names("/mcp", &by_name, json!({})).await,
        Vec::<String>::new()
    );
}

/// Minting resolves a server name to the canonical id (D4), so the token is scoped to the server
/// the name denotes at mint time, and stays so if the name moves.
#[tokio::test]
async fn d4_api_tokens_minted_for_a_server_name_carry_its_canonical_id() {
    let f = fixture().await;
    let r =
        f.gw.admin_json(
            "POST",
            "/tokens",
            &json!({"name": "by-name", "scope": {"server_id": "alpha"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["token"]["server_id"], f.s.as_str());
    let tok = r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(f.gw.claims_of(&tok)["scopes"]["server_id"], f.s.as_str());
    assert_eq!(
        f.gw.tool_names("/servers/alpha/mcp", &tok, json!({})).await,
        vec!["s-tool"]
    );
}

#[tokio::test]
async fn c_scope_14_root_path_is_stripped_on_a_segment_boundary_before_scoping() {
    let mut settings = Settings::default_for_tests();
    settings.app_root_path = "/gw".to_owned();
    let gw = TestGateway::with_settings(settings).await;
    let (s, t) = gw.alpha_and_beta().await;
    let scoped = gw.scoped(&s);
    denied(
        &call(&gw, "POST", &format!("/gw/servers/{t}/mcp"), &scoped).await,
        "/gw/servers/T/mcp",
    );
    let r = call(&gw, "POST", &format!("/gw/servers/{s}/mcp"), &scoped).await;
    assert_eq!(r.status, 200, "/gw/servers/S/mcp: {}", r.text());
    assert_eq!(
        gw.tool_names("/gw/rpc", &scoped, json!({})).await,
        vec!["s-tool"]
    );
    // `/gwx` is not under `/gw`: nothing is stripped, and the path is no general endpoint.
    denied(&call(&gw, "POST", "/gwx/rpc", &scoped).await, "/gwx/rpc");
}

/// Session tokens (`token_use: "session"`) carry no team list: the user's current memberships
/// count, so joining or leaving a team takes effect at once.
#[tokio::test]
async fn session_tokens_take_their_teams_from_the_store() {
    let gw = TestGateway::new().await;
    let (team, p) = team_fixture(&gw).await;
    let now = gw.state.now_secs();
    let session = gw.sign(
        &json!({"sub": USER, "jti": "s1", "iat": now, "exp": now + 600,
        "iss": "mcpgateway", "aud": "mcpgateway-api", "token_use": "session",
        "user": {"email": USER, "is_admin": false}}),
    );
    assert_eq!(
        get(&gw, &format!("/servers/{p}"), &session).await.status,
        200
    );
    let r = gw
        .send(
            gw.req("DELETE", &format!("/teams/{team}/members/{USER}"))
                .bearer(&gw.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    denied(
        &get(&gw, &format!("/servers/{p}"), &session).await,
        "after leaving the team",
    );
}

#[tokio::test]
async fn c_scope_29_usage_limit_gives_429_after_the_limit() {
    let gw = TestGateway::new().await;
    let token = gw.admin_with_scopes(json!({"usage_limits": {"requests_per_hour": 1}}));
    let first = gw.rpc("/rpc", &token, "ping", json!({})).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = gw.rpc("/rpc", &token, "ping", json!({})).await;
    assert_eq!(second.status, 429);
    assert_eq!(
        second.json(),
        json!({"detail": "Hourly request limit exceeded"})
    );
}

#[tokio::test]
async fn c_scope_30_non_positive_usage_limits_are_ignored() {
    let gw = TestGateway::new().await;
    for limit in [0, -1] {
        let token = gw.admin_with_scopes(json!({"usage_limits": {"requests_per_hour": limit}}));
        for _ in 0..3 {
            assert_eq!(gw.rpc("/rpc", &token, "ping", json!({})).await.status, 200);
        }
    }
}
