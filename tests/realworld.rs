//! A corpus of real-world manifest trees (tests/fixtures/real-world/, one
//! directory a source, with its license; see its README): each converges
//! into kube-sim as one workload, a second plan has nothing to do, and the
//! real kubectl, asked for `kubectl diff --server-side` of the same tree
//! under another field manager, agrees.

use std::path::{Path, PathBuf};

use crate::support::{Cluster, Repo, Strata, copy_dir};

/// One tree of the corpus, converged as one workload.
struct Tree {
    /// The workload's path under tests/fixtures/real-world/; its first
    /// component, the source's directory, is copied into the repository.
    path: &'static str,
    /// The workload's default namespace, for objects without one.
    namespace: &'static str,
    /// Objects the tree renders to.
    objects: u64,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-world")
}

/// Converges `tree`, plans again, and has the real kubectl judge; the
/// cluster, for checks of the tree's own.
fn converges(tree: Tree) -> Cluster {
    let cluster = Cluster::start();
    let strata = Strata::new();
    let repo = Repo::new();
    let source = tree.path.split('/').next().expect("a source directory");
    copy_dir(&corpus().join(source), &repo.path().join(source));
    repo.write(
        "strata.hcl",
        &format!(
            "workload \"corpus\" {{\n  path      = \"{}\"\n  namespace = \"{}\"\n  timeout   = \"60s\"\n}}\n",
            tree.path, tree.namespace
        ),
    );
    repo.commit(tree.path);

    let apply = strata.kube(&repo, &cluster, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");

    let plan = strata.kube(&repo, &cluster, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let report = plan.json();
    let workload = &report["workloads"][0];
    assert_eq!(workload["status"], "in_sync", "{report:#}");
    assert_eq!(workload["changes"], serde_json::json!([]), "{report:#}");
    assert_eq!(workload["unchanged"], tree.objects, "{report:#}");

    let dir = repo.path().join(tree.path);
    let kustomization = dir.join("kustomization.yaml").exists();
    let dir = dir.to_str().expect("utf-8 path");
    let mut diff = vec![
        "diff",
        "--server-side",
        "--field-manager",
        "judge",
        "-n",
        tree.namespace,
    ];
    if kustomization {
        diff.extend(["-k", dir]);
    } else {
        diff.extend(["-R", "-f", dir]);
    }
    let judge = cluster.kubectl(&diff);
    assert_eq!(judge.code, 0, "kubectl {diff:?}: {judge:?}");
    cluster
}

/// kustomize's examples/helloWorld: `commonLabels` over a Deployment, a
/// Service and a ConfigMap.
#[test]
fn kustomize_hello_world() {
    converges(Tree {
        path: "kustomize/helloWorld",
        namespace: "default",
        objects: 3,
    });
}

/// kustomize's examples/ldap, the staging overlay: a base, a patch,
/// `namePrefix`, and ConfigMap generators from a file and an env file
/// (hashed names the Deployment refers to).
#[test]
fn kustomize_ldap_staging_overlay() {
    converges(Tree {
        path: "kustomize/ldap/overlays/staging",
        namespace: "default",
        objects: 4,
    });
}

/// kustomize's examples/multibases: three overlays of one base Pod, each
/// with its own `namePrefix`, and one more over all of them.
#[test]
fn kustomize_multibases() {
    converges(Tree {
        path: "kustomize/multibases",
        namespace: "default",
        objects: 3,
    });
}

/// kustomize's examples/wordpress: two bases, a strategic merge patch
/// adding an init container, `namePrefix` and `vars` resolved into it.
#[test]
fn kustomize_wordpress() {
    converges(Tree {
        path: "kustomize/wordpress",
        namespace: "default",
        objects: 5,
    });
}

/// metrics-server's manifests/overlays/release-ha-1.21+: a base, nested
/// components (a PodDisruptionBudget moved to policy/v1 by a JSON patch,
/// an image override), RBAC with an aggregated ClusterRole, and the
/// metrics.k8s.io APIService, served once its Deployment is available.
#[test]
fn metrics_server_release_ha_overlay() {
    let cluster = converges(Tree {
        path: "metrics-server/manifests/overlays/release-ha-1.21+",
        namespace: "kube-system",
        objects: 10,
    });
    let served = cluster.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1"]);
    assert_eq!(served.code, 0, "{served:?}");
}

/// prometheus-operator's example/: the Prometheus CRD (over 800 KB, past
/// the 256 KiB a client-side apply's annotation can hold) and the
/// ServiceMonitor CRD, the operator's RBAC and Deployment, and custom
/// resources of both kinds in the same workload.
#[test]
fn prometheus_operator_crds_operator_and_custom_resources() {
    converges(Tree {
        path: "prometheus-operator/example",
        namespace: "default",
        objects: 12,
    });
}

/// kubectl's own testdata/: a CRD and a cluster-scoped custom resource,
/// a typed `ConfigMapList`, a `List`, multi-document files, a DaemonSet,
/// a ReplicaSet, ReplicationControllers and a Job.
#[test]
fn kubectl_testdata() {
    converges(Tree {
        path: "kubectl/testdata",
        namespace: "default",
        objects: 13,
    });
}

/// kubernetes/examples web/guestbook-go: ReplicationControllers and
/// Services, one file each.
#[test]
fn examples_guestbook_go() {
    converges(Tree {
        path: "examples/web/guestbook-go",
        namespace: "default",
        objects: 6,
    });
}

/// kubernetes/examples web/guestbook/all-in-one: the guestbook in one
/// multi-document file.
#[test]
fn examples_guestbook_all_in_one() {
    converges(Tree {
        path: "examples/web/guestbook/all-in-one",
        namespace: "default",
        objects: 6,
    });
}

/// kubernetes/examples databases/cassandra: a headless Service, a
/// StatefulSet with volume claim templates and its StorageClass.
#[test]
fn examples_cassandra() {
    converges(Tree {
        path: "examples/databases/cassandra",
        namespace: "default",
        objects: 3,
    });
}
