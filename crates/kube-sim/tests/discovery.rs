//! Discovery as the real kubectl 1.37.1 reads it, compared with the
//! discovery documents recorded from a real kube-apiserver
//! (`fixtures/kubernetes-discovery/`): `api-resources`, categories
//! (`get all`), short names, and the kinds release bundles need.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

use common::Cluster;

fn recorded(name: &str) -> Value {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kubernetes-discovery")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON")
}

fn joined(value: &Value) -> String {
    value
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn is_ga(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// One row of `kubectl api-resources -o wide`: name, short names, API
/// version, namespaced, kind, verbs, categories.
type Row = [String; 7];

/// What `api-resources` must show for every GA resource of the recording:
/// the core group from `/api/v1`, the groups from the aggregated document,
/// each resource in its group's preferred GA version.
fn expected_rows() -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    for r in recorded("api__v1.json")["resources"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        if name.contains('/') {
            continue;
        }
        rows.insert([
            name.to_owned(),
            joined(&r["shortNames"]),
            "v1".to_owned(),
            r["namespaced"].to_string(),
            r["kind"].as_str().unwrap().to_owned(),
            joined(&r["verbs"]),
            joined(&r["categories"]),
        ]);
    }
    let mut seen = BTreeSet::new();
    for group in recorded("aggregated_v2.json")["items"].as_array().unwrap() {
        let g = group["metadata"]["name"].as_str().unwrap();
        for version in group["versions"].as_array().unwrap() {
            let v = version["version"].as_str().unwrap();
            if !is_ga(v) {
                continue;
            }
            for r in version["resources"].as_array().unwrap() {
                let name = r["resource"].as_str().unwrap();
                if !seen.insert((g.to_owned(), name.to_owned())) {
                    continue;
                }
                rows.insert([
                    name.to_owned(),
                    joined(&r["shortNames"]),
                    format!("{g}/{v}"),
                    (r["scope"] == "Namespaced").to_string(),
                    r["responseKind"]["kind"].as_str().unwrap().to_owned(),
                    joined(&r["verbs"]),
                    joined(&r["categories"]),
                ]);
            }
        }
    }
    rows
}

/// Splits a table printed by kubectl at the columns its header starts.
fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    let mut starts = Vec::new();
    let mut previous = ' ';
    for (i, c) in header.char_indices() {
        if c != ' ' && previous == ' ' {
            starts.push(i);
        }
        previous = c;
    }
    lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts.get(n + 1).copied().unwrap_or(line.len());
                    line.get(start..end.min(line.len()))
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

#[test]
fn api_resources_match_the_recorded_documents_for_every_ga_resource() {
    let cluster = Cluster::start();
    let out = cluster.ok(&["api-resources", "-o", "wide"], None);
    let shown: BTreeSet<Row> = table(&out)
        .into_iter()
        .map(|cells| <[String; 7]>::try_from(cells).expect("seven columns"))
        .collect();
    let expected = expected_rows();
    let missing: Vec<_> = expected.difference(&shown).collect();
    let extra: Vec<_> = shown.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );
    assert!(expected.len() > 60, "{}", expected.len());
}

#[test]
fn legacy_discovery_serves_the_recorded_resource_lists() {
    let cluster = Cluster::start();
    let groups: Value =
        serde_json::from_str(&cluster.ok(&["get", "--raw", "/apis"], None)).expect("JSON");
    let served: BTreeSet<String> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["versions"].as_array().unwrap().clone())
        .map(|v| v["groupVersion"].as_str().unwrap().to_owned())
        .collect();
    for (path, file) in std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kubernetes-discovery"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().into_string().unwrap())
    .filter(|f| f.starts_with("api") && f.matches("__").count() >= 1)
    .map(|f| {
        (
            format!("/{}", f.trim_end_matches(".json").replace("__", "/")),
            f,
        )
    }) {
        let gv = path
            .trim_start_matches("/api/")
            .trim_start_matches("/apis/");
        assert!(path == "/api/v1" || served.contains(gv), "{gv} in /apis");
        let live: Value =
            serde_json::from_str(&cluster.ok(&["get", "--raw", &path], None)).expect("JSON");
        let summary = |doc: &Value| -> BTreeSet<String> {
            doc["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} [{}] [{}] [{}] {}",
                        r["name"],
                        r["kind"],
                        r["namespaced"],
                        r["singularName"],
                        joined(&r["verbs"]),
                        joined(&r["shortNames"]),
                        joined(&r["categories"]),
                        r["storageVersionHash"]
                    )
                })
                .collect()
        };
        let (want, got) = (summary(&recorded(&file)), summary(&live));
        // Where the legacy recording is older than the aggregated one (see
        // the fixtures' README), the newer one is served.
        let newer = |line: &&String| {
            line.starts_with("\"csinodes/status\"") || line.starts_with("\"clustertrustbundles")
        };
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).filter(|l| !newer(l)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{path}: missing {missing:#?}\nextra {extra:#?}"
        );
    }
}

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {a: "1"}
"#;

