//! HTTP: routing of the Kubernetes REST paths, discovery, watch streams,
//! the bearer token, and the health endpoints. HTTP/1.1 and HTTP/2 (h2c
//! prior knowledge) on one listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

use crate::admission::{Attributes, Operation, Phase};
use crate::api::{self, PatchType, Propagation, WriteOptions};
use crate::kinds::ResourceKind;
use crate::status::ApiError;
use crate::store::{Event, Key, State};

pub type Body = BoxBody<Bytes, Infallible>;

/// The emulator's shared state.
pub struct Sim {
    pub state: Mutex<State>,
    pub events: broadcast::Sender<Event>,
    pub token: Option<String>,
    pub addr: SocketAddr,
    pub shutdown: watch::Receiver<bool>,
    pub faults: Mutex<crate::faults::Faults>,
    /// RBAC decides what each request may do; otherwise anything goes.
    pub rbac: bool,
    /// Tokens issued by TokenRequest, and whom they authenticate.
    pub tokens: Mutex<std::collections::HashMap<String, crate::auth::User>>,
    /// `/openapi/v2`'s built-in definitions, built on the first request.
    pub openapi_v2: crate::openapi_v2::Cache,
}

impl Sim {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking request must not take the emulator down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts connections until `shutdown` turns true; with `tls`, over TLS.
pub async fn serve(sim: Arc<Sim>, listener: TcpListener, tls: Option<crate::tls::Tls>) {
    let mut shutdown = sim.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let sim = sim.clone();
                async move {
                    // The JSON answer, in the media type the client asked for.
                    let asked = crate::respond::Asked::of(&req);
                    if let Some(refused) = asked.refused(&sim) {
                        return Ok::<_, Infallible>(refused);
                    }
                    let response = handle(&sim, req).await;
                    Ok::<_, Infallible>(asked.answer(&sim, response).await)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(tls) => {
                    let Ok(stream) = tls.acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("a valid response")
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.body())
}

/// Query parameters, decoded.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `labelSelector` and `fieldSelector`; a bad one is a 400.
    fn selectors(
        &self,
    ) -> Result<
        (
            crate::selector::LabelSelector,
            crate::selector::FieldSelector,
        ),
        ApiError,
    > {
        let bad = |e: crate::selector::SelectorError| ApiError::bad_request(e.to_string());
        Ok((
            crate::selector::LabelSelector::parse(self.get("labelSelector").unwrap_or(""))
                .map_err(bad)?,
            crate::selector::FieldSelector::parse(self.get("fieldSelector").unwrap_or(""))
                .map_err(bad)?,
        ))
    }

    fn write_options(&self, user_agent: &str) -> Result<WriteOptions, ApiError> {
        let dry_run = match self.get("dryRun") {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun value {other:?}: only \"All\" is supported"
                )));
            }
        };
        Ok(WriteOptions {
            dry_run,
            field_manager: self.get("fieldManager").map(str::to_owned),
            force: self.flag("force"),
            // `kubectl/v1.37.1 (linux/amd64) …` manages as `kubectl`.
            default_manager: user_agent.split('/').next().unwrap_or("").to_owned(),
            applying: false,
            preconditions: (None, None),
            admit: true,
            subresource: None,
        })
    }
}

/// Who the request is from: the kubeconfig's token is the cluster admin, a
/// token issued by TokenRequest its ServiceAccount. Without a required
/// token and RBAC, anyone is the admin.
fn authenticate(sim: &Sim, headers: &http::HeaderMap) -> Result<crate::auth::User, ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = given {
        if sim.token.as_deref() == Some(given) {
            return Ok(crate::auth::User::admin());
        }
        if let Some(user) = sim.user_of_token(given) {
            return Ok(user);
        }
    }
    if sim.token.is_some() || sim.rbac {
        return Err(ApiError::unauthorized());
    }
    Ok(crate::auth::User::admin())
}

/// `Impersonate-User`, `-Group` and `-Uid` (kubectl's `--as`,
/// `--as-group`): the request acts as that user when its own user may
/// `impersonate` them.
fn impersonate(
    sim: &Sim,
    headers: &http::HeaderMap,
    user: crate::auth::User,
) -> Result<crate::auth::User, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    if !headers.contains_key("impersonate-user") {
        return Ok(user);
    }
    let Some(name) = values("impersonate-user").into_iter().next() else {
        return Ok(user);
    };
    let groups = values("impersonate-group");
    let check = |resource: &str, name: &str, namespace: &str| {
        sim.authorize(&crate::rbac::Attributes {
            user: Some(user.clone()),
            verb: "impersonate".to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            ..crate::rbac::Attributes::default()
        })
    };
    let mut impersonated = match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, sa)) => {
            check("serviceaccounts", sa, ns)?;
            let mut u = crate::auth::User::service_account(ns, sa, None);
            if !groups.is_empty() {
                u.groups.clear();
            }
            u
        }
        None => {
            check("users", &name, "")?;
            crate::auth::User {
                name,
                uid: None,
                groups: Vec::new(),
            }
        }
    };
    for group in groups {
        check("groups", &group, "")?;
        impersonated.groups.push(group);
    }
    impersonated.uid = values("impersonate-uid").into_iter().next();
    if !impersonated
        .groups
        .iter()
        .any(|g| g == "system:authenticated")
    {
        impersonated.groups.push("system:authenticated".to_owned());
    }
    Ok(impersonated)
}

