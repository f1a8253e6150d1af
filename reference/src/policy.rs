//! The rules the reference applies where gateways are known to answer differently: one value,
//! built at start-up, that handlers consult instead of hard-wiring either answer.
//!
//! [`Policy::strict`] is the spec-faithful answer to every question and the only policy the
//! `mcpgw-reference` binary can build: [`crate::Settings`] carries it without exposing it to
//! the command line or the environment. Looser policies (the defect matrix, which re-creates
//! known gateway defects so the harness can prove its checks catch them) are built only through
//! [`crate::defects`], which exists only with the `defects` feature and is called only by the
//! harness.
//!
//! Each rule names the decision it answers (D1..D12, upstream issues, check ids). The module that
//! owns a decision reads its rule; pure decision functions that the fuzz targets and the oracle
//! comparison call stay strict, and take a rule as an argument where a looser one exists.

/// How paths are compared with the list of general endpoints (D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointMatch {
    /// A whole path, with one optional trailing slash: `/mcp-servers/x` is not `/mcp`.
    WholePath,
    /// A prefix, as ContextForge's `startswith` did (gap G5).
    Prefix,
}

/// Which paths a server-scoped token may use although they name no server (D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneralEndpoints {
    pub(crate) matching: EndpointMatch,
    /// `/rpc` is one of them (issue 2192).
    pub(crate) rpc: bool,
}

impl GeneralEndpoints {
    /// Whole paths, `/rpc` included.
    pub(crate) const STRICT: GeneralEndpoints = GeneralEndpoints {
        matching: EndpointMatch::WholePath,
        rpc: true,
    };
}

/// Which segments of `/servers/{segment}/mcp` are recognised as naming a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSegments {
    /// Any segment: a canonical id or a server name, resolved by the store (D4).
    IdOrName,
    /// Lowercase hex only; anything else falls through to the global `/mcp` (issue 3891).
    LowercaseHexOnly,
}

impl ServerSegments {
    /// Whether a `/servers/{segment}/mcp` path with this segment is a server route.
    pub(crate) fn recognises(self, segment: &str) -> bool {
        match self {
            ServerSegments::IdOrName => true,
            ServerSegments::LowercaseHexOnly => crate::ids::is_lowercase_hex(segment),
        }
    }
}

/// What a server restriction is compared with on a path that names a server (D4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionSubject {
    /// The canonical id the segment resolves to (by id or name).
    ResolvedId,
    /// The raw segment, before name resolution (PR 4237's bug).
    RawSegment,
}

/// Whose `X-Forwarded-*` headers are believed (D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeaders {
    /// Only those of a peer in `TRUSTED_PROXIES`.
    FromTrustedProxies,
    /// Anyone's (issue 5421).
    FromAnyPeer,
}

/// What the raw-path guard does with a dot segment (D8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotSegments {
    /// Refuse the request.
    Refuse,
    /// Resolve the dot segments and route the result, as a normalising proxy would.
    Normalise,
}

/// Which third segments `/.well-known/oauth-protected-resource/servers/{id}/...` accepts (D6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnownSuffix {
    /// Only `mcp`.
    McpOnly,
    /// Anything (gap G4).
    Any,
}

/// The challenge sent for an empty bearer on an OAuth-enabled server (D5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyBearerChallenge {
    /// `Bearer resource_metadata="..."`, so the client can discover the authorization server.
    ResourceMetadata,
    /// A bare `Bearer` (issue 3990).
    Bare,
}

