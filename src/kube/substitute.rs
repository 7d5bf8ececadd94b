//! `${stack.<name>.<output>}` in manifests: the last applied value of a
//! Terraform output. `$${…}` is a literal `${…}`; any other `${…}` (a shell
//! variable in a container command, say) is left alone.
//!
//! Substitution happens on parsed string values, never on the text, so an
//! output cannot change the structure of a manifest. A string that is only
//! a reference takes the output's type (`replicas: ${stack.x.count}` is a
//! number); inside a longer string the value is written as text.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{KubeError, Manifest};

/// Written for a value Terraform will only know after it applies the plan.
pub const UNKNOWN: &str = "(known after apply)";

/// One output of a stack, as far as strata knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// `None` until the stack's plan is applied.
    pub value: Option<Value>,
    pub sensitive: bool,
}

/// Every stack's outputs, by stack and output name.
pub type Outputs = BTreeMap<String, BTreeMap<String, Output>>;

/// What substituting a manifest used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Used {
    /// Some value is only known after apply.
    pub unknown: bool,
    /// The text of every sensitive value substituted, to keep out of
    /// messages.
    pub secrets: BTreeSet<String>,
}

/// Substitutes every reference in `manifest`.
///
/// # Errors
/// An undefined stack or output, or a sensitive output outside a `Secret`,
/// naming the file and document.
pub fn substitute(manifest: &mut Manifest, outputs: &Outputs) -> Result<Used, KubeError> {
    let is_secret = manifest.value["kind"] == "Secret" && manifest.value["apiVersion"] == "v1";
    let mut used = Used::default();
    let mut value = std::mem::take(&mut manifest.value);
    // Sensitive outputs only where a Secret's values are: its `data` and
    // `stringData` (its name, labels and annotations are shown in reports).
    let result = match &mut value {
        Value::Object(map) => map.iter_mut().try_for_each(|(key, v)| {
            let values = is_secret && (key == "data" || key == "stringData");
            walk(v, outputs, values, &mut used)
        }),
        other => walk(other, outputs, false, &mut used),
    };
    manifest.value = value;
    result.map_err(|message| KubeError::Manifest {
        file: manifest.file.clone(),
        index: Some(manifest.index),
        line: None,
        message,
    })?;
    Ok(used)
}

/// Substitutes every reference in `value` (a stack's var, say); sensitive
/// outputs are allowed when `sensitive_ok`.
///
/// # Errors
/// An undefined stack or output, or a sensitive output where not allowed.
pub fn substitute_value(
    value: &mut Value,
    outputs: &Outputs,
    sensitive_ok: bool,
) -> Result<Used, String> {
    let mut used = Used::default();
    walk(value, outputs, sensitive_ok, &mut used)?;
    Ok(used)
}

