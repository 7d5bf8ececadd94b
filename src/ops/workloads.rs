//! The Kubernetes half of `plan` and `apply`: render and diff each
//! selected workload before the gate, converge them after the stacks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::dag::{self, NodeResult};
use super::publish::{Claim, Layout};
use super::{Environment, Error};
use crate::approval::{self, Item, Verdict};
use crate::config::{Approval, Workload};
use crate::interrupt::Interrupt;
use crate::kube::converge::{self, Applied, Settings};
use crate::kube::manifest::{self, Tools};
use crate::kube::set::{self, Context};
use crate::kube::substitute::{self, Output, Outputs};
use crate::kube::{Cluster, Connect, KubeError};
use crate::report::{KeptObject, NotReady, StackReport, StackStatus, WorkloadReport};
use crate::runs::Runs;
use crate::ui::{Task, Ui};

/// The Kubernetes flags.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--force-conflicts`: take over fields other managers applied.
    pub force_conflicts: bool,
    /// `--allow-empty-prune`: a prune may delete every object of a
    /// workload.
    pub allow_empty_prune: bool,
}

impl KubeOptions {
    pub(crate) fn connect(&self, env: &Environment) -> Connect {
        Connect {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            env_kubeconfig: env.get("KUBECONFIG").map(ToOwned::to_owned),
            home: env.get("HOME").map(PathBuf::from),
            in_cluster: env.get("KUBERNETES_SERVICE_HOST").is_some(),
        }
    }
}

/// Where kustomize and kubectl are looked for.
pub(crate) fn tools(env: &Environment) -> Tools {
    Tools {
        path: env.get("PATH").map(ToOwned::to_owned),
        home: env.get("HOME").map(ToOwned::to_owned),
        interrupt: crate::interrupt::installed().cloned(),
        keys: crate::sops::Keys::from_env(env),
    }
}

/// Connects to the cluster.
pub(crate) async fn connect(opts: &KubeOptions, env: &Environment) -> Result<Cluster, Error> {
    Ok(Cluster::connect(&opts.connect(env)).await?)
}

/// The clusters of a run's workloads: one connection per kubeconfig
/// context they name (a workload without `context` is on the run's:
/// `--context`, else the kubeconfig's current one).
#[derive(Clone, Default)]
pub(crate) struct Clusters {
    /// `--context`.
    run_context: Option<String>,
    by_context: BTreeMap<Option<String>, Result<Cluster, String>>,
}

impl Clusters {
    /// Connects to the cluster of every context `workloads` use.
    ///
    /// # Errors
    /// When no cluster can be reached: the first failure (nothing is
    /// planned then, as with one cluster). One that cannot be reached
    /// while another can fails only its workloads.
    pub(crate) async fn connect(
        opts: &KubeOptions,
        env: &Environment,
        workloads: &[Workload],
    ) -> Result<Clusters, Error> {
        let mut clusters = Clusters {
            run_context: opts.context.clone(),
            by_context: BTreeMap::new(),
        };
        let contexts: BTreeSet<Option<String>> =
            workloads.iter().map(|w| clusters.context_of(w)).collect();
        let mut first_error = None;
        for context in contexts {
            let on = KubeOptions {
                context: context.clone(),
                ..opts.clone()
            };
            let cluster = match connect(&on, env).await {
                Ok(cluster) => Ok(cluster),
                Err(e) => {
                    let message = e.to_string();
                    first_error.get_or_insert(e);
                    Err(message)
                }
            };
            clusters.by_context.insert(context, cluster);
        }
        match first_error {
            Some(e) if clusters.by_context.values().all(Result::is_err) => Err(e),
            _ => Ok(clusters),
        }
    }

    /// Every workload's cluster unreachable, with `error`.
    pub(crate) fn unreachable(error: &str) -> Clusters {
        Clusters {
            run_context: None,
            by_context: [(None, Err(error.to_owned()))].into_iter().collect(),
        }
    }

    /// The context `workload` is on (`None`: the kubeconfig's current).
    pub(crate) fn context_of(&self, workload: &Workload) -> Option<String> {
        workload
            .context
            .clone()
            .or_else(|| self.run_context.clone())
    }

