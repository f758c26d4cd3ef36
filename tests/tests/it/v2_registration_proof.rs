//! Registration bound to the relay (docs/protocol-v2.md §3, ADR 0026 amendment): a v2 user id is
//! derived from the keys, so whoever registers the keys first on a relay owns that account there.
//! The registration signature (the keys' owner signs the relay origin, the client type, the
//! handle and the keys) makes sure that is the owner: a squatter holding only the public keys
//! and their public key binding cannot register them, and a registration signature captured for
//! one relay, type or handle is refused for another. Checked before `already_registered`.

use coffer_client_core::identity::Identity;
use coffer_test_kit::random32;
use coffer_tests::http::{Http, Resp};
use coffer_tests::relay::RelayProcess;
use coffer_wire::b64;
use coffer_wire::v2::api::{ClientType, Handle, UserId};
use reqwest::Method;
use serde_json::{Value, json};

const NOT_THIS_RELAY: &str =
    "The signed origin is not this relay's (check the relay URL, or the relay's public_origins)";

fn origin(http: &Http) -> String {
    http.base().trim_end_matches('/').to_owned()
}

async fn register(http: &Http, body: &Value) -> Resp {
    http.send(http.request(Method::POST, "/api/v2/register").json(body))
        .await
}

/// What anyone can learn about an identity: its public keys and key binding (user records).
struct Public {
    pk: String,
    xpk: String,
    binding: String,
}

impl Public {
    fn of(id: &Identity) -> Public {
        Public {
            pk: id.public_signing_key_b64(),
            xpk: id.public_exchange_key_b64(),
            binding: b64::encode(&id.key_binding_signature()),
        }
    }

    fn body(
        &self,
        client_type: &str,
        handle: Option<&str>,
        origin: &str,
        signature: &str,
    ) -> Value {
        let mut body = json!({
            "client_type": client_type,
            "public_signing_key": self.pk,
            "public_exchange_key": self.xpk,
            "key_binding_signature": self.binding,
            "origin": origin,
            "registration_signature": signature,
        });
        if let Some(h) = handle {
            body["handle"] = json!(h);
        }
        body
    }
}

fn refused_signature(resp: &Resp) {
    let body = resp.expect_error(400, "bad_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("registration_signature does not verify"),
        "{body}"
    );
}

#[tokio::test]
async fn a_squatter_with_only_the_public_keys_cannot_register_them() {
    let (relay_a, relay_b) = tokio::join!(RelayProcess::start(), RelayProcess::start());
    let (a, b) = (relay_a.http(), relay_b.http());
    let (origin_a, origin_b) = (origin(&a), origin(&b));
    assert_ne!(origin_a, origin_b);
    let owner = Identity::from_secret_bytes(&random32(), &random32());
    let public = Public::of(&owner);
    let squatter = Identity::generate();
    let handle = Handle::new("owner").unwrap();

    // Signatures the squatter can make or find: the public key binding, zeros, its own key
    // over the right message. None verifies under the owner's key.
    let own_key = b64::encode(
        &squatter
            .sign_registration_v2(&origin_a, ClientType::System, None)
            .unwrap(),
    );
    for signature in [public.binding.clone(), b64::encode(&[0u8; 64]), own_key] {
        refused_signature(&register(&a, &public.body("system", None, &origin_a, &signature)).await);
    }

    // The owner's signature for relay A (friend, handle "owner"), captured in transit.
    let captured = b64::encode(
        &owner
            .sign_registration_v2(&origin_a, ClientType::Friend, Some(&handle))
            .unwrap(),
    );
    // Replayed on relay B: the signed origin is not B's; claiming B's origin breaks the signature.
    register(
        &b,
        &public.body("friend", Some("owner"), &origin_a, &captured),
    )
    .await
    .expect_error_message(400, "bad_request", NOT_THIS_RELAY);
    refused_signature(
        &register(
            &b,
            &public.body("friend", Some("owner"), &origin_b, &captured),
        )
        .await,
    );
    // Replayed on relay A with another client type, another handle, or none.
    refused_signature(
        &register(
            &a,
            &public.body("system", Some("owner"), &origin_a, &captured),
        )
        .await,
    );
    refused_signature(
        &register(
            &a,
            &public.body("friend", Some("squat"), &origin_a, &captured),
        )
        .await,
    );
    refused_signature(&register(&a, &public.body("friend", None, &origin_a, &captured)).await);

    // Nothing was created: the owner registers on both relays as it chooses, and gets the
    // id its keys derive.
    let derived = UserId::derive(
        &owner.public_signing_key(),
        &b64::decode_exact::<32>(&public.xpk).unwrap(),
    )
    .to_string();
    for (http, origin) in [(&a, &origin_a), (&b, &origin_b)] {
        let signature = b64::encode(
            &owner
                .sign_registration_v2(origin, ClientType::Friend, Some(&handle))
                .unwrap(),
        );
        let resp = register(
            http,
            &public.body("friend", Some("owner"), origin, &signature),
        )
        .await;
        assert_eq!(resp.expect_json(201)["user_id"], json!(derived));
    }

    // Once the account exists a squatter still learns nothing: a bad proof is refused as such
    // (400), never as "already registered" (409).
    refused_signature(
        &register(&a, &public.body("system", None, &origin_a, &public.binding)).await,
    );
    // The owner's own second registration is the 409 of ADR 0026.
    let again = b64::encode(
        &owner
            .sign_registration_v2(&origin_a, ClientType::System, None)
            .unwrap(),
    );
    register(&a, &public.body("system", None, &origin_a, &again))
        .await
        .expect_error(409, "already_registered");
}

#[tokio::test]
async fn the_origin_and_the_registration_signature_are_required_and_well_formed() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let origin = origin(&http);
    let owner = Identity::generate();
    let public = Public::of(&owner);
    let signature = b64::encode(
        &owner
            .sign_registration_v2(&origin, ClientType::System, None)
            .unwrap(),
    );
    let good = public.body("system", None, &origin, &signature);
    for field in ["origin", "registration_signature"] {
        for missing in [None, Some(Value::Null)] {
            let mut body = good.clone();
            match missing {
                None => body.as_object_mut().unwrap().remove(field),
                Some(null) => body.as_object_mut().unwrap().insert(field.to_owned(), null),
            };
            register(&http, &body).await.expect_error_message(
                400,
                "bad_request",
                &format!("Missing required field: {field}"),
            );
        }
    }
    let mut malformed = good.clone();
    malformed["registration_signature"] = json!("not base64!");
    register(&http, &malformed)
        .await
        .expect_error(400, "bad_request");
    // The origin is compared exactly, as at login: a trailing slash or another spelling is
    // not this relay's.
    for other in [format!("{origin}/"), origin.to_uppercase(), String::new()] {
        let mut body = good.clone();
        body["origin"] = json!(other);
        register(&http, &body)
            .await
            .expect_error_message(400, "bad_request", NOT_THIS_RELAY);
    }
    // The well-formed request registers.
    register(&http, &good).await.expect_json(201);
}