async fn handle(sim: &Sim, req: Request<Incoming>) -> Response<Body> {
    let user = match authenticate(sim, req.headers())
        .and_then(|user| impersonate(sim, req.headers(), user))
    {
        Ok(user) => user,
        Err(e) => return error_response(&e),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if path == "/kube-sim/faults" {
        return admin_faults(sim, &method, req).await;
    }
    let verdict = sim
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .judge(method.as_str(), &path);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    if let Some(e) = verdict.fail {
        let mut response = error_response(&e);
        if e.details
            .as_ref()
            .is_some_and(|d| d.get("retryAfterSeconds").is_some())
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
        return response;
    }
    let query = Query::parse(req.uri().query());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let mut body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_request(format!("reading the body: {e}"))),
    };
    let mut content_type = content_type;
    if !body.is_empty() && content_type.starts_with(crate::protobuf::MEDIA_TYPE) {
        // Decoded into its JSON form, and served as if it came so.
        let schema = sim.lock().schema.clone();
        let Some(schema) = schema else {
            return error_response(&ApiError::unsupported_media_type(&content_type));
        };
        match crate::protobuf::decode(&body, |g, v, k| {
            schema.definition_name(g, v, k).map(str::to_owned)
        }) {
            Ok(object) => {
                body = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
                content_type = "application/json".to_owned();
            }
            Err(e) => return error_response(&e),
        }
    }
    tracing::debug!(%method, %path, %content_type, %user_agent, bytes = body.len(), "request");
    let headers = Headers {
        content_type,
        user_agent,
        accept,
        user,
    };
    match route(sim, &method, &path, &query, &headers, &body).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

/// `/kube-sim/faults`: `GET` shows the rules in force, `PUT` or `POST`
/// replaces them with the spec in the body (see [`crate::faults`]),
/// `DELETE` clears them. Faults never apply to this endpoint.
async fn admin_faults(sim: &Sim, method: &Method, req: Request<Incoming>) -> Response<Body> {
    let body = match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_request(e.to_string())),
    };
    let mut faults = sim.faults.lock().unwrap_or_else(|p| p.into_inner());
    match *method {
        Method::GET => {}
        Method::PUT | Method::POST => match crate::faults::parse(&String::from_utf8_lossy(&body)) {
            Ok(rules) => faults.set(rules),
            Err(e) => return error_response(&ApiError::bad_request(e)),
        },
        Method::DELETE => faults.set(Vec::new()),
        _ => return error_response(&ApiError::method_not_allowed("GET, PUT, POST or DELETE")),
    }
    let rules: Vec<Value> = faults
        .rules()
        .iter()
        .map(|r| {
            json!({
                "rate": r.rate,
                "codes": r.codes,
                "latencyMillis": r.latency.as_millis() as u64,
                "verbs": r.verbs,
                "path": r.path,
                "next": r.next,
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({"rules": rules}))
}

/// The request headers routing looks at.
struct Headers {
    content_type: String,
    user_agent: String,
    accept: String,
    user: crate::auth::User,
}

/// Where a REST path points.
#[derive(Debug)]
pub struct Target {
    pub kind: ResourceKind,
    pub namespace: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

fn not_found_path() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

async fn route(
    sim: &Sim,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &Headers,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let accept = headers.accept.as_str();
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let resource_path = matches!(
        segments.as_slice(),
        ["api", _, _, ..] | ["apis", _, _, _, ..]
    );
    if sim.rbac && !resource_path {
        sim.authorize(&crate::rbac::Attributes {
            user: Some(headers.user.clone()),
            verb: method.as_str().to_ascii_lowercase(),
            path: Some(path.to_owned()),
            ..crate::rbac::Attributes::default()
        })?;
    }
    match segments.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => {
            return Ok(Response::builder()
                .header(header::CONTENT_TYPE, "text/plain")
                .body(full("ok"))
                .expect("valid"));
        }
        ["version"] => return Ok(json_response(StatusCode::OK, &version())),
        ["api" | "apis"] if wants_aggregated(accept) => {
            let state = sim.lock();
            let core = segments[0] == "api";
            let mut document = aggregated(&state.kinds, core);
            if !core {
                add_delegated_aggregated(&mut document, &crate::aggregation::delegated(&state));
            }
            let mut response = json_response(StatusCode::OK, &document);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(AGGREGATED),
            );
            return Ok(response);
        }
        ["api"] => return Ok(json_response(StatusCode::OK, &api_versions(sim.addr))),
        ["apis"] => {
            let state = sim.lock();
            return Ok(json_response(StatusCode::OK, &full_group_list(&state)));
        }
        ["apis", group] => {
            let state = sim.lock();
            return match full_group_list(&state)["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["name"] == *group))
            {
                Some(g) => {
                    let mut g = g.clone();
                    g["kind"] = json!("APIGroup");
                    g["apiVersion"] = json!("v1");
                    Ok(json_response(StatusCode::OK, &g))
                }
                None => Err(not_found_path()),
            };
        }
        ["openapi", "v2"] => return openapi_v2(sim, accept),
        ["openapi", "v3"] => {
            let state = sim.lock();
            let schema = state.schema.as_ref().ok_or_else(not_found_path)?;
            return Ok(json_response(
                StatusCode::OK,
                &schema.openapi_index(&state.kinds),
            ));
        }
        ["openapi", "v3", gv @ ..] => {
            let state = sim.lock();
            let schema = state.schema.as_ref().ok_or_else(not_found_path)?;
            let document = schema
                .openapi_document(&gv.join("/"), &state.kinds)
                .ok_or_else(not_found_path)?;
            return Ok(json_response(StatusCode::OK, &document));
        }
        ["api", version] => return resource_list(sim, "", version),
        ["apis", group, version, ..] if delegated(sim, group, version).is_some() => {
            return match delegated(sim, group, version) {
                Some(true) if segments.len() == 3 => Ok(json_response(
                    StatusCode::OK,
                    &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": []}),
                )),
                Some(true) => Err(not_found_path()),
                _ => Err(crate::aggregation::unavailable()),
            };
        }
        ["apis", group, version] => return resource_list(sim, group, version),
        _ => {}
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found_path()),
    };
    let target = resolve(sim, group, version, rest)?;
    dispatch(sim, method, query, headers, body, target).await
}

/// `GET /openapi/v2` in the form the Accept header asks for (see
/// [`crate::openapi_v2`]); built outside the store's lock.
fn openapi_v2(sim: &Sim, accept: &str) -> Result<Response<Body>, ApiError> {
    let Some(format) = crate::openapi_v2::negotiate(accept) else {
        return Ok(Response::builder()
            .status(StatusCode::NOT_ACCEPTABLE)
            .header(header::VARY, "Accept")
            .body(full(Bytes::new()))
            .expect("valid"));
    };
    let (schema, kinds) = {
        let state = sim.lock();
        let schema = state.schema.clone().ok_or_else(not_found_path)?;
        (schema, state.kinds.clone())
    };
    let body = sim.openapi_v2.document(&schema, &kinds, format);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::VARY, "Accept")
        .body(full(body))
        .expect("valid"))
}

