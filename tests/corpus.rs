//! A corpus of bad input, both layers: broken `strata.hcl`, Terraform,
//! YAML and JSON manifests (alias bombs, deep nesting, binary, 50 MB),
//! kustomizations, kubeconfigs, refs, run ids, plan JSON, paths and
//! symlinks out of the repository.
//!
//! Every case must: exit 1; say what is wrong and where, and what to do
//! (the `expect` substrings); never panic; finish within [`LIMIT`]; write
//! nothing (no Terraform state, no object in the cluster); and never print
//! the planted secret [`SECRET`]. Each group is one `#[test]` that runs all
//! of its cases and lists every case that failed, by name.
//!
//! Where the message is: errors that stop the run (configuration, source,
//! kubeconfig, refs, runs, inspect) are on stderr; problems `strata
//! validate` lists and a stack's or workload's failure in `plan` or `apply`
//! are in the report, on stdout ([`At::Report`]).
//!
//! `CORPUS_SHOW=1 cargo test --test tests corpus:: -- --nocapture` prints
//! what every case said.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Cluster, Repo, Strata, copy_dir, unreachable_kubeconfig};

/// The most a case may take.
const LIMIT: Duration = Duration::from_secs(60);

/// Planted in the fixtures where a secret would be; never printed.
const SECRET: &str = "corpus-s3cret-value-7f3a";

/// Where the case's message must be.
#[derive(Clone, Copy, Debug)]
enum At {
    Stderr,
    /// The report, on stdout.
    Report,
}

struct Case {
    name: &'static str,
    /// The repository: a directory of tests/fixtures/corpus, or "" for
    /// none (then `--repo` is not passed).
    fixture: &'static str,
    /// Changes to the repository before it is committed.
    setup: fn(&Path),
    /// The command. `{fixtures}` is tests/fixtures/corpus, `{cluster}` the
    /// kube-sim kubeconfig, `{unreachable}` a kubeconfig of a server that
    /// is not there.
    args: &'static [&'static str],
    at: At,
    expect: &'static [&'static str],
}

const fn case(
    name: &'static str,
    fixture: &'static str,
    args: &'static [&'static str],
    at: At,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        fixture,
        setup: |_| {},
        args,
        at,
        expect,
    }
}

const fn with(
    name: &'static str,
    fixture: &'static str,
    setup: fn(&Path),
    args: &'static [&'static str],
    at: At,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        fixture,
        setup,
        args,
        at,
        expect,
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// What the cluster holds: every object of the kinds a case could write,
/// with its resourceVersion.
fn cluster_state(cluster: &Cluster) -> Vec<String> {
    let list = cluster.get(&["namespaces,configmaps,secrets,deployments,services", "-A"]);
    let mut out: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            let m = &o["metadata"];
            format!(
                "{}/{}/{}@{}",
                o["kind"].as_str().unwrap_or_default(),
                m["namespace"].as_str().unwrap_or_default(),
                m["name"].as_str().unwrap_or_default(),
                m["resourceVersion"].as_str().unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
        out.push(path);
    }
}

