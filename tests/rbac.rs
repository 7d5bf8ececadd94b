//! deploy/rbac.yaml against kube-sim with RBAC on: `strata watch` and
//! `strata drift` work with the tokens of their two ServiceAccounts, and
//! every rule is needed (removing one makes strata fail and say which
//! permission is missing).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Cluster, Repo, Strata, Watch, copy_dir, eventually};

const NAMESPACE: &str = "strata-system";

/// A cluster with RBAC on (the kubeconfig holds the cluster admin's token).
fn cluster() -> Cluster {
    Cluster::with(|o| o.rbac = true)
}

/// deploy/ as kustomize assembles it (the real kubectl's), one object per
/// item.
fn deploy_objects(cluster: &Cluster) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let built = cluster.kubectl(&["kustomize", dir.to_str().unwrap()]);
    assert_eq!(built.code, 0, "{built:?}");
    built
        .stdout
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("kustomize writes YAML"))
        .collect()
}

/// The rules of deploy/'s roles: (kind, name, rule index, rule).
fn rules(objects: &[Value]) -> Vec<(String, String, usize, Value)> {
    objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")))
        .flat_map(|o| {
            let kind = o["kind"].as_str().unwrap().to_owned();
            let name = o["metadata"]["name"].as_str().unwrap().to_owned();
            o["rules"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(move |(i, r)| (kind.clone(), name.clone(), i, r.clone()))
        })
        .collect()
}

/// What to leave out of deploy/'s RBAC: (role name, rule index, and one
/// verb of it or, with `None`, the whole rule).
type Without<'a> = Option<(&'a str, usize, Option<&'a str>)>;

/// Installs deploy/ as the cluster admin, without `without`.
fn install(cluster: &Cluster, without: Without) {
    let mut objects = deploy_objects(cluster);
    if let Some((role, index, verb)) = without {
        let object = objects
            .iter_mut()
            .find(|o| {
                matches!(o["kind"].as_str(), Some("Role" | "ClusterRole"))
                    && o["metadata"]["name"] == role
            })
            .expect("the role");
        let rules = object["rules"].as_array_mut().unwrap();
        match verb {
            None => {
                rules.remove(index);
            }
            Some(verb) => {
                let verbs = rules[index]["verbs"].as_array_mut().unwrap();
                let before = verbs.len();
                verbs.retain(|v| v != verb);
                assert_eq!(verbs.len() + 1, before, "{role} rule {index} has no {verb}");
            }
        }
    }
    let documents: Vec<String> = objects.iter().map(Value::to_string).collect();
    let applied = cluster.kubectl_in(
        &["apply", "--server-side", "-f", "-"],
        Some(&documents.join("\n---\n")),
    );
    assert_eq!(applied.code, 0, "{applied:?}");
}

/// A kubeconfig for the cluster that authenticates as ServiceAccount
/// `strata-system/<account>`, with a token from TokenRequest.
fn kubeconfig_of(cluster: &Cluster, account: &str) -> PathBuf {
    let token = cluster.kubectl(&["create", "token", account, "-n", NAMESPACE]);
    assert_eq!(token.code, 0, "{token:?}");
    kubeconfig_with(cluster, account, token.stdout.trim())
}

/// The cluster's kubeconfig with another bearer token, as `<name>`.
fn kubeconfig_with(cluster: &Cluster, name: &str, token: &str) -> PathBuf {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.kubeconfig()).unwrap()).unwrap();
    config["users"][0]["user"]["token"] = json!(token);
    let path = cluster.dir.path().join(format!("kubeconfig-{name}"));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn example() -> Repo {
    let repo = Repo::new();
    copy_dir(&crate::support::example_dir(), repo.path());
    repo.commit("example");
    repo
}

