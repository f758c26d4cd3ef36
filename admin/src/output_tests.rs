//! Tests of `output`: tables, sizes, times and every rendering.
use super::*;
use crate::model::{Anomaly, AnomalyTotals, Share, Volume, VolumeBreakdown};

#[test]
fn anomaly_table() {
    let mut r = AnomalyReport {
        anomalies: vec![],
        ip_policy: "off".into(),
        window_minutes: 60,
        thresholds: None,
        totals: AnomalyTotals {
            failed_logins: 20,
            challenges: 1,
            storage_growth_bytes: -2048,
        },
        tracking_since: "2026-11-21T13:00:00+00:00".into(),
        untracked: 0,
    };
    let out = anomalies(&r);
    assert!(
        out.contains("20 failed logins, 1 challenge, -2.0 KiB net growth"),
        "{out}"
    );
    assert!(out.ends_with("no anomalies in the window\n"), "{out}");
    r.anomalies = vec![
        Anomaly {
            kind: "failed_logins".into(),
            scope: "source".into(),
            user_id: None,
            source: None,
            value: 20,
            unit: "requests".into(),
            threshold: 10,
            first_seen: "2026-11-21T13:04:00+00:00".into(),
            last_seen: "2026-11-21T13:05:00+00:00".into(),
        },
        Anomaly {
            kind: "storage_growth".into(),
            scope: "user".into(),
            user_id: Some("u1".into()),
            source: None,
            value: 25 << 20,
            unit: "bytes".into(),
            threshold: 20 << 20,
            first_seen: "2026-11-21T13:04:00+00:00".into(),
            last_seen: "2026-11-21T13:05:00+00:00".into(),
        },
    ];
    let out = anomalies(&r);
    assert!(
        out.contains("failed logins   source  (hidden by ip_policy)"),
        "{out}"
    );
    assert!(
        out.contains("25.0 MiB   20.0 MiB  2026-11-21 13:04"),
        "{out}"
    );
}

#[test]
fn table_aligns_and_has_no_trailing_spaces() {
    let mut t = Table::new(&[
        ("NAME", Align::Left),
        ("N", Align::Right),
        ("NOTE", Align::Left),
    ]);
    t.row(["a", "1", ""]);
    t.row(["longer", "12345", "x"]);
    t.footer(["total", "12346", ""]);
    assert_eq!(
        t.render(),
        "NAME        N  NOTE\n\
         a           1\n\
         longer  12345  x\n\
         ------  -----  ----\n\
         total   12346\n"
    );
    for line in t.render().lines() {
        assert_eq!(line, line.trim_end());
    }
}

#[test]
fn table_pads_and_truncates_rows_and_counts_chars() {
    let mut t = Table::headless(&[Align::Left, Align::Right]);
    t.row(["only"]);
    t.row(["é", "1", "dropped"]);
    assert_eq!(t.render(), "only\né     1\n");
    assert!(!t.is_empty());
    assert!(Table::headless(&[Align::Left]).is_empty());
}

#[test]
fn table_cleans_cells() {
    let mut t = Table::headless(&[Align::Left]);
    t.row(["\u{1b}]0;pwned\u{7}evil\nline\u{202e}"]);
    let out = t.render();
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert_eq!(out, "\\u{1b}]0;pwned\\u{7}evil\\u{a}line\\u{202e}\n");
}

