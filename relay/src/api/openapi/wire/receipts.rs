//! Schemas of the fetch-receipt wire types (`docs/protocol-v2.md` §14).

use coffer_wire::v2::MAX_RECEIPT_BYTES;
use coffer_wire::v2::api::{MAX_LIST_ENTRIES, ReceiptEnvelope, ReceiptList, ReceiptStored};
use serde_json::{Value, json};

use super::super::schema::{base64, exact, reference, request};
use super::{RequestSchema, Schema};

impl Schema for ReceiptEnvelope {
    fn schema() -> Value {
        exact(fields!(ReceiptEnvelope {
            receipt: base64(Some(MAX_RECEIPT_BYTES)),
            signature: reference("Signature64"),
        }))
    }
}

impl RequestSchema for ReceiptEnvelope {
    fn request_schema() -> Value {
        request(
            &["receipt", "signature"],
            fields!(ReceiptEnvelope {
                receipt: base64(Some(MAX_RECEIPT_BYTES)),
                signature: reference("Signature64"),
            }),
        )
    }
}

impl Schema for ReceiptStored {
    fn schema() -> Value {
        exact(fields!(ReceiptStored {
            status: json!({ "const": "stored" }),
        }))
    }
}

impl Schema for ReceiptList {
    fn schema() -> Value {
        exact(fields!(ReceiptList {
            receipts: json!({
                "type": "array",
                "maxItems": MAX_LIST_ENTRIES,
                "items": ReceiptEnvelope::schema(),
            }),
        }))
    }
}
