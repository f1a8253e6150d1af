//! MCP sessions of the Streamable HTTP transport (stateful mode, `USE_STATEFUL_SESSIONS=true`).
//!
//! `initialize` creates a session and answers its id in `mcp-session-id`; every later request of
//! the session carries that header. A session belongs to the caller who created it (C-MCP-18/19),
//! stays bound to the endpoint it was created on (`/mcp` or one `/servers/{id}/mcp`) and to the
//! server scope it had then, and ends with `DELETE` (D10).
//!
//! Records live behind `SessionStore`, a small async trait: the in-memory store here serves a
//! single process; cluster mode implements the same trait over Redis (one key per record, its TTL
//! refreshed by `touch`). Forwarding a request to the worker that owns a session is a concern of
//! the layer in front of the MCP handler, which can read the record through the same trait; the
//! handler itself only ever asks the store, so it behaves the same on the owner and elsewhere.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sse::Listeners;

/// The request and response header carrying the session id.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

/// Longest accepted session id.
pub(crate) const MAX_SESSION_ID_LEN: usize = 128;

/// Whether `id` is a well-formed session id: `^[a-zA-Z0-9_-]{1,128}$`. Anything else is refused
/// before any lookup (it could otherwise end up in a store key).
pub fn is_valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh session id: 32 random hex characters.
pub(crate) fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Which MCP endpoint a session was created on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "server_id")]
pub(crate) enum SessionEndpoint {
    /// `/mcp`
    Global,
    /// `/servers/{id}/mcp`, by canonical id (a name in the path resolves to the same endpoint).
    Server(String),
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub id: String,
    /// Email of the caller who created it; `None` for the anonymous caller of a permissive
    /// gateway.
    pub owner: Option<String>,
    pub endpoint: SessionEndpoint,
    /// The server the session is scoped to: the endpoint's server, or on `/mcp` the server of a
    /// server-scoped token (D2); `None` for the whole catalogue.
    pub server_id: Option<String>,
    /// The protocol version `initialize` negotiated.
    pub protocol_version: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub last_used_at: i64,
}

/// A session store failure; the transport answers 503 (never an unchecked request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
}

pub(crate) type SessionResult<T> = Result<T, SessionError>;

/// Where session records live.
#[async_trait]
pub(crate) trait SessionStore: Send + Sync + fmt::Debug {
    /// Store a new record (its id is fresh).
    async fn create(&self, record: SessionRecord) -> SessionResult<()>;
    /// The record with this id, unless it was deleted or has expired.
    async fn get(&self, id: &str) -> SessionResult<Option<SessionRecord>>;
    /// Mark the session used at `now` (seconds since the epoch), extending its life. `false`
    /// when there is no such session.
    async fn touch(&self, id: &str, now: i64) -> SessionResult<bool>;
    /// End the session. `false` when there was no such session.
    async fn delete(&self, id: &str) -> SessionResult<bool>;
}

/// How long an unused session lives in the in-memory store.
pub(crate) const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(60 * 60);
/// How many sessions the in-memory store keeps; beyond it the least recently used goes first.
pub(crate) const DEFAULT_MAX_SESSIONS: usize = 10_000;

#[derive(Debug)]
struct Entry {
    record: SessionRecord,
    /// Monotonic time of the last use, for expiry (the record's own times may come from a
    /// fixed test clock).
    used: Instant,
}

/// Sessions in this process's memory.
#[derive(Debug)]
pub(crate) struct MemorySessionStore {
    entries: Mutex<HashMap<String, Entry>>,
    idle_ttl: Duration,
    max_sessions: usize,
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(DEFAULT_IDLE_TTL, DEFAULT_MAX_SESSIONS)
    }
}

