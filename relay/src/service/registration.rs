//! Who may register (docs/adr/0024-registration-and-operator-access.md): `registration.mode`
//! (open, invite-only, closed) and the user cap `registration.max_users`, for v1 and v2 alike.
//!
//! What needs no database is refused before the request body is read ([`Gate::early`]); the cap
//! and the code are checked inside the insert's write transaction ([`Gate::check`]), so two
//! registrations racing for the last place, or for one code, cannot both pass.

use super::{Decision, Refusal};
use crate::config::{Registration, RegistrationMode};
use crate::storage::invites::{CodeBook, CodeKind};
use crate::store::ClientType;
pub use crate::store::registration::code_hash;

/// Longest `X-Registration-Code` value looked at.
pub const MAX_CODE_LEN: usize = 128;

/// The refusal when registration is closed, or a code is needed and missing.
pub const CLOSED: Refusal = Refusal::Denied {
    code: "registration_closed",
    message: "Registration is closed on this relay",
};

/// Invite-only, and the request presented no code.
pub const CODE_NEEDED: Refusal = Refusal::Denied {
    code: "registration_closed",
    message: "Registration on this relay needs a registration code from its operator (header \
              X-Registration-Code); a friend may use a System's invite code instead",
};

/// Invite-only, and the code presented is unknown, used or expired.
pub const CODE_INVALID: Refusal = Refusal::Denied {
    code: "registration_closed",
    message: "The registration code is unknown, already used or expired",
};

/// The relay holds its maximum number of accounts.
pub const CAP_REACHED: Refusal = Refusal::Denied {
    code: "user_cap_reached",
    message: "This relay has reached its maximum number of users",
};

/// A code the registration uses up once the account is stored.
#[derive(Debug, Clone)]
pub struct Spend {
    hash: [u8; 32],
    kind: CodeKind,
    expires_at: i64,
}

/// The registration rules of this relay, with the code the request presented. Its `Debug`
/// says whether a code came, never the code (a single-use credential).
#[derive(Clone)]
pub struct Gate {
    mode: RegistrationMode,
    max_users: Option<u64>,
    code: Option<String>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("mode", &self.mode)
            .field("max_users", &self.max_users)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Gate {
    /// From the configuration and the request's `X-Registration-Code` (trimmed; empty or
    /// longer than [`MAX_CODE_LEN`] counts as a wrong code, not as none).
    pub fn new(config: &Registration, code: Option<&[u8]>) -> Self {
        let code = code.map(|c| {
            std::str::from_utf8(c)
                .ok()
                .map(str::trim)
                .filter(|c| !c.is_empty() && c.len() <= MAX_CODE_LEN)
                .unwrap_or("\u{0}")
                .to_owned()
        });
        Self {
            mode: config.mode,
            max_users: config.max_users,
            code,
        }
    }

    /// The code the request presented (as [`Gate::check`] will read it), for an adapter that
    /// must fetch what the gate will ask about before it runs ([`CodeBook`]).
    pub fn presented_code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The refusal that needs no database: closed, or invite-only without a code.
    pub fn early(&self) -> Result<(), Refusal> {
        match self.mode {
            RegistrationMode::Closed => Err(CLOSED),
            RegistrationMode::InviteOnly if self.code.is_none() => Err(CODE_NEEDED),
            _ => Ok(()),
        }
    }

    /// Inside the insert's transaction (`book` is its view of the codes): the cap, then
    /// (invite-only) the code. Answers the code to spend once the account is stored.
    pub fn check(
        &self,
        book: &mut dyn CodeBook,
        client_type: ClientType,
        now: i64,
    ) -> Decision<Option<Spend>> {
        if let Err(refused) = self.early() {
            return Ok(Err(refused));
        }
        if let Some(max) = self.max_users
            && book.user_count()? >= max
        {
            return Ok(Err(CAP_REACHED));
        }
        if self.mode != RegistrationMode::InviteOnly {
            return Ok(Ok(None));
        }
        let Some(code) = self.code.as_deref() else {
            return Ok(Err(CODE_NEEDED));
        };
        book.forget_expired_codes(now)?;
        let hash = code_hash(code);
        if book.operator_code_open(&hash, now)? {
            return Ok(Ok(Some(Spend {
                hash,
                kind: CodeKind::Operator,
                expires_at: 0,
            })));
        }
        // A friend: an open pairing invite code of a System here, once.
        let invite_code = code.to_ascii_uppercase();
        if client_type == ClientType::Friend
            && let Some(invite) = book.invite(&invite_code)?
            && !invite.redeemed
            && invite.expires_at > now
        {
            let hash = code_hash(&invite_code);
            if !book.code_used(&hash)? {
                return Ok(Ok(Some(Spend {
                    hash,
                    kind: CodeKind::Invite,
                    expires_at: invite.expires_at,
                })));
            }
        }
        Ok(Err(CODE_INVALID))
    }
}

/// Uses up `spend` (in the transaction that stored the account, through its `book`).
pub fn spend(
    book: &mut dyn CodeBook,
    spend: &Spend,
    now: i64,
) -> Result<(), crate::store::StoreError> {
    match spend.kind {
        // The operator code's row keeps its own expiry.
        CodeKind::Operator => book.mark_code_used(&spend.hash, spend.kind, now, 0),
        CodeKind::Invite => book.mark_code_used(&spend.hash, spend.kind, now, spend.expires_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_code() {
        let config = Registration {
            mode: RegistrationMode::InviteOnly,
            ..Registration::default()
        };
        let gate = Gate::new(&config, Some(b"SECRET-CODE-123"));
        let shown = format!("{gate:?}");
        assert!(!shown.contains("SECRET-CODE-123"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
