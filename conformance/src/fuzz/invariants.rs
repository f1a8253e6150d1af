//! The invariants every generated request is checked against, decided by the oracle, and the
//! scenario expectation that restates each one for replay.
//!
//! Pure: [`check`] takes what was sent, what came back (and what the harness's upstreams
//! received meanwhile) and a snapshot of the world. An expectation is written to hold exactly
//! when its invariant holds, so a shrunk failure replays as a failing scenario on the defective
//! gateway and a passing one on a correct gateway.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::oracle::classify::{self, Target};
use crate::oracle::permissions;
use crate::oracle::raw_path::{self, RawPath};
use crate::oracle::wellknown::protected_resource_server;
use crate::oracle::{Verdict, envelope};
use crate::scenario::matcher::values_equal;
use crate::scenario::{Expect, Matcher, UpstreamExpect};

use super::case::{
    Caller, FOREIGN_ORIGINS, FORWARDED_HOST, FUTURE_PROTOCOL_VERSION, PLANTED_SESSION,
};
use super::world::{ServerView, ToolView, WorldView, user_of};

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource/";

/// An invariant of the fuzzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// Every request gets a response.
    NoResponse,
    /// No response is a server error.
    ServerError,
    /// A JSON-RPC error code is never 0 (D9).
    ErrorCodeZero,
    /// A raw path the oracle refuses (D8) gets 400 or 404, never a route.
    RefusedPathServed,
    /// The RFC 9728 endpoint serves only `servers/{x}[/mcp]` (D6).
    WellKnownAnyPath,
    /// A server-scoped token gets the scoping 403 where its restriction denies (§1.3, D1, D4).
    RestrictionNotEnforced,
    /// ... and never where its restriction and permissions allow (C-SCOPE-01, D4).
    RestrictionOverEnforced,
    /// A server-scoped token never sees another server's tools (D2, D12).
    OtherServerToolSeen,
    /// A server-scoped token never runs another server's tool (D2).
    OtherServerToolRan,
    /// `tools/list` on `/servers/S/mcp` lists only S's tools, whatever `params.server_id`
    /// says: the path's server is injected over it (§3.3, D11).
    ServerIdNotInjected,
    /// A server's own endpoint (exactly as the target's template spells it) lists and runs
    /// only that server's tools, whoever asks.
    ServerEndpointLeak,
    /// A JSON-RPC response carries the id of the request it answers, as sent (same JSON type
    /// and value): a gateway that re-types or rewrites ids crosses clients' answers.
    IdAltered,
    /// A request to an MCP endpoint from a foreign `Origin` gets no result (DNS rebinding).
    ForeignOriginServed,
    /// A session opened on one server's endpoint is unknown to another server's endpoint.
    SessionCrossed,
    /// An ended session is unknown everywhere (404, MCP transports §session-management).
    EndedSessionServed,
    /// A session is served only to the user who opened it (C-MCP-18/19).
    SessionOwnerCrossed,
    /// A 401 to a request with an empty bearer on an OAuth server's endpoint names the server's
    /// RFC 9728 document (`resource_metadata`), never a bare challenge.
    BareChallenge,
    /// No answer to one user carries what another user sent earlier in the same sequence (a
    /// tool call's secret): not through an upstream session shared between users, a replayed
    /// event stream, a cached or misrouted answer.
    OtherUserDataSeen,
    /// A token whose permission list does not allow a request gets no success for it and runs
    /// no tool unless it may execute tools, whatever form the request takes (§1.4 with D7,
    /// C-RPC-16).
    PermissionNotEnforced,
    /// An `initialize` that carries a session id the client made up never gets a session of
    /// that id (session fixation, CWE-384).
    ClientSessionAdopted,
    /// An MCP endpoint answers a request with an `MCP-Protocol-Version` it does not support
    /// with no result (MCP transports: 400 Bad Request).
    UnsupportedVersionServed,
    /// No answer names a host the client gave only in its own forwarding headers (D3: they are
    /// believed only from a trusted proxy).
    ForwardedHostBelieved,
    /// The client gets what the upstream answered its call: each member of the result as the
    /// upstream sent it (`_meta` aside, which a gateway may add to), an error with the
    /// upstream's code.
    AnswerAltered,
    /// The upstream gets the client's call as the client sent it: the arguments, and each
    /// `_meta` key but the progress token (which a gateway may replace with its own).
    RequestAltered,
    /// No answer carries a session id an upstream issued: the gateway's sessions are its own.
    UpstreamSessionPassed,
}

/// Every invariant, in the order they are checked.
pub const ALL: [Invariant; 25] = [
    Invariant::NoResponse,
    Invariant::ServerError,
    Invariant::ErrorCodeZero,
    Invariant::RefusedPathServed,
    Invariant::WellKnownAnyPath,
    Invariant::OtherServerToolSeen,
    Invariant::OtherServerToolRan,
    Invariant::IdAltered,
    Invariant::ForeignOriginServed,
    Invariant::SessionCrossed,
    Invariant::EndedSessionServed,
    Invariant::SessionOwnerCrossed,
    Invariant::BareChallenge,
    Invariant::OtherUserDataSeen,
    Invariant::ClientSessionAdopted,
    Invariant::UnsupportedVersionServed,
    Invariant::ForwardedHostBelieved,
    Invariant::AnswerAltered,
    Invariant::RequestAltered,
    Invariant::UpstreamSessionPassed,
    Invariant::PermissionNotEnforced,
    Invariant::ServerIdNotInjected,
    Invariant::RestrictionNotEnforced,
    Invariant::RestrictionOverEnforced,
    Invariant::ServerEndpointLeak,
];

