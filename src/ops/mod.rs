//! The operations behind the commands. Each takes an options struct built by
//! the CLI and returns a [`Report`](crate::report::Report) or a typed
//! [`Error`]; nothing here parses arguments or prints reports.
//!
//! Data flows one way: source → config → plan → report.

pub mod apply;
pub mod approve;
mod changed;
mod dag;
pub mod drift;
pub mod graph;
pub mod init;
pub mod inspect;
pub mod plan;
mod publish;
mod stacks;
pub mod validate;
pub mod watch;
mod workdir;
pub mod workloads;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::ConfigError;
use crate::interrupt::{Interrupt, Level};
use crate::source::{self, Snapshot, SourceError, SourceSpec};
use crate::state::{StateDir, StateError};
use crate::terraform::TerraformError;
use crate::terraform::plan::PlanError;
use crate::ui::Ui;

pub use crate::environment::Environment;
pub use crate::runs::RunsReport;
pub use apply::{ApplyOptions, apply};
pub use approve::{ApproveOptions, Approved, RunsOptions, approve, runs};
pub use drift::{DriftOptions, drift};
pub use graph::{GraphOptions, graph};
pub use init::{InitOptions, init};
pub use inspect::{InspectOptions, inspect};
pub use plan::{PlanOptions, plan};
pub use validate::{ValidateOptions, ValidateReport, validate};
pub use watch::{LeaderOptions, WatchOptions, watch};
pub use workloads::KubeOptions;

/// Everything an operation can fail with before it has a report to show.
/// Failures of a single stack are not here: they are part of the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Terraform(#[from] TerraformError),
    #[error("{}: {error}", path.display())]
    PlanFile { path: PathBuf, error: PlanError },
    #[error("no stack named {name:?}{}", suggest(.candidates))]
    UnknownStack {
        name: String,
        candidates: Vec<String>,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Run(crate::runs::RunError),
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeError),
    #[error("no workload named {name:?}{}", suggest_workloads(.candidates))]
    UnknownWorkload {
        name: String,
        candidates: Vec<String>,
    },
    /// A saved run that cannot be approved or applied as asked.
    #[error("{message}")]
    RunRefused { message: String, hint: String },
    #[error("interrupted")]
    Interrupted,
    /// Policies that cannot be read, compiled or evaluated: nothing was
    /// applied.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Policy(Vec<crate::policy::PolicyError>),
}

impl From<crate::runs::RunError> for Error {
    fn from(e: crate::runs::RunError) -> Error {
        match e {
            crate::runs::RunError::Refused { message, hint } => Error::RunRefused { message, hint },
            other => Error::Run(other),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(Box::new(e))
    }
}

fn suggest_workloads(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "; this repository has no workloads".to_owned()
    } else {
        format!("; the workloads are: {}", candidates.join(", "))
    }
}

fn suggest(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "; this repository has no stacks".to_owned()
    } else {
        format!("; the stacks are: {}", candidates.join(", "))
    }
}

/// Where the desired state comes from, and where strata keeps its own.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub repo: String,
    pub reference: Option<String>,
    pub worktree: bool,
    pub state_dir: Option<PathBuf>,
    /// How long to wait for another run's lock on the state directory.
    pub lock_timeout: Duration,
}

impl SourceOptions {
    fn state_dir(&self, env: &Environment) -> Result<PathBuf, StateError> {
        crate::state::resolve(
            self.state_dir.as_deref(),
            env.get("XDG_STATE_HOME").map(Path::new),
            env.get("HOME").map(Path::new),
        )
    }
}

/// Opens the state directory, waiting up to `--lock-timeout` for another
/// run to release it.
async fn open_state(
    source: &SourceOptions,
    env: &Environment,
    what: &str,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<StateDir, Error> {
    let root = source.state_dir(env)?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match StateDir::open(&root, what) {
            Err(StateError::Busy { path, holder }) if started.elapsed() < source.lock_timeout => {
                if !told {
                    ui.status(&format!(
                        "waiting up to {} for the state directory {} ({holder})",
                        crate::config::format_duration(source.lock_timeout),
                        path.display()
                    ));
                    told = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    () = interrupt.reached(Level::Graceful) => return Err(Error::Interrupted),
                }
            }
            other => {
                let state = other?;
                crate::runs::Runs::at(state.root()).recover_abandoned();
                return Ok(state);
            }
        }
    }
}

/// Opens the state directory and checks out the source into it.
async fn checkout(
    source: &SourceOptions,
    env: &Environment,
    what: &str,
    ui: &Ui,
    interrupt: &Interrupt,
) -> Result<(StateDir, Snapshot), Error> {
    let state = open_state(source, env, what, ui, interrupt).await?;
    let snapshot = export(&state, source, interrupt).await?;
    Ok((state, snapshot))
}

/// Checks out `source` into the (already locked) state directory.
async fn export(
    state: &StateDir,
    source: &SourceOptions,
    interrupt: &Interrupt,
) -> Result<Snapshot, Error> {
    let spec = SourceSpec {
        repo: source.repo.clone(),
        reference: source.reference.clone(),
        worktree: source.worktree,
    };
    let root = state.root().to_owned();
    let interrupt = interrupt.clone();
    let snapshot =
        tokio::task::spawn_blocking(move || source::checkout(&spec, &root, interrupt.flag()))
            .await
            .map_err(|e| Error::Io {
                what: "checking out",
                path: PathBuf::from(&source.repo),
                source: std::io::Error::other(e),
            })??;
    tracing::debug!(commit = ?snapshot.commit, root = %snapshot.root.display(), "source ready");
    Ok(snapshot)
}

impl From<&Snapshot> for crate::report::Source {
    fn from(s: &Snapshot) -> Self {
        crate::report::Source {
            repo: s.repo.clone(),
            reference: s.reference.clone(),
            commit: s.commit.clone(),
            worktree: s.worktree,
        }
    }
}
