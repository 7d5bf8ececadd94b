//! Wrong JSON types and unknown fields, as the real kubectl 1.37.1 meets
//! them: refused where the real server refuses them (with its messages),
//! dropped where it drops them.
//!
//! Where the real messages come from:
//! - create/replace of a built-in: the apiserver's `transformDecodeError`
//!   (`<Kind> in version "v1" cannot be handled as a <Kind>: ...`) around
//!   Go's JSON decoder (sigs.k8s.io/json), e.g. from real servers
//!   `ConfigMap in version "v1" cannot be handled as a ConfigMap: json:
//!   cannot unmarshal number into Go struct field ConfigMap.data of type
//!   string` (BorisPolonsky/dify-helm#44, deepfence/ThreatMapper#2331) and
//!   `Deployment in version "v1" cannot be handled as a Deployment: json:
//!   cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
//!   of type int32` (`kubectl apply --dry-run=server` output quoted in
//!   public write-ups);
//! - merge and JSON patches: apiserver `handlers/patch.go`
//!   (`jsonPatcher.applyPatchToCurrentObject`): `errors.NewInvalid(
//!   schema.GroupKind{}, "", field.Invalid("patch", <patched JSON>,
//!   <decode error>))`, which kubectl prints as `The request is invalid:
//!   patch: Invalid value: ...` (kubectl `pkg/cmd/util/helpers.go`);
//! - strategic merge patch: `applyPatchToObject`, the same 422 with the
//!   patch as `%+v` and apimachinery `runtime/converter.go`'s
//!   `fromUnstructured` error (`cannot convert int64 to string`,
//!   `unrecognized type: int32`, kubernetes/kubernetes#73692);
//! - server-side apply: structured-merge-diff `typed/validate.go` and
//!   `helpers.go` under `failed to create typed patch object (ns/name; gvk)`,
//!   e.g. `failed to create typed patch object (flux-system/network-config;
//!   /v1, Kind=ConfigMap): .data.service_ip_range: expected string, got
//!   &value.valueUnstructured{Value:...}` (allenporter/k8s-gitops#1651); a
//!   plain error, so 500 without a reason (`Error from server: ...`,
//!   kubernetes/kubernetes#122480, still open with #139255), and unknown
//!   fields are refused whatever `fieldValidation` says (#105916: "Apply
//!   Patch requests already require strict schemas");
//! - custom resources: the structural schema's validation, `The Pooler
//!   "pooler-example-rw" is invalid: spec...cpu: Invalid value: "number":
//!   spec...cpu in body must be of type integer: "number"`
//!   (cloudnative-pg/cloudnative-pg#1572).

mod common;

use common::Cluster;

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {a: 1}\n";

fn deployment(replicas: &str, port: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        ports:\n        - containerPort: {port}\n"
    )
}

#[track_caller]
fn refused(run: &common::Run, message: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(message), "wanted {message}\n{run:?}");
}

#[test]
fn a_configmap_of_numbers_is_refused_by_every_write() {
    let cluster = Cluster::start();
    let decoded = "Error from server (BadRequest): error when creating \"STDIN\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string";
    for args in [
        &["create", "-f", "-"][..],
        &["create", "--validate=false", "-f", "-"],
        &["apply", "-f", "-"],
        &["apply", "--validate=warn", "-f", "-"],
    ] {
        refused(&cluster.kubectl(args, Some(CONFIGMAP)), decoded);
    }
    for args in [
        &["apply", "--server-side", "-f", "-"][..],
        &["apply", "--server-side", "--validate=false", "-f", "-"],
    ] {
        refused(
            &cluster.kubectl(args, Some(CONFIGMAP)),
            "Error from server: failed to create typed patch object (default/cm; /v1, Kind=ConfigMap): .data.a: expected string, got &value.valueUnstructured{Value:1}",
        );
    }
    let labels = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default, labels: {x: true}}\n";
    refused(
        &cluster.kubectl(&["create", "-f", "-"], Some(labels)),
        "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
    );
    let gone = cluster.kubectl(&["get", "configmap", "cm"], None);
    assert!(
        gone.stderr.contains("configmaps \"cm\" not found"),
        "{gone:?}"
    );

    // Once it exists, patches that would break it are refused.
    cluster.ok(
        &["apply", "-f", "-"],
        Some(&CONFIGMAP.replace("a: 1", "a: \"1\"")),
    );
    refused(
        &cluster.kubectl(&["apply", "-f", "-"], Some(CONFIGMAP)),
        "cannot convert int64 to string",
    );
    refused(
        &cluster.kubectl(
            &[
                "patch",
                "configmap",
                "cm",
                "--type=strategic",
                "-p",
                r#"{"data":{"a":1}}"#,
            ],
            None,
        ),
        "The request is invalid: patch: Invalid value: \"map[data:map[a:1]]\": cannot convert int64 to string",
    );
    let merge = cluster.kubectl(
        &[
            "patch",
            "configmap",
            "cm",
            "--type=merge",
            "-p",
            r#"{"data":{"a":1}}"#,
        ],
        None,
    );
    refused(&merge, "The request is invalid: patch: Invalid value: \"{");
    refused(
        &merge,
        "\": json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
    );
    refused(
        &cluster.kubectl(
            &[
                "patch",
                "configmap",
                "cm",
                "--type=json",
                "-p",
                r#"[{"op":"replace","path":"/data/a","value":1}]"#,
            ],
            None,
        ),
        "\": json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
    );
    let a = cluster.ok(
        &["get", "configmap", "cm", "-o", "jsonpath={.data.a}"],
        None,
    );
    assert_eq!(a, "1");
}

