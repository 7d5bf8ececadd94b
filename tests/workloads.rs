//! The Kubernetes layer against kube-sim (HTTPS, bearer token), with the
//! real kubectl as the other client: converge, prune, drift, conflicts,
//! health, faults and secrets.

use std::path::Path;

use crate::support::{Cluster, Repo, Strata, copy_dir};

const HCL: &str = r#"workload "apps" {
  path      = "k8s/apps"
  namespace = "apps"
  timeout   = "20s"
}
"#;

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
"#;

/// A repository with one workload "apps" in namespace "apps".
fn repo(files: &[(&str, &str)]) -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", HCL);
    repo.write("k8s/apps/namespace.yaml", NAMESPACE);
    for (path, text) in files {
        repo.write(path, text);
    }
    repo.commit("manifests");
    repo
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

fn workload(report: &serde_json::Value) -> &serde_json::Value {
    &report["workloads"][0]
}

fn actions(report: &serde_json::Value) -> Vec<String> {
    workload(report)["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            format!(
                "{} {}/{}",
                c["action"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_example_repository_converges_in_one_run_and_then_has_no_changes() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    copy_dir(&crate::support::example_dir(), repo.path());
    repo.commit("example");

    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    assert_eq!(workload(&report)["status"], "changes");
    // The endpoint only exists once the database stack is applied.
    assert!(plan.stdout.contains("known after apply"), "{plan:?}");

    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains(
            "Workload apps (k8s/apps)\n    + CustomResourceDefinition/widgets.example.strata.dev"
        ),
        "{apply:?}"
    );
    let config = cluster.get(&["configmap", "web-config", "-n", "apps"]);
    let endpoint = config["data"]["DATABASE_ENDPOINT"].as_str().unwrap();
    assert!(endpoint.ends_with(".eu-west-1.internal:5432"), "{endpoint}");
    assert_eq!(config["metadata"]["labels"]["strata.dev/workload"], "apps");
    let commit = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        config["metadata"]["annotations"]["strata.dev/commit"],
        commit
    );
    let widget = cluster.get(&["widgets", "front-door", "-n", "apps"]);
    assert_eq!(widget["spec"]["size"], 3);
    let deployment = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_eq!(deployment["status"]["availableReplicas"], 2);
    // The outputs block: plain outputs in a ConfigMap, sensitive ones in a
    // Secret, carried by the workload that creates their namespace.
    let outputs = cluster.get(&["configmap", "database-outputs", "-n", "apps"]);
    assert_eq!(outputs["data"]["endpoint"].as_str(), Some(endpoint));
    assert_eq!(outputs["data"]["engine_version"], "16.4");
    assert!(outputs["data"].get("password").is_none(), "{outputs}");
    assert_eq!(
        outputs["metadata"]["annotations"]["strata.dev/outputs-of"],
        "database"
    );
    let secret = cluster.get(&["secret", "database-secrets", "-n", "apps"]);
    assert!(secret["data"]["password"].is_string(), "{secret}");

    let again = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(workload(&again.json())["status"], "in_sync");
    assert_eq!(workload(&again.json())["unchanged"], 8);
    let second = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.contains("No changes (8 object(s) in sync)."),
        "{second:?}"
    );
}

#[test]
fn the_podinfo_production_overlay_converges_with_kubectl_kustomize() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    copy_dir(
        &fixtures().join("podinfo/deploy"),
        &repo.path().join("deploy"),
    );
    repo.write(
        "strata.hcl",
        "workload \"podinfo\" {\n  path = \"deploy/overlays/production\"\n  timeout = \"30s\"\n}\n",
    );
    repo.commit("podinfo");

    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let report = apply.json();
    assert_eq!(workload(&report)["status"], "applied");
    let created = actions(&report);
    assert!(
        created.contains(&"create Namespace/production".to_owned()),
        "{created:?}"
    );
    assert!(
        created.contains(&"create Deployment/frontend".to_owned()),
        "{created:?}"
    );
    assert!(
        created.iter().all(|a| a.starts_with("create ")),
        "{created:?}"
    );
    let frontend = cluster.get(&["deployment", "frontend", "-n", "production"]);
    assert_eq!(
        frontend["metadata"]["labels"]["strata.dev/workload"],
        "podinfo"
    );

    let again = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(workload(&again.json())["changes"], serde_json::json!([]));
}

