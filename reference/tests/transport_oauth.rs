//! Authentication on the MCP transport: strict and permissive modes (C-MCP-08..11), OAuth
//! challenges with `resource_metadata` (C-MCP-12..15, D5) built from the request with forwarded
//! headers believed only from trusted proxies (D3), and the ignored internal-hop header
//! (C-MCP-24/25).

use mcpgw_reference::Settings;
use mcpgw_reference::testing::mcp::{TwoServers, UNREACHABLE_TOOL_URL, tool_names};
use mcpgw_reference::testing::{TestGateway, TestRequest, TestResponse};
use serde_json::json;

const OAUTH_NAME: &str = "guarded";
const TRUSTED_PROXY: &str = "10.0.0.1";

struct Fixture {
    gw: TestGateway,
    f: TwoServers,
    /// An OAuth-enabled public server.
    o: String,
}

async fn fixture(configure: impl FnOnce(&mut Settings)) -> Fixture {
    let (gw, f) = TestGateway::with_two_servers(|s| {
        s.trusted_proxies = vec![format!("{TRUSTED_PROXY}/32").parse().unwrap()];
        configure(s);
    })
    .await;
    let o = gw
        .create_server(
            OAUTH_NAME,
            json!({"oauth_enabled": true,
                "oauth_config": {"authorization_servers": ["https://as.example.com"]}}),
        )
        .await;
    Fixture { gw, f, o }
}

/// A `ping` to `path` with `Host: host`.
fn ping_at(gw: &TestGateway, path: &str, host: &str) -> TestRequest {
    gw.req("POST", path)
        .header("accept", "application/json, text/event-stream")
        .header("host", host)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
}

fn ping(gw: &TestGateway, path: &str) -> TestRequest {
    ping_at(gw, path, "gw.local:4444")
}

fn challenge(r: &TestResponse) -> &str {
    r.header("www-authenticate").unwrap_or("<none>")
}

fn metadata_challenge(base: &str, id: &str) -> String {
    format!(
        "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/servers/{id}/mcp\""
    )
}

#[tokio::test]
async fn c_mcp_08_strict_mode_refuses_a_missing_token_with_a_bare_challenge() {
    let x = fixture(|_| {}).await;
    for path in ["/mcp".to_owned(), format!("/servers/{}/mcp", x.f.s)] {
        let r = x.gw.send(ping(&x.gw, &path)).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.json(),
            json!({"detail": "Authentication required for MCP endpoints"})
        );
        assert_eq!(challenge(&r), "Bearer");
    }
}

#[tokio::test]
async fn c_mcp_09_10_empty_and_bad_bearers_are_401_in_both_modes() {
    for strict in [true, false] {
        let x = fixture(|s| s.mcp_require_auth = Some(strict)).await;
        for token in ["", "garbage", "a.b.c"] {
            let r =
                x.gw.send(ping(&x.gw, "/mcp").header("authorization", &format!("Bearer {token}")))
                    .await;
            assert_eq!(r.status, 401, "strict={strict} token={token:?}");
            assert_eq!(
                r.json(),
                json!({"detail": "Invalid authentication credentials"})
            );
            assert_eq!(challenge(&r), "Bearer");
        }
    }
}

