//! Aggregated APIs (`apiregistration.k8s.io` APIServices with a Service):
//! kube-sim runs no extension API servers, so such a group is served as
//! the real aggregator serves it while its Service has no ready endpoints,
//! as with metrics-server down: listed in discovery, and 503 for its
//! group-version. Once a ready Deployment backs the Service (see
//! [`crate::endpoints`]), the group answers (with no resources).

use serde_json::Value;

use crate::status::ApiError;
use crate::store::State;

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
                available: crate::endpoints::backed(state, namespace, name),
                group,
                version,
            })
        })
        .collect()
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
