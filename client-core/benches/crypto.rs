//! Client crypto costs (criterion): what the library spends on a phone per volume, per friend,
//! per rotation and per backup. `cargo bench -p coffer-client-core --bench crypto`; the figures
//! of a run on the project's reference machine and how to read them are in
//! `docs/BENCHMARKS.md`.
//!
//! - `aead/<size>`: v2 `seal`/`open` and v1 `encrypt_volume`/`decrypt_volume` (and v1's
//!   signed `seal_volume`) against raw AES-256-GCM from the same `aes-gcm` crate on a buffer of
//!   the same size (encrypt in place; decrypt from one buffer into another preallocated one, as
//!   `open` does), with the v2 payload digest (`volume_payload_hash`, BLAKE3 with a label, ADR
//!   0029) and SHA-256 (the digest before it) of the buffer as further references: v2 hashes
//!   every payload for its signed header. Throughput is per plaintext byte.
//! - `wrap`: per-friend key work (pair-key derivation, wrapping and unwrapping one volume key,
//!   a whole 8-volume grant) for v2, and v1's FKEK and VEK wrap/unwrap.
//! - `rotation/revoke/<n>`: `SystemClient::revoke` of one friend of a system with 8 published
//!   volumes of 64 KiB, leaving `n` friends (all granted all 8 volumes) to re-grant. Runs
//!   against an honest relay held in memory (`crypto/fake_relay.rs`), so it measures the
//!   client's CPU only: no TLS, no network, no relay fsync.
//! - `backup`: export and import of an identity backup with `BackupParams::default()`
//!   (Argon2id m = 64 MiB, t = 3, p = 1).

#[path = "crypto/fake_relay.rs"]
mod fake_relay;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use coffer_client_core::client::RelayApi as _;
use coffer_client_core::client::SystemClient;
use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1;
use coffer_client_core::storage::{KeyStore, MemoryKeyStore};
use coffer_client_core::transport::{ClientType, InviteCode, RedeemRequest};
use coffer_client_core::v2::{
    self, BackupParams, HeaderFields, Side, VolumeKey, WrapKey, export_backup, import_backup,
    pairing_proof, sign_grant,
};
use coffer_wire::v1::VolumeName as V1Name;
use coffer_wire::v2::{Grant, GrantEntry, VolumeName};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use fake_relay::FakeRelay;

const SIZES: [(usize, &str); 4] = [
    (4 << 10, "4KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
];

/// A fixed, valid hour (Unix seconds).
const HOUR: u64 = 1_774_609_200;

/// Incompressible filler (xorshift64); its last byte is non-zero, because v1 strips trailing
/// zeros on decrypt and the sizes should stay exact.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last |= 1;
    }
    out
}

fn volume(name: &str) -> VolumeName {
    VolumeName::new(name).expect("a valid volume name literal")
}