/// Runs one case; `Err` says what was wrong with the outcome.
fn run_case(case: &Case, cluster: &Cluster, unreachable: &Path) -> Result<(), String> {
    let strata = Strata::new();
    let repo = (!case.fixture.is_empty()).then(|| {
        let repo = Repo::new();
        copy_dir(&fixtures().join(case.fixture), repo.path());
        (case.setup)(repo.path());
        repo.commit(case.name);
        repo
    });
    let fixtures = fixtures().display().to_string();
    let kubeconfig = cluster.kubeconfig().display().to_string();
    let unreachable = unreachable.display().to_string();
    let mut args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            a.replace("{fixtures}", &fixtures)
                .replace("{cluster}", &kubeconfig)
                .replace("{unreachable}", &unreachable)
        })
        .collect();
    if let Some(repo) = &repo {
        args.extend(["--repo".to_owned(), repo.path().display().to_string()]);
    }
    let uses_cluster = case.args.iter().any(|a| a.contains("{cluster}"));
    let before = uses_cluster.then(|| cluster_state(cluster));

    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = strata
        .command(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start strata: {e}"))?;
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    // Wait for the exit, at most LIMIT.
    let pid = child.id();
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = match exit.recv_timeout(LIMIT) {
        Ok(status) => status.map_err(|e| e.to_string())?,
        Err(_) => {
            crate::support::kill_tree(pid);
            return Err(format!("still running after {LIMIT:?}: killed"));
        }
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let shown = || {
        let cut = |s: &str| s.chars().take(3000).collect::<String>();
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            status.code(),
            cut(&stdout),
            cut(&stderr)
        )
    };

    if std::env::var_os("CORPUS_SHOW").is_some() {
        eprintln!("=== case {}\n{}\n", case.name, shown());
    }
    let mut wrong = Vec::new();
    if status.code() != Some(1) {
        wrong.push("exit code is not 1".to_owned());
    }
    let text = match case.at {
        At::Stderr => &stderr,
        At::Report => &stdout,
    };
    for e in case.expect {
        if !text.contains(e) {
            wrong.push(format!("{:?} does not say {e:?}", case.at));
        }
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        wrong.push("panicked".to_owned());
    }
    if stdout.contains(SECRET) || stderr.contains(SECRET) {
        wrong.push("printed the planted secret".to_owned());
    }
    let mut files = Vec::new();
    walk(strata.state.path(), &mut files);
    if let Some(state) = files.iter().find(|p| p.ends_with("terraform.tfstate")) {
        wrong.push(format!("Terraform wrote state: {}", state.display()));
    }
    if let Some(before) = before {
        let after = cluster_state(cluster);
        if after != before {
            wrong.push(format!(
                "the cluster changed: {:?}",
                after
                    .iter()
                    .filter(|o| !before.contains(o))
                    .collect::<Vec<_>>()
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", wrong.join("; "), shown()))
    }
}

/// Runs every case of a group; fails listing each case that failed.
#[track_caller]
fn run_all(cases: &[Case]) {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable = unreachable_kubeconfig(dir.path());
    let mut names = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for case in cases {
        assert!(names.insert(case.name), "two cases named {}", case.name);
        if let Err(why) = run_case(case, &cluster, &unreachable) {
            failed.push(format!("=== case {}: {why}", case.name));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} case(s) failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n\n")
    );
}

fn symlink(repo: &Path, target: &str, link: &str) {
    let link = repo.join(link);
    std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

fn write(repo: &Path, path: &str, bytes: &[u8]) {
    let full = repo.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, bytes).expect("write");
}

#[test]
fn strata_hcl() {
    use At::Stderr;
    run_all(&[
        case(
            "hcl-syntax-error",
            "hcl-syntax-error",
            &["validate"],
            Stderr,
            &["strata.hcl:"],
        ),
        case(
            "hcl-unknown-block",
            "hcl-unknown-block",
            &["plan"],
            Stderr,
            &["strata.hcl:1", "\"stacks\""],
        ),
        case(
            "hcl-unknown-attribute",
            "hcl-unknown-attribute",
            &["plan"],
            Stderr,
            &["strata.hcl:2", "unknown attribute \"pth\"", "path"],
        ),
        case(
            "hcl-dependency-cycle",
            "hcl-dependency-cycle",
            &["plan"],
            Stderr,
            &[
                "strata.hcl:3",
                "dependency cycle",
                "remove one of these depends_on",
            ],
        ),
        case(
            "hcl-duplicate-stack",
            "hcl-duplicate-stack",
            &["validate"],
            Stderr,
            &["strata.hcl:5", "duplicate", "\"a\""],
        ),
        case(
            "hcl-stack-and-workload-share-a-name",
            "hcl-stack-and-workload-share-a-name",
            &["validate"],
            Stderr,
            &["strata.hcl:5", "same name", "rename one"],
        ),
        case(
            "hcl-unknown-dependency",
            "hcl-unknown-dependency",
            &["plan"],
            Stderr,
            &["strata.hcl:3", "\"netwrk\""],
        ),
        case(
            "hcl-wrong-type",
            "hcl-wrong-type",
            &["plan"],
            Stderr,
            &["strata.hcl:2", "parallelism"],
        ),
        case(
            "hcl-bad-duration",
            "hcl-bad-duration",
            &["validate"],
            Stderr,
            &["strata.hcl:7", "timeout", "\"forever\""],
        ),
        case(
            "hcl-path-without-terraform",
            "hcl-path-without-terraform",
            &["plan"],
            Stderr,
            &["strata.hcl:2", "\"docs\"", "no *.tf"],
        ),
        case(
            "hcl-path-missing",
            "hcl-path-missing",
            &["plan"],
            Stderr,
            &[
                "strata.hcl:2",
                "\"infra/nope\"",
                "does not exist in this commit",
            ],
        ),
        with(
            "hcl-binary-garbage",
            "ok-stack",
            |repo| write(repo, "strata.hcl", b"\x00\x9f\x92\x96stack {{{\xff\xfe"),
            &["plan"],
            Stderr,
            &["strata.hcl is not UTF-8 text (byte 1 is not)", "UTF-8"],
        ),
        with(
            "hcl-path-absolute",
            "ok-stack",
            |repo| write(repo, "strata.hcl", b"stack \"a\" {\n  path = \"/etc\"\n}\n"),
            &["plan"],
            Stderr,
            &["strata.hcl:2", "\"/etc\"", "outside the repository"],
        ),
        with(
            "hcl-var-file-outside",
            "ok-stack",
            |repo| {
                write(
                    repo,
                    "strata.hcl",
                    b"stack \"a\" {\n  path = \"infra/a\"\n  var_files = [\"../../../etc/passwd\"]\n}\n",
                );
            },
            &["plan"],
            Stderr,
            &[
                "strata.hcl:3",
                "var file \"../../../etc/passwd\"",
                "outside the repository",
            ],
        ),
        with(
            "hcl-workload-path-climbs-out",
            "ok-workload",
            |repo| {
                write(
                    repo,
                    "strata.hcl",
                    b"workload \"app\" {\n  path = \"k8s/../../app\"\n}\n",
                );
            },
            &["validate"],
            Stderr,
            &[
                "strata.hcl:2",
                "\"k8s/../../app\"",
                "outside the repository",
            ],
        ),
        with(
            "hcl-deeply-nested",
            "ok-stack",
            |repo| {
                let text = format!(
                    "stack \"a\" {{\n  path = \"infra/a\"\n  vars = {{ x = {} }}\n}}\n",
                    "[".repeat(100_000)
                );
                write(repo, "strata.hcl", text.as_bytes());
            },
            &["plan"],
            Stderr,
            &["strata.hcl:3:", "nest more than 32 levels deep"],
        ),
        with(
            "hcl-is-a-directory",
            "ok-stack",
            |repo| {
                std::fs::remove_file(repo.join("strata.hcl")).expect("rm");
                write(repo, "strata.hcl/README", b"not a file\n");
            },
            &["plan"],
            Stderr,
            &["strata.hcl", "Is a directory"],
        ),
    ]);
}

#[test]
fn terraform() {
    use At::Report;
    run_all(&[
        case(
            "tf-syntax-error",
            "tf-syntax-error",
            &["validate"],
            Report,
            &["infra/a/main.tf:2:"],
        ),
        case(
            "tf-json-syntax-error",
            "tf-json-syntax-error",
            &["validate"],
            Report,
            &["infra/a/main.tf.json:", "invalid JSON"],
        ),
        with(
            "tf-deeply-nested",
            "ok-stack",
            |repo| {
                let text = format!("locals {{\n  x = {}\n}}\n", "[".repeat(100_000));
                write(repo, "infra/a/deep.tf", text.as_bytes());
            },
            &["validate"],
            Report,
            &["infra/a/deep.tf:2:", "nest more than 32 levels deep"],
        ),
        case(
            "tf-undefined-reference",
            "tf-undefined-reference",
            &["apply", "--auto-approve"],
            Report,
            &[
                "terraform plan failed",
                "main.tf line 6",
                "nothing was applied",
            ],
        ),
    ]);
}

fn deep(repo: &Path, file: &str) {
    write(repo, file, "[".repeat(100_000).as_bytes());
}

fn binary(repo: &Path) {
    let mut bytes = Vec::with_capacity(64 * 1024);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..64 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    write(repo, "k8s/app/image.yaml", &bytes);
}

/// 50 MB of manifests in one file, generated (never committed).
fn huge(repo: &Path) {
    let doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: filler\ndata:\n  a: \"0123456789012345678901234567890123456789012345678901234567890123456789\"\n";
    let text = doc.repeat(50 * 1024 * 1024 / doc.len() + 1);
    write(repo, "k8s/app/huge.yaml", text.as_bytes());
}

#[test]
fn manifests() {
    use At::Report;
    run_all(&[
        case(
            "yaml-syntax-error",
            "yaml-syntax-error",
            &["validate"],
            Report,
            &["k8s/app/cm.yaml:4:", "invalid YAML"],
        ),
        case(
            "yaml-not-an-object",
            "yaml-not-an-object",
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:1:",
                "expected a Kubernetes object",
                "found a list",
            ],
        ),
        case(
            "yaml-scalar-document",
            "yaml-scalar-document",
            &["validate"],
            Report,
            &["k8s/app/cm.yaml:1:", "found a string"],
        ),
        case(
            "yaml-missing-kind",
            "yaml-missing-kind",
            &["validate"],
            Report,
            &["k8s/app/cm.yaml:1:", "missing kind"],
        ),
        case(
            "yaml-generate-name",
            "yaml-generate-name",
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:1:",
                "missing metadata.name",
                "generateName is not supported",
            ],
        ),
        case(
            "yaml-argo-cd-hook",
            "yaml-argo-cd-hook",
            &["validate"],
            Report,
            &[
                "k8s/app/migrate.yaml:1:",
                "annotation argocd.argoproj.io/hook: \"PreSync\" makes it a hook",
                "order it with strata.dev/wave instead",
            ],
        ),
        case(
            "yaml-duplicate-key",
            "yaml-duplicate-key",
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:5:",
                "duplicate mapping key: name",
                "remove one of them",
            ],
        ),
        case(
            "yaml-billion-laughs",
            "yaml-billion-laughs",
            &["validate"],
            Report,
            &["k8s/app/cm.yaml:11:", "invalid YAML", "alias bomb"],
        ),
        case(
            "yaml-defined-twice",
            "yaml-defined-twice",
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:7:",
                "ConfigMap \"settings\" is defined twice",
                "first in k8s/app/cm.yaml (document 1)",
            ],
        ),
        case(
            "yaml-defined-by-two-workloads",
            "yaml-defined-by-two-workloads",
            &["validate"],
            Report,
            &[
                "k8s/web/cm.yaml:1:",
                "ConfigMap/corpus/settings is also defined by workload \"app\"",
                "remove one",
            ],
        ),
        case(
            "yaml-unquoted-boolean-name",
            "yaml-unquoted-boolean-name",
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:4:",
                "metadata.name is the boolean true (YAML reads an unquoted y as true); quote it: name: \"y\"",
            ],
        ),
        case(
            "yaml-secret-data-not-base64",
            "yaml-secret-data-not-base64",
            &["validate"],
            Report,
            &[
                "k8s/app/secret.yaml:6:",
                "Secret \"db\": data.password is not valid base64",
                "stringData",
            ],
        ),
        with(
            "yaml-labels-not-a-mapping",
            "ok-workload",
            |repo| {
                write(
                    repo,
                    "k8s/app/cm.yaml",
                    b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    - app\n",
                );
            },
            &["validate"],
            Report,
            &[
                "k8s/app/cm.yaml:6:",
                "ConfigMap \"settings\": metadata.labels must be a mapping of names to strings, but it is a list",
            ],
        ),
        case(
            "json-syntax-error",
            "json-syntax-error",
            &["validate"],
            Report,
            &["k8s/app/cm.json:3:", "invalid JSON"],
        ),
        case(
            "json-not-an-object",
            "json-not-an-object",
            &["validate"],
            Report,
            &["k8s/app/cm.json:1:", "found a list"],
        ),
        with(
            "yaml-deeply-nested",
            "ok-workload",
            |repo| deep(repo, "k8s/app/deep.yaml"),
            &["validate"],
            Report,
            &["k8s/app/deep.yaml:1:", "invalid YAML"],
        ),
        with(
            "json-deeply-nested",
            "ok-workload",
            |repo| deep(repo, "k8s/app/deep.json"),
            &["validate"],
            Report,
            &["k8s/app/deep.json:1:", "invalid JSON", "recursion limit"],
        ),
        with(
            "yaml-binary-file",
            "ok-workload",
            binary,
            &["validate"],
            Report,
            &["k8s/app/image.yaml: is not UTF-8 text", "rename it"],
        ),
        with(
            "yaml-50-megabytes",
            "ok-workload",
            huge,
            &["validate"],
            Report,
            &[
                "k8s/app/huge.yaml: is 50 MiB, larger than the 16 MiB",
                "split it",
            ],
        ),
    ]);
}

