//! RFC 9728 protected-resource metadata and the other well-known files through `app()`
//! (C-WK-01..15), with name resolution (D4), the strict third segment (D6) and forwarded headers
//! believed only from trusted proxies (D3).

use mcpgw_reference::Settings;
use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};

const PRM: &str = "/.well-known/oauth-protected-resource";

fn oauth() -> Value {
    json!({"oauth_enabled": true, "oauth_config": {
        "authorization_servers": ["https://as.example.com"], "scopes_supported": ["read", "write"]}})
}

/// An OAuth-enabled public server "oauth-server".
async fn gateway_with(settings: Settings) -> (TestGateway, String) {
    let gw = TestGateway::with_settings(settings).await;
    let o = gw.create_server("oauth-server", oauth()).await;
    (gw, o)
}

async fn gateway() -> (TestGateway, String) {
    gateway_with(Settings::default_for_tests()).await
}

/// An unauthenticated GET with `Host: gw.example.com`.
async fn fetch(gw: &TestGateway, path: &str) -> TestResponse {
    gw.send(gw.req("GET", path).header("host", "gw.example.com"))
        .await
}

fn not_found(r: &TestResponse, detail: &str, what: &str) {
    assert_eq!(r.status, 404, "{what}: {}", r.text());
    assert_eq!(r.json(), json!({"detail": detail}), "{what}");
}

const INVALID_PATH: &str = "Invalid resource path format. Expected: /.well-known/oauth-protected-resource/servers/{server_id}/mcp";
const INVALID_ID: &str = "Invalid server_id format. Must be a valid UUID or server name.";

