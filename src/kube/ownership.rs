//! Who set which field of a live object (`metadata.managedFields`), as
//! drift sees it.
//!
//! Flux's rule, and strata's: a field a person set with kubectl (`edit`,
//! `patch`, `label`, `annotate`, `scale`, `set`, `rollout`, a client-side
//! `apply`) that Git does not have is drift, and an apply removes it. It
//! does so the way the API server allows: it first rewrites
//! `managedFields` so that those fields are strata's own ([`takeover`]),
//! then applies, and server-side apply drops the fields strata owns and no
//! longer sets. Fields that controllers own (an HPA's replicas, an
//! injected `caBundle`, status) are not drift, and neither is any field
//! under a workload's `ignore_fields` or an object's
//! `strata.dev/ignore-fields`: those are left to others.

use serde_json::{Map, Value, json};

use super::FIELD_MANAGER;

/// The annotation listing an object's own fields left to others: JSON
/// pointers separated by commas or newlines.
pub const IGNORE_ANNOTATION: &str = "strata.dev/ignore-fields";

/// Whether a `managedFields` entry is a person's imperative write:
/// `kubectl` and its commands (`kubectl-edit`, `kubectl-patch`, …,
/// `kubectl-client-side-apply`), or `before-first-apply` (what the API
/// server names fields an object had before its first server-side apply).
pub fn imperative(entry: &Value) -> bool {
    let manager = entry["manager"].as_str().unwrap_or_default();
    entry["operation"] == "Update"
        && entry["subresource"].as_str().unwrap_or_default() != "status"
        && (manager == "kubectl"
            || manager.starts_with("kubectl-")
            || manager == "before-first-apply")
}

/// One step of a `fieldsV1` path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `f:name`: a field of an object.
    Field(String),
    /// `k:{…}`: the item of a list whose keys have these values.
    Key(Map<String, Value>),
    /// `v:…`: the item of a set with this value.
    Value(Value),
    /// `i:N`: the item at this index.
    Index(usize),
}

fn step(key: &str) -> Option<Step> {
    let (kind, rest) = key.split_at_checked(2)?;
    Some(match kind {
        "f:" => Step::Field(rest.to_owned()),
        "k:" => Step::Key(serde_json::from_str(rest).ok()?),
        "v:" => Step::Value(serde_json::from_str(rest).ok()?),
        "i:" => Step::Index(rest.parse().ok()?),
        _ => return None,
    })
}

/// The owned leaves of a `fieldsV1` tree, as raw keys (`f:data`,
/// `f:b`). A node with children is owned through them; the `.` marker
/// only says that a map or list item itself is owned.
fn leaves(tree: &Value) -> Vec<Vec<String>> {
    fn go(node: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let Some(map) = node.as_object() else { return };
        let children: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != ".").collect();
        if children.is_empty() {
            // `{}` is a field; `{".": {}}` only says a map or list exists,
            // which is the business of whoever owns what is in it.
            if !prefix.is_empty() && map.is_empty() {
                out.push(prefix.clone());
            }
            return;
        }
        for (key, child) in children {
            prefix.push(key.clone());
            go(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    go(tree, &mut Vec::new(), &mut out);
    out
}

/// Where `path` is in `object`: the JSON pointer's tokens, with list
/// items by index. `None` when `object` does not have it.
fn locate(object: &Value, path: &[String]) -> Option<Vec<String>> {
    let mut node = object;
    let mut tokens = Vec::with_capacity(path.len());
    for key in path {
        let (next, token) = match step(key)? {
            Step::Field(name) => (node.as_object()?.get(&name)?, name),
            Step::Key(keys) => {
                let items = node.as_array()?;
                let i = items
                    .iter()
                    .position(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))?;
                (&items[i], i.to_string())
            }
            Step::Value(value) => {
                let items = node.as_array()?;
                let i = items.iter().position(|item| *item == value)?;
                (&items[i], i.to_string())
            }
            Step::Index(i) => (node.as_array()?.get(i)?, i.to_string()),
        };
        node = next;
        tokens.push(token);
    }
    Some(tokens)
}

fn pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Whether `pointer` is `rule` or under it.
fn under(pointer: &str, rule: &str) -> bool {
    let rule = rule.trim_end_matches('/');
    pointer == rule
        || pointer
            .strip_prefix(rule)
            .is_some_and(|r| r.starts_with('/'))
}

/// The fields left to others for `object` (Git's manifest): the
/// workload's rules and the object's own annotation.
pub fn ignore_rules(workload: &[String], object: &Value) -> Vec<String> {
    let mut rules = workload.to_vec();
    if let Some(own) = object["metadata"]["annotations"][IGNORE_ANNOTATION].as_str() {
        rules.extend(
            own.split([',', '\n'])
                .map(str::trim)
                .filter(|p| p.starts_with('/'))
                .map(str::to_owned),
        );
    }
    rules
}

/// A field a person set that Git does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// JSON pointer into the live object (list items by index).
    pub pointer: String,
    /// The manager that set it (`kubectl-patch`).
    pub manager: String,
}