    /// The cluster of `workload`, or why it cannot be reached.
    pub(crate) fn of(&self, workload: &Workload) -> Result<&Cluster, String> {
        match self.by_context.get(&self.context_of(workload)) {
            Some(Ok(cluster)) => Ok(cluster),
            Some(Err(e)) => Err(e.clone()),
            // Every context of the run's workloads was connected, or
            // failed as a whole.
            None => Err(self
                .by_context
                .values()
                .find_map(|r| r.as_ref().err().cloned())
                .unwrap_or_else(|| "no cluster was connected for it".to_owned())),
        }
    }
}

/// One workload, diffed.
#[derive(Debug, Clone)]
pub(crate) struct WorkloadPlanned {
    pub config: Workload,
    pub report: WorkloadReport,
    pub items: Vec<Item>,
    /// `None` when it could not be diffed (or was skipped).
    pub plan: Option<converge::Plan>,
    /// Its cluster cannot be reached while another one can: it fails, and
    /// does not stop the rest of the run.
    pub unreachable: bool,
}

impl WorkloadPlanned {
    /// A workload that could not be diffed at all.
    pub fn failed(config: &Workload, error: &str) -> WorkloadPlanned {
        WorkloadPlanned::unplanned(config, StackStatus::Error, error.to_owned())
    }

    /// A workload whose cluster cannot be reached (see
    /// [`WorkloadPlanned::unreachable`]).
    pub fn unreachable(config: &Workload, error: &str) -> WorkloadPlanned {
        WorkloadPlanned {
            unreachable: true,
            ..WorkloadPlanned::failed(config, error)
        }
    }

    pub fn skipped(config: &Workload, because: &str) -> WorkloadPlanned {
        WorkloadPlanned::unplanned(config, StackStatus::Skipped, format!("skipped: {because}"))
    }

    fn unplanned(config: &Workload, status: StackStatus, error: String) -> WorkloadPlanned {
        WorkloadPlanned {
            report: WorkloadReport {
                context: config.context.clone(),
                ..WorkloadReport::empty(&config.name, &config.path, status, Some(error))
            },
            config: config.clone(),
            items: Vec::new(),
            plan: None,
            unreachable: false,
        }
    }
}

/// The outputs of `terraform output -json`, as substitution sees them.
fn outputs_of(json: &Value) -> BTreeMap<String, Output> {
    json.as_object()
        .into_iter()
        .flatten()
        .map(|(name, o)| {
            (
                name.clone(),
                Output {
                    value: Some(o["value"].clone()),
                    sensitive: o["sensitive"] == true,
                },
            )
        })
        .collect()
}

/// Where a stack's outputs are read from, Terraform's state in each case.
pub(crate) enum OutputsFrom<'a> {
    /// The prior state of this run's plan of it (`plan.json`): the state
    /// as Terraform's refresh left it when it was planned.
    Plan(PathBuf),
    /// `terraform output -json` in its directory: a stack this run applied,
    /// or one it did not plan.
    State {
        terraform: &'a crate::terraform::Terraform,
        wd: crate::terraform::Workdir,
    },
}

/// The stacks whose outputs the `selected` workloads of `layout` need:
/// those their manifests reference and those they publish for `outputs`
/// blocks.
pub(crate) fn needed_stacks(layout: &Layout, selected: &[Workload]) -> BTreeSet<String> {
    selected
        .iter()
        .flat_map(|w| {
            let referenced = layout
                .references
                .get(&w.name)
                .into_iter()
                .flatten()
                .map(|(stack, _)| stack.clone());
            let published = layout
                .published
                .iter()
                .filter(|p| p.carrier == w.name)
                .map(|p| p.stack.clone());
            referenced.chain(published).collect::<Vec<_>>()
        })
        .collect()
}

/// Where each stack the `selected` workloads of `layout` need reads its
/// outputs from: a stack `applied` by this run from its state; one this
/// run planned from its plan's prior state; any other from its state.
pub(crate) fn outputs_sources<'a>(
    (layout, selected): (&Layout, &[Workload]),
    config: &crate::config::Config,
    terraform: Option<&'a crate::terraform::Terraform>,
    at: (&Path, &Runs, &str),
    applied: &BTreeSet<String>,
) -> Vec<(String, OutputsFrom<'a>)> {
    needed_stacks(layout, selected)
        .into_iter()
        .filter_map(|name| {
            let from = outputs_source(&name, config, terraform, at, applied)?;
            Some((name, from))
        })
        .collect()
}

