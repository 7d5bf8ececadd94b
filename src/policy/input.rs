//! The policies' input: one document for both layers of a run (schema in
//! docs/policy.md). Secrets never reach it: Terraform's sensitive values,
//! and copies of them, and Secret data are replaced by
//! [`REDACTED`](crate::kube::diff::REDACTED).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::kube::diff::{Hide, REDACTED, redact_secret};

/// The document a policy sees as `input`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Input {
    /// `plan`, `apply`, `drift` or `watch`.
    pub command: String,
    pub source: Source,
    pub stacks: Vec<StackInput>,
    pub workloads: Vec<WorkloadInput>,
}

impl Input {
    /// What the run does to `address` of `stack` or `workload`, as the
    /// gate names actions (`update`, `replace`, `prune`, ...); `policy`
    /// when the input has no such change.
    pub fn action(&self, stack: &str, workload: &str, address: &str) -> String {
        let terraform = self
            .stacks
            .iter()
            .filter(|s| !stack.is_empty() && s.name == stack)
            .flat_map(|s| &s.resource_changes)
            .find(|rc| rc["address"] == address)
            .map(|rc| {
                let actions: Vec<&str> = rc["change"]["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match actions.as_slice() {
                    [one] => (*one).to_owned(),
                    [_, _] => "replace".to_owned(),
                    _ => "change".to_owned(),
                }
            });
        let kubernetes = || {
            self.workloads
                .iter()
                .filter(|w| !workload.is_empty() && w.name == workload)
                .flat_map(|w| &w.changes)
                .find(|c| c.address == address)
                .map(|c| c.action.clone())
        };
        terraform
            .or_else(kubernetes)
            .unwrap_or_else(|| "policy".to_owned())
    }
}

/// Where the run's desired state comes from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    pub repository: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: Option<String>,
}

impl Source {
    pub fn new(repository: &str, reference: &str, commit: Option<&str>) -> Source {
        Source {
            repository: repository.to_owned(),
            reference: reference.to_owned(),
            commit: commit.map(ToOwned::to_owned),
        }
    }
}

/// A planned stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StackInput {
    pub name: String,
    pub path: String,
    /// Terraform's own `resource_changes`, sensitive values redacted;
    /// empty when the stack is in sync.
    pub resource_changes: Vec<Value>,
}

/// A planned workload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadInput {
    pub name: String,
    /// The kubeconfig context it goes to; `None` for the current one.
    pub cluster: Option<String>,
    pub changes: Vec<WorkloadChange>,
}

/// One object that changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadChange {
    /// `create`, `update`, `prune` or `recreate`.
    pub action: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// Empty for a cluster-scoped object.
    pub namespace: String,
    pub name: String,
    /// The object as Git has it (`None` for a prune).
    pub desired: Option<Value>,
    /// The object in the cluster (`None` for a create).
    pub live: Option<Value>,
    /// `Kind/name` or `Kind/namespace/name`, as the gate addresses it.
    #[serde(skip)]
    pub address: String,
}

impl WorkloadChange {
    /// Redacts what a diff of the object would not show (`hide`): a
    /// Secret's data; for an object decrypted from SOPS, its data and every
    /// string holding one of `secrets`. A pruned object's data is left out
    /// too: whether Git had it encrypted is no longer known. What the
    /// server keeps for itself (`managedFields`) goes.
    pub fn redact(&mut self, hide: Hide, secrets: &BTreeSet<String>) {
        let prune = self.desired.is_none();
        for object in [&mut self.desired, &mut self.live].into_iter().flatten() {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
                if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
                    // kubectl's copy of the last applied object holds the
                    // Secret's data too.
                    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
                }
            }
            if hide != Hide::Nothing || prune {
                redact_secret(object);
            }
            if (hide == Hide::Everything || prune)
                && let Some(Value::Object(data)) = object.get_mut("binaryData")
            {
                data.values_mut()
                    .for_each(|v| *v = Value::String(REDACTED.to_owned()));
            }
            if !secrets.is_empty() {
                scrub(object, secrets);
            }
        }
    }
}

