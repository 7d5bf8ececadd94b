//! Admission webhooks. kube-sim calls none: a webhook whose Service has
//! ready endpoints (see [`crate::endpoints`]) is taken to answer and
//! admit. Until it has them, a write the webhook's rules match is refused
//! as the real server refuses it when a webhook with `failurePolicy: Fail`
//! (the default) cannot be called: 500 `InternalError`, `failed calling
//! webhook "<name>": failed to call webhook: Post "https://<svc>.<ns>.svc:
//! <port><path>?timeout=<n>s": dial tcp <clusterIP>:<port>: connect:
//! connection refused` (or `service "<svc>" not found`). That is what
//! installing cert-manager and an Issuer together meets before the
//! webhook's Deployment is Available.
//!
//! Matching follows k8s.io/apiserver's webhook predicates: `rules`
//! (operations, API groups, versions — any served version of the resource
//! with `matchPolicy: Equivalent`, the default —, resources with their
//! `*`, `*/*`, `x/sub` and `*/sub` forms, scope), `namespaceSelector`
//! (the labels of the object's Namespace; of the Namespace itself when it
//! is the object) and `objectSelector` (the new or the old object's
//! labels). `matchConditions` (CEL) are not evaluated: they count as met.
//! Webhook configurations and admission policies are never themselves
//! admitted by webhooks, as on the real server.

use serde_json::{Value, json};

use crate::kinds::ResourceKind;
use crate::selector::LabelSelector;
use crate::status::ApiError;
use crate::store::State;

const GROUP: &str = "admissionregistration.k8s.io";

/// The admission operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// The webhooks consulted in turn: every mutating one, then every
/// validating one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Mutating,
    Validating,
}

impl Phase {
    fn plural(self) -> &'static str {
        match self {
            Phase::Mutating => "mutatingwebhookconfigurations",
            Phase::Validating => "validatingwebhookconfigurations",
        }
    }
}

/// What admission sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub operation: Operation,
    pub kind: &'a ResourceKind,
    /// `""` for the resource itself.
    pub subresource: &'a str,
    /// The object's namespace; for a Namespace, its own name (as the real
    /// server's attributes have it); `""` for other cluster-scoped objects.
    pub namespace: &'a str,
    /// The new object (create, update).
    pub object: Option<&'a Value>,
    /// The object as it was (update, delete).
    pub old: Option<&'a Value>,
}

impl<'a> Attributes<'a> {
    /// The attributes of a write of `kind` in `namespace` (ignored for
    /// cluster-scoped kinds) named `name`.
    pub fn new(
        operation: Operation,
        kind: &'a ResourceKind,
        subresource: Option<&'a str>,
        namespace: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        let namespace = if is_namespace(kind) {
            name
        } else if kind.namespaced {
            namespace
        } else {
            ""
        };
        Attributes {
            operation,
            kind,
            subresource: subresource.unwrap_or(""),
            namespace,
            object: None,
            old: None,
        }
    }

    pub fn with_objects(self, object: Option<&'a Value>, old: Option<&'a Value>) -> Attributes<'a> {
        Attributes {
            object,
            old,
            ..self
        }
    }
}

fn is_namespace(kind: &ResourceKind) -> bool {
    kind.group.is_empty() && kind.plural == "namespaces"
}

/// The webhooks of `phase` that would be called for the request: the
/// first whose Service cannot be reached, with `failurePolicy: Fail`,
/// refuses it. Cheap when there are no webhook configurations (a lookup
/// of the store's first one).
///
/// # Errors
/// The real server's 500 for a webhook it could not call.
pub fn admit(state: &State, phase: Phase, a: &Attributes<'_>) -> Result<(), ApiError> {
    let mut configurations = state.list(GROUP, phase.plural(), None).peekable();
    if configurations.peek().is_none() || exempt(a.kind) {
        return Ok(());
    }
    // In name order, webhooks in their order, as the real server calls them.
    for (_, configuration) in configurations {
        for webhook in configuration["webhooks"].as_array().into_iter().flatten() {
            if webhook["failurePolicy"].as_str().unwrap_or("Fail") != "Fail"
                || !calls(state, webhook, a)
            {
                continue;
            }
            if let Some(why) = unreachable(state, webhook) {
                return Err(call_failed(webhook["name"].as_str().unwrap_or(""), &why));
            }
        }
    }
    Ok(())
}