#[tokio::test]
async fn c_wk_01_metadata_document_needs_no_auth() {
    let (gw, o) = gateway().await;
    let r = fetch(&gw, &format!("{PRM}/servers/{o}/mcp")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(
        r.json(),
        json!({
            "resource": format!("http://gw.example.com/servers/{o}/mcp"),
            "authorization_servers": ["https://as.example.com"],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["read", "write"],
        })
    );
    // An invalid token changes nothing: the endpoint does not look at credentials.
    let r = gw
        .send(
            gw.req("GET", &format!("{PRM}/servers/{o}/mcp"))
                .bearer("garbage"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_wk_01_singular_authorization_server_and_scopes_alias() {
    let gw = TestGateway::new().await;
    let o = gw
        .create_server(
            "single",
            json!({"oauth_enabled": true, "oauth_config": {"authorization_server": "https://one.example.com", "scopes": ["x"]}}),
        )
        .await;
    let v = fetch(&gw, &format!("{PRM}/servers/{o}/mcp")).await.json();
    assert_eq!(
        v["authorization_servers"],
        json!(["https://one.example.com"])
    );
    assert_eq!(v["scopes_supported"], json!(["x"]));
    let keys: Vec<&str> = v
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "resource",
            "authorization_servers",
            "bearer_methods_supported",
            "scopes_supported"
        ]
    );
}

/// `resource` uses the first `X-Forwarded-Proto` value and the root path. D3: forwarded headers
/// count only from a trusted proxy (ContextForge believes them from anyone).
#[tokio::test]
async fn c_wk_02_resource_url_scheme_host_and_root_path() {
    let mut settings = Settings::default_for_tests();
    settings.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    settings.app_root_path = "/p".to_owned();
    let (gw, o) = gateway_with(settings).await;
    let r = gw
        .send(
            gw.req("GET", &format!("/p{PRM}/servers/{o}/mcp"))
                .header("host", "gw.example.com")
                .header("x-forwarded-proto", "https, http"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["resource"],
        format!("https://gw.example.com/p/servers/{o}/mcp")
    );
    // X-Forwarded-Host from the trusted proxy wins over Host; an odd scheme becomes https (G6).
    let r = gw
        .send(
            gw.req("GET", &format!("/p{PRM}/servers/{o}/mcp"))
                .header("host", "internal:8080")
                .header("x-forwarded-host", "public.example.com")
                .header("x-forwarded-proto", "ftp"),
        )
        .await;
    assert_eq!(
        r.json()["resource"],
        format!("https://public.example.com/p/servers/{o}/mcp")
    );
}

#[tokio::test]
async fn c_wk_02_vs_d3_forwarded_proto_from_an_untrusted_peer_is_ignored() {
    let (gw, o) = gateway().await;
    let r = gw
        .send(
            gw.req("GET", &format!("{PRM}/servers/{o}/mcp"))
                .header("host", "gw.example.com")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "evil.example.com"),
        )
        .await;
    assert_eq!(
        r.json()["resource"],
        format!("http://gw.example.com/servers/{o}/mcp")
    );
}

#[tokio::test]
async fn c_wk_03_bare_server_form_gives_the_same_resource() {
    let (gw, o) = gateway().await;
    let with_mcp = fetch(&gw, &format!("{PRM}/servers/{o}/mcp")).await;
    let bare = fetch(&gw, &format!("{PRM}/servers/{o}")).await;
    assert_eq!(bare.status, 200, "{}", bare.text());
    assert_eq!(bare.json(), with_mcp.json());
    let slash = fetch(&gw, &format!("{PRM}/servers/{o}/mcp/")).await;
    assert_eq!(
        slash.json(),
        with_mcp.json(),
        "trailing slash: {}",
        slash.text()
    );
}

#[tokio::test]
async fn c_wk_04_extra_segments_are_invalid_path_format() {
    let (gw, o) = gateway().await;
    not_found(
        &fetch(&gw, &format!("{PRM}/servers/{o}/mcp/extra")).await,
        INVALID_PATH,
        "/mcp/extra",
    );
}

/// ContextForge requires a UUID here (C-WK-05). D4 also accepts server names, so `not-a-uuid` is a
/// well-formed name that resolves to nothing ("Server not found"); anything that is neither an id
/// nor a name, and every traversal, is still refused before any lookup.
#[tokio::test]
async fn c_wk_05_vs_d4_malformed_ids_are_refused_before_lookup() {
    let (gw, _) = gateway().await;
    not_found(
        &fetch(&gw, &format!("{PRM}/servers/not-a-uuid/mcp")).await,
        "Server not found",
        "not-a-uuid",
    );
    for bad in [
        "..%2F..%2Fetc",
        "a.b",
        "%27%3B--",
        "a%20b",
        "-lead",
        "trail-",
        "%2e%2e",
        "..",
    ] {
        let r = fetch(&gw, &format!("{PRM}/servers/{bad}/mcp")).await;
        not_found(&r, INVALID_ID, bad);
    }
}

#[tokio::test]
async fn c_wk_06_other_path_shapes_are_invalid_path_format() {
    let (gw, o) = gateway().await;
    for p in [
        format!("{PRM}/tools/{o}/mcp"),
        format!("{PRM}/servers"),
        format!("{PRM}/servers/"),
        format!("{PRM}/x"),
    ] {
        not_found(&fetch(&gw, &p).await, INVALID_PATH, &p);
    }
}

#[tokio::test]
async fn c_wk_07_missing_private_team_and_disabled_servers_are_not_found() {
    let (gw, _) = gateway().await;
    not_found(
        &fetch(
            &gw,
            &format!("{PRM}/servers/0123456789abcdef0123456789abcdef/mcp"),
        )
        .await,
        "Server not found",
        "missing",
    );
    let team = gw.create_team("xteam", &[]).await;
    let private = gw
        .create_server("private-one", json!({"visibility": "private"}))
        .await;
    let team_s = gw
        .create_server("team-one", json!({"visibility": "team", "team_id": team}))
        .await;
    let disabled = gw.create_server("disabled-one", oauth()).await;
    let r = gw
        .send(
            gw.req("POST", &format!("/servers/{disabled}/state?activate=false"))
                .bearer(&gw.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for (what, id) in [
        ("private", &private),
        ("team", &team_s),
        ("disabled", &disabled),
    ] {
        not_found(
            &fetch(&gw, &format!("{PRM}/servers/{id}/mcp")).await,
            "Server not found",
            what,
        );
    }
}

/// C-WK-16 (issue 5074): an OAuth-enabled team or private server advertises this URL in its 401,
/// so the reference serves its metadata (ContextForge answers 404, the divergence C-WK-16
/// records). This is the one place where C-WK-07's "not found for non-public" gives way.
#[tokio::test]
async fn c_wk_16_oauth_enabled_non_public_server_metadata_resolves() {
    let (gw, _) = gateway().await;
    let team = gw.create_team("xteam", &[]).await;
    let mut extra = oauth();
    extra["visibility"] = json!("team");
    extra["team_id"] = json!(team);
    let t = gw.create_server("team-oauth", extra).await;
    let r = gw
        .send(
            gw.req("POST", &format!("/servers/{t}/mcp"))
                .header("host", "gw.example.com")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let advertised = format!("http://gw.example.com{PRM}/servers/{t}/mcp");
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer resource_metadata=\"{advertised}\"").as_str())
    );
    let r = fetch(&gw, &format!("{PRM}/servers/{t}/mcp")).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_wk_08_oauth_disabled_or_unconfigured() {
    let (gw, _) = gateway().await;
    let plain = gw.create_server("plain", json!({})).await;
    not_found(
        &fetch(&gw, &format!("{PRM}/servers/{plain}/mcp")).await,
        &format!("OAuth not enabled for server: {plain}"),
        "oauth disabled",
    );
    let empty = gw
        .create_server("empty-config", json!({"oauth_enabled": true}))
        .await;
    not_found(
        &fetch(&gw, &format!("{PRM}/servers/{empty}/mcp")).await,
        &format!("OAuth not configured for server: {empty}"),
        "no config",
    );
    let no_as = gw
        .create_server(
            "no-as",
            json!({"oauth_enabled": true, "oauth_config": {"scopes": ["x"]}}),
        )
        .await;
    not_found(
        &fetch(&gw, &format!("{PRM}/servers/{no_as}/mcp")).await,
        &format!("OAuth authorization_server not configured for server: {no_as}"),
        "no authorization server",
    );
}

/// C-WK-09: the dashed and upper-case spellings of O's id find nothing (ids are exact, 32
/// lowercase hex); D4 reads them as names, which are not taken either.
#[tokio::test]
async fn c_wk_09_non_canonical_id_spellings_are_not_found() {
    let (gw, o) = gateway().await;
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &o[..8],
        &o[8..12],
        &o[12..16],
        &o[16..20],
        &o[20..]
    );
    for id in [dashed, o.to_uppercase()] {
        not_found(
            &fetch(&gw, &format!("{PRM}/servers/{id}/mcp")).await,
            "Server not found",
            &id,
        );
    }
}

/// ContextForge never checks the third segment (C-WK-10, gap G4). D6: only `mcp` (or nothing).
#[tokio::test]
async fn c_wk_10_vs_d6_third_segment_must_be_mcp() {
    let (gw, o) = gateway().await;
    for third in ["anything", "sse", "MCP", "mcp2"] {
        not_found(
            &fetch(&gw, &format!("{PRM}/servers/{o}/{third}")).await,
            INVALID_PATH,
            third,
        );
    }
}

/// PR 4237 was never merged, so ContextForge refuses names here (C-WK-11). D4: names resolve, and
/// `resource` carries the canonical id.
#[tokio::test]
async fn c_wk_11_vs_d4_server_names_resolve_to_the_canonical_id() {
    let (gw, o) = gateway().await;
    let by_name = fetch(&gw, &format!("{PRM}/servers/oauth-server/mcp")).await;
    assert_eq!(by_name.status, 200, "{}", by_name.text());
    assert_eq!(
        by_name.json()["resource"],
        format!("http://gw.example.com/servers/{o}/mcp")
    );
    assert_eq!(
        by_name.json(),
        fetch(&gw, &format!("{PRM}/servers/{o}/mcp")).await.json()
    );
}

#[tokio::test]
async fn c_wk_12_query_form_is_deprecated() {
    let (gw, o) = gateway().await;
    for p in [format!("{PRM}?server_id={o}"), PRM.to_owned()] {
        not_found(
            &fetch(&gw, &p).await,
            "This endpoint is deprecated and non-compliant with RFC 9728. Use the path-based endpoint: /.well-known/oauth-protected-resource/servers/{server_id}/mcp",
            &p,
        );
    }
}

#[tokio::test]
async fn c_wk_13_old_per_server_form_moves_permanently() {
    let mut settings = Settings::default_for_tests();
    settings.app_root_path = "/p".to_owned();
    let (gw, o) = gateway_with(settings).await;
    let r = fetch(
        &gw,
        &format!("/p/servers/{o}/.well-known/oauth-protected-resource"),
    )
    .await;
    assert_eq!(r.status, 301, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("http://gw.example.com/p{PRM}/servers/{o}/mcp").as_str())
    );
    // D4: by name, the Location carries the canonical id.
    let r = fetch(
        &gw,
        "/p/servers/oauth-server/.well-known/oauth-protected-resource",
    )
    .await;
    assert_eq!(r.status, 301, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("http://gw.example.com/p{PRM}/servers/{o}/mcp").as_str())
    );
    // Other files under a server's .well-known are not served.
    not_found(
        &fetch(&gw, &format!("/p/servers/{o}/.well-known/security.txt")).await,
        "Not found",
        "security.txt",
    );
}

