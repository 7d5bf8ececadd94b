//! `strata drift`: the nightly, plan-only run. It writes nothing, tells
//! drift (changed outside Git) from pending changes (Git ahead), and with
//! --continue-on-error checks what it can.

use crate::support::{Cluster, Repo, Strata, stacks_hcl};

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
/// Terraform change, the live edit flagged as drift, and the graph
/// coloured by state. Commit and path are the only parts that vary.
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

| Action | Address | Destructive | Details |
|---|---|---|---|
| `~` update | `terraform_data.vpc` |  | `input`: `"a"` → `"b"`<br>`output`: `"a"` → `(known after apply)` |

### Workload `apps` (`k8s/apps`)

| Action | Object | Destructive | Details |
|---|---|---|---|
| `~` update | `ConfigMap/apps/net` |  | **drift**<br>changed outside strata<br>`data.cidr`: `"10.9.0.0/16"` → `"10.0.0.0/16"` |

"#;
    assert_eq!(markdown, expected, "{markdown}");
    let graph = markdown
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block");
    crate::support::check_mermaid(graph);
}
