//! `/openapi/v2` as the real kubectl 1.37.1 needs it: a `kind: List` (what
//! `kubectl get -o yaml` writes) is validated by kubectl itself against the
//! Swagger 2.0 definitions, which it asks for as protobuf. Without them every
//! apply or create of a List failed ("error validating data: the server
//! could not find the requested resource").

mod common;

use std::io::{Read, Write};

use common::Cluster;
use kube_sim::Options;

const STRICT_TAIL: &str =
    "; if you choose to ignore these errors, turn validation off with --validate=false";

/// A List of three kinds in namespace `ns`, as a person would write one.
fn app_list(ns: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: app-config, namespace: {ns}}}
  data: {{level: debug}}
- apiVersion: v1
  kind: Service
  metadata: {{name: web, namespace: {ns}}}
  spec:
    selector: {{app: web}}
    ports: [{{port: 80, targetPort: 8080}}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: web, namespace: {ns}}}
  spec:
    replicas: 2
    selector: {{matchLabels: {{app: web}}}}
    template:
      metadata: {{labels: {{app: web}}}}
      spec:
        containers:
        - name: web
          image: nginx:1.27
          ports: [{{containerPort: 8080}}]
          resources: {{limits: {{cpu: 1, memory: 128Mi}}}}
"#
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn a_list_of_several_kinds_applies_and_creates() {
    let cluster = Cluster::start();
    // The one-item List of the report, as JSON on stdin.
    let one = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}]}"#;
    assert_eq!(
        cluster.ok(&["apply", "-f", "-"], Some(one)),
        "configmap/x created\n"
    );

    let list = app_list("default");
    let created = [
        "configmap/app-config created",
        "service/web created",
        "deployment.apps/web created",
    ];
    assert_eq!(
        lines(&cluster.ok(&["apply", "-f", "-"], Some(&list))),
        created
    );
    assert_eq!(
        lines(&cluster.ok(&["apply", "-f", "-"], Some(&list))),
        [
            "configmap/app-config unchanged",
            "service/web unchanged",
            "deployment.apps/web unchanged",
        ]
    );
    assert_eq!(
        lines(&cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&list))),
        [
            "configmap/app-config serverside-applied",
            "service/web serverside-applied",
            "deployment.apps/web serverside-applied",
        ]
    );
    let again = cluster.kubectl(&["create", "-f", "-"], Some(&list));
    assert_ne!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains(
            "Error from server (AlreadyExists): error when creating \"STDIN\": configmaps \"app-config\" already exists"
        ),
        "{again:?}"
    );
    cluster.ok(&["delete", "-f", "-"], Some(&list));
    assert_eq!(
        lines(&cluster.ok(&["create", "-f", "-"], Some(&list))),
        created
    );
    assert_eq!(
        cluster.ok(
            &[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].resources.limits.cpu}"
            ],
            None
        ),
        "1"
    );

    // Server-side apply of a List that creates.
    cluster.ok(&["create", "namespace", "ssa"], None);
    assert_eq!(
        lines(&cluster.ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&app_list("ssa"))
        )),
        [
            "configmap/app-config serverside-applied",
            "service/web serverside-applied",
            "deployment.apps/web serverside-applied",
        ]
    );
}

#[test]
fn what_get_writes_applies_back() {
    let cluster = Cluster::start();
    let file = cluster.home.path().join("f.yaml");
    let file = file.to_str().expect("UTF-8 path");
    let config_maps = |ns: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a, namespace: {ns}}}\ndata: {{x: \"1\"}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b, namespace: {ns}}}\ndata: {{z: \"2\"}}\n"
        )
    };
    let get_into_file = |ns: &str| {
        let listed = cluster.ok(&["get", "cm", "-n", ns, "-o", "yaml"], None);
        assert!(listed.starts_with("apiVersion: v1\nitems:\n"), "{listed}");
        assert!(listed.contains("\nkind: List\n"), "{listed}");
        std::fs::write(file, &listed).expect("write f.yaml");
    };

    // Client-side: the listed objects carry their last-applied annotation,
    // which the apply rewrites.
    cluster.ok(&["create", "namespace", "csa"], None);
    cluster.ok(&["apply", "-f", "-"], Some(&config_maps("csa")));
    get_into_file("csa");
    assert_eq!(
        lines(&cluster.ok(&["apply", "-f", file], None)),
        ["configmap/a configured", "configmap/b configured"]
    );
    get_into_file("csa");
    assert_eq!(
        lines(&cluster.ok(&["apply", "-f", file], None)),
        ["configmap/a configured", "configmap/b configured"]
    );

    // Server-side: the same fields, the same manager, no conflict.
    cluster.ok(&["create", "namespace", "ssa"], None);
    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&config_maps("ssa")),
    );
    get_into_file("ssa");
    assert_eq!(
        lines(&cluster.ok(&["apply", "--server-side", "-f", file], None)),
        [
            "configmap/a serverside-applied",
            "configmap/b serverside-applied"
        ]
    );
    assert_eq!(
        cluster.ok(
            &["get", "cm", "b", "-n", "ssa", "-o", "jsonpath={.data.z}"],
            None
        ),
        "2"
    );
}

