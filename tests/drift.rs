//! `strata drift`: the nightly, plan-only run. It writes nothing, tells
//! drift (changed outside Git) from pending changes (Git ahead), and with
//! --continue-on-error checks what it can.

use crate::support::{Cluster, Repo, Strata, named, stacks_hcl};

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &format!(
            "{}workload \"apps\" {{\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  timeout = \"20s\"\n}}\n",
            stacks_hcl(&[("net", "infra/net", &[])])
        ),
    )
    .write(
        "infra/net/main.tf",
        "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n",
    )
    .write("k8s/apps/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n")
    .write(
        "k8s/apps/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/stefanprodan/podinfo:6.7.1\n",
    );
    repo.commit("net and apps");
    repo
}

#[test]
fn drift_tells_edits_in_the_cluster_from_git_ahead_and_writes_nothing() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo();

    // Nothing applied yet: Git is ahead of the world.
    let pending = strata.kube(&repo, &cluster, &["drift", "--format", "json"]);
    assert_eq!(pending.code, 2, "{pending:?}");
    assert_eq!(pending.json()["result"], "changes");
    assert!(
        !cluster.exists(&["namespace", "apps"]),
        "drift wrote to the cluster"
    );

    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let in_sync = strata.kube(&repo, &cluster, &["drift"]);
    assert_eq!(in_sync.code, 0, "{in_sync:?}");
    assert!(
        in_sync
            .stdout
            .contains("Drift: 0 changed outside Git (resources outside Terraform, objects outside strata); 0 pending change(s) from Git."),
        "{in_sync:?}"
    );

    // Someone scales the Deployment by hand.
    let scaled = cluster.kubectl(&["scale", "deployment", "web", "-n", "apps", "--replicas=5"]);
    assert_eq!(scaled.code, 0, "{scaled:?}");
    let inventory = cluster.get(&["configmap", "workload-apps", "-n", "strata-system"]);
    // Everything strata could write: the cluster's objects and Terraform's
    // state.
    let snapshot = || {
        // Any write changes a ConfigMap's or Namespace's resourceVersion,
        // and a Deployment's generation (its status moves on its own).
        let list = |kinds: &str, field: &str| {
            let run = cluster.kubectl(&[
                "get",
                kinds,
                "-A",
                "-o",
                &format!("jsonpath={{range .items[*]}}{{.metadata.name}}={{{field}}} {{end}}"),
            ]);
            assert_eq!(run.code, 0, "{run:?}");
            run.stdout
        };
        let objects = list("namespaces,configmaps", ".metadata.resourceVersion")
            + &list("deployments", ".metadata.generation");
        let state = crate::support::sha256sum(&strata.tree().join("infra/net/terraform.tfstate"));
        (objects, state)
    };
    let before = snapshot();
    for format in ["text", "json", "markdown"] {
        let run = strata.kube(&repo, &cluster, &["drift", "--format", format]);
        assert_eq!(run.code, 2, "{format}: {run:?}");
        match format {
            "json" => {
                let report = run.json();
                assert_eq!(report["result"], "drift");
                assert_eq!(report["workloads"][0]["changes"][0]["drift"], true);
            }
            "markdown" => assert!(run.stdout.starts_with("## strata drift: drift"), "{run:?}"),
            _ => assert!(
                run.stdout.contains("Drift: 1 changed outside Git"),
                "{run:?}"
            ),
        }
    }
    // Still as the person left it, and strata's records in the cluster
    // untouched.
    let after = snapshot();
    assert!(
        before == after,
        "drift wrote something: {before:?} != {after:?}"
    );
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_eq!(live["spec"]["replicas"], 5);
    let after = cluster.get(&["configmap", "workload-apps", "-n", "strata-system"]);
    assert_eq!(
        after["metadata"]["resourceVersion"],
        inventory["metadata"]["resourceVersion"]
    );
}

