//! Fetch receipts (`docs/protocol-v2.md` §14): friends' signed receipts for the versions they
//! read, stored verbatim for the owner, bounded per pairing and deleted with it (foreign key).

use rusqlite::{Connection, params};

use super::{StoreError, fixed};

/// Most receipts kept per pairing (per owner and friend); storing one more drops the oldest.
pub const MAX_PER_PAIRING: usize = 1000;
/// Most receipts one listing returns (the newest ones).
pub const MAX_LISTED: usize = coffer_wire::v2::api::MAX_LIST_ENTRIES;

/// A receipt as stored: the columns the relay checked, and the exact signed bytes.
#[derive(Debug, Clone)]
pub struct StoredReceipt {
    /// The volume named by the receipt.
    pub volume_name: String,
    /// Its epoch.
    pub epoch: u32,
    /// The version read.
    pub version: u64,
    /// The hour of the read (a multiple of 3600).
    pub hour: u64,
    /// The exact receipt bytes.
    pub receipt: Vec<u8>,
    /// The friend's signature over them.
    pub signature: [u8; 64],
}

/// Stores a receipt for a pairing (a receipt for a version already on record is kept once:
/// the first one stays), then drops the oldest beyond [`MAX_PER_PAIRING`].
pub fn put_receipt(
    conn: &Connection,
    pairing_id: &str,
    r: &StoredReceipt,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO receipts (pairing_id, volume_name, epoch, version, hour, receipt, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        pairing_id,
        r.volume_name,
        i64::from(r.epoch),
        r.version as i64,
        r.hour as i64,
        r.receipt,
        &r.signature[..]
    ])?;
    conn.prepare_cached(
        "DELETE FROM receipts WHERE pairing_id = ?1 AND id <= \
         (SELECT id FROM receipts WHERE pairing_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![pairing_id, MAX_PER_PAIRING as i64])?;
    Ok(())
}

/// The receipts of every pairing where `owner` is the system, with an hour ≥ `since`: the
/// newest [`MAX_LISTED`], oldest first.
pub fn receipts_of_owner(
    conn: &Connection,
    owner: &str,
    since: u64,
) -> Result<Vec<StoredReceipt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.volume_name, r.epoch, r.version, r.hour, r.receipt, r.signature \
         FROM receipts r JOIN pairings p ON p.id = r.pairing_id \
         WHERE p.system_user_id = ?1 AND r.hour >= ?2 ORDER BY r.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![
            owner,
            i64::try_from(since).unwrap_or(i64::MAX),
            MAX_LISTED as i64
        ],
        |row| {
            let (volume_name, epoch, version, hour, receipt, signature): (
                String,
                i64,
                i64,
                i64,
                Vec<u8>,
                Vec<u8>,
            ) = (
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            );
            Ok((volume_name, epoch, version, hour, receipt, signature))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (volume_name, epoch, version, hour, receipt, signature) = row?;
        out.push(StoredReceipt {
            volume_name,
            epoch: u32::try_from(epoch).map_err(|_| StoreError::Corrupt("receipt epoch"))?,
            version: version as u64,
            hour: hour as u64,
            receipt,
            signature: fixed(signature)?,
        });
    }
    out.reverse();
    Ok(out)
}
