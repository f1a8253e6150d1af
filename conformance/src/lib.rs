//! `mcpgw-conformance`: the conformance harness for MCP gateways.
//!
//! Scenarios (YAML, [`scenario`]) are run ([`runner`]) against a [`target`] (the in-process
//! reference, one of its `variants`, or any URL) that a target manifest ([`manifest`]) describes.
//! Fixtures are made by the target's provisioning adapter ([`provision`]: an admin API, or the
//! world a gateway was configured with), with upstream MCP servers the harness runs itself
//! ([`upstream`], or [`declared_upstreams`] in a process of their own). Requests go out byte for byte ([`client`]). Each step is one check with a
//! [`verdict`], and every response is also judged by the invariants of [`reach`] (nothing shown
//! or run outside the caller's reach); results go to the terminal and to reports ([`report`])
//! and are compared with a [`baseline`] of known failures.
//! [`fidelity`] holds the same conversation directly with an upstream and through the gateway
//! and reports every difference.
//! Redis and Postgres for cluster targets and tests come from [`services`]; [`cluster`] runs
//! reference workers as separate processes on them (`--cluster N`, `fault` steps); [`forwards`]
//! reads the workers' logs for the requests they forwarded to each other. [`oracle`] is an
//! independent model of the scoping and path rules for property tests and fuzzing.
//!
//! Modules that only this crate uses (`defects`, `tokens`, `variants`) are private; the rest are used by the binary, the integration tests or the fuzz crate.

#[cfg(feature = "engine")]
pub mod baseline;
#[cfg(feature = "engine")]
pub mod cli;
#[cfg(feature = "engine")]
pub mod client;
#[cfg(feature = "engine")]
pub mod cluster;
#[cfg(feature = "engine")]
pub mod declared_upstreams;
#[cfg(feature = "engine")]
mod defects;
#[cfg(feature = "engine")]
mod fault_command;
#[cfg(feature = "engine")]
pub mod fidelity;
#[cfg(feature = "engine")]
pub mod forwards;
pub mod fuzz;
#[cfg(feature = "engine")]
pub mod libtest;
pub mod located;
#[cfg(feature = "engine")]
pub mod manifest;
#[cfg(feature = "engine")]
pub mod oracle;
#[cfg(feature = "engine")]
pub mod provision;
#[cfg(feature = "engine")]
pub mod reach;
#[cfg(feature = "engine")]
pub mod reference_process;
#[cfg(feature = "engine")]
pub mod report;
#[cfg(feature = "engine")]
pub mod runner;
pub mod scenario;
#[cfg(feature = "engine")]
pub mod services;
#[cfg(feature = "engine")]
pub mod settings;
#[cfg(feature = "engine")]
pub mod snapshot;
#[cfg(feature = "engine")]
pub mod target;
#[cfg(feature = "engine")]
mod tokens;
#[cfg(feature = "engine")]
pub mod upstream;
#[cfg(feature = "engine")]
mod variants;
#[cfg(feature = "engine")]
pub mod verdict;
