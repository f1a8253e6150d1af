//! The defect matrix: known gateway defects, each a loosening of one rule of the strict
//! [`Policy`], so that the harness can prove each of its checks fails on a gateway that has the
//! defect.
//!
//! Only with the `defects` feature, which only the harness turns on, and only the harness calls
//! it (in its own process, or in cluster workers started by its own binary): the
//! `mcpgw-reference` binary has no way to ask for a defect. Each defect names the upstream issue
//! or decision it re-creates.

use std::fmt;

use crate::policy::{
    DotSegments, EmptyBearerChallenge, EndpointMatch, ForwardedHeaders, Policy, RestrictionSubject,
    ServerSegments, WellKnownSuffix,
};

/// A re-creatable defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Issue 2192: `/rpc` is not a general endpoint, so server-scoped tokens get 403 on it.
    RpcNotGeneralEndpoint,
    /// Issue 3018: a request forwarded between workers loses `params.server_id`.
    ForwardedNoServerId,
    /// Issue 3891: server ids are matched hex-only; other ids fall through to global scope.
    HexOnlyServerRegex,
    /// Gap G5 / D1: general endpoints matched as prefixes (`/mcp-servers/x` passes).
    PrefixGeneralEndpoints,
    /// Gap G1 / D2: a server-scoped token on the global `/mcp` sees every server's tools.
    GlobalMcpUnscoped,
    /// D4: token scoping compares the raw path segment before name resolution.
    ScopeBeforeNameResolution,
    /// Issue 5421 / D3: `X-Forwarded-For` believed from any peer.
    TrustXffFromAnyone,
    /// Gap G4 / D6: the RFC 9728 endpoint accepts any third segment.
    WellKnownAnyThirdSegment,
    /// D8: dot segments are normalised away instead of refused.
    NormaliseDotSegments,
    /// Issue 3990 / D5: an empty bearer on an OAuth server gets a bare `Bearer` challenge.
    EmptyBearerBareChallenge,
    /// D9: JSON-RPC denials carry `error.code: 0`.
    JsonrpcErrorCodeZero,
    /// D10: `DELETE` of a session leaves it usable.
    DeleteKeepsSession,
    /// C-RPC-21: `/rpc` serves a call naming another user's (or an unknown) session.
    RpcIgnoresSession,
    /// C-MCP-18/19: the transport serves a session to whoever names it, not only its owner.
    SessionOwnerUnchecked,
    /// C-AFF-04 / D3: a worker admits a request carrying the internal-hop headers without
    /// verifying their signature, so any client can claim to be a worker (and pick its address).
    UnsignedHopTrusted,
    /// C-AFF-07: a session whose owner died is never taken over; it answers 503 until the owner
    /// comes back.
    DeadOwnerNotTakenOver,
    /// C-SCOPE-01: a server's endpoint lists every server's tools, resources and prompts (one
    /// list cached for all, or a fall-back to the global list).
    ServerListsEveryItem,
    /// C-SCOPE-01 / D2: a call through a server's endpoint runs another server's tool.
    CrossServerCall,
    /// MCP transports: no `Origin` validation, so a rebinding web page reaches the gateway.
    OriginUnchecked,
    /// C-MCP-18: one session table for every endpoint: a session of server S is a session of T.
    SessionSharedAcrossEndpoints,
    /// JSON-RPC 2.0 §5: a numeric request id comes back as a string.
    IdRetyped,
    /// C-SCOPE-01 / CWE-209: a call refused for its server scope answers with a "did you mean"
    /// list drawn from the whole catalogue, so the refusal shows every server's tools.
    RefusalSuggestsEveryTool,
    /// C-SCOPE-01 / D2: a call refused for its server scope is still sent to the upstream a
    /// moment after the answer (a retry queue that does not know it was refused).
    RefusedCallSentLater,
    /// C-RPC-23: `MCP-Protocol-Version` compared as text with the oldest supported version, so
    /// any later date (a version from the future) is admitted.
    ProtocolVersionComparedAsText,
    /// RFC 9110 §15.5.14: no request body limit: a 12 MiB body is read whole and served.
    BodyLimitUnenforced,
    /// JSON nested past the parser's depth limit fails the handler (500) instead of being a
    /// parse error.
    DeepJsonFails,
    /// MCP authorization / RFC 6750 §2.3: `?access_token=` in the query string authenticates.
    QueryTokenAccepted,
    /// RFC 9110 §9.1: the router takes its method from `X-HTTP-Method-Override` after the
    /// permission check saw the real one, so a token allowed to read deletes.
    MethodOverrideHonoured,
    /// RFC 7239 / D3: `Forwarded: host=...;proto=...` believed from any client, so the RFC 9728
    /// document names a resource on the client's host.
    ForwardedHeaderBelieved,
    /// RFC 8259 §4: a body naming `method` twice has its permission checked for the first and
    /// runs the last, so a read-only token calls tools.
    DuplicateMethodFirstChecked,
    /// RFC 6585 §5: no request-head limit to speak of (16 MiB): a 70 KB header is read and the
    /// request served.
    HeaderLimitUnenforced,
    /// MCP pagination: an upstream's `nextCursor` form-decoded on its way back (`+` becomes a
    /// space), so the next page fails and the list ends early.
    CursorRewritten,
    /// MCP progress: the upstream's `notifications/progress` are not relayed to the client.
    ProgressDropped,
    /// MCP tools: a tool result's `structuredContent` is dropped (only `content` relayed).
    StructuredContentStripped,
    /// JSON-RPC 2.0 §5.1: an upstream's error code replaced with -32603 Internal error.
    UpstreamErrorCodeReplaced,
    /// MCP `_meta`: the client's `params._meta` is not forwarded on a tool call (and with it
    /// the `progressToken`).
    MetaNotForwarded,
    /// MCP tool results: only text items of a result's content are relayed (images, audio,
    /// links and embedded resources dropped).
    ContentFlattened,
    /// MCP resource templates: `resources/templates/list` answers an empty list whatever the
    /// upstreams offer (the reference before fidelity).
    TemplatesNotListed,
    /// MCP completion: `completion/complete` answers no values whatever the upstream offers
    /// (the reference before fidelity).
    CompletionNotForwarded,
    /// D7 (gap G3): `GET` and `DELETE` on `/servers/{id}/mcp` are left out of the permission
    /// check, so a token that may only read (or delete) servers opens streams and ends sessions.
    ServerMcpStreamUnchecked,
    /// RFC 9112 §3.2.2 / D8: the raw-path guard reads only origin-form targets; an
    /// absolute-form target's dot segments are normalised into another route.
    AbsoluteFormUnguarded,
    /// D4: server ids and names looked up case-insensitively with fullwidth forms folded, so a
    /// look-alike segment names a real server (one that a cache, a rate limit or a policy keyed
    /// by the segment as written takes for another).
    ServerSegmentsFolded,
    /// JSON-RPC 2.0 §5: tool call answers routed back by the client's id through one table for
    /// every client, so two clients' calls with the same id get each other's answers.
    CollidingIdsCrossed,
    /// MCP lifecycle (timeouts): a tool call whose upstream dies mid-call is never answered
    /// (the gateway waits for the dead upstream without end).
    DeadUpstreamHangs,
    /// MCP transports (session management): an upstream's `Mcp-Session-Id` is passed on to
    /// the client as the answer's session id.
    UpstreamSessionIdLeaked,
    /// MCP basic: a tool result's text is cut at 4 MiB (a buffer of fixed size on the way).
    LargeResultTruncated,
    /// C-SCOPE-35 (ContextForge issues 1582, 3411): the REST `GET /tools` forgets the
    /// visibility filter that `/rpc` and the MCP endpoints apply, so another team's tools are
    /// listed.
    RestListIgnoresVisibility,
    /// §1.5 / C-SCOPE-33: ownership checked only on `/servers/{id}`; another team's tool read by
    /// its id is served, and its resources, prompts and gateways reach the handlers unchecked.
    ItemOwnershipUnchecked,
    /// MCP session management / CWE-384: an `initialize` that carries an `Mcp-Session-Id`
    /// opens the session under that id, so whoever chose it (and planted it) shares the session.
    SessionIdFromClient,
    /// MCP tools / multi-server gateways: tools keyed by the name their upstream gave them,
    /// normalised (case and separators folded), so when two upstreams offer a tool of the same
    /// or a look-alike name (`get_user`, `get-user`) the one registered last wins, and a call of
    /// the other runs on the wrong upstream (another server's, another team's).
    ToolsKeyedByUpstreamName,
    /// MCP session management / multi-tenant gateways: one upstream session per upstream,
    /// shared by every client's tool calls, so the session state one user's call leaves upstream
    /// (a cart, a scratchpad, a login) is what the next user's call finds.
    UpstreamSessionShared,
    /// C-AUTH-10 / D11: each worker remembers the tokens it once found unrevoked and stops
    /// asking the store about them; a revocation made through another worker is not seen.
    RevocationRememberedPerWorker,
    /// MCP transports (resumability) / C-MCP-18: a `GET` with `Last-Event-ID` looks the event
    /// up in every session's log, so naming another session's event id replays that session's
    /// answers on one's own stream.
    EventReplayAcrossSessions,
    /// C-AUTH-10: revocation never looked up, so a revoked token (a leaked one that was
    /// stopped) keeps working until it expires.
    RevocationUnchecked,
    /// C-RPC-02 / C-SCOPE-01: `/rpc` serves JSON-RPC batches and scopes only the first call;
    /// the others run in the whole catalogue (a check that reads the body's first message).
    BatchCheckedByFirstCall,
}