/// The fields of `live` that imperative managers set, that `desired`
/// (Git's manifest) does not have and that no rule leaves to others.
pub fn foreign(live: &Value, desired: &Value, ignore: &[String]) -> Vec<Foreign> {
    let mut out = Vec::new();
    for entry in entries(live).iter().filter(|e| imperative(e)) {
        let manager = entry["manager"].as_str().unwrap_or_default();
        for leaf in leaves(&entry["fieldsV1"]) {
            // A list item Git does not have goes whole (an env var), not
            // field by field.
            let cut = (0..leaf.len())
                .find(|&i| !leaf[i].starts_with("f:") && locate(desired, &leaf[..=i]).is_none())
                .map_or(leaf.len(), |i| i + 1);
            let path = &leaf[..cut];
            let Some(tokens) = locate(live, path) else {
                continue;
            };
            if tokens.first().is_some_and(|t| t == "status") || locate(desired, path).is_some() {
                continue;
            }
            let pointer = pointer(&tokens);
            if ignore.iter().any(|rule| under(&pointer, rule)) {
                continue;
            }
            out.push(Foreign {
                pointer,
                manager: manager.to_owned(),
            });
        }
    }
    out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out.dedup_by(|a, b| a.pointer == b.pointer);
    out
}

/// The displayed path of every field of `live` that an imperative manager
/// owns, with the manager: who made a drifted field drift.
pub fn owners(live: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in entries(live).iter().filter(|e| imperative(e)) {
        let manager = entry["manager"].as_str().unwrap_or_default();
        for leaf in leaves(&entry["fieldsV1"]) {
            if let Some(tokens) = locate(live, &leaf) {
                out.push((super::diff::display(live, &tokens), manager.to_owned()));
            }
        }
    }
    out
}

/// `object` without the `foreign` fields: what strata's apply leaves of
/// it once it owns them. List items go from the last, so that the indexes
/// of the others hold.
pub fn without(object: &Value, foreign: &[Foreign]) -> Value {
    let mut out = object.clone();
    let mut pointers: Vec<&str> = foreign.iter().map(|f| f.pointer.as_str()).collect();
    pointers.sort_by(|a, b| by_tokens(b, a));
    for p in pointers {
        remove_at(&mut out, p);
    }
    out
}

