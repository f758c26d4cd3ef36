//! What the clients know about their writes, and the check every fault test ends with: each
//! acknowledged write is still served, byte for byte.
//!
//! A client can only know what the relay told it. An upload answered 200 is *acknowledged*: a
//! relay that loses it, or serves other bytes for it, is broken whatever happened in between. An
//! upload that got no answer (the relay died, the disk filled) may or may not have been stored;
//! if the relay serves it later, its bytes must be exactly the ones that were sent for that
//! version — never a torn or mixed file. So the ledger records every *attempt* (digest of the
//! bytes sent, per version) and the newest *acknowledged* version per volume, and
//! [`Ledger::check_served`] accepts exactly: nothing served only if nothing was acknowledged; a
//! version at least the acknowledged one; the acknowledged bytes at the acknowledged version;
//! attempted bytes above it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use coffer_client_core::client::RelayApi;
use coffer_client_core::transport::{Fetched, SignedVolume, TransportError};
use coffer_wire::b64;
use coffer_wire::v2::VolumeName;
use sha2::{Digest as _, Sha256};

use coffer_client_core::legacy::v1::SealedVolume;

use crate::client::{V1Client, upload_body_text};
use crate::http::{Http, Resp};

/// SHA-256 of a v2 upload as signed and stored: header, signature and payload (length-prefixed
/// header, so no two different uploads share a digest).
pub fn digest_v2(volume: &SignedVolume) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((volume.header.len() as u64).to_be_bytes());
    h.update(&volume.header);
    h.update(volume.signature.as_bytes());
    h.update(&volume.payload);
    h.finalize().into()
}

/// SHA-256 of a v1 upload: signature and blob (the signature covers the canonical header, so
/// equal digests mean the same header too, whatever key order the relay serves it in).
pub fn digest_v1(signature: &[u8; 64], blob: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(signature);
    h.update(blob);
    h.finalize().into()
}

/// The version of a v2 upload, from its header (the bytes the relay stores and serves).
pub fn v2_version(volume: &SignedVolume) -> u64 {
    coffer_wire::v2::Header::parse(&volume.header)
        .expect("clients only upload headers that parse")
        .version
}

#[derive(Debug, Default, Clone)]
struct VolumeLog {
    /// Every digest sent per version (a version can be retried with new bytes after a failure).
    attempts: BTreeMap<u64, BTreeSet<[u8; 32]>>,
    /// The newest acknowledged version and its digest.
    acked: Option<(u64, [u8; 32])>,
    acked_count: u64,
}

