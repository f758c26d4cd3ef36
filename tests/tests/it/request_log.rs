//! `[request_log]` (docs/adr/0028-fetch-fast-path-and-request-log.md): each mode logs what it
//! says, on the real relay binary. (Mode `each`, which every other test relay runs in, is what
//! `home_relay` and others count request lines of.)

use std::time::Duration;

use coffer_tests::client::V1Client;
use coffer_tests::relay::RelayProcess;
use reqwest::Method;

/// A few ordinary requests and two errors: a 400 (a client bug) and a 404 (normal use).
async fn traffic(relay: &RelayProcess) {
    let sys = V1Client::system(relay, "log-sys").await;
    for _ in 0..3 {
        sys.get("/api/v1/volumes").await.expect_status(200);
    }
    sys.call_raw(Method::PUT, "/api/v1/volumes/meta", "not json")
        .await
        .expect_status(400);
    sys.download_own("meta", None).await.expect_status(404);
}

/// Request lines (mode `each`, or one by one) of `route`.
fn request_lines<'a>(log: &'a str, route: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" request ") && l.contains(&format!("route={route} ")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_mode_logs_errors_and_a_periodic_summary() {
    let relay = RelayProcess::builder()
        .env("COFFER_REQUEST_LOG", "summary")
        .env("COFFER_REQUEST_LOG_SUMMARY_SECS", "1")
        .start()
        .await;
    traffic(&relay).await;
    let mut log = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = relay.stderr_log();
        if log.contains("route=/api/v1/volumes ") && log.contains("requests summary") {
            break;
        }
    }
    // No line per ordinary request; the 400 has its own; the 404 is only counted.
    assert!(request_lines(&log, "/api/v1/volumes").is_empty(), "{log}");
    let upload = request_lines(&log, "/api/v1/volumes/{name}");
    assert_eq!(upload.len(), 1, "{log}");
    assert!(upload[0].contains("status=400"), "{log}");
    assert!(
        request_lines(&log, "/api/v1/volumes/{name}/download").is_empty(),
        "{log}"
    );
    // The summary: one line per route and method, with status counts and latencies.
    let summary = log
        .lines()
        .find(|l| l.contains("requests summary") && l.contains("route=/api/v1/volumes "))
        .unwrap_or_else(|| panic!("no summary line for GET /api/v1/volumes:\n{log}"));
    assert!(summary.contains("method=GET"), "{summary}");
    assert!(summary.contains("statuses=200:3 "), "{summary}");
    assert!(summary.contains("count=3 "), "{summary}");
    assert!(summary.contains("p99_ms="), "{summary}");
    assert!(
        log.lines().any(|l| l.contains("requests summary")
            && l.contains("route=/api/v1/volumes/{name}/download ")
            && l.contains("statuses=404:1")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_mode_logs_only_errors() {
    let relay = RelayProcess::builder()
        .env("COFFER_REQUEST_LOG", "errors")
        .env("COFFER_REQUEST_LOG_SUMMARY_SECS", "1")
        .start()
        .await;
    traffic(&relay).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = relay.stderr_log();
    assert!(request_lines(&log, "/api/v1/volumes").is_empty(), "{log}");
    assert!(request_lines(&log, "/api/v1/register").is_empty(), "{log}");
    let upload = request_lines(&log, "/api/v1/volumes/{name}");
    assert_eq!(upload.len(), 1, "{log}");
    assert!(upload[0].contains("status=400"), "{log}");
    assert!(!log.contains("requests summary"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mode_logs_every_request() {
    let relay = RelayProcess::builder()
        .env("COFFER_REQUEST_LOG", "each")
        .start()
        .await;
    traffic(&relay).await;
    let log = relay.stderr_log();
    assert_eq!(request_lines(&log, "/api/v1/volumes").len(), 3, "{log}");
    assert_eq!(
        request_lines(&log, "/api/v1/volumes/{name}/download").len(),
        1,
        "{log}"
    );
    assert!(!log.contains("requests summary"), "{log}");
}
