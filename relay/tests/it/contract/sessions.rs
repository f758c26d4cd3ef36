//! [`Sessions`]: login challenges (issued only for an account, bounded per user with the first
//! issued going first, taken once whatever happens next, going with their account) and
//! sessions (opened only for an existing account, looked up with the user columns they carry,
//! dropped, touched).

use coffer_relay::service::Refusal;
use coffer_relay::storage::sessions::{
    Challenge, LoginCheck, Lookup, NewSession, Protocol, Sessions,
};
use coffer_relay::storage::users::{ClientType, Users};

use super::harness::{account, seed_user};
use super::on_every_adapter;

const NOW: i64 = 1_700_000_000;
const HOUR: i64 = NOW - NOW % 3600;

/// A check that records the challenge it was handed and accepts.
fn seen(into: &std::sync::Arc<std::sync::Mutex<Vec<Option<Challenge>>>>) -> LoginCheck {
    let into = std::sync::Arc::clone(into);
    Box::new(move |_, challenge| {
        into.lock().unwrap().push(challenge);
        Ok(())
    })
}

/// A check that must not run (no such account).
fn never() -> LoginCheck {
    Box::new(|_, _| panic!("the check ran for an unknown account"))
}

/// The challenge `nonce` as the login check sees it when `user` attempts with it.
async fn take<S: Sessions>(s: &S, user: &str, nonce: &str) -> Option<Challenge> {
    let got = std::sync::Arc::default();
    let answer = s
        .check_login(user.into(), nonce.into(), seen(&got))
        .await
        .unwrap();
    assert_eq!(answer, Some(Ok(())));
    let mut got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    got.pop().unwrap()
}

fn challenge(user: &str, expires_at: i64) -> Option<Challenge> {
    Some(Challenge {
        user_id: user.into(),
        expires_at,
    })
}

/// Issued only for an existing account; taken by the first attempt whatever its outcome (an
/// attempt naming an unknown account included, whose check does not run); handed to the check
/// as issued.
async fn a_challenge_is_issued_for_an_account_and_taken_once<S: Sessions + Users>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    assert!(
        !s.issue_challenge("x".into(), "n0".into(), NOW + 300, 16, NOW)
            .await
            .unwrap(),
        "unknown account"
    );
    assert_eq!(take(s, "s", "n0").await, None, "nothing was issued");
    assert!(
        s.issue_challenge("s".into(), "n1".into(), NOW + 300, 16, NOW)
            .await
            .unwrap()
    );
    // Taken by an attempt for an unknown account: not there for the right one.
    let unknown = s
        .check_login("x".into(), "n1".into(), never())
        .await
        .unwrap();
    assert_eq!(unknown, None);
    assert_eq!(take(s, "s", "n1").await, None);
    assert!(
        s.issue_challenge("s".into(), "n2".into(), NOW + 300, 16, NOW)
            .await
            .unwrap()
    );
    // A refused attempt consumes it too.
    let refused = s
        .check_login(
            "s".into(),
            "n2".into(),
            Box::new(|_, got| {
                assert_eq!(got, challenge("s", NOW + 300));
                Err(Refusal::Forbidden("Invalid signature"))
            }),
        )
        .await
        .unwrap();
    assert_eq!(refused, Some(Err(Refusal::Forbidden("Invalid signature"))));
    assert_eq!(take(s, "s", "n2").await, None, "single use");
    // Handed to another account's attempt as issued (the login rule refuses the mismatch).
    assert!(
        s.issue_challenge("s".into(), "n3".into(), NOW + 300, 16, NOW)
            .await
            .unwrap()
    );
    seed_user(s, account("f", None, ClientType::Friend)).await;
    assert_eq!(take(s, "f", "n3").await, challenge("s", NOW + 300));
    assert_eq!(take(s, "s", "n3").await, None);
}

