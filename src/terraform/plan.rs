//! Terraform plan JSON: read `terraform show -json <planfile>` output and
//! classify what the plan would do.
//!
//! Start with [`parse_file`], [`parse_reader`] or [`parse_slice`]; each returns
//! a [`Plan`]. A plan holds the resource changes that do something
//! ([`Plan::changes`]), changes made outside Terraform ([`Plan::drift`]),
//! output changes, whether planning errored, and failed checks.
//! [`Action::is_destructive`] and [`ResourceChange::reason`] are what the
//! approval gate shows; [`Plan::summary`] is the per-stack count for reports.
//!
//! Plans of monorepos run to hundreds of megabytes, almost all of it bulk a
//! classifier never looks at (`planned_values`, `prior_state`,
//! `configuration`, and the before/after values of creates and deletes). The
//! reader therefore streams (`read` drives it): it reads the input in large
//! chunks, skips bulk with its own validating scanner (`scan`), which also
//! notes where each resource change's keys are, and reads the few members a
//! resource change needs straight from its bytes, leaving anything unusual
//! to serde (`raw`); values are never built. Only updates and replaces are
//! looked at again, from their bytes, for attribute diffs (`diff`). A large
//! file gets two helper threads: one reads ahead while the scanner skips
//! `planned_values`, one converts resource changes while the scanner reads
//! on. Memory stays at a few chunks and batches plus the kept results,
//! whatever the file size.
//!
//! Sensitive values are never rendered: anything Terraform marks sensitive
//! (`before_sensitive`/`after_sensitive`, or an output's sensitivity) becomes
//! [`Rendered::Sensitive`]. Plans older than format 0.2 carry no marks on
//! resource values, so their attribute values are all shown as sensitive.
//!
//! Format versions 0.x and 1.x are read; fields added by later 1.x versions
//! are ignored, so newer Terraform keeps working.

mod diff;
mod raw;
mod read;
mod scan;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

/// Parses plan JSON from a stream, such as the stdout of
/// `terraform show -json`.
///
/// The reader is consumed in large chunks, so it needs no buffering of its
/// own.
///
/// # Errors
///
/// See [`PlanError`]: invalid JSON (with line and column), input that is not
/// a plan, an unsupported format version, unknown change actions, or a read
/// failure.
pub fn parse_reader<R: Read>(reader: R) -> Result<Plan, PlanError> {
    read::parse(reader, None)
}

/// Parses a plan JSON file without loading it into memory.
///
/// # Errors
///
/// As [`parse_reader`]; I/O errors name `path`.
pub fn parse_file(path: &Path) -> Result<Plan, PlanError> {
    // No BufReader: the scanner already reads in large chunks.
    let file = File::open(path).map_err(|source| PlanError::Io {
        path: Some(path.to_path_buf()),
        source,
    })?;
    read::parse_file(file, path)
}

/// Parses plan JSON held in memory.
///
/// # Errors
///
/// As [`parse_reader`].
pub fn parse_slice(bytes: &[u8]) -> Result<Plan, PlanError> {
    read::parse(bytes, None)
}

/// One root-module output as Terraform's state holds it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StateOutput {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

/// The root module's outputs as the plan's prior state holds them: what
/// Terraform's state says now (refreshed by the plan), `None` when there is
/// no state yet (the stack was never applied).
///
/// This reads values, sensitive ones included, so it is kept apart from
/// [`parse_file`], whose results are printed: what it returns goes into
/// manifests and the cluster, never into a report. The file is streamed;
/// everything but `prior_state.values.outputs` is skipped unbuilt.
///
/// # Errors
///
/// Unreadable or invalid JSON.
pub fn prior_outputs(
    path: &Path,
) -> Result<Option<std::collections::BTreeMap<String, StateOutput>>, PlanError> {
    use std::collections::BTreeMap;
    #[derive(Deserialize)]
    struct Top {
        prior_state: Option<Prior>,
    }
    #[derive(Deserialize)]
    struct Prior {
        values: Option<Values>,
    }
    #[derive(Deserialize)]
    struct Values {
        #[serde(default)]
        outputs: BTreeMap<String, StateOutput>,
    }
    let file = File::open(path).map_err(|source| PlanError::Io {
        path: Some(path.to_path_buf()),
        source,
    })?;
    let top: Top = serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, file))
        .map_err(|e| PlanError::Json {
            line: e.line() as u64,
            column: e.column() as u64,
            // Not serde_json's message: it may quote a value.
            message: match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "prior_state.values.outputs does not have the shape of an output",
            }
            .to_owned(),
        })?;
    Ok(top
        .prior_state
        .map(|p| p.values.map(|v| v.outputs).unwrap_or_default()))
}