/// The `resource_changes` of a plan JSON file (`terraform show -json`),
/// with every value Terraform marks sensitive, every copy of one, and every
/// string holding one of `secrets` (decrypted from SOPS) replaced.
///
/// # Errors
/// A file that cannot be read or is not a plan's JSON.
pub fn resource_changes(
    plan_json: &Path,
    secrets: &BTreeSet<String>,
) -> Result<Vec<Value>, String> {
    let text = std::fs::read(plan_json).map_err(|e| e.to_string())?;
    let mut plan: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let Some(Value::Array(changes)) = plan.get_mut("resource_changes").map(Value::take) else {
        return Ok(Vec::new());
    };
    let mut secrets = secrets.clone();
    let mut out = Vec::with_capacity(changes.len());
    for mut rc in changes {
        if let Some(change) = rc.get_mut("change").and_then(Value::as_object_mut) {
            for (value, mask) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
                let mask = change.get(mask).cloned().unwrap_or(Value::Bool(false));
                if let Some(v) = change.get_mut(value) {
                    mask_sensitive(v, &mask, &mut secrets);
                }
            }
        }
        out.push(rc);
    }
    // A sensitive value copied into an attribute Terraform does not mark.
    if !secrets.is_empty() {
        for rc in &mut out {
            if let Some(change) = rc.get_mut("change") {
                scrub(change, &secrets);
            }
        }
    }
    Ok(out)
}

/// Replaces what `mask` marks in `value`, remembering the strings.
fn mask_sensitive(value: &mut Value, mask: &Value, secrets: &mut BTreeSet<String>) {
    match (value, mask) {
        (v, Value::Bool(true)) => {
            collect(v, secrets);
            *v = Value::String(REDACTED.to_owned());
        }
        (Value::Object(object), Value::Object(mask)) => {
            for (key, m) in mask {
                if let Some(v) = object.get_mut(key) {
                    mask_sensitive(v, m, secrets);
                }
            }
        }
        (Value::Array(items), Value::Array(mask)) => {
            for (v, m) in items.iter_mut().zip(mask) {
                mask_sensitive(v, m, secrets);
            }
        }
        _ => {}
    }
}

fn collect(value: &Value, secrets: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if !s.is_empty() => {
            secrets.insert(s.clone());
        }
        Value::Number(n) => {
            secrets.insert(n.to_string());
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, secrets)),
        Value::Object(object) => object.values().for_each(|v| collect(v, secrets)),
        _ => {}
    }
}

fn scrub(value: &mut Value, secrets: &BTreeSet<String>) {
    match value {
        Value::String(s) => {
            if secrets.contains(s.as_str()) {
                *s = REDACTED.to_owned();
            } else if secrets
                .iter()
                .any(|secret| secret.len() >= 4 && s.contains(secret.as_str()))
            {
                *s = crate::kube::diff::scrub(s, secrets.iter().filter(|x| x.len() >= 4));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets)),
        Value::Object(object) => object.values_mut().for_each(|v| scrub(v, secrets)),
        _ => {}
    }
}

/// A workload's planned changes as the policies see them: the objects as
/// Git and the cluster have them, secrets redacted.
pub fn workload_changes(plan: &crate::kube::converge::Plan) -> Vec<WorkloadChange> {
    plan.changes
        .iter()
        .map(|c| {
            let object = c.object.map(|i| &plan.set.objects[i]);
            let mut change = WorkloadChange {
                action: c.action.as_str().to_owned(),
                api_version: c.api_version.clone(),
                kind: c.id.kind.clone(),
                namespace: c.id.namespace.clone(),
                name: c.id.name.clone(),
                desired: object.map(|o| c.config.clone().unwrap_or_else(|| o.value.clone())),
                live: c.live.clone(),
                address: c.id.address(),
            };
            match object {
                Some(o) => change.redact(o.hide(), &o.used.secrets),
                // A prune: `redact` leaves its data out whatever it is.
                None => change.redact(Hide::Nothing, &BTreeSet::new()),
            }
            change
        })
        .collect()
}
