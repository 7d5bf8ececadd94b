use crate::support::{Repo, Strata, stacks_hcl};

const SECRET: &str = "hunter2-Zq8vP1-never-print-me";
const NEW_SECRET: &str = "correct-horse-Yw3kR9-never-print-me";

fn stack(secret: &str) -> String {
    format!(
        r#"
variable "db_password" {{
  type      = string
  sensitive = true
  default   = "{secret}"
}}

resource "terraform_data" "db" {{
  input = {{
    user     = "admin"
    password = var.db_password
  }}
}}

output "password" {{
  value     = var.db_password
  sensitive = true
}}

output "user" {{
  value = "admin"
}}
"#
    )
}

#[track_caller]
fn assert_clean(strata: &Strata, repo: &Repo, what: &str) {
    let mut outputs = Vec::new();
    for format in ["text", "json", "markdown"] {
        for verbosity in ["-q", "-v", "-vv"] {
            let run = strata.on(repo, &["plan", "--format", format, verbosity]);
            assert_eq!(run.code, 2, "{what} {format} {verbosity}: {run:?}");
            outputs.push((format, verbosity, run));
        }
    }
    for (format, verbosity, run) in &outputs {
        for secret in [SECRET, NEW_SECRET] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{what}: the secret leaked with --format {format} {verbosity}: {run:?}"
            );
        }
    }
    let (_, _, text) = &outputs[0];
    assert!(
        text.stdout.contains("(sensitive value)"),
        "{what}: {text:?}"
    );
}

#[test]
fn sensitive_values_appear_in_no_output_or_log() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("db", "infra/db", &[])]))
        .write("infra/db/main.tf", &stack(SECRET));
    repo.commit("database");
    let strata = Strata::new();
    assert_clean(&strata, &repo, "create");

    // An update of the sensitive attribute shows neither old nor new value.
    strata.terraform("infra/db", &["apply", "-auto-approve", "-input=false"]);
    repo.write("infra/db/main.tf", &stack(NEW_SECRET));
    repo.commit("rotate");
    assert_clean(&strata, &repo, "update");
    let report = strata.on(&repo, &["plan", "--format", "json"]).json();
    let db = &report["stacks"][0]["changes"][0];
    assert_eq!(db["action"], "update", "{report:#}");
}

