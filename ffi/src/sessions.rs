//! Own sessions (`docs/protocol-v2.md` §11) on both clients: list, revoke one, revoke the
//! others, log out, sign in again. Each method calls the same-named `coffer_client_core` one.

use std::sync::Arc;

use coffer_client_core::transport::{SessionId, SessionInfo as CoreSession, SessionProtocol};

use crate::error::CofferError;
use crate::friend::FriendClient;
use crate::runtime::run;
use crate::system::SystemClient;

/// One of the account's sessions (a device signed in).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionInfo {
    /// The session's public id (pass it to `revoke_session`); not a secret.
    pub session_id: String,
    /// The label the device sent at login (`ClientConfig.with_device_label`), if any.
    pub device_label: Option<String>,
    /// `"v1"` or `"v2"`: which login made it.
    pub protocol: String,
    /// When it was made, Unix seconds (to the hour).
    pub created_at: i64,
    /// When it was last used, Unix seconds (to the hour).
    pub last_used_at: i64,
    /// Whether it is this device's session.
    pub current: bool,
}

impl From<CoreSession> for SessionInfo {
    fn from(s: CoreSession) -> Self {
        SessionInfo {
            session_id: s.session_id.to_string(),
            device_label: s.device_label.map(|l| l.as_str().to_owned()),
            protocol: match s.protocol {
                SessionProtocol::V1 => "v1",
                SessionProtocol::V2 => "v2",
                SessionProtocol::Unknown => "unknown",
            }
            .to_owned(),
            created_at: s.created_at.unix_seconds(),
            last_used_at: s.last_used_at.unix_seconds(),
            current: s.current,
        }
    }
}

fn parse_session_id(text: &str) -> Result<SessionId, CofferError> {
    text.parse().map_err(|_| CofferError::InvalidInput {
        reason: "a session id is a UUID (from list_sessions)".to_owned(),
    })
}

macro_rules! session_exports {
    ($client:ident) => {
        #[uniffi::export]
        impl $client {
            /// The account's live sessions, oldest first; `current` marks this device's.
            ///
            /// Throws `Unauthorized` once this device's session was revoked or logged out (until
            /// `login`), relay errors.
            pub async fn list_sessions(self: Arc<Self>) -> Result<Vec<SessionInfo>, CofferError> {
                run(async move {
                    let sessions = self.core().await?.list_sessions().await?;
                    Ok(sessions.into_iter().map(SessionInfo::from).collect())
                })
                .await
            }

            /// Revokes one of the account's sessions (a lost phone's): its next request is
            /// refused, and that device stays signed out until it calls `login`.
            ///
            /// Throws `InvalidInput` (not a UUID), `NotFound` (none of this account's
            /// sessions), relay errors.
            pub async fn revoke_session(
                self: Arc<Self>,
                session_id: String,
            ) -> Result<(), CofferError> {
                run(async move {
                    let id = parse_session_id(&session_id)?;
                    Ok(self.core().await?.revoke_session(id).await?)
                })
                .await
            }

            /// Revokes every session of the account but this device's; returns how many.
            pub async fn revoke_other_sessions(self: Arc<Self>) -> Result<u64, CofferError> {
                run(async move { Ok(self.core().await?.revoke_other_sessions().await?) }).await
            }

            /// Logs out: the relay revokes this device's session, then this device forgets
            /// the token; calls throw `Unauthorized` until `login`. Keys stay in storage.
            /// Signed out locally even when the relay could not be told (the error is thrown:
            /// the session then ends at its expiry).
            pub async fn logout(self: Arc<Self>) -> Result<(), CofferError> {
                run(async move { Ok(self.core().await?.logout().await?) }).await
            }

            /// Signs in now with a fresh session: after `logout`, or after this device's
            /// session was revoked from another device.
            pub async fn login(self: Arc<Self>) -> Result<(), CofferError> {
                run(async move { Ok(self.core().await?.login().await?) }).await
            }
        }
    };
}

session_exports!(SystemClient);
session_exports!(FriendClient);
