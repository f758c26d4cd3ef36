//! The OpenAPI 3.1 document of the relay, built from the route table ([`super::ROUTES`]).
//!
//! Every [`Endpoint`] names the function that describes it ([`ops`]), so a route cannot be
//! served without being documented, and the document lists exactly the routes actix serves.
//! What every route of a kind can answer is added here, from the same code that answers it:
//! the authentication and rate-limit errors from the [`Access`] (the handler's extractor), the
//! protocol-version gate from [`super::version_gated`], `405` where an earlier resource shadows
//! a path, and each error's JSON shape from [`ApiError`]'s own conversion. Handlers parse JSON
//! by hand (`api/json.rs`), so request and response schemas are written next to each other in
//! [`ops`]; the fuzz run (`scripts/api-fuzz.sh`) checks them against the live relay.
//!
//! `coffer-relay openapi` prints the document; `docs/openapi.json` is its checked-in copy, kept
//! equal by a test (`relay/tests/it/openapi.rs`).

pub mod components;
pub mod ops;
pub mod schema;
pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::ResponseError as _;
use actix_web::body::MessageBody as _;
use serde_json::{Map, Value, json};

use super::{Endpoint, ROUTES, version_gated};
use crate::error::ApiError;
use crate::limits::Class;
use crate::service::Stale;

/// Which part of the API an operation belongs to (the document's tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Protocol v1, byte-compatible with the PluralLog apps.
    V1,
    /// Protocol v2.
    V2,
    /// The operator's admin API.
    Admin,
    /// Operations: metrics.
    Ops,
}

impl Tag {
    const ALL: [Tag; 4] = [Tag::V1, Tag::V2, Tag::Admin, Tag::Ops];

    /// The tag's name in the document.
    pub const fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
            Self::Admin => "admin",
            Self::Ops => "ops",
        }
    }

    const fn description(self) -> &'static str {
        match self {
            Self::V1 => {
                "Wire protocol v1 (docs/protocol-v1.md), byte-compatible with the PluralLog apps."
            }
            Self::V2 => "Wire protocol v2 (docs/protocol-v2.md).",
            Self::Admin => {
                "The operator's admin API (X-Admin-Token): metadata only, never keys or content."
            }
            Self::Ops => "Operations: Prometheus metrics.",
        }
    }
}

/// Who may call an operation: the capability extractor in the handler's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No authentication (`ClientIp<_>` or nothing).
    Public,
    /// Any logged-in user (`Caller<_>`).
    User,
    /// A logged-in system (`System<_>`).
    System,
    /// A logged-in friend (`Friend<_>`).
    Friend,
    /// A logged-in user registered through v2 (`V2Caller<_>`).
    V2User,
    /// A logged-in v2 system (`V2System<_>`).
    V2System,
    /// A logged-in v2 friend (`V2Friend<_>`).
    V2Friend,
    /// The operator (`Admin`: `X-Admin-Token`).
    Admin,
    /// `/metrics` readers (`MetricsReader`: the admin token, the admin listener, or anyone
    /// with `metrics.public`).
    MetricsReader,
}

impl Caller {
    /// The value of the operation's `x-coffer-caller` extension.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::User => "user",
            Self::System => "system",
            Self::Friend => "friend",
            Self::V2User => "v2-user",
            Self::V2System => "v2-system",
            Self::V2Friend => "v2-friend",
            Self::Admin => "admin",
            Self::MetricsReader => "metrics-reader",
        }
    }

    const fn has_session(self) -> bool {
        matches!(
            self,
            Self::User
                | Self::System
                | Self::Friend
                | Self::V2User
                | Self::V2System
                | Self::V2Friend
        )
    }

    /// Why a logged-in caller of the wrong kind gets 403 (the typed extractors' refusal).
    const fn wrong_kind(self) -> Option<&'static str> {
        match self {
            Self::System => Some("the session is not a system's"),
            Self::Friend => Some("the session is not a friend's"),
            Self::V2User => Some("the account was registered with protocol v1"),
            Self::V2System => Some("the session is not a v2 system's"),
            Self::V2Friend => Some("the session is not a v2 friend's"),
            Self::Admin | Self::MetricsReader => {
                Some("the request did not arrive on the admin listener while one is configured")
            }
            Self::Public | Self::User => None,
        }
    }
}

