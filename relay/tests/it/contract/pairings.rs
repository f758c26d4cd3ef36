//! [`Pairings`]: invites redeemed once, replica requests (v2 systems only, capped per friend),
//! the pairing list, and unpairing by a party with everything that hangs on the pairing.

use coffer_relay::service::Refusal;
use coffer_relay::storage::grants::{GrantCheck, Grants, WrappedKeys};
use coffer_relay::storage::invites::Invites;
use coffer_relay::storage::own_grants::OwnGrants;
use coffer_relay::storage::pairings::{MAX_PENDING_REPLICA_REQUESTS, Pairings, Redemption};
use coffer_relay::storage::receipts::Receipts;
use coffer_relay::storage::users::{ClientType, User, Users};
use coffer_relay::store::grants::StoredGrant;
use coffer_relay::store::receipts::StoredReceipt;
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};

use super::harness::{account, seed_user};
use super::on_every_adapter;

/// The time the tests' writes happen (not on the hour: the store keeps hours).
pub(super) const NOW: i64 = 1_700_000_000 + 1234;
/// [`NOW`]'s hour.
pub(super) const HOUR: i64 = NOW - NOW % 3600;

/// A v2 account (one with a key binding signature).
pub(super) fn v2_account(id: &str, client_type: ClientType) -> User {
    let mut user = account(id, None, client_type);
    user.key_binding_signature = Some([9; 64]);
    user
}

/// Seeds the v2 system `system` and the v2 friend `friend`.
pub(super) async fn seed_v2_pair<S: Users>(s: &S, system: &str, friend: &str) {
    seed_user(s, v2_account(system, ClientType::System)).await;
    seed_user(s, v2_account(friend, ClientType::Friend)).await;
}

/// Pairs `system` and `friend` (both stored) by a replica request, as pairing `id`.
pub(super) async fn replica_pair<S: Pairings>(s: &S, id: &str, system: &str, friend: &str) {
    let asked = s
        .request_replica_pairing(id.into(), system.into(), friend.into(), NOW)
        .await
        .unwrap();
    assert_eq!(asked, Ok((id.to_owned(), true)));
}

/// A grant of `volumes` (epoch 1) with `sequence` and `expires_at`; `mark` fills its
/// fingerprint, signature and wrapped keys, so that a stored grant tells whose it was.
pub(super) fn grant(
    sequence: u64,
    expires_at: u64,
    volumes: &[&str],
    mark: u8,
) -> (StoredGrant, WrappedKeys) {
    let bytes = Grant {
        owner: [1; 16],
        friend: [2; 16],
        friend_fingerprint: [mark; 32],
        sequence,
        expires_at,
        entries: volumes
            .iter()
            .map(|v| GrantEntry {
                volume: VolumeName::new(v).unwrap(),
                epoch: 1,
            })
            .collect(),
    }
    .to_bytes();
    let keys = volumes
        .iter()
        .map(|v| ((*v).to_owned(), 1, [mark; 60]))
        .collect();
    (
        StoredGrant {
            sequence,
            expires_at,
            grant_bytes: bytes,
            signature: [mark; 64],
        },
        keys,
    )
}

/// A check that accepts every grant.
pub(super) fn accept() -> GrantCheck {
    Box::new(|_| Ok(()))
}

/// A receipt for `version` of `volume` at [`HOUR`]; `mark` fills its bytes and signature.
pub(super) fn receipt(volume: &str, version: u64, mark: u8) -> StoredReceipt {
    StoredReceipt {
        volume_name: volume.into(),
        epoch: 1,
        version,
        hour: HOUR as u64,
        receipt: vec![mark; 8],
        signature: [mark; 64],
    }
}

