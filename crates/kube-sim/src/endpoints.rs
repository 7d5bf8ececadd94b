//! Whether a Service has ready endpoints. kube-sim runs no pods: a Service
//! whose selector selects the pod template of an Available Deployment
//! stands for one with ready endpoints. Aggregated APIs
//! ([`crate::aggregation`]) and admission webhooks ([`crate::admission`])
//! are served, or called, through such a Service.

use serde_json::Value;

use crate::store::{Key, State};

/// The Service `namespace/name`, when it exists.
pub fn service<'s>(state: &'s State, namespace: &str, name: &str) -> Option<&'s Value> {
    state.get(&Key {
        group: String::new(),
        plural: "services".to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// Whether `service` (of `namespace`) selects the pods of a Deployment
/// that is Available. A Service without a selector selects nothing.
pub fn ready(state: &State, namespace: &str, service: &Value) -> bool {
    let Some(selector) = service["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    state
        .list("apps", "deployments", Some(namespace))
        .any(|(_, deploy)| {
            let labels = &deploy["spec"]["template"]["metadata"]["labels"];
            let selected = selector.iter().all(|(k, v)| labels.get(k) == Some(v));
            selected && available(deploy)
        })
}

/// Whether the Service `namespace/name` exists and has ready endpoints.
pub fn backed(state: &State, namespace: &str, name: &str) -> bool {
    service(state, namespace, name).is_some_and(|svc| ready(state, namespace, svc))
}

/// A Deployment's `Available` condition is `True`.
fn available(deploy: &Value) -> bool {
    deploy["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True")
}
