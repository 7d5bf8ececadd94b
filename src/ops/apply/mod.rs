//! `strata apply`: plan into a new run (or take a saved one with `--run`),
//! take every approval decision, then apply exactly the saved plan files in
//! dependency order.
//!
//! The order is the contract: everything is planned and every decision is
//! taken before the first `terraform apply`. A refusal, a policy denial or a
//! missing approval changes nothing.

mod hold;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use self::hold::{Hold, hold};
use super::changed::Skipped;
use super::plan::{DENIED, PlanOptions, Planned, finish};
use super::publish::{self, Layout};
use super::stacks::{StacksApplied, StacksTarget, apply_stacks, locate};
use super::workloads::{self, Converge, KubeOptions, WorkloadPlanned};
use super::{Error, SourceOptions, export, open_state};
use crate::approval::Item;
use crate::approval::gate::{self, Decided};
use crate::config::{self, Config, Notify};
use crate::interrupt::Interrupt;
use crate::kube::manifest::Tools;
use crate::report::{self, Outcome, Report, StackReport, StackStatus};
use crate::runs::{self, DecidedBy, DecisionKind, Run, RunStatus, Runs, Who};
use crate::terraform::Terraform;
use crate::terraform::plan as tfplan;
use crate::ui::Ui;

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
    let (mut report, notify) = converge(opts, ui, interrupt).await?;
    // The last stage: whoever asked to hear of this run's end.
    report.notifications = crate::notify::send(&notify, &report, &opts.plan.env).await;
    Ok(report)
}

/// Every stage of `apply` but the notification, which `watch` sends
/// itself, once per reconcile.
pub(crate) async fn converge(
    opts: &ApplyOptions,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    match &opts.run {
        Some(id) => apply_saved(id, opts, ui, interrupt).await,
        None => apply_fresh(opts, ui, interrupt).await,
    }
}

/// A finished run's report, and the `notify` blocks of its configuration.
pub(crate) type Finished = (Report, Vec<Notify>);

async fn apply_fresh(
    opts: &ApplyOptions,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    let planned = Planned::plan(&opts.plan, "apply", ui, interrupt).await?;
    apply_planned(planned, opts, ui, interrupt).await
}

