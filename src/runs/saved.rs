//! Whether a saved run may still be applied: its status, its plan files
//! (the ones planned and approved, byte for byte) and what other runs
//! applied since. A run that fails the freshness check becomes stale.

use std::collections::BTreeSet;

use super::{Run, RunError, RunStatus, Runs};

/// Refuses runs that cannot be applied, saying what to do instead.
pub fn check_appliable(run: &Run) -> Result<(), RunError> {
    let refuse = |message: String, hint: &str| {
        Err(RunError::Refused {
            message,
            hint: hint.to_owned(),
        })
    };
    let replan = "re-plan with `strata plan --save` (or run `strata apply`)";
    match run.status {
        RunStatus::ApprovalRequired | RunStatus::Approved => Ok(()),
        RunStatus::Planned if run.saved => Ok(()),
        RunStatus::Planned => refuse(
            format!(
                "run {} was planned without --save, so its plan files were not kept",
                run.id
            ),
            replan,
        ),
        RunStatus::Applied => refuse(
            format!("run {} was already applied", run.id),
            "`strata plan` shows what is left to do",
        ),
        RunStatus::Stale => refuse(
            format!(
                "stale: run {} can no longer be applied ({})",
                run.id,
                run.note
                    .as_deref()
                    .unwrap_or("the world changed since it was planned")
            ),
            replan,
        ),
        RunStatus::Denied => refuse(
            format!(
                "run {} was denied ({})",
                run.id,
                run.note.as_deref().unwrap_or("refused")
            ),
            replan,
        ),
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Applying => refuse(
            format!(
                "run {} {} and cannot be applied again",
                run.id,
                match run.status {
                    RunStatus::Failed => "failed",
                    _ => "was interrupted",
                }
            ),
            replan,
        ),
    }
}

/// Checks that the run's plan files are the ones that were planned (and
/// approved), and that no later apply changed its stacks. A run that fails
/// either check is marked stale.
pub fn check_fresh(runs: &Runs, run: &mut Run) -> Result<(), RunError> {
    let problem = stale_reason(runs, run)?;
    let Some(reason) = problem else {
        return Ok(());
    };
    let id = run.id.clone();
    *run = runs.update(&id, |r| {
        r.go_stale(reason.clone())?;
        Ok::<_, RunError>(r.clone())
    })?;
    runs.drop_plans(&id);
    Err(RunError::Refused {
        message: format!("stale: run {id} can no longer be applied: {reason}"),
        hint: "re-plan with `strata plan --save` (or run `strata apply`)".to_owned(),
    })
}

fn stale_reason(runs: &Runs, run: &Run) -> Result<Option<String>, RunError> {
    for stack in run.stacks.iter().filter(|s| s.changes) {
        let Some(expected) = &stack.plan_sha256 else {
            continue;
        };
        let file = runs.plan_file(&run.id, &stack.name);
        if !file.exists() {
            return Ok(Some(format!(
                "the saved plan of stack {} is missing ({})",
                stack.name,
                file.display()
            )));
        }
        let found = super::sha256_file(&file)?;
        if &found != expected {
            return Ok(Some(format!(
                "the saved plan of stack {} changed on disk since it was planned (sha256 {}, now {})",
                stack.name,
                &expected[..12],
                &found[..12]
            )));
        }
    }
    // A later apply of a stack this run changes, or of any stack those
    // depend on (whose outputs they may read), makes the run stale.
    let watched = upstream_closure(run);
    for other in runs.list()? {
        if other.id == run.id || other.source.spec != run.source.spec {
            continue;
        }
        for theirs in &other.stacks {
            let applied_later = theirs.applied_at.is_some_and(|t| t > run.created);
            if applied_later && watched.contains(theirs.name.as_str()) {
                return Ok(Some(format!(
                    "run {} applied stack {} after this run was planned",
                    other.id, theirs.name
                )));
            }
        }
    }
    Ok(None)
}

/// The stacks the run changes and every stack they depend on, directly or
/// not.
fn upstream_closure(run: &Run) -> BTreeSet<&str> {
    let mut set: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = run
        .stacks
        .iter()
        .filter(|s| s.changes)
        .map(|s| s.name.as_str())
        .collect();
    while let Some(name) = todo.pop() {
        if set.insert(name)
            && let Some(stack) = run.stacks.iter().find(|s| s.name == name)
        {
            todo.extend(stack.depends_on.iter().map(String::as_str));
        }
    }
    set
}