/// The watch of deploy/deployment.yaml: leader election in strata-system.
fn watch(strata: &Strata, repo: &Repo, kubeconfig: &Path) -> Watch {
    Watch::start_with(
        strata,
        repo,
        kubeconfig,
        &[
            "--interval",
            "1s",
            "--resync",
            "1h",
            // The example protects terraform_data.primary: its creation
            // needs an approval, given in advance here.
            "--auto-approve",
            "--leader-elect",
            "--lease-namespace",
            NAMESPACE,
            // Renewed every second.
            "--lease-duration",
            "3s",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        None,
    )
}

#[test]
fn watch_and_drift_work_with_the_service_accounts_of_deploy() {
    let cluster = cluster();
    install(&cluster, None);
    let strata = Strata::new();
    let repo = example();

    let watch = watch(&strata, &repo, &kubeconfig_of(&cluster, "strata-watch"));
    eventually(&watch, "a reconcile applies the example", || {
        watch.metric("strata_reconcile_last_result{result=\"applied\"}") == Some(1.0)
    });
    // A clean reconcile warns about nothing (nor about runs/lock, which
    // is a file among the run directories).
    let log = watch.log();
    assert!(
        !log.contains("forbidden") && !log.contains(" WARN "),
        "{log}"
    );
    // The judge is the cluster admin's kubectl.
    let config = cluster.get(&["configmap", "web-config", "-n", "apps"]);
    assert!(
        config["data"]["DATABASE_ENDPOINT"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{config}"
    );
    assert!(cluster.exists(&["widget", "front-door", "-n", "apps"]));
    assert!(cluster.exists(&["secret", "database-secrets", "-n", "apps"]));
    assert!(cluster.exists(&["configmap", "workload-apps", "-n", NAMESPACE]));
    let lease = cluster.get(&["lease", "strata-watch", "-n", NAMESPACE]);
    assert!(
        lease["spec"]["holderIdentity"].as_str().is_some(),
        "{lease}"
    );
    let (code, log) = watch.stop();
    assert_eq!(code, 0, "{log}");

    let drift_config = kubeconfig_of(&cluster, "strata-drift");
    let drift_config = drift_config.to_str().unwrap();
    let clean = strata.on(&repo, &["drift", "--kubeconfig", drift_config]);
    assert_eq!(clean.code, 0, "{clean:?}");
    // Someone edits the live object; the drift check sees it, as the
    // drift account, and changes nothing.
    let edit = cluster.kubectl(&[
        "patch",
        "configmap",
        "web-config",
        "-n",
        "apps",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"LOG_LEVEL":"debug"}}"#,
    ]);
    assert_eq!(edit.code, 0, "{edit:?}");
    let drifted = strata.on(&repo, &["drift", "--kubeconfig", drift_config]);
    assert_eq!(drifted.code, 2, "{drifted:?}");
    assert!(
        drifted
            .stdout
            .contains("~ ConfigMap/apps/web-config  drift; changed outside strata"),
        "{drifted:?}"
    );
    assert!(!drifted.stdout.contains("forbidden"), "{drifted:?}");
    let config = cluster.get(&["configmap", "web-config", "-n", "apps"]);
    assert_eq!(config["data"]["LOG_LEVEL"], "debug");
}

/// The ServiceAccount that deploy/ binds role `name` to.
fn bound_to(objects: &[Value], role: &str) -> String {
    let binding = objects
        .iter()
        .find(|o| {
            matches!(
                o["kind"].as_str(),
                Some("RoleBinding" | "ClusterRoleBinding")
            ) && o["roleRef"]["name"] == role
        })
        .unwrap_or_else(|| panic!("no binding of {role}"));
    binding["subjects"][0]["name"].as_str().unwrap().to_owned()
}