/// A replica request needs a registered v2 *system*: anything else is answered as an unknown
/// user. Asking again answers the pairing that exists, whatever id is offered.
async fn replica_requests_need_a_v2_system<S: Users + Pairings>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, account("v1sys", None, ClientType::System)).await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    for system in ["nobody", "v1sys", "fr2"] {
        let asked = s
            .request_replica_pairing("p0".into(), system.into(), "fr".into(), NOW)
            .await
            .unwrap();
        assert_eq!(asked, Err(Refusal::NotFound("User not found")), "{system}");
    }
    assert!(s.pairings_with_peers("fr".into()).await.unwrap().is_empty());
    replica_pair(s, "p1", "sys", "fr").await;
    let again = s
        .request_replica_pairing("p2".into(), "sys".into(), "fr".into(), NOW + 7200)
        .await
        .unwrap();
    assert_eq!(again, Ok(("p1".to_owned(), false)));
    let listed = s.pairings_with_peers("fr".into()).await.unwrap();
    assert_eq!(listed.len(), 1);
    let (peer, p) = &listed[0];
    assert_eq!(peer.as_ref().map(|u| u.id.as_str()), Some("sys"));
    assert_eq!(
        (
            p.id.as_str(),
            p.system_user_id.as_str(),
            p.friend_user_id.as_str(),
            p.status.as_str(),
            p.code.as_deref(),
            p.proof,
            p.created_at,
        ),
        ("p1", "sys", "fr", "pending", None, None, HOUR)
    );
}

/// One friend has at most [`MAX_PENDING_REPLICA_REQUESTS`] pending replica requests, counted
/// in the write: of more concurrent requests to distinct systems, exactly that many get in.
/// A request that became active (granted) no longer counts.
async fn pending_replica_requests_are_capped_under_concurrency<
    S: Users + Pairings + Grants + Sync,
>(
    s: &S,
) {
    let cap = usize::try_from(MAX_PENDING_REPLICA_REQUESTS).unwrap();
    let systems = cap + 6;
    seed_user(s, v2_account("fr", ClientType::Friend)).await;
    for i in 0..systems {
        seed_user(s, v2_account(&format!("sys{i:03}"), ClientType::System)).await;
    }
    let asks = (0..systems).map(|i| async move {
        s.request_replica_pairing(format!("p{i:03}"), format!("sys{i:03}"), "fr".into(), NOW)
            .await
            .unwrap()
    });
    let outcomes = futures_util::future::join_all(asks).await;
    let refusal = Refusal::Forbidden(
        "Too many pending replica pairing requests (64): wait for the systems' grants, or \
         unpair some",
    );
    let created: Vec<usize> = (0..systems)
        .filter(|&i| outcomes[i] == Ok((format!("p{i:03}"), true)))
        .collect();
    assert_eq!(created.len(), cap, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok((_, true))) || *o == Err(refusal.clone())),
        "{outcomes:?}"
    );
    assert_eq!(s.pairings_with_peers("fr".into()).await.unwrap().len(), cap);
    let refused = (0..systems).find(|i| !created.contains(i)).unwrap();
    let ask_refused = || {
        s.request_replica_pairing(
            format!("q{refused:03}"),
            format!("sys{refused:03}"),
            "fr".into(),
            NOW,
        )
    };
    assert_eq!(ask_refused().await.unwrap(), Err(refusal));
    // A granted (active) pairing leaves the count.
    let first = created[0];
    let (g, keys) = grant(1, 0, &["org.example.a"], 1);
    let put = s
        .put_v2_grant(
            format!("sys{first:03}"),
            "fr".into(),
            g,
            keys,
            HOUR,
            accept(),
        )
        .await
        .unwrap();
    assert_eq!(put, Ok(()));
    assert_eq!(
        ask_refused().await.unwrap(),
        Ok((format!("q{refused:03}"), true))
    );
}

