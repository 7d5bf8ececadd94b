//! SOPS-encrypted files (tests/fixtures/sops/, written by the real sops)
//! through the real strata binary: a Secret manifest, a ConfigMap, a
//! dotenv behind kustomize generators and a Terraform var file converge
//! (real Terraform, kube-sim, the real kubectl as the judge), with no
//! plaintext in any output or in what strata keeps; a wrong key and a
//! tampered file stop the run, naming the file, before anything changes.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::support::{Cluster, Repo, Run, Strata};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sops")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every plaintext value of the fixtures the repository uses (each ends in
/// `never-print`, see tests/fixtures/sops/README.md).
const PLAINTEXT: [&str; 6] = [
    "sops-yaml-Rb2k-never-print",
    "sops-json-Vq7t-never-print",
    "sops-configmap-Lw3j-never-print",
    "sops-dotenv-Hn5c-never-print",
    "sops-tfvars-Kd8s-never-print",
    "sops-base64-Xp9d-never-print",
];

const STACK: &str = r#"
# Not declared sensitive: strata still knows it came from SOPS, and keeps
# it out of the plan it shows.
variable "db_password" {
  type = string
}
variable "replicas" { type = number }
variable "ratio" { type = number }
variable "enabled" { type = bool }
variable "tags" { type = map(string) }
variable "zones" { type = list(string) }

resource "terraform_data" "db" {
  input = {
    password = var.db_password
    replicas = var.replicas
  }
}

output "password" {
  value = var.db_password
}

output "settings" {
  value = {
    replicas = var.replicas
    ratio    = var.ratio
    enabled  = var.enabled
    tags     = var.tags
    zones    = var.zones
  }
}
"#;

const HCL: &str = r#"stack "db" {
  path      = "infra/db"
  var_files = ["db.tfvars.json"]
}

workload "apps" {
  path      = "k8s/apps"
  namespace = "apps"
  timeout   = "20s"
}

workload "generated" {
  path       = "k8s/generated"
  namespace  = "apps"
  timeout    = "20s"
  depends_on = ["apps"]
}

policy "echo" {
  path = "policy"
}
"#;

/// A policy that repeats every string it is shown, of both layers: what
/// SOPS decrypted must not be among them.
const ECHO: &str = r#"package main

warn contains sprintf("%s: %s", [c.name, v]) if {
    some w in input.workloads
    some c in w.changes
    some object in [c.desired, c.live]
    walk(object, [_, v])
    is_string(v)
}

warn contains sprintf("%s: %s", [rc.address, v]) if {
    some s in input.stacks
    some rc in s.resource_changes
    walk(rc.change, [_, v])
    is_string(v)
}
"#;

const KUSTOMIZATION: &str = r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
generatorOptions:
  disableNameSuffixHash: true
secretGenerator:
  - name: app-env
    envs:
      - app.env
configMapGenerator:
  - name: app-config
    envs:
      - app.env
"#;

/// The repository: every encrypted file as sops wrote it.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.write("strata.hcl", HCL)
        .write("infra/db/main.tf", STACK)
        .write("infra/db/db.tfvars.json", &fixture("strata/db.tfvars.json"))
        .write(
            "k8s/apps/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
        )
        .write("k8s/apps/secret.yaml", &fixture("strata/secret.yaml"))
        .write("k8s/apps/secret.json", &fixture("strata/secret.json"))
        .write("k8s/apps/configmap.yaml", &fixture("strata/configmap.yaml"))
        .write("k8s/generated/kustomization.yaml", KUSTOMIZATION)
        .write("k8s/generated/app.env", &fixture("strata/app.env"))
        .write("policy/echo.rego", ECHO);
    repo.commit("encrypted with sops");
    repo
}

/// `strata <args>` on `repo` and `cluster`, with `env` added.
fn run(
    strata: &Strata,
    repo: &Repo,
    cluster: &Cluster,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Run {
    let kubeconfig = cluster.kubeconfig();
    let mut all = args.to_vec();
    all.extend(["--kubeconfig", kubeconfig.to_str().unwrap()]);
    all.extend(["--repo", repo.path().to_str().unwrap()]);
    let mut command = strata.command(&all);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("strata runs").into()
}

/// Flux's test key, where sops looks by default: the user's
/// `~/.config/sops/age/keys.txt`.
fn install_key(strata: &Strata) {
    let dir = strata.home.path().join(".config/sops/age");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keys.txt"), fixture("flux/age.txt")).unwrap();
}

fn key_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sops")
        .join(name)
}

