//! `strata plan`

use super::{CliError, Context, report_code};
use strata::ops::{self, PlanOptions};

/// Show what would change: plan every stack with the real Terraform
///
/// Stacks are planned in dependency order, independent ones in parallel.
/// Exit 0 no changes, 2 changes, 1 error.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn exec(_args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = PlanOptions {
        source: ctx.source(),
        stacks: ctx.global.stacks.clone(),
        env: ctx.env.clone(),
        cwd: ctx.cwd.clone(),
    };
    let report = ops::plan(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    Ok(report_code(&report))
}
