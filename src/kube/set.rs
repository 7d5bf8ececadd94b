//! Validation and ordering: turns a workload's manifests into an
//! [`ObjectSet`] of objects the cluster can take, each with its kind
//! resolved (by discovery, or by a CRD in the same set), its namespace
//! settled, and its wave.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::ApiResource;
use serde_json::{Value, json};

use super::client::{Cluster, Resource, describe, retry};
use super::substitute::Used;
use super::{
    COMMIT_ANNOTATION, KubeError, Manifest, ObjectId, WAVE_ANNOTATION, WORKLOAD_LABEL,
    split_api_version, values,
};

/// One object to apply.
#[derive(Debug, Clone)]
pub struct Object {
    pub id: ObjectId,
    pub api_version: String,
    /// Where it came from.
    pub file: String,
    pub index: usize,
    /// The object as it will be applied: strata's label and annotation
    /// added, the namespace set.
    pub value: Value,
    pub wave: i64,
    pub resource: Resource,
    /// What substitution used (secrets to keep out of messages, unknown
    /// values).
    pub used: Used,
    /// Decrypted from SOPS: secret throughout, whatever its kind.
    pub sensitive: bool,
}

impl Object {
    /// `file (document n)`, for messages.
    pub fn origin(&self) -> String {
        format!("{} (document {})", self.file, self.index)
    }

    /// An annotation of the object as written in Git.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.value["metadata"]["annotations"][name].as_str()
    }

    pub fn is_secret(&self) -> bool {
        self.id.group.is_empty() && self.id.kind == "Secret"
    }

    /// What a diff of the object does not show.
    pub fn hide(&self) -> super::diff::Hide {
        use super::diff::Hide;
        if self.sensitive {
            Hide::Everything
        } else if self.is_secret() {
            Hide::SecretData
        } else {
            Hide::Nothing
        }
    }
}

/// A validated workload, objects ordered by wave, then as loaded.
#[derive(Debug, Clone, Default)]
pub struct ObjectSet {
    pub objects: Vec<Object>,
}

impl ObjectSet {
    /// The waves in order, each with the indices of its objects.
    pub fn waves(&self) -> Vec<(i64, Vec<usize>)> {
        let mut waves: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, o) in self.objects.iter().enumerate() {
            waves.entry(o.wave).or_default().push(i);
        }
        waves.into_iter().collect()
    }

    pub fn ids(&self) -> BTreeSet<&ObjectId> {
        self.objects.iter().map(|o| &o.id).collect()
    }
}

/// The wave a kind goes in: Namespaces and CRDs, then what workloads use
/// (RBAC, ServiceAccounts, ConfigMaps, Secrets, Services), then workloads,
/// then everything else.
pub fn default_wave(group: &str, kind: &str) -> i64 {
    match (group, kind) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("rbac.authorization.k8s.io", _)
        | (
            "",
            "ServiceAccount"
            | "ConfigMap"
            | "Secret"
            | "Service"
            | "PersistentVolumeClaim"
            | "PersistentVolume"
            | "LimitRange"
            | "ResourceQuota",
        )
        | ("scheduling.k8s.io", "PriorityClass")
        | ("storage.k8s.io", "StorageClass") => 1,
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job" | "CronJob")
        | ("", "Pod" | "ReplicationController") => 2,
        _ => 3,
    }
}

/// Whether a built-in kind is cluster-scoped, for checks made without a
/// cluster (`strata validate`); the cluster's discovery is the authority
/// everywhere else.
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | (
            "rbac.authorization.k8s.io",
            "ClusterRole" | "ClusterRoleBinding"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
                    | "MutatingAdmissionPolicy"
                    | "MutatingAdmissionPolicyBinding"
            )
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("networking.k8s.io", "IngressClass")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | ("flowcontrol.apiserver.k8s.io", _)
    )
}

/// What a workload's objects are validated with.
pub struct Context<'a> {
    pub workload: &'a str,
    /// The workload's default namespace.
    pub namespace: Option<&'a str>,
    /// The commit the objects come from, for the annotation.
    pub commit: Option<&'a str>,
    /// Namespaces other workloads of the repository create.
    pub namespaces_elsewhere: BTreeSet<String>,
}

