//! JWT verification (HS256 only), as a pure function of the token, the settings and the clock.
//!
//! The checks run in PyJWT's order so that each failure gets ContextForge's exact 401 detail:
//! algorithm and signature, `exp` present, `exp` in the future, `nbf`, `aud`, `iss`, then the
//! gateway's own `jti` and `env` checks.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

use super::claims::Claims;

/// What verification needs to know.
#[derive(Debug, Clone)]
pub(crate) struct JwtConfig {
    pub secret: Vec<u8>,
    pub audience: String,
    pub issuer: String,
    pub environment: String,
    pub require_exp: bool,
    pub require_jti: bool,
}

/// Why a token was refused; `detail()` is the body text of the 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    Invalid,
    MissingExp,
    Expired,
    MissingJti,
    EnvironmentMismatch { token: String, server: String },
}

impl TokenError {
    pub(crate) fn detail(&self) -> String {
        match self {
            TokenError::Invalid => "Invalid token".to_owned(),
            TokenError::MissingExp => {
                "Token is missing required expiration claim. Set REQUIRE_TOKEN_EXPIRATION=false to allow."
                    .to_owned()
            }
            TokenError::Expired => "Token has expired".to_owned(),
            TokenError::MissingJti => {
                "Token is missing required JTI claim. Set REQUIRE_JTI=false to allow.".to_owned()
            }
            TokenError::EnvironmentMismatch { token, server } => {
                format!("Token environment mismatch: token is for '{token}', server is '{server}'")
            }
        }
    }
}

fn numeric(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Verify `token` at `now` (seconds since the epoch).
pub(crate) fn verify(token: &str, cfg: &JwtConfig, now: i64) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Invalid);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // Claims are checked below, in order, for exact error details.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
        token,
        &DecodingKey::from_secret(&cfg.secret),
        &validation,
    )
    .map_err(|_| TokenError::Invalid)?;
    let raw = data.claims;
    let claims: Claims =
        serde_json::from_value(Value::Object(raw)).map_err(|_| TokenError::Invalid)?;

    check_times(&claims, cfg, now)?;
    let aud_ok = match &claims.aud {
        Some(Value::String(a)) => *a == cfg.audience,
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str() == Some(cfg.audience.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(TokenError::Invalid);
    }
    if claims.iss.as_ref().and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
        return Err(TokenError::Invalid);
    }
    match claims.jti.as_deref() {
        None | Some("") if cfg.require_jti => return Err(TokenError::MissingJti),
        _ => {}
    }
    match &claims.env {
        None | Some(Value::Null) => {}
        Some(Value::String(env)) if *env == cfg.environment => {}
        Some(other) => {
            let token = other
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| other.to_string());
            return Err(TokenError::EnvironmentMismatch {
                token,
                server: cfg.environment.clone(),
            });
        }
    }
    Ok(claims)
}

/// The checks that depend on the clock (`exp` present and in the future, `iat` and `nbf` not in
/// the future), in PyJWT's order. A token that passed [`verify`] once only needs these again.
pub(crate) fn check_times(claims: &Claims, cfg: &JwtConfig, now: i64) -> Result<(), TokenError> {
    let now_f = now as f64;
    match &claims.exp {
        None if cfg.require_exp => return Err(TokenError::MissingExp),
        None => {}
        Some(exp) => {
            let exp = numeric(exp).ok_or(TokenError::Invalid)?;
            if exp <= now_f {
                return Err(TokenError::Expired);
            }
        }
    }
    // PyJWT refuses a non-numeric `iat` and one in the future (ImmatureSignatureError).
    if let Some(iat) = &claims.iat {
        let iat = numeric(iat).ok_or(TokenError::Invalid)?;
        if iat > now_f {
            return Err(TokenError::Invalid);
        }
    }
    if let Some(nbf) = &claims.nbf {
        let nbf = numeric(nbf).ok_or(TokenError::Invalid)?;
        if nbf > now_f {
            return Err(TokenError::Invalid);
        }
    }
    Ok(())
}