/// Splits `[namespaces/{ns}/]{plural}[/{name}[/{sub}]]`.
fn resolve(sim: &Sim, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let state = sim.lock();
    let find = |plural: &str| state.kind(group, version, plural).cloned();
    let cluster =
        |plural: &str, name: Option<&&str>, sub: Option<&&str>| -> Result<Target, ApiError> {
            let kind = find(plural).ok_or_else(not_found_path)?;
            Ok(Target {
                kind,
                namespace: String::new(),
                name: name.map(|s| (*s).to_owned()),
                sub: sub.map(|s| (*s).to_owned()),
            })
        };
    match rest {
        // The namespace's own subresources (status, finalize) when the third
        // segment names no namespaced resource.
        ["namespaces", ns, plural, tail @ ..] if group.is_empty() || find(plural).is_some() => {
            match find(plural) {
                Some(kind) if kind.namespaced => Ok(Target {
                    kind,
                    namespace: (*ns).to_owned(),
                    name: tail.first().map(|s| (*s).to_owned()),
                    sub: tail.get(1).map(|s| (*s).to_owned()),
                }),
                Some(_) => Err(not_found_path()),
                None if tail.is_empty() => cluster("namespaces", Some(ns), Some(plural)),
                None => Err(not_found_path()),
            }
        }
        [plural] => cluster(plural, None, None),
        [plural, name] => {
            let kind = find(plural).ok_or_else(not_found_path)?;
            if kind.namespaced {
                return Err(not_found_path());
            }
            cluster(plural, Some(name), None)
        }
        [plural, name, sub] => cluster(plural, Some(name), Some(sub)),
        _ => Err(not_found_path()),
    }
}

