//! harness

pub mod oracle;
