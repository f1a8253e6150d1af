//! What the tests that run the `mcpgw-conformance` binary share: running it with a clean
//! environment, and reading what it printed.

#![allow(dead_code)] // each test binary uses its own part

use std::process::{Command, Output};

pub(crate) mod admin;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mcpgw-conformance");

/// Run the binary with `args`, then `env` set over an environment cleared of the variables that
/// would choose a target, a baseline, scenarios or a seed for it.
pub(crate) fn run_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("CI").env_remove("INSTA_UPDATE");
    for k in [
        "MCPGW_TARGET_URL",
        "MCPGW_TARGET_TOKEN",
        "MCPGW_TARGET_JWT_SECRET",
        "MCPGW_BASELINE",
        "MCPGW_SCENARIOS",
        "MCPGW_FUZZ_SEED",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// [`run_with`] and no more environment.
pub(crate) fn run(args: &[&str]) -> Output {
    run_with(args, &[])
}

/// Its stdout, then its stderr.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
