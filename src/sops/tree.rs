//! A SOPS document as sops reads it: mappings keep the order they are
//! written in (the MAC is computed over the values in that order), in each
//! of the formats sops writes (YAML, JSON, dotenv, binary).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// One value of a document, mappings in their written order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The member `key` of a mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as JSON (mappings sorted, as everywhere else in strata).
    pub(super) fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            // A whole float is written as Go writes it: without a fraction.
            #[allow(clippy::cast_possible_truncation)]
            Node::Float(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::from(*f as i64)
            }
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(items) => Value::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text sops hashes for a scalar (Go's `strconv` forms, booleans
    /// as `True`/`False`); `None` for what it does not hash.
    pub(super) fn mac_bytes(&self) -> Option<String> {
        match self {
            Node::Bool(true) => Some("True".to_owned()),
            Node::Bool(false) => Some("False".to_owned()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Null | Node::List(_) | Node::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        // sops keeps integers within int64; larger ones are floats.
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node, A::Error> {
        Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Node::List)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let key = match key {
                Node::Str(s) => s,
                other => other.mac_bytes().ok_or_else(|| {
                    de::Error::custom(
                        "a mapping key is a list or a mapping; sops takes only string keys",
                    )
                })?,
            };
            if items.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one mapping"
                )));
            }
            let value = map.next_value()?;
            items.push((key, value));
        }
        Ok(Node::Map(items))
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Int(i) => s.serialize_i64(*i),
            Node::Float(f) => s.serialize_f64(*f),
            Node::Str(text) => s.serialize_str(text),
            Node::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(items) => {
                let mut map = s.serialize_map(Some(items.len()))?;
                for (k, v) in items {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A dotenv file as sops reads one: `KEY=value` lines (a literal `\n` in
/// a value is a newline), `#` comments, blank lines skipped.
pub(super) fn parse_dotenv(text: &str) -> Result<Node, String> {
    let mut items: Vec<(String, Node)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {} is not KEY=value (nor a # comment)", i + 1));
        };
        items.push((key.to_owned(), Node::Str(value.replace("\\n", "\n"))));
    }
    Ok(Node::Map(items))
}

/// A dotenv file from a mapping of scalars, as sops writes one.
pub(super) fn emit_dotenv(node: &Node) -> Result<String, String> {
    let Node::Map(items) = node else {
        return Err("a dotenv document must be a mapping".to_owned());
    };
    let mut out = String::new();
    for (key, value) in items {
        let text = match value {
            Node::Str(s) => s.replace('\n', "\\n"),
            Node::Null => String::new(),
            other => other
                .mac_bytes()
                .ok_or_else(|| format!("{key} holds a list or a mapping, which dotenv cannot"))?,
        };
        out.push_str(key);
        out.push('=');
        out.push_str(&text);
        out.push('\n');
    }
    Ok(out)
}

/// Rebuilds the mapping that sops flattens into `a__map_b__list_0` keys
/// (its dotenv metadata).
pub(super) fn unflatten(items: Vec<(String, Node)>) -> Node {
    let mut root = Node::Map(Vec::new());
    for (key, value) in items {
        let mut node = &mut root;
        let mut tokens = tokenize(&key).into_iter().peekable();
        while let Some(token) = tokens.next() {
            let last = tokens.peek().is_none();
            let fresh = match tokens.peek() {
                Some(Token::Index(_)) => Node::List(Vec::new()),
                _ => Node::Map(Vec::new()),
            };
            let slot: &mut Node = match (token, &mut *node) {
                (Token::Key(k), Node::Map(entries)) => {
                    let at = match entries.iter().position(|(e, _)| *e == k) {
                        Some(at) => at,
                        None => {
                            entries.push((k, fresh));
                            entries.len() - 1
                        }
                    };
                    &mut entries[at].1
                }
                (Token::Index(i), Node::List(entries)) => {
                    while entries.len() <= i {
                        entries.push(fresh.clone());
                    }
                    &mut entries[i]
                }
                // A key that does not fit the shape so far is ignored.
                _ => break,
            };
            if last {
                *slot = value.clone();
            }
            node = slot;
        }
    }
    root
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokenize(key: &str) -> Vec<Token> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut rest = key;
    let mut list = false;
    loop {
        let next = [rest.find(MAP), rest.find(LIST)]
            .into_iter()
            .flatten()
            .min();
        let part = &rest[..next.unwrap_or(rest.len())];
        tokens.push(if list {
            Token::Index(part.parse().unwrap_or(0))
        } else {
            Token::Key(part.to_owned())
        });
        let Some(at) = next else { break };
        list = rest[at..].starts_with(LIST);
        rest = &rest[at + if list { LIST.len() } else { MAP.len() }..];
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_keep_their_order() {
        let node: Node =
            serde_json::from_str(r#"{"b": 1, "a": [true, 1.5, null], "c": "x"}"#).expect("parses");
        let Node::Map(items) = &node else { panic!() };
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let yaml: Vec<Node> = serde_saphyr::from_multiple("z: 1\ny: 2\n---\nx: 3\n").expect("yaml");
        assert_eq!(yaml.len(), 2);
        assert_eq!(yaml[0].get("z"), Some(&Node::Int(1)));
    }

    #[test]
    fn flattened_keys_are_rebuilt() {
        let node = unflatten(vec![
            ("age__list_0__map_recipient".into(), Node::Str("r".into())),
            ("age__list_0__map_enc".into(), Node::Str("e".into())),
            ("mac".into(), Node::Str("m".into())),
        ]);
        assert_eq!(
            node.to_json(),
            serde_json::json!({"age": [{"recipient": "r", "enc": "e"}], "mac": "m"})
        );
    }

    #[test]
    fn dotenv_round_trips() {
        let node = parse_dotenv("# c\nA=1\n\nB=x\\ny=z\n").expect("parses");
        assert_eq!(node.get("B").and_then(Node::as_str), Some("x\ny=z"));
        assert_eq!(emit_dotenv(&node).unwrap(), "A=1\nB=x\\ny=z\n");
        assert!(parse_dotenv("oops\n").is_err());
    }
}
