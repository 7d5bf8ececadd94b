//! Throughput of the emulator from a client on the same machine: simple
//! GETs per second and server-side applies per second, each with several
//! keep-alive HTTP/1.1 connections for a few seconds.
//!
//!   cargo run --release -p kube-sim --example throughput [SECONDS] [CONNECTIONS] [rbac]
//!
//! With `rbac`, authorization is on and the load runs as a ServiceAccount
//! bound to the ClusterRole `edit` in the namespace, with its token from a
//! TokenRequest: every request is authorized by RBAC.
//! The emulator runs in this process on its own two-thread runtime (as the
//! tests start it); the client has its own runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use kube_sim::{Background, Options};

async fn connect(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Runs `make(task, i)` requests on `connections` connections for
/// `seconds`; returns requests per second. Every answer must be 2xx.
async fn load(
    addr: std::net::SocketAddr,
    connections: usize,
    seconds: u64,
    make: fn(usize, u64) -> Request<Full<Bytes>>,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..connections {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            let mut i = 0u64;
            while Instant::now() < deadline {
                sender.ready().await.expect("connection ready");
                let response = sender.send_request(make(task, i)).await.expect("response");
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The bearer token the load sends (with `rbac`, the ServiceAccount's).
static TOKEN: OnceLock<String> = OnceLock::new();

fn bearer() -> String {
    format!(
        "Bearer {}",
        TOKEN.get().map_or("bench-admin", String::as_str)
    )
}

fn get(_: usize, _: u64) -> Request<Full<Bytes>> {
    Request::get("/api/v1/namespaces/bench/configmaps/get-me")
        .header("host", "kube-sim")
        .header("authorization", bearer())
        .body(Full::new(Bytes::new()))
        .expect("request")
}

fn apply(task: usize, i: u64) -> Request<Full<Bytes>> {
    // 50 objects per connection: a mix of creates and real updates.
    let name = format!("cm-{task}-{}", i % 50);
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"bench","labels":{{"app":"bench"}}}},"data":{{"round":"{}","static":"x"}}}}"#,
        i / 50
    );
    Request::patch(format!(
        "/api/v1/namespaces/bench/configmaps/{name}?fieldManager=bench&fieldValidation=Strict"
    ))
    .header("host", "kube-sim")
    .header("authorization", bearer())
    .header("content-type", "application/apply-patch+yaml")
    .body(Full::new(Bytes::from(body)))
    .expect("request")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let connections: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let rbac = args.next().as_deref() == Some("rbac");
    let sim = Background::start(Options {
        rbac,
        token: Some("bench-admin".to_owned()),
        ..Options::default()
    })
    .expect("kube-sim starts");
    let addr = sim.sim().addr();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    client.block_on(async {
        let mut setup = connect(addr).await;
        let mut send = async |method: &str, path: &str, content_type: &str, body: &str| {
            setup.ready().await.expect("ready");
            let response = setup
                .send_request(
                    Request::builder()
                        .method(method)
                        .uri(path)
                        .header("host", "kube-sim")
                        .header("authorization", "Bearer bench-admin")
                        .header("content-type", content_type)
                        .body(Full::new(Bytes::from(body.to_owned())))
                        .expect("request"),
                )
                .await
                .expect("setup");
            let status = response.status();
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
            serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")
        };
        const APPLY: &str = "application/apply-patch+yaml";
        for (path, body) in [
            ("/api/v1/namespaces/bench?fieldManager=bench", r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}"#),
            ("/api/v1/namespaces/bench/configmaps/get-me?fieldManager=bench", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"get-me","namespace":"bench"},"data":{"k":"v"}}"#),
            ("/api/v1/namespaces/bench/serviceaccounts/loader?fieldManager=bench", r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"loader","namespace":"bench"}}"#),
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings/loader?fieldManager=bench", r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"loader","namespace":"bench"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"},"subjects":[{"kind":"ServiceAccount","name":"loader"}]}"#),
        ] {
            send("PATCH", path, APPLY, body).await;
        }
        if rbac {
            let answer = send(
                "POST",
                "/api/v1/namespaces/bench/serviceaccounts/loader/token",
                "application/json",
                r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#,
            )
            .await;
            let token = answer["status"]["token"].as_str().expect("a token");
            TOKEN.set(token.to_owned()).expect("once");
        }
        let gets = load(addr, connections, seconds, get).await;
        let applies = load(addr, connections, seconds, apply).await;
        let mode = if rbac {
            "RBAC on, as a ServiceAccount bound to edit"
        } else {
            "authorization off"
        };
        println!("| GET of one ConfigMap ({mode}) | {gets:.0}/s |");
        println!("| server-side apply of a ConfigMap (create or update, strict validation; {mode}) | {applies:.0}/s |");
        println!("({connections} keep-alive HTTP/1.1 connections, {seconds} s each)");
    });
}
