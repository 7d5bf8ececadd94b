//! The Kubernetes type schema, driven by the real definitions of a release.
//!
//! The emulator loads the JSON Schema of every Kubernetes type (the
//! `_definitions.json` that PyPI `kubernetes-validate` ships, all types under
//! `"$defs"`), adds the schemas of custom resources as CustomResourceDefinitions
//! arrive, and answers four questions from them:
//!
//! - how to merge an object under server-side apply: [`Node`] walks a type in
//!   step with an object and tells list semantics (`x-kubernetes-list-type`,
//!   `x-kubernetes-list-map-keys`, or the older patch strategy and merge key),
//!   atomic maps and free-form fields;
//! - which fields of an object are unknown, for `fieldValidation=Strict`
//!   ([`Schema::unknown_fields`], with cheap type checks in
//!   [`Schema::check_fields`]);
//! - what `GET /openapi/v3` lists ([`Schema::openapi_index`]);
//! - what `GET /openapi/v3/apis/<group>/<version>` serves
//!   ([`Schema::openapi_document`]): paths with the operations kubectl looks
//!   for, and the reachable component schemas.
//!
//! `convert` also copies definitions into Swagger 2.0 form, for
//! `GET /openapi/v2` ([`crate::openapi_v2`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::kinds::ResourceKind;

pub(crate) const DEFS_REF: &str = "#/$defs/";
const COMPONENTS_REF: &str = "#/components/schemas/";
pub(crate) const SWAGGER_REF: &str = "#/definitions/";
pub(crate) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// Bump when the shape of the generated documents changes, so that document
/// hashes change with it.
const GENERATOR_VERSION: &str = "kube-sim openapi v3 generator 1";
/// How many `$ref` hops a node follows before giving up (cycles).
const MAX_REF_HOPS: usize = 32;

/// Why the definitions file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read the Kubernetes schema {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse the Kubernetes schema {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the Kubernetes schema {} has no \"$defs\" object of type definitions", path.display())]
    NoDefinitions { path: PathBuf },
}

/// (group, version, kind)
type Gvk = (String, String, String);

fn gvk(group: &str, version: &str, kind: &str) -> Gvk {
    (group.to_owned(), version.to_owned(), kind.to_owned())
}

/// The built-in definitions, shared by every clone of a [`Schema`].
struct Defs {
    types: HashMap<String, Value>,
    /// From `x-kubernetes-group-version-kind` to the definition's name.
    by_gvk: HashMap<Gvk, String>,
    /// Hash of the definitions file, part of every document hash.
    fingerprint: u64,
    /// `{}`: anything goes.
    any: Value,
    /// `{"type": "string"}`, for the implied `apiVersion` and `kind`.
    string: Value,
    /// A reference to ObjectMeta, for the implied `metadata`.
    object_meta: Value,
}

/// The type schema of all built-in kinds and of the custom kinds added so far.
///
/// Cloning is cheap: the built-in definitions sit behind an [`Arc`] and only
/// the custom schemas are copied (also behind `Arc`s), so a server can clone,
/// [`add_custom`](Schema::add_custom) and swap.
#[derive(Clone)]
pub struct Schema {
    defs: Arc<Defs>,
    /// The root schema of each custom kind, with `apiVersion`, `kind` and
    /// `metadata` filled in.
    custom: HashMap<Gvk, Arc<Value>>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("definitions", &self.defs.types.len())
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What strict field validation found in an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldReport {
    /// Fields the schema does not declare, e.g. `.spec.replicass`.
    pub unknown: Vec<String>,
    /// Values of the wrong JSON type, e.g. `.spec.replicas: expected integer,
    /// got string`. Only the JSON type is checked (not formats, enums, ranges
    /// or required fields); `null` is accepted everywhere.
    pub type_errors: Vec<String>,
}

impl Schema {
    /// Loads the definitions file. Error names the path.
    pub fn load(path: &Path) -> Result<Schema, SchemaError> {
        let bytes = std::fs::read(path).map_err(|source| SchemaError::Read {
            path: path.to_owned(),
            source,
        })?;
        let document: Value =
            serde_json::from_slice(&bytes).map_err(|source| SchemaError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let Value::Object(mut top) = document else {
            return Err(SchemaError::NoDefinitions {
                path: path.to_owned(),
            });
        };
        let Some(Value::Object(defs)) = top.remove("$defs") else {
            return Err(SchemaError::NoDefinitions {
                path: path.to_owned(),
            });
        };
        Ok(Schema::from_definitions(defs, fnv1a(FNV_OFFSET, &bytes)))
    }

    fn from_definitions(defs: Map<String, Value>, fingerprint: u64) -> Schema {
        let mut by_gvk = HashMap::new();
        for (name, def) in &defs {
            let Some(list) = def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            else {
                continue;
            };
            for entry in list {
                let part = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
                by_gvk
                    .entry(gvk(part("group"), part("version"), part("kind")))
                    .or_insert_with(|| name.clone());
            }
        }
        Schema {
            defs: Arc::new(Defs {
                types: defs.into_iter().collect(),
                by_gvk,
                fingerprint,
                any: json!({}),
                string: json!({"type": "string"}),
                object_meta: json!({ "$ref": format!("{DEFS_REF}{OBJECT_META}") }),
            }),
            custom: HashMap::new(),
        }
    }

    /// The type of a kind, by group/version/kind (group `""` for core).
    ///
    /// Custom kinds added with [`add_custom`](Schema::add_custom) are found
    /// too (they take precedence over a built-in of the same GVK).
    pub fn node_for(&self, group: &str, version: &str, kind: &str) -> Option<Node<'_>> {
        let key = gvk(group, version, kind);
        if let Some(root) = self.custom.get(&key) {
            return Some(Node {
                defs: &self.defs,
                site: root,
                custom: true,
            });
        }
        let name = self.defs.by_gvk.get(&key)?;
        Some(Node {
            defs: &self.defs,
            site: self.defs.types.get(name)?,
            custom: false,
        })
    }

    /// The name of the built-in definition of a kind, e.g.
    /// `io.k8s.api.core.v1.ConfigMap`.
    pub fn definition_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.defs
            .by_gvk
            .get(&gvk(group, version, kind))
            .map(String::as_str)
    }

    /// A built-in definition by its name, as the definitions file has it
    /// (`#/$defs/` references, nullable type arrays).
    pub(crate) fn builtin(&self, name: &str) -> Option<&Value> {
        self.defs.types.get(name)
    }

    /// The root schema of a custom kind (see [`add_custom`](Schema::add_custom)).
    pub(crate) fn custom(&self, group: &str, version: &str, kind: &str) -> Option<&Value> {
        self.custom
            .get(&gvk(group, version, kind))
            .map(|root| root.as_ref())
    }

    /// Adds (or replaces) a custom resource's schema from a CRD version's
    /// `schema.openAPIV3Schema`. `apiVersion`, `kind` and `metadata` are
    /// implied (`metadata` is always ObjectMeta). A missing or non-object
    /// schema means an object that preserves unknown fields.
    pub fn add_custom(
        &mut self,
        group: &str,
        version: &str,
        kind: &str,
        open_api_v3_schema: &serde_json::Value,
    ) {
        let root = custom_root(group, version, kind, open_api_v3_schema);
        self.custom
            .insert(gvk(group, version, kind), Arc::new(root));
    }

    pub fn remove_custom(&mut self, group: &str, version: &str, kind: &str) {
        self.custom.remove(&gvk(group, version, kind));
    }

    /// Strict field validation: every field of `object` not declared in the
    /// schema, as paths like `.spec.template.spec.containers[0].imagePullPolicyy`.
    ///
    /// Keys of maps (`additionalProperties`, e.g. `.data.x`) are data, never
    /// unknown. The walk follows properties, items, additionalProperties and
    /// `$ref`s; below `x-kubernetes-preserve-unknown-fields` and untyped or
    /// free-form fields (RawExtension, FieldsV1, JSON) undeclared fields are
    /// accepted, while declared ones are still checked. Values of the wrong
    /// JSON type are not descended into; see [`check_fields`](Schema::check_fields)
    /// for the type errors. An unknown kind yields nothing.
    pub fn unknown_fields(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        object: &serde_json::Value,
    ) -> Vec<String> {
        self.check_fields(group, version, kind, object).unknown
    }

