//! `strata apply`

use super::{CliError, Context, report_code};
use strata::ops::{self, ApplyOptions, PlanOptions};
use strata::report::Outcome;

/// Plan, ask for approval of anything destructive, apply the saved plans
///
/// Every stack is planned and every decision taken before the first change.
/// Deletes, replaces, forgets and changes to `approval.protect` addresses
/// need approval: at the prompt on a terminal (only `yes` approves), by
/// --auto-approve, or by `approval.destructive = "allow"`. Without a
/// terminal the run is saved and strata exits 3 with the commands that
/// approve and apply it. Then exactly the saved plan files are applied,
/// in dependency order.
/// Exit 0 applied or nothing to do, 1 error, 3 approval needed or refused.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata apply                                  # plan, ask at the prompt, apply
  strata apply --stack net-staging              # one environment
  strata apply --auto-approve                   # in CI, destructive changes included
  strata apply --changed                        # only what the new commits changed
  strata apply --run 20261206-051253-9b00       # apply a run approved with `strata approve`")]
pub struct Args {
    /// Apply this saved run (from `strata plan --save` or an earlier apply
    /// that stopped for approval) instead of planning anew
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Ask before every change, not only destructive or protected ones
    #[arg(long)]
    pub ask_always: bool,
    /// Plan and apply only the stacks and workloads whose inputs changed
    /// since they were last applied (and what depends on them)
    #[arg(long)]
    pub changed: bool,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    if args.run.is_some() {
        let given = [
            (!ctx.global.stacks.is_empty(), "--stack"),
            (ctx.global.reference.is_some(), "--ref"),
            (ctx.global.worktree, "--worktree"),
            (args.ask_always, "--ask-always"),
            (args.changed, "--changed"),
        ];
        if let Some((_, flag)) = given.iter().find(|(on, _)| *on) {
            return Err(CliError::new(format!("{flag} cannot be combined with --run"))
                .hint("a saved run is applied whole, from the commit and with the items it was planned with; choose them when planning: `strata plan --save [--stack NAME] [--ref REF] [--ask-always]`"));
        }
    }
    let opts = ApplyOptions {
        plan: PlanOptions {
            ask_always: args.ask_always,
            changed: args.changed,
            ..ctx.plan_options()
        },
        auto_approve: ctx.global.auto_approve,
        run: args.run,
    };
    let report = ops::apply(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit_report(&report)?;
    if let Some(id) = &report.pending_run {
        ctx.ui.notice(&format!(
            "The rest was applied, but {} {}: diffed again with the outputs of the stacks just applied, {} approval that this run did not have, and there is no terminal to ask at. {} saved as run {id}. To approve and apply {}:\n  strata approve {id}\n  strata apply --run {id}",
            report.held.join(", "),
            if report.held.len() == 1 { "was held" } else { "were held" },
            if report.held.len() == 1 { "it needs" } else { "they need" },
            if report.held.len() == 1 { "It is" } else { "They are" },
            if report.held.len() == 1 { "it" } else { "them" },
        ));
    } else if let Some(id) = &report.run_id
        && report.result == Outcome::ApprovalRequired
    {
        let why = if ctx.ui.can_prompt() {
            "approval is needed"
        } else {
            "approval is needed and there is no terminal to ask at"
        };
        ctx.ui.notice(&format!(
            "Run {id} is saved; {why}. Nothing was applied. To approve and apply exactly this plan:\n  strata approve {id}\n  strata apply --run {id}"
        ));
    }
    Ok(report_code(&report))
}
