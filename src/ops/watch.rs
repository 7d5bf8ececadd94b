//! `strata watch`: the reconcile loop. Every `--interval` it looks at Git;
//! a new commit, or `--resync` elapsed, runs the whole pipeline.
//!
//! What needs no approval is converged at once. What needs approval is
//! *held*: the stacks and workloads with items, and everything that
//! depends on them, are saved as a run pending approval (one
//! `approval_required` notification), while the rest still converges.
//! Once a person approves that run (`strata approve RUN`), the next loop
//! applies it. A failing reconcile backs off exponentially with jitter;
//! the loop never exits on an error, only on SIGTERM or Ctrl-C, after the
//! current step stopped gracefully (Terraform releases its lock).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::apply::{ApplyOptions, apply_planned, converge};
use super::plan::{PlanOptions, Planned, finish};
use super::stacks::{Shared, plan_stack_into};
use super::{Error, checkout};
use crate::approval::{self, Verdict};
use crate::config::{Config, Notify, NotifyEvent};
use crate::interrupt::{Interrupt, Level, Trigger};
use crate::kube::client::describe;
use crate::kube::lease::{Holder, LeaseLock};
use crate::metrics::Metrics;
use crate::report::{Outcome, Report, StackStatus};
use crate::runs::{Run, RunStatus, Runs};
use crate::source::Snapshot;
use crate::state::StateDir;
use crate::ui::Ui;

#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The source, the state directory and the cluster; `stacks` and
    /// `workloads` are chosen by the loop.
    pub plan: PlanOptions,
    /// How often Git is looked at.
    pub interval: Duration,
    /// How often the world is re-planned without a new commit.
    pub resync: Duration,
    /// The longest wait after failures.
    pub max_backoff: Duration,
    /// `--auto-approve`: approve destructive changes in advance.
    pub auto_approve: bool,
    /// Where the loop records what it does.
    pub metrics: Arc<Metrics>,
    /// Reconcile only while holding this Lease (`--leader-elect`).
    pub leader: Option<LeaderOptions>,
}

/// The Lease the replicas of `strata watch` compete for.
#[derive(Debug, Clone)]
pub struct LeaderOptions {
    pub namespace: String,
    pub name: String,
    /// This replica (pod name and a random suffix).
    pub identity: String,
    /// How long a Lease not renewed stays with its holder.
    pub duration: Duration,
}

/// A failed reconcile: what kind of thing failed, and the message.
#[derive(Debug)]
struct Failed {
    /// `git`, `config`, `policy`, `terraform`, `kubernetes` or `other`.
    kind: &'static str,
    message: String,
}

impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        let kind = match &e {
            Error::Source(_) => "git",
            Error::Config(_) | Error::UnknownStack { .. } | Error::UnknownWorkload { .. } => {
                "config"
            }
            Error::Policy(_) => "policy",
            Error::Terraform(_) | Error::PlanFile { .. } => "terraform",
            Error::Kube(_) => "kubernetes",
            _ => "other",
        };
        Failed {
            kind,
            message: crate::error_chain(&e),
        }
    }
}

/// How the last reconcile left things, to notify only on a change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Unknown,
    InSync,
    Failed(String),
}

