//! Protobuf response bodies, the inverse of [`crate::protobuf`]'s decoder:
//! an object's JSON form, written field by field with the same table
//! (`fixtures/protobuf-fields.json`), wrapped in a `runtime.Unknown` after
//! the `k8s\0` magic, as apimachinery's protobuf serializer writes it:
//! `typeMeta` (apiVersion, kind), `raw` (the message), and empty
//! `contentEncoding` and `contentType`.
//!
//! The encoder is strict: a JSON field the table does not know, or a value
//! of the wrong shape, is an error rather than a field silently dropped, so
//! that a caller can answer JSON instead. `apiVersion` and `kind` are the
//! exception: typed objects carry them only in the envelope.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use base64::Engine as _;
use prost::Message as _;
use serde_json::{Map, Value};

use crate::protobuf::{Field, MAGIC, table};

/// Fields by JSON name, per type: `(tag, field)`.
type ByName = HashMap<&'static str, HashMap<&'static str, (u32, &'static Field)>>;

fn by_name() -> &'static ByName {
    static BY_NAME: OnceLock<ByName> = OnceLock::new();
    BY_NAME.get_or_init(|| {
        table()
            .iter()
            .map(|(type_name, fields)| {
                let names = fields
                    .iter()
                    .map(|(tag, field)| (field.0.as_str(), (*tag, field)))
                    .collect();
                (type_name.as_str(), names)
            })
            .collect()
    })
}

/// Whether a schema type has a protobuf form at all.
pub fn has_message(type_name: &str) -> bool {
    table().contains_key(type_name)
}

/// The full body: magic, then the `runtime.Unknown` holding the object of
/// schema type `type_name`.
///
/// # Errors
/// A field or a value the type's protobuf form cannot hold.
pub fn encode(
    object: &Value,
    api_version: &str,
    kind: &str,
    type_name: &str,
) -> Result<Vec<u8>, String> {
    Ok(envelope(api_version, kind, message(object, type_name)?))
}

/// Magic and `runtime.Unknown` around a message's bytes.
pub fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, tag: u32, wire: u64) {
    varint(out, (u64::from(tag) << 3) | wire);
}

