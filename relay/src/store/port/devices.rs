//! [`Devices`] on SQLite.

use super::SqliteStore;
use crate::service::{Decision, Refusal};
use crate::storage::devices::{Devices, UserCheck};
use crate::storage::{DecisionFuture, StoreFuture};
use crate::store::devices::{self as store, DeviceLink, OwnerState};
use crate::store::users;

impl Devices for SqliteStore {
    fn put_owner_state(
        &self,
        owner: String,
        state: OwnerState,
        hour: i64,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(user) = users::get(tx, &owner)? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            if let Err(refused) = check(&user) {
                return Ok(Err(refused));
            }
            if !store::put_owner_state(tx, &owner, &state, hour)? {
                // No stored version in the answer: the client fetches the signed state.
                return Ok(Err(Refusal::Conflict(
                    "The relay holds a newer owner state; fetch it and retry on top".into(),
                )));
            }
            Ok(Ok(()))
        }))
    }

    fn owner_state(&self, owner: String) -> StoreFuture<'_, Option<OwnerState>> {
        Box::pin(self.db.read(move |c| store::owner_state(c, &owner)))
    }

    fn create_device_link(
        &self,
        code: String,
        owner: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            store::expire_links(tx, now)?;
            if !store::create_link(tx, &code, &owner, expires_at, max_open)? {
                return Ok(Err(Refusal::Conflict(format!(
                    "Too many open device links (at most {max_open}); wait for some to expire"
                ))));
            }
            Ok(Ok(()))
        }))
    }

    fn device_link(&self, code: String, now: i64) -> StoreFuture<'_, Option<DeviceLink>> {
        Box::pin(self.db.read(move |c| store::link(c, &code, now)))
    }

    fn join_device_link(
        &self,
        code: String,
        now: i64,
        key: [u8; 32],
        label: String,
        proof: [u8; 32],
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(link) = store::link(tx, &code, now)? else {
                return Ok(Err(Refusal::NotFound("No such device link")));
            };
            if link.join.is_some() {
                return Ok(Err(Refusal::Conflict(
                    "A device already joined this link".into(),
                )));
            }
            store::set_join(tx, &code, &key, &label, &proof)?;
            Ok(Ok(()))
        }))
    }

    fn put_device_package(
        &self,
        code: String,
        owner: String,
        now: i64,
        package: Vec<u8>,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(link) = store::link(tx, &code, now)?.filter(|l| l.user_id == owner) else {
                return Ok(Err(Refusal::NotFound("No such device link")));
            };
            if link.join.is_none() {
                return Ok(Err(Refusal::Conflict(
                    "No device joined this link yet".into(),
                )));
            }
            if link.package.is_some() {
                return Ok(Err(Refusal::Conflict(
                    "This link already holds a package".into(),
                )));
            }
            store::set_package(tx, &code, &package)?;
            Ok(Ok(()))
        }))
    }

    fn take_device_package(&self, code: String, now: i64) -> DecisionFuture<'_, Vec<u8>> {
        Box::pin(self.db.write(move |tx| -> Decision<Vec<u8>> {
            let Some(package) = store::link(tx, &code, now)?.and_then(|l| l.package) else {
                return Ok(Err(Refusal::NotFound(
                    "No package for this device link yet",
                )));
            };
            store::delete_link(tx, &code)?;
            Ok(Ok(package))
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use crate::service::Refusal;
    use crate::storage::Storage;
    use crate::storage::devices::UserCheck;
    use crate::store::devices::OwnerState;
    use crate::store::port::SqliteStore;
    use crate::store::tests::user;
    use crate::store::{ClientType, Db, users};

    fn state(version: u64) -> OwnerState {
        OwnerState {
            version,
            header: vec![version as u8; 8],
            signature: [3; 64],
            payload: vec![4; 16],
        }
    }

    fn accept() -> UserCheck {
        Box::new(|_| Ok(()))
    }

    /// Through the port object, as handlers see it: a refusing check, a missing account and
    /// a version that does not grow each write nothing; the check sees the stored account.
    #[actix_web::test]
    async fn owner_state_is_written_only_when_the_check_passes_and_the_version_grows() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write(|tx| users::insert(tx, &user("sys", "sys", ClientType::System)))
            .await
            .unwrap();
        let store: Arc<dyn Storage> = Arc::new(SqliteStore::new(db));
        let owner = || "sys".to_owned();

        let missing = store
            .put_owner_state("nobody".into(), state(1), 0, accept())
            .await
            .unwrap();
        assert!(matches!(missing, Err(Refusal::Unauthorized(_))));

        let refuse: UserCheck = Box::new(|u| {
            assert_eq!(u.public_signing_key, [1; 32]);
            Err(Refusal::Forbidden("no"))
        });
        let refused = store
            .put_owner_state(owner(), state(1), 0, refuse)
            .await
            .unwrap();
        assert!(matches!(refused, Err(Refusal::Forbidden("no"))));
        assert!(store.owner_state(owner()).await.unwrap().is_none());

        store
            .put_owner_state(owner(), state(2), 0, accept())
            .await
            .unwrap()
            .unwrap();
        let stale = store
            .put_owner_state(owner(), state(2), 0, accept())
            .await
            .unwrap();
        assert!(matches!(stale, Err(Refusal::Conflict(_))));
        let stored = store.owner_state(owner()).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.header), (2, vec![2; 8]));
    }

    /// A link's package is served once: the second take finds nothing.
    #[actix_web::test]
    async fn a_device_package_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write(|tx| users::insert(tx, &user("sys", "sys", ClientType::System)))
            .await
            .unwrap();
        let store: Arc<dyn Storage> = Arc::new(SqliteStore::new(db));
        let code = || "ABCD-EFGH".to_owned();
        store
            .create_device_link(code(), "sys".into(), 100, 700, 4)
            .await
            .unwrap()
            .unwrap();
        let early = store
            .put_device_package(code(), "sys".into(), 101, vec![9])
            .await
            .unwrap();
        assert!(matches!(early, Err(Refusal::Conflict(_))));
        store
            .join_device_link(code(), 102, [5; 32], "phone".into(), [6; 32])
            .await
            .unwrap()
            .unwrap();
        let stranger = store
            .put_device_package(code(), "other".into(), 103, vec![9])
            .await
            .unwrap();
        assert!(matches!(stranger, Err(Refusal::NotFound(_))));
        store
            .put_device_package(code(), "sys".into(), 103, vec![9])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .take_device_package(code(), 104)
                .await
                .unwrap()
                .unwrap(),
            vec![9]
        );
        let again = store.take_device_package(code(), 105).await.unwrap();
        assert!(matches!(again, Err(Refusal::NotFound(_))));
        assert!(store.device_link(code(), 105).await.unwrap().is_none());
    }
}
