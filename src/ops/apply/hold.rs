//! Workloads held during `apply`: diffed again with the outputs of the
//! stacks just applied, they need an approval the run does not have. On a
//! terminal the person is asked then; otherwise they become a run of their
//! own, waiting for `strata approve`.

use jiff::Timestamp;

use super::super::Error;
use super::super::plan::finish;
use super::super::workloads;
use crate::approval::Item;
use crate::interrupt::Interrupt;
use crate::report::{self, Report};
use crate::runs::{self, DecidedBy, DecisionKind, Run, RunStatus, Runs, Who};
use crate::ui::{Answer, Ui};

/// What became of workloads held for an approval during apply.
pub(super) enum Hold {
    /// Nothing was held.
    None,
    /// A person approved them at the prompt.
    Approved,
    /// Saved as a run of their own, waiting for `strata approve`.
    Saved { run: String, names: Vec<String> },
    /// A person refused them at the prompt.
    Refused { why: String, names: Vec<String> },
}

/// Workloads that, diffed again with the outputs of the stacks just
/// applied, need an approval the run does not have: on a terminal the
/// person is asked now (and the decision recorded on this run); otherwise
/// they are saved as a new run, pending approval, that `strata approve`
/// and `strata apply --run` take like any other.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub(super) async fn hold(
    runs: &Runs,
    run: &mut Run,
    held: &[workloads::Held],
    source: &report::Source,
    who: &Who,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Hold, Error> {
    let names: Vec<String> = held
        .iter()
        .map(|h| h.workload.config.name.clone())
        .collect();
    let uncovered: Vec<Item> = held.iter().flat_map(|h| h.uncovered.clone()).collect();
    if ui.can_prompt() {
        let preview = held_report(held, source, &run.id, uncovered.clone());
        let asking: Vec<&str> = held
            .iter()
            .filter(|h| !h.uncovered.is_empty())
            .map(|h| h.workload.config.name.as_str())
            .collect();
        let waiting: Vec<&str> = held
            .iter()
            .filter(|h| h.uncovered.is_empty())
            .map(|h| h.workload.config.name.as_str())
            .collect();
        ui.notice(&format!(
            "The stacks were applied. Diffed again with their new outputs, {} now {} approval{}:",
            asking.join(", "),
            if asking.len() == 1 { "needs" } else { "need" },
            if waiting.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} {} for it)",
                    waiting.join(", "),
                    if waiting.len() == 1 { "waits" } else { "wait" }
                )
            }
        ));
        let text = report::text::prompt(&preview, ui.color_stderr());
        let answer = ui.confirm(&text, "yes", interrupt).await;
        let yes = answer == Answer::Yes;
        let kind = if yes {
            DecisionKind::Approved
        } else {
            DecisionKind::Refused
        };
        let mut decision =
            who.decide_on(&run.id, run.source.commit.clone(), kind, DecidedBy::Prompt);
        decision.items = uncovered.len();
        runs.record(&decision)?;
        if yes {
            run.items.extend(uncovered.iter().cloned());
            return Ok(Hold::Approved);
        }
        return Ok(Hold::Refused {
            why: format!("refused at the prompt: {}", answer.describe()),
            names,
        });
    }
    let now = Timestamp::now();
    let pending = Run {
        id: Runs::new_id(),
        command: "apply".to_owned(),
        created: now,
        updated: now,
        status: RunStatus::ApprovalRequired,
        saved: true,
        source: run.source.clone(),
        policy: run.policy.clone(),
        stacks: Vec::new(),
        workloads: held
            .iter()
            .map(|h| runs::WorkloadRun {
                name: h.workload.config.name.clone(),
                path: h.workload.config.path.clone(),
                depends_on: h.workload.config.depends_on.clone(),
                changes: true,
                inputs: run
                    .workloads
                    .iter()
                    .find(|w| w.name == h.workload.config.name)
                    .and_then(|w| w.inputs.clone()),
            })
            .collect(),
        items: held.iter().flat_map(|h| h.workload.items.clone()).collect(),
        approval: None,
        note: Some(format!(
            "held by run {}: diffed again after its stacks were applied, {} needs approval for: {}",
            run.id,
            names.join(", "),
            uncovered
                .iter()
                .map(|i| format!("{} {}", i.action, i.address))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    };
    runs.create(&pending)?;
    let report = held_report(held, source, &pending.id, pending.items.clone());
    finish(runs, &pending, &report)?;
    Ok(Hold::Saved {
        run: pending.id,
        names,
    })
}

/// What the held workloads would do, as a plan of run `id` with
/// `approvals`.
fn held_report(
    held: &[workloads::Held],
    source: &report::Source,
    id: &str,
    approvals: Vec<Item>,
) -> Report {
    let mut report = Report::new("plan", Some(source.clone()), Vec::new())
        .with_workloads(held.iter().map(|h| h.workload.report.clone()).collect());
    report.run_id = Some(id.to_owned());
    report.approvals = approvals;
    report
}
