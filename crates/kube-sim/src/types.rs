//! Wrong JSON types and unknown fields in written objects, as the real
//! server meets them.
//!
//! The real server decodes what it is sent into Go types (built-in kinds)
//! or checks it against the structural schema (custom resources), and the
//! place where a wrong type fails decides the answer:
//!
//! - create and update of a built-in (`POST`, `PUT`): Go's JSON decoder,
//!   400 `ConfigMap in version "v1" cannot be handled as a ConfigMap: json:
//!   cannot unmarshal number into Go struct field ConfigMap.data of type
//!   string` (first error only);
//! - JSON merge patch and JSON patch of a built-in: the patched JSON fails
//!   the same decoder, 422 on `patch` with the patched object as the value;
//! - strategic merge patch: the patched map fails apimachinery's
//!   unstructured converter (`cannot convert int64 to string`,
//!   `unrecognized type: int32`), 422 on `patch` with the patch as Go
//!   prints a map;
//! - server-side apply (built-ins and custom resources): structured-merge-diff
//!   types the applied object first, `failed to create typed patch object
//!   (ns/name; /v1, Kind=ConfigMap): .data.a: expected string, got
//!   &value.valueUnstructured{Value:1}`, unknown fields included whatever
//!   `fieldValidation` says, as a plain error (500, no reason);
//! - custom resources otherwise: the structural schema's validation, 422
//!   `Widget.example.com "x" is invalid: spec.size: Invalid value:
//!   "string": spec.size in body must be of type integer: "string"`.
//!
//! [`prune`] drops what the real server drops when it does not refuse it:
//! fields the schema does not declare (unless it preserves unknown
//! fields), `null` struct fields of built-ins and non-nullable ones of
//! custom resources, and a custom resource's malformed metadata fields.

use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::kinds::ResourceKind;
use crate::schema::{ARRAY, BOOLEAN, INTEGER, ListType, NUMBER, Node, OBJECT, STRING, Schema};
use crate::status::ApiError;

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
/// What `resource.ParseQuantity` answers for what is not a quantity.
const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// How a written object reaches the real server's decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// POST or PUT: the body is the object.
    Body,
    /// A JSON merge patch: the patched object.
    Merge,
    /// A JSON patch: the patched object.
    Json,
    /// A strategic merge patch: the patched object (and the patch).
    Strategic,
    /// Server-side apply: the applied configuration.
    Apply,
}

/// The type check of a write, answered as the real server answers it.
/// `object` is the body (POST, PUT, apply) or the patched object;
/// `patch` the patch of a strategic merge patch. `name` and `namespace`
/// are the apply's, for its message.
///
/// # Errors
/// The first wrong type (all of them for apply and custom resources), in
/// the real server's form for `write`.
pub fn check(
    schema: &Schema,
    kind: &ResourceKind,
    write: Write,
    object: &Value,
    patch: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(root) = schema.node_for(&kind.group, &kind.version, &kind.kind) else {
        return Ok(());
    };
    if write == Write::Apply {
        let mut errors = Vec::new();
        smd(root, object, &mut String::new(), &mut errors);
        if !errors.is_empty() {
            return Err(plain(format!(
                "failed to create typed patch object ({}): {}",
                gvknn(kind, object),
                smd_message(&errors)
            )));
        }
        if !kind.custom
            && let Some(problem) = unstructured(root, object)
        {
            let gvk = gvk(kind);
            return Err(plain(format!(
                "failed to convert new object ({}) to proper version: unable to convert unstructured object to {gvk}: {problem}",
                gvknn(kind, object)
            )));
        }
    }
    if kind.custom {
        let mut errors = Vec::new();
        structural(root, object, &mut String::new(), &mut errors);
        if errors.is_empty() {
            return Ok(());
        }
        return Err(custom_invalid(kind, object, &errors));
    }
    match write {
        Write::Apply => Ok(()),
        Write::Body => {
            let owner = kind.kind.clone();
            match decode(root, object, &owner, &mut Vec::new()) {
                Some(problem) => Err(ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: {problem}",
                    kind.kind, kind.version, kind.kind
                ))),
                None => Ok(()),
            }
        }
        Write::Merge | Write::Json => {
            let owner = kind.kind.clone();
            match decode(root, object, &owner, &mut Vec::new()) {
                Some(problem) => Err(patch_invalid(
                    &serde_json::to_string(object).unwrap_or_default(),
                    &problem,
                )),
                None => Ok(()),
            }
        }
        Write::Strategic => match unstructured(root, object) {
            Some(problem) => Err(patch_invalid(&go_v(patch.unwrap_or(object)), &problem)),
            None => Ok(()),
        },
    }
}