#[test]
fn an_object_removed_from_git_is_pruned_after_approval_and_nothing_else() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[
        ("k8s/apps/a.yaml", &config_map("a", "1")),
        ("k8s/apps/b.yaml", &config_map("b", "1")),
        (
            "k8s/apps/keep.yaml",
            &format!(
                "{}  annotations:\n    strata.dev/prune: disabled\n",
                config_map("keep", "1").replace("data:\n  value: \"1\"\n", "")
            ),
        ),
    ]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    // Someone copies strata's label onto an object of their own.
    let theirs = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: apps\n  labels:\n    strata.dev/workload: apps\n";
    let created = cluster.kubectl_in(&["create", "-f", "-"], Some(theirs));
    assert_eq!(created.code, 0, "{created:?}");

    repo.remove("k8s/apps/b.yaml").remove("k8s/apps/keep.yaml");
    repo.commit("drop b and keep");
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    assert_eq!(actions(&report), ["prune ConfigMap/b"]);
    assert_eq!(workload(&report)["changes"][0]["destructive"], true);
    assert_eq!(
        workload(&report)["kept"][0]["object"],
        "ConfigMap/apps/keep"
    );

    // Without a terminal and without --auto-approve: nothing is deleted.
    let refused = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stdout.contains("prune  ConfigMap/apps/b"),
        "{refused:?}"
    );
    assert!(cluster.exists(&["configmap", "b", "-n", "apps"]));
    let id = refused
        .stderr
        .split("strata approve ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("run id in the hint")
        .trim_end_matches('`')
        .to_owned();
    assert_eq!(strata.kube(&repo, &cluster, &["approve", &id]).code, 0);
    let applied = strata.kube(&repo, &cluster, &["apply", "--run", &id]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(!cluster.exists(&["configmap", "b", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "a", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "keep", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "theirs", "-n", "apps"]));

    let audit = strata.audit();
    assert!(
        audit
            .iter()
            .any(|d| d["decision"] == "approved" && d["run_id"] == id),
        "{audit:?}"
    );
    let again = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(again.code, 0, "{again:?}");
}

#[test]
fn emptying_a_workload_prunes_nothing_without_allow_empty_prune() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/a.yaml", &config_map("a", "1"))]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    repo.remove("k8s/apps/a.yaml")
        .remove("k8s/apps/namespace.yaml");
    repo.write("k8s/apps/README.md", "moved elsewhere\n");
    repo.commit("empty the workload");

    let refused = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stdout
            .contains("every object it applied would be deleted"),
        "{refused:?}"
    );
    assert!(cluster.exists(&["configmap", "a", "-n", "apps"]));
    assert!(cluster.exists(&["namespace", "apps"]));

    let allowed = strata.kube(
        &repo,
        &cluster,
        &[
            "apply",
            "--auto-approve",
            "--allow-empty-prune",
            "--format",
            "json",
        ],
    );
    assert_eq!(allowed.code, 0, "{allowed:?}");
    let mut pruned = actions(&allowed.json());
    pruned.sort();
    assert_eq!(pruned, ["prune ConfigMap/a", "prune Namespace/apps"]);
    assert!(!cluster.exists(&["configmap", "a", "-n", "apps"]));
}

#[test]
fn an_out_of_band_edit_is_drift_and_apply_restores_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/web.yaml", DEPLOYMENT)]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);

    let patched = cluster.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "apps",
        "-p",
        r#"{"spec":{"replicas":5}}"#,
    ]);
    assert_eq!(patched.code, 0, "{patched:?}");
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout.contains(
            "~ Deployment/apps/web  drift; changed outside strata by kubectl-patch\n          ~ spec.replicas: 5 → 2  (set by kubectl-patch)"
        ),
        "{plan:?}"
    );
    let json = strata
        .kube(&repo, &cluster, &["plan", "--format", "json"])
        .json();
    assert_eq!(workload(&json)["changes"][0]["drift"], true);

    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_eq!(live["spec"]["replicas"], 2);
    assert_eq!(strata.kube(&repo, &cluster, &["plan"]).code, 0);
}

#[test]
fn a_conflicting_field_manager_is_named_and_force_conflicts_takes_over() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/a.yaml", &config_map("a", "from-git"))]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    // Another declarative owner applies the same field with a value of
    // its own.
    let theirs = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: apps\ndata:\n  value: other\n";
    let applied = cluster.kubectl_in(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "team-b",
            "-f",
            "-",
        ],
        Some(theirs),
    );
    assert_eq!(applied.code, 0, "{applied:?}");

    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(plan.stdout.contains("team-b"), "{plan:?}");
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains("another field manager (team-b) owns these fields"),
        "{apply:?}"
    );
    assert!(apply.stdout.contains("--force-conflicts"), "{apply:?}");
    assert_eq!(
        cluster.get(&["configmap", "a", "-n", "apps"])["data"]["value"],
        "other"
    );

    let forced = strata.kube(&repo, &cluster, &["apply", "--force-conflicts"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    let live = cluster.get(&["configmap", "a", "-n", "apps", "--show-managed-fields"]);
    assert_eq!(live["data"]["value"], "from-git");
    let owners: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:data"].get("f:value").is_some())
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["strata"]);
}

