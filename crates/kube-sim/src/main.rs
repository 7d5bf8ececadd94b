//! `kube-sim serve`: run the emulator until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kube_sim::{KubeSim, Options};

#[derive(Parser)]
#[command(
    name = "kube-sim",
    version,
    about = "A Kubernetes API server emulator for tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until SIGINT or SIGTERM, then exit 0
    Serve {
        /// Address to listen on; port 0 picks a free port
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Write a kubeconfig for the server here once it listens
        #[arg(long, value_name = "PATH")]
        kubeconfig: PathBuf,
        /// Serve HTTPS; the kubeconfig carries the self-signed CA
        #[arg(long)]
        tls: bool,
        /// Require this bearer token
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// How long simulated rollouts take, e.g. 200ms, 2s
        #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = kube_sim::faults::parse_duration)]
        ready_after: Duration,
        /// The Kubernetes v1.37.0 type definitions (default: KUBE_SIM_SCHEMA,
        /// or .tools/kubernetes-v1.37.0-definitions.json of this checkout)
        #[arg(long, value_name = "PATH")]
        schema: Option<PathBuf>,
        /// Faults on every request, e.g. rate=0.2,codes=500+503+429,latency=20ms
        #[arg(long, value_name = "SPEC")]
        faults: Option<String>,
        /// Seed for the faults' random draws (the same failures every run)
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Who may do what: always-allow, or rbac (Roles, ClusterRoles and
        /// their bindings; the kubeconfig's token is the cluster admin)
        #[arg(long, value_name = "MODE", default_value = "always-allow", value_parser = ["always-allow", "rbac"])]
        authorization: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-sim: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBE_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cli { command } = Cli::parse();
    let Command::Serve {
        addr,
        kubeconfig,
        token,
        ready_after,
        schema,
        faults,
        seed,
        tls,
        authorization,
    } = command;
    let sim = KubeSim::start(Options {
        addr,
        token,
        ready_after,
        schema: Some(schema.unwrap_or_else(kube_sim::default_schema_path)),
        faults: match faults {
            Some(spec) => kube_sim::faults::parse(&spec)
                .map_err(|e| anyhow::anyhow!("--faults {spec:?}: {e}"))?,
            None => Vec::new(),
        },
        seed,
        // kubectl 1.37 sends no bearer token over plain HTTP.
        tls: tls || authorization == "rbac",
        rbac: authorization == "rbac",
        ..Options::default()
    })
    .await?;
    sim.write_kubeconfig(&kubeconfig).map_err(|e| {
        anyhow::anyhow!("cannot write the kubeconfig {}: {e}", kubeconfig.display())
    })?;
    // The handlers are in place before the line that says it serves: a
    // SIGTERM right after it must stop the server cleanly, not kill it.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    eprintln!(
        "kube-sim: serving {} (kubeconfig {})",
        sim.url(),
        kubeconfig.display()
    );
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    sim.stop().await;
    Ok(())
}
