//! Changed-only runs: `plan --changed` and `apply --changed` plan what a
//! commit changed since it was last applied, and what depends on it; the
//! rest is reported as skipped, and Terraform is not even started for it.

use crate::support::{Cluster, Repo, Strata, TerraformCalls, Watch, eventually, named};

const HCL: &str = r#"stack "net" {
  path = "stacks/net"
}

stack "app" {
  path       = "stacks/app"
  depends_on = ["net"]
}

stack "other" {
  path = "stacks/other"
}

workload "apps" {
  path       = "k8s/apps"
  namespace  = "default"
  depends_on = ["net"]
}

workload "static" {
  path      = "k8s/static"
  namespace = "default"
}
"#;

fn data(name: &str, input: &str) -> String {
    format!(
        "resource \"terraform_data\" \"{name}\" {{\n  input = \"{input}\"\n}}\n\noutput \"value\" {{\n  value = terraform_data.{name}.output\n}}\n"
    )
}

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// Three stacks (`app` after `net`, through a local module), a workload
/// fed by `net`, and one that needs nothing.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", HCL)
        .write("stacks/net/main.tf", &data("net", "net-1"))
        .write(
            "stacks/app/main.tf",
            "module \"m\" {\n  source = \"../../modules/m\"\n}\n",
        )
        .write("modules/m/main.tf", &data("m", "m-1"))
        .write("stacks/other/main.tf", &data("other", "other-1"))
        .write(
            "k8s/apps/net.yaml",
            &config_map("net", "${stack.net.value}"),
        )
        .write("k8s/static/static.yaml", &config_map("static", "1"))
        .write("README.md", "docs\n");
    repo.commit("first");
    repo
}

