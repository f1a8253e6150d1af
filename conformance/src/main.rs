//! `mcpgw-conformance`: run conformance scenarios against a gateway.
fn main() {}
