//! `strata validate`

use super::{CliError, Context, FormatArg, exit};
use strata::ops::{self, ValidateOptions};

/// Check strata.hcl, Terraform syntax and manifests, without planning
///
/// No Terraform process runs and no cluster is contacted.
/// Exit 0 valid, 1 invalid.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata validate                               # the repository at HEAD
  strata validate --worktree                    # before committing")]
pub struct Args {}

pub async fn exec(_args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = ValidateOptions {
        source: ctx.source(),
        env: ctx.env.clone(),
    };
    let report = ops::validate(&opts, &ctx.ui, &ctx.interrupt).await?;
    match ctx.global.format {
        FormatArg::Markdown => ctx.emit_markdown(&report.render_markdown())?,
        FormatArg::Text => ctx.emit(|_| report.render_text())?,
        FormatArg::Json => ctx.emit(|_| {
            let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
            s.push('\n');
            s
        })?,
    }
    Ok(if report.valid { exit::OK } else { exit::ERROR })
}
