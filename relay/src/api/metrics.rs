//! `GET /metrics`: Prometheus text format, for the admin token, the admin listener, or anyone
//! with `metrics.public` (see [`MetricsReader`]). Aggregates only; see [`crate::metrics`] and,
//! for the `process_*` families, [`crate::process_metrics`].

use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::{MetricsReader, state};
use crate::error::ApiError;
use crate::metrics::Snapshot;
use crate::store::now;

/// `GET /metrics`.
pub async fn metrics(req: HttpRequest, _reader: MetricsReader) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let now = now();
    let gauges = state.storage.gauges(now).await?;
    let snapshot = Snapshot {
        storage_bytes: gauges.storage_bytes,
        volumes_v1: gauges.volumes_v1,
        volumes_v2: gauges.volumes_v2,
        system_users: gauges.system_users,
        friend_users: gauges.friend_users,
        active_sessions: gauges.active_sessions,
        pending_challenges: gauges.pending_challenges,
        rate_limited: state.limits.refused(),
        failed_logins: state.anomalies.failed_logins_total(),
        challenges: state.anomalies.challenges_total(),
        admin_token_verifications: state.admin_auth.verifications(),
        uptime_seconds: state.started.elapsed().as_secs(),
    };
    let mut body = state.metrics.render(&snapshot);
    state.fetch_cache.render(&mut body);
    let process = web::block(crate::process_metrics::read).await?;
    crate::process_metrics::render(&mut body, &process);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
