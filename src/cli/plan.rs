//! `strata plan`

use super::{CliError, Context, report_code};
use strata::approval::Verdict;
use strata::ops::{self, PlanOptions};
use strata::report::Outcome;

/// Show what would change: plan every stack with the real Terraform
///
/// Stacks are planned in dependency order, independent ones in parallel.
/// Every plan is a run (see `strata runs`); with --save its plan files are
/// kept, so that `strata approve RUN` and `strata apply --run RUN` apply
/// exactly this plan later.
/// Exit 0 no changes, 2 changes, 1 error.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata plan                                   # every stack and workload, at HEAD
  strata plan --stack net-prod --workload apps  # only these
  strata plan --ref v1.4.0 --format markdown    # a tag, as a PR comment
  strata plan --worktree                        # uncommitted changes too
  strata plan --changed                         # only what changed since it was last applied
  strata plan --save && strata approve RUN      # keep the plan for a later apply")]
pub struct Args {
    /// Keep the plan files so the run can be approved and applied later
    #[arg(long)]
    pub save: bool,
    /// Treat every change as needing approval (approval.ask_always)
    #[arg(long)]
    pub ask_always: bool,
    /// Plan only the stacks and workloads whose inputs changed since they
    /// were last applied (and what depends on them); the rest are
    /// reported as skipped
    #[arg(long)]
    pub changed: bool,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = PlanOptions {
        save: args.save,
        ask_always: args.ask_always,
        changed: args.changed,
        ..ctx.plan_options()
    };
    let report = ops::plan(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    if let (Some(id), Some(verdict)) = (&report.run_id, &report.verdict)
        && report.result == Outcome::Changes
    {
        let apply = format!("strata apply --run {id}");
        ctx.ui.notice(&match verdict {
            Verdict::Denied => format!(
                "Run {id} cannot be applied: approval.destructive = \"deny\" in strata.hcl refuses its destructive changes."
            ),
            Verdict::Pending | Verdict::Ask => format!(
                "Saved as run {id}; {} change(s) need approval. Approve and apply it with:\n  strata approve {id}\n  {apply}",
                report.approvals.len()
            ),
            Verdict::AutoApproved(_) => format!(
                "Saved as run {id}; approval.destructive = \"allow\" approves its destructive changes. Apply it with:\n  {apply}"
            ),
            Verdict::Proceed => {
                format!("Saved as run {id}; nothing in it needs approval. Apply it with:\n  {apply}")
            }
        });
    }
    Ok(report_code(&report))
}