/// What one Terraform plan would do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The plan JSON format version, e.g. `"1.2"`.
    pub format_version: String,
    /// The Terraform version that made the plan, when recorded.
    pub terraform_version: Option<String>,
    /// Resource changes, in Terraform's order, without plain no-ops (a no-op
    /// that also moves or imports is kept).
    pub changes: Vec<ResourceChange>,
    /// How many plain no-ops were left out of `changes`.
    pub unchanged: usize,
    /// Objects changed outside Terraform since the last apply
    /// (`resource_drift`).
    pub drift: Vec<ResourceChange>,
    /// Root module output changes, without no-ops, in name order.
    pub outputs: Vec<OutputChange>,
    /// Planning failed; the plan is incomplete and cannot be applied.
    pub errored: bool,
    /// Checks (preconditions, postconditions, check blocks) whose status is
    /// `fail` or `error`.
    pub failed_checks: Vec<FailedCheck>,
}

impl Plan {
    /// Shows as `(sensitive value)` every attribute and output value that
    /// holds one of `secrets`: copies of sensitive values Terraform does
    /// not mark, and values strata knows are secret (decrypted from SOPS).
    pub fn redact(&mut self, secrets: &std::collections::BTreeSet<String>) {
        if secrets.is_empty() {
            return;
        }
        for change in self.changes.iter_mut().chain(self.drift.iter_mut()) {
            for attribute in &mut change.attributes {
                diff::redact(&mut attribute.before, secrets);
                diff::redact(&mut attribute.after, secrets);
            }
        }
        for output in &mut self.outputs {
            diff::redact(&mut output.before, secrets);
            diff::redact(&mut output.after, secrets);
        }
    }

    /// Counts changes by kind; imports and moves are counted on their own,
    /// independently of the action they come with.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Delete => summary.delete += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete | Action::CreateThenForget => {
                    summary.replace += 1;
                }
                Action::Forget => summary.forget += 1,
                Action::NoOp | Action::Read => {}
            }
            if change.is_import() {
                summary.import += 1;
            }
            if change.is_move() {
                summary.r#move += 1;
            }
        }
        summary
    }

    /// Whether applying the plan would change resources or root outputs.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.outputs.is_empty()
    }

    /// Whether Terraform found objects changed outside Terraform.
    pub fn has_drift(&self) -> bool {
        !self.drift.is_empty()
    }

    /// How many resource changes delete, replace or forget an object.
    pub fn destructive_count(&self) -> usize {
        self.changes.iter().filter(|c| c.destructive()).count()
    }
}

/// Change counts of one plan, as in the JSON report's `summary`.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// All replace orders, including create-then-forget.
    pub replace: usize,
    pub forget: usize,
    pub import: usize,
    #[serde(rename = "move")]
    pub r#move: usize,
}

impl std::ops::AddAssign for Summary {
    fn add_assign(&mut self, other: Summary) {
        self.create += other.create;
        self.update += other.update;
        self.delete += other.delete;
        self.replace += other.replace;
        self.forget += other.forget;
        self.import += other.import;
        self.r#move += other.r#move;
    }
}

