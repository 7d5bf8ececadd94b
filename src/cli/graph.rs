//! `strata graph`

use super::{CliError, Context, exit};
use strata::ops::{self, GraphOptions};

/// Print the dependency graph of stacks and workloads (Mermaid or DOT)
///
/// Edges go from a dependency to what depends on it, labelled with the
/// Terraform outputs that flow into a workload's manifests. Mermaid renders
/// as a picture in GitHub and GitLab Markdown. No Terraform run, no cluster.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  strata graph > graph.mmd                      # Mermaid
  strata graph --dot | dot -Tsvg > graph.svg    # Graphviz")]
pub struct Args {
    /// Graphviz DOT instead of Mermaid
    #[arg(long)]
    pub dot: bool,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    let opts = GraphOptions {
        source: ctx.source(),
        env: ctx.env.clone(),
    };
    let graph = ops::graph(&opts, &ctx.ui, &ctx.interrupt).await?;
    ctx.emit(|_| {
        if args.dot {
            graph.dot()
        } else {
            graph.mermaid()
        }
    })?;
    Ok(exit::OK)
}
