//! The command line: one file per command, each turning its arguments into
//! an options struct and calling `strata::ops`.

mod apply;
mod approve;
mod completion;
mod drift;
mod error;
mod graph;
mod init;
mod inspect;
mod plan;
mod runs;
mod validate;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use strata::interrupt::Interrupt;
use strata::ops::{Environment, KubeOptions, PlanOptions, SourceOptions};
use strata::report::markdown::{self, Doc};
use strata::report::{Format, Report};
use strata::ui::Ui;

pub use error::CliError;

/// The exit codes of the command line (docs/commands.md, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const CHANGES: u8 = 2;
    pub const APPROVAL: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Plan and converge Terraform stacks and Kubernetes manifests from one Git repository",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, before or after the command name.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The repository: a local path, a file:// URL or a remote URL
    #[arg(long, global = true, value_name = "PATH|URL", default_value = ".")]
    pub repo: String,
    /// Branch, tag or commit id to use (default: the repository's HEAD)
    #[arg(long = "ref", global = true, value_name = "REF")]
    pub reference: Option<String>,
    /// Use the local working tree as it is, uncommitted changes included
    #[arg(long, global = true, conflicts_with = "reference")]
    pub worktree: bool,
    /// Where strata keeps its Git cache, Terraform working directories and runs
    #[arg(long, global = true, env = "STRATA_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Only this stack (repeatable)
    #[arg(long = "stack", global = true, value_name = "NAME")]
    pub stacks: Vec<String>,
    /// Only this workload (repeatable)
    #[arg(long = "workload", global = true, value_name = "NAME")]
    pub workloads: Vec<String>,
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then
    /// the in-cluster service account)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current-context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Take over fields that another field manager applied, instead of
    /// failing on the conflict
    #[arg(long, global = true)]
    pub force_conflicts: bool,
    /// Let a prune delete every object of a workload (otherwise that needs
    /// a person's approval, even with --auto-approve)
    #[arg(long, global = true)]
    pub allow_empty_prune: bool,
    /// Report format
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Write the report to FILE instead of stdout
    #[arg(long, global = true, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Cut a Markdown report to at most N bytes, keeping the summary and
    /// every item that needs approval, details as far as they fit (default:
    /// a GitHub comment's limit; 0: no limit)
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 65_536,
        value_parser = parse_max_bytes
    )]
    pub max_bytes: usize,
    /// Never use colour (also: the NO_COLOR environment variable)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More log output on stderr (-v info, -vv debug); STRATA_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log lines as text, or as JSON objects (one per line, for log
    /// collectors)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Approve destructive and protected changes in advance (never overrides
    /// approval.destructive = "deny")
    #[arg(long, global = true)]
    pub auto_approve: bool,
    /// How long to wait for another strata run to release the state
    /// directory, e.g. 30s or 5m (default: do not wait)
    #[arg(
        long,
        global = true,
        env = "STRATA_LOCK_TIMEOUT",
        value_name = "DURATION",
        default_value = "0s",
        value_parser = parse_duration
    )]
    pub lock_timeout: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    strata::config::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 30s, 5m or 1h30m"))
}

fn parse_max_bytes(text: &str) -> Result<usize, String> {
    use strata::report::markdown::MIN_BYTES;
    match text.parse::<usize>() {
        Ok(n) if n == 0 || n >= MIN_BYTES => Ok(n),
        _ => Err(format!(
            "{text:?} is not 0 (no limit) or a number of bytes of at least {MIN_BYTES}"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Markdown,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Plan(plan::Args),
    Apply(apply::Args),
    Drift(drift::Args),
    Approve(approve::Args),
    Runs(runs::Args),
    Inspect(inspect::Args),
    Validate(validate::Args),
    Graph(graph::Args),
    Init(init::Args),
    Watch(watch::Args),
    Completion(completion::Args),
}

/// What every command gets besides its own arguments.
pub struct Context {
    pub global: Global,
    pub ui: Ui,
    pub env: Environment,
    pub cwd: PathBuf,
    pub interrupt: Interrupt,
}

impl Context {
    pub fn source(&self) -> SourceOptions {
        SourceOptions {
            repo: self.global.repo.clone(),
            reference: self.global.reference.clone(),
            worktree: self.global.worktree,
            state_dir: self.global.state_dir.clone(),
            lock_timeout: self.global.lock_timeout,
        }
    }

    /// What `plan` and `apply` plan, from the global flags.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            source: self.source(),
            stacks: self.global.stacks.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            save: false,
            ask_always: false,
            workloads: self.global.workloads.clone(),
            kube: KubeOptions {
                kubeconfig: self.global.kubeconfig.clone(),
                context: self.global.context.clone(),
                force_conflicts: self.global.force_conflicts,
                allow_empty_prune: self.global.allow_empty_prune,
            },
            continue_on_error: false,
            changed: false,
        }
    }

    /// Writes rendered output to `--out` or stdout.
    pub fn emit(&self, render: impl Fn(bool) -> String) -> Result<(), CliError> {
        match &self.global.out {
            Some(path) => std::fs::write(path, render(false)).map_err(|e| {
                CliError::new(format!("cannot write the report to {}", path.display()))
                    .cause(e.to_string())
            }),
            None => {
                let text = render(self.ui.color_stdout());
                let mut out = std::io::stdout().lock();
                // A closed pipe (`strata plan | head`) is not an error.
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                Ok(())
            }
        }
    }

    /// Writes a report in `--format`; Markdown fits `--max-bytes`.
    pub fn emit_report(&self, report: &Report) -> Result<(), CliError> {
        match self.global.format {
            FormatArg::Markdown => {
                self.emit(|_| markdown::render_within(report, self.global.max_bytes))
            }
            format => self.emit(|color| report.render(format.into(), color)),
        }
    }

    /// Writes a Markdown document (of a command that can be run again as it
    /// is) cut to `--max-bytes`.
    pub fn emit_markdown(&self, doc: &Doc) -> Result<(), CliError> {
        self.emit(|_| {
            doc.fit(
                self.global.max_bytes,
                "For all of it, run the same command with `--max-bytes 0`.",
            )
        })
    }
}

pub async fn run(command: Command, ctx: Context) -> ExitCode {
    let result = match command {
        Command::Plan(args) => plan::exec(args, &ctx).await,
        Command::Apply(args) => apply::exec(args, &ctx).await,
        Command::Drift(args) => drift::exec(args, &ctx).await,
        Command::Approve(args) => approve::exec(args, &ctx).await,
        Command::Runs(args) => runs::exec(args, &ctx).await,
        Command::Inspect(args) => inspect::exec(args, &ctx).await,
        Command::Validate(args) => validate::exec(args, &ctx).await,
        Command::Graph(args) => graph::exec(args, &ctx).await,
        Command::Init(args) => init::exec(args, &ctx),
        Command::Watch(args) => watch::exec(args, &ctx).await,
        Command::Completion(args) => completion::exec(&args, &ctx),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            ctx.ui.error(&e.message, &e.causes, &e.hints);
            ExitCode::from(e.code)
        }
    }
}

/// The exit code for a finished report: 1 on any error, 2 on changes, 3
/// when approval is needed or was refused, 0 otherwise.
pub fn report_code(report: &Report) -> u8 {
    use strata::report::Outcome;
    match report.result {
        Outcome::Error => exit::ERROR,
        Outcome::Changes | Outcome::Drift => exit::CHANGES,
        Outcome::ApprovalRequired | Outcome::Denied => exit::APPROVAL,
        Outcome::InSync | Outcome::Applied => exit::OK,
    }
}
