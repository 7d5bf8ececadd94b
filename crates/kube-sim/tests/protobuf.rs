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

/// One request and its response, as `kubectl -v=8` logs them.
#[derive(Debug, Default)]
struct Exchange {
    verb: String,
    url: String,
    accept: String,
    status: String,
    content_type: String,
}

fn quoted<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_once(&format!("{key}=\""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(value, _)| value)
}

fn exchanges(log: &str) -> Vec<Exchange> {
    let mut all: Vec<Exchange> = Vec::new();
    let mut in_response = false;
    for line in log.lines() {
        if line.contains("\"Request\" verb=") {
            all.push(Exchange {
                verb: quoted(line, "verb").to_owned(),
                url: quoted(line, "url").to_owned(),
                ..Exchange::default()
            });
            in_response = false;
        } else if line.contains("\"Response\" ") && line.contains("status=") {
            in_response = true;
            if let Some(last) = all.last_mut() {
                last.status = quoted(line, "status").to_owned();
            }
        } else if let Some(last) = all.last_mut() {
            let header = line.trim();
            if let Some(v) = header.strip_prefix("Accept: ")
                && !in_response
            {
                last.accept = v.to_owned();
            } else if let Some(v) = header.strip_prefix("Content-Type: ")
                && in_response
            {
                last.content_type = v.to_owned();
            }
        }
    }
    all
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// kubectl with `-v=8`: its output, and the exchange of each request
/// whose URL contains `path` (after the method).
#[track_caller]
fn logged(cluster: &Cluster, args: &[&str]) -> (common::Run, Vec<Exchange>) {
    let mut all = args.to_vec();
    all.push("-v=8");
    let run = cluster.kubectl(&all, None);
    let seen = exchanges(&run.stderr);
    (run, seen)
}

#[track_caller]
fn answered(seen: &[Exchange], verb: &str, path: &str) -> (String, String) {
    let e = seen
        .iter()
        .find(|e| e.verb == verb && e.url.contains(path))
        .unwrap_or_else(|| panic!("no {verb} {path} in {seen:#?}"));
    (e.accept.clone(), e.content_type.clone())
}

#[test]
fn typed_commands_receive_protobuf_answers() {
    let cluster = Cluster::start();
    // create: the created object comes back in protobuf.
    let (run, seen) = logged(&cluster, &["create", "namespace", "shop"]);
    assert_eq!(run.stdout.trim(), "namespace/shop created", "{run:?}");
    let (accept, answer) = answered(&seen, "POST", "/api/v1/namespaces?");
    assert_eq!(
        accept,
        "application/vnd.kubernetes.protobuf,application/json"
    );
    assert_eq!(answer, PROTOBUF);
    // An error is a protobuf Status, and kubectl reads its message.
    let (run, seen) = logged(&cluster, &["create", "namespace", "shop"]);
    assert!(
        run.stderr
            .contains("Error from server (AlreadyExists): namespaces \"shop\" already exists"),
        "{run:?}"
    );
    assert_eq!(answered(&seen, "POST", "/api/v1/namespaces?").1, PROTOBUF);

    let (run, seen) = logged(
        &cluster,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--from-literal=mode=fast",
        ],
    );
    assert_eq!(run.stdout.trim(), "configmap/settings created", "{run:?}");
    assert_eq!(answered(&seen, "POST", "/configmaps?").1, PROTOBUF);
    let (run, seen) = logged(
        &cluster,
        &[
            "create",
            "configmap",
            "shown",
            "-n",
            "shop",
            "--from-literal=a=1",
            "-o",
            "json",
        ],
    );
    assert_eq!(answered(&seen, "POST", "/configmaps?").1, PROTOBUF);
    let shown: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(shown["data"]["a"], "1");
    assert!(shown["metadata"]["uid"].is_string(), "{shown}");
    assert!(
        shown["metadata"]["creationTimestamp"].is_string(),
        "{shown}"
    );

    // TokenRequest and SelfSubjectAccessReview answers.
    cluster.ok(&["create", "serviceaccount", "bot", "-n", "shop"], None);
    let (run, seen) = logged(&cluster, &["create", "token", "bot", "-n", "shop"]);
    assert_eq!(run.stdout.trim().split('.').count(), 3, "{run:?}");
    assert_eq!(
        answered(&seen, "POST", "/serviceaccounts/bot/token").1,
        PROTOBUF
    );
    let (run, seen) = logged(
        &cluster,
        &["auth", "can-i", "create", "configmaps", "-n", "shop"],
    );
    assert_eq!(run.stdout.trim(), "yes", "{run:?}");
    assert_eq!(
        answered(&seen, "POST", "/selfsubjectaccessreviews").1,
        PROTOBUF
    );

    // describe reads with the typed client: objects and lists in protobuf.
    cluster.ok(
        &[
            "create",
            "deployment",
            "web",
            "-n",
            "shop",
            "--image=nginx:1.27",
            "--replicas=3",
        ],
        None,
    );
    let (run, seen) = logged(&cluster, &["describe", "deployment", "web", "-n", "shop"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Image:         nginx:1.27"), "{run:?}");
    assert!(
        run.stdout.contains("Replicas:           3 desired"),
        "{run:?}"
    );
    let typed_get = seen
        .iter()
        .find(|e| e.url.ends_with("/deployments/web") && e.accept.starts_with(PROTOBUF))
        .expect("a typed GET");
    assert_eq!(typed_get.content_type, PROTOBUF);
    let (_, list) = answered(&seen, "GET", "/replicasets?labelSelector=");
    assert_eq!(list, PROTOBUF);

    // get -o yaml and delete ask for JSON, and get it.
    let (run, seen) = logged(&cluster, &["get", "namespace", "shop", "-o", "yaml"]);
    assert!(run.stdout.contains("name: shop"), "{run:?}");
    let (accept, answer) = answered(&seen, "GET", "/api/v1/namespaces/shop");
    assert_eq!(
        (accept.as_str(), answer.as_str()),
        ("application/json", "application/json")
    );
    let (run, seen) = logged(&cluster, &["delete", "configmap", "settings", "-n", "shop"]);
    assert_eq!(
        run.stdout.trim(),
        "configmap \"settings\" deleted from shop namespace",
        "{run:?}"
    );
    assert_eq!(
        answered(&seen, "DELETE", "/configmaps/settings").1,
        "application/json"
    );
}

#[test]
fn custom_resources_and_watches_stay_json() {
    use prost::Message as _;
    let cluster = Cluster::start();
    cluster.ok(&["apply", "-f", "-"], Some(common::WIDGETS_CRD));
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let widget = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}}"#;
    // Protobuf only: 406, and nothing is created.
    let refused = cluster.http("POST", widgets, PROTOBUF, Some(widget));
    assert_eq!(refused.status, 406, "{refused:?}");
    let missing = cluster.http("GET", &format!("{widgets}/w1"), "application/json", None);
    assert_eq!(missing.status, 404, "{missing:?}");
    // Protobuf or anything: JSON, for the object, the list and errors.
    let either = format!("{PROTOBUF}, */*");
    let created = cluster.http("POST", widgets, &either, Some(widget));
    assert_eq!(
        (created.status, created.content_type.as_str()),
        (201, "application/json")
    );
    let list = cluster.http("GET", widgets, &either, None);
    assert_eq!(list.content_type, "application/json");
    let gone = cluster.http("GET", &format!("{widgets}/nope"), &either, None);
    assert_eq!(
        (gone.status, gone.content_type.as_str()),
        (404, "application/json")
    );

    // A built-in list in protobuf, read with k8s-pb's types.
    cluster.ok(&["create", "configmap", "a", "--from-literal=k=v"], None);
    let cms = cluster.http(
        "GET",
        "/api/v1/namespaces/default/configmaps",
        &either,
        None,
    );
    assert_eq!(cms.content_type, PROTOBUF);
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(
        cms.body.strip_prefix(b"k8s\0").expect("the magic"),
    )
    .expect("an Unknown");
    let meta = unknown.type_meta.expect("typeMeta");
    assert_eq!(meta.kind.as_deref(), Some("ConfigMapList"));
    assert_eq!(meta.api_version.as_deref(), Some("v1"));
    let list = k8s_pb::api::core::v1::ConfigMapList::decode(unknown.raw.expect("raw").as_slice())
        .expect("a ConfigMapList");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].data["k"], "v");
    assert!(list.metadata.and_then(|m| m.resource_version).is_some());

    // Watches are JSON whatever is asked.
    let watch = cluster.http("GET", "/api/v1/namespaces?watch=true", &either, None);
    assert_eq!(
        (watch.status, watch.content_type.as_str()),
        (200, "application/json")
    );
}
