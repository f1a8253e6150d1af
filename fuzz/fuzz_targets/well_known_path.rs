#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgw_reference::fuzzing::well_known_path(data));