/// Bad manifests through `plan` and `apply` against kube-sim: the
/// workload fails before any write, the cluster is unchanged.
#[test]
fn manifests_against_the_cluster() {
    use At::Report;
    const APPLY: &[&str] = &["apply", "--auto-approve", "--kubeconfig", "{cluster}"];
    const PLAN: &[&str] = &["plan", "--kubeconfig", "{cluster}"];
    run_all(&[
        case(
            "cluster-secret-data-not-base64",
            "yaml-secret-data-not-base64",
            APPLY,
            Report,
            &[
                "k8s/app/secret.yaml:6 (document 1): Secret \"db\": data.password is not valid base64",
            ],
        ),
        case(
            "cluster-unquoted-boolean-name",
            "yaml-unquoted-boolean-name",
            APPLY,
            Report,
            &["k8s/app/cm.yaml:4 (document 1): ConfigMap: metadata.name is the boolean true"],
        ),
        case(
            "cluster-unknown-kind",
            "yaml-unknown-kind",
            APPLY,
            Report,
            &[
                "k8s/app/cm.yaml:1 (document 1)",
                "does not know kind \"ConfigMapp\"",
                "check the kind's spelling",
            ],
        ),
        case(
            "cluster-unknown-namespace",
            "yaml-unknown-namespace",
            APPLY,
            Report,
            &[
                "k8s/app/cm.yaml",
                "namespace \"nowhere\"",
                "does not exist and no workload creates it",
            ],
        ),
        case(
            "cluster-defined-by-two-workloads",
            "yaml-defined-by-two-workloads",
            APPLY,
            Report,
            &["ConfigMap/corpus/settings is also defined by workload"],
        ),
        case(
            "cluster-billion-laughs",
            "yaml-billion-laughs",
            PLAN,
            Report,
            &[
                "k8s/app/cm.yaml:11 (document 1): invalid YAML",
                "alias bomb",
            ],
        ),
        case(
            "cluster-kustomize-outside-the-repository",
            "kustomize-outside-the-repository",
            APPLY,
            Report,
            &["k8s/app/kustomization.yaml:3", "is outside the repository"],
        ),
    ]);
}

