//! One method per v2 endpoint (`docs/protocol-v2.md` §3–§6), all through
//! [`RelayHttp::execute`].

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use coffer_wire::v2::VolumeName;

use super::http::{Answer, Call};
use super::session::{Session, SessionToken};
use super::types::{
    Challenge, ChallengeRequest, Fetched, GrantEnvelope, Handle, Invite, OwnGrant, OwnGrantList,
    Pairing, PairingId, PairingList, RedeemRequest, Redeemed, RegisterRequest, Registered,
    RelayTime, SessionId, SessionInfo, SessionList, SessionsRevoked, SharedVolume, SignedVolume,
    TokenRequest, UserId, UserRecord, VolumeEntry, VolumeList,
};
use super::{RelayHttp, TransportError};

/// An endpoint's name for logs and its "malformed answer" message.
struct Endpoint {
    what: &'static str,
    malformed: &'static str,
}

macro_rules! endpoint {
    ($name:ident, $what:literal) => {
        const $name: Endpoint = Endpoint {
            what: $what,
            malformed: concat!(
                "the answer to ",
                $what,
                " is not the expected JSON (fields, base64, lengths or list sizes)"
            ),
        };
    };
}

endpoint!(REGISTER, "POST /register");
endpoint!(CHALLENGE, "POST /auth/challenge");
endpoint!(TOKEN, "POST /auth/token");
endpoint!(USER_BY_HANDLE, "GET /users/by-handle/{handle}");
endpoint!(USER_BY_ID, "GET /users/{id}");
endpoint!(PUT_VOLUME, "PUT /volumes/{name}");
endpoint!(LIST_VOLUMES, "GET /volumes");
endpoint!(GET_VOLUME, "GET /volumes/{name}");
endpoint!(CREATE_INVITE, "POST /invites");
endpoint!(REDEEM_INVITE, "POST /invites/redeem");
endpoint!(LIST_PAIRINGS, "GET /pairings");
endpoint!(DELETE_PAIRING, "DELETE /pairings/{id}");
endpoint!(PUT_GRANT, "PUT /grants/{friend_id}");
endpoint!(OWN_GRANTS, "GET /grants");
endpoint!(SHARED_GRANT, "GET /shared/{owner}/grant");
endpoint!(SHARED_VOLUMES, "GET /shared/{owner}/volumes");
endpoint!(SHARED_VOLUME, "GET /shared/{owner}/volumes/{name}");
endpoint!(DELETE_ACCOUNT, "DELETE /users/me");
endpoint!(PINS, "GET /pins");
endpoint!(LIST_SESSIONS, "GET /sessions");
endpoint!(REVOKE_SESSION, "DELETE /sessions/{id}");
endpoint!(REVOKE_OTHER_SESSIONS, "POST /sessions/revoke-others");
endpoint!(END_SESSION, "DELETE /sessions/current");

/// The token answer; the token is moved into a zeroizing buffer as soon as it is parsed.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(deserialize_with = "de_zeroizing")]
    token: Zeroizing<String>,
    #[serde(default)]
    expires_at: Option<RelayTime>,
}

fn de_zeroizing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Zeroizing::new)
}

impl RelayHttp {
    /// `POST /register` (unauthenticated): creates an account for these keys.
    pub async fn register(&self, request: &RegisterRequest) -> Result<Registered, TransportError> {
        self.json(&REGISTER, Method::POST, &["register"], Some(request), false)
            .await
    }

    /// `POST /auth/challenge` (unauthenticated): a single-use login nonce.
    pub async fn challenge(&self, request: &ChallengeRequest) -> Result<Challenge, TransportError> {
        self.json(
            &CHALLENGE,
            Method::POST,
            &["auth", "challenge"],
            Some(request),
            false,
        )
        .await
    }

