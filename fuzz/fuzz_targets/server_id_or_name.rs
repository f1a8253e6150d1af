#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpgw_reference::fuzzing::server_id_or_name(data));
