//! The `strata` binary: parse the command line, set up logging and the
//! terminal, run the command, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use strata::interrupt::Interrupt;
use strata::ops::Environment;
use strata::ui::{ColorChoice, Ui};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // A bad flag is bad input: exit 1 (clap's own 2 means "changes" here).
    let cli::Cli { global, command } = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::exit::ERROR
            } else {
                cli::exit::OK
            });
        }
    };
    let env = Environment {
        vars: std::env::vars_os().collect(),
    };
    let no_color = global.no_color || env.get("NO_COLOR").is_some_and(|v| !v.is_empty());
    // The loop's progress is its log (info by default), not the terminal's
    // live progress.
    // A loop never stops to ask: approvals come from `strata approve`.
    let watching = matches!(command, cli::Command::Watch(_));
    let ui = if watching {
        Ui::plain()
    } else {
        Ui::new(
            if no_color {
                ColorChoice::Never
            } else {
                ColorChoice::Auto
            },
            global.quiet,
        )
    };
    init_logging(
        &env,
        global.verbose + u8::from(watching),
        global.quiet,
        ui.color_stderr(),
        global.log_format == cli::LogFormat::Json,
    );

    // Before the runtime: the runtime's threads inherit the signal mask, and
    // only the listening thread takes SIGINT and SIGTERM.
    let interrupt = match Interrupt::install(strata::process::kill_running) {
        Ok(i) => i,
        Err(e) => {
            ui.error("cannot install the Ctrl-C handler", &[e.to_string()], &[]);
            return ExitCode::from(cli::exit::ERROR);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error("cannot start the async runtime", &[e.to_string()], &[]);
            return ExitCode::from(cli::exit::ERROR);
        }
    };
    runtime.block_on(async {
        let cwd = match std::env::current_dir() {
            Ok(d) => d,
            Err(e) => {
                ui.error("cannot read the current directory", &[e.to_string()], &[]);
                return ExitCode::from(cli::exit::ERROR);
            }
        };
        let ctx = cli::Context {
            global,
            ui,
            env,
            cwd,
            interrupt,
        };
        cli::run(command, ctx).await
    })
}

/// Logs go to stderr. `STRATA_LOG` (an EnvFilter directive) wins over
/// `-v`/`-q`.
fn init_logging(env: &Environment, verbose: u8, quiet: bool, color: bool, json: bool) {
    // kube's client logs every failed request as an error, retries
    // included, before strata says what failed and what to do: its own
    // lines only from -vv on.
    let default = match (quiet, verbose) {
        (true, _) => "error,kube_client=off",
        (false, 0) => "warn,kube_client=off",
        (false, 1) => "info,kube_client=off",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = env
        .get("STRATA_LOG")
        .and_then(|v| v.to_str())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        logs.json().with_current_span(false).init();
    } else {
        logs.with_ansi(color).init();
    }
}
