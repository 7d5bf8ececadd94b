//! `GET /openapi/v2`: the Swagger 2.0 document, for kubectl's client-side
//! validation.
//!
//! kubectl 1.37 validates a file itself only where the server cannot
//! validate it (`fieldValidation` unsupported), and that is always so for a
//! `kind: List` (the file `kubectl get -o yaml` writes): it then checks each
//! item against the definitions of `/openapi/v2` (kube-openapi's
//! `pkg/util/proto`, which finds a kind's definition by its
//! `x-kubernetes-group-version-kind`). client-go asks for them with
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and
//! decodes whatever 200 answer comes as gnostic's `openapi.v2.Document`
//! protobuf; any error status fails the command ("error validating data:
//! ..."), with no fallback. So the document is served in both forms, as
//! kube-openapi's handler serves it: JSON for `application/json` (and `*/*`
//! or no Accept), protobuf for either protobuf media type (answered as
//! `application/com.github.proto-openapi.spec.v2.v1.0+protobuf`), 406
//! otherwise.
//!
//! The definitions are those the served kinds reach (the kinds, their lists
//! and everything they reference, plus the meta types every server
//! publishes), converted from the loaded JSON Schema back to Swagger form,
//! and the served custom kinds' schemas as the real server publishes them
//! in v2 (its `ToStructuralOpenAPIV2`). `paths` is empty: kubectl 1.37 reads
//! only the definitions (the v2 paths serve it only when OpenAPI v3 fails).
//! The built-in part is converted and encoded once per server, on the
//! first request; the custom kinds' part, small, at each request.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::kinds::ResourceKind;
use crate::schema::{self, SWAGGER_REF as DEFINITIONS_REF, Schema};

/// What the protobuf answer is labelled, as kube-openapi labels it.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// What client-go asks for (kube-openapi accepts both spellings).
const PROTOBUF_ASKED: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
const PROTOBUF_SUBTYPE: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";
const CONFIG_MAP: &str = "io.k8s.api.core.v1.ConfigMap";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
/// Published whatever is served: the operations' bodies and answers.
const META_ROOTS: &[&str] = &[
    schema::DELETE_OPTIONS,
    schema::STATUS,
    schema::PATCH,
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
    "io.k8s.apimachinery.pkg.version.Info",
];

/// The two forms of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => PROTOBUF,
        }
    }
}

/// The form an `Accept` header asks for, as kube-openapi's handler picks it:
/// the clauses by preference (quality, then the more specific), the first
/// that JSON or protobuf matches (`*/*` and `application/*` are JSON); an
/// empty header is `*/*`. None: 406.
pub fn negotiate(accept: &str) -> Option<Format> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<(f32, &str, &str)> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let media = parts.next()?.trim();
            let (kind, sub) = media.split_once('/').unwrap_or((media, "*"));
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, kind.trim(), sub.trim()))
        })
        .collect();
    let rank = |kind: &str, sub: &str| u8::from(kind != "*") + u8::from(sub != "*");
    clauses.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| rank(b.1, b.2).cmp(&rank(a.1, a.2)))
    });
    let offers = [
        ("json", Format::Json),
        (PROTOBUF_ASKED, Format::Protobuf),
        (PROTOBUF_SUBTYPE, Format::Protobuf),
    ];
    clauses.iter().find_map(|(_, kind, sub)| {
        if *kind != "application" && *kind != "*" {
            return None;
        }
        offers
            .iter()
            .find(|(offer, _)| *sub == "*" || sub == offer)
            .map(|(_, format)| *format)
    })
}

/// The built-in definitions, converted and encoded once per server.
#[derive(Default)]
pub struct Cache {
    builtin: OnceLock<Encoded>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("built", &self.builtin.get().is_some())
            .finish()
    }
}

/// Definitions in both forms, ready to be put into a document.
struct Encoded {
    names: Vec<String>,
    /// `"name":{...}` entries joined by commas.
    json: String,
    /// `Definitions.additional_properties` fields (`NamedSchema`s).
    proto: Vec<u8>,
}

