#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgw_reference::fuzzing::raw_server_path(data));
