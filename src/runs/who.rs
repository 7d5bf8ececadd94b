//! Who takes a decision on a run: the operating-system user, and the Git
//! identity of the repository, as recorded in the audit log.

use jiff::Timestamp;

use super::{DecidedBy, Decision, DecisionKind, Run};
use crate::environment::Environment;

/// Who takes a decision.
#[derive(Clone)]
pub struct Who {
    pub user: String,
    pub git_identity: Option<String>,
}

impl Who {
    pub fn new(env: &Environment, git_identity: Option<String>) -> Who {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| {
                env.get("USER")
                    .or_else(|| env.get("LOGNAME"))
                    .map(|u| u.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()));
        Who { user, git_identity }
    }

    pub fn decide(&self, run: &Run, decision: DecisionKind, by: DecidedBy) -> Decision {
        let mut d = self.decide_on(&run.id, run.source.commit.clone(), decision, by);
        d.plans = run.plan_hashes();
        d.items = run.items.len();
        d
    }

    pub fn decide_on(
        &self,
        run_id: &str,
        commit: Option<String>,
        decision: DecisionKind,
        by: DecidedBy,
    ) -> Decision {
        Decision {
            time: Timestamp::now(),
            run_id: run_id.to_owned(),
            decision,
            by,
            user: self.user.clone(),
            git_identity: self.git_identity.clone(),
            commit,
            plans: Vec::new(),
            items: 0,
        }
    }
}
