//! Hostile repositories: whatever resolves outside the repository (a
//! symlink, a path, a kustomization's reference) is refused with exit 1 and
//! a message naming it, before anything runs or is written.

use crate::support::{Repo, Run, Strata};

const WORKLOAD: &str = "workload \"app\" {\n  path      = \"k8s/app\"\n  namespace = \"app\"\n}\n";

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";

/// A file outside any repository, holding a value that must never be printed.
fn outside_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("outside.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  token: hunter2-outside-secret\n",
    )
    .unwrap();
    path
}

#[track_caller]
fn refused(run: &Run, expected: &[&str]) {
    assert_eq!(run.code, 1, "{run:?}");
    for e in expected {
        assert!(run.stderr.contains(e), "expected {e:?} in {run:?}");
    }
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(
        !run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"),
        "{run:?}"
    );
}

/// A manifest that is a symlink to a file outside the repository is an
/// error naming the link and its target, in commit and worktree mode, for
/// plan and validate; an in-tree relative symlink keeps working.
#[test]
fn a_symlink_out_of_the_repository_is_an_error() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside_file(&outside);
    let repo = Repo::new();
    repo.write("strata.hcl", WORKLOAD)
        .write("k8s/app/settings.yaml", CONFIG_MAP)
        .write(
            "shared/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n",
        );
    std::os::unix::fs::symlink("../../shared/ns.yaml", repo.path().join("k8s/app/ns.yaml"))
        .unwrap();
    repo.commit("an in-tree link");
    let strata = Strata::new();
    let run = strata.on(&repo, &["validate"]);
    assert_eq!(run.code, 0, "an in-tree link is fine: {run:?}");
    assert!(run.stdout.contains("2 Kubernetes object(s)"), "{run:?}");

    std::os::unix::fs::symlink(&target, repo.path().join("k8s/app/stolen.yaml")).unwrap();
    repo.commit("a link out of the repository");
    let target = target.display().to_string();
    for args in [
        &["plan"][..],
        &["validate"],
        &["plan", "--worktree"],
        &["apply", "--auto-approve"],
    ] {
        let run = strata.on(&repo, args);
        refused(
            &run,
            &[
                "symlink \"k8s/app/stolen.yaml\"",
                &format!("points to \"{target}\""),
                "absolute path, outside the repository",
            ],
        );
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    // Through `..`, and to something the repository does not hold.
    repo.remove("k8s/app/stolen.yaml");
    std::os::unix::fs::symlink("../../../x.yaml", repo.path().join("k8s/app/up.yaml")).unwrap();
    repo.commit("a relative link out");
    let run = strata.on(&repo, &["validate"]);
    refused(
        &run,
        &[
            "symlink \"k8s/app/up.yaml\"",
            "\"../../../x.yaml\"",
            "leaves the repository",
        ],
    );
    repo.remove("k8s/app/up.yaml");
    std::os::unix::fs::symlink(
        "../../infra/a/terraform.tfstate",
        repo.path().join("k8s/app/state.yaml"),
    )
    .unwrap();
    repo.commit("a link to what is not committed");
    let run = strata.on(&repo, &["validate"]);
    refused(
        &run,
        &[
            "symlink \"k8s/app/state.yaml\"",
            "\"infra\" is not in the repository",
        ],
    );
}

