//! A malicious relay: a [`RelayApi`] decorator that forwards every call to a real relay (the
//! real binary over pinned TLS, through a `RelayHttp`) and lies in its answers on demand.
//!
//! Design §1 gives the malicious operator the power to "drop, delay, reorder, replay or
//! substitute anything it stores or serves". A relay that forwards to the real one and edits
//! the answers has exactly that power over a client: it sees every byte the client is served
//! (and, through the test, every byte the relay stores), and can serve anything it likes. What
//! it cannot do is sign as the owner, know an invite secret, or unwrap a VEK — so the clients
//! must refuse every edit with a precise error, never with plaintext.
//!
//! The login exchange is the one thing this decorator cannot touch: the transport's
//! `Authenticator` runs it on the `RelayHttp` itself, below `RelayApi`. A replayed login
//! challenge is therefore served by [`crate::mitm::MitmRelay`], a TLS-terminating relay in
//! front of the real one.
//!
//! Attacks are switched at runtime ([`MaliciousRelay::set`] / [`MaliciousRelay::add`]) and
//! every answer the client gets is recorded first, so an attack can replay or splice earlier
//! answers. [`MaliciousRelay::fired`] counts how often an attack actually changed an answer: a
//! test asserts it, so it cannot pass because the attack never ran.

use std::sync::{Arc, Mutex, MutexGuard};

use coffer_client_core::client::RelayApi;
use coffer_client_core::identity::Identity;
use coffer_client_core::transport::{
    Challenge, ChallengeRequest, Fetched, GrantEnvelope, Handle, Invite, InviteCode,
    NetworkErrorKind, OwnGrant, Pairing, PairingId, ReceiptEnvelope, RedeemRequest, Redeemed,
    RegisterRequest, Registered, RelayOrigin, Session, SessionId, SessionInfo, SharedVolume,
    SignedVolume, TokenRequest, TransportError, UserId, UserRecord, VolumeEntry, WrappedKeyEntry,
};
use coffer_wire::b64::{PublicKey32, Signature64, WrappedVek60};
use coffer_wire::v2::api::{DeviceLink, DeviceLinkStatus, DevicePackage, OwnerStateEnvelope};
use coffer_wire::v2::{Grant, GrantEntry, Header, OwnerStateHeader, Receipt, VolumeName};

/// Public keys of an attacker identity, with a valid key-binding signature of its own (the
/// relay checks bindings at registration; a client that only checks bindings would accept them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttackerKeys {
    /// Ed25519 public key.
    pub signing: PublicKey32,
    /// X25519 public key.
    pub exchange: PublicKey32,
    /// `Ed25519(attacker sk, label(key-binding) ‖ pk ‖ xpk)`: valid, for the attacker's keys.
    pub binding: Signature64,
}

impl AttackerKeys {
    /// The public keys of `identity`, with its binding signature.
    pub fn of(identity: &Identity) -> AttackerKeys {
        AttackerKeys {
            signing: PublicKey32::from_bytes(identity.public_signing_key()),
            exchange: PublicKey32::from_bytes(identity.public_exchange_key()),
            binding: Signature64::from_bytes(identity.key_binding_signature()),
        }
    }

    /// A fresh attacker identity's keys.
    pub fn generate() -> AttackerKeys {
        AttackerKeys::of(&Identity::generate())
    }

    fn apply(&self, record: &mut UserRecord) {
        record.public_signing_key = self.signing;
        record.public_exchange_key = self.exchange;
        record.key_binding_signature = self.binding;
    }
}

/// Which part of a served volume or grant a [`Attack::FlipBit`] corrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The volume payload (`nonce ‖ ct ‖ tag`).
    Payload,
    /// The signed header bytes.
    Header,
    /// The header signature.
    HeaderSignature,
    /// The wrapped VEK served with a shared volume.
    WrappedKey,
    /// The grant bytes.
    Grant,
    /// The grant signature.
    GrantSignature,
}

