//! Rate limits that hold across relay instances (issue 14, docs/adr/0033): two relay processes
//! on ONE PostgreSQL database, as behind a load balancer. A client alternating its login
//! challenges between them gets the `auth` budget once, not once per instance, and is refused
//! with the same 429 (`Retry-After`, `Coffer-Rate-Limit`) by both.
//!
//! Ignored by a plain `cargo test`: it needs `COFFER_TEST_POSTGRES_URL` (a role that may create
//! databases; `scripts/postgres.sh up` prints one). `.ci/run` runs it with
//! `--ignored pg_rate_limits::`.

use std::time::{Duration, Instant};

use coffer_tests::backend::PgDatabase;
use coffer_tests::{Kind, RelayProcess, V1Client};
use reqwest::Method;
use serde_json::json;

/// The `auth` budget of both instances: a burst of this many, one more every 60/RATE s.
const RATE: u32 = 4;

/// The most a bucket of `per_minute` may let through in `elapsed`: the burst plus the tokens
/// refilled meanwhile (the tolerance: a slow machine cannot make the check fail, and a limit
/// kept per instance, twice the burst, still does).
fn allowed(per_minute: u32, elapsed: Duration) -> usize {
    let refill = elapsed.as_secs_f64() * f64::from(per_minute) / 60.0;
    per_minute as usize + refill.floor() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: COFFER_TEST_POSTGRES_URL (scripts/postgres.sh up); run by .ci/run"]
async fn an_attacker_alternating_instances_gets_the_auth_budget_once() {
    let db = PgDatabase::create();
    let start = || {
        RelayProcess::builder()
            .on_database(&db)
            .env("COFFER_RATE_AUTH", &RATE.to_string())
            .start()
    };
    let a = start().await;
    let b = start().await;
    let mut user = V1Client::new(&a, Kind::System);
    user.register_ok().await;
    let user_id = user.user_id().to_owned();

    // Alternate A, B, A, B, … from one address: each instance's own bucket alone would let
    // 2 × RATE through.
    let attempts = 4 * RATE as usize;
    let started = Instant::now();
    let mut answers = Vec::new();
    for i in 0..attempts {
        let (name, relay) = if i % 2 == 0 { ("a", &a) } else { ("b", &b) };
        let http = relay.http();
        let r = http
            .send(
                http.request(Method::POST, "/api/v1/auth/challenge")
                    .header("Content-Type", "application/json")
                    .header("X-Protocol-Version", "1")
                    .body(json!({ "user_id": user_id }).to_string()),
            )
            .await;
        if r.status == 429 {
            r.expect_error(429, "rate_limited");
        } else {
            r.expect_status(200);
        }
        answers.push((
            name,
            r.status,
            r.header("retry-after").map(str::to_owned),
            r.header("coffer-rate-limit").map(str::to_owned),
        ));
    }
    let elapsed = started.elapsed();
    let through = answers.iter().filter(|a| a.1 == 200).count();
    eprintln!("alternating challenges: {through} of {attempts} served in {elapsed:?}: {answers:?}");
    assert!(
        through >= RATE as usize,
        "the configured budget is served: {answers:?}"
    );
    assert!(
        through <= allowed(RATE, elapsed),
        "{through} challenges served by two instances sharing a bucket of {RATE}/min in \
         {elapsed:?}, at most {} allowed: {answers:?}",
        allowed(RATE, elapsed)
    );
    for relay in ["a", "b"] {
        assert!(
            answers.iter().any(|a| a.0 == relay && a.1 == 429),
            "instance {relay} refused too: {answers:?}"
        );
    }
    // The same 429 as a single relay's: a wait within one token's refill, and the hint.
    let max_wait = 60u64.div_ceil(u64::from(RATE));
    for (_, _, retry, hint) in answers.iter().filter(|a| a.1 == 429) {
        let secs: u64 = retry
            .as_deref()
            .expect("429 with Retry-After")
            .parse()
            .expect("Retry-After in whole seconds");
        assert!((1..=max_wait).contains(&secs), "Retry-After {secs}");
        assert_eq!(
            hint.as_deref(),
            Some("auth; limit=4/min; per=address; setting=rate.auth; env=COFFER_RATE_AUTH")
        );
    }
    drop((a, b));
    drop(db);
}
