//! Replica pairing requests (`docs/protocol-v2.md` §6): a friend paired with a system on one of
//! its relays asks for a pairing on another, which the system's grant then activates.

use reqwest::Method;

pub use coffer_wire::v2::api::ReplicaPairingRequest;

use super::http::{Answer, Call};
use super::{Redeemed, RelayHttp, TransportError, UserId};

const REQUEST_REPLICA_PAIRING: &str = "POST /pairings/replica";

impl RelayHttp {
    /// `POST /pairings/replica` (friend): asks for a pairing with `system` on this relay. The
    /// answer names the pending pairing (new) or the existing one (already paired here).
    pub async fn request_replica_pairing(
        &self,
        system: UserId,
    ) -> Result<Redeemed, TransportError> {
        let request = ReplicaPairingRequest {
            system_user_id: system,
        };
        let call = Call {
            method: Method::POST,
            url: self.origin().api_url(&["pairings", "replica"]),
            body: Some(serde_json::to_vec(&request).map_err(|_| {
                TransportError::Protocol("a replica pairing request did not serialise")
            })?),
            if_none_match: None,
            authenticated: true,
            what: REQUEST_REPLICA_PAIRING,
        };
        match self.execute(&call).await? {
            Answer::Body(body) => serde_json::from_slice::<Redeemed>(&body).map_err(|_| {
                TransportError::Protocol(
                    "the answer to POST /pairings/replica is not the expected JSON",
                )
            }),
            Answer::NotModified => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
        }
    }
}
