//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! An apply (`PATCH` with `application/apply-patch+yaml`) by manager M:
//! 1. the fields the applied configuration sets are computed (a
//!    [`FieldSet`], walked with the kind's shape: map-lists by their keys,
//!    sets by value, atomic lists whole);
//! 2. a field set by the configuration that another manager owns and whose
//!    live value differs is a conflict (409, one cause per field, naming the
//!    manager), unless `force=true` takes it over;
//! 3. the configuration is merged into the live object, and the fields M
//!    applied before and no longer sets are removed, unless another manager
//!    also owns them;
//! 4. M's `Apply` entry becomes exactly the applied set; other managers lose
//!    the fields taken from them.
//!
//! Other writes (create, update, patch) give their manager (`fieldManager`,
//! or one named after the client) an `Update` entry with the fields they
//! changed, and take those fields from the others. Such a write may also
//! rewrite `managedFields` itself: a non-empty list that differs from the
//! stored one replaces it (`[{}]` clears it), as on the real server.

use http::StatusCode;
use serde_json::{Value, json};

use crate::api::{self, WriteOptions};
use crate::fields::{FieldSet, ListType, Path, Shape, Typed, display, item_key, value_at};
use crate::kinds::ResourceKind;
use crate::meta;
use crate::status::ApiError;
use crate::store::State;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        // A client that rewrote managedFields may have left it out.
        if !self.time.is_empty() {
            v["time"] = json!(self.time);
        }
        if let Some(sub) = &self.subresource {
            v["subresource"] = json!(sub);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v["manager"].as_str()?.to_owned(),
            operation: v["operation"].as_str().unwrap_or("Update").to_owned(),
            api_version: v["apiVersion"].as_str().unwrap_or("").to_owned(),
            time: v["time"].as_str().unwrap_or("").to_owned(),
            subresource: v["subresource"].as_str().map(str::to_owned),
            fields: FieldSet::from_fields_v1(&v["fieldsV1"]),
        })
    }
}

pub fn entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|l| l.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

fn set_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if let Some(meta) = object["metadata"].as_object_mut() {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(list));
        }
    }
}

/// The fields whose ownership is not tracked: the server's own metadata
/// and the type's identity.
fn owned_part(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("status");
    }
    if let Some(meta) = o["metadata"].as_object_mut() {
        for f in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
        if meta.is_empty()
            && let Some(map) = o.as_object_mut()
        {
            map.remove("metadata");
        }
    }
    o
}

/// The shape of `kind`'s objects: its schema, or untyped without one.
pub fn shape_of<'s>(schema: Option<&'s crate::schema::Schema>, kind: &ResourceKind) -> Typed<'s> {
    schema
        .and_then(|s| s.node_for(&kind.group, &kind.version, &kind.kind))
        .map_or(Typed::Untyped, Typed::Node)
}

