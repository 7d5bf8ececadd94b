//! The object store: every object by group, resource, namespace and name,
//! one monotonic resourceVersion for the whole store (as etcd's revision),
//! and the recent history of changes that watches resume from.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;
use tokio::sync::broadcast;

use std::sync::Arc;

use crate::kinds::ResourceKind;
use crate::schema::Schema;

/// How many changes are kept, by default, for watches that resume from an
/// older resourceVersion and lists that page on; older ones get 410, as
/// after etcd compaction.
pub const HISTORY: usize = 10_000;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub plural: String,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: Key,
    pub object: Value,
}

/// Everything behind the store's lock.
#[derive(Debug)]
pub struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Served kinds: the built-in ones, then those of established CRDs.
    pub kinds: Vec<ResourceKind>,
    /// The Kubernetes schema (and the CRDs' schemas); `None` runs untyped.
    pub schema: Option<Arc<Schema>>,
    history: VecDeque<Event>,
    /// How many changes `history` keeps.
    pub history_limit: usize,
    events: broadcast::Sender<Event>,
}

impl State {
    pub fn new(kinds: Vec<ResourceKind>, events: broadcast::Sender<Event>) -> State {
        State {
            rv: 1,
            objects: BTreeMap::new(),
            kinds,
            schema: None,
            history: VecDeque::new(),
            history_limit: HISTORY,
            events,
        }
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can resume after.
    pub fn oldest_rv(&self) -> u64 {
        self.history.front().map_or(self.rv, |e| e.rv - 1)
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, in key order; in `namespace` only when given.
    /// A range of the map (keys sort by group, resource, namespace, name):
    /// the objects of other resources are not walked.
    pub fn list<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        let start = Key {
            group: group.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.unwrap_or("").to_owned(),
            name: String::new(),
        };
        self.objects.range(start..).take_while(move |(k, _)| {
            k.group == group && k.plural == plural && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// Stores `object` under `key` with the next resourceVersion (written
    /// into its metadata) and tells watchers. Returns the stored object.
    pub fn put(&mut self, key: Key, mut object: Value, kind: EventType) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.objects.insert(key.clone(), object.clone());
        self.record(kind, key, object.clone());
        object
    }

    /// Removes the object, with a last resourceVersion for the DELETED
    /// event. Returns it as it was deleted.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(EventType::Deleted, key.clone(), object.clone());
        Some(object)
    }

    fn record(&mut self, kind: EventType, key: Key, object: Value) {
        let event = Event {
            rv: self.rv,
            kind,
            key,
            object,
        };
        while self.history.len() >= self.history_limit.max(1) {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Changes after `rv`, oldest first; `None` when they are no longer
    /// kept.
    pub fn since(&self, rv: u64) -> Option<Vec<Event>> {
        if rv < self.oldest_rv() {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// The served kind for a URL's group, version and resource.
    pub fn kind(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceKind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key {
            group: String::new(),
            plural: "configmaps".to_owned(),
            namespace: "default".to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn resource_versions_grow_and_history_replays() {
        let (tx, mut rx) = broadcast::channel(16);
        let mut state = State::new(Vec::new(), tx);
        let start = state.rv();
        let a = state.put(
            key("a"),
            json!({"metadata": {"name": "a"}}),
            EventType::Added,
        );
        assert_eq!(a["metadata"]["resourceVersion"], (start + 1).to_string());
        state.put(
            key("b"),
            json!({"metadata": {"name": "b"}}),
            EventType::Added,
        );
        let gone = state.remove(&key("a")).unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], (start + 3).to_string());
        let since = state.since(start + 1).unwrap();
        assert_eq!(since.len(), 2);
        assert_eq!(since[1].kind, EventType::Deleted);
        assert_eq!(rx.try_recv().unwrap().key.name, "a");
        assert_eq!(state.list("", "configmaps", Some("default")).count(), 1);
        state.put(
            Key {
                namespace: "other".to_owned(),
                ..key("c")
            },
            json!({"metadata": {"name": "c"}}),
            EventType::Added,
        );
        state.put(
            Key {
                plural: "secrets".to_owned(),
                ..key("d")
            },
            json!({"metadata": {"name": "d"}}),
            EventType::Added,
        );
        let names = |ns| -> Vec<String> {
            state
                .list("", "configmaps", ns)
                .map(|(k, _)| k.name.clone())
                .collect()
        };
        assert_eq!(names(None), ["b", "c"]);
        assert_eq!(names(Some("default")), ["b"]);
        assert_eq!(names(Some("other")), ["c"]);
        assert!(names(Some("a")).is_empty());
        assert_eq!(state.list("", "secrets", None).count(), 1);
    }
}