#[test]
fn sizes() {
    let cases = [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (4096, "4.0 KiB"),
        (10 * 1024 + 51, "10.0 KiB"),
        (10 * 1024 + 52, "10.1 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (1024 * 1024 - 52, "1023.9 KiB"),
        (1024 * 1024, "1.0 MiB"),
        (1_500_000, "1.4 MiB"),
        (3 * 1024 * 1024 * 1024, "3.0 GiB"),
        (u64::MAX, "16.0 EiB"),
    ];
    for (bytes, text) in cases {
        assert_eq!(format_size(bytes), text, "{bytes}");
    }
}

#[test]
fn durations_and_times() {
    assert_eq!(format_duration(0), "0s");
    assert_eq!(format_duration(59), "59s");
    assert_eq!(format_duration(183), "3m 03s");
    assert_eq!(format_duration(3600 * 2 + 300), "2h 05m");
    assert_eq!(format_duration(86_400 * 3 + 3600 * 4), "3d 04h");
    assert_eq!(format_time("2026-03-27T16:00:00+00:00"), "2026-03-27 16:00");
    assert_eq!(
        format_time("2026-03-27T16:57:46.123456+00:00"),
        "2026-03-27 16:57"
    );
    assert_eq!(format_time("2026-03-27T16:00:00Z"), "2026-03-27 16:00");
    // Not UTC, or not a timestamp: shown as sent.
    assert_eq!(
        format_time("2026-03-27T16:00:00+02:00"),
        "2026-03-27T16:00:00+02:00"
    );
    assert_eq!(format_time("yesterday"), "yesterday");
    assert_eq!(format_time("2026-03-27Té6:00"), "2026-03-27Té6:00");
}

#[test]
fn features_and_permissions() {
    assert_eq!(
        format_features(Some("[\"members:1\",\"fronts:1\"]")),
        "members:1, fronts:1"
    );
    assert_eq!(format_features(Some("[]")), "-");
    assert_eq!(format_features(None), "-");
    assert_eq!(format_features(Some("oops")), "oops");
    assert_eq!(
        format_permissions(Some(
            "{\"share_members\":true,\"share_front_status\":true,\"share_vault\":false}"
        )),
        "front_status, members"
    );
    assert_eq!(format_permissions(Some("{\"share_vault\":false}")), "none");
    assert_eq!(format_permissions(Some("[1]")), "[1]");
}

fn user(id: &str, kind: &str, bytes: u64) -> User {
    User {
        id: id.to_owned(),
        handle: None,
        client_type: kind.to_owned(),
        protocol_version: 1,
        storage_used_bytes: bytes,
        created_at: "2026-03-27T16:00:00+00:00".to_owned(),
        feature_set: Some("[\"members:1\"]".to_owned()),
        protocol: None,
    }
}

#[test]
fn renders_lists_with_totals() {
    let list = UserList {
        users: vec![user("a", "system", 2048), user("b", "friend", 0)],
        total: None,
        next_offset: None,
    };
    let out = users(&list);
    assert!(
        out.starts_with("ID  HANDLE  TYPE    PROTO  STORAGE  CREATED (UTC)     FEATURES\n"),
        "{out}"
    );
    assert!(
        out.contains("a   -       system      1  2.0 KiB  2026-03-27 16:00  members:1\n"),
        "{out}"
    );
    assert!(
        out.ends_with("\n2 users (1 system, 1 friend), 2.0 KiB stored\n"),
        "{out}"
    );
    assert_eq!(
        users(&UserList {
            users: vec![],
            total: None,
            next_offset: None
        }),
        "no users\n"
    );

    let vols = VolumeList {
        volumes: vec![
            Volume {
                user_id: "a".into(),
                volume_name: "members".into(),
                version: 3,
                size_bytes: 4096,
                updated_at: "2026-03-27T16:00:00+00:00".into(),
                protocol: None,
                epoch: None,
            },
            Volume {
                user_id: "a".into(),
                volume_name: "vault".into(),
                version: 12,
                size_bytes: 8192,
                updated_at: "2026-03-27T17:00:00+00:00".into(),
                protocol: None,
                epoch: None,
            },
        ],
        total: None,
        next_offset: None,
    };
    let out = volumes(&vols);
    assert!(
        out.ends_with("\n2 volumes                    12.0 KiB\n"),
        "{out}"
    );

    let shares = ShareList {
        sharing: vec![Share {
            id: "s".into(),
            system_user_id: "a".into(),
            friend_user_id: "b".into(),
            status: "pending".into(),
            permissions: Some("{}".into()),
            created_at: "2026-03-27T16:00:00+00:00".into(),
            updated_at: None,
            protocol: None,
            expires_at: None,
        }],
        total: None,
        next_offset: None,
    };
    assert!(sharing(&shares).ends_with("\n1 relationship (0 active, 1 pending)\n"));

    let s = Stats {
        system_users: 1,
        friend_users: 1,
        total_volumes: 2,
        total_storage_bytes: 12_288,
        recent_registrations_30d: 2,
        active_shares: 0,
        pending_shares: 1,
        volume_breakdown: vec![
            VolumeBreakdown {
                volume_name: "members".into(),
                count: 1,
                total_bytes: 4096,
            },
            VolumeBreakdown {
                volume_name: "vault".into(),
                count: 1,
                total_bytes: 8192,
            },
        ],
        by_protocol: None,
    };
    let out = stats(&s);
    assert!(
        out.starts_with("users          2 (1 system, 1 friend)\n"),
        "{out}"
    );
    assert!(out.ends_with("total        2  12.0 KiB\n"), "{out}");
}

#[test]
fn one_liners() {
    assert_eq!(
        expired(&ExpiredSessions {
            sessions_expired: Some(1)
        }),
        "expired 1 session; every client logs in again on its next sync\n"
    );
    let m = maintenance(&MaintenanceReport {
        expired_challenges: Some(1),
        expired_sessions: Some(0),
        expired_invites: None,
        orphan_blobs: Some(2),
        orphan_bytes: Some(8192),
        user_directories: None,
    });
    assert!(m.contains("expired invites     -\n"), "{m}");
    assert!(m.contains("orphan blobs        2 (8.0 KiB)\n"), "{m}");
}

fn v2_volume(user: &str, name: &str, protocol: u8, bytes: u64) -> Volume {
    Volume {
        user_id: user.into(),
        volume_name: name.into(),
        version: 2,
        size_bytes: bytes,
        updated_at: "2026-03-27T16:00:00+00:00".into(),
        protocol: Some(protocol),
        epoch: (protocol == 2).then_some(1),
    }
}

#[test]
fn v2_rows_show_their_protocol_expiry_and_page() {
    let vols = VolumeList {
        volumes: vec![
            v2_volume("a", "members", 1, 4096),
            v2_volume("b", "org.example.notes", 2, 8192),
        ],
        total: Some(5),
        next_offset: Some(3),
    };
    let out = volumes(&vols);
    assert!(
        out.starts_with("USER       VOLUME             PROTO  VERSION      SIZE  UPDATED (UTC)\n"),
        "{out}"
    );
    assert!(
        out.contains("b          org.example.notes      2        2   8.0 KiB  2026-03-27 16:00\n"),
        "{out}"
    );
    assert!(
        out.ends_with("2 of 5 shown; next page: --offset 3\n"),
        "{out}"
    );
    // A complete list (no paging asked) has no page line.
    let all = VolumeList {
        total: Some(2),
        next_offset: None,
        ..vols.clone()
    };
    assert!(volumes(&all).ends_with("12.0 KiB\n"), "{}", volumes(&all));
    let last = VolumeList {
        total: Some(4),
        next_offset: None,
        ..vols
    };
    assert!(volumes(&last).ends_with("2 of 4 shown (last page)\n"));

    let mut v2_user = user("c", "system", 8192);
    v2_user.protocol = Some(2);
    v2_user.protocol_version = 2;
    let detail = UserDetail {
        user: v2_user.clone(),
        volumes: vec![v2_volume("c", "org.example.notes", 2, 8192)],
    };
    let out = user_detail(&detail);
    assert!(out.contains("protocol version  2\n"), "{out}");
    assert!(
        out.contains("org.example.notes      2        2  8.0 KiB  2026-03-27 16:00\n"),
        "{out}"
    );
    let list = UserList {
        users: vec![user("a", "system", 4096), v2_user],
        total: Some(2),
        next_offset: None,
    };
    assert!(
        users(&list).contains("c   -       system      2  8.0 KiB"),
        "{}",
        users(&list)
    );

    let shares = ShareList {
        sharing: vec![
            Share {
                id: "p".into(),
                system_user_id: "c".into(),
                friend_user_id: "d".into(),
                status: "active".into(),
                permissions: Some("{\"meta\":true,\"org.example.notes\":true}".into()),
                created_at: "2026-03-27T16:00:00+00:00".into(),
                updated_at: None,
                protocol: Some(2),
                expires_at: Some("2026-04-01T12:00:00+00:00".into()),
            },
            Share {
                id: "q".into(),
                system_user_id: "c".into(),
                friend_user_id: "e".into(),
                status: "expired".into(),
                permissions: Some("{\"meta\":true}".into()),
                created_at: "2026-03-27T16:00:00+00:00".into(),
                updated_at: None,
                protocol: Some(2),
                expires_at: Some("2026-03-28T12:00:00+00:00".into()),
            },
        ],
        total: None,
        next_offset: None,
    };
    let out = sharing(&shares);
    assert!(
        out.starts_with(
            "ID  SYSTEM  FRIEND  PROTO  STATUS   PERMISSIONS              CREATED (UTC)     EXPIRES (UTC)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "p   c       d           2  active   meta, org.example.notes  2026-03-27 16:00  2026-04-01 12:00\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("\n2 relationships (1 active, 0 pending, 1 expired)\n"),
        "{out}"
    );

    let s = Stats {
        system_users: 1,
        friend_users: 0,
        total_volumes: 2,
        total_storage_bytes: 12_288,
        recent_registrations_30d: 1,
        active_shares: 1,
        pending_shares: 0,
        volume_breakdown: vec![],
        by_protocol: Some(vec![
            crate::model::ProtocolBreakdown {
                protocol: 1,
                users: 0,
                volumes: 1,
                storage_bytes: 4096,
            },
            crate::model::ProtocolBreakdown {
                protocol: 2,
                users: 1,
                volumes: 1,
                storage_bytes: 8192,
            },
        ]),
    };
    let out = stats(&s);
    assert!(
        out.contains("PROTO  USERS  VOLUMES     SIZE\n    1      0        1  4.0 KiB\n    2      1        1  8.0 KiB\n"),
        "{out}"
    );
}