/// Validates `manifests` (already substituted, with what each used)
/// against the cluster. Every problem is reported, not just the first.
///
/// # Errors
/// [`KubeError::Invalid`] with each problem naming file and document.
pub async fn validate(
    manifests: Vec<(Manifest, Used)>,
    ctx: &Context<'_>,
    cluster: &Cluster,
) -> Result<ObjectSet, KubeError> {
    let mut problems = Vec::new();
    let crds = crd_kinds(&manifests);
    let mut objects: Vec<Object> = Vec::new();
    let mut seen: BTreeMap<ObjectId, String> = BTreeMap::new();
    for (manifest, used) in manifests {
        let here = |message: String| KubeError::Manifest {
            file: manifest.file.clone(),
            index: Some(manifest.index),
            line: Some(manifest.line),
            message,
        };
        let v = &manifest.value;
        if let Some(message) = unusable(v) {
            problems.push(here(message));
            continue;
        }
        // As written, these were checked when the file was read; what
        // substitution put in is checked here (values known only after
        // apply are checked when known).
        let wrong = values::problems(v, |text| text.contains(super::substitute::UNKNOWN));
        if !wrong.is_empty() {
            for p in &wrong {
                problems.push(here(format!(
                    "{} (after substituting Terraform outputs)",
                    values::message(v, p, None, false, manifest.sensitive())
                )));
            }
            continue;
        }
        let api_version = v["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = v["kind"].as_str().unwrap_or_default().to_owned();
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (group, version) = split_api_version(&api_version);
        let resource = match cluster.resource(group, version, &kind) {
            Some(r) => r.clone(),
            None => match crds.get(&(group.to_owned(), version.to_owned(), kind.clone())) {
                Some(r) => r.clone(),
                None => {
                    problems.push(here(unknown_kind(cluster, &crds, group, version, &kind)));
                    continue;
                }
            },
        };
        let written_ns = v["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty());
        let namespace = if resource.namespaced {
            match written_ns.or(ctx.namespace) {
                Some(ns) => ns.to_owned(),
                None => {
                    problems.push(here(format!(
                        "{kind} {name:?} is namespaced but has no metadata.namespace, and workload {:?} sets no `namespace`",
                        ctx.workload
                    )));
                    continue;
                }
            }
        } else {
            if let Some(ns) = written_ns {
                problems.push(here(format!(
                    "{kind} is cluster-scoped, but {name:?} sets metadata.namespace {ns:?}; remove it"
                )));
                continue;
            }
            String::new()
        };
        let wave = match wave_of(v, group, &kind) {
            Ok(wave) => wave,
            Err(message) => {
                problems.push(here(message));
                continue;
            }
        };
        let id = ObjectId {
            group: group.to_owned(),
            kind: kind.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
        };
        let origin = format!("{} (document {})", manifest.file, manifest.index);
        if let Some(first) = seen.get(&id) {
            problems.push(here(format!("{id} is defined twice; first in {first}")));
            continue;
        }
        seen.insert(id.clone(), origin);
        let mut used = used;
        // What SOPS decrypted, whatever the kind.
        used.secrets
            .extend(manifest.secrets.iter().filter(|s| s.len() >= 4).cloned());
        if group.is_empty() && kind == "Secret" {
            // Values written in Git are as secret as substituted ones.
            for field in ["data", "stringData"] {
                for v in v[field].as_object().into_iter().flat_map(|m| m.values()) {
                    if let Some(s) = v.as_str().filter(|s| s.len() >= 4) {
                        used.secrets.insert(s.to_owned());
                    }
                }
            }
        }
        let mut value = manifest.value.clone();
        let meta = &mut value["metadata"];
        if resource.namespaced {
            meta["namespace"] = json!(namespace);
        }
        if !meta["labels"].is_object() {
            meta["labels"] = json!({});
        }
        meta["labels"][WORKLOAD_LABEL] = json!(ctx.workload);
        if let Some(commit) = ctx.commit {
            if !meta["annotations"].is_object() {
                meta["annotations"] = json!({});
            }
            meta["annotations"][COMMIT_ANNOTATION] = json!(commit);
        }
        objects.push(Object {
            id,
            api_version: api_version.clone(),
            file: manifest.file.clone(),
            index: manifest.index,
            value,
            wave,
            resource,
            used,
            sensitive: manifest.sensitive(),
        });
    }
    check_namespaces(&objects, ctx, cluster, &mut problems).await;
    if !problems.is_empty() {
        return Err(KubeError::Invalid(problems));
    }
    objects.sort_by_key(|o| o.wave);
    Ok(ObjectSet { objects })
}

/// Argo CD's wave annotation, honoured when strata's is absent (people
/// migrating from Argo CD bring it along).
pub const ARGO_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";

/// The wave an object goes in: `strata.dev/wave`, else Argo CD's
/// `argocd.argoproj.io/sync-wave`, else its kind's ([`default_wave`]).
///
/// # Errors
/// An annotation that is not a whole number.
pub fn wave_of(v: &Value, group: &str, kind: &str) -> Result<i64, String> {
    let annotations = &v["metadata"]["annotations"];
    for key in [WAVE_ANNOTATION, ARGO_WAVE_ANNOTATION] {
        if let Some(text) = annotations[key].as_str() {
            return text.trim().parse::<i64>().map_err(|_| {
                format!("annotation {key} must be a whole number such as \"5\", not {text:?}")
            });
        }
    }
    Ok(default_wave(group, kind))
}

/// Why an object cannot be applied as written, whatever the cluster: it
/// lacks `apiVersion`, `kind` or `metadata.name`, or it is an Argo CD or
/// Helm hook, which strata does not run.
pub fn unusable(v: &Value) -> Option<String> {
    if let Some(message) = missing_fields(v) {
        return Some(message);
    }
    let annotations = &v["metadata"]["annotations"];
    ["argocd.argoproj.io/hook", "helm.sh/hook"]
        .into_iter()
        .find_map(|key| Some((key, annotations[key].as_str()?)))
        .map(|(key, hook)| {
            format!(
                "annotation {key}: {hook:?} makes it a hook, and strata runs no hooks; remove the annotation and order it with strata.dev/wave instead (a wave is applied only after the waves before it succeeded)"
            )
        })
}

/// What an object lacks of `apiVersion`, `kind` and `metadata.name`.
fn missing_fields(v: &Value) -> Option<String> {
    let empty = |v: &Value| v.as_str().is_none_or(str::is_empty);
    let missing: Vec<&str> = [
        ("apiVersion", empty(&v["apiVersion"])),
        ("kind", empty(&v["kind"])),
        ("metadata.name", empty(&v["metadata"]["name"])),
    ]
    .into_iter()
    .filter_map(|(field, missing)| missing.then_some(field))
    .collect();
    if missing.is_empty() {
        return None;
    }
    let mut message = format!("missing {}", missing.join(", "));
    if empty(&v["metadata"]["name"]) && v["metadata"]["generateName"].is_string() {
        message.push_str(
            " (generateName is not supported: strata needs a stable name to track the object)",
        );
    }
    Some(message)
}

/// Why a kind is not known: the group or version is not served, or the
/// kind is not in it.
fn unknown_kind(
    cluster: &Cluster,
    crds: &BTreeMap<(String, String, String), Resource>,
    group: &str,
    version: &str,
    kind: &str,
) -> String {
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let served = cluster.serves_group_version(group, version)
        || crds.keys().any(|(g, v, _)| g == group && v == version);
    if served {
        format!(
            "the cluster does not know kind {kind:?} in {api_version}; check the kind's spelling"
        )
    } else if cluster.is_unavailable(group, version) {
        format!(
            "the cluster lists {api_version} (kind {kind}) but cannot serve it now: the API server behind it is down (see `kubectl get apiservice`); this workload can be planned once it is back, and the other workloads are not affected"
        )
    } else {
        format!(
            "the cluster does not serve {api_version} (kind {kind}), and no CustomResourceDefinition in this workload defines it; install its CRD first or add it to the workload"
        )
    }
}

/// The kinds defined by the CRDs of the set, by (group, version, kind).
fn crd_kinds(manifests: &[(Manifest, Used)]) -> BTreeMap<(String, String, String), Resource> {
    let mut out = BTreeMap::new();
    for (m, _) in manifests {
        let v = &m.value;
        if v["kind"] != "CustomResourceDefinition"
            || !v["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
        {
            continue;
        }
        let spec = &v["spec"];
        let (Some(group), Some(kind), Some(plural)) = (
            spec["group"].as_str(),
            spec["names"]["kind"].as_str(),
            spec["names"]["plural"].as_str(),
        ) else {
            continue;
        };
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        for version in spec["versions"].as_array().into_iter().flatten() {
            let Some(name) = version["name"].as_str() else {
                continue;
            };
            if version["served"] == false {
                continue;
            }
            out.insert(
                (group.to_owned(), name.to_owned(), kind.to_owned()),
                Resource {
                    api: ApiResource {
                        group: group.to_owned(),
                        version: name.to_owned(),
                        api_version: format!("{group}/{name}"),
                        kind: kind.to_owned(),
                        plural: plural.to_owned(),
                    },
                    namespaced,
                },
            );
        }
    }
    out
}

/// Every namespace used must be created by the set (or another workload)
/// or exist already.
async fn check_namespaces(
    objects: &[Object],
    ctx: &Context<'_>,
    cluster: &Cluster,
    problems: &mut Vec<KubeError>,
) {
    let created: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.id.group.is_empty() && o.id.kind == "Namespace")
        .map(|o| o.id.name.as_str())
        .chain(ctx.namespaces_elsewhere.iter().map(String::as_str))
        .collect();
    let mut used: BTreeMap<&str, &Object> = BTreeMap::new();
    for o in objects {
        if !o.id.namespace.is_empty() && !created.contains(o.id.namespace.as_str()) {
            used.entry(o.id.namespace.as_str()).or_insert(o);
        }
    }
    let Some(resource) = cluster.resource("", "v1", "Namespace").cloned() else {
        return;
    };
    let api = cluster.api(&resource, "");
    for (namespace, first) in used {
        match retry(|| api.get_opt(namespace)).await {
            Ok(Some(_)) => {}
            Ok(None) => problems.push(KubeError::Manifest {
                file: first.file.clone(),
                index: Some(first.index),
                line: None,
                message: format!(
                    "namespace {namespace:?} ({} {:?}) does not exist and no workload creates it; add a Namespace manifest or create it first",
                    first.id.kind, first.id.name
                ),
            }),
            Err(e) => problems.push(KubeError::Object {
                object: format!("Namespace/{namespace}"),
                message: describe(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argo_cd_waves_are_honoured_and_hooks_refused() {
        let object = |annotations: Value| {
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "annotations": annotations}})
        };
        let argo = object(serde_json::json!({"argocd.argoproj.io/sync-wave": "-1"}));
        assert_eq!(wave_of(&argo, "", "ConfigMap"), Ok(-1));
        let both = object(
            serde_json::json!({"argocd.argoproj.io/sync-wave": "-1", "strata.dev/wave": "7"}),
        );
        assert_eq!(wave_of(&both, "", "ConfigMap"), Ok(7));
        let bad = object(serde_json::json!({"argocd.argoproj.io/sync-wave": "early"}));
        assert!(
            wave_of(&bad, "", "ConfigMap")
                .unwrap_err()
                .contains("argocd.argoproj.io/sync-wave must be a whole number")
        );
        assert_eq!(wave_of(&object(Value::Null), "", "ConfigMap"), Ok(1));
        let hook = object(serde_json::json!({"helm.sh/hook": "pre-install"}));
        assert!(
            unusable(&hook)
                .unwrap()
                .starts_with("annotation helm.sh/hook: \"pre-install\" makes it a hook")
        );
        let presync = object(serde_json::json!({"argocd.argoproj.io/hook": "PreSync"}));
        assert!(unusable(&presync).unwrap().contains("strata.dev/wave"));
        assert_eq!(unusable(&argo), None);
    }

    #[test]
    fn waves_follow_the_kinds() {
        assert_eq!(default_wave("", "Namespace"), 0);
        assert_eq!(
            default_wave("apiextensions.k8s.io", "CustomResourceDefinition"),
            0
        );
        assert_eq!(default_wave("rbac.authorization.k8s.io", "ClusterRole"), 1);
        assert_eq!(default_wave("", "ConfigMap"), 1);
        assert_eq!(default_wave("", "Service"), 1);
        assert_eq!(default_wave("apps", "Deployment"), 2);
        assert_eq!(default_wave("batch", "CronJob"), 2);
        assert_eq!(default_wave("networking.k8s.io", "Ingress"), 3);
        assert_eq!(default_wave("example.strata.dev", "Widget"), 3);
    }
}
