//! Paged lists as the real kubectl 1.37.1 reads them (`limit=500` and
//! `continue`), and the real server's answers to a stale or broken token.

use std::time::Duration;

use serde_json::Value;

mod common;

use common::Cluster;
use kube_sim::Options;

const COUNT: usize = 620;

fn config_maps(namespace: &str) -> String {
    (0..COUNT)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:04}, namespace: {namespace}, labels: {{parity: p{}}}}}\ndata: {{i: \"{i}\"}}\n---\n",
                i % 2
            )
        })
        .collect()
}

fn raw(cluster: &Cluster, path: &str) -> Value {
    serde_json::from_str(&cluster.ok(&["get", "--raw", path], None)).expect("JSON")
}

#[test]
fn kubectl_get_pages_past_500_and_ends() {
    let cluster = Cluster::with(Options {
        history: 100,
        ..Options::default()
    });
    let objects = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: many}}\n---\n{}",
        config_maps("many")
    );
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&objects));
    // kubectl pages with limit=500; a paging that never ends is cut off.
    let run = cluster.kubectl_within(
        Some(Duration::from_secs(60)),
        &["get", "cm", "-n", "many", "-o", "name"],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let names: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(names.len(), COUNT, "{}", &run.stdout[..200]);
    assert_eq!(names[0], "configmap/cm-0000");
    assert_eq!(names[COUNT - 1], format!("configmap/cm-{:04}", COUNT - 1));
    let table = cluster.kubectl_within(
        Some(Duration::from_secs(60)),
        &["get", "cm", "-n", "many", "--chunk-size=7"],
        None,
    );
    assert_eq!(table.stdout.lines().count(), COUNT + 1, "{table:?}");

    // The pages as the server gives them.
    let first = raw(&cluster, "/api/v1/namespaces/many/configmaps?limit=500");
    assert_eq!(first["items"].as_array().unwrap().len(), 500);
    assert_eq!(first["metadata"]["remainingItemCount"], COUNT - 500);
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    let rv = first["metadata"]["resourceVersion"].clone();
    let second = raw(
        &cluster,
        &format!("/api/v1/namespaces/many/configmaps?limit=500&continue={token}"),
    );
    assert_eq!(second["items"].as_array().unwrap().len(), COUNT - 500);
    assert_eq!(second["items"][0]["metadata"]["name"], "cm-0500");
    assert!(
        second["metadata"].get("continue").is_none(),
        "{}",
        second["metadata"]
    );
    assert!(second["metadata"].get("remainingItemCount").is_none());
    assert_eq!(second["metadata"]["resourceVersion"], rv);
    // With a selector there is no count of what remains.
    let selected = raw(
        &cluster,
        "/api/v1/namespaces/many/configmaps?limit=100&labelSelector=parity%3Dp1",
    );
    assert_eq!(selected["items"].as_array().unwrap().len(), 100);
    assert!(selected["metadata"].get("remainingItemCount").is_none());
    assert!(selected["metadata"]["continue"].is_string());

    // More changes than the history keeps: the token's snapshot is gone.
    cluster.ok(&["label", "cm", "--all", "-n", "many", "changed=yes"], None);
    let run = cluster.kubectl(
        &[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/many/configmaps?limit=500&continue={token}"),
        ],
        None,
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "Error from server (Expired): The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results."
        ),
        "{run:?}"
    );
    let broken = cluster.kubectl(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/many/configmaps?limit=5&continue=bm90LWEtdG9rZW4",
        ],
        None,
    );
    assert!(
        broken.stderr.contains(
            "Error from server (BadRequest): invalid continue token: continue key is not valid"
        ),
        "{broken:?}"
    );
}