/// An operation's caller and rate-limit bucket (`None`: not rate-limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Who may call.
    pub caller: Caller,
    /// Which bucket a request draws from.
    pub bucket: Option<Class>,
}

/// The most a request body may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// A fixed number of bytes.
    Bytes(usize),
    /// The upload limit, from the configured volume size.
    Upload,
}

impl BodyLimit {
    fn text(self) -> String {
        match self {
            Self::Bytes(n) => format!("{n} bytes"),
            Self::Upload => {
                "the upload limit (the maximum volume size in base64, plus 16 KiB)".to_owned()
            }
        }
    }
}

/// A success response.
#[derive(Debug, Clone)]
enum Success {
    /// JSON with a schema.
    Json(&'static str, Value),
    /// No body (204, 304).
    Empty(&'static str),
    /// Another media type, with a schema.
    Other(&'static str, &'static str, Value),
}

/// The description of one operation, built by the functions in [`ops`].
#[derive(Debug, Clone)]
pub struct Operation {
    id: &'static str,
    tag: Tag,
    summary: &'static str,
    description: String,
    access: Access,
    params: Vec<Value>,
    body: Option<(Value, BodyLimit)>,
    ignored_body: Option<usize>,
    writes: bool,
    database: bool,
    successes: BTreeMap<u16, Success>,
    errors: BTreeMap<u16, Vec<String>>,
    conflict_schemas: Vec<&'static str>,
    /// Error schemas a 403 of this operation answers with instead of the plain one (codes of
    /// their own, e.g. `registration_closed`).
    forbidden_schemas: Vec<&'static str>,
}

impl Operation {
    /// An operation with its `operationId`, tag, summary and access.
    pub fn new(
        id: &'static str,
        tag: Tag,
        summary: &'static str,
        caller: Caller,
        bucket: Option<Class>,
    ) -> Self {
        Self {
            id,
            tag,
            summary,
            description: String::new(),
            access: Access { caller, bucket },
            params: Vec::new(),
            body: None,
            ignored_body: None,
            writes: false,
            database: true,
            successes: BTreeMap::new(),
            errors: BTreeMap::new(),
            conflict_schemas: Vec::new(),
            forbidden_schemas: Vec::new(),
        }
    }

    /// The `operationId`.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The access the operation documents.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The longer description.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    fn param(
        mut self,
        location: &str,
        name: &str,
        required: bool,
        schema: Value,
        text: &str,
    ) -> Self {
        self.params.push(json!({
            "name": name,
            "in": location,
            "required": required,
            "description": text,
            "schema": schema,
        }));
        self
    }

    /// A `{name}` path segment.
    pub fn path(self, name: &str, schema: Value, text: &str) -> Self {
        self.param("path", name, true, schema, text)
    }

    /// A query parameter.
    pub fn query(self, name: &str, required: bool, schema: Value, text: &str) -> Self {
        self.param("query", name, required, schema, text)
    }

    /// `If-None-Match: <version>` and the `304` it can cause.
    pub fn conditional(self) -> Self {
        self.param(
            "header",
            "If-None-Match",
            false,
            json!({ "type": "string", "maxLength": 64 }),
            "The version the client holds (an integer; a quoted ETag is ignored, as in v1). \
             304 without a body when the stored version is not newer.",
        )
        .empty(
            304,
            "Not modified: the stored version is not newer than If-None-Match.",
        )
    }

    /// A required JSON request body of at most `limit` (413 above, checked against
    /// `Content-Length` before reading; 400 if it is not a JSON object).
    pub fn body(mut self, schema: Value, limit: BodyLimit) -> Self {
        self.body = Some((schema, limit));
        self.writes = true;
        self
    }

    /// A request body that is read (at most `limit` bytes) and ignored.
    pub fn ignores_body(mut self, limit: usize) -> Self {
        self.ignored_body = Some(limit);
        self.writes = true;
        self
    }

    /// The operation writes to the database (so a full disk answers 507).
    pub fn writes(mut self) -> Self {
        self.writes = true;
        self
    }

    /// The handler never touches the database (no 503 for a busy one, no 507).
    pub fn no_database(mut self) -> Self {
        self.database = false;
        self
    }

    /// A JSON success response.
    pub fn ok(mut self, status: u16, text: &'static str, schema: Value) -> Self {
        self.successes.insert(status, Success::Json(text, schema));
        self
    }

    /// A success response without a body.
    pub fn empty(mut self, status: u16, text: &'static str) -> Self {
        self.successes.insert(status, Success::Empty(text));
        self
    }

    /// A success response of another media type.
    pub fn other(
        mut self,
        status: u16,
        text: &'static str,
        media: &'static str,
        schema: Value,
    ) -> Self {
        self.successes
            .insert(status, Success::Other(text, media, schema));
        self
    }

    /// An error status and why it happens (several reasons accumulate).
    pub fn err(mut self, status: u16, why: &str) -> Self {
        self.errors.entry(status).or_default().push(why.to_owned());
        self
    }

    /// A `409` whose body is the named error schema (e.g. `StaleVersionError`).
    pub fn conflict(mut self, why: &str, schema: &'static str) -> Self {
        self.conflict_schemas.push(schema);
        self.err(409, why)
    }

    /// The statuses this operation documents (after [`Self::complete`]).
    pub fn statuses(&self) -> Vec<u16> {
        let mut all: Vec<u16> = self
            .successes
            .keys()
            .chain(self.errors.keys())
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Adds what every operation of this kind can answer (see the module docs).
    pub fn complete(mut self, endpoint: &Endpoint) -> Self {
        let access = self.access;
        if let Some((_, limit)) = &self.body {
            let limit = limit.text();
            self = self
                .err(400, "the body is not a JSON object")
                .err(408, "the body did not arrive within the transfer timeout")
                .err(413, &format!("the body exceeds {limit}"));
        }
        if let Some(limit) = self.ignored_body {
            self = self
                .err(400, "the body could not be read")
                .err(408, "the body did not arrive within the transfer timeout")
                .err(413, &format!("the body exceeds {limit} bytes"));
        }
        if access.caller.has_session() {
            self = self.err(401, "missing, unknown, expired or revoked session token");
            self.writes = true; // an expired session is deleted when presented
        }
        match access.caller {
            Caller::Admin => {
                self = self.err(
                    401,
                    "no admin token is configured, or it is missing or wrong",
                );
            }
            Caller::MetricsReader => {
                self = self.err(
                    401,
                    "without the admin token (off the admin listener, metrics.public unset)",
                );
            }
            _ => {}
        }
        if let Some(why) = access.caller.wrong_kind() {
            self = self.err(403, why);
        }
        if let Some(class) = access.bucket {
            self = self.err(
                429,
                &format!(
                    "the `{}` rate limit was hit (see Retry-After)",
                    class.name()
                ),
            );
        }
        if version_gated(endpoint.path) {
            self = self
                .param(
                    "header",
                    "X-Protocol-Version",
                    false,
                    json!({ "type": "integer", "minimum": 1 }),
                    "The client's protocol version; below the relay's minimum the answer is 426.",
                )
                .err(426, "X-Protocol-Version is below the relay's minimum");
        }
        let shadows = shadowing(endpoint);
        if !shadows.is_empty() {
            self = self.err(
                405,
                &format!(
                    "the path also matches {}, registered earlier without this method",
                    shadows.join(" or ")
                ),
            );
        }
        if self.writes && self.database {
            self = self.err(
                503,
                "the database's write lock is held elsewhere past the busy timeout; nothing was \
                 written, retry after Retry-After",
            );
            self = self.err(507, "the relay's disk is full");
        }
        self.err(500, "an internal failure (details only in the relay's log)")
    }

    fn to_json(&self) -> Value {
        let mut responses = Map::new();
        for (status, success) in &self.successes {
            let value = match success {
                Success::Json(text, schema) => json!({
                    "description": text,
                    "content": { "application/json": { "schema": schema } },
                }),
                Success::Empty(text) => json!({ "description": text }),
                Success::Other(text, media, schema) => json!({
                    "description": text,
                    "content": { *media: { "schema": schema } },
                }),
            };
            responses.insert(status.to_string(), value);
        }
        for (status, reasons) in &self.errors {
            responses.insert(status.to_string(), self.error_response(*status, reasons));
        }
        let mut op = json!({
            "operationId": self.id,
            "tags": [self.tag.name()],
            "summary": self.summary,
            "responses": responses,
            "x-coffer-caller": self.access.caller.name(),
        });
        if !self.description.is_empty() {
            op["description"] = json!(self.description);
        }
        if let Some(class) = self.access.bucket {
            op["x-coffer-rate-limit"] = json!(class.name());
        }
        if !self.params.is_empty() {
            op["parameters"] = json!(self.params);
        }
        if let Some((schema, limit)) = &self.body {
            op["requestBody"] = json!({
                "required": true,
                "description": format!("A JSON object of at most {}.", limit.text()),
                "content": { "application/json": { "schema": schema } },
            });
        }
        op["security"] = match self.access.caller {
            Caller::Public => json!([]),
            Caller::Admin => json!([{ "adminToken": [] }]),
            Caller::MetricsReader => json!([{}, { "adminToken": [] }]),
            _ => json!([{ "sessionToken": [] }]),
        };
        op
    }

    fn error_response(&self, status: u16, reasons: &[String]) -> Value {
        let schema = if status == 409 && !self.conflict_schemas.is_empty() {
            let refs: Vec<Value> = self
                .conflict_schemas
                .iter()
                .map(|name| schema::reference(name))
                .collect();
            match refs.as_slice() {
                [one] => one.clone(),
                _ => json!({ "oneOf": refs }),
            }
        } else if status == 403 && !self.forbidden_schemas.is_empty() {
            let refs: Vec<Value> = self
                .forbidden_schemas
                .iter()
                .map(|name| schema::reference(name))
                .collect();
            json!({ "oneOf": refs })
        } else if status == 401 && self.access.caller.has_session() {
            // Unknown or expired, or revoked by its owner (`session_revoked`, §11).
            json!({ "oneOf": [
                schema::reference(&error_schema_name(401)),
                schema::reference(&code_schema_name(ApiError::SessionRevoked.code())),
            ] })
        } else {
            schema::reference(&error_schema_name(status))
        };
        let mut response = json!({
            "description": capitalised(&reasons.join("; ")),
            "content": { "application/json": { "schema": schema } },
        });
        if sends_retry_after(status) {
            response["headers"] = json!({
                "Retry-After": {
                    "description": "Seconds after which the same request may succeed.",
                    "required": true,
                    "schema": { "type": "integer", "minimum": 1 },
                }
            });
        }
        response
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// Whether a concrete path could match both patterns (same segment count; every pair of
/// segments equal or at least one a `{param}`).
fn overlap(a: &str, b: &str) -> bool {
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || is_param(x) || is_param(y))
}

/// The earlier-registered paths that can take a request meant for `endpoint` and do not serve
/// its method: actix matches resources in registration order, so such a request gets that
/// resource's `405`.
fn shadowing(endpoint: &Endpoint) -> Vec<&'static str> {
    let first_index = |path: &str| ROUTES.iter().position(|e| e.path == path);
    let Some(mine) = first_index(endpoint.path) else {
        return Vec::new();
    };
    let mut out: Vec<&'static str> = ROUTES
        .iter()
        .filter(|e| e.path != endpoint.path && overlap(e.path, endpoint.path))
        .filter(|e| first_index(e.path).is_some_and(|i| i < mine))
        .filter(|e| {
            !ROUTES
                .iter()
                .any(|other| other.path == e.path && other.verb == endpoint.verb)
        })
        .map(|e| e.path)
        .collect();
    out.dedup();
    out
}

/// One sample of every [`ApiError`] variant: the source of the error schemas.
fn error_samples() -> Vec<ApiError> {
    let samples = vec![
        ApiError::BadRequest("x".into()),
        ApiError::Unauthorized("x"),
        ApiError::SessionRevoked,
        ApiError::Forbidden("x"),
        ApiError::NotFound("x"),
        ApiError::MethodNotAllowed,
        ApiError::Conflict("x".into()),
        ApiError::Stale(Stale::Version { current: 2, got: 1 }),
        ApiError::Stale(Stale::V2 {
            current_version: 2,
            current_epoch: 1,
            got: 1,
        }),
        ApiError::Stale(Stale::Grant { current: 2 }),
        ApiError::RequestTimeout("x"),
        ApiError::Gone("x"),
        ApiError::PayloadTooLarge("x".into()),
        ApiError::UpgradeRequired("x".into()),
        ApiError::RateLimited {
            retry_after: Duration::from_secs(1),
            limit: None,
        },
        ApiError::Unavailable {
            retry_after: Duration::from_secs(10),
        },
        ApiError::InsufficientStorage,
        ApiError::Internal,
        // After `Forbidden`: the plain 403 stays the status's schema.
        ApiError::Denied {
            code: "registration_closed",
            message: "x",
        },
        ApiError::Denied {
            code: "user_cap_reached",
            message: "x",
        },
        // After `Conflict`: the plain 409 stays the status's schema.
        ApiError::ConflictWith {
            code: "already_registered",
            message: "x",
        },
    ];
    // Exhaustive on purpose: a new variant does not compile until it has a sample above (and,
    // if storage failures can answer it, a line in `Operation::complete`).
    for sample in &samples {
        match sample {
            ApiError::BadRequest(_)
            | ApiError::Unauthorized(_)
            | ApiError::SessionRevoked
            | ApiError::Forbidden(_)
            | ApiError::Denied { .. }
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed
            | ApiError::Conflict(_)
            | ApiError::ConflictWith { .. }
            | ApiError::Stale(Stale::Version { .. } | Stale::V2 { .. } | Stale::Grant { .. })
            | ApiError::RequestTimeout(_)
            | ApiError::Gone(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::UpgradeRequired(_)
            | ApiError::RateLimited { .. }
            | ApiError::Unavailable { .. }
            | ApiError::InsufficientStorage
            | ApiError::Internal => {}
        }
    }
    samples
}

/// The component name of an error schema: `BadRequestError`, or the variant's own name for the
/// conflicts that carry extra fields.
fn sample_schema_name(sample: &ApiError) -> String {
    match sample {
        ApiError::Stale(Stale::Version { .. }) => "StaleVersionError".into(),
        ApiError::Stale(Stale::V2 { .. }) => "StaleV2Error".into(),
        ApiError::Stale(Stale::Grant { .. }) => "StaleGrantError".into(),
        other => code_schema_name(other.code()),
    }
}

fn code_schema_name(code: &str) -> String {
    let mut name: String = code
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Error");
    name
}

/// Whether the error of a status carries `Retry-After` (as its sample answers).
fn sends_retry_after(status: u16) -> bool {
    error_samples().iter().any(|s| {
        s.status_code().as_u16() == status
            && s.error_response()
                .headers()
                .contains_key(actix_web::http::header::RETRY_AFTER)
    })
}

/// The error schema name for a status (its plain variant).
fn error_schema_name(status: u16) -> String {
    error_samples()
        .iter()
        .filter(|s| s.status_code().as_u16() == status)
        .map(|s| code_schema_name(s.code()))
        .next()
        .unwrap_or_else(|| "Error".into())
}

/// The error schemas, from the bodies the samples really answer with: `error` is the status's
/// code, `message` a text, and any other key (the stale conflicts' current state) an integer.
fn error_schemas() -> Map<String, Value> {
    let mut out = Map::new();
    for sample in error_samples() {
        let body = sample
            .error_response()
            .into_body()
            .try_into_bytes()
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
            .unwrap_or_default();
        let mut properties = Map::new();
        let mut required = Vec::new();
        for key in body.keys() {
            let schema = match key.as_str() {
                "error" => json!({ "const": sample.code() }),
                "message" => json!({ "type": "string", "minLength": 1 }),
                _ => json!({ "type": "integer", "minimum": 0 }),
            };
            properties.insert(key.clone(), schema);
            required.push(key.clone());
        }
        let status = sample.status_code().as_u16();
        out.insert(
            sample_schema_name(&sample),
            json!({
                "type": "object",
                "description": format!("The JSON error body of a {status}."),
                "required": required,
                "properties": properties,
                "additionalProperties": false,
            }),
        );
    }
    out
}

/// The complete descriptions of every route, in table order.
pub fn operations() -> Vec<(&'static Endpoint, Operation)> {
    ROUTES
        .iter()
        .map(|e| (e, (e.describe)().complete(e)))
        .collect()
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (endpoint, op) in operations() {
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        item[endpoint.verb.openapi_key()] = op.to_json();
    }
    let mut schemas = components::components();
    schemas.extend(error_schemas());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Coffer relay API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of coffer-relay: protocol v1 (PluralLog-compatible), \
                protocol v2, the admin API and /metrics. Generated from the relay's route table \
                (`coffer-relay openapi`); see docs/openapi.md. Every error is JSON \
                `{\"error\": code, \"message\": text}`. Binary values are strict standard \
                base64 with padding. Every path also answers OPTIONS (CORS preflight) with 204, and \
                every response carries the CORS headers. The relay never receives plaintext or \
                private keys.",
            "license": { "name": "See the repository" },
        },
        "servers": [{ "url": "https://127.0.0.1:8443", "description": "The default listen address" }],
        "tags": Tag::ALL.iter().map(|t| json!({ "name": t.name(), "description": t.description() })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sessionToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A session token from /api/v1/auth/token or /api/v2/auth/token \
                        (`Authorization: Bearer <token>`, case-sensitive scheme).",
                },
                "adminToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Admin-Token",
                    "description": "The operator's admin token (admin.token / COFFER_ADMIN_TOKEN).",
                },
            },
        },
    })
}

