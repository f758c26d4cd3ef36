//! Large downloads streamed from their blob files.
//!
//! A download's JSON body carries the payload as base64. Built in memory, a 1 MiB volume cost
//! about 4 MiB (file bytes, base64 text, serialised body) for as long as the client took to
//! read it, and the transfer deadline lets a slow reader take hours: 64 clients fetching 1 MiB
//! volumes held 230 MiB, which the allocator then kept (docs/BENCHMARKS.md). Payloads above
//! [`STREAM_ABOVE`] are therefore sent as the JSON up to the payload's opening quote, then the
//! open blob file read and base64-encoded one chunk at a time as the client takes it, then the
//! rest of the JSON. The bytes are exactly those of the in-memory body (a test compares them);
//! `Content-Length` is set.

use std::fs::File;
use std::io::Read as _;

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::stream;
use serde_json::Value;

use crate::error::ApiError;

pub use crate::service::volumes::STREAM_ABOVE;

/// Bytes read per chunk: a multiple of 3, so that each chunk encodes on its own (no padding
/// but at the very end) and the encodings simply concatenate.
const CHUNK: usize = 3 * 64 * 1024;

/// What is left to send.
enum Part {
    Prefix(Bytes, File, u64, Bytes),
    File(File, u64, Bytes),
    Done,
}

/// The JSON `body` with its string field `field` filled with the base64 of `len` bytes read
/// from `file`, as a streamed 200 response. `body` must not have `field` yet.
pub fn json_with_streamed_field(
    body: Value,
    field: &str,
    file: File,
    len: u64,
) -> Result<HttpResponse, ApiError> {
    let (mut bytes, at) = super::json_body::split_at_field(body, field)?;
    let suffix = Bytes::copy_from_slice(&bytes[at..]);
    bytes.truncate(at);
    let prefix = Bytes::from(bytes);
    let encoded_len = len.div_ceil(3) * 4;
    let total = prefix.len() as u64 + encoded_len + suffix.len() as u64;

    let parts = stream::unfold(Part::Prefix(prefix, file, len, suffix), |part| async move {
        match part {
            Part::Prefix(prefix, file, left, suffix) => {
                Some((Ok(prefix), Part::File(file, left, suffix)))
            }
            Part::File(file, left, suffix) if left > 0 => {
                Some(match next_chunk(file, left).await {
                    Ok((file, chunk, read)) => (Ok(chunk), Part::File(file, left - read, suffix)),
                    Err(e) => (Err(e), Part::Done),
                })
            }
            Part::File(_, _, suffix) => Some((Ok(suffix), Part::Done)),
            Part::Done => None,
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .no_chunking(total)
        .streaming(parts))
}

/// Reads and encodes the next chunk (at most `left` bytes) on the blocking pool.
async fn next_chunk(mut file: File, left: u64) -> Result<(File, Bytes, u64), actix_web::Error> {
    let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
    let read = actix_web::web::block(move || {
        let mut buf = vec![0u8; want];
        file.read_exact(&mut buf)?;
        Ok::<_, std::io::Error>((file, buf))
    })
    .await;
    match read {
        Ok(Ok((file, buf))) => Ok((file, Bytes::from(STANDARD.encode(&buf)), want as u64)),
        // The connection is cut: a short blob cannot be answered honestly mid-body.
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a blob ended before its recorded length");
            Err(actix_web::error::ErrorInternalServerError(
                "blob read failed",
            ))
        }
        Err(_) => Err(actix_web::error::ErrorInternalServerError("blocking pool")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write as _;

    use serde_json::json;

    use super::*;
    use crate::api::json::ok;

    async fn body_of(res: HttpResponse) -> (Option<String>, Vec<u8>) {
        let length = res
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        (length, body.to_vec())
    }

    #[actix_web::test]
    async fn streamed_bodies_are_byte_for_byte_the_in_memory_ones() {
        for len in [0, 1, 2, 3, 4, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 2] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&data).unwrap();
            let mut file = file;
            std::io::Seek::rewind(&mut file).unwrap();
            let rest = json!({
                // A nested key of the same name must not confuse the split.
                "control_header": {"encrypted_payload": "", "volume_name": "members"},
                "encrypted_vek_blob": null,
                "signature": "c2ln",
            });
            let mut whole = rest.clone();
            whole["encrypted_payload"] = json!(STANDARD.encode(&data));
            let (_, expected) = body_of(ok(&whole)).await;

            let streamed =
                json_with_streamed_field(rest, "encrypted_payload", file, len as u64).unwrap();
            let (length, got) = body_of(streamed).await;
            assert_eq!(got, expected, "length {len}");
            assert_eq!(length, Some(expected.len().to_string()), "length {len}");
        }
    }

    #[actix_web::test]
    async fn a_blob_shorter_than_its_row_cuts_the_body() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[1; 10]).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let res = json_with_streamed_field(json!({}), "payload", file, 100).unwrap();
        assert!(actix_web::body::to_bytes(res.into_body()).await.is_err());
    }
}