/// The real server never calls webhooks for its admission configuration.
fn exempt(kind: &ResourceKind) -> bool {
    kind.group == GROUP
        && matches!(
            kind.kind.as_str(),
            "ValidatingWebhookConfiguration"
                | "MutatingWebhookConfiguration"
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
                | "MutatingAdmissionPolicy"
                | "MutatingAdmissionPolicyBinding"
        )
}

/// Whether the webhook is called for the request: a rule matches (for
/// `matchPolicy: Equivalent`, in any served version of the resource), and
/// so do its selectors.
fn calls(state: &State, webhook: &Value, a: &Attributes<'_>) -> bool {
    let rules = webhook["rules"].as_array().map_or(&[][..], Vec::as_slice);
    let equivalent = webhook["matchPolicy"].as_str().unwrap_or("Equivalent") == "Equivalent";
    let version_served = |version: &str| {
        version == a.kind.version
            || (equivalent
                && state.kinds.iter().any(|k| {
                    k.group == a.kind.group && k.plural == a.kind.plural && k.version == version
                }))
    };
    rules
        .iter()
        .any(|rule| rule_matches(rule, a, &version_served))
        && namespace_selected(state, &webhook["namespaceSelector"], a)
        && object_selected(&webhook["objectSelector"], a)
}

/// One of `rules[]` (a `RuleWithOperations`) against the request;
/// `version_served` says whether a version the rule lists names the
/// requested resource.
pub fn rule_matches(
    rule: &Value,
    a: &Attributes<'_>,
    version_served: &dyn Fn(&str) -> bool,
) -> bool {
    let listed = |field: &str| rule[field].as_array().map_or(&[][..], Vec::as_slice);
    let any = |field: &str, wanted: &str| listed(field).iter().any(|v| v == "*" || v == wanted);
    let resource = listed("resources")
        .iter()
        .filter_map(Value::as_str)
        .any(|r| {
            // `*` is every resource but no subresource, `*/*` every resource
            // and subresource.
            let (resource, sub) = r.split_once('/').unwrap_or((r, ""));
            (resource == "*" || resource == a.kind.plural) && (sub == "*" || sub == a.subresource)
        });
    let versions = listed("apiVersions")
        .iter()
        .filter_map(Value::as_str)
        .any(|v| v == "*" || version_served(v));
    any("operations", a.operation.as_str())
        && any("apiGroups", &a.kind.group)
        && versions
        && resource
        && scope_matches(rule["scope"].as_str(), a)
}

/// `scope`: `*` (the default), `Cluster` or `Namespaced`. A Namespace is
/// cluster-scoped, though its attributes carry its name as namespace.
fn scope_matches(scope: Option<&str>, a: &Attributes<'_>) -> bool {
    match scope.unwrap_or("*") {
        "*" => true,
        "Namespaced" => !is_namespace(a.kind) && !a.namespace.is_empty(),
        "Cluster" => is_namespace(a.kind) || a.namespace.is_empty(),
        _ => false,
    }
}

/// The selector, when it may select less than everything: one absent
/// (defaulted to `{}` by the real server), or that does not parse, selects
/// everything.
fn selector(value: &Value) -> Option<LabelSelector> {
    if value.is_null() {
        return None;
    }
    LabelSelector::from_object(value)
        .ok()
        .filter(|s| !s.is_empty())
}

fn labels(object: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    object.and_then(|o| o["metadata"]["labels"].as_object())
}