#[test]
fn a_deployment_with_quoted_numbers_is_refused_naming_the_field() {
    let cluster = Cluster::start();
    refused(
        &cluster.kubectl(&["create", "-f", "-"], Some(&deployment("\"3\"", "80"))),
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    );
    refused(
        &cluster.kubectl(&["apply", "-f", "-"], Some(&deployment("3", "\"80\""))),
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
    );
    refused(
        &cluster.kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&deployment("\"3\"", "80")),
        ),
        "Error from server: failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string",
    );
    refused(
        &cluster.kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&deployment("3", "\"80\"")),
        ),
        ".spec.template.spec.containers[name=\"web\"].ports[containerPort=\"80\",protocol=\"TCP\"].containerPort: expected numeric (int or float), got string",
    );

    cluster.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&deployment("3", "80")),
    );
    refused(
        &cluster.kubectl(
            &[
                "patch",
                "deployment",
                "web",
                "--type=strategic",
                "-p",
                r#"{"spec":{"replicas":"1"}}"#,
            ],
            None,
        ),
        "The request is invalid: patch: Invalid value: \"map[spec:map[replicas:1]]\": unrecognized type: int32",
    );
    refused(
        &cluster.kubectl(
            &[
                "patch",
                "deployment",
                "web",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":"1"}}"#,
            ],
            None,
        ),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    );
    let replicas = cluster.ok(
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        None,
    );
    assert_eq!(replicas, "3");
}

#[test]
fn unknown_fields_of_builtins_are_dropped_unless_refused() {
    let cluster = Cluster::start();
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loose, namespace: default, colour: red}\nspec: {x: 1}\ndata: {a: b}\n";
    // --validate=false is fieldValidation=Ignore: taken, without them.
    cluster.ok(&["create", "--validate=false", "-f", "-"], Some(extra));
    let stored = cluster.ok(&["get", "configmap", "loose", "-o", "json"], None);
    assert!(
        !stored.contains("\"spec\"") && !stored.contains("colour"),
        "{stored}"
    );
    assert!(stored.contains("\"a\": \"b\""), "{stored}");

    // --validate=warn: a warning per field, and dropped.
    let typo = deployment("1", "80").replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 2\n");
    let run = cluster.kubectl(&["apply", "--validate=warn", "-f", "-"], Some(&typo));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("Warning: unknown field \"spec.replicaz\""),
        "{run:?}"
    );
    let stored = cluster.ok(
        &["get", "deployment", "web", "-o", "jsonpath={.spec}"],
        None,
    );
    assert!(
        !stored.contains("replicaz") && stored.contains("replicas"),
        "{stored}"
    );
    // kubectl patch sends no fieldValidation: Warn, the server's default,
    // and dropped.
    let run = cluster.kubectl(
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicaz":4}}"#,
            "-v=6",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("PATCH") && !run.stderr.contains("fieldValidation"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("Warning: unknown field \"spec.replicaz\""),
        "{run:?}"
    );
    let stored = cluster.ok(
        &["get", "deployment", "web", "-o", "jsonpath={.spec}"],
        None,
    );
    assert!(
        !stored.contains("replicaz") && stored.contains("replicas"),
        "{stored}"
    );
    // Strict (kubectl's default) refuses it.
    refused(
        &cluster.kubectl(&["apply", "-f", "-"], Some(&typo)),
        "strict decoding error: unknown field \"spec.replicaz\"",
    );
    // Server-side apply refuses unknown fields whatever fieldValidation says.
    for validate in ["--validate=false", "--validate=warn"] {
        refused(
            &cluster.kubectl(
                &["apply", "--server-side", validate, "-f", "-"],
                Some(&typo),
            ),
            "Error from server: failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicaz: field not declared in schema",
        );
    }
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
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
              color: {type: string}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(spec: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w, namespace: default}}\nspec: {spec}\n"
    )
}

#[test]
fn custom_resources_are_checked_against_their_structural_schema() {
    let cluster = Cluster::start();
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(CRD));
    cluster.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
        ],
        None,
    );
    let invalid = "The Widget \"w\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"";
    for args in [
        &["create", "-f", "-"][..],
        &["create", "--validate=false", "-f", "-"],
        &["apply", "-f", "-"],
    ] {
        refused(
            &cluster.kubectl(args, Some(&widget("{size: big}"))),
            invalid,
        );
    }
    refused(
        &cluster.kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&widget("{size: big}")),
        ),
        "Error from server: failed to create typed patch object (default/w; example.com/v1, Kind=Widget): .spec.size: expected numeric (int or float), got string",
    );

    // Unknown fields are pruned (--validate=false), except where the
    // schema preserves them.
    cluster.ok(
        &["create", "--validate=false", "-f", "-"],
        Some(&widget("{size: 2, colour: red, extra: {anything: [1, 2]}}")),
    );
    let stored = cluster.ok(&["get", "widget", "w", "-o", "json"], None);
    assert!(!stored.contains("colour"), "{stored}");
    assert!(stored.contains("anything"), "{stored}");
    refused(
        &cluster.kubectl(
            &[
                "patch",
                "widget",
                "w",
                "--type=merge",
                "-p",
                r#"{"spec":{"size":"big"}}"#,
            ],
            None,
        ),
        invalid,
    );
    let size = cluster.ok(&["get", "widget", "w", "-o", "jsonpath={.spec.size}"], None);
    assert_eq!(size, "2");
}
