//! The configuration model: what `strata.hcl` (or discovery) says about the
//! repository, already validated.
//!
//! Paths are repository-relative, `/`-separated and normalized (`.` for the
//! repository root), so they can be compared and joined without surprises.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default for [`TerraformSettings::parallelism`]: as many stacks at once
/// as the machine has CPUs (as the process may use them), since a
/// Terraform command is mostly CPU.
pub fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(4, std::num::NonZero::get)
}
/// Default for [`TerraformSettings::lock_timeout`].
pub const DEFAULT_LOCK_TIMEOUT: &str = "5m";
/// Default for [`Workload::timeout`].
pub const DEFAULT_WORKLOAD_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A loaded and validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub origin: Origin,
    pub terraform: TerraformSettings,
    /// In file order (discovery: sorted by path).
    pub stacks: Vec<Stack>,
    /// In file order (discovery: sorted by path).
    pub workloads: Vec<Workload>,
    pub outputs: Vec<Outputs>,
    pub approval: Approval,
    pub notify: Vec<Notify>,
    /// In file order.
    pub policies: Vec<Policy>,
}

/// Where the configuration came from; reports say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Read from `strata.hcl`.
    File,
    /// Derived from the conventional layout (`infra/*`, `k8s/*`, ...).
    Discovered,
}

/// The `terraform { }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerraformSettings {
    /// `terraform` or `tofu` (name or path); `None` means the first of them on PATH.
    pub binary: Option<String>,
    /// How many stacks are planned at once; at least 1.
    pub parallelism: usize,
    /// Passed to `-lock-timeout`; a duration such as `"5m"` (validated).
    pub lock_timeout: String,
}

impl Default for TerraformSettings {
    fn default() -> Self {
        TerraformSettings {
            binary: None,
            parallelism: default_parallelism(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT.to_owned(),
        }
    }
}

/// A Terraform root module, or one instance of it: several stacks may
/// share a `path` (one per environment), each with its own variables,
/// backend configuration, state and working data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stack {
    pub name: String,
    /// Repository-relative directory of the root module.
    pub path: String,
    /// `-var-file` arguments, relative to [`Stack::path`], as written.
    pub var_files: Vec<String>,
    /// `-var` values (literal HCL values as JSON).
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `-backend-config=KEY=VALUE` arguments of `terraform init`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub backend_config: BTreeMap<String, serde_json::Value>,
    /// `-backend-config=FILE` arguments, relative to [`Stack::path`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_config_files: Vec<String>,
    /// The Terraform workspace (`TF_WORKSPACE`); see
    /// docs/configuration.md for the default of stacks sharing a path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Names of stacks this one depends on.
    pub depends_on: Vec<String>,
    /// Line of the block in `strata.hcl`; 0 when discovered.
    pub line: usize,
}

impl Stack {
    /// Whether another of `stacks` has the same root module (`path`).
    pub fn shares_path(&self, stacks: &[Stack]) -> bool {
        stacks
            .iter()
            .any(|s| s.name != self.name && s.path == self.path)
    }

    /// The Terraform workspace it runs in: `workspace` when set; else,
    /// when it shares its path and its state is local, its own name (so
    /// that each environment has its own state,
    /// `terraform.tfstate.d/<name>/`); else `None`, Terraform's default.
    pub fn workspace_in(&self, shared: bool, local_state: bool) -> Option<String> {
        self.workspace
            .clone()
            .or_else(|| (shared && local_state).then(|| self.name.clone()))
    }

    /// The values of `terraform init`'s `-backend-config=` arguments: each
    /// `backend_config` entry as `KEY=VALUE`, then each file.
    pub fn backend_args(&self) -> Vec<String> {
        let mut args: Vec<String> = self
            .backend_config
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect();
        args.extend(self.backend_config_files.iter().cloned());
        args
    }

    /// The var files as normalized repository-relative paths (validation has
    /// checked that they stay inside the repository and exist).
    pub fn var_file_paths(&self) -> Vec<String> {
        self.var_files
            .iter()
            .filter_map(|file| super::path::join(&self.path, file))
            .collect()
    }

    /// The `backend_config_files` as normalized repository-relative paths.
    pub fn backend_config_file_paths(&self) -> Vec<String> {
        self.backend_config_files
            .iter()
            .filter_map(|file| super::path::join(&self.path, file))
            .collect()
    }
}