/// One lie. Several can be active at once; each applies to the calls it names.
#[derive(Debug, Clone)]
pub enum Attack {
    /// Every user record of `user` (`GET /users/{id}`, `GET /users/by-handle`, the `peer` of a
    /// pairing) carries the attacker's keys instead of the user's.
    SubstituteKeys {
        /// Whose keys are replaced.
        user: UserId,
        /// The attacker's keys (validly bound to each other).
        with: AttackerKeys,
    },
    /// A request for volume `asked` (shared or own) is answered with the current `served`
    /// volume of the same owner: one volume under another name.
    ServeOtherName {
        /// The name requested.
        asked: VolumeName,
        /// The volume served instead.
        served: VolumeName,
    },
    /// A request for any volume of owner `asked` is answered with the same-named volume of
    /// owner `served` (the reader must be paired with both): a volume under another owner.
    ServeOtherOwner {
        /// The owner requested.
        asked: UserId,
        /// The owner whose volume is served.
        served: UserId,
    },
    /// The listing of shared volumes gets this extra entry (e.g. the owner's real, signed
    /// header of a volume the reader was never granted).
    ListExtra {
        /// The entry added.
        entry: VolumeEntry,
    },
    /// The next upload is refused with 409 and these (unverified) claims of the relay's
    /// current version and epoch; the attack then ends (one lie).
    FakeConflict {
        /// The claimed current version.
        version: u64,
        /// The claimed current epoch.
        epoch: u32,
    },
    /// A request for volume `volume` is answered with these bytes (the operator has every byte
    /// the relay stores, so a test may hand it anything a relay could hold).
    Inject {
        /// The volume this answer is served for.
        volume: VolumeName,
        /// What is served.
        response: SharedVolume,
    },
    /// A request for `volume` is answered with the recorded answer of an earlier `version`
    /// (conditional requests included: a 304 becomes the old version).
    ReplayVersion {
        /// The volume.
        volume: VolumeName,
        /// The older version to serve, as recorded earlier.
        version: u64,
    },
    /// The current answer for `volume` with one `part` (payload, header or header signature)
    /// taken from the recorded answer of version `from`: bytes swapped between two responses.
    Splice {
        /// The volume.
        volume: VolumeName,
        /// Which recorded version the part comes from.
        from: u64,
        /// Which part is swapped in.
        part: Part,
    },
    /// The grant bytes edited to add `volume` at `epoch` (re-encoded canonically, the owner's
    /// signature kept), with a wrapped key for it copied from the first real entry.
    WidenGrant {
        /// The volume added.
        volume: VolumeName,
        /// Its epoch.
        epoch: u32,
    },
    /// The grant served unchanged, with an extra wrapped key for a volume it does not name.
    ExtraWrappedKey {
        /// The extra entry.
        entry: WrappedKeyEntry,
    },
    /// This (validly signed) grant envelope is served instead of the caller's own, e.g. the
    /// grant of another friend of the same owner.
    InjectGrant {
        /// What is served.
        envelope: GrantEnvelope,
    },
    /// `GET /grants` (the owner reading its own grants back) is answered with these validly
    /// signed grants instead of the stored ones, e.g. a superseded grant recorded earlier.
    InjectOwnGrants {
        /// What is served.
        grants: Vec<OwnGrant>,
    },
    /// The recorded grant with `sequence` is served instead of the current one (a validly
    /// signed, superseded grant), even after the pairing is gone.
    ReplayGrant {
        /// The sequence of the recorded grant to serve.
        sequence: u64,
    },
    /// One bit of `part` flipped in every served volume or grant.
    FlipBit {
        /// What is corrupted.
        part: Part,
        /// Which bit (taken modulo the part's length in bits).
        bit: usize,
    },
    /// Shared volumes are served with the current grant's bytes and signature as their header
    /// and header signature (P9: one kind of signature presented as another).
    GrantAsHeader,
    /// The grant is served with the last served volume header and its signature as grant
    /// bytes and grant signature (P9, the other way round).
    HeaderAsGrant,
    /// The owner's receipt listing gets this extra entry (e.g. a receipt signed by a key that
    /// is not the named friend's pinned one: a forged read).
    InjectReceipt {
        /// The entry added.
        envelope: ReceiptEnvelope,
    },
    /// Every listed receipt of `volume` at `version` is re-encoded with the given fields
    /// changed (the friend's signature kept): an altered read.
    AlterReceipt {
        /// The volume of the receipts altered.
        volume: VolumeName,
        /// The version of the receipts altered.
        version: u64,
        /// The version claimed instead, if changed.
        new_version: Option<u64>,
        /// The hour claimed instead, if changed.
        new_hour: Option<u64>,
    },
    /// Every listed receipt of `volume` at `version` is left out: a read hidden from the owner
    /// (which receipts cannot detect).
    DropReceipt {
        /// The volume.
        volume: VolumeName,
        /// The version.
        version: u64,
    },
    /// Every receipt upload is refused (the client must still return what it fetched).
    FailReceiptUpload,
    /// `GET /shared/{owner}/volumes/{volume}` answers 410 with these tombstone bytes and
    /// signature (§12): garbage, one signed for another volume, or an older one replayed.
    FakeTombstone {
        /// The volume whose download is answered "deleted".
        volume: VolumeName,
        /// The tombstone bytes served.
        tombstone: Vec<u8>,
        /// The signature served with them.
        signature: [u8; 64],
    },
    /// `GET /device-links/{code}` presents this key as the joining device's (§13): the relay
    /// substitutes a key it holds the secret of.
    SubstituteDeviceKey {
        /// The relay's key.
        with: PublicKey32,
    },
    /// One bit of every device-link package flipped on its way to the relay (§13): the
    /// joining device is served altered bytes.
    FlipPackageBit {
        /// Which bit (modulo the package's length in bits).
        bit: usize,
    },
    /// `GET /owner-state` is answered with the recorded owner state of `version` (§13): a
    /// validly signed, superseded state.
    ReplayOwnerState {
        /// The version to serve, as recorded earlier.
        version: u64,
    },
    /// The relay plays dead for the friend's reads: every request for shared data (a volume,
    /// the listing, the grant) fails as a refused connection, as if the relay were down.
    Unreachable,
    /// The payload of every served `volume` (shared or own) cut to its first `len` bytes: a
    /// truncated answer (served even where an honest relay would answer "not modified").
    Truncate {
        /// The volume whose payload is cut.
        volume: VolumeName,
        /// How many bytes are kept.
        len: usize,
    },
}