/// Removes the field or list item at JSON pointer `p`, if there is one.
fn remove_at(object: &mut Value, p: &str) {
    let Some((parent, last)) = p.rsplit_once('/') else {
        return;
    };
    let last = unescape(last);
    match object.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// A JSON pointer's token as the key it stands for.
fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// A JSON merge patch that removes the `foreign` fields from `object`: a
/// field of a map is set to null; a list (which a merge patch replaces
/// whole) is given whole, without its foreign items. Dry-run, it shows
/// what the server makes of their removal, defaults set again included.
pub fn removal_patch(object: &Value, foreign: &[Foreign]) -> Value {
    let left = without(object, foreign);
    let mut patch = json!({});
    for f in foreign {
        let tokens: Vec<String> = f.pointer.split('/').skip(1).map(unescape).collect();
        let mut node = object;
        let mut list_at = None;
        for (i, token) in tokens.iter().enumerate() {
            if node.is_array() {
                list_at = Some(i);
                break;
            }
            match node.get(token) {
                Some(next) => node = next,
                None => break,
            }
        }
        let (path, value) = match list_at {
            Some(i) => (
                &tokens[..i],
                left.pointer(&pointer(&tokens[..i]))
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            None => (&tokens[..], Value::Null),
        };
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut at = &mut patch;
        for p in parents {
            if !at[p.as_str()].is_object() {
                at[p.as_str()] = json!({});
            }
            at = &mut at[p.as_str()];
        }
        at[last.as_str()] = value;
    }
    patch
}

/// Orders pointers token by token, list indexes as numbers.
fn by_tokens(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |p: &str| -> Vec<(u64, String)> {
        p.split('/')
            .map(|t| (t.parse::<u64>().unwrap_or(u64::MAX), t.to_owned()))
            .collect()
    };
    key(a).cmp(&key(b))
}

/// `config` (Git's manifest) without the fields a rule leaves to others
/// that another manager owns in `live`: strata neither fights over them
/// nor drops them. A field nobody else owns is applied as Git says.
pub fn leave_to_others(config: &Value, live: &Value, ignore: &[String]) -> Value {
    if ignore.is_empty() {
        return config.clone();
    }
    let others: Vec<String> = entries(live)
        .iter()
        .filter(|e| e["manager"] != FIELD_MANAGER)
        .flat_map(|e| leaves(&e["fieldsV1"]))
        .filter_map(|leaf| locate(live, &leaf).map(|t| pointer(&t)))
        .collect();
    let mut out = config.clone();
    for rule in ignore {
        if !others.iter().any(|p| under(p, rule)) {
            continue;
        }
        let Some((parent, last)) = rule.trim_end_matches('/').rsplit_once('/') else {
            continue;
        };
        if let Some(Value::Object(map)) = out.pointer_mut(parent) {
            map.remove(&unescape(last));
        }
    }
    out
}

fn entries(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `live`'s `managedFields` with what imperative managers own moved into
/// strata's `Apply` entry (created when there is none), except the fields
/// left to others; `None` when there is nothing to take over.
pub fn takeover(live: &Value, api_version: &str, ignore: &[String]) -> Option<Value> {
    let ignored = |leaf: &Vec<String>| {
        locate(live, leaf)
            .map(|t| pointer(&t))
            .is_some_and(|p| ignore.iter().any(|rule| under(&p, rule)))
    };
    // What stays someone else's: a map or list holding any of it stays.
    let others: Vec<Vec<String>> = entries(live)
        .iter()
        .flat_map(|e| {
            let mine = imperative(e);
            leaves(&e["fieldsV1"])
                .into_iter()
                .filter(move |leaf| !mine || ignored(leaf))
        })
        .collect();
    let mut kept = Vec::new();
    let mut taken = json!({});
    for entry in entries(live) {
        if !imperative(&entry) {
            kept.push(entry);
            continue;
        }
        let (take, stays) = split(&entry["fieldsV1"], (live, &others), &mut Vec::new(), ignore);
        merge(&mut taken, &take);
        if stays.as_object().is_some_and(|m| !m.is_empty()) {
            let mut entry = entry;
            entry["fieldsV1"] = stays;
            kept.push(entry);
        }
    }
    if taken.as_object().is_none_or(Map::is_empty) {
        return None;
    }
    let mine = kept.iter_mut().find(|e| {
        e["manager"] == FIELD_MANAGER
            && e["operation"] == "Apply"
            && e["subresource"].as_str().unwrap_or_default().is_empty()
    });
    match mine {
        Some(entry) => merge(&mut entry["fieldsV1"], &taken),
        None => kept.push(json!({
            "manager": FIELD_MANAGER,
            "operation": "Apply",
            "apiVersion": api_version,
            "time": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "fieldsType": "FieldsV1",
            "fieldsV1": taken,
        })),
    }
    Some(Value::Array(kept))
}

/// Splits the `fieldsV1` subtree `node` at `path` into what strata takes
/// and what stays its manager's: the subtrees under a rule stay, whole;
/// the rest is taken, but for the `.` of a map or list that still holds
/// fields of `others` (taking it would remove them with it).
fn split(
    node: &Value,
    (live, others): (&Value, &[Vec<String>]),
    path: &mut Vec<String>,
    ignore: &[String],
) -> (Value, Value) {
    let (mut take, mut stays) = (json!({}), json!({}));
    let Some(map) = node.as_object() else {
        return (take, stays);
    };
    for (key, child) in map {
        if key == "." {
            if others.iter().any(|o| o.starts_with(path)) {
                stays[key] = child.clone();
            } else {
                take[key] = child.clone();
            }
            continue;
        }
        path.push(key.clone());
        let here = locate(live, path).map(|t| pointer(&t));
        match here {
            Some(p) if ignore.iter().any(|rule| under(&p, rule)) => {
                stays[key] = child.clone();
            }
            Some(p) if ignore.iter().any(|rule| under(rule, &p)) || holds(others, path) => {
                let (t, s) = split(child, (live, others), path, ignore);
                if t.as_object().is_some_and(|m| !m.is_empty()) {
                    take[key] = t;
                }
                if s.as_object().is_some_and(|m| !m.is_empty()) {
                    stays[key] = s;
                }
            }
            _ => take[key] = child.clone(),
        }
        path.pop();
    }
    (take, stays)
}

/// Whether any of `others` is under `path`.
fn holds(others: &[Vec<String>], path: &[String]) -> bool {
    others
        .iter()
        .any(|o| o.len() > path.len() && o.starts_with(path))
}

fn merge(into: &mut Value, from: &Value) {
    if !into.is_object() {
        *into = json!({});
    }
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (key, value) in from {
            merge(into.entry(key.clone()).or_insert_with(|| json!({})), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment strata applied, then `kubectl patch`ed (an annotation
    /// on the pod template, an env var), `kubectl scale`d, and given a
    /// caBundle-like field by a controller.
    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "apps",
                "managedFields": [
                    {"manager": "strata", "operation": "Apply", "apiVersion": "apps/v1",
                     "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                         "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
                    {"manager": "kubectl-patch", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsV1": {"f:spec": {"f:template": {
                         "f:metadata": {"f:annotations": {".": {}, "f:debug": {}}},
                         "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:env": {
                             ".": {}, "k:{\"name\":\"TRACE\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                     "fieldsV1": {"f:status": {"f:replicas": {}}}}
                ]
            },
            "spec": {
                "replicas": 3,
                "template": {
                    "metadata": {"annotations": {"debug": "on"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1",
                                             "env": [{"name": "TRACE", "value": "1"}]}]}
                }
            },
            "status": {"replicas": 3}
        })
    }

    fn git() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}
        })
    }

    #[test]
    fn what_kubectl_set_and_git_lacks_is_foreign_and_controllers_fields_are_not() {
        let found = foreign(&live(), &git(), &[]);
        let pointers: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.pointer.as_str(), f.manager.as_str()))
            .collect();
        assert_eq!(
            pointers,
            [
                ("/spec/template/metadata/annotations/debug", "kubectl-patch"),
                ("/spec/template/spec/containers/0/env/0", "kubectl-patch"),
            ]
        );
        // Left to others: not drift.
        let rules = ["/spec/template/metadata/annotations".to_owned()];
        assert_eq!(foreign(&live(), &git(), &rules).len(), 1);
        // Git has them: not foreign (a different value is a diff).
        assert!(foreign(&live(), &live(), &[]).is_empty());
    }

    #[test]
    fn without_the_foreign_fields_the_object_is_what_the_apply_leaves() {
        let found = foreign(&live(), &git(), &[]);
        let after = without(&live(), &found);
        assert!(
            after["spec"]["template"]["metadata"]["annotations"]
                .get("debug")
                .is_none()
        );
        assert_eq!(
            after["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([])
        );
    }

    #[test]
    fn the_removal_patch_nulls_fields_and_gives_lists_whole() {
        let found = foreign(&live(), &git(), &[]);
        assert_eq!(
            removal_patch(&live(), &found),
            json!({"spec": {"template": {
                "metadata": {"annotations": {"debug": null}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1", "env": []}]}
            }}})
        );
    }

    #[test]
    fn takeover_moves_kubectls_fields_into_stratas_apply_entry() {
        let rules = ["/spec/template/metadata/annotations/debug".to_owned()];
        let managed = takeover(&live(), "apps/v1", &rules).expect("something to take");
        let managers: Vec<&str> = managed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        // The ignored annotation stays kubectl-patch's.
        assert_eq!(
            managers,
            [
                "strata",
                "kubectl-patch",
                "kube-controller-manager",
                "kube-controller-manager"
            ]
        );
        let mine = &managed[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert!(
            mine["f:env"]["k:{\"name\":\"TRACE\"}"]
                .get("f:value")
                .is_some()
        );
        assert!(mine.get("f:image").is_some());
        let theirs = &managed[1]["fieldsV1"];
        assert!(
            theirs["f:spec"]["f:template"]["f:metadata"]["f:annotations"]
                .get("f:debug")
                .is_some()
        );
        assert!(theirs["f:spec"]["f:template"].get("f:spec").is_none());
        // Nothing imperative: nothing to take.
        let mut clean = live();
        clean["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        assert_eq!(takeover(&clean, "apps/v1", &[]), None);
    }

    #[test]
    fn a_rule_leaves_a_field_to_the_manager_that_has_it_and_only_then() {
        let mut live = live();
        // An HPA scaled it.
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"manager": "horizontal-pod-autoscaler", "operation": "Update",
                         "fieldsV1": {"f:spec": {"f:replicas": {}}}}),
            );
        let rules = ["/spec/replicas".to_owned()];
        let config = leave_to_others(&git(), &live, &rules);
        assert!(config["spec"].get("replicas").is_none());
        // Nobody else has it: Git's value is applied.
        let config = leave_to_others(&git(), &self::live(), &rules);
        assert_eq!(config["spec"]["replicas"], 3);
    }

    #[test]
    fn rules_come_from_the_workload_and_the_objects_annotation() {
        let mut object = git();
        object["metadata"]["annotations"] =
            json!({IGNORE_ANNOTATION: "/spec/replicas, /metadata/labels/team\n/x"});
        assert_eq!(
            ignore_rules(&["/data".to_owned()], &object),
            ["/data", "/spec/replicas", "/metadata/labels/team", "/x"]
        );
        assert!(under("/spec/replicas", "/spec/replicas"));
        assert!(under("/spec/replicas/x", "/spec/replicas/"));
        assert!(!under("/spec/replicasets", "/spec/replicas"));
    }
}