impl Invariant {
    /// The name used in messages and regression file names.
    /// The invariant a name (as [`Invariant::name`] prints it) stands for.
    pub fn from_name(name: &str) -> Option<Invariant> {
        ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether the invariant is one of the reference's decisions, judged only on targets that
    /// speak ContextForge's API (the others hold for every gateway).
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            Invariant::ErrorCodeZero
                | Invariant::RefusedPathServed
                | Invariant::WellKnownAnyPath
                | Invariant::ServerIdNotInjected
                | Invariant::RestrictionNotEnforced
                | Invariant::RestrictionOverEnforced
                | Invariant::BareChallenge
                | Invariant::PermissionNotEnforced
                | Invariant::ForwardedHostBelieved
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoResponse => "no-response",
            Invariant::ServerError => "server-error",
            Invariant::ErrorCodeZero => "jsonrpc-error-code-zero",
            Invariant::RefusedPathServed => "refused-path-served",
            Invariant::WellKnownAnyPath => "well-known-any-path",
            Invariant::RestrictionNotEnforced => "restriction-not-enforced",
            Invariant::RestrictionOverEnforced => "restriction-over-enforced",
            Invariant::OtherServerToolSeen => "other-server-tool-seen",
            Invariant::OtherServerToolRan => "other-server-tool-ran",
            Invariant::ServerIdNotInjected => "server-id-not-injected",
            Invariant::ServerEndpointLeak => "server-endpoint-leak",
            Invariant::IdAltered => "jsonrpc-id-altered",
            Invariant::ForeignOriginServed => "foreign-origin-served",
            Invariant::SessionCrossed => "session-crossed",
            Invariant::EndedSessionServed => "ended-session-served",
            Invariant::SessionOwnerCrossed => "session-owner-crossed",
            Invariant::BareChallenge => "bare-challenge",
            Invariant::OtherUserDataSeen => "other-user-data-seen",
            Invariant::PermissionNotEnforced => "permission-not-enforced",
            Invariant::ClientSessionAdopted => "client-session-id-adopted",
            Invariant::UnsupportedVersionServed => "unsupported-protocol-version-served",
            Invariant::ForwardedHostBelieved => "forwarded-host-believed",
            Invariant::AnswerAltered => "relayed-answer-altered",
            Invariant::RequestAltered => "relayed-request-altered",
            Invariant::UpstreamSessionPassed => "upstream-session-id-passed",
        }
    }

    /// What must hold, in one line (the regression scenario's title).
    pub fn title(self) -> &'static str {
        match self {
            Invariant::NoResponse => "The gateway answers every request",
            Invariant::ServerError => {
                "A malformed request is refused, never answered with a server error"
            }
            Invariant::ErrorCodeZero => "A JSON-RPC error code is never 0",
            Invariant::RefusedPathServed => {
                "A path with a dot segment, encoded separator or control byte is refused, never served as another route"
            }
            Invariant::WellKnownAnyPath => {
                "The protected-resource endpoint serves only servers/{id}[/mcp]"
            }
            Invariant::RestrictionNotEnforced => {
                "A server-scoped token is refused where its server restriction denies"
            }
            Invariant::RestrictionOverEnforced => {
                "A server-scoped token is not refused where its restriction and permissions allow"
            }
            Invariant::OtherServerToolSeen => {
                "A server-scoped token never sees another server's tools"
            }
            Invariant::OtherServerToolRan => {
                "A server-scoped token never runs another server's tool"
            }
            Invariant::ServerIdNotInjected => {
                "tools/list on /servers/S/mcp lists only S's tools, whatever params.server_id says"
            }
            Invariant::ServerEndpointLeak => {
                "A server's endpoint lists and runs only that server's tools"
            }
            Invariant::IdAltered => "A JSON-RPC response carries its request's id unchanged",
            Invariant::ForeignOriginServed => {
                "A request to an MCP endpoint from a foreign Origin gets no result"
            }
            Invariant::SessionCrossed => {
                "A session opened on one server's endpoint is unknown to another server's endpoint"
            }
            Invariant::EndedSessionServed => "An ended session is unknown to every endpoint",
            Invariant::SessionOwnerCrossed => "A session is served only to the user who opened it",
            Invariant::BareChallenge => {
                "A 401 on an OAuth server's endpoint names its protected-resource metadata"
            }
            Invariant::OtherUserDataSeen => {
                "No answer to one user carries what another user sent the gateway"
            }
            Invariant::PermissionNotEnforced => {
                "A token is refused what its permissions do not allow, and runs no tool unless it may execute tools"
            }
            Invariant::ClientSessionAdopted => {
                "A session id the client made up is never adopted as a session's id"
            }
            Invariant::UnsupportedVersionServed => {
                "An MCP endpoint serves no request of an MCP-Protocol-Version it does not support"
            }
            Invariant::ForwardedHostBelieved => {
                "No answer names a host the client gave only in its forwarding headers"
            }
            Invariant::AnswerAltered => {
                "A tool call's answer reaches the client as the upstream gave it"
            }
            Invariant::RequestAltered => {
                "A tool call reaches the upstream with the client's arguments and _meta"
            }
            Invariant::UpstreamSessionPassed => {
                "No answer carries a session id an upstream issued to the gateway"
            }
        }
    }

    /// The checklist items and decisions behind the invariant.
    pub fn spec(self) -> &'static [&'static str] {
        match self {
            // Malformed paths are refused with 400/404 (D8), malformed bodies answered with
            // JSON-RPC errors (C-RPC-01..06); neither is a reason for a server error.
            Invariant::NoResponse | Invariant::ServerError => &["D8", "C-RPC-01", "C-RPC-02"],
            Invariant::ErrorCodeZero => &["D9"],
            Invariant::RefusedPathServed => &["D8", "C-MCP-02"],
            Invariant::WellKnownAnyPath => &["D6", "C-WK-04", "C-WK-06"],
            Invariant::RestrictionNotEnforced => &["C-SCOPE-03", "C-SCOPE-05", "D1", "D4"],
            Invariant::RestrictionOverEnforced => &["C-SCOPE-01", "C-SCOPE-02", "D4"],
            Invariant::OtherServerToolSeen => &["D2", "C-RPC-09", "C-MCP-26", "D12"],
            Invariant::OtherServerToolRan => &["D2", "C-RPC-08", "C-RPC-22"],
            Invariant::ServerIdNotInjected => &["D11", "C-MCP-20", "C-MCP-03"],
            Invariant::ServerEndpointLeak => &["D2", "D11", "C-MCP-26"],
            Invariant::IdAltered => &["D10", "C-RPC-11"],
            Invariant::ForeignOriginServed => &[
                "MCP 2025-06-18 transports §security-warning",
                "MCP 2025-11-25 transports §security-warning",
            ],
            Invariant::SessionCrossed => &[
                "MCP 2025-06-18 transports §session-management",
                "C-MCP-18",
                "C-MCP-19",
            ],
            Invariant::EndedSessionServed => &[
                "MCP 2025-06-18 transports §session-management",
                "C-MCP-18",
                "C-RPC-21",
            ],
            Invariant::SessionOwnerCrossed => &[
                "MCP 2025-06-18 security best practices §session-hijacking",
                "C-MCP-18",
                "C-MCP-19",
            ],
            Invariant::BareChallenge => &["RFC 9728 §5.1", "D5"],
            Invariant::OtherUserDataSeen => &[
                "MCP 2025-06-18 security best practices §session-hijacking",
                "MCP 2025-06-18 transports: resumability and redelivery",
                "C-MCP-18",
                "C-MCP-19",
                "CWE-200",
            ],
            Invariant::PermissionNotEnforced => &["C-SCOPE-16", "C-SCOPE-18", "C-RPC-16", "D7"],
            Invariant::ClientSessionAdopted => {
                &["MCP 2025-06-18 transports §session-management", "CWE-384"]
            }
            Invariant::UnsupportedVersionServed => &[
                "MCP 2025-06-18 transports §protocol-version-header",
                "C-RPC-23",
            ],
            Invariant::ForwardedHostBelieved => &["RFC 7239 §8.4", "D3", "C-MCP-14"],
            Invariant::AnswerAltered => &[
                "MCP 2025-06-18 tools §tool-result",
                "MCP 2025-06-18 tools §structured-content",
                "JSON-RPC 2.0 §5.1",
            ],
            Invariant::RequestAltered => &["MCP 2025-06-18 basic §_meta", "MCP 2025-06-18 tools"],
            Invariant::UpstreamSessionPassed => &["MCP 2025-06-18 transports §session-management"],
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: Invariant,
    /// What was wrong, for people.
    pub detail: String,
    /// Templates of the strings the response must not contain (tool names and ids), for
    /// [`Invariant::OtherServerToolSeen`].
    pub must_not_show: Vec<String>,
    /// Tools (upstream, original name) that must not be called, for
    /// [`Invariant::OtherServerToolRan`].
    pub must_not_run: Vec<(String, String)>,
    /// Templates of the only tool names allowed, for [`Invariant::ServerIdNotInjected`].
    pub only_tools: Vec<String>,
    /// The request's id, for [`Invariant::IdAltered`].
    pub request_id: Option<Value>,
    /// Upstreams no `tools/call` may reach, for [`Invariant::ServerEndpointLeak`].
    pub foreign_upstreams: Vec<String>,
    /// The request must be refused outright (a `DELETE` that ended a session it should not
    /// know): its status is judged, not only its body.
    pub must_refuse: bool,
    /// The session id the request sent and the answer adopted, for
    /// [`Invariant::ClientSessionAdopted`] (the template's value, as sent).
    pub adopted: Option<String>,
    /// What must arrive, as a literal (objects as subsets): the answer's members by name, for
    /// [`Invariant::AnswerAltered`]; the call's `params`, for [`Invariant::RequestAltered`].
    pub relayed: Option<Value>,
    /// The upstream the call reached, for [`Invariant::RequestAltered`].
    pub upstream: Option<String>,
}

impl Violation {
    pub(crate) fn new(invariant: Invariant, detail: String) -> Violation {
        Violation {
            invariant,
            detail,
            must_not_show: Vec::new(),
            must_not_run: Vec::new(),
            only_tools: Vec::new(),
            request_id: None,
            foreign_upstreams: Vec::new(),
            must_refuse: false,
            adopted: None,
            relayed: None,
            upstream: None,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.invariant.name(), self.detail)
    }
}

/// What was sent, rendered.
#[derive(Debug, Clone)]
pub struct Sent<'a> {
    pub method: &'a str,
    /// The request target without the target's root path.
    pub path: &'a str,
    pub body: &'a [u8],
    pub caller: &'a Caller,
    /// The `Origin` header sent, if any.
    pub origin: Option<&'a str>,
    /// The `mcp-session-id` header sent, if any.
    pub session: Option<&'a str>,
    /// The request carried the gateway's own hop headers (forged): refusing it whole, in
    /// whatever form, is right, so the scoping 403's form is not judged.
    pub forged_hop: bool,
    /// Every header sent (name, value).
    pub headers: &'a [(String, String)],
}

impl Sent<'_> {
    /// A header the request carried (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub text: String,
    /// The body as JSON (an SSE body: its last JSON event).
    pub json: Option<Value>,
    /// `tools/call` requests the harness's upstreams received meanwhile.
    pub calls: Vec<UpstreamCall>,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The `Mcp-Session-Id` header of the answer, if any.
    pub session_id: Option<String>,
}

/// A `tools/call` one of the harness's upstreams received.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCall {
    /// The upstream's key in the world.
    pub upstream: String,
    /// The tool called, by the upstream's name.
    pub tool: String,
    /// The call's `params` as they arrived (`null` for a call inside a batch).
    pub params: Value,
    /// What the upstream answered (a JSON-RPC response), where that follows from the message
    /// alone: a call that came on its own, to an upstream that keeps no session memory.
    pub answer: Option<Value>,
}

impl UpstreamCall {
    /// A call of `tool` on `upstream` whose message is not known.
    pub fn named(upstream: &str, tool: &str) -> UpstreamCall {
        UpstreamCall {
            upstream: upstream.to_owned(),
            tool: tool.to_owned(),
            params: Value::Null,
            answer: None,
        }
    }
}

/// Check one exchange; `observed` is `None` when no response came. Returns every invariant
/// broken, in the order of [`ALL`]; the reference's decisions only where `world.strict`.
pub fn check(sent: &Sent<'_>, observed: Option<&Observed>, world: &WorldView) -> Vec<Violation> {
    check_echoing(sent, observed, world, "")
}

