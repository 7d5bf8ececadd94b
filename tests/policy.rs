//! Policies in Rego on both layers: `deny` stops the run, `warn` is
//! shown, `approve` goes through the gate; broken Rego fails `validate`;
//! and OPA's own engine, run on the same input, says the same.

use std::process::Command;

use crate::support::{Cluster, Repo, Strata, Watch, eventually};

/// A stack with a role and a bucket holding a sensitive value, and a
/// workload with a Deployment of `replicas` and a Secret, under the
/// policies in `rego` and the data `limits.replicas = 3`.
fn repo(rego: &str, replicas: u32) -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "iam" {
  path = "infra/iam"
}

workload "web" {
  path      = "k8s/web"
  namespace = "default"
  timeout   = "20s"
}

policy "guardrails" {
  path = "policy"
}
"#,
    )
    .write(
        "infra/iam/main.tf",
        r#"variable "db_password" {
  type      = string
  sensitive = true
  default   = "hunter2-not-for-policies"
}

resource "terraform_data" "role_ci" {
  input = "ci"
}

resource "terraform_data" "bucket" {
  input = { name = "logs", password = var.db_password }
}
"#,
    )
    .write(
        "k8s/web/deployment.yaml",
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
"#
        ),
    )
    .write(
        "k8s/web/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n  token: s3cr3t-token-value\n",
    )
    .write("policy/main.rego", rego)
    .write("policy/limits.json", r#"{"limits": {"replicas": 3}}"#);
    repo.commit("init");
    repo
}

const DENY: &str = r#"package main

deny contains {"msg": msg, "workload": w.name, "address": sprintf("Deployment/%s/%s", [c.namespace, c.name])} if {
    some w in input.workloads
    some c in w.changes
    c.kind == "Deployment"
    c.desired.spec.replicas > data.limits.replicas
    msg := sprintf("%d replicas is more than %d", [c.desired.spec.replicas, data.limits.replicas])
}
"#;

const WARN: &str = r#"package main

warn contains sprintf("%s has no owner label", [c.name]) if {
    some w in input.workloads
    some c in w.changes
    c.kind == "Deployment"
    not c.desired.metadata.labels.owner
}
"#;

/// Every change to a role needs a person, as does creating any Secret.
const APPROVE: &str = r#"package main

approve contains {"msg": "roles change only with a person's approval", "stack": s.name, "address": rc.address} if {
    some s in input.stacks
    some rc in s.resource_changes
    startswith(rc.name, "role_")
}

approve contains {"msg": "a new Secret", "workload": w.name, "address": sprintf("Secret/%s/%s", [c.namespace, c.name])} if {
    some w in input.workloads
    some c in w.changes
    c.kind == "Secret"
    c.action == "create"
}
"#;

fn assert_no_secret(run: &crate::support::Run) {
    for secret in ["hunter2-not-for-policies", "s3cr3t-token-value"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret leaked: {run:?}"
        );
    }
}

