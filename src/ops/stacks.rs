//! The stack executor: every selected stack planned with the real
//! Terraform, in dependency order and up to `terraform.parallelism` at
//! once ([`plan_stacks`]), and a run's saved plans applied the same way
//! ([`apply_stacks`]), planning a stack again when a stack it depends on
//! was applied in the same run. Terraform runs only what each stack needs
//! (see [`crate::terraform::init`] and [`plan_stack_into`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::dag::{self, NodeResult};
use super::{Environment, Error};
use crate::approval::{self, Item, Verdict};
use crate::config::{Approval, Config, Stack};
use crate::interrupt::Interrupt;
use crate::report::text::summary_line;
use crate::report::{StackReport, StackStatus};
use crate::runs::{self, DecidedBy, DecisionKind, Run, Runs, StackRun, Who};
use crate::state::StateDir;
use crate::terraform::plan as tfplan;
use crate::terraform::{Locate, PlanExit, Terraform, TerraformError, Workdir, runner};
use crate::ui::{Task, Ui};

/// Where a run's stacks are applied, and who decided.
pub(crate) struct StacksTarget<'a> {
    pub config: &'a Config,
    pub root: &'a Path,
    pub runs: &'a Runs,
    pub who: &'a Who,
    /// `--auto-approve` was given.
    pub auto_approve: bool,
    /// Told of each stack as it is done, so that the workloads that need
    /// it can start.
    pub done: super::workloads::StacksDoneTx,
    /// The run's policies, evaluated again on a stack planned again.
    pub policies: Arc<crate::policy::Policies>,
}

/// One stack's planning result.
#[derive(Debug, Clone)]
pub(crate) struct StackOutcome {
    pub report: StackReport,
    pub items: Vec<Item>,
    /// The plan file's sha256, when the plan has changes.
    pub sha256: Option<String>,
    /// Values of its SOPS-encrypted var files: shown nowhere.
    pub secrets: BTreeSet<String>,
}

impl StackOutcome {
    pub fn report(report: StackReport) -> StackOutcome {
        StackOutcome {
            report,
            items: Vec::new(),
            sha256: None,
            secrets: BTreeSet::new(),
        }
    }
}

