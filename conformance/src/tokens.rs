//! Locally signed test tokens, in the claim shape ContextForge's CLI produces.
//!
//! Pure functions: the claims of a token fixture are computed from what was provisioned
//! ([`TokenInputs`]) and the current time, then signed (HS256/384/512, or `alg: none`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::scenario::{Algorithm, TokenFixture};

/// What signing needs to know about the target.
#[derive(Debug, Clone)]
pub struct JwtKeys {
    pub secret: String,
    pub audience: String,
    pub issuer: String,
}

/// A token fixture with its references resolved.
#[derive(Debug, Clone)]
pub struct TokenInputs<'a> {
    pub fixture: &'a TokenFixture,
    pub email: String,
    pub admin: bool,
    /// Team ids (already resolved from keys).
    pub teams: Option<Vec<String>>,
    pub server_id: Option<String>,
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The claims of the platform administrator's admin-bypass token.
pub fn admin_claims(email: &str, keys: &JwtKeys) -> Value {
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
pub fn scopes(inputs: &TokenInputs<'_>) -> Option<Value> {
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
pub fn claims(inputs: &TokenInputs<'_>, keys: &JwtKeys, now: i64) -> Value {
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

/// `exp`/`iat`/`nbf` below 10^9 are offsets from now.
fn relative_time(key: &str, v: &Value, now: i64) -> Value {
    match (key, v.as_i64()) {
        ("exp" | "iat" | "nbf", Some(n)) if n.abs() < 1_000_000_000 => json!(now + n),
        _ => v.clone(),
    }
}

/// Sign claims.
pub fn sign_claims(claims: &Value, secret: &[u8], alg: Algorithm) -> String {
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
}