#[test]
fn the_flux_crd_and_its_custom_resource_converge_in_one_run() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let crd = std::fs::read_to_string(
        fixtures().join("crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    )
    .unwrap();
    let cr = std::fs::read_to_string(fixtures().join("crds/example-kustomization.yaml")).unwrap();
    let flux_ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n";
    let repo = repo(&[
        ("k8s/apps/crd.yaml", &crd),
        ("k8s/apps/flux-system.yaml", flux_ns),
        ("k8s/apps/kustomization-cr.yaml", &cr),
    ]);
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let name = cr
        .lines()
        .skip_while(|l| !l.starts_with("metadata:"))
        .find_map(|l| l.trim().strip_prefix("name: "))
        .unwrap()
        .trim()
        .to_owned();
    let ns = cr
        .lines()
        .find_map(|l| l.trim().strip_prefix("namespace: "))
        .unwrap_or("apps")
        .trim()
        .to_owned();
    assert!(cluster.exists(&[
        "kustomizations.kustomize.toolkit.fluxcd.io",
        &name,
        "-n",
        &ns
    ]));
    assert_eq!(strata.kube(&repo, &cluster, &["plan"]).code, 0);
}

#[test]
fn kinds_the_cluster_does_not_know_fail_validation_and_nothing_is_written() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    copy_dir(
        &fixtures().join("podinfo/deploy/secure"),
        &repo.path().join("secure"),
    );
    repo.write(
        "strata.hcl",
        "workload \"secure\" {\n  path = \"secure\"\n}\n",
    );
    repo.commit("secure");

    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stdout.contains("secure/common/cluster-issuer.yaml:")
            && apply
                .stdout
                .contains("the cluster does not serve cert-manager.io/v1 (kind ClusterIssuer)"),
        "{apply:?}"
    );
    assert!(
        apply.stdout.contains("secure/frontend/certificate.yaml:"),
        "{apply:?}"
    );
    assert!(!cluster.exists(&["namespace", "secure"]));
    let namespaces = cluster.get(&["namespaces"]);
    let names: Vec<&str> = namespaces["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"strata-system"), "{names:?}");
}

#[test]
fn a_deployment_that_never_becomes_ready_times_out_and_is_named() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let stuck = DEPLOYMENT.replace(
        "  name: web\n",
        "  name: web\n  annotations:\n    kube-sim/never-ready: \"true\"\n",
    );
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  timeout = \"2s\"\n}\n",
    );
    repo.write("k8s/apps/namespace.yaml", NAMESPACE);
    repo.write("k8s/apps/web.yaml", &stuck);
    repo.commit("stuck");
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stdout.contains("Not ready:\n    Deployment/apps/web: 0 of 2 replicas available, 2 updated (Available=False: MinimumReplicasUnavailable"),
        "{apply:?}"
    );
    assert!(
        apply.stdout.contains("1 object(s) not ready within 2s"),
        "{apply:?}"
    );
}

#[test]
fn with_a_fifth_of_requests_failing_apply_still_converges() {
    let cluster = Cluster::with(|o| {
        o.faults = kube_sim::faults::parse("rate=0.2,codes=500+503+429").unwrap();
        o.seed = Some(7);
    });
    let strata = Strata::new();
    let mut files: Vec<(String, String)> = (0..20)
        .map(|i| {
            (
                format!("k8s/apps/cm-{i}.yaml"),
                config_map(&format!("cm-{i}"), "1"),
            )
        })
        .collect();
    files.push(("k8s/apps/web.yaml".to_owned(), DEPLOYMENT.to_owned()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let repo = repo(&refs);
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(workload(&plan.json())["unchanged"], 22);
}

#[test]
fn an_unreachable_cluster_is_an_error_before_anything_is_planned() {
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/a.yaml", &config_map("a", "1"))]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = crate::support::unreachable_kubeconfig(dir.path());
    let run = strata.on(
        &repo,
        &["apply", "--kubeconfig", kubeconfig.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot reach the cluster of context \"gone\" at http://127.0.0.1:9/"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty(), "{run:?}");

    let missing = strata.on(&repo, &["plan", "--context", "nope"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("no kubeconfig found"),
        "{missing:?}"
    );
}

#[test]
fn bad_manifests_and_references_name_the_file_and_change_nothing() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[
        ("k8s/apps/a.yaml", &config_map("a", "${stack.db.endpoint}")),
        (
            "k8s/apps/broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
        ),
        (
            "k8s/apps/twice.yaml",
            &format!("{}---\n{}", config_map("c", "1"), config_map("c", "2")),
        ),
    ]);
    let run = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("k8s/apps/broken.yaml:4 (document 1): invalid YAML"),
        "{run:?}"
    );
    assert!(!cluster.exists(&["namespace", "apps"]));

    repo.remove("k8s/apps/broken.yaml");
    repo.commit("fix the YAML");
    let run = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "k8s/apps/a.yaml (document 1): ${stack.db.endpoint}: there is no stack \"db\" with outputs: it is not in strata.hcl, or it has not been applied yet"
        ),
        "{run:?}"
    );

    repo.write("k8s/apps/a.yaml", &config_map("a", "$${stack.db.endpoint}"));
    repo.commit("escape it");
    let run = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "ConfigMap/apps/c is defined twice; first in k8s/apps/twice.yaml (document 1)"
        ),
        "{run:?}"
    );
    repo.remove("k8s/apps/twice.yaml");
    repo.commit("once");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    assert_eq!(
        cluster.get(&["configmap", "a", "-n", "apps"])["data"]["value"],
        "${stack.db.endpoint}"
    );
}

