//! [`Invites`]: a System's invite codes (bounded by `max_open`), the operator's registration
//! codes (stored once), the registration numbers; and the invite-only registration gate that
//! spends them through [`Users::create_user`]: one code, one account, even under a race.

use coffer_relay::config::{Registration, RegistrationMode};
use coffer_relay::service::Refusal;
use coffer_relay::service::registration::{CODE_INVALID, CODE_NEEDED, Gate, code_hash};
use coffer_relay::storage::invites::{Invites, RegistrationCounts};
use coffer_relay::storage::sharing::Sharing;
use coffer_relay::storage::users::{ClientType, NewUser, Users};

use super::harness::{account, seed_user};
use super::on_every_adapter;

const NOW: i64 = 1_700_000_000;
const HOUR: i64 = NOW - NOW % 3600;

/// An invite-only gate with the request's code.
fn invite_only(code: Option<&[u8]>) -> Gate {
    let cfg = Registration {
        mode: RegistrationMode::InviteOnly,
        ..Registration::default()
    };
    Gate::new(&cfg, code)
}

async fn register<S: Users>(
    s: &S,
    id: &str,
    client_type: ClientType,
    code: &[u8],
    now: i64,
) -> Result<NewUser, Refusal> {
    s.create_user(account(id, None, client_type), invite_only(Some(code)), now)
        .await
        .unwrap()
}

/// A system holds at most `max_open` invites that are neither redeemed nor expired; other
/// systems' invites do not count; a refused invite is not stored.
async fn invites_are_bounded_by_max_open<S: Invites + Users + Sharing>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    seed_user(s, account("t", None, ClientType::System)).await;
    seed_user(s, account("f", None, ClientType::Friend)).await;
    let invite = |code: &str, system: &str, now: i64, expires_at: i64| {
        s.create_invite(code.into(), system.into(), now, expires_at, 2, 1)
    };
    assert!(invite("AAAAAAAAAAA1", "s", NOW, NOW + 60).await.unwrap());
    assert!(invite("AAAAAAAAAAA2", "s", NOW, NOW + 3600).await.unwrap());
    assert!(!invite("AAAAAAAAAAA3", "s", NOW, NOW + 3600).await.unwrap());
    assert!(invite("BBBBBBBBBBB1", "t", NOW, NOW + 3600).await.unwrap());
    // The refused one was not stored: it redeems nothing.
    let redeemed = s
        .redeem_sharing_invite(
            "AAAAAAAAAAA3".into(),
            "f".into(),
            "00000000-0000-4000-8000-000000000001".into(),
            NOW,
            Box::new(|stored| stored.ok_or(Refusal::NotFound("Invite code not found"))),
        )
        .await
        .unwrap();
    assert_eq!(
        redeemed.map(|r| r.id),
        Err(Refusal::NotFound("Invite code not found"))
    );
    // Expired at `NOW + 60`: no longer counted.
    assert!(
        invite("AAAAAAAAAAA3", "s", NOW + 60, NOW + 3600)
            .await
            .unwrap()
    );
    assert!(
        !invite("AAAAAAAAAAA4", "s", NOW + 60, NOW + 3600)
            .await
            .unwrap()
    );
    // A redeemed one is no longer counted either.
    let redeemed = s
        .redeem_sharing_invite(
            "AAAAAAAAAAA2".into(),
            "f".into(),
            "00000000-0000-4000-8000-000000000002".into(),
            NOW + 60,
            Box::new(|stored| stored.ok_or(Refusal::NotFound("Invite code not found"))),
        )
        .await
        .unwrap();
    assert!(redeemed.is_ok(), "{redeemed:?}");
    assert!(
        invite("AAAAAAAAAAA4", "s", NOW + 60, NOW + 3600)
            .await
            .unwrap()
    );
    // A bound of zero refuses every invite.
    assert!(
        !s.create_invite("CCCCCCCCCCC1".into(), "t".into(), NOW, NOW + 60, 0, 2)
            .await
            .unwrap()
    );
    // A code is stored once.
    assert!(
        s.create_invite("BBBBBBBBBBB1".into(), "t".into(), NOW, NOW + 60, 9, 1)
            .await
            .is_err()
    );
}