/// What the loop remembers between reconciles.
struct Loop {
    /// The commit last reconciled.
    commit: Option<String>,
    last: Option<Instant>,
    health: Health,
    failures: u32,
    /// The run holding what waits for approval, and what it holds.
    pending: Option<Pending>,
    /// The `notify` blocks of the commit last read.
    notify: Vec<Notify>,
    /// How the reconcile of this tick ended, if one ran.
    outcome: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Pending {
    run: String,
    commit: Option<String>,
    /// Stack and workload names held back from the loop's applies.
    held: BTreeSet<String>,
}

/// Runs the loop until a stop is asked for.
///
/// # Errors
/// Only what makes running the loop impossible: a state directory that
/// cannot be found. Everything else is logged, backed off and retried.
pub async fn watch(opts: &WatchOptions, ui: &Ui, interrupt: &Interrupt) -> Result<(), Error> {
    let runs = Runs::at(&opts.plan.source.state_dir(&opts.plan.env)?);
    tracing::info!(
        repo = %opts.plan.source.repo,
        interval = %crate::config::format_duration(opts.interval),
        resync = %crate::config::format_duration(opts.resync),
        "watching"
    );
    match &opts.leader {
        None => reconcile_loop(opts, &runs, ui, interrupt).await,
        Some(leader) => lead(opts, leader, &runs, ui, interrupt).await,
    }
    tracing::info!("stopped");
    Ok(())
}

/// Competes for the Lease; reconciles while holding it. A Lease that is
/// taken over, or cannot be renewed in time, stops the reconcile at once
/// (gracefully: Terraform finishes its step) and the replica is a
/// candidate again. On a stop the Lease is released, so another replica
/// takes over without waiting for it to expire.
async fn lead(
    opts: &WatchOptions,
    leader: &LeaderOptions,
    runs: &Runs,
    ui: &Ui,
    interrupt: &Interrupt,
) {
    let retry = (leader.duration / 3).max(Duration::from_millis(200));
    let mut waiting_for = None;
    while !interrupt.is_requested() {
        match super::workloads::connect(&opts.plan.kube, &opts.plan.env).await {
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "cannot reach the cluster to compete for the lease")
            }
            Ok(cluster) => {
                let lock = LeaseLock::new(
                    &cluster,
                    &leader.namespace,
                    &leader.name,
                    &leader.identity,
                    leader.duration,
                );
                match lock.try_acquire_or_renew().await {
                    Ok(Holder::Me) => {
                        tracing::info!(
                            lease = %format!("{}/{}", leader.namespace, leader.name),
                            identity = %leader.identity,
                            "leading"
                        );
                        waiting_for = None;
                        opts.metrics.leader(true);
                        let (trigger, inner) = Interrupt::new();
                        let renewer =
                            tokio::spawn(renew(lock.clone(), trigger, interrupt.clone(), retry));
                        reconcile_loop(opts, runs, ui, &inner).await;
                        renewer.abort();
                        opts.metrics.leader(false);
                        if interrupt.is_requested() {
                            lock.release().await;
                            return;
                        }
                        tracing::warn!("no longer the leader: reconciling stopped");
                    }
                    Ok(Holder::Other(holder)) => {
                        if waiting_for.as_ref() != Some(&holder) {
                            tracing::info!(holder = %holder, "waiting to lead");
                            waiting_for = Some(holder);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "cannot read or write the lease")
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = interrupt.reached(Level::Graceful) => return,
        }
    }
}

/// Renews the Lease every `every`; stops the reconcile (through
/// `trigger`) when it is taken over or not renewed within two thirds of
/// its duration, and passes a stop from `outer` on.
async fn renew(lock: LeaseLock, trigger: Trigger, outer: Interrupt, every: Duration) {
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = outer.reached(Level::Graceful) => {
                trigger.escalate();
                outer.reached(Level::Hard).await;
                trigger.escalate();
                return;
            }
        }
        match lock.try_acquire_or_renew().await {
            Ok(Holder::Me) => renewed = Instant::now(),
            Ok(Holder::Other(holder)) => {
                tracing::warn!(holder = %holder, "the lease was taken over");
                trigger.escalate();
                return;
            }
            Err(e) if renewed.elapsed() >= lock.duration * 2 / 3 => {
                tracing::warn!(error = %describe(&e), "the lease could not be renewed in time");
                trigger.escalate();
                return;
            }
            Err(e) => tracing::warn!(error = %describe(&e), "renewing the lease failed; retrying"),
        }
    }
}

