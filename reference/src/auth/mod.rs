//! Authentication: which token a request presents, whether it verifies, and who the caller is.
//!
//! The outcome is recorded on the request for the later steps: token scoping acts only on an
//! authenticated caller (an invalid token is never answered by scoping, C-SCOPE-37), and each
//! route family decides how a missing or bad token is answered.

pub(crate) mod cache;
pub(crate) mod claims;
pub mod jwt;
pub(crate) mod mint;
pub(crate) mod unrevoked;

use std::sync::Arc;

use axum::http::{HeaderMap, header};

pub use claims::Scopes;
pub(crate) use claims::{Claims, TeamScope, normalize_teams};
pub(crate) use jwt::JwtConfig;
pub(crate) use unrevoked::UnrevokedSeen;

use crate::store::{Store, StoreError};

/// Who is calling, after verification.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Caller {
    /// `None` for the anonymous caller of a permissive gateway.
    pub email: Option<String>,
    /// A platform administrator (from the store, not only the token).
    pub is_admin: bool,
    pub teams: TeamScope,
    pub scopes: Scopes,
    pub jti: Option<String>,
    pub token_use: Option<String>,
}

impl Caller {
    /// The caller of a gateway that lets unauthenticated requests in: public items only.
    pub(crate) fn anonymous() -> Self {
        Caller {
            email: None,
            is_admin: false,
            teams: TeamScope::Teams(Vec::new()),
            scopes: Scopes::default(),
            jti: None,
            token_use: None,
        }
    }

    /// The server this caller's token is restricted to.
    pub(crate) fn scoped_server(&self) -> Option<&str> {
        self.scopes.server()
    }

    pub(crate) fn viewer(&self) -> crate::scoping::ownership::Viewer<'_> {
        crate::scoping::ownership::Viewer {
            email: self.email.as_deref(),
            teams: &self.teams,
        }
    }
}

/// The credential a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    Missing,
    /// `Authorization: Bearer <token>`; the token may be empty.
    Bearer(String),
    /// A `jwt_token` or `access_token` cookie; `with_header` when an Authorization header came too.
    Cookie {
        token: String,
        with_header: bool,
    },
    /// An `Authorization` header with another scheme, or not text.
    OtherScheme,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let mut found: Option<(u8, String)> = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, v)) = pair.trim().split_once('=') else {
                continue;
            };
            let rank = match name.trim() {
                "jwt_token" => 0,
                "access_token" => 1,
                _ => continue,
            };
            if found.as_ref().is_none_or(|(r, _)| rank < *r) {
                found = Some((rank, v.trim().to_owned()));
            }
        }
    }
    found.map(|(_, v)| v)
}

/// Which credential `headers` present. The cookie wins over the header (C-SCOPE-36).
pub(crate) fn presented_token(headers: &HeaderMap) -> Presented {
    let auth = headers.get(header::AUTHORIZATION);
    if let Some(token) = cookie_token(headers).filter(|t| !t.is_empty()) {
        return Presented::Cookie {
            token,
            with_header: auth.is_some(),
        };
    }
    let Some(value) = auth else {
        return Presented::Missing;
    };
    let Ok(text) = value.to_str() else {
        return Presented::OtherScheme;
    };
    let text = text.trim_start();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer(rest.trim().to_owned())
    } else {
        Presented::OtherScheme
    }
}

/// Whether the request looks like it comes from a browser (for the 302 to the login page and
/// for allowing cookie-only authentication).
pub(crate) fn is_browser_request(headers: &HeaderMap) -> bool {
    let accept_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    accept_html || headers.contains_key("hx-request")
}

/// What authentication concluded.
#[derive(Debug, Clone)]
pub(crate) enum AuthOutcome {
    /// No credential at all.
    Missing,
    /// `Authorization: Bearer ` with nothing after it.
    EmptyBearer,
    /// A credential was presented and refused; the detail of the 401.
    Rejected(String),
    /// Verified. `cookie_only` when the only credential was a cookie.
    Authenticated {
        caller: Arc<Caller>,
        cookie_only: bool,
    },
    /// The store could not be asked.
    Unavailable(String),
}

