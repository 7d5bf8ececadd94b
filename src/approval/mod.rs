//! The approval gate: which planned changes need a person's approval, and
//! what to do about them.
//!
//! [`items`] lists what needs approval in one stack's plan: every
//! destructive change (delete, either order of replace, forget), every change
//! to an address matched by an `approval.protect` pattern, and — with
//! `ask_always` — every change at all. [`decide`] turns the policy, those
//! items, `--auto-approve` and whether a person is at a terminal into a
//! [`Verdict`]. Both are pure: the prompt itself is in [`crate::ui`] and the
//! records in [`crate::runs`].

pub mod pattern;

pub mod gate;

use serde::{Deserialize, Serialize};

use crate::config::{Approval, Destructive};
use crate::terraform::plan::{Action, Plan, ResourceChange};

/// One change that needs approval, with everything a person needs to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The stack the change is in (empty for a workload's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stack: String,
    /// The workload the change is in (empty for a stack's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    /// A Terraform address, or `Kind/name` / `Kind/namespace/name`.
    pub address: String,
    /// `delete`, `replace`, `forget`, `update`, …
    pub action: String,
    /// Deletes, replaces or forgets the object.
    pub destructive: bool,
    /// Terraform's reason and the attributes forcing a replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `approval.protect` pattern that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_by: Option<String>,
    /// Only a person (or `--allow-empty-prune`) may approve it: neither
    /// `--auto-approve` nor `destructive = "allow"` covers it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_person: bool,
    /// What a policy's `approve` rule said (`policy guardrails: …`):
    /// neither `destructive = "allow"` nor its absence from the other
    /// reasons lets it through without an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Item {
    /// The stack or workload the item is in.
    pub fn owner(&self) -> &str {
        if self.workload.is_empty() {
            &self.stack
        } else {
            &self.workload
        }
    }

    /// Why the item needs approval, for people: the reason, the pattern, or
    /// that every change is asked for.
    pub fn why(&self) -> String {
        let mut parts = Vec::new();
        if let Some(reason) = &self.reason {
            parts.push(reason.clone());
        }
        if let Some(pattern) = &self.protected_by {
            parts.push(format!("protected by pattern {pattern:?}"));
        }
        if let Some(policy) = &self.policy {
            parts.push(policy.clone());
        }
        if parts.is_empty() {
            parts.push(if self.destructive {
                "destroys the object".to_owned()
            } else {
                "approval.ask_always is set".to_owned()
            });
        }
        parts.join("; ")
    }
}

/// The items of one stack's plan that need approval under `policy`.
pub fn items(policy: &Approval, stack: &str, plan: &Plan) -> Vec<Item> {
    plan.changes
        .iter()
        .filter_map(|change| item(policy, stack, change))
        .collect()
}

fn item(policy: &Approval, stack: &str, change: &ResourceChange) -> Option<Item> {
    // Reading a data source changes nothing; a plain no-op is not a change.
    let is_change = match change.action {
        Action::Read => false,
        Action::NoOp => change.is_move() || change.is_import(),
        _ => true,
    };
    if !is_change {
        return None;
    }
    let destructive = change.destructive();
    let modules = change
        .module_address
        .as_deref()
        .map(pattern::module_paths)
        .unwrap_or_default();
    let protected_by = policy
        .protect
        .iter()
        .find(|p| {
            pattern::matches(p, &change.address)
                || modules.iter().any(|m| pattern::matches(p, m))
                || change
                    .previous_address
                    .as_deref()
                    .is_some_and(|a| pattern::matches(p, a))
        })
        .cloned();
    if !destructive && protected_by.is_none() && !policy.ask_always {
        return None;
    }
    let action = if change.action == Action::NoOp && change.is_move() {
        "move"
    } else if change.action == Action::NoOp && change.is_import() {
        "import"
    } else {
        change.action.as_str()
    };
    Some(Item {
        stack: stack.to_owned(),
        workload: String::new(),
        address: change.address.clone(),
        action: action.to_owned(),
        destructive,
        reason: change.reason(),
        protected_by,
        needs_person: false,
        policy: None,
    })
}

