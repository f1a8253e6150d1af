//! Token scoping: what a verified token may reach, decided before routing.
//!
//! Steps, in order (each a pure function in its own module, gathered here):
//! team membership, ownership of the item the path names, server restriction (after name
//! resolution, D4), IP restriction (client IP per D3), time restriction, permission map (§1.4,
//! D7). `decide` is the pure combination; `check_caller` gathers its inputs from the store.

pub(crate) mod ip;
pub(crate) mod ownership;
pub mod permissions;
pub mod server;
pub(crate) mod time;

use std::net::IpAddr;

use jiff::Timestamp;

use crate::auth::{Caller, TeamScope};
use crate::error::ApiError;
use crate::paths::{self, RestrictionTarget};
use crate::pipeline::RequestContext;
use crate::policy::RestrictionSubject;
use crate::state::AppState;
use crate::store::usage::{UsageCounts, has_limits, usage_decision};
use crate::store::{Catalogued, Entity, Kind, Owned, Table};
use ownership::Ownership;

/// The item a path names, for the ownership check: `/{kind}/{key}[/...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnershipTarget<'a> {
    pub kind: Kind,
    pub key: &'a str,
    /// The path is exactly `/{kind}/{key}` (optionally with a trailing slash).
    pub exact: bool,
}

/// Which item, if any, the path names. Servers are named by id or name (D4); tools, resources,
/// prompts and gateways by canonical id only, so `/tools/preview` names no tool.
pub(crate) fn ownership_target(path: &str) -> Option<OwnershipTarget<'_>> {
    let rest = path.strip_prefix('/')?;
    let (first, tail) = rest.split_once('/')?;
    let kind = match first {
        "servers" => Kind::Server,
        "tools" => Kind::Tool,
        "resources" => Kind::Resource,
        "prompts" => Kind::Prompt,
        "gateways" => Kind::Gateway,
        _ => return None,
    };
    let (key, after) = tail.split_once('/').map_or((tail, ""), |(k, a)| (k, a));
    let addressable = match kind {
        Kind::Server => crate::ids::is_canonical_id(key) || crate::ids::is_valid_server_name(key),
        _ => crate::ids::is_canonical_id(key),
    };
    if key.is_empty() || !addressable {
        return None;
    }
    Some(OwnershipTarget {
        kind,
        key,
        exact: after.is_empty(),
    })
}

/// Everything `decide` looks at, gathered beforehand.
#[derive(Debug, Clone)]
pub(crate) struct ScopeInput<'a> {
    pub caller: &'a Caller,
    pub method: &'a str,
    /// The app path with `/v1` removed.
    pub path: &'a str,
    pub client_ip: IpAddr,
    pub now: Timestamp,
    /// The caller is still a member of every team its token names.
    pub still_member: bool,
    /// The ownership check's target and outcome, when the path names an item.
    pub ownership: Option<(OwnershipTarget<'a>, Ownership)>,
    pub restriction_target: RestrictionTarget<'a>,
    /// The canonical id of the server the path names, when it resolved.
    pub resolved_server: Option<&'a str>,
    /// Requests this token made before this one (only counted when it has usage limits).
    pub usage: UsageCounts,
    /// D7: `GET` and `DELETE` on a server's MCP endpoint go through the permission check
    /// (only a defect of the matrix turns this off).
    pub server_mcp_every_method_checked: bool,
}

/// Decide a request. `Ok(())` lets it through to routing.
pub(crate) fn decide(input: &ScopeInput<'_>) -> Result<(), ApiError> {
    let caller = input.caller;
    if !input.still_member {
        return Err(ApiError::Forbidden(
            "Token is invalid: User is no longer a member of the associated team".to_owned(),
        ));
    }
    if let Some((target, outcome)) = input.ownership {
        match outcome {
            Ownership::Allowed => {}
            Ownership::NotFound
                if input.method == "DELETE"
                    && target.exact
                    && matches!(target.kind, Kind::Server | Kind::Gateway) =>
            {
                return Err(ApiError::not_found("Resource not found"));
            }
            Ownership::NotFound | Ownership::Denied => return Err(ApiError::access_denied()),
        }
    }
    if !server::check_server_restriction(
        caller.scoped_server(),
        input.restriction_target,
        input.resolved_server,
    ) {
        return Err(ApiError::access_denied());
    }
    if let Some(list) = caller.scopes.ip_restrictions.as_deref()
        && !ip::ip_allowed(list, input.client_ip)
    {
        return Err(ApiError::access_denied());
    }
    time::check_time_restrictions(caller.scopes.time_restrictions.as_ref(), input.now)
        .map_err(ApiError::Forbidden)?;
    // Only the matrix's D7 defect lets these two methods skip the permission map.
    let permissions_waived = !input.server_mcp_every_method_checked
        && is_server_mcp_stream_or_delete(input.method, input.path);
    if !permissions_waived
        && !permissions::permission_allows(
            caller.scopes.restricting_permissions(),
            input.method,
            input.path,
        )
    {
        return Err(ApiError::access_denied());
    }
    usage_decision(caller.scopes.usage_limits.as_ref(), input.usage)
        .map_err(|detail| ApiError::TooManyRequests(detail.to_owned()))?;
    Ok(())
}

