//! The inventory: what strata applied for a workload, stored in the cluster
//! so that prune can delete exactly that and nothing else.
//!
//! One ConfigMap per workload, `strata-system/workload-<name>` (an `_` in
//! the name becomes `.`), key `inventory.json`. Each entry has the object's
//! group, kind, namespace and name, the version it was applied with, its
//! uid (a prune deletes only that very object: one deleted and created
//! again by someone else is left alone), a hash of what was applied,
//! which tells a change in Git from a change in the cluster (drift), and
//! the resourceVersion it had then.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{Cluster, describe, retry};
use super::{FIELD_MANAGER, KubeError, ObjectId};

/// Where inventories live.
pub const NAMESPACE: &str = "strata-system";
/// The key in the ConfigMap.
const KEY: &str = "inventory.json";
/// Labels the ConfigMap with the workload it belongs to.
pub const INVENTORY_LABEL: &str = "strata.dev/inventory";

/// What strata applied for one workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub version: u32,
    pub workload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub objects: Vec<Entry>,
}

/// One object strata applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub id: ObjectId,
    /// The apiVersion it was applied with.
    pub api_version: String,
    /// The uid the object had after strata applied it.
    pub uid: String,
    /// sha256 of the object as applied (see [`hash`]).
    pub hash: String,
    /// The object's resourceVersion when strata last applied or checked
    /// it: while it is unchanged and Git is too, the object is in sync
    /// without asking the server for a dry run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// strata's apply created it (it did not exist before). Only such
    /// objects are ever pruned.
    #[serde(default)]
    pub created: bool,
}

impl Inventory {
    pub fn entry(&self, id: &ObjectId) -> Option<&Entry> {
        self.objects.iter().find(|e| &e.id == id)
    }
}

/// The ConfigMap's name for `workload`.
pub fn name(workload: &str) -> String {
    format!("workload-{}", workload.replace('_', "."))
}

/// The hash of an object as strata applies it, without the commit
/// annotation (which changes with every commit).
pub fn hash(object: &Value, sensitive: bool) -> String {
    // A Secret's hash would let anyone who can read the inventory test
    // guesses of its values: Secrets, and objects decrypted from SOPS
    // (`sensitive`), get none (no drift label from Git history, no dry-run
    // shortcut; imperative edits still show as drift).
    if sensitive || object["kind"] == "Secret" && object["apiVersion"] == "v1" {
        return String::new();
    }
    let mut v = object.clone();
    if let Some(a) = v["metadata"]["annotations"].as_object_mut() {
        a.remove(super::COMMIT_ANNOTATION);
    }
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn configmaps(cluster: &Cluster) -> Result<kube::Api<kube::api::DynamicObject>, KubeError> {
    let resource = cluster
        .resource("", "v1", "ConfigMap")
        .ok_or_else(|| KubeError::Object {
            object: "ConfigMap".to_owned(),
            message: "the cluster does not serve ConfigMaps".to_owned(),
        })?;
    Ok(cluster.api(resource, NAMESPACE))
}

/// Reads the workload's inventory; `None` when strata never applied it.
///
/// # Errors
/// The request fails, or the ConfigMap holds something that is not an
/// inventory.
pub async fn read(cluster: &Cluster, workload: &str) -> Result<Option<Inventory>, KubeError> {
    let api = configmaps(cluster)?;
    let name = name(workload);
    let object = retry(|| api.get_opt(&name))
        .await
        .map_err(|e| KubeError::Object {
            object: format!("ConfigMap/{NAMESPACE}/{name}"),
            message: describe(&e),
        })?;
    let Some(object) = object else {
        return Ok(None);
    };
    let text = object.data["data"][KEY].as_str().unwrap_or("");
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| KubeError::Object {
            object: format!("ConfigMap/{NAMESPACE}/{name}"),
            message: format!(
                "the inventory of workload {workload:?} cannot be read ({e}); strata will not prune until it is fixed or deleted"
            ),
        })
}

/// Writes the workload's inventory (creating `strata-system` if needed).
///
/// # Errors
/// The requests fail.
pub async fn write(cluster: &Cluster, inventory: &Inventory) -> Result<(), KubeError> {
    let params = kube::api::PatchParams::apply(FIELD_MANAGER).force();
    if let Some(ns) = cluster.resource("", "v1", "Namespace") {
        // Created when missing, never applied: a workload may define the
        // namespace itself (deploy/ does), and an apply here would take
        // its fields away.
        let api = cluster.api(ns, "");
        let missing = retry(|| api.get_opt(NAMESPACE))
            .await
            .map_err(|e| KubeError::Object {
                object: format!("Namespace/{NAMESPACE}"),
                message: describe(&e),
            })?
            .is_none();
        if missing {
            let body: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "strata"}},
            }))
            .map_err(|e| KubeError::Object {
                object: format!("Namespace/{NAMESPACE}"),
                message: e.to_string(),
            })?;
            match api.create(&kube::api::PostParams::default(), &body).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => {
                    return Err(KubeError::Object {
                        object: format!("Namespace/{NAMESPACE}"),
                        message: describe(&e),
                    });
                }
            }
        }
    }
    let api = configmaps(cluster)?;
    let name = name(&inventory.workload);
    let text = serde_json::to_string_pretty(inventory).unwrap_or_default();
    let body = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "strata", INVENTORY_LABEL: inventory.workload},
        },
        "data": {KEY: text},
    });
    let patch = kube::api::Patch::Apply(&body);
    retry(|| api.patch(&name, &params, &patch))
        .await
        .map_err(|e| KubeError::Object {
            object: format!("ConfigMap/{NAMESPACE}/{name}"),
            message: describe(&e),
        })?;
    Ok(())
}