#[test]
fn get_all_lists_the_all_category_and_short_names_resolve() {
    let cluster = Cluster::start();
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(WORKLOADS));
    let all = cluster.ok(&["get", "all", "-o", "name"], None);
    for name in [
        "service/web",
        "deployment.apps/web",
        "cronjob.batch/nightly",
    ] {
        assert!(all.lines().any(|l| l == name), "{name} in {all}");
    }
    assert!(!all.contains("configmap"), "{all}");
    let short = cluster.ok(&["get", "deploy,svc,cm,cj", "-o", "name"], None);
    for name in [
        "deployment.apps/web",
        "service/web",
        "configmap/settings",
        "cronjob.batch/nightly",
    ] {
        assert!(short.lines().any(|l| l == name), "{name} in {short}");
    }
    cluster.ok(&["get", "csr,pc,sc,ing,netpol,pdb,hpa,quota,limits"], None);
    // A verb the resource does not have is refused as by the real server.
    let run = cluster.kubectl(&["delete", "componentstatuses", "scheduler"], None);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("the server does not allow this method on the requested resource"),
        "{run:?}"
    );
}

const BUNDLE: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: cert-manager-webhook}
webhooks:
- name: webhook.cert-manager.io
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  clientConfig:
    service: {name: cert-manager-webhook, namespace: cert-manager, path: /validate}
  rules:
  - apiGroups: ["cert-manager.io"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["*/*"]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: cert-manager-webhook}
webhooks:
- name: webhook.cert-manager.io
  admissionReviewVersions: ["v1"]
  sideEffects: None
  clientConfig:
    service: {name: cert-manager-webhook, namespace: cert-manager, path: /mutate}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {name: metrics-server, namespace: kube-system}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
"#;

#[test]
fn release_bundle_kinds_apply_server_side() {
    let cluster = Cluster::start();
    let out = cluster.ok(&["apply", "--server-side", "-f", "-"], Some(BUNDLE));
    for line in [
        "validatingwebhookconfiguration.admissionregistration.k8s.io/cert-manager-webhook serverside-applied",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/cert-manager-webhook serverside-applied",
        "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io serverside-applied",
        "ingressclass.networking.k8s.io/nginx serverside-applied",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let listed = cluster.ok(
        &[
            "get",
            "validatingwebhookconfigurations,apiservices,ingressclasses",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(listed.lines().count(), 3, "{listed}");
    // Again: nothing changes, and an unknown field is still refused.
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(BUNDLE));
    let bad = BUNDLE.replace("controller: k8s.io/ingress-nginx", "controler: x");
    let run = cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some(&bad));
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains(".spec.controler: field not declared in schema"),
        "{run:?}"
    );
}

#[test]
fn an_aggregated_api_without_ready_endpoints_is_unavailable_until_its_backend_is() {
    let cluster = Cluster::start();
    let api_service = BUNDLE
        .split("---")
        .find(|doc| doc.contains("kind: APIService"))
        .expect("the APIService");
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(api_service));
    // As with metrics-server down: listed, but its group-version is 503.
    let groups = cluster.ok(&["get", "--raw", "/apis"], None);
    assert!(groups.contains("metrics.k8s.io/v1beta1"), "{groups}");
    let run = cluster.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1"], None);
    assert!(
        run.stderr.contains(
            "Error from server (ServiceUnavailable): the server is currently unable to handle the request"
        ),
        "{run:?}"
    );
    let top = cluster.kubectl(&["top", "nodes"], None);
    assert!(top.stderr.contains("Metrics API not available"), "{top:?}");

    // Its Service selects a Deployment; once that is Available, it answers.
    let backend = r#"
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec: {selector: {k8s-app: metrics-server}, ports: [{name: https, port: 443}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-server, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: metrics-server}}
  template:
    metadata: {labels: {k8s-app: metrics-server}}
    spec: {containers: [{name: metrics-server, image: registry.k8s.io/metrics-server/metrics-server:v0.8.0}]}
"#;
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(backend));
    cluster.ok(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/metrics-server",
            "-n",
            "kube-system",
            "--timeout=30s",
        ],
        None,
    );
    let list = cluster.ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1"], None);
    assert!(
        list.contains("\"groupVersion\":\"metrics.k8s.io/v1beta1\""),
        "{list}"
    );
}
