//! Helpers shared by the v1 story suites (`v1_flow`, `v1_discovery`, `v1_accounts`).

use serde_json::Value;

pub(crate) fn names(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|h| h["volume_name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

pub(crate) fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}