impl Encoded {
    fn new(definitions: &BTreeMap<String, Value>) -> Encoded {
        let mut json = String::new();
        let mut proto = Vec::new();
        for (name, definition) in definitions {
            if !json.is_empty() {
                json.push(',');
            }
            json.push_str(&Value::String(name.clone()).to_string());
            json.push(':');
            json.push_str(&definition.to_string());
            message(&mut proto, 1, |named| {
                string(named, 1, name);
                message(named, 2, |out| encode_schema(definition, out));
            });
        }
        Encoded {
            names: definitions.keys().cloned().collect(),
            json,
            proto,
        }
    }
}

impl Cache {
    /// The document for the served `kinds`, in `format`.
    ///
    /// The first call converts and encodes the definitions the built-in
    /// kinds reach; the built-in kinds never change while a server runs.
    pub fn document(&self, schema: &Schema, kinds: &[ResourceKind], format: Format) -> Vec<u8> {
        let builtin = self
            .builtin
            .get_or_init(|| Encoded::new(&builtin_definitions(schema, kinds)));
        let mut custom = custom_definitions(schema, kinds);
        // A custom kind never takes a built-in definition's name.
        custom.retain(|name, _| builtin.names.binary_search(name).is_err());
        let custom = Encoded::new(&custom);
        match format {
            Format::Json => json_document(builtin, &custom),
            Format::Protobuf => proto_document(builtin, &custom),
        }
    }
}

fn info() -> (&'static str, &'static str) {
    ("Kubernetes", "v1.37.0")
}

const BEARER: &str = "BearerToken";
const BEARER_DESCRIPTION: &str = "Bearer Token authentication";

