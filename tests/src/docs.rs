//! Realistic decrypted volume documents (v1.md §5.5), as the System app would build them.

use coffer_wire::v1::VolumeName;
use serde_json::{Value, json};

/// `meta`: system name, protocol version, feature set, local export time.
pub fn meta() -> Value {
    json!({
        "schema_version": 1,
        "system_name": "The Lighthouse Collective",
        "protocol_version": 1,
        "feature_set": crate::client::all_features(),
        "exported_at": "2026-11-21T13:04:55.123",
    })
}

/// `members`: two members with custom fields and per-member vault maps (W16), field defs.
pub fn members() -> Value {
    json!({
        "schema_version": 1,
        "members": [
            {
                "id": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
                "name": "Ash",
                "pronouns": "they/them",
                "role": "host",
                "description": "Keeps the calendar. Likes rain — and tea ☕.",
                "color": 4_283_215_696_u32,
                "profileMarkdown": "## Ash\n*Usually fronts mornings.*",
                "customFields": "{\"cf-1\":\"Libra\"}",
                "parentMemberId": null,
                "createdAt": 1_763_700_000_000_i64,
                "vault": "{\"allergies\":\"penicillin\"}"
            },
            {
                "id": "0c1d2e3f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
                "name": "Rowan",
                "pronouns": "she/her",
                "role": "protector",
                "description": "Handles phone calls.",
                "color": 4_294_198_070_u32,
                "profileMarkdown": "",
                "customFields": "{}",
                "parentMemberId": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
                "createdAt": 1_763_786_400_000_i64,
                "vault": "{}"
            }
        ],
        "custom_field_defs": [
            {"id": "cf-1", "name": "Star sign", "fieldType": "choice",
             "choices": "Aries|||Taurus|||Libra", "sortOrder": 0}
        ]
    })
}

/// `fronts`: a closed and an active switch event.
pub fn fronts() -> Value {
    json!({
        "schema_version": 1,
        "switch_events": [
            {"id": "sw-1", "memberId": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
             "startTime": 1_763_712_000_000_i64, "endTime": 1_763_733_600_000_i64,
             "notes": "work day", "cofronterIds": ""},
            {"id": "sw-2", "memberId": "0c1d2e3f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
             "startTime": 1_763_733_600_000_i64, "endTime": null,
             "notes": null, "cofronterIds": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c"}
        ]
    })
}

/// `journal`: visible entries only (hidden ones are filtered before upload).
pub fn journal() -> Value {
    json!({
        "schema_version": 1,
        "journal_entries": [
            {"id": "j-1", "authorId": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
             "text": "Good session today. Slept well.", "emotion": "happy",
             "timestamp": 1_763_740_000_000_i64, "tags": "therapy,sleep", "hidden": 0},
            {"id": "j-2", "authorId": "0c1d2e3f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
             "text": "Loud day.", "emotion": null,
             "timestamp": 1_763_750_000_000_i64, "tags": "", "hidden": 0}
        ]
    })
}

/// `chat`: one channel, two messages.
pub fn chat() -> Value {
    json!({
        "schema_version": 1,
        "channels": [{"id": "c-1", "name": "general"}],
        "messages": [
            {"id": "m-1", "channelId": "c-1", "authorId": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
             "text": "who took the last biscuit", "timestamp": 1_763_741_000_000_i64, "pinned": 0},
            {"id": "m-2", "channelId": "c-1", "authorId": "0c1d2e3f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
             "text": "not me", "timestamp": 1_763_741_060_000_i64, "pinned": 1}
        ]
    })
}

/// `polls`: one open poll.
pub fn polls() -> Value {
    json!({
        "schema_version": 1,
        "polls": [
            {"id": "p-1", "question": "Dinner?", "options": "pasta|||soup|||tacos",
             "votes": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c:2,0c1d2e3f-5a6b-4c7d-8e9f-a0b1c2d3e4f5:2",
             "createdAt": 1_763_742_000_000_i64, "closed": 0}
        ]
    })
}

/// `vault`: per-member private data.
pub fn vault() -> Value {
    json!({
        "schema_version": 1,
        "vault_entries": [
            {"member_id": "9b2f6c1e-4a8d-4c7e-9f3a-1d2e3f4a5b6c",
             "data": {"allergies": "penicillin", "doctor": "Dr. Okafor"}}
        ]
    })
}

/// `analytics`: not produced by the template; a placeholder document.
pub fn analytics() -> Value {
    json!({"schema_version": 1, "counters": {}})
}

/// The document for a volume name.
pub fn for_volume(name: VolumeName) -> Value {
    match name {
        VolumeName::Meta => meta(),
        VolumeName::Members => members(),
        VolumeName::Fronts => fronts(),
        VolumeName::Journal => journal(),
        VolumeName::Chat => chat(),
        VolumeName::Polls => polls(),
        VolumeName::Vault => vault(),
        VolumeName::Analytics => analytics(),
    }
}

/// A `journal`-shaped document whose JSON is about `approx_len` bytes, distinct per `tag`.
pub fn sized(approx_len: usize, tag: &str) -> Value {
    let entry_len = 200;
    let count = (approx_len / (entry_len + 120)).max(1);
    let entries: Vec<Value> = (0..count)
        .map(|i| {
            let text: String = format!("{tag}-{i}-")
                .chars()
                .cycle()
                .take(entry_len)
                .collect();
            json!({"id": format!("j-{i}"), "authorId": "a", "text": text,
                   "emotion": "neutral", "timestamp": i, "tags": "", "hidden": 0})
        })
        .collect();
    json!({"schema_version": 1, "journal_entries": entries, "tag": tag})
}
