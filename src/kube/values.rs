//! Values the API server would refuse, found while the manifest's text is
//! at hand so that the message can point at the line and say what YAML made
//! of what was written: `metadata.name: y` is the boolean `true` to a YAML
//! 1.1 reader (kubectl's too), `version: 1.10` is the number 1.1, and a
//! Secret's `data` must be base64.
//!
//! The checks run on the parsed value; only when one fails is the document
//! parsed again with positions ([`locate`]) to find the line and the text
//! as written. A Secret's values are never put in a message.

use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A value in the wrong shape, by its path from the document root.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `metadata.name`, `data.password`, ...
    pub path: Vec<String>,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// Must be a string, is this value.
    NotString(Value),
    /// Must be a mapping (labels, annotations, data).
    NotMapping(Value),
    /// A Secret's `data` value that is not base64.
    NotBase64,
}

/// Whether the object is a core `Secret`.
fn is_secret(v: &Value) -> bool {
    v["apiVersion"] == "v1" && v["kind"] == "Secret"
}

/// What in `v` the API server would refuse: fields that must be strings,
/// labels and annotations that must be string maps, ConfigMap and Secret
/// data that must be strings, Secret `data` that must be base64.
/// `skip_data` tells which data values are not final yet (references still
/// to substitute, or values known only after apply): they are not checked
/// for base64.
pub fn problems(v: &Value, skip_data: impl Fn(&str) -> bool) -> Vec<Problem> {
    let mut out = Vec::new();
    if !v.is_object() {
        return out;
    }
    let path = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    for field in ["apiVersion", "kind"] {
        string(&v[field], path(&[field]), &mut out);
    }
    let meta = &v["metadata"];
    for field in ["name", "namespace", "generateName"] {
        string(&meta[field], path(&["metadata", field]), &mut out);
    }
    for field in ["labels", "annotations"] {
        string_map(&meta[field], &["metadata", field], &mut out);
    }
    let core = v["apiVersion"] == "v1";
    if core && v["kind"] == "ConfigMap" {
        string_map(&v["data"], &["data"], &mut out);
        string_map(&v["binaryData"], &["binaryData"], &mut out);
    }
    if is_secret(v) {
        string_map(&v["data"], &["data"], &mut out);
        string_map(&v["stringData"], &["stringData"], &mut out);
        for (key, value) in v["data"].as_object().into_iter().flatten() {
            if let Some(text) = value.as_str()
                && !skip_data(text)
                && !is_base64(text)
            {
                out.push(Problem {
                    path: path(&["data", key]),
                    what: What::NotBase64,
                });
            }
        }
    }
    out
}

/// A value that must be a string (absent or null is another check's).
fn string(v: &Value, path: Vec<String>, out: &mut Vec<Problem>) {
    if !(v.is_string() || v.is_null()) {
        out.push(Problem {
            path,
            what: What::NotString(v.clone()),
        });
    }
}

/// A mapping of strings, or absent.
fn string_map(v: &Value, at: &[&str], out: &mut Vec<Problem>) {
    let path = || at.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (key, value) in map {
                let mut p = path();
                p.push(key.clone());
                string(value, p, out);
            }
        }
        other => out.push(Problem {
            path: path(),
            what: What::NotMapping(other.clone()),
        }),
    }
}

/// Base64 as the API server decodes a Secret's `data` (Go's standard
/// encoding, padded; line breaks are ignored).
pub fn is_base64(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .is_ok()
}

/// The message for `problem` of object `v`. `raw` is the value as written
/// in YAML (when found): it explains what YAML made of it. A Secret's
/// values are never shown, nor any value of an object that is `secret`
/// throughout (decrypted from SOPS).
pub fn message(
    v: &Value,
    problem: &Problem,
    raw: Option<&str>,
    yaml: bool,
    secret: bool,
) -> String {
    let field = problem.path.join(".");
    let key = problem.path.last().map_or("", String::as_str);
    let object = match (v["kind"].as_str(), v["metadata"]["name"].as_str()) {
        (Some(kind), Some(name)) => format!("{kind} {name:?}: "),
        (Some(kind), None) => format!("{kind}: "),
        _ => String::new(),
    };
    let secret_value =
        secret || is_secret(v) && matches!(problem.path[0].as_str(), "data" | "stringData");
    match &problem.what {
        What::NotBase64 => format!(
            "{object}{field} is not valid base64, so the API server would refuse the Secret; encode the value (base64 -w0), or move it to stringData, which takes plain text"
        ),
        What::NotMapping(found) => format!(
            "{object}{field} must be a mapping of names to strings, but it is {}",
            if secret_value {
                kind_of(found).to_owned()
            } else {
                describe(found)
            }
        ),
        What::NotString(found) if secret_value => {
            let how = if yaml {
                " (YAML reads some unquoted values, such as yes, no, on, off and numbers, that way)"
            } else {
                ""
            };
            format!(
                "{object}{field} is {}{how}, and the API server takes only strings there; quote the value",
                kind_of(found)
            )
        }
        What::NotString(found) => {
            let shown = serde_json::to_string(found).unwrap_or_default();
            match raw.filter(|_| yaml && is_scalar(found)) {
                Some(raw) if raw == shown => format!(
                    "{object}{field} is {}, but it must be a string; quote it: {key}: {}",
                    describe(found),
                    serde_json::to_string(raw).unwrap_or_default()
                ),
                Some(raw) => format!(
                    "{object}{field} is {} (YAML reads an unquoted {raw} as {shown}); quote it: {key}: {}",
                    describe(found),
                    serde_json::to_string(raw).unwrap_or_default()
                ),
                None if is_scalar(found) => format!(
                    "{object}{field} is {}, but it must be a string; write it as one: \"{key}\": {}",
                    describe(found),
                    serde_json::to_string(&shown).unwrap_or_default()
                ),
                None => format!(
                    "{object}{field} is {}, but it must be a string",
                    describe(found)
                ),
            }
        }
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::Bool(_) | Value::Number(_))
}

