//! The scenario format: the model ([`model`]), matchers, `${...}` substitution, loading with
//! precise errors, and the JSON Schema editors validate files with.

pub mod load;
pub mod matcher;
pub mod model;
pub mod subst;

pub use load::{LoadErrors, Loaded, ScenarioError, load_dir, load_file, parse_str};
pub use matcher::Matcher;
pub use model::*;

/// The invariants the runner checks on every request step that a step may waive
/// (`expect.waive`), as `reach` names them.
pub const WAIVABLE: [&str; 2] = ["outside-reach-shown", "outside-reach-run"];

/// The JSON Schema of a scenario file, as committed in `scenarios/schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ScenarioFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}
