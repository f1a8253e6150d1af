//! The JWT claim shape shared with ContextForge, and the normalisation of `teams` (C-SCOPE-35).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Claims as they arrive. Every field is optional and loosely typed so that a hand-made token
/// with odd contents is judged by the checks, not refused by the parser.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaim>,
    /// Outer `None`: the key is absent; `Some(None)`: `"teams": null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub teams: Option<Option<Vec<Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Scopes>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct UserClaim {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub is_admin: Option<bool>,
    #[serde(default)]
    pub auth_provider: Option<String>,
}

/// `scopes` of a token: what it is narrowed to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Scopes {
    #[serde(default)]
    pub server_id: Option<String>,
    /// `None` or empty: no restriction at this layer.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    #[serde(default)]
    pub ip_restrictions: Option<Vec<String>>,
    #[serde(default)]
    pub time_restrictions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limits: Option<Value>,
}

impl Scopes {
    /// The server this token is restricted to. An empty string means no restriction, as in
    /// ContextForge's middleware.
    pub fn server(&self) -> Option<&str> {
        self.server_id.as_deref().filter(|s| !s.is_empty())
    }

    /// The permission list when it restricts anything (non-empty).
    pub fn restricting_permissions(&self) -> Option<&[String]> {
        self.permissions.as_deref().filter(|p| !p.is_empty())
    }
}

/// Which teams a caller's visibility extends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TeamScope {
    /// `teams: null` on an administrator's token: sees everything.
    AdminBypass,
    /// Only public items and items of these teams (empty: public only).
    Teams(Vec<String>),
}

impl Claims {
    /// Whether the token claims administrator rights, at the top level or under `user`.
    pub(crate) fn claims_admin(&self) -> bool {
        self.is_admin == Some(true) || self.user.as_ref().and_then(|u| u.is_admin) == Some(true)
    }

    /// The email the token speaks for: `user.email`, else `sub`.
    pub(crate) fn email(&self) -> Option<&str> {
        self.user
            .as_ref()
            .and_then(|u| u.email.as_deref())
            .or(self.sub.as_deref())
    }

    pub(crate) fn scopes_or_default(&self) -> Scopes {
        self.scopes.clone().unwrap_or_default()
    }
}

/// Normalise the `teams` claim. `is_admin` must hold both in the token and for the stored user
/// before `null` means "every team": a forged claim alone never widens visibility.
pub(crate) fn normalize_teams(teams: &Option<Option<Vec<Value>>>, admin: bool) -> TeamScope {
    match teams {
        None => TeamScope::Teams(Vec::new()),
        Some(None) if admin => TeamScope::AdminBypass,
        Some(None) => TeamScope::Teams(Vec::new()),
        Some(Some(list)) => TeamScope::Teams(
            list.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn c_scope_35_teams_null_is_admin_bypass_only_for_admins() {
        let c = claims(json!({"teams": null}));
        assert_eq!(normalize_teams(&c.teams, false), TeamScope::Teams(vec![]));
        assert_eq!(normalize_teams(&c.teams, true), TeamScope::AdminBypass);
        let missing = claims(json!({}));
        assert_eq!(
            normalize_teams(&missing.teams, true),
            TeamScope::Teams(vec![])
        );
        let list = claims(json!({"teams": ["a", {"id": "b"}, 3, null]}));
        assert_eq!(
            normalize_teams(&list.teams, true),
            TeamScope::Teams(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn empty_server_id_is_unrestricted() {
        let s = Scopes {
            server_id: Some(String::new()),
            ..Scopes::default()
        };
        assert_eq!(s.server(), None);
    }
}
