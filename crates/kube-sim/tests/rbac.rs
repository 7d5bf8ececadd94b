//! `kube-sim serve --authorization rbac` as the real kubectl 1.37.1 meets
//! it: the kubeconfig's token is the cluster admin, ServiceAccount tokens
//! come from `kubectl create token`, RBAC decides (bootstrap and aggregated
//! ClusterRoles included), denials are the real server's 403, `auth can-i`
//! and `--as` work.

mod common;

use common::Cluster;
use kube_sim::Options;

fn rbac() -> Cluster {
    // kubectl sends no bearer token over plain HTTP.
    Cluster::with(Options {
        rbac: true,
        tls: true,
        ..Options::default()
    })
}

#[test]
fn service_account_tokens_are_authorized_by_rbac() {
    let cluster = rbac();
    cluster.ok(&["create", "namespace", "f"], None);
    cluster.ok(&["create", "serviceaccount", "bot", "-n", "f"], None);
    let token = cluster.ok(&["create", "token", "bot", "-n", "f"], None);
    let token = format!("--token={}", token.trim());
    let as_bot = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(&token);
        cluster.kubectl(&all, None)
    };

    let whoami = as_bot(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(whoami.stdout, "system:serviceaccount:f:bot", "{whoami:?}");
    let denied = as_bot(&["create", "configmap", "c", "-n", "f", "--from-literal=a=1"]);
    assert_ne!(denied.code, 0);
    assert!(
        denied.stderr.contains(
            "configmaps is forbidden: User \"system:serviceaccount:f:bot\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"f\""
        ),
        "{denied:?}"
    );
    let can = as_bot(&["auth", "can-i", "create", "configmaps", "-n", "f"]);
    assert_eq!((can.code, can.stdout.trim()), (1, "no"), "{can:?}");

    // The bootstrap ClusterRole edit (which aggregates view) in f only.
    cluster.ok(
        &[
            "create",
            "rolebinding",
            "bot-edit",
            "-n",
            "f",
            "--clusterrole=edit",
            "--serviceaccount=f:bot",
        ],
        None,
    );
    let can = as_bot(&["auth", "can-i", "create", "configmaps", "-n", "f"]);
    assert_eq!((can.code, can.stdout.trim()), (0, "yes"), "{can:?}");
    assert_eq!(
        as_bot(&["create", "configmap", "c", "-n", "f", "--from-literal=a=1"]).code,
        0
    );
    assert_eq!(
        as_bot(&["get", "jobs.batch", "-n", "f"]).code,
        0,
        "view is in edit"
    );
    let other = as_bot(&["get", "configmaps", "-n", "default"]);
    assert!(
        other.stderr.contains(
            "configmaps is forbidden: User \"system:serviceaccount:f:bot\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
        ),
        "{other:?}"
    );
    let roles = as_bot(&[
        "create",
        "role",
        "r",
        "-n",
        "f",
        "--verb=get",
        "--resource=pods",
    ]);
    assert!(
        roles.stderr.contains("cannot create resource \"roles\" in API group \"rbac.authorization.k8s.io\" in the namespace \"f\""),
        "{roles:?}"
    );
    let nodes = as_bot(&["get", "nodes"]);
    assert!(
        nodes
            .stderr
            .contains("cannot list resource \"nodes\" in API group \"\" at the cluster scope"),
        "{nodes:?}"
    );
    let list = as_bot(&["auth", "can-i", "--list", "-n", "f"]);
    assert!(list.stdout.contains("configmaps"), "{list:?}");
    // Others may not act as someone else.
    let impersonate = as_bot(&["get", "pods", "-n", "f", "--as=jane"]);
    assert!(
        impersonate.stderr.contains(
            "users \"jane\" is forbidden: User \"system:serviceaccount:f:bot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        ),
        "{impersonate:?}"
    );
    // A token nobody issued.
    let wrong = cluster.kubectl(&["get", "ns", "--token=nobody"], None);
    assert!(wrong.stderr.contains("Unauthorized"), "{wrong:?}");
}

#[test]
fn apply_that_creates_needs_create_and_aggregated_roles_follow_their_labels() {
    let cluster = rbac();
    let setup = r#"
apiVersion: v1
kind: Namespace
metadata: {name: f}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: patch-only, namespace: f}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jane-patch, namespace: f}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: patch-only}
subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: jane-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}]
"#;
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(setup));
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: f}\ndata: {a: \"1\"}\n";
    let run = cluster.kubectl(
        &["apply", "--server-side", "--as=jane", "-f", "-"],
        Some(cm),
    );
    assert!(
        run.stderr.contains(
            "configmaps \"c\" is forbidden: User \"jane\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"f\""
        ),
        "{run:?}"
    );
    // Once it exists, patching it is enough.
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(cm));
    let changed = cm.replace("a: \"1\"", "a: \"2\"");
    cluster.ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--as=jane",
            "-f",
            "-",
        ],
        Some(&changed),
    );

    // A ClusterRole labelled to aggregate into view extends it at once.
    let jane_lists_leases = || {
        cluster.kubectl(
            &[
                "auth",
                "can-i",
                "list",
                "leases.coordination.k8s.io",
                "--as=jane",
                "-A",
            ],
            None,
        )
    };
    let leases = jane_lists_leases();
    assert_eq!(leases.stdout.trim(), "no", "{leases:?}");
    let extension = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: leases-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, list, watch]}
"#;
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(extension));
    let leases = jane_lists_leases();
    assert_eq!(leases.stdout.trim(), "yes", "{leases:?}");

    // The bootstrap roles and bindings are there; a user may not
    // impersonate unless allowed.
    let roles = cluster.ok(
        &[
            "get",
            "clusterroles",
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(roles.lines().count(), 4, "{roles}");
    cluster.ok(&["get", "clusterrolebinding", "cluster-admin"], None);
    // The admin may act as anyone, in any group.
    cluster.ok(
        &["get", "nodes", "--as=jane", "--as-group=system:masters"],
        None,
    );
}