impl Defect {
    pub const ALL: [Defect; 55] = [
        Defect::RpcNotGeneralEndpoint,
        Defect::ForwardedNoServerId,
        Defect::HexOnlyServerRegex,
        Defect::PrefixGeneralEndpoints,
        Defect::GlobalMcpUnscoped,
        Defect::ScopeBeforeNameResolution,
        Defect::TrustXffFromAnyone,
        Defect::WellKnownAnyThirdSegment,
        Defect::NormaliseDotSegments,
        Defect::EmptyBearerBareChallenge,
        Defect::JsonrpcErrorCodeZero,
        Defect::DeleteKeepsSession,
        Defect::RpcIgnoresSession,
        Defect::SessionOwnerUnchecked,
        Defect::UnsignedHopTrusted,
        Defect::DeadOwnerNotTakenOver,
        Defect::ServerListsEveryItem,
        Defect::CrossServerCall,
        Defect::OriginUnchecked,
        Defect::SessionSharedAcrossEndpoints,
        Defect::IdRetyped,
        Defect::RefusalSuggestsEveryTool,
        Defect::RefusedCallSentLater,
        Defect::ProtocolVersionComparedAsText,
        Defect::BodyLimitUnenforced,
        Defect::DeepJsonFails,
        Defect::QueryTokenAccepted,
        Defect::MethodOverrideHonoured,
        Defect::ForwardedHeaderBelieved,
        Defect::DuplicateMethodFirstChecked,
        Defect::HeaderLimitUnenforced,
        Defect::CursorRewritten,
        Defect::ProgressDropped,
        Defect::StructuredContentStripped,
        Defect::UpstreamErrorCodeReplaced,
        Defect::MetaNotForwarded,
        Defect::ContentFlattened,
        Defect::TemplatesNotListed,
        Defect::CompletionNotForwarded,
        Defect::ServerMcpStreamUnchecked,
        Defect::AbsoluteFormUnguarded,
        Defect::ServerSegmentsFolded,
        Defect::CollidingIdsCrossed,
        Defect::DeadUpstreamHangs,
        Defect::UpstreamSessionIdLeaked,
        Defect::LargeResultTruncated,
        Defect::RestListIgnoresVisibility,
        Defect::ItemOwnershipUnchecked,
        Defect::SessionIdFromClient,
        Defect::ToolsKeyedByUpstreamName,
        Defect::UpstreamSessionShared,
        Defect::RevocationRememberedPerWorker,
        Defect::EventReplayAcrossSessions,
        Defect::RevocationUnchecked,
        Defect::BatchCheckedByFirstCall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Defect::RpcNotGeneralEndpoint => "rpc-not-general-endpoint",
            Defect::ForwardedNoServerId => "forwarded-no-server-id",
            Defect::HexOnlyServerRegex => "hex-only-server-regex",
            Defect::PrefixGeneralEndpoints => "prefix-general-endpoints",
            Defect::GlobalMcpUnscoped => "global-mcp-unscoped",
            Defect::ScopeBeforeNameResolution => "scope-before-name-resolution",
            Defect::TrustXffFromAnyone => "trust-xff-from-anyone",
            Defect::WellKnownAnyThirdSegment => "well-known-any-third-segment",
            Defect::NormaliseDotSegments => "normalise-dot-segments",
            Defect::EmptyBearerBareChallenge => "empty-bearer-bare-challenge",
            Defect::JsonrpcErrorCodeZero => "jsonrpc-error-code-zero",
            Defect::DeleteKeepsSession => "delete-keeps-session",
            Defect::RpcIgnoresSession => "rpc-ignores-session",
            Defect::SessionOwnerUnchecked => "session-owner-unchecked",
            Defect::UnsignedHopTrusted => "unsigned-hop-trusted",
            Defect::DeadOwnerNotTakenOver => "dead-owner-not-taken-over",
            Defect::ServerListsEveryItem => "server-lists-every-item",
            Defect::CrossServerCall => "cross-server-call",
            Defect::OriginUnchecked => "origin-unchecked",
            Defect::SessionSharedAcrossEndpoints => "session-shared-across-endpoints",
            Defect::IdRetyped => "id-retyped",
            Defect::RefusalSuggestsEveryTool => "refusal-suggests-every-tool",
            Defect::RefusedCallSentLater => "refused-call-sent-later",
            Defect::ProtocolVersionComparedAsText => "protocol-version-compared-as-text",
            Defect::BodyLimitUnenforced => "body-limit-unenforced",
            Defect::DeepJsonFails => "deep-json-fails",
            Defect::QueryTokenAccepted => "query-token-accepted",
            Defect::MethodOverrideHonoured => "method-override-honoured",
            Defect::ForwardedHeaderBelieved => "forwarded-header-believed",
            Defect::DuplicateMethodFirstChecked => "duplicate-method-first-checked",
            Defect::HeaderLimitUnenforced => "header-limit-unenforced",
            Defect::CursorRewritten => "cursor-rewritten",
            Defect::ProgressDropped => "progress-dropped",
            Defect::StructuredContentStripped => "structured-content-stripped",
            Defect::UpstreamErrorCodeReplaced => "upstream-error-code-replaced",
            Defect::MetaNotForwarded => "meta-not-forwarded",
            Defect::ContentFlattened => "content-flattened",
            Defect::TemplatesNotListed => "templates-not-listed",
            Defect::CompletionNotForwarded => "completion-not-forwarded",
            Defect::ServerMcpStreamUnchecked => "server-mcp-stream-unchecked",
            Defect::AbsoluteFormUnguarded => "absolute-form-unguarded",
            Defect::ServerSegmentsFolded => "server-segments-folded",
            Defect::CollidingIdsCrossed => "colliding-ids-crossed",
            Defect::DeadUpstreamHangs => "dead-upstream-hangs",
            Defect::UpstreamSessionIdLeaked => "upstream-session-id-leaked",
            Defect::LargeResultTruncated => "large-result-truncated",
            Defect::RestListIgnoresVisibility => "rest-list-ignores-visibility",
            Defect::ItemOwnershipUnchecked => "item-ownership-unchecked",
            Defect::SessionIdFromClient => "session-id-from-client",
            Defect::ToolsKeyedByUpstreamName => "tools-keyed-by-upstream-name",
            Defect::UpstreamSessionShared => "upstream-session-shared",
            Defect::RevocationRememberedPerWorker => "revocation-remembered-per-worker",
            Defect::EventReplayAcrossSessions => "event-replay-across-sessions",
            Defect::RevocationUnchecked => "revocation-unchecked",
            Defect::BatchCheckedByFirstCall => "batch-checked-by-first-call",
        }
    }

    /// The upstream issue or decision this defect re-creates.
    pub fn origin(self) -> &'static str {
        match self {
            Defect::RpcNotGeneralEndpoint => "issue 2192",
            Defect::ForwardedNoServerId => "issue 3018, D11",
            Defect::HexOnlyServerRegex => "issue 3891",
            Defect::PrefixGeneralEndpoints => "D1 (gap G5)",
            Defect::GlobalMcpUnscoped => "D2 (gap G1)",
            Defect::ScopeBeforeNameResolution => "D4 (PR 4237)",
            Defect::TrustXffFromAnyone => "issue 5421, D3",
            Defect::WellKnownAnyThirdSegment => "D6 (gap G4)",
            Defect::NormaliseDotSegments => "D8",
            Defect::EmptyBearerBareChallenge => "issue 3990, D5",
            Defect::JsonrpcErrorCodeZero => "D9",
            Defect::DeleteKeepsSession => "D10",
            Defect::RpcIgnoresSession => "C-RPC-21",
            Defect::SessionOwnerUnchecked => "C-MCP-18/19",
            Defect::UnsignedHopTrusted => "C-AFF-04, D3",
            Defect::DeadOwnerNotTakenOver => "C-AFF-07",
            Defect::ServerListsEveryItem => "C-SCOPE-01",
            Defect::CrossServerCall => "C-SCOPE-01, D2",
            Defect::OriginUnchecked => "MCP transports (Origin)",
            Defect::SessionSharedAcrossEndpoints => "C-MCP-18",
            Defect::IdRetyped => "JSON-RPC 2.0 §5",
            Defect::RefusalSuggestsEveryTool => "C-SCOPE-01, CWE-209",
            Defect::RefusedCallSentLater => "C-SCOPE-01, D2",
            Defect::ProtocolVersionComparedAsText => "C-RPC-23",
            Defect::BodyLimitUnenforced => "RFC 9110 §15.5.14",
            Defect::DeepJsonFails => "JSON-RPC 2.0 §5.1 (-32700)",
            Defect::QueryTokenAccepted => "MCP authorization, RFC 6750 §2.3",
            Defect::MethodOverrideHonoured => "RFC 9110 §9.1, D7",
            Defect::ForwardedHeaderBelieved => "RFC 7239, D3",
            Defect::DuplicateMethodFirstChecked => "RFC 8259 §4, C-RPC-16",
            Defect::HeaderLimitUnenforced => "RFC 6585 §5",
            Defect::CursorRewritten => "MCP pagination",
            Defect::ProgressDropped => "MCP progress",
            Defect::StructuredContentStripped => "MCP structured content",
            Defect::UpstreamErrorCodeReplaced => "JSON-RPC 2.0 §5.1",
            Defect::MetaNotForwarded => "MCP _meta",
            Defect::ContentFlattened => "MCP tool results",
            Defect::TemplatesNotListed => "MCP resource templates",
            Defect::CompletionNotForwarded => "MCP completion",
            Defect::ServerMcpStreamUnchecked => "D7 (gap G3)",
            Defect::AbsoluteFormUnguarded => "RFC 9112 §3.2.2, D8",
            Defect::ServerSegmentsFolded => "D4",
            Defect::CollidingIdsCrossed => "JSON-RPC 2.0 §5",
            Defect::DeadUpstreamHangs => "MCP lifecycle (timeouts)",
            Defect::UpstreamSessionIdLeaked => "MCP session management",
            Defect::LargeResultTruncated => "MCP basic (no truncation)",
            Defect::RestListIgnoresVisibility => "C-SCOPE-35 (ContextForge#1582, #3411)",
            Defect::ItemOwnershipUnchecked => "C-SCOPE-33, §1.5",
            Defect::SessionIdFromClient => "MCP session management, CWE-384",
            Defect::ToolsKeyedByUpstreamName => "MCP tools (name collisions across servers)",
            Defect::UpstreamSessionShared => "MCP session management (multi-tenant gateways)",
            Defect::RevocationRememberedPerWorker => "C-AUTH-10, D11",
            Defect::EventReplayAcrossSessions => "MCP transports (resumability), C-MCP-18",
            Defect::RevocationUnchecked => "C-AUTH-10",
            Defect::BatchCheckedByFirstCall => "C-RPC-02, C-SCOPE-01",
        }
    }

    pub fn parse(name: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// `policy` with the rule this defect breaks loosened the way the defect breaks it.
    pub fn loosen(self, policy: Policy) -> Policy {
        let mut p = policy;
        match self {
            Defect::RpcNotGeneralEndpoint => p.general_endpoints.rpc = false,
            Defect::ForwardedNoServerId => p.forward_keeps_server_scope = false,
            Defect::HexOnlyServerRegex => p.server_segments = ServerSegments::LowercaseHexOnly,
            Defect::PrefixGeneralEndpoints => p.general_endpoints.matching = EndpointMatch::Prefix,
            Defect::GlobalMcpUnscoped => p.global_mcp_scoped = false,
            Defect::ScopeBeforeNameResolution => {
                p.restriction_subject = RestrictionSubject::RawSegment;
            }
            Defect::TrustXffFromAnyone => p.forwarded_headers = ForwardedHeaders::FromAnyPeer,
            Defect::WellKnownAnyThirdSegment => p.well_known_suffix = WellKnownSuffix::Any,
            Defect::NormaliseDotSegments => p.dot_segments = DotSegments::Normalise,
            Defect::EmptyBearerBareChallenge => {
                p.empty_bearer_challenge = EmptyBearerChallenge::Bare;
            }
            Defect::JsonrpcErrorCodeZero => p.denial_code = 0,
            Defect::DeleteKeepsSession => p.delete_ends_session = false,
            Defect::RpcIgnoresSession => p.rpc_checks_session = false,
            Defect::SessionOwnerUnchecked => p.session_owner_checked = false,
            Defect::UnsignedHopTrusted => p.hop_needs_signature = false,
            Defect::DeadOwnerNotTakenOver => p.take_over_dead_owners = false,
            Defect::ServerListsEveryItem => p.server_scope_lists_own_items = false,
            Defect::CrossServerCall => p.server_scope_checks_membership = false,
            Defect::OriginUnchecked => p.origin_checked = false,
            Defect::SessionSharedAcrossEndpoints => p.sessions_per_endpoint = false,
            Defect::IdRetyped => p.ids_verbatim = false,
            Defect::RefusalSuggestsEveryTool => p.refusals_name_nothing_else = false,
            Defect::RefusedCallSentLater => p.refused_calls_never_sent = false,
            Defect::ProtocolVersionComparedAsText => p.protocol_versions_exact = false,
            Defect::BodyLimitUnenforced => p.body_limit_enforced = false,
            Defect::DeepJsonFails => p.deep_json_is_parse_error = false,
            Defect::QueryTokenAccepted => p.query_tokens_ignored = false,
            Defect::MethodOverrideHonoured => p.method_override_ignored = false,
            Defect::ForwardedHeaderBelieved => p.forwarded_header_ignored = false,
            Defect::DuplicateMethodFirstChecked => p.one_method_per_request = false,
            Defect::HeaderLimitUnenforced => p.header_limit_enforced = false,
            Defect::CursorRewritten => p.upstream_cursors_verbatim = false,
            Defect::ProgressDropped => p.progress_relayed = false,
            Defect::StructuredContentStripped => p.structured_content_relayed = false,
            Defect::UpstreamErrorCodeReplaced => p.upstream_error_codes_kept = false,
            Defect::MetaNotForwarded => p.client_meta_forwarded = false,
            Defect::ContentFlattened => p.content_relayed_whole = false,
            Defect::TemplatesNotListed => p.templates_asked_upstream = false,
            Defect::CompletionNotForwarded => p.completions_asked_upstream = false,
            Defect::ServerMcpStreamUnchecked => p.server_mcp_every_method_checked = false,
            Defect::AbsoluteFormUnguarded => p.absolute_form_guarded = false,
            Defect::ServerSegmentsFolded => p.server_segments_exact = false,
            Defect::CollidingIdsCrossed => p.answers_kept_per_request = false,
            Defect::DeadUpstreamHangs => p.dead_upstreams_answered = false,
            Defect::UpstreamSessionIdLeaked => p.upstream_sessions_hidden = false,
            Defect::LargeResultTruncated => p.large_results_whole = false,
            Defect::RestListIgnoresVisibility => p.rest_lists_filtered = false,
            Defect::ItemOwnershipUnchecked => p.item_ownership_checked = false,
            Defect::SessionIdFromClient => p.session_ids_issued = false,
            Defect::ToolsKeyedByUpstreamName => p.tools_keyed_by_gateway_name = false,
            Defect::UpstreamSessionShared => p.upstream_sessions_per_call = false,
            Defect::RevocationRememberedPerWorker => p.revocation_read_per_request = false,
            Defect::EventReplayAcrossSessions => p.event_replay_per_session = false,
            Defect::RevocationUnchecked => p.revocations_checked = false,
            Defect::BatchCheckedByFirstCall => p.batches_refused = false,
        }
        p
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The strict policy with every named defect re-created (`--inject-defect a,b` of the harness).
/// Blank names are skipped; an unknown name is an error that lists the known ones.
pub fn policy_with<S: AsRef<str>>(names: &[S]) -> Result<Policy, String> {
    let mut policy = Policy::strict();
    for name in names {
        let name = name.as_ref().trim();
        if name.is_empty() {
            continue;
        }
        let defect = Defect::parse(name).ok_or_else(|| {
            let known: Vec<_> = Defect::ALL.iter().map(|d| d.name()).collect();
            format!("unknown defect {name:?}; known: {}", known.join(", "))
        })?;
        policy = defect.loosen(policy);
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Defect::ALL {
            assert_eq!(Defect::parse(d.name()), Some(d));
        }
        assert!(policy_with(&["nope"]).is_err());
        assert_eq!(policy_with::<&str>(&[]), Ok(Policy::strict()));
        assert_eq!(policy_with(&[" ", ""]), Ok(Policy::strict()));
    }

    #[test]
    fn every_defect_loosens_its_own_rule() {
        let loosened: Vec<Policy> = Defect::ALL
            .iter()
            .map(|d| d.loosen(Policy::strict()))
            .collect();
        for (i, p) in loosened.iter().enumerate() {
            assert!(!p.is_strict(), "{} changes nothing", Defect::ALL[i]);
            for q in &loosened[i + 1..] {
                assert_ne!(p, q, "two defects loosen the same rule the same way");
            }
        }
        let both = policy_with(&["hex-only-server-regex", "rpc-not-general-endpoint"]).unwrap();
        assert_eq!(both.server_segments, ServerSegments::LowercaseHexOnly);
        assert!(!both.general_endpoints.rpc);
        assert!(both.delete_ends_session);
    }
}
