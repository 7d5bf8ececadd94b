//! Field sets in the FieldsV1 form of `metadata.managedFields`, and the
//! shape of objects they are computed against.
//!
//! A field set is a set of paths. Path elements are spelled as in FieldsV1:
//! `f:<name>` a field or map key, `k:<json>` a list item by its map keys,
//! `v:<json>` an item of a set list, `i:<n>` an item of an atomic list (not
//! used: atomic lists are owned whole), and `.` the node itself (a map or
//! list item that is set, whatever its members).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// How a list merges, from the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; owned as one field.
    Atomic,
    /// Items are unique scalar values.
    Set,
    /// Items are objects identified by these keys.
    Map(Vec<String>),
}

/// What server-side apply needs to know of a position in an object's type.
pub trait Shape: Copy {
    /// The type of a struct field or of a map's values.
    fn field(&self, name: &str) -> Option<Self>;
    /// The type of a list's items.
    fn items(&self) -> Option<Self>;
    fn list_type(&self) -> ListType;
    /// A map (keys are data) rather than a struct (keys are field names).
    fn is_map(&self) -> bool;
    /// `x-kubernetes-map-type: atomic`: owned and replaced whole.
    fn is_atomic(&self) -> bool;
}

/// A shape that knows nothing: objects are structs, lists are atomic. Used
/// where no schema exists.
#[derive(Debug, Clone, Copy)]
pub struct Untyped;

impl Shape for Untyped {
    fn field(&self, _: &str) -> Option<Self> {
        Some(Untyped)
    }
    fn items(&self) -> Option<Self> {
        Some(Untyped)
    }
    fn list_type(&self) -> ListType {
        ListType::Atomic
    }
    fn is_map(&self) -> bool {
        false
    }
    fn is_atomic(&self) -> bool {
        false
    }
}

/// The schema's view of a position, falling back to [`Untyped`] below
/// `x-kubernetes-preserve-unknown-fields`.
#[derive(Debug, Clone, Copy)]
pub enum Typed<'s> {
    Node(crate::schema::Node<'s>),
    Untyped,
}

impl Shape for Typed<'_> {
    fn field(&self, name: &str) -> Option<Self> {
        match self {
            Typed::Node(n) => match n.field(name) {
                Some(child) => Some(Typed::Node(child)),
                None if n.preserves_unknown() => Some(Typed::Untyped),
                None => None,
            },
            Typed::Untyped => Some(Typed::Untyped),
        }
    }
    fn items(&self) -> Option<Self> {
        match self {
            Typed::Node(n) => n.items().map(Typed::Node),
            Typed::Untyped => Some(Typed::Untyped),
        }
    }
    fn list_type(&self) -> ListType {
        match self {
            Typed::Node(n) => match n.list_type() {
                crate::schema::ListType::Atomic => ListType::Atomic,
                crate::schema::ListType::Set => ListType::Set,
                crate::schema::ListType::Map { keys } => ListType::Map(keys),
            },
            Typed::Untyped => ListType::Atomic,
        }
    }
    fn is_map(&self) -> bool {
        matches!(self, Typed::Node(n) if n.is_map())
    }
    fn is_atomic(&self) -> bool {
        matches!(self, Typed::Node(n) if n.map_type_atomic())
    }
}

/// One path: its elements in FieldsV1 spelling.
pub type Path = Vec<String>;

/// A set of paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.0.contains(path)
    }

    /// The paths `value` sets, walked with its shape.
    pub fn of<S: Shape>(value: &Value, shape: S) -> FieldSet {
        let mut set = BTreeSet::new();
        walk(value, Some(shape), &mut Vec::new(), &mut set);
        FieldSet(set)
    }

    /// The FieldsV1 JSON tree.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                node = node
                    .entry(element.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("tree nodes are objects");
            }
        }
        Value::Object(root)
    }

    /// Reads a FieldsV1 tree: every leaf is a path.
    pub fn from_fields_v1(tree: &Value) -> FieldSet {
        fn go(node: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
            let Some(map) = node.as_object() else { return };
            for (key, child) in map {
                prefix.push(key.clone());
                if child.as_object().is_some_and(Map::is_empty) {
                    out.insert(prefix.clone());
                } else {
                    go(child, prefix, out);
                }
                prefix.pop();
            }
        }
        let mut out = BTreeSet::new();
        go(tree, &mut Vec::new(), &mut out);
        FieldSet(out)
    }
}

