//! [`OwnSessions`]: a user's live sessions, listed oldest first; revoking one (only one's
//! own) or all but the current one, each session ended once.

use coffer_relay::storage::own_sessions::OwnSessions;
use coffer_relay::storage::sessions::{Lookup, NewSession, Protocol, Sessions};
use coffer_relay::storage::users::{ClientType, Users};
use futures_util::future::join_all;

use super::harness::{account, seed_user, warm};
use super::on_every_adapter;

const HOUR: i64 = 3600;
const T0: i64 = 1_700_002_800; // a whole hour

/// Opens a session of `user` with token digest `[token; 32]` and public id `id`, at `now`,
/// valid until `expires_at`.
async fn open<S: Sessions>(
    s: &S,
    token: u8,
    user: &str,
    id: &str,
    label: Option<&str>,
    now: i64,
    expires_at: i64,
) {
    let session = NewSession {
        session_id: id.to_owned(),
        device_label: label.map(str::to_owned),
        protocol: if label.is_some() {
            Protocol::V2
        } else {
            Protocol::V1
        },
        now,
    };
    assert!(
        s.open_session([token; 32], user.to_owned(), expires_at, session)
            .await
            .unwrap()
    );
}

async fn listed<S: OwnSessions>(s: &S, user: &str, now: i64, limit: usize) -> Vec<String> {
    s.own_sessions(user.into(), now, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.session_id)
        .collect()
}

/// The list: the user's sessions live at `now`, not revoked, oldest hour first and by id
/// (bytewise) within an hour, at most `limit`, with their label, protocol and hours.
async fn own_sessions_are_listed_oldest_first<S: OwnSessions + Sessions + Users>(s: &S) {
    seed_user(s, account("a", None, ClientType::System)).await;
    seed_user(s, account("b", None, ClientType::System)).await;
    let far = T0 + 1000 * HOUR;
    open(s, 1, "a", "s-late", Some("Pixel"), T0 + 2 * HOUR + 5, far).await;
    open(s, 2, "a", "s-b", None, T0 + 10, far).await;
    open(s, 3, "a", "S-z", Some("Laptop"), T0 + 20, far).await; // 'S' < 's' bytewise
    open(s, 4, "a", "s-a", None, T0 + 30, far).await;
    open(s, 5, "a", "s-short", None, T0, T0 + HOUR).await;
    open(s, 6, "b", "s-other", None, T0, far).await;

    assert_eq!(
        listed(s, "a", T0, 100).await,
        ["S-z", "s-a", "s-b", "s-short", "s-late"]
    );
    assert_eq!(listed(s, "a", T0, 2).await, ["S-z", "s-a"]);
    assert_eq!(listed(s, "a", T0, 0).await, Vec::<String>::new());
    // Live means expiring after `now`.
    assert_eq!(
        listed(s, "a", T0 + HOUR, 100).await,
        ["S-z", "s-a", "s-b", "s-late"]
    );
    assert_eq!(listed(s, "b", T0, 100).await, ["s-other"]);
    assert!(listed(s, "nobody", T0, 100).await.is_empty());

    let all = s.own_sessions("a".into(), T0, 100).await.unwrap();
    let laptop = &all[0];
    assert_eq!(laptop.device_label.as_deref(), Some("Laptop"));
    assert_eq!(laptop.protocol, Protocol::V2);
    assert_eq!((laptop.created_at, laptop.last_used_at), (T0, T0));
    let late = &all[4];
    assert_eq!(late.protocol, Protocol::V2);
    assert_eq!(late.created_at, T0 + 2 * HOUR);
    assert_eq!(all[1].device_label, None);
    assert_eq!(all[1].protocol, Protocol::V1);
    // A touch moves the last use, not the order.
    s.touch_session([3; 32], T0 + 5 * HOUR).await.unwrap();
    let all = s.own_sessions("a".into(), T0, 100).await.unwrap();
    assert_eq!(
        (all[0].session_id.as_str(), all[0].last_used_at),
        ("S-z", T0 + 5 * HOUR)
    );
}

