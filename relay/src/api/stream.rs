//! Large downloads streamed from their blob files.
//!
//! A download's JSON body carries the payload as base64. Built in memory, a 1 MiB volume cost
//! about 4 MiB (file bytes, base64 text, serialised body) for as long as the client took to
//! read it, and the transfer deadline lets a slow reader take hours: 64 clients fetching 1 MiB
//! volumes held 230 MiB, which the allocator then kept (docs/BENCHMARKS.md). Payloads above
//! [`STREAM_ABOVE`] are therefore sent as the JSON up to the payload's opening quote, then the
//! blob's bytes (a file read a chunk at a time, or an object store's response) base64-encoded as
//! the client takes them, then the
//! rest of the JSON. The bytes are exactly those of the in-memory body (a test compares them);
//! `Content-Length` is set.

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{StreamExt as _, stream};
use serde_json::Value;

use crate::error::ApiError;
use crate::storage::volumes::PayloadStream;

pub use crate::service::volumes::STREAM_ABOVE;

/// What is left to send.
enum Part {
    Prefix(Bytes, Payload),
    Payload(Payload),
    Done,
}

/// The payload being encoded: its stream, the bytes still owed, the 0–2 bytes of an
/// unfinished base64 group carried to the next chunk, and the JSON after it.
struct Payload {
    chunks: PayloadStream,
    left: u64,
    carry: Vec<u8>,
    suffix: Bytes,
}

