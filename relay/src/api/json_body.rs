//! JSON answers with one large base64 string field written straight into place (a leaf used
//! by the cached and the streamed downloads): `serde_json` would scan the base64 text for
//! characters to escape, and it has none.

use actix_web::web::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::error::ApiError;

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
