//! client-core's identity-backup import (`import_backup`) with hostile files.
//!
//! The file's SHA-256 trailer is unkeyed, so an attacker can always make it match: the `Fixed`
//! case recomputes it, which takes the fuzzer past the checksum into the version, structure and
//! cost-parameter checks. Argon2 costs the file asks for are honoured only within import's
//! bounds (1 GiB, 100 passes, 16 lanes); values inside those bounds but too slow for fuzzing are
//! lowered to cheap ones here (import's bound itself is what `ParametersOutOfRange` tests), so
//! every execution stays fast. A backup made by `export_backup` must import to its secret with
//! the right passphrase and to `WrongPassphrase` with another; any altered byte must fail.

#![no_main]

use coffer_client_core::v2::{BackupError, BackupParams, export_backup, import_backup};
use coffer_fuzz::Reader;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};

/// Offsets of the three big-endian `u32` costs in the file.
const M_AT: usize = 5;
const T_AT: usize = 9;
const P_AT: usize = 13;
/// Most Argon2 work one execution may do (8 MiB total): keeps executions in milliseconds.
const CHEAP_WORK_KIB: u64 = 8 * 1024;

/// Selected by the first byte (mod 3); fields in order, see `coffer_fuzz::Reader`.
#[derive(Debug)]
enum Case<'a> {
    /// A file as found, checksum and all.
    Raw { file: &'a [u8], passphrase: &'a str },
    /// A file whose checksum the attacker recomputed.
    Fixed { body: &'a [u8], passphrase: &'a str },
    /// A real backup, optionally with one bit flipped.
    Exported {
        secret: &'a [u8],
        passphrase: &'a str,
        other: &'a str,
        flip: Option<u32>,
    },
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Whether import would run Argon2 with costs above what a fuzz execution affords. (Costs
/// outside import's bounds are refused before Argon2 and are fine to pass.)
fn too_slow(file: &[u8]) -> bool {
    let (Some(m), Some(t), Some(p)) = (u32_at(file, M_AT), u32_at(file, T_AT), u32_at(file, P_AT))
    else {
        return false;
    };
    let importable =
        (1..=16).contains(&p) && (1..=100).contains(&t) && (8 * p..=1 << 20).contains(&m);
    importable && u64::from(m) * u64::from(t) > CHEAP_WORK_KIB
}

fn import(file: &[u8], passphrase: &str) -> Result<(), BackupError> {
    if too_slow(file) {
        return Ok(());
    }
    import_backup(file, passphrase).map(|_| ())
}

fn decode(data: &[u8]) -> Case<'_> {
    let mut r = Reader::new(data);
    match r.u8() % 3 {
        0 => Case::Raw {
            passphrase: r.str(),
            file: r.rest(),
        },
        1 => Case::Fixed {
            passphrase: r.str(),
            body: r.rest(),
        },
        _ => Case::Exported {
            passphrase: r.str(),
            other: r.str(),
            flip: r.bool().then(|| r.u32()),
            secret: r.rest(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    match case {
        Case::Raw { file, passphrase } => {
            let _ = import(file, passphrase);
        }
        Case::Fixed { body, passphrase } => {
            let mut file = body.to_vec();
            if too_slow(&file) {
                // Keep the structure, lower the work: 8 KiB, one pass, one lane.
                file[M_AT..M_AT + 4].copy_from_slice(&8u32.to_be_bytes());
                file[T_AT..T_AT + 4].copy_from_slice(&1u32.to_be_bytes());
                file[P_AT..P_AT + 4].copy_from_slice(&1u32.to_be_bytes());
            }
            let checksum = Sha256::digest(&file);
            file.extend_from_slice(&checksum);
            let _ = import(&file, passphrase);
        }
        Case::Exported {
            secret,
            passphrase,
            other,
            flip,
        } => {
            let params = BackupParams::danger_fast_for_tests();
            let Ok(mut file) = export_backup(secret, passphrase, &params) else {
                assert!(passphrase.is_empty(), "export refused a valid backup");
                return;
            };
            match flip {
                None => {
                    let back = import_backup(&file, passphrase).expect("a fresh backup imports");
                    assert_eq!(&back[..], secret);
                    if other != passphrase {
                        assert_eq!(
                            import_backup(&file, other).map(|_| ()),
                            Err(BackupError::WrongPassphrase)
                        );
                    }
                }
                Some(bit) => {
                    let bit = usize::try_from(bit).unwrap_or(0) % (file.len() * 8);
                    file[bit / 8] ^= 1 << (bit % 8);
                    // The unkeyed checksum no longer matches: refused before any Argon2 work.
                    assert_eq!(
                        import_backup(&file, passphrase).map(|_| ()),
                        Err(BackupError::Corrupted),
                        "an altered backup was not refused as corrupted"
                    );
                }
            }
        }
    }
});
