//! One pipeline across both layers: Terraform outputs flowing into the
//! cluster in the same apply, one approval for both layers, and a workload
//! held when the new outputs make it need an approval it did not get.

use crate::support::{Cluster, Repo, Strata, Terminal};

/// The `app` stack's output `version`, at `version`.
fn app_stack(version: &str) -> String {
    format!(
        "resource \"terraform_data\" \"release\" {{\n  input = \"{version}\"\n}}\n\noutput \"version\" {{\n  value = terraform_data.release.output\n}}\n"
    )
}

fn resource_version(cluster: &Cluster, args: &[&str]) -> u64 {
    cluster.get(args)["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .parse()
        .expect("a number")
}

#[test]
fn a_changed_output_flows_to_the_outputs_config_map_then_to_the_workload_that_needs_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "app" {
  path = "infra/app"
}

# Creates the namespace, so it carries the outputs ConfigMap.
workload "base" {
  path       = "k8s/base"
  namespace  = "demo"
  depends_on = ["app"]
  timeout    = "20s"
}

workload "web" {
  path       = "k8s/web"
  namespace  = "demo"
  depends_on = ["base"]
  timeout    = "20s"
}

outputs "app" {
  config_map = "demo/app-outputs"
}
"#,
    )
    .write("infra/app/main.tf", &app_stack("1.0"))
    .write(
        "k8s/base/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    )
    .write(
        "k8s/web/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        example.com/version: "${stack.app.version}"
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
          envFrom:
            - configMapRef: {name: app-outputs}
"#,
    );
    repo.commit("app 1.0");
    let first = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(first.code, 0, "{first:?}");
    let outputs = cluster.get(&["configmap", "app-outputs", "-n", "demo"]);
    assert_eq!(outputs["data"]["version"], "1.0");

    repo.write("infra/app/main.tf", &app_stack("1.1"));
    repo.commit("app 1.1");
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    // Before the stack is applied, the new value is not known.
    assert!(plan.stdout.contains("(known after apply)"), "{plan:?}");

    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let report = apply.json();
    assert_eq!(report["stacks"][0]["status"], "applied");
    let statuses: Vec<(&str, &str)> = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("base", "applied"), ("web", "applied")]);
    let outputs = cluster.get(&["configmap", "app-outputs", "-n", "demo"]);
    assert_eq!(outputs["data"]["version"], "1.1");
    assert_eq!(outputs["metadata"]["labels"]["strata.dev/workload"], "base");
    let web = cluster.get(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"]["example.com/version"],
        "1.1"
    );
    // The ConfigMap was written before the Deployment that reads it.
    assert!(
        resource_version(&cluster, &["configmap", "app-outputs", "-n", "demo"])
            < resource_version(&cluster, &["deployment", "web", "-n", "demo"])
    );
    // It is in base's inventory, like any object base applies.
    let inventory = cluster.get(&["configmap", "workload-base", "-n", "strata-system"]);
    let entries = inventory["data"]["inventory.json"].as_str().unwrap();
    assert!(entries.contains("app-outputs"), "{entries}");

    let again = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(again.code, 0, "{again:?}");

    // An outputs block dropped from strata.hcl: its ConfigMap left Git,
    // so it is pruned like any other object, with approval.
    let hcl = std::fs::read_to_string(repo.path().join("strata.hcl")).unwrap();
    let without = &hcl[..hcl.find("outputs \"app\"").unwrap()];
    repo.write("strata.hcl", without);
    repo.write(
        "k8s/web/deployment.yaml",
        &std::fs::read_to_string(repo.path().join("k8s/web/deployment.yaml"))
            .unwrap()
            .replace(
                "          envFrom:\n            - configMapRef: {name: app-outputs}\n",
                "",
            ),
    );
    repo.commit("no outputs block");
    let held = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(held.code, 3, "{held:?}");
    assert!(
        held.stdout.contains("prune  ConfigMap/demo/app-outputs"),
        "{held:?}"
    );
    assert!(cluster.exists(&["configmap", "app-outputs", "-n", "demo"]));
}