/// Every rule; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub(crate) general_endpoints: GeneralEndpoints,
    pub(crate) server_segments: ServerSegments,
    pub(crate) restriction_subject: RestrictionSubject,
    /// A server-scoped token on the global `/mcp` sees only its server (D2, gap G1).
    pub(crate) global_mcp_scoped: bool,
    pub(crate) forwarded_headers: ForwardedHeaders,
    pub(crate) dot_segments: DotSegments,
    pub(crate) well_known_suffix: WellKnownSuffix,
    pub(crate) empty_bearer_challenge: EmptyBearerChallenge,
    /// The JSON-RPC error code of an access denial (D9: never 0).
    pub(crate) denial_code: i64,
    /// `DELETE` of a session ends it (D10).
    pub(crate) delete_ends_session: bool,
    /// `/rpc` checks that a named session exists and is the caller's (C-RPC-21).
    pub(crate) rpc_checks_session: bool,
    /// The MCP transport serves a session only to its owner (C-MCP-18/19).
    pub(crate) session_owner_checked: bool,
    /// A request forwarded between cluster workers keeps its server scope (issue 3018, D11).
    pub(crate) forward_keeps_server_scope: bool,
    /// The internal-hop headers are believed only with a valid signature (C-AFF-04, D3).
    pub(crate) hop_needs_signature: bool,
    /// A session whose owner died is taken over by the worker that gets it next (C-AFF-07).
    pub(crate) take_over_dead_owners: bool,
    /// A server's scope lists only the tools, resources and prompts that server offers (C-SCOPE-01).
    pub(crate) server_scope_lists_own_items: bool,
    /// A call through a server's scope reaches only items that server offers (C-SCOPE-01, D2).
    pub(crate) server_scope_checks_membership: bool,
    /// The MCP transport refuses a foreign `Origin` with 403 (MCP transports, DNS rebinding).
    pub(crate) origin_checked: bool,
    /// A session is known only on the MCP endpoint that opened it (MCP transports, C-MCP-18).
    pub(crate) sessions_per_endpoint: bool,
    /// A response carries the request's JSON-RPC id as it came, of the same type (JSON-RPC 2.0 §5).
    pub(crate) ids_verbatim: bool,
    /// A refusal names nothing beyond what the request named: no "did you mean" hint drawn from
    /// the whole catalogue (C-SCOPE-01, CWE-209).
    pub(crate) refusals_name_nothing_else: bool,
    /// A call refused for its scope is never sent upstream, not even later (C-SCOPE-01, D2).
    pub(crate) refused_calls_never_sent: bool,
    /// `MCP-Protocol-Version` must be one of the supported versions exactly (C-RPC-23, MCP
    /// transports), not merely sort after the oldest.
    pub(crate) protocol_versions_exact: bool,
    /// A request body over `MAX_BODY_BYTES` is refused with 413 (RFC 9110 §15.5.14).
    pub(crate) body_limit_enforced: bool,
    /// JSON nested past the parser's depth limit is a parse error (400, -32700), not a failure.
    pub(crate) deep_json_is_parse_error: bool,
    /// A token in the query string (`?access_token=`) is no credential (MCP authorization,
    /// RFC 6750 §2.3).
    pub(crate) query_tokens_ignored: bool,
    /// A request is routed by its own method; `X-HTTP-Method-Override` and its aliases change
    /// nothing (RFC 9110 §9.1).
    pub(crate) method_override_ignored: bool,
    /// The RFC 7239 `Forwarded` header is believed from no one (the reference reads
    /// `X-Forwarded-*` from configured proxies only, D3).
    pub(crate) forwarded_header_ignored: bool,
    /// A request whose body names `method` twice is checked and run as one method (the last,
    /// as it is parsed), never checked as the first and run as the last.
    pub(crate) one_method_per_request: bool,
    /// A request head over `MAX_HEADER_BYTES` is answered 431 (RFC 6585 §5).
    pub(crate) header_limit_enforced: bool,
    /// An upstream's `nextCursor` goes back to it exactly as it came (MCP pagination: cursors
    /// are opaque), and a list is complete or its discovery fails.
    pub(crate) upstream_cursors_verbatim: bool,
    /// Progress notifications an upstream sends while it answers a request reach the client
    /// that asked (MCP progress).
    pub(crate) progress_relayed: bool,
    /// A tool result's `structuredContent` reaches the client (MCP tools, structured content).
    pub(crate) structured_content_relayed: bool,
    /// An upstream's JSON-RPC error reaches the client with its own code (JSON-RPC 2.0 §5.1).
    pub(crate) upstream_error_codes_kept: bool,
    /// The client's `params._meta` on a tool call reaches the upstream (MCP `_meta`; a
    /// `progressToken` among it).
    pub(crate) client_meta_forwarded: bool,
    /// A tool result's content reaches the client whole, every type of item (MCP tool results).
    pub(crate) content_relayed_whole: bool,
    /// `resources/templates/list` is asked of the upstreams behind the scope.
    pub(crate) templates_asked_upstream: bool,
    /// `completion/complete` of a prompt's argument is asked of the prompt's upstream.
    pub(crate) completions_asked_upstream: bool,
    /// `GET` and `DELETE` on a server's MCP endpoint need `servers.use` like its `POST` (D7);
    /// a token restricted to other permissions is refused there.
    pub(crate) server_mcp_every_method_checked: bool,
    /// An absolute-form request target (RFC 9112 §3.2.2) meets the raw-path guard (D8) like
    /// the origin form.
    pub(crate) absolute_form_guarded: bool,
    /// A server id or name in a path is compared exactly (D4): an uppercase or fullwidth
    /// look-alike names no server.
    pub(crate) server_segments_exact: bool,
    /// Each request's answer goes to that request, whoever else uses the same JSON-RPC id
    /// (JSON-RPC 2.0 §5: ids are the client's, so two clients' ids collide).
    pub(crate) answers_kept_per_request: bool,
    /// An upstream that dies mid-call gets the client an answer (an `isError` result), never a
    /// wait without end.
    pub(crate) dead_upstreams_answered: bool,
    /// An upstream's `Mcp-Session-Id` stays between the gateway and the upstream (MCP
    /// transports: a session id belongs to the connection that issued it).
    pub(crate) upstream_sessions_hidden: bool,
    /// A tool result's text reaches the client whole, however long (an 8 MiB result too).
    pub(crate) large_results_whole: bool,
    /// The REST catalogue lists only what the caller may see (C-SCOPE-35), like `/rpc` and
    /// the MCP endpoints do.
    pub(crate) rest_lists_filtered: bool,
    /// Ownership is checked on every item a path names by id (tools, resources, prompts,
    /// gateways), not only on servers (§1.5).
    pub(crate) item_ownership_checked: bool,
    /// Every session id is one the gateway issued on `initialize`, whatever id the client sent
    /// with it (no session fixation).
    pub(crate) session_ids_issued: bool,
    /// A tool is found by the name the gateway gave it, so two upstreams' tools of the same
    /// name stay two tools, each run on its own upstream.
    pub(crate) tools_keyed_by_gateway_name: bool,
    /// Every upstream tool call runs in an upstream session of its own, so no client's call
    /// finds the session state another client's call left upstream.
    pub(crate) upstream_sessions_per_call: bool,
    /// Revocation is read from the store on every request, so a token revoked through any
    /// worker is refused by every worker from the next request on (C-AUTH-10, D11).
    pub(crate) revocation_read_per_request: bool,
    /// A revoked token is refused (C-AUTH-10: 401 "Token has been revoked").
    pub(crate) revocations_checked: bool,
    /// A JSON-RPC batch on `/rpc` is -32600 Invalid Request (C-RPC-02), so no call of it runs
    /// past a check made for another.
    pub(crate) batches_refused: bool,
    /// A `GET` with `Last-Event-ID` replays only the events of the session it names (MCP
    /// transports, resumability; C-MCP-18).
    pub(crate) event_replay_per_session: bool,
}