#[track_caller]
fn assert_no_plaintext(what: &str, text: &str) {
    for secret in PLAINTEXT {
        assert!(!text.contains(secret), "{what} holds {secret}:\n{text}");
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether Terraform wrote a state anywhere under strata's state directory.
fn applied(strata: &Strata) -> bool {
    let state = strata.state.path();
    state.exists()
        && files(state)
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == "terraform.tfstate"))
}

/// A Secret's value, decoded, as kubectl reads it from the cluster.
fn secret_value(cluster: &Cluster, name: &str, key: &str) -> String {
    let secret = cluster.get(&["secret", name, "-n", "apps"]);
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{secret:#}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn sops_manifests_generator_sources_and_var_files_converge_without_plaintext() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    install_key(&strata);
    let repo = repo();

    let mut runs = Vec::new();
    for format in ["text", "json", "markdown"] {
        let plan = run(
            &strata,
            &repo,
            &cluster,
            &["plan", "-vv", "--format", format],
            &[],
        );
        assert_eq!(plan.code, 2, "{format}: {plan:?}");
        runs.push(plan);
    }
    let applied = run(
        &strata,
        &repo,
        &cluster,
        &["apply", "--auto-approve", "-vv", "--format", "json"],
        &[],
    );
    assert_eq!(applied.code, 0, "{applied:?}");
    runs.push(applied);

    // kubectl reads what sops encrypted, decrypted, from the cluster. The
    // dotenv's plaintext is what sops writes (a newline as `\n`), which
    // kustomize takes literally, as under Flux.
    for (secret, key, value) in [
        ("api-token", "token", "sops-yaml-Rb2k-never-print"),
        ("api-token", "extra", "sops-base64-Xp9d-never-print"),
        ("db-credentials", "password", "sops-json-Vq7t-never-print"),
        ("app-env", "API_KEY", "sops-dotenv-Hn5c-never-print"),
        ("app-env", "MULTI", "line-one\\nline-two"),
    ] {
        assert_eq!(secret_value(&cluster, secret, key), value, "{secret} {key}");
    }
    let config = cluster.get(&["configmap", "feature-flags", "-n", "apps"]);
    assert_eq!(config["data"]["license"], "sops-configmap-Lw3j-never-print");
    assert!(config.get("sops").is_none(), "{config:#}");
    let generated = cluster.get(&["configmap", "app-config", "-n", "apps"]);
    assert_eq!(generated["data"]["API_KEY"], "sops-dotenv-Hn5c-never-print");
    // Terraform got the var file's values, typed.
    let outputs = strata.terraform("infra/db", &["output", "-json"]);
    assert!(outputs.status.success(), "{outputs:?}");
    let outputs: serde_json::Value = serde_json::from_slice(&outputs.stdout).unwrap();
    assert_eq!(outputs["password"]["value"], "sops-tfvars-Kd8s-never-print");
    assert_eq!(
        outputs["settings"]["value"],
        serde_json::json!({"replicas": 3, "ratio": 0.5, "enabled": true,
                           "tags": {"team": "data", "tier": "gold"}, "zones": ["a", "b"]})
    );

    // A ConfigMap decrypted from SOPS is as secret as a Secret: an edit
    // with kubectl is drift whose values the plan does not show.
    let patched = cluster.kubectl(&[
        "patch",
        "configmap",
        "feature-flags",
        "-n",
        "apps",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"license":"edited-by-hand"}}"#,
    ]);
    assert_eq!(patched.code, 0, "{patched:?}");
    let drift = run(&strata, &repo, &cluster, &["plan", "--format", "json"], &[]);
    assert_eq!(drift.code, 2, "{drift:?}");
    let report = drift.json();
    let change = report["workloads"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "feature-flags")
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    assert!(!drift.stdout.contains("edited-by-hand"), "{drift:?}");
    assert!(
        change.to_string().contains("(sensitive value)"),
        "{change:#}"
    );
    runs.push(drift);
    for text_format in ["text", "markdown"] {
        let drift = run(
            &strata,
            &repo,
            &cluster,
            &["plan", "-vv", "--format", text_format],
            &[],
        );
        assert!(!drift.stdout.contains("edited-by-hand"), "{drift:?}");
        runs.push(drift);
    }

    // The echoing policy was shown the objects, and repeated them.
    assert!(
        runs[0]
            .stdout
            .contains("warn     echo  feature-flags: (sensitive value)"),
        "{:?}",
        runs[0]
    );
    for out in &runs {
        assert_no_plaintext("stdout", &out.stdout);
        assert_no_plaintext("stderr", &out.stderr);
    }
    // Nothing strata keeps holds a value (Terraform's own state and plan
    // files, in the exported tree and the saved plan, are Terraform's).
    let state = strata.state.path();
    let mut checked = 0;
    for file in files(state) {
        let rel = file
            .strip_prefix(state)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("repos/") || rel.ends_with("/tfplan") {
            continue;
        }
        checked += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert_no_plaintext(&rel, &text);
    }
    assert!(checked > 3, "run records were checked");
    assert!(
        files(state)
            .iter()
            .any(|f| f.ends_with("policy-input.json")),
        "the policies' input was among them"
    );
}

