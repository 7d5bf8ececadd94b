//! `strata watch`: the reconcile loop against real Terraform and kube-sim.

use std::time::Instant;

use crate::support::{Cluster, Repo, Strata, TerraformCalls, Watch, Webhook, eventually};

/// The `v` of ConfigMap `ns/name`, if it exists.
fn value_of(cluster: &Cluster, ns: &str, name: &str) -> Option<serde_json::Value> {
    cluster
        .exists(&["configmap", name, "-n", ns])
        .then(|| cluster.get(&["configmap", name, "-n", ns])["data"]["v"].clone())
}

/// One workload in `default` with ConfigMap `a` at 1.
fn config_map_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        "workload \"apps\" {\n  path = \"k8s\"\n  namespace = \"default\"\n}\n",
    )
    .write("k8s/a.yaml", &config_map("a", "1"));
    repo.commit("a 1");
    repo
}

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

#[test]
fn watch_converges_commits_corrects_drift_and_holds_what_needs_approval() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let hook = Webhook::start(0);
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &format!(
            r#"stack "net" {{
  path = "infra/net"
}}

workload "apps" {{
  path       = "k8s/apps"
  namespace  = "apps"
  depends_on = ["net"]
}}

workload "other" {{
  path      = "k8s/other"
  namespace = "default"
}}