/// Paths of strata.hcl that are absolute, climb out with `..`, or lead out
/// through a symlink (out of the project directory `--repo` names) are
/// errors at their line, for plan and validate alike.
#[test]
fn config_paths_out_of_the_repository_are_errors() {
    const STACK: &str = "resource \"terraform_data\" \"x\" {}\n";
    let cases: &[(&str, &[&str])] = &[
        (
            "stack \"a\" {\n  path = \"/etc\"\n}\n",
            &[
                "strata.hcl:2:",
                "path \"/etc\" of stack \"a\" is outside the repository",
            ],
        ),
        (
            "workload \"w\" {\n  path = \"/tmp\"\n}\n",
            &[
                "strata.hcl:2:",
                "path \"/tmp\" of workload \"w\" is outside the repository",
            ],
        ),
        (
            "workload \"w\" {\n  path = \"k8s/../../w\"\n}\n",
            &[
                "strata.hcl:2:",
                "\"k8s/../../w\" of workload \"w\" is outside",
            ],
        ),
        (
            "stack \"a\" {\n  path = \"infra/a\"\n  var_files = [\"/etc/passwd\"]\n}\n",
            &[
                "strata.hcl:3:",
                "var file \"/etc/passwd\" of stack \"a\" is outside the repository",
            ],
        ),
        (
            "stack \"a\" {\n  path = \"infra/a\"\n  var_files = [\"../../../secret.tfvars\"]\n}\n",
            &[
                "strata.hcl:3:",
                "var file \"../../../secret.tfvars\" of stack \"a\" is outside",
            ],
        ),
    ];
    for (hcl, expected) in cases {
        let repo = Repo::new();
        repo.write("strata.hcl", hcl)
            .write("infra/a/main.tf", STACK);
        repo.commit("paths");
        for command in ["plan", "validate"] {
            let run = Strata::new().on(&repo, &[command]);
            refused(&run, expected);
            assert!(run.stdout.is_empty(), "{hcl}: {run:?}");
        }
    }

    // The project is `proj/`; `proj/infra/shared` is an in-repository link
    // to `common/`, outside the project.
    let repo = Repo::new();
    repo.write(
        "proj/strata.hcl",
        "stack \"a\" {\n  path = \"infra/shared\"\n}\n",
    )
    .write("common/main.tf", STACK);
    std::fs::create_dir_all(repo.path().join("proj/infra")).unwrap();
    std::os::unix::fs::symlink("../../common", repo.path().join("proj/infra/shared")).unwrap();
    repo.commit("a link out of the project");
    let project = repo.path().join("proj");
    let run = Strata::new().run(&["validate", "--repo", project.to_str().unwrap()]);
    refused(
        &run,
        &[
            "strata.hcl:2:",
            "path \"infra/shared\" of stack \"a\" is outside the repository",
        ],
    );
}

/// A kustomization may not reference anything outside the repository
/// (kustomize itself lets directories through) or remote: validate names
/// the file, line and entry; plan and apply fail the workload before
/// kustomize runs, and nothing reaches the cluster.
#[test]
fn a_kustomization_reaching_out_of_the_repository_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("kustomization.yaml"),
        "resources:\n  - outside.yaml\n",
    )
    .unwrap();
    outside_file(&outside);
    let outside_dir = outside.path().display().to_string();
    let cluster = crate::support::Cluster::start();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("resources:\n  - settings.yaml\n  - {outside_dir}\n"),
            vec![
                "k8s/app/kustomization.yaml:3".to_owned(),
                format!("resources entry \"{outside_dir}\" is outside the repository"),
            ],
        ),
        (
            "resources:\n  - settings.yaml\n  - ../../../../../../../../../..".to_owned()
                + &outside_dir
                + "\n",
            vec![
                "k8s/app/kustomization.yaml:3".to_owned(),
                "is outside the repository".to_owned(),
            ],
        ),
        (
            "resources:\n  - settings.yaml\ncomponents:\n  - https://github.com/example/components//tls?ref=main\n".to_owned(),
            vec![
                "k8s/app/kustomization.yaml:4".to_owned(),
                "components entry \"https://github.com/example/components//tls?ref=main\" is a remote reference".to_owned(),
                "vendor it into the repository".to_owned(),
            ],
        ),
    ];
    for (kustomization, expected) in cases {
        let repo = Repo::new();
        repo.write(
            "strata.hcl",
            "workload \"app\" {\n  path = \"k8s/app\"\n  namespace = \"default\"\n}\n",
        )
        .write("k8s/app/kustomization.yaml", &kustomization)
        .write("k8s/app/settings.yaml", CONFIG_MAP);
        repo.commit("kustomization");
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        let strata = Strata::new();
        let run = strata.on(&repo, &["validate"]);
        assert_eq!(run.code, 1, "{run:?}");
        for e in &expected {
            assert!(run.stdout.contains(e), "{e:?} in {run:?}");
        }
        for command in [&["plan"][..], &["apply", "--auto-approve"]] {
            let run = strata.kube(&repo, &cluster, command);
            assert_eq!(run.code, 1, "{command:?}: {run:?}");
            for e in &expected {
                assert!(
                    run.stdout.contains(e) || run.stderr.contains(e),
                    "{e:?} in {run:?}"
                );
            }
            assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"));
        }
        let live = cluster.get(&["configmaps,secrets", "-A"]);
        let names: Vec<&str> = live["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert!(
            !names.contains(&"settings") && !names.contains(&"stolen"),
            "{names:?}"
        );
    }
}