    /// [`unknown_fields`](Schema::unknown_fields) and JSON type errors in one
    /// walk.
    pub fn check_fields(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        object: &serde_json::Value,
    ) -> FieldReport {
        let mut report = FieldReport::default();
        if let Some(node) = self.node_for(group, version, kind) {
            let mut path = String::new();
            check(node, object, &mut path, &mut report);
        }
        report
    }

    /// The OpenAPI v3 discovery index served at `GET /openapi/v3`, for the
    /// given served kinds: `{"paths": {"api/v1": {"serverRelativeURL":
    /// "/openapi/v3/api/v1?hash=<HEX>"}, ...}}`.
    ///
    /// The hash is computed from everything a document is generated from (the
    /// definitions file, the group-version's kinds and their custom schemas),
    /// so it changes whenever the document does, without building it.
    pub fn openapi_index(&self, kinds: &[ResourceKind]) -> serde_json::Value {
        let mut groups: BTreeMap<String, Vec<&ResourceKind>> = BTreeMap::new();
        for kind in kinds {
            groups
                .entry(kind.group_version_path())
                .or_default()
                .push(kind);
        }
        let paths: Map<String, Value> = groups
            .into_iter()
            .map(|(gv_path, members)| {
                let hash = self.document_hash(&gv_path, &members);
                let url = format!("/openapi/v3/{gv_path}?hash={hash}");
                (gv_path, json!({ "serverRelativeURL": url }))
            })
            .collect();
        json!({ "paths": paths })
    }

    /// The hash [`openapi_index`](Schema::openapi_index) puts in the URL of
    /// one group-version's document, or None if no served kind has it.
    pub fn openapi_hash(&self, gv_path: &str, kinds: &[ResourceKind]) -> Option<String> {
        let members = members_of(gv_path, kinds);
        if members.is_empty() {
            return None;
        }
        Some(self.document_hash(gv_path, &members))
    }

    fn document_hash(&self, gv_path: &str, members: &[&ResourceKind]) -> String {
        let mut hash = fnv1a(FNV_OFFSET, &self.defs.fingerprint.to_le_bytes());
        let mut add = |text: &str| {
            hash = fnv1a(hash, text.as_bytes());
            hash = fnv1a(hash, &[0]);
        };
        add(GENERATOR_VERSION);
        add(gv_path);
        for kind in members {
            add(&kind.group);
            add(&kind.version);
            add(&kind.kind);
            add(&kind.plural);
            add(if kind.namespaced {
                "namespaced"
            } else {
                "cluster"
            });
            add(if kind.status { "status" } else { "-" });
            add(if kind.custom { "custom" } else { "builtin" });
            match self
                .custom
                .get(&gvk(&kind.group, &kind.version, &kind.kind))
            {
                Some(root) => add(&root.to_string()),
                None => add("-"),
            }
        }
        format!("{hash:016X}")
    }

    /// The OpenAPI v3 document of one group-version (`gv_path` is `api/v1` or
    /// `apis/apps/v1`), or None if no served kind has it.
    ///
    /// For each kind: the item path (get, put, patch, delete), the collection
    /// path (list, post, deletecollection), the all-namespaces list path of a
    /// namespaced kind and the `/status` path when the kind has one. Every
    /// operation carries `x-kubernetes-group-version-kind` and
    /// `x-kubernetes-action`; writes take `dryRun`, `fieldManager` and
    /// `fieldValidation`, patches also `force`. `components.schemas` holds the
    /// kinds, their lists and everything they reference, with `$ref`s rewritten
    /// to `#/components/schemas/NAME` and nullable type arrays
    /// (`["string", "null"]`) collapsed to one type.
    pub fn openapi_document(
        &self,
        gv_path: &str,
        kinds: &[ResourceKind],
    ) -> Option<serde_json::Value> {
        let members = members_of(gv_path, kinds);
        if members.is_empty() {
            return None;
        }
        let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
        let mut pending: Vec<String> = vec![
            DELETE_OPTIONS.to_owned(),
            STATUS.to_owned(),
            PATCH.to_owned(),
        ];
        let mut paths = Map::new();
        for kind in &members {
            let (kind_schema, list_schema) = self.kind_schemas(kind, &mut schemas, &mut pending);
            kind_paths(kind, &kind_schema, &list_schema, &mut paths);
        }
        while let Some(name) = pending.pop() {
            if schemas.contains_key(&name) {
                continue;
            }
            let Some(def) = self.defs.types.get(&name) else {
                continue;
            };
            let mut converted = to_openapi(def, &mut pending);
            if converted.get("x-kubernetes-group-version-kind").is_some() {
                strip_type_meta_enums(&mut converted);
            }
            schemas.insert(name, converted);
        }
        Some(json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.37.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        }))
    }

    /// Puts the component schemas of a kind and of its list into `schemas`
    /// (built-in ones by queueing their names in `pending`) and returns their
    /// names.
    fn kind_schemas(
        &self,
        kind: &ResourceKind,
        schemas: &mut BTreeMap<String, Value>,
        pending: &mut Vec<String>,
    ) -> (String, String) {
        let key = gvk(&kind.group, &kind.version, &kind.kind);
        let list_kind = format!("{}List", kind.kind);
        let builtin = !self.custom.contains_key(&key) && !kind.custom;
        if builtin && let Some(name) = self.defs.by_gvk.get(&key) {
            pending.push(name.clone());
            let list_name = match self
                .defs
                .by_gvk
                .get(&gvk(&kind.group, &kind.version, &list_kind))
            {
                Some(list_name) => {
                    pending.push(list_name.clone());
                    list_name.clone()
                }
                None => {
                    let list_name = format!("{name}List");
                    schemas.insert(list_name.clone(), list_schema(kind, &list_kind, name));
                    pending.push(LIST_META.to_owned());
                    list_name
                }
            };
            return (name.clone(), list_name);
        }
        let name = format!(
            "{}.{}.{}",
            reverse_domain(&kind.group),
            kind.version,
            kind.kind
        );
        let root = match self.custom.get(&key) {
            Some(root) => to_openapi(root, pending),
            None => to_openapi(
                &custom_root(&kind.group, &kind.version, &kind.kind, &Value::Null),
                pending,
            ),
        };
        schemas.insert(name.clone(), root);
        let list_name = format!("{name}List");
        schemas.insert(list_name.clone(), list_schema(kind, &list_kind, &name));
        pending.push(LIST_META.to_owned());
        (name, list_name)
    }
}

fn members_of<'k>(gv_path: &str, kinds: &'k [ResourceKind]) -> Vec<&'k ResourceKind> {
    kinds
        .iter()
        .filter(|kind| kind.group_version_path() == gv_path)
        .collect()
}

/// `example.dev` → `dev.example`, the prefix of a custom kind's schema name.
pub(crate) fn reverse_domain(group: &str) -> String {
    if group.is_empty() {
        return "io.k8s.api.core".to_owned();
    }
    group.rsplit('.').collect::<Vec<_>>().join(".")
}

/// The root schema of a custom kind: the CRD's schema with `apiVersion`,
/// `kind` (unless declared) and `metadata` (always ObjectMeta) filled in.
fn custom_root(group: &str, version: &str, kind: &str, schema: &Value) -> Value {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        _ => {
            let mut map = Map::new();
            map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            map
        }
    };
    root.entry("type").or_insert_with(|| "object".into());
    let properties = root
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !properties.is_object() {
        *properties = Value::Object(Map::new());
    }
    if let Value::Object(properties) = properties {
        properties.entry("apiVersion").or_insert_with(|| {
            json!({
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            })
        });
        properties.entry("kind").or_insert_with(|| {
            json!({
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            })
        });
        properties.insert(
            "metadata".into(),
            json!({
                "$ref": format!("{DEFS_REF}{OBJECT_META}"),
                "description": "Standard object's metadata.",
            }),
        );
    }
    root.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": group, "version": version, "kind": kind}]),
    );
    Value::Object(root)
}

