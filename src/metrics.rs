//! What `strata watch` exposes on `--metrics-addr`: Prometheus `/metrics`,
//! and `/healthz` and `/readyz` for Kubernetes probes.
//!
//! The loop records into [`Metrics`]; [`serve`] answers HTTP. Metric names
//! follow Prometheus conventions (`_total` counters, `_seconds` units).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The loop's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    last_result: Family<Labels, Gauge>,
    last_timestamp: Gauge<f64, AtomicU64>,
    duration: Histogram,
    drift: Family<Labels, Gauge>,
    pending: Gauge,
    applied: Family<Labels, Counter>,
    pruned: Counter,
    errors: Family<Labels, Counter>,
    failures: Gauge,
    backoff: Gauge<f64, AtomicU64>,
    leader: Gauge,
    ready: AtomicBool,
}

/// The results a reconcile can end with.
pub const RESULTS: [&str; 4] = ["in_sync", "applied", "approval_required", "failed"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("strata");
        let m = Metrics {
            reconciles: Family::default(),
            last_result: Family::default(),
            last_timestamp: Gauge::default(),
            duration: Histogram::new([0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]),
            drift: Family::default(),
            pending: Gauge::default(),
            applied: Family::default(),
            pruned: Counter::default(),
            errors: Family::default(),
            failures: Gauge::default(),
            backoff: Gauge::default(),
            leader: Gauge::default(),
            ready: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles run, by result",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_last_result",
            "1 for the result of the last reconcile, 0 for the others",
            m.last_result.clone(),
        );
        registry.register(
            "reconcile_last_timestamp_seconds",
            "When the last reconcile ended, in Unix seconds",
            m.last_timestamp.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles take",
            m.duration.clone(),
        );
        registry.register(
            "drift_items",
            "Items changed outside Git found by the last reconcile, per stack and workload",
            m.drift.clone(),
        );
        registry.register(
            "pending_approvals",
            "Items waiting for a person's approval",
            m.pending.clone(),
        );
        registry.register(
            "applied",
            "Stacks and workloads applied, by layer",
            m.applied.clone(),
        );
        registry.register(
            "pruned_objects",
            "Kubernetes objects pruned",
            m.pruned.clone(),
        );
        registry.register(
            "errors",
            "Failed reconciles, by kind (git, config, terraform, kubernetes, other)",
            m.errors.clone(),
        );
        registry.register(
            "consecutive_failures",
            "Reconciles failed in a row",
            m.failures.clone(),
        );
        registry.register(
            "backoff_seconds",
            "The wait before the next attempt after a failure (0 when healthy)",
            m.backoff.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease (with --leader-elect), else 0",
            m.leader.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records a reconcile that ended with `result` (one of [`RESULTS`]).
    pub fn reconciled(&self, result: &str, seconds: f64) {
        self.reconciles
            .get_or_create(&labels(&[("result", result)]))
            .inc();
        for r in RESULTS {
            self.last_result
                .get_or_create(&labels(&[("result", r)]))
                .set(i64::from(r == result));
        }
        self.duration.observe(seconds);
        let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
        self.last_timestamp.set(now);
        if result != "failed" {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// The drift a reconcile found in a stack or workload.
    pub fn drift(&self, kind: &str, name: &str, items: usize) {
        self.drift
            .get_or_create(&labels(&[("kind", kind), ("name", name)]))
            .set(i64::try_from(items).unwrap_or(i64::MAX));
    }

    pub fn pending(&self, items: usize) {
        self.pending.set(i64::try_from(items).unwrap_or(i64::MAX));
    }

    pub fn applied(&self, layer: &str, count: u64) {
        self.applied
            .get_or_create(&labels(&[("layer", layer)]))
            .inc_by(count);
    }

    pub fn pruned(&self, count: u64) {
        self.pruned.inc_by(count);
    }

    /// A failed reconcile, and the wait before the next.
    pub fn failed(&self, kind: &str, failures: u32, backoff: f64) {
        self.errors.get_or_create(&labels(&[("kind", kind)])).inc();
        self.failures.set(i64::from(failures));
        self.backoff.set(backoff);
    }

    /// The loop is healthy again.
    pub fn recovered(&self) {
        self.failures.set(0);
        self.backoff.set(0.0);
    }

    pub fn leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Ready once a reconcile has finished without failing.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Binds `addr`, so that a busy port is an error before the loop starts.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Answers `/metrics`, `/healthz` and `/readyz` on `listener` until the
/// task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if metrics.is_ready() => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready: no reconcile has succeeded yet\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_metric_with_its_labels() {
        let m = Metrics::new();
        m.reconciled("applied", 1.5);
        m.reconciled("failed", 0.2);
        m.drift("workload", "apps", 2);
        m.pending(1);
        m.applied("stack", 2);
        m.pruned(3);
        m.failed("kubernetes", 1, 2.0);
        let text = m.render();
        for line in [
            "strata_reconciles_total{result=\"applied\"} 1",
            "strata_reconcile_last_result{result=\"failed\"} 1",
            "strata_reconcile_last_result{result=\"applied\"} 0",
            "strata_reconcile_duration_seconds_count 2",
            "strata_drift_items{kind=\"workload\",name=\"apps\"} 2",
            "strata_pending_approvals 1",
            "strata_applied_total{layer=\"stack\"} 2",
            "strata_pruned_objects_total 3",
            "strata_errors_total{kind=\"kubernetes\"} 1",
            "strata_consecutive_failures 1",
            "strata_backoff_seconds 2.0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(m.is_ready());
    }
}
