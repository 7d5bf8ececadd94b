//! CustomResourceDefinitions: creating one serves its resource at once
//! (every served version, with its scope and status subresource) and marks
//! it `Established`; deleting one deletes its custom resources.

use serde_json::{Value, json};

use crate::kinds::{ResourceKind, Subresource, strings};
use crate::meta;
use crate::store::{EventType, Key, State};

/// The kinds a CRD serves.
pub fn kinds_of(crd: &Value) -> Vec<ResourceKind> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or("").to_owned();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or("").to_owned();
    let plural = names["plural"].as_str().unwrap_or("").to_owned();
    let singular = names["singular"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let short_names = strings(&names["shortNames"]);
    let categories = strings(&names["categories"]);
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    spec["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .map(|v| {
                    let status = v["subresources"].get("status").is_some();
                    let subresources = status
                        .then(|| Subresource {
                            name: "status".to_owned(),
                            kind: kind.clone(),
                            verbs: ["get", "patch", "update"].map(str::to_owned).to_vec(),
                            ..Subresource::default()
                        })
                        .into_iter()
                        .collect();
                    ResourceKind {
                        group: group.clone(),
                        version: v["name"].as_str().unwrap_or("").to_owned(),
                        kind: kind.clone(),
                        plural: plural.clone(),
                        singular: singular.clone(),
                        namespaced,
                        short_names: short_names.clone(),
                        categories: categories.clone(),
                        verbs: ResourceKind::all_verbs(),
                        subresources,
                        status,
                        storage_version_hash: None,
                        custom: true,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Serves the CRD's kinds and sets its `NamesAccepted` and `Established`
/// conditions, as the real apiextensions controllers do within moments.
pub fn establish(state: &mut State, key: &Key) {
    let Some(mut crd) = state.get(key).cloned() else {
        return;
    };
    let kinds = kinds_of(&crd);
    if let Some(schema) = state.schema.as_mut() {
        let schema = std::sync::Arc::make_mut(schema);
        for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
            let (Some(name), Some(kind)) = (
                version["name"].as_str(),
                crd["spec"]["names"]["kind"].as_str(),
            ) else {
                continue;
            };
            let group = crd["spec"]["group"].as_str().unwrap_or("");
            match version["schema"].get("openAPIV3Schema") {
                Some(open_api) => schema.add_custom(group, name, kind, open_api),
                None => schema.remove_custom(group, name, kind),
            }
        }
    }
    if let Some(first) = kinds.first() {
        let (group, plural) = (first.group.clone(), first.plural.clone());
        state
            .kinds
            .retain(|k| !(k.custom && k.group == group && k.plural == plural));
        state.kinds.extend(kinds);
    }
    let now = meta::now();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let status = json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": crd["spec"]["versions"].as_array().map(|vs| {
            vs.iter().filter(|v| v["storage"].as_bool().unwrap_or(false)).map(|v| v["name"].clone()).collect::<Vec<_>>()
        }).unwrap_or_default(),
    });
    if crd.get("status") != Some(&status) {
        crd["status"] = status;
        state.put(key.clone(), crd, EventType::Modified);
    }
}

/// Stops serving a deleted CRD's kinds and deletes its custom resources.
pub fn remove(state: &mut State, crd: &Value) {
    let kinds = kinds_of(crd);
    let Some(first) = kinds.first() else { return };
    let (group, plural) = (first.group.clone(), first.plural.clone());
    if let Some(schema) = state.schema.as_mut() {
        let schema = std::sync::Arc::make_mut(schema);
        for k in &kinds {
            schema.remove_custom(&k.group, &k.version, &k.kind);
        }
    }
    let objects: Vec<Key> = state
        .list(&group, &plural, None)
        .map(|(k, _)| k.clone())
        .collect();
    for key in objects {
        state.remove(&key);
    }
    state
        .kinds
        .retain(|k| !(k.custom && k.group == group && k.plural == plural));
}