/// A synthesised `<Kind>List` schema, for kinds the definitions lack one of.
fn list_schema(kind: &ResourceKind, list_kind: &str, item_schema: &str) -> Value {
    json!({
        "description": format!("{list_kind} is a list of {}.", kind.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {
                "type": "array",
                "items": {"$ref": format!("{COMPONENTS_REF}{item_schema}")},
            },
            "metadata": {"$ref": format!("{COMPONENTS_REF}{LIST_META}")},
        },
        "x-kubernetes-group-version-kind": [
            {"group": kind.group, "version": kind.version, "kind": list_kind}
        ],
    })
}

/// The form a definition is copied into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// OpenAPI 3.0 components (`/openapi/v3/...`).
    OpenApiV3,
    /// Swagger 2.0 definitions (`/openapi/v2`).
    Swagger,
}

/// Copies a schema into OpenAPI v3 form (see [`convert`]).
fn to_openapi(schema: &Value, refs: &mut Vec<String>) -> Value {
    convert(schema, refs, Dialect::OpenApiV3)
}

/// Copies a schema into `dialect`'s form: `#/$defs/` references become
/// `#/components/schemas/` or `#/definitions/` ones (their names are pushed
/// to `refs`), and `["T", "null"]` types become `"T"`. Only schema positions
/// are rewritten; values such as `default`, `example` and `enum` are copied
/// unchanged. Swagger loses the keywords it lacks (`oneOf`, `anyOf`, `not`,
/// `nullable`, `patternProperties`, ...); OpenAPI v3 wraps a `$ref` that
/// has siblings in `allOf`.
pub(crate) fn convert(schema: &Value, refs: &mut Vec<String>, dialect: Dialect) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let prefix = match dialect {
        Dialect::OpenApiV3 => COMPONENTS_REF,
        Dialect::Swagger => SWAGGER_REF,
    };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "oneOf" | "anyOf" | "not" | "nullable" | "patternProperties" | "definitions"
            | "dependencies" | "additionalItems"
                if dialect == Dialect::Swagger =>
            {
                continue;
            }
            "$ref" => match value.as_str().and_then(|r| r.strip_prefix(DEFS_REF)) {
                Some(name) => {
                    refs.push(name.to_owned());
                    Value::String(format!("{prefix}{name}"))
                }
                None => value.clone(),
            },
            "type" => normalize_type(value),
            "properties" | "patternProperties" | "definitions" | "dependencies" => match value {
                Value::Object(children) => Value::Object(
                    children
                        .iter()
                        .map(|(name, child)| (name.clone(), convert(child, refs, dialect)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "additionalItems" | "not" => match value {
                Value::Array(list) => Value::Array(
                    list.iter()
                        .map(|child| convert(child, refs, dialect))
                        .collect(),
                ),
                other => convert(other, refs, dialect),
            },
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(list) => Value::Array(
                    list.iter()
                        .map(|child| convert(child, refs, dialect))
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    // OpenAPI 3.0 ignores the siblings of a `$ref` (a field's description);
    // Kubernetes wraps such references in `allOf`, and so does this. Swagger
    // keeps them side by side, as the real v2 document does.
    if dialect == Dialect::OpenApiV3
        && out.len() > 1
        && let Some(reference) = out.remove("$ref")
    {
        let mut all_of = vec![json!({ "$ref": reference })];
        if let Some(Value::Array(others)) = out.remove("allOf") {
            all_of.extend(others);
        }
        out.insert("allOf".into(), Value::Array(all_of));
    }
    Value::Object(out)
}

/// `["string", "null"]` → `"string"`; other shapes unchanged.
pub(crate) fn normalize_type(value: &Value) -> Value {
    let Value::Array(list) = value else {
        return value.clone();
    };
    let named: Vec<&Value> = list.iter().filter(|t| t.as_str() != Some("null")).collect();
    match named.as_slice() {
        [only] => (*only).clone(),
        _ => value.clone(),
    }
}

/// Real documents have no `enum` on a kind's `apiVersion` and `kind`
/// (`kubernetes-validate` adds them).
pub(crate) fn strip_type_meta_enums(def: &mut Value) {
    for field in ["apiVersion", "kind"] {
        if let Some(Value::Object(property)) = def.pointer_mut(&format!("/properties/{field}")) {
            property.remove("enum");
        }
    }
}

// ---------------------------------------------------------------------------
// Paths of the OpenAPI v3 documents.

/// `networking.k8s.io` → `Networking`, `rbac.authorization.k8s.io` →
/// `RbacAuthorization`, `` → `Core`, `example.dev` → `ExampleDev`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_owned();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed.split(['.', '-']).map(capitalize).collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn query_param(name: &str, description: &str, kind: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": kind, "uniqueItems": true},
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn pretty() -> Value {
    query_param(
        "pretty",
        "If 'true', then the output is pretty printed.",
        "string",
    )
}

fn dry_run() -> Value {
    query_param(
        "dryRun",
        "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

fn field_manager() -> Value {
    query_param(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
        "string",
    )
}

fn field_validation() -> Value {
    query_param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn and Strict.",
        "string",
    )
}

fn force() -> Value {
    query_param(
        "force",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        "boolean",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query_param(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
            "boolean",
        ),
        query_param(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        ),
        query_param(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields.",
            "string",
        ),
        query_param(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels.",
            "string",
        ),
        query_param(
            "limit",
            "limit is a maximum number of responses to return for a list call.",
            "integer",
        ),
        query_param(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        ),
        query_param(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
            "string",
        ),
        query_param(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
            "boolean",
        ),
        query_param(
            "timeoutSeconds",
            "Timeout for the list/watch call.",
            "integer",
        ),
        query_param(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        query_param(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted.",
            "integer",
        ),
        query_param(
            "orphanDependents",
            "Deprecated: please use the PropagationPolicy.",
            "boolean",
        ),
        query_param(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Foreground' and 'Background'.",
            "string",
        ),
    ]
}

fn content(schema: &str) -> Value {
    let reference = json!({"schema": {"$ref": format!("{COMPONENTS_REF}{schema}")}});
    json!({
        "application/json": reference,
        "application/yaml": reference,
    })
}

fn responses(codes: &[&str], schema: &str) -> Value {
    let mut out = Map::new();
    for code in codes {
        let description = match *code {
            "200" => "OK",
            "201" => "Created",
            "202" => "Accepted",
            _ => "",
        };
        out.insert(
            (*code).to_owned(),
            json!({"description": description, "content": content(schema)}),
        );
    }
    out.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(out)
}

/// Everything one operation needs besides the kind.
struct Op<'a> {
    verb: &'a str,
    action: &'a str,
    /// Between the kind's camel-cased GV and its kind, e.g. `Namespaced`.
    scope: &'a str,
    /// After the kind, e.g. `Status` or `ForAllNamespaces`.
    suffix: &'a str,
    description: String,
    parameters: Vec<Value>,
    request_body: Option<Value>,
    responses: Value,
}

fn operation(kind: &ResourceKind, op: Op<'_>) -> Value {
    let group = group_camel(&kind.group);
    let version = capitalize(&kind.version);
    let tag = {
        let mut camel = group.clone();
        if let Some(first) = camel.get(..1) {
            camel.replace_range(..1, &first.to_lowercase());
        }
        format!("{camel}_{}", kind.version)
    };
    let mut out = json!({
        "tags": [tag],
        "description": op.description,
        "operationId": format!(
            "{}{group}{version}{}{}{}",
            op.verb, op.scope, kind.kind, op.suffix
        ),
        "parameters": op.parameters,
        "responses": op.responses,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {
            "group": kind.group,
            "version": kind.version,
            "kind": kind.kind,
        },
    });
    if let (Some(body), Value::Object(map)) = (op.request_body, &mut out) {
        map.insert("requestBody".into(), body);
    }
    out
}

fn body(schema: &str) -> Value {
    json!({"content": {"*/*": {"schema": {"$ref": format!("{COMPONENTS_REF}{schema}")}}}, "required": true})
}

fn patch_body(custom: bool) -> Value {
    let reference = json!({"schema": {"$ref": format!("{COMPONENTS_REF}{PATCH}")}});
    let mut types = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !custom {
        types.push("application/strategic-merge-patch+json");
    }
    let content: Map<String, Value> = types
        .into_iter()
        .map(|t| (t.to_owned(), reference.clone()))
        .collect();
    json!({"content": content, "required": true})
}

/// The item operations (get, put, patch, optionally delete) of a kind or of
/// its status subresource.
fn item_operations(
    kind: &ResourceKind,
    schema: &str,
    scope: &str,
    status: bool,
) -> Map<String, Value> {
    let suffix = if status { "Status" } else { "" };
    let what = if status {
        format!("status of the specified {}", kind.kind)
    } else {
        format!("the specified {}", kind.kind)
    };
    let mut ops = Map::new();
    ops.insert(
        "get".into(),
        operation(
            kind,
            Op {
                verb: "read",
                action: "get",
                scope,
                suffix,
                description: format!("read {what}"),
                parameters: vec![],
                request_body: None,
                responses: responses(&["200"], schema),
            },
        ),
    );
    ops.insert(
        "put".into(),
        operation(
            kind,
            Op {
                verb: "replace",
                action: "put",
                scope,
                suffix,
                description: format!("replace {what}"),
                parameters: vec![dry_run(), field_manager(), field_validation()],
                request_body: Some(body(schema)),
                responses: responses(&["200", "201"], schema),
            },
        ),
    );
    ops.insert(
        "patch".into(),
        operation(
            kind,
            Op {
                verb: "patch",
                action: "patch",
                scope,
                suffix,
                description: format!("partially update {what}"),
                parameters: vec![dry_run(), field_manager(), field_validation(), force()],
                request_body: Some(patch_body(kind.custom)),
                responses: responses(&["200", "201"], schema),
            },
        ),
    );
    if !status {
        ops.insert(
            "delete".into(),
            operation(
                kind,
                Op {
                    verb: "delete",
                    action: "delete",
                    scope,
                    suffix,
                    description: format!("delete {what}"),
                    parameters: delete_params(),
                    request_body: Some(body(DELETE_OPTIONS)),
                    responses: responses(&["200", "202"], STATUS),
                },
            ),
        );
    }
    ops
}

fn kind_paths(kind: &ResourceKind, schema: &str, list: &str, paths: &mut Map<String, Value>) {
    let prefix = format!("/{}", kind.group_version_path());
    let (collection, scope) = if kind.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural),
            "Namespaced",
        )
    } else {
        (format!("{prefix}/{}", kind.plural), "")
    };
    let item = format!("{collection}/{{name}}");
    let mut item_params = vec![path_param("name", &format!("name of the {}", kind.kind))];
    let mut collection_params = vec![];
    if kind.namespaced {
        let namespace = path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        );
        item_params.push(namespace.clone());
        collection_params.push(namespace);
    }
    item_params.push(pretty());
    collection_params.push(pretty());

    let mut item_path = item_operations(kind, schema, scope, false);
    item_path.insert("parameters".into(), Value::Array(item_params.clone()));
    paths.insert(item.clone(), Value::Object(item_path));

    if kind.status {
        let mut status_path = item_operations(kind, schema, scope, true);
        status_path.insert("parameters".into(), Value::Array(item_params));
        paths.insert(format!("{item}/status"), Value::Object(status_path));
    }

    let mut collection_path = Map::new();
    collection_path.insert(
        "get".into(),
        operation(
            kind,
            Op {
                verb: "list",
                action: "list",
                scope,
                suffix: "",
                description: format!("list or watch objects of kind {}", kind.kind),
                parameters: list_params(),
                request_body: None,
                responses: responses(&["200"], list),
            },
        ),
    );
    collection_path.insert(
        "post".into(),
        operation(
            kind,
            Op {
                verb: "create",
                action: "post",
                scope,
                suffix: "",
                description: format!("create a {}", kind.kind),
                parameters: vec![dry_run(), field_manager(), field_validation()],
                request_body: Some(body(schema)),
                responses: responses(&["200", "201", "202"], schema),
            },
        ),
    );
    let mut deletecollection_params = delete_params();
    deletecollection_params.extend(list_params());
    collection_path.insert(
        "delete".into(),
        operation(
            kind,
            Op {
                verb: "deletecollection",
                action: "deletecollection",
                scope: if kind.namespaced {
                    "CollectionNamespaced"
                } else {
                    "Collection"
                },
                suffix: "",
                description: format!("delete collection of {}", kind.kind),
                parameters: deletecollection_params,
                request_body: Some(body(DELETE_OPTIONS)),
                responses: responses(&["200"], STATUS),
            },
        ),
    );
    collection_path.insert("parameters".into(), Value::Array(collection_params));
    paths.insert(collection, Value::Object(collection_path));

    if kind.namespaced {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            operation(
                kind,
                Op {
                    verb: "list",
                    action: "list",
                    scope: "",
                    suffix: "ForAllNamespaces",
                    description: format!("list or watch objects of kind {}", kind.kind),
                    parameters: list_params(),
                    request_body: None,
                    responses: responses(&["200"], list),
                },
            ),
        );
        all.insert("parameters".into(), Value::Array(vec![pretty()]));
        paths.insert(format!("{prefix}/{}", kind.plural), Value::Object(all));
    }
}