#[test]
fn an_immutable_field_change_recreates_only_when_allowed_and_approved() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/web.yaml", DEPLOYMENT)]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let uid = cluster.get(&["deployment", "web", "-n", "apps"])["metadata"]["uid"].clone();

    let moved = DEPLOYMENT.replace("{app: web}", "{app: web2}");
    repo.write("k8s/apps/web.yaml", &moved);
    repo.commit("new selector");
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(plan.stdout.contains("field is immutable"), "{plan:?}");
    assert!(
        plan.stdout.contains("strata.dev/recreate: allowed"),
        "{plan:?}"
    );

    let allowed = moved.replace(
        "  name: web\n",
        "  name: web\n  annotations:\n    strata.dev/recreate: allowed\n",
    );
    repo.write("k8s/apps/web.yaml", &allowed);
    repo.commit("allow recreate");
    let plan = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(plan.code, 3, "{plan:?}");
    assert!(
        plan.stdout.contains("recreate  Deployment/apps/web"),
        "{plan:?}"
    );
    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_ne!(live["metadata"]["uid"], uid);
    assert_eq!(live["spec"]["selector"]["matchLabels"]["app"], "web2");
}

#[test]
fn waves_order_the_writes_and_an_annotation_overrides_them() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let first = format!(
        "{}  annotations:\n    strata.dev/wave: \"-1\"\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n  namespace: default\n"
    );
    // Argo CD's annotation counts when strata's is absent.
    let earliest = format!(
        "{}  annotations:\n    argocd.argoproj.io/sync-wave: \"-5\"\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: earliest\n  namespace: default\n"
    );
    let repo = repo(&[
        ("k8s/apps/0-web.yaml", DEPLOYMENT),
        ("k8s/apps/1-config.yaml", &config_map("config", "1")),
        ("k8s/apps/2-first.yaml", &first),
        ("k8s/apps/3-earliest.yaml", &earliest),
    ]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let version = |args: &[&str]| -> u64 {
        cluster.get(args)["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = version(&["configmap", "first", "-n", "default"]);
    let namespace = version(&["namespace", "apps"]);
    let config = version(&["configmap", "config", "-n", "apps"]);
    // The rollout controller bumps it later too, which keeps the order.
    let web = version(&["deployment", "web", "-n", "apps"]);
    assert!(first < namespace, "{first} < {namespace}");
    assert!(namespace < config, "{namespace} < {config}");
    assert!(config < web, "{config} < {web}");
    let earliest = version(&["configmap", "earliest", "-n", "default"]);
    assert!(earliest < first, "{earliest} < {first}");
}

#[test]
fn an_object_moved_to_another_workload_is_handed_over_not_pruned() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n}\n\nworkload \"web\" {\n  path = \"k8s/web\"\n  namespace = \"apps\"\n  depends_on = [\"apps\"]\n}\n",
    );
    repo.write("k8s/apps/namespace.yaml", NAMESPACE)
        .write("k8s/apps/shared.yaml", &config_map("shared", "1"))
        .write("k8s/web/own.yaml", &config_map("own", "1"));
    repo.commit("two workloads");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let uid = cluster.get(&["configmap", "shared", "-n", "apps"])["metadata"]["uid"].clone();

    repo.remove("k8s/apps/shared.yaml");
    repo.write("k8s/web/shared.yaml", &config_map("shared", "1"));
    repo.commit("move shared to web");
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    assert_eq!(
        report["workloads"][0]["changes"],
        serde_json::json!([]),
        "{report:#}"
    );
    assert_eq!(
        report["workloads"][0]["kept"][0]["why"],
        "it is now defined by workload \"web\""
    );
    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let live = cluster.get(&["configmap", "shared", "-n", "apps"]);
    assert_eq!(live["metadata"]["uid"], uid);
    assert_eq!(live["metadata"]["labels"]["strata.dev/workload"], "web");

    // Defined by both at once: an error, nothing applied.
    repo.write("k8s/apps/shared.yaml", &config_map("shared", "2"));
    repo.commit("both");
    let twice = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(twice.code, 1, "{twice:?}");
    assert!(
        twice
            .stdout
            .contains("ConfigMap/apps/shared is also defined by workload \"web\""),
        "{twice:?}"
    );
    assert_eq!(
        cluster.get(&["configmap", "shared", "-n", "apps"])["data"]["value"],
        "1"
    );
}

