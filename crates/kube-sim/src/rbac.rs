//! Authorization: what a request asks to do, and whether its user may.

use serde_json::{Value, json};

use http::StatusCode;

use crate::auth::User;
use crate::server::Sim;
use crate::status::{ApiError, Subject};
use crate::store::{Key, State};

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

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    fn of(value: &Value) -> Rule {
        Rule {
            verbs: strings(&value["verbs"]),
            api_groups: strings(&value["apiGroups"]),
            resources: strings(&value["resources"]),
            resource_names: strings(&value["resourceNames"]),
            non_resource_urls: strings(&value["nonResourceURLs"]),
        }
    }

    fn to_json(&self) -> Value {
        let mut rule = json!({"verbs": self.verbs});
        if self.non_resource_urls.is_empty() {
            rule["apiGroups"] = json!(self.api_groups);
            rule["resources"] = json!(self.resources);
            if !self.resource_names.is_empty() {
                rule["resourceNames"] = json!(self.resource_names);
            }
        } else {
            rule["nonResourceURLs"] = json!(self.non_resource_urls);
        }
        rule
    }

    /// Whether the rule allows the request, as the RBAC authorizer
    /// matches: `*` for any verb, group, resource; `*/sub` for a
    /// subresource of any resource; names only when the rule lists some;
    /// `/prefix*` for paths.
    pub fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        if !any(&self.verbs, &a.verb) {
            return false;
        }
        if let Some(path) = &a.path {
            return self.non_resource_urls.iter().any(|url| {
                url == "*"
                    || url == path
                    || url
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            });
        }
        if !any(&self.api_groups, &a.group) {
            return false;
        }
        let resource_ok = if a.subresource.is_empty() {
            any(&self.resources, &a.resource)
        } else {
            let combined = format!("{}/{}", a.resource, a.subresource);
            let any_sub = format!("*/{}", a.subresource);
            self.resources
                .iter()
                .any(|r| r == "*" || *r == combined || *r == any_sub)
        };
        resource_ok && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }
}

fn strings(value: &Value) -> Vec<String> {
    crate::kinds::strings(value)
}

fn key(plural: &str, namespace: &str, name: &str) -> Key {
    Key {
        group: "rbac.authorization.k8s.io".to_owned(),
        plural: plural.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// A label selector of an aggregation rule, in the syntax
/// [`LabelSelector::parse`](crate::selector::LabelSelector::parse) reads.
fn selector_text(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let k = e["key"].as_str().unwrap_or("");
        let values = strings(&e["values"]).join(",");
        parts.push(match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{k} in ({values})"),
            "NotIn" => format!("{k} notin ({values})"),
            "Exists" => k.to_owned(),
            _ => format!("!{k}"),
        });
    }
    parts.join(",")
}

/// The rules of a ClusterRole; an aggregated one's are those of every
/// ClusterRole its selectors match, as the aggregation controller keeps
/// them.
fn cluster_role_rules(state: &State, name: &str) -> Vec<Rule> {
    aggregated_rules(state, name, &mut Vec::new())
}

/// The rules of a ClusterRole, following aggregation through aggregated
/// ClusterRoles (`admin` takes `edit`'s, which takes `view`'s), once each.
fn aggregated_rules(state: &State, name: &str, seen: &mut Vec<String>) -> Vec<Rule> {
    if seen.iter().any(|s| s == name) {
        return Vec::new();
    }
    seen.push(name.to_owned());
    let Some(role) = state.get(&key("clusterroles", "", name)) else {
        return Vec::new();
    };
    let mut rules: Vec<Rule> = role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Rule::of)
        .collect();
    let selectors = role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if selectors.is_empty() {
        return rules;
    }
    let parsed: Vec<crate::selector::LabelSelector> = selectors
        .iter()
        .filter_map(|s| crate::selector::LabelSelector::parse(&selector_text(s)).ok())
        .collect();
    let matched: Vec<String> = state
        .list("rbac.authorization.k8s.io", "clusterroles", None)
        .filter(|(k, other)| {
            k.name != name && {
                let labels = other["metadata"]["labels"].as_object();
                parsed.iter().any(|s| !s.is_empty() && s.matches(labels))
            }
        })
        .map(|(k, _)| k.name.clone())
        .collect();
    for other in matched {
        rules.extend(aggregated_rules(state, &other, seen));
    }
    rules
}

