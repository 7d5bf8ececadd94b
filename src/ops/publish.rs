//! `outputs "<stack>"` blocks: a stack's Terraform outputs written into the
//! cluster as a ConfigMap (plain outputs) and a Secret (sensitive ones).
//!
//! The objects are converged like any manifest, inventory and prune
//! included, by a *carrier*: the workload that creates their namespace (so
//! that the namespace exists first and the workload's own objects find
//! them), or else a workload of their own, `outputs.<stack>`, which needs
//! nothing but the stack. Either way the carrier waits for the stack, and
//! every other workload that depends on the stack waits for the carrier.
//!
//! This module also holds the run's [`Layout`] of workloads as a whole:
//! the configured ones plus the carriers, what objects each claims and
//! which outputs each references, read once per run without the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::config::{Config, ObjectRef, Workload};
use crate::kube::KubeError;
use crate::kube::manifest::{Manifest, Tools};
use crate::kube::substitute::{Outputs, UNKNOWN, Used};

/// Where a published object comes from, in reports and errors.
const ORIGIN: &str = "strata.hcl";

/// The annotation naming the stack an object publishes.
pub const OUTPUTS_ANNOTATION: &str = "strata.dev/outputs-of";

/// One object an `outputs` block writes.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// The workload that converges it.
    pub carrier: String,
    pub stack: String,
    pub object: ObjectRef,
    /// A Secret of the sensitive outputs (else a ConfigMap of the others).
    pub sensitive: bool,
    /// Line of the `outputs` block.
    pub line: usize,
}

impl Published {
    fn kind(&self) -> &'static str {
        if self.sensitive {
            "Secret"
        } else {
            "ConfigMap"
        }
    }
}

/// The workloads as a run converges them: the configured ones (with the
/// dependencies the `outputs` blocks add), the `outputs.<stack>` ones, the
/// published objects, and what every workload claims.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    pub workloads: Vec<Workload>,
    pub published: Vec<Published>,
    pub claims: Vec<Claim>,
    /// The outputs each configured workload's manifests reference.
    pub references: References,
    /// The sha256 of each configured workload's manifests as rendered
    /// (before substitution); absent when they cannot all be read.
    pub rendered: BTreeMap<String, String>,
}

/// The name of the workload that carries a stack's outputs when no
/// workload creates their namespace. Configured names cannot contain a
/// dot, so it never collides with one.
pub(crate) fn own_carrier(stack: &str) -> String {
    format!("outputs.{stack}")
}

/// Lays the configured workloads and `outputs` blocks out (see the module
/// documentation). Reads the manifests statically, without a cluster.
pub(crate) fn layout(config: &Config, root: &Path, tools: &Tools) -> Layout {
    let Static {
        mut claims,
        references,
        rendered,
    } = read_statically(&config.workloads, root, tools);
    let mut workloads = config.workloads.clone();
    let mut published = Vec::new();
    for block in &config.outputs {
        let targets = [(&block.config_map, false), (&block.secret, true)];
        for (target, sensitive) in targets {
            let Some(object) = target else { continue };
            // A workload of the same cluster that creates the namespace.
            let context_of = |name: &str| {
                config
                    .workloads
                    .iter()
                    .find(|w| w.name == name)
                    .and_then(|w| w.context.clone())
            };
            let carrier = claims
                .iter()
                .find(|c| {
                    c.group.is_empty()
                        && c.kind == "Namespace"
                        && c.name == object.namespace
                        && context_of(&c.workload) == block.context
                })
                .map_or_else(|| own_carrier(&block.stack), |c| c.workload.clone());
            published.push(Published {
                carrier,
                stack: block.stack.clone(),
                object: object.clone(),
                sensitive,
                line: block.line,
            });
        }
    }
    for p in &published {
        claims.push(Claim {
            workload: p.carrier.clone(),
            group: String::new(),
            kind: p.kind().to_owned(),
            namespace: p.object.namespace.clone(),
            name: p.object.name.clone(),
        });
        match workloads.iter_mut().find(|w| w.name == p.carrier) {
            Some(w) => add_dependency(w, &p.stack),
            None => {
                let mut w = Workload::new(&p.carrier, ORIGIN);
                w.depends_on = vec![p.stack.clone()];
                w.line = p.line;
                // In the cluster its block names.
                w.context = config
                    .outputs
                    .iter()
                    .find(|o| o.stack == p.stack)
                    .and_then(|o| o.context.clone());
                workloads.push(w);
            }
        }
    }
    // Whatever else needs the stack waits for its outputs too, unless the
    // carrier waits for it (then it had to come first anyway).
    for p in &published {
        for i in 0..workloads.len() {
            let name = workloads[i].name.clone();
            if name != p.carrier
                && workloads[i].depends_on.contains(&p.stack)
                && !reaches(&workloads, &p.carrier, &name)
            {
                add_dependency(&mut workloads[i], &p.carrier);
            }
        }
    }
    Layout {
        workloads,
        published,
        claims,
        references,
        rendered,
    }
}

fn add_dependency(w: &mut Workload, on: &str) {
    if !w.depends_on.iter().any(|d| d == on) {
        w.depends_on.push(on.to_owned());
    }
}

