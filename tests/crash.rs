//! Interrupts and crashes at exact places of `apply`, and the run after
//! them. strata is stopped at a pause point (`STRATA_PAUSE_AT`, see
//! src/failpoint.rs), then either interrupted (SIGINT: nothing new may
//! start) or killed with every process it started (SIGKILL: the next
//! `strata apply` must converge with no manual step). The judges are
//! Terraform's own `output -json`, the real kubectl, and the run records.

use std::path::Path;

use crate::support::{Cluster, Repo, Strata, run_statuses};

/// The repository: a stack whose output `version` feeds a workload (a
/// ConfigMap and a Deployment annotation) and an `outputs` block; the
/// workload has three waves (Namespace; ConfigMaps; Deployment). At
/// version 1 it also holds the ConfigMap `extra`, which version 2 drops
/// (a prune). With `slow` (a FIFO), creating the stack's resource runs a
/// provisioner that writes a line to it and then sleeps, once.
fn write_repo(repo: &Repo, version: u32, slow: Option<&Path>) {
    let provisioner = slow.map_or_else(String::new, |fifo| {
        let fifo = fifo.display();
        format!(
            "  provisioner \"local-exec\" {{\n    command = \"[ -e {fifo}.done ] || {{ touch {fifo}.done; echo started > {fifo}; sleep 120; }}\"\n  }}\n"
        )
    });
    repo.write(
        "strata.hcl",
        r#"stack "app" {
  path = "infra/app"
}

workload "apps" {
  path       = "k8s/apps"
  namespace  = "demo"
  depends_on = ["app"]
  timeout    = "60s"
}

outputs "app" {
  config_map = "demo/app-outputs"
}
"#,
    )
    .write(
        "infra/app/main.tf",
        &format!(
            "resource \"terraform_data\" \"release\" {{\n  input = \"{version}.0\"\n{provisioner}}}\n\noutput \"version\" {{\n  value = terraform_data.release.output\n}}\n"
        ),
    )
    .write(
        "k8s/apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    )
    .write(
        "k8s/apps/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  version: \"${stack.app.version}\"\n",
    )
    .write(
        "k8s/apps/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        example.com/version: "${stack.app.version}"
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
"#,
    );
    if version == 1 {
        repo.write(
            "k8s/apps/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: \"1\"\n",
        );
    } else {
        repo.remove("k8s/apps/extra.yaml");
    }
    repo.commit(&format!("version {version}"));
}

/// One place to stop strata at, from a fresh state (`version` 1) or from
/// version 1 converged (`version` 2).
struct Case<'a> {
    version: u32,
    point: &'a str,
}

/// A cluster, a state directory and the repository at `case.version`,
/// with version 1 already converged when the case is version 2.
fn set_up(case: &Case<'_>, slow: Option<&Path>) -> (Cluster, Strata, Repo) {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    write_repo(&repo, 1, slow);
    if case.version == 2 {
        let first = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
        assert_eq!(first.code, 0, "{first:?}");
        write_repo(&repo, 2, None);
    }
    (cluster, strata, repo)
}

fn apply_args<'a>(repo: &'a Repo, kubeconfig: &'a str) -> Vec<&'a str> {
    vec![
        "apply",
        "--auto-approve",
        "-vv",
        "--repo",
        repo.path().to_str().expect("utf-8"),
        "--kubeconfig",
        kubeconfig,
    ]
}

/// The next `strata apply` converges, and then everything agrees: the
/// output Terraform's state holds is in the ConfigMap, the published
/// outputs and the Deployment; the dropped ConfigMap is gone at version 2;
/// `strata plan` has nothing left to do; no run is left `applying`.
#[track_caller]
fn converges(cluster: &Cluster, strata: &Strata, repo: &Repo, version: u32, what: &str) {
    let next = strata.kube(repo, cluster, &["apply", "--auto-approve"]);
    assert_eq!(next.code, 0, "{what}: the next apply: {next:?}");
    let outputs = strata.terraform("infra/app", &["output", "-json"]);
    let outputs: serde_json::Value = serde_json::from_slice(&outputs.stdout).expect("JSON");
    let expected = format!("{version}.0");
    assert_eq!(outputs["version"]["value"], expected.as_str(), "{what}");
    let config = cluster.get(&["configmap", "web-config", "-n", "demo"]);
    assert_eq!(config["data"]["version"], expected.as_str(), "{what}");
    let published = cluster.get(&["configmap", "app-outputs", "-n", "demo"]);
    assert_eq!(published["data"]["version"], expected.as_str(), "{what}");
    let web = cluster.get(&["deployment", "web", "-n", "demo"]);
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"]["example.com/version"],
        expected.as_str(),
        "{what}"
    );
    assert_eq!(
        cluster.exists(&["configmap", "extra", "-n", "demo"]),
        version == 1,
        "{what}: the ConfigMap that left Git"
    );
    let plan = strata.kube(repo, cluster, &["plan"]);
    assert_eq!(plan.code, 0, "{what}: nothing left to do: {plan:?}");
    let statuses = run_statuses(strata.state.path());
    assert!(
        !statuses.iter().any(|s| s == "applying"),
        "{what}: a run was left applying: {statuses:?}"
    );
}

