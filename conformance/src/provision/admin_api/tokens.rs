//! Tokens: the credentials a scenario's requests carry. Each is minted the way the target's
//! users would get it where possible (`POST /tokens`), signed locally with the target's JWT
//! secret where the API cannot express it, forged for "wrong key" scenarios, or the admin token
//! itself ([`crate::tokens::choose_mint`] decides).

use super::{Admin, Made, delete_later, str_of};
use crate::provision::{MadeToken, ProvisionError, Provisioned, perr};
use crate::scenario::{Algorithm, Fixtures, TokenFixture, subst};
use crate::target::Target;
use crate::tokens::{self, TokenInputs};

/// Make every token; those made with `POST /tokens` are revoked at cleanup, and those the
/// scenario wants revoked (`revoked: true`) right after they were made.
pub(super) async fn create(admin: &Admin<'_>, fixtures: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, t) in &fixtures.tokens {
        let made = make_token(admin, k, t, fixtures, p).await?;
        if let Some(id) = &made.id {
            delete_later(p, format!("/tokens/{id}"));
        }
        if t.revoked {
            let what = format!("revoke token {k}");
            let id = made
                .id
                .as_deref()
                .ok_or_else(|| perr(&what, "POST /tokens answered no token id to revoke"))?;
            revoke(admin, &what, id).await?;
        }
        p.tokens.insert(k.clone(), made);
    }
    Ok(())
}

/// Revoke the API token `id`: `DELETE /tokens/{id}`, and where that finds only the caller's
/// own tokens (a 404 for another user's, as ContextForge answers), the administrator's
/// `DELETE /tokens/admin/{id}`. The error is the last attempt's.
pub(super) async fn revoke(admin: &Admin<'_>, what: &str, id: &str) -> Result<(), ProvisionError> {
    match admin
        .call(what, "DELETE", &format!("/tokens/{id}"), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => admin
            .call(what, "DELETE", &format!("/tokens/admin/{id}"), None)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    }
}

/// The HTTP status a failed admin call got, if it got an answer.
pub(super) fn status_of(e: &ProvisionError) -> Option<u16> {
    e.exchange
        .as_ref()
        .and_then(|x| x.response.as_ref())
        .map(|r| r.status)
}

async fn make_token(
    admin: &Admin<'_>,
    key: &str,
    t: &TokenFixture,
    fixtures: &Fixtures,
    p: &Provisioned,
) -> Result<MadeToken, ProvisionError> {
    let target = admin.target;
    let what = format!("make token {key}");
    if t.forged {
        return Ok(forged(target));
    }
    let email = match &t.user {
        Some(u) => p.users.get(u).cloned().unwrap_or_default(),
        None => target.admin_email.clone(),
    };
    let admin_flag = t.admin.unwrap_or(t.user.is_none());
    let teams = t.teams.as_ref().map(|keys| {
        keys.iter()
            .filter_map(|k| p.teams.get(k).map(|e| e.id.clone()))
            .collect::<Vec<_>>()
    });
    let server_id = match (&t.server, &t.server_id) {
        (Some(s), _) => p.servers.get(s).map(|e| e.id.clone()),
        (None, Some(raw)) => Some(subst::render(raw, p).map_err(|e| perr(&what, e))?),
        (None, None) => None,
    };
    // Day names like `${clock.not_today}` in time restrictions are rendered when the token is
    // made, so a scenario about "a day other than today" is deterministic on every day.
    let rendered;
    let t = match &t.time_restrictions {
        Some(tr) => {
            rendered = TokenFixture {
                time_restrictions: Some(subst::render_json(tr, p).map_err(|e| perr(&what, e))?),
                ..t.clone()
            };
            &rendered
        }
        None => t,
    };
    let inputs = TokenInputs {
        fixture: t,
        email: email.clone(),
        admin: admin_flag,
        teams,
        server_id,
    };
    let sign = match target.mint(t, fixtures) {
        tokens::Mint::Sign => true,
        tokens::Mint::Api => false,
        tokens::Mint::AdminToken => {
            return Ok(MadeToken {
                jwt: target.admin_token.clone(),
                id: None,
            });
        }
    };
    if sign {
        let keys = target.jwt.as_ref().ok_or_else(|| {
            perr(
                &what,
                format!(
                    "signing needs the target's JWT secret (--jwt-secret); POST /tokens cannot make {}",
                    tokens::api_refusal(t, fixtures).unwrap_or("it")
                ),
            )
        })?;
        let claims = tokens::claims(&inputs, keys, tokens::now_secs());
        let secret = t.signing_key.clone().unwrap_or_else(|| keys.secret.clone());
        let alg = t.algorithm.unwrap_or(Algorithm::HS256);
        return Ok(MadeToken {
            jwt: tokens::sign_claims(&claims, secret.as_bytes(), alg),
            id: None,
        });
    }
    let body = tokens::api_request(&inputs, &format!("{key}-{}", p.run_id), &target.admin_email);
    let (_, v) = admin.call(&what, "POST", "/tokens", Some(body)).await?;
    let jwt = str_of(&v, "access_token");
    if jwt.is_empty() {
        return Err(perr(
            &what,
            format!("POST /tokens answered no access_token: {v}"),
        ));
    }
    let id = v
        .get("token")
        .map(|t| str_of(t, "id"))
        .filter(|s| !s.is_empty());
    Ok(MadeToken { jwt, id })
}

/// The administrator's claims signed with a key the target never had (a fresh random one), so
/// that only the signature is wrong.
fn forged(target: &Target) -> MadeToken {
    let keys = tokens::JwtKeys {
        secret: uuid::Uuid::new_v4().simple().to_string(),
        audience: target
            .jwt
            .as_ref()
            .map_or_else(|| "mcpgateway-api".to_owned(), |k| k.audience.clone()),
        issuer: target
            .jwt
            .as_ref()
            .map_or_else(|| "mcpgateway".to_owned(), |k| k.issuer.clone()),
    };
    let claims = tokens::admin_claims(&target.admin_email, &keys);
    MadeToken {
        jwt: tokens::sign_claims(&claims, keys.secret.as_bytes(), Algorithm::HS256),
        id: None,
    }
}