#[test]
fn kustomize() {
    use At::Report;
    run_all(&[
        case(
            "kustomize-missing-resource",
            "kustomize-missing-resource",
            &["validate"],
            Report,
            &[
                "k8s/app/kustomization.yaml:3:",
                "resources entry \"deployment.yaml\" does not exist",
                "check the spelling",
            ],
        ),
        case(
            "kustomize-outside-the-repository",
            "kustomize-outside-the-repository",
            &["validate"],
            Report,
            &[
                "k8s/app/kustomization.yaml:3:",
                "is outside the repository",
                "move what it needs into the repository",
            ],
        ),
        case(
            "kustomize-absolute-path",
            "kustomize-absolute-path",
            &["validate"],
            Report,
            &[
                "k8s/app/kustomization.yaml:3:",
                "\"/etc/kubernetes\" is outside the repository",
            ],
        ),
        case(
            "kustomize-remote-base",
            "kustomize-remote-base",
            &["validate"],
            Report,
            &[
                "k8s/app/kustomization.yaml:3:",
                "is a remote reference",
                "vendor it",
            ],
        ),
        case(
            "kustomize-broken-yaml",
            "kustomize-broken-yaml",
            &["validate"],
            Report,
            &["k8s/app/kustomization.yaml:", "invalid YAML"],
        ),
        case(
            "kustomize-generator-file-outside",
            "kustomize-generator-file-outside",
            &["validate"],
            Report,
            &[
                "k8s/app/kustomization.yaml:6:",
                "secretGenerator[].files entry \"/etc/passwd\" is outside the repository",
            ],
        ),
    ]);
}