#[tokio::test]
async fn c_mcp_11_permissive_mode_shows_the_anonymous_caller_public_tools_only() {
    let x = fixture(|s| s.mcp_require_auth = Some(false)).await;
    let gw = &x.gw;
    let team = gw.create_team("insiders", &[]).await;
    let (public_id, public) = gw
        .create_rest_tool("open-tool", UNREACHABLE_TOOL_URL, json!({}))
        .await;
    let (team_id, _) = gw
        .create_rest_tool(
            "team-tool",
            UNREACHABLE_TOOL_URL,
            json!({"visibility": "team", "team_id": team}),
        )
        .await;
    let mixed = gw
        .create_server("mixed", json!({"associated_tools": [public_id, team_id]}))
        .await;
    let path = format!("/servers/{mixed}/mcp");
    let r = gw
        .send(gw.mcp_req(&path, "", "tools/list", json!({})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![public]);
    let r = gw
        .send(gw.mcp_req(&path, &gw.admin, "tools/list", json!({})))
        .await;
    assert_eq!(tool_names(&r).len(), 2, "the administrator sees both");
}

#[tokio::test]
async fn c_mcp_12_13_an_oauth_server_challenges_with_resource_metadata_in_both_modes() {
    for strict in [true, false] {
        let x = fixture(|s| s.mcp_require_auth = Some(strict)).await;
        let r =
            x.gw.send(ping(&x.gw, &format!("/servers/{}/mcp", x.o)))
                .await;
        assert_eq!(r.status, 401, "strict={strict}");
        assert_eq!(
            r.json(),
            json!({"detail": "This server requires OAuth authentication"})
        );
        assert_eq!(
            challenge(&r),
            metadata_challenge("http://gw.local:4444", &x.o)
        );
        // By name (D4): the challenge names the canonical id.
        let r =
            x.gw.send(ping(&x.gw, &format!("/servers/{OAUTH_NAME}/mcp")))
                .await;
        assert_eq!(
            challenge(&r),
            metadata_challenge("http://gw.local:4444", &x.o)
        );
    }
}

#[tokio::test]
async fn the_advertised_metadata_url_resolves_to_the_same_resource() {
    let x = fixture(|_| {}).await;
    let r =
        x.gw.send(ping(&x.gw, &format!("/servers/{}/mcp", x.o)))
            .await;
    let url = challenge(&r)
        .strip_prefix("Bearer resource_metadata=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a resource_metadata challenge")
        .to_owned();
    let path = url.strip_prefix("http://gw.local:4444").unwrap();
    let doc =
        x.gw.send(x.gw.req("GET", path).header("host", "gw.local:4444"))
            .await;
    assert_eq!(doc.status, 200, "{}", doc.text());
    assert_eq!(
        doc.json()["resource"],
        format!("http://gw.local:4444/servers/{}/mcp", x.o)
    );
}

/// The challenge for an anonymous request to O sent by `peer` with forwarded headers.
async fn forwarded_challenge(x: &Fixture, peer: &str, headers: &[(&str, &str)]) -> String {
    let mut r = ping_at(&x.gw, &format!("/p/servers/{}/mcp", x.o), "gw.example.com")
        .peer(&format!("{peer}:5555"));
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let r = x.gw.send(r).await;
    assert_eq!(r.status, 401, "{}", r.text());
    challenge(&r).to_owned()
}

#[tokio::test]
async fn c_mcp_14_d3_the_metadata_url_follows_forwarded_headers_from_trusted_proxies_only() {
    let x = fixture(|s| s.app_root_path = "/p".into()).await;
    let at = |base: &str| metadata_challenge(base, &x.o);
    let https = [("x-forwarded-proto", "https")];
    assert_eq!(
        forwarded_challenge(&x, TRUSTED_PROXY, &https).await,
        at("https://gw.example.com/p")
    );
    assert_eq!(
        forwarded_challenge(&x, "192.0.2.7", &https).await,
        at("http://gw.example.com/p"),
        "an untrusted peer's X-Forwarded-Proto is ignored"
    );
    assert_eq!(
        forwarded_challenge(&x, TRUSTED_PROXY, &[("x-forwarded-proto", "ftp")]).await,
        at("https://gw.example.com/p"),
        "a scheme other than http or https becomes https"
    );
    let host = [("x-forwarded-host", "public.example.org")];
    assert_eq!(
        forwarded_challenge(&x, TRUSTED_PROXY, &host).await,
        at("http://public.example.org/p")
    );
    assert_eq!(
        forwarded_challenge(&x, "192.0.2.7", &host).await,
        at("http://gw.example.com/p"),
        "an untrusted peer's X-Forwarded-Host is ignored"
    );
}

/// The challenge an empty bearer gets from the OAuth server.
async fn empty_bearer_challenge(x: &Fixture) -> String {
    let r =
        x.gw.send(ping(&x.gw, &format!("/servers/{}/mcp", x.o)).header("authorization", "Bearer "))
            .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"detail": "Invalid authentication credentials"})
    );
    challenge(&r).to_owned()
}

#[tokio::test]
async fn c_mcp_15_d5_an_empty_or_bad_bearer_on_an_oauth_server_gets_resource_metadata() {
    let x = fixture(|_| {}).await;
    let want = metadata_challenge("http://gw.local:4444", &x.o);
    assert_eq!(empty_bearer_challenge(&x).await, want);
    let r =
        x.gw.send(
            ping(&x.gw, &format!("/servers/{}/mcp", x.o)).header("authorization", "Bearer garbage"),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), want);
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn d5_check_fails_on_a_gateway_that_gives_an_empty_bearer_a_bare_challenge() {
    let x = fixture(|s| s.policy = defect_policy("empty-bearer-bare-challenge")).await;
    assert_eq!(empty_bearer_challenge(&x).await, "Bearer");
}

#[tokio::test]
async fn c_mcp_24_25_a_client_sent_internal_hop_header_is_ignored() {
    let x = fixture(|_| {}).await;
    let gw = &x.gw;
    let path = format!("/servers/{}/mcp", x.f.s);
    let internal = |r: TestRequest| r.header("x-forwarded-internally", "true");
    // ContextForge's forwarded branch answers a DELETE with a 200 stub; here it is the ordinary
    // stateless DELETE, from loopback and from a peer spoofing loopback in X-Forwarded-For.
    for (peer, xff) in [
        ("127.0.0.1:4000", None),
        ("203.0.113.9:4000", Some("127.0.0.1")),
    ] {
        let mut r = internal(gw.req("DELETE", &path).bearer(&gw.admin).peer(peer));
        if let Some(v) = xff {
            r = r.header("x-forwarded-for", v);
        }
        let r = gw.send(r).await;
        assert_eq!(r.status, 405, "{peer}: {}", r.text());
    }
    // It authenticates nobody and widens no scope.
    let r = gw.send(internal(ping(gw, &path))).await;
    assert_eq!(r.status, 401);
    let r = gw
        .send(internal(gw.mcp_req(
            &path,
            &gw.scoped(&x.f.t),
            "tools/list",
            json!({}),
        )))
        .await;
    assert_eq!(r.status, 403);
    let r = gw
        .send(internal(gw.mcp_req(
            &path,
            &gw.admin,
            "tools/list",
            json!({}),
        )))
        .await;
    assert_eq!(tool_names(&r), vec![x.f.s_tool.clone()]);
}

/// The strict policy with one defect of the matrix re-created.
#[cfg(feature = "defects")]
fn defect_policy(name: &str) -> mcpgw_reference::Policy {
    mcpgw_reference::defects::policy_with(&[name]).expect("a defect of the matrix")
}
