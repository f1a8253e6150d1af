//! `scenarios/schema.json` is generated from the Rust types; this test fails when it is stale.
//! Regenerate with `cargo run -p mcpgw-conformance -- schema > scenarios/schema.json`.

#[test]
fn committed_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/schema.json");
    let fresh = mcpgw_conformance::scenario::json_schema();
    if std::env::var_os("MCPGW_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "scenarios/schema.json is stale: run `cargo run -p mcpgw-conformance -- schema > scenarios/schema.json` \
         (or MCPGW_UPDATE_SCHEMA=1 cargo test -p mcpgw-conformance --test schema)"
    );
}