/// Kills strata and its children at `case.point`, then checks that the
/// next apply repairs everything.
fn crash_at(case: &Case<'_>) {
    let (cluster, strata, repo) = set_up(case, None);
    let kubeconfig = cluster.kubeconfig();
    let kubeconfig = kubeconfig.to_str().expect("utf-8");
    let paused = strata.pause_at(&apply_args(&repo, kubeconfig), case.point);
    paused.kill_all();
    let what = format!("killed at {} (version {})", case.point, case.version);
    converges(&cluster, &strata, &repo, case.version, &what);
}

/// Child processes strata started after the pause, from its debug log.
fn started_after_pause(rest: &str) -> Vec<&str> {
    rest.lines()
        .filter(|l| l.contains("running command="))
        .collect()
}

/// Interrupts strata at `case.point`: exit 1, the interrupt acknowledged,
/// the run `interrupted`, no child started after it; `check` looks at the
/// cluster and the state; then the next apply converges.
fn interrupt_at(case: &Case<'_>, check: impl FnOnce(&Cluster, &Strata)) {
    let (cluster, strata, repo) = set_up(case, None);
    let kubeconfig = cluster.kubeconfig();
    let kubeconfig = kubeconfig.to_str().expect("utf-8");
    let paused = strata.pause_at(&apply_args(&repo, kubeconfig), case.point);
    let (code, rest) = paused.interrupt();
    let what = format!("interrupted at {} (version {})", case.point, case.version);
    assert_eq!(code, Some(1), "{what}: {rest}");
    assert!(
        rest.contains("interrupt received: stopping gracefully"),
        "{what}: {rest}"
    );
    assert!(
        started_after_pause(&rest).is_empty(),
        "{what}: started after the interrupt: {:#?}",
        started_after_pause(&rest)
    );
    let statuses = run_statuses(strata.state.path());
    assert!(
        statuses.iter().any(|s| s == "interrupted"),
        "{what}: {statuses:?}"
    );
    check(&cluster, &strata);
    converges(&cluster, &strata, &repo, case.version, &what);
}

fn no_state(strata: &Strata) -> bool {
    let state = strata.tree().join("infra/app/terraform.tfstate");
    !state.exists()
        || !std::fs::read_to_string(&state)
            .expect("state")
            .contains("terraform_data")
}

#[test]
fn an_interrupt_before_init_plan_or_show_starts_none_of_them() {
    for point in ["app/init", "app/plan", "app/show"] {
        interrupt_at(&Case { version: 1, point }, |cluster, strata| {
            assert!(no_state(strata), "{point}: nothing applied");
            assert!(!cluster.exists(&["namespace", "demo"]), "{point}");
        });
    }
}

#[test]
fn an_interrupt_before_terraform_apply_applies_nothing() {
    interrupt_at(
        &Case {
            version: 1,
            point: "app/apply",
        },
        |cluster, strata| {
            assert!(no_state(strata), "the stack was not applied");
            assert!(!cluster.exists(&["namespace", "demo"]));
        },
    );
}

#[test]
fn an_interrupt_before_the_workload_diff_writes_nothing_to_the_cluster() {
    interrupt_at(
        &Case {
            version: 1,
            point: "apps/diff",
        },
        |cluster, strata| {
            assert!(no_state(strata), "the stack was not applied");
            assert!(!cluster.exists(&["namespace", "demo"]));
        },
    );
}

#[test]
fn an_interrupt_between_waves_starts_no_later_wave() {
    interrupt_at(
        &Case {
            version: 1,
            point: "apps/wave-1",
        },
        |cluster, _| {
            assert!(cluster.exists(&["namespace", "demo"]), "wave 0 was applied");
            assert!(!cluster.exists(&["configmap", "web-config", "-n", "demo"]));
            assert!(!cluster.exists(&["deployment", "web", "-n", "demo"]));
        },
    );
    interrupt_at(
        &Case {
            version: 1,
            point: "apps/wave-2",
        },
        |cluster, _| {
            assert!(cluster.exists(&["configmap", "web-config", "-n", "demo"]));
            assert!(!cluster.exists(&["deployment", "web", "-n", "demo"]));
        },
    );
}

#[test]
fn an_interrupt_before_the_prune_deletes_nothing() {
    interrupt_at(
        &Case {
            version: 2,
            point: "apps/prune",
        },
        |cluster, _| {
            assert!(cluster.exists(&["configmap", "extra", "-n", "demo"]));
        },
    );
}

