use crate::support::{Repo, Strata, stacks_hcl};

fn resource(name: &str) -> String {
    format!("resource \"terraform_data\" \"{name}\" {{\n  input = \"{name}\"\n}}\n")
}

fn addresses(report: &serde_json::Value) -> Vec<String> {
    report["stacks"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ref_selects_a_tag_an_old_commit_or_a_branch() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write("infra/app/main.tf", &resource("first"));
    let first = repo.commit("first");
    repo.git(&["tag", "-a", "v1", "-m", "release 1"]);
    repo.write("infra/app/main.tf", &resource("second"));
    let second = repo.commit("second");
    repo.git(&["branch", "feature", &first]);
    let strata = Strata::new();

    let plan = |args: &[&str]| {
        let mut all = vec!["plan", "--format", "json"];
        all.extend_from_slice(args);
        let run = strata.on(&repo, &all);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        run.json()
    };
    let head = plan(&[]);
    assert_eq!(addresses(&head), ["terraform_data.second"]);
    assert_eq!(head["source"]["commit"], second);
    assert_eq!(head["source"]["ref"], "main");

    let tag = plan(&["--ref", "v1"]);
    assert_eq!(addresses(&tag), ["terraform_data.first"]);
    assert_eq!(tag["source"]["commit"], first);
    assert_eq!(tag["source"]["ref"], "v1");

    let short = plan(&["--ref", &first[..8]]);
    assert_eq!(addresses(&short), ["terraform_data.first"]);
    assert_eq!(short["source"]["commit"], first);

    let branch = plan(&["--ref", "feature"]);
    assert_eq!(addresses(&branch), ["terraform_data.first"]);

    // A commit made after the cache was filled is fetched.
    repo.write("infra/app/main.tf", &resource("third"));
    let third = repo.commit("third");
    let latest = plan(&[]);
    assert_eq!(addresses(&latest), ["terraform_data.third"]);
    assert_eq!(latest["source"]["commit"], third);

    // A file:// URL is the same repository.
    let url = format!("file://{}", repo.path().display());
    let run = strata.run(&["plan", "--format", "json", "--repo", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["source"]["commit"], third);
}

#[test]
fn worktree_plans_uncommitted_changes_and_says_so() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write("infra/app/main.tf", &resource("committed"));
    let head = repo.commit("committed");
    repo.write("infra/app/main.tf", &resource("uncommitted"));
    let strata = Strata::new();

    let run = strata.on(&repo, &["plan", "--worktree", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    assert_eq!(addresses(&report), ["terraform_data.uncommitted"]);
    assert_eq!(report["source"]["worktree"], true);
    assert_eq!(report["source"]["commit"], head);

    let text = strata.on(&repo, &["plan", "--worktree"]);
    assert!(
        text.stdout.contains("uncommitted changes (--worktree)"),
        "{text:?}"
    );

    // Without --worktree the committed tree is what counts.
    let report = strata.on(&repo, &["plan", "--format", "json"]).json();
    assert_eq!(addresses(&report), ["terraform_data.committed"]);
}

/// Terraform's state lives in strata's state directory, never in the
/// user's repository, and survives between runs.
#[test]
fn terraform_state_stays_out_of_the_repository() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("app", "infra/app", &[])]))
        .write("infra/app/main.tf", &resource("x"));
    repo.commit("app");
    let strata = Strata::new();
    assert_eq!(strata.on(&repo, &["plan"]).code, 2);
    strata.terraform("infra/app", &["apply", "-auto-approve", "-input=false"]);
    assert!(strata.tree().join("infra/app/terraform.tfstate").exists());
    assert_eq!(repo.git(&["status", "--porcelain", "--ignored"]), "");

    repo.write("README.md", "a new commit\n");
    repo.commit("unrelated");
    let run = strata.on(&repo, &["plan"]);
    assert_eq!(run.code, 0, "state survived the new checkout: {run:?}");
}
