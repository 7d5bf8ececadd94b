//! Content negotiation of resource responses, after the JSON answer is
//! made: the media type the client's `Accept` puts first among those the
//! server offers decides the body.
//!
//! - `application/vnd.kubernetes.protobuf`: built-in types in protobuf
//!   ([`crate::protobuf_encode`]), `Status` errors included. Custom
//!   resources have no protobuf form: JSON when the client also accepts
//!   JSON (or `*/*`), else 406 before anything is done. An object the
//!   encoder cannot hold falls back to JSON the same way.
//! - `application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get`
//!   asks): a `Table` for GETs of objects and lists ([`crate::table`]).
//! - anything else: JSON, as before.
//!
//! Watch streams stay JSON (client-go decodes by the response's
//! Content-Type), but a watch that asks for Tables (`kubectl get -w`) gets
//! each event's object as a one-row Table, as from the real server.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::server::{Body, Sim, json_response};
use crate::status::ApiError;

/// A media type the server can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Protobuf,
    /// `Table` of `meta.k8s.io`, this version.
    Table(&'static str),
}

/// One entry of an Accept header, if the server offers it.
fn media(entry: &str) -> Option<Media> {
    let mut parts = entry.split(';').map(str::trim);
    let base = parts.next().unwrap_or("").to_ascii_lowercase();
    let params: Vec<(String, &str)> = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    if param("q").and_then(|q| q.parse::<f32>().ok()) == Some(0.0) {
        return None;
    }
    match (base.as_str(), param("as")) {
        ("application/json", Some("Table")) if param("g") == Some("meta.k8s.io") => {
            match param("v") {
                Some("v1") => Some(Media::Table("v1")),
                Some("v1beta1") => Some(Media::Table("v1beta1")),
                _ => None,
            }
        }
        ("application/json" | "*/*" | "application/*", None) => Some(Media::Json),
        ("application/vnd.kubernetes.protobuf", None) => Some(Media::Protobuf),
        _ => None,
    }
}

/// What an Accept header gets: its first offered media type (JSON when
/// none is), and whether plain JSON would do too.
pub fn choose(accept: &str) -> (Media, bool) {
    let offered: Vec<Media> = accept.split(',').filter_map(media).collect();
    let first = offered.first().copied().unwrap_or(Media::Json);
    let json_too = accept.trim().is_empty() || offered.contains(&Media::Json);
    (first, json_too)
}

/// What a request asked for, taken before it is handled.
#[derive(Debug)]
pub struct Asked {
    get: bool,
    /// The group and version of a resource path.
    resource: Option<(String, String)>,
    /// Its last segment: the plural of a collection.
    last: String,
    watch: bool,
    media: Media,
    json_too: bool,
    include_object: String,
}

impl Asked {
    pub fn of<B>(req: &Request<B>) -> Asked {
        let segments: Vec<&str> = req
            .uri()
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let resource = match segments.as_slice() {
            ["api", version, _, ..] => Some((String::new(), (*version).to_owned())),
            ["apis", group, version, _, ..] => Some(((*group).to_owned(), (*version).to_owned())),
            _ => None,
        };
        let query: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (media, json_too) = choose(accept);
        Asked {
            get: req.method() == http::Method::GET,
            watch: matches!(get("watch"), Some("true" | "1"))
                || matches!(
                    segments.as_slice(),
                    ["api", _, "watch", ..] | ["apis", _, _, "watch", ..]
                ),
            resource,
            last: segments.last().copied().unwrap_or("").to_owned(),
            media,
            json_too,
            include_object: get("includeObject").unwrap_or("Metadata").to_owned(),
        }
    }

    fn custom(&self, sim: &Sim) -> bool {
        let Some((group, version)) = &self.resource else {
            return false;
        };
        let state = sim.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .kinds
            .iter()
            .any(|k| k.custom && &k.group == group && &k.version == version)
    }

    /// A request for custom resources that accepts only protobuf: 406,
    /// before anything is done, as the real server negotiates first.
    pub fn refused(&self, sim: &Sim) -> Option<Response<Body>> {
        (self.media == Media::Protobuf && !self.json_too && self.custom(sim)).then(not_acceptable)
    }