/// The first denial in `text`, as (user, verb, resource, group, scope),
/// from the API server's wording: `User "u" cannot patch resource
/// "configmaps" in API group "" in the namespace "apps"`.
fn denial(text: &str) -> Option<(String, String, String, String, String)> {
    let at = text.find("User \"")?;
    let rest = &text[at + 6..];
    let (user, rest) = rest.split_once("\" cannot ")?;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, rest) = rest.split_once("\" in API group \"")?;
    let (group, rest) = rest.split_once('"')?;
    let scope = if let Some(ns) = rest.strip_prefix(" in the namespace \"") {
        format!("namespace {}", ns.split('"').next()?)
    } else if rest.starts_with(" at the cluster scope") {
        "cluster".to_owned()
    } else {
        return None;
    };
    Some((
        user.to_owned(),
        verb.to_owned(),
        resource.to_owned(),
        group.to_owned(),
        scope,
    ))
}

fn listed(rule: &Value, field: &str, value: &str) -> bool {
    rule[field]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == value || v == "*")
}

/// Runs the command of `account` (deploy/'s watch or nightly drift) as
/// that account, until it succeeds or is refused; its output. For the
/// watch, `then` (a second commit) runs after the first reconcile, and the
/// watch goes on until that one prunes or is refused.
fn run_as(
    account: &str,
    strata: &Strata,
    repo: &Repo,
    cluster: &Cluster,
    kubeconfig: &Path,
    what: &str,
    then: Option<&dyn Fn()>,
) -> String {
    match account {
        "strata-watch" => {
            let watch = watch(strata, repo, kubeconfig);
            eventually(&watch, what, || {
                watch.log().contains("forbidden")
                    || watch.metric("strata_reconcile_last_result{result=\"applied\"}") == Some(1.0)
            });
            if let Some(then) = then
                && !watch.log().contains("forbidden")
            {
                then();
                // ... and has renewed its Lease at least once.
                let renewed = || {
                    let lease = cluster.get(&["lease", "strata-watch", "-n", NAMESPACE]);
                    lease["spec"]["renewTime"] != lease["spec"]["acquireTime"]
                };
                eventually(&watch, what, || {
                    watch.log().contains("forbidden")
                        || (watch.metric("strata_pruned_objects_total") >= Some(1.0) && renewed())
                });
            }
            let (code, log) = watch.stop();
            assert_eq!(code, 0, "{what}: {log}");
            log
        }
        "strata-drift" => {
            let apply = strata.kube(repo, cluster, &["apply", "--auto-approve"]);
            assert_eq!(apply.code, 0, "{what}: {apply:?}");
            let drift = strata.on(
                repo,
                &["drift", "--kubeconfig", kubeconfig.to_str().unwrap()],
            );
            assert_eq!(drift.code, 1, "{what}: {drift:?}");
            format!("{}{}", drift.stdout, drift.stderr)
        }
        other => panic!("deploy/ binds a role to an unknown account {other}"),
    }
}

/// Removing any one rule of deploy/rbac.yaml makes the command of the
/// account it is bound to fail, and the failure says which permission is
/// missing: least privilege, proven rule by rule. (With every rule, both
/// commands work: the test above.)
#[test]
fn without_any_one_rule_strata_fails_and_names_the_missing_permission() {
    let probe = cluster();
    let objects = deploy_objects(&probe);
    drop(probe);
    let rules = rules(&objects);
    assert!(rules.len() >= 9, "{rules:?}");
    let repo = example();
    for (kind, role, index, rule) in rules {
        let account = bound_to(&objects, &role);
        let cluster = cluster();
        install(&cluster, Some((&role, index, None)));
        let strata = Strata::new();
        let kubeconfig = kubeconfig_of(&cluster, &account);
        let what = format!("{kind} {role} without rule {index} ({rule}), as {account}");
        let text = run_as(&account, &strata, &repo, &cluster, &kubeconfig, &what, None);
        let (user, verb, resource, group, scope) =
            denial(&text).unwrap_or_else(|| panic!("{what}: no denial named in:\n{text}"));
        assert_eq!(
            user,
            format!("system:serviceaccount:{NAMESPACE}:{account}"),
            "{what}"
        );
        assert!(
            listed(&rule, "verbs", &verb)
                && listed(&rule, "resources", &resource)
                && listed(&rule, "apiGroups", &group),
            "{what}: the denial of {verb} {resource} in {group:?} is not the removed rule's:\n{text}"
        );
        assert!(
            text.contains("grant that to strata's identity (see docs/operating.md#rbac)"),
            "{what}:\n{text}"
        );
        if kind == "Role" {
            assert_eq!(scope, format!("namespace {NAMESPACE}"), "{what}");
        }
        let line = text.lines().find(|l| l.contains("forbidden")).unwrap_or("");
        eprintln!("{what}:\n  {line}");
    }
}

