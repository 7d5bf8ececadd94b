//! `strata apply`: plan into a new run (or take a saved one with `--run`),
//! take every approval decision, then apply exactly the saved plan files in
//! dependency order.
//!
//! The order is the contract: everything is planned and every decision is
//! taken before the first `terraform apply`. A refusal, a policy denial or a
//! missing approval changes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::dag::{self, NodeResult};
use super::plan::{
    DENIED, PlanOptions, Planned, Shared as PlanShared, finish, locate, plan_stack_into,
};
use super::publish::{self, Layout};
use super::workloads::{self, Converge, KubeOptions, WorkloadPlanned};
use super::{Environment, Error, SourceOptions, export, open_state};
use crate::approval::{self, Item, Verdict};
use crate::config::{self, Config, Stack};
use crate::interrupt::Interrupt;
use crate::kube::Cluster;
use crate::kube::manifest::Tools;
use crate::report::{self, Outcome, Report, StackReport, StackStatus};
use crate::runs::{self, DecidedBy, Decision, DecisionKind, Run, RunStatus, Runs, StackRun};
use crate::terraform::plan as tfplan;
use crate::terraform::{Terraform, TerraformError};
use crate::ui::{Answer, Task, Ui};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// What to plan (source, `--stack`, `--ask-always`); with `run`, only
    /// the state directory and lock timeout are used.
    pub plan: PlanOptions,
    /// `--auto-approve`: a person decided in advance.
    pub auto_approve: bool,
    /// `--run`: apply this saved run instead of planning anew.
    pub run: Option<String>,
}

/// Plans (or loads the saved run), passes the gate, applies.
///
/// # Errors
/// As `plan`, plus runs that cannot be applied (unknown, applied, stale,
/// denied) and an interrupt. Stack failures are in the report.
pub async fn apply(opts: &ApplyOptions, ui: &Ui, interrupt: &Interrupt) -> Result<Report, Error> {
    match &opts.run {
        Some(id) => apply_saved(id, opts, ui, interrupt).await,
        None => apply_fresh(opts, ui, interrupt).await,
    }
}

async fn apply_fresh(opts: &ApplyOptions, ui: &Ui, interrupt: &Interrupt) -> Result<Report, Error> {
    let mut planned = Planned::plan(&opts.plan, "apply", ui, interrupt).await?;
    if planned.failed() {
        planned.run.status = RunStatus::Failed;
        planned.run.note = Some("planning failed; nothing was applied".to_owned());
        let mut report = planned.report("apply");
        report
            .errors
            .push("planning failed, so nothing was applied".to_owned());
        planned.finish(&report)?;
        return Ok(report);
    }
    if !planned.run.has_changes() {
        planned.run.status = RunStatus::Applied;
        let report = planned.report("apply");
        planned.finish(&report)?;
        return Ok(report);
    }
    // The plan files are what gets applied, now or after `strata approve`.
    planned.run.saved = true;
    let preview = planned.report("plan");
    let who = Who::new(&opts.plan.env, planned.snapshot.git_identity.clone());
    let gate = gate(
        &planned.runs,
        &mut planned.run,
        &preview,
        opts.auto_approve,
        &who,
        ui,
        interrupt,
    )
    .await?;
    let prompted = match gate {
        Gate::Go { prompted } => prompted,
        Gate::Stop { outcome, prompted } => {
            let mut report = planned.report("apply");
            report.result = outcome;
            report.compact = prompted;
            report.message = planned.run.note.clone();
            planned.finish(&report)?;
            return Ok(report);
        }
    };
    let Planned {
        state,
        snapshot,
        config,
        terraform,
        runs,
        run,
        reports,
        cluster,
        workloads,
        layout,
    } = planned;
    let target = Target {
        root: snapshot.root.clone(),
        terraform,
        runs,
        config,
        who,
        auto_approve: opts.auto_approve,
        cluster,
        workloads,
        kube: opts.plan.kube.clone(),
        tools: workloads::tools(&opts.plan.env),
        layout,
    };
    let report = apply_run(
        target,
        run,
        reports,
        (&snapshot).into(),
        prompted,
        ui,
        interrupt,
    )
    .await;
    drop(state);
    report
}

