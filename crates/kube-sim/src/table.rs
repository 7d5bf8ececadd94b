//! Server-side printing: the `meta.k8s.io` `Table` that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`).
//!
//! Columns are those of the real server's printers
//! (kubernetes/pkg/printers/internalversion/printers.go) for Deployment,
//! ReplicaSet, Pod, Service, ConfigMap, Secret, Namespace and
//! ServiceAccount; NAME and CREATED AT for CRDs (their default table
//! convertor); a custom resource's `additionalPrinterColumns` (simple
//! JSONPaths: `.a.b`, `.a[0].b`), or NAME and AGE without them; NAME and
//! AGE for every other kind. Rows carry the object as
//! `PartialObjectMetadata` (`includeObject=Metadata`, the default), whole
//! (`Object`) or not at all (`None`). A list's `metadata` (resourceVersion,
//! continue, remainingItemCount) is the Table's.

use serde_json::{Value, json};

use crate::kinds::ResourceKind;
use crate::store::{Key, State};

/// A column: name, type, format, priority (0 shows always, 1 with
/// `-o wide`) and description.
#[derive(Clone)]
struct Column {
    name: String,
    kind: String,
    format: String,
    priority: i64,
    description: String,
}

fn column(name: &str, kind: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.to_owned(),
        kind: kind.to_owned(),
        format: String::new(),
        priority,
        description: description.to_owned(),
    }
}

fn name_column() -> Column {
    Column {
        format: "name".to_owned(),
        ..column(
            "Name",
            "string",
            0,
            "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        )
    }
}

fn age_column() -> Column {
    column(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    )
}

/// How a row's cells are made.
enum Printer {
    /// The kind whose printer makes the cells (NAME and AGE for others).
    Builtin(String),
    /// A custom resource's columns and their JSONPaths, after Name.
    Custom(Vec<String>),
}

/// Makes the Tables of one resource: its columns, and how to fill them.
pub struct Tabler {
    columns: Vec<Column>,
    printer: Printer,
    api_version: String,
    kind: String,
    /// `v1` or `v1beta1` of `meta.k8s.io`.
    version: String,
    /// `includeObject`: `Metadata` (the default), `Object` or `None`.
    include: String,
}

impl Tabler {
    /// For a served resource, by its group, version and plural.
    pub fn new(
        state: &State,
        group: &str,
        version: &str,
        plural: &str,
        table_version: &str,
        include: &str,
    ) -> Option<Tabler> {
        let resource = state.kind(group, version, plural)?;
        Some(Tabler::of_kind(state, resource, table_version, include))
    }

    fn of_kind(
        state: &State,
        resource: &ResourceKind,
        table_version: &str,
        include: &str,
    ) -> Tabler {
        let (columns, printer) = columns(state, resource);
        Tabler {
            columns,
            printer,
            api_version: resource.api_version(),
            kind: resource.kind.clone(),
            version: table_version.to_owned(),
            include: include.to_owned(),
        }
    }

    fn row(&self, item: &Value, now: jiff::Timestamp) -> Value {
        let mut cells = vec![item["metadata"]["name"].clone()];
        match &self.printer {
            Printer::Builtin(kind) => cells.extend(builtin_cells(kind, item, now)),
            Printer::Custom(paths) => {
                for (path, c) in paths.iter().zip(&self.columns[1..]) {
                    cells.push(custom_cell(&c.kind, path_value(item, path), now));
                }
            }
        }
        let object = match self.include.as_str() {
            "None" => Value::Null,
            "Object" => {
                let mut whole = item.clone();
                whole["apiVersion"] = json!(self.api_version);
                whole["kind"] = json!(self.kind);
                whole
            }
            _ => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{}", self.version),
                "metadata": item["metadata"],
            }),
        };
        json!({"cells": cells, "object": object})
    }

    /// The Table of items, with this `metadata`.
    pub fn table(&self, items: &[Value], metadata: Value) -> Value {
        let now = jiff::Timestamp::now();
        let definitions: Vec<Value> = self
            .columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect();
        let rows: Vec<Value> = items.iter().map(|item| self.row(item, now)).collect();
        json!({
            "kind": "Table",
            "apiVersion": format!("meta.k8s.io/{}", self.version),
            "metadata": metadata,
            "columnDefinitions": definitions,
            "rows": rows,
        })
    }

    /// The Table of one object (a watch event's), as the real server
    /// sends it: the object's resourceVersion as the Table's.
    pub fn one(&self, object: &Value) -> Value {
        let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
        self.table(std::slice::from_ref(object), metadata)
    }
}