#[test]
fn continue_on_error_checks_the_stacks_when_the_cluster_is_unreachable() {
    let strata = Strata::new();
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = crate::support::unreachable_kubeconfig(dir.path());
    let kubeconfig = kubeconfig.to_str().unwrap();

    let stopped = strata.on(&repo, &["drift", "--kubeconfig", kubeconfig]);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    assert!(stopped.stdout.is_empty(), "{stopped:?}");

    let run = strata.on(
        &repo,
        &[
            "drift",
            "--continue-on-error",
            "--kubeconfig",
            kubeconfig,
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "error");
    assert_eq!(report["stacks"][0]["status"], "changes", "{report:#}");
    assert_eq!(report["workloads"][0]["status"], "error");
    assert!(
        report["workloads"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach the cluster of context \"gone\""),
        "{report:#}"
    );
}

/// `notify` blocks: the drift run's event is POSTed (a failing webhook is
/// retried), a webhook from an unset environment variable is reported, and
/// neither changes the exit code; an in-sync run does not page anyone who
/// only asked for drift.
#[test]
fn drift_and_apply_notify_the_webhooks_that_asked() {
    use crate::support::Webhook;
    let cluster = Cluster::start();
    let strata = Strata::new();
    let hook = Webhook::start(2);
    let repo = repo();
    let hcl = std::fs::read_to_string(repo.path().join("strata.hcl")).unwrap();
    repo.write(
        "strata.hcl",
        &format!(
            "{hcl}\nnotify \"ops\" {{\n  webhook = \"{}\"\n  on = [\"drift\", \"in_sync\", \"converged\"]\n}}\n\nnotify \"team\" {{\n  webhook = \"env:STRATA_TEST_HOOK\"\n  on = [\"drift\"]\n}}\n",
            hook.url
        ),
    );
    repo.commit("notify");

    let run = strata.kube(&repo, &cluster, &["drift", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    assert_eq!(report["notifications"][0]["name"], "ops");
    assert_eq!(report["notifications"][0]["delivered"], true, "{report:#}");
    assert_eq!(report["notifications"][1]["name"], "team");
    assert_eq!(report["notifications"][1]["delivered"], false);
    assert!(
        report["notifications"][1]["error"]
            .as_str()
            .unwrap()
            .contains("STRATA_TEST_HOOK"),
        "{report:#}"
    );
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let event = &bodies[0];
    assert_eq!(event["event"], "drift");
    assert_eq!(event["command"], "drift");
    assert_eq!(event["commit"], repo.git(&["rev-parse", "HEAD"]));
    assert_eq!(event["counts"]["stacks"], 1);
    assert!(
        event["text"]
            .as_str()
            .unwrap()
            .starts_with("strata drift: drift — "),
        "{event:#}"
    );

    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains("Notified ops (converged)."),
        "{apply:?}"
    );
    assert_eq!(hook.bodies()[1]["event"], "converged");

    let quiet = strata.kube(&repo, &cluster, &["drift"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    let bodies = hook.bodies();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["drift", "converged", "in_sync"]);
    assert_eq!(bodies[2]["result"], "in_sync", "{:#}", bodies[2]);
}

/// The Markdown drift report, pasted into an issue: tables, the pending
/// Terraform change, the live edit flagged as drift (each in a collapsed
/// block), and the graph coloured by state. Commit and path are the only parts that vary.
#[test]
fn the_markdown_drift_report_is_stable_and_colours_the_graph() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let stack = |input: &str| {
        format!(
            "resource \"terraform_data\" \"vpc\" {{\n  input = \"{input}\"\n}}\n\noutput \"cidr\" {{\n  value = \"10.0.0.0/16\"\n}}\n"
        )
    };
    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path = \"infra/net\"\n}\n\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n  depends_on = [\"net\"]\n  timeout = \"20s\"\n}\n",
    )
    .write("infra/net/main.tf", &stack("a"))
    .write(
        "k8s/apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .write(
        "k8s/apps/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: net\ndata:\n  cidr: \"${stack.net.cidr}\"\n",
    );
    repo.commit("net and apps");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    repo.write("infra/net/main.tf", &stack("b"));
    let commit = repo.commit("net b");
    let patched = cluster.kubectl(&[
        "patch",
        "configmap",
        "net",
        "-n",
        "apps",
        "-p",
        r#"{"data":{"cidr":"10.9.0.0/16"}}"#,
    ]);
    assert_eq!(patched.code, 0, "{patched:?}");

    let run = strata.kube(&repo, &cluster, &["drift", "--format", "markdown"]);
    assert_eq!(run.code, 2, "{run:?}");
    let markdown = run
        .stdout
        .replace(&commit, "COMMIT")
        .replace(repo.path().to_str().unwrap(), "REPO");
    let expected = r#"## strata drift: drift

Source: `REPO` at `main` (`COMMIT`)

| Stack | Status | Summary |
|---|---|---|
| `net` | changes | Plan: 0 to add, 1 to change, 0 to destroy. |

| Workload | Status | Summary |
|---|---|---|
| `apps` | **drift** | Plan: 0 to create, 1 to update, 0 to prune. 1 unchanged. |

```mermaid
flowchart LR
    s0["net<br/><small>infra/net</small>"]
    w0[/"apps<br/><small>k8s/apps</small>"/]
    s0 -- "cidr" --> w0
    classDef changes fill:#fff4c2,stroke:#b58900
    class s0 changes
    classDef drift fill:#ffd8b0,stroke:#d9480f,stroke-width:3px
    class w0 drift
```

Green: in sync. Yellow: changes pending from Git. Orange: drift (changed outside Git). Red: failed or not checked.

### Stack `net` (`infra/net`)

<details><summary>1 resource change(s)</summary>

| Action | Address | Destructive | Details |
|---|---|---|---|
| `~` update | `terraform_data.vpc` |  | `input`: `"a"` → `"b"`<br>`output`: `"a"` → `(known after apply)` |

</details>

### Workload `apps` (`k8s/apps`)

<details><summary>1 object change(s)</summary>

| Action | Object | Destructive | Details |
|---|---|---|---|
| `~` update | `ConfigMap/apps/net` |  | **drift**<br>changed outside strata by kubectl-patch<br>`data.cidr`: `"10.9.0.0/16"` → `"10.0.0.0/16"` (set by `kubectl-patch`) |

</details>

"#;
    assert_eq!(markdown, expected, "{markdown}");
    let graph = markdown
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block");
    crate::support::check_mermaid(graph);
}

const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/stefanprodan/podinfo:6.7.1\n";

/// What a person sets with kubectl and Git lacks is drift, as Flux sees
/// it, naming who set it, and `apply` removes it; what a controller sets,
/// and what a rule leaves to others, is not.
#[test]
fn fields_set_with_kubectl_that_git_lacks_are_drift_and_apply_removes_them() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"apps\"\n  timeout = \"20s\"\n  ignore_fields = [\"/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt\"]\n}\n",
    )
    .write("k8s/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n")
    .write("k8s/web.yaml", WEB)
    .write(
        "k8s/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    strata.dev/ignore-fields: /data/local\ndata:\n  mode: git\n",
    );
    repo.commit("web and its settings");
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");

    let kubectl = |args: &[&str]| {
        let run = cluster.kubectl(args);
        assert_eq!(run.code, 0, "kubectl {args:?}: {run:?}");
    };
    // A person: an annotation on the pod template, an env var, a label.
    kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "apps",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"debug":"on"}}}}}"#,
    ]);
    kubectl(&["set", "env", "deployment/web", "-n", "apps", "TRACE=1"]);
    kubectl(&[
        "label",
        "configmap",
        "settings",
        "-n",
        "apps",
        "team=payments",
    ]);
    // Left to others by the rules: a restart, a local setting.
    kubectl(&["rollout", "restart", "deployment/web", "-n", "apps"]);
    kubectl(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "apps",
        "-p",
        r#"{"data":{"local":"yes"}}"#,
    ]);
    // A controller (as an HPA does) sets replicas, which Git leaves out.
    kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "apps",
        "--field-manager",
        "horizontal-pod-autoscaler",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);

    let drift = strata.kube(&repo, &cluster, &["drift", "--format", "json"]);
    assert_eq!(drift.code, 2, "{drift:?}");
    let report = drift.json();
    assert_eq!(report["result"], "drift", "{report:#}");
    let changes = named(&report, "workloads", "apps")["changes"]
        .as_array()
        .unwrap()
        .clone();
    let change = |name: &str| {
        changes
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no change of {name} in {changes:#?}"))
            .clone()
    };
    let web = change("web");
    assert_eq!(web["drift"], true, "{web:#}");
    let fields: Vec<(String, String)> = web["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["manager"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert!(
        fields.contains(&(
            "spec.template.metadata.annotations.debug".to_owned(),
            "kubectl-patch".to_owned()
        )),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|(path, manager)| path.contains(".env") && manager == "kubectl-set"),
        "{fields:?}"
    );
    // Neither the controller's replicas nor the restart left to others.
    assert!(
        !fields
            .iter()
            .any(|(path, _)| path.contains("replicas") || path.contains("restartedAt")),
        "{fields:?}"
    );
    let settings = change("settings");
    assert_eq!(
        settings["fields"][0]["path"], "metadata.labels.team",
        "{settings:#}"
    );
    assert_eq!(settings["fields"][0]["manager"], "kubectl-label");
    assert_eq!(
        settings["fields"].as_array().unwrap().len(),
        1,
        "{settings:#}"
    );
    let text = strata.kube(&repo, &cluster, &["plan"]);
    assert!(text.stdout.contains("(set by kubectl-patch)"), "{text:?}");

    // Drift corrections need no approval: apply removes what kubectl set.
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let web = cluster.get(&["deployment", "web", "-n", "apps", "--show-managed-fields"]);
    let template = &web["spec"]["template"];
    assert!(
        template["metadata"]["annotations"].get("debug").is_none(),
        "{web:#}"
    );
    assert!(
        template["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/restartedAt")
            .is_some(),
        "{web:#}"
    );
    // The variable is gone (kube-sim keeps the emptied list, which the
    // real server's types omit).
    assert!(
        template["spec"]["containers"][0]
            .get("env")
            .is_none_or(|env| env.as_array().is_some_and(Vec::is_empty)),
        "{web:#}"
    );
    assert_eq!(web["spec"]["replicas"], 3, "the controller's value stays");
    let settings = cluster.get(&["configmap", "settings", "-n", "apps"]);
    assert!(
        settings["metadata"]["labels"].get("team").is_none(),
        "{settings:#}"
    );
    assert_eq!(settings["data"]["local"], "yes", "{settings:#}");
    let managers: Vec<&str> = web["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(!managers.contains(&"kubectl-patch"), "{managers:?}");
    // kubectl-set keeps at most the container it wrote into (strata's
    // fields are in it), none of its own.
    for entry in web["metadata"]["managedFields"].as_array().unwrap() {
        if entry["manager"] == "kubectl-set" {
            assert!(!entry["fieldsV1"].to_string().contains("f:env"), "{entry}");
        }
    }

    // And nothing is left to do.
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
}