#[test]
fn a_deny_stops_the_run_before_anything_is_applied() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(DENY, 5);

    let run = strata.kube(
        &repo,
        &cluster,
        &["apply", "--auto-approve", "--format", "json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "error", "{report:#}");
    let policy = report["policy"].as_array().expect("policy findings");
    assert_eq!(policy.len(), 1, "{report:#}");
    assert_eq!(policy[0]["rule"], "deny");
    assert_eq!(policy[0]["policy"], "guardrails");
    assert_eq!(policy[0]["message"], "5 replicas is more than 3");
    assert_eq!(policy[0]["workload"], "web");
    assert_eq!(policy[0]["address"], "Deployment/default/web");
    assert_no_secret(&run);
    // Nothing was applied: no object in the cluster, no Terraform state.
    assert!(!cluster.exists(&["deployment", "web", "-n", "default"]));
    assert!(!cluster.exists(&["secret", "web", "-n", "default"]));
    let state = strata.tree().join("infra/iam/terraform.tfstate");
    let resources = std::fs::read_to_string(&state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map_or(0, |s| s["resources"].as_array().map_or(0, Vec::len));
    assert_eq!(resources, 0, "Terraform applied something");

    // In text, the message names its item; plan says the same, exit 1.
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stdout.contains(
            "deny     guardrails  workload web: Deployment/default/web  5 replicas is more than 3"
        ),
        "{plan:?}"
    );
    assert!(
        plan.stdout
            .contains("the policies deny this run (1 denial), so nothing can be applied"),
        "{plan:?}"
    );
    assert_no_secret(&plan);
    let markdown = strata.kube(&repo, &cluster, &["plan", "--format", "markdown"]);
    assert_eq!(markdown.code, 1, "{markdown:?}");
    assert!(
        markdown.stdout.contains(
            "| ⛔ **deny** | `guardrails` | `workload web: Deployment/default/web` | 5 replicas is more than 3 |"
        ),
        "{markdown:?}"
    );

    // The nightly drift check fails on it too, and says so to whoever
    // asked to hear of failures.
    let hook = crate::support::Webhook::start(0);
    let hcl = std::fs::read_to_string(repo.path().join("strata.hcl")).expect("strata.hcl");
    repo.write(
        "strata.hcl",
        &format!(
            "{hcl}\nnotify \"ops\" {{\n  webhook = \"{}\"\n  on = [\"failed\"]\n}}\n",
            hook.url
        ),
    );
    repo.commit("notify");
    let drift = strata.kube(&repo, &cluster, &["drift", "--format", "json"]);
    assert_eq!(drift.code, 1, "{drift:?}");
    assert_eq!(drift.json()["policy"][0]["rule"], "deny");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(bodies[0]["event"], "failed");
    assert_eq!(
        bodies[0]["policy"][0]["message"],
        "5 replicas is more than 3"
    );
    assert!(
        bodies[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("policies: 1 denied, 0 to approve, 0 warning(s)"),
        "{:#}",
        bodies[0]
    );
}

#[test]
fn watch_applies_nothing_while_a_policy_denies_and_converges_the_fix() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(DENY, 5);
    let watch = Watch::start(
        &strata,
        &repo,
        &cluster,
        &["--interval", "1s", "--metrics-addr", "127.0.0.1:0"],
    );
    // The log names the denial and its item, as a person reading it needs.
    eventually(&watch, "the denial is logged", || {
        watch.log().contains(
            "policy guardrails denies workload web: Deployment/default/web: 5 replicas is more than 3",
        )
    });
    eventually(&watch, "it is counted as a policy failure", || {
        watch.metric("strata_errors_total{kind=\"policy\"}") >= Some(1.0)
    });
    assert!(!cluster.exists(&["deployment", "web", "-n", "default"]));
    assert!(!cluster.exists(&["secret", "web", "-n", "default"]));

    // The fix is a commit; the next loop converges it.
    repo.write(
        "k8s/web/deployment.yaml",
        &std::fs::read_to_string(repo.path().join("k8s/web/deployment.yaml"))
            .expect("deployment")
            .replace("replicas: 5", "replicas: 2"),
    );
    repo.commit("2 replicas");
    eventually(&watch, "the fix converges", || {
        cluster.exists(&["deployment", "web", "-n", "default"])
            && cluster.get(&["deployment", "web", "-n", "default"])["spec"]["replicas"] == 2
    });
    let log = watch.log();
    for secret in ["hunter2-not-for-policies", "s3cr3t-token-value"] {
        assert!(!log.contains(secret), "a secret leaked: {log}");
    }
}

/// An apply that exited 1 after applying the first stack, because the
/// `layer` item at `index` failed with `error`.
fn stopped_mid_apply(run: &crate::support::Run, (layer, index): (&str, usize), error: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["stacks"][0]["status"], "applied", "{report:#}");
    assert_eq!(report[layer][index]["status"], "error", "{report:#}");
    let said = report[layer][index]["error"].as_str().unwrap_or_default();
    assert!(said.contains(error), "{report:#}");
}

/// A stack planned again in the middle of an apply (its dependency's
/// outputs changed) answers to the policies as its first plan did:
/// `--auto-approve` covers the replace, but not a denial.
#[test]
fn a_stack_planned_again_mid_apply_answers_to_the_policies() {
    let repo = crate::apply::chained_repo();
    let hcl = std::fs::read_to_string(repo.path().join("strata.hcl")).expect("strata.hcl");
    repo.write(
        "strata.hcl",
        &format!("{hcl}\npolicy \"guardrails\" {{\n  path = \"policy\"\n}}\n"),
    )
    .write(
        "policy/main.rego",
        r#"package main

deny contains {"msg": "app is never replaced by hand-off", "stack": s.name, "address": rc.address} if {
    some s in input.stacks
    some rc in s.resource_changes
    rc.address == "terraform_data.app"
    "delete" in rc.change.actions
}
"#,
    );
    repo.commit("net, app and a policy");
    let strata = Strata::new();
    let first = strata.on(&repo, &["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.json()["stacks"][1]["replanned_after"], "net");

    // net changes. Planned now, app has nothing to do (it reads net's
    // applied output), so there is nothing to deny.
    repo.write("infra/net/main.tf", &crate::apply::net_stack(2));
    repo.commit("net generation 2");
    let plan = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let findings = plan.json()["policy"].as_array().map_or(0, Vec::len);
    assert_eq!(findings, 0, "{plan:?}");
    // Applied, net goes first; app, planned again, would be replaced: the
    // policy denies it, and it is not applied.
    let run = strata.on(&repo, &["apply", "--auto-approve", "--format", "json"]);
    stopped_mid_apply(
        &run,
        ("stacks", 1),
        "planned again after net was applied, the policies deny it: policy guardrails: stack app: terraform_data.app: app is never replaced by hand-off",
    );
    // What the policies saw is kept in the run, for whoever debugs them.
    let run_id = run.json()["run_id"].as_str().expect("a run").to_owned();
    let kept = strata
        .state
        .path()
        .join(format!("runs/{run_id}/policy-input.app.json"));
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).expect("the input is kept"))
            .expect("JSON");
    assert_eq!(kept["command"], "apply", "{kept:#}");
    assert_eq!(
        kept["stacks"][0]["resource_changes"][0]["address"],
        "terraform_data.app"
    );
    // app is still as it was: the next plan has its replace, and the denial.
    let next = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(next.code, 1, "{next:?}");
    let next = next.json();
    assert_eq!(
        next["policy"][0]["address"], "terraform_data.app",
        "{next:#}"
    );
    assert_eq!(
        next["stacks"][1]["changes"][0]["action"], "replace",
        "{next:#}"
    );
}

/// A workload diffed again in the middle of an apply, with an output its
/// stack had not made yet when it was planned, answers to the policies
/// with the value it really gets.
#[test]
fn a_workload_diffed_again_mid_apply_answers_to_the_policies() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "net" {
  path = "infra/net"
}

workload "app" {
  path       = "k8s/app"
  namespace  = "default"
  depends_on = ["net"]
}

policy "guardrails" {
  path = "policy"
}
"#,
    )
    .write(
        "infra/net/main.tf",
        "resource \"terraform_data\" \"net\" {\n  input = \"public\"\n}\n\noutput \"tier\" {\n  value = terraform_data.net.output\n}\n",
    )
    .write(
        "k8s/app/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  tier: ${stack.net.tier}\n",
    )
    .write(
        "policy/main.rego",
        r#"package main

deny contains {"msg": "the app is never on the public tier", "workload": w.name, "address": sprintf("ConfigMap/%s/%s", [c.namespace, c.name])} if {
    some w in input.workloads
    some c in w.changes
    c.desired.data.tier == "public"
}
"#,
    );
    repo.commit("net, app and a policy");
    // Planned, the tier is not known yet: nothing to deny.
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let findings = plan.json()["policy"].as_array().map_or(0, Vec::len);
    assert_eq!(findings, 0, "{plan:?}");

    let run = strata.kube(
        &repo,
        &cluster,
        &["apply", "--auto-approve", "--format", "json"],
    );
    stopped_mid_apply(
        &run,
        ("workloads", 0),
        "diffed again before applying, the policies deny it: policy guardrails: workload app: ConfigMap/default/settings: the app is never on the public tier",
    );
    assert!(!cluster.exists(&["configmap", "settings", "-n", "default"]));
    // Planned now, the tier is known, and the denial is there at once.
    let next = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(next.code, 1, "{next:?}");
    assert_eq!(
        next.json()["policy"][0]["address"],
        "ConfigMap/default/settings",
        "{next:?}"
    );
}

