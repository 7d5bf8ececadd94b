//! The verbs, on the store's state: create, get, list, update, patch,
//! delete and deletecollection, with the real server's metadata rules and
//! errors. Everything here is synchronous and runs under the store's lock,
//! so each request sees and leaves a consistent store.

use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::admission::{self, Attributes, Operation, Phase};
use crate::kinds::ResourceKind;
use crate::meta;
use crate::patch;
use crate::status::{ApiError, Subject};
use crate::store::{EventType, Key, State};

/// Query options shared by the write verbs.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
    /// The manager of a write without `fieldManager`: named after the
    /// client, as the real server does from its User-Agent.
    pub default_manager: String,
    /// The write is a server-side apply, which has set managedFields itself.
    pub applying: bool,
    /// A delete's `preconditions`: (uid, resourceVersion).
    pub preconditions: (Option<String>, Option<String>),
    /// Admission webhooks are consulted: the write is a client's (the
    /// server's own writes, and its controllers', are not admitted).
    pub admit: bool,
    /// The subresource a client's request named when it writes through
    /// the resource (`/scale`), for admission.
    pub subresource: Option<String>,
}

impl WriteOptions {
    fn manager(&self) -> &str {
        self.field_manager
            .as_deref()
            .unwrap_or(if self.default_manager.is_empty() {
                "unknown"
            } else {
                &self.default_manager
            })
    }

    /// The admission webhooks of `phase`, for a client's write.
    fn admit(&self, state: &State, phase: Phase, a: Attributes<'_>) -> Result<(), ApiError> {
        if !self.admit {
            return Ok(());
        }
        let a = match (a.subresource, &self.subresource) {
            ("", Some(sub)) => Attributes {
                subresource: sub,
                ..a
            },
            _ => a,
        };
        admission::admit(state, phase, &a)
    }
}

/// What a patch request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn key(kind: &ResourceKind, namespace: &str, name: &str) -> Key {
    Key {
        group: kind.group.clone(),
        plural: kind.plural.clone(),
        namespace: if kind.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        },
        name: name.to_owned(),
    }
}

fn subject<'a>(kind: &'a ResourceKind, name: &'a str) -> Subject<'a> {
    Subject {
        group: &kind.group,
        plural: &kind.plural,
        name,
    }
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

/// GET of one object.
pub fn get(
    state: &State,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
) -> Result<Value, ApiError> {
    state
        .get(&key(kind, namespace, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(subject(kind, name)))
}

/// Checks that a namespaced object's namespace exists and is not being
/// deleted.
fn check_namespace(state: &State, namespace: &str, creating: bool) -> Result<(), ApiError> {
    let ns = Key {
        group: String::new(),
        plural: "namespaces".to_owned(),
        namespace: String::new(),
        name: namespace.to_owned(),
    };
    let Some(object) = state.get(&ns) else {
        return Err(ApiError::not_found(Subject {
            group: "",
            plural: "namespaces",
            name: namespace,
        }));
    };
    if creating && object["metadata"].get("deletionTimestamp").is_some() {
        return Err(ApiError {
            details: Some(json!({"name": namespace, "kind": "namespaces"})),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )
        });
    }
    Ok(())
}

/// The checks every incoming object gets: its kind and apiVersion match
/// the URL, and metadata is an object.
fn check_body(kind: &ResourceKind, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let api_version = kind.api_version();
    if let Some(v) = body.get("apiVersion").and_then(Value::as_str)
        && v != api_version
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({api_version})"
        )));
    }
    if let Some(k) = body.get("kind").and_then(Value::as_str)
        && k != kind.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            kind.kind
        )));
    }
    if body.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// POST: a new object.
