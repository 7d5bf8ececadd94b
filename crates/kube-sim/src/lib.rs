//! kube-sim: a Kubernetes API server emulator for strata's tests.
//!
//! It speaks the real wire protocol (REST paths, discovery, watch streams,
//! `Status` errors, server-side apply with `managedFields`) well enough that
//! the real kubectl works against it unchanged. See the README for what is
//! faithful and what is knowingly simplified.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = kube_sim::KubeSim::start(kube_sim::Options::default()).await?;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // ... run kubectl or kube-rs against it ...
//! sim.stop().await;
//! # Ok(()) }
//! ```

pub mod admission;
pub mod aggregation;
pub mod api;
pub mod auth;
pub mod bytes_field;
pub mod controllers;
pub mod crd;
pub mod endpoints;
pub mod faults;
pub mod fields;
pub mod kinds;
pub mod meta;
pub mod openapi_v2;
pub mod patch;
pub mod protobuf;
pub mod protobuf_encode;
pub mod rbac;
pub mod respond;
pub mod reviews;
pub mod schema;
pub mod selector;
pub mod server;
pub mod ssa;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod types;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free one.
    pub addr: SocketAddr,
    /// A bearer token clients must send; a wrong or missing one gets 401.
    pub token: Option<String>,
    /// How long simulated controllers take to report a rollout complete.
    pub ready_after: Duration,
    /// The Kubernetes type definitions (`_definitions.json` of PyPI
    /// kubernetes-validate 1.37.0); `None` serves untyped (no OpenAPI, no
    /// field validation, lists replaced whole by apply).
    pub schema: Option<std::path::PathBuf>,
    /// Faults applied to every request (see [`faults`]).
    pub faults: Vec<faults::Rule>,
    /// Makes the faults' random draws repeat from run to run.
    pub seed: Option<u64>,
    /// Serve HTTPS with a fresh self-signed CA (in the kubeconfig).
    pub tls: bool,
    /// Authorize every request with RBAC (`--authorization rbac`): the
    /// kubeconfig's token (`token`, or a fresh one) is the cluster admin,
    /// ServiceAccount tokens come from TokenRequest. kubectl sends no
    /// bearer token over plain HTTP: give it `tls` too.
    pub rbac: bool,
    /// How many changes are kept for watches and paged lists to resume
    /// from (etcd's compaction); older resourceVersions get 410.
    pub history: usize,
}

/// Where scripts/setup-tools.sh puts the schema in this checkout, or
/// `KUBE_SIM_SCHEMA`.
pub fn default_schema_path() -> std::path::PathBuf {
    std::env::var_os("KUBE_SIM_SCHEMA").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.tools/kubernetes-v1.37.0-definitions.json")
        },
        std::path::PathBuf::from,
    )
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            ready_after: Duration::from_millis(200),
            schema: Some(default_schema_path()),
            faults: Vec::new(),
            seed: None,
            tls: false,
            history: store::HISTORY,
            rbac: false,
        }
    }
}

/// A running emulator. Dropping it without [`KubeSim::stop`] also stops it.
pub struct KubeSim {
    sim: Arc<server::Sim>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    token: Option<String>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl KubeSim {
    /// Listens on `opts.addr` and serves on the current tokio runtime.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(opts: Options) -> std::io::Result<KubeSim> {
        let listener = TcpListener::bind(opts.addr).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(4096);
        let mut state = store::State::new(kinds::builtin(), events.clone());
        state.history_limit = opts.history;
        if let Some(path) = &opts.schema {
            let loaded = schema::Schema::load(path).map_err(|e| {
                std::io::Error::other(format!(
                    "{e}; run scripts/setup-tools.sh, or point KUBE_SIM_SCHEMA (--schema) at kubernetes-validate's _definitions.json"
                ))
            })?;
            state.schema = Some(Arc::new(loaded));
        }
        server::bootstrap(&mut state);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let token = match (&opts.token, opts.rbac) {
            (None, true) => Some(format!("kube-sim-admin-{}", meta::uid())),
            (token, _) => token.clone(),
        };
        let sim = Arc::new(server::Sim {
            state: Mutex::new(state),
            events,
            token: token.clone(),
            rbac: opts.rbac,
            addr,
            shutdown: shutdown_rx.clone(),
            faults: Mutex::new(faults::Faults::new(opts.faults.clone(), opts.seed)),
            tokens: Mutex::new(std::collections::HashMap::new()),
            openapi_v2: openapi_v2::Cache::default(),
        });
        let tls = if opts.tls {
            Some(tls::generate().map_err(std::io::Error::other)?)
        } else {
            None
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let serving = tokio::spawn(server::serve(sim.clone(), listener, tls));
        let ticking = {
            let sim = sim.clone();
            let mut stop = shutdown_rx;
            let ready_after = opts.ready_after;
            tokio::spawn(async move {
                let mut controllers = controllers::Controllers::new(ready_after);
                let mut interval = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = interval.tick() => server::tick(&sim, &mut controllers),
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            })
        };
        tracing::info!(%addr, "kube-sim listening");
        Ok(KubeSim {
            sim,
            addr,
            ca_pem,
            token,
            shutdown,
            tasks: vec![serving, ticking],
        })
    }

    /// Replaces the faults in force with `spec` (see [`faults`]), e.g.
    /// `next=3,codes=503` to fail the next three requests.
    ///
    /// # Errors
    /// A spec that does not parse; nothing changes then.
    pub fn set_faults(&self, spec: &str) -> Result<(), String> {
        let rules = faults::parse(spec)?;
        self.sim
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(rules);
        Ok(())
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.sim
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(Vec::new());
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, or `https://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The cluster admin's bearer token, the kubeconfig's.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The CA certificate (PEM) that signed the server's, with TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig (JSON, which is YAML) for this server, context
    /// `kube-sim`, namespace `default`.
    pub fn kubeconfig(&self) -> Value {
        use base64::Engine as _;
        let mut cluster = json!({"server": self.url()});
        if let Some(ca) = &self.ca_pem {
            cluster["certificate-authority-data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(ca));
        }
        // Without a required token, any token is accepted; one is written
        // anyway, or kubectl prompts for a username against an HTTPS server.
        let token = self.token.as_deref().unwrap_or("kube-sim");
        let user = json!({"token": token});
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-sim", "cluster": cluster}],
            "users": [{"name": "kube-sim", "user": user}],
            "contexts": [{"name": "kube-sim", "context": {"cluster": "kube-sim", "user": "kube-sim", "namespace": "default"}}],
            "current-context": "kube-sim",
            "preferences": {},
        })
    }

    /// Writes [`KubeSim::kubeconfig`] to `path` (mode 0600: it may hold the
    /// token).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let text = serde_json::to_vec_pretty(&self.kubeconfig()).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(tmp, path)
    }

    /// Stops serving: open watches end, the listener closes.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// An emulator on its own thread and runtime, for tests that are not async
/// (e.g. ones that run kubectl). Stops when dropped.
pub struct Background {
    sim: Option<KubeSim>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Background {
    /// # Errors
    /// When the runtime cannot start or the address cannot be bound.
    pub fn start(opts: Options) -> std::io::Result<Background> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let sim = runtime.block_on(KubeSim::start(opts))?;
        Ok(Background {
            sim: Some(sim),
            runtime: Some(runtime),
        })
    }

    pub fn sim(&self) -> &KubeSim {
        self.sim.as_ref().expect("running")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let (Some(sim), Some(runtime)) = (self.sim.take(), self.runtime.take()) {
            runtime.block_on(sim.stop());
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
