//! `coffer-abuse-cost` end to end, briefly: every scenario for half a second against relays it
//! spawns itself, with the JSON report. Checks that each scenario's requests got the answer it
//! is about (429, 413, 400, 200) and that CPU figures were read; never how fast (that is what
//! the harness itself reports, see docs/abuse.md).

use std::process::Command;

use serde_json::Value;

const SCENARIOS: [(&str, u64); 7] = [
    ("health", 200),
    ("health-new-conn", 200),
    ("challenge-flood", 429),
    ("challenge-flood-no-body", 429),
    ("register-flood", 429),
    ("oversized", 413),
    ("malformed-json", 400),
];

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

#[test]
fn coffer_abuse_cost_measures_every_scenario() {
    let relay = coffer_tests::relay::relay_binary();
    let output = Command::new(env!("CARGO_BIN_EXE_coffer-abuse-cost"))
        .arg("--relay-bin")
        .arg(&relay)
        .args(["--seconds", "0.5", "--concurrency", "2", "--json", "-"])
        .output()
        .expect("run coffer-abuse-cost");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "coffer-abuse-cost failed:\n{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the report is not JSON ({e}):\n{stderr}"));
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), SCENARIOS.len(), "{report:#}");
    for (name, status) in SCENARIOS {
        let s = scenarios
            .iter()
            .find(|s| s["scenario"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"));
        assert_eq!(s["expected_status"], status, "{s:#}");
        let requests = number(&s["requests"], "requests");
        assert!(requests > 0.0, "{name}: no requests: {s:#}");
        assert_eq!(s["transport_errors"], 0, "{name}: {s:#}");
        // A rate-limited scenario may see one refilled token; everything else is refused.
        let expected = number(&s["as_expected"], "as_expected");
        assert!(
            expected >= requests - 1.0,
            "{name}: answers other than {status}: {s:#}"
        );
        assert!(number(&s["relay_cpu_seconds"], "cpu") >= 0.0, "{s:#}");
        assert!(number(&s["connections"], "connections") >= 1.0, "{s:#}");
    }
    // The relay closes after a 413 sent before the body: one connection per request.
    let oversized = scenarios
        .iter()
        .find(|s| s["scenario"] == "oversized")
        .expect("oversized");
    assert_eq!(oversized["connections"], oversized["requests"]);
}