/// Where stack `name`'s outputs are read from (see [`outputs_sources`]).
fn outputs_source<'a>(
    name: &str,
    config: &crate::config::Config,
    terraform: Option<&'a crate::terraform::Terraform>,
    at: (&Path, &Runs, &str),
    applied: &BTreeSet<String>,
) -> Option<OutputsFrom<'a>> {
    let (root, runs, run_id) = at;
    let stack = config.stack(name)?;
    let json = runs.plan_json(run_id, name);
    Some(match terraform {
        Some(terraform) if applied.contains(name) || !json.is_file() => OutputsFrom::State {
            terraform,
            wd: super::workdir::workdir(root, &config.stacks, stack),
        },
        _ if json.is_file() => OutputsFrom::Plan(json),
        _ => return None,
    })
}

/// The outputs of the given stacks as Terraform's state holds them now.
/// strata keeps no record of its own that could disagree with the state
/// (after a crash between `terraform apply` and reading its outputs, say),
/// and so holds no copy of a sensitive value on disk. A stack with no state
/// yet has no entry (substitution then says it was never applied); one
/// whose outputs cannot be read is left out with a warning.
pub(crate) async fn state_outputs(
    stacks: Vec<(String, OutputsFrom<'_>)>,
    interrupt: &Interrupt,
) -> Outputs {
    let mut all = Outputs::new();
    for (stack, from) in stacks {
        let read = match from {
            OutputsFrom::Plan(json) => {
                tokio::task::spawn_blocking(move || crate::terraform::plan::prior_outputs(&json))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .map(|found| {
                        found.map(|outputs| {
                            outputs
                                .into_iter()
                                .map(|(name, o)| {
                                    let output = Output {
                                        value: Some(o.value),
                                        sensitive: o.sensitive,
                                    };
                                    (name, output)
                                })
                                .collect()
                        })
                    })
            }
            OutputsFrom::State { terraform, wd } => {
                read_state_outputs(terraform, &wd, interrupt).await
            }
        };
        match read {
            Ok(Some(outputs)) => {
                all.insert(stack, outputs);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(stack = %stack, "cannot read the stack's outputs from its state: {e}");
            }
        }
    }
    all
}

/// `terraform output -json` (after `init` when the stack needs one and it
/// has not run); `None` when the state has no outputs at all.
async fn read_state_outputs(
    terraform: &crate::terraform::Terraform,
    wd: &crate::terraform::Workdir,
    interrupt: &Interrupt,
) -> Result<Option<BTreeMap<String, Output>>, String> {
    let chain = |e: crate::terraform::TerraformError| crate::error_chain(&e);
    terraform.prepare(wd, interrupt).await.map_err(chain)?;
    let json = terraform.output_json(wd, interrupt).await.map_err(chain)?;
    let outputs = outputs_of(&json);
    Ok((!outputs.is_empty()).then_some(outputs))
}

/// The outputs as they will be after this run's stacks are applied: the
/// values in Terraform's state (`all`), except those the plans change,
/// which are only known after apply.
pub(crate) fn planned_outputs(mut all: Outputs, stacks: &[StackReport]) -> Outputs {
    for stack in stacks {
        let outputs = all.entry(stack.name.clone()).or_default();
        for o in &stack.outputs {
            match o.action {
                "delete" => {
                    outputs.remove(&o.name);
                }
                "create" | "update" => {
                    outputs.insert(
                        o.name.clone(),
                        Output {
                            value: None,
                            sensitive: o.sensitive,
                        },
                    );
                }
                _ => {}
            }
        }
    }
    all
}

/// What planning a workload needs besides the workload.
pub(crate) struct Inputs<'a> {
    pub cluster: &'a Cluster,
    pub root: &'a Path,
    pub outputs: &'a Outputs,
    pub commit: Option<&'a str>,
    pub policy: &'a Approval,
    pub options: &'a KubeOptions,
    pub tools: &'a Tools,
    /// The workloads as laid out for the run: what each claims, and the
    /// published outputs each carries.
    pub layout: &'a Layout,
}

