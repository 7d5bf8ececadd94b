//! `strata watch`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use strata::metrics::Metrics;

use super::{CliError, Context, exit, parse_duration};
use strata::ops::{self, LeaderOptions, WatchOptions};

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
#[command(after_long_help = "Examples:
  strata watch --repo https://git.example.com/platform.git --leader-elect
  strata watch --interval 30s --resync 5m --metrics-addr 127.0.0.1:9090")]
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
    /// Reconcile only while holding a coordination.k8s.io/v1 Lease, so
    /// that of several replicas exactly one reconciles
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's name
    #[arg(long, default_value = "strata-watch", value_name = "NAME")]
    pub lease_name: String,
    /// The Lease's namespace (default: POD_NAMESPACE, else the service
    /// account's namespace, else default)
    #[arg(long, value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a Lease that is not renewed stays with its holder; another
    /// replica takes over after that
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub lease_duration: Duration,
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
        leader: args.leader_elect.then(|| LeaderOptions {
            namespace: args
                .lease_namespace
                .clone()
                .unwrap_or_else(|| lease_namespace(ctx)),
            name: args.lease_name.clone(),
            identity: identity(ctx),
            duration: args.lease_duration.max(Duration::from_secs(1)),
        }),
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

/// POD_NAMESPACE (from the downward API), else the service account's
/// namespace, else `default`.
fn lease_namespace(ctx: &Context) -> String {
    ctx.env
        .get("POD_NAMESPACE")
        .and_then(|v| v.to_str())
        .filter(|v| !v.is_empty())
        .map(ToOwned::to_owned)
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// This replica: POD_NAME, else the host name, with a random suffix so
/// that two processes on one host differ.
fn identity(ctx: &Context) -> String {
    let base = ctx
        .env
        .get("POD_NAME")
        .and_then(|v| v.to_str())
        .filter(|v| !v.is_empty())
        .map(ToOwned::to_owned)
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "strata".to_owned());
    format!("{base}-{:04x}", fastrand::u16(..))
}
