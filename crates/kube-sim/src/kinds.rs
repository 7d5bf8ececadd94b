//! The resource kinds the emulator serves: every built-in resource of
//! Kubernetes v1.37, read from the discovery documents a real kube-apiserver
//! answered with (`fixtures/kubernetes-discovery/`), and custom resources
//! added by CustomResourceDefinitions at run time.

use serde_json::Value;

/// Every verb of a resource that has them all.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A subresource as discovery shows it (`status`, `scale`, `log`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subresource {
    pub name: String,
    /// The kind it answers with; group and version empty when they are
    /// the parent's.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// One served resource: what discovery shows and routing needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceKind {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The URL segment, e.g. `deployments`.
    pub plural: String,
    /// e.g. `deployment`.
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// e.g. `all`, which `kubectl get all` lists.
    pub categories: Vec<String>,
    /// The verbs discovery lists; others are answered 405.
    pub verbs: Vec<String>,
    pub subresources: Vec<Subresource>,
    /// Has a `/status` subresource.
    pub status: bool,
    /// As the legacy discovery of the recorded server shows it.
    pub storage_version_hash: Option<String>,
    /// Served by a CustomResourceDefinition rather than built in.
    pub custom: bool,
}

impl ResourceKind {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `api/v1` or `apis/apps/v1`: the path prefix, without a leading slash.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    /// The verbs of a resource that supports them all.
    pub fn all_verbs() -> Vec<String> {
        ALL_VERBS.iter().map(|v| (*v).to_owned()).collect()
    }

    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Is not stored: a request that only creates (reviews, `bindings`)
    /// is answered and forgotten.
    pub fn virtual_only(&self) -> bool {
        !self.allows("get")
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

macro_rules! discovery_fixtures {
    ($($name:literal),* $(,)?) => {
        /// The recorded documents, by file name.
        pub const DISCOVERY: &[(&str, &str)] = &[$(
            ($name, include_str!(concat!("../fixtures/kubernetes-discovery/", $name))),
        )*];
    };
}

discovery_fixtures!(
    "aggregated_v2.json",
    "api.json",
    "api__v1.json",
    "apis.json",
    "apis__admissionregistration.k8s.io__v1.json",
    "apis__apiextensions.k8s.io__v1.json",
    "apis__apiregistration.k8s.io__v1.json",
    "apis__apps__v1.json",
    "apis__authentication.k8s.io__v1.json",
    "apis__authorization.k8s.io__v1.json",
    "apis__autoscaling__v2.json",
    "apis__batch__v1.json",
    "apis__certificates.k8s.io__v1.json",
    "apis__coordination.k8s.io__v1.json",
    "apis__discovery.k8s.io__v1.json",
    "apis__events.k8s.io__v1.json",
    "apis__flowcontrol.apiserver.k8s.io__v1.json",
    "apis__networking.k8s.io__v1.json",
    "apis__node.k8s.io__v1.json",
    "apis__policy__v1.json",
    "apis__rbac.authorization.k8s.io__v1.json",
    "apis__scheduling.k8s.io__v1.json",
    "apis__storage.k8s.io__v1.json",
);

fn document(name: &str) -> Value {
    let text = DISCOVERY
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("null", |(_, text)| *text);
    serde_json::from_str(text).expect("the recorded discovery documents are JSON")
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("").to_owned()
}

/// A GA version: `v1`, `v2`; not `v1beta1` or `v2alpha1`.
pub fn is_ga(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The storage version hashes of the legacy per-group-version documents.
fn storage_hash(group: &str, version: &str, plural: &str) -> Option<String> {
    let file = if group.is_empty() {
        format!("api__{version}.json")
    } else {
        format!("apis__{group}__{version}.json")
    };
    document(&file)["resources"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == plural)?["storageVersionHash"]
        .as_str()
        .map(str::to_owned)
}

/// The core group, from the legacy `/api/v1` document (the aggregated
/// recording covers `/apis` only).
fn core() -> Vec<ResourceKind> {
    let doc = document("api__v1.json");
    let resources = doc["resources"].as_array().cloned().unwrap_or_default();
    let mut kinds: Vec<ResourceKind> = resources
        .iter()
        .filter(|r| !r["name"].as_str().unwrap_or("").contains('/'))
        .map(|r| ResourceKind {
            group: String::new(),
            version: "v1".to_owned(),
            kind: text(&r["kind"]),
            plural: text(&r["name"]),
            singular: text(&r["singularName"]),
            namespaced: r["namespaced"].as_bool().unwrap_or(false),
            short_names: strings(&r["shortNames"]),
            categories: strings(&r["categories"]),
            verbs: strings(&r["verbs"]),
            storage_version_hash: r["storageVersionHash"].as_str().map(str::to_owned),
            ..ResourceKind::default()
        })
        .collect();
    for r in &resources {
        let name = r["name"].as_str().unwrap_or("");
        let Some((parent, sub)) = name.split_once('/') else {
            continue;
        };
        if let Some(kind) = kinds.iter_mut().find(|k| k.plural == parent) {
            kind.subresources.push(Subresource {
                name: sub.to_owned(),
                group: text(&r["group"]),
                version: text(&r["version"]),
                kind: text(&r["kind"]),
                verbs: strings(&r["verbs"]),
            });
        }
    }
    kinds
}

/// The named groups, from the aggregated recording: every GA version, and
/// of a resource served in more than one, the first (the preferred) only.
fn groups() -> Vec<ResourceKind> {
    let doc = document("aggregated_v2.json");
    let mut kinds: Vec<ResourceKind> = Vec::new();
    for group in doc["items"].as_array().into_iter().flatten() {
        let name = text(&group["metadata"]["name"]);
        for version in group["versions"].as_array().into_iter().flatten() {
            let v = text(&version["version"]);
            if !is_ga(&v) {
                continue;
            }
            for r in version["resources"].as_array().into_iter().flatten() {
                let plural = text(&r["resource"]);
                if kinds.iter().any(|k| k.group == name && k.plural == plural) {
                    continue;
                }
                let subresources = r["subresources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| Subresource {
                        name: text(&s["subresource"]),
                        group: text(&s["responseKind"]["group"]),
                        version: text(&s["responseKind"]["version"]),
                        kind: text(&s["responseKind"]["kind"]),
                        verbs: strings(&s["verbs"]),
                    })
                    .collect();
                kinds.push(ResourceKind {
                    group: name.clone(),
                    version: v.clone(),
                    kind: text(&r["responseKind"]["kind"]),
                    singular: text(&r["singularResource"]),
                    namespaced: r["scope"] == "Namespaced",
                    short_names: strings(&r["shortNames"]),
                    categories: strings(&r["categories"]),
                    verbs: strings(&r["verbs"]),
                    subresources,
                    storage_version_hash: storage_hash(&name, &v, &plural),
                    plural,
                    ..ResourceKind::default()
                });
            }
        }
    }
    kinds
}

/// The built-in kinds, in the recorded server's order: the core group,
/// then the groups by preference.
pub fn builtin() -> Vec<ResourceKind> {
    let mut kinds = core();
    kinds.extend(groups());
    for kind in &mut kinds {
        kind.status = kind.subresource("status").is_some();
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ga_resource_of_the_recording_is_built_in() {
        let kinds = builtin();
        let find = |group: &str, plural: &str| {
            kinds
                .iter()
                .find(|k| k.group == group && k.plural == plural)
                .unwrap_or_else(|| panic!("{group}/{plural} is served"))
        };
        let deploy = find("apps", "deployments");
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.group_version_path(), "apis/apps/v1");
        assert_eq!(deploy.short_names, ["deploy"]);
        assert_eq!(deploy.categories, ["all"]);
        assert!(deploy.status);
        assert_eq!(deploy.subresource("scale").unwrap().kind, "Scale");
        let ns = find("", "namespaces");
        assert_eq!(ns.group_version_path(), "api/v1");
        assert!(!ns.namespaced);
        assert!(!ns.allows("deletecollection"));
        assert_eq!(find("", "pods").categories, ["all"]);
        assert!(find("authorization.k8s.io", "selfsubjectaccessreviews").virtual_only());
        assert_eq!(
            find("autoscaling", "horizontalpodautoscalers").version,
            "v2"
        );
        find(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        );
        find("apiregistration.k8s.io", "apiservices");
        find("networking.k8s.io", "ingressclasses");
        assert!(kinds.iter().all(|k| is_ga(&k.version)));
        let mut seen = std::collections::HashSet::new();
        assert!(kinds.iter().all(|k| seen.insert((&k.group, &k.plural))));
        assert_eq!(
            find("", "configmaps").storage_version_hash.as_deref(),
            Some("qFsyl6wFWjQ=")
        );
    }

    #[test]
    fn ga_versions() {
        assert!(is_ga("v1") && is_ga("v2") && is_ga("v10"));
        assert!(!is_ga("v1beta1") && !is_ga("v2alpha1") && !is_ga("v") && !is_ga("x1"));
    }
}
