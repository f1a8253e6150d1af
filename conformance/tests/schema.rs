//! The committed JSON Schemas are generated from the Rust types; these tests fail when one is
//! stale. Regenerate with `cargo run -p mcpgw-conformance -- schema > scenarios/schema.json` and
//! `... -- schema --manifest > gateways/schema.json` (or `MCPGW_UPDATE_SCHEMA=1 cargo test -p
//! mcpgw-conformance --test schema`).

fn check_current(relative: &str, fresh: String, command: &str) {
    let path = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("MCPGW_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{relative} is stale: run `cargo run -p mcpgw-conformance -- {command} > {relative}` \
         (or MCPGW_UPDATE_SCHEMA=1 cargo test -p mcpgw-conformance --test schema)"
    );
}

#[test]
fn committed_scenario_schema_is_current() {
    check_current(
        "scenarios/schema.json",
        mcpgw_conformance::scenario::json_schema(),
        "schema",
    );
}

#[test]
fn committed_manifest_schema_is_current() {
    check_current(
        "gateways/schema.json",
        mcpgw_conformance::manifest::json_schema(),
        "schema --manifest",
    );
}

#[test]
fn committed_manifests_are_well_formed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateways");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            mcpgw_conformance::manifest::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(
        seen >= 4,
        "expected the four committed manifests, found {seen}"
    );
}