fn delimited(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    key(out, tag, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn integer(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

fn mismatch(kind: &str, value: &Value) -> String {
    format!("a {kind} cannot hold {value}")
}

/// One value of a field, with its key.
fn one(out: &mut Vec<u8>, tag: u32, field: &Field, value: &Value) -> Result<(), String> {
    let kind = field.1.as_str();
    match kind {
        "message" => {
            let bytes = message(value, field.3.as_deref().unwrap_or(""))?;
            delimited(out, tag, &bytes);
        }
        "string" => {
            let s = value.as_str().ok_or_else(|| mismatch(kind, value))?;
            delimited(out, tag, s.as_bytes());
        }
        "bytes" => {
            let s = value.as_str().ok_or_else(|| mismatch(kind, value))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("bytes that are not base64: {e}"))?;
            delimited(out, tag, &bytes);
        }
        "bool" => {
            let b = value.as_bool().ok_or_else(|| mismatch(kind, value))?;
            key(out, tag, 0);
            varint(out, u64::from(b));
        }
        // Two's complement: negative int32s too are ten-byte varints.
        "int32" | "int64" => {
            let n = integer(value).ok_or_else(|| mismatch(kind, value))?;
            key(out, tag, 0);
            varint(out, n as u64);
        }
        "uint32" | "uint64" => {
            let n = value.as_u64().ok_or_else(|| mismatch(kind, value))?;
            key(out, tag, 0);
            varint(out, n);
        }
        "double" => {
            let f = value.as_f64().ok_or_else(|| mismatch(kind, value))?;
            key(out, tag, 1);
            out.extend_from_slice(&f.to_le_bytes());
        }
        "float" => {
            let f = value.as_f64().ok_or_else(|| mismatch(kind, value))?;
            key(out, tag, 5);
            out.extend_from_slice(&(f as f32).to_le_bytes());
        }
        _ => return Err(format!("no encoding for a {kind}")),
    }
    Ok(())
}

/// A field of any cardinality: repeated fields unpacked, as proto2 has
/// them; map entries (key 1, value 2) in key order, as Go writes them.
fn field(out: &mut Vec<u8>, tag: u32, field: &Field, value: &Value) -> Result<(), String> {
    match field.2.as_str() {
        "*" => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{}: a list cannot be {value}", field.0))?;
            for item in items {
                one(out, tag, field, item)?;
            }
        }
        "map" => {
            let entries = value
                .as_object()
                .ok_or_else(|| format!("{}: a map cannot be {value}", field.0))?;
            let sorted: BTreeMap<&String, &Value> = entries.iter().collect();
            for (k, v) in sorted {
                let mut entry = Vec::new();
                delimited(&mut entry, 1, k.as_bytes());
                one(&mut entry, 2, field, v)?;
                delimited(out, tag, &entry);
            }
        }
        _ => one(out, tag, field, value)?,
    }
    Ok(())
}

/// A message of a named schema type, from its JSON form.
fn message(value: &Value, type_name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let short = type_name.rsplit('.').next().unwrap_or("");
    let meta = type_name.starts_with("io.k8s.apimachinery.pkg.apis.meta.v1.");
    match short {
        "Time" | "MicroTime" if meta => {
            let s = value.as_str().ok_or_else(|| mismatch("time", value))?;
            let at: jiff::Timestamp = s.parse().map_err(|e| format!("time {s:?}: {e}"))?;
            key(&mut out, 1, 0);
            varint(&mut out, at.as_second() as u64);
            key(&mut out, 2, 0);
            varint(&mut out, i64::from(at.subsec_nanosecond()) as u64);
            return Ok(out);
        }
        "Duration" if meta => {
            let s = value.as_str().ok_or_else(|| mismatch("duration", value))?;
            let nanos = parse_go_duration(s).ok_or_else(|| format!("duration {s:?}"))?;
            key(&mut out, 1, 0);
            varint(&mut out, nanos as u64);
            return Ok(out);
        }
        "Quantity" => {
            let s = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(mismatch("quantity", value)),
            };
            delimited(&mut out, 1, s.as_bytes());
            return Ok(out);
        }
        "IntOrString" => {
            // Go writes all three fields.
            let (kind, int, string) = match value {
                Value::String(s) => (1, 0, s.as_str()),
                v => (
                    0,
                    integer(v).ok_or_else(|| mismatch("int-or-string", v))?,
                    "",
                ),
            };
            key(&mut out, 1, 0);
            varint(&mut out, kind);
            key(&mut out, 2, 0);
            varint(&mut out, int as u64);
            delimited(&mut out, 3, string.as_bytes());
            return Ok(out);
        }
        "RawExtension" | "FieldsV1" | "JSON" => {
            let raw = serde_json::to_vec(value).map_err(|e| e.to_string())?;
            delimited(&mut out, 1, &raw);
            return Ok(out);
        }
        _ => {}
    }
    let object = value
        .as_object()
        .ok_or_else(|| format!("{type_name} cannot be {value}"))?;
    let fields = by_name()
        .get(type_name)
        .ok_or_else(|| format!("{type_name} has no protobuf form"))?;
    // Structs embedded inline (`json:",inline"`): their fields, gathered.
    let inline: Vec<(u32, &Field)> = table()
        .get(type_name)
        .into_iter()
        .flatten()
        .filter(|(_, f)| f.0.is_empty())
        .map(|(tag, f)| (*tag, f))
        .collect();
    let mut slots: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut embedded: BTreeMap<u32, Map<String, Value>> = BTreeMap::new();
    for (name, v) in object {
        if v.is_null() {
            continue;
        }
        if let Some((tag, f)) = fields.get(name.as_str()).filter(|_| !name.is_empty()) {
            field(slots.entry(*tag).or_default(), *tag, f, v)?;
            continue;
        }
        let host = inline.iter().find(|(_, f)| {
            by_name()
                .get(f.3.as_deref().unwrap_or(""))
                .is_some_and(|inner| inner.contains_key(name.as_str()))
        });
        match host {
            Some((tag, _)) => {
                embedded
                    .entry(*tag)
                    .or_default()
                    .insert(name.clone(), v.clone());
            }
            None if name == "apiVersion" || name == "kind" => {}
            None => return Err(format!("{type_name} has no field {name:?}")),
        }
    }
    for (tag, inner) in embedded {
        let f = inline
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, f)| *f)
            .expect("an inline field");
        let bytes = message(&Value::Object(inner), f.3.as_deref().unwrap_or(""))?;
        delimited(slots.entry(tag).or_default(), tag, &bytes);
    }
    Ok(slots.into_values().flatten().collect())
}