/// Whether workload `from` depends on `to`, directly or not.
fn reaches(workloads: &[Workload], from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(name) = todo.pop() {
        if name == to {
            return true;
        }
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(w) = workloads.iter().find(|w| w.name == name) {
            todo.extend(w.depends_on.iter().cloned());
        }
    }
    false
}

impl Layout {
    /// The workloads a run takes: those `names` selects (all when `all`),
    /// and the `outputs.<stack>` workloads that the run selects everything
    /// or a selected workload needs.
    pub fn select(&self, names: &[String], all: bool) -> Vec<Workload> {
        let chosen: Vec<&Workload> = self
            .workloads
            .iter()
            .filter(|w| all || names.contains(&w.name))
            .collect();
        let needed: BTreeSet<&str> = chosen
            .iter()
            .flat_map(|w| w.depends_on.iter().map(String::as_str))
            .collect();
        self.workloads
            .iter()
            .filter(|w| {
                all || names.contains(&w.name)
                    || (w.path == ORIGIN && needed.contains(w.name.as_str()))
            })
            .cloned()
            .collect()
    }

    /// Whether `workload` only carries published objects (it has no
    /// manifests of its own).
    pub fn is_own_carrier(workload: &Workload) -> bool {
        workload.path == ORIGIN && workload.name.contains('.')
    }

    /// The published objects `workload` carries, rendered with `outputs`.
    ///
    /// # Errors
    /// A stack with no outputs known (never applied, not planned in this
    /// run), naming the `outputs` block.
    pub fn manifests(
        &self,
        workload: &str,
        outputs: &Outputs,
    ) -> Result<Vec<(Manifest, Used)>, KubeError> {
        self.published
            .iter()
            .filter(|p| p.carrier == workload)
            .map(|p| manifest(p, outputs))
            .collect()
    }
}