/// An object defined by two workloads, which `plan` refuses, is caught by
/// `strata validate` too, statically: named at its second definition with
/// the first one's place. A cluster-scoped kind clashes whatever the
/// workloads' namespaces.
#[test]
fn validate_finds_an_object_defined_by_two_workloads() {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s/apps\"\n  namespace = \"apps\"\n}\n\nworkload \"web\" {\n  path = \"k8s/web\"\n  namespace = \"apps\"\n}\n\nworkload \"other\" {\n  path = \"k8s/other\"\n  namespace = \"other\"\n}\n",
    )
    .write("k8s/apps/shared.yaml", CONFIG_MAP)
    .write(
        "k8s/apps/role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n",
    )
    .write("k8s/web/own.yaml", &CONFIG_MAP.replace("settings", "own"))
    .write(
        "k8s/web/more.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n---\n{CONFIG_MAP}"),
    )
    // Same name, another namespace: another object.
    .write("k8s/other/shared.yaml", CONFIG_MAP)
    .write(
        "k8s/other/role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n",
    );
    repo.commit("two workloads define one object");
    let run = Strata::new().on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    for expected in [
        "k8s/web/more.yaml:5: document 2: ConfigMap/apps/settings is also defined by workload \"apps\" in k8s/apps/shared.yaml (document 1); an object belongs to one workload",
        "k8s/other/role.yaml:1: document 1: ClusterRole/reader is also defined by workload \"apps\" in k8s/apps/role.yaml (document 1)",
    ] {
        assert!(run.stdout.contains(expected), "{expected:?} in {run:?}");
    }
    assert_eq!(run.stdout.matches("also defined").count(), 2, "{run:?}");
}

/// A Secret whose `data` is not base64 (a real API server answers 400) is
/// refused by validate, plan and apply, naming file, line, key and object,
/// and none of its values is ever printed; nothing is written.
#[test]
fn secret_data_that_is_not_base64_is_refused_before_any_write() {
    let cluster = crate::support::Cluster::start();
    let repo = Repo::new();
    repo.write("strata.hcl", WORKLOAD)
        .write("k8s/app/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n")
        .write("k8s/app/settings.yaml", CONFIG_MAP)
        .write(
            "k8s/app/db.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  user: YWRtaW4tdXNlci1zM2NyZXQ=\n  password: hunter2-plain-s3cret\nstringData:\n  token: tok-hunter2-s3cret\n",
        );
    repo.commit("a Secret with plain text in data");
    let expected =
        "k8s/app/db.yaml:7 (document 1): Secret \"db\": data.password is not valid base64";
    let strata = Strata::new();
    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 1, "{validate:?}");
    assert!(
        validate.stdout.contains(
            "k8s/app/db.yaml:7: document 1: Secret \"db\": data.password is not valid base64"
        ),
        "{validate:?}"
    );
    assert!(
        validate.stdout.contains("move it to stringData"),
        "{validate:?}"
    );
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let run = strata.kube(&repo, &cluster, args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stdout.contains(expected), "{args:?}: {run:?}");
        for run in [&run, &validate] {
            for secret in ["hunter2", "YWRtaW4tdXNlci1zM2NyZXQ", "admin-user-s3cret"] {
                assert!(
                    !run.stdout.contains(secret) && !run.stderr.contains(secret),
                    "{secret} printed: {run:?}"
                );
            }
        }
    }
    assert!(!cluster.exists(&["namespace", "app"]), "nothing applied");
}

