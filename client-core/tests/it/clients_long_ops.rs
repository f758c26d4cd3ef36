//! Progress reports and cancellation of the long client operations (a rotation after a
//! revocation, a publish), and the account backup, against the real `coffer-relay` binary over
//! TLS on 127.0.0.1.

use std::sync::{Arc, Mutex};

use coffer_client_core::client::{Cancel, ClientError, FriendClient, Progress, SystemClient};
use coffer_client_core::v2::{BackupError, BackupParams};

use crate::common::clients::{Relay, memory, name, paired_friend, read};

/// Records every report; optionally cancels `token` when a report starting with `cancel_at`
/// arrives (so the operation stops at a known step).
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(u64, u64, String)>>,
    cancel_at: Option<(&'static str, Cancel)>,
}

impl Recorder {
    fn cancelling(at: &'static str, token: &Cancel) -> Recorder {
        Recorder {
            seen: Mutex::default(),
            cancel_at: Some((at, token.clone())),
        }
    }

    fn seen(&self) -> Vec<(u64, u64, String)> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Progress for Recorder {
    fn on_progress(&self, done: u64, total: u64, what: &str) {
        self.seen
            .lock()
            .expect("lock")
            .push((done, total, what.to_owned()));
        if let Some((at, token)) = &self.cancel_at
            && what.starts_with(at)
        {
            token.cancel();
        }
    }
}

fn event(done: u64, total: u64, what: &str) -> (u64, u64, String) {
    (done, total, what.to_owned())
}

/// A revocation cancelled after the friend was unpaired and before the first volume rotated:
/// the friend is already refused, the plan stays, and resuming finishes it, reporting the
/// steps done before as done.
#[tokio::test]
async fn a_cancelled_revocation_resumes_where_it_stopped() {
    let relay = Relay::start().await;
    let (meta, fronts) = (name("meta"), name("fronts"));
    let store = memory();
    let system = SystemClient::register(relay.config(), Arc::clone(&store), None)
        .await
        .expect("register");
    system.publish(&meta, b"meta v1").await.expect("publish");
    system
        .publish(&fronts, b"fronts v1")
        .await
        .expect("publish");
    let both = [meta.clone(), fronts.clone()];
    let revoked = paired_friend(&relay, &system, &both).await;
    let stays = paired_friend(&relay, &system, &both).await;
    let sys = system.user_id();

    let token = Cancel::new();
    let recorder = Recorder::cancelling("rotate:", &token);
    let cancelled = system
        .revoke_with(revoked.user_id(), &recorder, &token)
        .await;
    assert!(
        matches!(cancelled, Err(ClientError::Cancelled)),
        "{cancelled:?}"
    );
    // unpair, rotate fronts, rotate meta, regrant the remaining friend.
    assert_eq!(
        recorder.seen(),
        vec![event(0, 4, "unpair"), event(1, 4, "rotate:fronts")]
    );
    assert!(store.load("rotation").expect("load").is_some(), "plan kept");
    assert!(matches!(
        revoked.fetch(sys, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));

    let resumed = Recorder::default();
    let report = system
        .resume_rotation_with(&resumed, &Cancel::new())
        .await
        .expect("resume")
        .expect("a rotation was pending");
    assert_eq!(report.rotated, vec![(fronts.clone(), 2), (meta.clone(), 2)]);
    assert_eq!(report.friends_regranted, vec![stays.user_id()]);
    assert_eq!(
        resumed.seen(),
        vec![
            event(1, 4, "rotate:fronts"),
            event(2, 4, "rotate:meta"),
            event(3, 4, "regrant"),
            event(4, 4, "done"),
        ]
    );
    assert!(store.load("rotation").expect("load").is_none());
    assert_eq!(read(&stays, sys, &meta).await, (2, 2, b"meta v1".to_vec()));
    assert!(matches!(
        revoked.fetch(sys, &fronts).await,
        Err(ClientError::Forbidden { .. })
    ));
}

#[tokio::test]
async fn publish_reports_its_steps_and_a_cancelled_publish_is_repeated() {
    let relay = Relay::start().await;
    let meta = name("meta");
    let system = SystemClient::register(relay.config(), memory(), None)
        .await
        .expect("register");
    let recorder = Recorder::default();
    let published = system
        .publish_with(&meta, &[7; 200_000], &recorder, &Cancel::new())
        .await
        .expect("publish");
    assert_eq!((published.epoch, published.version), (1, 1));
    assert_eq!(
        recorder.seen(),
        vec![
            event(0, 2, "seal:meta"),
            event(1, 2, "upload:meta"),
            event(2, 2, "done")
        ]
    );

    // Cancelled as the upload starts: nothing is sent, and the next publish takes its place.
    let token = Cancel::new();
    let recorder = Recorder::cancelling("upload:", &token);
    assert!(matches!(
        system
            .publish_with(&meta, b"abandoned", &recorder, &token)
            .await,
        Err(ClientError::Cancelled)
    ));
    let published = system.publish(&meta, b"v2").await.expect("publish");
    assert_eq!(published.version, 2);
    let friend = paired_friend(&relay, &system, std::slice::from_ref(&meta)).await;
    assert_eq!(
        read(&friend, system.user_id(), &meta).await,
        (2, 1, b"v2".to_vec())
    );
}

/// Unlike `SystemClient::restore` (identity only), a backup brings back volume keys, pins and
/// grants: the restored device publishes in the same epoch and the friend reads it.
#[tokio::test]
async fn a_backup_restores_the_account_on_a_new_device() {
    let relay = Relay::start().await;
    let meta = name("meta");
    let system = SystemClient::register(relay.config(), memory(), None)
        .await
        .expect("register");
    system.publish(&meta, b"meta v1").await.expect("publish");
    let friend = paired_friend(&relay, &system, std::slice::from_ref(&meta)).await;
    let sys = system.user_id();
    let params = BackupParams::danger_fast_for_tests();
    let system_backup = system
        .export_backup("correct horse battery", &params)
        .await
        .expect("export");
    let friend_backup = friend
        .export_backup("friend passphrase", &params)
        .await
        .expect("export");
    drop(system);

    let target = memory();
    assert!(matches!(
        SystemClient::restore_backup(relay.config(), Arc::clone(&target), &system_backup, "wrong")
            .await,
        Err(ClientError::Backup(BackupError::WrongPassphrase))
    ));
    assert!(matches!(
        FriendClient::restore_backup(
            relay.config(),
            Arc::clone(&target),
            &system_backup,
            "correct horse battery"
        )
        .await,
        Err(ClientError::InvalidInput(_))
    ));
    assert!(target.list("").expect("list").is_empty());

    let restored = SystemClient::restore_backup(
        relay.config(),
        Arc::clone(&target),
        &system_backup,
        "correct horse battery",
    )
    .await
    .expect("restore");
    assert_eq!(restored.user_id(), sys);
    let published = restored.publish(&meta, b"meta v2").await.expect("publish");
    assert_eq!((published.epoch, published.version), (1, 2));
    assert_eq!(read(&friend, sys, &meta).await, (2, 1, b"meta v2".to_vec()));

    // The friend, restored elsewhere, still has the system pinned.
    let friend_again = FriendClient::restore_backup(
        relay.config(),
        memory(),
        &friend_backup,
        "friend passphrase",
    )
    .await
    .expect("restore");
    assert_eq!(friend_again.user_id(), friend.user_id());
    assert_eq!(
        read(&friend_again, sys, &meta).await,
        (2, 1, b"meta v2".to_vec())
    );
}