/// `namespaceSelector`: cluster-scoped objects other than Namespaces are
/// always selected; a Namespace being created or updated by its own
/// labels; anything else by the labels of its Namespace.
fn namespace_selected(state: &State, value: &Value, a: &Attributes<'_>) -> bool {
    if a.namespace.is_empty() && !is_namespace(a.kind) {
        return true;
    }
    let Some(selector) = selector(value) else {
        return true;
    };
    let own = is_namespace(a.kind)
        && a.subresource.is_empty()
        && matches!(a.operation, Operation::Create | Operation::Update);
    if own {
        return selector.matches(labels(a.object));
    }
    let namespace = state.get(&crate::store::Key {
        group: String::new(),
        plural: "namespaces".to_owned(),
        namespace: String::new(),
        name: a.namespace.to_owned(),
    });
    selector.matches(labels(namespace))
}

/// `objectSelector`: the new object's labels or the old one's.
fn object_selected(value: &Value, a: &Attributes<'_>) -> bool {
    let Some(selector) = selector(value) else {
        return true;
    };
    [a.object, a.old]
        .into_iter()
        .any(|o| o.is_some() && selector.matches(labels(o)))
}

/// Why a call to the webhook would fail, as Go's HTTP client says it
/// after the URL; `None` when it would be answered (a `url` webhook, or a
/// Service with ready endpoints).
fn unreachable(state: &State, webhook: &Value) -> Option<String> {
    let service = webhook["clientConfig"]["service"].as_object()?;
    let text = |field: &str| service.get(field).and_then(Value::as_str).unwrap_or("");
    let (name, namespace) = (text("name"), text("namespace"));
    let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
    let timeout = webhook["timeoutSeconds"].as_i64().unwrap_or(10);
    // Go's path.Join("/", path), as client-go builds the request's path.
    let path: Vec<&str> = text("path").split('/').filter(|s| !s.is_empty()).collect();
    let url = format!(
        "https://{name}.{namespace}.svc:{port}/{}?timeout={timeout}s",
        path.join("/")
    );
    let why = match crate::endpoints::service(state, namespace, name) {
        None => format!("service \"{name}\" not found"),
        Some(svc) => {
            let spec = &svc["spec"];
            let has_port = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["port"].as_i64() == Some(port));
            if spec["type"] == "ExternalName" {
                // Outside the cluster: kube-sim cannot tell; taken to answer.
                return None;
            } else if spec["clusterIP"] == "None" {
                "cannot route to service with ClusterIP \"None\"".to_owned()
            } else if !has_port {
                format!("no service port {port} found for service \"{name}\"")
            } else if crate::endpoints::ready(state, namespace, svc) {
                return None;
            } else {
                let ip = spec["clusterIP"]
                    .as_str()
                    .filter(|ip| !ip.is_empty())
                    .map_or_else(|| made_up_ip(namespace, name), str::to_owned);
                let address = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                format!("dial tcp {address}: connect: connection refused")
            }
        }
    };
    Some(format!("Post \"{url}\": {why}"))
}