/// Attempted and acknowledged writes per (owner, volume); shared by every client of a test.
#[derive(Debug, Default)]
pub struct Ledger {
    volumes: Mutex<BTreeMap<(String, String), VolumeLog>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), VolumeLog>) -> T) -> T {
        f(&mut self.volumes.lock().expect("ledger lock"))
    }

    /// Records that `digest` is about to be sent as `version` (before the request goes out).
    pub fn attempt(&self, owner: &str, volume: &str, version: u64, digest: [u8; 32]) {
        self.with(|v| {
            v.entry((owner.to_owned(), volume.to_owned()))
                .or_default()
                .attempts
                .entry(version)
                .or_default()
                .insert(digest);
        });
    }

    /// Records a 200 for `version` with `digest` (which must have been attempted).
    pub fn ack(&self, owner: &str, volume: &str, version: u64, digest: [u8; 32]) {
        self.with(|v| {
            let log = v.entry((owner.to_owned(), volume.to_owned())).or_default();
            assert!(
                log.attempts
                    .get(&version)
                    .is_some_and(|d| d.contains(&digest)),
                "{owner}/{volume} v{version} acknowledged but never attempted"
            );
            if let Some((acked, _)) = log.acked {
                assert!(
                    version > acked,
                    "{owner}/{volume}: v{version} acknowledged after v{acked} (two \
                     acknowledgements of one version, or versions going back)"
                );
            }
            log.acked = Some((version, digest));
            log.acked_count += 1;
        });
    }

    /// The newest acknowledged version of a volume.
    pub fn acked_version(&self, owner: &str, volume: &str) -> Option<u64> {
        self.with(|v| {
            v.get(&(owner.to_owned(), volume.to_owned()))
                .and_then(|l| l.acked.map(|(version, _)| version))
        })
    }

    /// How many uploads were acknowledged in total.
    pub fn acked_count(&self) -> u64 {
        self.with(|v| v.values().map(|l| l.acked_count).sum())
    }

    /// Every (owner, volume) with at least one attempt.
    pub fn volumes(&self) -> Vec<(String, String)> {
        self.with(|v| v.keys().cloned().collect())
    }

    /// The volumes of `owner` with at least one attempt.
    pub fn volumes_of(&self, owner: &str) -> Vec<String> {
        self.with(|v| {
            v.keys()
                .filter(|(o, _)| o == owner)
                .map(|(_, n)| n.clone())
                .collect()
        })
    }

    /// Forgets `owner`'s volumes (its account was deleted on purpose).
    pub fn forget_owner(&self, owner: &str) {
        self.with(|v| v.retain(|(o, _), _| o != owner));
    }

    /// Checks what the relay serves for a volume (`None`: 404) against the ledger; `Err` says
    /// what is wrong. Returns the served version.
    pub fn check_served(
        &self,
        owner: &str,
        volume: &str,
        served: Option<(u64, [u8; 32])>,
    ) -> Result<Option<u64>, String> {
        let log = self
            .with(|v| v.get(&(owner.to_owned(), volume.to_owned())).cloned())
            .unwrap_or_default();
        match (served, log.acked) {
            (None, None) => Ok(None),
            (None, Some((acked, _))) => Err(format!(
                "{owner}/{volume}: v{acked} was acknowledged, but the relay serves nothing"
            )),
            (Some((version, _)), Some((acked, _))) if version < acked => Err(format!(
                "{owner}/{volume}: serves v{version}, but v{acked} was acknowledged"
            )),
            (Some((version, digest)), Some((acked, acked_digest)))
                if version == acked && digest != acked_digest =>
            {
                Err(format!(
                    "{owner}/{volume}: v{version} is served with other bytes than the \
                     acknowledged upload"
                ))
            }
            (Some((version, digest)), _) => {
                if log
                    .attempts
                    .get(&version)
                    .is_some_and(|d| d.contains(&digest))
                {
                    Ok(Some(version))
                } else {
                    Err(format!(
                        "{owner}/{volume}: serves v{version} with bytes that were never \
                         uploaded for that version (torn, mixed or invented)"
                    ))
                }
            }
        }
    }

    /// Every volume of `owner` in the ledger, read through the owner's own v2 connection
    /// (`GET /api/v2/volumes/{name}`), checked with [`Self::check_served`]; and the owner's
    /// listing names exactly the volumes served. Returns volume → served version.
    pub async fn verify_v2<R: RelayApi>(
        &self,
        owner: &str,
        relay: &R,
    ) -> Result<BTreeMap<String, u64>, String> {
        let known = self.volumes_of(owner);
        let mut served = BTreeMap::new();
        for name in known.iter().cloned() {
            let volume = VolumeName::new(&name).map_err(|e| format!("{name}: {e}"))?;
            let got = match relay.get_volume(&volume, None).await {
                Ok(Fetched::Modified(v)) => Some((v2_version(&v), digest_v2(&v))),
                Err(TransportError::NotFound) => None,
                Ok(Fetched::NotModified) => {
                    return Err(format!("{owner}/{name}: 304 to an unconditional GET"));
                }
                Err(e) => return Err(format!("{owner}/{name}: the relay failed: {e}")),
            };
            if let Some(version) = self.check_served(owner, &name, got)? {
                served.insert(name, version);
            }
        }
        let listed = relay
            .list_volumes()
            .await
            .map_err(|e| format!("{owner}: GET /volumes failed: {e}"))?;
        for entry in listed
            .iter()
            .filter(|e| known.iter().any(|k| k == e.volume.as_str()))
        {
            let name = entry.volume.as_str();
            if served.get(name) != Some(&entry.version) {
                return Err(format!(
                    "{owner}: the listing shows {name} v{} but the download served {:?}",
                    entry.version,
                    served.get(name)
                ));
            }
        }
        Ok(served)
    }

    /// As [`Self::verify_v2`], for a v1 system (`GET /api/v1/volumes/{name}/download`).
    pub async fn verify_v1(&self, client: &V1Client) -> Result<BTreeMap<String, u64>, String> {
        let owner = client.user_id().to_owned();
        let mut served = BTreeMap::new();
        for name in self.volumes_of(&owner) {
            let resp = client.download_own(&name, None).await;
            let got = match resp.status {
                200 => Some(v1_served(&resp)?),
                404 => None,
                _ => return Err(format!("{owner}/{name}: {}", resp.describe())),
            };
            if let Some(version) = self.check_served(&owner, &name, got)? {
                served.insert(name, version);
            }
        }
        Ok(served)
    }
}