#[test]
fn kubeconfig_refs_and_runs() {
    use At::Stderr;
    run_all(&[
        case(
            "kubeconfig-garbage",
            "ok-workload",
            &["plan", "--kubeconfig", "{fixtures}/kubeconfig-garbage.yaml"],
            Stderr,
            &[
                "kubeconfig: ",
                "kubeconfig-garbage.yaml: failed to parse kubeconfig YAML",
                "line 7 column 15",
                "pass another with --kubeconfig",
            ],
        ),
        case(
            "kubeconfig-wrong-type",
            "ok-workload",
            &[
                "plan",
                "--kubeconfig",
                "{fixtures}/kubeconfig-wrong-type.yaml",
            ],
            Stderr,
            &["kubeconfig-wrong-type.yaml", "line 3"],
        ),
        case(
            "kubeconfig-missing-context",
            "ok-workload",
            &["plan", "--kubeconfig", "{cluster}", "--context", "nope"],
            Stderr,
            &["kubeconfig", "\"nope\""],
        ),
        case(
            "kubeconfig-unreachable-server",
            "ok-workload",
            &["plan", "--kubeconfig", "{unreachable}"],
            Stderr,
            &["cannot reach the cluster of context \"gone\" at http://127.0.0.1:9"],
        ),
        case(
            "kubeconfig-missing-file",
            "ok-workload",
            &["plan", "--kubeconfig", "/nonexistent/kubeconfig"],
            Stderr,
            &["kubeconfig", "/nonexistent/kubeconfig"],
        ),
        case(
            "ref-unknown-branch",
            "ok-stack",
            &["plan", "--ref", "no-such-branch"],
            Stderr,
            &["unknown ref \"no-such-branch\"", "main"],
        ),
        case(
            "ref-unknown-commit",
            "ok-stack",
            &["plan", "--ref", "0123456789abcdef0123456789abcdef01234567"],
            Stderr,
            &["unknown ref \"0123456789abcdef0123456789abcdef01234567\""],
        ),
        case(
            "ref-unknown-short-commit",
            "ok-stack",
            &["plan", "--ref", "deadbee"],
            Stderr,
            &["unknown ref \"deadbee\""],
        ),
        case(
            "ref-malformed",
            "ok-stack",
            &["plan", "--ref", "../../etc/passwd"],
            Stderr,
            &["\"../../etc/passwd\""],
        ),
        case(
            "ref-with-worktree",
            "ok-stack",
            &["plan", "--worktree", "--ref", "main"],
            Stderr,
            &["'--worktree' cannot be used with '--ref <REF>'"],
        ),
        case(
            "approve-unknown-run",
            "ok-stack",
            &["approve", "20250101-000000-abcd"],
            Stderr,
            &["no run \"20250101-000000-abcd\"", "strata plan --save"],
        ),
        case(
            "approve-malformed-run",
            "ok-stack",
            &["approve", "../../../etc/passwd"],
            Stderr,
            &["no run \"../../../etc/passwd\""],
        ),
        case(
            "apply-unknown-run",
            "ok-stack",
            &["apply", "--run", "20250101-000000-abcd"],
            Stderr,
            &["no run \"20250101-000000-abcd\""],
        ),
        case(
            "apply-malformed-run",
            "ok-stack",
            &["apply", "--run", "$(touch /tmp/pwned)"],
            Stderr,
            &["no run \"$(touch /tmp/pwned)\""],
        ),
    ]);
}