// ---------------------------------------------------------------------------
// Nodes.

/// A position in a type, for walking objects in step with their schema (used
/// by server-side apply merging).
///
/// A node is the schema at a site (a property, an `items`, an
/// `additionalProperties`), with its `$ref`s followed on demand. Markers on
/// the site win over those of the referenced definition (e.g. a property
/// marked `x-kubernetes-map-type: granular` pointing at an atomic type).
#[derive(Clone, Copy)]
pub struct Node<'s> {
    defs: &'s Defs,
    site: &'s Value,
    /// Inside a custom resource's schema (not yet through a `$ref` into the
    /// built-in definitions): an object type without fields is then an empty
    /// object, not a free-form one.
    custom: bool,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (target, _) = self.target();
        let mut debug = f.debug_struct("Node");
        if let Some(reference) = self.site.get("$ref") {
            debug.field("ref", reference);
        }
        debug
            .field("type", target.get("type").unwrap_or(&Value::Null))
            .field("custom", &self.custom)
            .finish()
    }
}

/// The definition name a schema refers to, if it is a reference (`$ref`, or
/// an `allOf` of a single `$ref`).
fn ref_name(schema: &Value) -> Option<&str> {
    if let Some(reference) = schema.get("$ref") {
        return strip_ref(reference);
    }
    if schema.get("properties").is_none()
        && let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        && let Some(reference) = only.get("$ref")
    {
        return strip_ref(reference);
    }
    None
}

