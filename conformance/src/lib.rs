//! `mcpgw-conformance`: the conformance harness for MCP gateways.
//!
//! Scenarios (YAML, [`scenario`]) are run against a [`target`] (the in-process reference or any
//! URL with a profile); each step is one check with a verdict ([`verdict`]); results go to the
//! terminal and to reports ([`report`]), and are compared with a [`baseline`] of known failures.
// The fuzzing oracle lives in `oracle/` (owned by the fuzzing work): add `pub mod oracle;` here.

pub mod scenario;
