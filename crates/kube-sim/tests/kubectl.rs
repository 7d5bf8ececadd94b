//! The real kubectl 1.37.1 (installed by scripts/setup-tools.sh), unchanged,
//! against the emulator: the flows of podinfo's overlays, conflicts, a CRD
//! and its custom resource, strict validation and deletion.

use std::process::Command;

mod common;

use common::{Cluster, fixtures, kubectl_binary};
use kube_sim::Options;

fn render(overlay: &str) -> String {
    let dir = fixtures().join("podinfo/deploy/overlays").join(overlay);
    let out = Command::new(kubectl_binary())
        .args(["kustomize"])
        .arg(&dir)
        .output()
        .expect("kubectl kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn podinfo_overlays_apply_wait_update_and_delete() {
    let cluster = Cluster::start();
    for overlay in ["dev", "staging", "production"] {
        let manifests = render(overlay);
        assert_eq!(
            manifests.matches("\nkind: ").count(),
            25,
            "{overlay}: 25 objects"
        );
        let out = cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&manifests));
        assert_eq!(out.matches("serverside-applied").count(), 25, "{out}");

        // managedFields, by kubectl's apply, keyed like the real server.
        let yaml = cluster.ok(
            &[
                "get",
                "deployment",
                "frontend",
                "-n",
                overlay,
                "-o",
                "yaml",
                "--show-managed-fields",
            ],
            None,
        );
        assert!(yaml.contains("manager: kubectl"), "{yaml}");
        assert!(yaml.contains("operation: Apply"), "{yaml}");
        assert!(yaml.contains("k:{\"name\":\"frontend\"}"), "{yaml}");

        cluster.ok(
            &[
                "wait",
                "--for=condition=Available",
                "deployment",
                "--all",
                "-n",
                overlay,
                "--timeout=60s",
            ],
            None,
        );
    }

    // A changed image updates just that field.
    let before = cluster.ok(
        &["get", "deployment", "frontend", "-n", "dev", "-o", "json"],
        None,
    );
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    let image = before["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = render("dev").replace(&image, "ghcr.io/stefanprodan/podinfo:9.9.9");
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let after = cluster.ok(
        &["get", "deployment", "frontend", "-n", "dev", "-o", "json"],
        None,
    );
    let after: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:9.9.9"
    );
    assert_eq!(after["metadata"]["generation"], 2);
    let mut expected = before["spec"].clone();
    expected["template"]["spec"]["containers"][0]["image"] =
        "ghcr.io/stefanprodan/podinfo:9.9.9".into();
    assert_eq!(after["spec"], expected, "only the image changed");

    // Everything goes, and the namespaces terminate.
    for overlay in ["dev", "staging", "production"] {
        cluster.ok(
            &["delete", "-f", "-", "--wait=true"],
            Some(&render(overlay)),
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let namespaces = cluster.ok(&["get", "namespaces", "-o", "name"], None);
        if !["dev", "staging", "production"]
            .iter()
            .any(|ns| namespaces.contains(&format!("namespace/{ns}\n")))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "namespaces still there: {namespaces}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  color: VALUE\n";

#[test]
fn another_field_manager_conflicts_unless_it_forces() {
    let cluster = Cluster::start();
    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&CONFIG_MAP.replace("VALUE", "blue")),
    );
    let run = cluster.kubectl(
        &["apply", "--server-side", "--field-manager=ops", "-f", "-"],
        Some(&CONFIG_MAP.replace("VALUE", "red")),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" using v1: .data.color"
        ),
        "{run:?}"
    );
    cluster.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=ops",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&CONFIG_MAP.replace("VALUE", "red")),
    );
    let color = cluster.ok(
        &[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.color}",
        ],
        None,
    );
    assert_eq!(color, "red");
}

