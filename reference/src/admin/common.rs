//! Helpers every admin resource shares: ownership on create, who may modify, id and name rules.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Owned, Visibility};

/// ContextForge's slug: lower-case; runs of anything but letters and digits become one `-`.
pub(crate) fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A canonical id from a 32-hex or dashed UUID (any case); `None` otherwise.
pub(crate) fn normalize_id(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let dashes_ok = !s.contains('-')
        || (s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-'));
    (dashes_ok && crate::ids::is_canonical_id(&compact)).then_some(compact)
}

/// A list of ids given as a JSON list or a comma-separated string.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdList(pub Vec<String>);

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let raw: Vec<String> = match v {
            Value::Null => Vec::new(),
            Value::String(s) => s
                .split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect(),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    other => Err(serde::de::Error::custom(format!(
                        "ids must be strings, got {other}"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list of ids, got {other}"
                )));
            }
        };
        Ok(IdList(raw))
    }
}

impl IdList {
    /// Canonical ids, or 422 naming the first bad entry.
    pub(crate) fn canonical(&self, field: &str) -> Result<Vec<String>, ApiError> {
        self.0
            .iter()
            .map(|s| {
                normalize_id(s).ok_or_else(|| {
                    ApiError::Unprocessable(format!(
                        "Invalid ID format: '{s}'. {field} must contain UUID values, not names."
                    ))
                })
            })
            .collect()
    }
}

/// Parse a visibility value, 422 on anything else.
pub(crate) fn parse_visibility(v: Option<&str>) -> Result<Option<Visibility>, ApiError> {
    match v {
        None => Ok(None),
        Some(s) => Visibility::parse(s).map(Some).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "Input should be 'private', 'team' or 'public', got {s:?}"
            ))
        }),
    }
}

/// Ownership of a new item created by `caller`. Team visibility needs an existing team the
/// caller belongs to (administrators may use any existing team).
pub(crate) async fn ownership_for_create(
    state: &AppState,
    caller: &Caller,
    visibility: Option<Visibility>,
    team_id: Option<String>,
) -> Result<Owned, ApiError> {
    let email = caller
        .email
        .clone()
        .ok_or_else(|| ApiError::unauthorized("Authorization token required"))?;
    let visibility = visibility.unwrap_or_default();
    let team_id = team_id.filter(|t| !t.is_empty());
    if let Some(t) = &team_id {
        let team = state
            .store
            .teams
            .get(t)
            .await
            .map_err(|e| ApiError::ServiceUnavailable(e.to_string()))?
            .ok_or_else(|| ApiError::Unprocessable(format!("Team not found: {t}")))?;
        if !caller.is_admin && !team.has_member(&email) {
            return Err(ApiError::Forbidden("Not a member of the team".to_owned()));
        }
    } else if visibility == Visibility::Team {
        return Err(ApiError::Unprocessable(
            "team_id is required for team visibility".to_owned(),
        ));
    }
    Ok(Owned {
        visibility,
        team_id,
        owner_email: Some(email),
    })
}

/// Whether `caller` may change or delete an item: its owner, or an administrator.
pub(crate) fn may_modify(caller: &Caller, owned: &Owned) -> bool {
    caller.is_admin || (caller.email.is_some() && owned.owner_email == caller.email)
}

/// Refuse anonymous callers on admin routes.
pub(crate) fn require_user(caller: &Caller) -> Result<&str, ApiError> {
    caller
        .email
        .as_deref()
        .ok_or_else(|| ApiError::unauthorized("Authorization token required"))
}

/// Refuse non-administrators.
pub(crate) fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Admin access required".to_owned()))
    }
}

/// Map a store failure.
pub(crate) fn store_err(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Duplicate { kind, name } => ApiError::Conflict(format!(
            "{} already exists with name: {name}",
            kind_label(kind)
        )),
        crate::store::StoreError::Unavailable(m) => ApiError::unavailable(m),
    }
}

fn kind_label(table: &str) -> &'static str {
    match table {
        "servers" => "Server",
        "tools" => "Tool",
        "gateways" => "Gateway",
        "resources" => "Resource",
        "prompts" => "Prompt",
        "teams" => "Team",
        "users" => "User",
        _ => "Item",
    }
}

/// `?activate=true|false` (default true).
#[derive(Debug, Deserialize)]
pub(crate) struct ActivateQuery {
    pub activate: Option<bool>,
}

/// `?include_inactive=true`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    pub include_inactive: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_contextforge() {
        assert_eq!(slugify("Echo_REST-Tool"), "echo-rest-tool");
        assert_eq!(slugify("Up Stream"), "up-stream");
        assert_eq!(slugify("Code Review"), "code-review");
        assert_eq!(slugify("a__b"), "a-b");
        assert_eq!(slugify("_x_"), "x");
    }

    #[test]
    fn ids_normalize() {
        assert_eq!(
            normalize_id("11111111-2222-3333-4444-555555555555").as_deref(),
            Some("11111111222233334444555555555555")
        );
        assert_eq!(
            normalize_id("AABBCCDDEEFF00112233445566778899").as_deref(),
            Some("aabbccddeeff00112233445566778899")
        );
        assert_eq!(normalize_id("up-stream-echo"), None);
        assert_eq!(normalize_id("1111-1111222233334444555555555555"), None);
    }
}