/// `GET` or `DELETE` on `/servers/{x}/mcp` (one optional trailing slash).
fn is_server_mcp_stream_or_delete(method: &str, path: &str) -> bool {
    let endpoint = path.strip_suffix('/').unwrap_or(path);
    matches!(method, "GET" | "DELETE")
        && endpoint
            .strip_prefix("/servers/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains('/'))
}

async fn still_member(state: &AppState, caller: &Caller) -> Result<bool, ApiError> {
    let (TeamScope::Teams(teams), Some(email)) = (&caller.teams, caller.email.as_deref()) else {
        return Ok(true);
    };
    if caller.token_use.as_deref() == Some("session") {
        return Ok(true);
    }
    for id in teams {
        let team = state.store.teams.get(id).await.map_err(unavailable)?;
        if !team.is_some_and(|t| t.has_member(email)) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn unavailable(e: crate::store::StoreError) -> ApiError {
    ApiError::unavailable(e)
}

/// The ownership of the record `key` of `table`, if there is one.
async fn owned_of<T: Entity + Catalogued>(
    table: &dyn Table<T>,
    key: &str,
) -> Result<Option<Owned>, ApiError> {
    let found = table.get(key).await.map_err(unavailable)?;
    Ok(found.map(|item| item.owned().clone()))
}

async fn lookup_owned(
    state: &AppState,
    target: OwnershipTarget<'_>,
) -> Result<(Option<Owned>, Option<String>), ApiError> {
    let store = &state.store;
    let found = match target.kind {
        Kind::Server => {
            let s = store
                .resolve_server(target.key)
                .await
                .map_err(unavailable)?;
            return Ok((s.as_ref().map(|s| s.owned.clone()), s.map(|s| s.id.clone())));
        }
        Kind::Tool => owned_of(&*store.tools, target.key).await?,
        Kind::Resource => owned_of(&*store.resources, target.key).await?,
        Kind::Prompt => owned_of(&*store.prompts, target.key).await?,
        Kind::Gateway => owned_of(&*store.gateways, target.key).await?,
        _ => None,
    };
    Ok((found, None))
}

/// Gather the inputs for `decide` and run it.
pub(crate) async fn check_request(
    state: &AppState,
    caller: &Caller,
    method: &str,
    ctx: &RequestContext,
) -> Result<(), ApiError> {
    let policy = state.policy();
    let path = paths::strip_v1(ctx.app_path.as_str());
    let target = paths::restriction_target_under(path, &policy.general_endpoints);

    let ownership_tgt = match caller.teams {
        TeamScope::AdminBypass => None,
        // Only the matrix's `item-ownership-unchecked` leaves items other than servers out.
        TeamScope::Teams(_) => ownership_target(path)
            .filter(|t| policy.item_ownership_checked || t.kind == Kind::Server),
    };
    let mut resolved: Option<String> = None;
    let mut ownership = None;
    if let Some(t) = ownership_tgt {
        let (owned, server_id) = lookup_owned(state, t).await?;
        resolved = server_id;
        ownership = Some((
            t,
            ownership::ownership_decision(owned.as_ref(), caller.viewer()),
        ));
    }
    let compare_resolved = policy.restriction_subject == RestrictionSubject::ResolvedId;
    if let RestrictionTarget::Server(segment) = target
        && resolved.is_none()
        && caller.scoped_server().is_some()
        && compare_resolved
    {
        resolved = state
            .store
            .resolve_server(segment)
            .await
            .map_err(unavailable)?
            .map(|s| s.id.clone());
    }
    if !compare_resolved {
        // The restriction then meets the raw segment, as if no name had resolved.
        resolved = None;
    }

    // Usage is counted only for tokens that carry limits, so everyone else pays nothing.
    let counted_jti = caller
        .jti
        .as_deref()
        .filter(|_| has_limits(caller.scopes.usage_limits.as_ref()));
    let now = state.now();
    let usage = match counted_jti {
        Some(jti) => state
            .store
            .usage
            .counts(jti, now.as_second())
            .await
            .map_err(unavailable)?,
        None => UsageCounts::default(),
    };
    let input = ScopeInput {
        caller,
        method,
        path,
        client_ip: ctx.client_ip,
        now,
        still_member: still_member(state, caller).await?,
        ownership,
        restriction_target: target,
        resolved_server: resolved.as_deref(),
        usage,
        server_mcp_every_method_checked: policy.server_mcp_every_method_checked,
    };
    decide(&input)?;
    if let Some(jti) = counted_jti {
        state
            .store
            .usage
            .record(jti, now.as_second())
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Token scoping of an authenticated caller's request, outside the skip paths (the pipeline's
/// step after authentication).
pub(crate) async fn check_caller(
    state: &AppState,
    caller: &Caller,
    method: &str,
    ctx: &RequestContext,
) -> Result<(), ApiError> {
    if paths::is_scoping_skip_path(ctx.app_path.as_str()) {
        return Ok(());
    }
    check_request(state, caller, method, ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scopes;

    #[test]
    fn ownership_targets() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            ownership_target(&format!("/servers/{id}/mcp")),
            Some(OwnershipTarget {
                kind: Kind::Server,
                key: id,
                exact: false
            })
        );
        assert_eq!(
            ownership_target(&format!("/servers/{id}")),
            Some(OwnershipTarget {
                kind: Kind::Server,
                key: id,
                exact: true
            })
        );
        assert_eq!(
            ownership_target(&format!("/servers/{id}/")),
            Some(OwnershipTarget {
                kind: Kind::Server,
                key: id,
                exact: true
            })
        );
        assert_eq!(
            ownership_target("/servers/gdrive/mcp").map(|t| t.key),
            Some("gdrive")
        );
        assert_eq!(ownership_target("/tools/preview"), None);
        assert_eq!(ownership_target("/servers"), None);
        assert_eq!(ownership_target("/servers/hello world/mcp"), None);
    }

    fn caller(scopes: Scopes) -> Caller {
        Caller {
            scopes,
            ..Caller::anonymous()
        }
    }

    fn input<'a>(caller: &'a Caller, method: &'a str, path: &'a str) -> ScopeInput<'a> {
        ScopeInput {
            caller,
            method,
            path,
            client_ip: "127.0.0.1".parse().unwrap(),
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            still_member: true,
            ownership: None,
            restriction_target: paths::restriction_target(path),
            resolved_server: None,
            usage: UsageCounts::default(),
            server_mcp_every_method_checked: true,
        }
    }

    #[test]
    fn c_scope_34_delete_of_a_missing_server_is_404_other_misses_403() {
        let c = caller(Scopes::default());
        let id = "0123456789abcdef0123456789abcdef";
        let path = format!("/servers/{id}");
        let mut i = input(&c, "DELETE", &path);
        i.ownership = Some((ownership_target(&path).unwrap(), Ownership::NotFound));
        assert_eq!(decide(&i), Err(ApiError::not_found("Resource not found")));
        let mcp = format!("/servers/{id}/mcp");
        let mut i = input(&c, "POST", &mcp);
        i.ownership = Some((ownership_target(&mcp).unwrap(), Ownership::NotFound));
        assert_eq!(decide(&i), Err(ApiError::access_denied()), "C-SCOPE-33");
    }

    #[test]
    fn c_scope_31_former_team_members_are_refused() {
        let c = caller(Scopes::default());
        let mut i = input(&c, "GET", "/tools");
        i.still_member = false;
        assert_eq!(
            decide(&i),
            Err(ApiError::Forbidden(
                "Token is invalid: User is no longer a member of the associated team".into()
            ))
        );
    }

    #[test]
    fn steps_run_in_order_restriction_before_ip_before_permissions() {
        let scopes = Scopes {
            server_id: Some("S".into()),
            permissions: Some(vec!["tools.read".into()]),
            ip_restrictions: Some(vec!["10.0.0.0/8".into()]),
            ..Scopes::default()
        };
        let c = caller(scopes);
        assert_eq!(
            decide(&input(&c, "GET", "/tools")),
            Err(ApiError::access_denied())
        );
        let mut ok_ip = input(&c, "POST", "/rpc");
        ok_ip.client_ip = "10.1.1.1".parse().unwrap();
        assert_eq!(decide(&ok_ip), Ok(()));
        assert_eq!(
            decide(&input(&c, "POST", "/rpc")),
            Err(ApiError::access_denied())
        );
    }

    #[test]
    fn c_scope_26_time_denials_carry_their_detail() {
        let c = caller(Scopes {
            time_restrictions: Some(serde_json::json!({"weekdays_only": true})),
            ..Scopes::default()
        });
        let mut i = input(&c, "POST", "/rpc");
        i.now = "2026-11-22T12:00:00Z".parse().unwrap();
        assert_eq!(
            decide(&i),
            Err(ApiError::Forbidden(
                "Request not allowed at this time by token restrictions".into()
            ))
        );
    }
}
