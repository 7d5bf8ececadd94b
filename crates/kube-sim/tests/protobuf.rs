//! kubectl's typed commands, which send protobuf bodies
//! (`application/vnd.kubernetes.protobuf`): create, run, expose, and
//! `--dry-run=server`, with the real kubectl 1.37.1.

use serde_json::Value;

mod common;

use common::Cluster;

fn object(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&all, None)).expect("JSON")
}

#[test]
fn typed_creates_send_protobuf_and_are_stored_as_sent() {
    let cluster = Cluster::start();
    assert_eq!(
        cluster.ok(&["create", "namespace", "shop"], None).trim(),
        "namespace/shop created"
    );
    cluster.ok(
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--from-literal=mode=fast",
            "--from-literal=level=3",
        ],
        None,
    );
    cluster.ok(
        &[
            "create",
            "secret",
            "generic",
            "db",
            "-n",
            "shop",
            "--from-literal=password=s3cret",
        ],
        None,
    );
    cluster.ok(&["create", "serviceaccount", "bot", "-n", "shop"], None);
    cluster.ok(
        &[
            "create",
            "deployment",
            "web",
            "-n",
            "shop",
            "--image=nginx:1.27",
            "--replicas=3",
            "--port=8080",
        ],
        None,
    );
    cluster.ok(
        &[
            "expose",
            "deployment",
            "web",
            "-n",
            "shop",
            "--port=80",
            "--target-port=http",
        ],
        None,
    );
    cluster.ok(
        &[
            "run",
            "debug",
            "-n",
            "shop",
            "--image=busybox",
            "--labels=team=a",
            "--",
            "sleep",
            "60",
        ],
        None,
    );
    cluster.ok(
        &[
            "create",
            "ingress",
            "web",
            "-n",
            "shop",
            "--rule=shop.example/=web:80",
        ],
        None,
    );
    cluster.ok(
        &[
            "create",
            "quota",
            "small",
            "-n",
            "shop",
            "--hard=pods=10,cpu=500m",
        ],
        None,
    );

    let cm = object(&cluster, &["get", "configmap", "settings", "-n", "shop"]);
    assert_eq!(
        cm["data"],
        serde_json::json!({"mode": "fast", "level": "3"})
    );
    let secret = object(&cluster, &["get", "secret", "db", "-n", "shop"]);
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "Opaque");
    let deploy = object(
        &cluster,
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "shop",
            "--show-managed-fields",
        ],
    );
    assert_eq!(deploy["spec"]["replicas"], 3);
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(
        deploy["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    let svc = object(&cluster, &["get", "service", "web", "-n", "shop"]);
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    let pod = object(&cluster, &["get", "pod", "debug", "-n", "shop"]);
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        serde_json::json!(["sleep", "60"])
    );
    assert_eq!(pod["metadata"]["labels"]["team"], "a");
    let ingress = object(&cluster, &["get", "ingress", "web", "-n", "shop"]);
    assert_eq!(ingress["spec"]["rules"][0]["host"], "shop.example");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        80
    );
    let quota = object(&cluster, &["get", "quota", "small", "-n", "shop"]);
    assert_eq!(quota["spec"]["hard"]["cpu"], "500m");

    // A token for the ServiceAccount (TokenRequest, in protobuf).
    let token = cluster.ok(&["create", "token", "bot", "-n", "shop"], None);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
}

#[test]
fn dry_run_server_answers_and_stores_nothing() {
    let cluster = Cluster::start();
    let out = cluster.ok(&["create", "namespace", "trial", "--dry-run=server"], None);
    assert_eq!(out.trim(), "namespace/trial created (server dry run)");
    let run = cluster.kubectl(&["get", "namespace", "trial"], None);
    assert!(
        run.stderr.contains("namespaces \"trial\" not found"),
        "{run:?}"
    );
    let cm = object(
        &cluster,
        &[
            "create",
            "configmap",
            "c",
            "--from-literal=a=1",
            "--dry-run=server",
        ],
    );
    assert_eq!(cm["data"]["a"], "1");
    assert!(
        cm["metadata"]["uid"].is_string(),
        "the server answered: {cm}"
    );
    let run = cluster.kubectl(&["get", "configmap", "c"], None);
    assert!(run.stderr.contains("configmaps \"c\" not found"), "{run:?}");
    // A real write after the dry one succeeds.
    cluster.ok(&["create", "configmap", "c", "--from-literal=a=1"], None);
    // And server-side validation is applied to the dry run too.
    let run = cluster.kubectl(
        &["create", "namespace", "Bad_Name", "--dry-run=server"],
        None,
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("Invalid value: \"Bad_Name\""),
        "{run:?}"
    );
}
