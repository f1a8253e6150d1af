//! Test tokens: locally signed in the claim shape ContextForge's CLI produces, or requested from
//! the target's `POST /tokens` the way ContextForge users mint API tokens.
//!
//! Pure functions: the claims of a token fixture are computed from what was provisioned
//! ([`TokenInputs`]) and the current time, then signed (HS256/384/512, or `alg: none`);
//! [`api_refusal`] says whether `POST /tokens` can make a token with the fixture's meaning at all,
//! and [`api_request`] is the body to send when it can.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::scenario::{Algorithm, Fixtures, TokenFixture};

/// What signing needs to know about the target.
#[derive(Debug, Clone)]
pub struct JwtKeys {
    pub secret: String,
    pub audience: String,
    pub issuer: String,
}

/// A token fixture with its references resolved.
#[derive(Debug, Clone)]
pub(crate) struct TokenInputs<'a> {
    pub fixture: &'a TokenFixture,
    pub email: String,
    pub admin: bool,
    /// Team ids (already resolved from keys).
    pub teams: Option<Vec<String>>,
    pub server_id: Option<String>,
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The claims of the platform administrator's admin-bypass token.
pub(crate) fn admin_claims(email: &str, keys: &JwtKeys) -> Value {
    let f = TokenFixture::default();
    claims(
        &TokenInputs {
            fixture: &f,
            email: email.to_owned(),
            admin: true,
            teams: None,
            server_id: None,
        },
        keys,
        now_secs(),
    )
}

/// The `scopes` claim of a fixture, or `None` when it restricts nothing.
pub(crate) fn scopes(inputs: &TokenInputs<'_>) -> Option<Value> {
    let f = inputs.fixture;
    if inputs.server_id.is_none()
        && f.permissions.is_empty()
        && f.ip_restrictions.is_empty()
        && f.time_restrictions.is_none()
    {
        return None;
    }
    Some(json!({
        "server_id": inputs.server_id,
        "permissions": f.permissions,
        "ip_restrictions": f.ip_restrictions,
        "time_restrictions": f.time_restrictions.clone().unwrap_or_else(|| json!({})),
    }))
}

/// Claims of a fixture at time `now`.
pub(crate) fn claims(inputs: &TokenInputs<'_>, keys: &JwtKeys, now: i64) -> Value {
    let mut c = Map::new();
    c.insert("sub".into(), json!(inputs.email));
    c.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + 3600));
    c.insert("iss".into(), json!(keys.issuer));
    c.insert("aud".into(), json!(keys.audience));
    c.insert(
        "user".into(),
        json!({"email": inputs.email, "full_name": inputs.email, "is_admin": inputs.admin, "auth_provider": "cli"}),
    );
    match (&inputs.teams, inputs.admin) {
        (Some(t), _) => {
            c.insert("teams".into(), json!(t));
        }
        (None, true) => {
            c.insert("teams".into(), Value::Null);
        }
        (None, false) => {}
    }
    if inputs.admin {
        c.insert("is_admin".into(), json!(true));
    }
    if let Some(s) = scopes(inputs) {
        c.insert("scopes".into(), s);
    }
    if let Some(overrides) = &inputs.fixture.claims {
        for (k, v) in overrides {
            c.insert(k.clone(), relative_time(k, v, now));
        }
    }
    for k in &inputs.fixture.without {
        c.remove(k);
    }
    Value::Object(c)
}

/// How a token fixture is made on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mint {
    /// `POST /tokens` (revoked at cleanup).
    Api,
    /// Signed locally with the target's JWT secret.
    Sign,
    /// The target's own admin token (from `--token`), when the fixture is nothing more.
    AdminToken,
}

/// Choose how to make a token of a scenario with these `fixtures`. `api_first`: the profile
/// mints through the API wherever it can (see [`crate::target::Profile::api_tokens_first`]).
pub(crate) fn choose_mint(
    f: &TokenFixture,
    fixtures: &Fixtures,
    api_first: bool,
    have_secret: bool,
) -> Mint {
    use crate::scenario::TokenSource;
    let sign_if_possible = if have_secret { Mint::Sign } else { Mint::Api };
    // Only the issuer can revoke what it issued.
    if f.revoked {
        return Mint::Api;
    }
    match f.source {
        TokenSource::Sign => Mint::Sign,
        TokenSource::Api => Mint::Api,
        TokenSource::Auto if f.needs_signing() => Mint::Sign,
        TokenSource::Auto if !api_first => sign_if_possible,
        // The administrator's unrestricted token is what ContextForge's CLI makes
        // (`create_jwt_token --admin`, a local signature), and the only kind that may manage
        // tokens: API tokens get 403 on /tokens. A fresh signature keeps its jti its own.
        TokenSource::Auto if is_plain_admin(f) => {
            if have_secret {
                Mint::Sign
            } else {
                Mint::AdminToken
            }
        }
        TokenSource::Auto if api_refusal(f, fixtures).is_some() => Mint::Sign,
        TokenSource::Auto => Mint::Api,
    }
}