/// What every stack's planning shares.
pub(crate) struct Shared {
    pub terraform: Terraform,
    pub root: PathBuf,
    /// Every stack of the configuration (for the ones sharing a path).
    pub stacks: Vec<Stack>,
    pub runs: Runs,
    pub run_id: String,
    pub policy: Approval,
    pub interrupt: Interrupt,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub(crate) async fn plan_stacks(
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
        stacks: config.stacks.clone(),
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

impl Shared {
    fn workdir(&self, stack: &Stack) -> Workdir {
        super::workdir::workdir(&self.root, &self.stacks, stack)
    }
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
        version_cache: Some(state.root().join("terraform-version")),
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
    match plan_stack_into(shared, stack, &planfile, task, &BTreeSet::new()).await {
        Ok(outcome) => {
            let report = &outcome.report;
            if let Some(upstream) = &report.waiting_for {
                task.finish(&format!("planned once {upstream} is applied"));
                Ok(outcome)
            } else if report.status == StackStatus::Error {
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
    applied: &BTreeSet<String>,
) -> Result<StackOutcome, Error> {
    let wd = shared.workdir(stack);
    let dir = wd.dir.clone();
    let work = planfile.parent().expect("a plan file has a directory");
    let json = work.join("plan.json");
    std::fs::create_dir_all(work).map_err(|source| Error::Io {
        what: "creating",
        path: work.to_owned(),
        source,
    })?;
    // SOPS-encrypted var files reach Terraform as TF_VAR_ variables, never
    // as a file.
    let VarFiles {
        files: mut var_files,
        env: sops_env,
        secrets,
    } = decrypt_var_files(
        &wd.dir,
        stack,
        &crate::sops::Keys::from_env(&shared.terraform.environment()),
    )?;
    // Other stacks' outputs in the vars: their values now, or, when a
    // plan of this run changes them, known only once it is applied.
    let (vars, mut var_env) = match stack_vars(shared, stack, applied).await? {
        Vars::Known { file, env } => (file, env),
        Vars::Waiting(upstream) => {
            task.step("waiting");
            return Ok(StackOutcome::report(StackReport::waiting(
                &stack.name,
                &stack.path,
                upstream,
            )));
        }
    };
    // After the var files, as Terraform reads them: -var-file, which
    // strata's vars use, wins over TF_VAR_.
    var_env.extend(sops_env);
    if !vars.is_empty() {
        // Written as a var file rather than -var flags so that lists and
        // maps keep their types; it lives outside the tree, in the run.
        let file = work.join("strata.tfvars.json");
        let text = serde_json::to_vec_pretty(&vars).map_err(|e| Error::Io {
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

    // The step is named even when init has nothing to do, so that pause
    // points and progress read the same on every run.
    task.step("init");
    shared.terraform.prepare(&wd, &shared.interrupt).await?;
    task.step("plan");
    let exit = shared
        .terraform
        .plan(&wd, planfile, &var_files, &var_env, &shared.interrupt)
        .await?;
    if exit == (PlanExit::NoChanges { warnings: false }) {
        // Terraform's exit code says it all: no changes, and none outside
        // Terraform (it exits 2 for drift too). Its JSON would add nothing
        // the report shows, so it is not read.
        let _ = std::fs::remove_file(&json);
        return Ok(StackOutcome::report(StackReport::in_sync(
            &stack.name,
            &stack.path,
        )));
    }
    task.step("show");
    shared
        .terraform
        .show_json(&wd, planfile, &json, &shared.interrupt)
        .await?;
    let (mut parsed, sha256) = {
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
    if matches!(exit, PlanExit::NoChanges { .. }) && parsed.has_changes() {
        tracing::debug!(stack = %stack.name, "terraform said no changes, the plan JSON has some");
    }
    parsed.redact(&secrets);
    let report = StackReport::from_plan(&stack.name, &stack.path, &parsed);
    let changes = report.status == StackStatus::Changes;
    Ok(StackOutcome {
        items: approval::items(&shared.policy, &stack.name, &parsed),
        sha256: changes.then_some(sha256),
        report,
        secrets,
    })
}

/// `stack`'s var files (relative to `dir`, where Terraform runs) that are
/// in the clear, and the variables of those encrypted with SOPS, as
/// `TF_VAR_<name>` (strings as they are, other values JSON-encoded, as
/// Terraform reads them): decrypted in memory, written nowhere.
///
/// # Errors
/// An encrypted file that cannot be decrypted (no key, a wrong one, a MAC
/// that does not match), or whose plaintext is not a set of variables.
fn decrypt_var_files(
    dir: &Path,
    stack: &Stack,
    keys: &crate::sops::Keys,
) -> Result<VarFiles, Error> {
    use crate::sops::Format;
    let mut files = Vec::new();
    let mut env = Vec::new();
    let mut secrets = BTreeSet::new();
    for file in &stack.var_files {
        let shown = Path::new(&stack.path).join(file);
        let invalid = |message: String| Error::Invalid {
            path: shown.clone(),
            message,
        };
        // Unreadable files are Terraform's to report.
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let format = Format::of_path(file);
        let Some(plain) =
            crate::sops::decrypt(&text, format, keys).map_err(|e| invalid(e.to_string()))?
        else {
            files.push(PathBuf::from(file));
            continue;
        };
        let vars = match format {
            // A whole .tfvars file: its plaintext is HCL.
            Format::Binary => {
                let text = plain.plaintext().map_err(|e| invalid(e.to_string()))?;
                hcl::from_slice::<serde_json::Map<String, serde_json::Value>>(&text).map_err(
                    |_| {
                        invalid("is encrypted with SOPS as a whole file, and its plaintext is not a .tfvars file of plain values (name = value); encrypt the values as JSON (a .tfvars.json) or YAML instead".to_owned())
                    },
                )?
            }
            _ => match plain.values().into_iter().next() {
                Some(serde_json::Value::Object(map)) => map,
                _ => {
                    return Err(invalid(
                        "is encrypted with SOPS, but it is not a mapping of variable names to values"
                            .to_owned(),
                    ));
                }
            },
        };
        for (name, value) in vars {
            collect_strings(&value, &mut secrets);
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            env.push((format!("TF_VAR_{name}"), text));
        }
    }
    Ok(VarFiles {
        files,
        env,
        secrets,
    })
}

/// Every string in `value`: what a decrypted variable could show as.
fn collect_strings(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::String(s) => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A stack's var files as Terraform gets them.
struct VarFiles {
    /// Those in the clear, for -var-file.
    files: Vec<PathBuf>,
    /// The variables of those encrypted with SOPS, for the environment.
    env: Vec<(String, String)>,
    /// Their string values, to keep out of reports.
    secrets: BTreeSet<String>,
}

/// A stack's vars with other stacks' outputs substituted.
enum Vars {
    /// For the var file; and those that hold a sensitive output, for the
    /// environment (`TF_VAR_<name>`), so that strata writes no copy of it.
    Known {
        file: std::collections::BTreeMap<String, serde_json::Value>,
        env: Vec<(String, String)>,
    },
    /// Some value is known only once these stacks are applied.
    Waiting(String),
}

/// Substitutes `${stack.<name>.<output>}` in `stack`'s vars: with the
/// outputs in the upstream stacks' state, except those a plan of this run
/// changes (unless `applied` already). `$${` is a literal `${`.
async fn stack_vars(
    shared: &Shared,
    stack: &Stack,
    applied: &BTreeSet<String>,
) -> Result<Vars, Error> {
    let value = serde_json::Value::Object(stack.vars.clone().into_iter().collect());
    let upstream: BTreeSet<String> = crate::config::refs::references(&value)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let outputs = if upstream.is_empty() {
        crate::kube::substitute::Outputs::new()
    } else {
        upstream_outputs(shared, &upstream, applied).await
    };
    let mut file = std::collections::BTreeMap::new();
    let mut env = Vec::new();
    let mut waiting = BTreeSet::new();
    for (name, value) in &stack.vars {
        let mut value = value.clone();
        let used = crate::kube::substitute::substitute_value(&mut value, &outputs, true).map_err(
            |message| Error::Invalid {
                path: PathBuf::from("strata.hcl"),
                message: format!("stack {:?}, var {name:?}: {message}", stack.name),
            },
        )?;
        if used.unknown {
            let value = serde_json::Value::Object(
                [(name.clone(), stack.vars[name].clone())]
                    .into_iter()
                    .collect(),
            );
            waiting.extend(
                crate::config::refs::references(&value)
                    .into_iter()
                    .map(|(s, _)| s),
            );
        } else if used.secrets.is_empty() {
            file.insert(name.clone(), value);
        } else {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            env.push((format!("TF_VAR_{name}"), text));
        }
    }
    if !waiting.is_empty() {
        return Ok(Vars::Waiting(
            waiting.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    Ok(Vars::Known { file, env })
}

/// The outputs of the `upstream` stacks: as planned in this run when it
/// planned them (values its plans change are unknown), else (and once
/// `applied`) as their state holds them.
async fn upstream_outputs(
    shared: &Shared,
    upstream: &BTreeSet<String>,
    applied: &BTreeSet<String>,
) -> crate::kube::substitute::Outputs {
    use super::workloads::OutputsFrom;
    let mut reports = Vec::new();
    let mut sources = Vec::new();
    for name in upstream {
        let Some(stack) = shared.stacks.iter().find(|s| &s.name == name) else {
            continue;
        };
        let json = shared.runs.plan_json(&shared.run_id, name);
        if !applied.contains(name) && json.is_file() {
            if let Ok(plan) = tfplan::parse_file(&json) {
                reports.push(StackReport::from_plan(name, &stack.path, &plan));
            }
            sources.push((name.clone(), OutputsFrom::Plan(json)));
        } else {
            let wd = shared.workdir(stack);
            sources.push((
                name.clone(),
                OutputsFrom::State {
                    terraform: &shared.terraform,
                    wd,
                },
            ));
        }
    }
    let current = super::workloads::state_outputs(sources, &shared.interrupt).await;
    super::workloads::planned_outputs(current, &reports)
}

/// What applying every stack of a run shares.
struct Applying {
    /// For planning a stack again after a stack it depends on was applied.
    plan: Shared,
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
    /// The run's policies, evaluated again on a stack planned again.
    policies: Arc<crate::policy::Policies>,
    source: crate::policy::Source,
}

/// How the stacks of a run went.
pub(crate) struct StacksApplied {
    pub reports: Vec<StackReport>,
    pub stale: bool,
    pub blocked: bool,
}

/// Applies the run's stacks in dependency order.
pub(crate) async fn apply_stacks(
    target: StacksTarget<'_>,
    terraform: Terraform,
    run: &Run,
    reports: Vec<StackReport>,
    ui: &Ui,
    interrupt: &Interrupt,
) -> StacksApplied {
    let parallelism = target.config.terraform.parallelism;
    let shared = Arc::new(Applying {
        plan: Shared {
            terraform,
            root: target.root.to_owned(),
            stacks: target.config.stacks.clone(),
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
        policies: target.policies.clone(),
        source: crate::policy::Source::new(
            &run.source.repo,
            &run.source.reference,
            run.source.commit.as_deref(),
        ),
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
    let done = target.done.clone();
    let results = {
        let shared = shared.clone();
        let work = work.clone();
        let stop_on = interrupt.clone();
        let done = done.clone();
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
                let done = done.clone();
                async move {
                    let result = apply_stack(&shared, &stack, report, &task).await;
                    let status = match &result {
                        Ok(r) | Err(r) => r.status,
                    };
                    done.send_modify(|m| {
                        m.insert(name, status);
                    });
                    result
                }
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
    // Those skipped (a dependency failed, or an interrupt) are done too.
    done.send_modify(|m| {
        for r in &reports {
            m.entry(r.name.clone()).or_insert(r.status);
        }
    });
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
    shared: &Applying,
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

async fn apply_saved_plan(shared: &Applying, stack: &StackRun, task: &Task) -> Result<(), Failure> {
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
    shared: &Applying,
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
    let applied = shared.applied.lock().expect("not poisoned").clone();
    let outcome = plan_stack_into(&shared.plan, config, &planfile, task, &applied).await?;
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
    // The new plan answers to the policies as the first did: a denial
    // stops it, an `approve` is an item like any other.
    let mut items = outcome.items.clone();
    let denials = check_policies(shared, &report, &outcome.secrets, &planfile, &mut items)?;
    if !denials.is_empty() {
        shared.blocked.store(true, Ordering::SeqCst);
        report.status = StackStatus::Error;
        report.error = Some(format!(
            "not applied: planned again after {after} was applied, the policies deny it: {}. Fix it and run `strata apply` again",
            denials.join("; ")
        ));
        return Err(Failure::Report(Box::new(report)));
    }
    let uncovered: Vec<Item> = items
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
        Verdict::Proceed => (!items.is_empty()).then_some(DecidedBy::EarlierApproval),
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
        decision.items = items.len();
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

/// Evaluates the commit's policies on a stack planned again (the input
/// holds that stack alone, kept in the run as `policy-input.<stack>.json`),
/// as [`crate::policy::evaluate_again`] does.
fn check_policies(
    shared: &Applying,
    report: &StackReport,
    secrets: &BTreeSet<String>,
    planfile: &Path,
    items: &mut Vec<Item>,
) -> Result<Vec<String>, Failure> {
    if shared.policies.is_empty() {
        return Ok(Vec::new());
    }
    let resource_changes =
        crate::policy::resource_changes(&planfile.with_file_name("plan.json"), secrets).map_err(
            |message| Error::Invalid {
                path: planfile.with_file_name("plan.json"),
                message,
            },
        )?;
    let input = crate::policy::Input {
        command: "apply".to_owned(),
        source: shared.source.clone(),
        stacks: vec![crate::policy::StackInput {
            name: report.name.clone(),
            path: report.path.clone(),
            resource_changes,
        }],
        workloads: Vec::new(),
    };
    let text = serde_json::to_vec_pretty(&input).expect("the input is JSON");
    let kept = format!("policy-input.{}.json", report.name);
    shared
        .plan
        .runs
        .write_file(&shared.plan.run_id, &kept, &text)?;
    let denials = crate::policy::evaluate_again(
        &shared.policies,
        &input,
        items,
        &format!("stack {}", report.name),
    )
    .map_err(|message| Error::Invalid {
        path: shared.plan.runs.dir_of(&shared.plan.run_id).join(&kept),
        message,
    })?;
    Ok(denials)
}

/// `terraform apply PLANFILE`. Its outputs are not copied anywhere: the
/// workloads read them from Terraform's state once the stacks are done.
async fn apply_planfile(
    shared: &Applying,
    name: &str,
    path: &str,
    planfile: &Path,
    task: &Task,
) -> Result<(), Error> {
    let plan = &shared.plan;
    // The run was planned at this commit, whose configuration has it.
    let stack = plan
        .stacks
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .unwrap_or_else(|| Stack {
            name: name.to_owned(),
            path: path.to_owned(),
            ..Stack::default()
        });
    let wd = plan.workdir(&stack);
    task.step("apply");
    plan.terraform.apply(&wd, planfile, &plan.interrupt).await?;
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