/// Reconciles every interval until `interrupt`.
async fn reconcile_loop(opts: &WatchOptions, runs: &Runs, ui: &Ui, interrupt: &Interrupt) {
    let mut state = Loop {
        commit: None,
        last: None,
        health: Health::Unknown,
        failures: 0,
        pending: None,
        notify: Vec::new(),
        outcome: None,
    };
    let metrics = &opts.metrics;
    loop {
        let started = Instant::now();
        state.outcome = None;
        let result = tick(opts, runs, &mut state, ui, interrupt).await;
        let took = started.elapsed().as_secs_f64();
        let wait = match result {
            _ if interrupt.is_requested() => break,
            Ok(()) => {
                if let Some(outcome) = state.outcome {
                    metrics.reconciled(outcome, took);
                }
                metrics.recovered();
                state.failures = 0;
                opts.interval
            }
            Err(Failed { kind, message }) => {
                state.failures += 1;
                let wait = backoff(state.failures, opts.interval, opts.max_backoff);
                metrics.reconciled("failed", took);
                metrics.failed(kind, state.failures, wait.as_secs_f64());
                tracing::error!(
                    error = %message,
                    kind,
                    failures = state.failures,
                    retry_in = %crate::config::format_duration(wait),
                    "reconcile failed"
                );
                state.last = Some(Instant::now());
                let failed = Health::Failed(message.clone());
                if state.health != failed {
                    state.health = failed;
                    let mut report = Report::new("watch", None, Vec::new());
                    report.result = Outcome::Error;
                    report.errors.push(message);
                    notify(opts, &state.notify, NotifyEvent::Failed, &report).await;
                }
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = interrupt.reached(Level::Graceful) => break,
        }
    }
}

/// `interval × 2^(failures-1)`, capped, with jitter on the upper half so
/// that replicas do not retry in step (see [`crate::retry::Backoff`]).
fn backoff(failures: u32, interval: Duration, cap: Duration) -> Duration {
    crate::retry::Backoff {
        first: interval.max(Duration::from_millis(100)),
        cap: cap.max(Duration::from_millis(100)),
    }
    .wait(failures)
}

async fn tick(
    opts: &WatchOptions,
    runs: &Runs,
    state: &mut Loop,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<(), Failed> {
    // What Git says now (fetched for a remote repository). The checkout,
    // and the state directory's lock, serve the whole reconcile.
    let (lock, snapshot) =
        checkout(&opts.plan.source, &opts.plan.env, "watch", ui, interrupt).await?;
    let config = crate::config::load(&snapshot.root).map_err(Error::from)?;
    let mut lock = Some(lock);
    state.notify = config.notify.clone();
    let commit = snapshot.commit.clone();

    if state.commit.is_none() && state.pending.is_none() {
        state.pending = adopt(runs, &snapshot.spec, commit.as_deref())?;
    }
    let mut forced = false;
    if let Some(p) = state.pending.clone() {
        match runs.load(&p.run).map_err(Error::from)?.status {
            RunStatus::Approved => {
                tracing::info!(run = %p.run, "applying the approved run");
                // It is checked out at its own commit, under the lock.
                lock = None;
                let report = converge(
                    &ApplyOptions {
                        plan: opts.plan.clone(),
                        auto_approve: false,
                        run: Some(p.run.clone()),
                    },
                    ui,
                    interrupt,
                )
                .await?
                .0;
                state.pending = None;
                opts.metrics.pending(0);
                settle(opts, state, &report, commit.clone()).await?;
                forced = true;
            }
            RunStatus::ApprovalRequired if p.commit == commit => {}
            RunStatus::ApprovalRequired => {
                supersede(runs, &p.run, commit.as_deref())?;
                state.pending = None;
                opts.metrics.pending(0);
            }
            // Applied, denied or found stale by someone else.
            _ => {
                state.pending = None;
                opts.metrics.pending(0);
            }
        }
    }
    let resync = forced
        || state.last.is_none_or(|t| t.elapsed() >= opts.resync)
        || matches!(state.health, Health::Failed(_));
    if !resync && state.commit == commit {
        return Ok(());
    }
    // A new commit alone plans what it changed; a resync (or the first
    // reconcile, or one after a failure) plans everything.
    let changed_only = !resync;
    if state.commit != commit {
        tracing::info!(
            commit = commit.as_deref().unwrap_or("(working tree)"),
            "new commit"
        );
    }
    // After an approved run was applied (under its own checkout), check
    // out again for the reconcile.
    let checked = match lock {
        Some(lock) => (lock, snapshot),
        None => checkout(&opts.plan.source, &opts.plan.env, "watch", ui, interrupt).await?,
    };
    reconcile(
        opts,
        runs,
        &config,
        state,
        (commit, changed_only),
        checked,
        ui,
        interrupt,
    )
    .await
}

/// Plans everything not held by a pending run, once. What needs approval
/// (and everything that depends on it, in the run's own graph) is split
/// off into a run of its own, pending approval; the rest is applied.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
async fn reconcile(
    opts: &WatchOptions,
    runs: &Runs,
    config: &Config,
    state: &mut Loop,
    (commit, changed_only): (Option<String>, bool),
    checked: (StateDir, Snapshot),
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<(), Failed> {
    let waiting = state
        .pending
        .as_ref()
        .map(|p| p.held.clone())
        .unwrap_or_default();
    let Some(selection) = select(config, &waiting, &opts.plan) else {
        // Everything waits for the pending run.
        state.last = Some(Instant::now());
        state.commit = commit;
        return Ok(());
    };
    let selection = PlanOptions {
        changed: changed_only,
        ..selection
    };
    let (lock, snapshot) = checked;
    let mut planned =
        Planned::plan_checked_out(lock, snapshot, &selection, "apply", ui, interrupt).await?;
    let apply = ApplyOptions {
        plan: selection,
        auto_approve: opts.auto_approve,
        run: None,
    };
    let verdict = approval::decide(
        &planned.run.policy,
        &planned.run.items,
        opts.auto_approve,
        false,
    );
    if verdict != Verdict::Pending || planned.failed() || !planned.run.has_changes() {
        let report = apply_planned(planned, &apply, ui, interrupt).await?.0;
        if let Some(run) = &report.pending_run {
            // Workloads held during the apply, already saved as a run.
            let pending = Pending {
                run: run.clone(),
                commit,
                held: report.held.iter().cloned().collect(),
            };
            return hold(opts, state, &report, pending).await;
        }
        return settle(opts, state, &report, commit).await;
    }

    // Something needs approval and nobody can be asked: hold it and what
    // depends on it, and apply the rest.
    let owners: BTreeSet<String> = planned
        .run
        .items
        .iter()
        .map(|i| i.owner().to_owned())
        .collect();
    let held: BTreeSet<String> = dependents(&planned.run, &owners)
        .union(&waiting)
        .cloned()
        .collect();
    let (mut pending, held_report) = split_off(&mut planned, &held)?;
    let terraform = planned.terraform.clone();
    let stacks = planned.config.stacks.clone();
    let root = planned.snapshot.root.clone();
    let rest = apply_planned(planned, &apply, ui, interrupt).await?.0;
    let applied: BTreeSet<String> = rest
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Applied)
        .map(|s| s.name.clone())
        .collect();
    if let Err(failed) = settle(opts, state, &rest, commit.clone()).await {
        let note = "the rest of its reconcile failed; the next one plans it again".to_owned();
        let _ = runs.update(&pending.id, |r| r.finish(RunStatus::Failed, Some(note)));
        runs.drop_plans(&pending.id);
        return Err(failed);
    }
    // A held stack whose dependency was just applied may read new
    // outputs: only it is planned again.
    if let Some(terraform) = terraform {
        replan_held(
            &mut pending,
            &applied,
            &stacks,
            (&terraform, &root, runs),
            ui,
            interrupt,
        )
        .await?;
    }
    // Workloads `apply` held (diffed again after its stacks) join the run.
    if let Some(id) = &rest.pending_run {
        let theirs = runs.load(id).map_err(Error::from)?;
        pending.workloads.extend(theirs.workloads.clone());
        pending.items.extend(theirs.items.clone());
        supersede(runs, id, None)?;
    }
    pending.created = jiff::Timestamp::now();
    if pending.items.is_empty() {
        // Planned again, nothing needs approval any more: apply it now.
        pending.note = None;
        runs.write(&pending).map_err(Error::from)?;
        let report = converge(
            &ApplyOptions {
                plan: opts.plan.clone(),
                auto_approve: opts.auto_approve,
                run: Some(pending.id.clone()),
            },
            ui,
            interrupt,
        )
        .await?
        .0;
        return settle(opts, state, &report, commit).await;
    }
    pending.await_approval().map_err(Error::from)?;
    let mut report = held_report;
    report.approvals = pending.items.clone();
    finish(runs, &pending, &report)?;
    report.held = held.iter().cloned().collect();
    let names = pending
        .stacks
        .iter()
        .map(|s| s.name.clone())
        .chain(pending.workloads.iter().map(|w| w.name.clone()))
        .chain(waiting)
        .collect();
    hold(
        opts,
        state,
        &report,
        Pending {
            run: pending.id,
            commit,
            held: names,
        },
    )
    .await
}

/// Moves the stacks and workloads named in `held` (their plan files and
/// items) out of the planned run into a new run, saved, and reports them.
fn split_off(planned: &mut Planned, held: &BTreeSet<String>) -> Result<(Run, Report), Error> {
    let runs = planned.runs.clone();
    let run = &mut planned.run;
    let now = jiff::Timestamp::now();
    let pending = Run {
        id: Runs::new_id(),
        command: "apply".to_owned(),
        created: now,
        updated: now,
        status: RunStatus::Planned,
        saved: true,
        source: run.source.clone(),
        policy: run.policy.clone(),
        stacks: run
            .stacks
            .iter()
            .filter(|s| held.contains(&s.name))
            .cloned()
            .collect(),
        workloads: run
            .workloads
            .iter()
            .filter(|w| held.contains(&w.name))
            .cloned()
            .collect(),
        items: run
            .items
            .iter()
            .filter(|i| held.contains(i.owner()))
            .cloned()
            .collect(),
        approval: None,
        note: Some(format!(
            "held by watch from run {}: what needs approval, and what depends on it",
            run.id
        )),
    };
    runs.create(&pending)?;
    for s in pending.stacks.iter().filter(|s| s.changes) {
        let from = runs.dir_of(&run.id).join("stacks").join(&s.name);
        let to = runs.dir_of(&pending.id).join("stacks").join(&s.name);
        std::fs::rename(&from, &to).map_err(|source| Error::Io {
            what: "moving the plan of a held stack to",
            path: to.clone(),
            source,
        })?;
    }
    run.stacks.retain(|s| !held.contains(&s.name));
    run.workloads.retain(|w| !held.contains(&w.name));
    run.items.retain(|i| !held.contains(i.owner()));
    let (held_stacks, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut planned.reports)
        .into_iter()
        .partition(|r| held.contains(&r.name));
    planned.reports = rest;
    let (held_workloads, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut planned.workloads)
        .into_iter()
        .partition(|w| held.contains(&w.config.name));
    planned.workloads = rest;
    runs.write(run)?;
    let mut report = Report::new("plan", Some((&planned.snapshot).into()), held_stacks)
        .with_workloads(held_workloads.into_iter().map(|w| w.report).collect());
    report.run_id = Some(pending.id.clone());
    Ok((pending, report))
}

/// Plans again, into `pending`, each held stack that depends on a stack
/// just `applied`, and takes its new items.
async fn replan_held(
    pending: &mut Run,
    applied: &BTreeSet<String>,
    stacks: &[crate::config::Stack],
    at: (&crate::terraform::Terraform, &std::path::Path, &Runs),
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<(), Error> {
    let (terraform, root, runs) = at;
    let shared = Shared {
        terraform: terraform.clone(),
        root: root.to_owned(),
        stacks: stacks.to_vec(),
        runs: runs.clone(),
        run_id: pending.id.clone(),
        policy: pending.policy.clone(),
        interrupt: interrupt.clone(),
    };
    let progress = ui.progress();
    for i in 0..pending.stacks.len() {
        let s = &pending.stacks[i];
        if !s.depends_on.iter().any(|d| applied.contains(d)) {
            continue;
        }
        let Some(config) = stacks.iter().find(|c| c.name == s.name) else {
            continue;
        };
        let task = progress.task(&s.name);
        let planfile = runs.plan_file(&pending.id, &s.name);
        let outcome = plan_stack_into(&shared, config, &planfile, &task, applied).await?;
        task.finish("planned again");
        if outcome.report.status == StackStatus::Error {
            return Err(Error::Invalid {
                path: planfile,
                message: outcome
                    .report
                    .error
                    .unwrap_or_else(|| "planning again failed".to_owned()),
            });
        }
        let name = s.name.clone();
        pending.items.retain(|i| i.stack != name);
        pending.items.extend(outcome.items);
        let s = &mut pending.stacks[i];
        s.changes = outcome.sha256.is_some();
        s.plan_sha256 = outcome.sha256;
    }
    Ok(())
}

/// Remembers the pending run and says so, once.
async fn hold(
    opts: &WatchOptions,
    state: &mut Loop,
    report: &Report,
    pending: Pending,
) -> Result<(), Failed> {
    tracing::warn!(
        run = %pending.run,
        held = %pending.held.iter().cloned().collect::<Vec<_>>().join(", "),
        "approval required: approve it with `strata approve {}`; the next loop applies it",
        pending.run
    );
    let mut report = report.clone();
    report.result = Outcome::ApprovalRequired;
    record(&opts.metrics, &report);
    opts.metrics.pending(report.approvals.len());
    state.outcome = Some("approval_required");
    notify(opts, &state.notify, NotifyEvent::ApprovalRequired, &report).await;
    state.last = Some(Instant::now());
    state.commit = pending.commit.clone();
    state.health = Health::InSync;
    state.pending = Some(pending);
    Ok(())
}

/// Records how a reconcile ended and notifies on a change: `converged`
/// when something was applied, or when a failure is over.
async fn settle(
    opts: &WatchOptions,
    state: &mut Loop,
    report: &Report,
    commit: Option<String>,
) -> Result<(), Failed> {
    state.last = Some(Instant::now());
    if matches!(report.result, Outcome::Error | Outcome::Denied) {
        // The log line must say what failed and why (a 403 names the
        // missing permission): the stack's or workload's own error, after
        // the general one.
        let specific: Vec<String> = report
            .stacks
            .iter()
            .filter_map(|s| Some(format!("stack {}: {}", s.name, s.error.as_ref()?)))
            .chain(report.workloads.iter().filter_map(|w| {
                let error = w.error.as_ref()?.trim_end_matches(" (see above)");
                // "N object(s) cannot be applied (see above)": the report
                // above is not in the log, so name the first of them.
                Some(match w.changes.iter().find(|c| c.error.is_some()) {
                    Some(c) => format!(
                        "workload {}: {error}; the first, {}: {}",
                        w.name,
                        c.address(),
                        c.error.as_deref().unwrap_or_default()
                    ),
                    None => format!("workload {}: {error}", w.name),
                })
            }))
            // A denial is not in the log either: name each, with its item.
            .chain(
                crate::policy::denials(&report.policy).map(|f| match f.item() {
                    item if item.is_empty() => {
                        format!("policy {} denies: {}", f.policy, f.message)
                    }
                    item => format!("policy {} denies {item}: {}", f.policy, f.message),
                }),
            )
            .collect();
        let general = report.errors.first().or(report.message.as_ref());
        let mut why = match (general, specific.first()) {
            (Some(general), Some(first)) => format!("{general}: {first}"),
            (Some(only), None) | (None, Some(only)) => only.clone(),
            (None, None) => "the reconcile failed".to_owned(),
        };
        if specific.len() > 1 {
            why.push_str(&format!(" (and {} more failures)", specific.len() - 1));
        }
        let kind = if crate::policy::denials(&report.policy).next().is_some() {
            "policy"
        } else if report.stacks.iter().any(|s| s.error.is_some()) {
            "terraform"
        } else if report.workloads.iter().any(|w| w.error.is_some()) {
            "kubernetes"
        } else {
            "other"
        };
        return Err(Failed { kind, message: why });
    }
    record(&opts.metrics, report);
    state.commit = commit;
    let recovered = state.health != Health::InSync;
    state.health = Health::InSync;
    // One tick may apply an approved run and then find the rest in sync:
    // it applied.
    if report.result == Outcome::Applied {
        state.outcome = Some("applied");
    } else if state.outcome.is_none() {
        state.outcome = Some("in_sync");
    }
    if report.result == Outcome::Applied || (recovered && state.failures > 0) {
        tracing::info!(run = report.run_id.as_deref().unwrap_or(""), "converged");
        notify(opts, &state.notify, NotifyEvent::Converged, report).await;
    } else {
        tracing::info!("in sync");
    }
    Ok(())
}

/// The newest run of this repository and commit still waiting for (or
/// holding) an approval, from before the loop started: a restarted loop
/// goes on waiting for it rather than asking again.
fn adopt(runs: &Runs, spec: &str, commit: Option<&str>) -> Result<Option<Pending>, Error> {
    let found = runs.list()?.into_iter().rev().find(|r| {
        r.status.is_pending()
            && r.saved
            && r.source.spec == spec
            && r.source.commit.as_deref() == commit
    });
    Ok(found.map(|r| {
        tracing::info!(run = %r.id, status = r.status.as_str(), "waiting for the approval of an earlier run");
        Pending {
            held: r
                .stacks
                .iter()
                .map(|s| s.name.clone())
                .chain(r.workloads.iter().map(|w| w.name.clone()))
                .collect(),
            run: r.id,
            commit: r.source.commit,
        }
    }))
}

/// What a reconcile's report says for the metrics: applies and prunes
/// done, drift found per stack and workload.
fn record(metrics: &Metrics, report: &Report) {
    use crate::report::StackStatus;
    let applied = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    metrics.applied(
        "stack",
        applied(
            report
                .stacks
                .iter()
                .filter(|s| s.status == StackStatus::Applied)
                .count(),
        ),
    );
    metrics.applied(
        "workload",
        applied(
            report
                .workloads
                .iter()
                .filter(|w| w.status == StackStatus::Applied)
                .count(),
        ),
    );
    metrics.pruned(applied(
        report
            .workloads
            .iter()
            .filter(|w| w.status == StackStatus::Applied)
            .flat_map(|w| &w.changes)
            .filter(|c| c.action == "prune" && c.error.is_none())
            .count(),
    ));
    for s in &report.stacks {
        metrics.drift("stack", &s.name, s.drift.len());
    }
    for w in &report.workloads {
        metrics.drift(
            "workload",
            &w.name,
            w.changes.iter().filter(|c| c.drift).count(),
        );
    }
}

/// Marks a pending run as no longer the one to apply.
fn supersede(runs: &Runs, id: &str, commit: Option<&str>) -> Result<(), Error> {
    runs.update(id, |r| {
        if r.status.is_pending() {
            r.go_stale(match commit {
                Some(c) => format!("superseded by commit {}", &c[..c.len().min(12)]),
                None => "split by watch: what needs approval is in a run of its own".to_owned(),
            })?;
        }
        Ok::<_, Error>(())
    })?;
    runs.drop_plans(id);
    Ok(())
}

/// `names` and every stack and workload of `run` that depends on one of
/// them, directly or not, in the run's own graph (which includes the
/// carriers of `outputs` blocks).
fn dependents(run: &Run, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = names.clone();
    loop {
        let before = out.len();
        let nodes = run
            .stacks
            .iter()
            .map(|s| (&s.name, &s.depends_on))
            .chain(run.workloads.iter().map(|w| (&w.name, &w.depends_on)));
        for (name, deps) in nodes {
            if deps.iter().any(|d| out.contains(d)) {
                out.insert(name.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The stacks and the workloads of the configuration not in `held`.
fn split(config: &Config, keep: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        config
            .stacks
            .iter()
            .filter(|s| keep.contains(&s.name))
            .map(|s| s.name.clone())
            .collect(),
        config
            .workloads
            .iter()
            .filter(|w| keep.contains(&w.name))
            .map(|w| w.name.clone())
            .collect(),
    )
}

/// The plan options of everything not `held`; `None` when nothing is
/// left.
fn select(config: &Config, held: &BTreeSet<String>, base: &PlanOptions) -> Option<PlanOptions> {
    let mut opts = base.clone();
    if held.is_empty() {
        return Some(opts);
    }
    let all: BTreeSet<String> = config
        .stacks
        .iter()
        .map(|s| s.name.clone())
        .chain(config.workloads.iter().map(|w| w.name.clone()))
        .collect();
    let rest: BTreeSet<String> = all.difference(held).cloned().collect();
    (opts.stacks, opts.workloads) = split(config, &rest);
    (!opts.stacks.is_empty() || !opts.workloads.is_empty()).then_some(opts)
}

async fn notify(opts: &WatchOptions, blocks: &[Notify], event: NotifyEvent, report: &Report) {
    for d in crate::notify::send_event(blocks, event, report, &opts.plan.env).await {
        if d.delivered {
            tracing::info!(notify = %d.name, event = d.event, "notified");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> (tempfile::TempDir, Config) {
        let hcl = r#"
stack "net" { path = "infra/net" }
stack "db" {
  path = "infra/db"
  depends_on = ["net"]
}
stack "edge" {
  path = "infra/edge"
  depends_on = ["net"]
}
workload "apps" {
  path = "k8s/apps"
  depends_on = ["db"]
}
workload "other" { path = "k8s/other" }
"#;
        crate::config::parse_in_tempdir(
            hcl,
            &[
                ("infra/net/main.tf", ""),
                ("infra/db/main.tf", ""),
                ("infra/edge/main.tf", ""),
                ("k8s/apps/.keep", ""),
                ("k8s/other/.keep", ""),
            ],
        )
    }

    #[test]
    fn what_depends_on_a_held_stack_is_held_and_the_rest_is_selected() {
        let (_dir, config) = config();
        let now = jiff::Timestamp::now();
        let run = Run {
            id: Runs::new_id(),
            command: "apply".to_owned(),
            created: now,
            updated: now,
            status: RunStatus::Planned,
            saved: false,
            source: crate::runs::RunSource {
                spec: ".".to_owned(),
                repo: ".".to_owned(),
                reference: "HEAD".to_owned(),
                commit: None,
                worktree: false,
            },
            policy: config.approval.clone(),
            stacks: config
                .stacks
                .iter()
                .map(|s| crate::runs::StackRun {
                    name: s.name.clone(),
                    path: s.path.clone(),
                    depends_on: s.depends_on.clone(),
                    changes: true,
                    plan_sha256: None,
                    replan_sha256: None,
                    applied_at: None,
                    inputs: None,
                })
                .collect(),
            workloads: config
                .workloads
                .iter()
                .map(|w| crate::runs::WorkloadRun {
                    name: w.name.clone(),
                    path: w.path.clone(),
                    depends_on: w.depends_on.clone(),
                    changes: true,
                    inputs: None,
                })
                .collect(),
            items: Vec::new(),
            approval: None,
            note: None,
        };
        let held = dependents(&run, &BTreeSet::from(["db".to_owned()]));
        assert_eq!(held, BTreeSet::from(["db".to_owned(), "apps".to_owned()]));
        let held = dependents(&run, &BTreeSet::from(["net".to_owned()]));
        assert_eq!(held.len(), 4, "{held:?}");
        assert!(!held.contains("other"));

        let base = PlanOptions {
            changed: false,
            source: super::super::SourceOptions {
                repo: ".".to_owned(),
                reference: None,
                worktree: false,
                state_dir: None,
                lock_timeout: Duration::ZERO,
            },
            stacks: Vec::new(),
            env: super::super::Environment::default(),
            cwd: std::path::PathBuf::from("."),
            save: false,
            ask_always: false,
            workloads: Vec::new(),
            kube: super::super::KubeOptions::default(),
            continue_on_error: false,
        };
        let rest = select(
            &config,
            &BTreeSet::from(["db".to_owned(), "apps".to_owned()]),
            &base,
        )
        .unwrap();
        assert_eq!(rest.stacks, ["net", "edge"]);
        assert_eq!(rest.workloads, ["other"]);
        let everything: BTreeSet<String> = ["net", "db", "edge", "apps", "other"]
            .into_iter()
            .map(ToOwned::to_owned)
            .collect();
        assert!(select(&config, &everything, &base).is_none());
        let all = select(&config, &BTreeSet::new(), &base).unwrap();
        assert!(
            all.stacks.is_empty() && all.workloads.is_empty(),
            "no filter: everything"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let second = Duration::from_secs(1);
        for _ in 0..50 {
            let one = backoff(1, second, Duration::from_secs(60));
            assert!(one >= second / 2 && one <= second, "{one:?}");
            let four = backoff(4, second, Duration::from_secs(60));
            assert!(four >= second * 4 && four <= second * 8, "{four:?}");
            let capped = backoff(30, second, Duration::from_secs(60));
            assert!(capped >= Duration::from_secs(30) && capped <= Duration::from_secs(60));
        }
    }
}