async fn dispatch(
    sim: &Sim,
    method: &Method,
    query: &Query,
    headers: &Headers,
    body: &Bytes,
    t: Target,
) -> Result<Response<Body>, ApiError> {
    let content_type = headers.content_type.as_str();
    let user_agent = headers.user_agent.as_str();
    if sim.rbac && t.sub.is_some() {
        authorize_request(sim, method, query, headers, &t)?;
    }
    if t.sub.as_deref() == Some("scale") && has_scale(&t.kind) {
        return scale(sim, method, query, headers, body, &t);
    }
    if let Some(sub) = &t.sub
        && (sub != "status" || !t.kind.status)
    {
        if t.kind.subresource(sub).is_some() {
            if *method == Method::POST {
                let operation =
                    if matches!(sub.as_str(), "exec" | "attach" | "portforward" | "proxy") {
                        Operation::Connect
                    } else {
                        Operation::Create
                    };
                admit_answered(sim, operation, &t, body)?;
            }
            return crate::reviews::subresource(sim, method, body, &t);
        }
        return Err(not_found_path());
    }
    let kind = &t.kind;
    let ns = t.namespace.as_str();
    let verb = verb_of(method, t.name.is_some(), query.flag("watch"));
    if sim.rbac && t.sub.is_none() {
        authorize_request(sim, method, query, headers, &t)?;
    }
    if kind.virtual_only() && *method == Method::POST {
        admit_answered(sim, Operation::Create, &t, body)?;
        let answer = crate::reviews::create(sim, kind, ns, &headers.user, body)?;
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    if t.sub.is_none() && !kind.allows(verb) {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let parse_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })
    };
    let mut warnings = Vec::new();
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) && t.sub.is_none() {
        let apply = PatchType::from_content_type(content_type) == Some(PatchType::Apply);
        // A JSON patch is a list of operations, not an object to check.
        let checked = match PatchType::from_content_type(content_type) {
            Some(PatchType::Json) if *method == Method::PATCH => None,
            // Directives ($patch, $setElementOrder/…) are not fields.
            Some(PatchType::Strategic) => serde_json::from_slice::<Value>(body)
                .ok()
                .map(|v| without_directives(&v)),
            _ => serde_json::from_slice::<Value>(body).ok(),
        };
        if let Some(object) = checked {
            // Wrong types fail the decoding, whatever fieldValidation says.
            if *method != Method::PATCH || apply {
                let schema = sim.lock().schema.clone();
                if let Some(schema) = schema.as_deref() {
                    crate::types::check_request(schema, kind, apply, &object)?;
                }
            }
            warnings = field_validation(sim, kind, &object, query.get("fieldValidation"), apply)?;
        }
    }
    let ok = |v: Value| {
        let mut response = json_response(StatusCode::OK, &v);
        for w in &warnings {
            if let Ok(value) = http::HeaderValue::from_str(&format!("299 - {w:?}")) {
                response.headers_mut().append(header::WARNING, value);
            }
        }
        Ok::<_, ApiError>(response)
    };
    match (method, t.name.as_deref()) {
        (&Method::GET, None) if query.flag("watch") => watch_stream(sim, kind, ns, query),
        (&Method::GET, None) => ok(list(&sim.lock(), kind, ns, query)?),
        (&Method::GET, Some(name)) => ok(api::get(&sim.lock(), kind, ns, name)?),
        (&Method::POST, None) => {
            let opts = query.write_options(user_agent)?;
            let body = parse_body()?;
            crate::bytes_field::check_body(kind, &body)?;
            let created = api::create(&mut sim.lock(), kind, ns, body, &opts)?;
            let mut response = json_response(StatusCode::CREATED, &created);
            for w in &warnings {
                if let Ok(value) = http::HeaderValue::from_str(&format!("299 - {w:?}")) {
                    response.headers_mut().append(header::WARNING, value);
                }
            }
            Ok(response)
        }
        (&Method::PUT, Some(name)) => {
            let opts = query.write_options(user_agent)?;
            let body = parse_body()?;
            crate::bytes_field::check_body(kind, &body)?;
            ok(api::update(
                &mut sim.lock(),
                kind,
                ns,
                name,
                t.sub.as_deref(),
                body,
                true,
                &opts,
            )?)
        }
        (&Method::PATCH, Some(name)) => {
            let opts = query.write_options(user_agent)?;
            let patch_type = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let patch = parse_body()?;
            if patch_type == PatchType::Apply {
                crate::bytes_field::check_apply(kind, ns, name, &patch)?;
            } else {
                crate::bytes_field::check_patch(kind, &patch)?;
            }
            let mut state = sim.lock();
            if patch_type == PatchType::Apply {
                let (object, created) =
                    crate::ssa::apply(&mut state, kind, ns, name, t.sub.as_deref(), patch, &opts)?;
                let code = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                return Ok(json_response(code, &object));
            }
            ok(api::patch(
                &mut state,
                kind,
                ns,
                name,
                t.sub.as_deref(),
                patch_type,
                &patch,
                &opts,
            )?)
        }
        (&Method::DELETE, Some(name)) => {
            let mut opts = query.write_options(user_agent)?;
            let options: Value = if body.is_empty() {
                json!({})
            } else {
                parse_body()?
            };
            let pre = &options["preconditions"];
            opts.preconditions = (
                pre["uid"].as_str().map(str::to_owned),
                pre["resourceVersion"].as_str().map(str::to_owned),
            );
            let policy = query
                .get("propagationPolicy")
                .or_else(|| options["propagationPolicy"].as_str())
                .map(Propagation::parse)
                .transpose()?
                .unwrap_or(Propagation::Background);
            ok(api::delete(&mut sim.lock(), kind, ns, name, policy, &opts)?)
        }
        (&Method::DELETE, None) => {
            let opts = query.write_options(user_agent)?;
            let mut state = sim.lock();
            let listed = list(&state, kind, ns, query)?;
            let mut deleted = Vec::new();
            for item in listed["items"].as_array().into_iter().flatten() {
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                let item_ns = item["metadata"]["namespace"].as_str().unwrap_or(ns);
                deleted.push(api::delete(
                    &mut state,
                    kind,
                    item_ns,
                    name,
                    Propagation::Background,
                    &opts,
                )?);
            }
            let rv = state.rv();
            ok(api::list_object(kind, deleted, rv, None, None))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// The admission webhooks for a request that is answered rather than
/// stored (access reviews, TokenRequest): its body is the object.
fn admit_answered(
    sim: &Sim,
    operation: Operation,
    t: &Target,
    body: &Bytes,
) -> Result<(), ApiError> {
    let object: Option<Value> = serde_json::from_slice(body).ok();
    let name = t.name.as_deref().unwrap_or("");
    let attributes = Attributes::new(operation, &t.kind, t.sub.as_deref(), &t.namespace, name)
        .with_objects(object.as_ref(), None);
    let state = sim.lock();
    for phase in [Phase::Mutating, Phase::Validating] {
        crate::admission::admit(&state, phase, &attributes)?;
    }
    Ok(())
}

/// RBAC's verdict on a request for a resource (or subresource). A
/// server-side apply that creates needs `create` as well, as on the real
/// server.
fn authorize_request(
    sim: &Sim,
    method: &Method,
    query: &Query,
    headers: &Headers,
    t: &Target,
) -> Result<(), ApiError> {
    let attributes = crate::rbac::Attributes {
        user: Some(headers.user.clone()),
        verb: verb_of(method, t.name.is_some(), query.flag("watch")).to_owned(),
        group: t.kind.group.clone(),
        resource: t.kind.plural.clone(),
        subresource: t.sub.clone().unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
        namespace: t.namespace.clone(),
        path: None,
    };
    sim.authorize(&attributes)?;
    let creates = *method == Method::PATCH
        && t.sub.is_none()
        && PatchType::from_content_type(&headers.content_type) == Some(PatchType::Apply)
        && api::get(
            &sim.lock(),
            &t.kind,
            &t.namespace,
            t.name.as_deref().unwrap_or(""),
        )
        .is_err();
    if creates {
        sim.authorize(&crate::rbac::Attributes {
            verb: "create".to_owned(),
            ..attributes
        })?;
    }
    Ok(())
}

/// The verb of a request, as discovery and RBAC name them.
pub fn verb_of(method: &Method, named: bool, watch: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) if watch => "watch",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

/// The kinds with a `/scale` subresource.
fn has_scale(kind: &ResourceKind) -> bool {
    !kind.custom && kind.subresource("scale").is_some()
}

/// The `autoscaling/v1` `Scale` view of a workload.
fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// `/scale`: GET shows the `Scale`; PUT and PATCH change `spec.replicas`
/// of the workload through it (as `kubectl scale` and autoscalers do).
fn scale(
    sim: &Sim,
    method: &Method,
    query: &Query,
    headers: &Headers,
    body: &Bytes,
    t: &Target,
) -> Result<Response<Body>, ApiError> {
    let name = t.name.as_deref().ok_or_else(not_found_path)?;
    let mut state = sim.lock();
    let live = api::get(&state, &t.kind, &t.namespace, name)?;
    let current = scale_of(&live);
    if *method == Method::GET {
        return Ok(json_response(StatusCode::OK, &current));
    }
    let input: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    let mut wanted = current.clone();
    match *method {
        Method::PUT => wanted = input,
        Method::PATCH => match PatchType::from_content_type(&headers.content_type) {
            Some(PatchType::Json) => {
                crate::patch::json_patch(&mut wanted, &input).map_err(|e| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string())
                })?
            }
            Some(PatchType::Merge | PatchType::Strategic) => {
                crate::patch::merge_patch(&mut wanted, &input)
            }
            _ => return Err(ApiError::unsupported_media_type(&headers.content_type)),
        },
        _ => return Err(ApiError::method_not_allowed(format!("{method} on /scale"))),
    }
    let replicas = wanted["spec"]["replicas"]
        .as_i64()
        .ok_or_else(|| ApiError::bad_request("spec.replicas of the Scale must be an integer"))?;
    let opts = WriteOptions {
        subresource: Some("scale".to_owned()),
        ..query.write_options(&headers.user_agent)?
    };
    let updated = api::patch(
        &mut state,
        &t.kind,
        &t.namespace,
        name,
        None,
        PatchType::Merge,
        &json!({"spec": {"replicas": replicas}}),
        &opts,
    )?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}

