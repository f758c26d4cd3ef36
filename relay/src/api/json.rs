//! JSON in and out, the way v1 clients expect it.
//!
//! Responses are built by the leaf [`crate::response`] (Flask-compatible bytes), re-exported
//! here for the handlers. Request bodies are read with a
//! limit that is checked against `Content-Length` before a single byte is buffered, and with a
//! deadline that grows with the bytes received (`[server]` transfer timeout and minimum rate),
//! so a body trickled at 1 byte/s is answered 408 instead of holding its connection.

use std::time::Instant;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::server::connections::{self, Timeouts};
use crate::state::AppState;

/// Most bytes reserved ahead from a declared `Content-Length`: beyond it the buffer grows as
/// bytes actually arrive, so a client declaring 13 MiB on many connections and sending nothing
/// costs the relay nothing.
const MAX_PREALLOCATION: usize = 256 * 1024;

pub use crate::response::{created, json_response, ok};

/// The declared `Content-Length`, if any and well-formed.
pub fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads a request body of at most `limit` bytes: refused from `Content-Length` before reading,
/// and again while streaming (chunked bodies have no length). The body must keep up with the
/// transfer deadline ([`Timeouts::transfer_allowance`] of the bytes received so far, counted
/// from the first read); a late body is answered 408 and its connection closed after the answer.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    // The rest of a refused body is never read: the connection closes once the answer is out
    // (actix would otherwise drain a chunked body for as long as the client sends it).
    let too_large = || {
        connections::close_after_response(req);
        ApiError::PayloadTooLarge(format!("Request body exceeds {limit} bytes"))
    };
    let declared = content_length(req);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let timeouts = req.app_data::<web::Data<AppState>>().map_or_else(
        || Timeouts::from_config(&crate::config::ServerLimits::default()),
        |state| Timeouts::from_config(&state.config.server),
    );
    let started = Instant::now();
    let capacity = declared.map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut body = web::BytesMut::with_capacity(capacity.min(MAX_PREALLOCATION));
    loop {
        let deadline = started + timeouts.transfer_allowance(body.len() as u64);
        let next = match tokio::time::timeout_at(deadline.into(), payload.next()).await {
            Ok(next) => next,
            Err(_) => {
                connections::close_after_response(req);
                return Err(ApiError::RequestTimeout(
                    "The request body did not arrive in time",
                ));
            }
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|_| ApiError::bad("Could not read the request body"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a body that must be a JSON object. An empty body is an empty object when
/// `empty_is_object` (the System app posts invites with no body).
pub fn parse_object(body: &[u8], empty_is_object: bool) -> Result<Map<String, Value>, ApiError> {
    if empty_is_object && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad("Request body must be a JSON object")),
        Err(_) => Err(ApiError::bad("Invalid JSON body")),
    }
}

/// Reads a body of at most `limit` bytes that must be a JSON object (see [`parse_object`]).
pub async fn read_object(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    empty_is_object: bool,
) -> Result<Map<String, Value>, ApiError> {
    let body = read_body(req, payload, limit).await?;
    parse_object(&body, empty_is_object)
}

/// Typed access to the fields of a request object, with v1's error messages.
#[derive(Debug)]
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// A present, non-null field.
    pub fn required(&self, name: &str) -> Result<&'a Value, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => {
                Err(ApiError::bad(format!("Missing required field: {name}")))
            }
            Some(v) => Ok(v),
        }
    }

    /// A required string.
    pub fn str(&self, name: &str) -> Result<&'a str, ApiError> {
        self.required(name)?
            .as_str()
            .ok_or_else(|| ApiError::bad(format!("Field {name} must be a string")))
    }

    /// An optional string (absent or null → `None`).
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad(format!("Field {name} must be a string"))),
        }
    }

    /// A required integer.
    pub fn int(&self, name: &str) -> Result<i64, ApiError> {
        self.required(name)?
            .as_i64()
            .ok_or_else(|| ApiError::bad(format!("Field {name} must be an integer")))
    }

    /// A required boolean (strictly `true`/`false`: v1's truthiness is not reproduced).
    pub fn bool(&self, name: &str) -> Result<bool, ApiError> {
        self.required(name)?
            .as_bool()
            .ok_or_else(|| ApiError::bad(format!("Field {name} must be a boolean")))
    }

    /// A required UUID (as text).
    pub fn uuid(&self, name: &str) -> Result<uuid::Uuid, ApiError> {
        let text = self.str(name)?;
        uuid::Uuid::parse_str(text)
            .map_err(|_| ApiError::bad(format!("Field {name} must be a UUID")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_parsing() {
        assert!(parse_object(b"", true).expect("empty ok").is_empty());
        assert!(parse_object(b"", false).is_err());
        assert!(parse_object(b"[1]", false).is_err());
        assert!(parse_object(b"{", false).is_err());
        assert_eq!(parse_object(br#"{"a":1}"#, false).expect("object").len(), 1);
    }
}