/// The ConfigMap or Secret of `p`: one key per output, strings as they
/// are, anything else JSON-encoded.
fn manifest(p: &Published, outputs: &Outputs) -> Result<(Manifest, Used), KubeError> {
    let Some(values) = outputs.get(&p.stack) else {
        return Err(KubeError::Manifest {
            file: ORIGIN.to_owned(),
            index: None,
            line: Some(p.line),
            message: format!(
                "outputs {:?}: stack {} has no outputs yet: it has not been applied (run `strata apply --stack {}` first, or apply everything)",
                p.stack, p.stack, p.stack
            ),
        });
    };
    let mut used = Used::default();
    let mut data = BTreeMap::new();
    for (name, output) in values.iter().filter(|(_, o)| o.sensitive == p.sensitive) {
        let text = match &output.value {
            None => {
                used.unknown = true;
                UNKNOWN.to_owned()
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let value = if p.sensitive {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
            if output.value.is_some() {
                used.secrets.insert(text);
                used.secrets.insert(encoded.clone());
            }
            encoded
        } else {
            text
        };
        data.insert(name.clone(), Value::String(value));
    }
    let mut value = json!({
        "apiVersion": "v1",
        "kind": p.kind(),
        "metadata": {
            "name": p.object.name,
            "namespace": p.object.namespace,
            "annotations": { OUTPUTS_ANNOTATION: p.stack },
        },
        "data": data,
    });
    if p.sensitive {
        value["type"] = json!("Opaque");
    }
    Ok((
        Manifest {
            file: ORIGIN.to_owned(),
            index: 1,
            line: p.line,
            value,
            secrets: std::collections::BTreeSet::new(),
        },
        used,
    ))
}

/// An object a workload's manifests define, as read without the cluster
/// (the namespace as written, else the workload's default).
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub workload: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Claim {
    /// Whether this claim is (or may be) the object `id`. Cluster-scoped
    /// objects match whatever namespace the claim guessed: when in doubt,
    /// it is claimed.
    pub fn is(&self, id: &crate::kube::ObjectId) -> bool {
        self.group == id.group
            && self.kind == id.kind
            && self.name == id.name
            && (id.namespace.is_empty() || self.namespace == id.namespace)
    }
}

/// `(stack, output)` references of each workload's manifests.
pub(crate) type References = BTreeMap<String, Vec<(String, String)>>;

/// What the configured workloads' manifests say, read without the cluster.
pub(crate) struct Static {
    pub claims: Vec<Claim>,
    pub references: References,
    /// See [`Layout::rendered`].
    pub rendered: BTreeMap<String, String>,
}

/// The objects of every configured workload, the outputs their manifests
/// reference and their digest, read statically, once. Workloads whose
/// manifests cannot be read claim and reference nothing here (they fail
/// on their own, and `strata validate` says what is wrong with them).
pub(crate) fn read_statically(workloads: &[Workload], root: &Path, tools: &Tools) -> Static {
    use sha2::Digest as _;
    let mut out = Vec::new();
    let mut refs = References::new();
    let mut rendered = BTreeMap::new();
    for w in workloads {
        // Rendering a kustomization runs a child and waits: not on a
        // runtime thread that other tasks need.
        let Ok((manifests, problems)) = crate::off_the_runtime(|| {
            crate::kube::manifest::load_all(root, &w.path, &w.exclude, tools)
        }) else {
            continue;
        };
        if problems.is_empty() {
            let mut hash = sha2::Sha256::new();
            for m in &manifests {
                hash.update(format!("{} {}\n", m.file, m.index).as_bytes());
                hash.update(m.value.to_string().as_bytes());
                hash.update(b"\n");
            }
            rendered.insert(w.name.clone(), format!("{:x}", hash.finalize()));
        }
        let found = refs.entry(w.name.clone()).or_default();
        for m in manifests {
            found.extend(crate::kube::substitute::references(&m.value));
            let v = &m.value;
            let (group, _) = crate::kube::split_api_version(v["apiVersion"].as_str().unwrap_or(""));
            out.push(Claim {
                workload: w.name.clone(),
                group: group.to_owned(),
                kind: v["kind"].as_str().unwrap_or_default().to_owned(),
                namespace: v["metadata"]["namespace"]
                    .as_str()
                    .or(w.namespace.as_deref())
                    .unwrap_or_default()
                    .to_owned(),
                name: v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    Static {
        claims: out,
        references: refs,
        rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::substitute::Output;

    fn published(sensitive: bool) -> Published {
        Published {
            carrier: "apps".to_owned(),
            stack: "db".to_owned(),
            object: ObjectRef {
                namespace: "apps".to_owned(),
                name: "db-outputs".to_owned(),
            },
            sensitive,
            line: 7,
        }
    }

    fn outputs() -> Outputs {
        let out = |value: Option<Value>, sensitive| Output { value, sensitive };
        let mut db = BTreeMap::new();
        db.insert("endpoint".to_owned(), out(Some(json!("db:5432")), false));
        db.insert("port".to_owned(), out(Some(json!(5432)), false));
        db.insert("tags".to_owned(), out(Some(json!({"a": [1, 2]})), false));
        db.insert("next".to_owned(), out(None, false));
        db.insert("password".to_owned(), out(Some(json!("hunter2")), true));
        BTreeMap::from([("db".to_owned(), db)])
    }

    #[test]
    fn plain_outputs_become_strings_and_unknown_ones_are_marked() {
        let (m, used) = manifest(&published(false), &outputs()).unwrap();
        assert_eq!(m.value["kind"], "ConfigMap");
        assert_eq!(
            m.value["data"],
            json!({"endpoint": "db:5432", "port": "5432", "tags": "{\"a\":[1,2]}", "next": UNKNOWN})
        );
        assert!(used.unknown);
        assert!(used.secrets.is_empty());
    }

    #[test]
    fn sensitive_outputs_go_to_the_secret_base64_and_are_remembered_as_secrets() {
        let (m, used) = manifest(&published(true), &outputs()).unwrap();
        assert_eq!(m.value["kind"], "Secret");
        assert_eq!(m.value["data"], json!({"password": "aHVudGVyMg=="}));
        assert!(used.secrets.contains("hunter2") && used.secrets.contains("aHVudGVyMg=="));
        assert!(!used.unknown);
    }

    #[test]
    fn a_stack_without_outputs_is_an_error_naming_the_block() {
        let err = manifest(&published(false), &Outputs::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("strata.hcl") && text.contains("has no outputs yet"),
            "{text}"
        );
    }

    #[test]
    fn the_namespace_creator_carries_and_other_dependents_wait_for_it() {
        let hcl = r#"
stack "db" { path = "infra/db" }
workload "apps" {
  path = "k8s/apps"
  depends_on = ["db"]
}
workload "web" {
  path = "k8s/web"
  depends_on = ["db"]
}
workload "ns" { path = "k8s/ns" }
outputs "db" {
  config_map = "apps/db-outputs"
  secret     = "other/db-secrets"
}
"#;
        let (dir, config) = crate::config::parse_in_tempdir(
            hcl,
            &[
                ("infra/db/main.tf", ""),
                (
                    "k8s/ns/ns.yaml",
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
                ),
                ("k8s/apps/.keep", ""),
                ("k8s/web/.keep", ""),
            ],
        );
        let layout = layout(&config, dir.path(), &Tools::default());
        let carriers: Vec<&str> = layout
            .published
            .iter()
            .map(|p| p.carrier.as_str())
            .collect();
        assert_eq!(carriers, ["ns", "outputs.db"]);
        let deps = |name: &str| {
            layout
                .workloads
                .iter()
                .find(|w| w.name == name)
                .unwrap()
                .depends_on
                .clone()
        };
        assert_eq!(deps("ns"), ["db"]);
        assert_eq!(deps("outputs.db"), ["db", "ns"]);
        assert_eq!(deps("apps"), ["db", "ns", "outputs.db"]);
        assert_eq!(deps("web"), ["db", "ns", "outputs.db"]);
        assert!(Layout::is_own_carrier(
            layout
                .workloads
                .iter()
                .find(|w| w.name == "outputs.db")
                .unwrap()
        ));
        // Selecting `web` alone brings the workloads carrying what it needs.
        let names: Vec<String> = layout
            .select(&["web".to_owned()], false)
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["web", "outputs.db"]);
    }
}
