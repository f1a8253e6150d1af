//! Reference variants: the in-process reference started in another configuration, so that a
//! scenario requiring a capability the default reference lacks (a root path, a trusted proxy,
//! permissive authentication, well-known switched off, stateful sessions, SSE answers) runs
//! there instead of being
//! NOT-APPLICABLE. A URL target has these capabilities only when told so (`--with`), because
//! only its operator knows how it was started.

use mcpgw_reference::Settings;

use crate::scenario::Capability;

/// The path prefix of the `root-path` variant (`APP_ROOT_PATH`).
pub(crate) const ROOT_PATH: &str = "/gw";

/// Whether the in-process reference can take on `c` by starting in another configuration.
pub(crate) fn is_variant(c: Capability) -> bool {
    matches!(
        c,
        Capability::RootPath
            | Capability::TrustedProxy
            | Capability::McpAuthOptional
            | Capability::AuthOptional
            | Capability::WellKnownDisabled
            | Capability::Stateful
            | Capability::SseResponse
    )
}

/// Configure `settings` for every variant capability that `wanted` accepts.
pub(crate) fn configure(settings: &mut Settings, wanted: impl Fn(Capability) -> bool) {
    if wanted(Capability::RootPath) {
        settings.app_root_path = ROOT_PATH.to_owned();
    }
    if wanted(Capability::TrustedProxy) {
        // The harness connects from loopback, so loopback is the proxy to believe.
        settings.trusted_proxies = ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
    }
    if wanted(Capability::McpAuthOptional) {
        settings.mcp_require_auth = Some(false);
    }
    if wanted(Capability::AuthOptional) {
        settings.auth_required = false;
    }
    if wanted(Capability::WellKnownDisabled) {
        settings.well_known_enabled = false;
    }
    if wanted(Capability::Stateful) {
        settings.use_stateful_sessions = true;
    }
    if wanted(Capability::SseResponse) {
        settings.json_response_enabled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_changes_the_default_settings() {
        for c in Capability::ALL.into_iter().filter(|c| is_variant(*c)) {
            let mut s = Settings::default_for_tests();
            configure(&mut s, |w| w == c);
            let changed = s.root_path() == ROOT_PATH
                || !s.trusted_proxies.is_empty()
                || !s.mcp_requires_auth()
                || !s.auth_required
                || !s.well_known_enabled
                || s.use_stateful_sessions
                || !s.json_response_enabled;
            assert!(changed, "{} configures nothing", c.name());
        }
    }

    #[test]
    fn modes_are_variants() {
        for c in Capability::ALL.into_iter().filter(|c| c.is_mode()) {
            assert!(
                is_variant(c),
                "{}: the reference cannot run this mode",
                c.name()
            );
        }
    }
}