/// How a token's revocation is found out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RevocationCheck<'a> {
    /// Read from the store on every request (the strict policy: C-AUTH-10, D11).
    EveryRequest,
    /// The defect matrix's worker that remembers the tokens it once found unrevoked
    /// (`revocation-remembered-per-worker`).
    RememberedPerWorker(&'a UnrevokedSeen),
    /// The defect matrix's gateway that never asks (`revocation-unchecked`).
    Never,
}

/// Verify `token` and look its subject up. `now` is seconds since the epoch.
pub(crate) async fn authenticate_token(
    token: &str,
    cfg: &JwtConfig,
    verified: &cache::VerifiedTokens,
    store: &Store,
    now: i64,
    revocation: RevocationCheck<'_>,
) -> Result<Caller, AuthError> {
    let claims = verified
        .verify(token, cfg, now)
        .map_err(|e| AuthError::Token(e.detail()))?;
    caller_from_claims(&claims, store, revocation).await
}

/// Why an otherwise valid token does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    Token(String),
    Store(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::Store(e.to_string())
    }
}

/// Resolve the stored user behind verified claims and build the caller.
pub(crate) async fn caller_from_claims(
    claims: &Claims,
    store: &Store,
    revocation: RevocationCheck<'_>,
) -> Result<Caller, AuthError> {
    if let Some(jti) = claims.jti.as_deref() {
        let ask = match revocation {
            RevocationCheck::EveryRequest => true,
            RevocationCheck::RememberedPerWorker(seen) => !seen.contains(jti),
            RevocationCheck::Never => false,
        };
        if ask && store.revocations.get(jti).await?.is_some() {
            return Err(AuthError::Token("Token has been revoked".to_owned()));
        }
        if let RevocationCheck::RememberedPerWorker(seen) = revocation {
            seen.remember(jti);
        }
    }
    let email = claims
        .email()
        .ok_or_else(|| AuthError::Token("Invalid token".to_owned()))?;
    let user = store
        .users
        .get(email)
        .await?
        .ok_or_else(|| AuthError::Token("User not found in database".to_owned()))?;
    if !user.is_active {
        return Err(AuthError::Token("Account disabled".to_owned()));
    }
    let teams = if claims.token_use.as_deref() == Some("session") {
        // Session tokens carry no team list; their teams are the user's current memberships.
        if user.is_admin {
            TeamScope::AdminBypass
        } else {
            let mut ids = Vec::new();
            for team in store.teams.list().await? {
                if team.has_member(&user.email) {
                    ids.push(team.id.clone());
                }
            }
            TeamScope::Teams(ids)
        }
    } else {
        normalize_teams(&claims.teams, claims.claims_admin() && user.is_admin)
    };
    Ok(Caller {
        email: Some(user.email.clone()),
        is_admin: user.is_admin,
        teams,
        scopes: claims.scopes_or_default(),
        jti: claims.jti.clone(),
        token_use: claims.token_use.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            presented_token(&headers(&[("authorization", "bearer abc")])),
            Presented::Bearer("abc".into())
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer ")])),
            Presented::Bearer(String::new())
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer")])),
            Presented::Bearer(String::new())
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Basic abc")])),
            Presented::OtherScheme
        );
        assert_eq!(presented_token(&headers(&[])), Presented::Missing);
    }

    #[test]
    fn c_scope_36_cookie_wins_over_header() {
        let h = headers(&[
            ("authorization", "Bearer header"),
            ("cookie", "a=b; jwt_token=cookie"),
        ]);
        assert_eq!(
            presented_token(&h),
            Presented::Cookie {
                token: "cookie".into(),
                with_header: true
            }
        );
        let h = headers(&[("cookie", "access_token=second; jwt_token=first")]);
        assert_eq!(
            presented_token(&h),
            Presented::Cookie {
                token: "first".into(),
                with_header: false
            }
        );
    }
}
