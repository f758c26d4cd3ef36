//! What the v1 and v2 handlers share, below HTTP: registering an account, creating and opening
//! invites, storing an upload durably and mapping the store's outcome, serving a payload.
//!
//! Handlers (`crate::api`) parse and authorise the request, call in here, and build the
//! response; this layer never sees a request or builds a response. It answers with
//! [`ServiceError`]: a [`Refusal`] (the domain said no: stale, over quota, not found, …) or a
//! [`StoreError`]. Both become the HTTP `ApiError` in one place, `crate::error`.

pub mod accounts;
pub mod invites;
pub mod maintenance;
pub mod registration;
pub mod volumes;

use crate::store::StoreError;

/// Why the domain refused a request. Each variant maps to one HTTP status at the edge; the
/// texts are the exact messages clients see (tests and v1 clients check them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request contradicts a rule of the protocol (400).
    #[error("{0}")]
    BadRequest(String),
    /// The caller's account is gone (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Not allowed for this caller (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not allowed, with a code of its own in the error body (403), e.g.
    /// `registration_closed`, `user_cap_reached`.
    #[error("{message}")]
    Denied {
        /// The body's `error`.
        code: &'static str,
        /// The body's `message`.
        message: &'static str,
    },
    /// The thing does not exist, or not for this caller (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// Conflicts with stored state (409).
    #[error("{0}")]
    Conflict(String),
    /// Conflicts with stored state, with a code of its own in the error body (409), e.g.
    /// `already_registered`.
    #[error("{message}")]
    ConflictWith {
        /// The body's `error`.
        code: &'static str,
        /// The body's `message`.
        message: &'static str,
    },
    /// A write not newer than what the relay holds (409, with the stored position).
    #[error(transparent)]
    Stale(#[from] Stale),
    /// An invite that was used or has expired (410).
    #[error("{0}")]
    Gone(&'static str),
    /// A volume over the size limit, or a quota exceeded (413).
    #[error("{0}")]
    PayloadTooLarge(String),
}

impl Refusal {
    /// Shorthand for a 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

/// A write that is not newer than what the relay holds: 409, with the stored position in the
/// body so the client can resume (`current_version`, `current_epoch`, `current_sequence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// A v1 volume version not newer than the stored one.
    #[error("Volume version must be > {current}, got {got}")]
    Version {
        /// The stored version.
        current: u64,
        /// The version the client sent.
        got: u64,
    },
    /// A v2 upload not newer than the stored epoch and version.
    #[error("Volume version must be > {current_version} (epoch ≥ {current_epoch}), got {got}")]
    V2 {
        /// The stored version.
        current_version: u64,
        /// The stored epoch.
        current_epoch: u32,
        /// The version the client sent.
        got: u64,
    },
    /// A grant sequence not newer than the stored one.
    #[error("Grant sequence must be > {current}")]
    Grant {
        /// The stored sequence.
        current: u64,
    },
}

impl Stale {
    /// The stored position, as the fields of the 409 body.
    pub fn current(&self) -> Vec<(&'static str, u64)> {
        match *self {
            Self::Version { current, .. } => vec![("current_version", current)],
            Self::V2 {
                current_version,
                current_epoch,
                ..
            } => vec![
                ("current_version", current_version),
                ("current_epoch", u64::from(current_epoch)),
            ],
            Self::Grant { current } => vec![("current_sequence", current)],
        }
    }
}

/// What a store closure decides: the outer `Err` is a storage failure (the write is rolled
/// back), the inner one a [`Refusal`] (nothing was written; the transaction goes on). Handlers
/// answer `.await??`: the store error first, then the refusal, each converted at the edge.
pub type Decision<T> = Result<Result<T, Refusal>, StoreError>;

/// A service call's failure.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The domain refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Storage failed (or the blocking pool is gone).
    #[error(transparent)]
    Store(#[from] StoreError),
}