#[test]
fn one_prompt_covers_a_terraform_replace_and_a_prune_and_no_changes_neither_layer() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let stack = |engine: &str| {
        format!(
            "resource \"terraform_data\" \"primary\" {{\n  triggers_replace = [\"{engine}\"]\n}}\n\noutput \"id\" {{\n  value = terraform_data.primary.id\n}}\n"
        )
    };
    let config_map = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
    };
    repo.write(
        "strata.hcl",
        "stack \"db\" {\n  path = \"infra/db\"\n}\n\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  depends_on = [\"db\"]\n}\n",
    )
    .write("infra/db/main.tf", &stack("16"))
    .write(
        "k8s/apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .write("k8s/apps/a.yaml", &config_map("a"))
    .write("k8s/apps/b.yaml", &config_map("b"));
    repo.commit("db and apps");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let id = |strata: &Strata| {
        String::from_utf8(
            strata
                .terraform("infra/db", &["output", "-raw", "id"])
                .stdout,
        )
        .unwrap()
    };
    let before = id(&strata);

    repo.write("infra/db/main.tf", &stack("17"));
    repo.remove("k8s/apps/b.yaml");
    repo.commit("db 17, no b");
    let kubeconfig = cluster.kubeconfig();
    let args = ["apply", "--kubeconfig", kubeconfig.to_str().unwrap()];
    let terminal = Terminal::start(&strata, &repo, &args);
    let screen = terminal.wait_for("Enter a value:");
    let needs = screen
        .split("Needs approval (2):")
        .nth(1)
        .unwrap_or_else(|| panic!("one list of two items:\n{screen}"));
    assert!(
        needs.contains("db    replace  terraform_data.primary"),
        "{screen}"
    );
    assert!(
        needs.contains("apps  prune    ConfigMap/apps/b"),
        "{screen}"
    );
    terminal.keys(&["no", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("nothing was applied"), "{screen}");
    assert_eq!(id(&strata), before, "the replace happened anyway");
    assert!(cluster.exists(&["configmap", "b", "-n", "apps"]));

    let terminal = Terminal::start(&strata, &repo, &args);
    terminal.wait_for("Enter a value:");
    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert_ne!(id(&strata), before);
    assert!(!cluster.exists(&["configmap", "b", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "a", "-n", "apps"]));
}

/// A Deployment whose selector carries the stack's `track` output, and
/// may be re-created.
fn tracked_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "stack \"app\" {\n  path = \"infra/app\"\n}\n\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  depends_on = [\"app\"]\n  timeout = \"20s\"\n}\n\nworkload \"edge\" {\n  path = \"k8s/edge\"\n  namespace = \"apps\"\n  depends_on = [\"apps\"]\n}\n\nworkload \"other\" {\n  path = \"k8s/other\"\n  namespace = \"default\"\n}\n",
    )
    .write("infra/app/main.tf", &app_stack("blue"))
    .write(
        "k8s/apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .write(
        "k8s/apps/web.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    strata.dev/recreate: allowed
spec:
  replicas: 1
  selector:
    matchLabels: {app: web, track: "${stack.app.version}"}
  template:
    metadata:
      labels: {app: web, track: "${stack.app.version}"}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
"#,
    )
    .write(
        "k8s/edge/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\ndata:\n  track: \"${stack.app.version}\"\n",
    )
    .write(
        "k8s/other/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  k: v1\n",
    );
    repo.commit("blue");
    repo
}

/// [`tracked_repo`] applied on blue; the Deployment's uid.
fn tracked_and_applied() -> (Cluster, Strata, Repo, serde_json::Value) {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = tracked_repo();
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let uid = cluster.get(&["deployment", "web", "-n", "apps"])["metadata"]["uid"].clone();
    (cluster, strata, repo, uid)
}

