//! The report of a run: one model ([`Report`], the version-1 JSON contract
//! of docs/commands.md) and three renderers over it ([`text`], [`markdown`] and
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
    /// What happened to the notifications sent about this report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Delivery>,
    /// Workloads `apply` held back because, diffed again with the new
    /// outputs, they needed an approval the run did not have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
    /// The run they were saved as, to approve and apply later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_run: Option<String>,
    /// A Mermaid picture of the stacks and workloads, coloured by state,
    /// for the Markdown report.
    #[serde(skip)]
    pub graph: Option<String>,
    /// What the policies said: denials, approvals, warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<crate::policy::Finding>,
}

/// What happened to one notification (see [`crate::notify`]).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub name: String,
    pub event: &'static str,
    pub delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// Not run: something it needs failed or was skipped.
    Skipped,
    /// Not run by a changed-only run (`--changed`): none of its inputs
    /// changed since it last converged. Reported as `skipped`, with
    /// [`Unchanged`] saying since when.
    #[serde(rename = "skipped")]
    Unchanged,
}

/// Why a changed-only run left a stack or workload alone.
#[derive(Debug, Clone, Serialize)]
pub struct Unchanged {
    /// `unchanged since <commit> (run <id>)`.
    pub reason: String,
    /// The commit it last converged from.
    pub commit: Option<String>,
    /// The run that converged it.
    pub run: String,
}

impl From<&crate::runs::Converged> for Unchanged {
    fn from(c: &crate::runs::Converged) -> Unchanged {
        Unchanged {
            reason: c.reason(),
            commit: c.commit.clone(),
            run: c.run.clone(),
        }
    }
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
    /// Resources with no change at all; `None` when the plan was not read
    /// because Terraform said it has no changes.
    pub unchanged: Option<usize>,
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
    /// Not planned yet: its `vars` use outputs of these stacks that are
    /// known only once they are applied. It is planned (and its plan
    /// approved as any other) after they are, in the same apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// Left alone by a changed-only run (status `skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Unchanged>,
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

/// One workload: what applying it changes (or changed) in the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub name: String,
    pub path: String,
    /// The kubeconfig context of its cluster, when the workload names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub status: StackStatus,
    pub changes: Vec<ObjectChange>,
    /// Objects already as Git says.
    pub unchanged: usize,
    /// Objects that left Git but are not pruned, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptObject>,
    /// Objects not healthy when the wait ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<NotReady>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Left alone by a changed-only run (status `skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Unchanged>,
}

/// One object's change.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    pub kind: String,
    /// API group; empty for the core group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// `null` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// `create`, `update`, `prune` or `recreate`.
    pub action: &'static str,
    pub destructive: bool,
    /// The live object was changed outside strata.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<crate::kube::diff::FieldChange>,
    /// Why it cannot be (or was not) applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub glyph: &'static str,
}

