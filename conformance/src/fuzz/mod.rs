//! Fuzzing: `mcpgw-conformance fuzz` (network fuzzing of any gateway against the oracle) and the
//! body of the scenario-loader cargo-fuzz target.
//!
//! The network fuzzer provisions a small fixture world once ([`world`]), generates requests
//! with proptest ([`case`], built on `oracle::strategies`), checks each response against the
//! oracle's invariants ([`invariants`]), shrinks the first failure to a minimal request
//! ([`engine`]) and writes it as a YAML scenario the normal runner replays ([`regression`]).
//! [`command`] is the command line around it.

#[cfg(feature = "engine")]
pub mod case;
#[cfg(feature = "engine")]
pub mod command;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod invariants;
#[cfg(feature = "engine")]
pub mod observe;
#[cfg(feature = "engine")]
pub mod regression;
pub mod scenario_yaml;
#[cfg(feature = "engine")]
pub mod sequence;
#[cfg(feature = "engine")]
pub mod sequence_run;
#[cfg(feature = "engine")]
pub mod sessions;
#[cfg(feature = "engine")]
pub mod world;

#[cfg(feature = "engine")]
pub use command::FuzzArgs;
#[cfg(feature = "engine")]
pub use engine::{Event, Found, FuzzError, FuzzOptions, Report, fuzz};
pub use scenario_yaml::scenario_yaml;