/// A cluster IP for a Service that has none recorded, the same each time.
fn made_up_ip(namespace: &str, name: &str) -> String {
    // FNV-1a of namespace/name.
    let hash = format!("{namespace}/{name}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("10.96.{}.{}", (hash >> 8) & 0xff, (hash & 0xff) % 254 + 1)
}

/// The real server's error for a webhook it could not call
/// (`apierrors.NewInternalError` of `ErrCallingWebhook`).
fn call_failed(webhook: &str, why: &str) -> ApiError {
    let cause = format!("failed calling webhook \"{webhook}\": failed to call webhook: {why}");
    ApiError {
        details: Some(json!({"causes": [{"message": cause}]})),
        ..ApiError::internal(format!("Internal error occurred: {cause}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{self, WriteOptions};
    use tokio::sync::broadcast;

    fn kind(group: &str, plural: &str, namespaced: bool) -> ResourceKind {
        ResourceKind {
            group: group.to_owned(),
            version: "v1".to_owned(),
            plural: plural.to_owned(),
            kind: plural.to_owned(),
            namespaced,
            ..ResourceKind::default()
        }
    }

    fn matches(rule: Value, a: &Attributes<'_>) -> bool {
        rule_matches(&rule, a, &|v| v == "v1")
    }

    #[test]
    fn resources_star_is_every_resource_and_star_slash_star_every_subresource_too() {
        let secrets = kind("", "secrets", true);
        let main = Attributes::new(Operation::Create, &secrets, None, "a", "s");
        let status = Attributes::new(Operation::Update, &secrets, Some("status"), "a", "s");
        let rule = |resources: Value| json!({"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"], "resources": resources});
        assert!(matches(rule(json!(["*"])), &main));
        assert!(!matches(rule(json!(["*"])), &status));
        assert!(matches(rule(json!(["*/*"])), &main));
        assert!(matches(rule(json!(["*/*"])), &status));
        assert!(matches(rule(json!(["secrets"])), &main));
        assert!(!matches(rule(json!(["secrets"])), &status));
        assert!(matches(rule(json!(["secrets/status"])), &status));
        assert!(!matches(rule(json!(["secrets/status"])), &main));
        assert!(matches(rule(json!(["*/status"])), &status));
        assert!(!matches(rule(json!(["*/status"])), &main));
        assert!(matches(rule(json!(["secrets/*"])), &status));
        assert!(matches(rule(json!(["secrets/*"])), &main));
        assert!(!matches(rule(json!(["configmaps", "pods/*"])), &main));
        assert!(!matches(rule(json!([])), &main));
    }

    #[test]
    fn operations_groups_versions_and_scope() {
        let issuers = kind("cert-manager.io", "issuers", true);
        let cluster_issuers = kind("cert-manager.io", "clusterissuers", false);
        let namespaces = kind("", "namespaces", false);
        let create = Attributes::new(Operation::Create, &issuers, None, "a", "i");
        let delete = Attributes::new(Operation::Delete, &issuers, None, "a", "i");
        let cluster = Attributes::new(Operation::Create, &cluster_issuers, None, "a", "c");
        let namespace = Attributes::new(Operation::Create, &namespaces, None, "", "a");
        assert_eq!(cluster.namespace, "");
        assert_eq!(namespace.namespace, "a");
        let rule = |ops: Value, groups: Value, versions: Value, scope: Option<&str>| {
            let mut r = json!({"operations": ops, "apiGroups": groups, "apiVersions": versions, "resources": ["*"]});
            if let Some(s) = scope {
                r["scope"] = json!(s);
            }
            r
        };
        let cm = json!(["cert-manager.io"]);
        let v1 = json!(["v1"]);
        assert!(matches(
            rule(json!(["CREATE", "UPDATE"]), cm.clone(), v1.clone(), None),
            &create
        ));
        assert!(!matches(
            rule(json!(["CREATE", "UPDATE"]), cm.clone(), v1.clone(), None),
            &delete
        ));
        assert!(matches(
            rule(json!(["*"]), cm.clone(), v1.clone(), None),
            &delete
        ));
        assert!(!matches(
            rule(json!(["CONNECT"]), cm.clone(), v1.clone(), None),
            &create
        ));
        assert!(!matches(
            rule(
                json!(["*"]),
                json!(["acme.cert-manager.io"]),
                v1.clone(),
                None
            ),
            &create
        ));
        assert!(matches(
            rule(json!(["*"]), json!(["*"]), v1.clone(), None),
            &create
        ));
        assert!(!matches(
            rule(json!(["*"]), cm.clone(), json!(["v2"]), None),
            &create
        ));
        assert!(matches(
            rule(json!(["*"]), cm.clone(), json!(["*"]), None),
            &create
        ));
        let scoped = |scope| rule(json!(["*"]), json!(["*"]), json!(["*"]), Some(scope));
        assert!(matches(scoped("*"), &create));
        assert!(matches(scoped("Namespaced"), &create));
        assert!(!matches(scoped("Cluster"), &create));
        assert!(matches(scoped("Cluster"), &cluster));
        assert!(!matches(scoped("Namespaced"), &cluster));
        // A Namespace is cluster-scoped, though it carries its own name.
        assert!(matches(scoped("Cluster"), &namespace));
        assert!(!matches(scoped("Namespaced"), &namespace));
    }

    fn state() -> State {
        let (tx, _) = broadcast::channel(64);
        let mut state = State::new(crate::kinds::builtin(), tx);
        crate::server::bootstrap(&mut state);
        state
    }

    fn create(state: &mut State, group: &str, plural: &str, ns: &str, object: Value) {
        let kind = state
            .kinds
            .iter()
            .find(|k| k.group == group && k.plural == plural)
            .cloned()
            .unwrap();
        api::create(state, &kind, ns, object, &WriteOptions::default()).unwrap();
    }

    #[test]
    fn a_failing_webhook_refuses_what_it_matches_until_its_service_answers() {
        let mut state = state();
        let configmaps = state.kind("", "v1", "configmaps").cloned().unwrap();
        let secret = state.kind("", "v1", "secrets").cloned().unwrap();
        let webhook = state
            .kind(GROUP, "v1", "validatingwebhookconfigurations")
            .cloned()
            .unwrap();
        let request = |kind| Attributes::new(Operation::Create, kind, None, "default", "x");
        assert!(admit(&state, Phase::Validating, &request(&configmaps)).is_ok());
        create(
            &mut state,
            GROUP,
            "validatingwebhookconfigurations",
            "",
            json!({
                "metadata": {"name": "hook"},
                "webhooks": [
                    {"name": "ignored.example.com", "failurePolicy": "Ignore",
                     "clientConfig": {"service": {"name": "gone", "namespace": "hooks"}},
                     "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}]},
                    {"name": "outside.example.com",
                     "clientConfig": {"url": "https://example.com/hook"},
                     "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}]},
                    {"name": "cm.example.com", "timeoutSeconds": 5,
                     "clientConfig": {"service": {"name": "hook", "namespace": "default", "path": "validate/", "port": 8443}},
                     "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]},
                ],
            }),
        );
        assert!(admit(&state, Phase::Validating, &request(&secret)).is_ok());
        assert!(admit(&state, Phase::Mutating, &request(&configmaps)).is_ok());
        let exempt = Attributes::new(Operation::Delete, &webhook, None, "", "hook");
        assert!(admit(&state, Phase::Validating, &exempt).is_ok());
        let e = admit(&state, Phase::Validating, &request(&configmaps)).unwrap_err();
        let cause = "failed calling webhook \"cm.example.com\": failed to call webhook: Post \"https://hook.default.svc:8443/validate?timeout=5s\": service \"hook\" not found";
        assert_eq!(e.code, 500);
        assert_eq!(e.reason, "InternalError");
        assert_eq!(e.message, format!("Internal error occurred: {cause}"));
        assert_eq!(e.body()["details"], json!({"causes": [{"message": cause}]}));

        create(
            &mut state,
            "",
            "services",
            "default",
            json!({
                "metadata": {"name": "hook"},
                "spec": {"clusterIP": "10.96.7.8", "selector": {"app": "hook"}, "ports": [{"port": 443}]},
            }),
        );
        let e = admit(&state, Phase::Validating, &request(&configmaps)).unwrap_err();
        assert!(
            e.message
                .ends_with(": no service port 8443 found for service \"hook\""),
            "{}",
            e.message
        );
        let mut svc = crate::endpoints::service(&state, "default", "hook")
            .unwrap()
            .clone();
        svc["spec"]["ports"] = json!([{"port": 8443}]);
        let key = crate::store::Key {
            group: String::new(),
            plural: "services".to_owned(),
            namespace: "default".to_owned(),
            name: "hook".to_owned(),
        };
        state.put(key, svc, crate::store::EventType::Modified);
        let e = admit(&state, Phase::Validating, &request(&configmaps)).unwrap_err();
        assert!(
            e.message.ends_with(
                "/validate?timeout=5s\": dial tcp 10.96.7.8:8443: connect: connection refused"
            ),
            "{}",
            e.message
        );

        create(
            &mut state,
            "apps",
            "deployments",
            "default",
            json!({
                "metadata": {"name": "hook"},
                "spec": {"selector": {"matchLabels": {"app": "hook"}}, "template": {"metadata": {"labels": {"app": "hook"}}}},
            }),
        );
        assert!(admit(&state, Phase::Validating, &request(&configmaps)).is_err());
        crate::controllers::Controllers::new(std::time::Duration::ZERO).run(&mut state);
        assert!(admit(&state, Phase::Validating, &request(&configmaps)).is_ok());
    }

    #[test]
    fn namespace_and_object_selectors() {
        let mut state = state();
        create(
            &mut state,
            "",
            "namespaces",
            "",
            json!({"metadata": {"name": "off", "labels": {"validation": "off"}}}),
        );
        create(
            &mut state,
            GROUP,
            "mutatingwebhookconfigurations",
            "",
            json!({
                "metadata": {"name": "hook"},
                "webhooks": [{
                    "name": "hook.example.com",
                    "clientConfig": {"service": {"name": "hook", "namespace": "default"}},
                    "namespaceSelector": {"matchExpressions": [{"key": "validation", "operator": "NotIn", "values": ["off"]}]},
                    "objectSelector": {"matchLabels": {"checked": "yes"}},
                    "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
                }],
            }),
        );
        let configmaps = state.kind("", "v1", "configmaps").cloned().unwrap();
        let namespaces = state.kind("", "v1", "namespaces").cloned().unwrap();
        let cluster_roles = state
            .kind("rbac.authorization.k8s.io", "v1", "clusterroles")
            .cloned()
            .unwrap();
        let checked = json!({"metadata": {"labels": {"checked": "yes"}}});
        let unchecked = json!({"metadata": {"labels": {"checked": "no"}}});
        let refused = |kind, op, ns: &str, object: Option<&Value>, old: Option<&Value>| {
            let a = Attributes::new(op, kind, None, ns, "x").with_objects(object, old);
            admit(&state, Phase::Mutating, &a).is_err()
        };
        use Operation::*;
        assert!(refused(
            &configmaps,
            Create,
            "default",
            Some(&checked),
            None
        ));
        assert!(!refused(
            &configmaps,
            Create,
            "default",
            Some(&unchecked),
            None
        ));
        assert!(!refused(&configmaps, Create, "off", Some(&checked), None));
        assert!(refused(
            &configmaps,
            Update,
            "default",
            Some(&unchecked),
            Some(&checked)
        ));
        assert!(refused(
            &configmaps,
            Delete,
            "default",
            None,
            Some(&checked)
        ));
        assert!(!refused(
            &configmaps,
            Delete,
            "default",
            None,
            Some(&unchecked)
        ));
        // Cluster-scoped objects are always in the namespaceSelector.
        assert!(refused(&cluster_roles, Create, "", Some(&checked), None));
        // A Namespace by its own labels.
        let off = json!({"metadata": {"labels": {"checked": "yes", "validation": "off"}}});
        let namespace = |op, object: Option<&Value>, old: Option<&Value>| {
            let a = Attributes::new(op, &namespaces, None, "", "off").with_objects(object, old);
            admit(&state, Phase::Mutating, &a).is_err()
        };
        assert!(!namespace(Create, Some(&off), None));
        assert!(namespace(Update, Some(&checked), Some(&off)));
        assert!(!namespace(Delete, None, Some(&checked)));
    }

    #[test]
    fn made_up_cluster_ips_are_stable() {
        assert_eq!(made_up_ip("a", "b"), made_up_ip("a", "b"));
        assert!(made_up_ip("a", "b").starts_with("10.96."));
    }
}
