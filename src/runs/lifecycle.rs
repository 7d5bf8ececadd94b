//! The run lifecycle. A run's status changes only through these methods,
//! and each refuses a move the lifecycle does not have: approving a denied
//! run, applying a stale one, finishing twice.
//!
//! ```text
//!             ┌──────────── await_approval ───────────┐
//!             │                                        ▼
//!  planned ───┼── approve ──▶ approved ◀── approve ── approval_required
//!     │       │                  │                     │        │
//!     │       └── deny ──▶ denied ◀──────── deny ──────┘        │
//!     │                          │                              │
//!     │      start_applying ◀────┘      go_stale (any of the three) ──▶ stale
//!     │            │
//!     │            ▼
//!     │        applying ── finish ──▶ applied | failed | stale | interrupted
//!     │
//!     └── finish (planning is over) ──▶ applied | failed | interrupted
//! ```
//!
//! `applied`, `failed`, `denied`, `stale` and `interrupted` are final.
//! A run that waits for approval is created in `approval_required` (the
//! workloads `apply` holds back); every other run starts `planned`.

use super::{Decision, Run, RunError, RunStatus};

/// Whether a run may go from `from` to `to`.
fn allowed(from: RunStatus, to: RunStatus) -> bool {
    use RunStatus::{
        Applied, Applying, ApprovalRequired, Approved, Denied, Failed, Interrupted, Planned, Stale,
    };
    match from {
        Planned => matches!(
            to,
            ApprovalRequired
                | Approved
                | Denied
                | Applying
                | Applied
                | Failed
                | Interrupted
                | Stale
        ),
        ApprovalRequired => matches!(to, Approved | Denied | Stale),
        Approved => matches!(to, Applying | Stale),
        Applying => matches!(to, Applied | Failed | Stale | Interrupted),
        Applied | Failed | Denied | Stale | Interrupted => false,
    }
}

impl RunStatus {
    /// Whether nothing can happen to a run any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Applied
                | RunStatus::Failed
                | RunStatus::Denied
                | RunStatus::Stale
                | RunStatus::Interrupted
        )
    }
}

impl Run {
    fn move_to(&mut self, to: RunStatus) -> Result<(), RunError> {
        if !allowed(self.status, to) {
            return Err(RunError::IllegalMove {
                id: self.id.clone(),
                from: self.status,
                to,
            });
        }
        self.status = to;
        Ok(())
    }

    /// Saves the run to wait for `strata approve`.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] unless the run is `planned` (or waits
    /// already).
    pub fn await_approval(&mut self) -> Result<(), RunError> {
        if self.status != RunStatus::ApprovalRequired {
            self.move_to(RunStatus::ApprovalRequired)?;
        }
        self.saved = true;
        Ok(())
    }

    /// Records `decision` as the run's approval.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] unless the run is `planned` or waiting
    /// for approval.
    pub fn approve(&mut self, decision: Decision) -> Result<(), RunError> {
        self.move_to(RunStatus::Approved)?;
        self.approval = Some(decision);
        Ok(())
    }

    /// Refuses the run (at the prompt, or by policy), saying why.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] unless the run is `planned` or waiting
    /// for approval.
    pub fn deny(&mut self, why: String) -> Result<(), RunError> {
        self.move_to(RunStatus::Denied)?;
        self.note = Some(why);
        Ok(())
    }

    /// The world moved since the run was planned: it can no longer be
    /// applied.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] for a run that is applying or over.
    pub fn go_stale(&mut self, why: String) -> Result<(), RunError> {
        self.move_to(RunStatus::Stale)?;
        self.note = Some(why);
        Ok(())
    }

    /// Claims the run for an apply.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] unless the run is `planned` (nothing in
    /// it needs approval) or `approved`.
    pub fn start_applying(&mut self) -> Result<(), RunError> {
        self.move_to(RunStatus::Applying)
    }