notify "ops" {{
  webhook = "{}"
  on      = ["converged", "approval_required", "failed"]
}}
"#,
            hook.url
        ),
    )
    .write(
        "infra/net/main.tf",
        "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n\noutput \"cidr\" {\n  value = terraform_data.vpc.output\n}\n",
    )
    .write(
        "k8s/apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .write("k8s/apps/net.yaml", &config_map("net", "${stack.net.cidr}"))
    .write("k8s/apps/old.yaml", &config_map("old", "1"))
    .write("k8s/other/other.yaml", &config_map("other", "1"));
    repo.commit("first");
    let watch = Watch::start(
        &strata,
        &repo,
        &cluster,
        &[
            "--interval",
            "1s",
            "--resync",
            "3s",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let value = |ns: &str, name: &str| value_of(&cluster, ns, name);
    eventually(&watch, "the first commit converges", || {
        value("apps", "net") == Some("10.0.0.0/16".into())
    });
    assert_eq!(watch.get("/healthz").0, 200);
    eventually(&watch, "it is ready and says so", || {
        watch.get("/readyz").0 == 200
    });
    assert!(watch.metric("strata_applied_total{layer=\"stack\"}") >= Some(1.0));
    assert!(watch.metric("strata_reconcile_duration_seconds_count") >= Some(1.0));
    assert!(watch.metric("strata_reconcile_last_timestamp_seconds") > Some(1.7e9));

    // A new commit is converged within an interval or so.
    repo.write("k8s/other/other.yaml", &config_map("other", "2"));
    repo.commit("other 2");
    eventually(&watch, "the new commit converges", || {
        value("default", "other") == Some("2".into())
    });

    // An edit outside Git is put back at the next resync.
    let patched = cluster.kubectl(&[
        "patch",
        "configmap",
        "other",
        "-n",
        "default",
        "-p",
        r#"{"data":{"v":"edited"}}"#,
    ]);
    assert_eq!(patched.code, 0, "{patched:?}");
    eventually(&watch, "the edit is corrected", || {
        value("default", "other") == Some("2".into())
    });
    assert!(watch.metric("strata_applied_total{layer=\"workload\"}") >= Some(2.0));
    eventually(&watch, "the next resync finds it in sync", || {
        watch.metric("strata_reconcile_last_result{result=\"in_sync\"}") == Some(1.0)
    });

    // A prune needs approval: it is held, while the rest converges.
    repo.remove("k8s/apps/old.yaml");
    repo.write("k8s/other/other.yaml", &config_map("other", "3"));
    repo.commit("drop old, other 3");
    eventually(&watch, "the approval is asked for", || {
        watch.log().contains("approval required")
    });
    eventually(&watch, "what does not depend on it converges", || {
        value("default", "other") == Some("3".into())
    });
    // Several resyncs later: still there, and asked for once.
    let count = || {
        watch
            .metric("strata_reconcile_duration_seconds_count")
            .unwrap_or(0.0)
    };
    let seen = count();
    eventually(&watch, "two more reconciles", || count() >= seen + 2.0);
    assert!(cluster.exists(&["configmap", "old", "-n", "apps"]));
    let asked: Vec<serde_json::Value> = hook
        .bodies()
        .into_iter()
        .filter(|b| b["event"] == "approval_required")
        .collect();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    let run = asked[0]["run_id"]
        .as_str()
        .expect("the pending run")
        .to_owned();
    assert_eq!(asked[0]["items"][0]["address"], "ConfigMap/apps/old");
    assert_eq!(watch.metric("strata_pending_approvals"), Some(1.0));

    let approve = strata.run(&["approve", &run]);
    assert_eq!(approve.code, 0, "{approve:?}");
    eventually(&watch, "the approved run is applied", || {
        !cluster.exists(&["configmap", "old", "-n", "apps"])
    });
    assert!(cluster.exists(&["configmap", "net", "-n", "apps"]));
    eventually(&watch, "nothing waits any more", || {
        watch.metric("strata_pending_approvals") == Some(0.0)
    });
    assert_eq!(watch.metric("strata_pruned_objects_total"), Some(1.0));
    assert_eq!(watch.get("/nope").0, 404);

    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopped"), "{log}");
    let events: Vec<String> = hook
        .bodies()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(!events.contains(&"failed".to_owned()), "{events:?}");
    assert!(events.contains(&"converged".to_owned()), "{events:?}");
    // The state directory is free again, and nothing is left to do.
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
}

#[test]
fn sigterm_during_a_slow_apply_stops_gracefully_and_the_next_run_is_clean() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = crate::apply::slow_repo(60);
    let watch = Watch::start(&strata, &repo, &cluster, &["--interval", "1s"]);
    eventually(&watch, "Terraform applies", || {
        let runs = strata.run(&["runs", "--format", "json"]);
        runs.code == 0 && runs.json()["runs"][0]["status"] == "applying"
    });
    crate::support::wait_for_descendant(watch.child.id(), "sleep 60");
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopped"), "{log}");
    let runs = strata.run(&["runs", "--format", "json"]).json();
    assert_eq!(runs["runs"][0]["status"], "interrupted", "{runs:#}");
    // No lock is left behind, strata's or Terraform's; and Terraform
    // stopped its step instead of running the minute-long provisioner to
    // the end: the resource is still to be made.
    let plan = strata.on(&repo, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let action = plan.json()["stacks"][0]["changes"][0]["action"].clone();
    assert!(action == "create" || action == "replace", "{plan:?}");
}

#[test]
fn with_the_api_server_down_watch_backs_off_alerts_once_and_recovers() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let hook = Webhook::start(0);
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        &format!(
            "workload \"apps\" {{\n  path = \"k8s\"\n  namespace = \"default\"\n}}\n\nnotify \"ops\" {{\n  webhook = \"{}\"\n  on = [\"converged\", \"failed\"]\n}}\n",
            hook.url
        ),
    )
    .write("k8s/a.yaml", &config_map("a", "1"));
    repo.commit("a 1");
    let watch = Watch::start(
        &strata,
        &repo,
        &cluster,
        &[
            "--interval",
            "1s",
            "--resync",
            "2s",
            "--max-backoff",
            "4s",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let value = || value_of(&cluster, "default", "a");
    eventually(&watch, "the first commit converges", || {
        value() == Some("1".into())
    });

    cluster.sim.sim().set_faults("rate=1,codes=500").unwrap();
    repo.write("k8s/a.yaml", &config_map("a", "2"));
    repo.commit("a 2");
    eventually(&watch, "three failed reconciles", || {
        watch.log().matches("reconcile failed").count() >= 3
    });
    let log = watch.log();
    let waits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reconcile failed"))
        .filter_map(|l| l.split("retry_in=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(waits.len() >= 3, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("reconcile failed") && l.contains("failures=3")),
        "{log}"
    );
    assert!(watch.metric("strata_errors_total{kind=\"kubernetes\"}") >= Some(3.0));
    assert!(watch.metric("strata_consecutive_failures") >= Some(3.0));
    assert!(watch.metric("strata_backoff_seconds") > Some(0.0));
    assert_eq!(
        watch.metric("strata_reconcile_last_result{result=\"failed\"}"),
        Some(1.0)
    );
    cluster.sim.sim().clear_faults();
    eventually(&watch, "it converges once the API server is back", || {
        value() == Some("2".into())
    });
    eventually(&watch, "the recovery is notified", || {
        hook.bodies()
            .iter()
            .filter(|b| b["event"] == "converged")
            .count()
            >= 2
    });
    let failed = hook
        .bodies()
        .iter()
        .filter(|b| b["event"] == "failed")
        .count();
    assert_eq!(failed, 1, "one alert for one outage: {:#?}", hook.bodies());
    assert_eq!(watch.metric("strata_backoff_seconds"), Some(0.0));
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
}

/// Two replicas with leader election against one cluster: exactly one
/// reconciles; when it dies, the other takes over once the Lease expires;
/// a replica that stops gracefully hands the Lease over at once.
#[test]
fn with_leader_election_exactly_one_replica_reconciles_and_another_takes_over() {
    let cluster = Cluster::start();
    let repo = config_map_repo();
    let elect = [
        "--interval",
        "1s",
        "--leader-elect",
        "--lease-duration",
        "3s",
        "--resync",
        "1s",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    // Each replica has its own state directory, as pods with their own
    // volume would.
    let (one, two) = (Strata::new(), Strata::new());
    let first = Watch::start(&one, &repo, &cluster, &elect);
    let second = Watch::start(&two, &repo, &cluster, &elect);
    eventually(&first, "one of them leads", || {
        first.log().contains("leading") || second.log().contains("leading")
    });
    eventually(&first, "the commit converges", || {
        value_of(&cluster, "default", "a") == Some("1".into())
    });
    let (leader, follower) = if first.log().contains("leading") {
        (first, second)
    } else {
        (second, first)
    };
    // While the leader reconciles (a resync each second) three more times,
    // longer than a Lease lasts, the other only waits.
    let reconciles = || {
        leader
            .metric("strata_reconcile_duration_seconds_count")
            .unwrap_or(0.0)
    };
    let seen = reconciles();
    eventually(&leader, "the leader reconciles three more times", || {
        reconciles() >= seen + 3.0
    });
    assert!(
        follower.log().contains("waiting to lead"),
        "{}",
        follower.log()
    );
    assert!(!follower.log().contains("leading"), "{}", follower.log());
    assert!(
        !follower.log().contains("in sync"),
        "the follower reconciled:\n{}",
        follower.log()
    );
    assert_eq!(leader.metric("strata_leader"), Some(1.0));
    assert_eq!(follower.metric("strata_leader"), Some(0.0));
    let lease = cluster.get(&["lease", "strata-watch", "-n", "default"]);
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    assert!(leader.log().contains(&holder), "{holder}\n{}", leader.log());

    // The leader dies without a word: the Lease expires, the other takes
    // over and reconciles the next commit.
    let mut leader = leader;
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    let died = Instant::now();
    eventually(&follower, "the follower takes over", || {
        follower.log().contains("leading")
    });
    let took = died.elapsed();
    eprintln!("the follower took over {took:?} after the leader died (lease 3 s)");
    repo.write("k8s/a.yaml", &config_map("a", "2"));
    repo.commit("a 2");
    eventually(
        &follower,
        "the new leader converges the next commit",
        || value_of(&cluster, "default", "a") == Some("2".into()),
    );
    let (code, log) = follower.stop();
    assert_eq!(code, 0, "{log}");
    // Stopping gracefully released the Lease.
    let lease = cluster.get(&["lease", "strata-watch", "-n", "default"]);
    assert!(lease["spec"].get("holderIdentity").is_none(), "{lease:#}");
}

/// deploy/ (the Deployment, CronJob, RBAC and volume that run strata in a
/// cluster) passes `strata validate` and applies cleanly.
#[test]
fn the_deploy_manifests_validate_and_apply_cleanly() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    crate::support::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &repo.path().join("deploy"),
    );
    repo.write(
        "strata.hcl",
        "workload \"strata\" {\n  path = \"deploy\"\n  timeout = \"30s\"\n}\n",
    );
    repo.commit("strata in the cluster");
    let validate = strata.on(&repo, &["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    let apply = strata.kube(&repo, &cluster, &["apply", "--format", "json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let report = apply.json();
    let created: Vec<String> = report["workloads"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["kind"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect();
    for object in [
        "Namespace/strata-system",
        "Deployment/strata-watch",
        "CronJob/strata-drift",
        "PersistentVolumeClaim/strata-state",
        "ClusterRole/strata-converge",
        "Role/strata-leader-election",
    ] {
        assert!(
            created.contains(&object.to_owned()),
            "{object} not in {created:?}"
        );
    }
    let deployment = cluster.get(&["deployment", "strata-watch", "-n", "strata-system"]);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "strata-watch"
    );
    let again = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(again.code, 0, "{again:?}");
}

/// A Lease taken over by someone else stops the reconcile at once; the
/// replica waits, and leads again when that holder stops renewing.
#[test]
fn a_lease_taken_over_stops_the_reconcile_and_the_replica_waits_its_turn() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = config_map_repo();
    let watch = Watch::start(
        &strata,
        &repo,
        &cluster,
        &[
            "--interval",
            "1s",
            "--leader-elect",
            "--lease-duration",
            "3s",
        ],
    );
    eventually(&watch, "it leads", || watch.log().contains("leading"));
    let now = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .unwrap();
    let now = String::from_utf8(now.stdout).unwrap();
    let stolen = cluster.kubectl(&[
        "patch",
        "lease",
        "strata-watch",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        &format!(
            r#"{{"spec":{{"holderIdentity":"intruder","renewTime":"{}"}}}}"#,
            now.trim()
        ),
    ]);
    assert_eq!(stolen.code, 0, "{stolen:?}");
    eventually(&watch, "it notices and stops reconciling", || {
        watch.log().contains("the lease was taken over")
            && watch.log().contains("no longer the leader")
    });
    eventually(&watch, "it waits for the intruder", || {
        watch.log().contains("waiting to lead holder=intruder")
    });
    // The intruder never renews: after 3 s the replica leads again.
    eventually(&watch, "it leads again", || {
        watch.log().matches("leading").count() >= 2
    });
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
}

fn data(input: &str, replace_on: &str) -> String {
    format!(
        "resource \"terraform_data\" \"x\" {{\n  input            = \"{input}\"\n  triggers_replace = [\"{replace_on}\"]\n}}\n\noutput \"x\" {{\n  value = terraform_data.x.output\n}}\n"
    )
}

/// One reconcile plans each stack once: what needs approval (and what
/// depends on it) is split off the same plan into a pending run, and the
/// rest is applied. Only a held stack whose dependency was just applied is
/// planned again. The Terraform commands are counted through a wrapper.
#[test]
fn a_reconcile_plans_each_stack_once_and_holds_what_needs_approval() {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let calls = TerraformCalls::new();
    let repo = Repo::new();
    repo.write(
        "strata.hcl",
        r#"stack "safe" { path = "infra/safe" }
stack "risky" { path = "infra/risky" }
stack "after-risky" {
  path       = "infra/after-risky"
  depends_on = ["risky"]
}
stack "base" { path = "infra/base" }
stack "on-base" {
  path       = "infra/on-base"
  depends_on = ["base"]
}
"#,
    );
    for stack in ["safe", "risky", "after-risky", "base", "on-base"] {
        repo.write(&format!("infra/{stack}/main.tf"), &data("1", "1"));
    }
    repo.commit("five stacks");
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
    eventually(&watch, "the first commit converges", || {
        watch.metric("strata_applied_total{layer=\"stack\"}") >= Some(5.0)
    });
    let reconciles = || {
        watch
            .metric("strata_reconcile_duration_seconds_count")
            .unwrap_or(0.0)
    };
    let before = reconciles();
    calls.take();

    // safe: an update. risky: a replace (needs approval), and after-risky
    // depends on it. base: an update, and on-base (a replace) depends on
    // it, so on-base is held and planned again once base is applied.
    repo.write("infra/safe/main.tf", &data("2", "1"))
        .write("infra/risky/main.tf", &data("2", "2"))
        .write("infra/after-risky/main.tf", &data("2", "1"))
        .write("infra/base/main.tf", &data("2", "1"))
        .write("infra/on-base/main.tf", &data("1", "2"));
    repo.commit("changes, two of them destructive");
    eventually(&watch, "the approval is asked for", || {
        watch.log().contains("approval required")
    });
    eventually(&watch, "the reconcile is over", || reconciles() > before);
    let ran = calls.take();
    let count = |call: &str| ran.iter().filter(|c| c.as_str() == call).count();
    for stack in ["safe", "risky", "after-risky", "base"] {
        assert_eq!(count(&format!("{stack} plan")), 1, "{stack}: {ran:#?}");
    }
    assert_eq!(
        count("on-base plan"),
        2,
        "planned again after base: {ran:#?}"
    );
    assert_eq!(count("safe apply") + count("base apply"), 2, "{ran:#?}");
    for held in ["risky", "after-risky", "on-base"] {
        assert_eq!(
            count(&format!("{held} apply")),
            0,
            "{held} is held: {ran:#?}"
        );
    }
    // The version is known from the first reconcile.
    assert_eq!(count(" version"), 0, "{ran:#?}");

    // The pending run holds exactly what needs approval and what depends on
    // it, with the plans made in this reconcile.
    let run_id = watch
        .log()
        .lines()
        .find(|l| l.contains("approval required"))
        .and_then(|l| l.split("run=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("the pending run in the log")
        .to_owned();
    let record = strata.run_record(&run_id);
    assert_eq!(record["status"], "approval_required", "{record:#}");
    let mut held: Vec<&str> = record["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    held.sort_unstable();
    assert_eq!(held, ["after-risky", "on-base", "risky"], "{record:#}");

    let approve = strata.run(&["approve", &run_id]);
    assert_eq!(approve.code, 0, "{approve:?}");
    eventually(&watch, "the approved run is applied", || {
        watch.metric("strata_pending_approvals") == Some(0.0)
            && watch.metric("strata_applied_total{layer=\"stack\"}") >= Some(10.0)
    });
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");
    let plan = strata.kube(&repo, &cluster, &["plan"]);
    assert_eq!(plan.code, 0, "everything converged: {plan:?}");
}
