//! Aggregated APIs (`apiregistration.k8s.io` APIServices with a Service):
//! kube-sim runs no extension API servers, so such a group is served as
//! the real aggregator serves it while its Service has no ready endpoints,
//! as with metrics-server down: listed in discovery, and 503 for its
//! group-version. Once a ready Deployment backs the Service, the group
//! answers (with no resources).

use serde_json::Value;

use crate::status::ApiError;
use crate::store::{Key, State};

/// A group-version an APIService delegates to a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegated {
    pub group: String,
    pub version: String,
    pub available: bool,
}

/// Every delegated group-version that no built-in or custom kind serves.
pub fn delegated(state: &State) -> Vec<Delegated> {
    state
        .list("apiregistration.k8s.io", "apiservices", None)
        .filter_map(|(_, api)| {
            let spec = &api["spec"];
            let service = spec["service"].as_object()?;
            let group = spec["group"].as_str()?.to_owned();
            let version = spec["version"].as_str()?.to_owned();
            if state
                .kinds
                .iter()
                .any(|k| k.group == group && k.version == version)
            {
                return None;
            }
            let namespace = service.get("namespace").and_then(Value::as_str)?;
            let name = service.get("name").and_then(Value::as_str)?;
            Some(Delegated {
                available: backed(state, namespace, name),
                group,
                version,
            })
        })
        .collect()
}

/// Whether the Service selects the pods of a Deployment that is Available
/// (kube-sim runs no pods: a rolled-out Deployment stands for ready
/// endpoints).
fn backed(state: &State, namespace: &str, name: &str) -> bool {
    let key = Key {
        group: String::new(),
        plural: "services".to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let Some(selector) = state
        .get(&key)
        .and_then(|svc| svc["spec"]["selector"].as_object().cloned())
    else {
        return false;
    };
    state
        .list("apps", "deployments", Some(namespace))
        .any(|(_, deploy)| {
            let labels = &deploy["spec"]["template"]["metadata"]["labels"];
            let selected =
                !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v));
            let available = deploy["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Available" && c["status"] == "True");
            selected && available
        })
}

/// The aggregator's answer for a group-version whose Service does not
/// answer.
pub fn unavailable() -> ApiError {
    ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
    )
}