fn aead(c: &mut Criterion) {
    let identity = Identity::generate();
    let owner = Uuid::from_bytes([7; 16]);
    let journal = volume("journal");
    let vek = VolumeKey::generate();
    let v1_vek = v1::Vek::generate();
    let raw_key = [0x42u8; 32];
    let raw = Aes256Gcm::new((&raw_key).into());
    let nonce = Nonce::<Aes256Gcm>::from([9u8; 12]);
    let fields = HeaderFields {
        owner,
        volume: journal.clone(),
        epoch: 1,
        version: 1,
        hour: HOUR,
    };

    for (size, label) in SIZES {
        let mut group = c.benchmark_group(format!("aead/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 1 << 20 {
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(5));
        } else {
            group.measurement_time(Duration::from_secs(3));
        }
        let plaintext = random_bytes(size);

        let mut buffer = plaintext.clone();
        group.bench_function("raw_aes256gcm_encrypt_in_place", |b| {
            b.iter(|| {
                raw.encrypt_inout_detached(&nonce, &[], InOutBuf::from(&mut buffer[..]))
                    .expect("AES-GCM accepts this length")
            });
        });

        let mut ciphertext = plaintext.clone();
        let tag = raw
            .encrypt_inout_detached(&nonce, &[], InOutBuf::from(&mut ciphertext[..]))
            .expect("AES-GCM accepts this length");
        let mut out = vec![0u8; size];
        group.bench_function("raw_aes256gcm_decrypt", |b| {
            b.iter(|| {
                let buf = InOutBuf::new(&ciphertext[..], &mut out[..]).expect("equal lengths");
                raw.decrypt_inout_detached(&nonce, &[], buf, &Tag::<Aes256Gcm>::from(tag))
                    .expect("authentic")
            });
        });

        group.bench_function("sha256", |b| {
            b.iter(|| <[u8; 32]>::from(Sha256::digest(black_box(&plaintext[..]))));
        });

        group.bench_function("v2_payload_digest", |b| {
            b.iter(|| coffer_wire::v2::volume_payload_hash(black_box(&plaintext[..])));
        });

        group.bench_function("v2_seal", |b| {
            b.iter(|| v2::seal(&identity, &vek, &fields, black_box(&plaintext)).expect("valid"));
        });

        let sealed = v2::seal(&identity, &vek, &fields, &plaintext).expect("valid");
        let signing_key = identity.public_signing_key();
        group.bench_function("v2_open", |b| {
            b.iter(|| {
                v2::open(
                    &signing_key,
                    owner,
                    &journal,
                    &sealed.header_bytes,
                    &sealed.signature,
                    black_box(&sealed.payload),
                    |_| Some(&vek),
                )
                .expect("authentic")
            });
        });

        group.bench_function("v1_encrypt", |b| {
            b.iter(|| v1::encrypt_volume(&v1_vek, "journal", 7, black_box(&plaintext)));
        });

        let blob = v1::encrypt_volume(&v1_vek, "journal", 7, &plaintext);
        group.bench_function("v1_decrypt", |b| {
            b.iter(|| {
                v1::decrypt_volume(&v1_vek, "journal", 7, black_box(&blob)).expect("authentic")
            });
        });

        group.bench_function("v1_seal_signed", |b| {
            b.iter(|| {
                v1::seal_volume(
                    &identity,
                    &v1_vek,
                    V1Name::Journal,
                    7,
                    HOUR as i64,
                    black_box(&plaintext),
                )
            });
        });
        group.finish();
    }
}

fn wrap(c: &mut Criterion) {
    let system = Identity::generate();
    let friend = Identity::generate();
    let (system_id, friend_id) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([2; 16]));
    let names: Vec<VolumeName> = [
        "meta",
        "members",
        "fronts",
        "journal",
        "chat",
        "polls",
        "vault",
        "analytics",
    ]
    .iter()
    .map(|n| volume(n))
    .collect();
    let veks: Vec<VolumeKey> = names.iter().map(|_| VolumeKey::generate()).collect();
    let mut group = c.benchmark_group("wrap");
    group.measurement_time(Duration::from_secs(3));

    let derive = || {
        WrapKey::derive(
            &system,
            Side::Owner,
            system_id,
            friend_id,
            &friend.public_identity(),
            &friend.fingerprint(),
        )
        .expect("pinned keys")
    };
    group.bench_function("v2_pair_key_derive", |b| b.iter(derive));
    let kek = derive();
    group.bench_function("v2_wrap_one_key", |b| {
        b.iter(|| kek.wrap(&names[0], 1, &veks[0]));
    });
    let wrapped = kek.wrap(&names[0], 1, &veks[0]);
    group.bench_function("v2_unwrap_one_key", |b| {
        b.iter(|| {
            kek.unwrap(&names[0], 1, black_box(&wrapped))
                .expect("authentic")
        });
    });
    // What a (re-)grant costs per friend: derive, wrap 8 keys, sign the grant.
    group.bench_function("v2_grant_8_volumes_per_friend", |b| {
        b.iter(|| {
            let kek = derive();
            let keys: Vec<_> = names
                .iter()
                .zip(&veks)
                .map(|(n, k)| kek.wrap(n, 2, k))
                .collect();
            let grant = Grant {
                owner: *system_id.as_bytes(),
                friend: *friend_id.as_bytes(),
                friend_fingerprint: *friend.fingerprint().as_bytes(),
                sequence: 2,
                expires_at: 0,
                entries: names
                    .iter()
                    .map(|n| GrantEntry {
                        volume: n.clone(),
                        epoch: 2,
                    })
                    .collect(),
            };
            (keys, sign_grant(&system, &grant).expect("valid grant"))
        });
    });

    let peer = friend.public_exchange_key();
    group.bench_function("v1_fkek_derive", |b| {
        b.iter(|| v1::fkek(&system, black_box(&peer)).expect("contributory"));
    });
    let fkek = v1::fkek(&system, &peer).expect("contributory");
    let v1_vek = v1::Vek::generate();
    group.bench_function("v1_wrap_vek", |b| b.iter(|| v1::wrap_vek(&fkek, &v1_vek)));
    let blob = v1::wrap_vek(&fkek, &v1_vek);
    group.bench_function("v1_unwrap_vek", |b| {
        b.iter(|| v1::unwrap_vek(&fkek, black_box(&blob)).expect("authentic"));
    });
    group.finish();
}

