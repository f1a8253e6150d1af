//! Stateful fuzzing (`fuzz --sequences`): a case that is a sequence of MCP requests, not one.
//!
//! A sequence opens sessions, lists and calls tools in them and outside them, ends sessions and
//! resumes their streams; each step is sent as one of the world's callers, to an endpoint and a
//! worker of its own choosing. So a session meets its own server's endpoint and others', the user
//! who opened it and another, a live and an ended state, another session's event ids. Every tool
//! call carries a secret that names its sender's user, and no answer to another user may carry
//! it: on the default world a memory upstream keeps what it is given per upstream session, so a
//! gateway that shares an upstream session between users, replays one session's events to
//! another, or caches an answer across users, shows it.
//!
//! Pure: the model, its proptest strategy (proptest shrinks a failing sequence by dropping steps
//! and simplifying the others) and [`Tracker`], which renders each step against what the earlier
//! steps opened and judges its answer; sending is [`super::sequence_run`].

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;

use crate::scenario::{Request, SaveFrom, WhichEvent};

use super::case::{Caller, Callers, Vocabulary};
use super::invariants::Planted;
use super::world::{SessionView, user_of};

/// Steps in a generated sequence, at most.
pub const MAX_STEPS: usize = 8;

/// The `Accept` of a step that prefers an event stream.
pub const PREFER_STREAM: &str = "text/event-stream, application/json;q=0.5";

/// How long a resumed stream (a `GET`, which stays open by design) is read.
pub const STREAM_MS: u64 = 150;

/// A generated sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub steps: Vec<Step>,
}

/// One request of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub caller: Caller,
    /// The worker it is sent to.
    pub via: usize,
    pub endpoint: Endpoint,
    /// The session it carries.
    pub session: SessionRef,
    pub action: Action,
    /// Prefer an event stream (`Accept: text/event-stream, application/json;q=0.5`: both
    /// listed, as MCP asks of a POST), so that a resumable gateway numbers its answer's events.
    pub stream: bool,
}

/// Which of the sessions the sequence opened so far a step carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    None,
    /// The last one its caller's user opened (the last one opened, for a caller with no user);
    /// none while there is none.
    Mine,
    /// The `n % opened`-th one, whoever opened it; none while there is none.
    Nth(usize),
}

/// Where a step is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The endpoint its session was opened on (the first server's, when it carries none).
    Own,
    /// Server `key`'s MCP endpoint.
    Server(String),
    /// An endpoint of every server (`/mcp`, `/rpc`), as its template spells it.
    General(String),
}

/// What a step asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `initialize`: a session, if the gateway keeps them.
    Open,
    /// `tools/list`.
    List,
    /// `tools/call` of a tool (its `<upstream>.<tool>` key), with a secret of the caller's user.
    Call(String),
    /// `DELETE` of the session it carries.
    End,
    /// `GET` of the stream of the session it carries, after the first event of the `n`-th
    /// session (`Last-Event-ID`).
    Resume(usize),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::List => "list",
            Action::Call(_) => "call",
            Action::End => "end",
            Action::Resume(_) => "resume",
        }
    }
}

/// The callers a sequence is sent as: every principal the target has, the second user where
/// there is one, and now and then no credential at all.
fn caller(v: &Vocabulary) -> BoxedStrategy<Caller> {
    match &v.callers {
        Callers::Fixed(list) if !list.is_empty() => select(list.clone()).boxed(),
        Callers::Fixed(_) => Just(Caller::Anonymous).boxed(),
        Callers::Minted => {
            let mut callers: Vec<(u32, BoxedStrategy<Caller>)> = vec![
                (4, Just(Caller::Admin).boxed()),
                (
                    2,
                    select(v.servers.clone())
                        .prop_map(|s| Caller::Scoped {
                            server: Some(s),
                            permissions: Vec::new(),
                        })
                        .boxed(),
                ),
                (1, Just(Caller::Anonymous).boxed()),
            ];
            if v.other_user {
                callers.push((4, Just(Caller::OtherUser).boxed()));
            }
            prop::strategy::Union::new_weighted(callers).boxed()
        }
    }
}

