//! What every handler shares: settings (with the policy), store, verification keys, clock,
//! sessions.

use std::sync::Arc;

use jiff::Timestamp;

use crate::auth::JwtConfig;
use crate::auth::cache::VerifiedTokens;
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::mcp::session::{SessionStore, Sessions};
use crate::policy::Policy;
use crate::store::Store;
use crate::upstream::UpstreamClient;

/// The time source. Tests fix it to make time restrictions deterministic; a build without test
/// support has only the system clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    System,
    #[cfg(any(test, feature = "testing"))]
    Fixed(Timestamp),
}

impl Clock {
    pub(crate) fn now(self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            #[cfg(any(test, feature = "testing"))]
            Clock::Fixed(t) => t,
        }
    }
}

/// Shared state behind an `Arc`; cheap to clone into every handler.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// What an [`AppState`] holds. Settings and store are public (the harness reads the secret and
/// the admin's address; tests seed the store); the rest is the gateway's own.
#[derive(Debug)]
pub struct Inner {
    pub settings: Settings,
    pub store: Store,
    pub(crate) jwt: JwtConfig,
    pub(crate) clock: Clock,
    pub(crate) upstream: UpstreamClient,
    /// MCP sessions (stateful mode) and this process's open session streams.
    pub(crate) sessions: Sessions,
    /// Tokens already verified, so a busy client is not HMAC-checked on every request.
    pub(crate) verified: Arc<VerifiedTokens>,
    /// Cluster mode: this worker's registry and forwarding; `None` for a single process.
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// The defect matrix's id-keyed answer table (`colliding-ids-crossed`); the strict policy
    /// never touches it.
    pub(crate) crossing: Arc<crate::mcp::crossing::Crossing>,
    /// The defect matrix's upstream sessions shared by every caller (`upstream-session-shared`);
    /// the strict policy never touches it.
    pub(crate) shared_upstream_sessions: Arc<crate::upstream::mcp::SharedSessions>,
    /// The defect matrix's per-worker memory of tokens found unrevoked
    /// (`revocation-remembered-per-worker`); the strict policy never touches it.
    pub(crate) unrevoked_seen: Arc<crate::auth::UnrevokedSeen>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Build the state. `settings.jwt_secret_key` must be set (the binary generates one).
    pub(crate) fn new(settings: Settings, store: Store) -> Result<Self, String> {
        let mut store = store;
        store.fold_server_names = !settings.policy.server_segments_exact;
        let secret = settings
            .jwt_secret_key
            .clone()
            .ok_or_else(|| "JWT_SECRET_KEY is not set".to_owned())?;
        let jwt = JwtConfig {
            secret: secret.into_bytes(),
            audience: settings.jwt_audience.clone(),
            issuer: settings.jwt_issuer.clone(),
            environment: settings.environment.clone(),
            require_exp: settings.require_token_expiration,
            require_jti: settings.require_jti,
        };
        Ok(AppState(Arc::new(Inner {
            settings,
            store,
            jwt,
            clock: Clock::System,
            upstream: UpstreamClient::new(),
            sessions: Sessions::default(),
            verified: Arc::default(),
            cluster: None,
            crossing: Arc::default(),
            shared_upstream_sessions: Arc::default(),
            unrevoked_seen: Arc::default(),
        })))
    }

    /// The inner state, owned: moved out when this is the only handle, cloned otherwise.
    fn into_inner(self) -> Inner {
        Arc::try_unwrap(self.0).unwrap_or_else(|arc| Inner {
            settings: arc.settings.clone(),
            store: arc.store.clone(),
            jwt: arc.jwt.clone(),
            clock: arc.clock,
            upstream: arc.upstream.clone(),
            sessions: arc.sessions.clone(),
            verified: Arc::clone(&arc.verified),
            cluster: arc.cluster.clone(),
            crossing: Arc::clone(&arc.crossing),
            shared_upstream_sessions: Arc::clone(&arc.shared_upstream_sessions),
            unrevoked_seen: Arc::clone(&arc.unrevoked_seen),
        })
    }

    /// The same state with a fixed clock (tests).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn with_clock(self, clock: Clock) -> Self {
        AppState(Arc::new(Inner {
            clock,
            ..self.into_inner()
        }))
    }

    /// The same state with another session store (cluster mode keeps sessions in Redis).
    pub(crate) fn with_session_store(self, store: Arc<dyn SessionStore>) -> Self {
        AppState(Arc::new(Inner {
            sessions: Sessions::new(store),
            ..self.into_inner()
        }))
    }

    /// The same state on another store (cluster mode puts a read cache in front of Postgres).
    pub(crate) fn with_store(self, store: Store) -> Self {
        AppState(Arc::new(Inner {
            store,
            ..self.into_inner()
        }))
    }

    /// The same state as a cluster worker.
    pub(crate) fn with_cluster(self, cluster: Arc<Cluster>) -> Self {
        AppState(Arc::new(Inner {
            cluster: Some(cluster),
            ..self.into_inner()
        }))
    }

    /// The rules handlers consult (strict unless the harness built another).
    pub fn policy(&self) -> &Policy {
        &self.settings.policy
    }

    /// The most bytes a request body may have (`MAX_BODY_BYTES`; none at all where the defect
    /// matrix turns the limit off).
    pub(crate) fn body_limit(&self) -> usize {
        if self.policy().body_limit_enforced {
            self.settings.max_body_bytes
        } else {
            usize::MAX
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// This worker's name in the cluster registry; `None` for a single process.
    pub fn worker_id(&self) -> Option<&str> {
        self.cluster.as_deref().map(Cluster::worker_id)
    }

    pub fn now_secs(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// RFC 3339 time for stored records.
    pub(crate) fn now_rfc3339(&self) -> String {
        self.clock.now().to_string()
    }
}
