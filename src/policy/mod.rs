//! Policies in Rego, evaluated in-process with regorus on every plan.
//!
//! A `policy "name" { path = "policy" }` block names a folder: its `.rego`
//! files, read recursively, are the policy, and its JSON and YAML files are
//! data, nested by their folder as `opa eval -d` nests them (`iam/roles.json`
//! is `data.iam`). The convention is conftest's: in each namespace
//! (`package main` unless `namespaces` says otherwise), the rules
//! `deny`/`violation` (and `deny_*`, `violation_*`) stop the run, `warn`
//! (and `warn_*`) only say something, and strata's own `approve` (and
//! `approve_*`) send an item through the approval gate. Each rule is a set
//! of messages: strings, or objects with `msg` (and, to name the item,
//! `stack` or `workload`, and `address`). A rule that is plainly `true`
//! counts as one message, its name.
//!
//! The input is one document for both layers ([`input`]); its schema is in
//! docs/policy.md.

mod input;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use input::{
    Input, Source, StackInput, WorkloadChange, WorkloadInput, resource_changes, workload_changes,
};

use crate::config;

/// What a policy said about a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nothing is applied.
    Deny,
    /// Needs a person's approval.
    Approve,
    /// Shown; the run goes on.
    Warn,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Deny => "deny",
            Rule::Approve => "approve",
            Rule::Warn => "warn",
        }
    }

    /// The rule a conftest-style rule name stands for.
    fn of(name: &str) -> Option<Rule> {
        let (head, _) = name.split_once('_').unwrap_or((name, ""));
        match head {
            "deny" | "violation" => Some(Rule::Deny),
            "warn" => Some(Rule::Warn),
            "approve" => Some(Rule::Approve),
            _ => None,
        }
    }
}

/// One message of one rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    /// The `policy` block.
    pub policy: String,
    pub message: String,
    /// The stack the message names (`stack` in the message object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The workload the message names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The resource or object the message names (`address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Finding {
    /// `stack net: aws_iam_role.ci`, `workload web: Deployment/web/api`,
    /// or empty for a message about the run.
    pub fn item(&self) -> String {
        let owner = match (&self.stack, &self.workload) {
            (Some(s), _) => format!("stack {s}"),
            (None, Some(w)) => format!("workload {w}"),
            (None, None) => String::new(),
        };
        match (&self.address, owner.is_empty()) {
            (Some(a), true) => a.clone(),
            (Some(a), false) => format!("{owner}: {a}"),
            (None, _) => owner,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let item = self.item();
        if item.is_empty() {
            write!(f, "policy {}: {}", self.policy, self.message)
        } else {
            write!(f, "policy {}: {item}: {}", self.policy, self.message)
        }
    }
}

/// A policy that cannot be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Broken Rego.
    #[error("{file}:{line}:{column}: {message} (policy {policy:?})")]
    Compile {
        policy: String,
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A data file that is not JSON or YAML, or that collides with another.
    #[error("policy {policy:?}: {file}: {message}")]
    Data {
        policy: String,
        file: String,
        message: String,
    },
    #[error(
        "policy {policy:?}: no .rego file under {path}; put the policies there, or fix the policy's path in strata.hcl"
    )]
    Empty { policy: String, path: String },
    #[error(
        "policy {policy:?}: no Rego file under {path} has `package {namespace}`; name the package there, or list the packages in the policy's `namespaces`"
    )]
    NoPackage {
        policy: String,
        path: String,
        namespace: String,
    },
    #[error("policy {policy:?}: evaluating data.{namespace} failed: {message}")]
    Eval {
        policy: String,
        namespace: String,
        message: String,
    },
    #[error(
        "policy {policy:?}: {rule} in package {namespace} is {found}; make it a set of messages (`{rule} contains msg if {{ ... }}`)"
    )]
    Shape {
        policy: String,
        namespace: String,
        rule: String,
        found: String,
    },
}

impl PolicyError {
    /// The `policy` block the error is in; `None` for a file that could
    /// not be read.
    pub fn policy(&self) -> Option<&str> {
        match self {
            PolicyError::Read { .. } => None,
            PolicyError::Compile { policy, .. }
            | PolicyError::Data { policy, .. }
            | PolicyError::Empty { policy, .. }
            | PolicyError::NoPackage { policy, .. }
            | PolicyError::Eval { policy, .. }
            | PolicyError::Shape { policy, .. } => Some(policy),
        }
    }
}

