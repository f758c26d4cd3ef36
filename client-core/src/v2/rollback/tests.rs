use coffer_wire::v2::{Grant, GrantEntry};

use super::*;
use crate::v2::{
    Fingerprint, HeaderFields, VolumeKey, seal, sign_grant, verify_grant, verify_header,
};

const OWNER: Uuid = Uuid::from_bytes([1; 16]);
const FRIEND: Uuid = Uuid::from_bytes([2; 16]);

fn meta() -> VolumeName {
    VolumeName::new("meta").expect("valid")
}

fn header(id: &Identity, epoch: u32, version: u64) -> VerifiedHeader {
    let fields = HeaderFields {
        owner: OWNER,
        volume: meta(),
        epoch,
        version,
        hour: 0,
    };
    let sealed = seal(id, &VolumeKey::generate(), &fields, b"x").expect("seals");
    verify_header(
        &id.public_signing_key(),
        OWNER,
        &meta(),
        &sealed.header_bytes,
        &sealed.signature,
    )
    .expect("verifies")
}

fn grant(id: &Identity, sequence: u64) -> VerifiedGrant {
    let fp = Fingerprint::from_bytes([3; 32]);
    let g = Grant {
        owner: *OWNER.as_bytes(),
        friend: *FRIEND.as_bytes(),
        friend_fingerprint: *fp.as_bytes(),
        sequence,
        expires_at: 0,
        entries: vec![GrantEntry {
            volume: meta(),
            epoch: 1,
        }],
    };
    let signed = sign_grant(id, &g).expect("valid");
    verify_grant(
        &id.public_signing_key(),
        &signed.bytes,
        &signed.signature,
        OWNER,
        FRIEND,
        &fp,
        0,
    )
    .expect("verifies")
}

#[test]
fn volumes_only_move_forward() {
    let id = Identity::generate();
    let mut hw = HighWater::new();
    hw.record(&header(&id, 1, 5)).expect("first");
    hw.record(&header(&id, 1, 5))
        .expect("re-fetch of the same version");
    hw.record(&header(&id, 2, 6)).expect("newer");
    assert_eq!(hw.volume_mark(OWNER, &meta()), Some((2, 6)));
    let err = hw.record(&header(&id, 1, 5)).expect_err("older");
    assert_eq!(
        err,
        V2Error::Rollback {
            volume: meta(),
            seen_epoch: 2,
            seen_version: 6,
            got_epoch: 1,
            got_version: 5,
        }
    );
    // Lower epoch with a higher version, or lower version in the same epoch: both refused.
    assert!(hw.check_volume(OWNER, &meta(), 1, 9).is_err());
    assert!(hw.check_volume(OWNER, &meta(), 2, 5).is_err());
    assert!(hw.check_volume(OWNER, &meta(), 2, 7).is_ok());
    // Other volumes and owners are independent.
    let fronts = VolumeName::new("fronts").expect("valid");
    assert!(hw.check_volume(OWNER, &fronts, 1, 1).is_ok());
    assert!(hw.check_volume(FRIEND, &meta(), 1, 1).is_ok());
    assert_eq!(hw.volume_mark(OWNER, &meta()), Some((2, 6)));
}

#[test]
fn grants_only_move_forward() {
    let id = Identity::generate();
    let mut hw = HighWater::new();
    hw.record_grant(&grant(&id, 4)).expect("first");
    hw.record_grant(&grant(&id, 4)).expect("re-fetch");
    assert_eq!(
        hw.record_grant(&grant(&id, 3)),
        Err(V2Error::GrantRollback { seen: 4, got: 3 })
    );
    hw.record_grant(&grant(&id, 5)).expect("newer");
    assert_eq!(hw.grant_mark(OWNER, FRIEND), Some(5));
}

#[test]
fn restore_lowers_once_and_cannot_be_replayed() {
    let id = Identity::generate();
    let pk = id.public_signing_key();
    let mut hw = HighWater::new();
    hw.record(&header(&id, 1, 9)).expect("first");
    let statement = RestoreStatement {
        owner: OWNER,
        volume: meta(),
        epoch: 1,
        version: 4,
    };
    let sig = sign_restore(&id, &statement);
    // Not the owner's signature.
    let other = sign_restore(&Identity::generate(), &statement);
    assert_eq!(
        hw.apply_restore(&pk, &statement, &other),
        Err(V2Error::BadSignature)
    );
    hw.apply_restore(&pk, &statement, &sig)
        .expect("owner-signed");
    assert_eq!(hw.volume_mark(OWNER, &meta()), Some((1, 4)));
    hw.record(&header(&id, 1, 4))
        .expect("restored version accepted");
    hw.record(&header(&id, 1, 12)).expect("moves on");
    // Replaying the same statement later is refused.
    assert_eq!(
        hw.apply_restore(&pk, &statement, &sig),
        Err(V2Error::StaleRestore)
    );
    assert_eq!(hw.volume_mark(OWNER, &meta()), Some((1, 12)));
    // The signature covers every field.
    let mut widened = statement.clone();
    widened.version = 1;
    assert_eq!(
        hw.apply_restore(&pk, &widened, &sig),
        Err(V2Error::BadSignature)
    );
}

#[test]
fn serde_round_trip_has_no_secrets() {
    let id = Identity::generate();
    let mut hw = HighWater::new();
    hw.record(&header(&id, 2, 7)).expect("first");
    hw.record_grant(&grant(&id, 3)).expect("first");
    let statement = RestoreStatement {
        owner: OWNER,
        volume: VolumeName::new("fronts").expect("valid"),
        epoch: 1,
        version: 2,
    };
    hw.apply_restore(
        &id.public_signing_key(),
        &statement,
        &sign_restore(&id, &statement),
    )
    .expect("owner-signed");
    let json = serde_json::to_string(&hw).expect("serialises");
    assert_eq!(
        json,
        format!(
            "{{\"volumes\":[{{\"owner\":\"{OWNER}\",\"volume\":\"fronts\",\"epoch\":1,\"version\":2,\"restored\":[1,2]}},\
             {{\"owner\":\"{OWNER}\",\"volume\":\"meta\",\"epoch\":2,\"version\":7}}],\
             \"grants\":[{{\"owner\":\"{OWNER}\",\"friend\":\"{FRIEND}\",\"sequence\":3}}]}}"
        )
    );
    let back: HighWater = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, hw);
    assert!(serde_json::from_str::<HighWater>("{\"volumes\":[],\"grants\":[],\"x\":1}").is_err());
    assert!(
        serde_json::from_str::<HighWater>(
            "{\"volumes\":[{\"owner\":\"00000000-0000-0000-0000-000000000000\",\"volume\":\"Bad\",\"epoch\":1,\"version\":1}],\"grants\":[]}"
        )
        .is_err()
    );
}
