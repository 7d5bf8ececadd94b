//! `strata drift`: the nightly, plan-only run. Plans every stack and diffs
//! every workload exactly as `plan` does, never writes anything (no apply,
//! no inventory, nothing in the cluster), and tells what changed outside
//! Git (drift) apart from what Git has that the world does not yet
//! (pending changes).

use super::Error;
use super::plan::{PlanOptions, Planned};
use crate::interrupt::Interrupt;
use crate::report::{Outcome, Report, StackStatus};
use crate::runs::RunStatus;
use crate::ui::Ui;

#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// What to plan; `continue_on_error` in it keeps checking past an
    /// unreachable cluster or a missing Terraform.
    pub plan: PlanOptions,
}

/// Plans both layers and classifies the result: `error` when anything
/// could not be checked, else `drift` when the world changed outside Git,
/// else `changes` when Git is ahead, else `in_sync`.
///
/// # Errors
/// As `plan` (without `--continue-on-error`: an unreachable cluster, no
/// Terraform).
pub async fn drift(opts: &DriftOptions, ui: &Ui, interrupt: &Interrupt) -> Result<Report, Error> {
    let mut planned = Planned::plan(&opts.plan, "drift", ui, interrupt).await?;
    if planned.failed() {
        planned.run.finish(RunStatus::Failed, None)?;
    }
    let mut report = planned.report("drift");
    report.result = outcome(&report);
    // The run's layout, unless it selected no workload and so read none.
    let read;
    let layout = if planned.layout.workloads.is_empty() {
        read = super::publish::layout(
            &planned.config,
            &planned.snapshot.root,
            &super::workloads::tools(&opts.plan.env),
        );
        &read
    } else {
        &planned.layout
    };
    let graph = super::graph::of(&planned.config, layout);
    report.graph = Some(graph.mermaid_with(|node| state(&report, node)));
    planned.finish(&report)?;
    // The last stage: whoever asked to hear of drift.
    report.notifications =
        crate::notify::send(&planned.config.notify, &report, &opts.plan.env).await;
    Ok(report)
}

/// How a node of the graph stands in the report: `failed`, `drift`,
/// `changes` or `in_sync`; `None` when the run did not check it.
fn state(report: &Report, node: &super::graph::Node) -> Option<&'static str> {
    use super::graph::NodeKind;
    let (status, drifted) = match node.kind {
        NodeKind::Workload => {
            let w = report.workloads.iter().find(|w| w.name == node.name)?;
            (w.status, w.changes.iter().any(|c| c.drift))
        }
        NodeKind::Stack => {
            let s = report.stacks.iter().find(|s| s.name == node.name)?;
            (s.status, !s.drift.is_empty())
        }
        NodeKind::Outputs => return None,
    };
    Some(match status {
        StackStatus::Error | StackStatus::Skipped => "failed",
        _ if drifted => "drift",
        StackStatus::Changes => "changes",
        _ => "in_sync",
    })
}

/// What the nightly run says.
pub fn outcome(report: &Report) -> Outcome {
    if report
        .statuses()
        .any(|s| matches!(s, StackStatus::Error | StackStatus::Skipped))
        || crate::policy::denials(&report.policy).next().is_some()
    {
        Outcome::Error
    } else if report.drifted() > 0 {
        Outcome::Drift
    } else if report.statuses().any(|s| s == StackStatus::Changes) {
        Outcome::Changes
    } else {
        Outcome::InSync
    }
}
