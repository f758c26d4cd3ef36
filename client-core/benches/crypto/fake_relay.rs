//! An honest relay in memory, for timing the client state machines without a network, TLS,
//! SQLite or fsync: what a rotation costs the *client* (the phone), not the relay.
//!
//! It implements exactly what `SystemClient` calls during publish, invite, approve and revoke
//! (plus the friend's redeem); the rest answers `Protocol`. It checks what the real relay checks
//! for ordering (stale versions are a 409) but verifies no signature: the client verifies what
//! it is served, and this relay only serves back what the client itself uploaded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use coffer_client_core::client::RelayApi;
use coffer_client_core::identity::Identity;
use coffer_client_core::transport::{
    Challenge, ChallengeRequest, ClientType, Fetched, GrantEnvelope, Handle, Invite, InviteCode,
    Pairing, PairingId, PairingStatus, ReceiptEnvelope, RedeemRequest, Redeemed, RegisterRequest,
    Registered, RelayOrigin, RelayTime, Session, SharedVolume, SignedVolume, TokenRequest,
    TransportError, UserId, UserRecord, VolumeEntry,
};
use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::api::{DeviceLink, DeviceLinkStatus, DevicePackage, OwnerStateEnvelope};
use coffer_wire::v2::{Header, VolumeName};
use uuid::Uuid;

const NOT_FAKED: TransportError = TransportError::Protocol("not implemented by the in-memory fake");

#[derive(Default)]
struct World {
    users: HashMap<Uuid, UserRecord>,
    volumes: HashMap<(Uuid, String), (u32, u64, SignedVolume)>,
    invites: HashMap<String, Uuid>,
    pairings: Vec<FakePairing>,
    grants: HashMap<(Uuid, Uuid), GrantEnvelope>,
    next_code: u64,
}

#[derive(Clone)]
struct FakePairing {
    id: Uuid,
    system: Uuid,
    friend: Uuid,
    code: InviteCode,
    proof: [u8; 32],
    active: bool,
}

/// One user's connection to the shared in-memory relay.
#[derive(Clone)]
pub struct FakeRelay {
    world: Arc<Mutex<World>>,
    me: Uuid,
    origin: RelayOrigin,
}