#[test]
fn an_unknown_field_in_a_list_item_is_refused_with_kubectls_message() {
    let cluster = Cluster::start();
    let with_spec = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"},"spec":{}}]}"#;
    let expected = format!(
        "error: error validating \"STDIN\": error validating data: ValidationError(ConfigMap): unknown field \"spec\" in io.k8s.api.core.v1.ConfigMap{STRICT_TAIL}"
    );
    for args in [
        &["apply", "-f", "-"][..],
        &["apply", "--server-side", "-f", "-"],
        &["create", "-f", "-"],
    ] {
        let run = cluster.kubectl(args, Some(with_spec));
        assert_ne!(run.code, 0, "{args:?}: {run:?}");
        assert_eq!(run.stderr.trim_end(), expected, "{args:?}");
    }
    let run = cluster.kubectl(&["get", "configmap", "x"], None);
    assert!(run.stderr.contains("configmaps \"x\" not found"), "{run:?}");

    // Every item is checked, with the types and required fields of the
    // schema, and the errors of one item come together.
    let broken = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: fine, namespace: default}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d, namespace: default}
  spec:
    replicas: many
    template:
      spec:
        containers: [{image: nginx}]
"#;
    let run = cluster.kubectl(&["apply", "-f", "-"], Some(broken));
    assert_ne!(run.code, 0, "{run:?}");
    for part in [
        "ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: got \"string\", expected \"integer\"",
        "ValidationError(Deployment.spec.template.spec.containers[0]): missing required field \"name\" in io.k8s.api.core.v1.Container",
        "ValidationError(Deployment.spec): missing required field \"selector\" in io.k8s.api.apps.v1.DeploymentSpec",
    ] {
        assert!(run.stderr.contains(part), "{part}: {run:?}");
    }
    let run = cluster.kubectl(&["get", "configmap", "fine"], None);
    assert!(run.stderr.contains("not found"), "nothing is sent: {run:?}");

    // Turned off, kubectl checks nothing and asks the server to ignore
    // unknown fields (`fieldValidation=Ignore`).
    let run = cluster.kubectl(&["apply", "--validate=false", "-f", "-"], Some(with_spec));
    assert_eq!(run.code, 0, "{run:?}");
}