/// What Terraform will do to one object.
///
/// Ordered roughly by how much the action disturbs the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    NoOp,
    Read,
    Create,
    Update,
    /// Replace, destroying the old object first (the default).
    DeleteThenCreate,
    /// Replace with `create_before_destroy`.
    CreateThenDelete,
    /// Replace where the old object is left alone but dropped from state
    /// (`lifecycle { destroy = false }`, Terraform 1.7+).
    CreateThenForget,
    Delete,
    /// Drop from state without destroying (`removed` block, Terraform 1.7+).
    Forget,
}

impl Action {
    /// Reads a plan's `actions` array; `None` for a combination Terraform
    /// does not produce.
    pub fn from_actions<S: AsRef<str>>(actions: &[S]) -> Option<Action> {
        let action = match actions {
            [one] => match one.as_ref() {
                "no-op" => Action::NoOp,
                "read" => Action::Read,
                "create" => Action::Create,
                "update" => Action::Update,
                "delete" => Action::Delete,
                "forget" => Action::Forget,
                _ => return None,
            },
            [first, second] => match (first.as_ref(), second.as_ref()) {
                ("delete", "create") => Action::DeleteThenCreate,
                ("create", "delete") => Action::CreateThenDelete,
                ("create", "forget") => Action::CreateThenForget,
                _ => return None,
            },
            _ => return None,
        };
        Some(action)
    }

    /// The name used in reports; every replace order is `"replace"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::DeleteThenCreate | Action::CreateThenDelete | Action::CreateThenForget => {
                "replace"
            }
            Action::Delete => "delete",
            Action::Forget => "forget",
        }
    }

    /// The symbol `terraform plan` prints in front of the address.
    pub fn glyph(self) -> &'static str {
        match self {
            Action::NoOp => "",
            Action::Read => "<=",
            Action::Create => "+",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::CreateThenForget => "+/.",
            Action::Delete => "-",
            Action::Forget => ".",
        }
    }

    /// Whether the action destroys an object or drops it from management:
    /// delete, every replace, and forget.
    pub fn is_destructive(self) -> bool {
        self.is_replace() || matches!(self, Action::Delete | Action::Forget)
    }

    /// Whether the action replaces the object, in any order.
    pub fn is_replace(self) -> bool {
        matches!(
            self,
            Action::DeleteThenCreate | Action::CreateThenDelete | Action::CreateThenForget
        )
    }

    /// Updates and replaces are the actions whose attribute diffs are kept.
    fn has_attribute_diff(self) -> bool {
        self == Action::Update || self.is_replace()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Whether a resource is managed or a data source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Managed,
    Data,
}

/// One entry of `resource_changes` or `resource_drift`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceChange {
    /// Full instance address, e.g. `module.db.aws_db_instance.main[0]`.
    pub address: String,
    /// The address before a `moved` block or refactoring moved it.
    pub previous_address: Option<String>,
    /// The containing module instance, e.g. `module.db`; `None` for root.
    pub module_address: Option<String>,
    pub mode: Mode,
    pub resource_type: String,
    pub name: String,
    /// The deposed object key, when the change is about a deposed object
    /// left over from an interrupted create-before-destroy.
    pub deposed: Option<String>,
    pub action: Action,
    /// Terraform's reason, e.g. `replace_because_cannot_update` or
    /// `delete_because_no_resource_config`.
    pub action_reason: Option<String>,
    /// Attributes whose change forces the replacement, rendered like
    /// Terraform does: `triggers_replace`, `tags["Name"]`, `ebs[0].size`.
    pub replace_paths: Vec<String>,
    /// The import ID, or the import identity as compact JSON, when the
    /// change imports an existing object.
    pub importing: Option<String>,
    /// Changed attributes, for updates and replaces only.
    pub attributes: Vec<AttributeChange>,
}

impl ResourceChange {
    /// Whether the object was moved to this address.
    pub fn is_move(&self) -> bool {
        self.previous_address.is_some()
    }