#[test]
fn a_warning_is_shown_and_the_apply_goes_on() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(WARN, 1);

    let run = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("warn     guardrails  web has no owner label"),
        "{run:?}"
    );
    let live = cluster.get(&["deployment", "web", "-n", "default", "-o", "json"]);
    assert_eq!(live["spec"]["replicas"], 1);
    assert_no_secret(&run);
}

#[test]
fn an_approve_rule_holds_the_run_until_a_person_approves_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(
        &format!("{APPROVE}{}", WARN.trim_start_matches("package main\n")),
        1,
    );

    // Nothing destructive, but the policy wants a person: without a
    // terminal the run is saved, exit 3, and nothing changes.
    let run = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "approval_required", "{report:#}");
    let approvals = report["approvals"].as_array().expect("approvals");
    let by_address = |address: &str| {
        approvals
            .iter()
            .find(|a| a["address"] == address)
            .unwrap_or_else(|| panic!("no approval for {address}: {report:#}"))
    };
    assert_eq!(approvals.len(), 2, "{report:#}");
    let role = by_address("terraform_data.role_ci");
    assert_eq!(role["stack"], "iam");
    assert_eq!(role["action"], "create");
    assert_eq!(
        role["policy"],
        "policy guardrails: roles change only with a person's approval"
    );
    let secret = by_address("Secret/default/web");
    assert_eq!(secret["workload"], "web");
    assert_eq!(secret["action"], "create");
    assert!(!cluster.exists(&["deployment", "web", "-n", "default"]));
    assert_no_secret(&run);

    // `destructive = "allow"` would not cover it, and neither does a plan
    // run again: it is held again.
    let id = report["run_id"].as_str().expect("a run id").to_owned();
    let approve = strata.run(&["approve", &id]);
    assert_eq!(approve.code, 0, "{approve:?}");
    let kubeconfig = cluster.kubeconfig();
    let apply = strata.run(&[
        "apply",
        "--run",
        &id,
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
    ]);
    assert_eq!(apply.code, 0, "{apply:?}");
    // The saved run's warnings are shown again where it is applied.
    assert!(
        apply
            .stdout
            .contains("warn     guardrails  web has no owner label"),
        "{apply:?}"
    );
    assert!(cluster.exists(&["deployment", "web", "-n", "default"]));
    let secret = cluster.get(&["secret", "web", "-n", "default", "-o", "json"]);
    assert!(secret["data"]["token"].is_string(), "{secret:#}");
    assert_no_secret(&apply);

    // Once applied, nothing is left for the rules to hold.
    let again = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
}

