//! Starting the gateway as a process: the store the settings name, the listener, the admin
//! bootstrap, the startup lines (`URL=`, `TOKEN=`) and serving until the process ends.
//!
//! Shared by the `mcpgw-reference` binary and the harness's hidden `serve-reference` command,
//! which starts cluster workers as separate processes of the harness binary.

use crate::{AppState, Settings, Store, app, bootstrap, random_secret, server};

/// Bind the listener the settings name (port 0 picks one, recorded back into the settings),
/// build the state on `store`, join the cluster when `REDIS_URL` is set, and make sure the admin
/// user exists. `settings.jwt_secret_key` must be set.
pub(crate) async fn prepare(
    mut settings: Settings,
    store: Store,
) -> Result<(tokio::net::TcpListener, AppState), String> {
    let listener = tokio::net::TcpListener::bind((settings.host, settings.port))
        .await
        .map_err(|e| format!("failed to bind {}:{}: {e}", settings.host, settings.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    settings.port = addr.port();
    let state = AppState::new(settings, store)?;
    let state = crate::cluster::attach(state, addr).await?;
    bootstrap::ensure_admin(&state)
        .await
        .map_err(|e| format!("failed to create the admin user: {e}"))?;
    Ok((listener, state))
}

/// Run the gateway with `settings` until the server fails. Errors read after "failed to".
/// Log to stderr, at `RUST_LOG`'s levels (default `info`). Stdout is kept for the startup lines.
/// A cluster's worker logs one line for each request it forwards to a session's owner, which is
/// how the harness sees that its affinity scenarios exercised forwarding.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (a test that starts two gateways in one process) keeps the first logger.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(mut settings: Settings) -> Result<(), String> {
    let generated = settings.jwt_secret_key.is_none();
    if generated {
        settings.jwt_secret_key = Some(random_secret());
    }
    let store = match &settings.database_url {
        Some(url) => crate::store::postgres::connect(url)
            .await
            .map_err(|e| format!("failed to open the Postgres store: {e}"))?,
        None => Store::memory(),
    };
    let (listener, state) = prepare(settings, store).await?;
    if !state.policy().is_strict() {
        // Only the harness builds another policy (its cluster workers); say so in their logs.
        eprintln!(
            "mcpgw-reference: serving with a loosened policy: {:?}",
            state.policy()
        );
    }
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let token = bootstrap::admin_token(
        &state,
        &state.settings.platform_admin_email,
        state.settings.token_expiry_minutes,
    );
    let root = state.settings.root_path();
    println!("mcpgw-reference listening on http://{addr}{root}");
    if let Some(worker) = state.worker_id() {
        println!("WORKER={worker}");
    }
    println!("URL=http://{addr}{root}");
    println!("TOKEN={token}");
    if generated {
        println!(
            "JWT_SECRET_KEY={} (generated; set JWT_SECRET_KEY to keep tokens valid across restarts)",
            state.settings.jwt_secret_key.as_deref().unwrap_or_default()
        );
    }
    let limits = server::ServeLimits::from_settings(&state.settings);
    server::serve(listener, app(state), limits)
        .await
        .map_err(|e| format!("server failed: {e}"))
}
