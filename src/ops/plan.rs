//! `strata plan`: check out the source, load the config, and plan every
//! selected stack with the real Terraform, in dependency order, into a new
//! run (see [`crate::runs`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use super::dag::{self, NodeResult};
use super::{Environment, Error, SourceOptions, checkout};
use crate::approval::{self, Item, Verdict};

/// Why a run with destructive changes under `destructive = "deny"` cannot
/// be applied.
pub(crate) const DENIED: &str =
    "approval.destructive = \"deny\" in strata.hcl refuses destructive changes";
use crate::config::{self, Approval, Config, Stack};
use crate::interrupt::Interrupt;
use crate::report::text::summary_line;
use crate::report::{Report, StackReport, StackStatus};
use crate::runs::{self, Run, RunSource, RunStatus, Runs, StackRun};
use crate::source::Snapshot;
use crate::state::StateDir;
use crate::terraform::plan as tfplan;
use crate::terraform::{Locate, PlanExit, Terraform, TerraformError, runner};
use crate::ui::{Task, Ui};

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
    run.status = if failed {
        RunStatus::Failed
    } else if opts.save && verdict == Verdict::Denied {
        run.note = Some(DENIED.to_owned());
        RunStatus::Denied
    } else if keep && verdict == Verdict::Pending {
        RunStatus::ApprovalRequired
    } else {
        RunStatus::Planned
    };
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
    pub terraform: Terraform,
    pub runs: Runs,
    pub run: Run,
    pub reports: Vec<StackReport>,
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
        let config = config::load(&snapshot.root)?;
        let selected: Vec<Stack> = select(&config, &opts.stacks)?
            .into_iter()
            .cloned()
            .collect();
        let terraform = locate(&config, &opts.env, &opts.cwd, &state, interrupt).await?;
        let runs = Runs::at(state.root());
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
            items: Vec::new(),
            approval: None,
            note: None,
        };
        runs.create(&run)?;
        tracing::info!(run = %run.id, "run created");

        let outcomes = plan_stacks(
            &selected,
            &config,
            &terraform,
            &snapshot.root,
            &runs,
            &run,
            ui,
            interrupt,
        )
        .await;
        if interrupt.is_requested() {
            run.status = RunStatus::Interrupted;
            run.note = Some("interrupted while planning".to_owned());
            runs.write(&run)?;
            runs.drop_plans(&run.id);
            return Err(Error::Interrupted);
        }
        let mut reports = Vec::new();
        for stack in &selected {
            let outcome = match outcomes.get(&stack.name) {
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
            });
            run.items.extend(outcome.items);
            reports.push(outcome.report);
        }
        Ok(Planned {
            state,
            snapshot,
            config,
            terraform,
            runs,
            run,
            reports,
        })
    }

    /// Whether any stack failed to plan (or was skipped because of one).
    pub fn failed(&self) -> bool {
        self.reports
            .iter()
            .any(|r| matches!(r.status, StackStatus::Error | StackStatus::Skipped))
    }

    /// The report of the run as it stands.
    pub fn report(&self, command: &str) -> Report {
        let mut report = Report::new(command, Some((&self.snapshot).into()), self.reports.clone());
        report.run_id = Some(self.run.id.clone());
        report.approvals = self.run.items.clone();
        report
    }

    /// Writes the record and the report; drops the plan files unless the
    /// run is kept for approval.
    pub fn finish(&self, report: &Report) -> Result<(), Error> {
        finish(&self.runs, &self.run, report)
    }
}

/// Writes the run's record and report, and drops its plan files unless it
/// can still be applied.
pub(crate) fn finish(runs: &Runs, run: &Run, report: &Report) -> Result<(), Error> {
    runs.write(run)?;
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

/// One stack's planning result.
#[derive(Debug, Clone)]
pub(crate) struct StackOutcome {
    pub report: StackReport,
    pub items: Vec<Item>,
    /// The plan file's sha256, when the plan has changes.
    pub sha256: Option<String>,
}

impl StackOutcome {
    fn report(report: StackReport) -> StackOutcome {
        StackOutcome {
            report,
            items: Vec::new(),
            sha256: None,
        }
    }
}

/// What every stack's planning shares.
pub(crate) struct Shared {
    pub terraform: Terraform,
    pub root: PathBuf,
    pub runs: Runs,
    pub run_id: String,
    pub policy: Approval,
    pub interrupt: Interrupt,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn plan_stacks(
    selected: &[Stack],
    config: &Config,
    terraform: &Terraform,
    root: &Path,
    runs: &Runs,
    run: &Run,
    ui: &Ui,
    interrupt: &Interrupt,
) -> std::collections::BTreeMap<String, NodeResult<StackOutcome>> {
    let shared = Arc::new(Shared {
        terraform: terraform.clone(),
        root: root.to_owned(),
        runs: runs.clone(),
        run_id: run.id.clone(),
        policy: run.policy.clone(),
        interrupt: interrupt.clone(),
    });
    let progress = ui.progress();
    let nodes = selected
        .iter()
        .map(|s| dag::Node {
            name: s.name.clone(),
            depends_on: s.depends_on.clone(),
        })
        .collect();
    let by_name = Arc::new(selected.to_vec());
    let stop_on = interrupt.clone();
    dag::run(
        nodes,
        config.terraform.parallelism,
        move || stop_on.is_requested(),
        move |name| {
            let shared = shared.clone();
            let stack = by_name
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .expect("every node is a selected stack");
            let task = progress.task(&name);
            async move { plan_stack(&shared, &stack, &task).await }
        },
    )
    .await
}

/// The selected stacks in config order; unknown names are an error.
fn select<'c>(config: &'c Config, names: &[String]) -> Result<Vec<&'c Stack>, Error> {
    for name in names {
        if config.stack(name).is_none() {
            return Err(Error::UnknownStack {
                name: name.clone(),
                candidates: config.stacks.iter().map(|s| s.name.clone()).collect(),
            });
        }
    }
    Ok(config
        .stacks
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .collect())
}