/// `/v1, Kind=ConfigMap`, `apps/v1, Kind=Deployment`.
fn gvk(kind: &ResourceKind) -> String {
    format!("{}/{}, Kind={}", kind.group, kind.version, kind.kind)
}

/// The type check of a request's body before it is written: POST and PUT
/// (decoded), server-side apply (typed). Patches are checked once patched
/// ([`check`] from `api::patch`).
///
/// # Errors
/// See [`check`].
pub fn check_request(
    schema: &Schema,
    kind: &ResourceKind,
    apply: bool,
    body: &Value,
) -> Result<(), ApiError> {
    let write = if apply { Write::Apply } else { Write::Body };
    check(schema, kind, write, body, None)
}

/// `ns/name; apps/v1, Kind=Deployment`, from the applied object (as
/// apimachinery's `objectGVKNN` names it).
fn gvknn(kind: &ResourceKind, object: &Value) -> String {
    let meta = &object["metadata"];
    format!(
        "{}/{}; {}",
        meta["namespace"].as_str().unwrap_or(""),
        meta["name"].as_str().unwrap_or(""),
        gvk(kind)
    )
}

/// An error that is not an API status: the real server answers 500 with
/// no reason (`Error from server: ...` in kubectl).
fn plain(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "", message)
}

/// `errors.NewInvalid(schema.GroupKind{}, "", field.Invalid("patch", value, detail))`.
fn patch_invalid(value: &str, detail: &str) -> ApiError {
    let body = format!("Invalid value: {}: {detail}", go_quote(value));
    ApiError {
        details: Some(json!({
            "causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]
        })),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(" \"\" is invalid: patch: {body}"),
        )
    }
}

/// A custom resource's structural-schema type errors: 422 naming the kind
/// with its group.
fn custom_invalid(kind: &ResourceKind, object: &Value, errors: &[(String, String)]) -> ApiError {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let lines: Vec<String> = errors
        .iter()
        .map(|(field, body)| format!("{field}: {body}"))
        .collect();
    let listed = if lines.len() == 1 {
        lines[0].clone()
    } else {
        format!("[{}]", lines.join(", "))
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(
            |(field, body)| json!({"reason": "FieldValueInvalid", "message": body, "field": field}),
        )
        .collect();
    let mut details = json!({"name": name, "kind": kind.kind, "causes": causes});
    if !kind.group.is_empty() {
        details["group"] = json!(kind.group);
    }
    ApiError {
        details: Some(details),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{}.{} {name:?} is invalid: {listed}", kind.kind, kind.group),
        )
    }
}

// ---------------------------------------------------------------------------
// Go's names and prints.

/// `io.k8s.api.core.v1.Container` → (`v1`, `Container`).
fn split_definition(name: &str) -> (&str, &str) {
    let mut parts = name.rsplitn(3, '.');
    let ty = parts.next().unwrap_or(name);
    let package = parts.next().unwrap_or("");
    (package, ty)
}

fn only(types: u8, bit: u8) -> bool {
    types & !bit == 0 && types & bit != 0
}