/// An expired challenge is handed over with its expiry, so the login rule refuses it, and it
/// is gone afterwards like any other.
async fn an_expired_challenge_is_not_valid<S: Sessions + Users>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    assert!(
        s.issue_challenge("s".into(), "old".into(), NOW + 60, 16, NOW)
            .await
            .unwrap()
    );
    let later = NOW + 61;
    let answer = s
        .check_login(
            "s".into(),
            "old".into(),
            Box::new(move |_, got| match got {
                Some(c) if c.expires_at > later => Ok(()),
                _ => Err(Refusal::Forbidden("Invalid or expired challenge nonce")),
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        Some(Err(Refusal::Forbidden(
            "Invalid or expired challenge nonce"
        )))
    );
    assert_eq!(take(s, "s", "old").await, None);
}

/// At most `max_per_user` outstanding per user (at least one): the first issued go first,
/// whatever their expiry; other users' challenges are not touched.
async fn the_first_issued_challenges_go_first_past_the_bound<S: Sessions + Users>(s: &S) {
    seed_user(s, account("a", None, ClientType::System)).await;
    seed_user(s, account("b", None, ClientType::Friend)).await;
    assert!(
        s.issue_challenge("b".into(), "b0".into(), NOW + 300, 3, NOW)
            .await
            .unwrap()
    );
    // Same expiry for a0..a4; a5 and a6 expire earlier than the rest but are issued last.
    for i in 0..5 {
        assert!(
            s.issue_challenge("a".into(), format!("a{i}"), NOW + 300, 3, NOW)
                .await
                .unwrap()
        );
    }
    for (i, expires_at) in [(5, NOW + 200), (6, NOW + 100)] {
        assert!(
            s.issue_challenge("a".into(), format!("a{i}"), expires_at, 3, NOW)
                .await
                .unwrap()
        );
    }
    for i in 0..4 {
        assert_eq!(
            take(s, "a", &format!("a{i}")).await,
            None,
            "a{i} went first"
        );
    }
    assert_eq!(take(s, "a", "a4").await, challenge("a", NOW + 300));
    assert_eq!(take(s, "a", "a5").await, challenge("a", NOW + 200));
    assert_eq!(take(s, "a", "a6").await, challenge("a", NOW + 100));
    assert_eq!(take(s, "b", "b0").await, challenge("b", NOW + 300));
    // A bound of zero still keeps the newest.
    for n in ["z0", "z1"] {
        assert!(
            s.issue_challenge("a".into(), n.into(), NOW + 300, 0, NOW)
                .await
                .unwrap()
        );
    }
    assert_eq!(take(s, "a", "z0").await, None);
    assert_eq!(take(s, "a", "z1").await, challenge("a", NOW + 300));
}

/// Concurrent issues for one user keep the bound; concurrent attempts with one challenge:
/// exactly one gets it.
async fn challenges_keep_their_rules_under_concurrency<S: Sessions + Users + Sync>(s: &S) {
    seed_user(s, account("a", None, ClientType::System)).await;
    let issues = (0..8).map(|i| async move {
        s.issue_challenge("a".into(), format!("c{i}"), NOW + 300, 3, NOW)
            .await
            .unwrap()
    });
    assert!(
        futures_util::future::join_all(issues)
            .await
            .into_iter()
            .all(|issued| issued)
    );
    let mut outstanding = 0;
    for i in 0..8 {
        if take(s, "a", &format!("c{i}")).await.is_some() {
            outstanding += 1;
        }
    }
    assert_eq!(outstanding, 3);
    assert!(
        s.issue_challenge("a".into(), "once".into(), NOW + 300, 3, NOW)
            .await
            .unwrap()
    );
    let attempts = (0..8).map(|_| async move { take(s, "a", "once").await });
    let got = futures_util::future::join_all(attempts).await;
    assert_eq!(got.iter().filter(|c| c.is_some()).count(), 1, "{got:?}");
}

/// An account's challenges and sessions go with it; a session does not open for an account
/// that is gone.
async fn challenges_and_sessions_go_with_their_account<S: Sessions + Users>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    assert!(
        s.issue_challenge("s".into(), "n".into(), NOW + 300, 16, NOW)
            .await
            .unwrap()
    );
    assert!(
        s.open_session([1; 32], "s".into(), NOW + 3600, new_session(1, NOW))
            .await
            .unwrap()
    );
    assert!(s.delete_user("s".into()).await.unwrap());
    let gone = s
        .check_login("s".into(), "n".into(), never())
        .await
        .unwrap();
    assert_eq!(gone, None);
    assert!(matches!(
        s.session([1; 32], NOW).await.unwrap(),
        Lookup::Unknown
    ));
    assert!(
        !s.open_session([2; 32], "s".into(), NOW + 3600, new_session(2, NOW))
            .await
            .unwrap()
    );
    assert!(
        !s.open_session([3; 32], "x".into(), NOW + 3600, new_session(3, NOW))
            .await
            .unwrap()
    );
    // The same id registered again finds none of the old account's challenges or sessions.
    seed_user(s, account("s", None, ClientType::System)).await;
    assert_eq!(take(s, "s", "n").await, None);
    for hash in [[1; 32], [2; 32]] {
        assert!(matches!(
            s.session(hash, NOW).await.unwrap(),
            Lookup::Unknown
        ));
    }
}

fn new_session(n: u8, now: i64) -> NewSession {
    NewSession {
        session_id: format!("00000000-0000-4000-8000-0000000000{n:02x}"),
        device_label: n.is_multiple_of(2).then(|| format!("device {n}")),
        protocol: if n.is_multiple_of(2) {
            Protocol::V2
        } else {
            Protocol::V1
        },
        now,
    }
}