fn strip_ref(reference: &Value) -> Option<&str> {
    let reference = reference.as_str()?;
    reference
        .strip_prefix(DEFS_REF)
        .or_else(|| reference.strip_prefix(COMPONENTS_REF))
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

impl<'s> Node<'s> {
    fn at(&self, site: &'s Value, custom: bool) -> Node<'s> {
        Node {
            defs: self.defs,
            site,
            custom,
        }
    }

    /// The schema after following references, and whether it is still inside
    /// a custom resource's schema. A dangling or cyclic reference is untyped.
    fn target(&self) -> (&'s Value, bool) {
        let mut schema = self.site;
        let mut custom = self.custom;
        for _ in 0..MAX_REF_HOPS {
            let Some(name) = ref_name(schema) else {
                return (schema, custom);
            };
            schema = self.defs.types.get(name).unwrap_or(&self.defs.any);
            custom = false;
        }
        (&self.defs.any, false)
    }

    /// A marker of the site, else of the referenced definition.
    fn marker(&self, key: &str) -> Option<&'s Value> {
        self.site.get(key).or_else(|| self.target().0.get(key))
    }

    /// A property, or the additionalProperties type of a map. The implied
    /// `apiVersion`, `kind` and `metadata` of an
    /// `x-kubernetes-embedded-resource` are found too.
    pub fn field(&self, name: &str) -> Option<Node<'s>> {
        let (target, custom) = self.target();
        if let Some(property) = target.get("properties").and_then(|p| p.get(name)) {
            return Some(self.at(property, custom));
        }
        if flag(target, "x-kubernetes-embedded-resource") {
            match name {
                "apiVersion" | "kind" => return Some(self.at(&self.defs.string, false)),
                "metadata" => return Some(self.at(&self.defs.object_meta, false)),
                _ => {}
            }
        }
        match target.get("additionalProperties") {
            Some(additional @ Value::Object(_)) => Some(self.at(additional, custom)),
            Some(Value::Bool(true)) => Some(self.at(&self.defs.any, false)),
            _ => None,
        }
    }

    /// The element type of a list.
    pub fn items(&self) -> Option<Node<'s>> {
        let (target, custom) = self.target();
        match target.get("items") {
            Some(items @ Value::Object(_)) => Some(self.at(items, custom)),
            Some(Value::Bool(true)) => Some(self.at(&self.defs.any, false)),
            _ => None,
        }
    }

    /// How a list merges: `x-kubernetes-list-type` (with
    /// `x-kubernetes-list-map-keys`), else the older
    /// `x-kubernetes-patch-strategy: merge` (keyed by
    /// `x-kubernetes-patch-merge-key`, a set without one), else atomic.
    pub fn list_type(&self) -> ListType {
        let merge_key = || {
            let strategy = self.marker("x-kubernetes-patch-strategy")?.as_str()?;
            if !strategy.split(',').any(|s| s.trim() == "merge") {
                return None;
            }
            Some(match self.marker("x-kubernetes-patch-merge-key") {
                Some(Value::String(key)) => ListType::Map {
                    keys: vec![key.clone()],
                },
                _ => ListType::Set,
            })
        };
        match self
            .marker("x-kubernetes-list-type")
            .and_then(Value::as_str)
        {
            Some("set") => ListType::Set,
            Some("map") => {
                let keys: Vec<String> = self
                    .marker("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                if keys.is_empty() {
                    match merge_key() {
                        Some(keyed @ ListType::Map { .. }) => keyed,
                        _ => ListType::Atomic,
                    }
                } else {
                    ListType::Map { keys }
                }
            }
            Some(_) => ListType::Atomic,
            None => merge_key().unwrap_or(ListType::Atomic),
        }
    }

    /// `x-kubernetes-map-type: atomic`: the struct or map is replaced whole.
    pub fn map_type_atomic(&self) -> bool {
        self.marker("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    /// Anything may appear here that the schema does not declare:
    /// `x-kubernetes-preserve-unknown-fields: true`, an untyped schema (e.g.
    /// `apiextensions.k8s.io/v1` JSON), or a built-in object type that
    /// declares no fields (RawExtension, FieldsV1). Declared fields still have
    /// their types.
    pub fn preserves_unknown(&self) -> bool {
        if self
            .marker("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return true;
        }
        let (target, custom) = self.target();
        if matches!(target, Value::Bool(true)) {
            return true;
        }
        if target.get("properties").is_some() || target.get("additionalProperties").is_some() {
            return false;
        }
        match allowed_types(target) {
            None => true,
            Some(types) => types == OBJECT && !custom,
        }
    }

    /// An additionalProperties map (keys are data, not field names).
    pub fn is_map(&self) -> bool {
        let (target, _) = self.target();
        target.get("properties").is_none()
            && matches!(
                target.get("additionalProperties"),
                Some(Value::Object(_) | Value::Bool(true))
            )
    }

    /// Declares a list (JSON array).
    pub fn is_list(&self) -> bool {
        allowed_types(self.target().0).is_some_and(|types| types & ARRAY != 0)
    }

    /// A struct: an object with named properties.
    pub fn is_struct(&self) -> bool {
        self.target().0.get("properties").is_some()
    }

    /// The schema at this position as it appears in the definitions (before
    /// following `$ref`s).
    pub fn raw(&self) -> &'s Value {
        self.site
    }

    /// The schema after following `$ref`s.
    pub(crate) fn resolved(&self) -> &'s Value {
        self.target().0
    }

    /// Inside a custom resource's own schema (not a built-in definition).
    pub(crate) fn in_custom(&self) -> bool {
        self.target().1
    }

    /// The built-in definition this position refers to (the last `$ref`
    /// followed), e.g. `io.k8s.api.core.v1.Container`.
    pub(crate) fn definition(&self) -> Option<&'s str> {
        let mut schema = self.site;
        let mut name = None;
        for _ in 0..MAX_REF_HOPS {
            let Some(next) = ref_name(schema) else {
                break;
            };
            let Some((key, def)) = self.defs.types.get_key_value(next) else {
                break;
            };
            name = Some(key.as_str());
            schema = def;
        }
        name
    }

    /// The JSON types allowed here (a bit set of [`STRING`] ...), or None
    /// for any.
    pub(crate) fn types(&self) -> Option<u8> {
        allowed_types(self.target().0)
    }
}

/// How a list merges under server-side apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole.
    Atomic,
    /// Items are scalars, merged as a set.
    Set,
    /// Items are objects identified by these fields.
    Map { keys: Vec<String> },
}

// ---------------------------------------------------------------------------
// Field validation.

pub(crate) const STRING: u8 = 1;
pub(crate) const INTEGER: u8 = 2;
pub(crate) const NUMBER: u8 = 4;
pub(crate) const BOOLEAN: u8 = 8;
pub(crate) const OBJECT: u8 = 16;
pub(crate) const ARRAY: u8 = 32;

fn type_bit(name: &str) -> u8 {
    match name {
        "string" => STRING,
        "integer" => INTEGER,
        "number" => NUMBER,
        "boolean" => BOOLEAN,
        "object" => OBJECT,
        "array" => ARRAY,
        _ => 0,
    }
}

