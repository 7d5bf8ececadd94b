//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! and strategic merge patch, driven by the schema's list semantics (see
//! [`strategic_merge`] for how close it is).

use serde_json::{Map, Value};

use crate::fields::{ListType, Shape, item_key};

/// RFC 7386: objects merge recursively, `null` deletes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Strategic merge patch, as kubectl's `patch`, `edit`, `label` and
/// `scale` send it:
/// - maps merge, `null` deletes a key, `{"$patch": "replace"}` replaces a
///   map, `{"$patch": "delete"}` deletes it;
/// - lists the schema keys (map-lists: containers by name, ports, env,
///   volumes…) merge item by item; an item with `"$patch": "delete"`
///   removes the live item with its key;
/// - lists of scalars the schema marks as sets merge as unions, and
///   `$deleteFromPrimitiveList/<field>` removes values;
/// - other lists are replaced.
///
/// `$setElementOrder/<field>` and `$retainKeys` are accepted and ignored:
/// the order of merged items is the live order, then new items.
pub fn strategic_merge<S: Shape>(target: &mut Value, patch: &Value, shape: Option<S>) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replacement = patch.clone();
            replacement.remove("$patch");
            *target = Value::Object(replacement);
            return;
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object");
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(live)), Value::Array(gone)) = (target.get_mut(field), value) {
                live.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        let child = shape.and_then(|s| s.field(key));
        let slot = target.entry(key.clone()).or_insert(Value::Null);
        match (slot, value) {
            (Value::Array(live), Value::Array(items)) => {
                merge_list(live, items, child);
            }
            (slot, Value::Array(items)) => {
                // No live list: directives are dropped, items taken as they are.
                *slot = Value::Array(
                    items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                );
            }
            (slot, value) => strategic_merge(slot, value, child),
        }
    }
}

fn merge_list<S: Shape>(live: &mut Vec<Value>, items: &[Value], shape: Option<S>) {
    match shape.map_or(ListType::Atomic, |s| s.list_type()) {
        ListType::Map(keys) => {
            let item_shape = shape.and_then(|s| s.items());
            for item in items {
                let key = item_key(item, &keys);
                let found = key.as_ref().and_then(|k| {
                    live.iter()
                        .position(|l| item_key(l, &keys).as_ref() == Some(k))
                });
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (found, delete) {
                    (Some(i), true) => {
                        live.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic_merge(&mut live[i], item, item_shape),
                    (None, false) => live.push(item.clone()),
                }
            }
        }
        ListType::Set => {
            for item in items {
                if !live.contains(item) {
                    live.push(item.clone());
                }
            }
        }
        ListType::Atomic => *live = items.to_vec(),
    }
}

/// Why a JSON patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError(pub String);

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 6902: add, remove, replace, move, copy and test, in order; any
/// failure leaves `target` unchanged.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".to_owned()))?;
    let mut doc = target.clone();
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError("operation has no \"op\"".to_owned()))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError(format!("{name} operation has no \"path\"")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError(format!("{name} operation has no \"value\"")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError(format!("{name} operation has no \"from\"")))
        };
        match name {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut doc, from()?)?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let copied = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| missing(from().unwrap_or_default()))?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                let found = doc.pointer(path).ok_or_else(|| missing(path))?;
                if *found != value()? {
                    return Err(PatchError(format!("testing value {path} failed")));
                }
            }
            other => return Err(PatchError(format!("unexpected operation {other:?}"))),
        }
    }
    *target = doc;
    Ok(())
}

fn missing(path: &str) -> PatchError {
    PatchError(format!("doc is missing path: {path:?}"))
}

fn split(path: &str) -> Result<(String, String), PatchError> {
    let i = path
        .rfind('/')
        .ok_or_else(|| PatchError(format!("invalid path {path:?}")))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_owned(), last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let container = doc.pointer_mut(&parent).ok_or_else(|| missing(path))?;
    match container {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(list) => {
            if last == "-" {
                list.push(value);
                return Ok(());
            }
            let index: usize = last
                .parse()
                .map_err(|_| PatchError(format!("invalid index in {path:?}")))?;
            if index > list.len() {
                return Err(PatchError(format!("index out of range in {path:?}")));
            }
            list.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, last) = split(path)?;
    let container = doc.pointer_mut(&parent).ok_or_else(|| missing(path))?;
    match container {
        Value::Object(map) => map.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(list) => {
            let index: usize = last
                .parse()
                .map_err(|_| PatchError(format!("invalid index in {path:?}")))?;
            if index >= list.len() {
                return Err(missing(path));
            }
            Ok(list.remove(index))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Untyped;
    use crate::fields::test_shape::T;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_keyed_lists_and_follows_directives() {
        let mut doc = json!({
            "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
            "spec": {
                "containers": [{"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox"}],
                "args": ["--old"],
            },
        });
        strategic_merge(
            &mut doc,
            &json!({
                "metadata": {"labels": {"b": null, "c": "3"}, "finalizers": ["y"]},
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:2"}, {"name": "side", "$patch": "delete"}, {"name": "new", "image": "x"}],
                    "args": ["--new"],
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "new"}],
                },
            }),
            Some(T("struct")),
        );
        assert_eq!(
            doc,
            json!({
                "metadata": {"labels": {"a": "1", "c": "3"}, "finalizers": ["x", "y"]},
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:2"}, {"name": "new", "image": "x"}],
                    "args": ["--new"],
                },
            })
        );
        strategic_merge(
            &mut doc,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"$patch": "replace", "z": "9"}}}),
            Some(T("struct")),
        );
        assert_eq!(
            doc["metadata"],
            json!({"labels": {"z": "9"}, "finalizers": ["y"]})
        );
        // Without a schema, lists are replaced, as a merge patch would.
        let mut plain = json!({"l": [1, 2]});
        strategic_merge(&mut plain, &json!({"l": [3]}), Some(Untyped));
        assert_eq!(plain, json!({"l": [3]}));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(
            doc,
            json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
        );
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "l": [1, 2, 3]});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "remove", "path": "/l/0"},
                {"op": "add", "path": "/l/-", "value": 4},
                {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
                {"op": "copy", "from": "/l/0", "path": "/first"},
                {"op": "move", "from": "/first", "path": "/second"},
                {"op": "test", "path": "/second", "value": 2}
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "l": [2, 3, 4], "second": 2})
        );
        let before = doc.clone();
        let err = json_patch(
            &mut doc,
            &json!([{"op": "remove", "path": "/l/0"}, {"op": "test", "path": "/l/0", "value": 99}]),
        )
        .unwrap_err();
        assert!(err.0.contains("testing value"), "{err}");
        assert_eq!(doc, before, "a failed patch changes nothing");
    }
}
