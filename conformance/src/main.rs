//! `mcpgw-conformance`: run conformance scenarios against an MCP gateway.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    mcpgw_conformance::cli::main(mcpgw_conformance::cli::Cli::parse()).await
}
