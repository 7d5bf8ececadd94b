use crate::support::{Repo, Strata};

#[test]
fn validate_accepts_a_good_repository_and_lists_what_it_checked() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path = \"infra/net\"\n}\n\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  depends_on = [\"net\"]\n}\n",
    )
    .write("infra/net/main.tf", "resource \"terraform_data\" \"x\" {}\n")
    .write("k8s/apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
    repo.commit("good");
    let run = Strata::new().on(&repo, &["validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("Valid: 1 stack(s) (net), 1 workload(s) (apps)"),
        "{run:?}"
    );
    let json = Strata::new()
        .on(&repo, &["validate", "--format", "json"])
        .json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["config"], "strata.hcl");
}

#[test]
fn validate_reports_terraform_syntax_errors_with_file_and_line() {
    let repo = Repo::new();
    repo.write(
        "infra/net/main.tf",
        "resource \"terraform_data\" \"x\" {\n  input = \"ok\"\n}\n\nresource \"terraform_data\" \"y\" {\n  input = \n}\n",
    );
    repo.commit("broken");
    let run = Strata::new().on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("infra/net/main.tf:6:"), "{run:?}");
    assert!(run.stdout.contains("Invalid"), "{run:?}");
}

#[test]
fn validate_checks_manifests_without_a_cluster() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "stack \"net\" {\n  path = \"infra/net\"\n}\n\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n}\n",
    )
    .write("infra/net/main.tf", "resource \"terraform_data\" \"x\" {}\n")
    .write(
        "k8s/apps/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: \"${stack.network.id}\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )
    .write("k8s/apps/b.yaml", "apiVersion: v1\nmetadata:\n  name: b\n")
    .write("k8s/apps/c.yaml", "kind: [\n");
    repo.commit("bad manifests");
    let run = Strata::new().on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    for expected in [
        "k8s/apps/a.yaml:1: document 1: ${stack.network.id}: there is no stack \"network\"",
        "k8s/apps/a.yaml:7: document 2: ConfigMap \"a\" is defined twice; first in k8s/apps/a.yaml (document 1)",
        "k8s/apps/b.yaml:1: document 1: missing kind",
        "k8s/apps/c.yaml:1: document 1: invalid YAML",
    ] {
        assert!(run.stdout.contains(expected), "{expected}\n{run:?}");
    }
}

#[test]
fn init_writes_a_strata_hcl_for_the_discovered_layout() {
    let repo = Repo::new();
    repo.write(
        "infra/network/main.tf",
        "resource \"terraform_data\" \"x\" {}\n",
    )
    .write(
        "terraform/dns/main.tf",
        "resource \"terraform_data\" \"y\" {}\n",
    )
    .write(
        "k8s/apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    repo.commit("layout");
    let strata = Strata::new();

    // Without a strata.hcl the layout is discovered.
    let json = strata.on(&repo, &["validate", "--format", "json"]).json();
    assert_eq!(json["config"], "discovered", "{json:#}");

    let run = strata.on(&repo, &["init"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("2 stack(s) (network, dns)"), "{run:?}");
    let written = std::fs::read_to_string(repo.path().join("strata.hcl")).unwrap();
    assert!(written.contains("stack \"network\""), "{written}");
    assert!(
        written.contains("path = \"terraform/dns\"") || written.contains("\"terraform/dns\""),
        "{written}"
    );
    assert!(written.contains("workload \"apps\""), "{written}");

    // It refuses to overwrite, and what it wrote is valid.
    let again = strata.on(&repo, &["init"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already exists"), "{again:?}");
    repo.commit("add strata.hcl");
    let run = strata.on(&repo, &["validate", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["config"], "strata.hcl");
}

/// `strata graph` on the example: a snapshot, and a structural check that
/// every edge joins declared nodes.
#[test]
fn graph_draws_the_example_with_the_outputs_that_flow() {
    let example = crate::support::example_dir();
    let path = example.to_str().unwrap();
    let strata = Strata::new();
    let run = strata.run(&["graph", "--repo", path, "--worktree"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        r#"flowchart LR
    s0["network<br/><small>infra/network</small>"]
    s1["database<br/><small>infra/database</small>"]
    s2["edge<br/><small>infra/edge</small>"]
    w0[/"apps<br/><small>k8s/apps</small>"/]
    o0(["database outputs<br/><small>ConfigMap apps/database-outputs, Secret apps/database-secrets</small>"])
    o0 --> w0
    s0 --> s1
    s0 --> s2
    s1 --> o0
    s1 -- "endpoint" --> w0
"#
    );
    crate::support::check_mermaid(&run.stdout);
    let dot = strata.run(&["graph", "--repo", path, "--worktree", "--dot"]);
    assert_eq!(dot.code, 0, "{dot:?}");
    assert!(dot.stdout.starts_with("digraph strata {"), "{dot:?}");
    assert!(
        dot.stdout.contains("s1 -> w0 [label=\"endpoint\"];"),
        "{dot:?}"
    );
    assert_eq!(
        dot.stdout.matches('{').count(),
        dot.stdout.matches('}').count()
    );
}

/// `strata completion bash` is a script the real bash loads, and it
/// completes commands, flags and their values.
#[test]
fn the_bash_completion_completes_commands_flags_and_values() {
    let strata = Strata::new();
    let script = strata.run(&["completion", "bash"]);
    assert_eq!(script.code, 0, "{script:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strata.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let complete = |words: &[&str]| -> String {
        let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
        let last = words.len() - 1;
        let program = format!(
            "source {file:?}; COMP_WORDS=({}); COMP_CWORD={last}; _strata strata {:?} {:?}; echo \"${{COMPREPLY[*]}}\"",
            quoted.join(" "),
            words[last],
            words[last - 1],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &program])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(complete(&["strata", "pl"]), "plan");
    assert_eq!(
        complete(&["strata", "plan", "--for"]),
        "--force-conflicts --format"
    );
    assert_eq!(
        complete(&["strata", "plan", "--format", ""]),
        "text json markdown"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = strata.run(&["completion", shell]);
        assert_eq!(script.code, 0, "{script:?}");
        assert!(script.stdout.contains("strata"), "{shell}");
    }
}

/// Every command's `--help` ends with examples a person can paste.
#[test]
fn every_command_help_has_examples() {
    let strata = Strata::new();
    for command in [
        "plan",
        "apply",
        "drift",
        "approve",
        "runs",
        "inspect",
        "validate",
        "init",
        "watch",
        "graph",
        "completion",
    ] {
        let help = strata.run(&[command, "--help"]);
        assert_eq!(help.code, 0, "{help:?}");
        let examples = help
            .stdout
            .split_once("Examples:\n")
            .or_else(|| help.stdout.split_once("as kubectl's:\n"))
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{command}: no examples:\n{}", help.stdout));
        assert!(
            examples.trim_start().starts_with("strata ") || examples.contains("strata "),
            "{command}: {examples}"
        );
    }
}