/// Through the gate and apply: the report at every verbosity, the prompt
/// text's renderer, the run record, the stored report, the audit log and
/// every other file strata keeps hold no secret.
#[test]
fn apply_keeps_secrets_out_of_reports_records_and_logs() {
    let repo = Repo::new();
    repo.write("strata.hcl", &stacks_hcl(&[("db", "infra/db", &[])]))
        .write("infra/db/main.tf", &stack(SECRET));
    repo.commit("database");
    let strata = Strata::new();
    let first = strata.on(&repo, &["apply", "-vv", "--format", "json"]);
    assert_eq!(first.code, 0, "{first:?}");
    repo.write("infra/db/main.tf", &stack(NEW_SECRET));
    repo.commit("rotate");
    let mut runs = vec![first];
    for format in ["text", "markdown"] {
        let run = strata.on(
            &repo,
            &["apply", "--auto-approve", "-vv", "--format", format],
        );
        runs.push(run);
    }
    for run in &runs {
        for secret in [SECRET, NEW_SECRET] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "the secret leaked: {run:?}"
            );
        }
    }
    // Nothing strata keeps holds the value: outputs are read from
    // Terraform's state when needed, never copied. Only Terraform's own
    // files (its state, in the exported tree under repos/) hold it.
    let state = strata.state.path();
    let mut checked = 0;
    for top in std::fs::read_dir(state).unwrap() {
        let top = top.unwrap().path();
        if top.file_name().is_some_and(|n| n == "repos") {
            continue;
        }
        let files = if top.is_dir() { walk(&top) } else { vec![top] };
        for entry in files {
            checked += 1;
            let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
            for secret in [SECRET, NEW_SECRET] {
                assert!(
                    !text.contains(secret),
                    "{} holds the secret",
                    entry.display()
                );
            }
        }
    }
    assert!(
        checked > 3,
        "the run records and the audit log were checked"
    );
    assert!(
        !state.join("outputs").exists(),
        "no copy of the outputs is kept"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A Secret fed by a sensitive Terraform output and one written in Git:
/// their values (plain or base64) appear in no report, log, record or
/// error, at creation, on update, and when a sensitive output is misused.
#[test]
fn kubernetes_secret_values_appear_in_no_output_or_log() {
    use crate::support::Cluster;
    let cluster = Cluster::start();
    let literal = "literal-Kx7-never-print-me";
    let base64 = |s: &str| {
        let out = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(s.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let manifests = |git_value: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\n\
             stringData:\n  password: \"${{stack.db.password}}\"\n  user: \"${{stack.db.user}}\"\n\
             data:\n  literal: {}\n",
            base64(git_value)
        )
    };
    let hook = crate::support::Webhook::start(0);
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &format!(
            "{}workload \"apps\" {{\n  path = \"k8s\"\n  depends_on = [\"db\"]\n}}\n\n\
             outputs \"db\" {{\n  config_map = \"apps/db-outputs\"\n  secret = \"apps/db-secrets\"\n}}\n\n\
             notify \"ops\" {{\n  webhook = \"{}\"\n  on = [\"drift\", \"in_sync\", \"converged\", \"failed\"]\n}}\n",
            stacks_hcl(&[("db", "infra/db", &[])]),
            hook.url
        ),
    )
    .write("infra/db/main.tf", &stack(SECRET))
    .write("k8s/all.yaml", &manifests(literal));
    repo.commit("database and its secret");
    let strata = Strata::new();
    let mut runs = Vec::new();
    let first = strata.kube(&repo, &cluster, &["apply", "-vv", "--format", "json"]);
    assert_eq!(first.code, 0, "{first:?}");
    runs.push(first);
    let live = cluster.get(&["secret", "db", "-n", "apps"]);
    assert_eq!(live["data"]["password"], base64(SECRET));
    // The outputs block: the sensitive output in the Secret only.
    let published = cluster.get(&["secret", "db-secrets", "-n", "apps"]);
    assert_eq!(published["data"]["password"], base64(SECRET));
    let plain = cluster.get(&["configmap", "db-outputs", "-n", "apps"]);
    assert_eq!(plain["data"], serde_json::json!({"user": "admin"}));
    for format in ["text", "json", "markdown"] {
        let run = strata.kube(&repo, &cluster, &["drift", "-vv", "--format", format]);
        assert_eq!(run.code, 0, "{run:?}");
        runs.push(run);
    }

    // Rotate both; every format and verbosity of plan and apply.
    let rotated = "rotated-Qp2-never-print-me";
    repo.write("infra/db/main.tf", &stack(NEW_SECRET))
        .write("k8s/all.yaml", &manifests(rotated));
    repo.commit("rotate");
    for format in ["text", "json", "markdown"] {
        let run = strata.kube(&repo, &cluster, &["plan", "-vv", "--format", format]);
        assert_eq!(run.code, 2, "{run:?}");
        runs.push(run);
    }
    let text = strata.kube(&repo, &cluster, &["plan", "--workload", "apps"]);
    assert!(
        text.stdout
            .contains("~ data.literal: (sensitive value) → (sensitive value)"),
        "{text:?}"
    );
    runs.push(text);
    for format in ["text", "markdown"] {
        let run = strata.kube(&repo, &cluster, &["apply", "-vv", "--format", format]);
        assert_eq!(run.code, 0, "{run:?}");
        runs.push(run);
    }
    let live = cluster.get(&["secret", "db", "-n", "apps"]);
    assert_eq!(live["data"]["password"], base64(NEW_SECRET));
    let published = cluster.get(&["secret", "db-secrets", "-n", "apps"]);
    assert_eq!(published["data"]["password"], base64(NEW_SECRET));
    // Someone edits the published Secret: drift, reported without values.
    let patched = cluster.kubectl(&[
        "patch",
        "secret",
        "db-secrets",
        "-n",
        "apps",
        "-p",
        r#"{"stringData":{"password":"edited-Jh5-never-print-me"}}"#,
    ]);
    assert_eq!(patched.code, 0, "{patched:?}");
    for format in ["text", "json", "markdown"] {
        let run = strata.kube(&repo, &cluster, &["drift", "-vv", "--format", format]);
        assert_eq!(run.code, 2, "{run:?}");
        runs.push(run);
    }

    // A sensitive output outside a Secret is refused without its value.
    repo.write(
        "k8s/leak.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n  namespace: apps\ndata:\n  p: \"${stack.db.password}\"\n",
    );
    repo.commit("leak it");
    let refused = strata.kube(&repo, &cluster, &["apply", "-vv", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stdout.contains("k8s/leak.yaml (document 1): ${stack.db.password} is a sensitive output; sensitive outputs may only be used in a Secret's data or stringData"),
        "{refused:?}"
    );
    runs.push(refused);

    let notifications = hook.bodies();
    assert!(notifications.len() >= 6, "{notifications:#?}");
    let secrets = [
        "edited-Jh5-never-print-me".to_owned(),
        base64("edited-Jh5-never-print-me"),
        SECRET.to_owned(),
        NEW_SECRET.to_owned(),
        literal.to_owned(),
        rotated.to_owned(),
        base64(SECRET),
        base64(NEW_SECRET),
        base64(literal),
        base64(rotated),
    ];
    for run in &runs {
        for secret in &secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "{secret} leaked: {run:?}"
            );
        }
    }
    for body in &notifications {
        let text = body.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} leaked in {body:#}"
            );
        }
    }
    for entry in walk(&strata.state.path().join("runs")) {
        if entry.file_name().unwrap() == "db.json" {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} holds a secret",
                entry.display()
            );
        }
    }
}
