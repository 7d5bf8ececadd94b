//! Resources that are answered rather than stored: the access reviews
//! (`kubectl auth can-i`), SelfSubjectReview (`kubectl auth whoami`),
//! TokenReview, and the subresources that act (`serviceaccounts/token`,
//! which `kubectl create token` asks).

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::auth::User;
use crate::kinds::ResourceKind;
use crate::server::{Body, Sim, Target, json_response};
use crate::status::{ApiError, Subject};

fn decode(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

/// POST of a kind that is never stored: the request, answered in `status`.
///
/// # Errors
/// A body that does not decode.
pub fn create(
    sim: &Sim,
    kind: &ResourceKind,
    namespace: &str,
    user: &User,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let mut object = decode(body)?;
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    object["apiVersion"] = json!(kind.api_version());
    object["kind"] = json!(kind.kind);
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]["creationTimestamp"] = Value::Null;
    if kind.namespaced && !namespace.is_empty() {
        object["metadata"]["namespace"] = json!(namespace);
    }
    let status = match kind.kind.as_str() {
        "SelfSubjectAccessReview" => {
            let attributes = crate::rbac::Attributes::from_review(&object["spec"], user);
            sim.authorize_review(&attributes)
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let spec = &object["spec"];
            let subject = User {
                name: spec["user"].as_str().unwrap_or("").to_owned(),
                uid: spec["uid"].as_str().map(str::to_owned),
                groups: crate::kinds::strings(&spec["groups"]),
            };
            let mut attributes = crate::rbac::Attributes::from_review(spec, &subject);
            if kind.kind == "LocalSubjectAccessReview" {
                namespace.clone_into(&mut attributes.namespace);
            }
            sim.authorize_review(&attributes)
        }
        "SelfSubjectRulesReview" => {
            let ns = object["spec"]["namespace"].as_str().unwrap_or("");
            sim.rules_review(user, ns)
        }
        "SelfSubjectReview" => json!({"userInfo": user.user_info()}),
        "TokenReview" => {
            let token = object["spec"]["token"].as_str().unwrap_or("");
            match sim.user_of_token(token) {
                Some(found) => json!({"authenticated": true, "user": found.user_info()}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        _ => json!({}),
    };
    object["status"] = status;
    Ok(object)
}

/// The subresources that are not `status` or `scale`: a ServiceAccount's
/// `token` (TokenRequest) is issued; the rest (`log`, `exec`, `proxy`,
/// `eviction`, ...) need nodes and are refused.
///
/// # Errors
/// The ServiceAccount does not exist; a subresource that is not served.
pub fn subresource(
    sim: &Sim,
    method: &Method,
    body: &Bytes,
    t: &Target,
) -> Result<Response<Body>, ApiError> {
    let sub = t.sub.as_deref().unwrap_or("");
    let name = t.name.as_deref().unwrap_or("");
    if t.kind.group.is_empty() && t.kind.plural == "serviceaccounts" && sub == "token" {
        if *method != Method::POST {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        let request = if body.is_empty() {
            json!({})
        } else {
            decode(body)?
        };
        let answer = sim.issue_token(&t.namespace, name, request)?;
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "{} of {} is not served by kube-sim (it runs no nodes)",
            sub,
            Subject {
                group: &t.kind.group,
                plural: &t.kind.plural,
                name,
            }
            .qualified()
        ),
    ))
}
