//! `${stack.<name>.<output>}`: references to a stack's outputs, in
//! manifests and in other stacks' `vars` (substituted by the Kubernetes
//! layer and the stack executor). `$${…}` is a literal `${…}`.

use serde_json::Value;

/// Every `(stack, output)` a value references, for static checks.
pub fn references(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect(value, &mut out);
    out
}

fn collect(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(at) = rest.find("${stack.") {
                let escaped = rest[..at].ends_with('$');
                let after = &rest[at + 8..];
                let Some(end) = after.find('}') else {
                    break;
                };
                if !escaped && let Some((stack, output)) = after[..end].split_once('.') {
                    out.push((stack.to_owned(), output.to_owned()));
                }
                rest = &after[end + 1..];
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}
