//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which
//! kubectl's typed commands send (`create namespace`, `create token`,
//! `auth can-i`, ...): the `k8s\0` magic, then a `runtime.Unknown` (decoded
//! with the k8s-pb crate's type) holding the object's apiVersion, kind and
//! bytes. The object is decoded into its JSON form by a table of every
//! type's fields (`fixtures/protobuf-fields.json`, generated from k8s-pb's
//! prost code and the schema's JSON names by `scripts/protobuf-table.py`),
//! and served as if it had come as JSON.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::status::ApiError;

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
pub(crate) const MAGIC: &[u8] = b"k8s\0";

/// One field: its JSON name, wire kind (`string`, `int32`, `message`, ...),
/// cardinality (`1`, `*` or `map`) and, for messages, the type.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Field(
    pub(crate) String,
    pub(crate) String,
    pub(crate) String,
    #[serde(default)] pub(crate) Option<String>,
);

pub(crate) type Table = HashMap<String, HashMap<u32, Field>>;

pub(crate) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/protobuf-fields.json"))
            .expect("the protobuf field table is JSON")
    })
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "the body of the request could not be decoded: {message}"
    ))
}

/// A protobuf body as its JSON object, apiVersion and kind included.
/// `definition` names the schema type of an apiVersion and kind.
///
/// # Errors
/// No magic, an envelope or message that does not decode, an unknown kind.
pub fn decode(
    body: &[u8],
    definition: impl Fn(&str, &str, &str) -> Option<String>,
) -> Result<Value, ApiError> {
    let raw = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("no protobuf magic number"))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(raw).map_err(bad)?;
    let meta = unknown.type_meta.unwrap_or_default();
    let api_version = meta.api_version.unwrap_or_default();
    let kind = meta.kind.unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let name = definition(group, version, &kind).ok_or_else(|| {
        bad(format!(
            "no kind {kind:?} is registered for version {api_version:?}"
        ))
    })?;
    let mut object = message(&unknown.raw.unwrap_or_default(), &name)?;
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".to_owned(), json!(api_version));
        map.insert("kind".to_owned(), json!(kind));
    }
    Ok(object)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| bad("truncated varint"))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], ApiError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| bad("truncated field"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

/// One value off the wire, of a wire type, as the field's kind says.
fn scalar(kind: &str, wire: u64, reader: &mut Reader<'_>) -> Result<Value, ApiError> {
    Ok(match (kind, wire) {
        ("string", 2) => {
            let n = usize::try_from(reader.varint()?).map_err(bad)?;
            json!(String::from_utf8_lossy(reader.take(n)?))
        }
        ("bytes", 2) => {
            let n = usize::try_from(reader.varint()?).map_err(bad)?;
            json!(base64::engine::general_purpose::STANDARD.encode(reader.take(n)?))
        }
        ("bool", 0) => json!(reader.varint()? != 0),
        // Two's complement: an int32 -1 is sent as a ten-byte varint.
        ("int32", 0) => json!(reader.varint()? as i64 as i32),
        ("int64", 0) => json!(reader.varint()? as i64),
        ("uint32" | "uint64", 0) => json!(reader.varint()?),
        ("double", 1) => json!(f64::from_le_bytes(reader.take(8)?.try_into().map_err(bad)?)),
        ("float", 5) => json!(f32::from_le_bytes(reader.take(4)?.try_into().map_err(bad)?)),
        _ => return Err(bad(format!("wire type {wire} for a {kind}"))),
    })
}

fn skip(wire: u64, reader: &mut Reader<'_>) -> Result<(), ApiError> {
    match wire {
        0 => {
            reader.varint()?;
        }
        1 => {
            reader.take(8)?;
        }
        2 => {
            let n = usize::try_from(reader.varint()?).map_err(bad)?;
            reader.take(n)?;
        }
        5 => {
            reader.take(4)?;
        }
        _ => return Err(bad(format!("wire type {wire}"))),
    }
    Ok(())
}

fn value_of(field: &Field, wire: u64, reader: &mut Reader<'_>) -> Result<Value, ApiError> {
    if field.1 == "message" {
        let n = usize::try_from(reader.varint()?).map_err(bad)?;
        let bytes = reader.take(n)?;
        return message(bytes, field.3.as_deref().unwrap_or(""));
    }
    scalar(&field.1, wire, reader)
}

/// A map entry: key (1) and value (2).
fn entry(field: &Field, bytes: &[u8]) -> Result<(String, Value), ApiError> {
    let mut reader = Reader { bytes, at: 0 };
    let (mut key, mut value) = (String::new(), Value::Null);
    while !reader.done() {
        let tag = reader.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => {
                key = scalar("string", 2, &mut reader)?
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            }
            (2, wire) => value = value_of(field, wire, &mut reader)?,
            (_, wire) => skip(wire, &mut reader)?,
        }
    }
    if value.is_null() {
        value = match field.1.as_str() {
            "message" => json!({}),
            _ => json!(""),
        };
    }
    Ok((key, value))
}