#[test]
fn an_object_that_existed_before_strata_is_adopted_and_never_pruned() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    assert_eq!(
        cluster
            .kubectl_in(&["create", "-f", "-"], Some(NAMESPACE))
            .code,
        0
    );
    let before = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: before\n  namespace: apps\ndata:\n  value: \"theirs\"\n";
    assert_eq!(
        cluster
            .kubectl_in(&["create", "-f", "-"], Some(before))
            .code,
        0
    );
    let repo = repo(&[
        ("k8s/apps/before.yaml", &config_map("before", "ours")),
        ("k8s/apps/new.yaml", &config_map("new", "1")),
    ]);
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(
        cluster.get(&["configmap", "before", "-n", "apps"])["data"]["value"],
        "ours"
    );

    repo.remove("k8s/apps/before.yaml")
        .remove("k8s/apps/new.yaml")
        .remove("k8s/apps/namespace.yaml");
    repo.write("k8s/apps/other.yaml", &config_map("other", "1"));
    repo.commit("everything goes");
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    let report = plan.json();
    let mut kept: Vec<String> = workload(&report)["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "{} ({})",
                k["object"].as_str().unwrap(),
                k["why"].as_str().unwrap()
            )
        })
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "ConfigMap/apps/before (it existed before strata applied it, and strata never deletes what it did not create)",
            "Namespace/apps (it existed before strata applied it, and strata never deletes what it did not create)",
        ]
    );
    assert_eq!(
        actions(&report),
        ["create ConfigMap/other", "prune ConfigMap/new"]
    );
    // Nothing applied before is left in Git: a person must approve.
    let refused = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    let applied = strata.kube(
        &repo,
        &cluster,
        &["apply", "--auto-approve", "--allow-empty-prune"],
    );
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(cluster.exists(&["configmap", "before", "-n", "apps"]));
    assert!(cluster.exists(&["namespace", "apps"]));
    assert!(!cluster.exists(&["configmap", "new", "-n", "apps"]));
}

/// A prune at a real terminal (tmux): the prompt lists it with its reason;
/// `no` keeps the object, `yes` deletes it.
#[test]
fn a_prune_is_asked_for_at_the_prompt() {
    use crate::support::Terminal;
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&[
        ("k8s/apps/a.yaml", &config_map("a", "1")),
        ("k8s/apps/b.yaml", &config_map("b", "1")),
    ]);
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    repo.remove("k8s/apps/b.yaml");
    repo.commit("drop b");
    let kubeconfig = cluster.kubeconfig();
    let args = ["apply", "--kubeconfig", kubeconfig.to_str().unwrap()];

    let terminal = Terminal::start(&strata, &repo, &args);
    let screen = terminal.wait_for("Enter a value:");
    assert!(
        screen.contains("    - ConfigMap/apps/b  prune; no longer in Git  DESTRUCTIVE"),
        "{screen}"
    );
    assert!(
        screen.contains("Needs approval (1):\n  apps  prune  ConfigMap/apps/b  no longer in Git"),
        "{screen}"
    );
    assert!(
        screen.contains("1 destructive change(s): delete, replace, forget, prune or recreate."),
        "{screen}"
    );
    terminal.keys(&["no", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 3, "{screen}");
    assert!(cluster.exists(&["configmap", "b", "-n", "apps"]));

    let terminal = Terminal::start(&strata, &repo, &args);
    terminal.wait_for("Enter a value:");
    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert!(!cluster.exists(&["configmap", "b", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "a", "-n", "apps"]));
}

/// kubectl's rules: the files in KUBECONFIG merged (a missing one
/// skipped), their current-context unless --context names another.
#[test]
fn kubeconfig_files_merge_as_kubectl_does_and_context_picks_the_cluster() {
    let (a, b) = (Cluster::start(), Cluster::start());
    let renamed = |cluster: &Cluster, name: &str, current: bool| {
        let mut config = cluster.sim.sim().kubeconfig();
        config["clusters"][0]["name"] = name.into();
        config["users"][0]["name"] = name.into();
        config["contexts"][0]["name"] = name.into();
        config["contexts"][0]["context"]["cluster"] = name.into();
        config["contexts"][0]["context"]["user"] = name.into();
        if current {
            config["current-context"] = name.into();
        } else {
            config.as_object_mut().unwrap().remove("current-context");
        }
        let path = a.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, config.to_string()).unwrap();
        path
    };
    let (file_a, file_b) = (renamed(&a, "a", true), renamed(&b, "b", false));
    let missing = a.dir.path().join("missing");
    let list = std::env::join_paths([&file_a, &missing, &file_b]).unwrap();
    let strata = Strata::new();
    let repo = repo(&[("k8s/apps/a.yaml", &config_map("a", "1"))]);
    let path = repo.path().to_str().unwrap().to_owned();

    let run: crate::support::Run = strata
        .command(&["apply", "--repo", &path])
        .env("KUBECONFIG", &list)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(a.exists(&["configmap", "a", "-n", "apps"]));
    assert!(!b.exists(&["namespace", "apps"]));

    let run: crate::support::Run = strata
        .command(&["apply", "--repo", &path, "--context", "b"])
        .env("KUBECONFIG", &list)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(b.exists(&["configmap", "a", "-n", "apps"]));

    let run: crate::support::Run = strata
        .command(&["plan", "--repo", &path, "--context", "c"])
        .env("KUBECONFIG", &list)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("no context \"c\"; the contexts are: a, b"),
        "{run:?}"
    );
}