/// [`check`], where the answer may also repeat `echoed`: what the same caller sent earlier in
/// a sequence (a replayed stream repeats the caller's own earlier answers, and a tool name the
/// caller typed is no leak).
pub fn check_echoing(
    sent: &Sent<'_>,
    observed: Option<&Observed>,
    world: &WorldView,
    echoed: &str,
) -> Vec<Violation> {
    let Some(obs) = observed else {
        return vec![Violation::new(
            Invariant::NoResponse,
            "the connection ended without a response".to_owned(),
        )];
    };
    let mut out = Vec::new();
    let shown = || {
        let text: String = obs.text.chars().take(300).collect();
        format!("HTTP {}: {text}", obs.status)
    };
    if obs.status >= 500 {
        out.push(Violation::new(Invariant::ServerError, shown()));
    }
    if world.strict && obs.json.as_ref().and_then(|j| j.pointer("/error/code")) == Some(&json!(0)) {
        out.push(Violation::new(Invariant::ErrorCodeZero, shown()));
    }
    let judgement = raw_path::judge(sent.path);
    let refused = matches!(judgement, RawPath::Refuse(_));
    if world.strict
        && let RawPath::Refuse(why) = &judgement
        && obs.status != 400
        && obs.status != 404
    {
        out.push(Violation::new(
            Invariant::RefusedPathServed,
            format!("the oracle refuses the path ({why:?}); {}", shown()),
        ));
    }
    let path_only = sent.path.split_once('?').map_or(sent.path, |(p, _)| p);
    let decoded = raw_path::decode(path_only.as_bytes()).and_then(|d| String::from_utf8(d).ok());
    if world.strict
        && !refused
        && let Some(rest) = decoded.as_deref().and_then(|d| d.strip_prefix(WELL_KNOWN))
        && protected_resource_server(rest).is_none()
        && (200..300).contains(&obs.status)
    {
        out.push(Violation::new(
            Invariant::WellKnownAnyPath,
            format!("{rest:?} names no server; {}", shown()),
        ));
    }
    let request_text = format!(
        "{} {} {echoed}",
        sent.path,
        String::from_utf8_lossy(sent.body)
    );
    if let Some(reach) = world.reach(sent.caller)
        && let Some(v) = tools_stay_inside(sent.caller, &reach, obs, world, &request_text)
    {
        out.push(v);
    }
    if let Some(v) = id_kept(sent, obs) {
        out.push(v);
    }
    if let Some(origin) = sent.origin
        && FOREIGN_ORIGINS.contains(&origin)
        && decoded.as_deref().is_some_and(|d| world.is_mcp_endpoint(d))
        && obs.json.as_ref().is_some_and(|j| j.get("result").is_some())
    {
        out.push(Violation::new(
            Invariant::ForeignOriginServed,
            format!("Origin {origin} was served: {}", shown()),
        ));
    }
    if let Some(v) = decoded
        .as_deref()
        .and_then(|d| session_misused(sent, d, obs, world))
    {
        out.push(v);
    }
    if world.strict
        && *sent.caller == Caller::EmptyBearer
        && obs.status == 401
        && !obs
            .www_authenticate
            .as_deref()
            .is_some_and(|h| h.contains("resource_metadata"))
        && decoded
            .as_deref()
            .and_then(|d| world.server_endpoint_of(d))
            .is_some_and(|s| world.oauth_servers.contains(&s.key))
    {
        out.push(Violation::new(
            Invariant::BareChallenge,
            format!(
                "an empty bearer on an OAuth server's endpoint got 401 with WWW-Authenticate {:?}",
                obs.www_authenticate.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    if let Some(v) = session_adopted(sent, obs, world) {
        out.push(v);
    }
    if let Some(v) = decoded
        .as_deref()
        .and_then(|d| unsupported_version_served(sent, d, obs, world))
    {
        out.push(v);
    }
    if world.strict
        && !world.trusted_proxy
        && let Some(v) = forwarded_host_believed(sent, obs)
    {
        out.push(v);
    }
    out.extend(relayed_intact(sent, obs, world));
    if let Some(v) = upstream_session_passed(obs) {
        out.push(v);
    }
    let Some(decoded) = decoded else {
        return out;
    };
    if world.strict
        && !refused
        && !sent.forged_hop
        && let Some(v) = permissions_hold(sent, &decoded, obs, world)
    {
        out.push(v);
    }
    if world.strict && !refused {
        let target = classify::target(&classify::normalise(&decoded, None));
        let resolved = match &target {
            Target::Server(seg) => world.resolve(seg),
            _ => None,
        };
        if let Some(server) = resolved
            && let Some(v) = injected_server_only(sent, &decoded, server, obs, world)
        {
            out.push(v);
        }
        let own = sent.caller.server_scope().and_then(|k| world.server(k));
        if sent.caller.is_scoped()
            && !sent.forged_hop
            && judgement == RawPath::Accept
            && classify::scoping_skipped(&decoded) == Verdict::No
            && let Some(v) = restriction(sent, &decoded, &target, resolved, own, obs)
        {
            out.push(v);
        }
    }
    if let Some(server) = world.server_endpoint_of(&decoded)
        && let Some(v) = endpoint_serves_own(sent, server, obs, world)
    {
        out.push(v);
    }
    out
}

/// The call a single `tools/call` request made, judged both ways: the upstream got the
/// client's arguments and `_meta`, and the client got the upstream's answer. Judged only where
/// the call is certain: one request (not a batch) with an id, one upstream call of the tool it
/// named, and an answer to that id. The comparisons are the scenario matcher's own, so the
/// written expectation holds exactly when this does.
fn relayed_intact(sent: &Sent<'_>, obs: &Observed, world: &WorldView) -> Vec<Violation> {
    let mut out = Vec::new();
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(sent.body) else {
        return out;
    };
    let Some(params) = req
        .get("params")
        .and_then(Value::as_object)
        .filter(|_| req.get("method").and_then(Value::as_str) == Some("tools/call"))
    else {
        return out;
    };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return out;
    };
    let named = |c: &UpstreamCall| {
        world.tools.iter().any(|t| {
            t.upstream == c.upstream && t.original == c.tool && (t.name == name || t.id == name)
        })
    };
    let mine: Vec<&UpstreamCall> = obs.calls.iter().filter(|c| named(c)).collect();
    let [call] = mine.as_slice() else {
        return out;
    };
    let mut wanted = serde_json::Map::new();
    if let Some(args) = params.get("arguments").filter(|a| a.is_object()) {
        wanted.insert("arguments".to_owned(), args.clone());
    }
    if let Some(Value::Object(meta)) = params.get("_meta") {
        let mut meta = meta.clone();
        meta.remove("progressToken");
        wanted.insert("_meta".to_owned(), Value::Object(meta));
    }
    if !call.params.is_null()
        && let Err(m) = Matcher::literal(&Value::Object(wanted.clone())).check(Some(&call.params))
    {
        let mut v = Violation::new(
            Invariant::RequestAltered,
            format!(
                "the call of {name} reached upstream {} altered (params {m})",
                call.upstream
            ),
        );
        v.relayed = Some(Value::Object(wanted));
        v.upstream = Some(call.upstream.clone());
        out.push(v);
    }
    let (Some(answer), Some(id), Some(got)) = (&call.answer, req.get("id"), obs.json.as_ref())
    else {
        return out;
    };
    if id.is_null() || got.get("id").is_none_or(|g| !values_equal(g, id)) {
        return out;
    }
    let mut expected = serde_json::Map::new();
    if let Some(Value::Object(result)) = answer.get("result") {
        let mut result = result.clone();
        result.remove("_meta");
        expected.insert("result".to_owned(), Value::Object(result));
    } else if let Some(code) = answer.pointer("/error/code") {
        expected.insert("error".to_owned(), json!({"code": code}));
    } else {
        return out;
    }
    let expected = Value::Object(expected);
    if let Err(m) = Matcher::literal(&expected).check(Some(got)) {
        let mut v = Violation::new(
            Invariant::AnswerAltered,
            format!(
                "the answer of upstream {} to the call of {name} reached the client altered: {m}",
                call.upstream
            ),
        );
        v.relayed = Some(expected);
        out.push(v);
    }
    out
}

/// The answer's `Mcp-Session-Id` is one the harness's upstreams issue: the gateway passed its
/// upstream session on to the client, who could then reach that session past the gateway's own.
fn upstream_session_passed(obs: &Observed) -> Option<Violation> {
    let sid = obs.session_id.as_deref()?;
    UPSTREAM_SESSION_PREFIXES
        .iter()
        .any(|p| sid.starts_with(p))
        .then(|| {
            Violation::new(
                Invariant::UpstreamSessionPassed,
                format!("the answer carries Mcp-Session-Id {sid}, an upstream's session id"),
            )
        })
}

/// How the session ids the harness's upstreams issue begin.
const UPSTREAM_SESSION_PREFIXES: [&str; 2] = [
    crate::upstream::rich::SESSION_PREFIX,
    crate::upstream::memory::SESSION_PREFIX,
];

/// CWE-384: a session id no live session has (one the client planted, [`PLANTED_SESSION`], or
/// one of the campaign's sessions that ended) is never the id of the session an `initialize`
/// opens.
/// (A live session's own id may come back: some gateways answer every request in a session
/// with its id.)
fn session_adopted(sent: &Sent<'_>, obs: &Observed, world: &WorldView) -> Option<Violation> {
    // Only an `initialize` that succeeds opens a session: any later answer that carries the id
    // (an echo of the header on a notification's 202 among them) is the effect of an earlier
    // adoption, which the request that made it shows.
    let opened = obs.json.as_ref().is_some_and(|j| j.get("result").is_some());
    if !asks(sent.body, "initialize") || !opened {
        return None;
    }
    let chosen = sent.header("mcp-session-id")?;
    let template = if chosen == PLANTED_SESSION {
        PLANTED_SESSION.to_owned()
    } else {
        let ended = world.sessions.iter().find(|s| s.ended && s.id == chosen)?;
        format!("${{saved.{}}}", ended.key)
    };
    (obs.session_id.as_deref() == Some(chosen)).then(|| {
        let mut v = Violation::new(
            Invariant::ClientSessionAdopted,
            format!(
                "the answer (HTTP {}) adopted the session id the client sent, {chosen}, which no live session has",
                obs.status
            ),
        );
        v.adopted = Some(template);
        v
    })
}

/// Whether `body` is one JSON-RPC request of `method`.
fn asks(body: &[u8], method: &str) -> bool {
    matches!(envelope::judge(body), envelope::Envelope::Request { method: m, .. } if m == method)
}

/// MCP transports §protocol-version-header: a request (other than `initialize`, which
/// negotiates the version in its body) with a version no one supports gets no result on an MCP
/// endpoint.
fn unsupported_version_served(
    sent: &Sent<'_>,
    decoded: &str,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    let initialize = asks(sent.body, "initialize");
    let served = obs.json.as_ref().is_some_and(|j| j.get("result").is_some());
    (sent.header("mcp-protocol-version") == Some(FUTURE_PROTOCOL_VERSION)
        && !initialize
        && served
        && world.is_mcp_endpoint(decoded))
    .then(|| {
        Violation::new(
            Invariant::UnsupportedVersionServed,
            format!(
                "MCP-Protocol-Version {FUTURE_PROTOCOL_VERSION} was served (HTTP {})",
                obs.status
            ),
        )
    })
}

/// D3: a host named only in the client's `X-Forwarded-Host` or `Forwarded: host=` appears in
/// no answer (a resource or metadata URL, a challenge).
fn forwarded_host_believed(sent: &Sent<'_>, obs: &Observed) -> Option<Violation> {
    let claimed = ["x-forwarded-host", "forwarded"]
        .iter()
        .any(|h| sent.header(h).is_some_and(|v| v.contains(FORWARDED_HOST)));
    let in_challenge = obs
        .www_authenticate
        .as_deref()
        .is_some_and(|h| h.contains(FORWARDED_HOST));
    (claimed && (in_challenge || obs.text.contains(FORWARDED_HOST))).then(|| {
        Violation::new(
            Invariant::ForwardedHostBelieved,
            format!(
                "the client's forwarding header named {FORWARDED_HOST} and the answer (HTTP {}) used it",
                obs.status
            ),
        )
    })
}

/// §1.4 with D7, C-RPC-16: a token with a permission list gets no success where the
/// permission map denies it, and runs no tool unless it may execute tools (whatever the body
/// says it is: a method named twice, a batch, the legacy form).
fn permissions_hold(
    sent: &Sent<'_>,
    decoded: &str,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    let perms = sent.caller.permissions();
    if perms.is_empty() || classify::scoping_skipped(decoded) != Verdict::No {
        return None;
    }
    // Only a call of a tool the request named is its own: a campaign sends cases side by side,
    // and another case's call may land meanwhile.
    let body = String::from_utf8_lossy(sent.body);
    if permissions::grants(perms, "tools.execute") == Verdict::No
        && let Some(UpstreamCall {
            upstream: up, tool, ..
        }) = obs
            .calls
            .iter()
            .find(|c| world.names_tool(&body, &c.upstream, &c.tool))
    {
        let mut v = Violation::new(
            Invariant::PermissionNotEnforced,
            format!(
                "a token with permissions {perms:?} (no tools.execute) ran tool {tool} of upstream {up} (HTTP {})",
                obs.status
            ),
        );
        v.must_not_run = world
            .tools
            .iter()
            .map(|t| (t.upstream.clone(), t.original.clone()))
            .collect();
        return Some(v);
    }
    let denied = permissions::allows(perms, sent.method, decoded, None) == Verdict::No;
    (denied && (200..300).contains(&obs.status)).then(|| {
        let mut v = Violation::new(
            Invariant::PermissionNotEnforced,
            format!(
                "a token with permissions {perms:?} was served {} {decoded} (HTTP {}), which the permission map denies",
                sent.method, obs.status
            ),
        );
        v.must_refuse = true;
        v
    })
}

/// MCP transports §session-management: a session id belongs to the endpoint that issued it,
/// and an ended one is answered 404. A request (other than `initialize`) that carries a session
/// the campaign opened on server S to another server's endpoint, or an ended session to any MCP
/// endpoint, gets no result.
fn session_misused(
    sent: &Sent<'_>,
    decoded: &str,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    let mut v = session_served_where_unknown(sent, decoded, obs, world)?;
    v.must_refuse = sent.method == "DELETE";
    Some(v)
}

/// [`session_misused`] without the form of its expectation.
fn session_served_where_unknown(
    sent: &Sent<'_>,
    decoded: &str,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    let id = sent.session?;
    let session = world.sessions.iter().find(|s| s.id == id)?;
    let initialize = asks(sent.body, "initialize");
    // A result, or a DELETE that ended it (2xx) where it should be unknown.
    let served = obs.json.as_ref().is_some_and(|j| j.get("result").is_some())
        || (sent.method == "DELETE" && (200..300).contains(&obs.status));
    // On a ContextForge-shaped target `/rpc` checks the session it is given too (C-RPC-21).
    let path = decoded.split_once('?').map_or(decoded, |(p, _)| p);
    let rpc = world.strict
        && world
            .rpc
            .as_deref()
            .is_some_and(|r| path.trim_end_matches('/') == r);
    if initialize || !served || !(world.is_mcp_endpoint(decoded) || rpc) {
        return None;
    }
    if session.ended {
        return Some(Violation::new(
            Invariant::EndedSessionServed,
            format!("an ended session was served (HTTP {})", obs.status),
        ));
    }
    let opened_on = session
        .server
        .as_deref()
        .map_or("the endpoint of every server".to_owned(), |k| {
            format!("server {k}'s endpoint")
        });
    // A caller with a credential of another user than the one who opened it (callers with no
    // valid credential are judged by what they reach).
    if user_of(sent.caller).is_some_and(|u| u != session.owner) {
        return Some(Violation::new(
            Invariant::SessionOwnerCrossed,
            format!(
                "a session opened on {opened_on} by another user was served (HTTP {})",
                obs.status
            ),
        ));
    }
    // On another server's endpoint, or on the endpoint of every server when it was opened on a
    // server's (and the other way round), it is unknown.
    let here = match (world.server_endpoint_of(decoded), session.server.as_deref()) {
        (Some(s), Some(own)) if s.key == own => return None,
        (None, None) => return None,
        (Some(s), _) => format!("server {}'s endpoint", s.key),
        (None, Some(_)) if world.is_mcp_endpoint(decoded) => {
            "the endpoint of every server".to_owned()
        }
        (None, Some(_)) => return None,
    };
    Some(Violation::new(
        Invariant::SessionCrossed,
        format!(
            "a session opened on {opened_on} was served on {here} (HTTP {})",
            obs.status
        ),
    ))
}

/// A secret a step of a sequence sent: the user who sent it, and the text as sent and as its
/// template (what a written scenario's expectation names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub user: &'static str,
    pub text: String,
    pub template: String,
}

/// [`Invariant::OtherUserDataSeen`]: whether an answer to `caller` carries a secret another user
/// planted (a caller with no valid credential is every user's other). Not judged where a
/// request with no credential reaches everything: there every caller is the same nobody.
pub fn data_of_others(
    caller: &Caller,
    obs: &Observed,
    planted: &[Planted],
    world: &WorldView,
) -> Option<Violation> {
    if world.anonymous_reaches_all {
        return None;
    }
    let receiver = user_of(caller);
    let seen: Vec<&Planted> = planted
        .iter()
        .filter(|p| Some(p.user) != receiver && obs.text.contains(&p.text))
        .collect();
    let first = seen.first()?;
    let mut v = Violation::new(
        Invariant::OtherUserDataSeen,
        format!(
            "the answer (HTTP {}) to {} carries {:?}, which user {} sent",
            obs.status,
            receiver.map_or("a caller with no valid credential".to_owned(), |u| format!(
                "user {u}"
            )),
            first.text,
            first.user
        ),
    );
    v.must_not_show = seen.iter().map(|p| p.template.clone()).collect();
    Some(v)
}

/// The id of a well-formed JSON-RPC request (a string or a number), if the body is one.
fn request_id(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    if o.get("jsonrpc") != Some(&json!("2.0")) || !o.get("method").is_some_and(Value::is_string) {
        return None;
    }
    o.get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned()
}

/// JSON-RPC 2.0 §5: a response's id is the request's id. A null id (the request could not be
/// read) is not judged here.
fn id_kept(sent: &Sent<'_>, obs: &Observed) -> Option<Violation> {
    let asked = request_id(sent.body)?;
    let answer = obs.json.as_ref().and_then(Value::as_object)?;
    let is_response = answer.contains_key("result") || answer.contains_key("error");
    match answer.get("id") {
        Some(got) if is_response && !got.is_null() && *got != asked => {
            let mut v = Violation::new(
                Invariant::IdAltered,
                format!(
                    "the request's id {asked} came back as {got} (HTTP {})",
                    obs.status
                ),
            );
            v.request_id = Some(asked);
            Some(v)
        }
        _ => None,
    }
}

/// A server's own endpoint lists (`tools/list`) only its tools and sends a `tools/call` only to
/// the upstreams behind it (one that names a tool the server lacks may reach its own upstreams,
/// which refuse it). On a strict target the listing is [`Invariant::ServerIdNotInjected`]'s, so
/// only calls are judged.
fn endpoint_serves_own(
    sent: &Sent<'_>,
    server: &ServerView,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    if sent.method != "POST" {
        return None;
    }
    let own: Vec<&ToolView> = world
        .tools
        .iter()
        .filter(|t| server.tools.contains(&t.key))
        .collect();
    let behind: BTreeSet<&str> = own.iter().map(|t| t.upstream.as_str()).collect();
    let foreign: BTreeSet<&str> = world
        .tools
        .iter()
        .map(|t| t.upstream.as_str())
        .filter(|u| !behind.contains(u))
        .collect();
    let violation = |detail: String| {
        let mut v = Violation::new(Invariant::ServerEndpointLeak, detail);
        v.only_tools = own
            .iter()
            .map(|t| format!("${{tools.{}.name}}", t.key))
            .collect();
        v.foreign_upstreams = foreign.iter().map(|u| (*u).to_owned()).collect();
        v
    };
    if let Some(UpstreamCall {
        upstream: up, tool, ..
    }) = obs
        .calls
        .iter()
        .find(|c| foreign.contains(c.upstream.as_str()))
    {
        return Some(violation(format!(
            "a call on server {}'s endpoint reached upstream {up}, which is not behind it \
             (tool {tool}, HTTP {})",
            server.key, obs.status
        )));
    }
    let lists_tools = asks(sent.body, "tools/list");
    if world.strict || !lists_tools {
        return None;
    }
    let listed = obs
        .json
        .as_ref()
        .and_then(|j| j.pointer("/result/tools"))
        .and_then(Value::as_array);
    let stranger = listed
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .find(|name| !own.iter().any(|t| t.name == *name));
    stranger.map(|name| {
        violation(format!(
            "tools/list on server {}'s endpoint listed {name}",
            server.key
        ))
    })
}

/// The names and ids of `tools`, concrete and as templates.
fn tool_strings<'a>(tools: &[&'a ToolView]) -> Vec<(&'a str, String)> {
    let mut out = Vec::new();
    for t in tools {
        out.push((t.name.as_str(), format!("${{tools.{}.name}}", t.key)));
        out.push((t.id.as_str(), format!("${{tools.{}.id}}", t.key)));
    }
    out.retain(|(concrete, _)| !concrete.is_empty());
    out
}