    /// Whether the change imports an existing object.
    pub fn is_import(&self) -> bool {
        self.importing.is_some()
    }

    /// Whether the change deletes, replaces or forgets the object.
    pub fn destructive(&self) -> bool {
        self.action.is_destructive()
    }

    /// Why a destructive change happens: Terraform's `action_reason`, and for
    /// replaces the attributes that force it. `None` for a non-destructive
    /// change, or when the plan gives no reason.
    pub fn reason(&self) -> Option<String> {
        if !self.destructive() {
            return None;
        }
        let paths = if self.action.is_replace() && !self.replace_paths.is_empty() {
            Some(format!("because of {}", self.replace_paths.join(", ")))
        } else {
            None
        };
        match (&self.action_reason, paths) {
            (Some(reason), Some(paths)) => Some(format!("{reason} ({paths})")),
            (Some(reason), None) => Some(reason.clone()),
            (None, paths) => paths,
        }
    }
}

/// One changed attribute of an update or replace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttributeChange {
    /// Attribute path: a top-level attribute, or one level into an object or
    /// a same-length list (`tags["Name"]`, `input.size`, `ports[2]`).
    pub path: String,
    pub before: Rendered,
    pub after: Rendered,
    /// The attribute is, is inside, or contains one of the replace paths.
    pub forces_replacement: bool,
}

/// A value as it may be shown to people: never a sensitive one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    /// No value: the attribute is null or not set.
    Absent,
    /// Compact JSON. Sensitive or unknown parts of a larger value appear in
    /// it as a bare `(sensitive value)` or `(known after apply)`.
    Value(String),
    /// Marked sensitive; the value is withheld.
    Sensitive,
    /// Known only after apply.
    Unknown,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rendered::Absent => "null",
            Rendered::Value(text) => text,
            Rendered::Sensitive => "(sensitive value)",
            Rendered::Unknown => "(known after apply)",
        })
    }
}

/// Serialized as its display text, and `Absent` as `null`.
impl Serialize for Rendered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Rendered::Absent => serializer.serialize_none(),
            other => serializer.collect_str(other),
        }
    }
}

/// A change to a root module output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputChange {
    pub name: String,
    pub action: Action,
    /// Any part of the output is sensitive; then `before` and `after` are
    /// both [`Rendered::Sensitive`] (or absent).
    pub sensitive: bool,
    pub before: Rendered,
    pub after: Rendered,
}

/// A check (condition or `check` block) that failed or could not be
/// evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedCheck {
    /// The checked object, e.g. `test_instance.foo` or `output.url`.
    pub address: String,
    /// `fail` or `error`.
    pub status: String,
    /// Problem messages; prefixed with the instance address when it differs
    /// from `address`.
    pub messages: Vec<String>,
}

/// Why plan JSON could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The input is not valid JSON, or a plan field has the wrong shape.
    #[error(
        "invalid plan JSON at line {line}, column {column}: {message}; pass the output of `terraform show -json <planfile>` as Terraform wrote it"
    )]
    Json {
        line: u64,
        column: u64,
        message: String,
    },
    /// Valid input, but not plan JSON (state JSON, a binary plan file, ...).
    #[error("not Terraform plan JSON: {reason}")]
    NotAPlan { reason: String },
    /// A plan format this version of strata does not understand.
    #[error(
        "unsupported plan JSON format_version {version:?}: strata reads format versions 0.x and 1.x; upgrade strata"
    )]
    UnsupportedFormat { version: String },
    /// A resource change whose `actions` Terraform is not known to produce.
    #[error(
        "unknown change actions {actions:?} for {address}: this strata version does not know them; upgrade strata"
    )]
    UnknownActions {
        address: String,
        actions: Vec<String>,
    },
    /// Reading the input failed.
    #[error("cannot read plan JSON{}", display_path(.path.as_deref()))]
    Io {
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
}

fn display_path(path: Option<&Path>) -> String {
    path.map(|p| format!(" from {}", p.display()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