/// A set of Kubernetes manifests (plain YAML/JSON, recursive, or a kustomization).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub name: String,
    /// Repository-relative directory of the manifests.
    pub path: String,
    /// Default namespace for namespaced objects that do not set one.
    pub namespace: Option<String>,
    /// Names of stacks and workloads this one depends on.
    pub depends_on: Vec<String>,
    /// Delete objects strata applied earlier that left Git.
    pub prune: bool,
    /// Wait for objects to become healthy.
    pub wait: bool,
    /// How long to wait for health.
    pub timeout: Duration,
    /// Take over fields owned by another field manager.
    pub force_conflicts: bool,
    /// The kubeconfig context of its cluster; `None` is the run's
    /// (`--context`, else the kubeconfig's current context).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Globs of files and directories under `path` that are not manifests
    /// (with the workload's `.strataignore`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// JSON pointers of fields left to others: not drift whoever sets
    /// them, and not applied over another manager's value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_fields: Vec<String>,
    /// Line of the block in `strata.hcl`; 0 when discovered.
    pub line: usize,
}

impl Workload {
    /// A workload at `path` with every setting at its default.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        Workload {
            name: name.into(),
            path: path.into(),
            namespace: None,
            depends_on: Vec::new(),
            prune: true,
            wait: true,
            timeout: DEFAULT_WORKLOAD_TIMEOUT,
            force_conflicts: false,
            context: None,
            exclude: Vec::new(),
            ignore_fields: Vec::new(),
            line: 0,
        }
    }
}

/// Where a stack's Terraform outputs are published in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outputs {
    /// The stack whose outputs are published.
    pub stack: String,
    /// ConfigMap for non-sensitive outputs.
    pub config_map: Option<ObjectRef>,
    /// Secret for sensitive outputs.
    pub secret: Option<ObjectRef>,
    /// The kubeconfig context of the cluster they go to; `None` is the
    /// run's. A workload of that cluster that creates their namespace
    /// carries them, else one of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub line: usize,
}

/// A namespaced Kubernetes object, written `"namespace/name"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The `approval { }` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub destructive: Destructive,
    /// Address patterns (`module.db.*`, `Namespace/*`) where any change needs approval.
    pub protect: Vec<String>,
    /// Ask before every change, not only destructive or protected ones.
    #[serde(default)]
    pub ask_always: bool,
}

/// What to do with destructive changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destructive {
    /// Ask on a TTY; without one, stop and wait for `strata approve`.
    #[default]
    Prompt,
    /// Never do destructive work.
    Deny,
    /// Do it without asking (a person decided in advance).
    Allow,
}

impl Destructive {
    pub const ALL: [Destructive; 3] = [Destructive::Prompt, Destructive::Deny, Destructive::Allow];

    /// The spelling used in `strata.hcl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Destructive::Prompt => "prompt",
            Destructive::Deny => "deny",
            Destructive::Allow => "allow",
        }
    }
}

/// A `policy "name" { }` block: a folder of Rego files (and JSON or YAML
/// data) evaluated on every plan, as conftest evaluates them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub name: String,
    /// The folder, repository-relative and normalized; read recursively.
    pub path: String,
    /// The packages whose `deny`, `warn` and `approve` rules count
    /// (conftest's `--namespace`); `["main"]` unless set.
    pub namespaces: Vec<String>,
    /// `rego_version = "v0"`: the policies are written for OPA before 1.0
    /// (`deny[msg] { ... }`), as conftest's `--rego-version v0`.
    pub rego_v0: bool,
    /// What one evaluation sees as `input`.
    pub input: PolicyInput,
    pub line: usize,
}

/// A policy's `input`: the whole run, or one document per stack or per
/// object, as conftest sees a plan's JSON or a manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyInput {
    /// One document of both layers (docs/policy.md).
    #[default]
    Run,
    /// Per stack with changes: `{"resource_changes": [...], "stack": {...}}`.
    Terraform,
    /// Per object that a workload creates, updates or recreates: the
    /// object as applied.
    Kubernetes,
}

impl PolicyInput {
    pub const ALL: [PolicyInput; 3] = [
        PolicyInput::Run,
        PolicyInput::Terraform,
        PolicyInput::Kubernetes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyInput::Run => "run",
            PolicyInput::Terraform => "terraform",
            PolicyInput::Kubernetes => "kubernetes",
        }
    }
}