#[test]
fn inspect() {
    use At::Stderr;
    run_all(&[
        case(
            "inspect-truncated",
            "",
            &["inspect", "{fixtures}/inspect/truncated.json"],
            Stderr,
            &["truncated.json", "line"],
        ),
        case(
            "inspect-wrong-types",
            "",
            &["inspect", "{fixtures}/inspect/wrong-types.json"],
            Stderr,
            &[
                "wrong-types.json",
                "line 4, column 23",
                "terraform show -json",
            ],
        ),
        case(
            "inspect-wrong-action-type",
            "",
            &["inspect", "{fixtures}/inspect/wrong-action-type.json"],
            Stderr,
            &["wrong-action-type.json", "line 11", "expected a sequence"],
        ),
        case(
            "inspect-format-version-9",
            "",
            &["inspect", "{fixtures}/inspect/format-version-9.json"],
            Stderr,
            &["format-version-9.json", "9.0"],
        ),
        case(
            "inspect-not-json",
            "",
            &["inspect", "{fixtures}/inspect/not-json.json"],
            Stderr,
            &[
                "not-json.json",
                "not Terraform plan JSON",
                "terraform show -json",
            ],
        ),
        case(
            "inspect-empty",
            "",
            &["inspect", "{fixtures}/inspect/empty.json"],
            Stderr,
            &["empty.json"],
        ),
        case(
            "inspect-null",
            "",
            &["inspect", "{fixtures}/inspect/null.json"],
            Stderr,
            &["null.json"],
        ),
        case(
            "inspect-missing-file",
            "",
            &["inspect", "/nonexistent/plan.json"],
            Stderr,
            &["/nonexistent/plan.json"],
        ),
    ]);
}

