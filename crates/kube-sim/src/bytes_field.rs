//! Fields the real server decodes as bytes (`[]byte`, base64 in JSON): a
//! Secret's `data`. A value that is not base64 fails the decoding, and the
//! real server answers with Go's error, which names the offending byte.

use serde_json::Value;

use crate::kinds::ResourceKind;
use crate::status::ApiError;

/// Where Go's `base64.StdEncoding.Decode` fails on `text`, as its
/// `CorruptInputError` offset ("illegal base64 data at input byte N");
/// `None` when it decodes. Newlines are skipped, padding is required.
pub fn go_base64_error(text: &str) -> Option<usize> {
    let src = text.as_bytes();
    let valid = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut si = 0;
    while si < src.len() {
        // One quantum of four characters.
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return None;
                }
                // With padding required, a short last quantum is an error.
                return Some(si - j);
            }
            let c = src[si];
            si += 1;
            if valid(c) {
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if c != b'=' {
                return Some(si - 1);
            }
            match j {
                0 | 1 => return Some(si - 1),
                2 => {
                    while si < src.len() && newline(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Some(src.len());
                    }
                    if src[si] != b'=' {
                        return Some(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Some(si);
            }
            return None;
        }
    }
    None
}

fn is_secret(kind: &ResourceKind) -> bool {
    !kind.custom && kind.group.is_empty() && kind.kind == "Secret"
}

/// The first `data` value of an object that does not decode.
fn first_problem(object: &Value) -> Option<usize> {
    object["data"]
        .as_object()?
        .values()
        .filter_map(Value::as_str)
        .find_map(go_base64_error)
}

fn go_message(at: usize) -> String {
    format!("illegal base64 data at input byte {at}")
}

/// A created or replaced object (POST, PUT): 400, as the request body
/// fails to decode.
///
/// # Errors
/// The value that does not decode.
pub fn check_body(kind: &ResourceKind, body: &Value) -> Result<(), ApiError> {
    if !is_secret(kind) {
        return Ok(());
    }
    match first_problem(body) {
        Some(at) => Err(ApiError::bad_request(format!(
            "Secret in version \"v1\" cannot be handled as a Secret: {}",
            go_message(at)
        ))),
        None => Ok(()),
    }
}

/// A server-side apply: the applied object fails to convert to the typed
/// Secret after the merge.
///
/// # Errors
/// The value that does not decode.
pub fn check_apply(
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<(), ApiError> {
    if !is_secret(kind) {
        return Ok(());
    }
    match first_problem(patch) {
        Some(at) => Err(ApiError::bad_request(format!(
            "failed to convert new object ({namespace}/{name}; /v1, Kind=Secret) to proper version: unable to convert unstructured object to /v1, Kind=Secret: error decoding from json: {}",
            go_message(at)
        ))),
        None => Ok(()),
    }
}

/// A merge or strategic merge patch (422 on the `patch`, as the patched
/// object fails to decode), or a JSON patch that sets a `data` value.
///
/// # Errors
/// The value that does not decode.
pub fn check_patch(kind: &ResourceKind, patch: &Value) -> Result<(), ApiError> {
    if !is_secret(kind) {
        return Ok(());
    }
    let problem = match patch {
        Value::Array(ops) => ops
            .iter()
            .filter(|op| {
                op["path"]
                    .as_str()
                    .is_some_and(|p| p == "/data" || p.starts_with("/data/"))
            })
            .find_map(|op| match &op["value"] {
                Value::String(text) => go_base64_error(text),
                object @ Value::Object(_) => first_problem(&serde_json::json!({"data": object})),
                _ => None,
            }),
        object => first_problem(object),
    };
    match problem {
        Some(at) => Err(ApiError::invalid(
            "",
            crate::status::Subject {
                group: "",
                plural: "secrets",
                name: "",
            },
            &[(
                "patch".to_owned(),
                "FieldValueInvalid",
                format!(
                    "Invalid value: \"\": error decoding from json: {}",
                    go_message(at)
                ),
            )],
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_gos() {
        // Offsets as Go's base64.StdEncoding reports them (and as real
        // servers' messages show them).
        assert_eq!(go_base64_error("YWRtaW4="), None);
        assert_eq!(go_base64_error("YWRt\naW4="), None);
        assert_eq!(go_base64_error(""), None);
        assert_eq!(go_base64_error("admin"), Some(4));
        assert_eq!(go_base64_error("billy"), Some(4));
        assert_eq!(go_base64_error("bill"), None);
        assert_eq!(go_base64_error("My-pass-123"), Some(2));
        assert_eq!(go_base64_error("s3cr3t-not-for-production"), Some(6));
        assert_eq!(go_base64_error("abc"), Some(0));
        assert_eq!(go_base64_error("ab="), Some(3));
        assert_eq!(go_base64_error("a==="), Some(1));
        assert_eq!(go_base64_error("YQ==YQ=="), Some(4));
        assert_eq!(go_base64_error("YQ=x"), Some(2));
    }
}
