//! The `strata.hcl` parser: any text gives a configuration or an error
//! with a position, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A directory with nothing in it: paths fail validation, which is part
    // of what is fuzzed.
    let root = std::env::temp_dir();
    if let Err(e) = strata::config::parse_str(text, &root) {
        let message = e.to_string();
        assert!(!message.is_empty());
    }
});
