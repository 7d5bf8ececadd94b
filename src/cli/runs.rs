//! `strata runs`

use super::{CliError, Context, FormatArg, exit};
use strata::ops::{self, RunsOptions};

/// List runs, their status and the approvals they wait for
///
/// Runs are newest first. Statuses: planned, approval_required, approved,
/// applying, applied, failed, denied, stale, interrupted. With --format json
/// the output also holds every recorded decision of the audit log.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata runs                                   # newest first
  strata runs --format json                     # with every recorded decision")]
pub struct Args {
    /// Show only this run, with its items and decisions
    pub run: Option<String>,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = RunsOptions {
        source: ctx.source(),
        env: ctx.env.clone(),
        run: args.run,
    };
    let report = ops::runs(&opts)?;
    match ctx.global.format {
        FormatArg::Markdown => ctx.emit_markdown(&strata::report::runs::markdown(&report))?,
        FormatArg::Json => ctx.emit(|_| {
            let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
            s.push('\n');
            s
        })?,
        FormatArg::Text => ctx.emit(|color| strata::report::runs::text(&report, color))?,
    }
    Ok(exit::OK)
}