/// `the boolean true`, `the number 1.1`, `a list`.
fn describe(v: &Value) -> String {
    match v {
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        other => kind_of(other).to_owned(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A YAML node with its place, to find a value by path after the fact.
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            entries.push((key.0, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text (`true`, `1`), or empty for a complex key.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Key(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

/// Where the value at `path` is in the YAML (or JSON) document `doc`: its
/// 1-based line in `doc` and its text as written.
pub fn locate(doc: &str, path: &[String]) -> Option<(usize, String)> {
    let root: Spanned<Node> = serde_saphyr::from_str(doc).ok()?;
    let mut node = &root;
    for part in path {
        node = match &node.value {
            Node::Map(entries) => &entries.iter().rev().find(|(k, _)| k == part)?.1,
            Node::Seq(items) => items.get(part.parse::<usize>().ok()?)?,
            Node::Scalar => return None,
        };
    }
    let at = node.referenced;
    let line = usize::try_from(at.line()).ok().filter(|l| *l > 0)?;
    let span = at.span();
    let raw = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(o, l)| doc.get(usize::try_from(o).ok()?..usize::try_from(o + l).ok()?))
        .map(str::to_owned)
        .filter(|r| !r.is_empty() && !r.contains('\n'));
    Some((line, raw.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unquoted_y_is_found_and_explained() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  labels:\n    tier: 1.10\ndata:\n  mode: off\n";
        let v: Value = serde_saphyr::from_str(doc).unwrap();
        let found = problems(&v, |_| false);
        let paths: Vec<String> = found.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(
            paths,
            ["metadata.name", "metadata.labels.tier", "data.mode"]
        );
        let (line, raw) = locate(doc, &found[0].path).unwrap();
        assert_eq!((line, raw.as_str()), (4, "y"));
        assert_eq!(
            message(&v, &found[0], Some(&raw), true, false),
            "ConfigMap: metadata.name is the boolean true (YAML reads an unquoted y as true); quote it: name: \"y\""
        );
        let (line, raw) = locate(doc, &found[1].path).unwrap();
        assert_eq!((line, raw.as_str()), (6, "1.10"));
        assert!(message(&v, &found[1], Some(&raw), true, false).ends_with(
            "is the number 1.1 (YAML reads an unquoted 1.10 as 1.1); quote it: tier: \"1.10\""
        ),);
        let (line, raw) = locate(doc, &found[2].path).unwrap();
        assert_eq!((line, raw.as_str()), (8, "off"));
    }

    #[test]
    fn secret_data_must_be_base64_and_is_never_shown() {
        let doc = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  good: aHVudGVyMg==\n  bad: hunter2!\n  later: \"${stack.db.password}\"\n  number: 12345\n";
        let v: Value = serde_saphyr::from_str(doc).unwrap();
        let found = problems(&v, |s| s.contains("${"));
        let paths: Vec<String> = found.iter().map(|p| p.path.join(".")).collect();
        assert_eq!(paths, ["data.number", "data.bad"]);
        for p in &found {
            let (_, raw) = locate(doc, &p.path).unwrap();
            let m = message(&v, p, Some(&raw), true, false);
            assert!(!m.contains("hunter2") && !m.contains("12345"), "{m}");
        }
        assert_eq!(locate(doc, &found[1].path).unwrap().0, 7);
        assert!(is_base64("aHVu\ndGVyMg=="));
        assert!(!is_base64("aHVudGVyMg"));
    }
}