/// Everything after planning: the gate, then the stacks and workloads of
/// the planned run.
pub(crate) async fn apply_planned(
    mut planned: Planned,
    opts: &ApplyOptions,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    if planned.failed() {
        planned.run.finish(
            RunStatus::Failed,
            Some(if planned.denied() {
                "a policy denies it; nothing was applied".to_owned()
            } else {
                "planning failed; nothing was applied".to_owned()
            }),
        )?;
        let mut report = planned.report("apply");
        if !planned.denied() {
            report
                .errors
                .push("planning failed, so nothing was applied".to_owned());
        }
        planned.finish(&report)?;
        return Ok((report, planned.config.notify));
    }
    if !planned.run.has_changes() {
        planned.run.finish(RunStatus::Applied, None)?;
        let report = planned.report("apply");
        planned.finish(&report)?;
        return Ok((report, planned.config.notify));
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
            return Ok((report, planned.config.notify));
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
        skipped,
        findings,
        policies,
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
        skipped,
        findings,
        policies,
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
) -> Result<Finished, Error> {
    let source = &opts.plan.source;
    let state = open_state(source, &opts.plan.env, "apply", ui, interrupt).await?;
    let runs = Runs::at(state.root());
    let mut run = runs.load(id)?;
    runs::check_appliable(&run)?;
    runs::check_fresh(&runs, &mut run)?;

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
    let names: Vec<String> = run.workloads.iter().map(|w| w.name.clone()).collect();
    let selected = layout.select(&names, false);
    // Workloads read their stacks' outputs from Terraform's state, so a
    // run of workloads alone needs Terraform too when they use outputs.
    let terraform =
        if run.stacks.is_empty() && workloads::needed_stacks(&layout, &selected).is_empty() {
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
        let clusters =
            workloads::Clusters::connect(&opts.plan.kube, &opts.plan.env, &selected).await?;
        let sources = workloads::outputs_sources(
            (&layout, &selected),
            &config,
            terraform.as_ref(),
            (&snapshot.root, &runs, &run.id),
            &BTreeSet::new(),
        );
        let current = workloads::state_outputs(sources, interrupt).await;
        let outputs = workloads::planned_outputs(current, &reports);
        let mut planned = Vec::new();
        for w in &selected {
            let cluster = match clusters.of(w) {
                Ok(cluster) => cluster,
                Err(error) => {
                    planned.push(workloads::WorkloadPlanned::unreachable(w, &error));
                    continue;
                }
            };
            let inputs = workloads::Inputs {
                layout: &layout,
                cluster,
                root: &snapshot.root,
                outputs: &outputs,
                commit: run.source.commit.as_deref(),
                policy: &run.policy,
                options: &opts.plan.kube,
                tools: &tools,
            };
            planned.push(workloads::plan_workload(w, &inputs).await);
        }
        (Some(clusters), planned)
    };
    let mut preview = Report::new("plan", Some((&snapshot).into()), reports.clone())
        .with_workloads(planned_workloads.iter().map(|w| w.report.clone()).collect());
    preview.run_id = Some(run.id.clone());
    preview.approvals = run.items.clone();
    let findings = saved_findings(&runs, &run);
    preview.policy.clone_from(&findings);
    // The same commit's policies, which its plan passed: for what is
    // planned again.
    let policies =
        Arc::new(crate::policy::load(&snapshot.root, &config.policies).map_err(Error::Policy)?);

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
                return Ok((report, config.notify));
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
        skipped: Skipped::default(),
        findings,
        policies,
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

/// What the policies said when `run` was planned, from the report it
/// saved (the approvals are its items already; this brings back the
/// warnings). None if that report cannot be read: it only informs.
fn saved_findings(runs: &Runs, run: &Run) -> Vec<crate::policy::Finding> {
    let path = runs.dir_of(&run.id).join("report.json");
    let report: Option<serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    report
        .and_then(|mut r| serde_json::from_value(r["policy"].take()).ok())
        .unwrap_or_default()
}

enum Gate {
    /// Go ahead; `prompted` says the plan was shown at the prompt.
    Go { prompted: bool },
    /// Stop before anything changes, with this outcome; `prompted` as for
    /// `Go`.
    Stop { outcome: Outcome, prompted: bool },
}

/// The approval gate: decides, asks if it may, records the decision on
/// the run and in the audit log.
async fn gate(
    runs: &Runs,
    run: &mut Run,
    preview: &Report,
    auto_approve: bool,
    who: &Who,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<Gate, Error> {
    let prompt = || report::text::prompt(preview, ui.color_stderr());
    let decided = gate::pass(&run.policy, &run.items, auto_approve, ui, prompt, interrupt).await;
    let prompted = decided.prompted();
    let gate = match decided {
        Decided::Proceed => return Ok(Gate::Go { prompted }),
        Decided::AutoApproved(by) => {
            let decision = who.decide(run, DecisionKind::AutoApproved, by.into());
            runs.record(&decision)?;
            run.approve(decision)?;
            Gate::Go { prompted }
        }
        Decided::Approved => {
            let decision = who.decide(run, DecisionKind::Approved, DecidedBy::Prompt);
            runs.record(&decision)?;
            run.approve(decision)?;
            Gate::Go { prompted }
        }
        Decided::Denied => {
            runs.record(&who.decide(run, DecisionKind::Denied, DecidedBy::Policy))?;
            run.deny(DENIED.to_owned())?;
            Gate::Stop {
                outcome: Outcome::Denied,
                prompted,
            }
        }
        Decided::Refused(answer) => {
            runs.record(&who.decide(run, DecisionKind::Refused, DecidedBy::Prompt))?;
            run.deny(format!("refused at the prompt: {answer}"))?;
            Gate::Stop {
                outcome: Outcome::Denied,
                prompted,
            }
        }
        Decided::Pending => {
            run.await_approval()?;
            Gate::Stop {
                outcome: Outcome::ApprovalRequired,
                prompted,
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
    cluster: Option<workloads::Clusters>,
    workloads: Vec<WorkloadPlanned>,
    kube: KubeOptions,
    tools: Tools,
    /// The workloads as laid out at planning.
    layout: Layout,
    /// What `--changed` left alone.
    skipped: Skipped,
    /// What the policies said when the run was planned (a saved run's
    /// are in its items).
    findings: Vec<crate::policy::Finding>,
    /// The policies, compiled, for what is planned again.
    policies: Arc<crate::policy::Policies>,
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
) -> Result<Finished, Error> {
    // Claim the run, and write it whole (stacks, items, approval): from
    // here on `strata approve` refuses it.
    run.start_applying()?;
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
    // Stacks and workloads run together: each workload starts as soon as
    // the stacks it needs are done.
    let (done, stacks_done) =
        workloads::StacksDone::channel(run.stacks.iter().map(|s| s.name.clone()).collect());
    let (commit, policy) = (run.source.commit.clone(), run.policy.clone());
    let policy_source =
        crate::policy::Source::new(&source.repo, &source.reference, source.commit.as_deref());
    let run_id = run.id.clone();
    let converge = |approved: Vec<Item>, stacks: workloads::StacksDone| {
        target.cluster.as_ref().map(|clusters| {
            Arc::new(Converge {
                clusters: clusters.clone(),
                root: target.root.clone(),
                outputs: workloads::OutputsReader {
                    terraform: target.terraform.clone(),
                    config: target.config.clone(),
                    root: target.root.clone(),
                    runs: runs.clone(),
                    run_id: run_id.clone(),
                    read: tokio::sync::Mutex::default(),
                },
                stacks,
                commit: commit.clone(),
                policy: policy.clone(),
                options: target.kube.clone(),
                tools: target.tools.clone(),
                approved,
                auto_approve: target.auto_approve,
                interrupt: interrupt.clone(),
                layout: target.layout.clone(),
                policies: target.policies.clone(),
                source: policy_source.clone(),
            })
        })
    };
    let stacks = async {
        match &target.terraform {
            Some(terraform) => {
                let on = StacksTarget {
                    config: &target.config,
                    root: &target.root,
                    runs: &target.runs,
                    who: &target.who,
                    auto_approve: target.auto_approve,
                    done: done.clone(),
                    policies: target.policies.clone(),
                };
                apply_stacks(on, terraform.clone(), &run, reports, ui, interrupt).await
            }
            None => StacksApplied {
                reports: Vec::new(),
                stale: false,
                blocked: false,
            },
        }
    };
    let first_ctx = converge(run.items.clone(), stacks_done);
    let planned_workloads = target.workloads.clone();
    let workloads = async {
        match first_ctx {
            Some(ctx) if !interrupt.is_requested() => {
                Some(workloads::apply_workloads(ctx, planned_workloads, ui).await)
            }
            _ => None,
        }
    };
    let (stacks, first) = tokio::join!(stacks, workloads);
    let StacksApplied {
        reports,
        stale,
        blocked,
    } = stacks;
    let mut held = Hold::None;
    let workloads = match first {
        Some(first) => {
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
                    let ctx =
                        converge(run.items.clone(), workloads::StacksDone::finished(&reports))
                            .expect("workloads were converged, so there is a cluster");
                    let again = workloads::apply_workloads(
                        ctx,
                        first.held.iter().map(|h| h.workload.clone()).collect(),
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
        None => target.workloads.iter().map(|w| w.report.clone()).collect(),
    };

    let mut report = target.skipped.merge_into(
        Report::new("apply", Some(source), reports).with_workloads(workloads),
        &target.config,
        &target.layout,
    );
    report.policy.clone_from(&target.findings);
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
        r.items = run.items.clone();
        let note = match status {
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
            _ => None,
        };
        r.finish(status, note)?;
        Ok::<_, Error>(r.clone())
    })?;
    finish(&runs, &final_run, &report)?;
    if status == RunStatus::Interrupted {
        return Err(Error::Interrupted);
    }
    Ok((report, target.config.notify))
}