/// metrics-server down, as in many clusters: its APIService is registered
/// and its Service has no ready endpoints, so its group answers 503. Only
/// a manifest of that group fails, saying so; the other workloads plan.
#[test]
fn an_aggregated_api_that_is_down_fails_only_the_manifests_of_its_group() {
    let cluster = Cluster::start();
    let registered = cluster.kubectl_in(
        &["apply", "--server-side", "-f", "-"],
        Some(
            "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.metrics.k8s.io}\nspec:\n  group: metrics.k8s.io\n  version: v1beta1\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  insecureSkipTLSVerify: true\n  service: {name: metrics-server, namespace: kube-system}\n",
        ),
    );
    assert_eq!(registered.code, 0, "{registered:?}");
    let down = cluster.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1"]);
    assert_ne!(down.code, 0, "the group answers 503: {down:?}");

    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path      = \"k8s/apps\"\n  namespace = \"default\"\n}\n\nworkload \"metrics\" {\n  path      = \"k8s/metrics\"\n  namespace = \"default\"\n}\n",
    )
    .write("k8s/apps/cm.yaml", &config_map("a", "1"))
    .write(
        "k8s/metrics/pod-metrics.yaml",
        "apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetrics\nmetadata:\n  name: web\n",
    );
    repo.commit("a workload, and one of the group that is down");
    let strata = Strata::new();
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    let report = plan.json();
    let by_name = |name: &str| {
        report["workloads"]
            .as_array()
            .expect("workloads")
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no workload {name}: {report:#}"))
            .clone()
    };
    assert_eq!(by_name("apps")["status"], "changes", "{report:#}");
    let metrics = by_name("metrics");
    assert_eq!(metrics["status"], "error", "{report:#}");
    let text = strata.kube(&repo, &cluster, &["plan"]);
    assert!(
        text.stdout.contains("k8s/metrics/pod-metrics.yaml:1")
            && text.stdout.contains(
                "the cluster lists metrics.k8s.io/v1beta1 (kind PodMetrics) but cannot serve it now"
            ),
        "{text:?}"
    );
}

/// cert-manager's release bundle and an Issuer in one workload, as people
/// install them. The Issuer's write is refused while the webhook's
/// Deployment is not available ("failed calling webhook …"); strata waits
/// for the webhook within the workload's timeout, says so, and converges
/// once it is up.
#[test]
fn a_webhook_that_is_not_ready_yet_is_waited_for_and_the_workload_converges() {
    use std::io::BufReader;
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/kube-sim/fixtures/cert-manager/cert-manager.yaml");
    repo.write(
        "strata.hcl",
        "workload \"cert-manager\" {\n  path = \"k8s\"\n  timeout = \"3m\"\n}\n",
    )
    .write(
        "k8s/cert-manager.yaml",
        &std::fs::read_to_string(bundle).unwrap(),
    )
    // kube-sim keeps a Deployment so annotated unavailable: the webhook is
    // down until the test lets it come up.
    .write(
        "k8s/kustomization.yaml",
        r#"resources: [cert-manager.yaml, issuer.yaml]
patches:
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: cert-manager-webhook
        namespace: cert-manager
        annotations:
          kube-sim/never-ready: "true"
"#,
    )
    // After the webhook configurations (wave 3), as people order them.
    .write(
        "k8s/issuer.yaml",
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: selfsigned
  namespace: apps
  annotations:
    strata.dev/wave: "4"
spec:
  selfSigned: {}
"#,
    );
    repo.commit("cert-manager and an issuer");

    let kubeconfig = cluster.kubeconfig();
    let mut child = strata.spawn(
        &repo,
        &[
            "apply",
            "--auto-approve",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let waiting = crate::support::read_until_containing(
        &mut stderr,
        "waiting for an admission webhook that is not ready",
    );
    assert!(
        waiting.contains("Issuer/apps/selfsigned")
            && waiting.contains("failed calling webhook \"webhook.cert-manager.io\""),
        "{waiting}"
    );
    eprintln!("{}", waiting.lines().last().unwrap_or_default());
    // The real kubectl is refused the same way meanwhile.
    let refused = cluster.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "someone",
        "--dry-run=server",
        "-f",
        repo.path().join("k8s/issuer.yaml").to_str().unwrap(),
    ]);
    assert!(refused.stderr.contains("connection refused"), "{refused:?}");
    // A plan meanwhile (another state directory: the apply holds its
    // own) cannot dry-run the Issuer, and says why, without failing: the
    // apply waits for the webhook.
    let other = Strata::new();
    let plan = other.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout.contains("+ Issuer/apps/selfsigned")
            && plan
                .stdout
                .contains("not dry-run: Internal error occurred: failed calling webhook")
            && plan.stdout.contains("applied once the webhook answers"),
        "{plan:?}"
    );
    // The webhook comes up.
    let up = cluster.kubectl(&[
        "annotate",
        "deployment",
        "cert-manager-webhook",
        "-n",
        "cert-manager",
        "kube-sim/never-ready-",
    ]);
    assert_eq!(up.code, 0, "{up:?}");
    let rest = std::io::read_to_string(stderr).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{waiting}{rest}");
    let issuer = cluster.get(&["issuer", "selfsigned", "-n", "apps"]);
    assert_eq!(issuer["spec"], serde_json::json!({"selfSigned": {}}));
    let webhook = cluster.get(&["deployment", "cert-manager-webhook", "-n", "cert-manager"]);
    assert_eq!(webhook["status"]["availableReplicas"], 1, "{webhook}");
}