/// The list: every pairing the user is a party to, newest hour first, then by id in byte
/// order; each with the other party's account.
async fn pairings_are_listed_newest_first_with_peers<S: Users + Pairings>(s: &S) {
    seed_user(s, v2_account("sys", ClientType::System)).await;
    seed_user(s, v2_account("sys2", ClientType::System)).await;
    for f in ["f1", "f2", "f3", "f4"] {
        seed_user(s, v2_account(f, ClientType::Friend)).await;
    }
    // Byte order, not a locale's: "p-b" < "pB" < "pa".
    for (id, system, friend, at) in [
        ("old", "sys", "f1", NOW - 3 * 3600),
        ("pa", "sys", "f2", NOW),
        ("pB", "sys", "f3", NOW),
        ("p-b", "sys", "f4", NOW),
        ("other", "sys2", "f1", NOW + 3600),
    ] {
        let asked = s
            .request_replica_pairing(id.into(), system.into(), friend.into(), at)
            .await
            .unwrap();
        assert_eq!(asked, Ok((id.to_owned(), true)));
    }
    let listed = s.pairings_with_peers("sys".into()).await.unwrap();
    let seen: Vec<(&str, Option<&str>, i64)> = listed
        .iter()
        .map(|(peer, p)| {
            (
                p.id.as_str(),
                peer.as_ref().map(|u| u.id.as_str()),
                p.created_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("p-b", Some("f4"), HOUR),
            ("pB", Some("f3"), HOUR),
            ("pa", Some("f2"), HOUR),
            ("old", Some("f1"), HOUR - 3 * 3600),
        ]
    );
    let of_friend = s.pairings_with_peers("f1".into()).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = of_friend
        .iter()
        .map(|(peer, p)| (p.id.as_str(), peer.as_ref().map(|u| u.id.as_str())))
        .collect();
    assert_eq!(seen, [("other", Some("sys2")), ("old", Some("sys"))]);
    let peer = of_friend[0].0.as_ref().unwrap();
    assert_eq!(peer.client_type, ClientType::System);
    assert_eq!(peer.key_binding_signature, Some([9; 64]));
    assert!(
        s.pairings_with_peers("nobody".into())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Only a party unpairs; the pairing's grant, wrapped keys and receipts go with it, and the
/// two may pair again.
async fn unpairing_is_for_the_parties_and_takes_everything<
    S: Users + Pairings + Grants + OwnGrants + Receipts,
>(
    s: &S,
) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("stranger", ClientType::Friend)).await;
    replica_pair(s, "p1", "sys", "fr").await;
    let (g, keys) = grant(1, 0, &["org.example.a"], 1);
    let put = s
        .put_v2_grant("sys".into(), "fr".into(), g, keys, HOUR, accept())
        .await
        .unwrap();
    assert_eq!(put, Ok(()));
    let stored = s
        .put_receipt(
            "sys".into(),
            "fr".into(),
            receipt("org.example.a", 1, 1),
            Box::new(|_| Ok(())),
        )
        .await
        .unwrap();
    assert_eq!(stored, Ok(()));

    let unknown = s.unpair("nope".into(), "sys".into()).await.unwrap();
    assert_eq!(unknown, Err(Refusal::NotFound("Pairing not found")));
    let stranger = s.unpair("p1".into(), "stranger".into()).await.unwrap();
    assert_eq!(
        stranger,
        Err(Refusal::Forbidden("You are not a party to this pairing"))
    );
    assert_eq!(s.grants_given("sys".into()).await.unwrap().len(), 1);

    assert_eq!(s.unpair("p1".into(), "fr".into()).await.unwrap(), Ok(()));
    assert_eq!(
        s.unpair("p1".into(), "fr".into()).await.unwrap(),
        Err(Refusal::NotFound("Pairing not found"))
    );
    assert!(
        s.pairings_with_peers("sys".into())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.grants_given("sys".into()).await.unwrap().is_empty());
    assert!(
        s.receipts_of_owner("sys".into(), 0)
            .await
            .unwrap()
            .is_empty()
    );
    let live = s
        .live_v2_grant("sys".into(), "fr".into())
        .await
        .unwrap()
        .map(|_| ());
    assert_eq!(
        live,
        Err(Refusal::Forbidden("No live grant from this system"))
    );
    // Paired again (by the system's side this time), nothing of the old pairing shows.
    replica_pair(s, "p2", "sys", "fr").await;
    assert_eq!(s.unpair("p2".into(), "sys".into()).await.unwrap(), Ok(()));
    replica_pair(s, "p3", "sys", "fr").await;
    let live = s
        .live_v2_grant("sys".into(), "fr".into())
        .await
        .unwrap()
        .map(|_| ());
    assert_eq!(
        live,
        Err(Refusal::Forbidden("No live grant from this system"))
    );
}

/// Deleting either party's account deletes its pairings (and so their grants).
async fn a_deleted_account_takes_its_pairings<S: Users + Pairings + OwnGrants>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    replica_pair(s, "p1", "sys", "fr").await;
    replica_pair(s, "p2", "sys", "fr2").await;
    assert!(s.delete_user("fr".into()).await.unwrap());
    let left: Vec<String> = s
        .pairings_with_peers("sys".into())
        .await
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.id)
        .collect();
    assert_eq!(left, ["p2"]);
    assert!(s.delete_user("sys".into()).await.unwrap());
    assert!(
        s.pairings_with_peers("fr2".into())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A v2 invite of `system`, valid for a day from [`NOW`].
async fn seed_invite<S: Invites>(s: &S, code: &str, system: &str, protocol: i64) {
    let made = s
        .create_invite(code.into(), system.into(), NOW, NOW + 86_400, 10, protocol)
        .await
        .unwrap();
    assert!(made);
}

fn redemption(code: &str, friend: &str, friend_type: ClientType, id: &str) -> Redemption {
    Redemption {
        code: code.into(),
        pairing_id: id.into(),
        friend: friend.into(),
        friend_type,
        proof: [7; 32],
        now: NOW,
    }
}

/// Redeeming a v2 invite: the invite's refusals in order (unknown or v1 404, a caller that is
/// not a friend 400), a pending pairing with the code and proof, then the invite is spent
/// (410); a friend paired already is refused 409 and the invite stays open.
async fn redeeming_an_invite_pairs_once<S: Users + Invites + Pairings>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    seed_user(s, v2_account("fr3", ClientType::Friend)).await;
    seed_invite(s, "CODEV2", "sys", 2).await;
    seed_invite(s, "CODEV1", "sys", 1).await;
    let redeem = |code: &str, friend: &str, t: ClientType, id: &str| {
        s.redeem_invite(redemption(code, friend, t, id))
    };
    assert_eq!(
        redeem("NOSUCH", "fr", ClientType::Friend, "p0")
            .await
            .unwrap(),
        Err(Refusal::NotFound("Invalid invite code"))
    );
    assert_eq!(
        redeem("CODEV1", "fr", ClientType::Friend, "p0")
            .await
            .unwrap(),
        Err(Refusal::NotFound("Invalid invite code"))
    );
    assert_eq!(
        redeem("CODEV2", "fr", ClientType::System, "p0")
            .await
            .unwrap(),
        Err(Refusal::bad("Only friend clients can redeem invite codes"))
    );
    assert_eq!(
        redeem("CODEV2", "fr", ClientType::Friend, "p1")
            .await
            .unwrap(),
        Ok("sys".to_owned())
    );
    let listed = s.pairings_with_peers("fr".into()).await.unwrap();
    assert_eq!(listed.len(), 1);
    let p = &listed[0].1;
    assert_eq!(
        (
            p.id.as_str(),
            p.system_user_id.as_str(),
            p.status.as_str(),
            p.code.as_deref(),
            p.proof,
            p.created_at,
        ),
        ("p1", "sys", "pending", Some("CODEV2"), Some([7; 32]), HOUR)
    );
    assert_eq!(
        redeem("CODEV2", "fr2", ClientType::Friend, "p2")
            .await
            .unwrap(),
        Err(Refusal::Gone("Invite code already redeemed"))
    );
    // Paired already: refused, and the second invite is still open for another friend.
    seed_invite(s, "CODEB", "sys", 2).await;
    assert_eq!(
        redeem("CODEB", "fr", ClientType::Friend, "p3")
            .await
            .unwrap(),
        Err(Refusal::Conflict(
            "You are already paired with this system".into()
        ))
    );
    assert_eq!(
        redeem("CODEB", "fr3", ClientType::Friend, "p4")
            .await
            .unwrap(),
        Ok("sys".to_owned())
    );
    // An invite past its expiry.
    let made = s
        .create_invite("OLD".into(), "sys".into(), NOW - 100, NOW, 10, 2)
        .await
        .unwrap();
    assert!(made);
    assert_eq!(
        redeem("OLD", "fr2", ClientType::Friend, "p5")
            .await
            .unwrap(),
        Err(Refusal::Gone("Invite code expired"))
    );
}