/// Every policy of a configuration, compiled.
#[derive(Clone, Default)]
pub struct Policies {
    sets: Vec<Set>,
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.sets.iter().map(|s| &s.name))
            .finish()
    }
}

#[derive(Clone)]
struct Set {
    name: String,
    /// Each namespace, with the rules it declares that count.
    namespaces: Vec<(String, Vec<String>)>,
    input: config::PolicyInput,
    engine: regorus::Engine,
}

/// Reads and compiles the policies of `policies` in the tree at `root`.
///
/// # Errors
/// Every policy that cannot be read or compiled, each with its file and
/// line.
pub fn load(root: &Path, policies: &[config::Policy]) -> Result<Policies, Vec<PolicyError>> {
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for policy in policies {
        match load_one(root, policy) {
            Ok(set) => sets.push(set),
            Err(mut e) => problems.append(&mut e),
        }
    }
    if problems.is_empty() {
        Ok(Policies { sets })
    } else {
        Err(problems)
    }
}

fn load_one(root: &Path, policy: &config::Policy) -> Result<Set, Vec<PolicyError>> {
    let mut files = Vec::new();
    walk(root, &policy.path, &mut files).map_err(|e| vec![e])?;
    let mut engine = regorus::Engine::new();
    engine.set_strict_builtin_errors(true);
    engine.set_rego_v0(policy.rego_v0);
    let mut problems = Vec::new();
    let mut packages = Vec::new();
    // The rules each namespace declares that count: conftest's names.
    let mut rules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut data = serde_json::Map::new();
    for file in &files {
        let full = root.join(file);
        let text = std::fs::read_to_string(&full).map_err(|source| {
            vec![PolicyError::Read {
                path: full.clone(),
                source,
            }]
        })?;
        if file.ends_with(".rego") {
            let names = rule_names(&text);
            match engine.add_policy(file.clone(), text) {
                Ok(package) => {
                    let declared = rules.entry(package.clone()).or_default();
                    for name in names {
                        if !declared.contains(&name)
                            && engine
                                .has_declared_rule_rooted_at(file, &name)
                                .unwrap_or(false)
                        {
                            declared.push(name);
                        }
                    }
                    packages.push(package);
                }
                Err(e) => problems.push(compile_error(&policy.name, file, &e.to_string())),
            }
            continue;
        }
        let parsed: Result<Value, String> = if file.ends_with(".json") {
            serde_json::from_str(&text).map_err(|e| format!("line {}: {e}", e.line()))
        } else {
            serde_saphyr::from_str(&text).map_err(|e| e.to_string())
        };
        let value = match parsed {
            Ok(Value::Null) => continue,
            Ok(v) => v,
            Err(message) => {
                problems.push(PolicyError::Data {
                    policy: policy.name.clone(),
                    file: file.clone(),
                    message: format!("not valid data: {message}"),
                });
                continue;
            }
        };
        let relative = Path::new(file)
            .parent()
            .and_then(|p| p.strip_prefix(&policy.path).ok())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let keys: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let Err(message) = merge_at(&mut data, &keys, value) {
            problems.push(PolicyError::Data {
                policy: policy.name.clone(),
                file: file.clone(),
                message,
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if packages.is_empty() {
        return Err(vec![PolicyError::Empty {
            policy: policy.name.clone(),
            path: policy.path.clone(),
        }]);
    }
    for namespace in &policy.namespaces {
        if !packages.iter().any(|p| *p == format!("data.{namespace}")) {
            problems.push(PolicyError::NoPackage {
                policy: policy.name.clone(),
                path: policy.path.clone(),
                namespace: namespace.clone(),
            });
        }
    }
    let data = regorus::Value::from_json_str(&Value::Object(data).to_string()).map_err(|e| {
        vec![PolicyError::Data {
            policy: policy.name.clone(),
            file: policy.path.clone(),
            message: e.to_string(),
        }]
    })?;
    if let Err(e) = engine.add_data(data) {
        problems.push(PolicyError::Data {
            policy: policy.name.clone(),
            file: policy.path.clone(),
            message: e.to_string(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Compile now, so that an unknown function or a conflicting rule is
    // found by `validate` rather than halfway through a run.
    let mut check = engine.clone();
    check.set_input(regorus::Value::new_object());
    for namespace in &policy.namespaces {
        if let Err(e) = check.eval_query(format!("data.{namespace}"), false) {
            let message = e.to_string();
            // Only compile errors count here: with an empty input, rules
            // may fail at run time in ways a real input would not.
            if let Some(file) = files
                .iter()
                .find(|f| message.contains(&format!("--> {f}:")))
            {
                problems.push(compile_error(&policy.name, file, &message));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let namespaces = (policy.namespaces.iter())
        .map(|n| {
            let mut names = rules.remove(&format!("data.{n}")).unwrap_or_default();
            names.sort();
            (n.clone(), names)
        })
        .collect();
    Ok(Set {
        name: policy.name.clone(),
        namespaces,
        input: policy.input,
        engine,
    })
}

/// The identifiers of a Rego source that could be rules that count
/// (`deny`, `warn_tags`, ...); which of them a module declares is asked
/// of the compiled policy.
fn rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| Rule::of(word).is_some())
        .map(ToOwned::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// regorus's error, which points at the source with a caret, as one line:
/// where, and what.
fn compile_error(policy: &str, file: &str, text: &str) -> PolicyError {
    let at = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|at| at.strip_prefix(file)?.strip_prefix(':'))
        .map(|at| {
            let mut numbers = at
                .split(':')
                .map(|n| n.trim().parse::<usize>().unwrap_or(0));
            (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
        });
    let message = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(|| text.trim().to_owned(), ToOwned::to_owned);
    let message = if message.contains("keyword is required") {
        format!(
            "{message}; this is Rego v1 (OPA 1.0) syntax: write `deny contains msg if {{ ... }}`, or set rego_version = \"v0\" on the policy"
        )
    } else {
        message
    };
    let (line, column) = at.unwrap_or((0, 0));
    PolicyError::Compile {
        policy: policy.to_owned(),
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// Merges `value` into `data` under `keys`; objects merge, anything else
/// must not collide.
fn merge_at(
    data: &mut serde_json::Map<String, Value>,
    keys: &[String],
    value: Value,
) -> Result<(), String> {
    let mut target = data;
    for key in keys {
        let slot = target
            .entry(key.clone())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let Value::Object(next) = slot else {
            return Err(format!(
                "data.{} is already set to a value that is not an object",
                keys.join(".")
            ));
        };
        target = next;
    }
    let Value::Object(object) = value else {
        return Err(
            "data files hold an object at the top (its keys become data's); wrap the value in one"
                .to_owned(),
        );
    };
    for (key, value) in object {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => {
                merge_at(existing, &[], Value::Object(more))?;
            }
            (Some(_), _) => {
                return Err(format!(
                    "data.{} is set by another data file too; keep one",
                    keys.iter()
                        .chain([&key])
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(".")
                ));
            }
            (None, value) => {
                target.insert(key, value);
            }
        }
    }
    Ok(())
}

/// The policy and data files under `dir`, repository-relative, sorted.
/// Symlinks are not followed: a policy comes from the commit.
fn walk(root: &Path, dir: &str, out: &mut Vec<String>) -> Result<(), PolicyError> {
    let full = root.join(dir);
    let entries = std::fs::read_dir(&full).map_err(|source| PolicyError::Read {
        path: full.clone(),
        source,
    })?;
    let mut entries: Vec<(String, std::fs::FileType)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().ok()?)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in entries {
        if name.starts_with('.') {
            continue;
        }
        let path = format!("{dir}/{name}");
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file()
            && [".rego", ".json", ".yaml", ".yml"]
                .iter()
                .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
    Ok(())
}

impl Policies {
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Evaluates every policy on `input`: the findings, denials first.
    ///
    /// # Errors
    /// A policy that fails at run time (a builtin's error, a conflict
    /// between rule values) or whose rules are not sets of messages.
    pub fn evaluate(&self, input: &Input) -> Result<Vec<Finding>, PolicyError> {
        // The documents of each kind of input, made once for every set
        // that reads that kind.
        let mut made: Vec<(config::PolicyInput, Vec<(regorus::Value, About)>)> = Vec::new();
        let mut findings = Vec::new();
        for set in &self.sets {
            let at = match made.iter().position(|(kind, _)| *kind == set.input) {
                Some(at) => at,
                None => {
                    made.push((set.input, set.documents(input)?));
                    made.len() - 1
                }
            };
            let documents = &made[at].1;
            let mut engine = set.engine.clone();
            for (document, about) in documents.iter() {
                for mut found in set.evaluate(&mut engine, document)? {
                    if found.stack.is_none() && found.workload.is_none() {
                        found.stack.clone_from(&about.stack);
                        found.workload.clone_from(&about.workload);
                        if found.address.is_none() {
                            found.address.clone_from(&about.address);
                        }
                    }
                    findings.push(found);
                }
            }
        }
        findings.sort();
        findings.dedup();
        Ok(findings)
    }
}

#[cfg(test)]
impl Policies {
    /// Every set's findings on one document, whatever its `input`.
    fn evaluate_json(&self, document: &Value) -> Result<Vec<Finding>, PolicyError> {
        let mut findings = Vec::new();
        for set in &self.sets {
            let document = set.regorus_value(document)?;
            findings.extend(set.evaluate(&mut set.engine.clone(), &document)?);
        }
        findings.sort();
        Ok(findings)
    }
}

/// What a document is about, for messages that do not say.
#[derive(Default)]
struct About {
    stack: Option<String>,
    workload: Option<String>,
    address: Option<String>,
}

impl Set {
    /// The documents this set's `input` asks for, each with the item it is
    /// about.
    fn documents(&self, input: &Input) -> Result<Vec<(regorus::Value, About)>, PolicyError> {
        let documents: Vec<(Value, About)> = match self.input {
            config::PolicyInput::Run => vec![(
                serde_json::to_value(input).unwrap_or_default(),
                About::default(),
            )],
            config::PolicyInput::Terraform => (input.stacks.iter())
                .filter(|s| !s.resource_changes.is_empty())
                .map(|s| {
                    let document = serde_json::json!({
                        "resource_changes": s.resource_changes,
                        "stack": {"name": s.name, "path": s.path},
                    });
                    let about = About {
                        stack: Some(s.name.clone()),
                        ..About::default()
                    };
                    (document, about)
                })
                .collect(),
            config::PolicyInput::Kubernetes => (input.workloads.iter())
                .flat_map(|w| w.changes.iter().map(move |c| (w, c)))
                .filter_map(|(w, c)| {
                    let about = About {
                        workload: Some(w.name.clone()),
                        address: Some(c.address.clone()),
                        ..About::default()
                    };
                    Some((c.desired.clone()?, about))
                })
                .collect(),
        };
        (documents.into_iter())
            .map(|(document, about)| Ok((self.regorus_value(&document)?, about)))
            .collect()
    }

    /// `document` as regorus holds it.
    fn regorus_value(&self, document: &Value) -> Result<regorus::Value, PolicyError> {
        regorus::Value::from_json_str(&document.to_string()).map_err(|e| PolicyError::Eval {
            policy: self.name.clone(),
            namespace: String::new(),
            message: e.to_string(),
        })
    }

    /// The findings of this set's namespaces on one input document.
    fn evaluate(
        &self,
        engine: &mut regorus::Engine,
        input: &regorus::Value,
    ) -> Result<Vec<Finding>, PolicyError> {
        engine.set_input(input.clone());
        let mut findings = Vec::new();
        for (namespace, rules) in &self.namespaces {
            for name in rules {
                let eval_error = |message: String| PolicyError::Eval {
                    policy: self.name.clone(),
                    namespace: namespace.clone(),
                    message,
                };
                // Each rule on its own: a package's whole document may
                // leave out complete rules.
                let value = engine
                    .eval_rule(format!("data.{namespace}.{name}"))
                    .map_err(|e| eval_error(e.to_string()))?;
                if value == regorus::Value::Undefined {
                    continue;
                }
                let value: Value = value
                    .to_json_str()
                    .map_err(|e| e.to_string())
                    .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
                    .map_err(eval_error)?;
                let Some(rule) = Rule::of(name) else {
                    continue;
                };
                let shape = |found: &str| PolicyError::Shape {
                    policy: self.name.clone(),
                    namespace: namespace.clone(),
                    rule: name.clone(),
                    found: found.to_owned(),
                };
                let messages = match value {
                    Value::Array(messages) => messages,
                    Value::Bool(true) => vec![Value::String(name.clone())],
                    Value::Bool(false) => Vec::new(),
                    Value::Object(_) => return Err(shape("an object")),
                    Value::String(_) => return Err(shape("a string")),
                    _ => return Err(shape("neither a set nor a boolean")),
                };
                for message in messages {
                    findings.push(finding(rule, &self.name, message));
                }
            }
        }
        Ok(findings)
    }
}

/// A message as a finding: a string, or an object with `msg` (and
/// optionally what it is about).
fn finding(rule: Rule, policy: &str, message: Value) -> Finding {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let field = |object: &serde_json::Map<String, Value>, key: &str| {
        object.get(key).map(text).filter(|s| !s.is_empty())
    };
    match &message {
        Value::Object(object) => Finding {
            rule,
            policy: policy.to_owned(),
            message: field(object, "msg").unwrap_or_else(|| message.to_string()),
            stack: field(object, "stack"),
            workload: field(object, "workload"),
            address: field(object, "address"),
        },
        other => Finding {
            rule,
            policy: policy.to_owned(),
            message: text(other),
            stack: None,
            workload: None,
            address: None,
        },
    }
}

/// Sends what `approve` rules name through the gate: an item the gate
/// already holds gets the policy's message added; anything else becomes
/// an item of its own (a message naming no stack or workload is an item
/// of the run, addressed `policy <name>`).
pub fn approvals(findings: &[Finding], input: &Input, items: &mut Vec<crate::approval::Item>) {
    for f in findings.iter().filter(|f| f.rule == Rule::Approve) {
        let said = format!("policy {}: {}", f.policy, f.message);
        let stack = f.stack.clone().unwrap_or_default();
        let workload = if stack.is_empty() {
            f.workload.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let address = match &f.address {
            Some(a) if !stack.is_empty() || !workload.is_empty() => a.clone(),
            _ => format!("policy {}", f.policy),
        };
        if let Some(item) = items
            .iter_mut()
            .find(|i| i.stack == stack && i.workload == workload && i.address == address)
        {
            item.policy = Some(match item.policy.take() {
                Some(before) if before != said && !before.contains(&said) => {
                    format!("{before}; {said}")
                }
                Some(before) => before,
                None => said,
            });
            continue;
        }
        items.push(crate::approval::Item {
            action: input.action(&stack, &workload, &address),
            stack,
            workload,
            address,
            destructive: false,
            reason: None,
            protected_by: None,
            needs_person: false,
            policy: Some(said),
        });
    }
}

/// The denials among `findings`.
pub fn denials(findings: &[Finding]) -> impl Iterator<Item = &Finding> {
    findings.iter().filter(|f| f.rule == Rule::Deny)
}

/// Evaluates the run's `policies` on one stack or workload planned again
/// in the middle of an apply (`what` names it in the log): adds what they
/// want approved to `items`, logs their warnings, and returns their
/// denials, each as `policy p: item: message`.
pub fn evaluate_again(
    policies: &Policies,
    input: &Input,
    items: &mut Vec<crate::approval::Item>,
    what: &str,
) -> Result<Vec<String>, String> {
    let findings = policies.evaluate(input).map_err(|e| e.to_string())?;
    approvals(&findings, input, items);
    let mut denials = Vec::new();
    for f in &findings {
        match f.rule {
            Rule::Deny => denials.push(f.to_string()),
            Rule::Warn => tracing::warn!("{what}, planned again: {f}"),
            Rule::Approve => {}
        }
    }
    Ok(denials)
}

/// The findings of each kind, for reports: denials, approvals, warnings.
pub fn count(findings: &[Finding]) -> BTreeMap<Rule, usize> {
    let mut counts = BTreeMap::new();
    for f in findings {
        *counts.entry(f.rule).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
