//! The fetch fast path: v1 and v2 downloads (own and shared) answered from the fetch cache
//! (`crate::fetch_cache`) on the async worker when it holds the answer, and otherwise from the
//! database with the answer then held; and the download body built without `serde_json`
//! scanning the base64 payload for characters to escape (base64 has none).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use serde_json::Value;

use super::json_body::body_with_payload;
use super::stream::json_with_streamed_field;
use crate::error::ApiError;
use crate::fetch_cache::{FetchKey, Hit};
use crate::service::volumes::Payload;
use crate::state::AppState;
use crate::storage::watch::FetchGeneration;
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
    let generation = state.storage.fetch_generation(key.owner());
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
            Payload::Stream(chunks, len) => {
                cache.insert(self.key, self.generation, version, None, expires_at);
                json_with_streamed_field(body()?, field, chunks, len)
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