/// A field Git sets that a controller changed is the user's to settle: a
/// conflict naming it, unless a rule leaves the field to it.
#[test]
fn a_field_git_sets_that_a_controller_changed_is_a_conflict_unless_left_to_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let web = WEB.replace("spec:\n  selector", "spec:\n  replicas: 2\n  selector");
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"apps\"\n  timeout = \"20s\"\n}\n",
    )
    .write(
        "k8s/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .write("k8s/web.yaml", &web);
    repo.commit("web, 2 replicas");
    assert_eq!(strata.kube(&repo, &cluster, &["apply"]).code, 0);
    let scaled = cluster.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "apps",
        "--field-manager",
        "horizontal-pod-autoscaler",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    assert_eq!(scaled.code, 0, "{scaled:?}");

    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stdout
            .contains("another field manager (horizontal-pod-autoscaler)")
            && plan.stdout.contains("ignore_fields"),
        "{plan:?}"
    );

    repo.write(
        "k8s/web.yaml",
        &web.replace(
            "metadata:\n  name: web\n",
            "metadata:\n  name: web\n  annotations:\n    strata.dev/ignore-fields: /spec/replicas\n",
        ),
    );
    repo.commit("replicas are the autoscaler's");
    let apply = strata.kube(&repo, &cluster, &["apply"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let live = cluster.get(&["deployment", "web", "-n", "apps"]);
    assert_eq!(live["spec"]["replicas"], 4, "{live:#}");
    assert_eq!(
        live["metadata"]["annotations"]["strata.dev/ignore-fields"],
        "/spec/replicas"
    );
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
}
