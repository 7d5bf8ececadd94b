//! strata converges one Git repository of Terraform stacks and Kubernetes
//! manifests into real infrastructure and clusters, with a human approval
//! gate in front of every destructive change.
//!
//! Where to start: [`ops`] holds the operations the commands run; each
//! external system has its own module ([`source`] for Git, [`terraform`]
//! for the Terraform binary and its plans, [`kube`] for the cluster); [`config`] reads `strata.hcl`;
//! [`report`] renders what happened. The binary (`src/main.rs`, `src/cli/`)
//! only parses arguments, calls `ops`, and maps errors to exit codes.

pub mod approval;
pub mod config;
pub mod environment;
pub mod failpoint;
pub mod interrupt;
pub mod kube;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod process;
pub mod report;
pub mod retry;
pub mod runs;
pub mod sops;
pub mod source;
pub mod state;
pub mod terraform;
pub mod ui;

/// An error's message, then each of its causes that says something the
/// message before it does not already say: the one reading of an error
/// chain that every rendering of it ([`error_chain`], [`error_line`], the
/// command line's `caused by:` lines) is made of.
pub fn error_causes(error: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.last().is_some_and(|l| l.contains(&text)) {
            out.push(text);
        }
        source = cause.source();
    }
    out
}

/// An error and its causes on one line each, for embedding in a report.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    error_causes(error).join("\ncaused by: ")
}

/// An error and its causes on a single line, for a message that quotes
/// another.
pub fn error_line(error: &dyn std::error::Error) -> String {
    error_causes(error).join(": ")
}

/// Runs blocking work (files, a child waited for, a pause) from async code
/// without holding up the runtime's other tasks.
pub fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
