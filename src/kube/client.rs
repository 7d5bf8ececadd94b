//! The connection to the cluster: kubeconfig resolution as kubectl does it
//! (`--kubeconfig`, else `KUBECONFIG`'s files merged, else
//! `~/.kube/config`, else the in-cluster service account), one shared
//! client, discovery, and retries of transient failures.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};

use super::KubeError;

/// How to find the cluster: the flags and the environment, captured once.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `KUBECONFIG`.
    pub env_kubeconfig: Option<OsString>,
    /// `HOME`, for `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` is set: running in a pod.
    pub in_cluster: bool,
}

/// A kind the cluster serves.
#[derive(Debug, Clone)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
}

/// A reachable cluster and what it serves.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The kubeconfig context (`in-cluster` for the service account).
    pub context: String,
    pub server: String,
    /// By (group, version, kind).
    resources: BTreeMap<(String, String, String), Resource>,
    /// Group-versions the server lists but cannot serve now: an aggregated
    /// API whose server is down (metrics-server not ready, say).
    unavailable: std::collections::BTreeSet<(String, String)>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects, checks that the API server answers, and runs discovery.
    ///
    /// # Errors
    /// A kubeconfig that cannot be read or has no such context, and a
    /// server that cannot be reached (naming the context and server).
    pub async fn connect(how: &Connect) -> Result<Cluster, KubeError> {
        // kube's rustls needs a process-wide crypto provider.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (mut config, context) = config(how).await?;
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config.cluster_url.to_string();
        let unreachable = |message: String| KubeError::Unreachable {
            context: context.clone(),
            server: server.clone(),
            message,
        };
        // Reached, but the credentials are refused: not the network's fault.
        let failed = |e: kube::Error, during: &str| match status(&e) {
            Some(s) if matches!(s.code, 401 | 403) => KubeError::Refused {
                context: context.clone(),
                server: server.clone(),
                message: describe(&e),
            },
            _ => unreachable(format!("{during}{}", describe(&e))),
        };
        let client =
            kube::Client::try_from(config).map_err(|e| unreachable(crate::error_line(&e)))?;
        retry_up_to(FIRST_CONTACT_ATTEMPTS, || client.apiserver_version())
            .await
            .map_err(|e| failed(e, ""))?;
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(d) => d,
            Err(_) => retry(|| Discovery::new(client.clone()).run())
                .await
                .map_err(|e| failed(e, "discovery failed: "))?,
        };
        let mut resources = BTreeMap::new();
        let mut unavailable = std::collections::BTreeSet::new();
        for group in discovery.groups() {
            for version in group.versions() {
                let served = group.versioned_resources(version);
                if served.is_empty() {
                    unavailable.insert((group.name().to_owned(), version.to_owned()));
                }
                for (api, caps) in served {
                    resources.insert(
                        (api.group.clone(), api.version.clone(), api.kind.clone()),
                        Resource {
                            namespaced: caps.scope == Scope::Namespaced,
                            api,
                        },
                    );
                }
            }
        }
        tracing::info!(%context, %server, kinds = resources.len(), "connected to the cluster");
        for (group, version) in &unavailable {
            tracing::debug!(
                "the cluster lists {group}/{version} but serves nothing in it now (an aggregated API that is down?); only manifests of that group are affected"
            );
        }
        Ok(Cluster {
            client,
            context,
            server,
            resources,
            unavailable,
        })
    }

    /// The kind at `group/version`, if the cluster serves it.
    pub fn resource(&self, group: &str, version: &str, kind: &str) -> Option<&Resource> {
        self.resources
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
    }

    /// The kind in any version the cluster serves, for objects whose
    /// recorded version may be gone.
    pub fn resource_any_version(&self, group: &str, kind: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|((g, _, k), _)| g == group && k == kind)
            .map(|(_, r)| r)
    }

    /// Whether the cluster lists `group/version` but serves nothing in it
    /// now (see [`Cluster::connect`]).
    pub fn is_unavailable(&self, group: &str, version: &str) -> bool {
        self.unavailable
            .contains(&(group.to_owned(), version.to_owned()))
    }

    /// Whether the cluster serves `group/version` at all.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .keys()
            .any(|(g, v, _)| g == group && v == version)
    }

    /// The API of `resource` in `namespace` (ignored for cluster-scoped
    /// kinds).
    pub fn api(&self, resource: &Resource, namespace: &str) -> Api<DynamicObject> {
        if resource.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &resource.api)
        } else {
            Api::all_with(self.client.clone(), &resource.api)
        }
    }
}

/// `text` with every double-quoted part replaced by `"…"`: a parser's
/// message may quote a value it did not expect, and in a kubeconfig that
/// value may be a token.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('"');
    out.push_str(parts.next().unwrap_or_default());
    let mut quoted = true;
    for part in parts {
        if quoted {
            out.push_str("\"…");
        } else {
            out.push('"');
            out.push_str(part);
        }
        quoted = !quoted;
    }
    if !quoted {
        out.push('"');
    }
    out
}

