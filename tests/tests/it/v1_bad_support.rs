//! Helpers shared by the bad-input suites (`v1_bad_*`): the relay's state as the API shows it,
//! and malformed base64 variants.

use coffer_tests::client::{Admin, V1Client};
use coffer_wire::b64;
use serde_json::{Value, json};

/// What the API says about the relay's state.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) users: i64,
    pub(crate) total_volumes: i64,
    pub(crate) volumes: Vec<(String, i64, i64)>,
    pub(crate) sharing: Vec<(String, String, String)>,
}

pub(crate) async fn snapshot(admin: &Admin, sys: &V1Client) -> Snapshot {
    let stats = admin.stats().await;
    let mut volumes: Vec<(String, i64, i64)> = sys
        .list_volumes()
        .await
        .iter()
        .map(|h| {
            (
                h["volume_name"].as_str().unwrap().to_owned(),
                h["version"].as_i64().unwrap(),
                h["size_bytes"].as_i64().unwrap(),
            )
        })
        .collect();
    volumes.sort();
    let sharing = admin.get_ok("/api/v1/admin/sharing").await;
    let mut sharing: Vec<(String, String, String)> = sharing["sharing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["permissions"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    sharing.sort();
    Snapshot {
        users: stats["system_users"].as_i64().unwrap() + stats["friend_users"].as_i64().unwrap(),
        total_volumes: stats["total_volumes"].as_i64().unwrap(),
        volumes,
        sharing,
    }
}

pub(crate) fn url_safe(s: &str) -> String {
    s.replace('+', "-").replace('/', "_")
}

/// The URL-safe form of `s`, or — if `s` has no `+`/`/` to translate — `s` with its first
/// character replaced by `-` (still a URL-safe-only character), so the result is never valid
/// standard base64.
pub(crate) fn url_safe_variant(s: &str) -> String {
    if s.contains('+') || s.contains('/') {
        url_safe(s)
    } else {
        format!("-{}", &s[1..])
    }
}

/// Malformed variants of a base64 field that must decode to `len` bytes.
pub(crate) fn bad_b64_variants(len: usize) -> Vec<(String, Value)> {
    let good = loop {
        let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        let k = b64::encode(&bytes);
        if k.contains('+') || k.contains('/') {
            break k;
        }
    };
    let mut v = vec![
        ("URL-safe alphabet".to_owned(), json!(url_safe(&good))),
        ("garbage".into(), json!("not base64 at all!!")),
        (
            "embedded whitespace".into(),
            json!(format!("{} {}", &good[..20], &good[20..])),
        ),
        ("leading space".into(), json!(format!(" {good}"))),
        (
            format!("{} bytes", len - 1),
            json!(b64::encode(&vec![1u8; len - 1])),
        ),
        (
            format!("{} bytes", len + 1),
            json!(b64::encode(&vec![1u8; len + 1])),
        ),
        ("empty".into(), json!("")),
        ("number".into(), json!(12345)),
        ("null".into(), Value::Null),
    ];
    if good.ends_with('=') {
        v.insert(
            1,
            ("missing padding".into(), json!(good.trim_end_matches('='))),
        );
    } else {
        v.insert(1, ("extra padding".into(), json!(format!("{good}=="))));
    }
    v
}
