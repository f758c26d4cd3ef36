//! Fetch receipts (`docs/protocol-v2.md` §14): the friend's upload and the owner's listing.

use reqwest::Method;

pub use coffer_wire::v2::api::{ReceiptEnvelope, ReceiptList};

use super::http::{Answer, Call};
use super::{RelayHttp, TransportError, UserId};

const POST_RECEIPT: &str = "POST /shared/{owner}/receipts";
const LIST_RECEIPTS: &str = "GET /receipts";

impl RelayHttp {
    /// `POST /shared/{owner}/receipts` (friend): uploads a signed fetch receipt.
    pub async fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> Result<(), TransportError> {
        let id = owner.to_string();
        let call = Call {
            method: Method::POST,
            url: self.origin().api_url(&["shared", &id, "receipts"]),
            body: Some(
                serde_json::to_vec(receipt)
                    .map_err(|_| TransportError::Protocol("a receipt did not serialise"))?,
            ),
            if_none_match: None,
            authenticated: true,
            what: POST_RECEIPT,
        };
        match self.execute(&call).await? {
            Answer::Body(_) => Ok(()),
            Answer::NotModified => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
        }
    }

    /// `GET /receipts[?since=<hour>]` (system): the receipts the relay kept for the caller,
    /// oldest first. Unverified: check each under the friend's pinned key.
    pub async fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> Result<Vec<ReceiptEnvelope>, TransportError> {
        let mut url = self.origin().api_url(&["receipts"]);
        if let Some(since) = since {
            url.query_pairs_mut()
                .append_pair("since", &since.to_string());
        }
        let call = Call {
            method: Method::GET,
            url,
            body: None,
            if_none_match: None,
            authenticated: true,
            what: LIST_RECEIPTS,
        };
        match self.execute(&call).await? {
            Answer::Body(body) => serde_json::from_slice::<ReceiptList>(&body)
                .map(|list| list.receipts)
                .map_err(|_| {
                    TransportError::Protocol(
                        "the answer to GET /receipts is not the expected JSON (fields, base64, \
                         lengths or list sizes)",
                    )
                }),
            Answer::NotModified => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
        }
    }
}