/// The names of `list` in `report` with status `status`, sorted.
fn with_status(report: &serde_json::Value, list: &str, status: &str) -> Vec<String> {
    let mut names: Vec<String> = report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {report:#}"))
        .iter()
        .filter(|e| e["status"] == status)
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The stack directories Terraform was started in (other than for
/// `terraform version`), sorted and deduplicated.
fn planned_in(calls: &TerraformCalls) -> Vec<String> {
    let mut dirs: Vec<String> = calls
        .take()
        .into_iter()
        .filter(|c| !c.ends_with(" version"))
        .map(|c| c.split(' ').next().unwrap().to_owned())
        .collect();
    dirs.dedup();
    dirs
}

#[test]
fn a_commit_plans_and_applies_only_what_it_changed_and_what_depends_on_it() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let calls = TerraformCalls::new();
    let repo = repo();
    let kubeconfig = cluster.kubeconfig();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", kubeconfig.to_str().unwrap()]);
        strata.counted(&calls, &repo, &all)
    };

    // Never applied: --changed plans everything.
    let first = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(first.code, 2, "{first:?}");
    assert_eq!(with_status(&first.json(), "stacks", "changes").len(), 3);
    let apply = run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let first_commit = repo.git(&["rev-parse", "HEAD"]);

    // Nothing changed since: everything is skipped, and no Terraform runs.
    calls.take();
    let plan = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let report = plan.json();
    assert_eq!(
        with_status(&report, "stacks", "skipped"),
        ["app", "net", "other"]
    );
    assert_eq!(
        with_status(&report, "workloads", "skipped"),
        ["apps", "static"]
    );
    let reason = named(&report, "stacks", "net")["skipped"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with(&format!("unchanged since {}", &first_commit[..12])),
        "{reason}"
    );
    assert_eq!(planned_in(&calls), Vec::<String>::new());
    // Said in text and Markdown too.
    let text = run(&["plan", "--changed"]);
    assert!(
        text.stdout.contains(&format!(
            "Stack net (stacks/net)  skipped: unchanged since {}",
            &first_commit[..12]
        )),
        "{text:?}"
    );
    assert!(text.stdout.contains("3 skipped as unchanged"), "{text:?}");
    let markdown = run(&["plan", "--changed", "--format", "markdown"]);
    assert!(
        markdown
            .stdout
            .contains("| `other` | skipped | unchanged since"),
        "{markdown:?}"
    );

    // A file elsewhere changes nothing.
    repo.write("README.md", "more docs\n");
    repo.commit("docs");
    calls.take();
    let plan = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(planned_in(&calls), Vec::<String>::new());

    // One stack's own file: that stack alone.
    repo.write("stacks/other/main.tf", &data("other", "other-2"));
    repo.commit("other 2");
    calls.take();
    let plan = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(with_status(&plan.json(), "stacks", "changes"), ["other"]);
    assert_eq!(planned_in(&calls), ["other"]);
    // A plan records nothing: planned again until applied.
    let again = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(with_status(&again.json(), "stacks", "changes"), ["other"]);

    // A local module: the stack that calls it.
    repo.write("modules/m/main.tf", &data("m", "m-2"));
    repo.commit("m 2");
    calls.take();
    let plan = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(
        with_status(&plan.json(), "stacks", "changes"),
        ["app", "other"]
    );
    assert_eq!(planned_in(&calls), ["app", "other"]);
    let apply = run(&["apply", "--changed", "--auto-approve", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let report = apply.json();
    assert_eq!(with_status(&report, "stacks", "applied"), ["app", "other"]);
    assert_eq!(with_status(&report, "stacks", "skipped"), ["net"]);
    let plan = run(&["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");

    // The stack a workload and another stack depend on: all three.
    repo.write("stacks/net/main.tf", &data("net", "net-2"));
    repo.commit("net 2");
    let plan = run(&["plan", "--changed", "--format", "json"]);
    let report = plan.json();
    assert_eq!(with_status(&report, "stacks", "changes"), ["net"]);
    // app is planned too (in sync: nothing of net's reaches it).
    assert_eq!(with_status(&report, "stacks", "skipped"), ["other"]);
    assert_eq!(with_status(&report, "workloads", "skipped"), ["static"]);
    calls.take();
    let apply = run(&["apply", "--changed", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(planned_in(&calls), ["app", "net"]);
    let net = cluster.get(&["configmap", "net", "-n", "default"]);
    assert_eq!(net["data"]["v"], "net-2", "{net}");

    // A manifest: its workload alone, no Terraform at all.
    repo.write("k8s/static/static.yaml", &config_map("static", "2"));
    repo.commit("static 2");
    calls.take();
    let apply = run(&["apply", "--changed", "--auto-approve", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let report = apply.json();
    assert_eq!(with_status(&report, "workloads", "applied"), ["static"]);
    assert_eq!(with_status(&report, "workloads", "skipped"), ["apps"]);
    assert_eq!(planned_in(&calls), Vec::<String>::new());
    let static_ = cluster.get(&["configmap", "static", "-n", "default"]);
    assert_eq!(static_["data"]["v"], "2", "{static_}");

    // And a full plan agrees that nothing is left to do.
    let plan = run(&["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
}

#[test]
fn a_stack_whose_apply_fails_is_planned_again_by_the_next_changed_run() {
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path = \"stacks/net\"\n}\n\nstack \"other\" {\n  path = \"stacks/other\"\n}\n",
    )
    .write("stacks/net/main.tf", &data("net", "net-1"))
    .write("stacks/other/main.tf", &data("other", "other-1"));
    repo.commit("first");
    let apply = strata.on(&repo, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");

    // The plan is fine; the apply fails.
    repo.write(
        "stacks/other/main.tf",
        &format!(
            "{}\nresource \"terraform_data\" \"boom\" {{\n  provisioner \"local-exec\" {{\n    command = \"exit 1\"\n  }}\n}}\n",
            data("other", "other-1")
        ),
    );
    repo.commit("boom");
    let apply = strata.on(
        &repo,
        &["apply", "--changed", "--auto-approve", "--format", "json"],
    );
    assert_eq!(apply.code, 1, "{apply:?}");
    assert_eq!(named(&apply.json(), "stacks", "other")["status"], "error");

    let plan = strata.on(&repo, &["plan", "--changed", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let report = plan.json();
    assert_eq!(named(&report, "stacks", "other")["status"], "changes");
    assert_eq!(named(&report, "stacks", "net")["status"], "skipped");
}

#[test]
fn changed_cannot_be_combined_with_a_saved_run() {
    let strata = Strata::new();
    let repo = repo();
    let apply = strata.on(
        &repo,
        &["apply", "--run", "20261206-000000-abcd", "--changed"],
    );
    assert_eq!(apply.code, 1, "{apply:?}");
    assert!(
        apply
            .stderr
            .contains("--changed cannot be combined with --run"),
        "{apply:?}"
    );
}

#[test]
fn watch_plans_only_what_a_new_commit_changed() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let calls = TerraformCalls::new();
    let repo = repo();
    let watch = Watch::start_with(
        &strata,
        &repo,
        &cluster.kubeconfig(),
        &[
            "--interval",
            "1s",
            "--resync",
            "1h",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        Some(&calls),
    );
    let value = |name: &str| {
        cluster
            .exists(&["configmap", name, "-n", "default"])
            .then(|| cluster.get(&["configmap", name, "-n", "default"])["data"]["v"].clone())
    };
    eventually(&watch, "the first commit converges", || {
        value("net") == Some("net-1".into()) && value("static") == Some("1".into())
    });
    eventually(&watch, "the first reconcile is over", || {
        watch.metric("strata_reconcile_duration_seconds_count") >= Some(1.0)
    });
    // The first reconcile planned everything.
    assert_eq!(planned_in(&calls), ["app", "net", "other"]);

    repo.write("stacks/other/main.tf", &data("other", "other-2"));
    repo.write("k8s/static/static.yaml", &config_map("static", "2"));
    repo.commit("other 2, static 2");
    eventually(&watch, "the new commit converges", || {
        value("static") == Some("2".into())
            && watch.metric("strata_reconcile_duration_seconds_count") >= Some(2.0)
    });
    assert_eq!(planned_in(&calls), ["other"]);
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
}