/// The Go type of a position, as `reflect.Type.String()` names it.
fn go_type(node: Node<'_>) -> String {
    if let Some(definition) = node.definition() {
        match definition {
            QUANTITY => return "resource.Quantity".to_owned(),
            INT_OR_STRING => return "intstr.IntOrString".to_owned(),
            _ if node.is_struct() => {
                let (package, ty) = split_definition(definition);
                return format!("{package}.{ty}");
            }
            _ => {}
        }
    }
    let Some(types) = node.types() else {
        return "interface {}".to_owned();
    };
    let schema = node.resolved();
    let format = schema.get("format").and_then(Value::as_str);
    if types & STRING != 0 {
        return if format == Some("byte") {
            "[]uint8".to_owned()
        } else {
            "string".to_owned()
        };
    }
    if types & INTEGER != 0 {
        return if format == Some("int32") {
            "int32"
        } else {
            "int64"
        }
        .to_owned();
    }
    if types & NUMBER != 0 {
        return "float64".to_owned();
    }
    if types & BOOLEAN != 0 {
        return "bool".to_owned();
    }
    if types & ARRAY != 0 {
        return format!(
            "[]{}",
            node.items().map_or("interface {}".to_owned(), go_type)
        );
    }
    if node.is_map()
        && let Some(element) = node.field("")
    {
        return format!("map[string]{}", go_type(element));
    }
    "map[string]interface {}".to_owned()
}

