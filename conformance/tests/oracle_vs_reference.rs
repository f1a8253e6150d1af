//! Differential properties: the oracle (written from the spec) against the reference's pure
//! decision functions (written from the same spec, independently, with regexes).
//!
//! Each property generates inputs, asks both, and fails when the reference's answer is one the
//! oracle rules out. Where the oracle says the spec does not decide, either answer passes.
//! Case counts are set per property (about 120,000 in all); `PROPTEST_CASES` overrides them.

use mcpgw_conformance::oracle::classify::{self, Target};
use mcpgw_conformance::oracle::envelope::{self, Envelope};
use mcpgw_conformance::oracle::permissions::{self, Required};
use mcpgw_conformance::oracle::strategies::*;
use mcpgw_conformance::oracle::{inject, raw_path};
use mcpgw_reference::auth::Scopes;
use mcpgw_reference::paths::{self, RestrictionTarget};
use mcpgw_reference::rpc::envelope::{EnvelopeError, parse_request};
use mcpgw_reference::rpc::inject::inject_server_id;
use mcpgw_reference::scoping::permissions::{
    Requirement, grants, permission_allows, required_permission,
};
use mcpgw_reference::scoping::server::check_server_restriction;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

/// `n` cases unless `PROPTEST_CASES` is set; failures are kept in the crate's committed
/// `proptest-regressions/` folder and replayed first on every run.
fn cases(n: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = n;
    }
    c.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proptest-regressions/oracle_vs_reference.txt"
    ))));
    c
}

/// The reference's view of a raw target: the decoded, root- and `/v1`-stripped path, when the
/// guard lets it through. The query is cut off first, as the gateway does.
fn reference_app_path(raw: &str, root: &str) -> Option<String> {
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    paths::check_raw_path(path).ok()?;
    let decoded = paths::decode_path(path)?;
    let rooted = paths::strip_root(&decoded, root);
    Some(paths::strip_v1(rooted).to_owned())
}

fn oracle_target_of(t: RestrictionTarget<'_>) -> Target {
    match t {
        RestrictionTarget::Server(s) => Target::Server(s.to_owned()),
        RestrictionTarget::General => Target::General,
        RestrictionTarget::Other => Target::Other,
    }
}

/// D4 in miniature: pool names resolve to pool ids, everything else to nothing.
fn resolve(segment: &str) -> Option<String> {
    POOL_NAMES
        .iter()
        .position(|n| *n == segment)
        .map(|i| POOL_IDS[i % POOL_IDS.len()].to_owned())
}

/// §1.3 allows exactly `/`; D1's optional trailing slash applies to its list, which `/` is not
/// in. The reference strips one trailing slash from `//` and treats it as the root, so a
/// server-scoped token passes the server restriction on `//`.
#[test]
fn d1_double_slash_is_not_the_root() {
    assert_eq!(paths::restriction_target("//"), RestrictionTarget::Other);
    assert!(!paths::is_general_endpoint("//"));
    assert!(!check_server_restriction(
        Some("S"),
        paths::restriction_target("//"),
        None
    ));
}

proptest! {
    #![proptest_config(cases(30_000))]

    /// D8: a path the oracle refuses is refused, and a path it accepts is accepted.
    #[test]
    fn d8_raw_path_guard_agrees_with_oracle(raw in raw_path()) {
        let path = raw.split_once('?').map_or(raw.as_str(), |(p, _)| p);
        let verdict = raw_path::judge(&raw);
        let actual = paths::check_raw_path(path);
        prop_assert!(
            verdict.accepted().admits(actual.is_ok()),
            "{raw:?}: oracle {verdict:?}, reference {actual:?}"
        );
    }
}