/// The JSON `body` with its string field `field` filled with the base64 of the `len` bytes of
/// `chunks`, as a streamed 200 response. `body` must not have `field` yet. A stream that
/// fails, ends before `len` bytes or runs past them cuts the response (logged): a body cannot
/// be answered honestly once its length is sent.
pub fn json_with_streamed_field(
    body: Value,
    field: &str,
    chunks: PayloadStream,
    len: u64,
) -> Result<HttpResponse, ApiError> {
    let (mut bytes, at) = super::json_body::split_at_field(body, field)?;
    let suffix = Bytes::copy_from_slice(&bytes[at..]);
    bytes.truncate(at);
    let prefix = Bytes::from(bytes);
    let encoded_len = len.div_ceil(3) * 4;
    let total = prefix.len() as u64 + encoded_len + suffix.len() as u64;
    let payload = Payload {
        chunks,
        left: len,
        carry: Vec::new(),
        suffix,
    };

    let parts = stream::unfold(Part::Prefix(prefix, payload), |part| async move {
        match part {
            Part::Prefix(prefix, payload) => Some((Ok(prefix), Part::Payload(payload))),
            Part::Payload(payload) => Some(next_part(payload).await),
            Part::Done => None,
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .no_chunking(total)
        .streaming(parts))
}

fn cut(why: &'static str) -> (Result<Bytes, actix_web::Error>, Part) {
    tracing::error!("a streamed payload {why}; the response is cut");
    (
        Err(actix_web::error::ErrorInternalServerError(
            "blob read failed",
        )),
        Part::Done,
    )
}

/// Whether a stream that gave every byte it owed ends there (an empty chunk counts as none).
async fn ends(chunks: &mut PayloadStream) -> bool {
    match chunks.next().await {
        None => true,
        Some(Ok(chunk)) => chunk.is_empty(),
        Some(Err(_)) => false,
    }
}

/// The next piece of the body: the base64 of the next chunk's whole groups, or, once every
/// byte came, the last group and the JSON after the payload.
async fn next_part(mut p: Payload) -> (Result<Bytes, actix_web::Error>, Part) {
    loop {
        if p.left == 0 {
            if !ends(&mut p.chunks).await {
                return cut("ran past its recorded length");
            }
            let mut out = STANDARD.encode(&p.carry).into_bytes();
            out.extend_from_slice(&p.suffix);
            return (Ok(Bytes::from(out)), Part::Done);
        }
        let chunk = match p.chunks.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                tracing::error!(error = %e, "a streamed payload failed; the response is cut");
                return cut("failed");
            }
            None => return cut("ended before its recorded length"),
        };
        if chunk.len() as u64 > p.left {
            return cut("ran past its recorded length");
        }
        p.left -= chunk.len() as u64;
        let mut bytes = std::mem::take(&mut p.carry);
        if bytes.is_empty() {
            bytes = Vec::from(chunk);
        } else {
            bytes.extend_from_slice(&chunk);
        }
        let whole = if p.left == 0 {
            bytes.len()
        } else {
            bytes.len() - bytes.len() % 3
        };
        p.carry = bytes.split_off(whole);
        if whole == 0 {
            continue;
        }
        let mut out = STANDARD.encode(&bytes).into_bytes();
        if p.left == 0 {
            if !ends(&mut p.chunks).await {
                return cut("ran past its recorded length");
            }
            out.extend_from_slice(&p.suffix);
            return (Ok(Bytes::from(out)), Part::Done);
        }
        return (Ok(Bytes::from(out)), Part::Payload(p));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write as _;

    use serde_json::json;

    use super::*;
    use crate::api::json::ok;
    use crate::store::StoreError;
    use crate::store::port::blobs::{FILE_CHUNK as CHUNK, file_stream};

    async fn body_of(res: HttpResponse) -> (Option<String>, Vec<u8>) {
        let length = res
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        (length, body.to_vec())
    }

    fn file_of(data: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        file
    }

    /// `data` in chunks of the given sizes, cycled (as an object store's response comes).
    fn chunked(data: &[u8], sizes: &[usize]) -> PayloadStream {
        let mut chunks = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = sizes[i % sizes.len()].min(data.len() - at);
            chunks.push(Ok(Bytes::copy_from_slice(&data[at..at + n])));
            at += n;
            i += 1;
        }
        stream::iter(chunks).boxed()
    }

    #[actix_web::test]
    async fn streamed_bodies_are_byte_for_byte_the_in_memory_ones() {
        for len in [0, 1, 2, 3, 4, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 2] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let rest = json!({
                // A nested key of the same name must not confuse the split.
                "control_header": {"encrypted_payload": "", "volume_name": "members"},
                "encrypted_vek_blob": null,
                "signature": "c2ln",
            });
            let mut whole = rest.clone();
            whole["encrypted_payload"] = json!(STANDARD.encode(&data));
            let (_, expected) = body_of(ok(&whole)).await;

            let from_file = file_stream(file_of(&data), len as u64);
            // Chunks whose sizes are not multiples of 3 carry bytes over; empty ones happen.
            let odd = chunked(&data, &[1, 0, 5, 8192, 2, 65_537]);
            for (how, chunks) in [("file", from_file), ("odd chunks", odd)] {
                let streamed =
                    json_with_streamed_field(rest.clone(), "encrypted_payload", chunks, len as u64)
                        .unwrap();
                let (length, got) = body_of(streamed).await;
                assert_eq!(got, expected, "length {len}, {how}");
                assert_eq!(length, Some(expected.len().to_string()), "length {len}");
            }
        }
    }

    #[actix_web::test]
    async fn a_blob_shorter_or_longer_than_its_row_or_failing_cuts_the_body() {
        let short = file_stream(file_of(&[1; 10]), 100);
        let res = json_with_streamed_field(json!({}), "payload", short, 100).unwrap();
        assert!(actix_web::body::to_bytes(res.into_body()).await.is_err());

        for sizes in [[7usize], [10]] {
            let long = chunked(&[1; 10], &sizes);
            let res = json_with_streamed_field(json!({}), "payload", long, 9).unwrap();
            assert!(
                actix_web::body::to_bytes(res.into_body()).await.is_err(),
                "{sizes:?}"
            );
        }

        let failing = stream::iter([
            Ok(Bytes::from_static(&[1; 6])),
            Err(StoreError::Unavailable("object store: gone".into())),
        ])
        .boxed();
        let res = json_with_streamed_field(json!({}), "payload", failing, 12).unwrap();
        assert!(actix_web::body::to_bytes(res.into_body()).await.is_err());
    }
}