/// The `k:` element of a map-list item: its key fields as compact JSON.
pub fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut map = Map::new();
    for k in keys {
        // A missing key field defaults as the real server's does for
        // `protocol` of ports; other keys must be present.
        let v = match item.get(k) {
            Some(v) => v.clone(),
            None if k == "protocol" => Value::String("TCP".to_owned()),
            None => return None,
        };
        map.insert(k.clone(), v);
    }
    Some(format!("k:{}", Value::Object(map)))
}

fn walk<S: Shape>(value: &Value, shape: Option<S>, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match value {
        Value::Object(map) if shape.is_none_or(|s| !s.is_atomic()) && !map.is_empty() => {
            if !prefix.is_empty() && shape.is_some_and(|s| s.is_map()) {
                let mut me = prefix.clone();
                me.push(".".to_owned());
                out.insert(me);
            }
            for (k, v) in map {
                prefix.push(format!("f:{k}"));
                walk(v, shape.and_then(|s| s.field(k)), prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let list_type = shape.map_or(ListType::Atomic, |s| s.list_type());
            let item_shape = shape.and_then(|s| s.items());
            match list_type {
                ListType::Map(keys) => {
                    for item in items {
                        let Some(key) = item_key(item, &keys) else {
                            out.insert(prefix.clone());
                            return;
                        };
                        prefix.push(key);
                        let mut me = prefix.clone();
                        me.push(".".to_owned());
                        out.insert(me);
                        if let Value::Object(fields) = item {
                            for (k, v) in fields {
                                prefix.push(format!("f:{k}"));
                                walk(v, item_shape.and_then(|s| s.field(k)), prefix, out);
                                prefix.pop();
                            }
                        }
                        prefix.pop();
                    }
                }
                ListType::Set => {
                    for item in items {
                        prefix.push(format!("v:{item}"));
                        out.insert(prefix.clone());
                        prefix.pop();
                    }
                }
                ListType::Atomic => {
                    out.insert(prefix.clone());
                }
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The value at `path` in `object`, if any (`.` is the node itself).
pub fn value_at<'v>(object: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut node = object;
    for element in path {
        if element == "." {
            return Some(node);
        }
        node = if let Some(name) = element.strip_prefix("f:") {
            node.get(name)?
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(key).ok()?;
            node.as_array()?.iter().find(|item| {
                key.iter().all(|(k, v)| {
                    item.get(k) == Some(v)
                        || (k == "protocol" && item.get(k).is_none() && v == "TCP")
                })
            })?
        } else if let Some(v) = element.strip_prefix("v:") {
            let v: Value = serde_json::from_str(v).ok()?;
            node.as_array()?.iter().find(|item| **item == v)?
        } else if let Some(i) = element.strip_prefix("i:") {
            node.as_array()?.get(i.parse::<usize>().ok()?)?
        } else {
            return None;
        };
    }
    Some(node)
}

/// `.spec.containers[name="web"].image`: how the real server names a path
/// in conflict messages.
pub fn display(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = element.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = element.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

/// A shape for unit tests, without the schema.
#[cfg(test)]
pub(crate) mod test_shape {
    use super::{ListType, Shape};

    /// A test shape: `labels`, `data` and `annotations` are maps,
    /// `containers` and `ports` map-lists, `finalizers` a set.
    #[derive(Clone, Copy)]
    pub(crate) struct T(pub &'static str);

    impl Shape for T {
        fn field(&self, name: &str) -> Option<Self> {
            Some(T(match self.0 {
                "map" => "scalar",
                _ => match name {
                    "labels" | "data" | "annotations" => "map",
                    "containers" => "containers",
                    "ports" => "ports",
                    "finalizers" => "set",
                    _ => "struct",
                },
            }))
        }
        fn items(&self) -> Option<Self> {
            Some(T("struct"))
        }
        fn list_type(&self) -> ListType {
            match self.0 {
                "containers" => ListType::Map(vec!["name".into()]),
                "ports" => ListType::Map(vec!["containerPort".into(), "protocol".into()]),
                "set" => ListType::Set,
                _ => ListType::Atomic,
            }
        }
        fn is_map(&self) -> bool {
            self.0 == "map"
        }
        fn is_atomic(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_shape::T;
    use super::*;
    use serde_json::json;

    #[test]
    fn field_sets_look_like_the_real_managed_fields() {
        let object = json!({
            "metadata": {"labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}], "args": ["x"]},
        });
        let set = FieldSet::of(&object, T("struct"));
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {"v:\"a\"": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:args": {},
                    "f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {}, "f:name": {}, "f:image": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}
                }
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()), set);
        let image: Path = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            "f:image".into(),
        ];
        assert!(set.contains(&image));
        assert_eq!(value_at(&object, &image), Some(&json!("nginx")));
        assert_eq!(display(&image), ".spec.containers[name=\"web\"].image");
    }
}
