//! Server paths on the MCP transport: C-MCP-01..07, 17, 26, 27, 28; name resolution with
//! scoping after it (D4); the raw-path guard (D8) before routing and scoping.

use mcpgw_reference::Settings;
use mcpgw_reference::testing::mcp::{TwoServers, tool_names};
use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};

async fn gateway(configure: impl FnOnce(&mut Settings)) -> (TestGateway, TwoServers) {
    TestGateway::with_two_servers(configure).await
}

async fn list(gw: &TestGateway, path: &str, token: &str) -> TestResponse {
    gw.send(gw.mcp_req(path, token, "tools/list", json!({})))
        .await
}

fn detail(r: &TestResponse) -> Value {
    r.json()["detail"].clone()
}

#[tokio::test]
async fn c_mcp_01_an_empty_server_segment_is_an_invalid_identifier() {
    let (gw, _) = gateway(|_| {}).await;
    let r = list(&gw, "/servers//mcp", &gw.admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Invalid server identifier"}));
}

#[tokio::test]
async fn c_mcp_02_multi_segment_and_traversing_server_paths_are_404() {
    let (gw, f) = gateway(|_| {}).await;
    for path in [
        "/servers/a/b/mcp".to_owned(),
        format!("/servers/../servers/{}/mcp", f.s),
    ] {
        let r = list(&gw, &path, &gw.admin).await;
        assert_eq!(r.status, 404, "{path}");
        let d = detail(&r);
        assert!(
            d == "Invalid server identifier" || d == "Server not found",
            "{path}: {d}"
        );
    }
}

/// An administrator's `tools/list` on `/servers/xyz/mcp`.
async fn xyz_answer(gw: &TestGateway) -> TestResponse {
    list(gw, "/servers/xyz/mcp", &gw.admin).await
}

#[tokio::test]
async fn c_mcp_03_an_unknown_id_is_not_found_never_the_global_list() {
    let (gw, _) = gateway(|_| {}).await;
    let r = xyz_answer(&gw).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Server not found"}));
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn c_mcp_03_check_fails_on_a_gateway_with_hex_only_server_ids() {
    let (gw, f) = gateway(|s| s.policy = defect_policy("hex-only-server-regex")).await;
    let r = xyz_answer(&gw).await;
    assert_eq!(
        r.status, 200,
        "issue 3891: falls through to the global scope"
    );
    assert!(tool_names(&r).contains(&f.t_tool));
}

#[tokio::test]
async fn c_mcp_04_05_non_canonical_ids_are_not_found() {
    let (gw, f) = gateway(|_| {}).await;
    let upper = f.s.to_ascii_uppercase();
    for seg in [
        "00000000-0000-0000-0000-000000000000",
        "AABB",
        upper.as_str(),
        "hello%20world",
        "deadbeef",
    ] {
        let r = list(&gw, &format!("/servers/{seg}/mcp"), &gw.admin).await;
        assert_eq!(r.status, 404, "{seg}");
        assert_eq!(r.json(), json!({"detail": "Server not found"}), "{seg}");
    }
}

#[tokio::test]
async fn c_mcp_06_mcp_sub_paths_are_404_even_without_a_token() {
    let (gw, _) = gateway(|_| {}).await;
    for path in ["/mcp/foo", "/mcp/sse", "/mcp/message", "/mcp/a/b"] {
        for token in ["", gw.admin.as_str()] {
            let r = list(&gw, path, token).await;
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.json(), json!({"detail": "Not found"}), "{path}");
        }
    }
}

#[tokio::test]
async fn c_mcp_07_other_paths_ending_in_mcp_are_not_mcp() {
    let (gw, _) = gateway(|_| {}).await;
    for path in ["/foo/mcp", "/mcpx", "/tools/mcp"] {
        let r = list(&gw, path, &gw.admin).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert!(r.json().get("result").is_none(), "{path} answered MCP");
    }
}

#[tokio::test]
async fn c_mcp_17_get_on_an_unknown_server_is_404_not_405() {
    let (gw, _) = gateway(|_| {}).await;
    let r = gw
        .send(gw.req("GET", "/servers/xyz/mcp").bearer(&gw.admin))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Server not found"}));
}

#[tokio::test]
async fn c_mcp_28_a_trailing_slash_is_the_same_endpoint() {
    let (gw, f) = gateway(|_| {}).await;
    let plain = list(&gw, &format!("/servers/{}/mcp", f.s), &gw.admin).await;
    let slash = list(&gw, &format!("/servers/{}/mcp/", f.s), &gw.admin).await;
    assert_eq!(slash.status, 200);
    assert_eq!(tool_names(&slash), tool_names(&plain));
    assert_eq!(tool_names(&slash), vec![f.s_tool.clone()]);
    let global = list(&gw, "/mcp/", &gw.admin).await;
    assert_eq!(global.status, 200);
    assert_eq!(tool_names(&global).len(), 2);
}

#[tokio::test]
async fn c_mcp_27_behind_a_root_path_the_server_scope_holds() {
    let (gw, f) = gateway(|s| s.app_root_path = "/p".into()).await;
    let r = list(&gw, &format!("/p/servers/{}/mcp", f.s), &gw.admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![f.s_tool.clone()]);
    let r = list(
        &gw,
        &format!("/p/servers/{}/mcp", TwoServers::T_NAME),
        &gw.admin,
    )
    .await;
    assert_eq!(tool_names(&r), vec![f.t_tool.clone()]);
}

/// `tools/list` on S by its name with a token scoped to S.
async fn scoped_s_by_name(gw: &TestGateway, f: &TwoServers) -> TestResponse {
    let path = format!("/servers/{}/mcp", TwoServers::S_NAME);
    list(gw, &path, &gw.scoped(&f.s)).await
}

#[tokio::test]
async fn d4_servers_resolve_by_name_and_scoping_compares_canonical_ids() {
    let (gw, f) = gateway(|_| {}).await;
    let r = scoped_s_by_name(&gw, &f).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![f.s_tool.clone()]);

    let t_by_name = format!("/servers/{}/mcp", TwoServers::T_NAME);
    let r = list(&gw, &t_by_name, &gw.scoped(&f.s)).await;
    assert_eq!(r.status, 403, "S's token never reaches T by T's name");
    assert_eq!(r.json(), json!({"detail": "Access denied"}));
    let r = list(&gw, &t_by_name, &gw.admin).await;
    assert_eq!(tool_names(&r), vec![f.t_tool.clone()]);

    // The same for an ordinary (non-admin, public-only) user's scoped token.
    let user = "carol@example.com";
    gw.create_user(user, false).await;
    let scope = |id: &str| Some(json!({"server_id": id, "permissions": []}));
    let carol_s = gw.token(user, false, Some(vec![]), scope(&f.s));
    let r = list(
        &gw,
        &format!("/servers/{}/mcp", TwoServers::S_NAME),
        &carol_s,
    )
    .await;
    assert_eq!(tool_names(&r), vec![f.s_tool.clone()]);
    let r = list(&gw, &t_by_name, &carol_s).await;
    assert_eq!(r.status, 403);
    // A token scoped to S's *name* is not scoped to S: ids are canonical.
    let by_name_token = gw.scoped(TwoServers::S_NAME);
    let r = list(&gw, &format!("/servers/{}/mcp", f.s), &by_name_token).await;
    assert_eq!(r.status, 403);
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn d4_check_fails_on_a_gateway_that_scopes_before_resolving_names() {
    let (gw, f) = gateway(|s| s.policy = defect_policy("scope-before-name-resolution")).await;
    let r = scoped_s_by_name(&gw, &f).await;
    assert_eq!(r.status, 403);
}

/// `tools/list` on the global `/mcp` with a token scoped to S.
async fn scoped_s_on_global(gw: &TestGateway, f: &TwoServers) -> Vec<String> {
    tool_names(&list(gw, "/mcp", &gw.scoped(&f.s)).await)
}

#[tokio::test]
async fn c_mcp_26_d2_a_scoped_token_on_the_global_endpoint_is_narrowed_to_its_server() {
    let (gw, f) = gateway(|_| {}).await;
    assert_eq!(scoped_s_on_global(&gw, &f).await, vec![f.s_tool.clone()]);
    let scoped = gw.scoped(&f.s);
    let r = gw
        .send(gw.mcp_req("/mcp", &scoped, "tools/call", json!({"name": f.t_tool})))
        .await;
    assert_eq!(r.json()["error"]["code"], -32003, "{}", r.text());
    assert!(
        !r.text().contains(&f.t),
        "no other server's id in the error (D12)"
    );
    let r = gw
        .send(gw.mcp_req("/mcp", &scoped, "tools/call", json!({"name": f.s_tool})))
        .await;
    assert!(r.json().get("result").is_some(), "{}", r.text());
    assert_eq!(tool_names(&list(&gw, "/mcp", &gw.admin).await).len(), 2);
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn c_mcp_26_check_fails_on_a_gateway_that_leaves_global_mcp_unscoped() {
    let (gw, f) = gateway(|s| s.policy = defect_policy("global-mcp-unscoped")).await;
    assert!(scoped_s_on_global(&gw, &f).await.contains(&f.t_tool));
}

/// One traversal variant per row; `{S}` and `{T}` stand for the two servers' ids. Each, if some
/// layer normalised it, would name an MCP endpoint.
const TRAVERSALS: &[(&str, &str)] = &[
    ("dot-dot", "/servers/{T}/../{S}/mcp"),
    ("dot-dot out of /mcp", "/mcp/../servers/{S}/mcp"),
    ("dot", "/servers/{S}/./mcp"),
    ("encoded dot-dot, mixed case", "/servers/{T}/%2E%2e/{S}/mcp"),
    ("half-encoded dot-dot", "/servers/{T}/.%2E/{S}/mcp"),
    ("double-encoded dot-dot", "/servers/{T}/%252e%252e/{S}/mcp"),
    ("encoded slash in a segment", "/servers/{T}%2f..%2f{S}/mcp"),
    ("encoded slash, upper case", "/servers/{S}%2Fmcp/mcp"),
    (
        "encoded backslash in a segment",
        "/servers/{T}%5c..%5c{S}/mcp",
    ),
    ("double slash", "/servers//{S}/mcp"),
    ("leading double slash", "//servers/{S}/mcp"),
    ("double slash before mcp", "/servers/{S}//mcp"),
    ("path parameter on the id", "/servers/{S};x=1/mcp"),
    ("path parameter on mcp", "/servers/{S}/mcp;jsessionid=1"),
    ("encoded NUL", "/servers/{S}%00/mcp"),
    ("overlong UTF-8 dots", "/servers/{T}/%c0%ae%c0%ae/{S}/mcp"),
    ("trailing-dot id", "/servers/{S}./mcp"),
    ("fullwidth dots", "/servers/{T}/%ef%bc%8e%ef%bc%8e/{S}/mcp"),
];

/// Send every traversal row with `token`; the rows that were served, described.
async fn served_traversals(gw: &TestGateway, f: &TwoServers, token: &str) -> Vec<String> {
    let mut served = Vec::new();
    for (name, template) in TRAVERSALS {
        let path = template.replace("{S}", &f.s).replace("{T}", &f.t);
        let request = gw.mcp_req(&path, token, "tools/list", json!({}));
        // Every row must reach the gateway, or it tests nothing.
        let r = gw
            .try_send(request)
            .await
            .expect("a sendable request target");
        let refused = [400, 403, 404].contains(&r.status.as_u16());
        if !refused || r.json().get("jsonrpc").is_some() {
            served.push(format!("{name} ({path}) -> {} {}", r.status, r.text()));
        }
    }
    served
}

#[tokio::test]
async fn d8_traversal_variants_are_refused_for_scoped_and_admin_tokens() {
    let (gw, f) = gateway(|_| {}).await;
    for token in [gw.scoped(&f.s), gw.admin.clone()] {
        let served = served_traversals(&gw, &f, &token).await;
        assert!(
            served.is_empty(),
            "served as another route:\n{}",
            served.join("\n")
        );
    }
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn d8_check_fails_on_a_gateway_that_normalises_dot_segments() {
    let (gw, f) = gateway(|s| s.policy = defect_policy("normalise-dot-segments")).await;
    let served = served_traversals(&gw, &f, &gw.admin).await;
    assert!(served.len() >= 4, "{served:?}");
}

/// The strict policy with one defect of the matrix re-created.
#[cfg(feature = "defects")]
fn defect_policy(name: &str) -> mcpgw_reference::Policy {
    mcpgw_reference::defects::policy_with(&[name]).expect("a defect of the matrix")
}