/// Finds Terraform as configured and gives it its explicit environment.
pub(crate) async fn locate(
    config: &Config,
    env: &Environment,
    cwd: &Path,
    state: &StateDir,
    interrupt: &Interrupt,
) -> Result<Terraform, TerraformError> {
    let how = Locate {
        configured: config.terraform.binary.clone(),
        env_override: env.get("STRATA_TERRAFORM").map(ToOwned::to_owned),
        path: env.get("PATH").map(ToOwned::to_owned),
        cwd: cwd.to_owned(),
    };
    let child_env = runner::child_env(&env.vars, &state.plugin_cache(), &state.cli_config());
    Terraform::locate(&how, child_env, &config.terraform.lock_timeout, interrupt).await
}

/// Plans one stack: init, plan, show -json, classify. `Err` carries the
/// stack's failure report.
async fn plan_stack(
    shared: &Shared,
    stack: &Stack,
    task: &Task,
) -> Result<StackOutcome, StackOutcome> {
    let planfile = shared.runs.plan_file(&shared.run_id, &stack.name);
    match plan_stack_into(shared, stack, &planfile, task).await {
        Ok(outcome) => {
            let report = &outcome.report;
            if report.status == StackStatus::Error {
                task.finish(report.error.as_deref().unwrap_or("failed"));
                Err(outcome)
            } else {
                task.finish(&summary_line(
                    &report.summary,
                    report.destructive(),
                    report.outputs.len(),
                ));
                Ok(outcome)
            }
        }
        Err(e) => {
            task.finish("failed");
            Err(StackOutcome::report(StackReport::failed(
                &stack.name,
                &stack.path,
                crate::error_chain(&e),
            )))
        }
    }
}

/// Plans `stack` into `planfile` (its JSON goes next to it as
/// `plan.json`) and classifies the plan.
pub(crate) async fn plan_stack_into(
    shared: &Shared,
    stack: &Stack,
    planfile: &Path,
    task: &Task,
) -> Result<StackOutcome, Error> {
    let dir = shared.root.join(&stack.path);
    let work = planfile.parent().expect("a plan file has a directory");
    let json = work.join("plan.json");
    std::fs::create_dir_all(work).map_err(|source| Error::Io {
        what: "creating",
        path: work.to_owned(),
        source,
    })?;
    let mut var_files: Vec<PathBuf> = stack.var_files.iter().map(PathBuf::from).collect();
    if !stack.vars.is_empty() {
        // Written as a var file rather than -var flags so that lists and
        // maps keep their types; it lives outside the tree, in the run.
        let file = work.join("strata.tfvars.json");
        let text = serde_json::to_vec_pretty(&stack.vars).map_err(|e| Error::Io {
            what: "writing",
            path: file.clone(),
            source: e.into(),
        })?;
        std::fs::write(&file, text).map_err(|source| Error::Io {
            what: "writing",
            path: file.clone(),
            source,
        })?;
        var_files.push(file);
    }

    task.step("init");
    shared.terraform.init(&dir, &shared.interrupt).await?;
    task.step("plan");
    let exit = shared
        .terraform
        .plan(&dir, planfile, &var_files, &shared.interrupt)
        .await?;
    task.step("show");
    shared
        .terraform
        .show_json(&dir, planfile, &json, &shared.interrupt)
        .await?;
    let (parsed, sha256) = {
        let json = json.clone();
        let planfile = planfile.to_owned();
        tokio::task::spawn_blocking(move || {
            let parsed = tfplan::parse_file(&json).map_err(|error| Error::PlanFile {
                path: json.clone(),
                error,
            })?;
            let sha = runs::sha256_file(&planfile)?;
            Ok::<_, Error>((parsed, sha))
        })
        .await
        .map_err(|e| Error::Io {
            what: "reading the plan of",
            path: dir.clone(),
            source: std::io::Error::other(e),
        })??
    };
    if exit == PlanExit::NoChanges && parsed.has_changes() {
        tracing::debug!(stack = %stack.name, "terraform said no changes, the plan JSON has some");
    }
    let report = StackReport::from_plan(&stack.name, &stack.path, &parsed);
    let changes = report.status == StackStatus::Changes;
    Ok(StackOutcome {
        items: approval::items(&shared.policy, &stack.name, &parsed),
        sha256: changes.then_some(sha256),
        report,
    })
}