impl FakeRelay {
    /// A new, empty relay; returns the connection of nobody (use [`Self::register`]).
    pub fn new_world() -> FakeRelay {
        FakeRelay {
            world: Arc::default(),
            me: Uuid::nil(),
            origin: "https://relay.invalid:8443"
                .parse()
                .expect("a valid origin literal"),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `identity` as a new account and returns its connection.
    pub fn register(&self, identity: &Identity, client_type: ClientType) -> FakeRelay {
        let id = Uuid::new_v4();
        self.world().users.insert(
            id,
            UserRecord {
                user_id: UserId::from_uuid(id),
                handle: None,
                client_type,
                public_signing_key: PublicKey32::from_bytes(identity.public_signing_key()),
                public_exchange_key: PublicKey32::from_bytes(identity.public_exchange_key()),
                key_binding_signature: Signature64::from_bytes(identity.key_binding_signature()),
            },
        );
        FakeRelay {
            world: Arc::clone(&self.world),
            me: id,
            origin: self.origin.clone(),
        }
    }

    /// The account this connection acts as.
    pub fn user_id(&self) -> Uuid {
        self.me
    }

    fn pairing_view(&self, world: &World, p: &FakePairing) -> Option<Pairing> {
        let peer_id = if p.system == self.me {
            p.friend
        } else {
            p.system
        };
        Some(Pairing {
            pairing_id: PairingId::from_uuid(p.id),
            system_user_id: UserId::from_uuid(p.system),
            friend_user_id: UserId::from_uuid(p.friend),
            status: if p.active {
                PairingStatus::Active
            } else {
                PairingStatus::Pending
            },
            code: Some(p.code.clone()),
            proof: Some(p.proof),
            created_at: None,
            peer: world.users.get(&peer_id)?.clone(),
        })
    }
}

fn ready<T: Send>(value: T) -> impl Future<Output = T> + Send {
    std::future::ready(value)
}

impl RelayApi for FakeRelay {
    fn origin(&self) -> &RelayOrigin {
        &self.origin
    }

    fn login(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        ready(Ok(()))
    }

    fn register(
        &self,
        _: &RegisterRequest,
    ) -> impl Future<Output = Result<Registered, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn challenge(
        &self,
        _: &ChallengeRequest,
    ) -> impl Future<Output = Result<Challenge, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn token(
        &self,
        _: &TokenRequest,
    ) -> impl Future<Output = Result<Session, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn user_by_handle(
        &self,
        _: &Handle,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn user_by_id(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        let found = self.world().users.get(user_id.as_uuid()).cloned();
        ready(found.ok_or(TransportError::NotFound))
    }

    fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let result = (|| {
            let header = Header::parse(&volume.header).map_err(|_| TransportError::BadRequest {
                message: "malformed header".into(),
            })?;
            let mut world = self.world();
            let key = (self.me, name.as_str().to_owned());
            if let Some((epoch, version, _)) = world.volumes.get(&key)
                && (*version >= header.version || *epoch > header.epoch)
            {
                return Err(TransportError::Conflict {
                    current_version: Some(*version),
                    current_epoch: Some(*epoch),
                });
            }
            world
                .volumes
                .insert(key, (header.epoch, header.version, volume.clone()));
            Ok(())
        })();
        ready(result)
    }

    fn list_volumes(
        &self,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        let world = self.world();
        let entries = world
            .volumes
            .iter()
            .filter(|((owner, _), _)| *owner == self.me)
            .filter_map(|((_, name), (epoch, version, v))| {
                Some(VolumeEntry {
                    volume: VolumeName::new(name).ok()?,
                    epoch: *epoch,
                    version: *version,
                    header: v.header.clone(),
                    signature: v.signature,
                })
            })
            .collect();
        ready(Ok(entries))
    }

    fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SignedVolume>, TransportError>> + Send {
        let world = self.world();
        let result = match world.volumes.get(&(self.me, name.as_str().to_owned())) {
            None => Err(TransportError::NotFound),
            Some((_, version, _)) if if_newer_than.is_some_and(|seen| seen >= *version) => {
                Ok(Fetched::NotModified)
            }
            Some((_, _, v)) => Ok(Fetched::Modified(v.clone())),
        };
        ready(result)
    }

    fn create_invite(&self) -> impl Future<Output = Result<Invite, TransportError>> + Send {
        let mut world = self.world();
        world.next_code += 1;
        let code = format!("BENCH{}", world.next_code);
        world.invites.insert(code.clone(), self.me);
        let result = InviteCode::new(&code)
            .map(|code| Invite {
                code,
                expires_at: RelayTime::from_unix_seconds(4_102_444_800),
            })
            .map_err(|_| TransportError::Protocol("invite code"));
        ready(result)
    }

    fn redeem_invite(
        &self,
        request: &RedeemRequest,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        let mut world = self.world();
        let result = match world.invites.remove(request.code.as_str()) {
            None => Err(TransportError::Gone),
            Some(system) => {
                let id = Uuid::new_v4();
                world.pairings.push(FakePairing {
                    id,
                    system,
                    friend: self.me,
                    code: request.code.clone(),
                    proof: request.proof,
                    active: false,
                });
                Ok(Redeemed {
                    pairing_id: PairingId::from_uuid(id),
                    system_user_id: UserId::from_uuid(system),
                })
            }
        };
        ready(result)
    }

    fn list_pairings(&self) -> impl Future<Output = Result<Vec<Pairing>, TransportError>> + Send {
        let world = self.world();
        let list = world
            .pairings
            .iter()
            .filter(|p| p.system == self.me || p.friend == self.me)
            .filter_map(|p| self.pairing_view(&world, p))
            .collect();
        ready(Ok(list))
    }

    fn delete_pairing(
        &self,
        pairing_id: PairingId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let mut world = self.world();
        let before = world.pairings.len();
        let me = self.me;
        let mut gone = Vec::new();
        world.pairings.retain(|p| {
            let hit = p.id == *pairing_id.as_uuid() && (p.system == me || p.friend == me);
            if hit {
                gone.push((p.system, p.friend));
            }
            !hit
        });
        for pair in gone {
            world.grants.remove(&pair);
        }
        let result = if world.pairings.len() < before {
            Ok(())
        } else {
            Err(TransportError::NotFound)
        };
        ready(result)
    }

    fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let mut world = self.world();
        let me = self.me;
        let result = match world
            .pairings
            .iter_mut()
            .find(|p| p.system == me && p.friend == *friend.as_uuid())
        {
            None => Err(TransportError::NotFound),
            Some(p) => {
                p.active = true;
                world.grants.insert((me, *friend.as_uuid()), grant.clone());
                Ok(())
            }
        };
        ready(result)
    }

    fn shared_grant(
        &self,
        _: UserId,
    ) -> impl Future<Output = Result<GrantEnvelope, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn shared_volumes(
        &self,
        _: UserId,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn shared_volume(
        &self,
        _: UserId,
        _: &VolumeName,
        _: Option<u64>,
    ) -> impl Future<Output = Result<Fetched<SharedVolume>, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn own_grants(
        &self,
    ) -> impl Future<Output = Result<Vec<coffer_client_core::transport::OwnGrant>, TransportError>> + Send
    {
        ready(Err(NOT_FAKED))
    }

    fn post_receipt(
        &self,
        _: UserId,
        _: &ReceiptEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn delete_volume(
        &self,
        _: &VolumeName,
        _: &coffer_wire::v2::api::SignedTombstone,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    // The benchmarked clients never link a second device (§13): no owner state.
    fn get_owner_state(
        &self,
    ) -> impl Future<Output = Result<Option<OwnerStateEnvelope>, TransportError>> + Send {
        ready(Ok(None))
    }

    fn put_owner_state(
        &self,
        _: &OwnerStateEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn list_receipts(
        &self,
        _: Option<u64>,
    ) -> impl Future<Output = Result<Vec<ReceiptEnvelope>, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn create_device_link(
        &self,
    ) -> impl Future<Output = Result<DeviceLink, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn device_link(
        &self,
        _: &InviteCode,
    ) -> impl Future<Output = Result<DeviceLinkStatus, TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }

    fn put_device_package(
        &self,
        _: &InviteCode,
        _: &DevicePackage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        ready(Err(NOT_FAKED))
    }
}