/// A session is valid until its exact expiry (then expired), unknown for any other token, and
/// carries its account's columns: type, feature set, v2 or not, its public id, its last use.
async fn a_session_carries_its_user_columns_until_it_expires<S: Sessions + Users>(s: &S) {
    let mut system = account("s", Some("sys"), ClientType::System);
    system.feature_set = "[\"a\"]".into();
    seed_user(s, system).await;
    let mut v2 = account("f", None, ClientType::Friend);
    v2.key_binding_signature = Some([9; 64]);
    seed_user(s, v2).await;
    let expires = NOW + 7200;
    assert!(
        s.open_session([1; 32], "s".into(), expires, new_session(1, NOW + 5))
            .await
            .unwrap()
    );
    assert!(
        s.open_session([2; 32], "f".into(), expires + 1, new_session(2, NOW))
            .await
            .unwrap()
    );
    let Lookup::Valid(u) = s.session([1; 32], NOW).await.unwrap() else {
        panic!("not valid")
    };
    assert_eq!(
        (
            u.user_id.as_str(),
            u.client_type,
            u.feature_set.as_str(),
            u.is_v2,
            u.expires_at,
            u.session_id.as_deref(),
            u.last_used_at,
        ),
        (
            "s",
            ClientType::System,
            "[\"a\"]",
            false,
            expires,
            Some("00000000-0000-4000-8000-000000000001"),
            HOUR,
        )
    );
    let Lookup::Valid(u) = s.session([2; 32], expires).await.unwrap() else {
        panic!("not valid")
    };
    assert_eq!(
        (u.user_id.as_str(), u.client_type, u.is_v2, u.expires_at),
        ("f", ClientType::Friend, true, expires + 1)
    );
    assert!(matches!(
        s.session([1; 32], expires - 1).await.unwrap(),
        Lookup::Valid(_)
    ));
    assert!(matches!(
        s.session([1; 32], expires).await.unwrap(),
        Lookup::Expired
    ));
    assert!(matches!(
        s.session([3; 32], NOW).await.unwrap(),
        Lookup::Unknown
    ));
    // The user columns are read at lookup: a profile change shows at once.
    let update = coffer_relay::storage::users::ProfileUpdate {
        feature_set: Some("[\"b\"]".into()),
        ..Default::default()
    };
    assert!(s.update_profile("s".into(), update).await.unwrap());
    let Lookup::Valid(u) = s.session([1; 32], NOW).await.unwrap() else {
        panic!("not valid")
    };
    assert_eq!(u.feature_set, "[\"b\"]");
}

/// Dropping forgets that session only (and nothing when there is none); touching moves its
/// last use forward to the hour given (floored), never back.
async fn sessions_are_dropped_and_touched_one_by_one<S: Sessions + Users>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    for n in [1, 2] {
        assert!(
            s.open_session([n; 32], "s".into(), NOW + 86_400, new_session(n, NOW))
                .await
                .unwrap()
        );
    }
    let last_used = |lookup: Lookup| match lookup {
        Lookup::Valid(u) => u.last_used_at,
        other => panic!("{other:?}"),
    };
    s.touch_session([1; 32], HOUR + 2 * 3600 + 17)
        .await
        .unwrap();
    assert_eq!(
        last_used(s.session([1; 32], NOW).await.unwrap()),
        HOUR + 2 * 3600
    );
    s.touch_session([1; 32], HOUR + 3600).await.unwrap();
    assert_eq!(
        last_used(s.session([1; 32], NOW).await.unwrap()),
        HOUR + 2 * 3600,
        "never back"
    );
    assert_eq!(last_used(s.session([2; 32], NOW).await.unwrap()), HOUR);
    s.touch_session([7; 32], HOUR + 3600).await.unwrap();
    s.drop_session([1; 32]).await.unwrap();
    assert!(matches!(
        s.session([1; 32], NOW).await.unwrap(),
        Lookup::Unknown
    ));
    assert!(matches!(
        s.session([2; 32], NOW).await.unwrap(),
        Lookup::Valid(_)
    ));
    s.drop_session([1; 32]).await.unwrap();
    s.drop_session([7; 32]).await.unwrap();
}

on_every_adapter!(
    a_challenge_is_issued_for_an_account_and_taken_once,
    an_expired_challenge_is_not_valid,
    the_first_issued_challenges_go_first_past_the_bound,
    challenges_keep_their_rules_under_concurrency,
    challenges_and_sessions_go_with_their_account,
    a_session_carries_its_user_columns_until_it_expires,
    sessions_are_dropped_and_touched_one_by_one,
);