/// A token the cluster does not take: strata says the credentials were
/// refused (not that the cluster is unreachable), exits 1, and plans
/// nothing.
#[test]
fn credentials_the_cluster_refuses_are_named_as_such() {
    let cluster = cluster();
    let strata = Strata::new();
    let repo = example();
    let path = kubeconfig_with(&cluster, "wrong", "not-a-token-of-this-cluster");
    let plan = strata.on(&repo, &["plan", "--kubeconfig", path.to_str().unwrap()]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr.contains(
            "refused strata's credentials: Unauthorized\nhint: the token or certificate of this context is wrong or has expired"
        ),
        "{plan:?}"
    );
    assert!(!plan.stderr.contains("not-a-token"), "{plan:?}");
    assert!(!plan.stderr.contains("Status {"), "{plan:?}");
}

/// Each verb of the Lease rule, and of the core-group rules of
/// strata-converge and strata-drift, is needed too: a workload with enough
/// ConfigMaps in one namespace to be listed, and a second commit that
/// prunes one, use every verb; without any one of them strata is refused
/// exactly that verb and says so.
#[test]
fn without_any_one_verb_strata_is_refused_that_verb() {
    let probe = cluster();
    let objects = deploy_objects(&probe);
    drop(probe);
    let cases: Vec<(String, usize, Value)> = rules(&objects)
        .into_iter()
        .filter(|(_, _, _, rule)| {
            rule["apiGroups"] == json!([""]) || rule["apiGroups"] == json!(["coordination.k8s.io"])
        })
        .map(|(_, role, index, rule)| (role, index, rule))
        .collect();
    assert_eq!(cases.len(), 3, "{cases:?}");
    let mut checked = 0;
    for (role, index, rule) in cases {
        let account = bound_to(&objects, &role);
        for verb in rule["verbs"].as_array().unwrap() {
            let verb = verb.as_str().unwrap();
            let repo = example();
            // Enough ConfigMaps in one namespace for strata to list them.
            for i in 0..4 {
                repo.write(
                    &format!("k8s/apps/settings-{i}.yaml"),
                    &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i}\ndata:\n  v: \"{i}\"\n"),
                );
            }
            repo.commit("settings");
            let cluster = cluster();
            install(&cluster, Some((&role, index, Some(verb))));
            let strata = Strata::new();
            let kubeconfig = kubeconfig_of(&cluster, &account);
            let what = format!("{role} rule {index} without {verb}, as {account}");
            let prune = || {
                repo.remove("k8s/apps/settings-3.yaml");
                repo.commit("one setting less");
            };
            let text = run_as(
                &account,
                &strata,
                &repo,
                &cluster,
                &kubeconfig,
                &what,
                Some(&prune),
            );
            let (_, refused, resource, _, _) =
                denial(&text).unwrap_or_else(|| panic!("{what}: no denial named in:\n{text}"));
            assert_eq!(
                refused, verb,
                "{what}: refused {refused} {resource}:\n{text}"
            );
            let line = text.lines().find(|l| l.contains("forbidden")).unwrap_or("");
            eprintln!("{what}:\n  {line}");
            checked += 1;
        }
    }
    assert_eq!(checked, 11);
}
