//! `strata watch`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use strata::metrics::Metrics;

use super::{CliError, Context, exit, parse_duration};
use strata::ops::{self, WatchOptions};

/// Reconcile continuously: converge every new commit, correct drift
///
/// Every --interval the repository is fetched; a new commit is reconciled
/// at once, and without one the world is re-planned every --resync, so
/// drift is found and corrected. Changes that need no approval are
/// applied. Destructive ones are saved as a run pending approval (and
/// notified once) while everything that does not depend on them still
/// converges; after `strata approve RUN` the next loop applies it.
/// Failures back off exponentially up to --max-backoff; the loop never
/// exits on an error. SIGTERM or Ctrl-C stops the current step gracefully
/// (Terraform releases its lock), then exits 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How often to look at Git
    #[arg(long, default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,
    /// How often to re-plan without a new commit, to find drift
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub resync: Duration,
    /// The longest wait between retries after failures
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub max_backoff: Duration,
    /// Serve Prometheus /metrics, /healthz and /readyz on this address,
    /// e.g. 0.0.0.0:9090 or 127.0.0.1:0 (a free port, logged)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

pub async fn exec(args: Args, ctx: &Context) -> Result<u8, CliError> {
    if !ctx.global.stacks.is_empty() || !ctx.global.workloads.is_empty() {
        return Err(CliError::new("--stack and --workload cannot be combined with watch")
            .hint("watch reconciles the whole repository; run `strata apply --stack NAME` for one stack"));
    }
    if args.interval.is_zero() {
        return Err(CliError::new("--interval must be longer than 0s"));
    }
    let metrics = Arc::new(Metrics::new());
    let _server = match args.metrics_addr {
        Some(addr) => {
            let listener = strata::metrics::bind(addr).await.map_err(|e| {
                CliError::new(format!("cannot serve metrics on {addr}"))
                    .cause(e.to_string())
                    .hint("choose a free address with --metrics-addr, e.g. 127.0.0.1:9090")
            })?;
            let bound = listener.local_addr().map_or(addr, |a| a);
            tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
            Some(AbortOnDrop(tokio::spawn(strata::metrics::serve(
                listener,
                metrics.clone(),
            ))))
        }
        None => None,
    };
    let opts = WatchOptions {
        plan: ctx.plan_options(),
        interval: args.interval,
        resync: args.resync,
        max_backoff: args.max_backoff.max(args.interval),
        auto_approve: ctx.global.auto_approve,
        metrics,
    };
    ops::watch(&opts, &ctx.ui, &ctx.interrupt).await?;
    Ok(exit::OK)
}

/// Stops the metrics server when the loop ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