/// The kubeconfig (or in-cluster) configuration and the context's name.
async fn config(how: &Connect) -> Result<(kube::Config, String), KubeError> {
    let bad = |message: String| KubeError::Kubeconfig { message };
    let files: Vec<PathBuf> = if let Some(path) = &how.kubeconfig {
        vec![path.clone()]
    } else if let Some(list) = how.env_kubeconfig.as_ref().filter(|v| !v.is_empty()) {
        std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    } else {
        how.home
            .as_ref()
            .map(|h| h.join(".kube/config"))
            .filter(|p| p.is_file())
            .into_iter()
            .collect()
    };
    if files.is_empty() {
        if how.in_cluster && how.context.is_none() {
            let config = kube::Config::incluster().map_err(|e| {
                bad(format!(
                    "in-cluster configuration: {}",
                    crate::error_line(&e)
                ))
            })?;
            return Ok((config, "in-cluster".to_owned()));
        }
        return Err(bad(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"
                .to_owned(),
        ));
    }
    let mut merged: Option<Kubeconfig> = None;
    for file in &files {
        // kubectl skips missing files in KUBECONFIG, but not --kubeconfig.
        if how.kubeconfig.is_none() && !file.exists() {
            continue;
        }
        // The parser's message quotes the lines around the error: a
        // kubeconfig holds tokens, keys and passwords, so only its first
        // line (what and where) is shown.
        let failed = |e: kube::config::KubeconfigError| {
            bad(format!(
                "{}: {}; fix the file, or pass another with --kubeconfig",
                file.display(),
                redact_quoted(crate::error_line(&e).lines().next().unwrap_or_default())
            ))
        };
        let one = Kubeconfig::read_from(file).map_err(failed)?;
        merged = Some(match merged {
            None => one,
            Some(m) => m.merge(one).map_err(failed)?,
        });
    }
    let Some(kubeconfig) = merged else {
        return Err(bad(format!(
            "none of the files in KUBECONFIG exists: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let context = match how.context.clone().or(kubeconfig.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(bad(
                "the kubeconfig has no current-context; pass --context".to_owned()
            ));
        }
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(bad(format!(
            "no context {context:?}; the contexts are: {}",
            known.join(", ")
        )));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: None,
        user: None,
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| bad(format!("context {context:?}: {}", crate::error_line(&e))))?;
    Ok((config, context))
}

/// How many times a request is tried before its failure is reported.
pub const ATTEMPTS: u32 = 8;

/// Attempts at the first request of a run when the server cannot be
/// reached at all (see [`retry_up_to`]).
const FIRST_CONTACT_ATTEMPTS: u32 = 3;

/// Whether a failure may go away by itself: throttling, server errors,
/// timeouts and broken connections. (kube's own layer already retries 429,
/// 503 and 504 honouring `Retry-After`; this covers the rest and what that
/// layer gave up on.)
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        // Not for the short retry: it can take minutes (see
        // `webhook_unavailable`).
        _ if webhook_unavailable(e) => false,
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// Whether the API server could not call an admission webhook: its
/// Deployment is not ready, its Service has no endpoints, its certificate
/// is not injected yet. Usual while the webhook's own workload (cert-manager,
/// an operator) is being installed, and over once it is up. A webhook that
/// answers and denies the request is not this.
pub fn webhook_unavailable(e: &kube::Error) -> bool {
    status(e).is_some_and(|s| s.code == 500 && s.message.contains("failed calling webhook"))
}

/// Runs `attempt` until it succeeds, fails for good, or has failed
/// [`ATTEMPTS`] times, with exponential backoff and full jitter.
pub async fn retry<T, F, Fut>(attempt: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry_up_to(ATTEMPTS, attempt).await
}

/// Like [`retry`], but a failure to reach the server at all (no HTTP
/// answer: refused, reset, timed out) is tried only `unreachable` times.
/// For the first contact: a server that answers nothing there is more
/// likely a wrong address than a hiccup, and the person waits for it.
pub async fn retry_up_to<T, F, Fut>(unreachable: u32, mut attempt: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let limit = |e: &kube::Error| {
        if matches!(e, kube::Error::Api(_)) {
            ATTEMPTS
        } else {
            unreachable
        }
    };
    let backoff = crate::retry::Backoff {
        first: Duration::from_millis(200),
        cap: Duration::from_millis(6400),
    };
    crate::retry::retry(backoff, &mut attempt, |e, failures| {
        let again = failures < limit(e) && is_transient(e);
        if again {
            // Only the status code: a server message may quote a value.
            let code = status(e).map(|s| s.code);
            tracing::debug!(?code, attempt = failures, "transient failure; retrying");
        }
        again
    })
    .await
}

/// How many requests strata has in flight at once against one cluster.
pub const CONCURRENCY: usize = 32;

/// Runs `futures`, at most `limit` at once; results in input order.
/// (The futures are built before they are streamed, so no closure is part
/// of the stream's type: that keeps the future `Send` for any lifetime.)
pub async fn bounded<T, Fut>(futures: Vec<Fut>, limit: usize) -> Vec<T>
where
    Fut: Future<Output = T>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(futures)
        .buffered(limit)
        .collect()
        .await
}

/// A failed request, for a person: the server's own message for an API
/// error, else the error's causes. A 403 names the missing permission
/// (verb, resource, group, namespace) in the server's words, and says
/// where such permissions are granted.
pub fn describe(e: &kube::Error) -> String {
    match status(e) {
        Some(s) if s.code == 403 && s.message.contains(" cannot ") => format!(
            "{}; grant that to strata's identity (see docs/operating.md#rbac)",
            s.message
        ),
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => crate::error_line(e),
    }
}

/// The status of an API error, if it is one.
pub fn status(e: &kube::Error) -> Option<&kube::core::Status> {
    match e {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

#[cfg(test)]
mod redaction_tests {
    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            super::redact_quoted("invalid type: string \"tok-123\", expected a sequence"),
            "invalid type: string \"…\", expected a sequence"
        );
        assert_eq!(super::redact_quoted("no quotes"), "no quotes");
        assert_eq!(super::redact_quoted("odd \"x"), "odd \"…\"");
    }
}
