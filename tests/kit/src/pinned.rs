//! A reqwest client that trusts the relay by its SPKI pin only (never "accept any certificate").

use coffer_certs::{SpkiPin, client_config_pinned};
use serde_json::Value;

use crate::{Api, KitError};

/// An [`Api`] over HTTPS to `base`, pinned. Async; [`PinnedApi::blocking`] drives it from
/// synchronous tests on a runtime of its own.
#[derive(Debug)]
pub struct PinnedApi {
    http: reqwest::Client,
    base: String,
    runtime: Option<tokio::runtime::Runtime>,
    /// Extra headers sent with every request (e.g. `X-Protocol-Version`).
    pub headers: Vec<(String, String)>,
}

impl PinnedApi {
    /// A client for the relay at `base` (`https://host:port`) with SPKI pin `pin`.
    ///
    /// # Panics
    /// If reqwest cannot build a client from the pinned rustls configuration.
    pub fn new(base: &str, pin: SpkiPin) -> PinnedApi {
        PinnedApi {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(client_config_pinned(pin))
                .build()
                .expect("a reqwest client over the pinned rustls configuration"),
            base: base.trim_end_matches('/').to_owned(),
            runtime: None,
            headers: Vec::new(),
        }
    }

    /// The same, with a current-thread runtime for [`PinnedApi::call_blocking`].
    ///
    /// # Panics
    /// If the runtime cannot be built.
    pub fn blocking(base: &str, pin: SpkiPin) -> PinnedApi {
        PinnedApi {
            runtime: Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime"),
            ),
            ..PinnedApi::new(base, pin)
        }
    }

    /// Adds a header sent with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> PinnedApi {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The reqwest client.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        let method: reqwest::Method = method
            .parse()
            .map_err(|e| KitError(format!("method {method:?}: {e}")))?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req
            .send()
            .await
            .map_err(|e| KitError(format!("{method} {path}: {e}")))?;
        let status = res.status().as_u16();
        let text = res
            .text()
            .await
            .map_err(|e| KitError(format!("{method} {path}: body: {e}")))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// One request, synchronously (a [`PinnedApi::blocking`] client).
    ///
    /// # Panics
    /// On a client made with [`PinnedApi::new`].
    pub fn call_blocking(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("call_blocking needs PinnedApi::blocking");
        runtime.block_on(self.send(method, path, token, body))
    }

    /// Runs an account flow (or any future) synchronously on this client's runtime.
    ///
    /// # Panics
    /// On a client made with [`PinnedApi::new`].
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("run needs PinnedApi::blocking")
            .block_on(future)
    }
}

impl Api for PinnedApi {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        self.send(method, path, token, body).await
    }

    fn origin(&self) -> String {
        self.base.clone()
    }
}

/// `&PinnedApi` is an [`Api`] too, so a flow can borrow a blocking client while its runtime
/// drives it: `api.run(account.login(&mut &api))`.
impl Api for &PinnedApi {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), KitError> {
        self.send(method, path, token, body).await
    }

    fn origin(&self) -> String {
        self.base.clone()
    }
}
