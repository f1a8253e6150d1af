//! harness
pub mod services;