pub fn create(
    state: &mut State,
    kind: &ResourceKind,
    namespace: &str,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    check_body(kind, &body)?;
    if let Some(schema) = state.schema.clone() {
        crate::types::prune(&schema, kind, &mut body);
    }
    body["apiVersion"] = json!(kind.api_version());
    body["kind"] = json!(kind.kind);
    if body.get("metadata").is_none() {
        body["metadata"] = json!({});
    }
    let mut name = name_of(&body).to_owned();
    if name.is_empty()
        && let Some(prefix) = body["metadata"]["generateName"].as_str()
    {
        name = format!("{prefix}{}", meta::name_suffix());
        body["metadata"]["name"] = json!(name);
    }
    if name.is_empty() {
        return Err(ApiError::invalid(
            &kind.kind,
            subject(kind, ""),
            &[(
                "metadata.name".to_owned(),
                "FieldValueRequired",
                "Required value: name or generateName is required".to_owned(),
            )],
        ));
    }
    if kind.namespaced {
        match body["metadata"]["namespace"].as_str() {
            Some(ns) if !ns.is_empty() && ns != namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => body["metadata"]["namespace"] = json!(namespace),
        }
        check_namespace(state, namespace, true)?;
    } else if let Some(meta) = body["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    let attributes = Attributes::new(Operation::Create, kind, None, namespace, &name);
    opts.admit(
        state,
        Phase::Mutating,
        attributes.with_objects(Some(&body), None),
    )?;
    validate(kind, &name, &body)?;
    merge_string_data(kind, &mut body);
    opts.admit(
        state,
        Phase::Validating,
        attributes.with_objects(Some(&body), None),
    )?;
    let key = key(kind, namespace, &name);
    if state.get(&key).is_some() {
        return Err(ApiError::already_exists(subject(kind, &name)));
    }
    let meta = body["metadata"].as_object_mut().expect("checked object");
    meta.insert("uid".to_owned(), json!(meta::uid()));
    meta.insert("creationTimestamp".to_owned(), json!(meta::now()));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    if !opts.applying {
        meta.remove("managedFields");
    }
    if has_generation(kind) {
        meta.insert("generation".to_owned(), json!(1));
    } else {
        meta.remove("generation");
    }
    defaults_on_create(kind, &mut body);
    if !opts.applying {
        let schema = state.schema.clone();
        crate::ssa::track_update(
            schema.as_deref(),
            kind,
            None,
            &mut body,
            opts.manager(),
            None,
        );
    }
    if opts.dry_run {
        body["metadata"]["resourceVersion"] = json!(state.rv().to_string());
        return Ok(body);
    }
    let stored = state.put(key.clone(), body, EventType::Added);
    if kind.kind == "CustomResourceDefinition" {
        crate::crd::establish(state, &key);
    }
    Ok(stored)
}

/// A Secret's `stringData` is write-only: the server base64-encodes it
/// into `data` (where it wins over a key of the same name) and drops it.
fn merge_string_data(kind: &ResourceKind, body: &mut Value) {
    use base64::Engine as _;
    if !(kind.group.is_empty() && kind.kind == "Secret") {
        return;
    }
    let Some(Value::Object(string_data)) =
        body.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    if !body["data"].is_object() {
        body["data"] = json!({});
    }
    for (key, value) in string_data {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        body["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Kinds whose spec changes bump metadata.generation.
fn has_generation(kind: &ResourceKind) -> bool {
    kind.custom
        || matches!(
            kind.kind.as_str(),
            "Deployment"
                | "StatefulSet"
                | "DaemonSet"
                | "ReplicaSet"
                | "Job"
                | "CronJob"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget"
                | "CustomResourceDefinition"
                | "Ingress"
                | "NetworkPolicy"
        )
}

/// What the server itself sets on a new object.
fn defaults_on_create(kind: &ResourceKind, body: &mut Value) {
    if kind.status && kind.kind != "Namespace" {
        // The status of a new object is the server's, not the client's.
        if let Some(object) = body.as_object_mut() {
            object.remove("status");
        }
    }
    match kind.kind.as_str() {
        "Namespace" => {
            body["spec"] = json!({"finalizers": ["kubernetes"]});
            body["status"] = json!({"phase": "Active"});
        }
        "Secret" if kind.group.is_empty() && body["type"].as_str().is_none_or(str::is_empty) => {
            body["type"] = json!("Opaque");
        }
        "Service" => {
            let spec = &mut body["spec"];
            if spec.get("type").is_none() {
                spec["type"] = json!("ClusterIP");
            }
            if spec.get("clusterIP").is_none() && spec["type"] != "ExternalName" {
                let ip = format!("10.96.{}.{}", fastrand::u8(..), fastrand::u8(1..255));
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
        }
        _ => {}
    }
}

/// Name rules and the checks the real server makes of every object.
fn validate(kind: &ResourceKind, name: &str, body: &Value) -> Result<(), ApiError> {
    if let Some(problem) = meta::name_problem(&kind.kind, name) {
        return Err(ApiError::invalid(
            &kind.kind,
            subject(kind, name),
            &[("metadata.name".to_owned(), "FieldValueInvalid", problem)],
        ));
    }
    for field in ["labels", "annotations"] {
        if let Some(map) = body["metadata"].get(field)
            && !map.is_null()
            && !map
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        {
            return Err(ApiError::bad_request(format!(
                "metadata.{field} must be a map of strings"
            )));
        }
    }
    Ok(())
}

/// The fields an update may not change, per kind: (path, description).
fn immutable_problems(
    kind: &ResourceKind,
    old: &Value,
    new: &Value,
) -> Vec<(String, &'static str, String)> {
    let mut problems = Vec::new();
    let changed = |path: &str| old.pointer(path) != new.pointer(path);
    let field_name = |path: &str| path.trim_start_matches('/').replace('/', ".");
    let mut immutable = |path: &str, message: &str| {
        if changed(path) {
            problems.push((
                field_name(path),
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: {message}",
                    new.pointer(path)
                        .map_or("null".to_owned(), Value::to_string)
                ),
            ));
        }
    };
    match kind.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            immutable("/spec/selector", "field is immutable");
        }
        "Job" => {
            immutable("/spec/selector", "field is immutable");
            immutable("/spec/template", "field is immutable");
        }
        "Service" if new.pointer("/spec/clusterIP").is_some() => {
            immutable("/spec/clusterIP", "field is immutable");
        }
        "ConfigMap" | "Secret" if old["immutable"] == json!(true) => {
            for field in ["/data", "/binaryData", "/stringData"] {
                if changed(field) {
                    problems.push((
                        field_name(field),
                        "Forbidden",
                        "Forbidden: field is immutable when `immutable` is set".to_owned(),
                    ));
                }
            }
            if new["immutable"] != json!(true) {
                problems.push((
                    "immutable".to_owned(),
                    "Forbidden",
                    "Forbidden: field is immutable when `immutable` is set".to_owned(),
                ));
            }
        }
        _ => {}
    }
    problems
}

/// PUT (and the common path of every patch): replaces the object, or its
/// status when `sub` is `status`.
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's parameters, as the URL gives them"
)]
pub fn update(
    state: &mut State,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    mut body: Value,
    require_rv: bool,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    check_body(kind, &body)?;
    let key = key(kind, namespace, name);
    let Some(old) = state.get(&key).cloned() else {
        return Err(ApiError::not_found(subject(kind, name)));
    };
    if !name_of(&body).is_empty() && name_of(&body) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            name_of(&body)
        )));
    }
    let current_rv = old["metadata"]["resourceVersion"].as_str().unwrap_or("");
    match body["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && rv != current_rv => {
            return Err(ApiError::conflict(
                subject(kind, name),
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        Some(rv) if !rv.is_empty() => {}
        _ if require_rv => {
            return Err(ApiError::invalid(
                &kind.kind,
                subject(kind, name),
                &[(
                    "metadata.resourceVersion".to_owned(),
                    "FieldValueInvalid",
                    "Invalid value: 0x0: must be specified for an update".to_owned(),
                )],
            ));
        }
        _ => {}
    }
    body["apiVersion"] = json!(kind.api_version());
    body["kind"] = json!(kind.kind);
    if body.get("metadata").is_none() {
        body["metadata"] = json!({});
    }
    let mut new = match sub {
        Some("status") => {
            // Only the status changes through /status.
            let mut new = old.clone();
            new["status"] = body.get("status").cloned().unwrap_or(Value::Null);
            if new["status"].is_null()
                && let Some(o) = new.as_object_mut()
            {
                o.remove("status");
            }
            new
        }
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("the server could not find the requested resource ({other})"),
            ));
        }
        None => {
            let mut new = body;
            if kind.status {
                // Through the main resource, status stays the server's.
                match old.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            new
        }
    };
    if let Some(schema) = state.schema.clone() {
        crate::types::prune(&schema, kind, &mut new);
    }
    // What the server owns in metadata is kept.
    {
        let meta = new["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(v) => {
                    meta.insert(field.to_owned(), v.clone());
                }
                None => {
                    meta.remove(field);
                }
            }
        }
        meta.insert("name".to_owned(), json!(name));
        if kind.namespaced {
            meta.insert("namespace".to_owned(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
    }
    if !opts.applying {
        // A write may rewrite ownership, as the real server lets every
        // write but an apply do (GitOps tools take the fields of
        // `kubectl edit` over so): a non-empty managedFields that differs
        // from the stored one replaces it, and `[{}]` clears it. Anything
        // else the client sent is replaced by the tracked ownership.
        let sent = &new["metadata"]["managedFields"];
        let rewritten = sub.is_none()
            && sent.as_array().is_some_and(|l| !l.is_empty())
            && *sent != old["metadata"]["managedFields"];
        if !rewritten {
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        if new["metadata"]["managedFields"].is_null()
            && let Some(meta) = new["metadata"].as_object_mut()
        {
            meta.remove("managedFields");
        }
        let schema = state.schema.clone();
        crate::ssa::track_update(
            schema.as_deref(),
            kind,
            Some(&old),
            &mut new,
            opts.manager(),
            sub,
        );
    }
    let attributes = Attributes::new(Operation::Update, kind, sub, namespace, name);
    opts.admit(
        state,
        Phase::Mutating,
        attributes.with_objects(Some(&new), Some(&old)),
    )?;
    validate(kind, name, &new)?;
    merge_string_data(kind, &mut new);
    let problems = immutable_problems(kind, &old, &new);
    if !problems.is_empty() {
        return Err(ApiError::invalid(
            &kind.kind,
            subject(kind, name),
            &problems,
        ));
    }
    opts.admit(
        state,
        Phase::Validating,
        attributes.with_objects(Some(&new), Some(&old)),
    )?;
    if has_generation(kind) && spec_changed(&old, &new) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(generation);
    }
    if without_rv(&old) == without_rv(&new) {
        // No change: no new resourceVersion, no event.
        return Ok(old);
    }
    if opts.dry_run {
        return Ok(new);
    }
    let finishing =
        new["metadata"].get("deletionTimestamp").is_some() && finalizers(&new).is_empty();
    if finishing {
        // The last finalizer is gone: the deletion completes.
        let removed = state.remove(&key).unwrap_or(new);
        return Ok(removed);
    }
    let stored = state.put(key.clone(), new, EventType::Modified);
    if kind.kind == "CustomResourceDefinition" && sub.is_none() {
        crate::crd::establish(state, &key);
    }
    Ok(stored)
}

fn without_rv(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(meta) = o["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    o
}

/// Whether anything but metadata and status changed.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// PATCH with a merge, JSON or strategic merge patch: the patched object
/// goes through [`update`].
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's parameters, as the URL gives them"
)]
pub fn patch(
    state: &mut State,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    patch_type: PatchType,
    body: &Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let current = get(state, kind, namespace, name)?;
    let mut patched = current.clone();
    match patch_type {
        PatchType::Merge | PatchType::Strategic => {
            if !body.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            if patch_type == PatchType::Strategic {
                let schema = state.schema.clone();
                let shape = crate::ssa::shape_of(schema.as_deref(), kind);
                patch::strategic_merge(&mut patched, body, Some(shape));
            } else {
                patch::merge_patch(&mut patched, body);
            }
        }
        PatchType::Json => {
            patch::json_patch(&mut patched, body).map_err(|e| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string())
            })?;
        }
        PatchType::Apply => {
            return Err(ApiError::internal("apply patches are handled by ssa"));
        }
    }
    if let Some(schema) = state.schema.clone() {
        let write = match patch_type {
            PatchType::Merge => crate::types::Write::Merge,
            PatchType::Json => crate::types::Write::Json,
            _ => crate::types::Write::Strategic,
        };
        crate::types::check(&schema, kind, write, &patched, Some(body))?;
    }
    // A patch without a resourceVersion is unconditional.
    if body["metadata"].get("resourceVersion").is_none()
        && let Some(meta) = patched["metadata"].as_object_mut()
    {
        meta.insert(
            "resourceVersion".to_owned(),
            current["metadata"]["resourceVersion"].clone(),
        );
    }
    update(state, kind, namespace, name, sub, patched, false, opts)
}

