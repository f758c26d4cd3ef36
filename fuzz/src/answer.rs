//! What the fuzzed relay answered, and what every answer must satisfy (the oracle of
//! `relay_requests`).

use actix_web::http::StatusCode;
use serde_json::Value;

/// What a response looked like.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Status code.
    pub status: StatusCode,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Outcome {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Checks what every answer must satisfy, whatever was asked: no 5xx but 507 (a full disk),
/// and every error body the JSON `{"error","message"}` object.
///
/// # Panics
/// On a violation (that is the finding).
pub fn check(outcome: &Outcome) {
    let status = outcome.status.as_u16();
    assert!(
        status < 500 || status == 507,
        "server error {status}: {}",
        String::from_utf8_lossy(&outcome.body)
    );
    if status >= 400 {
        let body: Value = serde_json::from_slice(&outcome.body).unwrap_or_else(|e| {
            panic!(
                "error {status} without a JSON body ({e}): {:?}",
                String::from_utf8_lossy(&outcome.body)
            )
        });
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "error {status} body is not {{\"error\",\"message\"}}: {body}"
        );
        assert!(
            outcome
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/json")),
            "error {status} with content type {:?}",
            outcome.content_type
        );
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;

    use super::{Outcome, check};

    fn outcome(status: u16, content_type: &str, body: &str) -> Outcome {
        Outcome {
            status: StatusCode::from_u16(status).expect("a valid status"),
            content_type: Some(content_type.to_owned()),
            body: body.as_bytes().to_vec(),
        }
    }

    const JSON: &str = "application/json";

    #[test]
    fn check_accepts_what_the_relay_should_answer() {
        check(&outcome(200, "text/plain", "anything"));
        check(&outcome(
            404,
            JSON,
            r#"{"error":"not_found","message":"Not found"}"#,
        ));
        check(&outcome(
            507,
            JSON,
            r#"{"error":"insufficient_storage","message":"full"}"#,
        ));
    }

    #[test]
    #[should_panic(expected = "server error 500")]
    fn check_refuses_a_500() {
        check(&outcome(500, JSON, r#"{"error":"internal","message":"x"}"#));
    }

    #[test]
    #[should_panic(expected = "without a JSON body")]
    fn check_refuses_a_text_error() {
        check(&outcome(400, "text/plain", "Bad Request"));
    }

    #[test]
    #[should_panic(expected = "is not {\"error\",\"message\"}")]
    fn check_refuses_another_json_shape() {
        check(&outcome(401, JSON, r#"{"detail":"no"}"#));
    }
}
