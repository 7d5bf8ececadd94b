//! `strata approve RUN`

use super::{CliError, Context, FormatArg, exit};
use strata::ops::{self, ApproveOptions, Approved};

/// Approve a saved run, so that `strata apply --run RUN` applies it
///
/// Records who approved (operating-system user and Git identity), when, the
/// commit and the sha256 of every plan file, in the run and in the audit log
/// (see `strata runs`). Refuses unknown, applied, denied and stale runs: a
/// run is stale when a plan file changed on disk or another apply changed
/// its stacks since it was planned.
/// Exit 0 approved, 1 refused or error.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata runs                                   # find the run waiting for approval
  strata approve 20261206-051253-9b00           # approve it
  strata apply --run 20261206-051253-9b00       # then apply exactly that plan")]
pub struct Args {
    /// The run id, as printed by `strata plan --save`, `strata apply` or `strata runs`
    pub run: String,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = ApproveOptions {
        source: ctx.source(),
        env: ctx.env.clone(),
        cwd: ctx.cwd.clone(),
        run: args.run,
    };
    let outcome = ops::approve(&opts)?;
    ctx.emit(|color| match ctx.global.format {
        FormatArg::Json => {
            let mut s = serde_json::to_string_pretty(&outcome).unwrap_or_default();
            s.push('\n');
            s
        }
        FormatArg::Text | FormatArg::Markdown => render(&outcome, color),
    })?;
    Ok(exit::OK)
}

fn render(outcome: &Approved, color: bool) -> String {
    use strata::report::runs::items_text;
    match outcome {
        Approved::Approved { run, decision } => {
            let who = match &decision.git_identity {
                Some(git) => format!("{} ({git})", decision.user),
                None => decision.user.clone(),
            };
            format!(
                "Approved run {} as {who}.\n{}Apply exactly these plans with:\n  strata apply --run {}\n",
                run.id,
                items_text(&run.items, color),
                run.id
            )
        }
        Approved::AlreadyApproved { run } => {
            let by = run
                .approval
                .as_ref()
                .map(|d| format!(" by {} at {}", d.user, d.time))
                .unwrap_or_default();
            format!(
                "Run {} was already approved{by}. Apply it with:\n  strata apply --run {}\n",
                run.id, run.id
            )
        }
        Approved::NotNeeded { run } => format!(
            "Nothing in run {} needs approval. Apply it with:\n  strata apply --run {}\n",
            run.id, run.id
        ),
    }
}
