//! Resumable streams (MCP 2025-06-18 transports, "Resumability and redelivery"): in a session,
//! every event of a POST's SSE answer gets an `id`, and the session keeps its last events, so a
//! client that lost a stream opens a `GET` with `Last-Event-ID` and receives what came after
//! that event again.
//!
//! An event id names an event of one session only. A `GET` replays the events of the session
//! it names, after the given event of *that* session; an id from another session, unknown or
//! forgotten, replays nothing (the stream simply opens). Only the defect matrix's
//! `event-replay-across-sessions` looks an id up in every session's log.
//!
//! An event is replayed only to its [`Audience`]: the user it was sent to, with what that
//! request's credential let them see. A session is its user's (C-MCP-18/19), but a user may
//! carry it with a token narrowed to one server after opening it with a broader one; replaying
//! the broader token's answers to the narrower would show it another server's tools (found by
//! `fuzz --sequences`: a token scoped to A resumed after its user's call of B's tool).
//!
//! Bounded whatever clients do: [`MAX_EVENTS`] events and [`MAX_BYTES`] per session (the oldest
//! go first; an event larger than the bound is sent but not kept), [`MAX_SESSIONS`] sessions
//! (the one that logged least recently goes first). Ids are decimal numbers, unique within this
//! process, so they never repeat within a session.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::auth::{Caller, Scopes, TeamScope};

/// Who an event was sent to: the user, and the teams and scopes of the credential the request
/// carried.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audience {
    email: Option<String>,
    teams: TeamScope,
    scopes: Scopes,
}

impl Audience {
    pub(crate) fn of(caller: &Caller) -> Audience {
        Audience {
            email: caller.email.clone(),
            teams: caller.teams.clone(),
            scopes: caller.scopes.clone(),
        }
    }
}

/// Events kept per session.
pub(crate) const MAX_EVENTS: usize = 64;
/// Bytes of events kept per session.
pub(crate) const MAX_BYTES: usize = 1 << 20;
/// Sessions whose events are kept.
pub(crate) const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Default)]
struct SessionEvents {
    events: VecDeque<(u64, Audience, Bytes)>,
    bytes: usize,
    /// When this session last logged (the log's counter then), to forget the stalest first.
    touched: u64,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    sessions: HashMap<String, SessionEvents>,
}

/// The events of every session's SSE answers, kept for replay.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    inner: Mutex<Inner>,
}

impl EventLog {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change completes under the lock in a few steps that leave the maps consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Give `event` (a complete SSE event without an `id` line, sent to `audience`) an id in
    /// `session`, keep it, and return it with its `id` line first.
    pub(crate) fn record(&self, session: &str, audience: &Audience, event: &[u8]) -> Bytes {
        let mut inner = self.inner();
        inner.next_id += 1;
        let id = inner.next_id;
        let mut framed = Vec::with_capacity(event.len() + 24);
        framed.extend_from_slice(format!("id: {id}\n").as_bytes());
        framed.extend_from_slice(event);
        let framed = Bytes::from(framed);
        if !inner.sessions.contains_key(session) && inner.sessions.len() >= MAX_SESSIONS {
            let stalest = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.touched)
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                inner.sessions.remove(&k);
            }
        }
        let log = inner.sessions.entry(session.to_owned()).or_default();
        log.touched = id;
        if framed.len() <= MAX_BYTES {
            log.bytes += framed.len();
            log.events.push_back((id, audience.clone(), framed.clone()));
            while log.events.len() > MAX_EVENTS || log.bytes > MAX_BYTES {
                if let Some((_, _, old)) = log.events.pop_front() {
                    log.bytes -= old.len();
                }
            }
        }
        framed
    }

    /// The events of `session` after its event `last_event_id` that were sent to `audience`,
    /// oldest first; none when the id is not one of the session's kept events.
    pub(crate) fn after(
        &self,
        session: &str,
        audience: &Audience,
        last_event_id: &str,
    ) -> Vec<Bytes> {
        let Ok(last) = last_event_id.trim().parse::<u64>() else {
            return Vec::new();
        };
        let inner = self.inner();
        inner
            .sessions
            .get(session)
            .map(|log| events_after(log, last, Some(audience)))
            .unwrap_or_default()
    }

    /// The defect matrix's replay (`event-replay-across-sessions`): the id looked up in every
    /// session's log, and the events after it in whichever session holds it.
    pub(crate) fn after_in_any_session(&self, last_event_id: &str) -> Vec<Bytes> {
        let Ok(last) = last_event_id.trim().parse::<u64>() else {
            return Vec::new();
        };
        let inner = self.inner();
        inner
            .sessions
            .values()
            .map(|log| events_after(log, last, None))
            .find(|events| !events.is_empty())
            .unwrap_or_default()
    }

    /// Forget a session's events (it ended).
    pub(crate) fn forget(&self, session: &str) {
        self.inner().sessions.remove(session);
    }
}