/// A webhook that stays down: the apply gives up at the workload's
/// timeout and says what to do.
#[test]
fn a_webhook_that_stays_down_fails_the_workload_at_its_timeout() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"guarded\" {\n  path = \"k8s\"\n  timeout = \"3s\"\n  wait = false\n}\n",
    )
    .write(
        "k8s/guard.yaml",
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: guard
---
apiVersion: v1
kind: Service
metadata:
  name: guard
  namespace: guard
spec:
  selector: {app: guard}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: guard
webhooks:
  - name: guard.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig:
      service: {name: guard, namespace: guard, path: /validate}
    objectSelector:
      matchLabels: {guarded: "yes"}
    rules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [configmaps]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: guarded
  namespace: guard
  labels: {guarded: "yes"}
  annotations:
    strata.dev/wave: "4"
data:
  v: "1"
"#,
    );
    repo.commit("a webhook nobody serves");
    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply.stdout.contains(
            "failed calling webhook \"guard.example.com\""
        ) && apply.stdout.contains(
            "the webhook was not ready within the workload's timeout (3s): fix its Deployment, or raise the workload's timeout"
        ),
        "{apply:?}"
    );
    assert!(!cluster.exists(&["configmap", "guarded", "-n", "guard"]));
}

/// The file shapes kubectl accepts: JSON objects one after another, `List`
/// kinds in YAML and JSON, `.yml`, documents that are only comments. strata
/// converges them, and `kubectl diff --server-side` of the same files under
/// another field manager agrees there is nothing left to do.
#[test]
fn the_file_shapes_kubectl_accepts_converge() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let cm = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"v":"{name}"}}}}"#
        )
    };
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"default\"\n}\n",
    )
    .write("k8s/two.json", &format!("{}\n{}", cm("a"), cm("b")))
    .write(
        "k8s/list.json",
        &format!(r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#, cm("c")),
    )
    .write(
        "k8s/list.yml",
        "# kubectl get -o yaml writes these\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: d}\n  data: {v: d}\n",
    )
    .write("k8s/notes.yaml", "# nothing here yet\n---\n# nor here\n");
    repo.commit("shapes");
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    for name in ["a", "b", "c", "d"] {
        let cm = cluster.get(&["configmap", name, "-n", "default"]);
        assert_eq!(cm["data"]["v"], name, "{cm}");
    }
    let diff = cluster.kubectl(&[
        "diff",
        "--server-side",
        "--field-manager",
        "judge",
        "-n",
        "default",
        "-f",
        repo.path().join("k8s").to_str().unwrap(),
    ]);
    assert_eq!(diff.code, 0, "{diff:?}");
}

/// Files in a workload's directory that are not manifests (an app's own
/// config, a JSON patch list) are an error naming the file, and are left
/// out with `exclude` or a `.strataignore`.
#[test]
fn files_that_are_not_manifests_are_named_and_can_be_excluded() {
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"default\"\n}\n",
    )
    .write("k8s/cm.yaml", &config_map("a", "1"))
    .write(
        "k8s/app/settings.yaml",
        "- name: log_level\n  value: debug\n",
    )
    .write(
        "k8s/patches/replicas.json",
        r#"[{"op": "replace", "path": "/spec/replicas", "value": 3}]"#,
    );
    repo.commit("an app config and a patch beside the manifests");
    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 1, "{validate:?}");
    for file in ["k8s/app/settings.yaml:1", "k8s/patches/replicas.json:1"] {
        assert!(
            validate.stdout.contains(file) || validate.stderr.contains(file),
            "{file}: {validate:?}"
        );
    }
    assert!(
        format!("{validate:?}")
            .contains("leave it out with `exclude` on the workload or a .strataignore"),
        "{validate:?}"
    );

    // One by name in strata.hcl, one by path in .strataignore.
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"default\"\n  exclude = [\"settings.yaml\"]\n}\n",
    )
    .write("k8s/.strataignore", "# JSON patches, applied by hand\npatches/*.json\n");
    repo.commit("leave them out");
    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    assert!(
        validate.stdout.contains("1 Kubernetes object(s) checked"),
        "{validate:?}"
    );
}

