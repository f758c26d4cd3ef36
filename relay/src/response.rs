//! JSON responses the way v1 clients expect them: serialised like Flask's `jsonify` (the
//! reference relay) — compact, keys sorted alphabetically (serde_json's map is a BTreeMap as
//! long as nobody enables `preserve_order`; a test below fails if someone does), and a trailing
//! newline.
//!
//! A leaf: it knows nothing of the relay, so the error edge (`crate::error`) and the handlers
//! (`crate::api`) both build their bodies here.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

/// Serialises `body` with sorted keys and a trailing newline.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    // Going through `Value` sorts every object's keys, including nested ones.
    let bytes = serde_json::to_value(body)
        .and_then(|v| serde_json::to_vec(&v))
        .map(|mut b| {
            b.push(b'\n');
            b
        });
    match bytes {
        Ok(bytes) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(bytes),
        Err(err) => {
            tracing::error!(error = %err, "response serialisation failed");
            HttpResponse::InternalServerError()
                .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .body(&b"{\"error\":\"internal\",\"message\":\"Internal server error\"}\n"[..])
        }
    }
}

/// 200 with a JSON body.
pub fn ok(body: &impl Serialize) -> HttpResponse {
    json_response(StatusCode::OK, body)
}

/// 201 with a JSON body.
pub fn created(body: &impl Serialize) -> HttpResponse {
    json_response(StatusCode::CREATED, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn sorted_compact_newline() {
        // If serde_json's `preserve_order` feature gets unified in, this fails.
        let body = serde_json::json!({"b": 1, "a": {"z": true, "c": [1, 2]}, "A": null});
        let bytes = ok(&body)
            .into_body()
            .try_into_bytes()
            .expect("in-memory body");
        assert_eq!(
            &bytes[..],
            b"{\"A\":null,\"a\":{\"c\":[1,2],\"z\":true},\"b\":1}\n"
        );
    }
}