/// The events of `log` after event `last`, when `last` is one of them; only those sent to
/// `audience` when one is given.
fn events_after(log: &SessionEvents, last: u64, audience: Option<&Audience>) -> Vec<Bytes> {
    match log.events.iter().position(|(id, _, _)| *id == last) {
        Some(i) => log
            .events
            .iter()
            .skip(i + 1)
            .filter(|(_, to, _)| audience.is_none_or(|a| a == to))
            .map(|(_, _, e)| e.clone())
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(event: &Bytes) -> String {
        let text = String::from_utf8_lossy(event);
        let line = text.lines().next().unwrap_or_default();
        line.strip_prefix("id: ").unwrap_or_default().to_owned()
    }

    fn user(email: &str) -> Audience {
        Audience::of(&Caller {
            email: Some(email.to_owned()),
            ..Caller::anonymous()
        })
    }

    #[test]
    fn a_session_replays_its_own_events_after_the_given_one() {
        let log = EventLog::default();
        let u = user("u@example.com");
        let a1 = log.record("a", &u, b"event: message\ndata: 1\n\n");
        let b1 = log.record("b", &u, b"event: message\ndata: b\n\n");
        let a2 = log.record("a", &u, b"event: message\ndata: 2\n\n");
        assert!(a1.starts_with(b"id: "));
        assert_eq!(log.after("a", &u, &id_of(&a1)), vec![a2.clone()]);
        assert!(log.after("a", &u, &id_of(&a2)).is_empty());
        // Another session's id, an unknown id, a malformed one: nothing.
        assert!(log.after("a", &u, &id_of(&b1)).is_empty());
        assert!(log.after("b", &u, &id_of(&a1)).is_empty());
        assert!(log.after("a", &u, "999").is_empty());
        assert!(log.after("a", &u, "x").is_empty());
        // The matrix's replay finds the id wherever it is.
        assert_eq!(log.after_in_any_session(&id_of(&a1)), vec![a2]);
        log.forget("a");
        assert!(log.after("a", &u, &id_of(&a1)).is_empty());
    }

    #[test]
    fn events_are_replayed_only_to_whom_they_were_sent() {
        let log = EventLog::default();
        let (broad, narrow) = (user("u@example.com"), {
            let mut c = Caller {
                email: Some("u@example.com".to_owned()),
                ..Caller::anonymous()
            };
            c.scopes.server_id = Some("s".to_owned());
            Audience::of(&c)
        });
        let first = log.record("a", &broad, b"data: 1\n\n");
        let to_broad = log.record("a", &broad, b"data: 2\n\n");
        let to_narrow = log.record("a", &narrow, b"data: 3\n\n");
        assert_eq!(log.after("a", &broad, &id_of(&first)), vec![to_broad]);
        assert_eq!(log.after("a", &narrow, &id_of(&first)), vec![to_narrow]);
    }

    #[test]
    fn the_log_is_bounded() {
        let log = EventLog::default();
        let u = user("u@example.com");
        let first = log.record("a", &u, b"data: 0\n\n");
        for _ in 0..MAX_EVENTS {
            log.record("a", &u, b"data: x\n\n");
        }
        // The first event was forgotten, so it can no longer be resumed from.
        assert!(log.after("a", &u, &id_of(&first)).is_empty());
        let big = vec![b'x'; MAX_BYTES + 1];
        let sent = log.record("a", &u, &big);
        assert!(sent.len() > MAX_BYTES);
        let inner = log.inner();
        let a = &inner.sessions["a"];
        assert!(a.events.len() <= MAX_EVENTS && a.bytes <= MAX_BYTES);
        drop(inner);
        for i in 0..MAX_SESSIONS + 3 {
            log.record(&format!("s{i}"), &u, b"data: y\n\n");
        }
        assert!(log.inner().sessions.len() <= MAX_SESSIONS);
    }
}