/// Revoking one session: once (`true`, then `false`), only the user's own (another's id
/// answers `false` and is not touched); a revoked session is no longer listed and its token
/// is refused as revoked.
async fn a_session_is_revoked_once_and_only_by_its_user<S: OwnSessions + Sessions + Users>(s: &S) {
    seed_user(s, account("a", None, ClientType::System)).await;
    seed_user(s, account("b", None, ClientType::System)).await;
    let far = T0 + 1000 * HOUR;
    open(s, 1, "a", "s1", None, T0, far).await;
    open(s, 2, "a", "s2", None, T0, far).await;
    open(s, 3, "b", "s3", None, T0, far).await;

    assert!(!s.revoke_own_session("a".into(), "s3".into()).await.unwrap());
    assert!(
        !s.revoke_own_session("a".into(), "nope".into())
            .await
            .unwrap()
    );
    assert_eq!(listed(s, "b", T0, 100).await, ["s3"]);
    assert!(matches!(
        s.session([3; 32], T0).await.unwrap(),
        Lookup::Valid(_)
    ));

    assert!(s.revoke_own_session("a".into(), "s2".into()).await.unwrap());
    assert!(!s.revoke_own_session("a".into(), "s2".into()).await.unwrap());
    assert_eq!(listed(s, "a", T0, 100).await, ["s1"]);
    assert!(matches!(
        s.session([2; 32], T0).await.unwrap(),
        Lookup::Revoked
    ));
    assert!(matches!(
        s.session([1; 32], T0).await.unwrap(),
        Lookup::Valid(_)
    ));
}

/// Revoking all but the current session: answers how many were ended (every unrevoked session
/// of the user but `keep`, expired ones included), keeps `keep` and other users' sessions.
async fn other_sessions_are_revoked_and_counted<S: OwnSessions + Sessions + Users>(s: &S) {
    seed_user(s, account("a", None, ClientType::System)).await;
    seed_user(s, account("b", None, ClientType::System)).await;
    let far = T0 + 1000 * HOUR;
    open(s, 1, "a", "keep", None, T0, far).await;
    open(s, 2, "a", "s2", None, T0, far).await;
    open(s, 3, "a", "s3", None, T0, far).await;
    open(s, 4, "a", "old", None, T0, T0 + HOUR).await;
    open(s, 5, "b", "s5", None, T0, far).await;
    assert!(s.revoke_own_session("a".into(), "s3".into()).await.unwrap());

    // s2 and the expired one; s3 was revoked already.
    assert_eq!(
        s.revoke_other_sessions("a".into(), "keep".into())
            .await
            .unwrap(),
        2
    );
    assert_eq!(listed(s, "a", T0, 100).await, ["keep"]);
    assert!(matches!(
        s.session([4; 32], T0).await.unwrap(),
        Lookup::Revoked
    ));
    assert_eq!(
        s.revoke_other_sessions("a".into(), "keep".into())
            .await
            .unwrap(),
        0
    );
    assert_eq!(listed(s, "b", T0, 100).await, ["s5"]);
    // Keeping an id the user does not have ends them all.
    assert_eq!(
        s.revoke_other_sessions("a".into(), "s5".into())
            .await
            .unwrap(),
        1
    );
    assert!(listed(s, "a", T0, 100).await.is_empty());
    assert_eq!(listed(s, "b", T0, 100).await, ["s5"]);
    assert_eq!(
        s.revoke_other_sessions("nobody".into(), "x".into())
            .await
            .unwrap(),
        0
    );
}

/// Concurrent revocations end each session once: of many revocations of one session exactly
/// one answers `true`; concurrent "all but mine" from every session count each session once.
async fn concurrent_revocations_end_each_session_once<S: OwnSessions + Sessions + Users + Sync>(
    s: &S,
) {
    seed_user(s, account("a", None, ClientType::System)).await;
    let far = T0 + 1000 * HOUR;
    open(s, 9, "a", "target", None, T0, far).await;
    warm(s).await;
    let revocations = (0..8).map(|_| s.revoke_own_session("a".into(), "target".into()));
    let outcomes: Vec<bool> = join_all(revocations)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o).count(), 1, "{outcomes:?}");

    let ids: Vec<String> = (0..6u8).map(|i| format!("s{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        open(s, i as u8, "a", id, None, T0, far).await;
    }
    warm(s).await;
    let sweeps = ids
        .iter()
        .map(|keep| s.revoke_other_sessions("a".into(), keep.clone()));
    let counts: Vec<u64> = join_all(sweeps)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 6, "{counts:?}");
    assert!(listed(s, "a", T0, 100).await.is_empty());
}

on_every_adapter!(
    own_sessions_are_listed_oldest_first,
    a_session_is_revoked_once_and_only_by_its_user,
    other_sessions_are_revoked_and_counted,
    concurrent_revocations_end_each_session_once,
);