#[test]
fn paths_and_symlinks() {
    use At::{Report, Stderr};
    run_all(&[
        with(
            "symlink-absolute",
            "ok-workload",
            |repo| symlink(repo, "/etc/passwd", "k8s/app/stolen.yaml"),
            &["plan", "--kubeconfig", "{cluster}"],
            Stderr,
            &[
                "symlink \"k8s/app/stolen.yaml\"",
                "points to \"/etc/passwd\"",
                "absolute",
                "commit the file itself",
            ],
        ),
        with(
            "symlink-climbs-out",
            "ok-workload",
            |repo| symlink(repo, "../../../../../etc/passwd", "k8s/app/up.yaml"),
            &["validate"],
            Stderr,
            &[
                "symlink \"k8s/app/up.yaml\"",
                "\"../../../../../etc/passwd\"",
                "leaves the repository",
            ],
        ),
        with(
            "symlink-dangling",
            "ok-workload",
            |repo| symlink(repo, "gone.yaml", "k8s/app/link.yaml"),
            &["validate"],
            Stderr,
            &[
                "symlink \"k8s/app/link.yaml\"",
                "\"k8s/app/gone.yaml\" is not in the repository",
            ],
        ),
        with(
            "symlink-into-git",
            "ok-workload",
            |repo| symlink(repo, "../../.git/config", "k8s/app/git.yaml"),
            &["validate"],
            Stderr,
            &["symlink \"k8s/app/git.yaml\"", ".git"],
        ),
        with(
            "symlink-loop",
            "ok-workload",
            |repo| {
                symlink(repo, "b.yaml", "k8s/app/a.yaml");
                symlink(repo, "a.yaml", "k8s/app/b.yaml");
            },
            &["validate"],
            Stderr,
            &["symlink \"k8s/app/a.yaml\"", "loop"],
        ),
        with(
            "symlink-stack-directory-out",
            "ok-stack",
            |repo| {
                std::fs::remove_dir_all(repo.join("infra/a")).expect("rm");
                symlink(repo, "/tmp", "infra/a");
            },
            &["plan"],
            Stderr,
            &["symlink \"infra/a\"", "points to \"/tmp\""],
        ),
        with(
            "symlink-var-file-out",
            "ok-stack",
            |repo| {
                symlink(repo, "/etc/hostname", "infra/a/prod.tfvars");
                write(
                    repo,
                    "strata.hcl",
                    b"stack \"a\" {\n  path = \"infra/a\"\n  var_files = [\"prod.tfvars\"]\n}\n",
                );
            },
            &["plan"],
            Stderr,
            &[
                "symlink \"infra/a/prod.tfvars\"",
                "points to \"/etc/hostname\"",
            ],
        ),
        with(
            "symlink-worktree",
            "ok-workload",
            |repo| symlink(repo, "/etc/passwd", "k8s/app/stolen.yaml"),
            &["plan", "--worktree", "--kubeconfig", "{cluster}"],
            Stderr,
            &[
                "symlink \"k8s/app/stolen.yaml\"",
                "points to \"/etc/passwd\"",
            ],
        ),
        with(
            "symlink-directory-loop",
            "ok-workload",
            |repo| symlink(repo, ".", "k8s/app/loop"),
            &["validate"],
            Report,
            &[
                "k8s/app/loop:",
                "is a symlink back to \"k8s/app\"",
                "remove the link",
            ],
        ),
    ]);
}
