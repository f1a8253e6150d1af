//! Cluster mode (D11, C-AFF-*): several worker processes behind one address share a Postgres
//! store (`DATABASE_URL`) and, with `REDIS_URL`, a Redis registry of MCP sessions.
//!
//! A stateful session is owned by the worker that opened it (`keys::owner`, refreshed while in
//! use). A request naming the session that reaches another worker is forwarded to the owner over
//! HTTP, signed with the cluster secret (`signature`); the owner runs it through the very same
//! pipeline as a direct request (guard, authentication of the caller's own token, scoping with
//! the path's server), so a forward can never widen a scope (issue 3018). Session records live in
//! Redis too, so when an owner dies (its heartbeat expires) any worker takes its sessions over
//! with their scope intact. A Redis that does not answer gets 503 for every request that needs
//! the owner or a session record: fail closed, never unscoped.
//!
//! The shared store's generation lives in Redis too: every worker caches what it reads from
//! Postgres, valid for one generation, and every write changes it (`store::cache`).
//!
//! Modules: `keys` (key names), `route` (pure: local, forward or take over), `signature` (pure:
//! the internal hop's HMAC), `registry`, `sessions` and `generation` (Redis I/O), `forward` (the
//! layer).

pub(crate) mod forward;
pub(crate) mod generation;
pub(crate) mod keys;
pub(crate) mod registry;
pub(crate) mod route;
pub(crate) mod sessions;
pub(crate) mod signature;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::mcp::session::DEFAULT_IDLE_TTL;
use crate::state::AppState;
use registry::Registry;

/// This worker's place in a cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub registry: Registry,
    secret: Vec<u8>,
    client: forward::ForwardClient,
    _heartbeat: tokio::task::JoinHandle<()>,
}

impl Cluster {
    pub(crate) fn worker_id(&self) -> &str {
        self.registry.worker_id()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self._heartbeat.abort();
    }
}

/// The default worker id: ContextForge's `host:pid`, plus the port so that two workers in one
/// process (tests) differ.
fn default_worker_id(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}:{}", std::process::id(), addr.port())
}

/// Where other workers reach this one: the listen address, loopback for "every interface".
fn default_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Check `MCPGW_ADVERTISE_URL`: `http://HOST[:PORT]`, nothing else. The hop client speaks plain
/// HTTP and appends the request's path itself; anything else would fail every forward as a
/// connection error, and the sessions would be taken over instead of forwarded.
fn advertised_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim_end_matches('/');
    let uri: axum::http::Uri = trimmed
        .parse()
        .map_err(|e| format!("MCPGW_ADVERTISE_URL {raw:?} is not a URL: {e}"))?;
    let plain = uri.scheme_str() == Some("http")
        && uri.authority().is_some_and(|a| !a.host().is_empty())
        && uri
            .path_and_query()
            .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/");
    if plain && !trimmed.contains('@') {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "MCPGW_ADVERTISE_URL must be http://HOST[:PORT] with no path (the internal hop speaks \
             plain HTTP; use a tunnel for encryption), got {raw:?}"
        ))
    }
}

/// Join the cluster the settings name (`REDIS_URL`; needs `CLUSTER_SECRET`), or return `state`
/// unchanged without one. Sessions then live in Redis and the heartbeat starts.
pub(crate) async fn attach(state: AppState, addr: SocketAddr) -> Result<AppState, String> {
    let s = &state.settings;
    let Some(url) = s.redis_url.clone() else {
        return Ok(state);
    };
    let secret = s
        .cluster_secret
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or("REDIS_URL (cluster mode) needs CLUSTER_SECRET, shared by every worker")?;
    // Settings first: a typo fails before any connection is tried.
    let advertised = match &s.advertise_url {
        Some(raw) => advertised_url(raw)?,
        None => default_url(addr),
    };
    let deadline = Duration::from_millis(s.redis_timeout_ms.max(1));
    let client =
        redis::Client::open(url.as_str()).map_err(|e| format!("failed to parse REDIS_URL: {e}"))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(deadline))
        .set_response_timeout(Some(deadline))
        .set_number_of_retries(2);
    let conn = tokio::time::timeout(
        deadline * 3,
        redis::aio::ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| format!("failed to connect to Redis at {url}: no answer"))?
    .map_err(|e| format!("failed to connect to Redis at {url}: {e}"))?;
    let worker_id = s
        .worker_id
        .clone()
        .unwrap_or_else(|| default_worker_id(addr));
    let registry = Registry::new(
        conn.clone(),
        deadline,
        worker_id,
        advertised,
        s.session_affinity_ttl,
        s.worker_heartbeat_ttl,
    );
    registry
        .heartbeat()
        .await
        .map_err(|e| format!("failed to register the worker: {e}"))?;
    let generations = generation::RedisGenerations::new(conn.clone(), deadline);
    let sessions = sessions::RedisSessionStore::new(conn, deadline, DEFAULT_IDLE_TTL);
    let cluster = Cluster {
        _heartbeat: registry.spawn_heartbeat(),
        registry,
        secret: secret.into_bytes(),
        client: forward::ForwardClient::new(),
    };
    let store = state
        .store
        .clone()
        .with_generation(Arc::new(generations), s.store_read_cache);
    Ok(state
        .with_store(store)
        .with_session_store(Arc::new(sessions))
        .with_cluster(Arc::new(cluster)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_urls_are_plain_http_origins() {
        assert_eq!(
            advertised_url("http://10.0.0.5:4444/").unwrap(),
            "http://10.0.0.5:4444"
        );
        assert_eq!(advertised_url("http://w1").unwrap(), "http://w1");
        for bad in [
            "https://10.0.0.5:4444",
            "10.0.0.5:4444",
            "http://10.0.0.5:4444/gw",
            "http://user@w1:4444",
            "http://",
            "",
        ] {
            let e = advertised_url(bad).unwrap_err();
            assert!(e.contains("MCPGW_ADVERTISE_URL"), "{bad}: {e}");
        }
    }
}
