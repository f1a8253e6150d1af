//! `mcpgw-conformance`: the conformance harness for MCP gateways.
//!
//! Scenarios (YAML, [`scenario`]) are run ([`runner`]) against a [`target`] (the in-process
//! reference, one of its [`variants`], or any URL with a profile). Fixtures are made through the
//! target's admin API ([`provision`]), with upstream MCP servers the harness runs itself
//! ([`upstream`]). Requests go out byte for byte ([`client`]). Each step is one check with a
//! [`verdict`]; results go to the terminal and to reports ([`report`]) and are compared with a
//! [`baseline`] of known failures.
//! Redis and Postgres for cluster targets and tests come from [`services`]. [`oracle`] is an
//! independent model of the scoping and path rules for property tests and fuzzing.

pub mod baseline;
pub mod cli;
pub mod client;
pub mod defects;
pub mod fuzz;
pub mod libtest;
pub mod oracle;
pub mod provision;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod services;
pub mod snapshot;
pub mod target;
pub mod tokens;
pub mod upstream;
pub mod variants;
pub mod verdict;
