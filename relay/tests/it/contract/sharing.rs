//! [`Sharing`]: v1 relationships between a system and a friend: one per pair, made pending by
//! a request or a redeemed invite, answered and changed by the system only, ended by either
//! party, listed newest first, gone with either account; and each rule under a race.

use coffer_relay::service::Refusal;
use coffer_relay::storage::invites::Invites;
use coffer_relay::storage::sharing::{
    EXISTS, InviteCheck, Relationship, Response, Sharing, Status, TargetCheck,
};
use coffer_relay::storage::users::{ClientType, Users};

use super::harness::{account, seed_user};
use super::on_every_adapter;

const NOW: i64 = 1_700_000_000;
const HOUR: i64 = NOW - NOW % 3600;
const BOTH: &[Status] = &[Status::Pending, Status::Active];

fn rid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn any_target() -> TargetCheck {
    Box::new(|_| Ok(()))
}

/// The handler's rule in short: an open invite, not yet redeemed.
fn open_invite(now: i64) -> InviteCheck {
    Box::new(move |stored| match stored {
        None => Err(Refusal::NotFound("Invite code not found")),
        Some(i) if i.redeemed => Err(Refusal::bad("Invite code already redeemed")),
        Some(i) if i.expires_at <= now => Err(Refusal::bad("Invite code has expired")),
        Some(i) => Ok(i),
    })
}

async fn seed_pair<S: Users>(s: &S) {
    seed_user(s, account("sys", Some("Sys"), ClientType::System)).await;
    seed_user(s, account("fr", Some("Fr"), ClientType::Friend)).await;
}

async fn request<S: Sharing>(s: &S, n: u32, system: &str, friend: &str) -> Relationship {
    s.request_sharing(rid(n), system.into(), friend.into(), HOUR, any_target())
        .await
        .unwrap()
        .unwrap()
}

fn ids(list: &[Relationship]) -> Vec<&str> {
    list.iter().map(|r| r.id.as_str()).collect()
}

