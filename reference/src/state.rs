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

/// The time source. Tests fix it to make time restrictions deterministic.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(Timestamp),
}

impl Clock {
    pub fn now(self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => t,
        }
    }
}

/// Shared state behind an `Arc`; cheap to clone into every handler.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub settings: Settings,
    pub store: Store,
    pub jwt: JwtConfig,
    pub clock: Clock,
    pub upstream: UpstreamClient,
    /// MCP sessions (stateful mode) and this process's open session streams.
    pub sessions: Sessions,
    /// Tokens already verified, so a busy client is not HMAC-checked on every request.
    pub verified: Arc<VerifiedTokens>,
    /// Cluster mode: this worker's registry and forwarding; `None` for a single process.
    pub cluster: Option<Arc<Cluster>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Build the state. `settings.jwt_secret_key` must be set (the binary generates one).
    pub fn new(settings: Settings, store: Store) -> Result<Self, String> {
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
        })
    }

    /// The same state with a fixed clock (tests).
    pub fn with_clock(self, clock: Clock) -> Self {
        AppState(Arc::new(Inner {
            clock,
            ..self.into_inner()
        }))
    }

    /// The same state with another session store (cluster mode keeps sessions in Redis).
    pub fn with_session_store(self, store: Arc<dyn SessionStore>) -> Self {
        AppState(Arc::new(Inner {
            sessions: Sessions::new(store),
            ..self.into_inner()
        }))
    }

    /// The same state as a cluster worker.
    pub fn with_cluster(self, cluster: Arc<Cluster>) -> Self {
        AppState(Arc::new(Inner {
            cluster: Some(cluster),
            ..self.into_inner()
        }))
    }

    /// The rules handlers consult (strict unless the harness built another).
    pub fn policy(&self) -> &Policy {
        &self.settings.policy
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn now_secs(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// RFC 3339 time for stored records.
    pub fn now_rfc3339(&self) -> String {
        self.clock.now().to_string()
    }
}