proptest! {
    #![proptest_config(cases(20_000))]

    /// D1 and §1.3: what a path targets, and whether it is a general endpoint.
    #[test]
    fn d1_restriction_target_agrees_with_oracle(
        raw in prop_oneof![raw_path(), route_path()],
        root in select(&["", "/gw"][..]),
    ) {
        let Some(app) = reference_app_path(&raw, root) else { return Ok(()) };
        let path = raw.split_once('?').map_or(raw.as_str(), |(p, _)| p);
        let decoded = paths::decode_path(path).unwrap_or_default();
        prop_assert_eq!(&classify::normalise(&decoded, Some(root)), &app, "normalisation of {:?}", raw);
        let expected = classify::target(&app);
        let actual = paths::restriction_target(&app);
        if !matches!(expected, Target::Unspecified(_)) {
            prop_assert_eq!(&oracle_target_of(actual), &expected, "target of {:?}", app);
        }
        // §1.2 step 5: paths scoping skips (the oracle's view is before `/v1` is stripped).
        let rooted = paths::strip_root(&decoded, root);
        if rooted == app {
            let skipped = classify::scoping_skipped(&app);
            let actual_skipped = paths::is_scoping_skip_path(&app);
            prop_assert!(
                skipped.admits(actual_skipped),
                "is_scoping_skip_path({app:?}): oracle {skipped:?}, reference {actual_skipped}"
            );
        }
        let general = classify::is_general_endpoint(&app);
        let actual_general = paths::is_general_endpoint(&app);
        prop_assert!(
            general.admits(actual_general),
            "is_general_endpoint({app:?}): oracle {general:?}, reference {actual_general}"
        );
    }

    /// §1.3 and D4: the server restriction of a token, after name resolution.
    #[test]
    fn c_scope_server_restriction_agrees_with_oracle(
        raw in prop_oneof![route_path(), raw_path()],
        token in prop_oneof![3 => server_ref().prop_map(Some), 1 => Just(None), 1 => Just(Some(String::new()))],
    ) {
        let Some(app) = reference_app_path(&raw, "") else { return Ok(()) };
        let scopes = Scopes { server_id: token.clone(), ..Scopes::default() };
        let target = paths::restriction_target(&app);
        let canonical = match target {
            RestrictionTarget::Server(s) => resolve(s),
            _ => None,
        };
        let actual = check_server_restriction(scopes.server(), target, canonical.as_deref());
        let expected = classify::server_restriction(&classify::target(&app).resolved(resolve), token.as_deref());
        prop_assert!(
            expected.admits(actual),
            "{app:?} with token server {token:?}: oracle {expected:?}, reference {actual}"
        );
    }
}

proptest! {
    #![proptest_config(cases(20_000))]

    /// §1.4 with D7: the permission a request needs.
    #[test]
    fn c_scope_permission_map_agrees_with_oracle(
        m in method(),
        raw in prop_oneof![route_path(), raw_path()],
    ) {
        let Some(app) = reference_app_path(&raw, "") else { return Ok(()) };
        let expected = permissions::required(m, &app);
        let actual = required_permission(m, &app);
        let same = match (expected, actual) {
            (Required::Unspecified(_), _) => true,
            (Required::Always, Requirement::Open) | (Required::Unmatched, Requirement::Unmapped) => true,
            (Required::Needs(a), Requirement::Permission(b)) => a == b,
            _ => false,
        };
        prop_assert!(same, "{m} {app:?}: oracle {expected:?}, reference {actual:?}");
    }

    /// §1.1 layer 1, composed with the map: whether a permission list lets a request through.
    #[test]
    fn c_scope_permission_allows_agrees_with_oracle(
        perms in permissions(),
        m in method(),
        raw in route_path(),
    ) {
        let Some(app) = reference_app_path(&raw, "") else { return Ok(()) };
        let scopes = Scopes { permissions: Some(perms.clone()), ..Scopes::default() };
        let actual = permission_allows(scopes.restricting_permissions(), m, &app);
        let expected = permissions::allows(&perms, m, &app, None);
        prop_assert!(
            expected.admits(actual),
            "{perms:?} {m} {app:?}: oracle {expected:?}, reference {actual}"
        );
    }
}

proptest! {
    #![proptest_config(cases(15_000))]

    /// §1.1 layer 1: `*`, exact, `category.*`, and `servers.use` from MCP permissions.
    #[test]
    fn c_scope_grants_agrees_with_oracle(perms in permissions(), required in permission_name()) {
        let expected = permissions::grants(&perms, &required);
        let actual = grants(&perms, &required);
        prop_assert!(
            expected.admits(actual),
            "grants({perms:?}, {required:?}): oracle {expected:?}, reference {actual}"
        );
    }

    /// §3.3 / D11: injection sets `params.server_id` and changes nothing else.
    #[test]
    fn d11_injection_agrees_with_oracle(body in rpc_value(), server in server_ref()) {
        let after = inject_server_id(&body, &server);
        if let Err(why) = inject::check(&body, &after, &server) {
            prop_assert!(false, "inject {server:?} into {body}: {why}; got {after}");
        }
        if !body.is_object() {
            prop_assert_eq!(&after, &body, "a non-object body is returned unchanged");
        }
    }

    /// §2: parse error, invalid request (with the right id), or a request.
    #[test]
    fn c_rpc_envelope_agrees_with_oracle(body in rpc_body()) {
        let expected = envelope::judge(&body);
        let actual = parse_request(&body);
        let same = match (&expected, &actual) {
            (Envelope::Unspecified(_), _) => true,
            (Envelope::ParseError, Err(EnvelopeError::Parse)) => true,
            (Envelope::Invalid { id }, Err(EnvelopeError::Invalid { id: got })) => {
                id.as_ref().unwrap_or(&Value::Null) == got
            }
            (Envelope::Request { method, id, params }, Ok(r)) => {
                &r.method == method && &r.id == id && &r.params == params
            }
            _ => false,
        };
        prop_assert!(
            same,
            "{:?}: oracle {expected:?}, reference {actual:?}",
            String::from_utf8_lossy(&body)
        );
    }
}
