//! `strata approve RUN` and `strata runs`: record a person's approval of a
//! saved run, and list runs with what they wait for.
//!
//! Neither takes the state directory's run lock, so a person can approve a
//! run while another strata command (or `watch`) holds it; record updates
//! are serialized by the runs' own lock.

use std::path::PathBuf;

use serde::Serialize;

use super::{Environment, Error, SourceOptions};
use crate::config::Destructive;
use crate::runs::{DecidedBy, Decision, DecisionKind, Run, RunStatus, Runs, RunsReport};
use crate::runs::{Who, check_fresh};

#[derive(Debug, Clone)]
pub struct ApproveOptions {
    /// Only the state directory is used.
    pub source: SourceOptions,
    pub env: Environment,
    pub cwd: PathBuf,
    pub run: String,
}

/// What `approve` did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Approved {
    /// The approval was recorded.
    Approved { run: Box<Run>, decision: Decision },
    /// It already was approved; nothing was recorded.
    AlreadyApproved { run: Box<Run> },
    /// Nothing in it needs approval; `apply --run` applies it as it is.
    NotNeeded { run: Box<Run> },
}

/// Records an approval of run `opts.run`.
///
/// # Errors
/// Unknown runs, and runs that cannot be approved: applied, stale (plan
/// files changed, or another apply changed the stacks since), denied,
/// failed, unsaved; a policy that denies the run's destructive changes.
pub fn approve(opts: &ApproveOptions) -> Result<Approved, Error> {
    let root = opts.source.state_dir(&opts.env)?;
    let runs = Runs::at(&root);
    let mut run = runs.load(&opts.run)?;
    let replan = "re-plan with `strata plan --save`".to_owned();
    let refuse = |message: String| Error::RunRefused {
        message,
        hint: replan.clone(),
    };
    match run.status {
        RunStatus::ApprovalRequired => {}
        RunStatus::Approved => {
            return Ok(Approved::AlreadyApproved { run: Box::new(run) });
        }
        RunStatus::Planned if run.saved => {
            return Ok(Approved::NotNeeded { run: Box::new(run) });
        }
        RunStatus::Planned => {
            return Err(refuse(format!(
                "run {} was planned without --save; its plan files were not kept",
                run.id
            )));
        }
        RunStatus::Applied => {
            return Err(Error::RunRefused {
                message: format!("run {} was already applied", run.id),
                hint: "`strata plan` shows what is left to do".to_owned(),
            });
        }
        RunStatus::Stale => {
            return Err(refuse(format!(
                "stale: run {} can no longer be applied ({})",
                run.id,
                run.note.as_deref().unwrap_or("the world changed since")
            )));
        }
        other => {
            return Err(refuse(format!(
                "run {} is {} and cannot be approved{}",
                run.id,
                other.as_str(),
                run.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )));
        }
    }
    if run.policy.destructive == Destructive::Deny && run.items.iter().any(|i| i.destructive) {
        return Err(Error::RunRefused {
            message: format!(
                "run {} has destructive changes, and approval.destructive = \"deny\" in its strata.hcl refuses them",
                run.id
            ),
            hint: "change the policy in strata.hcl, or change the configuration so that nothing is destroyed".to_owned(),
        });
    }
    check_fresh(&runs, &mut run)?;

    let who = Who::new(
        &opts.env,
        crate::source::git_identity(&run.source.spec, &opts.cwd),
    );
    let decision = who.decide(&run, DecisionKind::Approved, DecidedBy::ApproveCommand);
    let run = runs.update(&run.id, |r| {
        if r.status != RunStatus::ApprovalRequired {
            return Err(Error::RunRefused {
                message: format!(
                    "run {} changed to {} while it was being approved",
                    r.id,
                    r.status.as_str()
                ),
                hint: "see `strata runs`".to_owned(),
            });
        }
        r.approve(decision.clone())?;
        Ok(r.clone())
    })?;
    runs.record(&decision)?;
    Ok(Approved::Approved {
        run: Box::new(run),
        decision,
    })
}

#[derive(Debug, Clone)]
pub struct RunsOptions {
    /// Only the state directory is used.
    pub source: SourceOptions,
    pub env: Environment,
    /// Show only this run.
    pub run: Option<String>,
}

/// Lists the runs of the state directory and every recorded decision.
///
/// # Errors
/// An unknown run id; unreadable records.
pub fn runs(opts: &RunsOptions) -> Result<RunsReport, Error> {
    let root = opts.source.state_dir(&opts.env)?;
    let store = Runs::at(&root);
    let mut runs = match &opts.run {
        Some(id) => vec![store.load(id)?],
        None => store.list()?,
    };
    runs.reverse();
    let mut decisions = store.decisions()?;
    if let Some(id) = &opts.run {
        decisions.retain(|d| &d.run_id == id);
    }
    Ok(RunsReport { runs, decisions })
}
