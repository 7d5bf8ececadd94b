//! `strata plan`

use super::{CliError, Context, report_code};
use strata::ops::{self, PlanOptions};

/// Show what would change: plan every stack with the real Terraform
///
/// Stacks are planned in dependency order, independent ones in parallel.
/// Every plan is a run (see `strata runs`); with --save its plan files are
/// kept, so that `strata approve RUN` and `strata apply --run RUN` apply
/// exactly this plan later.
/// Exit 0 no changes, 2 changes, 1 error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the plan files so the run can be approved and applied later
    #[arg(long)]
    pub save: bool,
    /// Treat every change as needing approval (approval.ask_always)
    #[arg(long)]
    pub ask_always: bool,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = PlanOptions {
        save: args.save,
        ask_always: args.ask_always,
        ..ctx.plan_options()
    };
    let report = ops::plan(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    if args.save
        && let Some(id) = &report.run_id
        && report.result == strata::report::Outcome::Changes
    {
        if report.approvals.is_empty() {
            ctx.ui.status(&format!(
                "Saved as run {id}; nothing in it needs approval. Apply it with:\n  strata apply --run {id}"
            ));
        } else {
            ctx.ui.status(&format!(
                "Saved as run {id}; {} change(s) need approval. Approve and apply it with:\n  strata approve {id}\n  strata apply --run {id}",
                report.approvals.len()
            ));
        }
    }
    Ok(report_code(&report))
}