/// An object belongs to one workload: one defined by another workload too
/// is an error, and one that moved to another workload is not pruned
/// (the other workload takes it over).
fn settle_claims(
    plan: &mut converge::Plan,
    workload: &str,
    claims: &[Claim],
) -> Result<(), KubeError> {
    let others: Vec<&Claim> = claims.iter().filter(|c| c.workload != workload).collect();
    let mut twice = Vec::new();
    for o in &plan.set.objects {
        if let Some(c) = others.iter().find(|c| c.is(&o.id)) {
            twice.push(KubeError::Manifest {
                file: o.file.clone(),
                index: Some(o.index),
                line: None,
                message: format!(
                    "{} is also defined by workload {:?}; an object belongs to one workload",
                    o.id, c.workload
                ),
            });
        }
    }
    if !twice.is_empty() {
        return Err(KubeError::Invalid(twice));
    }
    let mut kept = Vec::new();
    plan.changes.retain(|c| {
        if c.action != converge::Action::Prune {
            return true;
        }
        match others.iter().find(|claim| claim.is(&c.id)) {
            Some(claim) => {
                kept.push((
                    c.id.clone(),
                    format!("it is now defined by workload {:?}", claim.workload),
                ));
                false
            }
            None => true,
        }
    });
    plan.kept.extend(kept);
    Ok(())
}

pub(crate) fn settings(workload: &Workload, options: &KubeOptions) -> Settings {
    Settings {
        name: workload.name.clone(),
        prune: workload.prune,
        wait: workload.wait,
        timeout: workload.timeout,
        force_conflicts: workload.force_conflicts || options.force_conflicts,
        ignore: workload.ignore_fields.clone(),
    }
}

/// Loads, substitutes, validates and diffs one workload. Its problems are
/// in its report.
pub(crate) async fn plan_workload(workload: &Workload, inputs: &Inputs<'_>) -> WorkloadPlanned {
    match try_plan(workload, inputs).await {
        Ok(plan) => {
            let report = WorkloadReport {
                context: workload.context.clone(),
                ..WorkloadReport::from_plan(&workload.name, &workload.path, &plan)
            };
            let items = approval::workload_items(
                inputs.policy,
                &workload.name,
                &plan,
                inputs.options.allow_empty_prune,
            );
            WorkloadPlanned {
                config: workload.clone(),
                report,
                items,
                plan: Some(plan),
                unreachable: false,
            }
        }
        Err(e) => WorkloadPlanned::failed(workload, &e.to_string()),
    }
}

async fn try_plan(workload: &Workload, inputs: &Inputs<'_>) -> Result<converge::Plan, KubeError> {
    let manifests = if Layout::is_own_carrier(workload) {
        Vec::new()
    } else {
        let root = inputs.root.to_owned();
        let path = workload.path.clone();
        let exclude = workload.exclude.clone();
        let tools = inputs.tools.clone();
        tokio::task::spawn_blocking(move || manifest::load(&root, &path, &exclude, &tools))
            .await
            .map_err(|e| KubeError::Render {
                dir: workload.path.clone(),
                message: e.to_string(),
            })??
    };
    let mut substituted = Vec::with_capacity(manifests.len());
    let mut problems = Vec::new();
    for mut m in manifests {
        match substitute::substitute(&mut m, inputs.outputs) {
            Ok(used) => substituted.push((m, used)),
            Err(e) => problems.push(e),
        }
    }
    match inputs.layout.manifests(&workload.name, inputs.outputs) {
        Ok(published) => substituted.extend(published),
        Err(e) => problems.push(e),
    }
    if !problems.is_empty() {
        return Err(KubeError::Invalid(problems));
    }
    // One object, one workload: in each cluster (workloads on different
    // contexts may well define the same objects).
    let context_of = |name: &str| {
        let w = inputs.layout.workloads.iter().find(|w| w.name == name)?;
        w.context.clone().or_else(|| inputs.options.context.clone())
    };
    let mine = context_of(&workload.name);
    let claims: Vec<Claim> = inputs
        .layout
        .claims
        .iter()
        .filter(|c| context_of(&c.workload) == mine)
        .cloned()
        .collect();
    let claims = &claims;
    let ctx = Context {
        workload: &workload.name,
        namespace: workload.namespace.as_deref(),
        commit: inputs.commit,
        namespaces_elsewhere: claims
            .iter()
            .filter(|c| c.workload != workload.name && c.group.is_empty() && c.kind == "Namespace")
            .map(|c| c.name.clone())
            .collect(),
    };
    let set = set::validate(substituted, &ctx, inputs.cluster).await?;
    let mut plan = converge::plan(inputs.cluster, &settings(workload, inputs.options), set).await?;
    settle_claims(&mut plan, &workload.name, claims)?;
    Ok(plan)
}