/// The platform administrator's admin bypass with no restriction at all.
fn is_plain_admin(f: &TokenFixture) -> bool {
    f.user.is_none()
        && f.admin != Some(false)
        && f.teams.is_none()
        && f.server.is_none()
        && f.server_id.is_none()
        && f.permissions.is_empty()
        && f.ip_restrictions.is_empty()
        && f.time_restrictions.is_none()
}

/// Why ContextForge's `POST /tokens` (1.1.0, as observed) cannot make a token that means what
/// the fixture asks for, or `None` when it can. Only the fixtures' shape matters, so the answer
/// is known before anything is provisioned.
pub(crate) fn api_refusal(f: &TokenFixture, fixtures: &Fixtures) -> Option<&'static str> {
    if f.needs_signing() {
        return Some("raw claims, another key or algorithm, or not exactly one team");
    }
    let admin = f.admin.unwrap_or(f.user.is_none());
    match (&f.user, admin) {
        (Some(_), true) => {
            return Some("an API token for another user is never an admin bypass (teams: null)");
        }
        (None, false) => return Some("the API marks the administrator's own tokens is_admin"),
        _ => {}
    }
    if !admin && f.teams.is_none() {
        // Without team_id the API narrows a user's token to their personal team.
        return Some("a public-only token (no teams claim) for a user");
    }
    // Teams are owned by the administrator; a user's team token needs membership.
    if let (Some(user), Some(teams)) = (&f.user, &f.teams) {
        let member = |t: &String| {
            fixtures
                .teams
                .get(t)
                .is_some_and(|team| team.members.contains(user))
        };
        if !teams.iter().all(member) {
            return Some("a team token for a user who is not a member (the API refuses it)");
        }
    }
    if f.permissions.iter().any(|p| !api_accepts_permission(p)) {
        return Some("a permission the API refuses (it takes `resource.action` or `*`)");
    }
    if appends_servers_use(&f.permissions) {
        return Some("MCP permissions without servers.use (the API appends servers.use)");
    }
    if f.ip_restrictions.iter().any(|ip| !is_ip_or_cidr(ip)) {
        return Some("an IP restriction the API refuses");
    }
    None
}

/// `resource.action` (or the older `resource:action`), each part a letter then letters, digits
/// or `_`; or `*`.
fn api_accepts_permission(p: &str) -> bool {
    let part = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    p == "*"
        || p.split_once(['.', ':'])
            .is_some_and(|(resource, action)| part(resource) && part(action))
}

/// ContextForge adds `servers.use` to a permission list naming tools, resources or prompts, so
/// such tokens keep MCP transport access; a fixture without it means something else.
fn appends_servers_use(permissions: &[String]) -> bool {
    let mcp = |p: &String| {
        ["tools.", "resources.", "prompts."]
            .iter()
            .any(|x| p.starts_with(x))
    };
    !permissions.is_empty()
        && !permissions.iter().any(|p| p == "*" || p == "servers.use")
        && permissions.iter().any(mcp)
}

fn is_ip_or_cidr(s: &str) -> bool {
    use std::net::IpAddr;
    match s.trim().split_once('/') {
        None => s.trim().parse::<IpAddr>().is_ok(),
        Some((addr, bits)) => match (addr.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(b)) => b <= 32,
            (Ok(IpAddr::V6(_)), Ok(b)) => b <= 128,
            _ => false,
        },
    }
}

/// The `POST /tokens` body for a fixture (`name` unique per run). One day is the shortest
/// lifetime the API grants (`expires_in_days` is required and at least 1).
pub(crate) fn api_request(inputs: &TokenInputs<'_>, name: &str, platform_admin: &str) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("description".into(), json!("conformance harness"));
    body.insert("expires_in_days".into(), json!(1));
    if let Some(scopes) = scopes(inputs) {
        body.insert("scope".into(), scopes);
    }
    if inputs.email != platform_admin {
        body.insert("user_email".into(), json!(inputs.email));
    }
    if let Some([team]) = inputs.teams.as_deref() {
        body.insert("team_id".into(), json!(team));
    }
    Value::Object(body)
}

/// `exp`/`iat`/`nbf` below 10^9 are offsets from now.
fn relative_time(key: &str, v: &Value, now: i64) -> Value {
    match (key, v.as_i64()) {
        ("exp" | "iat" | "nbf", Some(n)) if n.abs() < 1_000_000_000 => json!(now + n),
        _ => v.clone(),
    }
}