/// One invite, many concurrent redeemers: exactly one pairing.
async fn an_invite_is_redeemed_once_under_concurrency<S: Users + Invites + Pairings + Sync>(s: &S) {
    seed_user(s, v2_account("sys", ClientType::System)).await;
    for i in 0..8 {
        seed_user(s, v2_account(&format!("f{i}"), ClientType::Friend)).await;
    }
    seed_invite(s, "ONCE", "sys", 2).await;
    let redeems = (0..8).map(|i| async move {
        s.redeem_invite(redemption(
            "ONCE",
            &format!("f{i}"),
            ClientType::Friend,
            &format!("p{i}"),
        ))
        .await
        .unwrap()
    });
    let outcomes = futures_util::future::join_all(redeems).await;
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || *o == Err(Refusal::Gone("Invite code already redeemed"))),
        "{outcomes:?}"
    );
    assert_eq!(s.pairings_with_peers("sys".into()).await.unwrap().len(), 1);
}

/// A friend redeeming an invite while it asks the same system for a replica pairing: one
/// pairing, whichever came first, and both answered (several rounds).
async fn redemption_and_replica_request_make_one_pairing<S: Users + Invites + Pairings + Sync>(
    s: &S,
) {
    for round in 0..12 {
        let (system, friend) = (format!("sys{round}"), format!("fr{round}"));
        seed_v2_pair(s, &system, &friend).await;
        let code = format!("RACE{round}");
        seed_invite(s, &code, &system, 2).await;
        let (by_code, by_ask) = (format!("code{round}"), format!("ask{round}"));
        let (redeemed, asked) = futures_util::future::join(
            s.redeem_invite(redemption(&code, &friend, ClientType::Friend, &by_code)),
            s.request_replica_pairing(by_ask.clone(), system.clone(), friend.clone(), NOW),
        )
        .await;
        let (redeemed, asked) = (redeemed.unwrap(), asked.unwrap());
        let listed = s.pairings_with_peers(friend).await.unwrap();
        assert_eq!(listed.len(), 1);
        let id = listed[0].1.id.clone();
        if id == by_code {
            assert_eq!(redeemed, Ok(system));
            assert_eq!(asked, Ok((by_code, false)));
        } else {
            assert_eq!(id, by_ask);
            assert_eq!(asked, Ok((by_ask, true)));
            assert_eq!(
                redeemed,
                Err(Refusal::Conflict(
                    "You are already paired with this system".into()
                ))
            );
        }
    }
}

