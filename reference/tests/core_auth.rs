//! Authentication through `app()`: JWT verification and its exact 401s (C-AUTH-01..07), the
//! subject and revocation checks, API tokens (C-AUTH-10..13), permissive `/rpc` (C-AUTH-14) and
//! the empty-bearer challenge on an OAuth server (D5).

use mcpgw_reference::Settings;
use mcpgw_reference::testing::{TestGateway, TestResponse, base64url};
use serde_json::{Value, json};

const MONDAY_NOON: &str = "2026-11-23T12:00:00Z";

async fn gateway() -> TestGateway {
    TestGateway::with_clock(Settings::default_for_tests(), MONDAY_NOON).await
}

/// Claims of a valid token for the administrator at the gateway's (fixed) clock.
fn claims(gw: &TestGateway) -> serde_json::Map<String, Value> {
    let now = gw.state.now_secs();
    let v = json!({"sub": "admin@example.com", "jti": "jti-1", "iat": now, "exp": now + 600,
        "iss": "mcpgateway", "aud": "mcpgateway-api", "teams": null, "is_admin": true,
        "user": {"email": "admin@example.com", "is_admin": true}});
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn with(gw: &TestGateway, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims(gw);
    f(&mut c);
    gw.sign(&Value::Object(c))
}

/// 401 with `detail` and `WWW-Authenticate: Bearer`, on a REST route and on `/rpc`.
async fn refused(gw: &TestGateway, token: &str, detail: &str) {
    let rest = gw.send(gw.req("GET", "/tools").bearer(token)).await;
    let rpc = gw.rpc("/rpc", token, "ping", json!({})).await;
    for (what, r) in [("GET /tools", rest), ("POST /rpc", rpc)] {
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.json(), json!({"detail": detail}), "{what}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
    }
}

async fn accepted(gw: &TestGateway, token: &str) {
    let r = gw.send(gw.req("GET", "/tools").bearer(token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_auth_01_wrong_signing_key_is_invalid_token() {
    let gw = gateway().await;
    accepted(&gw, &with(&gw, |_| {})).await;
    let forged = mcpgw_reference::auth::jwt::sign(&Value::Object(claims(&gw)), b"wrong-key");
    refused(&gw, &forged, "Invalid token").await;
    refused(&gw, "garbage", "Invalid token").await;
}

#[tokio::test]
async fn c_auth_02_wrong_audience_or_issuer_is_invalid_token() {
    let gw = gateway().await;
    for (k, v) in [
        ("aud", json!("other-api")),
        ("iss", json!("someone-else")),
        ("aud", json!(7)),
    ] {
        refused(
            &gw,
            &with(&gw, |c| {
                c.insert(k.into(), v);
            }),
            "Invalid token",
        )
        .await;
    }
    for k in ["aud", "iss"] {
        refused(
            &gw,
            &with(&gw, |c| {
                c.remove(k);
            }),
            "Invalid token",
        )
        .await;
    }
}

#[tokio::test]
async fn c_auth_03_missing_exp_is_refused_by_default() {
    let gw = gateway().await;
    let t = with(&gw, |c| {
        c.remove("exp");
    });
    refused(
        &gw,
        &t,
        "Token is missing required expiration claim. Set REQUIRE_TOKEN_EXPIRATION=false to allow.",
    )
    .await;
    let mut relaxed = Settings::default_for_tests();
    relaxed.require_token_expiration = false;
    let gw2 = TestGateway::with_clock(relaxed, MONDAY_NOON).await;
    let t = with(&gw2, |c| {
        c.remove("exp");
    });
    accepted(&gw2, &t).await;
}

#[tokio::test]
async fn c_auth_04_missing_jti_is_refused_by_default() {
    let gw = gateway().await;
    let t = with(&gw, |c| {
        c.remove("jti");
    });
    refused(
        &gw,
        &t,
        "Token is missing required JTI claim. Set REQUIRE_JTI=false to allow.",
    )
    .await;
}

#[tokio::test]
async fn c_auth_05_expired_token() {
    let gw = gateway().await;
    let now = gw.state.now_secs();
    let t = with(&gw, |c| {
        c.insert("exp".into(), json!(now - 1));
    });
    refused(&gw, &t, "Token has expired").await;
    let t = with(&gw, |c| {
        c.insert("exp".into(), json!(now));
    });
    refused(&gw, &t, "Token has expired").await;
}

#[tokio::test]
async fn c_auth_06_environment_mismatch_and_missing_env() {
    let gw = gateway().await;
    let t = with(&gw, |c| {
        c.insert("env".into(), json!("production"));
    });
    refused(
        &gw,
        &t,
        "Token environment mismatch: token is for 'production', server is 'development'",
    )
    .await;
    accepted(
        &gw,
        &with(&gw, |c| {
            c.insert("env".into(), json!("development"));
        }),
    )
    .await;
    accepted(
        &gw,
        &with(&gw, |c| {
            c.remove("env");
        }),
    )
    .await;
}

#[tokio::test]
async fn c_auth_07_alg_none_and_other_algorithms_are_invalid_token() {
    let gw = gateway().await;
    let payload = base64url(&serde_json::to_vec(&Value::Object(claims(&gw))).expect("JSON"));
    let none = format!("{}.{payload}.", base64url(br#"{"alg":"none","typ":"JWT"}"#));
    refused(&gw, &none, "Invalid token").await;
    let secret = gw.state.settings.jwt_secret_key.clone().expect("a secret");
    let secret = secret.as_bytes();
    for alg in [
        jsonwebtoken::Algorithm::HS512,
        jsonwebtoken::Algorithm::HS384,
    ] {
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &Value::Object(claims(&gw)),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .expect("HMAC signing");
        refused(&gw, &t, "Invalid token").await;
    }
    // An HS256 signature under a header that claims RS256.
    let good = with(&gw, |_| {});
    let mut parts = good.splitn(3, '.');
    let (_, body, sig) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let relabelled = format!(
        "{}.{body}.{sig}",
        base64url(br#"{"alg":"RS256","typ":"JWT"}"#)
    );
    refused(&gw, &relabelled, "Invalid token").await;
}

#[tokio::test]
async fn subject_must_be_a_known_active_user() {
    let gw = gateway().await;
    let ghost = gw.user_token("ghost@example.com", Some(vec![]), None);
    refused(&gw, &ghost, "User not found in database").await;
    let r = gw
        .admin_json(
            "POST",
            "/auth/email/admin/users",
            &json!({"email": "off@example.com", "password": "long-enough-pass", "is_active": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    refused(
        &gw,
        &gw.user_token("off@example.com", Some(vec![]), None),
        "Account disabled",
    )
    .await;
}

// ---- API tokens -----------------------------------------------------------------------------

async fn create_token(gw: &TestGateway, as_token: &str, body: Value) -> TestResponse {
    gw.send(gw.req("POST", "/tokens").bearer(as_token).json(&body))
        .await
}

#[tokio::test]
async fn c_auth_10_api_token_claims() {
    let gw = gateway().await;
    let s = gw.create_server("alpha", json!({})).await;
    let r = create_token(
        &gw,
        &gw.admin,
        json!({"name": "t", "scope": {"server_id": s, "permissions": ["tools.read"],
            "usage_limits": {"requests_per_hour": 5}}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["token"]["name"], "t");
    assert_eq!(v["token"]["server_id"], s.as_str());
    let claims = gw.claims_of(v["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["token_use"], "api");
    assert_eq!(
        claims["scopes"]["permissions"],
        json!(["tools.read", "servers.use"])
    );
    assert_eq!(claims["scopes"]["server_id"], s.as_str());
    assert!(
        claims["scopes"].get("usage_limits").is_none(),
        "usage_limits in the JWT: {claims}"
    );
    assert_eq!(claims["iss"], "mcpgateway");
    assert_eq!(claims["aud"], "mcpgateway-api");
    assert!(claims["jti"].is_string());
    // The reference gives a token without `expires_in_days` a 30-day `exp` (ContextForge leaves
    // `exp` out, which its own REQUIRE_TOKEN_EXPIRATION default would then refuse).
    assert_eq!(
        claims["exp"].as_i64(),
        Some(gw.state.now_secs() + 30 * 86_400)
    );
    // The token works within its scope.
    let tok = v["access_token"].as_str().unwrap_or_default();
    let r = gw
        .rpc(&format!("/servers/{s}/mcp"), tok, "tools/list", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn c_auth_11_invalid_token_requests_are_422() {
    let gw = gateway().await;
    for scope_or_body in [
        json!({"name": "t", "scope": {"permissions": ["tools.*"]}}),
        json!({"name": "t", "scope": {"permissions": ["bad"]}}),
        json!({"name": "t", "scope": {"ip_restrictions": ["999.1.1.1"]}}),
        json!({"name": "t", "expires_in_days": 0}),
        json!({"name": "t", "expires_in_days": -3}),
        json!({"name": ""}),
    ] {
        let r = create_token(&gw, &gw.admin, scope_or_body.clone()).await;
        assert_eq!(r.status, 422, "{scope_or_body}: {}", r.text());
    }
    let r = create_token(
        &gw,
        &gw.admin,
        json!({"name": "ok", "scope": {"ip_restrictions": ["10.0.0.0/8", "::1"]}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn c_auth_12_api_token_without_team_is_public_only_for_non_admins() {
    let gw = gateway().await;
    let user = "user@example.com";
    gw.create_user(user, false).await;
    let team = gw.create_team("xteam", &[user]).await;
    let p = gw
        .create_server(
            "team-server",
            json!({"visibility": "team", "team_id": team}),
        )
        .await;
    let session = gw.user_token(user, Some(vec![team.clone()]), None);
    assert_eq!(
        gw.send(gw.req("GET", &format!("/servers/{p}")).bearer(&session))
            .await
            .status,
        200
    );

    let r = create_token(&gw, &session, json!({"name": "mine"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let api = r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let claims = gw.claims_of(&api);
    assert!(
        claims.get("teams").is_some_and(Value::is_null),
        "teams claim: {claims}"
    );
    let r = gw
        .send(gw.req("GET", &format!("/servers/{p}")).bearer(&api))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());

    // With team_id, the token carries that team and sees the team's server.
    let r = create_token(&gw, &session, json!({"name": "team", "team_id": team})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let api = r.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(gw.claims_of(&api)["teams"], json!([team]));
    assert_eq!(
        gw.send(gw.req("GET", &format!("/servers/{p}")).bearer(&api))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn c_auth_13_creating_tokens_needs_tokens_create() {
    let gw = gateway().await;
    let tok = gw.admin_with_scopes(json!({"permissions": ["tools.read"]}));
    let r = create_token(&gw, &tok, json!({"name": "t"})).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Access denied"}));
    let tok = gw.admin_with_scopes(json!({"permissions": ["tokens.create", "tools.read"]}));
    let r = create_token(
        &gw,
        &tok,
        json!({"name": "t", "scope": {"permissions": ["tools.read"]}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // ...and never more than the creator holds.
    let r = create_token(
        &gw,
        &tok,
        json!({"name": "t2", "scope": {"permissions": ["tools.execute"]}}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
}

#[tokio::test]
async fn api_tokens_are_revoked_by_jti() {
    let gw = gateway().await;
    let r = create_token(&gw, &gw.admin, json!({"name": "short-lived"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let tok = v["access_token"].as_str().unwrap_or_default().to_owned();
    let id = v["token"]["id"].as_str().unwrap_or_default().to_owned();
    accepted(&gw, &tok).await;
    let listed = gw
        .send(gw.req("GET", "/tokens").bearer(&gw.admin))
        .await
        .json();
    assert!(
        listed["tokens"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t["id"] == id.as_str())),
        "{listed}"
    );
    let r = gw
        .send(gw.req("DELETE", &format!("/tokens/{id}")).bearer(&gw.admin))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    refused(&gw, &tok, "Token has been revoked").await;
}

#[tokio::test]
async fn c_auth_14_permissive_rpc_serves_public_tools_to_anonymous_callers() {
    let mut settings = Settings::default_for_tests();
    settings.auth_required = false;
    let gw = TestGateway::with_settings(settings).await;
    gw.create_user("owner@example.com", false).await;
    let team = gw.create_team("t", &["owner@example.com"]).await;
    gw.create_rest_tool("public-tool", "http://127.0.0.1:9/p", json!({}))
        .await;
    gw.create_rest_tool(
        "team-tool",
        "http://127.0.0.1:9/t",
        json!({"visibility": "team", "team_id": team}),
    )
    .await;
    let r = gw
        .post_json(
            "/rpc",
            None,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = r.json()["result"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, vec!["public-tool"]);
    // A token that fails is still refused: permissive does not mean "ignore bad credentials".
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .bearer("garbage")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    // The admin API still needs a user.
    let r = gw
        .send(
            gw.req("POST", "/servers")
                .json(&json!({"server": {"name": "anon"}})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
}

// ---- D5 -------------------------------------------------------------------------------------

/// Issue 3990: ContextForge answers an empty bearer on an OAuth server with a bare `Bearer`
/// challenge. D5: it gets the `resource_metadata` challenge, like a missing token.
#[tokio::test]
async fn d5_empty_bearer_on_an_oauth_server_gets_resource_metadata() {
    let gw = gateway().await;
    let o = gw
        .create_server(
            "oauth-server",
            json!({"oauth_enabled": true, "oauth_config": {"authorization_servers": ["https://as.example.com"]}}),
        )
        .await;
    let expected = format!(
        "Bearer resource_metadata=\"http://gw.example.com/.well-known/oauth-protected-resource/servers/{o}/mcp\""
    );
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for (what, auth) in [
        ("empty bearer", Some("Bearer ")),
        ("bare scheme", Some("Bearer")),
        ("no token", None),
    ] {
        let mut req = gw
            .req("POST", &format!("/servers/{o}/mcp"))
            .header("host", "gw.example.com")
            .header("accept", "application/json, text/event-stream")
            .json(&ping);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = gw.send(req).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate"),
            Some(expected.as_str()),
            "{what}"
        );
    }
    // By name too, with the canonical id in the challenge (D4).
    let r = gw
        .send(
            gw.req("POST", "/servers/oauth-server/mcp")
                .header("host", "gw.example.com")
                .header("authorization", "Bearer ")
                .json(&ping),
        )
        .await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(expected.as_str()),
        "{}",
        r.text()
    );
}

/// Lifetimes far beyond what a timestamp can hold are refused, not overflowed.
#[tokio::test]
async fn c_auth_11_absurd_token_lifetimes_are_422_not_a_panic() {
    let gw = gateway().await;
    for days in [
        json!(i64::MAX),
        json!(106_751_991_167_300_i64),
        json!(10_000_000),
        json!(1e300),
    ] {
        let r = create_token(
            &gw,
            &gw.admin,
            json!({"name": "forever", "expires_in_days": days}),
        )
        .await;
        assert!(r.status == 422, "{days}: {} {}", r.status, r.text());
    }
    let r = create_token(
        &gw,
        &gw.admin,
        json!({"name": "long", "expires_in_days": 3650}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
}
