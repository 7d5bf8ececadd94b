//! `strata drift`

use super::{CliError, Context, report_code};
use strata::ops::{self, DriftOptions, PlanOptions};

/// Check both layers against Git without changing anything (nightly runs)
///
/// Plans every stack and diffs every workload as `strata plan` does, and
/// never applies, prunes or writes to the cluster. The report tells drift
/// (changed outside Git: Terraform's resource drift, objects edited in the
/// cluster) from pending changes (Git ahead of the world).
/// Exit 0 in sync, 2 drift or pending changes, 1 error.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata drift                                  # exit 2 when anything drifted
  strata drift --format markdown --out drift.md # a report to post
  strata drift --workload apps --context prod   # one workload, another cluster")]
pub struct Args {
    /// Report an unreachable cluster or a missing Terraform as a failed
    /// layer and check the rest (the exit code is still 1)
    #[arg(long)]
    pub continue_on_error: bool,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = DriftOptions {
        plan: PlanOptions {
            continue_on_error: args.continue_on_error,
            ..ctx.plan_options()
        },
    };
    let report = ops::drift(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    Ok(report_code(&report))
}