/// One kubeconfig with two contexts (two kube-sim instances), the same
/// manifests as two workloads, one per cluster: each converges into its
/// own cluster with its own inventory, and an unreachable cluster fails
/// only its workload.
#[test]
fn workloads_on_two_clusters_converge_each_and_an_unreachable_one_fails_alone() {
    let staging = Cluster::start();
    let prod = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let read = |c: &Cluster| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(c.kubeconfig()).unwrap()).unwrap()
    };
    let (s, p) = (read(&staging), read(&prod));
    let merged = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "staging", "cluster": s["clusters"][0]["cluster"]},
            {"name": "prod", "cluster": p["clusters"][0]["cluster"]},
        ],
        "users": [
            {"name": "staging", "user": s["users"][0]["user"]},
            {"name": "prod", "user": p["users"][0]["user"]},
        ],
        "contexts": [
            {"name": "staging", "context": {"cluster": "staging", "user": "staging"}},
            {"name": "prod", "context": {"cluster": "prod", "user": "prod"}},
        ],
        "current-context": "staging",
    });
    std::fs::write(&kubeconfig, merged.to_string()).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();

    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps-staging\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  context = \"staging\"\n}\n\nworkload \"apps-prod\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  context = \"prod\"\n}\n\nstack \"db\" {\n  path = \"infra/db\"\n}\n\n# Prod's database: its outputs go to prod, carried by apps-prod.\noutputs \"db\" {\n  config_map = \"apps/db-outputs\"\n  context    = \"prod\"\n}\n",
    )
    .write(
        "infra/db/main.tf",
        "output \"endpoint\" {\n  value = \"db.prod:5432\"\n}\n",
    )
    .write("k8s/apps/namespace.yaml", NAMESPACE)
    .write("k8s/apps/settings.yaml", &config_map("settings", "1"));
    repo.commit("one app, two clusters");
    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    let graph = strata.on(&repo, &["graph"]);
    assert!(
        graph
            .stdout
            .contains("apps-prod<br/><small>k8s/apps on prod</small>"),
        "{graph:?}"
    );

    let apply = strata.on(&repo, &["apply", "--kubeconfig", kubeconfig]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains("Workload apps-prod (k8s/apps, context prod)"),
        "{apply:?}"
    );
    for (cluster, own, other) in [
        (&staging, "workload-apps-staging", "workload-apps-prod"),
        (&prod, "workload-apps-prod", "workload-apps-staging"),
    ] {
        let cm = cluster.get(&["configmap", "settings", "-n", "apps"]);
        assert_eq!(cm["data"]["value"], "1");
        assert!(cluster.exists(&["configmap", own, "-n", "strata-system"]));
        assert!(!cluster.exists(&["configmap", other, "-n", "strata-system"]));
    }
    // The outputs follow the cluster their block names.
    let outputs = prod.get(&["configmap", "db-outputs", "-n", "apps"]);
    assert_eq!(outputs["data"]["endpoint"], "db.prod:5432", "{outputs}");
    assert!(!staging.exists(&["configmap", "db-outputs", "-n", "apps"]));
    let plan = strata.on(
        &repo,
        &["plan", "--kubeconfig", kubeconfig, "--format", "json"],
    );
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan.json()["workloads"][1]["context"], "prod");

    // prod goes away; staging still converges the next commit.
    drop(prod);
    repo.write("k8s/apps/settings.yaml", &config_map("settings", "2"));
    repo.commit("settings 2");
    let apply = strata.on(
        &repo,
        &["apply", "--kubeconfig", kubeconfig, "--format", "json"],
    );
    assert_eq!(apply.code, 1, "{apply:?}");
    let report = apply.json();
    let named = |name| crate::support::named(&report, "workloads", name);
    assert_eq!(named("apps-staging")["status"], "applied", "{report:#}");
    let prod_report = named("apps-prod");
    assert_eq!(prod_report["status"], "error", "{report:#}");
    assert!(
        prod_report["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach the cluster of context \"prod\""),
        "{report:#}"
    );
    let cm = staging.get(&["configmap", "settings", "-n", "apps"]);
    assert_eq!(cm["data"]["value"], "2");
}
