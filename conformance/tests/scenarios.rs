//! `cargo test -p mcpgw-conformance --test scenarios`: one trial per scenario under
//! `scenarios/`, against `MCPGW_TARGET_URL` or the in-process reference.

fn main() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    mcpgw_conformance::libtest::main(dir)
}
