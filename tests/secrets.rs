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
