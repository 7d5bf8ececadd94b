//! One root module, one stack per environment: stacks that share a `path`
//! each have their own state, data directory and variables, plan in
//! parallel, and feed their own outputs to manifests.

use std::process::Command;

use crate::support::{Cluster, Repo, Strata, named, terraform};

const MODULE: &str = r#"variable "env" {
  type = string
}

resource "terraform_data" "net" {
  input = "net-${var.env}"
}

output "name" {
  value = terraform_data.net.output
}
"#;

fn repo(hcl: &str) -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", hcl)
        .write("infra/net/main.tf", MODULE)
        .write("infra/net/staging.tfvars", "env = \"staging\"\n");
    repo.commit("one module, two environments");
    repo
}

const TWO: &str = r#"stack "net-prod" {
  path = "infra/net"
  vars = { env = "prod" }
}

stack "net-staging" {
  path      = "infra/net"
  var_files = ["staging.tfvars"]
}
"#;

/// `terraform output -json` of stack `name` of the module at `path`,
/// which it shares with others, run by hand as a person would: in the
/// tree, with the stack's data directory and workspace
/// (docs/configuration.md says where they are).
fn outputs(strata: &Strata, path: &str, name: &str, workspace: Option<&str>) -> serde_json::Value {
    let dir = strata.tree().join(path);
    let mut command = Command::new(terraform());
    command
        .args(["output", "-json"])
        .current_dir(&dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("TF_DATA_DIR", dir.join(format!(".terraform-{name}")));
    if let Some(workspace) = workspace {
        command.env("TF_WORKSPACE", workspace);
    }
    let out = command.output().expect("terraform runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn stacks_sharing_a_path_have_their_own_state_and_converge_once() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo(&format!(
        "{TWO}\nworkload \"apps\" {{\n  path = \"k8s\"\n  namespace = \"default\"\n  depends_on = [\"net-prod\", \"net-staging\"]\n}}\n"
    ));
    repo.write(
        "k8s/nets.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nets\ndata:\n  prod: \"${stack.net-prod.name}\"\n  staging: \"${stack.net-staging.name}\"\n",
    );
    repo.commit("the networks' names in the cluster");

    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    // Each has its own state, in the workspace named after it.
    assert_eq!(
        outputs(&strata, "infra/net", "net-prod", Some("net-prod"))["name"]["value"],
        "net-prod"
    );
    assert_eq!(
        outputs(&strata, "infra/net", "net-staging", Some("net-staging"))["name"]["value"],
        "net-staging"
    );
    let nets = cluster.get(&["configmap", "nets", "-n", "default"]);
    assert_eq!(nets["data"]["prod"], "net-prod", "{nets}");
    assert_eq!(nets["data"]["staging"], "net-staging", "{nets}");

    // The next plan has nothing to do: neither overwrote the other.
    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    for stack in plan.json()["stacks"].as_array().unwrap() {
        assert_eq!(stack["status"], "in_sync", "{stack}");
    }
}

#[test]
fn stacks_that_would_share_one_state_are_refused() {
    let strata = Strata::new();
    let repo = repo(
        r#"stack "net-prod" {
  path      = "infra/net"
  vars      = { env = "prod" }
  workspace = "net"
}

stack "net-staging" {
  path      = "infra/net"
  var_files = ["staging.tfvars"]
  workspace = "net"
}
"#,
    );
    for command in ["validate", "plan"] {
        let run = strata.on(&repo, &[command]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.contains(
                "strata.hcl:8:15: stacks \"net-prod\" and \"net-staging\" both use \"infra/net\" with the same backend configuration and workspace, so they would share one state; give each its own backend_config (a different key or prefix) or workspace"
            ),
            "{run:?}"
        );
    }
}

/// A module that was one stack gets a second environment: the state it
/// had (Terraform's default workspace) must be claimed, or its resources
/// would be planned as new.
#[test]
fn the_state_of_a_module_from_before_it_was_shared_must_be_claimed() {
    let strata = Strata::new();
    let repo = repo("stack \"net\" {\n  path = \"infra/net\"\n  vars = { env = \"prod\" }\n}\n");
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");

    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path = \"infra/net\"\n  vars = { env = \"prod\" }\n}\n\nstack \"net-staging\" {\n  path      = \"infra/net\"\n  var_files = [\"staging.tfvars\"]\n}\n",
    );
    repo.commit("a staging environment");
    let plan = strata.on(&repo, &["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr.contains(
            "infra/net/terraform.tfstate holds the state of Terraform's default workspace, from before \"net\" and \"net-staging\" shared \"infra/net\", and none of them uses it: set workspace = \"default\" on the stack it belongs to"
        ),
        "{plan:?}"
    );

    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path      = \"infra/net\"\n  vars      = { env = \"prod\" }\n  workspace = \"default\"\n}\n\nstack \"net-staging\" {\n  path      = \"infra/net\"\n  var_files = [\"staging.tfvars\"]\n}\n",
    );
    repo.commit("the old state is net's");
    let plan = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    let status = |name| named(&report, "stacks", name)["status"].clone();
    assert_eq!(status("net"), "in_sync", "{report:#}");
    assert_eq!(status("net-staging"), "changes", "{report:#}");
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(
        outputs(&strata, "infra/net", "net", None)["name"]["value"],
        "net-prod"
    );
}

