//! The endpoints of several devices of one system (`docs/protocol-v2.md` §13).

use reqwest::Method;

use coffer_wire::v2::api::{
    DeviceJoinRequest, DeviceLink, DeviceLinkStatus, DevicePackage, InviteCode, OwnerStateEnvelope,
    OwnerStateStored,
};

use super::Endpoint;
use crate::transport::{RelayHttp, TransportError};

endpoint!(PUT_OWNER_STATE, "PUT /owner-state");
endpoint!(GET_OWNER_STATE, "GET /owner-state");
endpoint!(CREATE_DEVICE_LINK, "POST /device-links");
endpoint!(GET_DEVICE_LINK, "GET /device-links/{code}");
endpoint!(JOIN_DEVICE_LINK, "POST /device-links/{code}/join");
endpoint!(PUT_DEVICE_PACKAGE, "PUT /device-links/{code}/package");
endpoint!(GET_DEVICE_PACKAGE, "GET /device-links/{code}/package");

impl RelayHttp {
    /// `PUT /owner-state` (system): stores a higher version of the owner state.
    /// [`TransportError::Conflict`] when the relay holds one at least as high.
    pub async fn put_owner_state(&self, state: &OwnerStateEnvelope) -> Result<(), TransportError> {
        let _: OwnerStateStored = self
            .json(
                &PUT_OWNER_STATE,
                Method::PUT,
                &["owner-state"],
                Some(state),
                true,
            )
            .await?;
        Ok(())
    }

    /// `GET /owner-state` (system): the stored owner state, `None` when there is none.
    pub async fn get_owner_state(&self) -> Result<Option<OwnerStateEnvelope>, TransportError> {
        match self
            .json(
                &GET_OWNER_STATE,
                Method::GET,
                &["owner-state"],
                None::<&()>,
                true,
            )
            .await
        {
            Ok(state) => Ok(Some(state)),
            Err(TransportError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /device-links` (system): a new link's code and expiry.
    pub async fn create_device_link(&self) -> Result<DeviceLink, TransportError> {
        self.json(
            &CREATE_DEVICE_LINK,
            Method::POST,
            &["device-links"],
            Some(&serde_json::json!({})),
            true,
        )
        .await
    }

    /// `GET /device-links/{code}` (system): the link with the joining device's request.
    pub async fn device_link(&self, code: &InviteCode) -> Result<DeviceLinkStatus, TransportError> {
        self.json(
            &GET_DEVICE_LINK,
            Method::GET,
            &["device-links", code.as_str()],
            None::<&()>,
            true,
        )
        .await
    }

    /// `POST /device-links/{code}/join` (no login).
    pub async fn join_device_link(
        &self,
        code: &InviteCode,
        request: &DeviceJoinRequest,
    ) -> Result<(), TransportError> {
        self.raw(
            &JOIN_DEVICE_LINK,
            Method::POST,
            &["device-links", code.as_str(), "join"],
            Some(request),
            false,
        )
        .await
        .map(drop)
    }

    /// `PUT /device-links/{code}/package` (system).
    pub async fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> Result<(), TransportError> {
        self.raw(
            &PUT_DEVICE_PACKAGE,
            Method::PUT,
            &["device-links", code.as_str(), "package"],
            Some(package),
            true,
        )
        .await
        .map(drop)
    }

    /// `GET /device-links/{code}/package` (no login): `None` while the owner has not posted
    /// it (or the link is gone).
    pub async fn device_package(
        &self,
        code: &InviteCode,
    ) -> Result<Option<DevicePackage>, TransportError> {
        match self
            .json(
                &GET_DEVICE_PACKAGE,
                Method::GET,
                &["device-links", code.as_str(), "package"],
                None::<&()>,
                false,
            )
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(TransportError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
