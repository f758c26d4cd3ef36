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
