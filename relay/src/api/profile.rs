//! Validation of the profile fields users send at registration and in `PATCH /users/me`.

use serde_json::Value;

use crate::error::ApiError;

/// Longest handle, in characters (the reference relay truncates to this).
pub const MAX_HANDLE_CHARS: usize = 64;
/// Most feature strings.
pub const MAX_FEATURES: usize = 32;
/// Longest feature string, bytes.
pub const MAX_FEATURE_LEN: usize = 64;

/// A handle: trimmed and truncated as v1 does; empty becomes none; control characters refused.
pub fn handle(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = value else { return Ok(None) };
    if raw.len() > 4 * 1024 {
        return Err(ApiError::bad("Handle is too long"));
    }
    let trimmed: String = raw.trim().chars().take(MAX_HANDLE_CHARS).collect();
    let trimmed = trimmed.trim_end().to_owned();
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad("Handle must not contain control characters"));
    }
    Ok(Some(trimmed).filter(|h| !h.is_empty()))
}

/// A feature set: a list of short strings, stored as compact JSON text.
pub fn feature_set(value: &Value) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad(format!(
            "feature_set must be a list of at most {MAX_FEATURES} short strings"
        ))
    };
    let items = value
        .as_array()
        .filter(|a| a.len() <= MAX_FEATURES)
        .ok_or_else(bad)?;
    let strings = items
        .iter()
        .map(|v| {
            v.as_str()
                .filter(|s| s.len() <= MAX_FEATURE_LEN)
                .map(str::to_owned)
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_string(&strings).map_err(|_| ApiError::Internal)
}

/// The volume names a friend's feature set declares (the text before `:`).
pub fn feature_names(feature_set_json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(feature_set_json)
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(handle(Some("  Ana  ")).unwrap().as_deref(), Some("Ana"));
        assert_eq!(handle(Some("   ")).unwrap(), None);
        assert_eq!(handle(None).unwrap(), None);
        assert_eq!(
            handle(Some(&"é".repeat(100)))
                .unwrap()
                .unwrap()
                .chars()
                .count(),
            64
        );
        assert!(handle(Some("a\u{0}b")).is_err());
    }

    #[test]
    fn features() {
        assert_eq!(
            feature_set(&serde_json::json!(["meta:1", "members:1"])).unwrap(),
            r#"["meta:1","members:1"]"#
        );
        assert!(feature_set(&serde_json::json!("meta:1")).is_err());
        assert!(feature_set(&serde_json::json!([1])).is_err());
        assert!(feature_set(&serde_json::json!(vec!["a"; 33])).is_err());
        assert_eq!(
            feature_names(r#"["meta:1","vault"]"#),
            vec!["meta", "vault"]
        );
    }
}