    /// The handler's JSON response, in the media type asked for.
    pub async fn answer(self, sim: &Sim, response: Response<Body>) -> Response<Body> {
        if self.resource.is_none() || self.media == Media::Json {
            return response;
        }
        if self.watch {
            return self.watch_tables(sim, response);
        }
        let table = matches!(self.media, Media::Table(_)) && self.get;
        if !(table || self.media == Media::Protobuf)
            || response.headers().get(header::CONTENT_TYPE)
                != Some(&HeaderValue::from_static("application/json"))
        {
            return response;
        }
        let (parts, body) = response.into_parts();
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let original = |parts| Response::from_parts(parts, Full::new(bytes.clone()).boxed());
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            return original(parts);
        };
        if let Media::Table(version) = self.media {
            if parts.status != StatusCode::OK {
                return original(parts);
            }
            let state = sim.state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(table) = crate::table::of(&state, &value, version, &self.include_object)
            else {
                return original(parts);
            };
            drop(state);
            let mut response = json_response(parts.status, &table);
            *response.headers_mut() = parts.headers;
            return response;
        }
        match self.protobuf(sim, &value) {
            Some(encoded) => {
                let mut parts = parts;
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(crate::protobuf::MEDIA_TYPE),
                );
                Response::from_parts(parts, Full::new(encoded.into()).boxed())
            }
            None if self.json_too => original(parts),
            None => not_acceptable(),
        }
    }

    /// A watch of a collection that asked for Tables: its events' objects
    /// as Tables (ERROR and BOOKMARK events as they are).
    fn watch_tables(&self, sim: &Sim, response: Response<Body>) -> Response<Body> {
        let (Media::Table(version), Some((group, api_version))) = (self.media, &self.resource)
        else {
            return response;
        };
        if response.status() != StatusCode::OK {
            return response;
        }
        let tabler = {
            let state = sim.state.lock().unwrap_or_else(|p| p.into_inner());
            crate::table::Tabler::new(
                &state,
                group,
                api_version,
                &self.last,
                version,
                &self.include_object,
            )
        };
        let Some(tabler) = tabler else {
            return response;
        };
        response.map(|inner| {
            TableEvents {
                inner,
                tabler,
                pending: Vec::new(),
            }
            .boxed()
        })
    }

    /// The protobuf body of a built-in type's object, list or Status.
    fn protobuf(&self, sim: &Sim, value: &Value) -> Option<Vec<u8>> {
        if self.custom(sim) {
            return None;
        }
        let api_version = value["apiVersion"].as_str()?;
        let kind = value["kind"].as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let schema = sim
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .schema
            .clone()?;
        let name = schema.definition_name(group, version, kind)?;
        if !crate::protobuf_encode::has_message(name) {
            return None;
        }
        match crate::protobuf_encode::encode(value, api_version, kind, name) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::debug!(%kind, error = %e, "answering JSON: no protobuf form");
                None
            }
        }
    }
}

/// A JSON watch stream (one event a line) with its objects made Tables.
struct TableEvents {
    inner: Body,
    tabler: crate::table::Tabler,
    /// What has come of a line not yet ended.
    pending: Vec<u8>,
}

impl TableEvents {
    /// The ended lines of `pending`, each event's object a Table.
    fn lines(&mut self) -> Vec<u8> {
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.pending.split_off(end + 1);
        let ended = std::mem::replace(&mut self.pending, rest);
        let mut out = Vec::with_capacity(ended.len());
        for line in ended.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Value>(line) {
                Ok(mut event)
                    if matches!(
                        event["type"].as_str(),
                        Some("ADDED" | "MODIFIED" | "DELETED")
                    ) =>
                {
                    event["object"] = self.tabler.one(&event["object"]);
                    out.extend(serde_json::to_vec(&event).unwrap_or_default());
                }
                _ => out.extend_from_slice(line),
            }
            out.push(b'\n');
        }
        out
    }
}

impl http_body::Body for TableEvents {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        loop {
            let frame = match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(frame)) => frame,
                Some(Err(never)) => match never {},
            };
            match frame.into_data() {
                Ok(data) => {
                    self.pending.extend_from_slice(&data);
                    let out = self.lines();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(http_body::Frame::data(out.into()))));
                    }
                }
                Err(other) => return Poll::Ready(Some(Ok(other))),
            }
        }
    }
}

fn not_acceptable() -> Response<Body> {
    let e = ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml",
    );
    let mut body = e.body();
    body["details"] = json!({});
    json_response(e.code, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_offered_media_type_wins() {
        let kubectl_typed = "application/vnd.kubernetes.protobuf,application/json";
        assert_eq!(choose(kubectl_typed), (Media::Protobuf, true));
        let client_go = "application/vnd.kubernetes.protobuf, */*";
        assert_eq!(choose(client_go), (Media::Protobuf, true));
        assert_eq!(
            choose("application/vnd.kubernetes.protobuf"),
            (Media::Protobuf, false)
        );
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(choose(get), (Media::Table("v1"), true));
        assert_eq!(choose("application/json"), (Media::Json, true));
        assert_eq!(choose(""), (Media::Json, true));
        // Protobuf Tables and partial metadata are not offered: JSON.
        let partial = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(choose(partial), (Media::Json, true));
        assert_eq!(
            choose("application/vnd.kubernetes.protobuf;q=0,application/json"),
            (Media::Json, true)
        );
    }
}