const WIDGETS: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.dev}
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[test]
fn custom_resources_in_a_list_are_validated_by_their_crd() {
    let cluster = Cluster::start();
    let widget = |spec: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{{"name":"w","namespace":"default"}},"spec":{spec}}}]}}"#
        )
    };
    // Before the CRD, kubectl finds no such kind.
    let run = cluster.kubectl(&["apply", "-f", "-"], Some(&widget(r#"{"size":1}"#)));
    assert!(
        run.stderr
            .contains("no matches for kind \"Widget\" in version \"example.dev/v1\""),
        "{run:?}"
    );
    cluster.ok(&["apply", "-f", "-"], Some(WIDGETS));
    cluster.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.dev",
        ],
        None,
    );
    let run = cluster.kubectl(
        &["apply", "-f", "-"],
        Some(&widget(r#"{"size":1,"colour":"red"}"#)),
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: error validating \"STDIN\": error validating data: ValidationError(Widget.spec): unknown field \"colour\" in dev.example.v1.Widget.spec{STRICT_TAIL}"
        )
    );
    let run = cluster.kubectl(&["apply", "-f", "-"], Some(&widget(r#"{"size":"big"}"#)));
    assert!(
        run.stderr.contains("ValidationError(Widget.spec.size): invalid type for dev.example.v1.Widget.spec.size: got \"string\", expected \"integer\""),
        "{run:?}"
    );
    // Below x-kubernetes-preserve-unknown-fields anything goes.
    assert_eq!(
        cluster.ok(
            &["apply", "-f", "-"],
            Some(&widget(r#"{"size":1,"extra":{"anything":["goes"]}}"#))
        ),
        "widget.example.dev/w created\n"
    );
}

/// One HTTP/1.1 request; the status line, headers (lower case) and body.
fn request(cluster: &Cluster, accept: Option<&str>) -> (String, String, Vec<u8>) {
    let sim = cluster.sim.sim();
    let host = sim.addr().to_string();
    let mut stream = std::net::TcpStream::connect(&host).expect("connect");
    let mut head = format!("GET /openapi/v2 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(token) = sim.token() {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(accept) = accept {
        head.push_str(&format!("Accept: {accept}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (
        status.to_owned(),
        headers.to_owned(),
        response[split + 4..].to_vec(),
    )
}

#[test]
fn openapi_v2_is_served_as_protobuf_or_json_as_asked() {
    let cluster = Cluster::start();
    let (status, headers, body) = request(
        &cluster,
        Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
    );
    assert_eq!(status, "http/1.1 200 ok");
    assert!(
        headers
            .contains("content-type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        "{headers}"
    );
    // Document.swagger (field 1) = "2.0" comes first.
    assert_eq!(&body[..5], b"\x0a\x032.0");

    for accept in [None, Some("application/json")] {
        let (status, headers, body) = request(&cluster, accept);
        assert_eq!(status, "http/1.1 200 ok", "{accept:?}");
        assert!(
            headers.contains("content-type: application/json"),
            "{headers}"
        );
        let document: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(document["swagger"], "2.0");
        assert_eq!(
            document["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            serde_json::json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
    }
    let (status, _, body) = request(&cluster, Some("application/yaml"));
    assert_eq!(status, "http/1.1 406 not acceptable");
    assert!(body.is_empty());

    // kubectl's own view of it (JSON, as `get --raw` asks).
    let raw = cluster.ok(&["get", "--raw", "/openapi/v2"], None);
    let document: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(document["info"]["version"], "v1.37.0");
    let explained = cluster.ok(
        &[
            "explain",
            "--output=plaintext-openapiv2",
            "deployment.spec.strategy",
        ],
        None,
    );
    assert!(explained.contains("rollingUpdate\t<Object>"), "{explained}");
}

#[test]
fn with_rbac_openapi_v2_is_for_authenticated_users() {
    // kubectl sends no bearer token over plain HTTP.
    let cluster = Cluster::with(Options {
        rbac: true,
        tls: true,
        ..Options::default()
    });
    cluster.ok(&["create", "namespace", "f"], None);
    cluster.ok(&["create", "serviceaccount", "bot", "-n", "f"], None);
    cluster.ok(
        &[
            "create",
            "rolebinding",
            "bot-edit",
            "-n",
            "f",
            "--clusterrole=edit",
            "--serviceaccount=f:bot",
        ],
        None,
    );
    let token = cluster.ok(&["create", "token", "bot", "-n", "f"], None);
    let token = format!("--token={}", token.trim());
    // system:discovery lets every authenticated user read /openapi/*.
    let applied = cluster.kubectl(&["apply", "-f", "-", &token], Some(&app_list("f")));
    assert_eq!(applied.code, 0, "{applied:?}");
    let broken = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"f"},"spec":{}}]}"#;
    let refused = cluster.kubectl(&["apply", "-f", "-", &token], Some(broken));
    assert!(
        refused
            .stderr
            .contains("unknown field \"spec\" in io.k8s.api.core.v1.ConfigMap"),
        "{refused:?}"
    );
    let stranger = cluster.kubectl(&["get", "--raw", "/openapi/v2", "--token=nobody"], None);
    assert_ne!(stranger.code, 0);
    assert!(stranger.stderr.contains("Unauthorized"), "{stranger:?}");
    // Without a route to it in any role, a denial names the path.
    cluster.ok(&["delete", "clusterrolebinding", "system:discovery"], None);
    let denied = cluster.kubectl(&["get", "--raw", "/openapi/v2", &token], None);
    assert!(
        denied.stderr.contains(
            "forbidden: User \"system:serviceaccount:f:bot\" cannot get path \"/openapi/v2\""
        ),
        "{denied:?}"
    );
}
