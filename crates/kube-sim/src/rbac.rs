//! Authorization: what a request asks to do, and whether its user may.

use serde_json::{Value, json};

use crate::auth::User;
use crate::server::Sim;
use crate::status::{ApiError, Subject};

/// What a request asks to do, as RBAC sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: Option<User>,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
    /// A request for a path that is no resource (`/version`).
    pub path: Option<String>,
}

impl Attributes {
    /// From the `spec` of an access review about `user`.
    pub fn from_review(spec: &Value, user: &User) -> Attributes {
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let r = &spec["resourceAttributes"];
        let n = &spec["nonResourceAttributes"];
        Attributes {
            user: Some(user.clone()),
            verb: text(if r.is_object() {
                &r["verb"]
            } else {
                &n["verb"]
            }),
            group: text(&r["group"]),
            resource: text(&r["resource"]),
            subresource: text(&r["subresource"]),
            name: text(&r["name"]),
            namespace: text(&r["namespace"]),
            path: n.is_object().then(|| text(&n["path"])),
        }
    }
}

impl Sim {
    /// The `status` of an access review.
    pub fn authorize_review(&self, _attributes: &Attributes) -> Value {
        json!({"allowed": true})
    }

    /// The `status` of a SelfSubjectRulesReview.
    pub fn rules_review(&self, _user: &User, _namespace: &str) -> Value {
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        })
    }

    /// Who a bearer token authenticates as.
    pub fn user_of_token(&self, token: &str) -> Option<User> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// A TokenRequest answered: a token for the ServiceAccount.
    ///
    /// # Errors
    /// 404 when the ServiceAccount does not exist.
    pub fn issue_token(
        &self,
        namespace: &str,
        name: &str,
        mut request: Value,
    ) -> Result<Value, ApiError> {
        use base64::Engine as _;
        let uid = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let key = crate::store::Key {
                group: String::new(),
                plural: "serviceaccounts".to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
            let sa = state.get(&key).ok_or_else(|| {
                ApiError::not_found(Subject {
                    group: "",
                    plural: "serviceaccounts",
                    name,
                })
            })?;
            sa["metadata"]["uid"].as_str().map(str::to_owned)
        };
        let user = User::service_account(namespace, name, uid);
        let seconds = request["spec"]["expirationSeconds"]
            .as_i64()
            .unwrap_or(3600);
        let now = jiff::Timestamp::now();
        let expires = now
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .unwrap_or(now);
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let claims = json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": user.name,
            "aud": request["spec"]["audiences"].as_array().cloned().unwrap_or_else(|| vec![json!("https://kubernetes.default.svc.cluster.local")]),
            "iat": now.as_second(),
            "exp": expires.as_second(),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": user.uid}},
        });
        let token = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "kid": "kube-sim"})),
            b64(&claims),
            crate::meta::uid().replace('-', "")
        );
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), user);
        request["apiVersion"] = json!("authentication.k8s.io/v1");
        request["kind"] = json!("TokenRequest");
        if !request["metadata"].is_object() {
            request["metadata"] = json!({});
        }
        request["metadata"]["name"] = json!(name);
        request["metadata"]["namespace"] = json!(namespace);
        request["metadata"]["creationTimestamp"] = Value::Null;
        request["spec"]["expirationSeconds"] = json!(seconds);
        request["status"] = json!({
            "token": token,
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        Ok(request)
    }
}