fn walk(value: &mut Value, outputs: &Outputs, secret: bool, used: &mut Used) -> Result<(), String> {
    match value {
        Value::String(text) if text.contains("${") => {
            if let Some(new) = replace(text, outputs, secret, used)? {
                *value = new;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, outputs, secret, used)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                walk(item, outputs, secret, used)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The string with its references replaced; `None` when it has none.
fn replace(
    text: &str,
    outputs: &Outputs,
    secret: bool,
    used: &mut Used,
) -> Result<Option<Value>, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            changed = true;
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let reference = &after[..end];
        let Some(path) = reference.strip_prefix("stack.") else {
            out.push_str(&rest[at..at + 2 + end + 1]);
            rest = &after[end + 1..];
            continue;
        };
        let value = lookup(path, outputs, secret, used)?;
        changed = true;
        // The whole string is this one reference: the output keeps its type.
        if text.len() == reference.len() + 3 {
            return Ok(Some(value));
        }
        match value {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(changed.then_some(Value::String(out)))
}

fn lookup(path: &str, outputs: &Outputs, secret: bool, used: &mut Used) -> Result<Value, String> {
    let Some((stack, name)) = path.split_once('.') else {
        return Err(format!(
            "${{stack.{path}}} is not a reference; write ${{stack.<stack>.<output>}}"
        ));
    };
    let Some(stack_outputs) = outputs.get(stack) else {
        let known: Vec<&str> = outputs.keys().map(String::as_str).collect();
        return Err(format!(
            "${{stack.{path}}}: there is no stack {stack:?} with outputs: it is not in strata.hcl, or it has not been applied yet (run `strata apply --stack {stack}`){}",
            if known.is_empty() {
                String::new()
            } else {
                format!("; the stacks with outputs are: {}", known.join(", "))
            }
        ));
    };
    let Some(output) = stack_outputs.get(name) else {
        let known: Vec<&str> = stack_outputs.keys().map(String::as_str).collect();
        return Err(format!(
            "${{stack.{path}}}: stack {stack:?} has no output {name:?}{}",
            if known.is_empty() {
                " (it has not been applied, or has no outputs)".to_owned()
            } else {
                format!("; its outputs are: {}", known.join(", "))
            }
        ));
    };
    if output.sensitive && !secret {
        return Err(format!(
            "${{stack.{path}}} is a sensitive output; sensitive outputs may only be used in a Secret's data or stringData"
        ));
    }
    match &output.value {
        None => {
            used.unknown = true;
            Ok(Value::String(UNKNOWN.to_owned()))
        }
        Some(value) => {
            if output.sensitive {
                used.secrets.insert(match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            Ok(value.clone())
        }
    }
}

/// Every `(stack, output)` a value references, for static checks.
pub use crate::config::refs::references;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn outputs() -> Outputs {
        let mut db = BTreeMap::new();
        db.insert(
            "endpoint".to_owned(),
            Output {
                value: Some(json!("db.internal:5432")),
                sensitive: false,
            },
        );
        db.insert(
            "port".to_owned(),
            Output {
                value: Some(json!(5432)),
                sensitive: false,
            },
        );
        db.insert(
            "password".to_owned(),
            Output {
                value: Some(json!("hunter2")),
                sensitive: true,
            },
        );
        db.insert(
            "later".to_owned(),
            Output {
                value: None,
                sensitive: false,
            },
        );
        let mut all = Outputs::new();
        all.insert("database".to_owned(), db);
        all
    }

    fn manifest(kind: &str, data: Value) -> Manifest {
        Manifest {
            file: "k8s/apps/x.yaml".to_owned(),
            index: 1,
            line: 1,
            value: json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, "data": data}),
            secrets: std::collections::BTreeSet::new(),
        }
    }

    #[test]
    fn references_escapes_and_other_variables() {
        let mut m = manifest(
            "ConfigMap",
            json!({
                "a": "${stack.database.endpoint}",
                "b": "postgres://${stack.database.endpoint}/app?port=${stack.database.port}",
                "c": "${stack.database.port}",
                "d": "$${stack.database.endpoint} and ${HOME}",
                "e": "${stack.database.later}",
                "f": "${HOME}${stack.database.port}",
            }),
        );
        let used = substitute(&mut m, &outputs()).expect("substitutes");
        let data = &m.value["data"];
        assert_eq!(data["a"], "db.internal:5432");
        assert_eq!(data["b"], "postgres://db.internal:5432/app?port=5432");
        assert_eq!(data["c"], 5432);
        assert_eq!(data["d"], "${stack.database.endpoint} and ${HOME}");
        assert_eq!(data["e"], UNKNOWN);
        assert_eq!(data["f"], "${HOME}5432");
        assert!(used.unknown);
    }

    #[test]
    fn undefined_references_name_the_file_and_what_exists() {
        let mut m = manifest("ConfigMap", json!({"a": "${stack.database.nope}"}));
        let err = substitute(&mut m, &outputs()).expect_err("undefined");
        let text = err.to_string();
        assert!(text.starts_with("k8s/apps/x.yaml (document 1): ${stack.database.nope}: stack \"database\" has no output \"nope\"; its outputs are: endpoint, later, password, port"), "{text}");
        let mut m = manifest("ConfigMap", json!({"a": "${stack.web.url}"}));
        let err = substitute(&mut m, &outputs()).expect_err("no stack");
        assert!(
            err.to_string()
                .contains("there is no stack \"web\" with outputs"),
            "{err}"
        );
    }

    #[test]
    fn references_are_listed_without_escaped_ones() {
        let v =
            json!({"a": ["x ${stack.db.url} ${stack.net.id}", "$${stack.no.pe}"], "b": "${HOME}"});
        assert_eq!(
            references(&v),
            [
                ("db".to_owned(), "url".to_owned()),
                ("net".to_owned(), "id".to_owned())
            ]
        );
    }

    #[test]
    fn sensitive_outputs_only_inside_secrets() {
        let mut m = manifest("ConfigMap", json!({"a": "${stack.database.password}"}));
        let err = substitute(&mut m, &outputs()).expect_err("not a secret");
        assert!(
            err.to_string()
                .contains("only be used in a Secret's data or stringData")
        );
        assert!(!err.to_string().contains("hunter2"));
        let mut m = manifest("Secret", json!({}));
        m.value["metadata"]["annotations"] = json!({"x": "${stack.database.password}"});
        let err = substitute(&mut m, &outputs()).expect_err("not in data");
        assert!(err.to_string().contains("data or stringData"), "{err}");
        let mut m = manifest("Secret", json!({}));
        m.value["stringData"] = json!({"password": "${stack.database.password}"});
        let used = substitute(&mut m, &outputs()).expect("a secret");
        assert_eq!(m.value["stringData"]["password"], "hunter2");
        assert!(used.secrets.contains("hunter2"));
    }
}
