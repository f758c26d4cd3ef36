//! Invite codes, shared by v1 (sharing relationships) and v2 (pairings): creating one within the
//! open-invite limit, and opening one for redemption. A code works only with the protocol it
//! was made for.

use super::{Refusal, ServiceError};
use crate::state::AppState;
use crate::storage::invites::Invite;
use crate::store::{ClientType, now};

/// Stores `code` for `system` under `protocol` (1 or 2); answers its expiry (Unix seconds):
/// the lifetime from now, rounded *up* to the next whole hour, so that neither the stored
/// expiry nor the one answered tells the second the invite was made (it lives between the
/// lifetime and the lifetime plus an hour).
/// Refused (409) when the system already has `limits.max_open_invites` open codes.
pub async fn create(
    state: &AppState,
    system: &str,
    code: &str,
    protocol: i64,
) -> Result<i64, ServiceError> {
    let now = now();
    let lifetime = state.config.limits.invite_lifetime_hours as i64 * 3600;
    let expires_at = ceil_to_hour(now.saturating_add(lifetime));
    let max_open = state.config.limits.max_open_invites;
    let (code, system) = (code.to_owned(), system.to_owned());
    let fresh = state
        .storage
        .create_invite(code, system, now, expires_at, max_open, protocol)
        .await?;
    if !fresh {
        return Err(Refusal::Conflict(format!(
            "Too many open invite codes (at most {max_open}); wait for some to expire"
        ))
        .into());
    }
    Ok(expires_at)
}

/// The stored invite (`None`: unknown) if a friend (`caller`) may redeem it under `protocol`
/// at `now`: unknown or of the other protocol (404), redeemed or expired (410), or a caller
/// that is not a friend (400) are refused.
pub fn check_open(
    invite: Option<Invite>,
    protocol: i64,
    caller: ClientType,
    now: i64,
) -> Result<Invite, Refusal> {
    let Some(invite) = invite.filter(|i| i.protocol == protocol) else {
        return Err(Refusal::NotFound("Invalid invite code"));
    };
    if invite.redeemed {
        return Err(Refusal::Gone("Invite code already redeemed"));
    }
    if invite.expires_at <= now {
        return Err(Refusal::Gone("Invite code expired"));
    }
    if caller != ClientType::Friend {
        return Err(Refusal::bad("Only friend clients can redeem invite codes"));
    }
    Ok(invite)
}

/// Rounds Unix seconds up to the next whole hour (a whole hour stays).
pub fn ceil_to_hour(t: i64) -> i64 {
    let floor = crate::store::hour(t);
    if floor == t {
        t
    } else {
        floor.saturating_add(3600)
    }
}
