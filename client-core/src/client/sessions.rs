//! Own sessions (`docs/protocol-v2.md` §11), the same on both clients: list this account's
//! sessions, revoke one (a lost phone's), revoke all but this one, and log out — the relay
//! refuses the token first, then this device forgets it. The device label every login sends is
//! set on the [`ClientConfig`].
//!
//! After its session was revoked (from another device), a client is *signed out*: its calls
//! fail with [`ClientError::Unauthorized`] at once and it does not log in again by itself
//! until [`SystemClient::login`] / [`FriendClient::login`] (the app decides whether the user
//! may sign back in). Revoking a session does not revoke keys: a device that still holds the
//! account's keys can sign in again; unlinking a device is what ends that.

use super::{ClientConfig, ClientError, FriendClient, RelayApi, SystemClient};
use crate::transport::{DeviceLabel, SessionId, SessionInfo};

impl ClientConfig {
    /// The same configuration with a device label, sent with every login and shown in the
    /// account's session list ("Pixel 8", "Kitchen iPad").
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] unless it has 1–64 characters and no control characters.
    pub fn with_device_label(mut self, label: &str) -> Result<ClientConfig, ClientError> {
        let label = DeviceLabel::new(label).map_err(|_| {
            ClientError::InvalidInput(
                "a device label has 1–64 characters and no control characters",
            )
        })?;
        self.http.device_label = Some(label);
        Ok(self)
    }
}

async fn list<R: RelayApi>(relay: &R) -> Result<Vec<SessionInfo>, ClientError> {
    Ok(relay.list_sessions().await?)
}

async fn revoke<R: RelayApi>(relay: &R, session_id: SessionId) -> Result<(), ClientError> {
    Ok(relay.revoke_session(session_id).await?)
}

async fn revoke_others<R: RelayApi>(relay: &R) -> Result<u64, ClientError> {
    Ok(relay.revoke_other_sessions().await?)
}

async fn logout<R: RelayApi>(relay: &R) -> Result<(), ClientError> {
    Ok(relay.end_session().await?)
}

async fn login<R: RelayApi>(relay: &R) -> Result<(), ClientError> {
    Ok(relay.login().await?)
}

macro_rules! session_methods {
    ($client:ident) => {
        impl<R: RelayApi> $client<R> {
            /// This account's live sessions, oldest first; `current` marks this device's.
            ///
            /// # Errors
            /// Relay errors ([`ClientError::Unauthorized`] once this device was signed out).
            pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, ClientError> {
                list(self.relay()).await
            }

            /// Revokes one of this account's sessions (e.g. a lost phone's): its token is
            /// refused from its next request on.
            ///
            /// # Errors
            /// [`ClientError::NotFound`] for an id that names none of this account's sessions;
            /// relay errors.
            pub async fn revoke_session(&self, session_id: SessionId) -> Result<(), ClientError> {
                revoke(self.relay(), session_id).await
            }

            /// Revokes every session of this account but this device's; how many ended.
            ///
            /// # Errors
            /// Relay errors.
            pub async fn revoke_other_sessions(&self) -> Result<u64, ClientError> {
                revoke_others(self.relay()).await
            }

            /// Logs out: the relay revokes this device's session, then this device forgets
            /// the token and stays signed out until [`Self::login`]. Keys stay in the key
            /// store. Signed out locally also when the relay could not be told (the error is
            /// returned; the session then ends at its expiry).
            ///
            /// # Errors
            /// Relay errors (the device is signed out all the same).
            pub async fn logout(&self) -> Result<(), ClientError> {
                logout(self.relay()).await
            }

            /// Signs in now (a fresh session): after [`Self::logout`], or after this device's
            /// session was revoked from another one.
            ///
            /// # Errors
            /// Relay errors.
            pub async fn login(&self) -> Result<(), ClientError> {
                login(self.relay()).await
            }
        }
    };
}

session_methods!(SystemClient);
session_methods!(FriendClient);