/// The key is named where it is missing or wrong, the file where it was
/// tampered with; nothing is applied: no object, no Terraform state.
#[test]
fn a_wrong_key_or_a_tampered_file_stops_before_anything_changes() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = repo();

    // `apply` with the key file `key` (none: no key at all), which must
    // change nothing.
    let refused = |key: Option<&Path>, what: &str| -> Run {
        let env: Vec<(&str, &Path)> = key.map(|k| ("SOPS_AGE_KEY_FILE", k)).into_iter().collect();
        let run = run(&strata, &repo, &cluster, &["apply", "--auto-approve"], &env);
        assert_eq!(run.code, 1, "{what}: {run:?}");
        assert_no_plaintext(what, &run.stdout);
        assert_no_plaintext(what, &run.stderr);
        assert!(
            !cluster.exists(&["namespace", "apps"]),
            "{what}: the namespace was created"
        );
        assert!(!applied(&strata), "{what}: Terraform applied");
        run
    };

    let said = |run: &Run| format!("{}\n{}", run.stdout, run.stderr);

    // No key anywhere.
    let none = refused(None, "no key");
    for file in [
        "k8s/apps/secret.yaml",
        "k8s/generated/app.env",
        "infra/db/db.tfvars.json",
    ] {
        assert!(
            said(&none).contains(&format!("{file}: is encrypted with SOPS for the age recipient(s) age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29, but strata found no age identity")),
            "{file}: {none:?}"
        );
    }
    assert!(said(&none).contains("set SOPS_AGE_KEY_FILE"), "{none:?}");

    // Another key.
    let wrong_key = key_file("flux/age-global.txt");
    let wrong = refused(Some(&wrong_key), "wrong key");
    assert!(
        said(&wrong).contains("k8s/apps/secret.yaml: is encrypted with SOPS for the age recipient(s) age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29, and none of the age identities strata has (1, from"),
        "{wrong:?}"
    );

    // The right key, a value changed in Git without sops.
    let key = key_file("flux/age.txt");
    let tampered =
        fixture("strata/configmap.yaml").replace("name: feature-flags", "name: feature-flagz");
    repo.write("k8s/apps/configmap.yaml", &tampered);
    repo.commit("renamed without sops");
    let tampered = refused(Some(&key), "tampered");
    assert!(
        said(&tampered).contains("k8s/apps/configmap.yaml: does not match its MAC: it was changed after sops encrypted it"),
        "{tampered:?}"
    );
    // `strata validate` reports the same without a cluster.
    let validate = || -> Run {
        let run: Run = strata
            .command(&["validate", "--repo", repo.path().to_str().unwrap()])
            .env("SOPS_AGE_KEY_FILE", &key)
            .output()
            .expect("strata runs")
            .into();
        assert_eq!(run.code, 1, "{run:?}");
        assert_no_plaintext("validate", &said(&run));
        run
    };
    let checked = validate();
    assert!(
        said(&checked).contains("k8s/apps/configmap.yaml: does not match its MAC"),
        "{checked:?}"
    );

    // A tampered var file stops the stack before Terraform plans.
    repo.write("k8s/apps/configmap.yaml", &fixture("strata/configmap.yaml"));
    let vars = fixture("strata/db.tfvars.json");
    let forged = vars.replace("\"lastmodified\": \"2026-", "\"lastmodified\": \"2025-");
    assert_ne!(forged, vars);
    repo.write("infra/db/db.tfvars.json", &forged);
    repo.commit("lastmodified changed without sops");
    let forged_vars = refused(Some(&key), "tampered var file");
    assert!(
        said(&forged_vars).contains("infra/db/db.tfvars.json: does not match its MAC"),
        "{forged_vars:?}"
    );
    let checked = validate();
    assert!(
        said(&checked).contains("infra/db/db.tfvars.json: does not match its MAC"),
        "{checked:?}"
    );
}
