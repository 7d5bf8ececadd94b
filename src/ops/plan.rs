//! `strata plan`: check out the source, load the config, and plan every
//! selected stack with the real Terraform, in dependency order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dag::{self, NodeResult};
use super::{Environment, Error, SourceOptions, checkout};
use crate::config::{self, Config, Stack};
use crate::interrupt::Interrupt;
use crate::report::text::summary_line;
use crate::report::{Report, StackReport};
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
}

/// Plans the selected stacks and reports on them. Stack failures are in
/// the report (status `error`, dependents `skipped`); only failures that
/// stop the whole run are an `Err`.
///
/// # Errors
/// Source, config, state directory or Terraform discovery failures, and
/// an interrupt.
pub async fn plan(opts: &PlanOptions, ui: &Ui, interrupt: &Interrupt) -> Result<Report, Error> {
    let (state, snapshot) = checkout(&opts.source, &opts.env, "plan", interrupt).await?;
    let config = config::load(&snapshot.root)?;
    let selected = select(&config, &opts.stacks)?;
    let terraform = locate(&config, &opts.env, &opts.cwd, &state, interrupt).await?;
    let scratch = state.scratch()?;

    let shared = Arc::new(Shared {
        terraform,
        root: snapshot.root.clone(),
        scratch: scratch.path().to_owned(),
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
    let stacks: Vec<Stack> = selected.iter().map(|s| (*s).clone()).collect();
    let by_name = Arc::new(stacks);
    let results = {
        let by_name = by_name.clone();
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
    };
    if interrupt.is_requested() {
        return Err(Error::Interrupted);
    }

    let reports = by_name
        .iter()
        .map(|stack| match results.get(&stack.name) {
            Some(NodeResult::Done(r) | NodeResult::Failed(r)) => r.clone(),
            Some(NodeResult::Skipped { because }) => {
                StackReport::skipped(&stack.name, &stack.path, because)
            }
            None => StackReport::skipped(&stack.name, &stack.path, "not scheduled"),
        })
        .collect();
    Ok(Report::new("plan", Some((&snapshot).into()), reports))
}

/// What every stack's planning shares.
struct Shared {
    terraform: Terraform,
    root: PathBuf,
    scratch: PathBuf,
    interrupt: Interrupt,
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
    state: &crate::state::StateDir,
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
) -> Result<StackReport, StackReport> {
    let fail = |e: String| {
        task.finish("failed");
        StackReport::failed(&stack.name, &stack.path, e)
    };
    match plan_stack_inner(shared, stack, task).await {
        Ok(report) => {
            if report.status == crate::report::StackStatus::Error {
                task.finish(report.error.as_deref().unwrap_or("failed"));
                Err(report)
            } else {
                task.finish(&summary_line(
                    &report.summary,
                    report.destructive(),
                    report.outputs.len(),
                ));
                Ok(report)
            }
        }
        Err(e) => Err(fail(crate::error_chain(&e))),
    }
}

async fn plan_stack_inner(
    shared: &Shared,
    stack: &Stack,
    task: &Task,
) -> Result<StackReport, Error> {
    let dir = shared.root.join(&stack.path);
    let scratch = shared.scratch.join(&stack.name);
    std::fs::create_dir_all(&scratch).map_err(|source| Error::Io {
        what: "creating",
        path: scratch.clone(),
        source,
    })?;
    let mut var_files: Vec<PathBuf> = stack.var_files.iter().map(PathBuf::from).collect();
    if !stack.vars.is_empty() {
        // Written as a var file rather than -var flags so that lists and
        // maps keep their types; it lives outside the tree, in the scratch.
        let file = scratch.join("strata.tfvars.json");
        let json = serde_json::to_vec_pretty(&stack.vars).map_err(|e| Error::Io {
            what: "writing",
            path: file.clone(),
            source: e.into(),
        })?;
        std::fs::write(&file, json).map_err(|source| Error::Io {
            what: "writing",
            path: file.clone(),
            source,
        })?;
        var_files.push(file);
    }

    task.step("init");
    shared.terraform.init(&dir, &shared.interrupt).await?;
    task.step("plan");
    let planfile = scratch.join("tfplan");
    let exit = shared
        .terraform
        .plan(&dir, &planfile, &var_files, &shared.interrupt)
        .await?;
    task.step("show");
    let json = scratch.join("plan.json");
    shared
        .terraform
        .show_json(&dir, &planfile, &json, &shared.interrupt)
        .await?;
    let shown = json.clone();
    let parsed = tokio::task::spawn_blocking(move || tfplan::parse_file(&json))
        .await
        .map_err(|e| Error::Io {
            what: "reading the plan of",
            path: dir.clone(),
            source: std::io::Error::other(e),
        })?
        .map_err(|error| Error::PlanFile { path: shown, error })?;
    if exit == PlanExit::NoChanges && parsed.has_changes() {
        tracing::debug!(stack = %stack.name, "terraform said no changes, the plan JSON has some");
    }
    Ok(StackReport::from_plan(&stack.name, &stack.path, &parsed))
}