#[tokio::test]
async fn c_wk_14_disabled_well_known_is_not_found_everywhere() {
    let mut settings = Settings::default_for_tests();
    settings.well_known_enabled = false;
    let (gw, o) = gateway_with(settings).await;
    for p in [
        format!("{PRM}/servers/{o}/mcp"),
        format!("{PRM}/servers/{o}"),
        format!("{PRM}/servers/0123456789abcdef0123456789abcdef/mcp"),
        format!("{PRM}/servers/ghost/mcp"),
        format!("{PRM}/servers/{o}/anything"),
        format!("{PRM}/tools/x"),
        format!("{PRM}?server_id={o}"),
        format!("/servers/{o}/.well-known/oauth-protected-resource"),
        "/servers/ghost/.well-known/oauth-protected-resource".to_owned(),
        "/.well-known/robots.txt".to_owned(),
    ] {
        not_found(&fetch(&gw, &p).await, "Not found", &p);
    }
}

#[tokio::test]
async fn c_wk_15_robots_txt() {
    let (gw, _) = gateway().await;
    let r = fetch(&gw, "/.well-known/robots.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert_eq!(r.header("x-robots-tag"), Some("noindex, nofollow"));
    assert!(r.text().contains("User-agent"));
    not_found(
        &fetch(&gw, "/.well-known/security.txt").await,
        "Not found",
        "security.txt",
    );
}