const APP: &str = r#"variable "net" {
  type = string
}

resource "terraform_data" "app" {
  input = var.net
}

output "net" {
  value = terraform_data.app.output
}
"#;

/// Each environment's app takes its own network's output through `vars`:
/// planned once the network is applied, in the same apply, and again
/// whenever that output changes. No terraform_remote_state path into
/// strata's state directory.
#[test]
fn vars_take_another_stacks_outputs_per_environment() {
    let strata = Strata::new();
    let repo = repo(&format!(
        "{TWO}\nstack \"app-prod\" {{\n  path = \"infra/app\"\n  vars = {{ net = \"${{stack.net-prod.name}}\" }}\n}}\n\nstack \"app-staging\" {{\n  path = \"infra/app\"\n  vars = {{ net = \"${{stack.net-staging.name}}\" }}\n}}\n"
    ));
    repo.write("infra/app/main.tf", APP);
    repo.commit("an app per environment");

    let plan = strata.on(&repo, &["plan"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout.contains(
            "Stack app-prod (infra/app)\n  planned once net-prod is applied: its vars use outputs known only then"
        ),
        "{plan:?}"
    );
    let json = strata.on(&repo, &["plan", "--format", "json"]).json();
    let stack = |report, name| named(report, "stacks", name).clone();
    assert_eq!(stack(&json, "app-staging")["waiting_for"], "net-staging");

    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(
        outputs(&strata, "infra/app", "app-prod", Some("app-prod"))["net"]["value"],
        "net-prod"
    );
    assert_eq!(
        outputs(&strata, "infra/app", "app-staging", Some("app-staging"))["net"]["value"],
        "net-staging"
    );
    let again = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(again.code, 0, "{again:?}");

    // Staging's network changes its output: staging's app follows, prod's
    // does not move.
    repo.write("infra/net/staging.tfvars", "env = \"staging-2\"\n");
    repo.commit("staging's network renamed");
    let plan = strata.on(&repo, &["plan", "--format", "json"]).json();
    assert_eq!(stack(&plan, "app-staging")["waiting_for"], "net-staging");
    assert_eq!(stack(&plan, "app-prod")["status"], "in_sync");
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(
        outputs(&strata, "infra/app", "app-staging", Some("app-staging"))["net"]["value"],
        "net-staging-2"
    );
    assert_eq!(
        outputs(&strata, "infra/app", "app-prod", Some("app-prod"))["net"]["value"],
        "net-prod"
    );
}

/// A sensitive output in another stack's vars reaches Terraform through
/// the environment: strata writes it into no file of its own and prints it
/// nowhere.
#[test]
fn a_sensitive_output_in_vars_is_in_no_file_strata_writes() {
    const SECRET: &str = "corpus-s3cret-value-7f3a";
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "stack \"db\" {\n  path = \"infra/db\"\n}\n\nstack \"app\" {\n  path = \"infra/app\"\n  vars = { net = \"${stack.db.password}\" }\n}\n",
    )
    .write(
        "infra/db/main.tf",
        &format!(
            "output \"password\" {{\n  value     = \"{SECRET}\"\n  sensitive = true\n}}\n"
        ),
    )
    .write(
        "infra/app/main.tf",
        "variable \"net\" {\n  type      = string\n  sensitive = true\n}\n\nresource \"terraform_data\" \"app\" {\n  input = var.net\n}\n",
    );
    repo.commit("a password from one stack to another");
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        !apply.stdout.contains(SECRET) && !apply.stderr.contains(SECRET),
        "{apply:?}"
    );
    // Terraform got it: the app's state has it.
    let state = std::fs::read_to_string(strata.tree().join("infra/app/terraform.tfstate")).unwrap();
    assert!(state.contains(SECRET));
    // strata's own files (run records, var files) do not; Terraform's
    // plan files and state are Terraform's.
    let mut stack = vec![strata.state.path().join("runs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if !name.ends_with("tfplan") && name != "plan.json" {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SECRET),
                    "{} holds the secret",
                    path.display()
                );
            }
        }
    }
}

/// A changed-only run after a commit to one environment's var file plans
/// that environment alone, though the other shares its directory.
#[test]
fn a_commit_to_one_environments_var_file_plans_that_environment_alone() {
    let strata = Strata::new();
    let repo = repo(TWO);
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    repo.write("infra/net/staging.tfvars", "env = \"staging-2\"\n");
    repo.commit("staging 2");
    let plan = strata.on(&repo, &["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    assert_eq!(named(&report, "stacks", "net-staging")["status"], "changes");
    assert_eq!(named(&report, "stacks", "net-prod")["status"], "skipped");
    // The module itself is both environments' input.
    repo.write("infra/net/main.tf", &format!("{MODULE}\n# a comment\n"));
    repo.commit("the module");
    let plan = strata.on(&repo, &["plan", "--changed", "--format", "json"]);
    let report = plan.json();
    assert_eq!(
        named(&report, "stacks", "net-prod")["status"],
        "in_sync",
        "{report:#}"
    );
    assert_eq!(named(&report, "stacks", "net-staging")["status"], "changes");
}
