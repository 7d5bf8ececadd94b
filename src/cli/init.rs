//! `strata init`

use std::path::PathBuf;

use super::{CliError, Context, exit};
use strata::ops::{self, InitOptions};

/// Write a strata.hcl for the layout found in a local repository
///
/// Stacks are directories infra/* and terraform/* with Terraform files;
/// workloads are directories k8s/* and manifests/* with manifests.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata init                                   # write strata.hcl for this repository")]
pub struct Args {
    /// Replace an existing strata.hcl
    #[arg(long)]
    pub force: bool,
}

pub fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let dir = ctx.cwd.join(&ctx.global.repo);
    if !dir.is_dir() {
        return Err(CliError::new(format!(
            "strata init works on a local checkout; {} is not a directory",
            ctx.global.repo
        )));
    }
    let done = ops::init(&InitOptions {
        dir: PathBuf::from(&dir),
        force: args.force,
    })?;
    let stacks: Vec<&str> = done.config.stacks.iter().map(|s| s.name.as_str()).collect();
    let workloads: Vec<&str> = done
        .config
        .workloads
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    ctx.ui.status(&format!(
        "Wrote {} with {} stack(s) ({}) and {} workload(s) ({}). Review it, then run `strata plan`.",
        done.path.display(),
        stacks.len(),
        stacks.join(", "),
        workloads.len(),
        workloads.join(", ")
    ));
    Ok(exit::OK)
}
