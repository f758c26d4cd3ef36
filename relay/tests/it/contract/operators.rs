//! [`Operators`]: the dashboard's totals, the `/metrics` gauges, the admin lists (filters,
//! order, pages, totals), expiry, and the blob names the orphan sweep keeps. Every figure is
//! asserted exactly: the same seeded data gives the same numbers on every adapter.
//!
//! Seeded through [`Users`] only: the figures about sessions, challenges, invites, volumes and
//! relationships are asserted at zero here; they need the traits that store those.

use coffer_relay::storage::operators::{Filter, Operators, Page, Stats};
use coffer_relay::storage::users::{ClientType, User, Users};
use coffer_relay::store::admin_view::Storage;

use super::harness::{account, seed_user};
use super::on_every_adapter;

const DAY: i64 = 86_400;
/// The clock of these tests: a whole hour.
const NOW: i64 = 1_700_006_400;

/// A v1 account registered at `created_at`.
fn registered(id: &str, t: ClientType, created_at: i64) -> User {
    User {
        created_at,
        ..account(id, Some(id), t)
    }
}

/// A v2 account (a key-binding proof) registered at `created_at`.
fn registered_v2(id: &str, t: ClientType, created_at: i64) -> User {
    User {
        key_binding_signature: Some([9; 64]),
        protocol_version: 2,
        feature_set: "[]".into(),
        ..registered(id, t, created_at)
    }
}

/// Five accounts: systems `s1` (v1, old) and `s2` (v2), friends `f1` (v1, exactly 30 days
/// old), `f2` (v2, just over 30 days old) and `f3` (v1, today).
async fn seed_five<S: Users>(s: &S) {
    for user in [
        registered("s1", ClientType::System, NOW - 400 * DAY),
        registered_v2("s2", ClientType::System, NOW - DAY),
        registered("f1", ClientType::Friend, NOW - 30 * DAY),
        registered_v2("f2", ClientType::Friend, NOW - 30 * DAY - 3600),
        registered("f3", ClientType::Friend, NOW),
    ] {
        seed_user(s, user).await;
    }
}

fn totals(s: &Stats) -> (u64, u64, u64, u64, u64, u64, u64, (u64, u64)) {
    (
        s.system_users,
        s.friend_users,
        s.total_volumes,
        s.total_storage_bytes,
        s.recent_registrations_30d,
        s.active_shares,
        s.pending_shares,
        s.users_by_protocol,
    )
}

/// The dashboard counts accounts by type and protocol, and registrations of the last 30 days
/// (the boundary included); the gauges agree; a deleted account leaves every figure.
async fn stats_count_accounts<S: Users + Operators>(s: &S) {
    let empty = s.stats(NOW).await.unwrap();
    assert_eq!(totals(&empty), (0, 0, 0, 0, 0, 0, 0, (0, 0)));
    seed_five(s).await;
    let stats = s.stats(NOW).await.unwrap();
    assert_eq!(totals(&stats), (2, 3, 0, 0, 3, 0, 0, (3, 2)));
    assert!(stats.volume_breakdown.is_empty());
    assert_eq!(stats.storage, Storage::default());
    // An hour later `f1` is over 30 days old.
    let later = s.stats(NOW + 3600).await.unwrap();
    assert_eq!(later.recent_registrations_30d, 2);

    let g = s.gauges(NOW).await.unwrap();
    assert_eq!(
        (
            g.system_users,
            g.friend_users,
            g.storage_bytes,
            g.volumes_v1,
            g.volumes_v2,
            g.active_sessions,
            g.pending_challenges
        ),
        (2, 3, 0, 0, 0, 0, 0)
    );
    let sessions = s.session_stats(NOW).await.unwrap();
    assert_eq!(
        (
            sessions.active_sessions,
            sessions.pending_challenges,
            sessions.active_invites,
            sessions.redeemed_invites
        ),
        (0, 0, 0, 0)
    );

    assert!(s.delete_user("s2".into()).await.unwrap());
    let after = s.stats(NOW).await.unwrap();
    assert_eq!(totals(&after), (1, 3, 0, 0, 2, 0, 0, (3, 1)));
    let g = s.gauges(NOW).await.unwrap();
    assert_eq!((g.system_users, g.friend_users), (1, 3));
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|r| id(r).to_owned()).collect()
}