impl Policy {
    /// The spec-faithful answer to every rule.
    pub const fn strict() -> Policy {
        Policy {
            general_endpoints: GeneralEndpoints::STRICT,
            server_segments: ServerSegments::IdOrName,
            restriction_subject: RestrictionSubject::ResolvedId,
            global_mcp_scoped: true,
            forwarded_headers: ForwardedHeaders::FromTrustedProxies,
            dot_segments: DotSegments::Refuse,
            well_known_suffix: WellKnownSuffix::McpOnly,
            empty_bearer_challenge: EmptyBearerChallenge::ResourceMetadata,
            denial_code: crate::rpc::envelope::ACCESS_DENIED,
            delete_ends_session: true,
            rpc_checks_session: true,
            session_owner_checked: true,
            forward_keeps_server_scope: true,
            hop_needs_signature: true,
            take_over_dead_owners: true,
            server_scope_lists_own_items: true,
            server_scope_checks_membership: true,
            origin_checked: true,
            sessions_per_endpoint: true,
            ids_verbatim: true,
            refusals_name_nothing_else: true,
            refused_calls_never_sent: true,
            protocol_versions_exact: true,
            body_limit_enforced: true,
            deep_json_is_parse_error: true,
            query_tokens_ignored: true,
            method_override_ignored: true,
            forwarded_header_ignored: true,
            one_method_per_request: true,
            header_limit_enforced: true,
            upstream_cursors_verbatim: true,
            progress_relayed: true,
            structured_content_relayed: true,
            upstream_error_codes_kept: true,
            client_meta_forwarded: true,
            content_relayed_whole: true,
            templates_asked_upstream: true,
            completions_asked_upstream: true,
            server_mcp_every_method_checked: true,
            absolute_form_guarded: true,
            server_segments_exact: true,
            answers_kept_per_request: true,
            dead_upstreams_answered: true,
            upstream_sessions_hidden: true,
            large_results_whole: true,
            rest_lists_filtered: true,
            item_ownership_checked: true,
            session_ids_issued: true,
            tools_keyed_by_gateway_name: true,
            upstream_sessions_per_call: true,
            revocation_read_per_request: true,
            revocations_checked: true,
            batches_refused: true,
            event_replay_per_session: true,
        }
    }

    /// Whether this is [`Policy::strict`] (start-up says so when it is not).
    pub fn is_strict(&self) -> bool {
        *self == Policy::strict()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::strict()
    }
}