/// `name: y` is the boolean true to YAML 1.1 (and to kubectl): the message
/// says what was found, on which line, and how to quote it; the same for
/// every field that must be a string.
#[test]
fn unquoted_values_that_yaml_reads_as_booleans_or_numbers_are_explained() {
    let cluster = crate::support::Cluster::start();
    let cases: &[(&str, &str)] = &[
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
            "k8s/app/cm.yaml:4 (document 1): ConfigMap: metadata.name is the boolean true (YAML reads an unquoted y as true); quote it: name: \"y\"",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: no\n",
            "k8s/app/cm.yaml:5 (document 1): ConfigMap \"a\": metadata.namespace is the boolean false (YAML reads an unquoted no as false); quote it: namespace: \"no\"",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    version: 1.10\n",
            "k8s/app/cm.yaml:6 (document 1): ConfigMap \"a\": metadata.labels.version is the number 1.1 (YAML reads an unquoted 1.10 as 1.1); quote it: version: \"1.10\"",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  debug: on\n",
            "k8s/app/cm.yaml:6 (document 1): ConfigMap \"a\": data.debug is the boolean true (YAML reads an unquoted on as true); quote it: debug: \"on\"",
        ),
        (
            "apiVersion: 1\nkind: ConfigMap\nmetadata:\n  name: a\n",
            "k8s/app/cm.yaml:1 (document 1): ConfigMap \"a\": apiVersion is the number 1, but it must be a string; quote it: apiVersion: \"1\"",
        ),
    ];
    for (manifest, expected) in cases {
        let repo = Repo::new();
        repo.write(
            "strata.hcl",
            "workload \"app\" {\n  path = \"k8s/app\"\n  namespace = \"default\"\n}\n",
        )
        .write("k8s/app/cm.yaml", manifest);
        repo.commit("an unquoted value");
        let strata = Strata::new();
        let validate = strata.on(&repo, &["validate"]);
        assert_eq!(validate.code, 1, "{validate:?}");
        let (at, message) = expected.split_once(" (document 1): ").unwrap();
        assert!(
            validate
                .stdout
                .contains(&format!("{at}: document 1: {message}")),
            "{expected}: {validate:?}"
        );
        let plan = strata.kube(&repo, &cluster, &["plan"]);
        assert_eq!(plan.code, 1, "{plan:?}");
        assert!(plan.stdout.contains(expected), "{expected}: {plan:?}");
    }
    // JSON says what it means: no YAML explanation.
    let repo = Repo::new();
    repo.write("strata.hcl", "workload \"app\" {\n  path = \"k8s/app\"\n}\n")
        .write(
            "k8s/app/cm.json",
            "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\n    \"name\": true\n  }\n}\n",
        );
    repo.commit("json");
    let validate = Strata::new().on(&repo, &["validate"]);
    assert!(
        validate.stdout.contains(
            "k8s/app/cm.json:5: document 1: ConfigMap: metadata.name is the boolean true, but it must be a string; write it as one: \"name\": \"true\""
        ),
        "{validate:?}"
    );
}

/// A directory symlink back to a directory that holds it (which the export
/// accepts: it stays inside) is an error, not a walk that reads the same
/// manifests forty levels deep.
#[test]
fn a_directory_symlink_loop_is_an_error() {
    let repo = Repo::new();
    repo.write("strata.hcl", WORKLOAD)
        .write("k8s/app/settings.yaml", CONFIG_MAP);
    std::os::unix::fs::symlink("..", repo.path().join("k8s/app/up")).unwrap();
    repo.commit("a loop");
    let run = Strata::new().on(&repo, &["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "k8s/app/up/app: is a symlink back to \"k8s/app\", a directory that holds it"
        ),
        "{run:?}"
    );
    assert_eq!(run.stdout.lines().count(), 2, "{run:?}");
}
