//! Verified tokens, remembered: a token whose signature and time-independent claims passed
//! [`jwt::verify`] once is not decoded and HMAC-checked again. Every use still runs the clock
//! checks ([`jwt::check_times`]), and revocation and the user's state are looked up per request
//! by the caller, so caching changes no answer, only its cost. Failures are never cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use foldhash::fast::RandomState;

use super::claims::Claims;
use super::jwt::{self, JwtConfig, TokenError};

/// How many tokens are remembered before the cache starts over.
const CAPACITY: usize = 10_000;

/// A bounded map from token text to its verified claims.
#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    /// Keys are whole tokens (hundreds of bytes): a seeded fast hash, not SipHash. Only verified
    /// tokens are inserted, so a client cannot fill it with colliding keys of its choosing.
    map: RwLock<HashMap<Box<str>, Arc<Claims>, RandomState>>,
}

impl VerifiedTokens {
    /// [`jwt::verify`], remembering successes.
    pub(crate) fn verify(
        &self,
        token: &str,
        cfg: &JwtConfig,
        now: i64,
    ) -> Result<Arc<Claims>, TokenError> {
        let hit = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = hit {
            jwt::check_times(&claims, cfg, now)?;
            return Ok(claims);
        }
        let claims = Arc::new(jwt::verify(token, cfg, now)?);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CAPACITY {
            // Starting over is cheap and bounds memory against a flood of distinct valid tokens.
            map.clear();
        }
        map.insert(token.into(), Arc::clone(&claims));
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn a_remembered_token_still_expires() {
        let token = jwt::sign(
            &json!({"sub": "a@x", "jti": "j", "exp": 1000, "aud": "mcpgateway-api", "iss": "mcpgateway"}),
            b"k",
        );
        let cache = VerifiedTokens::default();
        assert!(cache.verify(&token, &cfg(), 900).is_ok());
        assert!(cache.verify(&token, &cfg(), 950).is_ok(), "from the cache");
        assert_eq!(
            cache.verify(&token, &cfg(), 1000).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn a_known_signature_on_another_payload_is_not_a_hit() {
        let good = jwt::sign(
            &json!({"sub": "a@x", "jti": "j", "exp": 1000, "aud": "mcpgateway-api", "iss": "mcpgateway"}),
            b"k",
        );
        let cache = VerifiedTokens::default();
        assert!(cache.verify(&good, &cfg(), 900).is_ok());
        let (_, sig) = good.rsplit_once('.').unwrap();
        let other = jwt::sign(
            &json!({"sub": "root@x", "jti": "j", "exp": 1000, "aud": "mcpgateway-api", "iss": "mcpgateway"}),
            b"k",
        );
        let (head_payload, _) = other.rsplit_once('.').unwrap();
        let forged = format!("{head_payload}.{sig}");
        assert_eq!(
            cache.verify(&forged, &cfg(), 900).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn failures_are_not_remembered() {
        let cache = VerifiedTokens::default();
        let bad = jwt::sign(&json!({"sub": "a@x"}), b"other");
        assert!(cache.verify(&bad, &cfg(), 0).is_err());
        assert!(cache.map.read().unwrap().is_empty());
    }
}