/// Go's `time.ParseDuration`, in nanoseconds: `1h0m0s`, `1.5s`, `300ms`.
fn parse_go_duration(s: &str) -> Option<i64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|n| *n > 0)?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some((sign * total).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(group: &str, version: &str, kind: &str) -> String {
        match (group, kind) {
            ("", "Status") => "io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_owned(),
            ("", _) => format!("io.k8s.api.core.{version}.{kind}"),
            _ => {
                let short = group.trim_end_matches(".k8s.io");
                format!("io.k8s.api.{short}.{version}.{kind}")
            }
        }
    }

    fn body(object: &Value) -> Vec<u8> {
        let api_version = object["apiVersion"].as_str().unwrap();
        let kind = object["kind"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        encode(object, api_version, kind, &definition(group, version, kind)).unwrap()
    }

    /// Encoded, then decoded by the request decoder: the same JSON.
    #[track_caller]
    fn round_trip(object: &Value) -> Vec<u8> {
        let bytes = body(object);
        let back = crate::protobuf::decode(&bytes, |g, v, k| Some(definition(g, v, k))).unwrap();
        assert_eq!(&back, object);
        bytes
    }

    /// The envelope, read with k8s-pb's own type.
    fn raw(bytes: &[u8]) -> Vec<u8> {
        let unknown =
            k8s_pb::apimachinery::pkg::runtime::Unknown::decode(bytes.strip_prefix(MAGIC).unwrap())
                .unwrap();
        assert_eq!(unknown.content_type.as_deref(), Some(""));
        assert_eq!(unknown.content_encoding.as_deref(), Some(""));
        unknown.raw.unwrap()
    }

    fn metadata(name: &str) -> Value {
        json!({
            "name": name,
            "namespace": "shop",
            "uid": "0b6f9c3a-6d5e-4a57-9a0e-2f2b0f7d9c11",
            "resourceVersion": "42",
            "creationTimestamp": "2026-12-06T05:42:53Z",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "x"},
            "managedFields": [{
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-12-06T05:42:53Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:a": {}}},
            }],
        })
    }

    #[test]
    fn config_maps_and_secrets_round_trip_and_are_real_protobuf() {
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata("settings"),
            "data": {"a": "1", "b": "two"},
            "binaryData": {"bin": "AP8="},
            "immutable": true,
        });
        let bytes = round_trip(&cm);
        let typed = k8s_pb::api::core::v1::ConfigMap::decode(raw(&bytes).as_slice()).unwrap();
        let meta = typed.metadata.unwrap();
        assert_eq!(meta.name.as_deref(), Some("settings"));
        assert_eq!(meta.labels["tier"], "front");
        assert_eq!(
            meta.creation_timestamp.unwrap().seconds,
            Some(1_796_535_773)
        );
        assert_eq!(typed.data["b"], "two");
        assert_eq!(typed.binary_data["bin"], vec![0, 255]);

        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "czNjcmV0", "raw": "AAEC/w=="},
        });
        let bytes = round_trip(&secret);
        let typed = k8s_pb::api::core::v1::Secret::decode(raw(&bytes).as_slice()).unwrap();
        assert_eq!(typed.data["password"], b"s3cret");
        assert_eq!(typed.data["raw"], vec![0, 1, 2, 255]);
        assert_eq!(typed.r#type.as_deref(), Some("kubernetes.io/basic-auth"));

        let ns = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"kubernetes.io/metadata.name": "shop"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        let bytes = round_trip(&ns);
        let typed = k8s_pb::api::core::v1::Namespace::decode(raw(&bytes).as_slice()).unwrap();
        assert_eq!(typed.status.unwrap().phase.as_deref(), Some("Active"));
    }

    #[test]
    fn deployments_keep_pod_specs_quantities_and_int_or_strings() {
        let deploy = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 2},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 30,
                        "containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "args": ["-g", "daemon off;"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [
                                {"name": "MODE", "value": "fast"},
                                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                            ],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "128Mi"},
                                "requests": {"cpu": "100m"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 5,
                            },
                        }],
                    },
                },
            },
            "status": {
                "replicas": 3,
                "readyReplicas": 3,
                "conditions": [{
                    "type": "Available",
                    "status": "True",
                    "lastTransitionTime": "2026-12-06T05:42:54Z",
                    "lastUpdateTime": "2026-12-06T05:42:54Z",
                    "reason": "MinimumReplicasAvailable",
                }],
            },
        });
        let bytes = round_trip(&deploy);
        let typed = k8s_pb::api::apps::v1::Deployment::decode(raw(&bytes).as_slice()).unwrap();
        let spec = typed.spec.unwrap();
        let rolling = spec.strategy.unwrap().rolling_update.unwrap();
        assert_eq!(rolling.max_surge.unwrap().str_val.as_deref(), Some("25%"));
        assert_eq!(rolling.max_unavailable.unwrap().r#type, Some(0));
        let container = &spec.template.unwrap().spec.unwrap().containers[0];
        let limits = &container.resources.as_ref().unwrap().limits;
        assert_eq!(limits["cpu"].string.as_deref(), Some("500m"));
        assert_eq!(limits["memory"].string.as_deref(), Some("128Mi"));
        // The probe's handler is embedded inline in JSON, a field in protobuf.
        let probe = container.readiness_probe.as_ref().unwrap();
        let get = probe.handler.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.port.as_ref().unwrap().str_val.as_deref(), Some("http"));
        let key = container.env[1].value_from.as_ref().unwrap();
        let secret_ref = key.secret_key_ref.as_ref().unwrap();
        assert_eq!(
            secret_ref
                .local_object_reference
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("db")
        );
    }

    #[test]
    fn services_leases_lists_and_statuses_round_trip() {
        let svc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.12",
                "clusterIPs": ["10.96.0.12"],
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080},
                    {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9091},
                ],
            },
        });
        let bytes = round_trip(&svc);
        let typed = k8s_pb::api::core::v1::Service::decode(raw(&bytes).as_slice()).unwrap();
        let ports = typed.spec.unwrap().ports;
        assert_eq!(ports[1].target_port.as_ref().unwrap().int_val, Some(9091));
        assert_eq!(ports[0].node_port, Some(30080));

        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "kube-system"},
            "spec": {
                "holderIdentity": "node-a",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-06T05:42:53.000000Z",
                "renewTime": "2026-12-06T05:42:58.123456Z",
                "leaseTransitions": 2,
            },
        });
        let bytes = round_trip(&lease);
        let typed = k8s_pb::api::coordination::v1::Lease::decode(raw(&bytes).as_slice()).unwrap();
        let renew = typed.spec.unwrap().renew_time.unwrap();
        assert_eq!(renew.nanos, Some(123_456_000));

        let list = json!({
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "metadata": {"resourceVersion": "57", "continue": "eyJ2IjoxfQ", "remainingItemCount": 4},
            "items": [
                {"metadata": {"name": "a", "namespace": "shop"}, "data": {"k": "v"}},
                {"metadata": {"name": "b", "namespace": "shop"}},
            ],
        });
        let bytes = round_trip(&list);
        let typed = k8s_pb::api::core::v1::ConfigMapList::decode(raw(&bytes).as_slice()).unwrap();
        assert_eq!(typed.items.len(), 2);
        let meta = typed.metadata.unwrap();
        assert_eq!(meta.r#continue.as_deref(), Some("eyJ2IjoxfQ"));
        assert_eq!(meta.remaining_item_count, Some(4));

        let status = crate::status::ApiError::invalid(
            "ConfigMap",
            crate::status::Subject {
                group: "",
                plural: "configmaps",
                name: "Bad_Name",
            },
            &[(
                "metadata.name".to_owned(),
                "FieldValueInvalid",
                "Invalid value: \"Bad_Name\"".to_owned(),
            )],
        )
        .body();
        let bytes = round_trip(&status);
        let typed =
            k8s_pb::apimachinery::pkg::apis::meta::v1::Status::decode(raw(&bytes).as_slice())
                .unwrap();
        assert_eq!(typed.code, Some(422));
        assert_eq!(
            typed.details.unwrap().causes[0].field.as_deref(),
            Some("metadata.name")
        );
    }

    #[test]
    fn what_the_table_cannot_hold_is_refused() {
        let unknown_field = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "colour": "red"});
        assert!(
            encode(
                &unknown_field,
                "v1",
                "ConfigMap",
                "io.k8s.api.core.v1.ConfigMap"
            )
            .is_err()
        );
        let wrong_shape = json!({"metadata": {"name": 3}});
        assert!(
            encode(
                &wrong_shape,
                "v1",
                "ConfigMap",
                "io.k8s.api.core.v1.ConfigMap"
            )
            .is_err()
        );
        // A CRD's schema with an extension whose JSON name the table lacks.
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
        });
        let name =
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition";
        assert!(
            encode(
                &crd,
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                name
            )
            .is_err()
        );
        // Without extensions, a CRD is plain protobuf.
        let simple = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer", "enum": [1, 3]}}}}}}}]},
        });
        let bytes = encode(
            &simple,
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            name,
        )
        .unwrap();
        let typed = k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition::decode(
            raw(&bytes).as_slice(),
        )
        .unwrap();
        let version = &typed.spec.unwrap().versions[0];
        assert_eq!(
            version.additional_printer_columns[0].json_path.as_deref(),
            Some(".spec.size")
        );
        let schema = version
            .schema
            .as_ref()
            .unwrap()
            .open_apiv3_schema
            .as_ref()
            .unwrap();
        let size = &schema.properties["spec"].properties["size"];
        assert_eq!(size.r#type.as_deref(), Some("integer"));
        assert_eq!(size.r#enum[1].raw.as_deref(), Some(&b"3"[..]));
        assert_eq!(parse_go_duration("1h0m0s"), Some(3_600_000_000_000));
        assert_eq!(parse_go_duration("1m30.5s"), Some(90_500_000_000));
        assert_eq!(parse_go_duration("-300ms"), Some(-300_000_000));
        assert_eq!(parse_go_duration("5x"), None);
    }
}