#[test]
fn a_new_output_that_makes_a_workload_destructive_holds_it_for_approval() {
    let (cluster, strata, repo, uid) = tracked_and_applied();

    repo.write("infra/app/main.tf", &app_stack("green"));
    repo.write(
        "k8s/other/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  k: v2\n",
    );
    repo.commit("green");
    // The plan cannot know the selector's new value, so nothing needs
    // approval yet; once the stack is applied, the Deployment must be
    // re-created, which nobody approved.
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 3, "{apply:?}");
    let report = apply.json();
    assert_eq!(report["result"], "approval_required");
    assert_eq!(report["stacks"][0]["status"], "applied");
    assert_eq!(report["held"], serde_json::json!(["apps", "edge"]));
    let pending = report["pending_run"]
        .as_str()
        .expect("a pending run")
        .to_owned();
    assert!(
        apply.stderr.contains(&format!(
            "strata approve {pending}\n  strata apply --run {pending}"
        )),
        "{apply:?}"
    );
    let workload = |name| crate::support::named(&report, "workloads", name);
    assert_eq!(workload("apps")["changes"][0]["action"], "recreate");
    assert_eq!(workload("other")["status"], "applied");
    // Nothing of the held workloads was touched; the independent one was
    // converged.
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_eq!(live["metadata"]["uid"], uid);
    assert_eq!(live["spec"]["selector"]["matchLabels"]["track"], "blue");
    let edge = cluster.get(&["configmap", "edge", "-n", "apps"]);
    assert_eq!(edge["data"]["track"], "blue");
    assert_eq!(
        cluster.get(&["configmap", "other", "-n", "default"])["data"]["k"],
        "v2"
    );

    let runs = strata.run(&["runs"]);
    assert!(runs.stdout.contains(&pending), "{runs:?}");
    let approve = strata.run(&["approve", &pending]);
    assert_eq!(approve.code, 0, "{approve:?}");
    let kubeconfig = cluster.kubeconfig();
    let resumed = strata.run(&[
        "apply",
        "--run",
        &pending,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_ne!(live["metadata"]["uid"], uid);
    assert_eq!(live["spec"]["selector"]["matchLabels"]["track"], "green");
    let edge = cluster.get(&["configmap", "edge", "-n", "apps"]);
    assert_eq!(edge["data"]["track"], "green");
    assert_eq!(strata.kube(&repo, &cluster, &["plan"]).code, 0);
}

#[test]
fn on_a_terminal_a_held_workload_is_asked_for_after_the_stacks() {
    let (cluster, strata, repo, uid) = tracked_and_applied();
    repo.write("infra/app/main.tf", &app_stack("green"));
    repo.commit("green");

    let kubeconfig = cluster.kubeconfig();
    let args = ["apply", "--kubeconfig", kubeconfig.to_str().unwrap()];
    let terminal = Terminal::start(&strata, &repo, &args);
    let screen = terminal.wait_for("Enter a value:");
    assert!(
        screen.contains(
            "Diffed again with their new outputs, apps now needs approval (edge waits for it):"
        ),
        "{screen}"
    );
    assert!(screen.contains("recreate  Deployment/apps/web"), "{screen}");
    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_ne!(live["metadata"]["uid"], uid);
    assert_eq!(live["spec"]["selector"]["matchLabels"]["track"], "green");
    assert_eq!(
        cluster.get(&["configmap", "edge", "-n", "apps"])["data"]["track"],
        "green"
    );
    // The decision is in the audit log, on the run that asked.
    let audit = strata.audit();
    assert!(
        audit
            .iter()
            .any(|d| d["decision"] == "approved" && d["by"] == "prompt"),
        "{audit:?}"
    );
}

#[test]
fn a_stack_that_fails_to_apply_skips_the_workloads_that_depend_on_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let config_map = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  v: \"{value}\"\n"
        )
    };
    repo.write(
        "strata.hcl",
        "stack \"app\" {\n  path = \"infra/app\"\n}\n\nworkload \"web\" {\n  path = \"k8s/web\"\n  depends_on = [\"app\"]\n}\n\nworkload \"other\" {\n  path = \"k8s/other\"\n}\n",
    )
    .write("infra/app/main.tf", &app_stack("1"))
    .write("k8s/web/config.yaml", &config_map("web", "${stack.app.version}"))
    .write("k8s/other/config.yaml", &config_map("other", "1"));
    repo.commit("app");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);

    // The next release fails while Terraform applies it.
    repo.write(
        "infra/app/main.tf",
        &format!(
            "{}\nresource \"terraform_data\" \"migration\" {{\n  provisioner \"local-exec\" {{\n    command = \"echo migration failed >&2; exit 1\"\n  }}\n}}\n",
            app_stack("2")
        ),
    )
    .write("k8s/other/config.yaml", &config_map("other", "2"));
    repo.commit("app 2, broken");
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    let report = apply.json();
    assert_eq!(report["stacks"][0]["status"], "error", "{report:#}");
    let status = |name: &str| {
        report["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| (w["status"].clone(), w["error"].clone()))
            .unwrap()
    };
    let (web, why) = status("web");
    assert_eq!(web, "skipped");
    assert_eq!(why, "skipped: stack app failed");
    assert_eq!(status("other").0, "applied");
    assert_eq!(
        cluster.get(&["configmap", "web", "-n", "default"])["data"]["v"],
        "1"
    );
    assert_eq!(
        cluster.get(&["configmap", "other", "-n", "default"])["data"]["v"],
        "2"
    );
}

/// A workload starts as soon as the stacks it needs are applied: while a
/// stack's apply is held at a pause point, a workload that needs no stack
/// is already converged, and one that depends on the stack has not
/// started.
#[test]
fn a_workload_that_needs_no_stack_converges_while_a_stack_is_still_applying() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "slow" { path = "infra/slow" }

workload "free" {
  path      = "k8s/free"
  namespace = "default"
}

workload "bound" {
  path       = "k8s/bound"
  namespace  = "default"
  depends_on = ["slow"]
}
"#,
    )
    .write("infra/slow/main.tf", &app_stack("1"))
    .write(
        "k8s/free/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: free\ndata:\n  v: \"1\"\n",
    )
    .write(
        "k8s/bound/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bound\ndata:\n  v: \"1\"\n",
    );
    repo.commit("a stack, a free workload, a bound one");
    let kubeconfig = cluster.kubeconfig();
    let args = [
        "apply",
        "--auto-approve",
        "--repo",
        repo.path().to_str().expect("utf-8"),
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
    ];
    let paused = strata.pause_at(&args, "slow/apply");
    // kubectl watches for the object; strata stays paused meanwhile.
    let created = cluster.kubectl(&[
        "wait",
        "--for=create",
        "configmap/free",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    assert_eq!(
        created.code, 0,
        "the free workload did not converge while the stack was applying: {created:?}\n{}",
        paused.before
    );
    assert!(
        !cluster.exists(&["configmap", "bound", "-n", "default"]),
        "the bound workload must wait for its stack"
    );
    let (code, rest) = paused.interrupt();
    assert_eq!(code, Some(1), "{rest}");
    // The next run finishes the job.
    let again = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(cluster.exists(&["configmap", "bound", "-n", "default"]));
}