/// Default for [`Policy::namespaces`], as conftest's.
pub const DEFAULT_POLICY_NAMESPACE: &str = "main";

/// A `notify "name" { }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notify {
    pub name: String,
    pub webhook: Webhook,
    /// Events that trigger this notification; never empty after defaults.
    pub on: Vec<NotifyEvent>,
    pub line: usize,
}

/// Where a notification is posted.
///
/// Webhook URLs usually embed a token (Slack, Teams, ...), so `Display` and
/// `Serialize` show only scheme and host; use the field itself to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Webhook {
    /// A literal `http(s)://` URL.
    Url(String),
    /// `env:NAME`: the URL is read from this environment variable at send
    /// time, so the token need not be committed.
    Env(String),
}

impl fmt::Display for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Webhook::Url(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let host = authority.rsplit('@').next().unwrap_or_default();
                write!(f, "{scheme}://{host}/…")
            }
            Webhook::Env(name) => write!(f, "env:{name}"),
        }
    }
}

impl Serialize for Webhook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Run outcomes a notification can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Drift,
    InSync,
    Converged,
    Failed,
    ApprovalRequired,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 5] = [
        NotifyEvent::Drift,
        NotifyEvent::InSync,
        NotifyEvent::Converged,
        NotifyEvent::Failed,
        NotifyEvent::ApprovalRequired,
    ];

    /// The spelling used in `strata.hcl`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Drift => "drift",
            NotifyEvent::InSync => "in_sync",
            NotifyEvent::Converged => "converged",
            NotifyEvent::Failed => "failed",
            NotifyEvent::ApprovalRequired => "approval_required",
        }
    }
}

/// A node of the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Stack(String),
    Workload(String),
}

impl Node {
    pub fn name(&self) -> &str {
        match self {
            Node::Stack(name) | Node::Workload(name) => name,
        }
    }

    /// `"stack"` or `"workload"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Stack(_) => "stack",
            Node::Workload(_) => "workload",
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind(), self.name())
    }
}

impl Config {
    /// The stack called `name`.
    pub fn stack(&self, name: &str) -> Option<&Stack> {
        self.stacks.iter().find(|stack| stack.name == name)
    }

    /// The workload called `name`.
    pub fn workload(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|workload| workload.name == name)
    }

    /// The outputs block for stack `name`.
    pub fn outputs_for(&self, stack: &str) -> Option<&Outputs> {
        self.outputs.iter().find(|outputs| outputs.stack == stack)
    }

    /// Every stack and workload, stacks first, each in configuration order.
    pub fn nodes(&self) -> Vec<Node> {
        self.stacks
            .iter()
            .map(|stack| Node::Stack(stack.name.clone()))
            .chain(
                self.workloads
                    .iter()
                    .map(|workload| Node::Workload(workload.name.clone())),
            )
            .collect()
    }

    /// The path of a stack or workload.
    pub fn path_of(&self, node: &Node) -> Option<&str> {
        match node {
            Node::Stack(name) => self.stack(name).map(|stack| stack.path.as_str()),
            Node::Workload(name) => self.workload(name).map(|workload| workload.path.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_display_quotes_the_name() {
        assert_eq!(Node::Stack("net".into()).to_string(), "stack \"net\"");
        assert_eq!(
            Node::Workload("apps".into()).to_string(),
            "workload \"apps\""
        );
    }

    #[test]
    fn webhook_display_hides_the_token() {
        let hook = Webhook::Url("https://user:pw@hooks.example.com/T000/B000/secret?x=1".into());
        assert_eq!(hook.to_string(), "https://hooks.example.com/…");
        assert_eq!(
            serde_json::to_string(&hook).expect("serializes"),
            "\"https://hooks.example.com/…\""
        );
        assert_eq!(Webhook::Env("HOOK".into()).to_string(), "env:HOOK");
    }

    #[test]
    fn var_file_paths_are_repository_relative() {
        let stack = Stack {
            name: "net".into(),
            path: "infra/net".into(),
            var_files: vec!["prod.tfvars".into(), "../common.tfvars".into()],
            line: 1,
            ..Stack::default()
        };
        assert_eq!(
            stack.var_file_paths(),
            ["infra/net/prod.tfvars", "infra/common.tfvars"]
        );
    }
}
