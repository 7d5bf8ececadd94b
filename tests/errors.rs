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

#[test]
fn terraform_older_than_1_0_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("terraform");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho '{\"terraform_version\":\"0.15.5\",\"platform\":\"linux_amd64\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = repo_with(&stacks_hcl(&[("a", "infra/a", &[])]));
    let run: crate::support::Run = Strata::new()
        .command(&["plan", "--repo", repo.path().to_str().unwrap()])
        .env("STRATA_TERRAFORM", &fake)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("is Terraform 0.15.5; strata needs 1.0 or later"),
        "{run:?}"
    );
}

/// Someone else's `terraform apply` holds the stack's state lock: strata
/// says so, with Terraform's own lock information.
#[test]
fn a_held_state_lock_is_reported_with_its_lock_info() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "terraform {\n  lock_timeout = \"1s\"\n}\n\nstack \"app\" {\n  path = \"infra/app\"\n}\n",
    )
    .write(
        "infra/app/main.tf",
        "resource \"terraform_data\" \"slow\" {\n  provisioner \"local-exec\" {\n    command = \"sleep 30\"\n  }\n}\n",
    );
    repo.commit("a slow apply");
    let strata = Strata::new();
    assert_eq!(strata.on(&repo, &["plan"]).code, 2);

    let dir = strata.tree().join("infra/app");
    let mut apply = std::process::Command::new(crate::support::terraform())
        .args(["apply", "-auto-approve", "-input=false", "-no-color"])
        .current_dir(&dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The local backend records its lock beside the state while it holds it.
    let lock_info = dir.join(".terraform.tfstate.lock.info");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lock_info.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(lock_info.exists(), "terraform apply took the lock");

    let run = strata.on(&repo, &["plan", "--format", "json"]);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(apply.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = apply.wait();
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.json()["stacks"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("locked by another process"), "{error}");
    assert!(
        error.contains("ID:"),
        "Terraform's lock info is shown: {error}"
    );
    assert!(error.contains("OperationTypeApply"), "{error}");
}

/// A failing `check` block is a warning in Terraform: shown, not an error.
#[test]
fn failed_checks_are_shown_without_failing_the_plan() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write(
            "infra/app/main.tf",
            "resource \"terraform_data\" \"x\" {\n  input = \"x\"\n}\n\ncheck \"health\" {\n  assert {\n    condition     = terraform_data.x.input == \"y\"\n    error_message = \"the health endpoint is down\"\n  }\n}\n",
        );
    repo.commit("with a check");
    let strata = Strata::new();
    let run = strata.on(&repo, &["plan"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("check.health"), "{run:?}");
    assert!(
        run.stdout.contains("the health endpoint is down"),
        "{run:?}"
    );
    let report = strata.on(&repo, &["plan", "--format", "json"]).json();
    assert_eq!(report["stacks"][0]["status"], "changes");
    assert!(
        report["stacks"][0]["checks"][0]["address"]
            .as_str()
            .unwrap()
            .contains("health")
    );
}

/// A flag clap cannot read is bad input like any other: exit 1, not 2
/// (which means "changes"); `--help` is not an error.
#[test]
fn a_bad_flag_value_exits_1_and_help_exits_0() {
    let strata = Strata::new();
    let bad = strata.run(&["watch", "--metrics-addr", "nowhere"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr
            .contains("invalid value 'nowhere' for '--metrics-addr <ADDR>'"),
        "{bad:?}"
    );
    let help = strata.run(&["watch", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("--leader-elect"), "{help:?}");
}