async fn apply_saved(
    id: &str,
    opts: &ApplyOptions,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Report, Error> {
    let source = &opts.plan.source;
    let state = open_state(source, &opts.plan.env, "apply", ui, interrupt).await?;
    let runs = Runs::at(state.root());
    let mut run = runs.load(id)?;
    check_appliable(&run)?;
    check_fresh(&runs, &mut run)?;

    // The run's own commit, whatever the repository's HEAD is now.
    let run_source = SourceOptions {
        repo: run.source.spec.clone(),
        reference: if run.source.worktree {
            None
        } else {
            run.source.commit.clone()
        },
        worktree: run.source.worktree,
        state_dir: source.state_dir.clone(),
        lock_timeout: source.lock_timeout,
    };
    let mut snapshot = export(&state, &run_source, interrupt).await?;
    // Reports name the repository and ref as the run was planned from, not
    // the absolute path and bare commit used to check it out again.
    snapshot.repo = run.source.repo.clone();
    snapshot.reference = run.source.reference.clone();
    let config = config::load(&snapshot.root)?;
    let tools = workloads::tools(&opts.plan.env);
    let layout = if run.workloads.is_empty() {
        Layout::default()
    } else {
        publish::layout(&config, &snapshot.root, &tools)
    };
    // Workloads read their stacks' outputs from Terraform's state, so a
    // run of workloads alone needs Terraform too when they use outputs.
    let terraform = if run.stacks.is_empty() && workloads::needed_stacks(&layout).is_empty() {
        None
    } else {
        Some(locate(&config, &opts.plan.env, &opts.plan.cwd, &state, interrupt).await?)
    };
    let reports = saved_reports(&runs, &run)?;
    // Workloads are diffed again: the cluster may have moved since. What
    // they need approval for must still be what the run's approval covers.
    let (cluster, planned_workloads) = if run.workloads.is_empty() {
        (None, Vec::new())
    } else {
        let cluster = workloads::connect(&opts.plan.kube, &opts.plan.env).await?;
        let names: Vec<String> = run.workloads.iter().map(|w| w.name.clone()).collect();
        let selected = layout.select(&names, false);
        let sources = workloads::outputs_sources(
            &layout,
            &config,
            terraform.as_ref(),
            (&snapshot.root, &runs, &run.id),
            &BTreeSet::new(),
        );
        let current = workloads::state_outputs(sources, interrupt).await;
        let outputs = workloads::planned_outputs(current, &reports);
        let inputs = workloads::Inputs {
            layout: &layout,
            cluster: &cluster,
            root: &snapshot.root,
            outputs: &outputs,
            commit: run.source.commit.as_deref(),
            policy: &run.policy,
            options: &opts.plan.kube,
            tools: &tools,
        };
        let mut planned = Vec::new();
        for w in &selected {
            planned.push(workloads::plan_workload(w, &inputs).await);
        }
        (Some(cluster), planned)
    };
    let mut preview = Report::new("plan", Some((&snapshot).into()), reports.clone())
        .with_workloads(planned_workloads.iter().map(|w| w.report.clone()).collect());
    preview.run_id = Some(run.id.clone());
    preview.notify = config.notify.clone();
    preview.approvals = run.items.clone();

    let mut prompted = false;
    let who = Who::new(&opts.plan.env, snapshot.git_identity.clone());
    if run.approval.is_none() {
        match gate(
            &runs,
            &mut run,
            &preview,
            opts.auto_approve,
            &who,
            ui,
            interrupt,
        )
        .await?
        {
            Gate::Go { prompted: p } => prompted = p,
            Gate::Stop { outcome, prompted } => {
                let mut report = preview;
                report.command = "apply".to_owned();
                report.result = outcome;
                report.compact = prompted;
                report.message = run.note.clone();
                finish(&runs, &run, &report)?;
                return Ok(report);
            }
        }
    }
    let target = Target {
        root: snapshot.root.clone(),
        terraform,
        runs,
        config,
        who,
        auto_approve: opts.auto_approve,
        cluster,
        workloads: planned_workloads,
        kube: opts.plan.kube.clone(),
        tools: workloads::tools(&opts.plan.env),
        layout,
    };
    let report = apply_run(
        target,
        run,
        reports,
        (&snapshot).into(),
        prompted,
        ui,
        interrupt,
    )
    .await;
    drop(state);
    report
}

/// Refuses runs that cannot be applied, saying what to do instead.
fn check_appliable(run: &Run) -> Result<(), Error> {
    let refuse = |message: String, hint: &str| {
        Err(Error::RunRefused {
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
pub(crate) fn check_fresh(runs: &Runs, run: &mut Run) -> Result<(), Error> {
    let problem = stale_reason(runs, run)?;
    let Some(reason) = problem else {
        return Ok(());
    };
    let id = run.id.clone();
    runs.update(&id, |r| {
        r.status = RunStatus::Stale;
        r.note = Some(reason.clone());
        Ok::<_, Error>(())
    })?;
    run.status = RunStatus::Stale;
    runs.drop_plans(&id);
    Err(Error::RunRefused {
        message: format!("stale: run {id} can no longer be applied: {reason}"),
        hint: "re-plan with `strata plan --save` (or run `strata apply`)".to_owned(),
    })
}

fn stale_reason(runs: &Runs, run: &Run) -> Result<Option<String>, Error> {
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
        let found = runs::sha256_file(&file)?;
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

/// The per-stack reports of a saved run, from its kept plan JSON.
fn saved_reports(runs: &Runs, run: &Run) -> Result<Vec<StackReport>, Error> {
    run.stacks
        .iter()
        .map(|s| {
            if !s.changes {
                return Ok(StackReport::in_sync(&s.name, &s.path));
            }
            let path = runs.plan_json(&run.id, &s.name);
            let plan =
                tfplan::parse_file(&path).map_err(|error| Error::PlanFile { path, error })?;
            Ok(StackReport::from_plan(&s.name, &s.path, &plan))
        })
        .collect()
}

/// Who takes a decision.
#[derive(Clone)]
pub(crate) struct Who {
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

enum Gate {
    /// Go ahead; `prompted` says the plan was shown at the prompt.
    Go { prompted: bool },
    /// Stop before anything changes, with this outcome; `prompted` as for
    /// `Go`.
    Stop { outcome: Outcome, prompted: bool },
}

/// The approval gate: decides, asks if it may, records the decision.
async fn gate(
    runs: &Runs,
    run: &mut Run,
    preview: &Report,
    auto_approve: bool,
    who: &Who,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Gate, Error> {
    let verdict = approval::decide(&run.policy, &run.items, auto_approve, ui.can_prompt());
    let gate = match verdict {
        Verdict::Proceed => return Ok(Gate::Go { prompted: false }),
        Verdict::AutoApproved(by) => {
            let decision = who.decide(run, DecisionKind::AutoApproved, by.into());
            runs.record(&decision)?;
            run.approval = Some(decision);
            run.status = RunStatus::Approved;
            Gate::Go { prompted: false }
        }
        Verdict::Denied => {
            runs.record(&who.decide(run, DecisionKind::Denied, DecidedBy::Policy))?;
            run.status = RunStatus::Denied;
            run.note = Some(DENIED.to_owned());
            Gate::Stop {
                outcome: Outcome::Denied,
                prompted: false,
            }
        }
        Verdict::Pending => {
            run.status = RunStatus::ApprovalRequired;
            run.saved = true;
            Gate::Stop {
                outcome: Outcome::ApprovalRequired,
                prompted: false,
            }
        }
        Verdict::Ask => {
            let text = report::text::prompt(preview, ui.color_stderr());
            let answer = ui.confirm(&text, "yes", interrupt).await;
            if answer == Answer::Yes {
                let decision = who.decide(run, DecisionKind::Approved, DecidedBy::Prompt);
                runs.record(&decision)?;
                run.approval = Some(decision);
                run.status = RunStatus::Approved;
                Gate::Go { prompted: true }
            } else {
                runs.record(&who.decide(run, DecisionKind::Refused, DecidedBy::Prompt))?;
                run.status = RunStatus::Denied;
                run.note = Some(format!("refused at the prompt: {}", answer.describe()));
                Gate::Stop {
                    outcome: Outcome::Denied,
                    prompted: true,
                }
            }
        }
    };
    // `strata approve` may have approved the run while it was being
    // decided here (a saved run, without a terminal): keep that approval
    // rather than write the run back as waiting for one.
    let mine = run.clone();
    let approved_meanwhile = runs.update(&run.id, |r| {
        if matches!(
            gate,
            Gate::Stop {
                outcome: Outcome::ApprovalRequired,
                ..
            }
        ) && r.status == RunStatus::Approved
        {
            return Ok::<_, Error>(Some(r.clone()));
        }
        *r = mine;
        Ok(None)
    })?;
    if let Some(approved) = approved_meanwhile {
        *run = approved;
        return Ok(Gate::Go { prompted: false });
    }
    Ok(gate)
}

/// Where and with what a run is applied.
struct Target {
    root: PathBuf,
    /// `None` when the run has no stacks.
    terraform: Option<Terraform>,
    runs: Runs,
    config: Config,
    who: Who,
    auto_approve: bool,
    /// `None` when the run has no workloads.
    cluster: Option<Cluster>,
    workloads: Vec<WorkloadPlanned>,
    kube: KubeOptions,
    tools: Tools,
    /// The workloads as laid out at planning.
    layout: Layout,
}

struct Shared {
    /// For planning a stack again after a stack it depends on was applied.
    plan: PlanShared,
    stacks: Vec<Stack>,
    /// What the person (or flag, or policy) approved.
    approved: Vec<Item>,
    /// `--auto-approve` was given.
    auto_approve: bool,
    who: Who,
    commit: Option<String>,
    /// Stacks applied so far in this run.
    applied: Mutex<BTreeSet<String>>,
    /// Terraform refused a saved plan as stale, or a plan file changed.
    stale: AtomicBool,
    /// A stack planned again needs approval that was not given.
    blocked: AtomicBool,
}

/// How the stacks of a run went.
struct StacksApplied {
    reports: Vec<StackReport>,
    stale: bool,
    blocked: bool,
}

/// Applies the run's saved plans in dependency order, then converges its
/// workloads, and reports.
async fn apply_run(
    target: Target,
    mut run: Run,
    reports: Vec<StackReport>,
    source: report::Source,
    prompted: bool,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Report, Error> {
    // Claim the run, and write it whole (stacks, items, approval): from
    // here on `strata approve` refuses it.
    run.status = RunStatus::Applying;
    target.runs.update(&run.id, |r| {
        if !matches!(
            r.status,
            RunStatus::Approved | RunStatus::Planned | RunStatus::ApprovalRequired
        ) {
            return Err(Error::RunRefused {
                message: format!("run {} became {} meanwhile", r.id, r.status.as_str()),
                hint: "see `strata runs`".to_owned(),
            });
        }
        *r = run.clone();
        Ok(())
    })?;
    let runs = target.runs.clone();
    let stacks = match &target.terraform {
        Some(terraform) => {
            apply_stacks(&target, terraform.clone(), &run, reports, ui, interrupt).await
        }
        None => StacksApplied {
            reports: Vec::new(),
            stale: false,
            blocked: false,
        },
    };
    let StacksApplied {
        reports,
        stale,
        blocked,
    } = stacks;
    let mut held = Hold::None;
    let workloads = match target.cluster {
        Some(cluster) if !interrupt.is_requested() => {
            let (commit, policy) = (run.source.commit.clone(), run.policy.clone());
            // Read once the stacks are done, from Terraform's state: what
            // this run applied, and what it left as it was.
            let applied: BTreeSet<String> = reports
                .iter()
                .filter(|r| r.status == StackStatus::Applied)
                .map(|r| r.name.clone())
                .collect();
            let sources = workloads::outputs_sources(
                &target.layout,
                &target.config,
                target.terraform.as_ref(),
                (&target.root, &runs, &run.id),
                &applied,
            );
            let outputs = workloads::state_outputs(sources, interrupt).await;
            let converge = |approved: Vec<Item>| {
                Arc::new(Converge {
                    cluster: cluster.clone(),
                    root: target.root.clone(),
                    outputs: outputs.clone(),
                    commit: commit.clone(),
                    policy: policy.clone(),
                    options: target.kube.clone(),
                    tools: target.tools.clone(),
                    approved,
                    auto_approve: target.auto_approve,
                    interrupt: interrupt.clone(),
                    layout: target.layout.clone(),
                })
            };
            let first = workloads::apply_workloads(
                converge(run.items.clone()),
                target.workloads,
                &reports,
                ui,
            )
            .await;
            let mut out = first.reports;
            if !first.held.is_empty() && !interrupt.is_requested() {
                held = hold(
                    &runs,
                    &mut run,
                    &first.held,
                    &source,
                    &target.who,
                    ui,
                    interrupt,
                )
                .await?;
                if let Hold::Approved = &held {
                    let again = workloads::apply_workloads(
                        converge(run.items.clone()),
                        first.held.iter().map(|h| h.workload.clone()).collect(),
                        &reports,
                        ui,
                    )
                    .await;
                    for mut r in again.reports {
                        if again.held.iter().any(|h| h.workload.config.name == r.name) {
                            r.status = StackStatus::Error;
                            r.error = Some(
                                "its diff changed again while it was being approved; run `strata apply` again to review it".to_owned(),
                            );
                        }
                        if let Some(slot) = out.iter_mut().find(|o| o.name == r.name) {
                            *slot = r;
                        }
                    }
                }
            }
            out
        }
        _ => target.workloads.iter().map(|w| w.report.clone()).collect(),
    };

    let mut report = Report::new("apply", Some(source), reports).with_workloads(workloads);
    report.notify = target.config.notify.clone();
    let failed = report
        .statuses()
        .any(|s| matches!(s, StackStatus::Error | StackStatus::Skipped));
    let status = if interrupt.is_requested() {
        RunStatus::Interrupted
    } else if stale {
        RunStatus::Stale
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Applied
    };
    report.run_id = Some(run.id.clone());
    report.approvals = run.items.clone();
    report.compact = prompted;
    report.result = if failed {
        Outcome::Error
    } else if report.statuses().any(|s| s == StackStatus::Applied) {
        Outcome::Applied
    } else {
        Outcome::InSync
    };
    match &held {
        Hold::None | Hold::Approved => {}
        Hold::Saved { run: id, names } => {
            report.held = names.clone();
            report.pending_run = Some(id.clone());
            if !failed {
                report.result = Outcome::ApprovalRequired;
            }
        }
        Hold::Refused { why, names } => {
            report.held = names.clone();
            report.message = Some(why.clone());
            if !failed {
                report.result = Outcome::Denied;
            }
        }
    }
    if stale {
        report.errors.push(
            "stale: a saved plan no longer matches the state; re-plan with strata plan".to_owned(),
        );
    }
    if blocked {
        report.errors.push(
            "a stack planned again after its dependencies were applied was not applied (see above); run `strata apply` again to review its new plan".to_owned(),
        );
    }
    let final_run = runs.update(&run.id, |r| {
        r.status = status;
        r.items = run.items.clone();
        r.note = match status {
            RunStatus::Interrupted => Some("interrupted during apply".to_owned()),
            RunStatus::Stale => Some("Terraform refused a saved plan as stale".to_owned()),
            _ if blocked => report.errors.last().cloned(),
            _ if !report.held.is_empty() => Some(format!(
                "workloads held for approval: {}{}",
                report.held.join(", "),
                report
                    .pending_run
                    .as_deref()
                    .map(|id| format!(" (saved as run {id})"))
                    .unwrap_or_default()
            )),
            _ => r.note.take(),
        };
        Ok::<_, Error>(r.clone())
    })?;
    finish(&runs, &final_run, &report)?;
    if status == RunStatus::Interrupted {
        return Err(Error::Interrupted);
    }
    Ok(report)
}

/// What became of workloads held for an approval during apply.
enum Hold {
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
async fn hold(
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

/// Applies the run's stacks in dependency order.
async fn apply_stacks(
    target: &Target,
    terraform: Terraform,
    run: &Run,
    reports: Vec<StackReport>,
    ui: &Ui,
    interrupt: &Interrupt,
) -> StacksApplied {
    let parallelism = target.config.terraform.parallelism;
    let shared = Arc::new(Shared {
        plan: PlanShared {
            terraform,
            root: target.root.clone(),
            runs: target.runs.clone(),
            run_id: run.id.clone(),
            policy: run.policy.clone(),
            interrupt: interrupt.clone(),
        },
        stacks: target.config.stacks.clone(),
        approved: run.items.clone(),
        auto_approve: target.auto_approve,
        who: target.who.clone(),
        commit: run.source.commit.clone(),
        applied: Mutex::default(),
        stale: AtomicBool::new(false),
        blocked: AtomicBool::new(false),
    });
    let work: Arc<Vec<(StackRun, StackReport)>> = Arc::new(
        run.stacks
            .iter()
            .cloned()
            .zip(reports.iter().cloned())
            .collect(),
    );
    let nodes = run
        .stacks
        .iter()
        .map(|s| dag::Node {
            name: s.name.clone(),
            depends_on: s.depends_on.clone(),
        })
        .collect();
    let progress = ui.progress();
    let results = {
        let shared = shared.clone();
        let work = work.clone();
        let stop_on = interrupt.clone();
        dag::run(
            nodes,
            parallelism,
            move || stop_on.is_requested(),
            move |name| {
                let shared = shared.clone();
                let (stack, report) = work
                    .iter()
                    .find(|(s, _)| s.name == name)
                    .cloned()
                    .expect("every node is a stack of the run");
                let task = progress.task(&name);
                async move { apply_stack(&shared, &stack, report, &task).await }
            },
        )
        .await
    };
    let reports: Vec<StackReport> = work
        .iter()
        .map(|(stack, _)| match results.get(&stack.name) {
            Some(NodeResult::Done(r) | NodeResult::Failed(r)) => r.clone(),
            Some(NodeResult::Skipped { because }) => {
                StackReport::skipped(&stack.name, &stack.path, because)
            }
            None => StackReport::skipped(&stack.name, &stack.path, "not scheduled"),
        })
        .collect();
    StacksApplied {
        reports,
        stale: shared.stale.load(Ordering::SeqCst),
        blocked: shared.blocked.load(Ordering::SeqCst),
    }
}

/// Says why a stack planned again during apply was not applied.
const NEEDS_APPROVAL: &str = "now needs approval for";

/// Applies one stack and stores its outputs: its saved plan, or — when a
/// stack it depends on was applied in this run, so its inputs may have
/// changed — a new plan, if everything in it that needs approval was
/// approved. `Err` carries the failure report.
async fn apply_stack(
    shared: &Shared,
    stack: &StackRun,
    report: StackReport,
    task: &Task,
) -> Result<StackReport, StackReport> {
    let upstream: Vec<String> = {
        let applied = shared.applied.lock().expect("not poisoned");
        stack
            .depends_on
            .iter()
            .filter(|d| applied.contains(*d))
            .cloned()
            .collect()
    };
    let result = if upstream.is_empty() {
        if !stack.changes {
            task.finish("no changes");
            return Ok(report);
        }
        apply_saved_plan(shared, stack, task)
            .await
            .map(|()| report.clone())
    } else {
        replan_and_apply(shared, stack, &upstream, task).await
    };
    match result {
        Ok(mut report) => {
            if report.status == StackStatus::InSync {
                task.finish("no changes");
            } else {
                report.status = StackStatus::Applied;
                task.finish("applied");
            }
            Ok(report)
        }
        Err(Failure::Report(report)) => {
            task.finish("failed");
            Err(*report)
        }
        Err(Failure::Error(e)) => {
            if matches!(e, Error::Terraform(TerraformError::StalePlan)) {
                shared.stale.store(true, Ordering::SeqCst);
            }
            task.finish("failed");
            let mut report = report;
            report.status = StackStatus::Error;
            report.error = Some(crate::error_chain(&e));
            Err(report)
        }
    }
}

enum Failure {
    /// A report that already says what went wrong.
    Report(Box<StackReport>),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

impl From<crate::runs::RunError> for Failure {
    fn from(e: crate::runs::RunError) -> Failure {
        Failure::Error(e.into())
    }
}

async fn apply_saved_plan(shared: &Shared, stack: &StackRun, task: &Task) -> Result<(), Failure> {
    let runs = &shared.plan.runs;
    let planfile = runs.plan_file(&shared.plan.run_id, &stack.name);
    // Checked for the whole run before the first apply; again here, right
    // before Terraform reads the file.
    let found = runs::sha256_file(&planfile)?;
    if Some(&found) != stack.plan_sha256.as_ref() {
        shared.stale.store(true, Ordering::SeqCst);
        return Err(Error::Invalid {
            path: planfile,
            message: "stale: the saved plan changed on disk since it was planned; re-plan with strata plan".to_owned(),
        }
        .into());
    }
    Ok(apply_planfile(shared, &stack.name, &stack.path, &planfile, task).await?)
}

async fn replan_and_apply(
    shared: &Shared,
    stack: &StackRun,
    upstream: &[String],
    task: &Task,
) -> Result<StackReport, Failure> {
    let Some(config) = shared.stacks.iter().find(|s| s.name == stack.name) else {
        return Err(Error::Invalid {
            path: PathBuf::from(&stack.path),
            message: format!("stack {} is not in strata.hcl of this commit", stack.name),
        }
        .into());
    };
    let runs = &shared.plan.runs;
    let planfile = runs
        .dir_of(&shared.plan.run_id)
        .join("stacks")
        .join(&stack.name)
        .join("replan")
        .join("tfplan");
    let outcome = plan_stack_into(&shared.plan, config, &planfile, task).await?;
    let after = upstream.join(", ");
    let mut report = outcome.report;
    report.replanned_after = Some(after.clone());
    if report.status == StackStatus::Error {
        return Err(Failure::Report(Box::new(report)));
    }
    if report.status == StackStatus::InSync {
        return Ok(report);
    }
    let sha = outcome.sha256.clone().unwrap_or_default();
    let uncovered: Vec<Item> = outcome
        .items
        .iter()
        .filter(|i| {
            !shared.approved.iter().any(|a| {
                a.stack == i.stack
                    && a.workload == i.workload
                    && a.address == i.address
                    && a.action == i.action
            })
        })
        .cloned()
        .collect();
    // What the run's approval does not cover goes through the policy and
    // `--auto-approve` like any item; nobody is asked in the middle of an
    // apply.
    let verdict = approval::decide(&shared.plan.policy, &uncovered, shared.auto_approve, false);
    let by = match verdict {
        Verdict::Proceed => (!outcome.items.is_empty()).then_some(DecidedBy::EarlierApproval),
        Verdict::AutoApproved(by) => Some(by.into()),
        Verdict::Denied | Verdict::Pending | Verdict::Ask => {
            let list: Vec<String> = uncovered
                .iter()
                .map(|i| format!("{} {} ({})", i.action, i.address, i.why()))
                .collect();
            let what = if verdict == Verdict::Denied {
                "approval.destructive = \"deny\" refuses"
            } else {
                NEEDS_APPROVAL
            };
            shared.blocked.store(true, Ordering::SeqCst);
            report.status = StackStatus::Error;
            report.error = Some(format!(
                "not applied: planned again after {after} was applied, it {what}: {}. Run `strata apply` again to review the new plan",
                list.join("; ")
            ));
            return Err(Failure::Report(Box::new(report)));
        }
    };
    if let Some(by) = by {
        // Recorded with the hash of the plan that is really applied.
        let mut decision = shared.who.decide_on(
            &shared.plan.run_id,
            shared.commit.clone(),
            DecisionKind::AutoApproved,
            by,
        );
        decision.plans = vec![runs::PlanHash {
            stack: stack.name.clone(),
            sha256: sha.clone(),
        }];
        decision.items = outcome.items.len();
        runs.record(&decision)?;
    }
    runs.update(&shared.plan.run_id, |r| {
        if let Some(s) = r.stacks.iter_mut().find(|s| s.name == stack.name) {
            s.replan_sha256 = Some(sha.clone());
        }
        Ok::<_, Error>(())
    })?;
    apply_planfile(shared, &stack.name, &stack.path, &planfile, task).await?;
    Ok(report)
}

/// `terraform apply PLANFILE`. Its outputs are not copied anywhere: the
/// workloads read them from Terraform's state once the stacks are done.
async fn apply_planfile(
    shared: &Shared,
    name: &str,
    path: &str,
    planfile: &Path,
    task: &Task,
) -> Result<(), Error> {
    let plan = &shared.plan;
    let dir = plan.root.join(path);
    task.step("apply");
    plan.terraform
        .apply(&dir, planfile, &plan.interrupt)
        .await?;
    crate::failpoint::reached(&format!("{name}/applied"));
    shared
        .applied
        .lock()
        .expect("not poisoned")
        .insert(name.to_owned());
    plan.runs.update(&plan.run_id, |r| {
        if let Some(s) = r.stacks.iter_mut().find(|s| s.name == name) {
            s.applied_at = Some(Timestamp::now());
        }
        Ok::<_, Error>(())
    })?;
    Ok(())
}