/// A request makes one pending relationship, answered with both users' public fields;
/// refused for an unknown system (404), by the target rule, and while one exists (409).
async fn a_request_makes_one_pending_relationship_per_pair<S: Sharing + Users>(s: &S) {
    seed_pair(s).await;
    let rel = request(s, 1, "sys", "fr").await;
    let sys = account("sys", None, ClientType::System);
    let fr = account("fr", None, ClientType::Friend);
    assert_eq!(
        (
            rel.id.as_str(),
            rel.system_user_id.as_str(),
            rel.friend_user_id.as_str(),
            rel.status.as_str(),
            rel.permissions.as_str(),
            rel.encrypted_vek_blob.as_deref(),
            rel.created_at,
            rel.updated_at,
            rel.system_handle.as_deref(),
            rel.friend_handle.as_deref(),
        ),
        (
            rid(1).as_str(),
            "sys",
            "fr",
            "pending",
            "{}",
            None,
            HOUR,
            HOUR,
            Some("Sys"),
            Some("Fr"),
        )
    );
    assert_eq!(rel.system_exchange_key, sys.public_exchange_key.to_vec());
    assert_eq!(rel.friend_exchange_key, fr.public_exchange_key.to_vec());
    let again = s
        .request_sharing(rid(2), "sys".into(), "fr".into(), HOUR, any_target())
        .await
        .unwrap();
    assert_eq!(again.map(|r| r.id), Err(Refusal::Conflict(EXISTS.into())));
    let unknown = s
        .request_sharing(rid(3), "nobody".into(), "fr".into(), HOUR, any_target())
        .await
        .unwrap();
    assert_eq!(
        unknown.map(|r| r.id),
        Err(Refusal::NotFound("User not found"))
    );
    // The rule runs on the target account.
    let refused = s
        .request_sharing(
            rid(4),
            "fr".into(),
            "sys".into(),
            HOUR,
            Box::new(|target| {
                assert_eq!(target.id, "fr");
                if target.client_type == ClientType::System {
                    Ok(())
                } else {
                    Err(Refusal::bad("Target user is not a system"))
                }
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        refused.map(|r| r.id),
        Err(Refusal::bad("Target user is not a system"))
    );
    let listed = s
        .sharing_relationships("sys".into(), ClientType::System, BOTH)
        .await
        .unwrap();
    assert_eq!(ids(&listed), [rid(1)]);
    // Still one once accepted.
    s.respond_sharing(rid(1), "sys".into(), accept(b"vek", "{\"a\":1}"), HOUR)
        .await
        .unwrap()
        .unwrap();
    let again = s
        .request_sharing(rid(5), "sys".into(), "fr".into(), HOUR, any_target())
        .await
        .unwrap();
    assert_eq!(again.map(|r| r.id), Err(Refusal::Conflict(EXISTS.into())));
}

fn accept(vek: &[u8], permissions: &str) -> Response {
    Response::Accept {
        wrapped_vek: vek.to_vec(),
        permissions: permissions.into(),
    }
}

/// Redeeming an invite: the check decides on the stored invite; it is marked redeemed and the
/// pending relationship made together (at the hour); refused with 409 while the pair has one,
/// and then nothing is marked.
async fn a_redeemed_invite_makes_a_pending_relationship<S: Sharing + Users + Invites>(s: &S) {
    seed_pair(s).await;
    seed_user(s, account("fr2", None, ClientType::Friend)).await;
    assert!(
        s.create_invite("INVITEINVITE".into(), "sys".into(), NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_in = std::sync::Arc::clone(&seen);
    request(s, 1, "sys", "fr").await;
    // The pair has a relationship: refused, and the invite stays open.
    let exists = s
        .redeem_sharing_invite(
            "INVITEINVITE".into(),
            "fr".into(),
            rid(2),
            NOW,
            open_invite(NOW),
        )
        .await
        .unwrap();
    assert_eq!(exists.map(|r| r.id), Err(Refusal::Conflict(EXISTS.into())));
    let rel = s
        .redeem_sharing_invite(
            "INVITEINVITE".into(),
            "fr2".into(),
            rid(3),
            NOW + 60,
            Box::new(move |stored| {
                let invite = stored.ok_or(Refusal::NotFound("Invite code not found"))?;
                *seen_in.lock().unwrap() = Some((
                    invite.code.clone(),
                    invite.system_user_id.clone(),
                    invite.expires_at,
                    invite.redeemed,
                    invite.protocol,
                ));
                Ok(invite)
            }),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some((
            "INVITEINVITE".to_owned(),
            "sys".to_owned(),
            NOW + 600,
            false,
            1
        ))
    );
    assert_eq!(
        (
            rel.id.as_str(),
            rel.system_user_id.as_str(),
            rel.friend_user_id.as_str(),
            rel.status.as_str(),
            rel.created_at,
            rel.updated_at,
        ),
        (rid(3).as_str(), "sys", "fr2", "pending", HOUR, HOUR)
    );
    seed_user(s, account("fr3", None, ClientType::Friend)).await;
    let used = s
        .redeem_sharing_invite(
            "INVITEINVITE".into(),
            "fr3".into(),
            rid(4),
            NOW,
            open_invite(NOW),
        )
        .await
        .unwrap();
    assert_eq!(
        used.map(|r| r.id),
        Err(Refusal::bad("Invite code already redeemed"))
    );
    let unknown = s
        .redeem_sharing_invite(
            "NOSUCHINVITE".into(),
            "fr3".into(),
            rid(5),
            NOW,
            open_invite(NOW),
        )
        .await
        .unwrap();
    assert_eq!(
        unknown.map(|r| r.id),
        Err(Refusal::NotFound("Invite code not found"))
    );
    let listed = s
        .sharing_relationships("sys".into(), ClientType::System, BOTH)
        .await
        .unwrap();
    assert_eq!(ids(&listed), [rid(3), rid(1)]);
}

/// Only the system answers, only a pending relationship: accepting stores the wrapped VEK and
/// the permissions; rejecting deletes it (a new request may follow).
async fn the_system_answers_a_pending_relationship_once<S: Sharing + Users>(s: &S) {
    seed_pair(s).await;
    seed_user(s, account("other", None, ClientType::System)).await;
    request(s, 1, "sys", "fr").await;
    let later = HOUR + 3600;
    let answer = |id: String, system: &str, response: Response| {
        s.respond_sharing(id, system.into(), response, later)
    };
    assert_eq!(
        answer(rid(9), "sys", Response::Reject).await.unwrap(),
        Err(Refusal::NotFound("Sharing relationship not found"))
    );
    assert_eq!(
        answer(rid(1), "other", accept(b"v", "{}")).await.unwrap(),
        Err(Refusal::Forbidden(
            "You are not the system of this relationship"
        ))
    );
    assert_eq!(
        answer(rid(1), "fr", accept(b"v", "{}")).await.unwrap(),
        Err(Refusal::Forbidden(
            "You are not the system of this relationship"
        ))
    );
    assert!(
        s.active_relationship("sys".into(), "fr".into())
            .await
            .unwrap()
            .is_none(),
        "pending is not active"
    );
    assert_eq!(
        answer(rid(1), "sys", accept(b"wrapped", "{\"share_x\":true}"))
            .await
            .unwrap(),
        Ok(())
    );
    let active = s
        .active_relationship("sys".into(), "fr".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            active.id.as_str(),
            active.status.as_str(),
            active.encrypted_vek_blob.as_deref(),
            active.permissions.as_str(),
            active.created_at,
            active.updated_at,
        ),
        (
            rid(1).as_str(),
            "active",
            Some(&b"wrapped"[..]),
            "{\"share_x\":true}",
            HOUR,
            later,
        )
    );
    assert_eq!(
        answer(rid(1), "sys", Response::Reject).await.unwrap(),
        Err(Refusal::bad("Relationship is not pending"))
    );
    assert!(
        s.active_relationship("fr".into(), "sys".into())
            .await
            .unwrap()
            .is_none(),
        "the pair is ordered"
    );
    // Rejecting a pending one deletes it.
    seed_user(s, account("fr2", None, ClientType::Friend)).await;
    request(s, 2, "sys", "fr2").await;
    assert_eq!(
        answer(rid(2), "sys", Response::Reject).await.unwrap(),
        Ok(())
    );
    let pending = s
        .sharing_relationships("fr2".into(), ClientType::Friend, BOTH)
        .await
        .unwrap();
    assert!(pending.is_empty());
    request(s, 3, "sys", "fr2").await;
}

/// Permissions change only on an active relationship, by its system.
async fn permissions_change_on_an_active_relationship_only<S: Sharing + Users>(s: &S) {
    seed_pair(s).await;
    request(s, 1, "sys", "fr").await;
    let set = |id: String, system: &str, permissions: &str, hour: i64| {
        s.set_sharing_permissions(id, system.into(), permissions.into(), hour)
    };
    assert_eq!(
        set(rid(1), "sys", "{\"p\":1}", HOUR).await.unwrap(),
        Err(Refusal::bad("Relationship is not active"))
    );
    s.respond_sharing(rid(1), "sys".into(), accept(b"v", "{}"), HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        set(rid(1), "fr", "{\"p\":1}", HOUR).await.unwrap(),
        Err(Refusal::Forbidden(
            "You are not the system of this relationship"
        ))
    );
    assert_eq!(
        set(rid(7), "sys", "{\"p\":1}", HOUR).await.unwrap(),
        Err(Refusal::NotFound("Sharing relationship not found"))
    );
    assert_eq!(
        set(rid(1), "sys", "{\"p\":2}", HOUR + 7200).await.unwrap(),
        Ok(())
    );
    let rel = s
        .active_relationship("sys".into(), "fr".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            rel.permissions.as_str(),
            rel.updated_at,
            rel.encrypted_vek_blob.as_deref()
        ),
        ("{\"p\":2}", HOUR + 7200, Some(&b"v"[..]))
    );
}

/// Either party ends a relationship, no one else; it is gone for both.
async fn either_party_ends_a_relationship<S: Sharing + Users>(s: &S) {
    seed_pair(s).await;
    seed_user(s, account("x", None, ClientType::Friend)).await;
    request(s, 1, "sys", "fr").await;
    request(s, 2, "sys", "x").await;
    assert_eq!(
        s.delete_sharing(rid(1), "x".into()).await.unwrap(),
        Err(Refusal::Forbidden(
            "You are not a party to this relationship"
        ))
    );
    assert_eq!(
        s.delete_sharing(rid(9), "sys".into()).await.unwrap(),
        Err(Refusal::NotFound("Sharing relationship not found"))
    );
    assert_eq!(s.delete_sharing(rid(1), "fr".into()).await.unwrap(), Ok(()));
    assert_eq!(
        s.delete_sharing(rid(1), "fr".into()).await.unwrap(),
        Err(Refusal::NotFound("Sharing relationship not found"))
    );
    s.respond_sharing(rid(2), "sys".into(), accept(b"v", "{}"), HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.delete_sharing(rid(2), "sys".into()).await.unwrap(),
        Ok(())
    );
    assert!(
        s.active_relationship("sys".into(), "x".into())
            .await
            .unwrap()
            .is_none()
    );
    let listed = s
        .sharing_relationships("sys".into(), ClientType::System, BOTH)
        .await
        .unwrap();
    assert!(listed.is_empty());
}

/// Lists: the user's side only, the statuses asked for, newest first (by creation hour, then
/// the later made first within an hour); an account's deletion takes its relationships.
async fn relationships_are_listed_newest_first_and_go_with_an_account<S: Sharing + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    seed_user(s, account("sys2", None, ClientType::System)).await;
    for f in ["f1", "f2", "f3", "f4"] {
        seed_user(s, account(f, None, ClientType::Friend)).await;
    }
    // Made in this order: 3 in a later hour, then 1, 4, 2 in the same earlier hour.
    let make = |n: u32, friend: &str, hour: i64| {
        s.request_sharing(rid(n), "sys".into(), friend.into(), hour, any_target())
    };
    make(3, "f3", HOUR + 3600).await.unwrap().unwrap();
    make(1, "f1", HOUR).await.unwrap().unwrap();
    make(4, "f4", HOUR).await.unwrap().unwrap();
    make(2, "f2", HOUR).await.unwrap().unwrap();
    s.request_sharing(rid(5), "sys2".into(), "f1".into(), HOUR, any_target())
        .await
        .unwrap()
        .unwrap();
    s.respond_sharing(rid(4), "sys".into(), accept(b"v", "{}"), HOUR + 7200)
        .await
        .unwrap()
        .unwrap();
    let list = |user: &str, side: ClientType, statuses: &'static [Status]| {
        s.sharing_relationships(user.into(), side, statuses)
    };
    let all = list("sys", ClientType::System, BOTH).await.unwrap();
    assert_eq!(ids(&all), [rid(3), rid(2), rid(4), rid(1)]);
    let active = list("sys", ClientType::System, &[Status::Active])
        .await
        .unwrap();
    assert_eq!(ids(&active), [rid(4)]);
    let pending = list("sys", ClientType::System, &[Status::Pending])
        .await
        .unwrap();
    assert_eq!(ids(&pending), [rid(3), rid(2), rid(1)]);
    assert!(
        list("sys", ClientType::Friend, BOTH)
            .await
            .unwrap()
            .is_empty(),
        "the other side"
    );
    assert!(
        list("sys", ClientType::System, &[])
            .await
            .unwrap()
            .is_empty(),
        "no status asked"
    );
    let f1 = list("f1", ClientType::Friend, BOTH).await.unwrap();
    assert_eq!(ids(&f1), [rid(5), rid(1)]);
    // A relationship made again after a rejection is the newest.
    s.respond_sharing(rid(1), "sys".into(), Response::Reject, HOUR)
        .await
        .unwrap()
        .unwrap();
    make(6, "f1", HOUR).await.unwrap().unwrap();
    let all = list("sys", ClientType::System, BOTH).await.unwrap();
    assert_eq!(ids(&all), [rid(3), rid(6), rid(2), rid(4)]);
    // Either account's deletion takes its relationships.
    assert!(s.delete_user("f2".into()).await.unwrap());
    assert!(s.delete_user("sys2".into()).await.unwrap());
    let all = list("sys", ClientType::System, BOTH).await.unwrap();
    assert_eq!(ids(&all), [rid(3), rid(6), rid(4)]);
    let f1 = list("f1", ClientType::Friend, BOTH).await.unwrap();
    assert_eq!(ids(&f1), [rid(6)]);
    assert!(s.delete_user("sys".into()).await.unwrap());
    assert!(
        list("f4", ClientType::Friend, BOTH)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Races: of many requests for one pair, and of many redemptions of one invite, exactly one
/// wins; of many answers to one pending relationship, exactly one is taken.
async fn sharing_decisions_hold_under_concurrency<S: Sharing + Users + Invites + Sync>(s: &S) {
    seed_pair(s).await;
    let requests = (0..8).map(|i| async move {
        s.request_sharing(rid(i), "sys".into(), "fr".into(), HOUR, any_target())
            .await
            .unwrap()
            .map(|r| r.id)
    });
    let outcomes = futures_util::future::join_all(requests).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || *o == Err(Refusal::Conflict(EXISTS.into()))),
        "{outcomes:?}"
    );
    let Some(Ok(winner)) = outcomes.into_iter().find(Result::is_ok) else {
        unreachable!()
    };
    let answers = (0..8u32).map(|i| {
        let winner = winner.clone();
        async move {
            let response = if i.is_multiple_of(2) {
                accept(b"v", "{}")
            } else {
                Response::Reject
            };
            s.respond_sharing(winner, "sys".into(), response, HOUR)
                .await
                .unwrap()
        }
    });
    let outcomes = futures_util::future::join_all(answers).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| o.is_ok()
            || *o == Err(Refusal::bad("Relationship is not pending"))
            || *o == Err(Refusal::NotFound("Sharing relationship not found"))),
        "{outcomes:?}"
    );
    assert!(
        s.create_invite("ONEINVITE000".into(), "sys".into(), NOW, NOW + 600, 5, 1)
            .await
            .unwrap()
    );
    for i in 0..8 {
        seed_user(s, account(&format!("r{i}"), None, ClientType::Friend)).await;
    }
    let redemptions = (0..8).map(|i| async move {
        s.redeem_sharing_invite(
            "ONEINVITE000".into(),
            format!("r{i}"),
            rid(100 + i),
            NOW,
            open_invite(NOW),
        )
        .await
        .unwrap()
        .map(|r| r.friend_user_id)
    });
    let outcomes = futures_util::future::join_all(redemptions).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || *o == Err(Refusal::bad("Invite code already redeemed"))),
        "{outcomes:?}"
    );
}

on_every_adapter!(
    a_request_makes_one_pending_relationship_per_pair,
    a_redeemed_invite_makes_a_pending_relationship,
    the_system_answers_a_pending_relationship_once,
    permissions_change_on_an_active_relationship_only,
    either_party_ends_a_relationship,
    relationships_are_listed_newest_first_and_go_with_an_account,
    sharing_decisions_hold_under_concurrency,
);