/// D2: a caller that reaches only `reach` never sees (in any response) or runs (an upstream
/// call) a tool outside it; a caller that reaches nothing, no tool at all. Echoing a name the
/// request itself carried is not a leak.
fn tools_stay_inside(
    caller: &Caller,
    reach: &[&ServerView],
    obs: &Observed,
    world: &WorldView,
    request_text: &str,
) -> Option<Violation> {
    let inside = |t: &ToolView| reach.iter().any(|s| s.tools.contains(&t.key));
    let outside: Vec<&ToolView> = world.tools.iter().filter(|t| !inside(t)).collect();
    let who = match reach {
        [] => format!("a caller that reaches no server ({caller:?})"),
        [one] => format!("a token scoped to server {}", one.key),
        many => format!(
            "a caller that reaches only {}",
            many.iter()
                .map(|s| s.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let checked: Vec<(&str, String)> = tool_strings(&outside)
        .into_iter()
        .filter(|(concrete, _)| !request_text.contains(concrete))
        .collect();
    if let Some((leaked, _)) = checked.iter().find(|(c, _)| obs.text.contains(c)) {
        let mut v = Violation::new(
            Invariant::OtherServerToolSeen,
            format!("{who} was shown {leaked} (HTTP {})", obs.status),
        );
        v.must_not_show = checked.into_iter().map(|(_, t)| t).collect();
        return Some(v);
    }
    let must_not_run: Vec<(String, String)> = outside
        .iter()
        .map(|t| (t.upstream.clone(), t.original.clone()))
        .collect();
    if let Some(UpstreamCall {
        upstream: up, tool, ..
    }) = obs.calls.iter().find(|c| {
        must_not_run
            .iter()
            .any(|(u, t)| *u == c.upstream && *t == c.tool)
    }) {
        let mut v = Violation::new(
            Invariant::OtherServerToolRan,
            format!(
                "{who} ran tool {tool} of upstream {up} (HTTP {})",
                obs.status
            ),
        );
        v.must_not_run = must_not_run;
        return Some(v);
    }
    None
}

/// §3.3: `tools/list` on `/servers/S/mcp[/]` lists only S's tools.
fn injected_server_only(
    sent: &Sent<'_>,
    decoded: &str,
    server: &ServerView,
    obs: &Observed,
    world: &WorldView,
) -> Option<Violation> {
    let normalised = classify::normalise(decoded, None);
    let on_mcp = normalised
        .trim_end_matches('/')
        .strip_prefix("/servers/")
        .is_some_and(|rest| rest.ends_with("/mcp") && rest.matches('/').count() == 1);
    let lists_tools = asks(sent.body, "tools/list");
    if sent.method != "POST" || !on_mcp || !lists_tools {
        return None;
    }
    let listed = obs
        .json
        .as_ref()
        .and_then(|j| j.pointer("/result/tools"))
        .and_then(Value::as_array)?;
    let own: Vec<&ToolView> = world
        .tools
        .iter()
        .filter(|t| server.tools.contains(&t.key))
        .collect();
    let stranger = listed
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .find(|name| !own.iter().any(|t| t.name == *name));
    match stranger {
        None => None,
        Some(name) => {
            let mut v = Violation::new(
                Invariant::ServerIdNotInjected,
                format!(
                    "tools/list on server {}'s MCP endpoint listed {name}",
                    server.key
                ),
            );
            v.only_tools = own
                .iter()
                .map(|t| format!("${{tools.{}.name}}", t.key))
                .collect();
            Some(v)
        }
    }
}

/// The scoping 403 (C-SCOPE-03).
fn scoping_403(obs: &Observed) -> bool {
    obs.status == 403 && obs.json == Some(json!({"detail": "Access denied"}))
}

/// §1.3 with D1 and D4: the server restriction of a scoped token, as the oracle decides it.
fn restriction(
    sent: &Sent<'_>,
    decoded: &str,
    target: &Target,
    resolved: Option<&ServerView>,
    own: Option<&ServerView>,
    obs: &Observed,
) -> Option<Violation> {
    // A path naming a fixture by name or by another spelling is compared by canonical id
    // after resolution (D4); anything else as written.
    let target = match (target, resolved) {
        (Target::Server(_), Some(s)) => Target::Server(s.id.clone()),
        (t, _) => t.clone(),
    };
    let own_id = own.map(|s| s.id.as_str());
    let who = own.map_or("no server".to_owned(), |s| format!("server {}", s.key));
    match classify::server_restriction(&target, own_id) {
        Verdict::No if !scoping_403(obs) => Some(Violation::new(
            Invariant::RestrictionNotEnforced,
            format!(
                "a token scoped to {who} was not refused on {target:?}: HTTP {} {}",
                obs.status,
                obs.text.chars().take(200).collect::<String>()
            ),
        )),
        Verdict::Yes
            if scoping_403(obs)
                && permissions::allows(sent.caller.permissions(), sent.method, decoded, None)
                    == Verdict::Yes =>
        {
            Some(Violation::new(
                Invariant::RestrictionOverEnforced,
                format!("a token scoped to {who} was refused on {target:?}"),
            ))
        }
        _ => None,
    }
}

fn matcher(v: Value) -> Matcher {
    serde_json::from_value(v).expect("a matcher written here parses")
}

/// No upstream receives a `tools/call` of these (upstream, tool) pairs.
fn never_run(e: &mut Expect, tools: &[(String, String)]) {
    let mut by_upstream: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (up, tool) in tools {
        by_upstream.entry(up).or_default().push(tool);
    }
    for (up, names) in by_upstream {
        let name = match names.as_slice() {
            [one] => json!(one),
            many => json!({"$in": many}),
        };
        e.upstream.insert(
            up.to_owned(),
            UpstreamExpect {
                method: Some("tools/call".to_owned()),
                params: Some(matcher(json!({"name": name}))),
                headers: Default::default(),
                count: Some(matcher(json!(0))),
                never_carries: Vec::new(),
            },
        );
    }
}

/// A `tools/list` result, if there is one, names only these tools (templates).
fn only_listed(e: &mut Expect, names: &[String]) {
    let only = json!({"$excludes": {"name": {"$not": {"$in": names}}}});
    e.pointers.insert(
        "/result/tools".to_owned(),
        matcher(json!({"$any_of": [{"$absent": true}, only]})),
    );
}

/// The expectation that holds exactly when the violated invariant holds.
pub fn expectation(v: &Violation) -> Expect {
    let mut e = Expect::default();
    match v.invariant {
        Invariant::NoResponse | Invariant::ServerError => {
            e.status = Some(matcher(json!({"$lte": 499})));
        }
        Invariant::ErrorCodeZero => {
            e.pointers
                .insert("/error/code".to_owned(), matcher(json!({"$not": 0})));
        }
        Invariant::RefusedPathServed => {
            e.status = Some(matcher(json!({"$in": [400, 404]})));
        }
        Invariant::WellKnownAnyPath => {
            e.status = Some(matcher(json!({"$not": {"$gte": 200, "$lte": 299}})));
        }
        Invariant::RestrictionNotEnforced => {
            e.status = Some(matcher(json!(403)));
            e.json = Some(matcher(json!({"$eq": {"detail": "Access denied"}})));
        }
        Invariant::RestrictionOverEnforced => {
            // "Not the scoping 403": a 200 never carries this exact body, so the body alone
            // decides, and a body that is not JSON passes as it should.
            e.body = Some(matcher(
                json!({"$not": {"$matches": r#"^\s*\{\s*"detail"\s*:\s*"Access denied"\s*\}\s*$"#}}),
            ));
        }
        Invariant::OtherServerToolSeen | Invariant::OtherUserDataSeen => {
            let any: Vec<Value> = v
                .must_not_show
                .iter()
                .map(|t| json!({"$includes": t}))
                .collect();
            e.body = Some(matcher(json!({"$not": {"$any_of": any}})));
        }
        Invariant::OtherServerToolRan => never_run(&mut e, &v.must_not_run),
        Invariant::ServerIdNotInjected => only_listed(&mut e, &v.only_tools),
        Invariant::ServerEndpointLeak => {
            only_listed(&mut e, &v.only_tools);
            for up in &v.foreign_upstreams {
                e.upstream.insert(
                    up.clone(),
                    UpstreamExpect {
                        method: Some("tools/call".to_owned()),
                        params: None,
                        headers: Default::default(),
                        count: Some(matcher(json!(0))),
                        never_carries: Vec::new(),
                    },
                );
            }
        }
        Invariant::BareChallenge => {
            e.headers.insert(
                "www-authenticate".to_owned(),
                matcher(
                    json!({"$any_of": [{"$absent": true}, {"$contains": "resource_metadata"}]}),
                ),
            );
        }
        Invariant::ForeignOriginServed
        | Invariant::SessionCrossed
        | Invariant::EndedSessionServed
        | Invariant::SessionOwnerCrossed => {
            e.pointers
                .insert("/result".to_owned(), matcher(json!({"$absent": true})));
            if v.must_refuse {
                e.status = Some(matcher(json!({"$gte": 300, "$lte": 499})));
            }
        }
        Invariant::PermissionNotEnforced => {
            never_run(&mut e, &v.must_not_run);
            if v.must_refuse {
                e.status = Some(matcher(json!({"$not": {"$gte": 200, "$lte": 299}})));
            }
        }
        Invariant::ClientSessionAdopted => {
            e.headers.insert(
                "mcp-session-id".to_owned(),
                matcher(json!({"$any_of": [{"$absent": true}, {"$not": v.adopted}]})),
            );
        }
        Invariant::UnsupportedVersionServed => {
            e.pointers
                .insert("/result".to_owned(), matcher(json!({"$absent": true})));
        }
        Invariant::ForwardedHostBelieved => {
            e.body = Some(matcher(json!({"$not": {"$includes": FORWARDED_HOST}})));
            e.headers.insert(
                "www-authenticate".to_owned(),
                matcher(
                    json!({"$any_of": [{"$absent": true}, {"$not": {"$contains": FORWARDED_HOST}}]}),
                ),
            );
        }
        Invariant::AnswerAltered => {
            if let Some(Value::Object(members)) = &v.relayed {
                for (k, want) in members {
                    e.pointers.insert(format!("/{k}"), Matcher::literal(want));
                }
            }
        }
        Invariant::RequestAltered => {
            if let Some(up) = &v.upstream {
                e.upstream.insert(
                    up.clone(),
                    UpstreamExpect {
                        method: Some("tools/call".to_owned()),
                        params: v.relayed.as_ref().map(Matcher::literal),
                        headers: Default::default(),
                        count: Some(matcher(json!({"$gte": 1}))),
                        never_carries: Vec::new(),
                    },
                );
            }
        }
        Invariant::UpstreamSessionPassed => {
            let any: Vec<Value> = UPSTREAM_SESSION_PREFIXES
                .iter()
                // The prefixes are letters and dashes: no character a pattern reads.
                .map(|p| json!({"$matches": format!("^{p}")}))
                .collect();
            e.headers.insert(
                "mcp-session-id".to_owned(),
                matcher(json!({"$any_of": [{"$absent": true}, {"$not": {"$any_of": any}}]})),
            );
        }
        Invariant::IdAltered => {
            let asked = v.request_id.clone().unwrap_or(Value::Null);
            e.pointers.insert(
                "/id".to_owned(),
                matcher(json!({"$any_of": [{"$absent": true}, {"$eq": null}, {"$eq": asked}]})),
            );
        }
    }
    // A request step states its status (the loader refuses one that does not). Where this
    // invariant says nothing about it, the status is what every fuzz case is held to anyway: a
    // response that is no server error (`NoResponse`, `ServerError`).
    if e.status.is_none() {
        e.status = Some(matcher(json!({"$lte": 499})));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::world::SessionView;
    use std::collections::BTreeSet;

    fn world() -> WorldView {
        let tool = |key: &str, up: &str, original: &str, n: u8| ToolView {
            key: key.into(),
            upstream: up.into(),
            original: original.into(),
            name: format!("{up}-run-{original}"),
            id: format!("{n}").repeat(32),
        };
        let server = |key: &str, n: u8, tools: &[&str]| ServerView {
            key: key.into(),
            id: format!("{:x}", n + 10).repeat(32),
            name: format!("{key}-run"),
            tools: tools.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>(),
        };
        WorldView {
            servers: vec![server("A", 0, &["ua.alpha"]), server("B", 1, &["ub.beta"])],
            tools: vec![
                tool("ua.alpha", "ua", "alpha", 1),
                tool("ub.beta", "ub", "beta", 2),
            ],
            name_resolution: true,
            server_mcp: Some("/servers/{id}/mcp".into()),
            global_mcp: Some("/mcp".into()),
            sessions: Vec::new(),
            rpc: Some("/rpc".into()),
            oauth_servers: vec!["A".into()],
            trusted_proxy: false,
            anonymous_reaches_all: false,
            strict: true,
        }
    }

    fn obs(status: u16, body: Value) -> Observed {
        Observed {
            status,
            text: body.to_string(),
            json: Some(body),
            calls: Vec::new(),
            www_authenticate: None,
            session_id: None,
        }
    }

    fn scoped(server: &'static str) -> Caller {
        Caller::Scoped {
            server: Some(server.to_owned()),
            permissions: Vec::new(),
        }
    }

    fn broken(sent: &Sent<'_>, o: &Observed) -> Option<Invariant> {
        check(sent, Some(o), &world()).first().map(|v| v.invariant)
    }

    /// What a request's form decides: a permission list (no success where the map denies, no
    /// tool run without `tools.execute`), a planted session id, a protocol version from the
    /// future, a host from the client's forwarding headers. Each holds on a refusal and breaks
    /// on the answer a defective gateway gives.
    #[test]
    fn request_form_invariants() {
        let w = world();
        let on_a = format!("/servers/{}/mcp", w.servers[0].id);
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"ua-run-alpha"}}"#;
        let lister = Caller::Scoped {
            server: Some("A".into()),
            permissions: vec!["tools.read".into(), "servers.use".into()],
        };
        let reader = Caller::Scoped {
            server: Some("A".into()),
            permissions: vec!["servers.read".into()],
        };
        let sent = |method: &'static str, caller: &'static Caller, headers| Sent {
            method,
            path: "",
            body: call,
            caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers,
        };
        let lister: &'static Caller = Box::leak(Box::new(lister));
        let reader: &'static Caller = Box::leak(Box::new(reader));
        let ok = obs(200, json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        let mut ran = ok.clone();
        ran.calls = vec![UpstreamCall::named("ua", "alpha")];
        let denied = obs(
            200,
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32003}}),
        );
        let on_a_sent = |s: Sent<'static>| Sent {
            path: Box::leak(on_a.clone().into_boxed_str()),
            ..s
        };
        // A read-only token: the call refused holds, the call run breaks.
        assert_eq!(broken(&on_a_sent(sent("POST", lister, &[])), &denied), None);
        assert_eq!(
            broken(&on_a_sent(sent("POST", lister, &[])), &ran),
            Some(Invariant::PermissionNotEnforced)
        );
        let v = &check(&on_a_sent(sent("POST", lister, &[])), Some(&ran), &w)[0];
        assert!(expectation(v).upstream.contains_key("ua"));
        // D7: a token that may read servers opens no stream on a server's endpoint.
        let get = on_a_sent(sent("GET", reader, &[]));
        assert_eq!(broken(&get, &obs(403, json!({"detail": "x"}))), None);
        assert_eq!(broken(&get, &ok), Some(Invariant::PermissionNotEnforced));
        // A planted session id never comes back as the session's.
        let planted = [("mcp-session-id".to_owned(), PLANTED_SESSION.to_owned())];
        let planted: &'static [(String, String)] = Box::leak(Box::new(planted));
        let init = Sent {
            body: br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            ..on_a_sent(sent("POST", &Caller::Admin, planted))
        };
        let listing = on_a_sent(sent("POST", &Caller::Admin, planted));
        let mut adopted = ok.clone();
        adopted.session_id = Some(PLANTED_SESSION.into());
        assert_eq!(broken(&init, &ok), None);
        assert_eq!(
            broken(&init, &adopted),
            Some(Invariant::ClientSessionAdopted)
        );
        // Only the `initialize` that adopted it is judged, not a later answer in the session,
        // nor the header echoed on an answer that opened nothing.
        assert_eq!(broken(&listing, &adopted), None);
        let mut echoed = obs(202, Value::Null);
        echoed.session_id = Some(PLANTED_SESSION.into());
        assert_eq!(broken(&init, &echoed), None);
        // A version from the future gets no result from an MCP endpoint (only there).
        let future = [(
            "mcp-protocol-version".to_owned(),
            FUTURE_PROTOCOL_VERSION.to_owned(),
        )];
        let future: &'static [(String, String)] = Box::leak(Box::new(future));
        let versioned = on_a_sent(sent("POST", &Caller::Admin, future));
        assert_eq!(
            broken(&versioned, &ok),
            Some(Invariant::UnsupportedVersionServed)
        );
        assert_eq!(broken(&versioned, &obs(400, json!({"error": "x"}))), None);
        let elsewhere = Sent {
            path: "/tools",
            ..versioned.clone()
        };
        assert_eq!(broken(&elsewhere, &ok), None);
        // A forwarded host in the answer, or in its challenge, breaks; elsewhere it does not.
        let forwarded = [("x-forwarded-host".to_owned(), FORWARDED_HOST.to_owned())];
        let forwarded: &'static [(String, String)] = Box::leak(Box::new(forwarded));
        let fwd = Sent {
            path: "/servers",
            body: b"",
            ..sent("GET", &Caller::Admin, forwarded)
        };
        let named = obs(
            200,
            json!({"url": format!("https://{FORWARDED_HOST}/servers/x")}),
        );
        assert_eq!(broken(&fwd, &named), Some(Invariant::ForwardedHostBelieved));
        assert_eq!(broken(&fwd, &ok), None);
        let mut challenge = obs(401, json!({"detail": "x"}));
        challenge.www_authenticate = Some(format!(
            "Bearer resource_metadata=\"https://{FORWARDED_HOST}/x\""
        ));
        assert_eq!(
            broken(&fwd, &challenge),
            Some(Invariant::ForwardedHostBelieved)
        );
    }

    /// A call's way through, both directions: the upstream gets the client's arguments and
    /// `_meta` (the progress token it may replace), the client gets the upstream's answer
    /// (`_meta` aside); and no answer carries an upstream's session id. Each written
    /// expectation holds on the faithful answer and fails on the altered one.
    #[test]
    fn relayed_invariants() {
        let w = world();
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ua-run-alpha","arguments":{"q":1},"_meta":{"trace":"t","progressToken":"p"}}}"#;
        let sent = Sent {
            method: "POST",
            path: "/rpc",
            body,
            caller: &Caller::Admin,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        let relayed = [
            Invariant::AnswerAltered,
            Invariant::RequestAltered,
            Invariant::UpstreamSessionPassed,
        ];
        let judged = |params: Value, answer: &Value, got: &Value, sid: Option<&str>| {
            let mut o = obs(200, got.clone());
            o.session_id = sid.map(str::to_owned);
            o.calls = vec![UpstreamCall {
                upstream: "ua".into(),
                tool: "alpha".into(),
                params,
                answer: Some(answer.clone()),
            }];
            check(&sent, Some(&o), &w)
                .into_iter()
                .filter(|v| relayed.contains(&v.invariant))
                .collect::<Vec<_>>()
        };
        let broke = |vs: Vec<Violation>| vs.iter().map(|v| v.invariant).collect::<Vec<_>>();
        let params = json!({"name": "alpha", "arguments": {"q": 1},
                            "_meta": {"trace": "t", "progressToken": 42}});
        let answer = json!({"jsonrpc": "2.0", "id": 99, "result": {
            "content": [{"type": "text", "text": "x"}], "structuredContent": {"t": 1},
            "_meta": {"up": 1}}});
        // The progress token replaced, the result's `_meta` replaced: intact.
        let intact = json!({"jsonrpc": "2.0", "id": 7, "result": {
            "content": [{"type": "text", "text": "x"}], "structuredContent": {"t": 1},
            "_meta": {"gw": true}}});
        assert!(judged(params.clone(), &answer, &intact, None).is_empty());
        // `structuredContent` dropped on the way back.
        let stripped = json!({"jsonrpc": "2.0", "id": 7, "result": {
            "content": [{"type": "text", "text": "x"}]}});
        let v = judged(params.clone(), &answer, &stripped, None);
        assert_eq!(broke(v.clone()), [Invariant::AnswerAltered]);
        let e = expectation(&v[0]);
        let holds = |got: &Value| {
            e.pointers
                .iter()
                .all(|(p, m)| m.check(got.pointer(p)).is_ok())
        };
        assert!(holds(&intact) && !holds(&stripped));
        // The client's `_meta` dropped on the way there.
        let bare = json!({"name": "alpha", "arguments": {"q": 1}});
        let v = judged(bare.clone(), &answer, &intact, None);
        assert_eq!(broke(v.clone()), [Invariant::RequestAltered]);
        let e = expectation(&v[0]);
        let wanted = e.upstream["ua"]
            .params
            .as_ref()
            .expect("params are expected");
        assert!(wanted.check(Some(&params)).is_ok() && wanted.check(Some(&bare)).is_err());
        // An upstream's error: its code must arrive, its message may be the gateway's.
        let error = json!({"jsonrpc": "2.0", "id": 99, "error": {"code": -32042, "message": "no"}});
        let relayed_error = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32042, "message": "upstream: no"}});
        assert!(judged(params.clone(), &error, &relayed_error, None).is_empty());
        let replaced =
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "no"}});
        assert_eq!(
            broke(judged(params.clone(), &error, &replaced, None)),
            [Invariant::AnswerAltered]
        );
        // An answer to another id is the id invariant's to judge, not this one's.
        let other_id = json!({"jsonrpc": "2.0", "id": 8, "result": {"content": []}});
        assert!(judged(params.clone(), &answer, &other_id, None).is_empty());
        // An upstream's session id passed on.
        let leaked = "fid-upstream-session-00000001";
        let v = judged(params.clone(), &answer, &intact, Some(leaked));
        assert_eq!(broke(v.clone()), [Invariant::UpstreamSessionPassed]);
        let e = expectation(&v[0]);
        let header = &e.headers["mcp-session-id"];
        assert!(header.check(Some(&json!(leaked))).is_err());
        assert!(header.check(Some(&json!("gateway-own-1"))).is_ok() && header.check(None).is_ok());
        assert!(judged(params, &answer, &intact, Some("gateway-own-1")).is_empty());
    }

    /// A session opened on A by the administrator is served to nobody else, nowhere else, and
    /// not once it ended; a forged hop may be refused in any form.
    #[test]
    fn sessions_belong_to_their_server_and_user() {
        let mut w = world();
        w.sessions = vec![
            SessionView {
                key: "s-a".into(),
                id: "s-a".into(),
                server: Some("A".into()),
                ended: false,
                owner: crate::fuzz::world::ADMIN_USER,
            },
            SessionView {
                key: "s-gone".into(),
                id: "s-gone".into(),
                server: Some("A".into()),
                ended: true,
                owner: crate::fuzz::world::ADMIN_USER,
            },
        ];
        let on_a = format!("/servers/{}/mcp", w.servers[0].id);
        let on_b = format!("/servers/{}/mcp", w.servers[1].id);
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let served = obs(200, json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        let refused = obs(
            404,
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32001}}),
        );
        let judge = |caller: &Caller, path: &str, session: &str, o: &Observed| {
            let sent = Sent {
                method: "POST",
                path,
                body,
                caller,
                origin: None,
                session: Some(session),
                forged_hop: false,
                headers: &[],
            };
            check(&sent, Some(o), &w).first().map(|v| v.invariant)
        };
        let (admin, other) = (Caller::Admin, Caller::OtherUser);
        assert_eq!(judge(&admin, &on_a, "s-a", &served), None);
        assert_eq!(
            judge(&admin, &on_b, "s-a", &served),
            Some(Invariant::SessionCrossed)
        );
        assert_eq!(
            judge(&admin, &on_a, "s-gone", &served),
            Some(Invariant::EndedSessionServed)
        );
        assert_eq!(
            judge(&other, &on_a, "s-a", &served),
            Some(Invariant::SessionOwnerCrossed)
        );
        for (caller, session) in [(&admin, "s-gone"), (&other, "s-a")] {
            assert_eq!(judge(caller, &on_a, session, &refused), None);
        }
        // A forged hop refused whole (not with the scoping 403's words) breaks nothing; sent
        // without the flag, the same answer is judged as a restriction left unenforced.
        let a_only = scoped("A");
        let hop_refusal = obs(
            403,
            json!({"jsonrpc": "2.0", "id": null,
                   "error": {"code": -32003, "message": "hop failed verification"}}),
        );
        let mut sent = Sent {
            method: "POST",
            path: &on_b,
            body,
            caller: &a_only,
            origin: None,
            session: None,
            forged_hop: true,
            headers: &[],
        };
        assert!(check(&sent, Some(&hop_refusal), &w).is_empty());
        sent.forged_hop = false;
        assert_eq!(
            check(&sent, Some(&hop_refusal), &w)
                .first()
                .map(|v| v.invariant),
            Some(Invariant::RestrictionNotEnforced)
        );
    }

    #[test]
    fn server_errors_and_silence_break_invariants() {
        let caller = Caller::Admin;
        let sent = Sent {
            method: "GET",
            path: "/rpc",
            body: b"",
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        assert_eq!(
            broken(&sent, &obs(502, json!({}))),
            Some(Invariant::ServerError)
        );
        assert_eq!(
            check(&sent, None, &world())
                .into_iter()
                .next()
                .unwrap()
                .invariant,
            Invariant::NoResponse
        );
        let zero = json!({"jsonrpc": "2.0", "error": {"code": 0, "message": "x"}, "id": 1});
        assert_eq!(
            broken(&sent, &obs(200, zero)),
            Some(Invariant::ErrorCodeZero)
        );
    }

    #[test]
    fn d8_a_refused_path_must_not_be_served() {
        let caller = Caller::Admin;
        let sent = Sent {
            method: "POST",
            path: "/x/../rpc",
            body: b"{}",
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        assert_eq!(
            broken(&sent, &obs(200, json!({}))),
            Some(Invariant::RefusedPathServed)
        );
        assert_eq!(broken(&sent, &obs(400, json!({}))), None);
        assert_eq!(broken(&sent, &obs(404, json!({}))), None);
    }

    #[test]
    fn d2_another_servers_tool_may_be_neither_seen_nor_run() {
        let caller = scoped("A");
        let w = world();
        let beta = w.tools[1].name.clone();
        let listed = json!({"result": {"tools": [{"name": beta}]}});
        let sent = Sent {
            method: "POST",
            path: "/mcp",
            body: br#"{"method":"tools/list"}"#,
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        let v = check(&sent, Some(&obs(200, listed.clone())), &w)
            .into_iter()
            .next()
            .unwrap();
        assert_eq!(v.invariant, Invariant::OtherServerToolSeen);
        assert!(
            v.must_not_show
                .contains(&"${tools.ub.beta.name}".to_owned())
        );
        // Echoing what the request named is not a leak.
        let body = format!(r#"{{"method":"tools/call","params":{{"name":"{beta}"}}}}"#);
        let echo = Sent {
            body: body.as_bytes(),
            ..sent.clone()
        };
        assert_eq!(broken(&echo, &obs(200, listed)), None);
        let mut ran = obs(200, json!({"result": {}}));
        ran.calls = vec![UpstreamCall::named("ub", "beta")];
        let v = check(&echo, Some(&ran), &w).into_iter().next().unwrap();
        assert_eq!(v.invariant, Invariant::OtherServerToolRan);
        assert_eq!(v.must_not_run, [("ub".to_owned(), "beta".to_owned())]);
        ran.calls = vec![UpstreamCall::named("ua", "alpha")];
        assert_eq!(broken(&echo, &ran), None);
    }

    #[test]
    fn d11_tools_list_on_a_server_lists_only_its_tools() {
        let caller = Caller::Admin;
        let w = world();
        let path = format!("/servers/{}/mcp/", w.servers[1].name);
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"server_id":"x"}}"#;
        let sent = Sent {
            method: "POST",
            path: &path,
            body,
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        let alpha = json!({"result": {"tools": [{"name": w.tools[0].name}]}});
        let v = check(&sent, Some(&obs(200, alpha)), &w)
            .into_iter()
            .next()
            .unwrap();
        assert_eq!(v.invariant, Invariant::ServerIdNotInjected);
        assert_eq!(v.only_tools, ["${tools.ub.beta.name}"]);
        let beta = json!({"result": {"tools": [{"name": w.tools[1].name}]}});
        assert_eq!(broken(&sent, &obs(200, beta)), None);
    }

    #[test]
    fn c_scope_03_and_d4_the_restriction_decides_the_403() {
        let caller = scoped("A");
        let w = world();
        let denied = obs(403, json!({"detail": "Access denied"}));
        let other = format!("/servers/{}/mcp", w.servers[1].id);
        let sent = Sent {
            method: "POST",
            path: &other,
            body: b"{}",
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        assert_eq!(
            broken(&sent, &obs(404, json!({}))),
            Some(Invariant::RestrictionNotEnforced)
        );
        assert_eq!(broken(&sent, &denied), None);
        // A's own name resolves to A (D4): refusing it is over-enforcement.
        let own = format!("/servers/{}/mcp", w.servers[0].name);
        let sent = Sent { path: &own, ..sent };
        assert_eq!(
            broken(&sent, &denied),
            Some(Invariant::RestrictionOverEnforced)
        );
        let rpc = Sent {
            path: "/rpc",
            ..sent
        };
        assert_eq!(
            broken(&rpc, &denied),
            Some(Invariant::RestrictionOverEnforced)
        );
        assert_eq!(
            broken(
                &Sent {
                    path: "/rpcx",
                    ..rpc
                },
                &obs(404, json!({}))
            ),
            Some(Invariant::RestrictionNotEnforced)
        );
    }

    /// A gateway configured from a file: a call on a server's endpoint may reach only the
    /// upstreams behind it (naming a tool the server lacks reaches its own upstream, which
    /// refuses it: no leak); its listing names only its tools; ids come back as sent.
    #[test]
    fn portable_invariants_judge_a_configured_world() {
        let mut w = world();
        w.strict = false;
        w.anonymous_reaches_all = true;
        let caller = Caller::Admin;
        let path = format!("/servers/{}/mcp", w.servers[1].id);
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha"}}"#;
        let sent = Sent {
            method: "POST",
            path: &path,
            body,
            caller: &caller,
            origin: None,
            session: None,
            forged_hop: false,
            headers: &[],
        };
        let mut own_upstream = obs(200, json!({"jsonrpc": "2.0", "id": 7, "result": {}}));
        own_upstream.calls = vec![UpstreamCall::named("ub", "alpha")];
        assert!(check(&sent, Some(&own_upstream), &w).is_empty());
        let mut foreign = own_upstream.clone();
        foreign.calls = vec![UpstreamCall::named("ua", "alpha")];
        let v = check(&sent, Some(&foreign), &w).into_iter().next().unwrap();
        assert_eq!(v.invariant, Invariant::ServerEndpointLeak);
        assert_eq!(v.foreign_upstreams, ["ua"]);
        let retyped = obs(200, json!({"jsonrpc": "2.0", "id": "7", "result": {}}));
        let v = check(&sent, Some(&retyped), &w).into_iter().next().unwrap();
        assert_eq!(v.invariant, Invariant::IdAltered);
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let listing = Sent { body: list, ..sent };
        let stranger = obs(
            200,
            json!({"id": 1, "result": {"tools": [{"name": w.tools[0].name}]}}),
        );
        assert_eq!(
            check(&listing, Some(&stranger), &w)
                .first()
                .map(|v| v.invariant),
            Some(Invariant::ServerEndpointLeak)
        );
        // The reference's decisions are not applied: a 200 on a path D8 refuses is no finding.
        let dots = Sent {
            path: "/x/../servers/y/mcp",
            ..listing
        };
        assert!(check(&dots, Some(&obs(200, json!({}))), &w).is_empty());
    }

    #[test]
    fn every_expectation_parses_and_is_not_empty() {
        for i in ALL {
            assert_eq!(Invariant::from_name(i.name()), Some(i));
            let mut v = Violation::new(i, String::new());
            v.must_not_show = vec!["${tools.ub.beta.name}".into()];
            v.must_not_run = vec![("ub".into(), "beta".into())];
            v.foreign_upstreams = vec!["ub".into()];
            v.only_tools = vec!["${tools.ua.alpha.name}".into()];
            v.request_id = Some(json!(7));
            let e = expectation(&v);
            assert!(e.status.is_some(), "the loader needs a status: {i:?}");
            assert!(!i.spec().is_empty() && !i.title().is_empty());
        }
    }
}