impl Attack {
    fn targets_volume(&self, name: &VolumeName) -> bool {
        match self {
            Attack::ServeOtherName { asked, .. } => asked == name,
            Attack::Inject { volume, .. }
            | Attack::ReplayVersion { volume, .. }
            | Attack::Splice { volume, .. } => volume == name,
            _ => false,
        }
    }
}

/// Everything the client was served, in order (what a replay can draw on).
#[derive(Debug, Default)]
struct Recorded {
    /// `(owner, volume, version, answer)` of every shared volume served.
    shared: Vec<(UserId, VolumeName, u64, SharedVolume)>,
    /// `(volume, version, answer)` of every own volume served.
    own: Vec<(VolumeName, u64, SignedVolume)>,
    /// `(owner, sequence, answer)` of every grant served.
    grants: Vec<(UserId, u64, GrantEnvelope)>,
    /// `(version, state)` of every owner state served or stored.
    owner_states: Vec<(u64, OwnerStateEnvelope)>,
}

#[derive(Debug, Default)]
struct State {
    attacks: Vec<Attack>,
    fired: usize,
    recorded: Recorded,
}

/// A [`RelayApi`] that forwards to `inner` (a real relay) and applies the active [`Attack`]s to
/// what it answers. Cheap to clone: clones share attacks and recordings, so a test keeps one
/// handle while the client owns another.
#[derive(Debug)]
pub struct MaliciousRelay<R> {
    inner: Arc<R>,
    state: Arc<Mutex<State>>,
}

impl<R> Clone for MaliciousRelay<R> {
    fn clone(&self) -> Self {
        MaliciousRelay {
            inner: Arc::clone(&self.inner),
            state: Arc::clone(&self.state),
        }
    }
}

impl<R: RelayApi> MaliciousRelay<R> {
    fn record_owner_state(&self, state: &OwnerStateEnvelope) {
        let version = OwnerStateHeader::parse(&state.header).map_or(0, |h| h.version);
        self.state()
            .recorded
            .owner_states
            .push((version, state.clone()));
    }
}

fn header_version(header: &[u8]) -> u64 {
    Header::parse(header).map(|h| h.version).unwrap_or(0)
}