/// A message of a named type, as JSON.
fn message(bytes: &[u8], type_name: &str) -> Result<Value, ApiError> {
    let fields = table().get(type_name);
    let mut object = Map::new();
    let mut reader = Reader { bytes, at: 0 };
    while !reader.done() {
        let key = reader.varint()?;
        let (tag, wire) = (u32::try_from(key >> 3).map_err(bad)?, key & 7);
        let Some(field) = fields.and_then(|f| f.get(&tag)) else {
            skip(wire, &mut reader)?;
            continue;
        };
        match field.2.as_str() {
            "map" => {
                let n = usize::try_from(reader.varint()?).map_err(bad)?;
                let (k, v) = entry(field, reader.take(n)?)?;
                let map = object
                    .entry(field.0.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(k, v);
                }
            }
            "*" => {
                let list = object
                    .entry(field.0.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let numeric = !matches!(field.1.as_str(), "string" | "bytes" | "message");
                let items = if numeric && wire == 2 {
                    // Packed numbers.
                    let n = usize::try_from(reader.varint()?).map_err(bad)?;
                    let mut packed = Reader {
                        bytes: reader.take(n)?,
                        at: 0,
                    };
                    let inner = if matches!(field.1.as_str(), "double") {
                        1
                    } else {
                        0
                    };
                    let mut items = Vec::new();
                    while !packed.done() {
                        items.push(scalar(&field.1, inner, &mut packed)?);
                    }
                    items
                } else {
                    vec![value_of(field, wire, &mut reader)?]
                };
                if let Value::Array(list) = list {
                    list.extend(items);
                }
            }
            _ => {
                let value = value_of(field, wire, &mut reader)?;
                match value {
                    // A struct embedded inline: its fields are this one's.
                    Value::Object(inner) if field.0.is_empty() => object.extend(inner),
                    value => {
                        object.insert(field.0.clone(), value);
                    }
                }
            }
        }
    }
    Ok(special(type_name, object))
}

/// Types whose JSON form is not their message: times, quantities,
/// int-or-strings, durations and embedded JSON. Go leaves out the zero
/// values its protobuf encoding always writes (empty strings, a zero time).
fn special(type_name: &str, mut object: Map<String, Value>) -> Value {
    let short = type_name.rsplit('.').next().unwrap_or("");
    let meta = type_name.starts_with("io.k8s.apimachinery.pkg.apis.meta.v1.");
    match short {
        "Time" | "MicroTime" if meta => {
            let seconds = object.get("seconds").and_then(Value::as_i64).unwrap_or(0);
            let nanos = object.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            if seconds == 0 && nanos == 0 {
                return Value::Null;
            }
            let Ok(at) = jiff::Timestamp::new(seconds, i32::try_from(nanos).unwrap_or(0)) else {
                return Value::Null;
            };
            let format = if short == "Time" {
                "%Y-%m-%dT%H:%M:%SZ"
            } else {
                "%Y-%m-%dT%H:%M:%S%.6fZ"
            };
            json!(at.strftime(format).to_string())
        }
        "Duration" if meta => {
            let nanos = object.get("duration").and_then(Value::as_i64).unwrap_or(0);
            json!(go_duration(nanos))
        }
        "Quantity" => object.remove("string").unwrap_or(json!("0")),
        "IntOrString" => {
            if object.get("type").and_then(Value::as_i64) == Some(1) {
                object.remove("strVal").unwrap_or(json!(""))
            } else {
                object.remove("intVal").unwrap_or(json!(0))
            }
        }
        "RawExtension" | "FieldsV1" | "JSON" => {
            let raw = object.get("raw").and_then(Value::as_str).unwrap_or("");
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or(Value::Null)
        }
        _ => {
            object.retain(|key, value| {
                !(value.is_null()
                    || value.as_str() == Some("")
                    || (key == "generation" && short == "ObjectMeta" && value == &json!(0)))
            });
            Value::Object(object)
        }
    }
}

/// Go's `time.Duration.String()` of whole seconds and below, e.g. `1h0m0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        return format!("{sign}{}s", n as f64 / 1e9);
    }
    let (h, m) = (n / 3_600_000_000_000, (n / 60_000_000_000) % 60);
    let s = (n % 60_000_000_000) as f64 / 1e9;
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, _) => format!("{sign}{m}m{s}s"),
        _ => format!("{sign}{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf_encode::envelope;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;

    fn names(group: &str, version: &str, kind: &str) -> Option<String> {
        let prefix = if group.is_empty() {
            "core".to_owned()
        } else {
            group.to_owned()
        };
        Some(format!("io.k8s.api.{prefix}.{version}.{kind}"))
    }

    #[test]
    fn a_config_map_encoded_by_k8s_pb_decodes_to_its_json() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: Some("settings".into()),
                namespace: Some(String::new()),
                generation: Some(0),
                labels: [("app".to_owned(), "web".to_owned())].into(),
                creation_timestamp: Some(meta::Time {
                    seconds: Some(0),
                    nanos: Some(0),
                }),
                ..Default::default()
            }),
            data: [("a".to_owned(), "1".to_owned())].into(),
            binary_data: [("b".to_owned(), vec![0, 255])].into(),
            immutable: Some(false),
        };
        let body = envelope("v1", "ConfigMap", cm.encode_to_vec());
        let object = decode(&body, names).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "labels": {"app": "web"}},
                "data": {"a": "1"},
                "binaryData": {"b": "AP8="},
                "immutable": false,
            })
        );
    }

    #[test]
    fn services_keep_int_or_strings_quantities_and_capitals() {
        let svc = core::Service {
            metadata: Some(meta::ObjectMeta {
                name: Some("web".into()),
                ..Default::default()
            }),
            spec: Some(core::ServiceSpec {
                cluster_ip: Some("None".into()),
                ports: vec![
                    core::ServicePort {
                        port: Some(80),
                        target_port: Some(k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                            r#type: Some(1),
                            int_val: Some(0),
                            str_val: Some("http".into()),
                        }),
                        ..Default::default()
                    },
                    core::ServicePort {
                        port: Some(-1),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            status: None,
        };
        let object = decode(&envelope("v1", "Service", svc.encode_to_vec()), names).unwrap();
        assert_eq!(object["spec"]["clusterIP"], "None");
        assert_eq!(object["spec"]["ports"][0]["targetPort"], "http");
        assert_eq!(object["spec"]["ports"][1]["port"], -1);
        assert!(decode(b"not protobuf", names).is_err());
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
    }
}