/// Concurrent invites of one system: exactly `max_open` are stored.
async fn max_open_holds_under_concurrency<S: Invites + Users + Sync>(s: &S) {
    seed_user(s, account("s", None, ClientType::System)).await;
    let attempts = (0..8).map(|i| async move {
        s.create_invite(format!("RACE0000000{i}"), "s".into(), NOW, NOW + 60, 3, 2)
            .await
            .unwrap()
    });
    let stored = futures_util::future::join_all(attempts).await;
    assert_eq!(stored.iter().filter(|s| **s).count(), 3, "{stored:?}");
}

/// An operator code is stored once (by its hash); the counts read every account and the open
/// operator codes: neither used nor expired.
async fn registration_codes_are_stored_once_and_counted<S: Invites + Users>(s: &S) {
    let counts = |users, open_codes| RegistrationCounts { users, open_codes };
    assert_eq!(s.registration_counts(NOW).await.unwrap(), counts(0, 0));
    assert!(
        s.create_registration_code(code_hash("ONE"), NOW, HOUR + 7200)
            .await
            .unwrap()
    );
    assert!(
        !s.create_registration_code(code_hash("ONE"), NOW, HOUR + 3 * 3600)
            .await
            .unwrap(),
        "a repeated code"
    );
    assert!(
        s.create_registration_code(code_hash("TWO"), NOW, HOUR + 3600)
            .await
            .unwrap()
    );
    seed_user(s, account("u", None, ClientType::Friend)).await;
    assert_eq!(s.registration_counts(NOW).await.unwrap(), counts(1, 2));
    assert_eq!(
        s.registration_counts(HOUR + 3600).await.unwrap(),
        counts(1, 1),
        "TWO expired"
    );
    // The repeat kept the first expiry.
    assert_eq!(
        s.registration_counts(HOUR + 7200).await.unwrap(),
        counts(1, 0)
    );
    assert_eq!(
        register(s, "v", ClientType::System, b"ONE", NOW).await,
        Ok(NewUser::Created)
    );
    assert_eq!(
        s.registration_counts(NOW).await.unwrap(),
        counts(2, 1),
        "ONE used"
    );
}