impl MemorySessionStore {
    pub(crate) fn new(idle_ttl: Duration, max_sessions: usize) -> Self {
        MemorySessionStore {
            entries: Mutex::new(HashMap::new()),
            idle_ttl,
            max_sessions: max_sessions.max(1),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave a map half-updated (every change is one
        // insert or remove), so a poisoned lock is still safe to use.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.used) > self.idle_ttl
    }

    /// Make room for one more record: drop expired ones, then the least recently used.
    fn make_room(&self, map: &mut HashMap<String, Entry>, now: Instant) {
        if map.len() < self.max_sessions {
            return;
        }
        map.retain(|_, e| !self.expired(e, now));
        while map.len() >= self.max_sessions {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, record: SessionRecord) -> SessionResult<()> {
        let now = Instant::now();
        let mut map = self.entries();
        self.make_room(&mut map, now);
        map.insert(record.id.clone(), Entry { record, used: now });
        Ok(())
    }

    async fn get(&self, id: &str) -> SessionResult<Option<SessionRecord>> {
        let now = Instant::now();
        let mut map = self.entries();
        match map.get(id) {
            Some(e) if self.expired(e, now) => {
                map.remove(id);
                Ok(None)
            }
            Some(e) => Ok(Some(e.record.clone())),
            None => Ok(None),
        }
    }

    async fn touch(&self, id: &str, now_secs: i64) -> SessionResult<bool> {
        let now = Instant::now();
        let mut map = self.entries();
        match map.get_mut(id) {
            Some(e) if !self.expired(e, now) => {
                e.used = now;
                e.record.last_used_at = now_secs;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &str) -> SessionResult<bool> {
        Ok(self.entries().remove(id).is_some())
    }
}

/// Everything the transport keeps about sessions: the records, and this process's open `GET`
/// streams (a stream lives on the worker that serves it, so the listeners are always local).
#[derive(Clone)]
pub(crate) struct Sessions {
    pub store: Arc<dyn SessionStore>,
    pub listeners: Listeners,
    /// The events of this process's SSE answers in sessions, for `Last-Event-ID` (they are
    /// sent by the worker that serves the session, so they are local like the listeners).
    pub events: Arc<super::replay::EventLog>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(Arc::new(MemorySessionStore::default()))
    }
}

impl Sessions {
    pub(crate) fn new(store: Arc<dyn SessionStore>) -> Self {
        Sessions {
            store,
            listeners: Listeners::default(),
            events: Arc::default(),
        }
    }
}

/// Why a request may not use the session it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionDenial {
    /// 404 "Session not found": no such session, it ended, or it belongs to another endpoint.
    NotFound,
    /// 403 "Session access denied": it belongs to another caller.
    AccessDenied,
}

impl From<SessionDenial> for crate::error::ApiError {
    fn from(d: SessionDenial) -> Self {
        match d {
            SessionDenial::NotFound => crate::error::ApiError::not_found("Session not found"),
            SessionDenial::AccessDenied => {
                crate::error::ApiError::Forbidden("Session access denied".to_owned())
            }
        }
    }
}

/// May a caller (`caller_email`, `None` when anonymous) use `record` on `endpoint`?
///
/// Another endpoint's session counts as not found (sessions are namespaced by endpoint, and a
/// 403 there would confirm that the id exists somewhere). Only the creator may use a session:
/// not even an administrator may join someone else's (stricter than ContextForge, which lets
/// admins in; no checklist item depends on that).
pub(crate) fn check_access(
    record: Option<SessionRecord>,
    endpoint: &SessionEndpoint,
    caller_email: Option<&str>,
) -> Result<SessionRecord, SessionDenial> {
    let Some(r) = record else {
        return Err(SessionDenial::NotFound);
    };
    if &r.endpoint != endpoint {
        return Err(SessionDenial::NotFound);
    }
    if r.owner.as_deref() != caller_email {
        return Err(SessionDenial::AccessDenied);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, owner: Option<&str>, endpoint: SessionEndpoint) -> SessionRecord {
        SessionRecord {
            id: id.to_owned(),
            owner: owner.map(str::to_owned),
            endpoint,
            server_id: None,
            protocol_version: "2025-06-18".to_owned(),
            created_at: 1,
            last_used_at: 1,
        }
    }

    #[test]
    fn session_ids_follow_the_pattern() {
        assert!(is_valid_session_id(&new_session_id()));
        for ok in ["a", "A-b_9", &"x".repeat(128)] {
            assert!(is_valid_session_id(ok), "{ok}");
        }
        for bad in [
            "",
            "a.b",
            "a b",
            "a/b",
            "..",
            "é",
            "a\u{0}",
            "a:b",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_session_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn c_mcp_18_owner_endpoint_and_existence() {
        let s = SessionEndpoint::Server("s".into());
        let r = record("x", Some("a@x"), s.clone());
        let check = |e: &SessionEndpoint, who: Option<&str>| check_access(Some(r.clone()), e, who);
        assert_eq!(check(&s, Some("a@x")), Ok(r.clone()));
        assert_eq!(check(&s, Some("b@x")), Err(SessionDenial::AccessDenied));
        assert_eq!(check(&s, None), Err(SessionDenial::AccessDenied));
        assert_eq!(
            check(&SessionEndpoint::Global, Some("a@x")),
            Err(SessionDenial::NotFound)
        );
        assert_eq!(
            check(&SessionEndpoint::Server("t".into()), Some("b@x")),
            Err(SessionDenial::NotFound)
        );
        assert_eq!(
            check_access(None, &s, Some("a@x")),
            Err(SessionDenial::NotFound)
        );
        let anon = record("y", None, SessionEndpoint::Global);
        let global = SessionEndpoint::Global;
        assert!(check_access(Some(anon.clone()), &global, None).is_ok());
        assert_eq!(
            check_access(Some(anon), &global, Some("a@x")),
            Err(SessionDenial::AccessDenied)
        );
    }

    #[tokio::test]
    async fn memory_store_lifecycle() {
        let store = MemorySessionStore::default();
        store
            .create(record("x", Some("a@x"), SessionEndpoint::Global))
            .await
            .unwrap();
        assert!(store.get("x").await.unwrap().is_some());
        assert!(store.touch("x", 42).await.unwrap());
        assert_eq!(store.get("x").await.unwrap().unwrap().last_used_at, 42);
        assert!(store.delete("x").await.unwrap());
        assert!(store.get("x").await.unwrap().is_none());
        assert!(!store.touch("x", 43).await.unwrap());
        assert!(!store.delete("x").await.unwrap());
    }

    #[tokio::test]
    async fn memory_store_expires_idle_sessions_and_caps_its_size() {
        let store = MemorySessionStore::new(Duration::ZERO, 2);
        store
            .create(record("x", None, SessionEndpoint::Global))
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            store.get("x").await.unwrap().is_none(),
            "idle beyond the TTL"
        );

        let store = MemorySessionStore::new(DEFAULT_IDLE_TTL, 2);
        for id in ["a", "b", "c"] {
            store
                .create(record(id, None, SessionEndpoint::Global))
                .await
                .unwrap();
            // Distinct monotonic stamps, so "least recently used" is well defined.
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            store.get("a").await.unwrap().is_none(),
            "least recently used goes"
        );
        assert!(store.get("b").await.unwrap().is_some());
        assert!(store.get("c").await.unwrap().is_some());
    }

    #[test]
    fn records_serialise_for_an_external_store() {
        let r = record("x", Some("a@x"), SessionEndpoint::Server("s".into()));
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#""endpoint":{"kind":"server","server_id":"s"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<SessionRecord>(&text).unwrap(), r);
    }
}