impl ObjectChange {
    /// `Kind/name` or `Kind/namespace/name`.
    pub fn address(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeptObject {
    pub object: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotReady {
    pub object: String,
    pub why: String,
}

/// Counts of a workload's changes by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkloadSummary {
    pub create: usize,
    pub update: usize,
    pub prune: usize,
    pub recreate: usize,
}

impl WorkloadReport {
    /// A workload with nothing to show yet.
    pub fn empty(name: &str, path: &str, status: StackStatus, error: Option<String>) -> Self {
        WorkloadReport {
            name: name.to_owned(),
            path: path.to_owned(),
            context: None,
            status,
            changes: Vec::new(),
            unchanged: 0,
            kept: Vec::new(),
            not_ready: Vec::new(),
            error,
            skipped: None,
        }
    }

    /// A workload a changed-only run leaves alone.
    pub fn unchanged(name: &str, path: &str, since: &crate::runs::Converged) -> Self {
        WorkloadReport {
            skipped: Some(since.into()),
            ..WorkloadReport::empty(name, path, StackStatus::Unchanged, None)
        }
    }

    /// The report of a diffed workload.
    pub fn from_plan(name: &str, path: &str, plan: &crate::kube::converge::Plan) -> Self {
        let changes: Vec<ObjectChange> = plan.changes.iter().map(object_change).collect();
        let errors = plan.errors();
        WorkloadReport {
            name: name.to_owned(),
            path: path.to_owned(),
            context: None,
            status: if !errors.is_empty() {
                StackStatus::Error
            } else if changes.is_empty() {
                StackStatus::InSync
            } else {
                StackStatus::Changes
            },
            skipped: None,
            changes,
            unchanged: plan.unchanged.len(),
            kept: plan
                .kept
                .iter()
                .map(|(id, why)| KeptObject {
                    object: id.address(),
                    why: why.clone(),
                })
                .collect(),
            not_ready: Vec::new(),
            error: (!errors.is_empty()).then(|| {
                format!(
                    "{} object(s) cannot be applied as they are (see above)",
                    errors.len()
                )
            }),
        }
    }

    pub fn destructive(&self) -> usize {
        self.changes.iter().filter(|c| c.destructive).count()
    }

    pub fn summary(&self) -> WorkloadSummary {
        let mut s = WorkloadSummary::default();
        for c in &self.changes {
            match c.action {
                "create" => s.create += 1,
                "update" => s.update += 1,
                "prune" => s.prune += 1,
                _ => s.recreate += 1,
            }
        }
        s
    }
}

/// The report's view of one planned object change.
pub fn object_change(c: &crate::kube::converge::Change) -> ObjectChange {
    ObjectChange {
        kind: c.id.kind.clone(),
        group: c.id.group.clone(),
        namespace: (!c.id.namespace.is_empty()).then(|| c.id.namespace.clone()),
        name: c.id.name.clone(),
        action: c.action.as_str(),
        destructive: c.action.destructive(),
        drift: c.drift,
        reason: c.reason.clone(),
        fields: c.fields.clone(),
        error: c.error.clone(),
        glyph: c.action.glyph(),
    }
}

/// Any error → error, any change → changes, else in sync.
fn outcome(statuses: impl Iterator<Item = StackStatus>) -> Outcome {
    let statuses: Vec<StackStatus> = statuses.collect();
    if statuses
        .iter()
        .any(|s| matches!(s, StackStatus::Error | StackStatus::Skipped))
    {
        Outcome::Error
    } else if statuses.contains(&StackStatus::Changes) {
        Outcome::Changes
    } else {
        Outcome::InSync
    }
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
            unchanged: Some(plan.unchanged),
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
            waiting_for: None,
            skipped: None,
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

    /// A stack whose inputs are known only after `upstream` is applied
    /// (see [`StackReport::waiting_for`]).
    pub fn waiting(name: &str, path: &str, upstream: String) -> StackReport {
        let mut report = StackReport::empty(name, path, StackStatus::Changes, None);
        report.waiting_for = Some(upstream);
        report
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
            unchanged: None,
            checks: Vec::new(),
            errored: false,
            error,
            replanned_after: None,
            waiting_for: None,
            skipped: None,
        }
    }

    /// A stack a changed-only run leaves alone.
    pub fn unchanged(name: &str, path: &str, since: &crate::runs::Converged) -> StackReport {
        StackReport {
            skipped: Some(since.into()),
            ..StackReport::empty(name, path, StackStatus::Unchanged, None)
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
        let result = outcome(stacks.iter().map(|s| s.status));
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
            notifications: Vec::new(),
            held: Vec::new(),
            pending_run: None,
            graph: None,
            policy: Vec::new(),
        }
    }

    /// The report with its workloads; the outcome and the count of
    /// destructive changes take them into account.
    pub fn with_workloads(mut self, workloads: Vec<WorkloadReport>) -> Report {
        self.destructive = self
            .stacks
            .iter()
            .map(StackReport::destructive)
            .sum::<usize>()
            + workloads
                .iter()
                .map(WorkloadReport::destructive)
                .sum::<usize>();
        self.result = outcome(
            self.stacks
                .iter()
                .map(|s| s.status)
                .chain(workloads.iter().map(|w| w.status)),
        );
        self.workloads = workloads;
        self
    }

    /// What the destructive changes can be, for the warning line.
    pub fn destructive_kinds(&self) -> &'static str {
        if self.workloads.iter().any(|w| w.destructive() > 0) {
            "delete, replace, forget, prune or recreate"
        } else {
            "delete, replace or forget"
        }
    }

    /// Resources changed outside Terraform plus objects changed outside
    /// strata.
    pub fn drifted(&self) -> usize {
        self.stacks.iter().map(|s| s.drift.len()).sum::<usize>()
            + self
                .workloads
                .iter()
                .flat_map(|w| &w.changes)
                .filter(|c| c.drift)
                .count()
    }

    /// Every stack and workload status.
    pub fn statuses(&self) -> impl Iterator<Item = StackStatus> + '_ {
        self.stacks
            .iter()
            .map(|s| s.status)
            .chain(self.workloads.iter().map(|w| w.status))
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