    /// `POST /auth/token` (unauthenticated): exchanges a signed challenge for a session. The
    /// answer's body is zeroized after parsing.
    pub async fn token(&self, request: &TokenRequest) -> Result<Session, TransportError> {
        let body = Zeroizing::new(
            self.raw(
                &TOKEN,
                Method::POST,
                &["auth", "token"],
                Some(request),
                false,
            )
            .await?,
        );
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| TransportError::Protocol(TOKEN.malformed))?;
        Ok(Session::new(
            SessionToken::new(answer.token)?,
            answer.expires_at,
        ))
    }

    /// `GET /users/by-handle/{handle}`: the account with exactly this handle (ASCII case
    /// ignored). An answer about another handle is a protocol error.
    pub async fn user_by_handle(&self, handle: &Handle) -> Result<UserRecord, TransportError> {
        let record: UserRecord = self
            .json(
                &USER_BY_HANDLE,
                Method::GET,
                &["users", "by-handle", handle.as_str()],
                None::<&()>,
                true,
            )
            .await?;
        let same = record
            .handle
            .as_ref()
            .is_some_and(|h| h.as_str().eq_ignore_ascii_case(handle.as_str()));
        if !same {
            return Err(TransportError::Protocol(
                "the relay answered a handle lookup with another handle",
            ));
        }
        Ok(record)
    }

    /// `GET /pins` (public): the pins of the relay's current certificate and of the next one
    /// it announced (ADR 0010), as `(current, next)`. Believe them only because the connection
    /// that carried them was verified (the caller's trust); `current` is `None` when the
    /// relay's TLS is terminated elsewhere.
    pub async fn pins(
        &self,
    ) -> Result<(Option<coffer_certs::SpkiPin>, Option<coffer_certs::SpkiPin>), TransportError>
    {
        let pins: coffer_wire::v2::api::Pins = self
            .json(&PINS, Method::GET, &["pins"], None::<&()>, false)
            .await?;
        let parse = |pin: Option<String>| {
            pin.map(|p| p.parse::<coffer_certs::SpkiPin>())
                .transpose()
                .map_err(|_| TransportError::Protocol(PINS.malformed))
        };
        Ok((parse(pins.current)?, parse(pins.next)?))
    }

    /// `GET /users/{id}`: an account's public record. An answer about another id is a protocol
    /// error.
    pub async fn user_by_id(&self, user_id: UserId) -> Result<UserRecord, TransportError> {
        let id = user_id.to_string();
        let record: UserRecord = self
            .json(&USER_BY_ID, Method::GET, &["users", &id], None::<&()>, true)
            .await?;
        if record.user_id != user_id {
            return Err(TransportError::Protocol(
                "the relay answered a user lookup with another user",
            ));
        }
        Ok(record)
    }

    /// `PUT /volumes/{name}` (system): uploads a new version. A version that is not newer is
    /// `TransportError::Conflict` with the relay's current version and epoch.
    pub async fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> Result<(), TransportError> {
        self.raw(
            &PUT_VOLUME,
            Method::PUT,
            &["volumes", name.as_str()],
            Some(volume),
            true,
        )
        .await
        .map(drop)
    }

    /// `GET /volumes`: the caller's own volumes (latest header of each).
    pub async fn list_volumes(&self) -> Result<Vec<VolumeEntry>, TransportError> {
        let list: VolumeList = self
            .json(&LIST_VOLUMES, Method::GET, &["volumes"], None::<&()>, true)
            .await?;
        Ok(list.volumes)
    }

    /// `GET /grants`: every grant the caller (a system) has given, as signed (§12).
    pub async fn own_grants(&self) -> Result<Vec<OwnGrant>, TransportError> {
        let list: OwnGrantList = self
            .json(&OWN_GRANTS, Method::GET, &["grants"], None::<&()>, true)
            .await?;
        Ok(list.grants)
    }

    /// `GET /volumes/{name}`: one of the caller's own volumes; with `if_newer_than: Some(v)`
    /// (`If-None-Match: v`) the relay answers `NotModified` unless it holds a version above
    /// `v`.
    pub async fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SignedVolume>, TransportError> {
        self.conditional(&GET_VOLUME, &["volumes", name.as_str()], if_newer_than)
            .await
    }

    /// `POST /invites` (system): a new invite code for a pairing link.
    pub async fn create_invite(&self) -> Result<Invite, TransportError> {
        self.json(
            &CREATE_INVITE,
            Method::POST,
            &["invites"],
            Some(&serde_json::Map::new()),
            true,
        )
        .await
    }

    /// `POST /invites/redeem` (friend): redeems a code with the pairing proof.
    pub async fn redeem_invite(&self, request: &RedeemRequest) -> Result<Redeemed, TransportError> {
        self.json(
            &REDEEM_INVITE,
            Method::POST,
            &["invites", "redeem"],
            Some(request),
            true,
        )
        .await
    }

    /// `GET /pairings`: the caller's pairings, each with the other side's record.
    pub async fn list_pairings(&self) -> Result<Vec<Pairing>, TransportError> {
        let list: PairingList = self
            .json(
                &LIST_PAIRINGS,
                Method::GET,
                &["pairings"],
                None::<&()>,
                true,
            )
            .await?;
        Ok(list.pairings)
    }

    /// `DELETE /pairings/{id}` (either side): ends the pairing, its grant and wrapped keys.
    pub async fn delete_pairing(&self, pairing_id: PairingId) -> Result<(), TransportError> {
        let id = pairing_id.to_string();
        self.raw(
            &DELETE_PAIRING,
            Method::DELETE,
            &["pairings", &id],
            None::<&()>,
            true,
        )
        .await
        .map(drop)
    }

    /// `PUT /grants/{friend_id}` (system): uploads a signed grant and its wrapped keys.
    pub async fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> Result<(), TransportError> {
        let id = friend.to_string();
        self.raw(&PUT_GRANT, Method::PUT, &["grants", &id], Some(grant), true)
            .await
            .map(drop)
    }

    /// `GET /shared/{owner}/grant` (friend): the owner's current grant for the caller.
    pub async fn shared_grant(&self, owner: UserId) -> Result<GrantEnvelope, TransportError> {
        let id = owner.to_string();
        self.json(
            &SHARED_GRANT,
            Method::GET,
            &["shared", &id, "grant"],
            None::<&()>,
            true,
        )
        .await
    }

    /// `GET /shared/{owner}/volumes` (friend): the owner's volumes the caller may read.
    pub async fn shared_volumes(&self, owner: UserId) -> Result<Vec<VolumeEntry>, TransportError> {
        let id = owner.to_string();
        let list: VolumeList = self
            .json(
                &SHARED_VOLUMES,
                Method::GET,
                &["shared", &id, "volumes"],
                None::<&()>,
                true,
            )
            .await?;
        Ok(list.volumes)
    }

    /// `GET /shared/{owner}/volumes/{name}` (friend): a shared volume with the caller's
    /// wrapped VEK; conditional like [`get_volume`](Self::get_volume).
    pub async fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<SharedVolume>, TransportError> {
        let id = owner.to_string();
        self.conditional(
            &SHARED_VOLUME,
            &["shared", &id, "volumes", name.as_str()],
            if_newer_than,
        )
        .await
    }

    /// `DELETE /users/me`: deletes the caller's account and everything it owns (volumes,
    /// pairings on both sides, grants, sessions, blobs).
    pub async fn delete_account(&self) -> Result<(), TransportError> {
        let call = Call {
            method: Method::DELETE,
            url: self.origin().api_url(&["users", "me"]),
            body: None,
            if_none_match: None,
            authenticated: true,
            what: DELETE_ACCOUNT.what,
        };
        match self.execute(&call).await? {
            Answer::Body(_) => Ok(()),
            Answer::NotModified => Err(TransportError::Protocol(DELETE_ACCOUNT.malformed)),
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &[&str],
        body: Option<&impl Serialize>,
        authenticated: bool,
    ) -> Result<T, TransportError> {
        let answer = self
            .raw(endpoint, method, path, body, authenticated)
            .await?;
        serde_json::from_slice(&answer).map_err(|_| TransportError::Protocol(endpoint.malformed))
    }

    async fn raw(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path: &[&str],
        body: Option<&impl Serialize>,
        authenticated: bool,
    ) -> Result<Vec<u8>, TransportError> {
        let call = Call {
            method,
            url: self.origin().api_url(path),
            body: body.map(|b| {
                serde_json::to_vec(b)
                    .expect("request types serialise to JSON (string keys, no custom errors)")
            }),
            if_none_match: None,
            authenticated,
            what: endpoint.what,
        };
        match self.execute(&call).await? {
            Answer::Body(body) => Ok(body),
            Answer::NotModified => Err(TransportError::Protocol(
                "304 Not Modified to a request that was not conditional",
            )),
        }
    }

    async fn conditional<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &[&str],
        if_newer_than: Option<u64>,
    ) -> Result<Fetched<T>, TransportError> {
        let call = Call {
            method: Method::GET,
            url: self.origin().api_url(path),
            body: None,
            if_none_match: if_newer_than,
            authenticated: true,
            what: endpoint.what,
        };
        match self.execute(&call).await? {
            Answer::Body(body) => serde_json::from_slice(&body)
                .map(Fetched::Modified)
                .map_err(|_| TransportError::Protocol(endpoint.malformed)),
            Answer::NotModified => Ok(Fetched::NotModified),
        }
    }
}