/// Server-side apply of `config` by `opts.field_manager`. Creates the
/// object when it does not exist. Returns the object and whether it was
/// created.
pub fn apply(
    state: &mut State,
    kind: &ResourceKind,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    config: Value,
    opts: &WriteOptions,
) -> Result<(Value, bool), ApiError> {
    let manager = opts.field_manager.clone().ok_or_else(|| {
        ApiError::bad_request(
            "PATCH is not supported for this request: fieldManager is required for apply requests",
        )
    })?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    let schema = state.schema.clone();
    let shape = shape_of(schema.as_deref(), kind);
    let applied = FieldSet::of(&owned_part(&config), shape);
    let now = meta::now();
    let entry = Entry {
        manager: manager.clone(),
        operation: "Apply".to_owned(),
        api_version: kind.api_version(),
        time: now,
        subresource: sub.map(str::to_owned),
        fields: applied.clone(),
    };
    let live = match api::get(state, kind, namespace, name) {
        Ok(live) => live,
        Err(e) if e.code == StatusCode::NOT_FOUND && sub.is_none() => {
            let mut object = config;
            if object["metadata"]["name"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                object["metadata"]["name"] = json!(name);
            }
            set_entries(&mut object, &[entry]);
            let applying = WriteOptions {
                applying: true,
                ..opts.clone()
            };
            let created = api::create(state, kind, namespace, object, &applying)?;
            return Ok((created, true));
        }
        Err(e) => return Err(e),
    };

    let mut others: Vec<Entry> = entries(&live)
        .into_iter()
        .filter(|e| {
            !(e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == sub)
        })
        .collect();
    let previous = entries(&live)
        .into_iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == sub)
        .map(|e| e.fields)
        .unwrap_or_default();

    // Conflicts: fields others own, set here to a different value.
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for path in &applied.0 {
        if path.last().is_some_and(|e| e == ".") {
            continue;
        }
        let differs = value_at(&live, path) != value_at(&config, path);
        if !differs {
            continue;
        }
        for other in &others {
            if other.fields.contains(path) {
                conflicts.push((other.manager.clone(), path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !opts.force {
        return Err(conflict_error(kind, name, &conflicts));
    }
    if opts.force {
        for other in &mut others {
            other.fields = other.fields.difference(&applied);
        }
    }

    let mut merged = live.clone();
    merge(&mut merged, &config, Some(shape));
    // What this manager applied before, applies no more, and nobody else
    // owns, goes.
    let owned_by_others = others
        .iter()
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let dropped = previous.difference(&applied).difference(&owned_by_others);
    // A map or list item goes whole, before its fields (an item found by
    // its key cannot be found once the key is gone), unless others own
    // something in it: then it stays, for them.
    let node = |p: &Path| -> Vec<String> { p.iter().filter(|e| *e != ".").cloned().collect() };
    let held = |n: &[String]| {
        owned_by_others.0.iter().any(|o| {
            let o = node(o);
            o.len() > n.len() && o.starts_with(n)
        })
    };
    let mut removed: Vec<Vec<String>> = Vec::new();
    for path in &dropped.0 {
        let n = node(path);
        if held(&n) || removed.iter().any(|r| n.starts_with(r)) {
            continue;
        }
        remove_path(&mut merged, path);
        removed.push(n);
    }
    let mut all = others;
    all.push(entry);
    set_entries(&mut merged, &all);
    // Preconditions do not apply to apply.
    merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
    let applying = WriteOptions {
        applying: true,
        ..opts.clone()
    };
    let updated = api::update(state, kind, namespace, name, sub, merged, false, &applying)?;
    Ok((updated, false))
}

fn conflict_error(kind: &ResourceKind, name: &str, conflicts: &[(String, Path)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(manager, path)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {manager:?}"),
                "field": display(path),
            })
        })
        .collect();
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(manager, path)| {
            format!(
                "conflict with {manager:?} using {}: {}",
                kind.api_version(),
                display(path)
            )
        })
        .collect();
    let message = if lines.len() == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            lines.len(),
            lines.join("\n")
        )
    };
    let mut details = json!({"name": name, "kind": kind.plural, "causes": causes});
    if !kind.group.is_empty() {
        details["group"] = json!(kind.group);
    }
    ApiError {
        details: Some(details),
        ..ApiError::new(StatusCode::CONFLICT, "Conflict", message)
    }
}