#[test]
fn an_unknown_field_is_rejected_naming_it() {
    let cluster = Cluster::start();
    let run = cluster.kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  replicaz: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(".spec.replicaz: field not declared in schema"),
        "{run:?}"
    );
    let gone = cluster.kubectl(&["get", "deployment", "web"], None);
    assert_eq!(gone.code, 1, "nothing was created: {gone:?}");
}

#[test]
fn a_crd_serves_its_custom_resource_until_deleted() {
    let cluster = Cluster::start();
    let crds = fixtures().join("crds");
    let crd = crds.join("kustomize.toolkit.fluxcd.io_kustomizations.yaml");
    let cr = crds.join("example-kustomization.yaml");
    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"),
    );
    cluster.ok(
        &["apply", "--server-side", "-f", crd.to_str().unwrap()],
        None,
    );
    cluster.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/kustomizations.kustomize.toolkit.fluxcd.io",
            "--timeout=30s",
        ],
        None,
    );
    cluster.ok(
        &["apply", "--server-side", "-f", cr.to_str().unwrap()],
        None,
    );
    let listed = cluster.ok(&["get", "kustomizations", "-A", "-o", "name"], None);
    assert_eq!(
        listed.trim(),
        "kustomization.kustomize.toolkit.fluxcd.io/apps"
    );
    let typo = cluster.kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: typo\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  prunee: false\n  sourceRef:\n    kind: GitRepository\n    name: podinfo\n"),
    );
    assert_eq!(typo.code, 1, "{typo:?}");
    assert!(typo.stderr.contains(".spec.prunee"), "{typo:?}");

    cluster.ok(&["delete", "-f", cr.to_str().unwrap()], None);
    let none = cluster.ok(&["get", "kustomizations", "-A", "-o", "name"], None);
    assert_eq!(none.trim(), "");
    cluster.ok(&["delete", "-f", crd.to_str().unwrap()], None);
    let run = cluster.kubectl(&["get", "kustomizations", "-A"], None);
    assert_eq!(run.code, 1, "the resource is no longer served: {run:?}");
}

#[test]
fn tls_with_a_token_as_a_real_cluster() {
    let cluster = Cluster::with(Options {
        tls: true,
        token: Some("t0ken".to_owned()),
        ..Options::default()
    });
    let config = std::fs::read_to_string(cluster.home.path().join("kubeconfig")).unwrap();
    assert!(
        config.contains("\"server\": \"https://127.0.0.1:"),
        "{config}"
    );
    assert!(config.contains("certificate-authority-data"), "{config}");
    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&CONFIG_MAP.replace("VALUE", "green")),
    );
    let color = cluster.ok(
        &[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.color}",
        ],
        None,
    );
    assert_eq!(color, "green");
    let wrong = cluster.kubectl(&["get", "configmaps", "--token", "nope"], None);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("Unauthorized"), "{wrong:?}");
}

#[test]
fn patch_scale_and_label_as_a_person_does() {
    let cluster = Cluster::start();
    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: \"nginx:1\"}\n      - {name: side, image: busybox}\n"),
    );
    // kubectl patch sends a strategic merge patch: containers merge by name.
    cluster.ok(
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}"#,
        ],
        None,
    );
    let images = cluster.ok(
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image} {end}",
        ],
        None,
    );
    assert_eq!(images.trim(), "web=nginx:2 side=busybox");
    cluster.ok(&["scale", "deployment", "web", "--replicas=3"], None);
    cluster.ok(&["label", "deployment", "web", "tier=front"], None);
    let out = cluster.ok(
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.labels.tier}",
        ],
        None,
    );
    assert_eq!(out, "3 front");
    cluster.ok(
        &[
            "wait",
            "--for=jsonpath={.status.availableReplicas}=3",
            "deployment/web",
            "--timeout=30s",
        ],
        None,
    );
}

