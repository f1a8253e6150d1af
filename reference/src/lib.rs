//! The reference MCP gateway: a spec-faithful gateway the conformance suite is proven on.
//!
//! A request flows through `pipeline` (raw-path guard, context, authentication), `scoping`
//! (token restrictions), then one of the route families: `admin` (REST), `rpc` (`/rpc`),
//! `mcp` (Streamable HTTP) or `wellknown` (RFC 9728); `cluster` forwards session requests
//! between workers. Every rule where gateways are known to differ is read from one
//! [`Policy`], strict unless the harness built another. `docs/architecture.md` draws the whole
//! pipeline.
//!
//! The public API is what other crates need: starting the gateway ([`Settings`], [`launch`],
//! [`spawn_embedded`], [`app`]), the [`store`] it runs on, and the pure decisions that the
//! harness's oracle comparison, the fuzz targets and the integration tests call ([`paths`],
//! [`scoping::server`], [`scoping::permissions`], [`rpc::envelope`], [`rpc::inject`],
//! [`auth::jwt::sign`]). Everything else is private to the crate. Three modules exist only
//! behind features that no build of the `mcpgw-reference` binary turns on: `defects` (the
//! harness), `fuzzing` (the fuzz crate) and `testing` (dev-dependencies).

pub mod auth;
pub mod launch;
pub mod mcp;
pub mod paths;
pub mod policy;
pub mod rpc;
pub mod scoping;
pub mod store;

#[cfg(feature = "defects")]
pub mod defects;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

mod admin;
mod app;
mod bootstrap;
mod cluster;
mod config;
mod error;
mod ids;
mod json;
mod pipeline;
mod server;
mod state;
mod upstream;
mod wellknown;

pub use app::app;
pub use config::Settings;
pub use policy::Policy;
pub use state::{AppState, Inner};
pub use store::Store;

use std::net::SocketAddr;

/// A gateway running in this process on a loopback port.
#[derive(Debug)]
pub struct Embedded {
    pub addr: SocketAddr,
    pub state: AppState,
    /// An admin-bypass token for the platform administrator.
    pub admin_token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Embedded {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start the gateway with `settings` (port 0 picks one) and the in-memory store.
pub async fn spawn_embedded(settings: Settings) -> Result<Embedded, String> {
    spawn_embedded_with(settings, Store::memory()).await
}

/// Start the gateway on `store`; with `REDIS_URL` in the settings, as a cluster worker. Several
/// workers given clones of one store behave as a cluster on a shared database (tests).
pub async fn spawn_embedded_with(mut settings: Settings, store: Store) -> Result<Embedded, String> {
    if settings.jwt_secret_key.is_none() {
        settings.jwt_secret_key = Some(random_secret());
    }
    let (listener, state) = launch::prepare(settings, store).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let admin_token = bootstrap::admin_token(&state, &state.settings.platform_admin_email, 24 * 60);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    let limits = server::ServeLimits::from_settings(&state.settings);
    tokio::spawn(async move {
        let _ = server::serve_until(listener, router, limits, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(Embedded {
        addr,
        state,
        admin_token,
        shutdown: Some(tx),
    })
}

/// 32 random bytes as hex.
pub(crate) fn random_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
