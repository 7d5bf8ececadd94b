//! `strata inspect FILE`

use std::path::PathBuf;

use super::{CliError, Context, report_code};
use strata::ops::{self, InspectOptions};

/// Classify an existing plan file or `terraform show -json` output
///
/// FILE is the JSON of `terraform show -json`, or a binary plan file
/// (which the Terraform on PATH turns into JSON first).
/// Exit 0 no changes, 2 changes, 1 error.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  terraform show -json plan.tfplan > plan.json && strata inspect plan.json
  strata inspect plan.tfplan                    # a binary plan file")]
pub struct Args {
    /// Plan JSON or binary plan file
    pub file: PathBuf,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = InspectOptions {
        file: args.file,
        env: ctx.env.clone(),
        cwd: ctx.cwd.clone(),
    };
    let report = ops::inspect(&opts, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    Ok(report_code(&report))
}
