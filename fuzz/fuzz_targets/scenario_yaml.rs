#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgw_conformance::fuzz::scenario_yaml(data));