/// Sign claims.
pub(crate) fn sign_claims(claims: &Value, secret: &[u8], alg: Algorithm) -> String {
    let alg = match alg {
        Algorithm::None => {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            return format!("{header}.{payload}.");
        }
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
        Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys {
            secret: "s".into(),
            audience: "mcpgateway-api".into(),
            issuer: "mcpgateway".into(),
        }
    }

    #[test]
    fn admin_bypass_has_null_teams_and_is_admin() {
        let c = admin_claims("admin@example.com", &keys());
        assert_eq!(c["teams"], Value::Null);
        assert_eq!(c["is_admin"], json!(true));
        assert!(c.get("scopes").is_none());
    }

    #[test]
    fn overrides_are_relative_and_without_removes() {
        let f = TokenFixture {
            claims: Some(serde_json::from_value(json!({"exp": -60, "env": "production"})).unwrap()),
            without: vec!["jti".into()],
            permissions: vec!["tools.read".into()],
            ..Default::default()
        };
        let i = TokenInputs {
            fixture: &f,
            email: "a@x".into(),
            admin: false,
            teams: None,
            server_id: Some("S".into()),
        };
        let c = claims(&i, &keys(), 1000);
        assert_eq!(c["exp"], json!(940));
        assert_eq!(c["env"], json!("production"));
        assert!(c.get("jti").is_none());
        assert!(c.get("teams").is_none());
        assert_eq!(c["scopes"]["server_id"], json!("S"));
        let t = sign_claims(&c, b"s", Algorithm::None);
        assert!(t.ends_with('.'));
    }

    fn fixture(yaml: &str) -> TokenFixture {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// alice is in red, not in blue.
    fn teams() -> Fixtures {
        serde_saphyr::from_str("{users: {alice: {}}, teams: {red: {members: [alice]}, blue: {}}}")
            .unwrap()
    }

    #[test]
    fn api_mints_what_contextforge_users_can_mint() {
        for ok in [
            "{}",
            "{server: S}",
            "{server_id: 00000000000000000000000000000000}",
            "{server_id: \"\"}",
            "{server: S, permissions: [tools.read, servers.use]}",
            "{permissions: [\"*\"]}",
            "{permissions: [admin.read]}",
            "{user: alice, teams: [red]}",
            "{user: alice, teams: [red], permissions: [tools.execute, servers.use]}",
            "{teams: [red]}",
            "{ip_restrictions: [10.0.0.0/24, \"::1\"]}",
            "{time_restrictions: {weekdays_only: true}}",
        ] {
            assert_eq!(api_refusal(&fixture(ok), &teams()), None, "{ok}");
        }
    }

    #[test]
    fn api_cannot_mint_other_meanings() {
        for no in [
            "{claims: {exp: -60}}",
            "{without: [jti]}",
            "{algorithm: HS512}",
            "{source: sign}",
            "{user: alice}",
            "{user: alice, admin: true}",
            "{admin: false}",
            "{teams: []}",
            "{user: alice, teams: [red, blue]}",
            "{user: alice, teams: [blue]}",
            "{permissions: [tools.read]}",
            "{permissions: [\"tools.*\"]}",
            "{ip_restrictions: [999.1.1.1]}",
            "{ip_restrictions: [10.0.0.0/33]}",
        ] {
            assert!(api_refusal(&fixture(no), &teams()).is_some(), "{no}");
        }
    }

    #[test]
    fn plain_admin_is_the_cli_token_and_the_rest_prefers_the_api() {
        let plain = fixture("{}");
        assert_eq!(choose_mint(&plain, &teams(), true, true), Mint::Sign);
        assert_eq!(choose_mint(&plain, &teams(), true, false), Mint::AdminToken);
        let scoped = fixture("{server: S}");
        assert_eq!(choose_mint(&scoped, &teams(), true, true), Mint::Api);
        assert_eq!(choose_mint(&scoped, &teams(), false, true), Mint::Sign);
        assert_eq!(choose_mint(&scoped, &teams(), false, false), Mint::Api);
        let public_only = fixture("{user: alice}");
        assert_eq!(choose_mint(&public_only, &teams(), true, false), Mint::Sign);
        assert_eq!(
            choose_mint(&fixture("{source: api}"), &teams(), true, true),
            Mint::Api
        );
    }

    #[test]
    fn api_request_names_user_and_team() {
        let f = fixture("{user: alice, teams: [red], server: S}");
        let i = TokenInputs {
            fixture: &f,
            email: "alice@x".into(),
            admin: false,
            teams: Some(vec!["T1".into()]),
            server_id: Some("S1".into()),
        };
        let b = api_request(&i, "k-run", "admin@example.com");
        assert_eq!(b["user_email"], json!("alice@x"));
        assert_eq!(b["team_id"], json!("T1"));
        assert_eq!(b["scope"]["server_id"], json!("S1"));
        assert_eq!(b["expires_in_days"], json!(1));
        let admin = TokenInputs {
            email: "admin@example.com".into(),
            teams: None,
            ..i
        };
        let b = api_request(&admin, "k-run", "admin@example.com");
        assert!(b.get("user_email").is_none() && b.get("team_id").is_none());
    }
}
