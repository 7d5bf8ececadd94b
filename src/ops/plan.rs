//! `strata plan`: check out the source, load the config, and plan every
//! selected stack with the real Terraform, in dependency order, into a new
//! run (see [`crate::runs`]).

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;

use super::changed::{self, Skipped};
use super::dag::NodeResult;
use super::publish::{self, Layout};
pub(crate) use super::stacks::locate;
use super::stacks::{StackOutcome, plan_stacks};
use super::workloads::{self, Inputs, KubeOptions, WorkloadPlanned};
use super::{Environment, Error, SourceOptions, checkout};
use crate::approval::{self, Verdict};

/// Why a run with destructive changes under `destructive = "deny"` cannot
/// be applied.
pub(crate) const DENIED: &str =
    "approval.destructive = \"deny\" in strata.hcl refuses destructive changes";
use crate::config::{self, Approval, Config, Stack, Workload};
use crate::interrupt::Interrupt;
use crate::kube::substitute::Outputs;
use crate::policy;
use crate::report::{Report, StackReport, StackStatus, WorkloadReport};
use crate::runs::{Layer, Run, RunSource, RunStatus, Runs, StackRun, WorkloadRun};
use crate::source::Snapshot;
use crate::state::StateDir;
use crate::terraform::Terraform;
use crate::ui::Ui;

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub source: SourceOptions,
    /// `--stack`: only these stacks (empty: all).
    pub stacks: Vec<String>,
    pub env: Environment,
    pub cwd: PathBuf,
    /// `--save`: keep the plan files so that the run can be approved and
    /// applied later.
    pub save: bool,
    /// `--ask-always`: every change needs approval, as with
    /// `approval.ask_always`.
    pub ask_always: bool,
    /// `--workload`: only these workloads (empty: all, unless `--stack`
    /// alone narrows the run to stacks).
    pub workloads: Vec<String>,
    /// How to reach the cluster, and the Kubernetes flags.
    pub kube: KubeOptions,
    /// `drift --continue-on-error`: an unreachable cluster or a missing
    /// Terraform fails its layer in the report instead of the run.
    pub continue_on_error: bool,
    /// `--changed`: only the stacks and workloads whose inputs changed
    /// since they last converged (see [`super::changed`]).
    pub changed: bool,
}

/// Plans the selected stacks and reports on them. Stack failures are in
/// the report (status `error`, dependents `skipped`); only failures that
/// stop the whole run are an `Err`.
///
/// # Errors
/// Source, config, state directory or Terraform discovery failures, and
/// an interrupt.
pub async fn plan(opts: &PlanOptions, ui: &Ui, interrupt: &Interrupt) -> Result<Report, Error> {
    let mut planned = Planned::plan(opts, "plan", ui, interrupt).await?;
    let failed = planned.failed();
    let run = &mut planned.run;
    let verdict = approval::decide(&run.policy, &run.items, false, false);
    let keep = opts.save && !failed && run.has_changes() && verdict != Verdict::Denied;
    run.saved = keep;
    if failed {
        run.finish(RunStatus::Failed, None)?;
    } else if opts.save && verdict == Verdict::Denied {
        run.deny(DENIED.to_owned())?;
    } else if keep && verdict == Verdict::Pending {
        run.await_approval()?;
    }
    let mut report = planned.report("plan");
    if opts.save && !failed {
        report.verdict = Some(verdict);
    }
    planned.finish(&report)?;
    Ok(report)
}

/// A run whose stacks have been planned: everything `apply` needs to take
/// its decisions before touching anything.
pub(crate) struct Planned {
    pub state: StateDir,
    pub snapshot: Snapshot,
    pub config: Config,
    /// `None` when no stack is selected.
    pub terraform: Option<Terraform>,
    pub runs: Runs,
    pub run: Run,
    pub reports: Vec<StackReport>,
    /// `None` when no workload is selected.
    pub cluster: Option<workloads::Clusters>,
    pub workloads: Vec<WorkloadPlanned>,
    /// The workloads as laid out for the run (see [`publish::layout`]),
    /// read once for the whole run.
    pub layout: Layout,
    /// What `--changed` left alone.
    pub skipped: Skipped,
    /// What the policies said, denials first.
    pub findings: Vec<policy::Finding>,
    /// The policies, compiled: what is planned again during the apply
    /// answers to them too.
    pub policies: Arc<policy::Policies>,
}

