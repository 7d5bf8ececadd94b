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
/// text's renderer, the run record, the stored report and the audit log hold
/// no secret; the outputs Terraform gives back (which must hold it) are
/// readable by the owner only.
#[test]
fn apply_keeps_secrets_out_of_reports_records_and_logs() {
    use std::os::unix::fs::PermissionsExt;
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
    let state = strata.state.path();
    let audit = state.join("audit.log");
    let audit = audit.exists().then_some(audit);
    for entry in walk(&state.join("runs")).into_iter().chain(audit) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        if name == "db.json" {
            assert!(
                text.contains(SECRET) || text.contains(NEW_SECRET),
                "outputs hold the value"
            );
            let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", entry.display());
        } else {
            for secret in [SECRET, NEW_SECRET] {
                assert!(
                    !text.contains(secret),
                    "{} holds the secret",
                    entry.display()
                );
            }
        }
    }
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