/// `%q` of a Go string (ASCII escapes as Go writes them).
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn go_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// `%v` of a decoded JSON value (maps with sorted keys, as fmt prints them).
pub(crate) fn go_v(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(go_v).collect::<Vec<_>>().join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_v(&map[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

/// `%#v` of a decoded JSON value.
fn go_sharp_v(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => format!(
            "[]interface {{}}{{{}}}",
            items.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            format!(
                "map[string]interface {{}}{{{}}}",
                keys.iter()
                    .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&map[*k])))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// `%T` of a decoded JSON value.
fn go_t(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The `reflect.Kind` of a decoded JSON value.
fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        other => go_t(other),
    }
}

/// `resource.Quantity` decodes strings and numbers (its format is not
/// checked here).
fn quantity(value: &Value) -> Option<String> {
    match value {
        Value::String(_) | Value::Number(_) => None,
        _ => Some(QUANTITY_FORMAT.to_owned()),
    }
}

fn is_whole(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64()
}

// ---------------------------------------------------------------------------
// Go's JSON decoder (sigs.k8s.io/json): the first type error, with the
// innermost struct and the JSON names of the struct fields on the way.

fn unmarshal_error(what: &str, owner: &str, fields: &[&str], ty: &str) -> String {
    if fields.is_empty() {
        format!("json: cannot unmarshal {what} into Go value of type {ty}")
    } else {
        format!(
            "json: cannot unmarshal {what} into Go struct field {owner}.{} of type {ty}",
            fields.join(".")
        )
    }
}

/// What Go's decoder calls a JSON value it cannot store (`number 3.5` when
/// the target is a number).
fn literal(value: &Value, numeric_target: bool) -> String {
    match value {
        Value::Number(n) if numeric_target => format!("number {n}"),
        Value::Number(_) => "number".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
        Value::Null => "null".to_owned(),
    }
}

fn decode<'v>(
    node: Node<'_>,
    value: &'v Value,
    owner: &str,
    fields: &mut Vec<&'v str>,
) -> Option<String> {
    if value.is_null() {
        return None;
    }
    match node.definition() {
        Some(QUANTITY) => return quantity(value),
        Some(INT_OR_STRING) => {
            return match value {
                Value::String(_) => None,
                Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => None,
                other => Some(unmarshal_error(
                    &literal(other, true),
                    owner,
                    fields,
                    "int32",
                )),
            };
        }
        _ => {}
    }
    if node.preserves_unknown() && !node.in_custom() && !node.is_struct() {
        return None;
    }
    let types = node.types()?;
    let fits = match value {
        Value::Bool(_) => types & BOOLEAN != 0,
        Value::String(_) => types & STRING != 0,
        Value::Array(_) => types & ARRAY != 0,
        Value::Object(_) => types & OBJECT != 0,
        Value::Number(n) => {
            if types & NUMBER != 0 {
                true
            } else if types & INTEGER != 0 {
                let int32 = node.resolved().get("format").and_then(Value::as_str) == Some("int32");
                is_whole(n) && (!int32 || n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()))
            } else {
                false
            }
        }
        Value::Null => true,
    };
    if !fits {
        let numeric = types & (INTEGER | NUMBER) != 0;
        return Some(unmarshal_error(
            &literal(value, numeric),
            owner,
            fields,
            &go_type(node),
        ));
    }
    match value {
        Value::Object(map) if node.is_struct() => {
            let here = node.definition().map_or(owner, |d| split_definition(d).1);
            for (key, child) in map {
                let Some(child_node) = node.field(key) else {
                    continue;
                };
                fields.push(key);
                let found = decode(child_node, child, here, fields);
                fields.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Value::Object(map) => {
            let element = node.field("")?;
            map.values()
                .find_map(|child| decode(element, child, owner, fields))
        }
        Value::Array(items) => {
            let element = node.items()?;
            items
                .iter()
                .find_map(|item| decode(element, item, owner, fields))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// apimachinery's unstructured converter (`FromUnstructured`): the first
// error of a strategic merge patch's result, and of an applied object.

fn unstructured(node: Node<'_>, value: &Value) -> Option<String> {
    if value.is_null() {
        return None;
    }
    match node.definition() {
        // Types with their own UnmarshalJSON get the value as JSON.
        Some(QUANTITY) => return quantity(value),
        Some(INT_OR_STRING) => {
            return match value {
                Value::String(_) => None,
                Value::Number(n)
                    if n.as_f64().is_some_and(|f| {
                        f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX)
                    }) =>
                {
                    None
                }
                other => Some(unmarshal_error(&literal(other, true), "", &[], "int32")),
            };
        }
        _ => {}
    }
    if node.preserves_unknown() && !node.is_struct() {
        return None;
    }
    let types = node.types()?;
    let st = go_kind(value);
    if node.is_struct() {
        let Value::Object(map) = value else {
            return Some(format!("cannot restore struct from: {st}"));
        };
        return map
            .iter()
            .find_map(|(key, child)| node.field(key).and_then(|n| unstructured(n, child)));
    }
    if types & OBJECT != 0 && node.is_map() {
        let Value::Object(map) = value else {
            return Some(format!("cannot restore map from {st}"));
        };
        let element = node.field("")?;
        return map.values().find_map(|child| unstructured(element, child));
    }
    if only(types, ARRAY) {
        let Value::Array(items) = value else {
            return Some(format!("cannot restore slice from {st}"));
        };
        let element = node.items()?;
        return items.iter().find_map(|item| unstructured(element, item));
    }
    let byte_string = node.resolved().get("format").and_then(Value::as_str) == Some("byte");
    if byte_string {
        return match value {
            Value::String(_) => None,
            _ => Some(format!("cannot restore slice from {st}")),
        };
    }
    let dt = go_type(node);
    let numeric_target = matches!(dt.as_str(), "int32" | "int64" | "float64");
    match (value, dt.as_str()) {
        (Value::String(_), "string") | (Value::Bool(_), "bool") => None,
        (Value::Number(n), _) if numeric_target => {
            // Whole floats convert; others only to floats.
            if is_whole(n) || dt == "float64" || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                None
            } else {
                Some(format!("cannot convert float64 to {dt}"))
            }
        }
        // Go converts integers to strings, which JSON does not allow.
        (Value::Number(n), "string") if is_whole(n) => {
            Some("cannot convert int64 to string".to_owned())
        }
        _ => Some(format!("unrecognized type: {dt}")),
    }
}

// ---------------------------------------------------------------------------
// structured-merge-diff's validation of an applied object.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    String,
    Numeric,
    Boolean,
    Untyped,
}

fn scalar_of(types: u8) -> Option<Scalar> {
    if types & (OBJECT | ARRAY) != 0 {
        return None;
    }
    Some(if only(types, STRING) {
        Scalar::String
    } else if types & !(INTEGER | NUMBER) == 0 {
        Scalar::Numeric
    } else if only(types, BOOLEAN) {
        Scalar::Boolean
    } else {
        Scalar::Untyped
    })
}

/// `value.ToString`: how a key's value appears in a path.
fn smd_key(value: &Value) -> String {
    match value {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn smd_message(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        let mut lines = vec!["errors:".to_owned()];
        lines.extend(errors.iter().map(|e| format!("  {e}")));
        lines.join("\n")
    }
}

fn smd(node: Node<'_>, value: &Value, path: &mut String, errors: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let at = |path: &str, message: String| {
        if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        }
    };
    let wrapped = || format!("&{{{}}}", go_v(value));
    let builtin_free = node.preserves_unknown() && !node.is_struct() && !node.is_map();
    let types = match node.types() {
        Some(types) if !builtin_free || node.in_custom() => types,
        _ => return,
    };
    let is_quantity_or_int = matches!(node.definition(), Some(QUANTITY | INT_OR_STRING));
    if let Some(scalar) = scalar_of(types).or(is_quantity_or_int.then_some(Scalar::Untyped)) {
        let problem = match (scalar, value) {
            (Scalar::String, Value::String(_))
            | (Scalar::Numeric, Value::Number(_))
            | (Scalar::Boolean, Value::Bool(_)) => None,
            (Scalar::Untyped, Value::String(_) | Value::Number(_) | Value::Bool(_)) => None,
            (Scalar::String, _) => Some(format!(
                "expected string, got &value.valueUnstructured{{Value:{}}}",
                go_sharp_v(value)
            )),
            (Scalar::Numeric, _) => Some(format!(
                "expected numeric (int or float), got {}",
                go_t(value)
            )),
            (Scalar::Boolean, _) => Some(format!("expected boolean, got {}", wrapped())),
            (Scalar::Untyped, _) => Some(format!("expected any scalar, got {}", wrapped())),
        };
        if let Some(problem) = problem {
            errors.push(at(path, problem));
        }
        return;
    }
    if types & OBJECT != 0 && !(types & ARRAY != 0 && value.is_array()) {
        let Value::Object(map) = value else {
            errors.push(at(path, format!("expected map, got {}", wrapped())));
            return;
        };
        let free = node.preserves_unknown();
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for key in keys {
            let len = path.len();
            path.push('.');
            path.push_str(key);
            match node.field(key) {
                Some(child) => smd(child, &map[key], path, errors),
                None if free => {}
                None => {
                    // The walk of this map stops at its first unknown field.
                    errors.push(format!("{path}: field not declared in schema"));
                    path.truncate(len);
                    return;
                }
            }
            path.truncate(len);
        }
        return;
    }
    if types & ARRAY != 0 {
        let Value::Array(items) = value else {
            errors.push(at(path, format!("expected list, got {}", wrapped())));
            return;
        };
        let Some(element) = node.items() else {
            return;
        };
        let list_type = node.list_type();
        for (index, item) in items.iter().enumerate() {
            let step = match &list_type {
                ListType::Atomic => Ok(format!("[{index}]")),
                ListType::Map { keys } => match item {
                    Value::Null => {
                        Err("associative list with keys may not have a null element".to_owned())
                    }
                    Value::Object(fields) => {
                        let mut found: Vec<(String, String)> = keys
                            .iter()
                            .filter_map(|key| match fields.get(key) {
                                Some(v) => Some((key.clone(), smd_key(v))),
                                // The schema's default of the only defaulted key.
                                None if key == "protocol" => {
                                    Some((key.clone(), "\"TCP\"".to_owned()))
                                }
                                None => None,
                            })
                            .collect();
                        if found.is_empty() {
                            Err(format!(
                                "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                                keys.iter()
                                    .map(|k| go_quote(k))
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            ))
                        } else {
                            found.sort();
                            Ok(format!(
                                "[{}]",
                                found
                                    .iter()
                                    .map(|(k, v)| format!("{k}={v}"))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ))
                        }
                    }
                    _ => Err("associative list with keys may not have non-map elements".to_owned()),
                },
                ListType::Set => match item {
                    Value::Object(_) => Err(
                        "associative list without keys has an element that's a map type".to_owned(),
                    ),
                    Value::Array(_) => {
                        Err("not supported: associative list with lists as elements".to_owned())
                    }
                    Value::Null => Err(
                        "associative list without keys has an element that's an explicit null"
                            .to_owned(),
                    ),
                    other => Ok(format!("[={}]", smd_key(other))),
                },
            };
            match step {
                Ok(step) => {
                    let len = path.len();
                    path.push_str(&step);
                    smd(element, item, path, errors);
                    path.truncate(len);
                }
                Err(problem) => {
                    errors.push(at(path, format!("element {index}: {problem}")));
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A custom resource's structural schema (kube-openapi's type validation).

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn structural(
    node: Node<'_>,
    value: &Value,
    path: &mut String,
    errors: &mut Vec<(String, String)>,
) {
    if value.is_null() || !node.in_custom() {
        // Nulls are accepted (nullable) or pruned; built-in parts
        // (metadata) are the server's own.
        return;
    }
    let Some(types) = node.types() else {
        return;
    };
    let found = type_name(value);
    let fits = match found {
        "boolean" => types & BOOLEAN != 0,
        "integer" => types & (INTEGER | NUMBER) != 0,
        "number" => types & NUMBER != 0,
        "string" => types & STRING != 0,
        "array" => types & ARRAY != 0,
        _ => types & OBJECT != 0,
    };
    if !fits {
        let expected: Vec<&str> = [
            (INTEGER, "integer"),
            (STRING, "string"),
            (NUMBER, "number"),
            (BOOLEAN, "boolean"),
            (OBJECT, "object"),
            (ARRAY, "array"),
        ]
        .into_iter()
        .filter(|(bit, _)| types & bit != 0)
        .map(|(_, name)| name)
        .collect();
        let field = if path.is_empty() {
            "<nil>"
        } else {
            path.as_str()
        };
        errors.push((
            field.to_owned(),
            format!(
                "Invalid value: {found:?}: {field} in body must be of type {}: {found:?}",
                expected.join(",")
            ),
        ));
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if path.is_empty() && key == "metadata" {
                    continue;
                }
                if let Some(child_node) = node.field(key) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    structural(child_node, child, path, errors);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            if let Some(element) = node.items() {
                for (index, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{index}]"));
                    structural(element, item, path, errors);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Pruning.

/// Drops what the real server would not store of `object`: undeclared
/// fields (below a position that preserves unknown fields they stay),
/// `null` struct fields of built-ins, non-nullable `null`s of custom
/// resources, and malformed metadata fields of custom resources.
pub fn prune(schema: &Schema, kind: &ResourceKind, object: &mut Value) {
    let Some(root) = schema.node_for(&kind.group, &kind.version, &kind.kind) else {
        return;
    };
    if kind.custom
        && let (Some(meta_node), Some(meta)) = (
            root.field("metadata"),
            object.get_mut("metadata").and_then(Value::as_object_mut),
        )
    {
        meta.retain(|key, value| {
            meta_node
                .field(key)
                .is_none_or(|field| decode(field, value, "ObjectMeta", &mut Vec::new()).is_none())
        });
    }
    prune_at(root, object);
}

fn nullable(node: Node<'_>) -> bool {
    node.raw().get("nullable").and_then(Value::as_bool) == Some(true)
        || node.resolved().get("nullable").and_then(Value::as_bool) == Some(true)
}

fn prune_at(node: Node<'_>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if node.is_struct() || (node.in_custom() && !node.is_map()) {
                let free = node.preserves_unknown();
                prune_fields(node, map, free);
            } else if node.is_map()
                && let Some(element) = node.field("")
            {
                for child in map.values_mut() {
                    prune_at(element, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(element) = node.items() {
                for item in items {
                    prune_at(element, item);
                }
            }
        }
        _ => {}
    }
}

fn prune_fields(node: Node<'_>, map: &mut Map<String, Value>, free: bool) {
    map.retain(|key, child| match node.field(key) {
        None => free,
        Some(field) if child.is_null() => {
            if field.in_custom() || node.in_custom() {
                nullable(field)
            } else {
                false
            }
        }
        Some(_) => true,
    });
    for (key, child) in map.iter_mut() {
        if let Some(field) = node.field(key) {
            prune_at(field, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::schema;

    fn builtin(group: &str, kind: &str) -> ResourceKind {
        crate::kinds::builtin()
            .into_iter()
            .find(|k| k.group == group && k.kind == kind)
            .expect("a built-in kind")
    }

    fn message(result: Result<(), ApiError>) -> (u16, String) {
        let e = result.expect_err("refused");
        (e.code.as_u16(), e.message)
    }

    #[test]
    fn go_prints_values_as_fmt_does() {
        let v = json!({"b": [1, "x", 2.5], "a": {"c": true, "d": null}});
        assert_eq!(go_v(&v), "map[a:map[c:true d:<nil>] b:[1 x 2.5]]");
        assert_eq!(
            go_sharp_v(&v),
            r#"map[string]interface {}{"a":map[string]interface {}{"c":true, "d":interface {}(nil)}, "b":[]interface {}{1, "x", 2.5}}"#
        );
        assert_eq!(go_t(&json!(1)), "int64");
        assert_eq!(go_t(&json!(1.5)), "float64");
    }

    #[test]
    fn each_write_fails_where_the_real_server_decodes() {
        let schema = schema();
        let cm = builtin("", "ConfigMap");
        let object = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": 1}});
        assert_eq!(
            message(check(schema, &cm, Write::Body, &object, None)),
            (400, "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string".to_owned())
        );
        assert_eq!(
            message(check(schema, &cm, Write::Apply, &object, None)),
            (500, "failed to create typed patch object (d/c; /v1, Kind=ConfigMap): .data.a: expected string, got &value.valueUnstructured{Value:1}".to_owned())
        );
        let patch = json!({"data": {"a": 1}});
        assert_eq!(
            message(check(schema, &cm, Write::Strategic, &object, Some(&patch))),
            (422, " \"\" is invalid: patch: Invalid value: \"map[data:map[a:1]]\": cannot convert int64 to string".to_owned())
        );
        // Nulls are taken everywhere; whole numbers only for integers.
        let deployment = builtin("apps", "Deployment");
        let nulls = json!({"metadata": {"labels": null}, "spec": {"replicas": null}});
        for write in [Write::Body, Write::Apply, Write::Merge, Write::Strategic] {
            assert!(check(schema, &deployment, write, &nulls, Some(&nulls)).is_ok());
        }
        let float = json!({"spec": {"replicas": 3.5}});
        assert!(message(check(schema, &deployment, Write::Body, &float, None)).1.ends_with(
            "json: cannot unmarshal number 3.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        ));
        assert!(
            message(check(schema, &deployment, Write::Apply, &float, None))
                .1
                .ends_with("unable to convert unstructured object to apps/v1, Kind=Deployment: cannot convert float64 to int32")
        );
        // Int-or-string and quantities take both.
        let service = builtin("", "Service");
        let ports = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
        for write in [Write::Body, Write::Apply, Write::Merge, Write::Strategic] {
            assert!(check(schema, &service, write, &ports, Some(&ports)).is_ok());
        }
        let wrong = json!({"spec": {"ports": [{"port": 80, "targetPort": true}]}});
        assert!(message(check(schema, &service, Write::Body, &wrong, None)).1.ends_with(
            "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32"
        ));
        assert!(
            message(check(schema, &service, Write::Apply, &wrong, None))
                .1
                .ends_with("Kind=Service: json: cannot unmarshal bool into Go value of type int32")
        );
    }

    #[test]
    fn pruning_drops_unknown_fields_and_null_struct_fields() {
        let schema = schema();
        let cm = builtin("", "ConfigMap");
        let mut object = json!({
            "metadata": {"name": "c", "colour": "red", "labels": {"a": "b"}},
            "spec": {"x": 1},
            "data": {"a": "b"},
            "immutable": null
        });
        prune(schema, &cm, &mut object);
        assert_eq!(
            object,
            json!({"metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"a": "b"}})
        );
        // Free-form fields keep what they hold.
        let crd = builtin("apiextensions.k8s.io", "CustomResourceDefinition");
        let mut object = json!({"spec": {"versions": [{"schema": {"openAPIV3Schema": {"default": {"any": 1}}}}]}});
        let before = object.clone();
        prune(schema, &crd, &mut object);
        assert_eq!(object, before);
    }
}