/// Invite-only: an operator code registers exactly one account (of either type); no code, or
/// an unknown one, registers none.
async fn an_operator_code_registers_exactly_one_account<S: Invites + Users>(s: &S) {
    assert!(
        s.create_registration_code(code_hash("CODE"), NOW, HOUR + 7200)
            .await
            .unwrap()
    );
    let none = s
        .create_user(
            account("n", None, ClientType::System),
            invite_only(None),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(none, Err(CODE_NEEDED));
    assert_eq!(
        register(s, "w", ClientType::System, b"WRONG", NOW).await,
        Err(CODE_INVALID)
    );
    // Codes are exact (an operator code is not folded to upper case).
    assert_eq!(
        register(s, "w", ClientType::System, b"code", NOW).await,
        Err(CODE_INVALID)
    );
    assert_eq!(
        register(s, "a", ClientType::System, b" CODE ", NOW).await,
        Ok(NewUser::Created),
        "trimmed"
    );
    assert_eq!(
        register(s, "b", ClientType::Friend, b"CODE", NOW).await,
        Err(CODE_INVALID)
    );
    assert!(s.user("b".into()).await.unwrap().is_none());
    assert!(s.user("w".into()).await.unwrap().is_none());
    assert_eq!(s.registration_counts(NOW).await.unwrap().users, 1);
}

/// Invite-only: a System's open invite code registers exactly one friend (any ASCII case),
/// never a system; the invite itself stays open for sharing.
async fn an_invite_code_registers_exactly_one_friend<S: Invites + Users + Sharing>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    assert!(
        s.create_invite("ABCDEFGHJKMN".into(), "sys".into(), NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    assert_eq!(
        register(s, "s2", ClientType::System, b"ABCDEFGHJKMN", NOW).await,
        Err(CODE_INVALID),
        "friends only"
    );
    assert_eq!(
        register(s, "f1", ClientType::Friend, b"abcdefghjkmn", NOW).await,
        Ok(NewUser::Created)
    );
    assert_eq!(
        register(s, "f2", ClientType::Friend, b"ABCDEFGHJKMN", NOW).await,
        Err(CODE_INVALID)
    );
    assert!(s.user("f2".into()).await.unwrap().is_none());
    // The registration did not redeem the invite: its friend still can, once.
    let redeemed = s
        .redeem_sharing_invite(
            "ABCDEFGHJKMN".into(),
            "f1".into(),
            "00000000-0000-4000-8000-000000000001".into(),
            NOW,
            Box::new(|stored| match stored {
                Some(i) if !i.redeemed => Ok(i),
                _ => Err(Refusal::bad("Invite code already redeemed")),
            }),
        )
        .await
        .unwrap();
    assert_eq!(redeemed.map(|r| r.friend_user_id), Ok("f1".to_owned()));
}

/// Expired or used codes register no one: an operator code at its expiry, an invite at its
/// expiry, an invite already redeemed.
async fn expired_and_used_codes_are_refused<S: Invites + Users + Sharing>(s: &S) {
    let expires = HOUR + 3600;
    assert!(
        s.create_registration_code(code_hash("SOON"), NOW, expires)
            .await
            .unwrap()
    );
    assert_eq!(
        register(s, "a", ClientType::System, b"SOON", expires).await,
        Err(CODE_INVALID)
    );
    // Forgotten once expired: a code of that hash may be issued again.
    assert!(
        s.create_registration_code(code_hash("SOON"), expires, expires + 3600)
            .await
            .unwrap()
    );
    assert_eq!(
        register(s, "a", ClientType::System, b"SOON", expires).await,
        Ok(NewUser::Created)
    );
    assert!(
        s.create_invite("EXPIRESXSOON".into(), "a".into(), NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    assert_eq!(
        register(s, "f", ClientType::Friend, b"EXPIRESXSOON", NOW + 600).await,
        Err(CODE_INVALID)
    );
    assert!(
        s.create_invite("REDEEMEDCODE".into(), "a".into(), NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    seed_user(s, account("g", None, ClientType::Friend)).await;
    let redeemed = s
        .redeem_sharing_invite(
            "REDEEMEDCODE".into(),
            "g".into(),
            "00000000-0000-4000-8000-000000000001".into(),
            NOW,
            Box::new(|stored| stored.ok_or(Refusal::NotFound("Invite code not found"))),
        )
        .await
        .unwrap();
    assert!(redeemed.is_ok(), "{redeemed:?}");
    assert_eq!(
        register(s, "f", ClientType::Friend, b"REDEEMEDCODE", NOW).await,
        Err(CODE_INVALID)
    );
    assert!(s.user("f".into()).await.unwrap().is_none());
}

/// Many registrations racing with one code: exactly one account is stored, for an operator
/// code and for an invite code alike.
async fn one_code_registers_one_account_under_a_race<S: Invites + Users + Sync>(s: &S) {
    assert!(
        s.create_registration_code(code_hash("RACE"), NOW, HOUR + 7200)
            .await
            .unwrap()
    );
    let race = |prefix: &'static str, code: &'static [u8]| {
        let attempts = (0..8u32).map(move |i| async move {
            // An operator code registers either type, an invite code friends only.
            let client_type = if prefix == "i" || i.is_multiple_of(2) {
                ClientType::Friend
            } else {
                ClientType::System
            };
            register(s, &format!("{prefix}{i}"), client_type, code, NOW).await
        });
        futures_util::future::join_all(attempts)
    };
    let outcomes = race("o", b"RACE").await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Ok(NewUser::Created))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Ok(NewUser::Created) || *o == Err(CODE_INVALID)),
        "{outcomes:?}"
    );
    let system = seed_system(s).await;
    assert!(
        s.create_invite("RACERACERACE".into(), system, NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    let outcomes = race("i", b"RACERACERACE").await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Ok(NewUser::Created))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Ok(NewUser::Created) || *o == Err(CODE_INVALID)),
        "{outcomes:?}"
    );
    assert_eq!(s.registration_counts(NOW).await.unwrap().users, 3);
}

/// A system to invite from, registered with an operator code of its own.
async fn seed_system<S: Invites + Users>(s: &S) -> String {
    assert!(
        s.create_registration_code(code_hash("SYSTEM"), NOW, HOUR + 7200)
            .await
            .unwrap()
    );
    assert_eq!(
        register(s, "sys", ClientType::System, b"SYSTEM", NOW).await,
        Ok(NewUser::Created)
    );
    "sys".into()
}

on_every_adapter!(
    invites_are_bounded_by_max_open,
    max_open_holds_under_concurrency,
    registration_codes_are_stored_once_and_counted,
    an_operator_code_registers_exactly_one_account,
    an_invite_code_registers_exactly_one_friend,
    expired_and_used_codes_are_refused,
    one_code_registers_one_account_under_a_race,
);
