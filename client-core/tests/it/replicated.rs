//! One System on several relays (`docs/protocol-v2.md` §15) against real relay binaries: the
//! relay list, replication with per-relay results, a friend following the list, failover when
//! a relay is down, and repair of a stale relay. The full matrix (moves, friends on other
//! relays, malicious relays) lives in the `tests` crate.

use coffer_client_core::client::{
    ClientError, Fetched, FriendClient, ReplicaStatus, SystemClient, authenticator,
};
use coffer_client_core::transport::{RelayHttp, TransportError};
use coffer_client_core::v2::{BackupParams, InviteLink, RelayEntry};

use crate::common::clients::{Relay, memory, name};

fn entry(relay: &Relay) -> RelayEntry {
    let config = relay.config();
    RelayEntry::new(config.relay.as_str(), config.trust.pins()).expect("relay entry")
}

#[tokio::test]
async fn a_system_on_two_relays_survives_one_going_down() {
    let a = Relay::start().await;
    let mut b = Some(Relay::start().await);
    let b_entry = entry(b.as_ref().unwrap());
    let meta = name("meta");

    let system = SystemClient::register_replicated(a.config(), memory(), None)
        .await
        .expect("system registers");
    system.publish(&meta, b"one").await.expect("publish v1");
    let set = system
        .set_relays(vec![entry(&a), b_entry.clone()])
        .await
        .expect("set relays");
    assert_eq!(set.relays.len(), 2, "{:?}", set.relays);
    assert!(
        set.relays.iter().all(|r| r.status == ReplicaStatus::Stored),
        "{:?}",
        set.relays
    );
    assert_eq!(system.relays(), vec![entry(&a), b_entry.clone()]);

    // The friend pairs on A through a link that names B too.
    let friend = FriendClient::register_replicated(a.config(), memory(), None)
        .await
        .expect("friend registers");
    let link = InviteLink::parse(&system.create_invite().await.expect("invite").to_uri())
        .expect("link parses");
    assert_eq!(link.relays().len(), 2);
    let paired = friend
        .redeem_replicated(&link, false)
        .await
        .expect("redeem");
    system
        .approve(friend.user_id(), std::slice::from_ref(&meta), None)
        .await
        .expect("approve");
    let followed = friend.follow(paired.system_id, true).await.expect("follow");
    assert!(followed.version.is_some(), "{followed:?}");
    assert_eq!(followed.relays, vec![entry(&a), b_entry.clone()]);
    assert!(
        followed.accounts.iter().all(|r| r.status.is_current()),
        "{followed:?}"
    );
    assert_eq!(friend.own_relays().len(), 2);

    // B got the friend's grant when it registered? Not yet: repair uploads it.
    let repaired = system.repair().await.expect("repair");
    assert_eq!(repaired.relays[1].grants_copied, 1, "{repaired:?}");

    let got = friend
        .fetch_replicated(paired.system_id, &meta)
        .await
        .expect("fetch");
    assert_eq!(got.relay, a.config().relay.as_str());
    assert!(
        matches!(got.fetched, Fetched::Updated { version: 1, .. }),
        "{got:?}"
    );

    // B goes down: publishing still succeeds, B is reported unreachable.
    let b_dir_relay = b.take();
    drop(b_dir_relay);
    let published = system
        .publish_replicated(&meta, b"two")
        .await
        .expect("publish with B down");
    assert_eq!(published.relays[0].status, ReplicaStatus::Stored);
    assert!(
        matches!(
            published.relays[1].status,
            ReplicaStatus::Unreachable { .. }
        ),
        "{:?}",
        published.relays
    );
    let got = friend
        .fetch_replicated(paired.system_id, &meta)
        .await
        .expect("fetch from A");
    assert!(
        matches!(got.fetched, Fetched::Updated { version: 2, .. }),
        "{got:?}"
    );
}

#[tokio::test]
async fn an_account_whose_first_relay_is_gone_is_restored_through_another() {
    let a = Relay::start().await;
    let b = Relay::start().await;
    let meta = name("meta");
    let system = SystemClient::register_replicated(a.config(), memory(), None)
        .await
        .expect("system registers");
    system
        .set_relays(vec![entry(&a), entry(&b)])
        .await
        .expect("set relays");
    system.publish(&meta, b"kept").await.expect("publish");
    let backup = system
        .export_backup("a long passphrase", &BackupParams::danger_fast_for_tests())
        .await
        .expect("backup");
    let id = system.user_id();
    drop(system);
    drop(a); // gone for good

    // Opened through B: the backup's list names it.
    let restored =
        SystemClient::restore_backup_replicated(b.config(), memory(), &backup, "a long passphrase")
            .await
            .expect("restored through B");
    assert_eq!(restored.user_id(), id);
    assert_eq!(restored.relays().len(), 2);
    match restored.fetch(&meta).await.expect("read back from B") {
        Fetched::Updated {
            version, plaintext, ..
        } => {
            assert_eq!(version, 1);
            assert_eq!(&plaintext[..], b"kept");
        }
        other => panic!("expected the volume, got {other:?}"),
    }
    // Moving off A: B alone from now on.
    let moved = restored
        .set_relays(vec![entry(&b)])
        .await
        .expect("move to B");
    // B, then the removed A (gone: it could not get the list that sends friends on).
    assert_eq!(moved.relays.len(), 2, "{:?}", moved.relays);
    assert_eq!(moved.relays[0].status, ReplicaStatus::Stored);
    assert!(
        matches!(moved.relays[1].status, ReplicaStatus::Unreachable { .. }),
        "{:?}",
        moved.relays
    );
    assert_eq!(restored.relays(), vec![entry(&b)]);
    let published = restored
        .publish_replicated(&meta, b"on B")
        .await
        .expect("publish on B");
    assert_eq!(
        published.value.version, 2,
        "versions go on from the restored marks"
    );
}

#[tokio::test]
async fn leaving_a_relay_deletes_the_account_there_once_it_is_off_the_list() {
    let a = Relay::start().await;
    let b = Relay::start().await;
    let meta = name("meta");
    let store = memory();
    let system = SystemClient::register_replicated(a.config(), store.clone(), None)
        .await
        .expect("system registers");
    system
        .set_relays(vec![entry(&a), entry(&b)])
        .await
        .expect("set relays");
    system.publish(&meta, b"moving").await.expect("publish");
    let refused = system.leave_relay(&entry(&a)).await;
    assert!(
        matches!(refused, Err(ClientError::InvalidInput(_))),
        "still listed: {refused:?}"
    );

    system.set_relays(vec![entry(&b)]).await.expect("move to B");
    system.leave_relay(&entry(&a)).await.expect("leave A");
    // A holds nothing of the account any more: its login is refused there.
    let config = a.config();
    let on_a = RelayHttp::new(config.relay.clone(), &config.trust, config.http.clone())
        .expect("a connection to A")
        .with_authenticator(authenticator(&store).expect("the account's login"));
    assert!(
        matches!(on_a.login().await, Err(TransportError::NotFound)),
        "the account is gone on A"
    );
    // B still serves it, and leaving again is no error.
    match system.fetch(&meta).await.expect("read back from B") {
        Fetched::Updated { plaintext, .. } => assert_eq!(&plaintext[..], b"moving"),
        other => panic!("expected the volume, got {other:?}"),
    }
    system.leave_relay(&entry(&a)).await.expect("leaving twice");
}