/// The admin user list: oldest first, ties by id in byte order (as SQLite's `BINARY`, whatever
/// the database's locale); filters by protocol, type and id; pages are disjoint, cover the
/// list, and carry the total of every match.
async fn admin_users_filter_order_and_page<S: Users + Operators>(s: &S) {
    seed_five(s).await;
    // Same hour as `s2`: ordered by id bytes, upper case before lower case.
    seed_user(s, registered("Zed", ClientType::Friend, NOW - DAY)).await;
    seed_user(s, registered("a0", ClientType::Friend, NOW - DAY)).await;
    let all = s
        .admin_users(Filter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 7);
    assert_eq!(
        ids(&all.rows, |u| &u.id),
        ["s1", "f2", "f1", "Zed", "a0", "s2", "f3"]
    );
    let s2 = &all.rows[5];
    assert_eq!(
        (
            s2.handle.as_deref(),
            s2.client_type,
            s2.protocol,
            s2.protocol_version,
            s2.feature_set.as_str(),
            s2.storage_bytes,
            s2.created_at
        ),
        (Some("s2"), ClientType::System, 2, 2, "[]", 0, NOW - DAY)
    );
    let s1 = &all.rows[0];
    assert_eq!(
        (s1.protocol, s1.protocol_version, s1.feature_set.as_str()),
        (1, 1, "v1")
    );

    let filtered = |protocol, client_type, user_id: Option<&str>| Filter {
        protocol,
        client_type,
        user_id: user_id.map(str::to_owned),
        ..Filter::default()
    };
    for (filter, want) in [
        (filtered(Some(2), None, None), vec!["f2", "s2"]),
        (
            filtered(Some(1), None, None),
            vec!["s1", "f1", "Zed", "a0", "f3"],
        ),
        (
            filtered(None, Some(ClientType::System), None),
            vec!["s1", "s2"],
        ),
        (
            filtered(Some(1), Some(ClientType::Friend), None),
            vec!["f1", "Zed", "a0", "f3"],
        ),
        (filtered(None, None, Some("f3")), vec!["f3"]),
        (filtered(Some(2), None, Some("f3")), vec![]),
        (filtered(None, None, Some("nobody")), vec![]),
    ] {
        let listed = s
            .admin_users(filter.clone(), Page::default())
            .await
            .unwrap();
        assert_eq!(ids(&listed.rows, |u| &u.id), want, "{filter:?}");
        assert_eq!(listed.total, want.len() as u64, "{filter:?}");
    }

    let page = |limit, offset| Page {
        limit: Some(limit),
        offset,
    };
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let p = s
            .admin_users(Filter::default(), page(3, offset))
            .await
            .unwrap();
        assert_eq!(p.total, 7);
        seen.extend(ids(&p.rows, |u| &u.id));
    }
    assert_eq!(seen, ids(&all.rows, |u| &u.id));
    let past_end = s.admin_users(Filter::default(), page(3, 7)).await.unwrap();
    assert_eq!((past_end.rows.len(), past_end.total), (0, 7));
    let none = s.admin_users(Filter::default(), page(0, 0)).await.unwrap();
    assert_eq!((none.rows.len(), none.total), (0, 7));
    let skipped = s
        .admin_users(
            Filter::default(),
            Page {
                limit: None,
                offset: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&skipped.rows, |u| &u.id), ["s2", "f3"]);
}

