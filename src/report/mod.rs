//! The report of a run: one model ([`Report`], the version-1 JSON contract
//! of DESIGN.md) and three renderers over it ([`text`], [`markdown`] and
//! JSON through serde).
//!
//! Renderers only ever see the report, never raw plans, and the report is
//! built from classified plans whose sensitive values are already replaced
//! by `(sensitive value)`: nothing secret can reach an output by a renderer
//! forgetting to redact.

pub mod markdown;
pub mod runs;
pub mod text;

use serde::Serialize;

use crate::approval::Item;
use crate::terraform::plan::{self, Plan, Rendered};

/// The report format version; bumped only on incompatible changes.
pub const VERSION: u32 = 1;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub result: Outcome,
    pub stacks: Vec<StackReport>,
    pub workloads: Vec<WorkloadReport>,
    pub destructive: usize,
    pub run_id: Option<String>,
    /// What needs (or needed) a person's approval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Item>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Why the result is what it is, when that needs saying (a denial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The plan was already shown in full at the prompt: the text report
    /// gives one summary line per stack.
    #[serde(skip)]
    pub compact: bool,
    /// For a saved plan: what the gate would do with it without a person.
    #[serde(skip)]
    pub verdict: Option<crate::approval::Verdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: Option<String>,
    pub worktree: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    InSync,
    Changes,
    Drift,
    Applied,
    ApprovalRequired,
    Denied,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackStatus {
    InSync,
    Changes,
    Applied,
    Error,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    pub name: String,
    pub path: String,
    pub status: StackStatus,
    pub changes: Vec<Change>,
    pub drift: Vec<Change>,
    pub outputs: Vec<OutputItem>,
    pub summary: plan::Summary,
    /// Resources with no change at all.
    pub unchanged: usize,
    /// Failed or errored `check` / precondition results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckItem>,
    /// Terraform marked the plan as errored (incomplete).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub errored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Planned again during apply, after these stacks it depends on were
    /// applied; the changes are those of the new plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replanned_after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub address: String,
    pub action: &'static str,
    pub destructive: bool,
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importing: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Terraform's glyph (`+`, `~`, `-/+`, …), for the text renderer.
    #[serde(skip)]
    pub glyph: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    pub path: String,
    pub before: String,
    pub after: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputItem {
    pub name: String,
    pub action: &'static str,
    pub sensitive: bool,
    pub before: String,
    pub after: String,
    #[serde(skip)]
    pub glyph: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckItem {
    pub address: String,
    pub status: String,
    pub messages: Vec<String>,
}

/// The Kubernetes layer's part of the report; filled by a later layer.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub name: String,
    pub path: String,
    pub status: String,
    pub changes: Vec<serde_json::Value>,
}

fn render(value: &Rendered) -> String {
    value.to_string()
}

fn change(rc: &plan::ResourceChange) -> Change {
    Change {
        address: rc.address.clone(),
        action: if rc.action == plan::Action::NoOp && rc.is_move() {
            "move"
        } else if rc.action == plan::Action::NoOp && rc.is_import() {
            "import"
        } else {
            rc.action.as_str()
        },
        destructive: rc.destructive(),
        reason: rc.reason(),
        previous_address: rc.previous_address.clone(),
        importing: rc.importing.clone(),
        attributes: rc
            .attributes
            .iter()
            .map(|a| Attribute {
                path: a.path.clone(),
                before: render(&a.before),
                after: render(&a.after),
                forces_replacement: a.forces_replacement,
            })
            .collect(),
        glyph: rc.action.glyph(),
    }
}

impl StackReport {
    /// The report of one planned stack.
    pub fn from_plan(name: &str, path: &str, plan: &Plan) -> StackReport {
        let changes: Vec<Change> = plan.changes.iter().map(change).collect();
        // An errored plan is incomplete: nothing in it can be trusted. Failed
        // `check` blocks are warnings in Terraform (the plan is complete and
        // can be applied), so they are shown, not turned into an error.
        StackReport {
            name: name.to_owned(),
            path: path.to_owned(),
            status: if plan.errored {
                StackStatus::Error
            } else if plan.has_changes() {
                StackStatus::Changes
            } else {
                StackStatus::InSync
            },
            changes,
            drift: plan.drift.iter().map(change).collect(),
            outputs: plan
                .outputs
                .iter()
                .map(|o| OutputItem {
                    name: o.name.clone(),
                    action: o.action.as_str(),
                    sensitive: o.sensitive,
                    before: render(&o.before),
                    after: render(&o.after),
                    glyph: o.action.glyph(),
                })
                .collect(),
            summary: plan.summary(),
            unchanged: plan.unchanged,
            checks: plan
                .failed_checks
                .iter()
                .map(|c| CheckItem {
                    address: c.address.clone(),
                    status: c.status.clone(),
                    messages: c.messages.clone(),
                })
                .collect(),
            errored: plan.errored,
            replanned_after: None,
            error: if plan.errored {
                Some("Terraform reported errors while planning; the plan is incomplete".to_owned())
            } else if !plan.failed_checks.is_empty() {
                Some(format!("{} check(s) failed", plan.failed_checks.len()))
            } else {
                None
            },
        }
    }

    /// A stack that failed before a plan existed.
    pub fn failed(name: &str, path: &str, error: String) -> StackReport {
        StackReport::empty(name, path, StackStatus::Error, Some(error))
    }

    /// A stack that was not planned because a dependency failed.
    pub fn skipped(name: &str, path: &str, because: &str) -> StackReport {
        StackReport::empty(
            name,
            path,
            StackStatus::Skipped,
            Some(format!("skipped: {because}")),
        )
    }

    /// A stack with nothing to do.
    pub fn in_sync(name: &str, path: &str) -> StackReport {
        StackReport::empty(name, path, StackStatus::InSync, None)
    }

    fn empty(name: &str, path: &str, status: StackStatus, error: Option<String>) -> StackReport {
        StackReport {
            name: name.to_owned(),
            path: path.to_owned(),
            status,
            changes: Vec::new(),
            drift: Vec::new(),
            outputs: Vec::new(),
            summary: plan::Summary::default(),
            unchanged: 0,
            checks: Vec::new(),
            errored: false,
            error,
            replanned_after: None,
        }
    }

    pub fn destructive(&self) -> usize {
        self.changes.iter().filter(|c| c.destructive).count()
    }
}

impl Report {
    /// A report for `command` over finished stacks; the outcome follows
    /// from them (any error → error, any change → changes).
    pub fn new(command: &str, source: Option<Source>, stacks: Vec<StackReport>) -> Report {
        let destructive = stacks.iter().map(StackReport::destructive).sum();
        let result = if stacks
            .iter()
            .any(|s| matches!(s.status, StackStatus::Error | StackStatus::Skipped))
        {
            Outcome::Error
        } else if stacks.iter().any(|s| s.status == StackStatus::Changes) {
            Outcome::Changes
        } else {
            Outcome::InSync
        };
        Report {
            version: VERSION,
            command: command.to_owned(),
            source,
            result,
            stacks,
            workloads: Vec::new(),
            destructive,
            run_id: None,
            approvals: Vec::new(),
            errors: Vec::new(),
            message: None,
            compact: false,
            verdict: None,
        }
    }

    /// Renders the report in `format`; `color` applies to text only.
    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Text => text::render(self, color),
            Format::Markdown => markdown::render(self),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
                s.push('\n');
                s
            }
        }
    }
}
