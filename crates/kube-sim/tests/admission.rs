//! Admission webhooks that cannot be called, through the real kubectl:
//! cert-manager v1.18.0's release bundle (`fixtures/cert-manager/`) and
//! an Issuer applied before the webhook's Deployment is Available are
//! refused as a real cluster refuses them, until it is.

use std::path::Path;

mod common;

use common::Cluster;

/// The bundle, with the webhook's Deployment kept unavailable until the
/// annotation is removed.
fn cert_manager() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cert-manager/cert-manager.yaml");
    let bundle = std::fs::read_to_string(path).expect("the cert-manager bundle");
    let webhook =
        "kind: Deployment\nmetadata:\n  name: cert-manager-webhook\n  namespace: cert-manager\n";
    assert_eq!(
        bundle.matches(webhook).count(),
        1,
        "the webhook's Deployment"
    );
    bundle.replace(
        webhook,
        &format!("{webhook}  annotations:\n    kube-sim/never-ready: \"true\"\n"),
    )
}

fn issuer(namespace: &str) -> String {
    format!(
        "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: selfsigned\n  namespace: {namespace}\nspec:\n  selfSigned: {{}}\n"
    )
}

#[test]
fn cert_manager_refuses_an_issuer_until_its_webhook_is_available() {
    let cluster = Cluster::start();
    let out = cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&cert_manager()),
    );
    assert!(
        out.contains("validatingwebhookconfiguration.admissionregistration.k8s.io/cert-manager-webhook serverside-applied"),
        "{out}"
    );
    cluster.ok(&["create", "namespace", "shop"], None);
    let ip = cluster.ok(
        &[
            "get",
            "service",
            "cert-manager-webhook",
            "-n",
            "cert-manager",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        None,
    );
    assert!(ip.starts_with("10.96."), "{ip}");
    let refused = format!(
        "Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": failed to call webhook: Post \"https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s\": dial tcp {ip}:443: connect: connection refused"
    );

    let run = cluster.kubectl(&["create", "-f", "-"], Some(&issuer("shop")));
    eprintln!("kubectl create -f issuer.yaml:\n{}", run.stderr);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        format!("Error from server (InternalError): error when creating \"STDIN\": {refused}"),
        "{run:?}"
    );
    for args in [
        &["create", "-f", "-", "--dry-run=server"][..],
        &["apply", "--server-side", "-f", "-"],
    ] {
        let run = cluster.kubectl(args, Some(&issuer("shop")));
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains("failed calling webhook \"webhook.cert-manager.io\"")
                && run.stderr.contains("connect: connection refused"),
            "{args:?}: {run:?}"
        );
    }
    let none = cluster.kubectl(&["get", "issuer", "selfsigned", "-n", "shop"], None);
    assert!(none.stderr.contains("NotFound"), "{none:?}");
    // What the webhook's rules do not match goes through.
    cluster.ok(&["create", "configmap", "settings", "-n", "shop"], None);
    // Nor does a namespace its namespaceSelector leaves out.
    cluster.ok(&["create", "namespace", "quiet"], None);
    cluster.ok(
        &[
            "label",
            "namespace",
            "quiet",
            "cert-manager.io/disable-validation=true",
        ],
        None,
    );
    cluster.ok(&["create", "-f", "-"], Some(&issuer("quiet")));

    // The webhook's Deployment rolls out; then it answers.
    let webhook = |annotation: &str, condition: &str| {
        let (ns, name) = (["-n", "cert-manager"], "cert-manager-webhook");
        let annotate = ["annotate", "deployment", ns[0], ns[1], name, annotation];
        cluster.ok(&annotate, None);
        let wait = ["wait", condition, "deployment/cert-manager-webhook"];
        cluster.ok(&[&wait[..], &ns, &["--timeout=30s"]].concat(), None);
    };
    webhook("kube-sim/never-ready-", "--for=condition=Available");
    let out = cluster.ok(&["create", "-f", "-"], Some(&issuer("shop")));
    assert_eq!(out.trim(), "issuer.cert-manager.io/selfsigned created");

    // Down again: updates are refused (UPDATE is in its rules), deletes
    // are not.
    webhook(
        "kube-sim/never-ready=true",
        "--for=condition=Available=false",
    );
    let run = cluster.kubectl(
        &["label", "issuer", "selfsigned", "-n", "shop", "a=b"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&refused), "{run:?}");
    cluster.ok(&["delete", "issuer", "selfsigned", "-n", "shop"], None);
}

const GUARD: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: guard}
webhooks:
- name: lenient.guard.example.com
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: ["v1"]
  clientConfig:
    service: {name: guard, namespace: default, path: /lenient}
  rules:
  - {operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*/*"]}
"#;

const STRICT: &str = r#"
- name: strict.guard.example.com
  sideEffects: None
  admissionReviewVersions: ["v1"]
  clientConfig:
    service: {name: guard, namespace: default, path: /strict, port: 8443}
  rules:
  - {operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["secrets"]}
"#;

const MUTATING: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: zz-defaults}
webhooks:
- name: defaults.example.com
  sideEffects: None
  admissionReviewVersions: ["v1"]
  clientConfig:
    service: {name: defaults, namespace: default}
  rules:
  - {operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*/*"]}
"#;

#[test]
fn a_missing_service_is_not_found_and_ignore_never_refuses() {
    let cluster = Cluster::start();
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(GUARD));
    // failurePolicy: Ignore: its Service is missing, everything goes.
    cluster.ok(&["create", "configmap", "a"], None);
    cluster.ok(&["create", "secret", "generic", "a"], None);
    cluster.ok(&["delete", "configmap", "a"], None);

    let guarded = format!("{GUARD}{STRICT}");
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&guarded));
    let run = cluster.kubectl(&["create", "secret", "generic", "b"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: failed to create secret Internal error occurred: failed calling webhook \"strict.guard.example.com\": failed to call webhook: Post \"https://guard.default.svc:8443/strict?timeout=10s\": service \"guard\" not found",
        "{run:?}"
    );
    cluster.ok(&["create", "configmap", "b"], None);

    // Mutating webhooks are called first; none holds back the
    // configurations themselves, so the way out stays open.
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(MUTATING));
    let run = cluster.kubectl(&["create", "secret", "generic", "c"], None);
    assert!(
        run.stderr
            .contains("failed calling webhook \"defaults.example.com\": failed to call webhook: Post \"https://defaults.default.svc:443/?timeout=10s\": service \"defaults\" not found"),
        "{run:?}"
    );
    let run = cluster.kubectl(&["create", "namespace", "x"], None);
    assert!(run.stderr.contains("defaults.example.com"), "{run:?}");
    cluster.ok(
        &["delete", "mutatingwebhookconfiguration", "zz-defaults"],
        None,
    );
    cluster.ok(&["create", "namespace", "x"], None);
    cluster.ok(&["delete", "validatingwebhookconfiguration", "guard"], None);
    cluster.ok(&["create", "secret", "generic", "c"], None);
}
