//! Server-side printing: the `Table` that `kubectl get` asks for, with the
//! real server's columns, printed by the real kubectl 1.37.1.

use serde_json::Value;

mod common;

use common::Cluster;

/// kubectl's table output as cells, cut at the header's column starts
/// (kubectl aligns every cell to its header); the header row first.
fn cells(stdout: &str) -> Vec<Vec<String>> {
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or("");
    let mut starts: Vec<usize> = Vec::new();
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        // A column starts after two spaces (single spaces are inside
        // headers such as CREATED AT).
        if bytes[i] != b' ' && (i == 0 || (i >= 2 && &bytes[i - 2..i] == b"  ")) {
            starts.push(i);
        }
    }
    std::iter::once(header)
        .chain(lines)
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, start)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    line.get((*start).min(line.len())..end)
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

#[track_caller]
fn get(cluster: &Cluster, args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["get"];
    all.extend(args);
    cells(&cluster.ok(&all, None))
}

/// A row with its AGE (or other duration) cell checked and replaced by `*`.
#[track_caller]
fn aged(mut row: Vec<String>, column: usize) -> Vec<String> {
    let age = &row[column];
    assert!(
        age.ends_with('s') && age[..age.len() - 1].parse::<u32>().is_ok(),
        "an age: {row:?}"
    );
    row[column] = "*".to_owned();
    row
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const GADGETS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

const CUSTOM: &str = r"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3, color: red, owner: ana}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1}
";

#[test]
fn kubectl_get_prints_the_real_servers_columns() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "shop"], None);
    let n = ["-n", "shop"];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(n);
        cluster.ok(&all, None);
    };
    run(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    run(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    run(&[
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=x",
    ]);
    run(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    run(&[
        "create",
        "service",
        "nodeport",
        "edge",
        "--tcp=443:8443",
        "--node-port=30443",
    ]);
    run(&["run", "debug", "--image=busybox"]);
    run(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    let deploy = get(&cluster, &["deployments", "-n", "shop"]);
    assert_eq!(
        deploy[0],
        strings(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    );
    assert_eq!(
        aged(deploy[1].clone(), 4),
        strings(&["web", "2/2", "2", "2", "*"])
    );
    let wide = get(&cluster, &["deployments", "-n", "shop", "-o", "wide"]);
    assert_eq!(
        wide[0],
        strings(&[
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ])
    );
    assert_eq!(wide[1][5..], strings(&["nginx", "nginx:1.27", "app=web"]));

    let cm = get(&cluster, &["configmaps", "settings", "-n", "shop"]);
    assert_eq!(cm[0], strings(&["NAME", "DATA", "AGE"]));
    assert_eq!(aged(cm[1].clone(), 2), strings(&["settings", "2", "*"]));
    let secret = get(&cluster, &["secrets", "-n", "shop"]);
    assert_eq!(secret[0], strings(&["NAME", "TYPE", "DATA", "AGE"]));
    assert_eq!(
        aged(secret[1].clone(), 3),
        strings(&["db", "Opaque", "1", "*"])
    );
    let ns = get(&cluster, &["namespace", "shop"]);
    assert_eq!(ns[0], strings(&["NAME", "STATUS", "AGE"]));
    assert_eq!(aged(ns[1].clone(), 2), strings(&["shop", "Active", "*"]));
    let pods = get(&cluster, &["pods", "-n", "shop"]);
    assert_eq!(
        pods[0],
        strings(&["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
    );
    assert_eq!(
        aged(pods[1].clone(), 4),
        strings(&["debug", "0/1", "Pending", "0", "*"])
    );
    let sa = get(&cluster, &["serviceaccounts", "-n", "shop"]);
    assert_eq!(sa[0], strings(&["NAME", "SECRETS", "AGE"]));
    assert_eq!(aged(sa[1].clone(), 2), strings(&["default", "0", "*"]));

    let svc = get(&cluster, &["services", "-n", "shop"]);
    assert_eq!(
        svc[0],
        strings(&[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ])
    );
    let ip = |name: &str| {
        let out = cluster.ok(
            &[
                "get",
                "service",
                name,
                "-n",
                "shop",
                "-o",
                "jsonpath={.spec.clusterIP}",
            ],
            None,
        );
        out.trim().to_owned()
    };
    let edge = svc.iter().find(|r| r[0] == "edge").expect("edge");
    assert_eq!(
        aged(edge.clone(), 5),
        strings(&[
            "edge",
            "NodePort",
            &ip("edge"),
            "<none>",
            "443:30443/TCP",
            "*"
        ])
    );
    let web = svc.iter().find(|r| r[0] == "web").expect("web");
    assert_eq!(
        aged(web.clone(), 5),
        strings(&["web", "ClusterIP", &ip("web"), "<none>", "80/TCP", "*"])
    );

    // Custom resources: the CRD's printer columns, or NAME and AGE.
    cluster.ok(&["apply", "-f", "-"], Some(common::WIDGETS_CRD));
    cluster.ok(&["apply", "-f", "-"], Some(GADGETS));
    cluster.ok(&["apply", "-f", "-"], Some(CUSTOM));
    let crds = get(&cluster, &["crd"]);
    assert_eq!(crds[0], strings(&["NAME", "CREATED AT"]));
    assert_eq!(crds[1][0], "gadgets.example.com");
    assert!(crds[1][1].parse::<jiff::Timestamp>().is_ok(), "{crds:?}");
    let widgets = get(&cluster, &["widgets", "-n", "shop"]);
    assert_eq!(
        widgets[0],
        strings(&["NAME", "SIZE", "COLOR", "PHASE", "AGE"])
    );
    assert_eq!(
        aged(widgets[1].clone(), 4),
        strings(&["w1", "3", "red", "", "*"])
    );
    let wide = get(&cluster, &["widgets", "-n", "shop", "-o", "wide"]);
    assert_eq!(wide[0][5], "OWNER");
    assert_eq!(wide[1][5], "ana");
    let gadgets = get(&cluster, &["gadgets"]);
    assert_eq!(gadgets[0], strings(&["NAME", "AGE"]));
    assert_eq!(aged(gadgets[1].clone(), 1), strings(&["g1", "*"]));

    // Not found is still the Status error.
    let run = cluster.kubectl(&["get", "configmap", "nope", "-n", "shop"], None);
    assert!(
        run.stderr
            .contains("Error from server (NotFound): configmaps \"nope\" not found"),
        "{run:?}"
    );
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn json(http: &common::Http) -> Value {
    serde_json::from_slice(&http.body).expect("JSON")
}

#[test]
fn table_pages_keep_continue_and_carry_the_object_asked_for() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "many"], None);
    for i in 0..5 {
        cluster.ok(
            &[
                "create",
                "configmap",
                &format!("cm-{i}"),
                "-n",
                "many",
                "--from-literal=k=v",
            ],
            None,
        );
    }
    // kubectl follows the Table's continue token through every page.
    let paged = get(&cluster, &["configmaps", "-n", "many", "--chunk-size=2"]);
    let names: Vec<&str> = paged[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);

    let path = "/api/v1/namespaces/many/configmaps?limit=2";
    let first = cluster.http("GET", path, TABLE, None);
    assert_eq!(first.content_type, "application/json");
    let table = json(&first);
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(2));
    assert!(table["metadata"]["resourceVersion"].is_string(), "{table}");
    assert_eq!(table["metadata"]["remainingItemCount"], 3);
    let token = table["metadata"]["continue"]
        .as_str()
        .expect("a continue token");
    let row = &table["rows"][0];
    assert_eq!(row["cells"][0], "cm-0");
    assert_eq!(row["cells"][1], 1);
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(row["object"]["metadata"]["name"], "cm-0");
    let next = json(&cluster.http("GET", &format!("{path}&continue={token}"), TABLE, None));
    assert_eq!(next["rows"][0]["cells"][0], "cm-2");

    let whole = json(&cluster.http("GET", &format!("{path}&includeObject=Object"), TABLE, None));
    let object = &whole["rows"][0]["object"];
    assert_eq!(
        (object["kind"].as_str(), object["data"]["k"].as_str()),
        (Some("ConfigMap"), Some("v"))
    );
    let none = json(&cluster.http("GET", &format!("{path}&includeObject=None"), TABLE, None));
    assert!(none["rows"][0]["object"].is_null(), "{none}");
    // Columns as the real server defines them.
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    assert_eq!(table["columnDefinitions"][0]["format"], "name");
    // Plain JSON is still the list.
    let plain = json(&cluster.http("GET", path, "application/json", None));
    assert_eq!(plain["kind"], "ConfigMapList");
}

#[test]
fn kubectl_get_watch_prints_events_in_the_same_columns() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let cluster = Cluster::start();
    cluster.ok(
        &["create", "configmap", "first", "--from-literal=a=1"],
        None,
    );
    // The watch's own timeout ends kubectl, and the reading, if no line comes.
    let mut child = Command::new(common::kubectl_binary())
        .args(["get", "configmaps", "--watch", "--request-timeout=60s"])
        .env_clear()
        .env("HOME", cluster.home.path())
        .env("KUBECONFIG", cluster.home.path().join("kubeconfig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl runs");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || -> Vec<String> {
        let line = lines.next().expect("a line").expect("text");
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(next(), strings(&["NAME", "DATA", "AGE"]));
    assert_eq!(aged(next(), 2), strings(&["first", "1", "*"]));
    // An event: a one-row Table in the same columns, no second header.
    cluster.ok(
        &[
            "create",
            "configmap",
            "second",
            "--from-literal=a=1",
            "--from-literal=b=2",
        ],
        None,
    );
    assert_eq!(aged(next(), 2), strings(&["second", "2", "*"]));
    child.kill().expect("kill kubectl");
    child.wait().expect("kubectl ends");
}
