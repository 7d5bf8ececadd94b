//! The gate's mechanics: the policy's [`Verdict`](super::Verdict) on a
//! set of items, and a person's answer when the verdict is to ask. What is
//! decided is recorded by the caller, on the run (see
//! [`crate::runs::Run::approve`] and the other moves of the lifecycle).

use super::{AutoBy, Item, Verdict, decide};
use crate::config::Approval;
use crate::interrupt::Interrupt;
use crate::ui::{Answer, Ui};

/// How the gate decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Nothing needs approval.
    Proceed,
    /// Approved in advance, by `--auto-approve` or the policy.
    AutoApproved(AutoBy),
    /// `approval.destructive = "deny"` refuses.
    Denied,
    /// Approval is needed, and nobody can be asked now.
    Pending,
    /// A person answered `yes` at the prompt.
    Approved,
    /// A person did not: what they answered.
    Refused(String),
}

impl Decided {
    /// Whether a person was shown the plan at the prompt.
    pub fn prompted(&self) -> bool {
        matches!(self, Decided::Approved | Decided::Refused(_))
    }
}

/// Decides on `items` under `policy`; when a person must be asked and
/// can be, shows them `prompt()` and reads the answer.
pub async fn pass(
    policy: &Approval,
    items: &[Item],
    auto_approve: bool,
    ui: &Ui,
    prompt: impl FnOnce() -> String,
    interrupt: &Interrupt,
) -> Decided {
    match decide(policy, items, auto_approve, ui.can_prompt()) {
        Verdict::Proceed => Decided::Proceed,
        Verdict::AutoApproved(by) => Decided::AutoApproved(by),
        Verdict::Denied => Decided::Denied,
        Verdict::Pending => Decided::Pending,
        Verdict::Ask => match ui.confirm(&prompt(), "yes", interrupt).await {
            Answer::Yes => Decided::Approved,
            other => Decided::Refused(other.describe()),
        },
    }
}
