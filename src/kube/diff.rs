//! Field-level differences between a live object and what applying the
//! manifest would make of it (a server-side dry-run apply), ignoring what
//! the server owns: managedFields, resourceVersion, generation, uid,
//! timestamps and status. Secret values are never shown.

use serde_json::{Map, Value};

use super::COMMIT_ANNOTATION;

/// Shown instead of a Secret's values.
pub const REDACTED: &str = "(sensitive value)";
/// Shown for a field that is not set.
pub const ABSENT: &str = "(none)";
/// Longest value shown before it is shortened.
const MAX_VALUE: usize = 160;

/// One changed field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// `spec.replicas`, `metadata.labels["app.kubernetes.io/name"]`,
    /// `spec.template.spec.containers[0].image`.
    pub path: String,
    pub before: String,
    pub after: String,
    /// Who set the live value, when a person did with kubectl
    /// (`kubectl-patch`): the field manager that made it drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

/// The object without server-owned fields.
pub fn normalize(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for noise in [
                COMMIT_ANNOTATION,
                "kubectl.kubernetes.io/last-applied-configuration",
                "deployment.kubernetes.io/revision",
            ] {
                annotations.remove(noise);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    v
}

/// Which values of an object a diff does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hide {
    Nothing,
    /// A Secret's: those under `data` and `stringData`.
    SecretData,
    /// An object decrypted from SOPS: every value (which fields change is
    /// shown).
    Everything,
}

/// The fields that differ between `live` and `desired` (both normalized),
/// with the values `hide` says redacted.
pub fn fields(live: &Value, desired: &Value, hide: Hide) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", live, desired, hide, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, secret: Hide, out: &mut Vec<FieldChange>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let child = join_key(path, key);
                let null = Value::Null;
                walk(
                    &child,
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    secret,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), p, q, secret, out);
            }
        }
        _ => {
            let hide = match secret {
                Hide::Nothing => false,
                Hide::SecretData => path.starts_with("data") || path.starts_with("stringData"),
                Hide::Everything => true,
            };
            out.push(FieldChange {
                path: path.to_owned(),
                before: if hide { REDACTED.to_owned() } else { show(a) },
                after: if hide { REDACTED.to_owned() } else { show(b) },
                manager: None,
            });
        }
    }
}

/// The displayed path (as in [`FieldChange::path`]) of the field at
/// `tokens` (a JSON pointer's, unescaped) in `object`.
pub fn display(object: &Value, tokens: &[String]) -> String {
    let mut path = String::new();
    let mut node = Some(object);
    for token in tokens {
        match node {
            Some(Value::Array(items)) => {
                path = format!("{path}[{token}]");
                node = token.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            _ => {
                path = join_key(&path, token);
                node = node.and_then(|n| n.get(token));
            }
        }
    }
    path
}

fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn show(v: &Value) -> String {
    if v.is_null() {
        return ABSENT.to_owned();
    }
    let text = v.to_string();
    if text.chars().count() > MAX_VALUE {
        let cut: String = text.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Removes every Secret value (`data`, `stringData`) from an object, for
/// anything that might be written or logged.
pub fn redact_secret(object: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = object.get_mut(field) {
            let keys: Vec<String> = map.keys().cloned().collect();
            let mut redacted = Map::new();
            for key in keys {
                redacted.insert(key, Value::String(REDACTED.to_owned()));
            }
            *map = redacted;
        }
    }
}

/// `message` with every one of `secrets` replaced: server messages may
/// quote a value.
pub fn scrub<'a>(message: &str, secrets: impl IntoIterator<Item = &'a String>) -> String {
    let mut out = message.to_owned();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_noise_is_ignored() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "7", "generation": 2,
                         "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                         "annotations": {"strata.dev/commit": "abc"}},
            "data": {"x": "1"}, "status": {"phase": "x"}
        });
        let desired = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "8",
                         "annotations": {"strata.dev/commit": "def"}},
            "data": {"x": "1"}
        });
        assert_eq!(normalize(&live), normalize(&desired));
    }

    #[test]
    fn fields_are_listed_by_path_and_secrets_hidden() {
        let live = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"image": "a:1"}]}}},
                          "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "a:2"}]}}},
                             "metadata": {"labels": {"app.kubernetes.io/name": "y", "new": "z"}}});
        let changes = fields(&live, &desired, Hide::Nothing);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels[\"app.kubernetes.io/name\"]",
                "metadata.labels.new",
                "spec.replicas",
                "spec.template.spec.containers[0].image"
            ]
        );
        assert_eq!(changes[1].before, ABSENT);
        assert_eq!(changes[2].before, "5");
        assert_eq!(changes[2].after, "2");
        let secret = fields(
            &json!({"data": {"password": "b2xk"}}),
            &json!({"data": {"password": "bmV3"}}),
            Hide::SecretData,
        );
        assert_eq!(secret[0].before, REDACTED);
        assert_eq!(secret[0].after, REDACTED);
        let sops = fields(
            &json!({"spec": {"license": "old"}, "metadata": {"name": "a"}}),
            &json!({"spec": {"license": "new"}, "metadata": {"name": "a"}}),
            Hide::Everything,
        );
        assert_eq!(sops[0].path, "spec.license");
        assert_eq!(
            (sops[0].before.as_str(), sops[0].after.as_str()),
            (REDACTED, REDACTED)
        );
    }
}