/// Everything converging the run's workloads shares.
pub(crate) struct Converge {
    pub clusters: Clusters,
    pub root: PathBuf,
    /// Where the stacks' outputs are read from, once each is done.
    pub outputs: OutputsReader,
    /// The run's stacks as they finish.
    pub stacks: StacksDone,
    pub commit: Option<String>,
    pub policy: Approval,
    pub options: KubeOptions,
    pub tools: Tools,
    /// What the person (or flag, or policy) approved.
    pub approved: Vec<Item>,
    pub auto_approve: bool,
    pub interrupt: Interrupt,
    pub layout: Layout,
    /// The run's policies, evaluated again on a workload diffed again.
    pub policies: Arc<crate::policy::Policies>,
    pub source: crate::policy::Source,
}

/// The run's stacks as `apply` finishes them, so that each workload starts
/// as soon as the stacks it needs are done.
#[derive(Clone)]
pub(crate) struct StacksDone {
    /// The stacks of the run (others are done already, as far as it goes).
    in_run: Arc<BTreeSet<String>>,
    rx: tokio::sync::watch::Receiver<BTreeMap<String, StackStatus>>,
}

/// The sending half of [`StacksDone`], held by the stack executor.
pub(crate) type StacksDoneTx = Arc<tokio::sync::watch::Sender<BTreeMap<String, StackStatus>>>;

impl StacksDone {
    /// A channel for the stacks `in_run`, none of them done yet.
    pub fn channel(in_run: BTreeSet<String>) -> (StacksDoneTx, StacksDone) {
        let (tx, rx) = tokio::sync::watch::channel(BTreeMap::new());
        (
            Arc::new(tx),
            StacksDone {
                in_run: Arc::new(in_run),
                rx,
            },
        )
    }

    /// Stacks that are all done already.
    pub fn finished(reports: &[StackReport]) -> StacksDone {
        let (tx, done) = StacksDone::channel(reports.iter().map(|r| r.name.clone()).collect());
        tx.send_modify(|m| {
            m.extend(reports.iter().map(|r| (r.name.clone(), r.status)));
        });
        done
    }

    /// Waits until every stack of `names` that is in the run is done;
    /// their statuses. `None` on an interrupt.
    async fn wait(
        &self,
        names: &BTreeSet<String>,
        interrupt: &Interrupt,
    ) -> Option<BTreeMap<String, StackStatus>> {
        let wanted: Vec<&String> = names.iter().filter(|n| self.in_run.contains(*n)).collect();
        let mut rx = self.rx.clone();
        let done = rx.wait_for(|m| wanted.iter().all(|n| m.contains_key(*n)));
        tokio::select! {
            m = done => m.ok().map(|m| {
                wanted.iter().filter_map(|n| m.get(*n).map(|s| ((*n).clone(), *s))).collect()
            }),
            () = interrupt.reached(crate::interrupt::Level::Graceful) => None,
        }
    }
}

/// Reads stacks' outputs from Terraform's state (or this run's plan of a
/// stack it did not apply), each once.
pub(crate) struct OutputsReader {
    pub terraform: Option<crate::terraform::Terraform>,
    pub config: crate::config::Config,
    /// The checked-out tree the stacks are in.
    pub root: PathBuf,
    pub runs: Runs,
    pub run_id: String,
    pub read: tokio::sync::Mutex<Outputs>,
}

