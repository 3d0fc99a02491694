//! Request bodies: JSON, urlencoded and multipart all become one map of fields, and handlers
//! read typed fields from it through `FieldCheck`, which names every bad field at once.
//! A body that cannot be parsed at all, or that broke off before its declared end, is an
//! empty map, so the answer is MissingFields (400); only a body over the limit is 413.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::AppState;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
}

#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    kind: Kind,
}

impl FromRequest<AppState> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.http.body_limit;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::BodyTooLarge);
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (parts, body) = req.into_parts();
        // While the body arrives, the request timeout answers 408 rather than 500: the client
        // is slow, nothing here is broken.
        let reading = parts.extensions.get::<BodyProgress>().cloned();
        let read = match &reading {
            Some(progress) => progress.during(axum::body::to_bytes(body, limit)).await,
            None => axum::body::to_bytes(body, limit).await,
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(err) if over_limit(&err) => return Err(ApiError::BodyTooLarge),
            // Cut off or malformed on the wire: there is nothing whole to parse.
            Err(_) => axum::body::Bytes::new(),
        };
        if content_type.starts_with("application/x-www-form-urlencoded") {
            return Ok(Self::form(
                form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
            ));
        }
        if content_type.starts_with("multipart/form-data") {
            let req = Request::from_parts(parts, Body::from(bytes));
            return Ok(Self::form(multipart_pairs(req, state).await));
        }
        // JSON is the default: clients that send JSON without a content type still work.
        let map = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Ok(Self {
            map,
            kind: Kind::Json,
        })
    }
}

/// Whether reading failed because the body passed the limit, rather than breaking off.
fn over_limit(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Whether the request's body is being read now; set by `Fields`, read by the request timeout.
#[derive(Debug, Clone, Default)]
pub struct BodyProgress(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl BodyProgress {
    async fn during<T>(&self, read: impl std::future::Future<Output = T>) -> T {
        use std::sync::atomic::Ordering;
        self.0.store(true, Ordering::Release);
        let out = read.await;
        self.0.store(false, Ordering::Release);
        out
    }

    pub fn reading(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

async fn multipart_pairs(req: Request, state: &AppState) -> Vec<(String, String)> {
    let Ok(mut multipart) = Multipart::from_request(req, state).await else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        match field.text().await {
            Ok(text) => pairs.push((name, text)),
            Err(_) => break,
        }
    }
    pairs
}

impl Fields {
    /// Builds a map from flat pairs: a repeated key, or one written `key[]`, is an array.
    fn form(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map = Map::new();
        for (key, value) in pairs {
            let (key, is_array) = match key.strip_suffix("[]") {
                Some(base) => (base.to_owned(), true),
                None => (key, false),
            };
            match map.get_mut(&key) {
                Some(Value::Array(items)) => items.push(Value::String(value)),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(value)]);
                }
                None if is_array => {
                    map.insert(key, Value::Array(vec![Value::String(value)]));
                }
                None => {
                    map.insert(key, Value::String(value));
                }
            }
        }
        Self {
            map,
            kind: Kind::Form,
        }
    }

    /// Starts reading typed fields; `finish` reports every field that was missing or bad.
    pub fn check(&self) -> FieldCheck<'_> {
        FieldCheck {
            fields: self,
            bad: Vec::new(),
        }
    }
}

pub struct FieldCheck<'a> {
    fields: &'a Fields,
    bad: Vec<&'static str>,
}

impl<'a> FieldCheck<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.map.get(name).filter(|v| !v.is_null())
    }

    /// A string field that must be present.
    pub fn text(&mut self, name: &'static str) -> String {
        match self.optional_text(name) {
            Some(text) => text,
            None => {
                if !self.bad.contains(&name) {
                    self.bad.push(name);
                }
                String::new()
            }
        }
    }

    /// A string field that must be present and not blank.
    pub fn non_empty_text(&mut self, name: &'static str) -> String {
        let text = self.text(name);
        if text.trim().is_empty() && !self.bad.contains(&name) {
            self.bad.push(name);
        }
        text
    }

    /// A string field that may be absent; present with another type counts as bad.
    pub fn optional_text(&mut self, name: &'static str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.bad.push(name);
                None
            }
        }
    }

    /// A boolean: in JSON only `true` or `false`; in a form, where every value is text,
    /// `true`, `false`, or a checked checkbox's `on`. Anything else is a bad field, so
    /// `"staff": "yes"` can never make anyone staff by accident.
    pub fn optional_flag(&mut self, name: &'static str) -> Option<bool> {
        let flag = match (self.get(name)?, self.fields.kind) {
            (Value::Bool(b), Kind::Json) => Some(*b),
            (Value::String(s), Kind::Form) => match s.as_str() {
                "true" | "on" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if flag.is_none() {
            self.bad.push(name);
        }
        flag
    }

    /// An array of IDs given as strings or integers, at most `max` long. Strings that are not
    /// IDs are kept as `None`: they match nothing but still count towards `max`.
    pub fn id_list(&mut self, name: &'static str, max: usize) -> Vec<Option<i64>> {
        let items: Vec<&Value> = match self.get(name) {
            Some(Value::Array(items)) => items.iter().collect(),
            // A form cannot tell a one-item array from a single value.
            Some(single @ Value::String(_)) if self.fields.kind == Kind::Form => vec![single],
            _ => {
                self.bad.push(name);
                return Vec::new();
            }
        };
        if items.len() > max {
            self.bad.push(name);
            return Vec::new();
        }
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) => ids.push(crate::domain::SessionId::parse(s).map(|id| id.0)),
                Value::Number(n) => ids.push(n.as_i64().filter(|v| *v >= 0)),
                _ => {
                    self.bad.push(name);
                    return Vec::new();
                }
            }
        }
        ids
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.bad.is_empty() {
            Ok(())
        } else {
            Err(ApiError::MissingFields(self.bad))
        }
    }
}