/// Every step of a first apply, from an empty state and cluster.
#[test]
fn a_crash_at_any_step_of_a_first_apply_is_repaired_by_the_next() {
    for point in [
        "app/init",
        "app/plan",
        "app/show",
        "app/apply",
        "app/applied",
        "apps/diff",
        "apps/apply",
        "apps/wave-0",
        "apps/wave-1",
        "apps/wave-2",
        "apps/inventory",
        "apps/health",
    ] {
        crash_at(&Case { version: 1, point });
    }
}

/// Every step of an apply that changes the output and prunes.
#[test]
fn a_crash_at_any_step_of_an_update_and_prune_is_repaired_by_the_next() {
    for point in [
        "app/plan",
        "app/apply",
        // Terraform's state holds the new output; nothing else does yet.
        "app/applied",
        "apps/diff",
        "apps/apply",
        "apps/wave-1",
        "apps/wave-2",
        "apps/inventory",
        "apps/prune",
        "apps/health",
    ] {
        crash_at(&Case { version: 2, point });
    }
}

/// Killed while Terraform is inside `apply` (a provisioner running): the
/// state is Terraform's to repair, and the next run does.
#[test]
fn a_crash_in_the_middle_of_terraform_apply_is_repaired_by_the_next() {
    let fifo_dir = tempfile::tempdir().expect("tempdir");
    let fifo = fifo_dir.path().join("provisioner-started");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    write_repo(&repo, 1, Some(&fifo));
    let child = strata
        .command(&[
            "apply",
            "--auto-approve",
            "--repo",
            repo.path().to_str().expect("utf-8"),
            "--kubeconfig",
            cluster.kubeconfig().to_str().expect("utf-8"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strata starts");
    // The provisioner writes to the FIFO as it starts: Terraform is then in
    // the middle of creating the resource. Reading it waits for that.
    let (started, event) = std::sync::mpsc::channel();
    let reader = fifo.clone();
    std::thread::spawn(move || {
        let line = std::fs::read_to_string(reader).unwrap_or_default();
        let _ = started.send(line);
    });
    let line = event
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the provisioner started within 120 s");
    assert_eq!(line.trim(), "started");
    let mut child = child;
    crate::support::kill_tree(child.id());
    let _ = child.wait();
    converges(&cluster, &strata, &repo, 1, "killed inside terraform apply");
}

/// `watch` killed between two waves: a later `strata apply` converges.
#[test]
fn a_crash_of_watch_between_waves_is_repaired_by_the_next_apply() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    write_repo(&repo, 1, None);
    let paused = strata.pause_at(
        &[
            "watch",
            "--interval",
            "1s",
            "--repo",
            repo.path().to_str().expect("utf-8"),
            "--kubeconfig",
            cluster.kubeconfig().to_str().expect("utf-8"),
        ],
        "apps/wave-2",
    );
    paused.kill_all();
    converges(&cluster, &strata, &repo, 1, "watch killed before wave 2");
}

/// Killed between two waves of a first apply: the objects the cut wave
/// created are strata's all the same (the inventory said so before the
/// wave), so when they later leave Git they are pruned, not kept as if
/// someone else had made them.
#[test]
fn what_a_wave_cut_by_a_crash_created_is_still_pruned_when_it_leaves_git() {
    let case = Case {
        version: 1,
        point: "apps/wave-2",
    };
    let (cluster, strata, repo) = set_up(&case, None);
    let kubeconfig = cluster.kubeconfig();
    let kubeconfig = kubeconfig.to_str().expect("utf-8");
    strata
        .pause_at(&apply_args(&repo, kubeconfig), case.point)
        .kill_all();
    converges(&cluster, &strata, &repo, 1, "killed before wave 2");
    write_repo(&repo, 2, None);
    converges(
        &cluster,
        &strata,
        &repo,
        2,
        "extra left Git after the crash",
    );
}

/// Work that never looks at the interrupt (simulated: strata stays busy at
/// a point and ignores it): after a second Ctrl-C, strata still ends, on
/// its own, within the hard stop's grace period, saying so; the next run
/// is clean.
#[test]
fn a_second_interrupt_ends_strata_even_when_it_is_stuck() {
    let strata = Strata::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &crate::support::stacks_hcl(&[("app", "infra/app", &[])]),
    )
    .write(
        "infra/app/main.tf",
        "resource \"terraform_data\" \"x\" {\n  input = \"1\"\n}\n",
    );
    repo.commit("a stack");
    let mut child = strata
        .command(&["plan", "--repo", repo.path().to_str().expect("utf-8")])
        .env("STRATA_STUCK_AT", "app/plan")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("strata starts");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
    crate::support::read_until(&mut stderr, "strata: stuck at app/plan");
    for _ in 0..2 {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT");
        // The next signal only once this one is acknowledged.
        crate::support::read_until_containing(&mut stderr, "stopping");
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert_eq!(child.wait().expect("waits").code(), Some(1), "{rest}");
    assert!(
        rest.contains("did not stop within 10 s of the second interrupt"),
        "{rest}"
    );
    let next = strata.on(&repo, &["plan"]);
    assert_eq!(next.code, 2, "{next:?}");
}
