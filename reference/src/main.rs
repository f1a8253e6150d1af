//! `mcpgw-reference`: run the reference gateway.

use clap::Parser;

// See the workspace Cargo.toml: allocation is a large share of the per-request cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use mcpgw_reference::{AppState, Settings, Store, app, bootstrap, random_secret, server};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut settings = Settings::parse();
    if let Err(e) = run(&mut settings).await {
        eprintln!("mcpgw-reference: {e}");
        std::process::exit(2);
    }
}

async fn run(settings: &mut Settings) -> Result<(), String> {
    let generated = settings.jwt_secret_key.is_none();
    if generated {
        settings.jwt_secret_key = Some(random_secret());
    }
    if settings.redis_url.is_some() {
        return Err("REDIS_URL (cluster mode) is not supported by this build yet".to_owned());
    }
    let store = match &settings.database_url {
        Some(url) => mcpgw_reference::store::postgres::connect(url)
            .await
            .map_err(|e| format!("failed to open the Postgres store: {e}"))?,
        None => Store::memory(),
    };
    let listener = tokio::net::TcpListener::bind((settings.host, settings.port))
        .await
        .map_err(|e| format!("failed to bind {}:{}: {e}", settings.host, settings.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    settings.port = addr.port();
    let state = AppState::new(settings.clone(), store)?;
    bootstrap::ensure_admin(&state)
        .await
        .map_err(|e| format!("failed to create the admin user: {e}"))?;
    let token = bootstrap::admin_token(
        &state,
        &state.settings.platform_admin_email,
        state.settings.token_expiry_minutes,
    );
    let root = state.settings.root_path();
    println!("mcpgw-reference listening on http://{addr}{root}");
    println!("URL=http://{addr}{root}");
    println!("TOKEN={token}");
    if generated {
        println!(
            "JWT_SECRET_KEY={} (generated; set JWT_SECRET_KEY to keep tokens valid across restarts)",
            state.settings.jwt_secret_key.as_deref().unwrap_or_default()
        );
    }
    let max_header = state.settings.max_header_bytes;
    server::serve(listener, app(state), max_header)
        .await
        .map_err(|e| format!("server failed: {e}"))
}
