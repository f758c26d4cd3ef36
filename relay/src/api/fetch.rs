//! The fetch fast path: v1 and v2 downloads (own and shared) answered from the fetch cache
//! (`crate::fetch_cache`) on the async worker when it holds the answer, and otherwise from the
//! database with the answer then held; and the download body built without `serde_json`
//! scanning the base64 payload for characters to escape (base64 has none).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::stream::json_with_streamed_field;
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Hit};
use crate::service::volumes::Payload;
use crate::state::AppState;
use crate::store::fetch_watch::FetchGeneration;
use crate::store::now;

/// A fetch the cache could not answer: what to hold its answer under.
#[derive(Debug)]
pub struct Fetch {
    key: FetchKey,
    generation: FetchGeneration,
    since: Option<u64>,
}

/// The cached answer to `key` for a client holding version `since` (`If-None-Match`), or
/// the [`Fetch`] to answer from the database. The owner's generation is taken here, before
/// any read.
pub fn begin(state: &AppState, key: FetchKey, since: Option<u64>) -> Result<HttpResponse, Fetch> {
    let generation = state.db.fetch_generation(key.owner());
    match state.fetch_cache.get(&key, generation, since, now()) {
        Some(Hit::NotModified) => Ok(not_modified()),
        Some(Hit::Body(body)) => Ok(json_bytes(body)),
        None => Err(Fetch {
            key,
            generation,
            since,
        }),
    }
}

impl Fetch {
    /// The client's `If-None-Match` version.
    pub fn since(&self) -> Option<u64> {
        self.since
    }

    /// Answers with what the database gave — `version`'s `payload` in `field` of the JSON
    /// `body` — and holds the answer. `expires_at`: when the authorising grant expires (0:
    /// never).
    pub fn answer(
        self,
        state: &AppState,
        version: u64,
        payload: Payload,
        expires_at: u64,
        body: impl FnOnce() -> Result<Value, ApiError>,
        field: &str,
    ) -> Result<HttpResponse, ApiError> {
        let cache = &state.fetch_cache;
        match payload {
            Payload::NotModified => {
                cache.insert(self.key, self.generation, version, None, expires_at);
                Ok(not_modified())
            }
            Payload::Bytes(bytes) => {
                let encoded = body_with_payload(body()?, field, &bytes)?;
                cache.insert(
                    self.key,
                    self.generation,
                    version,
                    Some(encoded.clone()),
                    expires_at,
                );
                Ok(json_bytes(encoded))
            }
            Payload::File(file, len) => {
                cache.insert(self.key, self.generation, version, None, expires_at);
                json_with_streamed_field(body()?, field, file, len)
            }
        }
    }
}

/// `304 Not Modified`.
pub fn not_modified() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_MODIFIED).finish()
}

/// `200` with a JSON body already serialised.
fn json_bytes(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body)
}

/// Where the top-level string field `field` (set to `""`) opens in the serialised `body`, and
/// the serialised body (with the trailing newline): the bytes before the index end with the
/// field's opening quote. Keys are sorted and strings escape their quotes, so the last
/// `"field":""` is the top-level field (anything nested sorts before it, in an earlier value).
pub fn split_at_field(mut body: Value, field: &str) -> Result<(Vec<u8>, usize), ApiError> {
    body[field] = Value::String(String::new());
    let mut bytes = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    bytes.push(b'\n');
    let marker = format!("\"{field}\":\"\"");
    let at = bytes
        .windows(marker.len())
        .rposition(|w| w == marker.as_bytes())
        .ok_or(ApiError::Internal)?
        + marker.len()
        - 1;
    Ok((bytes, at))
}

/// The JSON `body` with its string field `field` holding the base64 of `payload`, serialised
/// (sorted keys, trailing newline): byte for byte what `serde_json` makes of the whole value,
/// but the base64 text is written straight into place instead of being scanned for characters
/// to escape (it has none).
pub fn body_with_payload(body: Value, field: &str, payload: &[u8]) -> Result<Bytes, ApiError> {
    let (rest, at) = split_at_field(body, field)?;
    let encoded_len = payload.len().div_ceil(3) * 4;
    let mut out = Vec::with_capacity(rest.len() + encoded_len);
    out.extend_from_slice(&rest[..at]);
    out.resize(at + encoded_len, 0);
    let written = STANDARD
        .encode_slice(payload, &mut out[at..])
        .map_err(|_| ApiError::Internal)?;
    out.truncate(at + written);
    out.extend_from_slice(&rest[at..]);
    Ok(Bytes::from(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::json::ok;

    #[actix_web::test]
    async fn bodies_are_byte_for_byte_what_serde_json_makes() {
        for len in [0, 1, 2, 3, 4, 100, 4124, 8220] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let rest = json!({
                // A nested key of the same name must not confuse the split.
                "control_header": {"encrypted_payload": "", "volume_name": "members"},
                "encrypted_vek_blob": null,
                "signature": "c2ln",
                "zz": "after the payload",
            });
            let mut whole = rest.clone();
            whole["encrypted_payload"] = json!(STANDARD.encode(&data));
            let expected = actix_web::body::to_bytes(ok(&whole).into_body())
                .await
                .unwrap();
            let got = body_with_payload(rest, "encrypted_payload", &data).unwrap();
            assert_eq!(got, expected, "length {len}");
        }
    }
}