/// A system with 8 published volumes of `volume_size` bytes and `friends` approved friends
/// (each granted all 8), on a fresh in-memory relay. Returns the client and the friends' ids.
async fn system_with_friends(
    friends: usize,
    volume_size: usize,
) -> (SystemClient<FakeRelay>, Vec<Uuid>) {
    let world = FakeRelay::new_world();
    let identity = Identity::generate();
    let relay = world.register(&identity, ClientType::System);
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    // The client's storage scheme (see `coffer_client_core::client`): identity and account.
    store
        .store("identity", &identity.danger_export_secret().to_bytes()[..])
        .expect("memory store");
    let account = serde_json::json!({
        "user_id": relay.user_id(),
        "role": "system",
        "relay": relay.origin().as_str(),
    });
    store
        .store("account", account.to_string().as_bytes())
        .expect("memory store");
    let system = SystemClient::with_relay(relay, store).expect("a system account");
    let names: Vec<VolumeName> = [
        "meta",
        "members",
        "fronts",
        "journal",
        "chat",
        "polls",
        "vault",
        "analytics",
    ]
    .iter()
    .map(|n| volume(n))
    .collect();
    let plaintext = random_bytes(volume_size);
    for name in &names {
        system.publish(name, &plaintext).await.expect("publish");
    }
    let mut ids = Vec::with_capacity(friends);
    for _ in 0..friends {
        let friend = Identity::generate();
        let friend_relay = world.register(&friend, ClientType::Friend);
        let link = system.create_invite().await.expect("invite");
        let proof = pairing_proof(
            link.secret(),
            link.code(),
            friend_relay.user_id(),
            &friend.public_identity(),
        )
        .expect("valid code");
        friend_relay
            .redeem_invite(&RedeemRequest {
                code: InviteCode::new(link.code()).expect("valid code"),
                proof,
            })
            .await
            .expect("redeem");
        system
            .approve(friend_relay.user_id(), &names, None)
            .await
            .expect("approve");
        ids.push(friend_relay.user_id());
    }
    (system, ids)
}

fn rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("rotation/revoke");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for remaining in [1usize, 10, 100] {
        group.bench_with_input(
            BenchmarkId::from_parameter(remaining),
            &remaining,
            |b, &remaining| {
                b.iter_batched(
                    || rt.block_on(system_with_friends(remaining + 1, 64 << 10)),
                    |(system, friends)| {
                        let report = rt.block_on(system.revoke(friends[0])).expect("revoke");
                        assert_eq!(report.rotated.len(), 8);
                        assert_eq!(report.friends_regranted.len(), remaining);
                        system
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

fn backup(c: &mut Criterion) {
    let mut group = c.benchmark_group("backup");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let params = BackupParams::default();
    // An identity, 8 volume keys and a few pins: a few KiB of secret state.
    let state = random_bytes(4 << 10);
    let passphrase = "correct horse battery staple";
    group.bench_function("export_argon2id_default", |b| {
        b.iter(|| export_backup(&state, passphrase, &params).expect("export"));
    });
    let file = export_backup(&state, passphrase, &params).expect("export");
    group.bench_function("import_argon2id_default", |b| {
        b.iter(|| import_backup(black_box(&file), passphrase).expect("import"));
    });
    group.finish();
}

criterion_group!(benches, aead, wrap, rotation, backup);
criterion_main!(benches);