/// One user with their volumes, or `None`; what the view shows of an account carries no key
/// and no key-binding proof (docs/metadata-inventory.md: *Admin* sees whether it is set).
async fn admin_user_shows_no_keys<S: Users + Operators>(s: &S) {
    assert!(s.admin_user("nobody".into()).await.unwrap().is_none());
    let user = registered_v2("v2", ClientType::System, NOW);
    let secrets = [
        format!("{:?}", user.public_signing_key),
        format!("{:?}", user.public_exchange_key),
        format!("{:?}", user.key_binding_signature.unwrap()),
    ];
    seed_user(s, user).await;
    let (shown, volumes) = s.admin_user("v2".into()).await.unwrap().unwrap();
    assert_eq!(
        (shown.id.as_str(), shown.protocol, shown.client_type),
        ("v2", 2, ClientType::System)
    );
    assert!(volumes.is_empty());
    let listed = s
        .admin_users(Filter::default(), Page::default())
        .await
        .unwrap();
    for text in [format!("{shown:?}"), format!("{:?}", listed.rows)] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a key in the admin view");
        }
    }
    assert!(s.delete_user("v2".into()).await.unwrap());
    assert!(s.admin_user("v2".into()).await.unwrap().is_none());
}

/// With accounts but nothing else stored: the volume and sharing lists are empty with a zero
/// total under any filter; expiry removes nothing (accounts are never expired) and answers
/// zeros; no account references a blob, and an unknown one is absent from the answer.
async fn nothing_stored_nothing_listed_or_expired<S: Users + Operators>(s: &S) {
    seed_five(s).await;
    let volumes = s
        .admin_volumes(Filter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!((volumes.rows.len(), volumes.total), (0, 0));
    let of_s1 = Filter {
        user_id: Some("s1".into()),
        protocol: Some(1),
        ..Filter::default()
    };
    let volumes = s
        .admin_volumes(of_s1.clone(), Page::default())
        .await
        .unwrap();
    assert_eq!((volumes.rows.len(), volumes.total), (0, 0));
    let shares = s
        .admin_sharing(Filter::default(), Page::default(), NOW)
        .await
        .unwrap();
    assert_eq!((shares.rows.len(), shares.total), (0, 0));
    let shares = s.admin_sharing(of_s1, Page::default(), NOW).await.unwrap();
    assert_eq!((shares.rows.len(), shares.total), (0, 0));

    assert_eq!(s.expire_all_sessions().await.unwrap(), 0);
    let report = s.expire(NOW + 400 * DAY).await.unwrap();
    assert_eq!(
        (
            report.expired_challenges,
            report.expired_sessions,
            report.expired_invites,
            report.orphan_blobs,
            report.orphan_bytes
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(s.stats(NOW).await.unwrap().friend_users, 3);
    let blobs = s
        .referenced_blobs(vec!["s1".into(), "f2".into(), "nobody".into()])
        .await
        .unwrap();
    assert!(blobs.is_empty(), "{blobs:?}");
    assert!(s.referenced_blobs(Vec::new()).await.unwrap().is_empty());
}

on_every_adapter!(
    stats_count_accounts,
    admin_users_filter_order_and_page,
    admin_user_shows_no_keys,
    nothing_stored_nothing_listed_or_expired,
);

/// The figures about what other traits store: sessions, challenges, invites, volumes and
/// relationships, seeded through [`Sessions`](coffer_relay::storage::sessions::Sessions),
/// [`Invites`](coffer_relay::storage::invites::Invites), [`Volumes`](coffer_relay::storage::volumes::Volumes),
/// [`Pairings`](coffer_relay::storage::pairings::Pairings),
/// [`Grants`](coffer_relay::storage::grants::Grants) and
/// [`Sharing`](coffer_relay::storage::sharing::Sharing).
mod seeded {
    use coffer_relay::storage::Refusal;
    use coffer_relay::storage::grants::{GrantParties, Grants, WrappedKeys};
    use coffer_relay::storage::invites::Invites;
    use coffer_relay::storage::operators::{Filter, Operators, Page};
    use coffer_relay::storage::own_sessions::OwnSessions;
    use coffer_relay::storage::pairings::{Pairings, Redemption};
    use coffer_relay::storage::sessions::{Lookup, NewSession, Protocol, Sessions};
    use coffer_relay::storage::sharing::{Response, Sharing};
    use coffer_relay::storage::users::{ClientType, User, Users};
    use coffer_relay::storage::volumes::{NewPayload, Stored, Volumes};
    use coffer_relay::store::admin_view::Storage;
    use coffer_relay::store::grants::StoredGrant;
    use coffer_relay::store::volumes::VolumeRow;
    use coffer_relay::store::volumes::v2::VolumeV2;

    use super::super::harness::seed_user;
    use super::{DAY, NOW, ids, registered, registered_v2};

    async fn open<S: Sessions>(s: &S, token: u8, user: &str, expires_at: i64) {
        let session = NewSession {
            session_id: format!("session-{token}"),
            device_label: None,
            protocol: Protocol::V2,
            now: NOW - 3600,
        };
        let opened = s
            .open_session([token; 32], user.into(), expires_at, session)
            .await
            .unwrap();
        assert!(opened);
    }

    /// Live sessions are unexpired and unrevoked, pending challenges unexpired, active invites
    /// unredeemed and unexpired; expiry deletes what expired at `now` (the boundary included)
    /// once, never a redeemed invite, and answers the counts; ending every session ends them.
    pub(super) async fn session_challenge_and_invite_figures<
        S: Users + Sessions + OwnSessions + Invites + Pairings + Operators,
    >(
        s: &S,
    ) {
        seed_user(s, registered_v2("sys", ClientType::System, NOW)).await;
        seed_user(s, registered("fa", ClientType::Friend, NOW)).await;
        seed_user(s, registered("fb", ClientType::Friend, NOW)).await;
        open(s, 1, "sys", NOW + 3600).await;
        open(s, 2, "fa", NOW + 1).await;
        open(s, 3, "fa", NOW).await;
        open(s, 4, "fb", NOW + 60).await;
        assert!(
            s.revoke_own_session("fa".into(), "session-2".into())
                .await
                .unwrap()
        );
        for (user, nonce, expires_at) in [("sys", "n1", NOW + 60), ("fa", "n2", NOW)] {
            let issued = s
                .issue_challenge(user.into(), nonce.into(), expires_at, 10, NOW - 60)
                .await
                .unwrap();
            assert!(issued);
        }
        for (code, expires_at) in [
            ("OPEN", NOW + DAY),
            ("LAPSED", NOW),
            ("TAKEN-A", NOW + DAY),
            ("TAKEN-B", NOW + 60),
        ] {
            let created = s
                .create_invite(code.into(), "sys".into(), NOW - 3600, expires_at, 10, 2)
                .await
                .unwrap();
            assert!(created);
        }
        for (code, friend) in [("TAKEN-A", "fa"), ("TAKEN-B", "fb")] {
            let redeemed = s
                .redeem_invite(Redemption {
                    code: code.into(),
                    pairing_id: format!("p-{friend}"),
                    friend: friend.into(),
                    friend_type: ClientType::Friend,
                    proof: [7; 32],
                    now: NOW - 60,
                })
                .await
                .unwrap();
            assert_eq!(redeemed, Ok("sys".to_owned()));
        }

        let figures = |st: coffer_relay::storage::operators::SessionStats| {
            (
                st.active_sessions,
                st.pending_challenges,
                st.active_invites,
                st.redeemed_invites,
            )
        };
        assert_eq!(figures(s.session_stats(NOW).await.unwrap()), (2, 1, 1, 2));
        assert_eq!(
            figures(s.session_stats(NOW - 1).await.unwrap()),
            (3, 2, 2, 2)
        );
        let g = s.gauges(NOW).await.unwrap();
        assert_eq!((g.active_sessions, g.pending_challenges), (2, 1));

        let report = |r: coffer_relay::storage::operators::MaintenanceReport| {
            (r.expired_challenges, r.expired_sessions, r.expired_invites)
        };
        assert_eq!(report(s.expire(NOW).await.unwrap()), (1, 1, 1));
        assert_eq!(report(s.expire(NOW).await.unwrap()), (0, 0, 0));
        assert_eq!(figures(s.session_stats(NOW).await.unwrap()), (2, 1, 1, 2));
        // A day on: the rest has expired (the revoked session too); redeemed invites stay.
        assert_eq!(report(s.expire(NOW + DAY).await.unwrap()), (1, 3, 1));
        assert_eq!(
            figures(s.session_stats(NOW + DAY).await.unwrap()),
            (0, 0, 0, 2)
        );
        assert!(matches!(
            s.session([1; 32], NOW).await.unwrap(),
            Lookup::Unknown
        ));

        open(s, 5, "sys", NOW + DAY).await;
        open(s, 6, "fb", NOW + DAY).await;
        assert_eq!(s.expire_all_sessions().await.unwrap(), 2);
        assert_eq!(s.expire_all_sessions().await.unwrap(), 0);
        assert_eq!(figures(s.session_stats(NOW).await.unwrap()).0, 0);
        assert!(matches!(
            s.session([5; 32], NOW).await.unwrap(),
            Lookup::Unknown
        ));
        // Accounts are not expired.
        assert!(s.user("fb".into()).await.unwrap().is_some());
    }

    fn v1(owner: &str, name: &str, version: u64, size_bytes: u64) -> (VolumeRow, NewPayload) {
        let blob = format!("{owner}/{name}-{version}");
        let row = VolumeRow {
            user_id: owner.into(),
            volume_name: name.into(),
            version,
            control_header: "{}".into(),
            blob_file: blob.clone(),
            signature: [0; 64],
            size_bytes,
            updated_at: NOW - 3600 * i64::try_from(version).unwrap(),
        };
        (row, NewPayload::Blob(blob))
    }

    fn v2(owner: &str, name: &str, epoch: u32, size_bytes: u64) -> (VolumeV2, NewPayload) {
        let blob = format!("{owner}/v2/{name}");
        let row = VolumeV2 {
            user_id: owner.into(),
            volume_name: name.into(),
            epoch,
            version: 7,
            header: vec![1, 2, 3],
            signature: [0; 64],
            blob_file: blob.clone(),
            size_bytes,
            updated_at: NOW,
        };
        (row, NewPayload::Blob(blob))
    }

    /// The storage figure is the current versions of v1 and v2 volumes alike, the same in the
    /// totals, the gauges, the per-name breakdown, each user's bytes and the volume list; the
    /// list is by owner, name and protocol; the blob names are each owner's current ones.
    pub(super) async fn volume_figures_views_and_blob_names<S: Users + Volumes + Operators>(s: &S) {
        seed_user(s, registered("s1", ClientType::System, NOW - 2 * DAY)).await;
        seed_user(s, registered_v2("S2", ClientType::System, NOW - DAY)).await;
        seed_user(s, registered("f1", ClientType::Friend, NOW)).await;
        for (owner, name, version, size) in [
            ("s1", "meta", 1, 4124),
            ("s1", "journal", 1, 8220),
            ("s1", "meta", 2, 4124),
            ("S2", "meta", 1, 100),
        ] {
            let (row, payload) = v1(owner, name, version, size);
            let stored = s.put_v1_volume(row, payload, u64::MAX).await.unwrap();
            let replaced = (version == 2).then(|| format!("{owner}/{name}-1"));
            assert_eq!(
                stored,
                Ok(Stored {
                    replaced_blob: replaced
                })
            );
        }
        for (name, epoch, size) in [("meta", 3, 1052), ("org.example.notes", 1, 2076)] {
            let (row, payload) = v2("S2", name, epoch, size);
            let stored = s.put_v2_volume(row, payload, u64::MAX).await.unwrap();
            assert_eq!(stored, Ok(Stored::default()));
        }

        let stats = s.stats(NOW).await.unwrap();
        let storage = Storage {
            volumes_v1: 3,
            volumes_v2: 2,
            bytes_v1: 12_444,
            bytes_v2: 3128,
            bytes: 15_572,
        };
        assert_eq!(stats.storage, storage);
        assert_eq!(
            (stats.total_volumes, stats.total_storage_bytes),
            (5, 15_572)
        );
        let breakdown: Vec<(&str, u64, u64)> = stats
            .volume_breakdown
            .iter()
            .map(|b| (b.volume_name.as_str(), b.count, b.total_bytes))
            .collect();
        assert_eq!(
            breakdown,
            [
                ("journal", 1, 8220),
                ("meta", 3, 5276),
                ("org.example.notes", 1, 2076)
            ]
        );
        let g = s.gauges(NOW).await.unwrap();
        assert_eq!(
            (g.storage_bytes, g.volumes_v1, g.volumes_v2),
            (15_572, 3, 2)
        );

        let users = s
            .admin_users(Filter::default(), Page::default())
            .await
            .unwrap();
        let bytes: Vec<(&str, u64)> = users
            .rows
            .iter()
            .map(|u| (u.id.as_str(), u.storage_bytes))
            .collect();
        assert_eq!(bytes, [("s1", 12_344), ("S2", 3228), ("f1", 0)]);

        let all = s
            .admin_volumes(Filter::default(), Page::default())
            .await
            .unwrap();
        let rows = all
            .rows
            .iter()
            .map(|v| {
                (
                    v.user_id.as_str(),
                    v.volume_name.as_str(),
                    v.protocol,
                    v.version,
                    v.size_bytes,
                    v.updated_at,
                    v.epoch,
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(
            rows,
            [
                ("S2", "meta", 1, 1, 100, NOW - 3600, None),
                ("S2", "meta", 2, 7, 1052, NOW, Some(3)),
                ("S2", "org.example.notes", 2, 7, 2076, NOW, Some(1)),
                ("s1", "journal", 1, 1, 8220, NOW - 3600, None),
                ("s1", "meta", 1, 2, 4124, NOW - 7200, None),
            ]
        );
        assert_eq!(all.total, 5);
        let filter = |protocol, client_type, user_id: Option<&str>, name: Option<&str>| Filter {
            protocol,
            client_type,
            user_id: user_id.map(str::to_owned),
            volume_name: name.map(str::to_owned),
            ..Filter::default()
        };
        for (f, want) in [
            (filter(Some(2), None, None, None), 2),
            (filter(Some(1), None, None, Some("meta")), 2),
            (filter(None, None, None, Some("meta")), 3),
            (filter(None, Some(ClientType::Friend), None, None), 0),
            (filter(None, Some(ClientType::System), Some("s1"), None), 2),
            (filter(Some(2), None, Some("s1"), None), 0),
        ] {
            let listed = s.admin_volumes(f.clone(), Page::default()).await.unwrap();
            assert_eq!(
                (listed.total, listed.rows.len()),
                (want, want as usize),
                "{f:?}"
            );
        }
        let second = s
            .admin_volumes(
                Filter::default(),
                Page {
                    limit: Some(2),
                    offset: 2,
                },
            )
            .await
            .unwrap();
        assert_eq!(second.total, 5);
        assert_eq!(
            ids(&second.rows, |v| &v.volume_name),
            ["org.example.notes", "journal"]
        );

        let (user, volumes) = s.admin_user("s1".into()).await.unwrap().unwrap();
        assert_eq!(user.storage_bytes, 12_344);
        assert_eq!(ids(&volumes, |v| &v.volume_name), ["journal", "meta"]);
        let (_, none) = s.admin_user("f1".into()).await.unwrap().unwrap();
        assert!(none.is_empty());

        let blobs = s
            .referenced_blobs(vec!["s1".into(), "S2".into(), "f1".into(), "nobody".into()])
            .await
            .unwrap();
        let mut names: Vec<(String, Vec<String>)> = blobs
            .into_iter()
            .map(|(user, set)| {
                let mut set: Vec<String> = set.into_iter().collect();
                set.sort();
                (user, set)
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                (
                    "S2".to_owned(),
                    vec![
                        "S2/meta-1".to_owned(),
                        "S2/v2/meta".to_owned(),
                        "S2/v2/org.example.notes".to_owned()
                    ]
                ),
                (
                    "s1".to_owned(),
                    vec!["s1/journal-1".to_owned(), "s1/meta-2".to_owned()]
                ),
            ]
        );

        // A deleted account's volumes leave every figure.
        assert!(s.delete_user("S2".into()).await.unwrap());
        let after = s.stats(NOW).await.unwrap();
        assert_eq!(
            (
                after.storage.volumes_v1,
                after.storage.volumes_v2,
                after.storage.bytes
            ),
            (2, 0, 12_344)
        );
        let blobs = s.referenced_blobs(vec!["S2".into()]).await.unwrap();
        assert!(blobs.is_empty());
    }

    fn any_parties(_: &GrantParties<'_>) -> Result<(), Refusal> {
        Ok(())
    }

    fn any_target(_: &User) -> Result<(), Refusal> {
        Ok(())
    }

    fn grant(sequence: u64, expires_at: u64) -> StoredGrant {
        StoredGrant {
            sequence,
            expires_at,
            grant_bytes: vec![1],
            signature: [0; 64],
        }
    }

    /// Relationships, v1 and v2, as the operator sees them: a v2 pairing is pending until its
    /// grant, then active, expired once its grant's expiry is reached, revoked when the grant
    /// covers no volume; its permissions are the granted names; the share counts agree with
    /// the list; filters, order (creation, then id) and pages.
    pub(super) async fn relationship_statuses_and_counts<
        S: Users + Pairings + Grants + Sharing + Operators,
    >(
        s: &S,
    ) {
        seed_user(s, registered_v2("sys", ClientType::System, NOW)).await;
        seed_user(s, registered("old", ClientType::System, NOW)).await;
        for f in ["fa", "fb", "fc", "fd"] {
            seed_user(s, registered(f, ClientType::Friend, NOW)).await;
        }
        for (id, friend) in [("pa", "fa"), ("pb", "fb"), ("pc", "fc"), ("pd", "fd")] {
            let asked = s
                .request_replica_pairing(id.into(), "sys".into(), friend.into(), NOW)
                .await
                .unwrap();
            assert_eq!(asked, Ok((id.to_owned(), true)));
        }
        let notes: WrappedKeys = vec![("org.example.notes".into(), 3, [5; 60])];
        for (friend, g, keys) in [
            ("fa", grant(1, 0), notes.clone()),
            ("fb", grant(1, u64::try_from(NOW).unwrap() + 3600), notes),
            ("fc", grant(1, 0), Vec::new()),
        ] {
            let put = s
                .put_v2_grant(
                    "sys".into(),
                    friend.into(),
                    g,
                    keys,
                    NOW + 3600,
                    Box::new(any_parties),
                )
                .await
                .unwrap();
            assert_eq!(put, Ok(()));
        }
        let mut v1_permissions = Vec::new();
        for (id, friend) in [("r1", "fa"), ("r2", "fb")] {
            let asked = s
                .request_sharing(
                    id.into(),
                    "old".into(),
                    friend.into(),
                    NOW,
                    Box::new(any_target),
                )
                .await
                .unwrap()
                .unwrap();
            v1_permissions.push(asked.permissions);
        }
        let accepted = s
            .respond_sharing(
                "r2".into(),
                "old".into(),
                Response::Accept {
                    wrapped_vek: vec![4; 60],
                    permissions: "{\"share_members\":true}".into(),
                },
                NOW + 7200,
            )
            .await
            .unwrap();
        assert_eq!(accepted, Ok(()));

        let all = s
            .admin_sharing(Filter::default(), Page::default(), NOW)
            .await
            .unwrap();
        let rows = all
            .rows
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.friend_user_id.as_str(),
                    r.status.as_str(),
                    r.permissions.as_str(),
                    r.protocol,
                    r.expires_at,
                    r.updated_at,
                )
            })
            .collect::<Vec<_>>();
        let notes = "{\"org.example.notes\":true}";
        assert_eq!(
            rows,
            [
                ("pa", "fa", "active", notes, 2, None, NOW + 3600),
                ("pb", "fb", "active", notes, 2, Some(NOW + 3600), NOW + 3600),
                ("pc", "fc", "revoked", "{}", 2, None, NOW + 3600),
                ("pd", "fd", "pending", "{}", 2, None, NOW),
                (
                    "r1",
                    "fa",
                    "pending",
                    v1_permissions[0].as_str(),
                    1,
                    None,
                    NOW
                ),
                (
                    "r2",
                    "fb",
                    "active",
                    "{\"share_members\":true}",
                    1,
                    None,
                    NOW + 7200
                ),
            ]
        );
        assert_eq!(all.total, 6);
        assert!(all.rows.iter().all(|r| r.created_at == NOW));
        let stats = s.stats(NOW).await.unwrap();
        assert_eq!((stats.active_shares, stats.pending_shares), (3, 2));
        // At the grant's expiry `pb` is expired: neither active nor pending.
        let later = s.stats(NOW + 3600).await.unwrap();
        assert_eq!((later.active_shares, later.pending_shares), (2, 2));

        let filter = |protocol, status: Option<&str>, user: Option<&str>| Filter {
            protocol,
            status: status.map(str::to_owned),
            user_id: user.map(str::to_owned),
            ..Filter::default()
        };
        for (f, at, want) in [
            (
                filter(Some(2), None, None),
                NOW,
                vec!["pa", "pb", "pc", "pd"],
            ),
            (filter(None, Some("pending"), None), NOW, vec!["pd", "r1"]),
            (filter(None, None, Some("fa")), NOW, vec!["pa", "r1"]),
            (filter(None, None, Some("old")), NOW, vec!["r1", "r2"]),
            (filter(None, Some("expired"), None), NOW, vec![]),
            (
                filter(None, Some("expired"), Some("fb")),
                NOW + 3600,
                vec!["pb"],
            ),
            (filter(Some(1), Some("revoked"), None), NOW, vec![]),
        ] {
            let listed = s
                .admin_sharing(f.clone(), Page::default(), at)
                .await
                .unwrap();
            assert_eq!(ids(&listed.rows, |r| &r.id), want, "{f:?}");
            assert_eq!(listed.total, want.len() as u64, "{f:?}");
        }
        let page = s
            .admin_sharing(
                Filter::default(),
                Page {
                    limit: Some(4),
                    offset: 3,
                },
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(ids(&page.rows, |r| &r.id), ["pd", "r1", "r2"]);
        assert_eq!(page.total, 6);

        // Deleting a party ends its relationships in every figure.
        assert!(s.delete_user("fa".into()).await.unwrap());
        let stats = s.stats(NOW).await.unwrap();
        assert_eq!((stats.active_shares, stats.pending_shares), (2, 1));
    }

    /// Expiry runs concurrently (at start-up, periodically, on demand, on every instance):
    /// each expired row is deleted, and counted, by exactly one run; so is each session ended
    /// by concurrent [`Operators::expire_all_sessions`].
    async fn concurrent_runs_count_each_row_once<S: Users + Sessions + Operators + Sync>(s: &S) {
        seed_user(s, registered("u", ClientType::Friend, NOW)).await;
        for token in 1..=12 {
            open(s, token, "u", NOW - 60).await;
        }
        open(s, 13, "u", NOW + DAY).await;
        let runs = futures_util::future::join_all((0..4).map(|_| s.expire(NOW))).await;
        let expired: u64 = runs.into_iter().map(|r| r.unwrap().expired_sessions).sum();
        assert_eq!(expired, 12);
        for token in 14..=20 {
            open(s, token, "u", NOW + DAY).await;
        }
        let ended = futures_util::future::join_all((0..4).map(|_| s.expire_all_sessions())).await;
        let ended: u64 = ended.into_iter().map(Result::unwrap).sum();
        assert_eq!(ended, 8);
        assert_eq!(s.session_stats(NOW).await.unwrap().active_sessions, 0);
    }

    super::on_every_adapter!(
        concurrent_runs_count_each_row_once,
        session_challenge_and_invite_figures,
        volume_figures_views_and_blob_names,
        relationship_statuses_and_counts,
    );
}
