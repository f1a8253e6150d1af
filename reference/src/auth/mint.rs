//! Minting tokens: the administrator's token printed at start, and scoped API tokens.

use serde_json::{Value, json};

use super::jwt::sign;

/// Claims of a token for `email`, in the shape ContextForge's CLI and API produce.
#[derive(Debug, Clone)]
pub(crate) struct TokenSpec<'a> {
    pub email: &'a str,
    pub full_name: &'a str,
    pub is_admin: bool,
    /// `None` writes `"teams": null`.
    pub teams: Option<Vec<String>>,
    pub scopes: Option<Value>,
    pub token_use: Option<&'a str>,
    pub jti: String,
    pub now: i64,
    /// Lifetime in seconds; `None` means no `exp`.
    pub lifetime: Option<i64>,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub environment: &'a str,
}

impl TokenSpec<'_> {
    pub(crate) fn claims(&self) -> Value {
        let mut c = json!({
            "sub": self.email,
            "jti": self.jti,
            "iat": self.now,
            "iss": self.issuer,
            "aud": self.audience,
            "env": self.environment,
            "user": {
                "email": self.email,
                "full_name": self.full_name,
                "is_admin": self.is_admin,
                "auth_provider": if self.token_use == Some("api") { "api_token" } else { "cli" },
            },
            "teams": self.teams,
        });
        let obj = c.as_object_mut().expect("object literal");
        if self.is_admin {
            obj.insert("is_admin".into(), Value::Bool(true));
        }
        if let Some(lifetime) = self.lifetime {
            obj.insert("exp".into(), json!(self.now + lifetime));
        }
        if let Some(scopes) = &self.scopes {
            obj.insert("scopes".into(), scopes.clone());
        }
        if let Some(use_) = self.token_use {
            obj.insert("token_use".into(), json!(use_));
        }
        c
    }

    pub(crate) fn sign(&self, secret: &[u8]) -> String {
        sign(&self.claims(), secret)
    }
}