fn subject_matches(subject: &Value, user: &User, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" => name == user.name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// Every rule that applies to `user` in `namespace` (cluster-wide ones
/// only when it is empty), each with the binding that grants it.
pub fn rules_for(state: &State, user: &User, namespace: &str) -> Vec<(Rule, String)> {
    let mut granted = Vec::new();
    for (_, binding) in state.list("rbac.authorization.k8s.io", "clusterrolebindings", None) {
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        let Some(subject) = subjects.iter().find(|s| subject_matches(s, user, "")) else {
            continue;
        };
        let role = binding["roleRef"]["name"].as_str().unwrap_or("");
        let why = format!(
            "ClusterRoleBinding {:?} of ClusterRole {role:?} to {} {:?}",
            binding["metadata"]["name"].as_str().unwrap_or(""),
            subject["kind"].as_str().unwrap_or(""),
            subject["name"].as_str().unwrap_or("")
        );
        granted.extend(
            cluster_role_rules(state, role)
                .into_iter()
                .map(|r| (r, why.clone())),
        );
    }
    if namespace.is_empty() {
        return granted;
    }
    for (_, binding) in state.list("rbac.authorization.k8s.io", "rolebindings", Some(namespace)) {
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        let Some(subject) = subjects
            .iter()
            .find(|s| subject_matches(s, user, namespace))
        else {
            continue;
        };
        let role_ref = &binding["roleRef"];
        let role = role_ref["name"].as_str().unwrap_or("");
        let (rules, role_kind) = if role_ref["kind"] == "ClusterRole" {
            (cluster_role_rules(state, role), "ClusterRole")
        } else {
            let rules = state
                .get(&key("roles", namespace, role))
                .map(|r| {
                    r["rules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(Rule::of)
                        .collect()
                })
                .unwrap_or_default();
            (rules, "Role")
        };
        let why = format!(
            "RoleBinding {:?} of {role_kind} {role:?} to {} {:?}",
            binding["metadata"]["name"].as_str().unwrap_or(""),
            subject["kind"].as_str().unwrap_or(""),
            subject["name"].as_str().unwrap_or("")
        );
        granted.extend(rules.into_iter().map(|r| (r, why.clone())));
    }
    granted
}

/// Which binding allows the request, if RBAC does.
pub fn allowed_by(state: &State, a: &Attributes) -> Option<String> {
    let user = a.user.as_ref()?;
    rules_for(state, user, &a.namespace)
        .into_iter()
        .find(|(rule, _)| rule.allows(a))
        .map(|(_, why)| {
            let scope = if a.namespace.is_empty() {
                String::new()
            } else {
                format!(" in namespace {:?}", a.namespace)
            };
            format!("RBAC: allowed by {why}{scope}")
        })
}

/// The real server's 403 for a request RBAC does not allow.
pub fn forbidden(a: &Attributes) -> ApiError {
    let user = a.user.as_ref().map_or("", |u| u.name.as_str());
    let mut error = if let Some(path) = &a.path {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("forbidden: User {user:?} cannot {} path {path:?}", a.verb),
        )
    } else {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace {:?}", a.namespace)
        };
        let why = format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            a.verb, a.group
        );
        let qualified = if a.group.is_empty() {
            a.resource.clone()
        } else {
            format!("{}.{}", a.resource, a.group)
        };
        let message = if a.name.is_empty() {
            format!("{qualified} is forbidden: {why}")
        } else {
            format!("{qualified} {:?} is forbidden: {why}", a.name)
        };
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    };
    let mut details = json!({"kind": a.resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.group.is_empty() {
        details["group"] = json!(a.group);
    }
    if a.path.is_none() {
        error.details = Some(details);
    }
    error
}

impl Sim {
    /// Whether the request may go on: always, unless RBAC is on.
    ///
    /// # Errors
    /// The real server's 403.
    pub fn authorize(&self, a: &Attributes) -> Result<(), ApiError> {
        if !self.rbac {
            return Ok(());
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        allowed_by(&state, a)
            .map(|_| ())
            .ok_or_else(|| forbidden(a))
    }

    /// The `status` of an access review.
    pub fn authorize_review(&self, attributes: &Attributes) -> Value {
        if !self.rbac {
            return json!({"allowed": true});
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match allowed_by(&state, attributes) {
            Some(reason) => json!({"allowed": true, "reason": reason}),
            None => json!({"allowed": false}),
        }
    }

    /// The `status` of a SelfSubjectRulesReview.
    pub fn rules_review(&self, user: &User, namespace: &str) -> Value {
        if !self.rbac {
            return json!({
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false,
            });
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (mut resource, mut non_resource) = (Vec::new(), Vec::new());
        for (rule, _) in rules_for(&state, user, namespace) {
            if rule.non_resource_urls.is_empty() {
                resource.push(rule.to_json());
            } else {
                non_resource.push(rule.to_json());
            }
        }
        json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false})
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

/// The bootstrap ClusterRoles and ClusterRoleBindings every cluster starts
/// with, as the real server's RBAC bootstrap policy has them (those a user
/// meets: `cluster-admin`, the aggregated `admin`, `edit` and `view`, what
/// every authenticated user may do, and the bindings of both).
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    const ALL: &[&str] = crate::kinds::ALL_VERBS;
    const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
    const READ: &[&str] = &["get", "list", "watch"];
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let labels = |extra: &[(&str, &str)]| {
        let mut l = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
        for (k, v) in extra {
            l[*k] = json!(v);
        }
        l
    };
    let aggregate = |name: &str| format!("rbac.authorization.k8s.io/aggregate-to-{name}");
    let role = |name: &str, labels: Value, rules: Vec<Value>| {
        (
            "clusterroles",
            json!({
                "metadata": {"name": name, "labels": labels,
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
                "rules": rules,
            }),
        )
    };
    let aggregated = |name: &str, labels: Value| {
        (
            "clusterroles",
            json!({
                "metadata": {"name": name, "labels": labels,
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
                "aggregationRule": {"clusterRoleSelectors": [
                    {"matchLabels": {aggregate(name): "true"}}
                ]},
                "rules": [],
            }),
        )
    };
    let binding = |name: &str, role: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
            .collect();
        (
            "clusterrolebindings",
            json!({
                "metadata": {"name": name, "labels": labels(&[]),
                    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": subjects,
            }),
        )
    };
    let to_admin = aggregate("admin");
    let to_edit = aggregate("edit");
    let to_view = aggregate("view");
    vec![
        role(
            "cluster-admin",
            labels(&[]),
            vec![
                rule(&["*"], &["*"], &["*"]),
                json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            ],
        ),
        aggregated("admin", labels(&[])),
        aggregated("edit", labels(&[(to_admin.as_str(), "true")])),
        aggregated("view", labels(&[(to_edit.as_str(), "true")])),
        role(
            "system:aggregate-to-admin",
            labels(&[(to_admin.as_str(), "true")]),
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                    &["create"],
                ),
                rule(
                    &["rbac.authorization.k8s.io"],
                    &["rolebindings", "roles"],
                    ALL,
                ),
            ],
        ),
        role(
            "system:aggregate-to-edit",
            labels(&[(to_edit.as_str(), "true")]),
            vec![
                rule(
                    &[""],
                    &[
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                        "secrets",
                        "services/proxy",
                    ],
                    READ,
                ),
                rule(&[""], &["serviceaccounts"], &["impersonate"]),
                rule(
                    &[""],
                    &[
                        "pods",
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                    ],
                    WRITE,
                ),
                rule(&[""], &["pods/eviction"], &["create"]),
                rule(
                    &[""],
                    &[
                        "configmaps",
                        "events",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                    WRITE,
                ),
                rule(&[""], &["serviceaccounts/token"], &["create"]),
                rule(
                    &["apps"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                    WRITE,
                ),
                rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
                rule(&["batch"], &["cronjobs", "jobs"], WRITE),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "networkpolicies"],
                    WRITE,
                ),
                rule(&["policy"], &["poddisruptionbudgets"], WRITE),
                rule(&["coordination.k8s.io"], &["leases"], ALL),
            ],
        ),
        role(
            "system:aggregate-to-view",
            labels(&[(to_view.as_str(), "true")]),
            vec![
                rule(
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                    READ,
                ),
                rule(
                    &[""],
                    &[
                        "bindings",
                        "events",
                        "limitranges",
                        "namespaces/status",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                    ],
                    READ,
                ),
                rule(&[""], &["namespaces"], READ),
                rule(&["discovery.k8s.io"], &["endpointslices"], READ),
                rule(
                    &["apps"],
                    &[
                        "controllerrevisions",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                    READ,
                ),
                rule(
                    &["autoscaling"],
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                    READ,
                ),
                rule(
                    &["batch"],
                    &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                    READ,
                ),
                rule(
                    &["policy"],
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                    READ,
                ),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "ingresses/status", "networkpolicies"],
                    READ,
                ),
            ],
        ),
        role(
            "system:basic-user",
            labels(&[]),
            vec![
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
            ],
        ),
        role(
            "system:discovery",
            labels(&[]),
            vec![json!({"nonResourceURLs": [
                "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                "/openapi", "/openapi/*", "/readyz", "/version", "/version/",
            ], "verbs": ["get"]})],
        ),
        role(
            "system:public-info-viewer",
            labels(&[]),
            vec![json!({"nonResourceURLs": [
                "/healthz", "/livez", "/readyz", "/version", "/version/",
            ], "verbs": ["get"]})],
        ),
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let (events, _) = tokio::sync::broadcast::channel(16);
        let mut state = State::new(crate::kinds::builtin(), events);
        crate::server::bootstrap(&mut state);
        state
    }

    fn attributes(user: &User, verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
        Attributes {
            user: Some(user.clone()),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: ns.to_owned(),
            ..Attributes::default()
        }
    }

    #[test]
    fn bootstrap_roles_aggregate_and_bind() {
        let mut state = state();
        let admin = User::admin();
        assert!(
            allowed_by(
                &state,
                &attributes(&admin, "delete", "apps", "deployments", "x")
            )
            .is_some()
        );
        let bot = User::service_account("f", "bot", None);
        let create_cm = attributes(&bot, "create", "", "configmaps", "f");
        assert!(allowed_by(&state, &create_cm).is_none());
        assert_eq!(
            forbidden(&create_cm).message,
            "configmaps is forbidden: User \"system:serviceaccount:f:bot\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"f\""
        );
        // Bound to edit in f: edit aggregates system:aggregate-to-edit.
        let kinds = state.kinds.clone();
        let rb = kinds
            .iter()
            .find(|k| k.plural == "rolebindings")
            .unwrap()
            .clone();
        let ns = kinds
            .iter()
            .find(|k| k.plural == "namespaces")
            .unwrap()
            .clone();
        crate::api::create(
            &mut state,
            &ns,
            "",
            json!({"metadata": {"name": "f"}}),
            &Default::default(),
        )
        .unwrap();
        crate::api::create(
            &mut state,
            &rb,
            "f",
            json!({
                "metadata": {"name": "bot-edit"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot"}],
            }),
            &Default::default(),
        )
        .unwrap();
        assert!(allowed_by(&state, &create_cm).is_some());
        // view is aggregated into edit.
        assert!(allowed_by(&state, &attributes(&bot, "list", "batch", "jobs", "f")).is_some());
        assert!(allowed_by(&state, &attributes(&bot, "create", "", "configmaps", "g")).is_none());
        assert!(
            allowed_by(
                &state,
                &attributes(&bot, "create", "rbac.authorization.k8s.io", "roles", "f")
            )
            .is_none()
        );
        let mut scale = attributes(&bot, "patch", "apps", "deployments", "f");
        scale.subresource = "scale".to_owned();
        assert!(allowed_by(&state, &scale).is_some());
        let discovery = Attributes {
            path: Some("/apis/apps/v1".to_owned()),
            ..attributes(&bot, "get", "", "", "")
        };
        assert!(allowed_by(&state, &discovery).is_some());
    }
}