/// The items of one workload's diff that need approval under `policy`:
/// prunes and recreates, changes to protected objects (`Kind/name` or
/// `Kind/namespace/name`), and with `ask_always` every change. A prune of
/// every object of the workload needs a person unless `allow_empty_prune`.
pub fn workload_items(
    policy: &Approval,
    workload: &str,
    plan: &crate::kube::converge::Plan,
    allow_empty_prune: bool,
) -> Vec<Item> {
    let everything = plan.empty_prune() && !allow_empty_prune;
    plan.changes
        .iter()
        .filter_map(|change| {
            let address = change.id.address();
            let destructive = change.action.destructive();
            let protected_by = policy
                .protect
                .iter()
                .find(|p| pattern::matches(p, &address))
                .cloned();
            if !destructive && protected_by.is_none() && !policy.ask_always {
                return None;
            }
            let needs_person = everything && change.action == crate::kube::converge::Action::Prune;
            let reason = if needs_person {
                Some("the workload would have no objects left: every object it applied would be deleted (pass --allow-empty-prune if that is meant)".to_owned())
            } else {
                change.reason.clone()
            };
            Some(Item {
                stack: String::new(),
                workload: workload.to_owned(),
                address,
                action: change.action.as_str().to_owned(),
                destructive,
                reason,
                protected_by,
                needs_person,
                policy: None,
            })
        })
        .collect()
}

/// Who or what approved without a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoBy {
    /// `--auto-approve`: a person decided in advance.
    Flag,
    /// `approval.destructive = "allow"` covers every item.
    Policy,
}

/// What the gate does with a set of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing needs approval.
    Proceed,
    /// Everything that needs approval is approved in advance.
    AutoApproved(AutoBy),
    /// Ask the person at the terminal.
    Ask,
    /// Nobody can be asked: save the run and stop with exit 3.
    Pending,
    /// `approval.destructive = "deny"` and there is destructive work.
    Denied,
}