/// A friend redeeming an invite while the system deletes its account: the redemption is
/// answered (the system's id, the pairing then gone with the account; or the invite unknown),
/// never a storage failure.
async fn redemption_while_the_system_leaves<S: Users + Invites + Pairings + Sync>(s: &S) {
    for round in 0..12 {
        let (system, friend) = (format!("sys{round}"), format!("fr{round}"));
        seed_v2_pair(s, &system, &friend).await;
        let code = format!("LEAVE{round}");
        seed_invite(s, &code, &system, 2).await;
        let (redeemed, deleted) = futures_util::future::join(
            s.redeem_invite(redemption(&code, &friend, ClientType::Friend, &code)),
            s.delete_user(system.clone()),
        )
        .await;
        assert!(deleted.unwrap());
        let redeemed = redeemed.unwrap();
        assert!(
            redeemed == Ok(system.clone())
                || redeemed == Err(Refusal::NotFound("Invalid invite code")),
            "{redeemed:?}"
        );
        assert!(s.pairings_with_peers(friend).await.unwrap().is_empty());
    }
}

on_every_adapter!(
    replica_requests_need_a_v2_system,
    pending_replica_requests_are_capped_under_concurrency,
    pairings_are_listed_newest_first_with_peers,
    unpairing_is_for_the_parties_and_takes_everything,
    a_deleted_account_takes_its_pairings,
    redeeming_an_invite_pairs_once,
    an_invite_is_redeemed_once_under_concurrency,
    redemption_and_replica_request_make_one_pairing,
    redemption_while_the_system_leaves,
);