impl Planned {
    /// Checks out the source, creates the run and plans every selected
    /// stack into it.
    pub async fn plan(
        opts: &PlanOptions,
        command: &str,
        ui: &Ui,
        interrupt: &Interrupt,
    ) -> Result<Planned, Error> {
        let (state, snapshot) = checkout(&opts.source, &opts.env, command, ui, interrupt).await?;
        Planned::plan_checked_out(state, snapshot, opts, command, ui, interrupt).await
    }

    /// Creates the run and plans every selected stack and workload of a
    /// source already checked out into `state` (whose lock is held).
    pub async fn plan_checked_out(
        state: StateDir,
        snapshot: Snapshot,
        opts: &PlanOptions,
        command: &str,
        ui: &Ui,
        interrupt: &Interrupt,
    ) -> Result<Planned, Error> {
        let config = config::load(&snapshot.root)?;
        // Broken policies stop the run before anything is planned.
        let policies = policy::load(&snapshot.root, &config.policies).map_err(Error::Policy)?;
        let (selected, selected_workloads) = select(&config, &opts.stacks, &opts.workloads)?;
        // Every run fingerprints what it plans, so that an apply records
        // what each stack converged with (see `changed`).
        let files = snapshot.file_ids().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the export's file list; every stack counts as changed");
            changed::Files::new()
        });
        let stack_inputs = if files.is_empty() {
            changed::Fingerprints::new()
        } else {
            changed::stacks(&config, &snapshot.root, &files)
        };
        let runs = Runs::at(state.root());
        let converged = runs.converged();
        let mut skipped = Skipped::default();
        let selected: Vec<Stack> = if opts.changed {
            changed::keep_changed(
                selected,
                (&converged, Layer::Stack, &stack_inputs),
                |s| &s.name,
                |s, since| {
                    skipped
                        .stacks
                        .push(StackReport::unchanged(&s.name, &s.path, since));
                },
            )
        } else {
            selected
        };
        // The `outputs` blocks add workloads and dependencies.
        let layout = if selected_workloads.is_empty() {
            Layout::default()
        } else {
            publish::layout(&config, &snapshot.root, &workloads::tools(&opts.env))
        };
        let names: Vec<String> = selected_workloads.into_iter().map(|w| w.name).collect();
        let selected_workloads =
            layout.select(&names, opts.stacks.is_empty() && opts.workloads.is_empty());
        let workload_inputs =
            changed::workloads(&layout, &stack_inputs, opts.kube.context.as_deref());
        let selected_workloads: Vec<Workload> = if opts.changed {
            changed::keep_changed(
                selected_workloads,
                (&converged, Layer::Workload, &workload_inputs),
                |w| &w.name,
                |w, since| {
                    skipped.workloads.push(WorkloadReport {
                        context: w.context.clone(),
                        ..WorkloadReport::unchanged(&w.name, &w.path, since)
                    });
                },
            )
        } else {
            selected_workloads
        };
        let mut terraform_error = None;
        // Workloads read their stacks' outputs from Terraform's state.
        let outputs_needed = !selected_workloads.is_empty()
            && !workloads::needed_stacks(&layout, &selected_workloads).is_empty();
        let terraform = if selected.is_empty() && !outputs_needed {
            None
        } else {
            match locate(&config, &opts.env, &opts.cwd, &state, interrupt).await {
                Ok(t) => Some(t),
                Err(e) if opts.continue_on_error => {
                    terraform_error = Some(crate::error_chain(&e));
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
        // No cluster reachable stops the run before anything is planned
        // (or, with --continue-on-error, fails the workloads); one of
        // several that is not fails only its workloads.
        let cluster = if selected_workloads.is_empty() {
            None
        } else {
            match workloads::Clusters::connect(&opts.kube, &opts.env, &selected_workloads).await {
                Ok(c) => Some(c),
                Err(e) if opts.continue_on_error => {
                    Some(workloads::Clusters::unreachable(&e.to_string()))
                }
                Err(e) => return Err(e),
            }
        };
        let mut policy = config.approval.clone();
        policy.ask_always |= opts.ask_always;
        let now = Timestamp::now();
        let mut run = Run {
            id: Runs::new_id(),
            command: command.to_owned(),
            created: now,
            updated: now,
            status: RunStatus::Planned,
            saved: false,
            source: run_source(&snapshot),
            policy,
            stacks: Vec::new(),
            workloads: Vec::new(),
            items: Vec::new(),
            approval: None,
            note: None,
        };
        runs.create(&run)?;
        tracing::info!(run = %run.id, "run created");

        let outcomes = match &terraform {
            Some(terraform) => {
                plan_stacks(
                    &selected,
                    &config,
                    terraform,
                    &snapshot.root,
                    &runs,
                    &run,
                    ui,
                    interrupt,
                )
                .await
            }
            None => std::collections::BTreeMap::new(),
        };
        if interrupt.is_requested() {
            return Err(interrupted(&runs, &mut run));
        }
        let mut reports = Vec::new();
        // What SOPS decrypted for each stack's var files, for the policies.
        let mut secrets = std::collections::BTreeMap::new();
        for stack in &selected {
            let outcome = match outcomes.get(&stack.name) {
                _ if terraform_error.is_some() => StackOutcome::report(StackReport::failed(
                    &stack.name,
                    &stack.path,
                    terraform_error.clone().unwrap_or_default(),
                )),
                Some(NodeResult::Done(o) | NodeResult::Failed(o)) => o.clone(),
                Some(NodeResult::Skipped { because }) => {
                    StackOutcome::report(StackReport::skipped(&stack.name, &stack.path, because))
                }
                None => StackOutcome::report(StackReport::skipped(
                    &stack.name,
                    &stack.path,
                    "not scheduled",
                )),
            };
            run.stacks.push(StackRun {
                name: stack.name.clone(),
                path: stack.path.clone(),
                depends_on: stack.depends_on.clone(),
                changes: outcome.report.status == StackStatus::Changes,
                plan_sha256: outcome.sha256,
                replan_sha256: None,
                applied_at: None,
                inputs: stack_inputs.get(&stack.name).cloned().flatten(),
            });
            run.items.extend(outcome.items);
            secrets.insert(stack.name.clone(), outcome.secrets);
            reports.push(outcome.report);
        }
        let workloads = match &cluster {
            Some(cluster) => {
                let sources = workloads::outputs_sources(
                    (&layout, &selected_workloads),
                    &config,
                    terraform.as_ref(),
                    (&snapshot.root, &runs, &run.id),
                    &std::collections::BTreeSet::new(),
                );
                let current = workloads::state_outputs(sources, interrupt).await;
                plan_workloads(
                    &selected_workloads,
                    &layout,
                    cluster,
                    &snapshot,
                    workloads::planned_outputs(current, &reports),
                    &reports,
                    &run.policy,
                    opts,
                    ui,
                )
                .await
            }
            None => Vec::new(),
        };
        if interrupt.is_requested() {
            return Err(interrupted(&runs, &mut run));
        }
        for w in &workloads {
            run.workloads.push(WorkloadRun {
                name: w.config.name.clone(),
                path: w.config.path.clone(),
                depends_on: w.config.depends_on.clone(),
                changes: w.report.status == StackStatus::Changes,
                inputs: workload_inputs.get(&w.config.name).cloned().flatten(),
            });
            run.items.extend(w.items.iter().cloned());
        }
        let findings = if policies.is_empty() {
            Vec::new()
        } else {
            let input = policy_input(
                command,
                &snapshot,
                (&reports, &secrets),
                &workloads,
                (&runs, &run.id),
            );
            match evaluate(&policies, &input, (&runs, &run.id)) {
                Ok(findings) => {
                    policy::approvals(&findings, &input, &mut run.items);
                    findings
                }
                Err(e) => return Err(failed(&runs, &mut run, e)),
            }
        };
        Ok(Planned {
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
            policies: Arc::new(policies),
        })
    }

    /// Whether a policy's `deny` rule refuses the run.
    pub fn denied(&self) -> bool {
        policy::denials(&self.findings).next().is_some()
    }

    /// Whether any stack or workload failed to plan (or was skipped
    /// because of one). A workload whose cluster alone cannot be reached
    /// does not count: it fails by itself, and the rest goes on.
    pub fn failed(&self) -> bool {
        self.reports
            .iter()
            .map(|r| r.status)
            .chain(
                self.workloads
                    .iter()
                    .filter(|w| !w.unreachable)
                    .map(|w| w.report.status),
            )
            .any(|s| matches!(s, StackStatus::Error | StackStatus::Skipped))
            || self.denied()
    }

    /// The report of the run as it stands.
    pub fn report(&self, command: &str) -> Report {
        let mut report = Report::new(command, Some((&self.snapshot).into()), self.reports.clone())
            .with_workloads(self.workloads.iter().map(|w| w.report.clone()).collect());
        report.run_id = Some(self.run.id.clone());
        report.approvals = self.run.items.clone();
        report.policy = self.findings.clone();
        let denials = policy::denials(&self.findings).count();
        if denials > 0 {
            report.result = crate::report::Outcome::Error;
            report.errors.push(format!(
                "the policies deny this run ({denials} {}), so nothing can be applied",
                if denials == 1 { "denial" } else { "denials" }
            ));
        }
        self.skipped.merge_into(report, &self.config, &self.layout)
    }

    /// Writes the record and the report; drops the plan files unless the
    /// run is kept for approval.
    pub fn finish(&self, report: &Report) -> Result<(), Error> {
        finish(&self.runs, &self.run, report)
    }
}

/// Each stack's values decrypted from SOPS.
type StackSecrets = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// The policies' input for a planned run: each stack's resource changes
/// from its plan's JSON, each workload's changes with the objects as Git
/// and the cluster have them, secrets redacted.
fn policy_input(
    command: &str,
    snapshot: &Snapshot,
    (reports, secrets): (&[StackReport], &StackSecrets),
    workloads: &[WorkloadPlanned],
    (runs, run): (&Runs, &str),
) -> policy::Input {
    let stacks = reports
        .iter()
        .map(|r| {
            let json = runs.plan_json(run, &r.name);
            let resource_changes = if r.status == StackStatus::Changes {
                let none = std::collections::BTreeSet::new();
                let secrets = secrets.get(&r.name).unwrap_or(&none);
                policy::resource_changes(&json, secrets).unwrap_or_else(|e| {
                    tracing::warn!(stack = %r.name, error = %e, "cannot read the plan's JSON for the policies");
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            policy::StackInput {
                name: r.name.clone(),
                path: r.path.clone(),
                resource_changes,
            }
        })
        .collect();
    let workloads = workloads
        .iter()
        .map(|w| policy::WorkloadInput {
            name: w.config.name.clone(),
            cluster: w.report.context.clone(),
            changes: w
                .plan
                .as_ref()
                .map_or_else(Vec::new, policy::workload_changes),
        })
        .collect();
    policy::Input {
        command: command.to_owned(),
        source: policy::Source::new(
            &snapshot.repo,
            &snapshot.reference,
            snapshot.commit.as_deref(),
        ),
        stacks,
        workloads,
    }
}

/// Evaluates the policies on `input`, which is kept in the run
/// (`policy-input.json`) for whoever writes or debugs a policy.
fn evaluate(
    policies: &policy::Policies,
    input: &policy::Input,
    (runs, run): (&Runs, &str),
) -> Result<Vec<policy::Finding>, Error> {
    let text = serde_json::to_vec_pretty(input).map_err(|e| Error::Invalid {
        path: PathBuf::from("policy-input.json"),
        message: e.to_string(),
    })?;
    runs.write_file(run, "policy-input.json", &text)?;
    policies.evaluate(input).map_err(|e| Error::Policy(vec![e]))
}

/// Records `run` as failed while planning with `error`, and drops its
/// plans.
fn failed(runs: &Runs, run: &mut Run, error: Error) -> Error {
    if let Err(e) = run.finish(RunStatus::Failed, Some(crate::error_chain(&error))) {
        return e.into();
    }
    if let Err(e) = runs.write(run) {
        return e.into();
    }
    runs.drop_plans(&run.id);
    error
}

/// Records `run` as interrupted while planning and drops its plans.
fn interrupted(runs: &Runs, run: &mut Run) -> Error {
    if let Err(e) = run.finish(
        RunStatus::Interrupted,
        Some("interrupted while planning".to_owned()),
    ) {
        return e.into();
    }
    if let Err(e) = runs.write(run) {
        return e.into();
    }
    runs.drop_plans(&run.id);
    Error::Interrupted
}

/// Writes the run's record and report, and drops its plan files unless it
/// can still be applied.
pub(crate) fn finish(runs: &Runs, run: &Run, report: &Report) -> Result<(), Error> {
    runs.write(run)?;
    changed::record(&runs.converged(), run, report);
    let json = report.render(crate::report::Format::Json, false);
    runs.write_file(&run.id, "report.json", json.as_bytes())?;
    let keep = (run.saved && run.status == RunStatus::Planned) || run.status.is_pending();
    if !keep {
        runs.drop_plans(&run.id);
    }
    Ok(())
}

fn run_source(snapshot: &Snapshot) -> RunSource {
    RunSource {
        spec: snapshot.spec.clone(),
        repo: snapshot.repo.clone(),
        reference: snapshot.reference.clone(),
        commit: snapshot.commit.clone(),
        worktree: snapshot.worktree,
    }
}

/// The selected stacks and workloads in config order: everything without
/// filters; with `--stack` or `--workload`, only what they name. Unknown
/// names are an error.
pub(crate) fn select(
    config: &Config,
    stacks: &[String],
    workloads: &[String],
) -> Result<(Vec<Stack>, Vec<Workload>), Error> {
    for name in stacks {
        if config.stack(name).is_none() {
            return Err(Error::UnknownStack {
                name: name.clone(),
                candidates: config.stacks.iter().map(|s| s.name.clone()).collect(),
            });
        }
    }
    for name in workloads {
        if config.workload(name).is_none() {
            return Err(Error::UnknownWorkload {
                name: name.clone(),
                candidates: config.workloads.iter().map(|w| w.name.clone()).collect(),
            });
        }
    }
    let all = stacks.is_empty() && workloads.is_empty();
    Ok((
        config
            .stacks
            .iter()
            .filter(|s| all || stacks.contains(&s.name))
            .cloned()
            .collect(),
        config
            .workloads
            .iter()
            .filter(|w| all || workloads.contains(&w.name))
            .cloned()
            .collect(),
    ))
}

/// Diffs every selected workload against the cluster, after the stacks:
/// manifests see the outputs the stacks' plans leave (unknown where a plan
/// changes them). A workload whose stack failed to plan is skipped.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn plan_workloads(
    selected: &[Workload],
    layout: &Layout,
    clusters: &workloads::Clusters,
    snapshot: &Snapshot,
    outputs: Outputs,
    stacks: &[StackReport],
    policy: &Approval,
    opts: &PlanOptions,
    ui: &Ui,
) -> Vec<WorkloadPlanned> {
    let tools = workloads::tools(&opts.env);
    let progress = ui.progress();
    let mut out = Vec::new();
    for w in selected {
        let failed = w.depends_on.iter().find(|d| {
            stacks.iter().any(|s| {
                &s.name == *d && matches!(s.status, StackStatus::Error | StackStatus::Skipped)
            })
        });
        if let Some(stack) = failed {
            out.push(WorkloadPlanned::skipped(
                w,
                &format!("stack {stack} failed"),
            ));
            continue;
        }
        let cluster = match clusters.of(w) {
            Ok(cluster) => cluster,
            Err(error) => {
                out.push(WorkloadPlanned::unreachable(w, &error));
                continue;
            }
        };
        let inputs = Inputs {
            cluster,
            root: &snapshot.root,
            outputs: &outputs,
            commit: snapshot.commit.as_deref(),
            policy,
            options: &opts.kube,
            tools: &tools,
            layout,
        };
        let task = progress.task(&w.name);
        task.step("diff");
        let planned = workloads::plan_workload(w, &inputs).await;
        task.finish(&match planned.report.status {
            StackStatus::Error => "failed".to_owned(),
            _ => crate::report::text::workload_summary_line(
                &planned.report.summary(),
                planned.report.destructive(),
                planned.report.unchanged,
            ),
        });
        out.push(planned);
    }
    out
}
