use crate::support::{Repo, Strata, TerraformCalls};

const STRATA_HCL: &str = r#"
stack "plain" { path = "infra/plain" }
stack "modular" { path = "infra/modular" }
stack "backed" { path = "infra/backed" }
"#;

const PLAIN: &str = r#"
resource "terraform_data" "a" { input = "a" }
resource "terraform_data" "b" { input = "b" }
output "b" { value = terraform_data.b.output }
"#;

fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", STRATA_HCL)
        .write("infra/plain/main.tf", PLAIN)
        .write(
            "infra/modular/main.tf",
            "module \"thing\" {\n  source = \"../modules/thing\"\n}\noutput \"id\" { value = module.thing.id }\n",
        )
        .write(
            "infra/modules/thing/main.tf",
            "resource \"terraform_data\" \"t\" { input = \"t\" }\noutput \"id\" { value = terraform_data.t.id }\n",
        )
        .write(
            "infra/backed/main.tf",
            "terraform {\n  backend \"local\" {\n    path = \"state/backed.tfstate\"\n  }\n}\nresource \"terraform_data\" \"x\" { input = 1 }\n",
        );
    repo.commit("three stacks");
    repo
}

fn calls(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Terraform runs only what each stack needs: `init` only for a stack
/// with something to install (a module, a backend) and only until it is
/// installed, `show` only for a plan with changes, `version` once for a
/// binary. A plan with nothing to do is one `terraform plan` per stack.
#[test]
fn each_stack_runs_only_the_terraform_commands_it_needs() {
    let repo = repo();
    let strata = Strata::new();
    let tf = TerraformCalls::new();

    let first = strata.counted(&tf, &repo, &["plan"]);
    assert_eq!(first.code, 2, "{first:?}");
    assert_eq!(
        tf.take(),
        calls(&[
            " version",
            "backed init",
            "backed plan",
            "backed show",
            "modular init",
            "modular plan",
            "modular show",
            "plain plan",
            "plain show",
        ]),
        "the plain stack, with only built-in resources and local state, needs no init"
    );

    let applied = strata.counted(&tf, &repo, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let during_apply = tf.take();
    assert!(
        !during_apply.iter().any(|c| c.ends_with(" init")),
        "installed by the plan before: {during_apply:?}"
    );

    let idle = strata.counted(&tf, &repo, &["plan", "--format", "json"]);
    assert_eq!(idle.code, 0, "{idle:?}");
    assert_eq!(
        tf.take(),
        calls(&["backed plan", "modular plan", "plain plan"]),
        "nothing to do: one plan per stack (and the version is known)"
    );
    let report = idle.json();
    for stack in report["stacks"].as_array().expect("stacks") {
        assert_eq!(stack["status"], "in_sync", "{report:#}");
        assert!(stack["unchanged"].is_null(), "not read: {report:#}");
    }

    // A new module call needs init again, for that stack only; a changed
    // resource does not.
    repo.write(
        "infra/modular/more.tf",
        "module \"other\" {\n  source = \"../modules/thing\"\n}\n",
    )
    .write(
        "infra/plain/main.tf",
        &PLAIN.replace("input = \"a\"", "input = \"a2\""),
    );
    repo.commit("another module call, a changed resource");
    let changed = strata.counted(&tf, &repo, &["plan"]);
    assert_eq!(changed.code, 2, "{changed:?}");
    assert_eq!(
        tf.take(),
        calls(&[
            "backed plan",
            "modular init",
            "modular plan",
            "modular show",
            "plain plan",
            "plain show",
        ])
    );
}

/// When Terraform's working directory lost what init installed (someone
/// removed `.terraform/modules`), Terraform says so, and strata runs init
/// and plans again.
#[test]
fn a_working_directory_that_lost_its_modules_is_initialized_again() {
    let repo = repo();
    let strata = Strata::new();
    let tf = TerraformCalls::new();
    let applied = strata.counted(&tf, &repo, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    tf.take();

    let modules = strata.tree().join("infra/modular/.terraform/modules");
    assert!(modules.is_dir(), "init installed the module");
    std::fs::remove_dir_all(&modules).expect("remove");
    let again = strata.counted(&tf, &repo, &["plan"]);
    assert_eq!(again.code, 0, "{again:?}");
    let ran = tf.take();
    assert_eq!(
        ran.iter().filter(|c| c.as_str() == "modular plan").count(),
        2,
        "planned, told to init, planned again: {ran:?}"
    );
    assert!(ran.contains(&"modular init".to_owned()), "{ran:?}");
}