fn endpoint(v: &Vocabulary) -> BoxedStrategy<Endpoint> {
    let mut choices: Vec<(u32, BoxedStrategy<Endpoint>)> = vec![(4, Just(Endpoint::Own).boxed())];
    if v.server_mcp.is_some() && !v.servers.is_empty() {
        choices.push((
            2,
            select(v.servers.clone()).prop_map(Endpoint::Server).boxed(),
        ));
    }
    if !v.general.is_empty() {
        choices.push((
            1,
            select(v.general.clone())
                .prop_map(Endpoint::General)
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

fn action(v: &Vocabulary) -> BoxedStrategy<Action> {
    let tools: Vec<String> = v.tools.iter().map(|(k, _)| k.clone()).collect();
    let mut choices: Vec<(u32, BoxedStrategy<Action>)> = vec![
        (4, Just(Action::Open).boxed()),
        (2, Just(Action::List).boxed()),
        (1, Just(Action::End).boxed()),
        (2, (0..4usize).prop_map(Action::Resume).boxed()),
    ];
    if !tools.is_empty() {
        choices.push((6, select(tools).prop_map(Action::Call).boxed()));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

/// A step; ordered so that shrinking moves towards the first caller, the own endpoint, no
/// session, `initialize` and a plain `Accept`.
fn step(v: &Vocabulary) -> BoxedStrategy<Step> {
    let via = if v.workers > 1 {
        (0..v.workers).boxed()
    } else {
        Just(0).boxed()
    };
    // Mostly in the caller's own session, as a client would (a stateful gateway refuses what
    // carries none); now and then in any other.
    let session = prop_oneof![
        1 => Just(SessionRef::None),
        4 => Just(SessionRef::Mine),
        2 => (0..4usize).prop_map(SessionRef::Nth),
    ];
    (
        caller(v),
        via,
        endpoint(v),
        session,
        action(v),
        // Mostly an event stream: only its events have ids to resume after.
        prop::bool::weighted(0.7),
    )
        .prop_map(|(caller, via, endpoint, session, action, stream)| Step {
            caller,
            via,
            endpoint,
            session,
            action,
            stream,
        })
        .boxed()
}

/// Any sequence of 1 to [`MAX_STEPS`] steps. The first step is mostly an `initialize`, as a
/// client's is: what follows then has a session to use, cross and end.
pub fn sequence(v: &Vocabulary) -> BoxedStrategy<Sequence> {
    let first = (step(v), prop::bool::weighted(0.8)).prop_map(|(mut s, open)| {
        if open {
            s.action = Action::Open;
        }
        s
    });
    (first, prop::collection::vec(step(v), 0..MAX_STEPS))
        .prop_map(|(first, rest)| Sequence {
            steps: std::iter::once(first).chain(rest).collect(),
        })
        .boxed()
}

/// A session the sequence opened.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The key its id is saved under (`${saved.<key>}`).
    pub key: String,
    /// The server key whose endpoint opened it (`None`: an endpoint of every server).
    pub server: Option<String>,
    pub owner: &'static str,
    pub ended: bool,
    /// The key its first event id (of the `initialize` answer) is saved under, if it had one.
    pub event_key: Option<String>,
}

/// A step rendered for sending: the request (as a template), what to save from its answer, and
/// the secret it plants.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub name: String,
    pub request: Request,
    /// The session slot it carries, if any.
    pub slot: Option<usize>,
    pub planted: Option<Planted>,
}

/// The state a sequence builds as it runs: the sessions it opened and the secrets its steps
/// sent. Rendering a step reads it; what each answer held updates it.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub opened: Vec<Opened>,
    pub planted: Vec<Planted>,
    /// A number of this run of the sequence, in every secret: a secret left at an upstream by
    /// an earlier run never counts for this one.
    pub nonce: u64,
}

/// The prefix of every key a sequence saves (cleared before each run).
pub const SAVED_PREFIX: &str = "seq_";

impl Tracker {
    pub fn new(nonce: u64) -> Tracker {
        Tracker {
            nonce,
            ..Tracker::default()
        }
    }

    /// The sessions as the invariants see them.
    pub fn sessions(&self, saved: &BTreeMap<String, String>) -> Vec<SessionView> {
        self.opened
            .iter()
            .filter_map(|o| {
                Some(SessionView {
                    key: o.key.clone(),
                    id: saved.get(&o.key)?.clone(),
                    server: o.server.clone(),
                    ended: o.ended,
                    owner: o.owner,
                })
            })
            .collect()
    }

    fn slot(&self, session: &SessionRef, caller: &Caller) -> Option<usize> {
        match session {
            SessionRef::None => None,
            SessionRef::Mine => {
                let user = user_of(caller);
                self.opened
                    .iter()
                    .rposition(|o| user.is_none_or(|u| o.owner == u))
            }
            SessionRef::Nth(n) => (!self.opened.is_empty()).then(|| n % self.opened.len()),
        }
    }

    /// Step `index` of a sequence as a request sent with token fixture `token`; `None` when it
    /// cannot be sent yet (a `DELETE` or a resumption with no session, a resumption of a session
    /// that saw no event id).
    pub fn render(
        &self,
        index: usize,
        step: &Step,
        token: Option<String>,
        v: &Vocabulary,
    ) -> Option<Rendered> {
        let slot = self.slot(&step.session, &step.caller);
        let session = slot.map(|s| &self.opened[s]);
        let server_path = |key: &str| format!("${{servers.{key}.mcp}}");
        let path = match &step.endpoint {
            Endpoint::General(p) => p.clone(),
            Endpoint::Server(k) => server_path(k),
            Endpoint::Own => match session {
                Some(Opened {
                    server: Some(k), ..
                }) => server_path(k),
                Some(Opened { server: None, .. }) => v.general.first()?.clone(),
                None => match (&v.server_mcp, v.servers.first()) {
                    (Some(_), Some(k)) => server_path(k),
                    _ => v.general.first()?.clone(),
                },
            },
        };
        let id = format!("seq-{index}");
        let mut request = Request {
            method: "POST".to_owned(),
            path,
            token,
            headers: BTreeMap::new(),
            json: None,
            body: None,
            absolute_form: false,
            stream_ms: None,
        };
        if let Some(o) = session {
            request.headers.insert(
                "mcp-session-id".to_owned(),
                Some(format!("${{saved.{}}}", o.key)),
            );
        }
        if step.stream {
            request
                .headers
                .insert("accept".to_owned(), Some(PREFER_STREAM.to_owned()));
        }
        let mut planted = None;
        match &step.action {
            Action::Open => {
                request.json = Some(json!({
                    "jsonrpc": "2.0", "id": id, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "mcpgw-conformance-fuzz", "version": "1"}}
                }));
            }
            Action::List => {
                request.json = Some(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}));
            }
            Action::Call(tool) => {
                let user = user_of(&step.caller);
                let secret = format!(
                    "secret-{}-n{}-{index}",
                    user.unwrap_or("nobody"),
                    self.nonce
                );
                if let Some(user) = user {
                    planted = Some(Planted {
                        user,
                        text: secret.clone(),
                        template: secret.clone(),
                    });
                }
                request.json = Some(json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": format!("${{tools.{tool}.name}}"),
                               "arguments": {"secret": secret}}
                }));
            }
            Action::End => {
                session?;
                request.method = "DELETE".to_owned();
            }
            Action::Resume(of) => {
                session?;
                let of = &self.opened[self.slot(&SessionRef::Nth(*of), &step.caller)?];
                let key = of.event_key.as_ref()?;
                request.method = "GET".to_owned();
                request.headers.insert(
                    "last-event-id".to_owned(),
                    Some(format!("${{saved.{key}}}")),
                );
                request
                    .headers
                    .insert("accept".to_owned(), Some("text/event-stream".to_owned()));
                request.stream_ms = Some(std::time::Duration::from_millis(STREAM_MS).into());
            }
        }
        Some(Rendered {
            name: format!("step-{index}-{}", step.action.name()),
            request,
            slot,
            planted,
        })
    }

    /// Take in what a step (rendered as `r`) got: a session id an `initialize` was given,
    /// the last event id of an answer in a session, a session ended, a secret sent. Returns
    /// what the scenario step saves (the values themselves are the caller's to store, under
    /// the same keys).
    pub fn record(
        &mut self,
        step: &Step,
        r: &Rendered,
        status: Option<u16>,
        session_header: bool,
        event_id: bool,
    ) -> BTreeMap<String, SaveFrom> {
        let mut save = BTreeMap::new();
        if let Some(p) = &r.planted {
            self.planted.push(p.clone());
        }
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        match &step.action {
            Action::Open if ok && session_header => {
                let key = format!("{SAVED_PREFIX}{}", self.opened.len());
                save.insert(key.clone(), SaveFrom::Header("mcp-session-id".to_owned()));
                let server = match &r.request.path {
                    p if p.starts_with("${servers.") => p
                        .strip_prefix("${servers.")
                        .and_then(|rest| rest.strip_suffix(".mcp}"))
                        .map(str::to_owned),
                    _ => None,
                };
                let mut opened = Opened {
                    key,
                    server,
                    owner: user_of(&step.caller).unwrap_or("nobody"),
                    ended: false,
                    event_key: None,
                };
                if event_id {
                    let ev = format!("{}_event", opened.key);
                    save.insert(ev.clone(), SaveFrom::EventId(WhichEvent::Last));
                    opened.event_key = Some(ev);
                }
                self.opened.push(opened);
            }
            Action::End if ok => {
                if let Some(s) = r.slot {
                    self.opened[s].ended = true;
                }
            }
            // A session's first event id is kept, not its last: resuming after it replays
            // every later answer in the session, the most a resumption can show.
            _ => {}
        }
        save
    }
}

