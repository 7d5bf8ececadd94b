//! Errors as the real API server returns them: a `metav1.Status` body with
//! kind, reason, code, message and details.

use http::StatusCode;
use serde_json::{Value, json};

/// An API error, turned into a `Status` response by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: StatusCode,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, …
    pub reason: &'static str,
    pub message: String,
    /// `details`: name, group, kind and causes, when there are any.
    pub details: Option<Value>,
    /// `metadata.continue` of the Status (a 410 `Expired` list).
    pub list_continue: Option<String>,
}

/// What an error is about: the object's group, plural (which the real
/// server reports as `details.kind`) and name.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub group: &'a str,
    pub plural: &'a str,
    pub name: &'a str,
}

impl Subject<'_> {
    /// `configmaps "x"` or `deployments.apps "x"`, as in the real messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            format!("{} {:?}", self.plural, self.name)
        } else {
            format!("{}.{} {:?}", self.plural, self.group, self.name)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({"name": self.name, "kind": self.plural});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            list_continue: None,
        }
    }

    pub fn not_found(s: Subject<'_>) -> ApiError {
        ApiError {
            details: Some(s.details()),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{} not found", s.qualified()),
            )
        }
    }

    pub fn already_exists(s: Subject<'_>) -> ApiError {
        ApiError {
            details: Some(s.details()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                format!("{} already exists", s.qualified()),
            )
        }
    }

    /// The optimistic-concurrency failure of an update.
    pub fn conflict(s: Subject<'_>, why: &str) -> ApiError {
        ApiError {
            details: Some(s.details()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!("Operation cannot be fulfilled on {}: {why}", s.qualified()),
            )
        }
    }

    /// 422: the object is invalid; each cause is (field, reason, message).
    pub fn invalid(kind: &str, s: Subject<'_>, causes: &[(String, &str, String)]) -> ApiError {
        let messages: Vec<String> = causes
            .iter()
            .map(|(field, _, message)| format!("{field}: {message}"))
            .collect();
        let mut details = s.details();
        details["kind"] = json!(kind);
        details["causes"] = causes
            .iter()
            .map(|(field, reason, message)| {
                json!({"reason": reason, "message": format!("{field}: {message}"), "field": field})
            })
            .collect();
        let message = if messages.len() == 1 {
            format!("{kind} {:?} is invalid: {}", s.name, messages[0])
        } else {
            format!("{kind} {:?} is invalid: [{}]", s.name, messages.join(", "))
        };
        ApiError {
            details: Some(details),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// A `resourceVersion` too old to watch from.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "Expired", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// The `Status` body.
    pub fn body(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(token) = &self.list_continue {
            status["metadata"]["continue"] = json!(token);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_the_real_server() {
        let s = Subject {
            group: "apps",
            plural: "deployments",
            name: "web",
        };
        let e = ApiError::not_found(s);
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        assert_eq!(e.body()["details"]["group"], "apps");
        assert_eq!(e.body()["code"], 404);
        let core = Subject {
            group: "",
            plural: "configmaps",
            name: "x",
        };
        assert_eq!(
            ApiError::already_exists(core).message,
            "configmaps \"x\" already exists"
        );
        let invalid = ApiError::invalid(
            "ConfigMap",
            core,
            &[(
                "metadata.name".to_owned(),
                "FieldValueInvalid",
                "Invalid value: \"X\": a lowercase RFC 1123 subdomain".to_owned(),
            )],
        );
        assert_eq!(invalid.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            invalid
                .message
                .starts_with("ConfigMap \"x\" is invalid: metadata.name: Invalid value")
        );
        assert_eq!(
            invalid.body()["details"]["causes"][0]["field"],
            "metadata.name"
        );
    }
}
