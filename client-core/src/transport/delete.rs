//! Deleting one volume (`docs/protocol-v2.md` §12): the owner's signed tombstone.

use reqwest::Method;

pub use coffer_wire::v2::api::SignedTombstone;

use super::http::{Answer, Call};
use super::{RelayHttp, TransportError};
use coffer_wire::v2::VolumeName;

const DELETE_VOLUME: &str = "DELETE /volumes/{name}";

impl RelayHttp {
    /// `DELETE /volumes/{name}` (system) with the owner's signed tombstone.
    pub async fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &SignedTombstone,
    ) -> Result<(), TransportError> {
        let call = Call {
            method: Method::DELETE,
            url: self.origin().api_url(&["volumes", name.as_str()]),
            body: Some(
                serde_json::to_vec(tombstone)
                    .map_err(|_| TransportError::Protocol("a tombstone did not serialise"))?,
            ),
            if_none_match: None,
            authenticated: true,
            what: DELETE_VOLUME,
        };
        match self.execute(&call).await? {
            Answer::Body(_) => Ok(()),
            Answer::NotModified => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
        }
    }
}