#[test]
fn broken_rego_fails_validate_and_plan_with_its_file_and_line() {
    let strata = Strata::new();
    let repo = repo(
        "package main\n\ndeny contains msg if {\n  msg := \"unterminated\"\n",
        1,
    );
    let run = strata.on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "policy/main.rego:5:1: expecting `}` while parsing query (policy \"guardrails\")"
        ),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("0 of 1 policy compiled; guardrails did not (see above)."),
        "{run:?}"
    );
    let json = strata.on(&repo, &["validate", "--format", "json"]);
    assert_eq!(json.json()["policies"][0]["compiled"], false, "{json:?}");
    // A plan stops before any Terraform process or cluster.
    let plan = strata.on(&repo, &["plan", "--stack", "iam"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr.contains("policy/main.rego:5:1: expecting `}`"),
        "{plan:?}"
    );
    assert!(plan.stderr.contains("strata validate"), "{plan:?}");

    // Rego written for OPA before 1.0 is named as such.
    repo.write(
        "policy/main.rego",
        "package main\n\ndeny[msg] {\n  msg := \"x\"\n}\n",
    );
    repo.commit("v0 syntax");
    let run = strata.on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("rego_version = \"v0\""), "{run:?}");
}

/// The policies of these tests and a few more idioms (v0-compatible
/// `import rego.v1`, helper functions, `every`, object messages, boolean
/// rules, data), run by strata on a real plan of both layers and by OPA's
/// own Go engine on the same input: the same messages for each rule.
#[test]
fn the_results_agree_with_the_real_opa_engine() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let idioms = r#"package main