/// The Table of a GET's JSON answer (an object or a list), or `None` when
/// it is neither (a `Status`, a kind this server does not serve).
pub fn of(state: &State, value: &Value, version: &str, include: &str) -> Option<Value> {
    let api_version = value["apiVersion"].as_str()?;
    let kind = value["kind"].as_str()?;
    let list = value["items"].is_array();
    if !list && (!value["metadata"].is_object() || kind == "Status") {
        return None;
    }
    let item_kind = if list {
        kind.strip_suffix("List")?
    } else {
        kind
    };
    let resource = state
        .kinds
        .iter()
        .find(|k| k.api_version() == api_version && k.kind == item_kind)?;
    let tabler = Tabler::of_kind(state, resource, version, include);
    Some(match value["items"].as_array() {
        Some(items) => tabler.table(items, value["metadata"].clone()),
        None => tabler.one(value),
    })
}

fn columns(state: &State, resource: &ResourceKind) -> (Vec<Column>, Printer) {
    let mut columns = vec![name_column()];
    if resource.custom {
        let crd = state.get(&Key {
            group: "apiextensions.k8s.io".to_owned(),
            plural: "customresourcedefinitions".to_owned(),
            namespace: String::new(),
            name: format!("{}.{}", resource.plural, resource.group),
        });
        let specified = crd
            .and_then(|crd| crd["spec"]["versions"].as_array())
            .and_then(|versions| versions.iter().find(|v| v["name"] == resource.version))
            .and_then(|v| v["additionalPrinterColumns"].as_array())
            .filter(|c| !c.is_empty());
        let mut paths = Vec::new();
        match specified {
            Some(specified) => {
                for c in specified {
                    let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
                    columns.push(Column {
                        name: text("name"),
                        kind: text("type"),
                        format: text("format"),
                        priority: c["priority"].as_i64().unwrap_or(0),
                        description: text("description"),
                    });
                    paths.push(text("jsonPath"));
                }
            }
            // The default the apiextensions server gives a CRD without any.
            None => {
                columns.push(Column {
                    kind: "date".to_owned(),
                    ..age_column()
                });
                paths.push(".metadata.creationTimestamp".to_owned());
            }
        }
        return (columns, Printer::Custom(paths));
    }
    let kind = resource.kind.as_str();
    let extra: Vec<Column> = match kind {
        "Deployment" => [
            vec![
                column("Ready", "string", 0, "Number of the pod with ready state"),
                column(
                    "Up-to-date",
                    "string",
                    0,
                    "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
                ),
                column(
                    "Available",
                    "string",
                    0,
                    "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_column(),
            ],
            template_columns(
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
            ),
        ]
        .concat(),
        "ReplicaSet" => [
            vec![
                column("Desired", "integer", 0, "Number of desired pods."),
                column(
                    "Current",
                    "integer",
                    0,
                    "Replicas is the most recently observed number of non-terminating pods.",
                ),
                column(
                    "Ready",
                    "integer",
                    0,
                    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
                ),
                age_column(),
            ],
            template_columns(
                "Selector is a label query over pods that should match the replica count.",
            ),
        ]
        .concat(),
        "Pod" => vec![
            column(
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            column(
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            column(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_column(),
            column(
                "IP",
                "string",
                1,
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            column(
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            column(
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
            ),
            column(
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        "Service" => vec![
            column(
                "Type",
                "string",
                0,
                "type determines how the Service is exposed.",
            ),
            column(
                "Cluster-IP",
                "string",
                0,
                "clusterIP is the IP address of the service.",
            ),
            column(
                "External-IP",
                "string",
                0,
                "List of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            column(
                "Port(s)",
                "string",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age_column(),
            column(
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        "ConfigMap" => vec![
            column(
                "Data",
                "integer",
                0,
                "Data contains the configuration data.",
            ),
            age_column(),
        ],
        "Secret" => vec![
            column(
                "Type",
                "string",
                0,
                "Used to facilitate programmatic handling of secret data.",
            ),
            column("Data", "string", 0, "Data contains the secret data."),
            age_column(),
        ],
        "Namespace" => vec![
            column("Status", "string", 0, "The status of the namespace"),
            age_column(),
        ],
        "ServiceAccount" => vec![
            column(
                "Secrets",
                "string",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            age_column(),
        ],
        // The apiextensions server's default table convertor.
        "CustomResourceDefinition" => vec![Column {
            format: "date-time".to_owned(),
            ..column(
                "Created At",
                "date",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            )
        }],
        _ => vec![age_column()],
    };
    columns.extend(extra);
    (columns, Printer::Builtin(kind.to_owned()))
}

/// The wide columns of workloads: their pod template and selector.
fn template_columns(selector: &str) -> Vec<Column> {
    vec![
        column(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        column(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        column("Selector", "string", 1, selector),
    ]
}

fn template_cells(spec: &Value) -> [Value; 3] {
    let containers = &spec["template"]["spec"]["containers"];
    [
        json!(joined(containers, "name")),
        json!(joined(containers, "image")),
        json!(selector(&spec["selector"])),
    ]
}

fn count(v: &Value) -> i64 {
    v.as_object().map_or(0, |m| m.len() as i64) + v.as_array().map_or(0, |a| a.len() as i64)
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

fn joined(items: &Value, field: &str) -> String {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| text(&c[field]))
        .collect::<Vec<_>>()
        .join(",")
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`.
fn selector(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let values: Vec<String> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let key = text(&e["key"]);
        parts.push(match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key,
            _ => format!("!{key}"),
        });
    }
    or_none(parts.join(","))
}

fn age(item: &Value, now: jiff::Timestamp) -> String {
    item["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or_else(|| "<unknown>".to_owned(), |at| human_duration(now, at))
}

fn builtin_cells(kind: &str, item: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (spec, status) = (&item["spec"], &item["status"]);
    match kind {
        "Deployment" => vec![
            json!(format!(
                "{}/{}",
                int(&status["readyReplicas"]),
                int(&spec["replicas"])
            )),
            json!(int(&status["updatedReplicas"])),
            json!(int(&status["availableReplicas"])),
            json!(age(item, now)),
        ]
        .into_iter()
        .chain(template_cells(spec))
        .collect(),
        "ReplicaSet" => vec![
            json!(int(&spec["replicas"])),
            json!(int(&status["replicas"])),
            json!(int(&status["readyReplicas"])),
            json!(age(item, now)),
        ]
        .into_iter()
        .chain(template_cells(spec))
        .collect(),
        "Pod" => pod_cells(item, now),
        "Service" => {
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    match int(&p["nodePort"]) {
                        0 => format!("{}/{protocol}", int(&p["port"])),
                        node => format!("{}:{node}/{protocol}", int(&p["port"])),
                    }
                })
                .collect();
            let kind = spec["type"].as_str().unwrap_or("ClusterIP");
            let external: Vec<String> = spec["externalIPs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let external = match kind {
                "ExternalName" => text(&spec["externalName"]),
                "LoadBalancer" => {
                    let mut ips: Vec<String> = status["loadBalancer"]["ingress"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| {
                            i["ip"]
                                .as_str()
                                .or(i["hostname"].as_str())
                                .unwrap_or("")
                                .to_owned()
                        })
                        .collect();
                    ips.extend(external);
                    if ips.is_empty() {
                        "<pending>".to_owned()
                    } else {
                        ips.join(",")
                    }
                }
                _ => or_none(external.join(",")),
            };
            let selector: Vec<String> = spec["selector"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            vec![
                json!(kind),
                json!(or_none(text(&spec["clusterIP"]))),
                json!(external),
                json!(or_none(ports.join(","))),
                json!(age(item, now)),
                json!(or_none(selector.join(","))),
            ]
        }
        "ConfigMap" => vec![
            json!(count(&item["data"]) + count(&item["binaryData"])),
            json!(age(item, now)),
        ],
        "Secret" => vec![
            json!(text(&item["type"])),
            json!(count(&item["data"])),
            json!(age(item, now)),
        ],
        "Namespace" => vec![json!(text(&status["phase"])), json!(age(item, now))],
        "ServiceAccount" => vec![json!(count(&item["secrets"])), json!(age(item, now))],
        "CustomResourceDefinition" => vec![item["metadata"]["creationTimestamp"].clone()],
        _ => vec![json!(age(item, now))],
    }
}

/// printPod, for the status kube-sim's pods have (none until something
/// writes one): a pod without a phase is shown `Pending`, as the real
/// server's pod would be.
fn pod_cells(item: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let (spec, status) = (&item["spec"], &item["status"]);
    let statuses = status["containerStatuses"].as_array();
    let total = spec["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .map(|c| int(&c["restartCount"]))
        .sum();
    let mut reason = status["reason"]
        .as_str()
        .or(status["phase"].as_str())
        .unwrap_or("Pending")
        .to_owned();
    for c in statuses.into_iter().flatten() {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_owned();
        } else if let Some(r) = state["terminated"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_owned();
        }
    }
    if item["metadata"]["deletionTimestamp"].is_string() {
        reason = "Terminating".to_owned();
    }
    let gates = spec["readinessGates"].as_array().map_or(0, Vec::len);
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(item, now)),
        json!(or_none(text(&status["podIP"]))),
        json!(or_none(text(&spec["nodeName"]))),
        json!(or_none(text(&status["nominatedNodeName"]))),
        json!(if gates == 0 {
            "<none>".to_owned()
        } else {
            format!("0/{gates}")
        }),
    ]
}

/// A simple JSONPath (`.spec.size`, `.status.conditions[0].type`); `None`
/// where it finds nothing or is not simple.
fn path_value<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut at = item;
    for segment in path.strip_prefix('.')?.split('.') {
        let (name, mut rest) = segment
            .split_once('[')
            .map_or((segment, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            at = at.as_object()?.get(name)?;
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            at = at.as_array()?.get(index.parse::<usize>().ok()?)?;
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    (!at.is_null()).then_some(at)
}

/// apiextensions' `cellForJSONValue`: a cell of a column's type, or null.
fn custom_cell(kind: &str, value: Option<&Value>, now: jiff::Timestamp) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    match (kind, value) {
        ("integer", v) if v.is_number() => {
            json!(
                v.as_i64()
                    .unwrap_or_else(|| v.as_f64().unwrap_or(0.0) as i64)
            )
        }
        ("number", v) if v.is_number() => json!(v.as_f64()),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(at) => json!(human_duration(now, at)),
            Err(_) => json!("<invalid>"),
        },
        // A string column prints any value, as the JSONPath printer does.
        ("string", Value::String(s)) => json!(s),
        ("string", v @ (Value::Number(_) | Value::Bool(_))) => json!(v.to_string()),
        ("string", v) => json!(serde_json::to_string(v).unwrap_or_default()),
        _ => Value::Null,
    }
}

/// apimachinery's `duration.HumanDuration` of the time since `at`.
pub fn human_duration(now: jiff::Timestamp, at: jiff::Timestamp) -> String {
    let seconds = now.as_second() - at.as_second();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let now: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        let ago = |s: i64| {
            human_duration(
                now,
                jiff::Timestamp::from_second(now.as_second() - s).unwrap(),
            )
        };
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(119), "119s");
        assert_eq!(ago(150), "2m30s");
        assert_eq!(ago(600), "10m");
        assert_eq!(ago(3 * 3600 + 120), "3h2m");
        assert_eq!(ago(30 * 3600), "30h");
        assert_eq!(ago(3 * 86400 + 3600), "3d1h");
        assert_eq!(ago(40 * 86400), "40d");
        assert_eq!(ago(800 * 86400), "2y70d");
        assert_eq!(ago(-5), "<invalid>");
    }

    #[test]
    fn simple_json_paths_find_values() {
        let item = json!({"spec": {"size": 3, "list": [{"a": "x"}]}, "status": {}});
        assert_eq!(path_value(&item, ".spec.size"), Some(&json!(3)));
        assert_eq!(path_value(&item, ".spec.list[0].a"), Some(&json!("x")));
        assert_eq!(path_value(&item, ".status.phase"), None);
        assert_eq!(path_value(&item, "spec"), None);
        let now = jiff::Timestamp::now();
        assert_eq!(custom_cell("integer", Some(&json!(3)), now), json!(3));
        assert_eq!(custom_cell("string", Some(&json!(3)), now), json!("3"));
        assert_eq!(custom_cell("integer", Some(&json!("x")), now), Value::Null);
        assert_eq!(
            selector(
                &json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "In", "values": ["a", "b"]}]})
            ),
            "app=web,t in (a,b)"
        );
    }
}