#[test]
fn every_namespace_has_a_default_service_account() {
    let cluster = Cluster::start();
    for namespace in ["default", "kube-system", "kube-public"] {
        let out = cluster.ok(
            &["get", "serviceaccounts", "-n", namespace, "-o", "name"],
            None,
        );
        assert_eq!(out.trim(), "serviceaccount/default", "{namespace}");
    }
    // A new namespace gets one from the ServiceAccount controller, a moment
    // later; deleted, it comes back.
    let created = || {
        let wait = ["wait", "--for=create", "serviceaccount/default"];
        cluster.ok(&[&wait[..], &["-n", "x", "--timeout=30s"]].concat(), None);
    };
    cluster.ok(&["create", "namespace", "x"], None);
    created();
    let token = cluster.ok(&["create", "token", "default", "-n", "x"], None);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    cluster.ok(&["delete", "serviceaccount", "default", "-n", "x"], None);
    created();
}

/// The union of two `fieldsV1` trees.
fn merge_fields(into: &mut serde_json::Value, from: &serde_json::Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (key, value) in from {
            merge_fields(
                into.entry(key.clone()).or_insert(serde_json::json!({})),
                value,
            );
        }
    }
}

/// What a GitOps tool does to undo `kubectl patch`: it rewrites
/// `managedFields` so that the patch's fields are its own, and its next
/// apply, which does not set them, removes them. `[{}]` clears ownership.
#[test]
fn a_client_may_rewrite_managed_fields_and_the_next_apply_drops_what_it_took_over() {
    let cluster = Cluster::start();
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\ndata:\n  a: \"1\"\n";
    let apply = [
        "apply",
        "--server-side",
        "--field-manager",
        "gitops",
        "-f",
        "-",
    ];
    cluster.ok(&apply, Some(config));
    cluster.ok(
        &[
            "patch",
            "configmap",
            "a",
            "-p",
            r#"{"data":{"b":"x"},"metadata":{"annotations":{"note":"by hand"}}}"#,
        ],
        None,
    );
    let get = [
        "get",
        "configmap",
        "a",
        "-o",
        "json",
        "--show-managed-fields",
    ];
    let live: serde_json::Value = serde_json::from_str(&cluster.ok(&get, None)).unwrap();
    let entries = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .clone();
    let managers: Vec<&str> = entries
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["gitops", "kubectl-patch"]);
    let mut mine = entries[0].clone();
    merge_fields(&mut mine["fieldsV1"], &entries[1]["fieldsV1"]);
    let takeover = serde_json::json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": live["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/metadata/managedFields", "value": [mine]},
    ]);
    cluster.ok(
        &[
            "patch",
            "configmap",
            "a",
            "--type=json",
            "-p",
            &takeover.to_string(),
        ],
        None,
    );
    let live: serde_json::Value = serde_json::from_str(&cluster.ok(&get, None)).unwrap();
    let entries = live["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{live:#}");
    assert_eq!(entries[0]["manager"], "gitops");
    assert_eq!(
        entries[0]["fieldsV1"]["f:data"]["f:b"],
        serde_json::json!({})
    );
    // The patch's fields are still there, until the owner applies again.
    assert_eq!(live["data"]["b"], "x");

    cluster.ok(&apply, Some(config));
    let live: serde_json::Value = serde_json::from_str(&cluster.ok(&get, None)).unwrap();
    assert_eq!(live["data"], serde_json::json!({"a": "1"}), "{live:#}");
    assert!(live["metadata"].get("annotations").is_none(), "{live:#}");

    // A stale rewrite is refused like any other write.
    let stale = serde_json::json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/metadata/managedFields", "value": [{}]},
    ]);
    let refused = cluster.kubectl(
        &[
            "patch",
            "configmap",
            "a",
            "--type=json",
            "-p",
            &stale.to_string(),
        ],
        None,
    );
    assert_ne!(refused.code, 0, "{refused:?}");
    let clear = r#"[{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}]"#;
    cluster.ok(
        &["patch", "configmap", "a", "--type=json", "-p", clear],
        None,
    );
    let live: serde_json::Value = serde_json::from_str(&cluster.ok(&get, None)).unwrap();
    assert!(live["metadata"].get("managedFields").is_none(), "{live:#}");
}
