//! The manifest loader: YAML (multi-document) and JSON text gives
//! manifests or an error naming the file, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::kube::manifest::{parse_json, parse_yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [parse_yaml("fuzz.yaml", text), parse_json("fuzz.json", text)] {
        match parsed {
            Ok(docs) => {
                for doc in docs {
                    assert!(doc.value.is_object(), "a manifest is an object");
                    assert!(doc.index >= 1 && doc.line >= 1);
                }
            }
            Err(e) => assert!(e.to_string().contains("fuzz.")),
        }
    }
});
