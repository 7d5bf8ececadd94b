use crate::support::{Repo, Strata, stacks_hcl};

const STACK: &str = r#"
variable "size" {
  type    = string
  default = "small"
}

variable "generation" {
  type    = string
  default = "1"
}

resource "terraform_data" "server" {
  input = var.size
}

resource "terraform_data" "disk" {
  input            = "data"
  triggers_replace = [var.generation]
}

output "size" {
  value = var.size
}
"#;

fn app_repo() -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write("infra/app/main.tf", STACK);
    repo.commit("app stack");
    repo
}

fn change<'a>(report: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    report["stacks"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address} in {report:#}"))
}

/// The life of one stack: first plan, apply, no changes, update, replace,
/// forget, move and import — each against the real Terraform.
#[test]
fn a_stack_from_first_plan_to_every_kind_of_change() {
    let repo = app_repo();
    let strata = Strata::new();

    // First plan: everything is created.
    let run = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    assert_eq!(report["version"], 1);
    assert_eq!(report["command"], "plan");
    assert_eq!(report["result"], "changes");
    assert_eq!(report["source"]["commit"], repo.git(&["rev-parse", "HEAD"]));
    assert_eq!(report["source"]["worktree"], false);
    let stack = &report["stacks"][0];
    assert_eq!(stack["name"], "app");
    assert_eq!(stack["path"], "infra/app");
    assert_eq!(stack["status"], "changes");
    assert_eq!(stack["summary"]["create"], 2);
    assert_eq!(change(&report, "terraform_data.server")["action"], "create");
    assert_eq!(report["destructive"], 0);

    // The text report uses terraform's glyphs and a summary line.
    let text = strata.on(&repo, &["plan"]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(
        text.stdout.contains("  + terraform_data.server"),
        "{text:?}"
    );
    assert!(
        text.stdout
            .contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{text:?}"
    );

    // After an apply, the same commit has nothing to do.
    strata.terraform("infra/app", &["apply", "-auto-approve", "-input=false"]);
    let run = strata.on(&repo, &["plan"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("No changes."), "{run:?}");
    assert_eq!(
        strata.on(&repo, &["plan", "--format", "json"]).json()["result"],
        "in_sync"
    );

    // A variable changed in strata.hcl: an in-place update, with the
    // attribute's before and after.
    repo.write(
        "strata.hcl",
        "stack \"app\" {\n  path = \"infra/app\"\n  vars = { size = \"large\" }\n}\n",
    );
    repo.commit("bigger server");
    let run = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let server = change(&report, "terraform_data.server");
    assert_eq!(server["action"], "update");
    assert_eq!(server["destructive"], false);
    let attrs = server["attributes"].as_array().expect("attributes");
    assert!(
        attrs
            .iter()
            .any(|a| a["before"] == "\"small\"" && a["after"] == "\"large\""),
        "{server:#}"
    );
    let text = strata.on(&repo, &["plan"]);
    assert!(
        text.stdout.contains("  ~ terraform_data.server"),
        "{text:?}"
    );
    assert!(text.stdout.contains("\"small\" → \"large\""), "{text:?}");

    // triggers_replace changed: a destructive replace, with its reason.
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write(
            "infra/app/main.tf",
            &STACK.replace("default = \"1\"", "default = \"2\""),
        );
    repo.commit("new disk generation");
    let run = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let disk = change(&report, "terraform_data.disk");
    assert_eq!(disk["action"], "replace");
    assert_eq!(disk["destructive"], true);
    let reason = disk["reason"].as_str().expect("reason");
    assert!(reason.contains("replace_because_cannot_update"), "{reason}");
    assert!(reason.contains("triggers_replace"), "{reason}");
    assert_eq!(report["destructive"], 1);
    let text = strata.on(&repo, &["plan"]);
    assert!(text.stdout.contains("-/+ terraform_data.disk"), "{text:?}");
    assert!(text.stdout.contains("DESTRUCTIVE"), "{text:?}");

    // A removed block: Terraform forgets the resource; that is destructive
    // (strata would lose track of a real object).
    let forgotten = STACK.replace(
        "resource \"terraform_data\" \"disk\" {\n  input            = \"data\"\n  triggers_replace = [var.generation]\n}",
        "removed {\n  from = terraform_data.disk\n  lifecycle {\n    destroy = false\n  }\n}",
    );
    assert_ne!(forgotten, STACK);
    repo.write("infra/app/main.tf", &forgotten);
    repo.commit("forget the disk");
    let report = strata.on(&repo, &["plan", "--format", "json"]).json();
    let disk = change(&report, "terraform_data.disk");
    assert_eq!(disk["action"], "forget");
    assert_eq!(disk["destructive"], true);
    assert_eq!(report["stacks"][0]["summary"]["forget"], 1);

    // moved and import blocks: reported, not destructive.
    let moved = format!(
        "{}\nmoved {{\n  from = terraform_data.server\n  to   = terraform_data.web\n}}\n\nresource \"terraform_data\" \"imported\" {{\n  input = \"x\"\n}}\n\nimport {{\n  to = terraform_data.imported\n  id = \"4a2c7f0e-0000-0000-0000-000000000001\"\n}}\n",
        STACK.replace("\"server\"", "\"web\"")
    );
    repo.write("infra/app/main.tf", &moved);
    repo.commit("rename and import");
    let run = strata.on(&repo, &["plan", "--format", "json"]);
    let report = run.json();
    let web = change(&report, "terraform_data.web");
    assert_eq!(web["action"], "move", "{report:#}");
    assert_eq!(web["previous_address"], "terraform_data.server");
    assert_eq!(web["destructive"], false);
    let imported = change(&report, "terraform_data.imported");
    assert_eq!(imported["destructive"], false);
    assert!(imported["importing"].is_string(), "{imported:#}");
    let summary = &report["stacks"][0]["summary"];
    assert_eq!(summary["move"], 1, "{summary}");
    assert_eq!(summary["import"], 1, "{summary}");
    assert_eq!(report["destructive"], 0, "{report:#}");
}

#[test]
fn markdown_has_a_table_per_stack_with_destructive_items_flagged() {
    let repo = app_repo();
    let strata = Strata::new();
    assert_eq!(strata.on(&repo, &["plan"]).code, 2);
    strata.terraform("infra/app", &["apply", "-auto-approve", "-input=false"]);
    repo.write(
        "infra/app/main.tf",
        &STACK.replace("default = \"1\"", "default = \"9\""),
    );
    repo.commit("replace the disk");
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("plan.md");
    let run = strata.on(
        &repo,
        &[
            "plan",
            "--format",
            "markdown",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "the report went to --out: {run:?}");
    let md = std::fs::read_to_string(&file).unwrap();
    assert!(md.starts_with("## strata plan: changes"), "{md}");
    assert!(
        md.contains("| Action | Address | Destructive | Details |"),
        "{md}"
    );
    assert!(
        md.contains("| `-/+` replace | `terraform_data.disk` | ⚠️ **yes** |"),
        "{md}"
    );
}

#[test]
fn inspect_classifies_plan_json_and_binary_plan_files() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/plan-json");
    let strata = Strata::new();

    let run = strata.run(&[
        "inspect",
        &format!("{fixtures}/terraform-show-json/requires-replace__output.json"),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    assert_eq!(report["command"], "inspect");
    assert!(report["destructive"].as_u64().unwrap() >= 1, "{report:#}");

    let run = strata.run(&[
        "inspect",
        &format!("{fixtures}/terraform-cloud/plan-json-no-changes__plan-unredacted.json"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = strata.run(&[
        "inspect",
        &format!("{fixtures}/terraform-json/invalid__plan.json"),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("line"), "{run:?}");

    // A binary plan file, as `terraform plan -out` writes it.
    let repo = app_repo();
    assert_eq!(strata.on(&repo, &["plan"]).code, 2);
    strata.terraform("infra/app", &["plan", "-input=false", "-out=saved.tfplan"]);
    let planfile = strata.tree().join("infra/app/saved.tfplan");
    let run = strata.run(&["inspect", planfile.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["stacks"][0]["summary"]["create"], 2);
}

/// The README's quickstart: plan the example repository in this checkout.
#[test]
fn the_example_repository_plans() {
    let strata = Strata::new();
    let cluster = crate::support::Cluster::start();
    let example = crate::support::example_dir();
    let run = strata.run(&[
        "plan",
        "--repo",
        example.to_str().unwrap(),
        "--worktree",
        "--format",
        "json",
        "--kubeconfig",
        cluster.kubeconfig().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let names: Vec<&str> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["network", "database", "edge"]);
    for stack in report["stacks"].as_array().unwrap() {
        assert_eq!(stack["status"], "changes", "{stack:#}");
    }
    assert_eq!(report["workloads"][0]["name"], "apps");
    assert_eq!(report["workloads"][0]["status"], "changes");
}
