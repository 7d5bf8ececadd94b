use crate::support::{Repo, Strata, stacks_hcl};

const OK_STACK: &str = "resource \"terraform_data\" \"x\" {\n  input = \"x\"\n}\n";

fn repo_with(hcl: &str) -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", hcl)
        .write("infra/a/main.tf", OK_STACK)
        .write("infra/b/main.tf", OK_STACK);
    repo.commit("config");
    repo
}

/// Runs `strata plan` and `strata validate` on the repo: both must fail
/// with exit 1 and say `expected` on stderr, and leave no Terraform work
/// behind.
#[track_caller]
fn rejects(repo: &Repo, expected: &[&str]) {
    for command in ["plan", "validate"] {
        let strata = Strata::new();
        let run = strata.on(repo, &[command]);
        assert_eq!(run.code, 1, "{command}: {run:?}");
        for e in expected {
            assert!(
                run.stderr.contains(e),
                "{command}: expected {e:?} in {run:?}"
            );
        }
        assert!(
            run.stdout.is_empty(),
            "{command}: no report on a config error: {run:?}"
        );
        let tree_has_terraform = walk(strata.state.path())
            .iter()
            .any(|p| p.ends_with(".terraform") || p.ends_with("terraform.tfstate"));
        assert!(!tree_has_terraform, "{command}: nothing ran");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[test]
fn repository_path_that_does_not_exist() {
    let strata = Strata::new();
    let run = strata.run(&["plan", "--repo", "/nonexistent/strata/repo"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/strata/repo"), "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
}

#[test]
fn directory_that_is_not_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let strata = Strata::new();
    let run = strata.run(&["plan", "--repo", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not a git repository"), "{run:?}");
}

#[test]
fn unknown_ref() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &[])]));
    let run = Strata::new().on(&repo, &["plan", "--ref", "v9.9.9"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("unknown ref \"v9.9.9\""), "{run:?}");
}

#[test]
fn empty_repository() {
    let repo = Repo::new();
    let run = Strata::new().on(&repo, &["plan"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no commits"), "{run:?}");
}

#[test]
fn broken_hcl_names_file_and_line() {
    let repo = repo_with("stack \"a\" {\n  path = \"infra/a\"\n\nstack \"b\" {\n");
    rejects(&repo, &["strata.hcl:"]);
}

#[test]
fn unknown_attribute_names_file_line_and_suggests() {
    let repo = repo_with("stack \"a\" {\n  pth = \"infra/a\"\n}\n");
    rejects(
        &repo,
        &["strata.hcl:2", "unknown attribute \"pth\"", "path"],
    );
}

#[test]
fn unknown_block() {
    let repo = repo_with("stacks \"a\" {\n  path = \"infra/a\"\n}\n");
    rejects(&repo, &["strata.hcl:1", "stacks"]);
}

#[test]
fn duplicate_stack_name() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &[]), ("a", "infra/b", &[])]));
    rejects(&repo, &["strata.hcl:", "duplicate", "\"a\""]);
}

#[test]
fn path_missing_in_the_commit() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/nope", &[])]));
    rejects(&repo, &["strata.hcl:", "infra/nope", "does not exist"]);
}

#[test]
fn depends_on_naming_nothing() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &["netwrk"])]));
    rejects(&repo, &["strata.hcl:", "netwrk"]);
}

#[test]
fn dependency_cycle_is_named() {
    let repo = repo_with(&stacks_hcl(&[
        ("a", "infra/a", &["b"]),
        ("b", "infra/b", &["a"]),
    ]));
    rejects(&repo, &["dependency cycle", "\"a\"", "\"b\""]);
}

#[test]
fn missing_terraform_binary() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &[])]));
    let strata = Strata::new();
    let run = strata
        .command(&["plan", "--repo", repo.path().to_str().unwrap()])
        .env("STRATA_TERRAFORM", "/nonexistent/bin/terraform")
        .output()
        .unwrap();
    let run: crate::support::Run = run.into();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no Terraform binary found"), "{run:?}");
    assert!(run.stderr.contains("/nonexistent/bin/terraform"), "{run:?}");
}

#[test]
fn unknown_stack_filter() {
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &[])]));
    let run = Strata::new().on(&repo, &["plan", "--stack", "nope"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no stack named \"nope\""), "{run:?}");
    assert!(run.stderr.contains("a"), "{run:?}");
}

/// A stack whose Terraform is broken fails with Terraform's own message;
/// an unrelated stack is still planned; the dependent is skipped.
#[test]
fn broken_stack_fails_alone_and_skips_its_dependents() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &stacks_hcl(&[
            ("a", "infra/a", &[]),
            ("b", "infra/b", &["a"]),
            ("c", "infra/c", &[]),
        ]),
    )
    .write(
        "infra/a/main.tf",
        "resource \"terraform_data\" \"x\" {\n  input = undefined_thing\n}\n",
    )
    .write("infra/b/main.tf", OK_STACK)
    .write("infra/c/main.tf", OK_STACK);
    repo.commit("one broken stack");
    let run = Strata::new().on(&repo, &["plan", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["result"], "error");
    let status = |i: usize| report["stacks"][i]["status"].as_str().unwrap().to_owned();
    assert_eq!(
        (status(0), status(1), status(2)),
        ("error".into(), "skipped".into(), "changes".into())
    );
    let error = report["stacks"][0]["error"].as_str().unwrap();
    assert!(error.contains("terraform plan failed"), "{error}");
    assert!(error.contains("main.tf line 2"), "{error}");
    assert!(
        report["stacks"][1]["error"]
            .as_str()
            .unwrap()
            .contains("a failed")
    );
}

#[test]
fn inspect_of_a_missing_file() {
    let run = Strata::new().run(&["inspect", "/nonexistent/plan.json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/plan.json"), "{run:?}");
}
