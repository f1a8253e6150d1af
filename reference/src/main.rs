//! `mcpgw-reference`: run the reference gateway.

use clap::Parser;

// See the workspace Cargo.toml: allocation is a large share of the per-request cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use mcpgw_reference::Settings;

#[tokio::main]
async fn main() {
    mcpgw_reference::launch::init_logging();
    if let Err(e) = mcpgw_reference::launch::run(Settings::parse()).await {
        eprintln!("mcpgw-reference: {e}");
        std::process::exit(2);
    }
}