impl Ledger {
    /// `PUT /api/v1/volumes/{name}` of `sealed` by `client`, recorded: the attempt before the
    /// request goes out, the acknowledgement on 200. `Err` when no answer came (the relay
    /// died); any other answer is returned for the caller to judge.
    pub async fn put_v1(
        &self,
        client: &V1Client,
        sealed: &SealedVolume,
    ) -> Result<Resp, reqwest::Error> {
        let (owner, volume) = (client.user_id(), sealed.header.volume_name.as_str());
        let version = sealed.header.version;
        let digest = digest_v1(&sealed.signature, &sealed.blob);
        self.attempt(owner, volume, version, digest);
        let rb = client
            .req(reqwest::Method::PUT, &format!("/api/v1/volumes/{volume}"))
            .body(upload_body_text(sealed));
        let resp = Http::try_send(rb).await?;
        if resp.status == 200 {
            self.ack(owner, volume, version, digest);
        }
        Ok(resp)
    }
}

/// (version, digest) of a v1 download answer.
fn v1_served(resp: &Resp) -> Result<(u64, [u8; 32]), String> {
    let body = resp.json();
    let version = body["control_header"]["version"]
        .as_u64()
        .ok_or_else(|| format!("no version in {}", resp.describe()))?;
    let blob = b64::decode_strict(body["encrypted_payload"].as_str().unwrap_or_default())
        .map_err(|e| format!("encrypted_payload: {e}"))?;
    let signature = b64::decode_exact::<64>(body["signature"].as_str().unwrap_or_default())
        .map_err(|e| format!("signature: {e}"))?;
    Ok((version, digest_v1(&signature, &blob)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_what_a_crash_may_leave() {
        let l = Ledger::new();
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        assert_eq!(l.check_served("o", "v", None), Ok(None));
        l.attempt("o", "v", 1, a);
        // Attempted, no answer: absent or present are both fine.
        assert_eq!(l.check_served("o", "v", None), Ok(None));
        assert_eq!(l.check_served("o", "v", Some((1, a))), Ok(Some(1)));
        l.ack("o", "v", 1, a);
        assert!(l.check_served("o", "v", None).is_err());
        assert!(l.check_served("o", "v", Some((1, b))).is_err());
        l.attempt("o", "v", 2, b);
        l.attempt("o", "v", 2, c);
        assert_eq!(l.check_served("o", "v", Some((1, a))), Ok(Some(1)));
        assert_eq!(l.check_served("o", "v", Some((2, c))), Ok(Some(2)));
        assert!(l.check_served("o", "v", Some((2, a))).is_err());
        assert!(l.check_served("o", "v", Some((3, b))).is_err());
        l.ack("o", "v", 2, b);
        assert!(l.check_served("o", "v", Some((1, a))).is_err());
        assert!(l.check_served("o", "v", Some((2, c))).is_err());
        assert_eq!(l.acked_count(), 2);
    }
}
