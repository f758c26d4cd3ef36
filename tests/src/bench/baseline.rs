//! The baseline: the relay's HTTP stack with nothing of the relay in it. actix-web with the
//! relay's server settings (worker count, keep-alive and timeouts) and TLS configuration
//! (`coffer_certs::server_config`: TLS 1.3, ring, ALPN http/1.1, a self-signed certificate
//! from `coffer_certs::load_or_generate`), answering every request with a fixed body: no
//! authentication, no storage, no JSON, no logging.
//!
//! `<METHOD> /b/<status>/<len>` reads the whole request body, then answers `<status>` with
//! `<len>` bytes (zero-copy slices of one buffer). The load generator replays each relay
//! workload against it with the same request and response sizes, so a relay figure divided by
//! the baseline's is the cost of the relay itself on top of HTTPS.

use std::path::Path;
use std::sync::RwLock;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use bytes::Bytes;

/// Largest request or response body (a 10 MiB volume in base64 plus JSON).
const MAX_BODY: usize = 16 << 20;

/// One buffer that every response body is a slice of; grows to the largest length asked for.
static BODY: RwLock<Bytes> = RwLock::new(Bytes::new());

fn body_of(len: usize) -> Bytes {
    {
        let body = BODY
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if body.len() >= len {
            return body.slice(..len);
        }
    }
    let mut body = BODY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if body.len() < len {
        *body = Bytes::from(vec![b'a'; len.next_power_of_two()]);
    }
    body.slice(..len)
}

async fn answer(req: HttpRequest, _body: web::Bytes) -> HttpResponse {
    let mut parts = req.path().split('/').skip(1);
    let parsed = match (parts.next(), parts.next(), parts.next()) {
        (Some("b"), Some(status), Some(len)) => status
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .zip(len.parse::<usize>().ok().filter(|l| *l <= MAX_BODY)),
        _ => None,
    };
    let Some((status, len)) = parsed else {
        return HttpResponse::NotFound().finish();
    };
    if status == StatusCode::NOT_MODIFIED || len == 0 {
        return HttpResponse::build(status).finish();
    }
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(body_of(len))
}

/// Serves on 127.0.0.1 (a free port) until SIGINT/SIGTERM, after printing the relay's banner
/// format (`url:`, `pin:`). The certificate is generated in (or loaded from) `dir/tls`.
pub fn serve(dir: &Path) -> anyhow::Result<()> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let (material, _) =
        coffer_certs::load_or_generate(&dir.join("tls"), &names).context("baseline certificate")?;
    let tls = coffer_certs::server_config(&material).context("baseline TLS configuration")?;
    let pin = material.pin;
    actix_web::rt::System::new().block_on(async move {
        // The relay's settings (relay/src/server.rs), default worker count included.
        let server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .default_service(web::to(answer))
        })
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(5)
        .bind_rustls_0_23(("127.0.0.1", 0), tls)
        .context("bind the baseline server")?;
        let bound = server
            .addrs()
            .first()
            .copied()
            .context("the baseline server is bound")?;
        println!("coffer-bench baseline\n  url:  https://{bound}\n  pin:  {pin}");
        server.run().await.context("baseline server")
    })
}
