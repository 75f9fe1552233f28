#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rivus_fuzz::decoders(data));