#[path = "devices.rs"]
mod devices;
/// Own sessions (`docs/protocol-v2.md` §11).
impl RelayHttp {
    /// `GET /sessions`: this account's live sessions (`current` marks this connection's).
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, TransportError> {
        let list: SessionList = self
            .json(
                &LIST_SESSIONS,
                Method::GET,
                &["sessions"],
                None::<&()>,
                true,
            )
            .await?;
        Ok(list.sessions)
    }

    /// `DELETE /sessions/{id}`: ends one of this account's sessions (`NotFound` for an id that
    /// names none of them). Revoking this connection's own session signs it out.
    pub async fn revoke_session(&self, session_id: SessionId) -> Result<(), TransportError> {
        let id = session_id.to_string();
        self.raw(
            &REVOKE_SESSION,
            Method::DELETE,
            &["sessions", &id],
            None::<&()>,
            true,
        )
        .await
        .map(drop)
    }

    /// `POST /sessions/revoke-others`: ends every session of this account but this
    /// connection's; how many ended.
    pub async fn revoke_other_sessions(&self) -> Result<u64, TransportError> {
        let answer: SessionsRevoked = self
            .json(
                &REVOKE_OTHER_SESSIONS,
                Method::POST,
                &["sessions", "revoke-others"],
                Some(&serde_json::json!({})),
                true,
            )
            .await?;
        Ok(answer.revoked)
    }

    /// Logout: `DELETE /sessions/current` (the relay refuses the token from then on), then
    /// forgets the token and stays signed out until [`RelayHttp::login`]. Signed out locally
    /// **also when the relay could not be told** (the error is returned: the session then ends
    /// at its expiry). Without a session held, only signs out.
    pub async fn end_session(&self) -> Result<(), TransportError> {
        let told = if self.has_session().await && !self.is_signed_out() {
            match self
                .raw(
                    &END_SESSION,
                    Method::DELETE,
                    &["sessions", "current"],
                    None::<&()>,
                    true,
                )
                .await
            {
                // Already refused: nothing left to end.
                Ok(_) | Err(TransportError::Unauthorized) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            Ok(())
        };
        self.sign_out().await;
        told
    }
}