/// Sign `claims` with HS256.
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of a JSON object cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn cfg() -> JwtConfig {
        JwtConfig {
            secret: b"k".to_vec(),
            audience: "mcpgateway-api".into(),
            issuer: "mcpgateway".into(),
            environment: "development".into(),
            require_exp: true,
            require_jti: true,
        }
    }

    fn good() -> Value {
        json!({"sub": "a@x", "jti": "j1", "exp": NOW + 60, "iat": NOW, "aud": "mcpgateway-api", "iss": "mcpgateway"})
    }

    fn with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut v = good();
        f(v.as_object_mut().unwrap());
        sign(&v, b"k")
    }

    #[test]
    fn a_good_token_verifies() {
        let c = verify(&sign(&good(), b"k"), &cfg(), NOW).unwrap();
        assert_eq!(c.sub.as_deref(), Some("a@x"));
    }

    #[test]
    fn c_auth_01_wrong_key_is_invalid() {
        assert_eq!(
            verify(&sign(&good(), b"other"), &cfg(), NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn c_auth_02_wrong_audience_or_issuer_is_invalid() {
        assert_eq!(
            verify(
                &with(|m| {
                    m.insert("aud".into(), json!("x"));
                }),
                &cfg(),
                NOW
            ),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(
                &with(|m| {
                    m.remove("aud");
                }),
                &cfg(),
                NOW
            ),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(
                &with(|m| {
                    m.insert("iss".into(), json!("x"));
                }),
                &cfg(),
                NOW
            ),
            Err(TokenError::Invalid)
        );
        let ok = with(|m| {
            m.insert("aud".into(), json!(["other", "mcpgateway-api"]));
        });
        assert!(verify(&ok, &cfg(), NOW).is_ok());
    }

    #[test]
    fn c_auth_03_missing_exp() {
        let t = with(|m| {
            m.remove("exp");
        });
        let e = verify(&t, &cfg(), NOW).unwrap_err();
        assert_eq!(
            e.detail(),
            "Token is missing required expiration claim. Set REQUIRE_TOKEN_EXPIRATION=false to allow."
        );
        let mut relaxed = cfg();
        relaxed.require_exp = false;
        assert!(verify(&t, &relaxed, NOW).is_ok());
    }

    #[test]
    fn c_auth_04_missing_jti() {
        let t = with(|m| {
            m.remove("jti");
        });
        assert_eq!(
            verify(&t, &cfg(), NOW).unwrap_err().detail(),
            "Token is missing required JTI claim. Set REQUIRE_JTI=false to allow."
        );
    }

    #[test]
    fn c_auth_05_expired() {
        let t = with(|m| {
            m.insert("exp".into(), json!(NOW - 1));
        });
        assert_eq!(
            verify(&t, &cfg(), NOW).unwrap_err().detail(),
            "Token has expired"
        );
    }

    #[test]
    fn c_auth_06_environment_mismatch() {
        let t = with(|m| {
            m.insert("env".into(), json!("production"));
        });
        assert_eq!(
            verify(&t, &cfg(), NOW).unwrap_err().detail(),
            "Token environment mismatch: token is for 'production', server is 'development'"
        );
        let same = with(|m| {
            m.insert("env".into(), json!("development"));
        });
        assert!(verify(&same, &cfg(), NOW).is_ok());
    }

    #[test]
    fn iat_must_be_a_past_number() {
        let future = with(|m| {
            m.insert("iat".into(), json!(NOW + 60));
        });
        assert_eq!(verify(&future, &cfg(), NOW), Err(TokenError::Invalid));
        let text = with(|m| {
            m.insert("iat".into(), json!("yesterday"));
        });
        assert_eq!(verify(&text, &cfg(), NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn c_auth_07_alg_none_and_hs512_are_invalid() {
        use crate::testing::base64url as b64;
        let payload = b64(&serde_json::to_vec(&good()).unwrap());
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert_eq!(verify(&none, &cfg(), NOW), Err(TokenError::Invalid));
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &good(),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(verify(&hs512, &cfg(), NOW), Err(TokenError::Invalid));
        assert_eq!(verify("garbage", &cfg(), NOW), Err(TokenError::Invalid));
        assert_eq!(verify("", &cfg(), NOW), Err(TokenError::Invalid));
    }
}