/// Whether a step's request names a tool to run (the upstreams' logs are read around it).
pub fn runs_a_tool(step: &Step) -> bool {
    matches!(step.action, Action::Call(_))
}

/// A short description of a step, for messages.
pub fn describe(step: &Step) -> String {
    let what = match &step.action {
        Action::Call(t) => format!("call {t}"),
        Action::Resume(of) => format!("resume after session #{of}'s first event"),
        other => other.name().to_owned(),
    };
    let session = match step.session {
        SessionRef::None => String::new(),
        SessionRef::Mine => " in its user's last session".to_owned(),
        SessionRef::Nth(n) => format!(" in session #{n}"),
    };
    format!(
        "{what}{session} as {:?} on {:?}",
        step.caller, step.endpoint
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn vocabulary() -> Vocabulary {
        let mut v = Vocabulary::contextforge_default();
        v.other_user = true;
        v
    }

    #[test]
    fn a_session_is_carried_only_once_opened_and_resumed_only_after_an_event() {
        let v = vocabulary();
        let mut t = Tracker::new(7);
        let step = |action, session: Option<usize>| Step {
            caller: Caller::Admin,
            via: 0,
            endpoint: Endpoint::Own,
            session: session.map_or(SessionRef::None, SessionRef::Nth),
            action,
            stream: true,
        };
        // Nothing opened yet: a DELETE cannot be sent, a call carries no session.
        assert!(t.render(0, &step(Action::End, Some(0)), None, &v).is_none());
        let call = t
            .render(0, &step(Action::Call("ua.alpha".into()), Some(1)), None, &v)
            .unwrap();
        assert!(!call.request.headers.contains_key("mcp-session-id"));
        assert_eq!(call.planted.as_ref().unwrap().text, "secret-admin-n7-0");
        // Opened on A's endpoint, with an event id.
        let open = step(Action::Open, None);
        let r = t.render(1, &open, None, &v).unwrap();
        assert_eq!(r.request.path, "${servers.A.mcp}");
        let saves = t.record(&open, &r, Some(200), true, true);
        assert_eq!(
            saves.keys().collect::<Vec<_>>(),
            ["seq_0", "seq_0_event"].iter().collect::<Vec<_>>()
        );
        let resume = step(Action::Resume(3), Some(5));
        let r = t.render(2, &resume, None, &v).unwrap();
        assert_eq!(r.request.method, "GET");
        assert_eq!(
            r.request.headers["last-event-id"].as_deref(),
            Some("${saved.seq_0_event}")
        );
        assert_eq!(
            r.request.headers["mcp-session-id"].as_deref(),
            Some("${saved.seq_0}")
        );
        // Ended: the invariants see it so.
        let end = step(Action::End, Some(0));
        let r = t.render(3, &end, None, &v).unwrap();
        t.record(&end, &r, Some(204), false, false);
        let saved = BTreeMap::from([("seq_0".to_owned(), "sid".to_owned())]);
        let views = t.sessions(&saved);
        assert!(views[0].ended);
        assert_eq!(views[0].server.as_deref(), Some("A"));
    }

    #[test]
    fn generated_sequences_render_whatever_they_hold() {
        let v = vocabulary();
        let mut runner = TestRunner::deterministic();
        for _ in 0..300 {
            let s = sequence(&v).new_tree(&mut runner).unwrap().current();
            assert!((1..=MAX_STEPS).contains(&s.steps.len()));
            let mut t = Tracker::new(1);
            for (i, step) in s.steps.iter().enumerate() {
                if let Some(r) = t.render(i, step, Some("t".into()), &v) {
                    t.record(step, &r, Some(200), true, true);
                }
            }
        }
    }
}