fn json_document(builtin: &Encoded, custom: &Encoded) -> Vec<u8> {
    let (title, version) = info();
    let head = json!({"title": title, "version": version});
    let security_definitions = json!({
        BEARER: {
            "description": BEARER_DESCRIPTION,
            "type": "apiKey",
            "name": "authorization",
            "in": "header",
        }
    });
    let mut out = String::with_capacity(builtin.json.len() + custom.json.len() + 512);
    out.push_str(r#"{"swagger":"2.0","info":"#);
    out.push_str(&head.to_string());
    out.push_str(r#","paths":{},"definitions":{"#);
    out.push_str(&builtin.json);
    if !builtin.json.is_empty() && !custom.json.is_empty() {
        out.push(',');
    }
    out.push_str(&custom.json);
    out.push_str(r#"},"securityDefinitions":"#);
    out.push_str(&security_definitions.to_string());
    out.push_str(&format!(r#","security":[{{"{BEARER}":[]}}]}}"#));
    out.push('\n');
    out.into_bytes()
}

/// gnostic's `openapi.v2.Document`, field by field.
fn proto_document(builtin: &Encoded, custom: &Encoded) -> Vec<u8> {
    let (title, version) = info();
    let mut out = Vec::with_capacity(builtin.proto.len() + custom.proto.len() + 256);
    string(&mut out, 1, "2.0");
    message(&mut out, 2, |info| {
        string(info, 1, title);
        string(info, 2, version);
    });
    // paths: present, empty.
    message(&mut out, 8, |_| {});
    key(&mut out, 9, LEN);
    varint(&mut out, (builtin.proto.len() + custom.proto.len()) as u64);
    out.extend_from_slice(&builtin.proto);
    out.extend_from_slice(&custom.proto);
    // security: [{BearerToken: []}]
    message(&mut out, 12, |requirement| {
        message(requirement, 1, |named| {
            string(named, 1, BEARER);
            message(named, 2, |_| {});
        });
    });
    // securityDefinitions: {BearerToken: apiKey}
    message(&mut out, 13, |definitions| {
        message(definitions, 1, |named| {
            string(named, 1, BEARER);
            message(named, 2, |item| {
                message(item, 2, |api_key| {
                    string(api_key, 1, "apiKey");
                    string(api_key, 2, "authorization");
                    string(api_key, 3, "header");
                    string(api_key, 4, BEARER_DESCRIPTION);
                });
            });
        });
    });
    out
}

// ---------------------------------------------------------------------------
// The definitions.

/// The built-in definitions the served built-in kinds reach, in Swagger form.
fn builtin_definitions(schema: &Schema, kinds: &[ResourceKind]) -> BTreeMap<String, Value> {
    let mut pending: Vec<String> = META_ROOTS.iter().map(|&name| name.to_owned()).collect();
    for kind in kinds.iter().filter(|kind| !kind.custom) {
        let list = format!("{}List", kind.kind);
        let sub_kinds = kind.subresources.iter().map(|sub| {
            let group = if sub.version.is_empty() {
                &kind.group
            } else {
                &sub.group
            };
            let version = if sub.version.is_empty() {
                &kind.version
            } else {
                &sub.version
            };
            (group.as_str(), version.as_str(), sub.kind.as_str())
        });
        let own = [
            (
                kind.group.as_str(),
                kind.version.as_str(),
                kind.kind.as_str(),
            ),
            (kind.group.as_str(), kind.version.as_str(), list.as_str()),
        ];
        for (group, version, name) in own.into_iter().chain(sub_kinds) {
            if let Some(definition) = schema.definition_name(group, version, name) {
                pending.push(definition.to_owned());
            }
        }
    }
    let mut definitions = BTreeMap::new();
    while let Some(name) = pending.pop() {
        if definitions.contains_key(&name) {
            continue;
        }
        let Some(def) = schema.builtin(&name) else {
            continue;
        };
        let mut converted = match name.as_str() {
            // The definitions file has `oneOf`s of a string and a number
            // where the real document has a string.
            INT_OR_STRING => json!({"type": "string", "format": "int-or-string"}),
            QUANTITY => json!({"type": "string"}),
            _ => to_swagger(def, &mut pending),
        };
        if converted.get("x-kubernetes-group-version-kind").is_some() {
            schema::strip_type_meta_enums(&mut converted);
        }
        definitions.insert(name, converted);
    }
    definitions
}

fn to_swagger(schema: &Value, refs: &mut Vec<String>) -> Value {
    schema::convert(schema, refs, schema::Dialect::Swagger)
}

/// The served custom kinds' definitions, as the real server publishes them
/// in v2: `<reversed group>.<version>.<Kind>` and its list.
fn custom_definitions(schema: &Schema, kinds: &[ResourceKind]) -> BTreeMap<String, Value> {
    let mut definitions = BTreeMap::new();
    let type_meta = schema.builtin(CONFIG_MAP).and_then(|d| d.get("properties"));
    let property = |field: &str| -> Value {
        let mut property = type_meta
            .and_then(|p| p.get(field))
            .map(|p| to_swagger(p, &mut Vec::new()))
            .unwrap_or_else(|| json!({"type": "string"}));
        if let Value::Object(map) = &mut property {
            map.remove("enum");
        }
        property
    };
    let meta = TypeMeta {
        api_version: property("apiVersion"),
        kind: property("kind"),
        metadata: property("metadata"),
    };
    for kind in kinds.iter().filter(|kind| kind.custom) {
        let name = format!(
            "{}.{}.{}",
            schema::reverse_domain(&kind.group),
            kind.version,
            kind.kind
        );
        let root = schema.custom(&kind.group, &kind.version, &kind.kind);
        definitions.insert(name.clone(), custom_kind(kind, root, &meta));
        definitions.insert(format!("{name}List"), custom_list(kind, &name, &meta));
    }
    definitions
}

/// `apiVersion`, `kind` and `metadata` as the built-in kinds declare them.
struct TypeMeta {
    api_version: Value,
    kind: Value,
    metadata: Value,
}

fn gvk_extension(kind: &ResourceKind, name: &str) -> Value {
    json!([{"group": kind.group, "version": kind.version, "kind": name}])
}

/// The real server's `buildKubeNative` for v2: a root that preserves unknown
/// fields is a bare object (kubectl would refuse any field not declared);
/// otherwise the schema made v2-compatible, with `metadata`, `apiVersion`
/// and `kind` set, and embedded resources given theirs.
fn custom_kind(kind: &ResourceKind, root: Option<&Value>, meta: &TypeMeta) -> Value {
    let preserve = root.is_none_or(|root| flag(root, "x-kubernetes-preserve-unknown-fields"));
    let mut out = match root {
        Some(root) if !preserve => {
            let mut v2 = structural_v2(root);
            if let Value::Object(map) = &mut v2 {
                map.remove("x-kubernetes-group-version-kind");
                let properties = map
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(properties) = properties {
                    properties.insert("metadata".into(), meta.metadata.clone());
                    properties.insert("apiVersion".into(), meta.api_version.clone());
                    properties.insert("kind".into(), meta.kind.clone());
                }
            }
            add_embedded(&mut v2, meta);
            v2
        }
        _ => json!({"type": "object"}),
    };
    out["x-kubernetes-group-version-kind"] = gvk_extension(kind, &kind.kind);
    out
}

fn custom_list(kind: &ResourceKind, item: &str, meta: &TypeMeta) -> Value {
    let mut metadata = json!({
        "$ref": format!("{DEFINITIONS_REF}{}", schema::LIST_META),
    });
    if let Some(description) = meta.metadata.get("description") {
        metadata["description"] = description.clone();
    }
    json!({
        "description": format!("{}List is a list of {}", kind.kind, kind.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": meta.api_version,
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", kind.plural),
                "type": "array",
                "items": {"$ref": format!("{DEFINITIONS_REF}{item}")},
            },
            "kind": meta.kind,
            "metadata": metadata,
        },
    })
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// apiextensions' `ToStructuralOpenAPIV2`, on a CRD schema: no `allOf`,
/// `oneOf`, `anyOf`, `not`; a nullable field loses its type, items and
/// properties (and is not required); one that preserves unknown fields
/// loses its items and properties (and `type: object`); an array without
/// items its type. Defaults are pruned, as the real document prunes them.
fn structural_v2(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = map.clone();
    for key in ["allOf", "oneOf", "anyOf", "not", "default"] {
        out.remove(key);
    }
    let nullable = out.remove("nullable").and_then(|v| v.as_bool()) == Some(true);
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    if nullable {
        out.remove("type");
    }
    if nullable || preserve {
        out.remove("items");
        out.remove("properties");
    }
    let type_is =
        |out: &Map<String, Value>, t: &str| out.get("type").and_then(Value::as_str) == Some(t);
    if !out.contains_key("items") && type_is(&out, "array") {
        out.remove("type");
    }
    if preserve && type_is(&out, "object") {
        out.remove("type");
    }
    if let Some(Value::Object(properties)) = out.get("properties") {
        let nullable_fields: Vec<String> = properties
            .iter()
            .filter(|(_, child)| flag(child, "nullable"))
            .map(|(name, _)| name.clone())
            .collect();
        if let Some(Value::Array(required)) = out.get_mut("required") {
            required.retain(|r| {
                !r.as_str()
                    .is_some_and(|r| nullable_fields.iter().any(|f| f == r))
            });
        }
    }
    if out
        .get("additionalProperties")
        .is_some_and(|a| flag(a, "nullable"))
    {
        out.remove("required");
    }
    if out
        .get("required")
        .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
    {
        out.remove("required");
    }
    if let Some(reference) = out.get_mut("$ref")
        && let Some(name) = reference
            .as_str()
            .and_then(|r| r.strip_prefix(schema::DEFS_REF))
    {
        *reference = Value::String(format!("{DEFINITIONS_REF}{name}"));
    }
    if let Some(Value::Object(properties)) = out.get_mut("properties") {
        for child in properties.values_mut() {
            *child = structural_v2(child);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = out.get_mut(key)
            && child.is_object()
        {
            *child = structural_v2(child);
        }
    }
    Value::Object(out)
}

/// apiextensions' `addEmbeddedProperties` for v2: an
/// `x-kubernetes-embedded-resource` that does not preserve unknown fields
/// gets `apiVersion`, `kind` and `metadata`, the first two required.
fn add_embedded(schema: &mut Value, meta: &TypeMeta) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for child in properties.values_mut() {
            add_embedded(child, meta);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            add_embedded(child, meta);
        }
    }
    let embedded = map
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true);
    let preserve = map
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if !embedded || preserve {
        return;
    }
    let properties = map
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert("apiVersion".into(), meta.api_version.clone());
        properties.insert("kind".into(), meta.kind.clone());
        properties.insert("metadata".into(), meta.metadata.clone());
    }
    let required = map.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(required) = required {
        for field in ["kind", "apiVersion"] {
            if !required.iter().any(|r| r == field) {
                required.push(json!(field));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Protobuf: gnostic's `openapi.v2.Schema`, from its Swagger JSON.

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// A string field; empty strings are left out, as proto3 leaves them.
fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    if value.is_empty() {
        return;
    }
    key(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// An embedded message, written by `fill`.
fn message(out: &mut Vec<u8>, field: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    key(out, field, LEN);
    varint(out, inner.len() as u64);
    out.extend_from_slice(&inner);
}

fn boolean(out: &mut Vec<u8>, field: u32, value: &Value) {
    if value.as_bool() == Some(true) {
        key(out, field, VARINT);
        varint(out, 1);
    }
}

fn int64(out: &mut Vec<u8>, field: u32, value: &Value) {
    if let Some(n) = value.as_i64().filter(|n| *n != 0) {
        key(out, field, VARINT);
        varint(out, n as u64);
    }
}

fn double(out: &mut Vec<u8>, field: u32, value: &Value) {
    if let Some(n) = value.as_f64().filter(|n| *n != 0.0) {
        key(out, field, FIXED64);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// gnostic's `Any`: the value as YAML text (JSON is YAML, and kubectl reads
/// it with a YAML decoder).
fn any(out: &mut Vec<u8>, field: u32, value: &Value) {
    message(out, field, |any| string(any, 2, &value.to_string()));
}

/// One `openapi.v2.Schema`. Keys Swagger does not have are left out.
fn encode_schema(schema: &Value, out: &mut Vec<u8>) {
    let Value::Object(map) = schema else {
        return;
    };
    for (name, value) in map {
        match name.as_str() {
            "$ref" => string(out, 1, value.as_str().unwrap_or_default()),
            "format" => string(out, 2, value.as_str().unwrap_or_default()),
            "title" => string(out, 3, value.as_str().unwrap_or_default()),
            "description" => string(out, 4, value.as_str().unwrap_or_default()),
            "default" => any(out, 5, value),
            "multipleOf" => double(out, 6, value),
            "maximum" => double(out, 7, value),
            "exclusiveMaximum" => boolean(out, 8, value),
            "minimum" => double(out, 9, value),
            "exclusiveMinimum" => boolean(out, 10, value),
            "maxLength" => int64(out, 11, value),
            "minLength" => int64(out, 12, value),
            "pattern" => string(out, 13, value.as_str().unwrap_or_default()),
            "maxItems" => int64(out, 14, value),
            "minItems" => int64(out, 15, value),
            "uniqueItems" => boolean(out, 16, value),
            "maxProperties" => int64(out, 17, value),
            "minProperties" => int64(out, 18, value),
            "required" => {
                for field in value.as_array().into_iter().flatten() {
                    string(out, 19, field.as_str().unwrap_or_default());
                }
            }
            "enum" => {
                for item in value.as_array().into_iter().flatten() {
                    any(out, 20, item);
                }
            }
            // AdditionalPropertiesItem: a schema (1) or a boolean (2).
            "additionalProperties" => message(out, 21, |item| match value {
                Value::Bool(allowed) => {
                    key(item, 2, VARINT);
                    varint(item, u64::from(*allowed));
                }
                other => message(item, 1, |schema| encode_schema(other, schema)),
            }),
            // TypeItem: repeated string.
            "type" => message(out, 22, |item| match value {
                Value::Array(types) => {
                    for t in types {
                        string(item, 1, t.as_str().unwrap_or_default());
                    }
                }
                other => string(item, 1, other.as_str().unwrap_or_default()),
            }),
            // ItemsItem: repeated Schema.
            "items" => message(out, 23, |item| match value {
                Value::Array(schemas) => {
                    for child in schemas {
                        message(item, 1, |schema| encode_schema(child, schema));
                    }
                }
                other => message(item, 1, |schema| encode_schema(other, schema)),
            }),
            "allOf" => {
                for child in value.as_array().into_iter().flatten() {
                    message(out, 24, |schema| encode_schema(child, schema));
                }
            }
            // Properties: repeated NamedSchema.
            "properties" => message(out, 25, |properties| {
                for (field, child) in value.as_object().into_iter().flatten() {
                    message(properties, 1, |named| {
                        string(named, 1, field);
                        message(named, 2, |schema| encode_schema(child, schema));
                    });
                }
            }),
            "discriminator" => string(out, 26, value.as_str().unwrap_or_default()),
            "readOnly" => boolean(out, 27, value),
            "example" => any(out, 30, value),
            extension if extension.starts_with("x-") => {
                message(out, 31, |named| {
                    string(named, 1, extension);
                    any(named, 2, value);
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::widget_kind;

    fn schema() -> Schema {
        crate::schema::tests::schema().clone()
    }

    #[test]
    fn negotiation_follows_kube_openapi() {
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate(""), Some(Format::Json));
        assert_eq!(negotiate("*/*"), Some(Format::Json));
        assert_eq!(negotiate("application/json"), Some(Format::Json));
        assert_eq!(
            negotiate(
                "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            ),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate("application/yaml"), None);
        assert_eq!(
            negotiate("text/html, application/vnd.kubernetes.protobuf"),
            None
        );
    }

    /// The definitions as kube-openapi's `pkg/util/proto` parses them (it
    /// fails the whole document on one it cannot take): a `$ref` points into
    /// the definitions and has no type or properties; one type, a string;
    /// an array has exactly one item schema; nothing Swagger lacks.
    fn assert_parseable(name: &str, schema: &Value, definitions: &BTreeMap<String, Value>) {
        let Value::Object(map) = schema else {
            panic!("{name}: not an object");
        };
        for key in ["oneOf", "anyOf", "not", "nullable", "$defs"] {
            assert!(!map.contains_key(key), "{name}: {key}");
        }
        if let Some(reference) = map.get("$ref") {
            let target = reference
                .as_str()
                .and_then(|r| r.strip_prefix(DEFINITIONS_REF));
            assert!(
                target.is_some_and(|t| definitions.contains_key(t)),
                "{name}: dangling {reference}"
            );
            assert!(
                !map.contains_key("type") && !map.contains_key("properties"),
                "{name}"
            );
        }
        if let Some(t) = map.get("type") {
            let t = t.as_str().unwrap_or_else(|| panic!("{name}: type {t}"));
            assert!(
                ["object", "array", "string", "integer", "number", "boolean"].contains(&t),
                "{name}: type {t}"
            );
            if t == "array" {
                assert!(
                    map.get("items").is_some_and(Value::is_object),
                    "{name}: items"
                );
            }
        }
        if let Some(Value::Object(properties)) = map.get("properties") {
            for (field, child) in properties {
                assert_parseable(&format!("{name}.{field}"), child, definitions);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(child) = map.get(key).filter(|c| c.is_object()) {
                assert_parseable(&format!("{name}[{key}]"), child, definitions);
            }
        }
    }

    #[test]
    fn builtin_definitions_are_what_kubectl_parses() {
        let schema = schema();
        let definitions = builtin_definitions(&schema, &crate::kinds::builtin());
        for (name, definition) in &definitions {
            assert_parseable(name, definition, &definitions);
        }
        let config_map = &definitions[CONFIG_MAP];
        assert_eq!(
            config_map["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "ConfigMap"}])
        );
        assert_eq!(config_map["properties"]["kind"]["type"], "string");
        assert!(config_map["properties"]["kind"].get("enum").is_none());
        assert_eq!(
            config_map["properties"]["metadata"]["$ref"],
            format!("{DEFINITIONS_REF}{}", schema::OBJECT_META)
        );
        assert_eq!(
            definitions[INT_OR_STRING],
            json!({"type": "string", "format": "int-or-string"})
        );
        for reached in [
            "io.k8s.api.apps.v1.Deployment",
            "io.k8s.api.apps.v1.DeploymentList",
            "io.k8s.api.core.v1.PodSpec",
            "io.k8s.api.autoscaling.v1.Scale",
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
            schema::DELETE_OPTIONS,
            "io.k8s.apimachinery.pkg.version.Info",
        ] {
            assert!(definitions.contains_key(reached), "{reached}");
        }
        // Versions that are not served are not published.
        for unserved in [
            "io.k8s.api.coordination.v1beta1.LeaseCandidate",
            "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
        ] {
            assert!(!definitions.contains_key(unserved), "{unserved}");
        }
    }

    // The part of gnostic's OpenAPIv2.proto a reader of definitions needs.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Document {
        #[prost(string, tag = "1")]
        swagger: String,
        #[prost(message, optional, tag = "2")]
        info: Option<Info>,
        #[prost(message, optional, tag = "8")]
        paths: Option<Paths>,
        #[prost(message, optional, tag = "9")]
        definitions: Option<Definitions>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Info {
        #[prost(string, tag = "1")]
        title: String,
        #[prost(string, tag = "2")]
        version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Paths {}
    #[derive(Clone, PartialEq, prost::Message)]
    struct Definitions {
        #[prost(message, repeated, tag = "1")]
        additional_properties: Vec<NamedSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct NamedSchema {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(message, optional, tag = "2")]
        value: Option<PbSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct PbSchema {
        #[prost(string, tag = "1")]
        reference: String,
        #[prost(string, tag = "2")]
        format: String,
        #[prost(string, tag = "4")]
        description: String,
        #[prost(string, repeated, tag = "19")]
        required: Vec<String>,
        #[prost(message, repeated, tag = "20")]
        enumeration: Vec<Any>,
        #[prost(message, optional, tag = "21")]
        additional_properties: Option<AdditionalProperties>,
        #[prost(message, optional, tag = "22")]
        r#type: Option<TypeItem>,
        #[prost(message, optional, tag = "23")]
        items: Option<ItemsItem>,
        #[prost(message, optional, tag = "25")]
        properties: Option<Definitions>,
        #[prost(message, repeated, tag = "31")]
        vendor_extension: Vec<NamedAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct AdditionalProperties {
        #[prost(message, optional, tag = "1")]
        schema: Option<Box<PbSchema>>,
        #[prost(bool, tag = "2")]
        boolean: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct TypeItem {
        #[prost(string, repeated, tag = "1")]
        value: Vec<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ItemsItem {
        #[prost(message, repeated, tag = "1")]
        schema: Vec<PbSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct NamedAny {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(message, optional, tag = "2")]
        value: Option<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(string, tag = "2")]
        yaml: String,
    }

    #[test]
    fn the_protobuf_document_decodes_as_gnostic_reads_it() {
        use prost::Message as _;
        let mut schema = schema();
        schema.add_custom(
            "example.dev",
            "v1",
            "Widget",
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}),
        );
        let mut kinds = crate::kinds::builtin();
        kinds.push(widget_kind());
        let cache = Cache::default();
        let bytes = cache.document(&schema, &kinds, Format::Protobuf);
        let document = Document::decode(bytes.as_slice()).expect("a gnostic Document");
        assert_eq!(document.swagger, "2.0");
        assert_eq!(
            document.info.as_ref().map(|i| i.version.as_str()),
            Some("v1.37.0")
        );
        assert!(document.paths.is_some());
        let definitions = document
            .definitions
            .expect("definitions")
            .additional_properties;
        let find = |name: &str| {
            definitions
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.value.clone())
                .unwrap_or_else(|| panic!("{name}"))
        };
        let config_map = find(CONFIG_MAP);
        let gvk = config_map
            .vendor_extension
            .iter()
            .find(|e| e.name == "x-kubernetes-group-version-kind")
            .and_then(|e| e.value.clone())
            .expect("the GVK extension");
        let gvk: Value = serde_json::from_str(&gvk.yaml).expect("JSON, hence YAML");
        assert_eq!(
            gvk,
            json!([{"group": "", "version": "v1", "kind": "ConfigMap"}])
        );
        assert_eq!(
            config_map.r#type.map(|t| t.value),
            Some(vec!["object".to_owned()])
        );
        let fields = config_map
            .properties
            .expect("properties")
            .additional_properties;
        let data = fields
            .iter()
            .find(|f| f.name == "data")
            .and_then(|f| f.value.clone())
            .expect("data");
        let values = data
            .additional_properties
            .and_then(|a| a.schema)
            .and_then(|s| s.r#type)
            .map(|t| t.value);
        assert_eq!(values, Some(vec!["string".to_owned()]));
        let metadata = fields
            .iter()
            .find(|f| f.name == "metadata")
            .and_then(|f| f.value.clone());
        assert_eq!(
            metadata.map(|m| m.reference),
            Some(format!("{DEFINITIONS_REF}{}", schema::OBJECT_META))
        );
        let containers = find("io.k8s.api.core.v1.PodSpec")
            .properties
            .expect("properties")
            .additional_properties
            .into_iter()
            .find(|f| f.name == "containers")
            .and_then(|f| f.value)
            .expect("containers");
        assert_eq!(containers.items.map(|i| i.schema.len()), Some(1));
        assert!(
            find("io.k8s.api.apps.v1.DeploymentSpec")
                .required
                .contains(&"selector".to_owned())
        );
        let widget = find("dev.example.v1.Widget");
        assert!(
            widget
                .vendor_extension
                .iter()
                .any(|e| e.name == "x-kubernetes-group-version-kind")
        );
        find("dev.example.v1.WidgetList");

        // The JSON form says the same, and the built-in part is built once.
        let text = cache.document(&schema, &kinds, Format::Json);
        let json: Value = serde_json::from_slice(&text).expect("JSON");
        assert_eq!(json["swagger"], "2.0");
        assert_eq!(json["paths"], json!({}));
        assert_eq!(json["security"], json!([{"BearerToken": []}]));
        let names: Vec<&String> = json["definitions"]
            .as_object()
            .expect("definitions")
            .keys()
            .collect();
        assert_eq!(names.len(), definitions.len());
        assert!(json["definitions"]["dev.example.v1.Widget"].is_object());
        // Without the custom kind, its definitions go.
        let without = cache.document(&schema, &crate::kinds::builtin(), Format::Json);
        let without: Value = serde_json::from_slice(&without).expect("JSON");
        assert!(
            without["definitions"]
                .get("dev.example.v1.Widget")
                .is_none()
        );
        assert_eq!(
            without["definitions"].as_object().map(Map::len),
            Some(names.len() - 2)
        );
    }

    #[test]
    fn custom_kinds_are_published_as_the_real_server_publishes_them_in_v2() {
        let mut schema = schema();
        let crd = json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size", "note"],
                    "properties": {
                        "size": {"type": "integer", "default": 1, "minimum": 1},
                        "note": {"type": "string", "nullable": true},
                        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        });
        schema.add_custom("example.dev", "v1", "Widget", &crd);
        schema.add_custom("example.dev", "v1", "Loose", &Value::Null);
        let mut loose = widget_kind();
        loose.kind = "Loose".into();
        loose.plural = "looses".into();
        let definitions = custom_definitions(&schema, &[widget_kind(), loose]);
        let widget = &definitions["dev.example.v1.Widget"];
        let spec = &widget["properties"]["spec"];
        assert_eq!(
            spec["required"],
            json!(["size"]),
            "nullable fields are not required"
        );
        assert_eq!(
            spec["properties"]["size"],
            json!({"type": "integer", "minimum": 1}),
            "defaults pruned"
        );
        assert_eq!(spec["properties"]["note"], json!({}), "nullable: no type");
        assert_eq!(
            spec["properties"]["port"],
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            spec["properties"]["extra"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        let template = &spec["properties"]["template"];
        assert_eq!(template["required"], json!(["kind", "apiVersion"]));
        assert_eq!(
            template["properties"]["metadata"]["$ref"],
            format!("{DEFINITIONS_REF}{}", schema::OBJECT_META)
        );
        assert_eq!(
            spec["properties"]["tags"]["items"],
            json!({"type": "string"})
        );
        assert_eq!(widget["properties"]["apiVersion"]["type"], "string");
        assert!(widget["properties"]["kind"].get("enum").is_none());
        assert_eq!(
            widget["x-kubernetes-group-version-kind"],
            json!([{"group": "example.dev", "version": "v1", "kind": "Widget"}])
        );
        let list = &definitions["dev.example.v1.WidgetList"];
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            format!("{DEFINITIONS_REF}dev.example.v1.Widget")
        );
        assert!(list.get("x-kubernetes-group-version-kind").is_none());
        // A kind that preserves unknown fields is a bare object: kubectl
        // would refuse any field not declared.
        assert_eq!(
            definitions["dev.example.v1.Loose"],
            json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "example.dev", "version": "v1", "kind": "Loose"}]})
        );
    }
}