/// How a DELETE treats the objects the deleted one owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(text: &str) -> Result<Propagation, ApiError> {
        match text {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// DELETE of one object. Objects with finalizers get a deletionTimestamp
/// and stay until their finalizers are removed; a namespace deletes its
/// contents and then goes (through `Terminating`, see the server); a CRD
/// takes its custom resources with it; owned objects follow `propagation`.
pub fn delete(
    state: &mut State,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
    propagation: Propagation,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let key = key(kind, namespace, name);
    let Some(object) = state.get(&key).cloned() else {
        return Err(ApiError::not_found(subject(kind, name)));
    };
    let (uid, rv) = &opts.preconditions;
    for (field, wanted) in [("uid", uid), ("resourceVersion", rv)] {
        let actual = object["metadata"][field].as_str().unwrap_or("");
        if let Some(wanted) = wanted
            && wanted != actual
        {
            let label = if field == "uid" {
                "UID"
            } else {
                "ResourceVersion"
            };
            return Err(ApiError::conflict(
                subject(kind, name),
                &format!(
                    "Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {actual}"
                ),
            ));
        }
    }
    let attributes = Attributes::new(Operation::Delete, kind, None, namespace, name);
    for phase in [Phase::Mutating, Phase::Validating] {
        opts.admit(state, phase, attributes.with_objects(None, Some(&object)))?;
    }
    if opts.dry_run {
        return Ok(object);
    }
    if kind.kind == "Namespace" {
        return Ok(terminate_namespace(state, &key, object));
    }
    if !finalizers(&object).is_empty() {
        if object["metadata"].get("deletionTimestamp").is_some() {
            return Ok(object);
        }
        let mut marked = object;
        marked["metadata"]["deletionTimestamp"] = json!(meta::now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return Ok(state.put(key, marked, EventType::Modified));
    }
    let removed = state.remove(&key).expect("present");
    if kind.kind == "CustomResourceDefinition" {
        crate::crd::remove(state, &removed);
    }
    if let Some(uid) = removed["metadata"]["uid"].as_str() {
        collect_dependents(state, uid, propagation);
    }
    Ok(removed)
}

/// Marks a namespace Terminating; [`finish_namespaces`] then deletes its
/// contents and, once it is empty, the namespace, as the real namespace
/// controller does a moment later.
fn terminate_namespace(state: &mut State, key: &Key, mut object: Value) -> Value {
    if object["metadata"].get("deletionTimestamp").is_none() {
        object["metadata"]["deletionTimestamp"] = json!(meta::now());
        object["status"]["phase"] = json!("Terminating");
        object = state.put(key.clone(), object, EventType::Modified);
    }
    object
}

/// The namespace controller: empties Terminating namespaces (objects with
/// finalizers get a deletionTimestamp and stay until those are removed)
/// and removes the empty ones, of those `names`. Returns how many were
/// removed.
pub fn finish_namespaces(state: &mut State, names: &[String]) -> usize {
    let terminating: Vec<Key> = state
        .list("", "namespaces", None)
        .filter(|(k, o)| {
            o["metadata"].get("deletionTimestamp").is_some() && names.contains(&k.name)
        })
        .map(|(k, _)| k.clone())
        .collect();
    let mut done = 0;
    for ns in terminating {
        let inside: Vec<Key> = state
            .kinds
            .iter()
            .filter(|k| k.namespaced)
            .flat_map(|k| {
                state
                    .list(&k.group, &k.plural, Some(&ns.name))
                    .map(|(key, _)| key.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        for k in &inside {
            let Some(obj) = state.get(k).cloned() else {
                continue;
            };
            if finalizers(&obj).is_empty() {
                state.remove(k);
            } else if obj["metadata"].get("deletionTimestamp").is_none() {
                let mut marked = obj;
                marked["metadata"]["deletionTimestamp"] = json!(meta::now());
                state.put(k.clone(), marked, EventType::Modified);
            }
        }
        let empty = state.kinds.iter().filter(|k| k.namespaced).all(|k| {
            state
                .list(&k.group, &k.plural, Some(&ns.name))
                .next()
                .is_none()
        });
        if empty {
            state.remove(&ns);
            done += 1;
        }
    }
    done
}

/// The garbage collector: objects owned (ownerReferences) by the deleted
/// uid are deleted, or orphaned.
fn collect_dependents(state: &mut State, uid: &str, propagation: Propagation) {
    let owned: Vec<Key> = state
        .kinds
        .clone()
        .iter()
        .flat_map(|k| {
            state
                .list(&k.group, &k.plural, None)
                .filter(|(_, o)| {
                    o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
                })
                .map(|(key, _)| key.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    for key in owned {
        match propagation {
            Propagation::Orphan => {
                if let Some(mut o) = state.get(&key).cloned() {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != uid);
                    }
                    state.put(key, o, EventType::Modified);
                }
            }
            Propagation::Background | Propagation::Foreground => {
                if let Some(removed) = state.remove(&key)
                    && let Some(child) = removed["metadata"]["uid"].as_str()
                {
                    collect_dependents(state, child, propagation);
                }
            }
        }
    }
}

/// The list envelope: `<Kind>List` with the store's resourceVersion.
pub fn list_object(
    kind: &ResourceKind,
    items: Vec<Value>,
    rv: u64,
    cont: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            // Items of built-in lists carry no kind and apiVersion, as from
            // the real server; custom resources keep theirs.
            if !kind.custom
                && let Some(o) = item.as_object_mut()
            {
                o.remove("kind");
                o.remove("apiVersion");
            }
            item
        })
        .collect();
    json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.api_version(),
        "metadata": metadata,
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin;
    use tokio::sync::broadcast;

    fn state() -> State {
        let (tx, _) = broadcast::channel(16);
        State::new(builtin(), tx)
    }

    fn kind(state: &State, name: &str) -> ResourceKind {
        state.kinds.iter().find(|k| k.kind == name).unwrap().clone()
    }

    fn ns(state: &mut State, name: &str) {
        let k = kind(state, "Namespace");
        create(
            state,
            &k,
            "",
            json!({"metadata": {"name": name}}),
            &WriteOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn create_get_update_conflict_and_generation() {
        let mut s = state();
        let cm = kind(&s, "ConfigMap");
        let opts = WriteOptions::default();
        let err = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "a"}}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(err.message, "namespaces \"apps\" not found");
        ns(&mut s, "apps");
        let created = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
            &opts,
        )
        .unwrap();
        assert_eq!(created["metadata"]["namespace"], "apps");
        assert!(created["metadata"]["uid"].is_string());
        let again = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "a"}}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(again.reason, "AlreadyExists");

        let mut stale = created.clone();
        stale["data"]["k"] = json!("w");
        let updated = update(&mut s, &cm, "apps", "a", None, stale.clone(), true, &opts).unwrap();
        assert_eq!(updated["data"]["k"], "w");
        let conflict = update(&mut s, &cm, "apps", "a", None, stale, true, &opts).unwrap_err();
        assert_eq!(conflict.reason, "Conflict");

        let deploy = kind(&s, "Deployment");
        let d = create(&mut s, &deploy, "apps", json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 9}}), &opts).unwrap();
        assert_eq!(d["metadata"]["generation"], 1);
        assert!(
            d.get("status").is_none(),
            "status of a new object is the server's"
        );
        let p = patch(
            &mut s,
            &deploy,
            "apps",
            "web",
            None,
            PatchType::Merge,
            &json!({"metadata": {"labels": {"a": "b"}}}),
            &opts,
        )
        .unwrap();
        assert_eq!(
            p["metadata"]["generation"], 1,
            "metadata changes keep the generation"
        );
        let p = patch(
            &mut s,
            &deploy,
            "apps",
            "web",
            None,
            PatchType::Merge,
            &json!({"spec": {"replicas": 2}}),
            &opts,
        )
        .unwrap();
        assert_eq!(p["metadata"]["generation"], 2);
        let bad = patch(
            &mut s,
            &deploy,
            "apps",
            "web",
            None,
            PatchType::Merge,
            &json!({"spec": {"selector": {"matchLabels": {"app": "x"}}}}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(bad.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.message.contains("spec.selector"), "{}", bad.message);
    }

    #[test]
    fn secret_string_data_is_written_into_data() {
        let mut s = state();
        ns(&mut s, "apps");
        let secret = kind(&s, "Secret");
        let opts = WriteOptions::default();
        let made = create(
            &mut s,
            &secret,
            "apps",
            json!({"metadata": {"name": "a"}, "data": {"x": "b2xk", "y": "eQ=="}, "stringData": {"x": "new"}}),
            &opts,
        )
        .unwrap();
        assert_eq!(made["data"], json!({"x": "bmV3", "y": "eQ=="}));
        assert!(made.get("stringData").is_none());
    }

    #[test]
    fn delete_preconditions_protect_a_different_object_of_the_same_name() {
        let mut s = state();
        ns(&mut s, "apps");
        let cm = kind(&s, "ConfigMap");
        let opts = WriteOptions::default();
        let made = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "a"}}),
            &opts,
        )
        .unwrap();
        let uid = made["metadata"]["uid"].as_str().unwrap().to_owned();
        let wrong = WriteOptions {
            preconditions: (Some("not-the-uid".to_owned()), None),
            ..WriteOptions::default()
        };
        let err = delete(&mut s, &cm, "apps", "a", Propagation::Background, &wrong).unwrap_err();
        assert_eq!(err.code, StatusCode::CONFLICT);
        assert!(
            err.message
                .contains("Precondition failed: UID in precondition: not-the-uid")
        );
        assert!(get(&s, &cm, "apps", "a").is_ok());
        let right = WriteOptions {
            preconditions: (Some(uid), None),
            ..WriteOptions::default()
        };
        delete(&mut s, &cm, "apps", "a", Propagation::Background, &right).unwrap();
        assert_eq!(get(&s, &cm, "apps", "a").unwrap_err().reason, "NotFound");
    }

    #[test]
    fn finalizers_hold_deletion_and_namespaces_take_their_contents() {
        let mut s = state();
        let opts = WriteOptions::default();
        ns(&mut s, "apps");
        let cm = kind(&s, "ConfigMap");
        create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
            &opts,
        )
        .unwrap();
        let marked = delete(&mut s, &cm, "apps", "held", Propagation::Background, &opts).unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(get(&s, &cm, "apps", "held").is_ok());
        patch(
            &mut s,
            &cm,
            "apps",
            "held",
            None,
            PatchType::Json,
            &json!([{"op": "remove", "path": "/metadata/finalizers"}]),
            &opts,
        )
        .unwrap();
        assert_eq!(get(&s, &cm, "apps", "held").unwrap_err().reason, "NotFound");

        create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "x"}}),
            &opts,
        )
        .unwrap();
        let namespace = kind(&s, "Namespace");
        let terminating = delete(
            &mut s,
            &namespace,
            "",
            "apps",
            Propagation::Background,
            &opts,
        )
        .unwrap();
        assert_eq!(terminating["status"]["phase"], "Terminating");
        let refused = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "y"}}),
            &opts,
        )
        .unwrap_err();
        assert_eq!(refused.reason, "Forbidden");
        assert_eq!(finish_namespaces(&mut s, &["apps".to_owned()]), 1);
        assert_eq!(get(&s, &cm, "apps", "x").unwrap_err().reason, "NotFound");
        assert_eq!(
            get(&s, &namespace, "", "apps").unwrap_err().reason,
            "NotFound"
        );
    }

    #[test]
    fn owned_objects_follow_the_propagation_policy() {
        let mut s = state();
        let opts = WriteOptions::default();
        ns(&mut s, "apps");
        let deploy = kind(&s, "Deployment");
        let rs = kind(&s, "ReplicaSet");
        let d = create(
            &mut s,
            &deploy,
            "apps",
            json!({"metadata": {"name": "web"}, "spec": {"selector": {}}}),
            &opts,
        )
        .unwrap();
        let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"]}]);
        create(
            &mut s,
            &rs,
            "apps",
            json!({"metadata": {"name": "web-1", "ownerReferences": owner}}),
            &opts,
        )
        .unwrap();
        delete(
            &mut s,
            &deploy,
            "apps",
            "web",
            Propagation::Background,
            &opts,
        )
        .unwrap();
        assert_eq!(
            get(&s, &rs, "apps", "web-1").unwrap_err().reason,
            "NotFound"
        );
    }

    #[test]
    fn names_are_validated_and_dry_run_stores_nothing() {
        let mut s = state();
        ns(&mut s, "apps");
        let cm = kind(&s, "ConfigMap");
        let err = create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "Bad_Name"}}),
            &WriteOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.body()["details"]["causes"][0]["field"], "metadata.name");
        let dry = WriteOptions {
            dry_run: true,
            ..WriteOptions::default()
        };
        create(
            &mut s,
            &cm,
            "apps",
            json!({"metadata": {"name": "dry"}}),
            &dry,
        )
        .unwrap();
        assert!(get(&s, &cm, "apps", "dry").is_err());
    }
}