/// A strategic merge patch without its `$` directives.
fn without_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_directives).collect()),
        other => other.clone(),
    }
}

/// `fieldValidation`: `Strict` rejects fields the schema does not declare
/// (400, naming them), `Warn` (the default) answers with a `Warning` header
/// per field, `Ignore` says nothing.
fn field_validation(
    sim: &Sim,
    kind: &ResourceKind,
    object: &Value,
    mode: Option<&str>,
    apply: bool,
) -> Result<Vec<String>, ApiError> {
    let mode = mode.unwrap_or("Warn");
    if !matches!(mode, "Strict" | "Warn" | "Ignore") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: {mode:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
        )));
    }
    if mode == "Ignore" {
        return Ok(Vec::new());
    }
    let unknown = {
        let state = sim.lock();
        let Some(schema) = state.schema.as_ref() else {
            return Ok(Vec::new());
        };
        schema.unknown_fields(&kind.group, &kind.version, &kind.kind, object)
    };
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if mode == "Warn" {
        return Ok(unknown
            .iter()
            .map(|f| format!("unknown field {:?}", f.trim_start_matches('.')))
            .collect());
    }
    let message = if apply {
        let gvk = if kind.group.is_empty() {
            format!("/{}, Kind={}", kind.version, kind.kind)
        } else {
            format!("{}/{}, Kind={}", kind.group, kind.version, kind.kind)
        };
        format!(
            "failed to create typed patch object ({gvk}): {}",
            unknown
                .iter()
                .map(|f| format!("{f}: field not declared in schema"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "strict decoding error: {}",
            unknown
                .iter()
                .map(|f| format!("unknown field {:?}", f.trim_start_matches('.')))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(ApiError::bad_request(message))
}

/// LIST with selectors and `limit`/`continue` paging, as the real server
/// pages: each page but the last carries `metadata.continue` (and, without
/// selectors, `remainingItemCount`); pages after the first keep the first
/// page's resourceVersion. A token older than the kept history is 410
/// `Expired`, one that does not decode 400.
fn list(state: &State, kind: &ResourceKind, ns: &str, query: &Query) -> Result<Value, ApiError> {
    let (labels, fields) = query.selectors()?;
    let namespace = (kind.namespaced && !ns.is_empty()).then_some(ns);
    let after: Option<Continue> = match query.get("continue") {
        Some(token) if !token.is_empty() => {
            let decoded = Continue::decode(token)?;
            if decoded.rv < state.oldest_rv() {
                return Err(continue_expired(&decoded, state.rv()));
            }
            Some(decoded)
        }
        _ => None,
    };
    let limit: Option<usize> = match query.get("limit") {
        Some(l) if !l.is_empty() && l != "0" => Some(
            l.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        _ => None,
    };
    let selected = |k: &Key, o: &Value| {
        labels.matches(o["metadata"]["labels"].as_object()) && fields.matches(&k.name, &k.namespace)
    };
    let mut matching = state
        .list(&kind.group, &kind.plural, namespace)
        .filter(|(k, _)| {
            after
                .as_ref()
                .is_none_or(|a| (k.namespace.as_str(), k.name.as_str()) > (&a.namespace, &a.name))
        })
        .filter(|(k, o)| selected(k, o));
    let rv = after.as_ref().map_or_else(|| state.rv(), |a| a.rv);
    let take = limit.unwrap_or(usize::MAX);
    let items: Vec<(&Key, &Value)> = matching.by_ref().take(take).collect();
    let rest = matching.count();
    let (cont, remaining) = match items.last() {
        Some((last, _)) if rest > 0 => {
            let token = Continue {
                rv,
                namespace: last.namespace.clone(),
                name: last.name.clone(),
            };
            let unfiltered = query.get("labelSelector").unwrap_or("").is_empty()
                && query.get("fieldSelector").unwrap_or("").is_empty();
            (Some(token.encode()), unfiltered.then_some(rest))
        }
        _ => (None, None),
    };
    let items = items.into_iter().map(|(_, o)| o.clone()).collect();
    Ok(api::list_object(kind, items, rv, cont, remaining))
}

/// Where a paged list goes on, as the real server's token says it:
/// base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Continue {
    rv: u64,
    namespace: String,
    name: String,
}

impl Continue {
    fn encode(&self) -> String {
        use base64::Engine as _;
        let start = if self.namespace.is_empty() {
            format!("{}\u{0}", self.name)
        } else {
            format!("{}/{}\u{0}", self.namespace, self.name)
        };
        let token = json!({"v": "meta.k8s.io/v1", "rv": self.rv, "start": start});
        base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
    }

    fn decode(token: &str) -> Result<Continue, ApiError> {
        use base64::Engine as _;
        let invalid = |why: &str| {
            ApiError::bad_request(format!(
                "invalid continue token: continue key is not valid{why}"
            ))
        };
        let bytes = base64::engine::general_purpose::URL_SAFE
            .decode(token)
            .map_err(|_| invalid(""))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid(""))?;
        if value["v"] != "meta.k8s.io/v1" {
            return Err(invalid(
                ": server does not recognize this encoded key (meta.k8s.io/v1)",
            ));
        }
        let rv = value["rv"].as_u64().filter(|rv| *rv > 0).ok_or_else(|| {
            invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        })?;
        let start = value["start"]
            .as_str()
            .map(|s| s.trim_end_matches('\u{0}'))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(": encoded start key empty"))?;
        let (namespace, name) = start.split_once('/').unwrap_or(("", start));
        Ok(Continue {
            rv,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The real server's 410 for a continue token whose snapshot is compacted.
/// Its `metadata.continue` goes on from the same place at `now`,
/// inconsistently.
fn continue_expired(token: &Continue, now: u64) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::GONE,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    );
    error.list_continue = Some(
        Continue {
            rv: now,
            ..token.clone()
        }
        .encode(),
    );
    error
}

/// A body fed from a channel: one watch event per chunk.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// WATCH: replays what happened after `resourceVersion` (or the current
/// objects, for none or `0`), then streams changes until `timeoutSeconds`,
/// the client goes, or the server stops.
fn watch_stream(
    sim: &Sim,
    kind: &ResourceKind,
    ns: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = query.selectors()?;
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let namespace = (kind.namespaced && !ns.is_empty()).then(|| ns.to_owned());
    let (group, plural) = (kind.group.clone(), kind.plural.clone());
    let wanted = move |key: &Key, object: &Value| {
        key.group == group
            && key.plural == plural
            && namespace.as_ref().is_none_or(|n| &key.namespace == n)
            && labels.matches(object["metadata"]["labels"].as_object())
            && fields.matches(&key.name, &key.namespace)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial = Vec::new();
    let live;
    {
        let state = sim.lock();
        live = sim.events.subscribe();
        let initial_events = query.flag("sendInitialEvents");
        match query.get("resourceVersion") {
            _ if initial_events => {
                for (key, object) in state.list(&kind.group, &kind.plural, None) {
                    if wanted(key, object) {
                        initial.push(event_line("ADDED", object));
                    }
                }
                // The end of the initial events, as watch-list clients
                // (kubectl delete's wait) expect.
                initial.push(event_line(
                    "BOOKMARK",
                    &json!({
                        "kind": kind.kind,
                        "apiVersion": kind.api_version(),
                        "metadata": {
                            "resourceVersion": state.rv().to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }),
                ));
            }
            None | Some("" | "0") => {
                for (key, object) in state.list(&kind.group, &kind.plural, None) {
                    if wanted(key, object) {
                        initial.push(event_line("ADDED", object));
                    }
                }
            }
            Some(rv) => {
                let rv: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?;
                match state.since(rv) {
                    Some(events) => {
                        for e in events.iter().filter(|e| wanted(&e.key, &e.object)) {
                            initial.push(event_line(e.kind.as_str(), &e.object));
                        }
                    }
                    None => {
                        let gone = ApiError::gone(format!(
                            "too old resource version: {rv} ({})",
                            state.oldest_rv()
                        ));
                        initial.push(event_line("ERROR", &gone.body()));
                    }
                }
            }
        }
    }
    let mut shutdown = sim.shutdown.clone();
    tokio::spawn(async move {
        let mut live = live;
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            let event = tokio::select! {
                e = next => e,
                _ = shutdown.wait_for(|s| *s) => None,
                () = tx.closed() => None,
            };
            match event {
                None => return,
                Some(Ok(e)) => {
                    if wanted(&e.key, &e.object)
                        && tx
                            .send(event_line(e.kind.as_str(), &e.object))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                // Too slow a reader: end the watch, as the real server
                // does; the client re-lists.
                Some(Err(_)) => return,
            }
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(BodyExt::boxed(ChannelBody(rx)))
        .expect("valid"))
}

/// The controllers' tick: namespaces that are Terminating and empty go,
/// workloads roll out.
pub fn tick(sim: &Sim, controllers: &mut crate::controllers::Controllers) {
    controllers.run(&mut sim.lock());
}

/// The media type of aggregated discovery (one document with every group,
/// version and resource), which kubectl asks for first.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| {
        let a: String = a.chars().filter(|c| !c.is_whitespace()).collect();
        a == AGGREGATED
    })
}

/// `/api` or `/apis` as an `APIGroupDiscoveryList`.
fn aggregated(kinds: &[ResourceKind], core: bool) -> Value {
    // group -> version -> resources, in the order the kinds come.
    type Versions = Vec<(String, Vec<Value>)>;
    let mut groups: Vec<(String, Versions)> = Vec::new();
    for k in kinds.iter().filter(|k| k.group.is_empty() == core) {
        let response_kind = json!({"group": k.group, "version": k.version, "kind": k.kind});
        let mut resource = json!({
            "resource": k.plural,
            "responseKind": response_kind,
            "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": k.singular,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            resource["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            resource["categories"] = json!(k.categories);
        }
        let subresources: Vec<Value> = k
            .subresources
            .iter()
            .map(|sub| {
                let (group, version) = if sub.version.is_empty() {
                    (k.group.as_str(), k.version.as_str())
                } else {
                    (sub.group.as_str(), sub.version.as_str())
                };
                json!({
                    "subresource": sub.name,
                    "responseKind": {"group": group, "version": version, "kind": sub.kind},
                    "verbs": sub.verbs,
                })
            })
            .collect();
        if !subresources.is_empty() {
            resource["subresources"] = json!(subresources);
        }
        let group = match groups.iter_mut().find(|(g, _)| *g == k.group) {
            Some(g) => g,
            None => {
                groups.push((k.group.clone(), Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        match group.1.iter_mut().find(|(v, _)| *v == k.version) {
            Some((_, resources)) => resources.push(resource),
            None => group.1.push((k.version.clone(), vec![resource])),
        }
    }
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let metadata = if name.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": name, "creationTimestamp": null})
            };
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|(version, resources)| {
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "gitVersion": "v1.37.0",
        "gitCommit": "kube-sim",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn api_versions(addr: SocketAddr) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}],
    })
}

/// Whether `group/version` is delegated by an APIService, and whether its
/// Service answers. Served kinds are looked at first: they are never
/// delegated, and the APIServices need a walk of the store.
fn delegated(sim: &Sim, group: &str, version: &str) -> Option<bool> {
    let state = sim.lock();
    if state
        .kinds
        .iter()
        .any(|k| k.group == group && k.version == version)
    {
        return None;
    }
    crate::aggregation::delegated(&state)
        .into_iter()
        .find(|d| d.group == group && d.version == version)
        .map(|d| d.available)
}

/// `/apis` with the groups that APIServices delegate.
fn full_group_list(state: &State) -> Value {
    let mut list = group_list(&state.kinds);
    for d in crate::aggregation::delegated(state) {
        let version =
            json!({"groupVersion": format!("{}/{}", d.group, d.version), "version": d.version});
        let groups = list["groups"].as_array_mut().expect("a list");
        match groups.iter_mut().find(|g| g["name"] == d.group.as_str()) {
            Some(g) => g["versions"].as_array_mut().expect("a list").push(version),
            None => groups.push(json!({"name": d.group, "versions": [version.clone()], "preferredVersion": version})),
        }
    }
    list
}

/// Delegated groups in aggregated discovery: a group-version whose Service
/// does not answer is `Stale` (clients report it as failed), one that
/// answers is `Current`.
fn add_delegated_aggregated(document: &mut Value, delegated: &[crate::aggregation::Delegated]) {
    let items = document["items"].as_array_mut().expect("a list");
    for d in delegated {
        let freshness = if d.available { "Current" } else { "Stale" };
        let version = json!({"version": d.version, "resources": [], "freshness": freshness});
        match items.iter_mut().find(|g| g["metadata"]["name"] == d.group.as_str()) {
            Some(g) => g["versions"].as_array_mut().expect("a list").push(version),
            None => items.push(json!({"metadata": {"name": d.group, "creationTimestamp": null}, "versions": [version]})),
        }
    }
}

/// `/apis`: every non-core group with its versions.
fn group_list(kinds: &[ResourceKind]) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for k in kinds.iter().filter(|k| !k.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, versions)) => {
                if !versions.contains(&k.version) {
                    versions.push(k.version.clone());
                }
            }
            None => groups.push((k.group.clone(), vec![k.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                .collect();
            json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1`, `/apis/<group>/<version>`: the resources of one version.
fn resource_list(sim: &Sim, group: &str, version: &str) -> Result<Response<Body>, ApiError> {
    let state = sim.lock();
    let kinds: Vec<&ResourceKind> = state
        .kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return Err(not_found_path());
    }
    let mut resources = Vec::new();
    for k in kinds {
        let mut r = json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": k.verbs,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        if let Some(hash) = &k.storage_version_hash {
            r["storageVersionHash"] = json!(hash);
        }
        resources.push(r);
        for sub in &k.subresources {
            let mut r = json!({
                "name": format!("{}/{}", k.plural, sub.name),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if !sub.version.is_empty() && (&sub.group, &sub.version) != (&k.group, &k.version) {
                r["group"] = json!(sub.group);
                r["version"] = json!(sub.version);
            }
            resources.push(r);
        }
    }
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

/// What every cluster starts with: its namespaces, each with its
/// ServiceAccount `default`, and the bootstrap RBAC objects.
pub fn bootstrap(state: &mut State) {
    let namespace = state
        .kinds
        .iter()
        .find(|k| k.kind == "Namespace")
        .cloned()
        .expect("Namespace is built in");
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = api::create(
            state,
            &namespace,
            "",
            json!({"metadata": {"name": name}}),
            &WriteOptions::default(),
        );
    }
    crate::controllers::default_service_accounts(state);
    for (plural, object) in crate::rbac::bootstrap_objects() {
        let Some(kind) = state
            .kind("rbac.authorization.k8s.io", "v1", plural)
            .cloned()
        else {
            continue;
        };
        let _ = api::create(state, &kind, "", object, &WriteOptions::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_is_served_when_asked_for() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json"));
        let kinds = crate::kinds::builtin();
        let core = aggregated(&kinds, true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let v1 = &core["items"][0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        let namespaces = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "namespaces")
            .unwrap();
        assert_eq!(namespaces["scope"], "Cluster");
        assert!(
            namespaces["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "status")
        );
        let groups = aggregated(&kinds, false);
        let apps = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deployments = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deployments["responseKind"]["kind"], "Deployment");
        assert_eq!(deployments["categories"][0], "all");
    }
}