import rego.v1

creates(s) := [rc | some rc in s.resource_changes; "create" in rc.change.actions]

warn_counts contains sprintf("stack %s creates %d resources", [s.name, count(creates(s))]) if {
    some s in input.stacks
    count(creates(s)) > 0
}

deny_unpinned contains {"msg": sprintf("%s uses a floating tag", [c.name]), "workload": w.name} if {
    some w in input.workloads
    some c in w.changes
    some container in c.desired.spec.template.spec.containers
    endswith(container.image, ":latest")
}

approve_all_labelled if {
    every w in input.workloads {
        count(w.changes) > 0
    }
}

warn_source contains msg if {
    input.source.commit
    msg := sprintf("planned from %s at %s", [input.source.ref, substring(input.source.commit, 0, 7)])
}

violation_secret_values contains "a Secret value reached the policies" if {
    some w in input.workloads
    some c in w.changes
    c.kind == "Secret"
    c.desired.stringData.token != "(sensitive value)"
}
"#;
    let repo = repo(DENY, 5);
    repo.write("policy/warn.rego", WARN)
        .write("policy/approve.rego", APPROVE)
        .write("policy/idioms.rego", idioms);
    repo.commit("more policies");

    let run = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    let id = report["run_id"].as_str().expect("a run id");
    let input_file = strata
        .state
        .path()
        .join("runs")
        .join(id)
        .join("policy-input.json");
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input_file).expect("the policy input"))
            .expect("JSON");
    assert!(
        !input.to_string().contains("hunter2") && !input.to_string().contains("s3cr3t"),
        "a secret reached the policies' input"
    );

    // OPA: the same files, the same data, the same input.
    let tree = repo.path().join("policy");
    let files: Vec<std::path::PathBuf> = ["main.rego", "warn.rego", "approve.rego", "idioms.rego"]
        .iter()
        .map(|f| tree.join(f))
        .collect();
    let opa = opa(
        &files,
        &input,
        &serde_json::json!({"limits": {"replicas": 3}}),
    );
    let mut expected = messages(&opa);
    expected.sort();
    assert!(
        expected.len() >= 7,
        "too few findings to compare: {expected:#?}"
    );
    assert_eq!(findings(&report), expected, "strata and OPA disagree");
}