/// The gate's decision. `deny` beats every flag; `allow` covers destructive
/// items but not protected ones (protection is stricter on purpose);
/// `--auto-approve` covers everything else except what needs a person (a
/// prune that would empty a workload); otherwise a person is asked,
/// or, without a terminal, the run waits for `strata approve`.
pub fn decide(policy: &Approval, items: &[Item], auto_approve: bool, terminal: bool) -> Verdict {
    if items.is_empty() {
        return Verdict::Proceed;
    }
    if policy.destructive == Destructive::Deny && items.iter().any(|i| i.destructive) {
        return Verdict::Denied;
    }
    let covered_by_policy = |i: &Item| {
        policy.destructive == Destructive::Allow
            && i.destructive
            && i.protected_by.is_none()
            && i.policy.is_none()
            && !policy.ask_always
            && !i.needs_person
    };
    if items.iter().all(covered_by_policy) {
        return Verdict::AutoApproved(AutoBy::Policy);
    }
    if auto_approve && !items.iter().any(|i| i.needs_person) {
        return Verdict::AutoApproved(AutoBy::Flag);
    }
    if terminal {
        Verdict::Ask
    } else {
        Verdict::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::plan::{Mode, Plan};

    fn change(address: &str, action: Action) -> ResourceChange {
        ResourceChange {
            address: address.to_owned(),
            previous_address: None,
            module_address: address
                .rfind(".terraform_data")
                .map(|i| address[..i].to_owned()),
            mode: Mode::Managed,
            resource_type: "terraform_data".to_owned(),
            name: "x".to_owned(),
            deposed: None,
            action,
            action_reason: (action == Action::DeleteThenCreate)
                .then(|| "replace_because_cannot_update".to_owned()),
            replace_paths: Vec::new(),
            importing: None,
            attributes: Vec::new(),
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            format_version: "1.2".to_owned(),
            terraform_version: None,
            changes,
            unchanged: 0,
            drift: Vec::new(),
            outputs: Vec::new(),
            errored: false,
            failed_checks: Vec::new(),
        }
    }

    fn policy(destructive: Destructive, protect: &[&str]) -> Approval {
        Approval {
            destructive,
            protect: protect.iter().map(|p| p.to_string()).collect(),
            ask_always: false,
        }
    }

    #[test]
    fn destructive_and_protected_changes_need_approval() {
        let p = plan(vec![
            change("terraform_data.new", Action::Create),
            change("terraform_data.edit", Action::Update),
            change("terraform_data.old", Action::Delete),
            change("terraform_data.swap", Action::DeleteThenCreate),
            change("terraform_data.cbd", Action::CreateThenDelete),
            change("terraform_data.gone", Action::Forget),
            change("module.db.terraform_data.main", Action::Update),
            change("module.db[0].module.inner.terraform_data.x", Action::Update),
            change("module.dbx.terraform_data.other", Action::Update),
            change("data.terraform_data.read", Action::Read),
        ]);
        let found = items(&policy(Destructive::Prompt, &["module.db"]), "app", &p);
        let addresses: Vec<&str> = found.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "terraform_data.old",
                "terraform_data.swap",
                "terraform_data.cbd",
                "terraform_data.gone",
                "module.db.terraform_data.main",
                "module.db[0].module.inner.terraform_data.x"
            ]
        );
        let protected = &found[4];
        assert!(!protected.destructive);
        assert_eq!(protected.protected_by.as_deref(), Some("module.db"));
        assert_eq!(
            protected.why(),
            "protected by pattern \"module.db\"",
            "{protected:?}"
        );
        assert_eq!(found[1].why(), "replace_because_cannot_update");
    }

    #[test]
    fn ask_always_lists_every_change_but_reads() {
        let mut policy = policy(Destructive::Prompt, &[]);
        policy.ask_always = true;
        let p = plan(vec![
            change("terraform_data.new", Action::Create),
            change("data.terraform_data.read", Action::Read),
        ]);
        let found = items(&policy, "app", &p);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].why(), "approval.ask_always is set");
    }

    #[test]
    fn the_gate_decides() {
        let p = plan(vec![
            change("terraform_data.old", Action::Delete),
            change("module.db.terraform_data.main", Action::Update),
        ]);
        let prompt = policy(Destructive::Prompt, &[]);
        let destructive = items(&prompt, "app", &p);
        assert_eq!(destructive.len(), 1);
        assert_eq!(decide(&prompt, &[], false, false), Verdict::Proceed);
        assert_eq!(decide(&prompt, &destructive, false, true), Verdict::Ask);
        assert_eq!(
            decide(&prompt, &destructive, false, false),
            Verdict::Pending
        );
        assert_eq!(
            decide(&prompt, &destructive, true, false),
            Verdict::AutoApproved(AutoBy::Flag)
        );

        let deny = policy(Destructive::Deny, &[]);
        assert_eq!(decide(&deny, &destructive, true, true), Verdict::Denied);

        let allow = policy(Destructive::Allow, &[]);
        assert_eq!(
            decide(&allow, &destructive, false, false),
            Verdict::AutoApproved(AutoBy::Policy)
        );
        // Protection is stricter than `allow`.
        let allow_protect = policy(Destructive::Allow, &["module.db.*"]);
        let both = items(&allow_protect, "app", &p);
        assert_eq!(both.len(), 2);
        assert_eq!(
            decide(&allow_protect, &both, false, false),
            Verdict::Pending
        );
        // `deny` with only a protected update asks rather than refuses.
        let deny_protect = policy(Destructive::Deny, &["module.db.*"]);
        let protected: Vec<Item> = items(&deny_protect, "app", &p)
            .into_iter()
            .filter(|i| !i.destructive)
            .collect();
        assert_eq!(decide(&deny_protect, &protected, false, true), Verdict::Ask);
    }
}