/// Merges `config` into `live`: objects field by field, map-lists item by
/// item (by key), sets by value, everything else replaced.
pub fn merge<S: Shape>(live: &mut Value, config: &Value, shape: Option<S>) {
    match (live, config) {
        (Value::Object(live), Value::Object(config)) if shape.is_none_or(|s| !s.is_atomic()) => {
            for (k, v) in config {
                let child = shape.and_then(|s| s.field(k));
                match live.get_mut(k) {
                    Some(existing) => merge(existing, v, child),
                    None => {
                        live.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(live), Value::Array(config)) => {
            match shape.map_or(ListType::Atomic, |s| s.list_type()) {
                ListType::Map(keys) => {
                    let item_shape = shape.and_then(|s| s.items());
                    for item in config {
                        let key = item_key(item, &keys);
                        match live
                            .iter_mut()
                            .find(|l| key.is_some() && item_key(l, &keys) == key)
                        {
                            Some(existing) => merge(existing, item, item_shape),
                            None => live.push(item.clone()),
                        }
                    }
                }
                ListType::Set => {
                    for item in config {
                        if !live.contains(item) {
                            live.push(item.clone());
                        }
                    }
                }
                ListType::Atomic => *live = config.clone(),
            }
        }
        (live, config) => *live = config.clone(),
    }
}

/// Removes the field or item at `path` (a `.` path removes its node).
fn remove_path(object: &mut Value, path: &[String]) {
    let path: Vec<&String> = path.iter().filter(|e| *e != ".").collect();
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let parents: Vec<String> = parents.iter().map(|s| (*s).clone()).collect();
    let Some(parent) = value_at_mut(object, &parents) else {
        return;
    };
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = parent.as_object_mut() {
            map.remove(name);
        }
    } else if let Some(list) = parent.as_array_mut() {
        let target = value_at(&Value::Array(list.clone()), &[(*last).clone()]).cloned();
        if let Some(target) = target
            && let Some(i) = list.iter().position(|x| *x == target)
        {
            list.remove(i);
        }
    }
}

fn value_at_mut<'v>(object: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    let mut node = object;
    for element in path {
        node = if let Some(name) = element.strip_prefix("f:") {
            node.get_mut(name)?
        } else {
            let found = value_at(node, std::slice::from_ref(element))?.clone();
            node.as_array_mut()?.iter_mut().find(|x| **x == found)?
        };
    }
    Some(node)
}

/// Records the fields a non-apply write changed as owned by `manager`
/// (operation `Update`), taking them from the other managers.
pub fn track_update(
    schema: Option<&crate::schema::Schema>,
    kind: &ResourceKind,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    sub: Option<&str>,
) {
    let shape = shape_of(schema, kind);
    let new_set = FieldSet::of(&owned_part(new), shape);
    let changed = match old {
        None => new_set,
        Some(old) => {
            let old_owned = owned_part(old);
            let new_owned = owned_part(new);
            FieldSet(
                new_set
                    .0
                    .into_iter()
                    .filter(|p| value_at(&old_owned, p) != value_at(&new_owned, p))
                    .collect(),
            )
        }
    };
    // The ownership the write starts from: the stored one, or the one
    // the client rewrote (see `api::update`).
    let mut all = entries(new);
    if changed.is_empty() {
        set_entries(new, &all);
        return;
    }
    for e in &mut all {
        e.fields = e.fields.difference(&changed);
    }
    let now = meta::now();
    match all.iter_mut().find(|e| {
        e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == sub
    }) {
        Some(e) => {
            e.fields = e.fields.union(&changed);
            e.time = now;
        }
        None => all.push(Entry {
            manager: manager.to_owned(),
            operation: "Update".to_owned(),
            api_version: kind.api_version(),
            time: now,
            subresource: sub.map(str::to_owned),
            fields: changed,
        }),
    }
    set_entries(new, &all);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin;
    use tokio::sync::broadcast;

    fn setup() -> (State, ResourceKind) {
        let (tx, _) = broadcast::channel(16);
        let mut state = State::new(builtin(), tx);
        crate::server::bootstrap(&mut state);
        let cm = state
            .kinds
            .iter()
            .find(|k| k.kind == "ConfigMap")
            .unwrap()
            .clone();
        (state, cm)
    }

    fn by(manager: &str) -> WriteOptions {
        WriteOptions {
            field_manager: Some(manager.to_owned()),
            ..WriteOptions::default()
        }
    }

    #[test]
    fn apply_creates_then_drops_what_it_no_longer_sets() {
        let (mut s, cm) = setup();
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}});
        let (created, new) =
            apply(&mut s, &cm, "default", "a", None, config, &by("strata")).unwrap();
        assert!(new);
        let managed = &created["metadata"]["managedFields"][0];
        assert_eq!(managed["manager"], "strata");
        assert_eq!(managed["operation"], "Apply");
        assert_eq!(
            managed["fieldsV1"],
            json!({"f:data": {"f:x": {}, "f:y": {}}})
        );

        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}});
        let (updated, new) =
            apply(&mut s, &cm, "default", "a", None, config, &by("strata")).unwrap();
        assert!(!new);
        assert_eq!(updated["data"], json!({"x": "1"}));
    }

    #[test]
    fn a_field_another_manager_set_conflicts_unless_forced() {
        let (mut s, cm) = setup();
        let config = json!({"metadata": {"name": "a"}, "data": {"x": "1"}});
        apply(&mut s, &cm, "default", "a", None, config, &by("strata")).unwrap();
        let theirs = json!({"metadata": {"name": "a"}, "data": {"x": "2"}});
        let err = apply(
            &mut s,
            &cm,
            "default",
            "a",
            None,
            theirs.clone(),
            &by("kubectl"),
        )
        .unwrap_err();
        assert_eq!(err.code, StatusCode::CONFLICT);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"strata\" using v1: .data.x"
        );
        assert_eq!(err.body()["details"]["causes"][0]["field"], ".data.x");
        // The same value is shared ownership, not a conflict.
        let same = json!({"metadata": {"name": "a"}, "data": {"x": "1"}});
        apply(&mut s, &cm, "default", "a", None, same, &by("other")).unwrap();

        let forced = WriteOptions {
            force: true,
            ..by("kubectl")
        };
        let (object, _) = apply(&mut s, &cm, "default", "a", None, theirs, &forced).unwrap();
        assert_eq!(object["data"]["x"], "2");
        let managers: Vec<&str> = object["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["fieldsV1"]["f:data"].get("f:x").is_some())
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["kubectl"]);
    }
}