fn flip(bytes: &mut [u8], bit: usize) {
    if bytes.is_empty() {
        return;
    }
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

fn flip_array<const N: usize>(bytes: &[u8; N], bit: usize) -> [u8; N] {
    let mut out = *bytes;
    flip(&mut out, bit);
    out
}

impl<R: RelayApi> MaliciousRelay<R> {
    /// An honest relay (no attack active) in front of `inner`.
    pub fn new(inner: R) -> MaliciousRelay<R> {
        MaliciousRelay {
            inner: Arc::new(inner),
            state: Arc::default(),
        }
    }

    /// The real relay behind the lies.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("malicious relay state lock")
    }

    /// Replaces the active attacks with `attack` (and resets the [`fired`](Self::fired) count).
    pub fn set(&self, attack: Attack) {
        let mut state = self.state();
        state.attacks = vec![attack];
        state.fired = 0;
    }

    /// Adds `attack` to the active ones.
    pub fn add(&self, attack: Attack) {
        self.state().attacks.push(attack);
    }

    /// Back to honest forwarding (recordings are kept).
    pub fn clear(&self) {
        let mut state = self.state();
        state.attacks.clear();
        state.fired = 0;
    }

    /// How many answers the active attacks changed since the last [`set`](Self::set) or
    /// [`clear`](Self::clear).
    pub fn fired(&self) -> usize {
        self.state().fired
    }

    /// The sequences of the grants recorded from `owner`, in the order served.
    pub fn recorded_grant_sequences(&self, owner: UserId) -> Vec<u64> {
        self.state()
            .recorded
            .grants
            .iter()
            .filter(|(o, _, _)| *o == owner)
            .map(|(_, s, _)| *s)
            .collect()
    }

    /// The last recorded grant from `owner` with `sequence`.
    pub fn recorded_grant(&self, owner: UserId, sequence: u64) -> Option<GrantEnvelope> {
        self.state()
            .recorded
            .grants
            .iter()
            .rev()
            .find(|(o, s, _)| *o == owner && *s == sequence)
            .map(|(_, _, g)| g.clone())
    }

    /// The last recorded shared volume `name` of `owner` at `version`.
    pub fn recorded_shared(
        &self,
        owner: UserId,
        name: &VolumeName,
        version: u64,
    ) -> Option<SharedVolume> {
        self.state()
            .recorded
            .shared
            .iter()
            .rev()
            .find(|(o, n, v, _)| *o == owner && n == name && *v == version)
            .map(|(_, _, _, s)| s.clone())
    }

    /// The versions of shared volume `name` of `owner` recorded so far, in the order served.
    pub fn recorded_shared_versions(&self, owner: UserId, name: &VolumeName) -> Vec<u64> {
        self.state()
            .recorded
            .shared
            .iter()
            .filter(|(o, n, _, _)| *o == owner && n == name)
            .map(|(_, _, v, _)| *v)
            .collect()
    }

    fn attacks(&self) -> Vec<Attack> {
        self.state().attacks.clone()
    }

    /// Under [`Attack::Unreachable`]: the refused connection it answers with (and the hit).
    fn playing_dead(&self) -> Result<(), TransportError> {
        if self
            .attacks()
            .iter()
            .any(|a| matches!(a, Attack::Unreachable))
        {
            self.hit();
            return Err(TransportError::Network {
                kind: NetworkErrorKind::Refused,
                detail: "the malicious relay plays dead".to_owned(),
            });
        }
        Ok(())
    }

    fn hit(&self) {
        self.state().fired += 1;
    }

    fn tamper_record(&self, mut record: UserRecord) -> UserRecord {
        for attack in self.attacks() {
            if let Attack::SubstituteKeys { user, with } = attack
                && record.user_id == user
            {
                with.apply(&mut record);
                self.hit();
            }
        }
        record
    }

    /// The shared volume this relay chooses to serve for `(owner, name)`: the real one, or a
    /// substitute drawn from other answers or recordings.
    async fn choose_shared(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SharedVolume>, TransportError> {
        for attack in self.attacks() {
            if !attack.targets_volume(name) && !matches!(attack, Attack::ServeOtherOwner { .. }) {
                continue;
            }
            let forged = match attack {
                Attack::ServeOtherName { served, .. } => {
                    match self.inner.shared_volume(owner, &served, None).await? {
                        Fetched::Modified(v) => v,
                        Fetched::NotModified => continue,
                    }
                }
                Attack::ServeOtherOwner { asked, served } if asked == owner => {
                    match self.inner.shared_volume(served, name, None).await? {
                        Fetched::Modified(v) => v,
                        Fetched::NotModified => continue,
                    }
                }
                Attack::Inject { response, .. } => response,
                Attack::ReplayVersion { version, .. } => {
                    match self.recorded_shared(owner, name, version) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                Attack::Splice { from, part, .. } => {
                    let Some(old) = self.recorded_shared(owner, name, from) else {
                        continue;
                    };
                    match self.inner.shared_volume(owner, name, None).await? {
                        Fetched::Modified(mut current) => {
                            match part {
                                Part::Payload => current.payload = old.payload,
                                Part::Header => current.header = old.header,
                                Part::HeaderSignature => current.signature = old.signature,
                                Part::WrappedKey => current.wrapped_key = old.wrapped_key,
                                Part::Grant | Part::GrantSignature => continue,
                            }
                            current
                        }
                        Fetched::NotModified => continue,
                    }
                }
                _ => continue,
            };
            self.hit();
            return Ok(Fetched::Modified(forged));
        }
        let answer = self.inner.shared_volume(owner, name, if_newer_than).await?;
        if let Fetched::Modified(v) = &answer {
            let version = header_version(&v.header);
            self.state()
                .recorded
                .shared
                .push((owner, name.clone(), version, v.clone()));
        }
        Ok(answer)
    }

    /// Bit flips and the grant-as-header swap, applied to whatever is served.
    async fn corrupt_shared(
        &self,
        owner: UserId,
        asked: &VolumeName,
        mut volume: SharedVolume,
    ) -> SharedVolume {
        for attack in self.attacks() {
            match attack {
                Attack::FlipBit { part, bit } => {
                    match part {
                        Part::Payload => flip(&mut volume.payload, bit),
                        Part::Header => flip(&mut volume.header, bit),
                        Part::HeaderSignature => {
                            volume.signature = Signature64::from_bytes(flip_array(
                                volume.signature.as_bytes(),
                                bit,
                            ));
                        }
                        Part::WrappedKey => {
                            volume.wrapped_key = WrappedVek60::from_bytes(flip_array(
                                volume.wrapped_key.as_bytes(),
                                bit,
                            ));
                        }
                        Part::Grant | Part::GrantSignature => continue,
                    }
                    self.hit();
                }
                Attack::Truncate { volume: name, len }
                    if name == *asked && volume.payload.len() > len =>
                {
                    volume.payload.truncate(len);
                    self.hit();
                }
                Attack::GrantAsHeader => {
                    let grant = self
                        .state()
                        .recorded
                        .grants
                        .iter()
                        .rev()
                        .find(|(o, _, _)| *o == owner)
                        .map(|(_, _, g)| g.clone());
                    let grant = match grant {
                        Some(g) => Some(g),
                        None => self.inner.shared_grant(owner).await.ok(),
                    };
                    if let Some(grant) = grant {
                        volume.header = grant.grant;
                        volume.signature = grant.signature;
                        self.hit();
                    }
                }
                _ => {}
            }
        }
        volume
    }

    fn tamper_own(&self, name: &VolumeName, mut volume: SignedVolume) -> SignedVolume {
        for attack in self.attacks() {
            match attack {
                Attack::ReplayVersion { volume: v, version } if v == *name => {
                    let old = self
                        .state()
                        .recorded
                        .own
                        .iter()
                        .rev()
                        .find(|(n, ver, _)| n == name && *ver == version)
                        .map(|(_, _, s)| s.clone());
                    if let Some(old) = old {
                        volume = old;
                        self.hit();
                    }
                }
                Attack::FlipBit { part, bit } => {
                    match part {
                        Part::Payload => flip(&mut volume.payload, bit),
                        Part::Header => flip(&mut volume.header, bit),
                        Part::HeaderSignature => {
                            volume.signature = Signature64::from_bytes(flip_array(
                                volume.signature.as_bytes(),
                                bit,
                            ));
                        }
                        _ => continue,
                    }
                    self.hit();
                }
                Attack::Truncate { volume: v, len } if v == *name && volume.payload.len() > len => {
                    volume.payload.truncate(len);
                    self.hit();
                }
                _ => {}
            }
        }
        volume
    }

    fn tamper_grant(&self, mut grant: GrantEnvelope) -> GrantEnvelope {
        for attack in self.attacks() {
            match attack {
                Attack::WidenGrant { volume, epoch } => {
                    let Ok(mut parsed) = Grant::parse(&grant.grant) else {
                        continue;
                    };
                    parsed.entries.retain(|e| e.volume != volume);
                    parsed.entries.push(GrantEntry {
                        volume: volume.clone(),
                        epoch,
                    });
                    parsed.entries.sort();
                    grant.grant = parsed.to_bytes();
                    let copied = grant
                        .wrapped_keys
                        .first()
                        .map(|k| k.wrapped_key)
                        .unwrap_or(WrappedVek60::from_bytes([7; 60]));
                    grant.wrapped_keys.push(WrappedKeyEntry {
                        volume,
                        epoch,
                        wrapped_key: copied,
                    });
                    self.hit();
                }
                Attack::ExtraWrappedKey { entry } => {
                    grant.wrapped_keys.push(entry);
                    self.hit();
                }
                Attack::FlipBit {
                    part: Part::Grant,
                    bit,
                } => {
                    flip(&mut grant.grant, bit);
                    self.hit();
                }
                Attack::FlipBit {
                    part: Part::GrantSignature,
                    bit,
                } => {
                    grant.signature =
                        Signature64::from_bytes(flip_array(grant.signature.as_bytes(), bit));
                    self.hit();
                }
                _ => {}
            }
        }
        grant
    }

    fn replayed_grant(&self, owner: UserId) -> Option<GrantEnvelope> {
        self.attacks().into_iter().find_map(|attack| match attack {
            Attack::ReplayGrant { sequence } => self.recorded_grant(owner, sequence),
            Attack::InjectGrant { envelope } => Some(envelope),
            _ => None,
        })
    }
}

impl<R: RelayApi> MaliciousRelay<R> {
    /// The receipt attacks, applied to an owner's listing.
    fn tamper_receipts(&self, mut receipts: Vec<ReceiptEnvelope>) -> Vec<ReceiptEnvelope> {
        for attack in self.attacks() {
            match attack {
                Attack::InjectReceipt { envelope } => {
                    receipts.push(envelope);
                    self.hit();
                }
                Attack::AlterReceipt {
                    volume,
                    version,
                    new_version,
                    new_hour,
                } => {
                    for envelope in &mut receipts {
                        let Ok(mut r) = Receipt::parse(&envelope.receipt) else {
                            continue;
                        };
                        if r.volume != volume || r.version != version {
                            continue;
                        }
                        r.version = new_version.unwrap_or(r.version);
                        r.hour = new_hour.unwrap_or(r.hour);
                        envelope.receipt = r.to_bytes();
                        self.hit();
                    }
                }
                Attack::DropReceipt { volume, version } => {
                    let before = receipts.len();
                    receipts.retain(|envelope| {
                        Receipt::parse(&envelope.receipt)
                            .map(|r| r.volume != volume || r.version != version)
                            .unwrap_or(true)
                    });
                    for _ in receipts.len()..before {
                        self.hit();
                    }
                }
                _ => {}
            }
        }
        receipts
    }
}

impl<R: RelayApi> RelayApi for MaliciousRelay<R> {
    fn origin(&self) -> &RelayOrigin {
        self.inner.origin()
    }

    async fn login(&self) -> Result<(), TransportError> {
        self.inner.login().await
    }

    async fn delete_account(&self) -> Result<(), TransportError> {
        self.inner.delete_account().await
    }

    async fn own_grants(&self) -> Result<Vec<OwnGrant>, TransportError> {
        let injected = self.attacks().into_iter().find_map(|a| match a {
            Attack::InjectOwnGrants { grants } => Some(grants),
            _ => None,
        });
        match injected {
            Some(grants) => {
                self.hit();
                Ok(grants)
            }
            None => self.inner.own_grants().await,
        }
    }

    async fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> Result<(), TransportError> {
        if self
            .attacks()
            .iter()
            .any(|a| matches!(a, Attack::FailReceiptUpload))
        {
            self.hit();
            return Err(TransportError::Protocol("the relay refused the receipt"));
        }
        self.inner.post_receipt(owner, receipt).await
    }

    async fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &coffer_wire::v2::api::SignedTombstone,
    ) -> Result<(), TransportError> {
        self.inner.delete_volume(name, tombstone).await
    }

    async fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> Result<Vec<ReceiptEnvelope>, TransportError> {
        let receipts = self.inner.list_receipts(since).await?;
        Ok(self.tamper_receipts(receipts))
    }

    async fn get_owner_state(&self) -> Result<Option<OwnerStateEnvelope>, TransportError> {
        let replay = self.attacks().into_iter().find_map(|a| match a {
            Attack::ReplayOwnerState { version } => Some(version),
            _ => None,
        });
        if let Some(version) = replay {
            let old = self
                .state()
                .recorded
                .owner_states
                .iter()
                .rev()
                .find(|(v, _)| *v == version)
                .map(|(_, s)| s.clone());
            if let Some(old) = old {
                self.hit();
                return Ok(Some(old));
            }
        }
        let served = self.inner.get_owner_state().await?;
        if let Some(state) = &served {
            self.record_owner_state(state);
        }
        Ok(served)
    }

    async fn put_owner_state(&self, state: &OwnerStateEnvelope) -> Result<(), TransportError> {
        self.inner.put_owner_state(state).await?;
        self.record_owner_state(state);
        Ok(())
    }

    async fn create_device_link(&self) -> Result<DeviceLink, TransportError> {
        self.inner.create_device_link().await
    }

    async fn device_link(&self, code: &InviteCode) -> Result<DeviceLinkStatus, TransportError> {
        let mut status = self.inner.device_link(code).await?;
        for attack in self.attacks() {
            if let (Attack::SubstituteDeviceKey { with }, Some(join)) = (attack, &mut status.join) {
                join.device_key = with;
                self.hit();
            }
        }
        Ok(status)
    }

    async fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> Result<(), TransportError> {
        let mut package = package.clone();
        for attack in self.attacks() {
            if let Attack::FlipPackageBit { bit } = attack {
                flip(&mut package.package, bit);
                self.hit();
            }
        }
        self.inner.put_device_package(code, &package).await
    }

    async fn list_sessions(&self) -> Result<Vec<SessionInfo>, TransportError> {
        self.inner.list_sessions().await
    }

    async fn revoke_session(&self, session_id: SessionId) -> Result<(), TransportError> {
        self.inner.revoke_session(session_id).await
    }

    async fn revoke_other_sessions(&self) -> Result<u64, TransportError> {
        self.inner.revoke_other_sessions().await
    }

    async fn end_session(&self) -> Result<(), TransportError> {
        self.inner.end_session().await
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, TransportError> {
        self.inner.register(request).await
    }

    async fn challenge(&self, request: &ChallengeRequest) -> Result<Challenge, TransportError> {
        self.inner.challenge(request).await
    }

    async fn token(&self, request: &TokenRequest) -> Result<Session, TransportError> {
        self.inner.token(request).await
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<UserRecord, TransportError> {
        let record = self.inner.user_by_handle(handle).await?;
        Ok(self.tamper_record(record))
    }

    async fn user_by_id(&self, user_id: UserId) -> Result<UserRecord, TransportError> {
        let record = self.inner.user_by_id(user_id).await?;
        Ok(self.tamper_record(record))
    }

    async fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> Result<(), TransportError> {
        let conflict = {
            let mut state = self.state();
            let at = state
                .attacks
                .iter()
                .position(|a| matches!(a, Attack::FakeConflict { .. }));
            at.map(|i| {
                state.fired += 1;
                state.attacks.remove(i)
            })
        };
        if let Some(Attack::FakeConflict { version, epoch }) = conflict {
            return Err(TransportError::Conflict {
                current_version: Some(version),
                current_epoch: Some(epoch),
            });
        }
        self.inner.put_volume(name, volume).await
    }

    async fn list_volumes(&self) -> Result<Vec<VolumeEntry>, TransportError> {
        self.inner.list_volumes().await
    }

    async fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SignedVolume>, TransportError> {
        let asked = self.attacks().into_iter().find_map(|a| match a {
            Attack::ServeOtherName { asked, served } if asked == *name => Some(served),
            _ => None,
        });
        if let Some(served) = asked
            && let Fetched::Modified(v) = self.inner.get_volume(&served, None).await?
        {
            self.hit();
            return Ok(Fetched::Modified(v));
        }
        let replaying = self
            .attacks()
            .iter()
            .any(|a| matches!(a, Attack::ReplayVersion { volume, .. } if volume == name));
        let answer = self
            .inner
            .get_volume(name, if replaying { None } else { if_newer_than })
            .await?;
        match answer {
            Fetched::Modified(v) => {
                self.state().recorded.own.push((
                    name.clone(),
                    header_version(&v.header),
                    v.clone(),
                ));
                Ok(Fetched::Modified(self.tamper_own(name, v)))
            }
            Fetched::NotModified => Ok(Fetched::NotModified),
        }
    }

    async fn create_invite(&self) -> Result<Invite, TransportError> {
        self.inner.create_invite().await
    }

    async fn redeem_invite(&self, request: &RedeemRequest) -> Result<Redeemed, TransportError> {
        self.inner.redeem_invite(request).await
    }

    async fn request_replica_pairing(&self, system: UserId) -> Result<Redeemed, TransportError> {
        self.inner.request_replica_pairing(system).await
    }

    async fn list_pairings(&self) -> Result<Vec<Pairing>, TransportError> {
        let pairings = self.inner.list_pairings().await?;
        Ok(pairings
            .into_iter()
            .map(|mut p| {
                p.peer = self.tamper_record(p.peer);
                p
            })
            .collect())
    }

    async fn delete_pairing(&self, pairing_id: PairingId) -> Result<(), TransportError> {
        self.inner.delete_pairing(pairing_id).await
    }

    async fn delete_pairing_between(
        &self,
        pairing_id: PairingId,
        system: UserId,
        friend: UserId,
    ) -> Result<(), TransportError> {
        self.inner
            .delete_pairing_between(pairing_id, system, friend)
            .await
    }

    async fn put_grant(&self, friend: UserId, grant: &GrantEnvelope) -> Result<(), TransportError> {
        self.inner.put_grant(friend, grant).await
    }

    async fn shared_grant(&self, owner: UserId) -> Result<GrantEnvelope, TransportError> {
        self.playing_dead()?;
        if let Some(old) = self.replayed_grant(owner) {
            self.hit();
            return Ok(self.tamper_grant(old));
        }
        let mut grant = self.inner.shared_grant(owner).await?;
        let header = self
            .attacks()
            .iter()
            .any(|a| matches!(a, Attack::HeaderAsGrant))
            .then(|| {
                let state = self.state();
                state
                    .recorded
                    .shared
                    .iter()
                    .rev()
                    .find(|(o, _, _, _)| *o == owner)
                    .map(|(_, _, _, v)| (v.header.clone(), v.signature))
            })
            .flatten();
        if let Some((header, signature)) = header {
            grant.grant = header;
            grant.signature = signature;
            self.hit();
            return Ok(grant);
        }
        let sequence = Grant::parse(&grant.grant).map(|g| g.sequence).unwrap_or(0);
        self.state()
            .recorded
            .grants
            .push((owner, sequence, grant.clone()));
        Ok(self.tamper_grant(grant))
    }

    async fn shared_volumes(&self, owner: UserId) -> Result<Vec<VolumeEntry>, TransportError> {
        self.playing_dead()?;
        let mut entries = self.inner.shared_volumes(owner).await?;
        for attack in self.attacks() {
            if let Attack::ListExtra { entry } = attack {
                entries.push(entry);
                self.hit();
                continue;
            }
            let (asked, header, signature) = match attack {
                Attack::ReplayVersion { volume, version } => {
                    match self.recorded_shared(owner, &volume, version) {
                        Some(old) => (volume, old.header, old.signature),
                        None => continue,
                    }
                }
                Attack::ServeOtherName { asked, served } => {
                    match entries.iter().find(|e| e.volume == served) {
                        Some(e) => (asked, e.header.clone(), e.signature),
                        None => continue,
                    }
                }
                _ => continue,
            };
            for entry in entries.iter_mut().filter(|e| e.volume == asked) {
                if let Ok(h) = Header::parse(&header) {
                    entry.epoch = h.epoch;
                    entry.version = h.version;
                }
                entry.header.clone_from(&header);
                entry.signature = signature;
                self.hit();
            }
        }
        Ok(entries)
    }

    async fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SharedVolume>, TransportError> {
        self.playing_dead()?;
        for attack in self.attacks() {
            if let Attack::FakeTombstone {
                volume,
                tombstone,
                signature,
            } = attack
                && volume == *name
            {
                self.hit();
                return Err(TransportError::Deleted {
                    tombstone,
                    signature,
                });
            }
        }
        // A cut answer is served even where an honest relay would answer "not modified".
        let cutting = self
            .attacks()
            .iter()
            .any(|a| matches!(a, Attack::Truncate { volume, .. } if volume == name));
        let if_newer_than = if cutting { None } else { if_newer_than };
        match self.choose_shared(owner, name, if_newer_than).await? {
            Fetched::Modified(v) => {
                Ok(Fetched::Modified(self.corrupt_shared(owner, name, v).await))
            }
            Fetched::NotModified => Ok(Fetched::NotModified),
        }
    }
}