    /// Ends the run: planning or applying is over, as `how`.
    ///
    /// # Errors
    /// [`RunError::IllegalMove`] for a run that is over already, waiting
    /// for approval, or ended in a way its stage cannot end.
    pub fn finish(&mut self, how: RunStatus, note: Option<String>) -> Result<(), RunError> {
        if !how.is_final() || how == RunStatus::Denied {
            return Err(RunError::IllegalMove {
                id: self.id.clone(),
                from: self.status,
                to: how,
            });
        }
        self.move_to(how)?;
        if note.is_some() {
            self.note = note;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::{RunSource, Runs};

    fn run(status: RunStatus) -> Run {
        let now = jiff::Timestamp::now();
        Run {
            id: Runs::new_id(),
            command: "apply".to_owned(),
            created: now,
            updated: now,
            status,
            saved: true,
            source: RunSource {
                spec: "/repo".to_owned(),
                repo: "/repo".to_owned(),
                reference: "HEAD".to_owned(),
                commit: None,
                worktree: false,
            },
            policy: crate::config::Approval::default(),
            stacks: Vec::new(),
            workloads: Vec::new(),
            items: Vec::new(),
            approval: None,
            note: None,
        }
    }

    fn decision(run: &Run) -> Decision {
        crate::runs::Who {
            user: "ops".to_owned(),
            git_identity: None,
        }
        .decide(
            run,
            crate::runs::DecisionKind::Approved,
            crate::runs::DecidedBy::Prompt,
        )
    }

    #[test]
    fn a_run_goes_from_planned_through_approval_to_applied() {
        let mut r = run(RunStatus::Planned);
        r.await_approval().unwrap();
        assert_eq!(r.status, RunStatus::ApprovalRequired);
        let d = decision(&r);
        r.approve(d).unwrap();
        r.start_applying().unwrap();
        r.finish(RunStatus::Applied, None).unwrap();
        assert_eq!(r.status, RunStatus::Applied);
        assert!(r.approval.is_some());
    }

    #[test]
    fn illegal_moves_are_refused_and_change_nothing() {
        let mut denied = run(RunStatus::Planned);
        denied.deny("refused at the prompt".to_owned()).unwrap();
        let d = decision(&denied);
        let err = denied.approve(d).unwrap_err();
        assert!(
            err.to_string()
                .contains("is denied, so it cannot become approved"),
            "{err}"
        );
        assert_eq!(denied.status, RunStatus::Denied);
        assert!(denied.approval.is_none());

        let mut stale = run(RunStatus::Approved);
        stale.go_stale("superseded".to_owned()).unwrap();
        assert!(stale.start_applying().is_err(), "applying a stale run");

        let mut done = run(RunStatus::Applying);
        done.finish(RunStatus::Applied, None).unwrap();
        assert!(
            done.finish(RunStatus::Failed, None).is_err(),
            "finishing twice"
        );
        assert!(done.go_stale("late".to_owned()).is_err());

        let mut waiting = run(RunStatus::ApprovalRequired);
        assert!(
            waiting.start_applying().is_err(),
            "applying without approval"
        );
        assert!(waiting.finish(RunStatus::Applied, None).is_err());
        let mut planned = run(RunStatus::Planned);
        assert!(
            planned.finish(RunStatus::Denied, None).is_err(),
            "denied only through deny"
        );
    }

    #[test]
    fn every_move_the_table_allows_lands_on_its_target() {
        use RunStatus::*;
        let all = [
            Planned,
            ApprovalRequired,
            Approved,
            Applying,
            Applied,
            Failed,
            Denied,
            Stale,
            Interrupted,
        ];
        for from in all {
            for to in all {
                let mut r = run(from);
                let moved = r.move_to(to);
                assert_eq!(moved.is_ok(), allowed(from, to), "{from:?} -> {to:?}");
                assert_eq!(r.status, if moved.is_ok() { to } else { from });
                if from.is_final() {
                    assert!(moved.is_err(), "{from:?} is final");
                }
            }
        }
    }
}