/// The JSON types a schema allows (a bit set), or None for any.
fn allowed_types(schema: &Value) -> Option<u8> {
    if flag(schema, "x-kubernetes-int-or-string")
        || schema.get("format").and_then(Value::as_str) == Some("int-or-string")
    {
        return Some(STRING | INTEGER);
    }
    let bits = match schema.get("type") {
        Some(Value::String(name)) => type_bit(name),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .fold(0, |bits, name| bits | type_bit(name)),
        _ => {
            let alternatives = schema
                .get("oneOf")
                .or_else(|| schema.get("anyOf"))
                .and_then(Value::as_array)?;
            let mut bits = 0;
            for alternative in alternatives {
                bits |= allowed_types(alternative)?;
            }
            bits
        }
    };
    (bits != 0).then_some(bits)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn fits(types: u8, value: &Value) -> bool {
    let needed = match value {
        Value::Null => return true,
        Value::Bool(_) => BOOLEAN,
        Value::Number(n) => {
            let whole = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if whole { INTEGER | NUMBER } else { NUMBER }
        }
        Value::String(_) => STRING,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
    };
    types & needed != 0
}

fn type_names(types: u8) -> String {
    let names: Vec<&str> = [
        (STRING, "string"),
        (INTEGER, "integer"),
        (NUMBER, "number"),
        (BOOLEAN, "boolean"),
        (OBJECT, "object"),
        (ARRAY, "array"),
    ]
    .into_iter()
    .filter(|(bit, _)| types & bit != 0)
    .map(|(_, name)| name)
    .collect();
    names.join(" or ")
}

fn check(node: Node<'_>, value: &Value, path: &mut String, report: &mut FieldReport) {
    let (target, _) = node.target();
    if let Some(types) = allowed_types(target)
        && !fits(types, value)
    {
        let at = if path.is_empty() { "." } else { path.as_str() };
        report.type_errors.push(format!(
            "{at}: expected {}, got {}",
            type_names(types),
            json_type(value)
        ));
        return;
    }
    match value {
        Value::Object(fields) => {
            let free = node.preserves_unknown();
            for (name, child) in fields {
                let len = path.len();
                path.push('.');
                path.push_str(name);
                match node.field(name) {
                    Some(child_node) => check(child_node, child, path, report),
                    None if free => {}
                    None => report.unknown.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items() {
                for (index, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{index}]"));
                    check(item_node, item, path, report);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Hashing (FNV-1a, 64 bits): stable across runs and Rust versions.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kinds::builtin;
    use std::sync::OnceLock;

    fn definitions_path() -> PathBuf {
        let relative = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/kubernetes-v1.37.0-definitions.json");
        if relative.exists() {
            relative
        } else {
            PathBuf::from("/work/main/.tools/kubernetes-v1.37.0-definitions.json")
        }
    }

    pub(crate) fn schema() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| Schema::load(&definitions_path()).expect("definitions load"))
    }

    fn walk<'s>(node: Node<'s>, path: &[&str]) -> Node<'s> {
        path.iter().fold(node, |node, step| {
            if *step == "[]" {
                node.items().expect("a list")
            } else {
                node.field(step)
                    .unwrap_or_else(|| panic!("no field {step}"))
            }
        })
    }

    /// The report with both lists sorted, so that tests do not depend on the
    /// order of object keys.
    fn checked(
        schema: &Schema,
        group: &str,
        version: &str,
        kind: &str,
        object: &Value,
    ) -> FieldReport {
        let mut report = schema.check_fields(group, version, kind, object);
        report.unknown.sort();
        report.type_errors.sort();
        report
    }

    fn map_keys(keys: &[&str]) -> ListType {
        ListType::Map {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    #[test]
    fn loads_the_real_file_quickly_and_names_the_path_on_error() {
        let start = std::time::Instant::now();
        let loaded = Schema::load(&definitions_path()).unwrap();
        eprintln!(
            "loaded {} definitions in {:?}",
            loaded.defs.types.len(),
            start.elapsed()
        );
        assert_eq!(loaded.defs.types.len(), 862);

        let missing = Path::new("/nonexistent/definitions.json");
        let error = Schema::load(missing).unwrap_err();
        assert!(matches!(error, SchemaError::Read { .. }));
        assert!(
            error.to_string().contains("/nonexistent/definitions.json"),
            "{error}"
        );

        let dir = std::env::temp_dir().join(format!("schema-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let error = Schema::load(&bad).unwrap_err();
        assert!(matches!(error, SchemaError::Parse { .. }));
        assert!(error.to_string().contains("bad.json"), "{error}");
        std::fs::write(&bad, "{\"definitions\": {}}").unwrap();
        let error = Schema::load(&bad).unwrap_err();
        assert!(
            matches!(error, SchemaError::NoDefinitions { .. }),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_served_builtin_kind_has_a_type() {
        let schema = schema();
        for kind in builtin() {
            assert!(
                schema
                    .node_for(&kind.group, &kind.version, &kind.kind)
                    .is_some(),
                "{kind:?}"
            );
        }
        assert!(schema.node_for("apps", "v1", "Nope").is_none());
        assert_eq!(
            schema.definition_name("", "v1", "ConfigMap"),
            Some("io.k8s.api.core.v1.ConfigMap")
        );
    }

    #[test]
    fn configmap_data_is_a_map_of_strings() {
        let cm = schema().node_for("", "v1", "ConfigMap").unwrap();
        assert!(cm.is_struct());
        assert!(!cm.is_map());
        let data = cm.field("data").unwrap();
        assert!(data.is_map());
        assert!(!data.is_struct());
        let value = data.field("any-key").unwrap();
        assert_eq!(allowed_types(value.target().0), Some(STRING));
        let metadata = cm.field("metadata").unwrap();
        assert!(metadata.is_struct());
        assert!(!metadata.is_map());
        assert!(metadata.field("labels").unwrap().is_map());
        assert!(metadata.field("nme").is_none());
        assert!(cm.field("spec").is_none());
    }

    #[test]
    fn deployment_walks_down_to_containers() {
        let deploy = schema().node_for("apps", "v1", "Deployment").unwrap();
        let containers = walk(deploy, &["spec", "template", "spec", "containers"]);
        assert!(containers.is_list());
        let container = containers.items().unwrap();
        assert!(container.field("imagePullPolicy").is_some());
        assert!(container.field("imagePullPolicyy").is_none());
        assert!(!container.preserves_unknown());
        // The selector is an atomic LabelSelector.
        assert!(walk(deploy, &["spec", "selector"]).map_type_atomic());
        assert!(!walk(deploy, &["spec", "template"]).map_type_atomic());
        assert!(!deploy.preserves_unknown());
    }

    #[test]
    fn list_types_follow_the_markers() {
        let pod_spec = walk(
            schema().node_for("apps", "v1", "Deployment").unwrap(),
            &["spec", "template", "spec"],
        );
        let container = walk(pod_spec, &["containers", "[]"]);
        assert_eq!(
            pod_spec.field("containers").unwrap().list_type(),
            map_keys(&["name"])
        );
        assert_eq!(
            pod_spec.field("initContainers").unwrap().list_type(),
            map_keys(&["name"])
        );
        assert_eq!(
            pod_spec.field("volumes").unwrap().list_type(),
            map_keys(&["name"])
        );
        assert_eq!(
            pod_spec.field("tolerations").unwrap().list_type(),
            ListType::Atomic
        );
        assert_eq!(
            container.field("env").unwrap().list_type(),
            map_keys(&["name"])
        );
        assert_eq!(
            container.field("ports").unwrap().list_type(),
            map_keys(&["containerPort", "protocol"])
        );
        assert_eq!(
            container.field("volumeMounts").unwrap().list_type(),
            map_keys(&["mountPath"])
        );
        assert_eq!(
            container.field("args").unwrap().list_type(),
            ListType::Atomic
        );
        assert_eq!(
            container.field("envFrom").unwrap().list_type(),
            ListType::Atomic
        );
        let cm_meta = schema()
            .node_for("", "v1", "ConfigMap")
            .unwrap()
            .field("metadata")
            .unwrap();
        assert_eq!(
            cm_meta.field("finalizers").unwrap().list_type(),
            ListType::Set
        );
        assert_eq!(
            cm_meta.field("ownerReferences").unwrap().list_type(),
            map_keys(&["uid"])
        );
        // Lists without any marker are atomic.
        let service = schema().node_for("", "v1", "Service").unwrap();
        assert_eq!(
            walk(service, &["spec", "ports"]).list_type(),
            map_keys(&["port", "protocol"])
        );
    }

    #[test]
    fn site_markers_win_over_the_referenced_definition() {
        // PersistentVolumeSpec.claimRef is granular, ObjectReference atomic.
        let pv = schema().node_for("", "v1", "PersistentVolume").unwrap();
        assert!(!walk(pv, &["spec", "claimRef"]).map_type_atomic());
        let event = schema().node_for("", "v1", "Event").unwrap();
        assert!(event.field("involvedObject").unwrap().map_type_atomic());
    }

    #[test]
    fn older_patch_strategy_lists_merge_by_their_key() {
        let mut schema = schema().clone();
        schema.add_custom(
            "example.dev",
            "v1",
            "Legacy",
            &json!({
                "type": "object",
                "properties": {
                    "keyed": {
                        "type": "array",
                        "x-kubernetes-patch-strategy": "merge,retainKeys",
                        "x-kubernetes-patch-merge-key": "id",
                        "items": {"type": "object", "properties": {"id": {"type": "string"}}},
                    },
                    "set": {
                        "type": "array",
                        "x-kubernetes-patch-strategy": "merge",
                        "items": {"type": "string"},
                    },
                    "replaced": {
                        "type": "array",
                        "x-kubernetes-patch-strategy": "replace",
                        "items": {"type": "string"},
                    },
                    "plain": {"type": "array", "items": {"type": "string"}},
                    "typed": {
                        "type": "array",
                        "x-kubernetes-list-type": "atomic",
                        "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-patch-merge-key": "id",
                        "items": {"type": "object"},
                    },
                },
            }),
        );
        let root = schema.node_for("example.dev", "v1", "Legacy").unwrap();
        assert_eq!(root.field("keyed").unwrap().list_type(), map_keys(&["id"]));
        assert_eq!(root.field("set").unwrap().list_type(), ListType::Set);
        assert_eq!(
            root.field("replaced").unwrap().list_type(),
            ListType::Atomic
        );
        assert_eq!(root.field("plain").unwrap().list_type(), ListType::Atomic);
        assert_eq!(root.field("typed").unwrap().list_type(), ListType::Atomic);
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": {"app": "web", "anything.example/goes": "x"},
                "annotations": {"a": "b"},
                "managedFields": [{
                    "manager": "kubectl",
                    "operation": "Apply",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }],
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx",
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "env": [{"name": "A", "value": "1"}],
                                "resources": {"limits": {"cpu": "500m", "memory": 1024}, "requests": {"cpu": 0.5}},
                            },
                            {
                                "name": "sidecar",
                                "image": "busybox",
                                "imagePullPolicyy": "Always",
                                "livenessProbe": {"httpGet": {"port": "http", "path": "/", "typo": 1}},
                            },
                        ],
                    },
                },
            },
            "status": {"replicas": 1},
        })
    }

    #[test]
    fn unknown_fields_finds_misspelt_nested_fields() {
        let schema = schema();
        let report = checked(schema, "apps", "v1", "Deployment", &deployment());
        assert_eq!(
            report.unknown,
            vec![
                ".spec.template.spec.containers[1].imagePullPolicyy".to_owned(),
                ".spec.template.spec.containers[1].livenessProbe.httpGet.typo".to_owned(),
            ]
        );
        assert_eq!(report.type_errors, Vec::<String>::new());

        let mut object = deployment();
        object["spec"]["replicass"] = json!(3);
        object["extra"] = json!({"nested": true});
        let unknown = schema.unknown_fields("apps", "v1", "Deployment", &object);
        assert!(
            unknown.contains(&".spec.replicass".to_owned()),
            "{unknown:?}"
        );
        assert!(unknown.contains(&".extra".to_owned()), "{unknown:?}");
        assert_eq!(unknown.len(), 4, "{unknown:?}");
    }

    #[test]
    fn configmap_data_keys_are_never_unknown() {
        let schema = schema();
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "creationTimestamp": null},
            "data": {"x": "1", "config.yaml": "a: b"},
            "binaryData": {"blob": "AAEC"},
        });
        assert_eq!(
            checked(schema, "", "v1", "ConfigMap", &cm),
            FieldReport::default()
        );
        let mut bad = cm.clone();
        bad["metadata"]["nmae"] = json!("c");
        bad["data"]["n"] = json!(1);
        let report = checked(schema, "", "v1", "ConfigMap", &bad);
        assert_eq!(report.unknown, vec![".metadata.nmae".to_owned()]);
        assert_eq!(
            report.type_errors,
            vec![".data.n: expected string, got integer".to_owned()]
        );
        // Unknown kinds report nothing.
        assert!(schema.unknown_fields("", "v1", "Nope", &bad).is_empty());
    }

    #[test]
    fn type_errors_are_reported_and_not_descended() {
        let schema = schema();
        let mut object = deployment();
        object["spec"]["replicas"] = json!("two");
        object["spec"]["template"]["spec"]["containers"] = json!({"name": "web", "bogus": 1});
        object["metadata"]["labels"] = json!(["a"]);
        let report = checked(schema, "apps", "v1", "Deployment", &object);
        assert!(report.unknown.is_empty(), "{report:?}");
        assert_eq!(
            report.type_errors,
            vec![
                ".metadata.labels: expected object, got array".to_owned(),
                ".spec.replicas: expected integer, got string".to_owned(),
                ".spec.template.spec.containers: expected array, got object".to_owned(),
            ]
        );
        let report = checked(schema, "", "v1", "ConfigMap", &json!("text"));
        assert_eq!(
            report.type_errors,
            vec![".: expected object, got string".to_owned()]
        );
        // Int-or-string and quantities take both forms.
        let service = json!({
            "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}
        });
        assert_eq!(
            checked(schema, "", "v1", "Service", &service),
            FieldReport::default()
        );
        let report = checked(
            schema,
            "",
            "v1",
            "Service",
            &json!({"spec": {"ports": [{"port": 80, "targetPort": true}]}}),
        );
        assert_eq!(
            report.type_errors,
            vec![".spec.ports[0].targetPort: expected string or integer, got boolean".to_owned()]
        );
    }

    #[test]
    fn crd_manifests_validate_against_the_builtin_crd_type() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.dev"},
            "spec": {
                "group": "example.dev",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": widget_schema()},
                }],
            },
        });
        let report = schema().check_fields(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            &crd,
        );
        assert_eq!(report, FieldReport::default());
    }

    fn widget_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "size": {"type": "integer", "default": 1},
                        "port": {"x-kubernetes-int-or-string": true},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                        "parts": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
                            },
                        },
                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                   "properties": {"level": {"type": "string"}}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                                   "x-kubernetes-map-type": "atomic"},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "x-kubernetes-preserve-unknown-fields": true},
                        "empty": {"type": "object"},
                    },
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        })
    }

    #[test]
    fn custom_schemas_validate_and_can_be_removed() {
        let mut schema = schema().clone();
        assert!(schema.node_for("example.dev", "v1", "Widget").is_none());
        schema.add_custom("example.dev", "v1", "Widget", &widget_schema());
        let widget = schema.node_for("example.dev", "v1", "Widget").unwrap();
        assert_eq!(
            walk(widget, &["spec", "parts"]).list_type(),
            map_keys(&["name"])
        );
        assert_eq!(walk(widget, &["spec", "tags"]).list_type(), ListType::Set);
        assert!(walk(widget, &["spec", "labels"]).map_type_atomic());
        assert!(walk(widget, &["spec", "labels"]).is_map());
        assert!(walk(widget, &["spec", "config"]).preserves_unknown());
        assert!(!walk(widget, &["spec", "empty"]).preserves_unknown());
        assert!(
            walk(widget, &["metadata"])
                .field("labels")
                .unwrap()
                .is_map()
        );

        let object = json!({
            "apiVersion": "example.dev/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": {"a": "b"}, "bogus": 1},
            "spec": {
                "size": 3,
                "sise": 4,
                "port": "http",
                "tags": ["a"],
                "parts": [{"name": "p", "count": 1, "colour": "red"}],
                "config": {"anything": {"deep": [1, 2]}, "level": 7},
                "labels": {"x": "y"},
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "nope": 1}, "spec": {"free": true}},
                "empty": {"dropped": 1},
            },
            "status": {"whatever": {"goes": true}},
        });
        let report = checked(&schema, "example.dev", "v1", "Widget", &object);
        assert_eq!(
            report.unknown,
            vec![
                ".metadata.bogus".to_owned(),
                ".spec.empty.dropped".to_owned(),
                ".spec.parts[0].colour".to_owned(),
                ".spec.sise".to_owned(),
                ".spec.template.metadata.nope".to_owned(),
            ]
        );
        assert_eq!(
            report.type_errors,
            vec![".spec.config.level: expected string, got integer".to_owned()]
        );

        // A schema that preserves everything still knows metadata.
        schema.add_custom(
            "example.dev",
            "v1",
            "Widget",
            &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        assert_eq!(
            schema.unknown_fields("example.dev", "v1", "Widget", &object),
            vec![".metadata.bogus".to_owned()]
        );

        schema.remove_custom("example.dev", "v1", "Widget");
        assert!(schema.node_for("example.dev", "v1", "Widget").is_none());
        assert!(
            schema
                .unknown_fields("example.dev", "v1", "Widget", &object)
                .is_empty()
        );
    }

    #[test]
    fn clones_share_the_builtin_definitions() {
        let base = schema();
        let mut copy = base.clone();
        copy.add_custom("example.dev", "v1", "Widget", &widget_schema());
        assert!(Arc::ptr_eq(&base.defs, &copy.defs));
        assert!(base.node_for("example.dev", "v1", "Widget").is_none());
    }

    pub(crate) fn widget_kind() -> ResourceKind {
        ResourceKind {
            group: "example.dev".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            status: true,
            custom: true,
            ..ResourceKind::default()
        }
    }

    #[test]
    fn openapi_index_lists_every_group_version_with_a_changing_hash() {
        let mut schema = schema().clone();
        let mut kinds = builtin();
        let index = schema.openapi_index(&kinds);
        let paths = index["paths"].as_object().unwrap();
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/autoscaling/v2",
            "apis/rbac.authorization.k8s.io/v1",
            "apis/apiextensions.k8s.io/v1",
        ] {
            let url = paths[gv]["serverRelativeURL"].as_str().unwrap();
            let prefix = format!("/openapi/v3/{gv}?hash=");
            assert!(url.starts_with(&prefix), "{url}");
            let hash = &url[prefix.len()..];
            assert!(
                !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()),
                "{url}"
            );
        }
        let group_versions: std::collections::BTreeSet<String> =
            kinds.iter().map(ResourceKind::group_version_path).collect();
        assert_eq!(paths.len(), group_versions.len());
        assert_eq!(schema.openapi_index(&kinds), index, "stable");

        kinds.push(widget_kind());
        let with_widget = schema.openapi_index(&kinds);
        assert_eq!(with_widget["paths"]["api/v1"], index["paths"]["api/v1"]);
        let before = with_widget["paths"]["apis/example.dev/v1"].clone();
        assert!(before.is_object());
        schema.add_custom("example.dev", "v1", "Widget", &widget_schema());
        let after = schema.openapi_index(&kinds)["paths"]["apis/example.dev/v1"].clone();
        assert_ne!(before, after, "adding the schema changes the hash");
        let mut changed = widget_schema();
        changed["properties"]["spec"]["properties"]["colour"] = json!({"type": "string"});
        schema.add_custom("example.dev", "v1", "Widget", &changed);
        let changed_url = schema.openapi_index(&kinds)["paths"]["apis/example.dev/v1"].clone();
        assert_ne!(after, changed_url, "changing the schema changes the hash");
        assert_eq!(
            schema
                .openapi_hash("apis/example.dev/v1", &kinds)
                .map(|h| format!("/openapi/v3/apis/example.dev/v1?hash={h}")),
            changed_url["serverRelativeURL"].as_str().map(str::to_owned)
        );
        assert!(schema.openapi_hash("apis/nope/v1", &kinds).is_none());
    }

    fn assert_no_defs_refs_or_type_arrays(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    // (JSONSchemaProps has a property named "$ref": an object.)
                    if key == "$ref"
                        && let Some(reference) = child.as_str()
                    {
                        assert!(reference.starts_with(COMPONENTS_REF), "{at}: {reference}");
                    }
                    if key == "type" && child.is_array() {
                        panic!("{at}: type array {child}");
                    }
                    assert_no_defs_refs_or_type_arrays(child, &format!("{at}/{key}"));
                }
            }
            Value::Array(list) => {
                for (index, child) in list.iter().enumerate() {
                    assert_no_defs_refs_or_type_arrays(child, &format!("{at}/{index}"));
                }
            }
            _ => {}
        }
    }

    fn assert_refs_resolve(document: &Value) {
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let mut refs = vec![];
        fn collect(value: &Value, refs: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, child) in map {
                        if key == "$ref"
                            && let Some(name) =
                                child.as_str().and_then(|r| r.strip_prefix(COMPONENTS_REF))
                        {
                            refs.push(name.to_owned());
                        }
                        collect(child, refs);
                    }
                }
                Value::Array(list) => list.iter().for_each(|child| collect(child, refs)),
                _ => {}
            }
        }
        collect(document, &mut refs);
        for name in refs {
            assert!(schemas.contains_key(&name), "dangling reference {name}");
        }
    }

    #[test]
    fn openapi_document_of_core_v1_has_the_configmap_patch_operation() {
        let schema = schema();
        let kinds = builtin();
        let document = schema.openapi_document("api/v1", &kinds).unwrap();
        assert_eq!(document["openapi"], "3.0.0");
        let item = &document["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
        let patch = &item["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "version": "v1", "kind": "ConfigMap"})
        );
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(patch["operationId"], "patchCoreV1NamespacedConfigMap");
        let params: Vec<&Value> = patch["parameters"].as_array().unwrap().iter().collect();
        let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let validation = params
            .iter()
            .find(|p| p["name"] == "fieldValidation")
            .unwrap();
        assert_eq!(validation["in"], "query");
        assert_eq!(validation["schema"]["type"], "string");
        assert!(patch["requestBody"]["content"]["application/apply-patch+yaml"].is_object());
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object()
        );
        for verb in ["get", "put", "delete"] {
            assert_eq!(
                item[verb]["x-kubernetes-group-version-kind"]["kind"],
                "ConfigMap"
            );
        }
        assert_eq!(item["put"]["x-kubernetes-action"], "put");
        let collection = &document["paths"]["/api/v1/namespaces/{namespace}/configmaps"];
        assert_eq!(collection["get"]["x-kubernetes-action"], "list");
        assert_eq!(collection["post"]["x-kubernetes-action"], "post");
        assert_eq!(
            collection["delete"]["x-kubernetes-action"],
            "deletecollection"
        );
        assert!(document["paths"]["/api/v1/configmaps"]["get"].is_object());
        // Cluster-scoped kinds and status subresources.
        let namespace = &document["paths"]["/api/v1/namespaces/{name}"];
        assert_eq!(
            namespace["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Namespace"
        );
        assert_eq!(namespace["patch"]["operationId"], "patchCoreV1Namespace");
        assert!(document["paths"]["/api/v1/namespaces/{name}/status"]["patch"].is_object());
        assert!(
            document["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}/status"].is_null()
        );
        // Apps kinds are not in the core document.
        assert!(
            document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].is_null()
        );

        let schemas = document["components"]["schemas"].as_object().unwrap();
        let cm = &schemas["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["type"], "object");
        assert_eq!(
            cm["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(cm["properties"]["kind"].get("enum").is_none());
        assert_eq!(
            cm["x-kubernetes-group-version-kind"][0]["kind"],
            "ConfigMap"
        );
        assert!(schemas.contains_key(OBJECT_META));
        assert!(schemas.contains_key("io.k8s.api.core.v1.ConfigMapList"));
        assert!(schemas.contains_key("io.k8s.api.core.v1.PodSpec"));
        assert!(schemas.contains_key(DELETE_OPTIONS));
        assert!(!schemas.contains_key("io.k8s.api.apps.v1.Deployment"));
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_no_defs_refs_or_type_arrays(&document, "");
        assert_refs_resolve(&document);

        assert!(schema.openapi_document("apis/nope/v1", &kinds).is_none());
    }

    #[test]
    fn openapi_documents_stay_modest() {
        let schema = schema();
        let kinds = builtin();
        let index = schema.openapi_index(&kinds);
        for gv in index["paths"].as_object().unwrap().keys() {
            let document = schema.openapi_document(gv, &kinds).unwrap();
            let size = document.to_string().len();
            let count = document["components"]["schemas"].as_object().unwrap().len();
            eprintln!("{gv}: {size} bytes, {count} schemas");
            assert!(size < 1_500_000, "{gv}: {size} bytes");
            assert_refs_resolve(&document);
            assert_no_defs_refs_or_type_arrays(&document, gv);
        }
    }

    #[test]
    fn openapi_document_of_a_custom_group() {
        let mut schema = schema().clone();
        let mut kinds = builtin();
        kinds.push(widget_kind());
        // Without a schema yet: an open object.
        let open = schema
            .openapi_document("apis/example.dev/v1", &kinds)
            .unwrap();
        assert_eq!(
            open["components"]["schemas"]["dev.example.v1.Widget"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        schema.add_custom("example.dev", "v1", "Widget", &widget_schema());
        let document = schema
            .openapi_document("apis/example.dev/v1", &kinds)
            .unwrap();
        let item = &document["paths"]["/apis/example.dev/v1/namespaces/{namespace}/widgets/{name}"];
        assert_eq!(
            item["patch"]["x-kubernetes-group-version-kind"],
            json!({"group": "example.dev", "version": "v1", "kind": "Widget"})
        );
        assert_eq!(
            item["patch"]["operationId"],
            "patchExampleDevV1NamespacedWidget"
        );
        assert!(
            item["patch"]["requestBody"]["content"]["application/strategic-merge-patch+json"]
                .is_null()
        );
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let widget = &schemas["dev.example.v1.Widget"];
        assert_eq!(
            widget["properties"]["spec"]["properties"]["parts"]["x-kubernetes-list-type"],
            "map"
        );
        assert_eq!(
            widget["properties"]["metadata"]["allOf"][0]["$ref"],
            format!("{COMPONENTS_REF}{OBJECT_META}")
        );
        assert_eq!(
            schemas["dev.example.v1.WidgetList"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/dev.example.v1.Widget"
        );
        assert!(schemas.contains_key(OBJECT_META));
        assert!(schemas.contains_key(LIST_META));
        assert!(
            document["paths"]["/apis/example.dev/v1/namespaces/{namespace}/widgets/{name}/status"]
                .is_object()
        );
        assert_refs_resolve(&document);
        assert_no_defs_refs_or_type_arrays(&document, "");
    }

    #[test]
    fn names_of_groups_and_domains() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_camel("example.dev"), "ExampleDev");
        assert_eq!(
            reverse_domain("kustomize.toolkit.fluxcd.io"),
            "io.fluxcd.toolkit.kustomize"
        );
    }
}