/// The value of `data.main` as OPA's own Go engine computes it from the
/// Rego `files`, `input` and `data` (scripts/setup-tools.sh installs
/// `opa-eval`).
fn opa(
    files: &[std::path::PathBuf],
    input: &serde_json::Value,
    data: &serde_json::Value,
) -> serde_json::Value {
    let request = serde_json::json!({"query": "data.main", "input": input, "data": data});
    let mut child = Command::new("opa-eval")
        .args(files)
        .env("PATH", crate::support::tools_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("opa-eval runs (scripts/setup-tools.sh installs it)");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("request written");
    }
    let out = child.wait_with_output().expect("opa-eval finishes");
    assert!(
        out.status.success(),
        "opa-eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("OPA's JSON")
}

/// The messages of a package's document, by strata's rule names
/// (conftest's convention): `(rule, message)`.
fn messages(document: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (rule, value) in document.as_object().expect("the package's document") {
        let kind = match rule.split('_').next().unwrap_or_default() {
            "deny" | "violation" => "deny",
            "warn" => "warn",
            "approve" => "approve",
            _ => continue,
        };
        let found = match value {
            serde_json::Value::Array(m) => m.clone(),
            serde_json::Value::Bool(true) => vec![serde_json::Value::String(rule.clone())],
            _ => Vec::new(),
        };
        for m in found {
            let text = m["msg"]
                .as_str()
                .or(m.as_str())
                .expect("a message")
                .to_owned();
            out.push((kind.to_owned(), text));
        }
    }
    out
}

/// strata's findings as `(rule, message)`, sorted.
fn findings(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut got: Vec<(String, String)> = report["policy"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    got
}

/// conftest's own Kubernetes example, policies and manifests as written
/// for `conftest test`, and a policy written for `conftest test` on a
/// plan's JSON: each sees what conftest would show it, messages name
/// their items, and OPA's engine agrees object by object.
#[test]
fn conftest_policies_run_as_written_per_object_and_per_stack() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policy/conftest-kubernetes");
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "iam" {
  path = "infra/iam"
}

workload "hello" {
  path      = "k8s/hello"
  namespace = "default"
  timeout   = "20s"
}

policy "conftest" {
  path  = "policy/kubernetes"
  input = "kubernetes"
}

policy "plan" {
  path  = "policy/terraform"
  input = "terraform"
}
"#,
    )
    .write(
        "infra/iam/main.tf",
        "resource \"terraform_data\" \"role_ci\" {\n  input = \"ci\"\n}\n",
    )
    .write(
        "policy/terraform/plan.rego",
        r#"package main

import rego.v1

denylist := ["terraform_data.role"]

warn contains msg if {
    some rc in input.resource_changes
    some prefix in denylist
    startswith(rc.address, prefix)
    msg := sprintf("the plan changes %s", [rc.address])
}
"#,
    );
    for name in [
        "deny",
        "kubernetes",
        "labels",
        "violation",
        "warn",
        "base_test",
    ] {
        let text =
            std::fs::read_to_string(fixture.join(format!("policy/{name}.rego"))).expect("fixture");
        repo.write(&format!("policy/kubernetes/{name}.rego"), &text);
    }
    for name in ["deployment", "service"] {
        let text = std::fs::read_to_string(fixture.join(format!("manifests/{name}.yaml")))
            .expect("fixture");
        repo.write(&format!("k8s/hello/{name}.yaml"), &text);
    }
    repo.commit("conftest's example");

    let run = strata.kube(
        &repo,
        &cluster,
        &["apply", "--auto-approve", "--format", "json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert!(!cluster.exists(&["deployment", "hello-kubernetes", "-n", "default"]));
    let got: Vec<(String, String, String)> = report["policy"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let item = match (f["stack"].as_str(), f["workload"].as_str()) {
                (Some(s), _) => format!("{s}: {}", f["address"].as_str().unwrap_or_default()),
                (None, Some(w)) => format!("{w}: {}", f["address"].as_str().unwrap_or_default()),
                _ => String::new(),
            };
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                item,
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let deployment = "hello: Deployment/default/hello-kubernetes";
    let wanted = [
        (
            "deny",
            deployment,
            "Containers must not run as root in Deployment hello-kubernetes",
        ),
        (
            "deny",
            deployment,
            "Deployment hello-kubernetes must provide app/release labels for pod selectors",
        ),
        (
            "deny",
            deployment,
            "Found deployment hello-kubernetes but deployments are not allowed",
        ),
        (
            "deny",
            deployment,
            "hello-kubernetes must include Kubernetes recommended labels: https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/#labels",
        ),
        (
            "warn",
            "hello: Service/default/hello-kubernetes",
            "Found service hello-kubernetes but services are not allowed",
        ),
        ("warn", "iam: ", "the plan changes terraform_data.role_ci"),
    ];
    let wanted: Vec<(String, String, String)> = wanted
        .iter()
        .map(|(r, i, m)| ((*r).to_owned(), (*i).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(got, wanted, "{report:#}");

    // OPA, object by object and stack by stack, on the inputs strata kept.
    let id = report["run_id"].as_str().expect("a run id");
    let input: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            strata
                .state
                .path()
                .join("runs")
                .join(id)
                .join("policy-input.json"),
        )
        .expect("the policy input"),
    )
    .expect("JSON");
    let dir = repo.path().join("policy/kubernetes");
    let kubernetes: Vec<std::path::PathBuf> = [
        "deny",
        "kubernetes",
        "labels",
        "violation",
        "warn",
        "base_test",
    ]
    .iter()
    .map(|n| dir.join(format!("{n}.rego")))
    .collect();
    let mut expected = Vec::new();
    for change in input["workloads"][0]["changes"]
        .as_array()
        .expect("changes")
    {
        expected.extend(messages(&opa(
            &kubernetes,
            &change["desired"],
            &serde_json::json!({}),
        )));
    }
    let stack = serde_json::json!({
        "resource_changes": input["stacks"][0]["resource_changes"],
        "stack": {"name": "iam", "path": "infra/iam"},
    });
    expected.extend(messages(&opa(
        &[repo.path().join("policy/terraform/plan.rego")],
        &stack,
        &serde_json::json!({}),
    )));
    expected.sort();
    assert_eq!(findings(&report), expected, "strata and OPA disagree");
}

/// At a terminal, an item a policy's `approve` rule names is asked for
/// like a destructive one: the prompt shows the policy's message, and
/// only `yes` applies.
#[test]
fn at_a_terminal_an_approve_rule_asks_and_yes_applies() {
    use crate::apply::{app_repo, applied, change_app, planned_action};
    let repo = app_repo("");
    let strata = applied(&repo);
    let hcl = std::fs::read_to_string(repo.path().join("strata.hcl")).expect("strata.hcl");
    repo.write(
        "strata.hcl",
        &format!("{hcl}\npolicy \"sizes\" {{\n  path = \"policy\"\n}}\n"),
    )
    .write(
        "policy/sizes.rego",
        r#"package main

approve contains {"msg": sprintf("resizing to %s needs the capacity team", [rc.change.after.input]), "stack": s.name, "address": rc.address} if {
    some s in input.stacks
    some rc in s.resource_changes
    rc.address == "terraform_data.server"
    "update" in rc.change.actions
}
"#,
    );
    // Not destructive: only the policy asks for a person.
    change_app(&repo, 1, "large");
    let terminal = crate::support::Terminal::start(&strata, &repo, &["apply"]);
    let screen = terminal.wait_for("Enter a value:");
    assert!(
        screen.contains("approve  sizes  stack app: terraform_data.server  resizing to large needs the capacity team"),
        "{screen}"
    );
    assert!(
        screen.contains(
            "app  update  terraform_data.server  policy sizes: resizing to large needs the capacity team"
        ),
        "{screen}"
    );
    terminal.keys(&["yes", "Enter"]);
    let (code, screen) = terminal.exit_code();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        planned_action(&strata, &repo, "terraform_data.server"),
        "none"
    );
    let audit = strata.audit();
    let last = audit.last().expect("a decision");
    assert_eq!(last["decision"], "approved", "{audit:#?}");
    assert_eq!(last["by"], "prompt");
}