impl OutputsReader {
    /// The outputs of `stacks`, given how the run's stacks ended
    /// (`applied` ones are read from their state).
    async fn of(
        &self,
        stacks: &BTreeSet<String>,
        applied: &BTreeSet<String>,
        interrupt: &Interrupt,
    ) -> Outputs {
        let mut read = self.read.lock().await;
        let missing: Vec<String> = stacks
            .iter()
            .filter(|s| !read.contains_key(*s))
            .cloned()
            .collect();
        let at = (self.root.as_path(), &self.runs, self.run_id.as_str());
        let sources = missing
            .into_iter()
            .filter_map(|name| {
                let from =
                    outputs_source(&name, &self.config, self.terraform.as_ref(), at, applied)?;
                Some((name, from))
            })
            .collect();
        read.extend(state_outputs(sources, interrupt).await);
        read.iter()
            .filter(|(k, _)| stacks.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The stacks a workload needs done before it converges: those it
/// depends on, those its manifests reference, those whose outputs it
/// carries.
pub(crate) fn stacks_needed(layout: &Layout, w: &Workload) -> BTreeSet<String> {
    w.depends_on
        .iter()
        .cloned()
        .chain(
            layout
                .references
                .get(&w.name)
                .into_iter()
                .flatten()
                .map(|(stack, _)| stack.clone()),
        )
        .chain(
            layout
                .published
                .iter()
                .filter(|p| p.carrier == w.name)
                .map(|p| p.stack.clone()),
        )
        .collect()
}

/// A workload not converged because, diffed again with the new outputs,
/// it needs an approval the run did not get; or one that depends on such a
/// workload (with nothing `uncovered` of its own).
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub workload: WorkloadPlanned,
    /// What it needs approval for that was not approved.
    pub uncovered: Vec<Item>,
}

/// How converging the run's workloads went.
pub(crate) struct WorkloadsApplied {
    /// Every workload, in the order given.
    pub reports: Vec<WorkloadReport>,
    /// The workloads held for an approval (their reports show what they
    /// would change).
    pub held: Vec<Held>,
}

/// Converges `planned` in dependency order, each workload as soon as the
/// stacks it needs are done: one whose stack dependency failed is
/// skipped; one whose stacks were applied in this run (or that was planned
/// with outputs unknown) is diffed again with the new outputs, and
/// converged only if what it now needs approval for was approved — else
/// it is held, with everything that depends on it.
pub(crate) async fn apply_workloads(
    ctx: Arc<Converge>,
    planned: Vec<WorkloadPlanned>,
    ui: &Ui,
) -> WorkloadsApplied {
    let held: Arc<std::sync::Mutex<Vec<Held>>> = Arc::default();
    let names: BTreeSet<String> = planned.iter().map(|w| w.config.name.clone()).collect();
    let nodes = planned
        .iter()
        .map(|w| dag::Node {
            name: w.config.name.clone(),
            depends_on: w
                .config
                .depends_on
                .iter()
                .filter(|d| names.contains(*d))
                .cloned()
                .collect(),
        })
        .collect();
    let by_name: Arc<BTreeMap<String, WorkloadPlanned>> = Arc::new(
        planned
            .iter()
            .map(|w| (w.config.name.clone(), w.clone()))
            .collect(),
    );
    let progress = ui.progress();
    let stop_on = ctx.interrupt.clone();
    let results = {
        let by_name = by_name.clone();
        let held = held.clone();
        dag::run(
            nodes,
            4,
            move || stop_on.is_requested(),
            move |name| {
                let ctx = ctx.clone();
                let w = by_name
                    .get(&name)
                    .cloned()
                    .expect("every node is a workload");
                let held = held.clone();
                let progress = progress.clone();
                async move {
                    let needed = stacks_needed(&ctx.layout, &w.config);
                    let Some(stacks) = ctx.stacks.wait(&needed, &ctx.interrupt).await else {
                        return Err(WorkloadPlanned::skipped(&w.config, "interrupted").report);
                    };
                    let task = progress.task(&name);
                    let blocked = stacks
                        .iter()
                        .find(|(_, s)| matches!(s, StackStatus::Error | StackStatus::Skipped));
                    if let Some((stack, _)) = blocked {
                        task.finish("skipped");
                        return Err(WorkloadPlanned::skipped(
                            &w.config,
                            &format!("stack {stack} failed"),
                        )
                        .report);
                    }
                    let applied: BTreeSet<String> = stacks
                        .iter()
                        .filter(|(_, s)| **s == StackStatus::Applied)
                        .map(|(n, _)| n.clone())
                        .collect();
                    let outputs = ctx.outputs.of(&needed, &applied, &ctx.interrupt).await;
                    let changed = !applied.is_empty();
                    let report = match apply_workload(&ctx, w, changed, &outputs, &task).await {
                        Converged::Done(report) => *report,
                        Converged::Held(h) => {
                            // Its dependents wait with it.
                            let report = h.workload.report.clone();
                            held.lock().expect("not poisoned").push(*h);
                            return Err(report);
                        }
                    };
                    if matches!(report.status, StackStatus::Error | StackStatus::Skipped) {
                        Err(report)
                    } else {
                        Ok(report)
                    }
                }
            },
        )
        .await
    };
    let mut held = std::mem::take(&mut *held.lock().expect("not poisoned"));
    // What depends on a held workload (in config order, so dependencies
    // come first) is held with it, not failed.
    let mut waiting: BTreeSet<String> = held
        .iter()
        .map(|h| h.workload.config.name.clone())
        .collect();
    for w in &planned {
        let skipped = matches!(
            results.get(&w.config.name),
            Some(NodeResult::Skipped { .. })
        );
        if skipped && w.config.depends_on.iter().any(|d| waiting.contains(d)) {
            waiting.insert(w.config.name.clone());
            held.push(Held {
                workload: w.clone(),
                uncovered: Vec::new(),
            });
        }
    }
    let reports = planned
        .iter()
        .map(|w| {
            if let Some(h) = held
                .iter()
                .find(|h| h.workload.config.name == w.config.name)
            {
                return h.workload.report.clone();
            }
            match results.get(&w.config.name) {
                Some(NodeResult::Done(r) | NodeResult::Failed(r)) => r.clone(),
                Some(NodeResult::Skipped { because }) => {
                    WorkloadPlanned::skipped(&w.config, because).report
                }
                None => WorkloadPlanned::skipped(&w.config, "not scheduled").report,
            }
        })
        .collect();
    WorkloadsApplied { reports, held }
}

/// How one workload's turn ended.
enum Converged {
    Done(Box<WorkloadReport>),
    Held(Box<Held>),
}

async fn apply_workload(
    ctx: &Converge,
    mut w: WorkloadPlanned,
    outputs_changed: bool,
    outputs: &Outputs,
    task: &Task,
) -> Converged {
    let unknown = w
        .plan
        .as_ref()
        .is_some_and(|p| p.set.objects.iter().any(|o| o.used.unknown));
    let cluster = match ctx.clusters.of(&w.config) {
        Ok(cluster) => cluster,
        Err(error) => {
            task.finish("failed");
            return Converged::Done(Box::new(
                WorkloadPlanned::unreachable(&w.config, &error).report,
            ));
        }
    };
    if outputs_changed || unknown || w.plan.is_none() {
        task.step("diff");
        let inputs = Inputs {
            cluster,
            root: &ctx.root,
            outputs,
            commit: ctx.commit.as_deref(),
            policy: &ctx.policy,
            options: &ctx.options,
            tools: &ctx.tools,
            layout: &ctx.layout,
        };
        w = plan_workload(&w.config, &inputs).await;
        if let Err(report) = check_policies(ctx, &mut w) {
            task.finish("failed");
            return Converged::Done(report);
        }
    }
    match check_covered(ctx, &w) {
        Covered::Yes => {}
        Covered::Denied(report) => {
            task.finish("failed");
            return Converged::Done(report);
        }
        Covered::No(uncovered) => {
            task.finish("held for approval");
            return Converged::Held(Box::new(Held {
                workload: w,
                uncovered,
            }));
        }
    }
    let Some(plan) = w.plan else {
        task.finish("failed");
        return Converged::Done(Box::new(w.report));
    };
    if w.report.status == StackStatus::Error {
        task.finish("failed");
        return Converged::Done(Box::new(w.report));
    }
    if !plan.has_changes() {
        task.finish("no changes");
        return Converged::Done(Box::new(w.report));
    }
    task.step("apply");
    let settings = settings(&w.config, &ctx.options);
    let kept = w.report.kept.clone();
    let unchanged = plan.unchanged.len();
    let interrupt = ctx.interrupt.clone();
    let applied = converge::apply(cluster, &settings, plan, ctx.commit.as_deref(), move || {
        interrupt.is_requested()
    })
    .await;
    let report = applied_report(&w.config, applied, kept, unchanged);
    task.finish(if report.status == StackStatus::Applied {
        "applied"
    } else {
        "failed"
    });
    Converged::Done(Box::new(report))
}

/// Evaluates the commit's policies on a workload diffed again (the input
/// holds that workload alone), as on its first diff: what they want
/// approved joins its items, their warnings are logged, and a denial is
/// its report's error.
fn check_policies(ctx: &Converge, w: &mut WorkloadPlanned) -> Result<(), Box<WorkloadReport>> {
    let Some(plan) = w.plan.as_ref().filter(|_| !ctx.policies.is_empty()) else {
        return Ok(());
    };
    let fail = |w: &WorkloadPlanned, why: String| {
        let mut report = w.report.clone();
        report.status = StackStatus::Error;
        report.error = Some(why);
        Box::new(report)
    };
    let input = crate::policy::Input {
        command: "apply".to_owned(),
        source: ctx.source.clone(),
        stacks: Vec::new(),
        workloads: vec![crate::policy::WorkloadInput {
            name: w.config.name.clone(),
            cluster: w.report.context.clone(),
            changes: crate::policy::workload_changes(plan),
        }],
    };
    let denials = crate::policy::evaluate_again(
        &ctx.policies,
        &input,
        &mut w.items,
        &format!("workload {}", w.config.name),
    )
    .map_err(|e| fail(w, format!("not applied: diffed again before applying, {e}")))?;
    if denials.is_empty() {
        Ok(())
    } else {
        Err(fail(
            w,
            format!(
                "not applied: diffed again before applying, the policies deny it: {}. Fix it and run `strata apply` again",
                denials.join("; ")
            ),
        ))
    }
}

enum Covered {
    Yes,
    /// `approval.destructive = "deny"`: the report says so.
    Denied(Box<WorkloadReport>),
    /// These items need an approval nobody gave yet.
    No(Vec<Item>),
}

/// A workload diffed again during apply may only go ahead if what it now
/// needs approval for was approved, or is covered by the policy or
/// `--auto-approve`.
fn check_covered(ctx: &Converge, w: &WorkloadPlanned) -> Covered {
    let uncovered: Vec<Item> = w
        .items
        .iter()
        .filter(|i| {
            !ctx.approved
                .iter()
                .any(|a| a.workload == i.workload && a.address == i.address && a.action == i.action)
        })
        .cloned()
        .collect();
    match approval::decide(&ctx.policy, &uncovered, ctx.auto_approve, false) {
        Verdict::Proceed | Verdict::AutoApproved(_) => Covered::Yes,
        Verdict::Denied => {
            let list: Vec<String> = uncovered
                .iter()
                .map(|i| format!("{} {} ({})", i.action, i.address, i.why()))
                .collect();
            let mut report = w.report.clone();
            report.status = StackStatus::Error;
            report.error = Some(format!(
                "not applied: diffed again before applying, it now has {}, which approval.destructive = \"deny\" refuses",
                list.join("; ")
            ));
            Covered::Denied(Box::new(report))
        }
        Verdict::Pending | Verdict::Ask => Covered::No(uncovered),
    }
}

fn applied_report(
    config: &Workload,
    applied: Applied,
    kept: Vec<KeptObject>,
    unchanged: usize,
) -> WorkloadReport {
    let failed = applied.failed();
    let mut report = WorkloadReport::empty(
        &config.name,
        &config.path,
        if failed {
            StackStatus::Error
        } else {
            StackStatus::Applied
        },
        None,
    );
    report.context = config.context.clone();
    report.unchanged = unchanged;
    report.kept = kept;
    let mut failures = 0;
    for (change, error) in &applied.results {
        let mut c = crate::report::object_change(change);
        if c.action == "create" {
            // "its namespace is created first" and the like only explain
            // a plan.
            c.reason = None;
        }
        if let Some(e) = error {
            failures += 1;
            c.error = Some(e.clone());
        }
        report.changes.push(c);
    }
    report.not_ready = applied
        .not_ready
        .iter()
        .map(|(object, why)| NotReady {
            object: object.clone(),
            why: why.clone(),
        })
        .collect();
    let mut errors = applied.errors.clone();
    if failures > 0 {
        errors.push(format!("{failures} object(s) failed (see above)"));
    }
    if !report.not_ready.is_empty() {
        errors.push(format!(
            "{} object(s) not ready within {} (see above)",
            report.not_ready.len(),
            crate::config::format_duration(config.timeout)
        ));
    }
    if !errors.is_empty() {
        report.error = Some(errors.join("; "));
    }
    report
}