/// The document as the checked-in `docs/openapi.json`: pretty JSON with sorted keys and a
/// trailing newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_patterns() {
        assert!(overlap("/api/v2/users/me", "/api/v2/users/{id}"));
        assert!(!overlap(
            "/api/v2/users/by-handle/{h}",
            "/api/v2/users/{id}"
        ));
        assert!(!overlap("/api/v1/volumes", "/api/v1/volumes/{name}"));
    }

    #[test]
    fn shadowed_routes_get_405() {
        let find = |verb, path| {
            ROUTES
                .iter()
                .find(|e| e.verb == verb && e.path == path)
                .expect("route in the table")
        };
        assert_eq!(
            shadowing(find(super::super::Verb::Get, "/api/v2/users/{id}")),
            vec!["/api/v2/users/me"]
        );
        assert!(
            shadowing(find(super::super::Verb::Delete, "/api/v1/sharing/{id}"))
                .contains(&"/api/v1/sharing/request")
        );
        assert!(shadowing(find(super::super::Verb::Put, "/api/v1/volumes/{name}")).is_empty());
    }

    #[test]
    fn error_schemas_follow_the_error_bodies() {
        let schemas = error_schemas();
        assert_eq!(
            schemas["StaleV2Error"]["required"],
            json!(["current_epoch", "current_version", "error", "message"])
        );
        assert_eq!(
            schemas["NotFoundError"]["properties"]["error"]["const"],
            "not_found"
        );
        assert_eq!(error_schema_name(507), "InsufficientStorageError");
        assert_eq!(error_schema_name(409), "ConflictError");
    }
}
