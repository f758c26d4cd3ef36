//! `coffer-bench` end to end, briefly: every workload of both protocols for about two seconds
//! against a relay it spawns itself, with the baseline, a tiny growth level and the JSON report.
//! Checks the report's shape and that requests succeeded; never timing (that is what the
//! benchmark itself is for, and it is not run by CI).

use std::process::Command;

use serde_json::Value;

const WORKLOADS: [&str; 10] = [
    "login",
    "publish:4k",
    "fetch:4k",
    "fetch304:4k",
    "mixed",
    "v2-login",
    "v2-publish:4k",
    "v2-fetch:4k",
    "v2-fetch304:4k",
    "v2-mixed",
];

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// Figures of one run: operations happened, all of them succeeded, latency was measured.
fn check_figures(f: &Value, what: &str) {
    let ok = number(&f["ok_ops"], &format!("{what}.ok_ops"));
    assert!(ok > 0.0, "{what}: no successful operation: {f:#}");
    assert_eq!(
        f["ok_ops"], f["ops"],
        "{what}: some operations failed: {:#}",
        f["errors"]
    );
    assert_eq!(
        f["errors"].as_object().map(serde_json::Map::len),
        Some(0),
        "{what}: requests with unexpected statuses: {:#}",
        f["errors"]
    );
    assert!(number(&f["ops_per_s"], what) > 0.0, "{what}");
    assert!(number(&f["seconds"], what) > 0.0, "{what}");
    let latency = &f["latency_ms"];
    for p in ["p50", "p95", "p99", "max", "mean"] {
        assert!(
            number(&latency[p], p) > 0.0,
            "{what}: latency {p}: {latency}"
        );
    }
    assert!(
        number(&latency["p50"], "p50") <= number(&latency["p99"], "p99"),
        "{what}: p50 above p99"
    );
    assert!(
        !f["statuses"]
            .as_object()
            .is_none_or(serde_json::Map::is_empty),
        "{what}: no statuses"
    );
    assert!(f["machine"].is_object(), "{what}: no machine figures");
}

#[test]
fn coffer_bench_runs_every_workload_and_reports_json() {
    let relay = coffer_tests::relay::relay_binary();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_coffer-bench"))
        .arg("--spawn")
        .arg("--relay-bin")
        .arg(&relay)
        .args(["--concurrency", "4", "--pairs", "2"])
        .args([
            "--duration",
            "2",
            "--warmup",
            "0.3",
            "--presign-seconds",
            "0.5",
        ])
        .args(["--workloads", &WORKLOADS.join(",")])
        .args(["--growth", "64", "--growth-workloads", "fetch:4k"])
        .arg("--work-dir")
        .arg(dir.path())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run coffer-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "coffer-bench failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    // The table went to stdout, with every workload in it.
    for name in WORKLOADS {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "no table row for {name}:\n{stdout}"
        );
    }

    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(report["tool"], "coffer-bench");
    assert!(number(&report["machine"]["cpus"], "cpus") >= 1.0);
    assert_eq!(report["settings"]["concurrency"], 4);
    assert_eq!(report["settings"]["spawned"], true);
    assert_eq!(report["settings"]["baseline"], true);
    assert!(
        report["relay"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://127.0.0.1:")),
        "{:#}",
        report["relay"]
    );

    let workloads = report["workloads"].as_array().expect("workloads");
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, WORKLOADS);
    for w in workloads {
        let name = w["name"].as_str().unwrap_or_default();
        check_figures(&w["relay"], &format!("{name}.relay"));
        check_figures(&w["baseline"], &format!("{name}.baseline"));
        let server = &w["relay"]["server"];
        assert!(
            number(&server["rss_peak_mib"], "rss_peak_mib") > 0.0,
            "{name}: {server}"
        );
        assert!(number(&server["cpu_percent"], "cpu_percent") >= 0.0);
        for key in ["ops_per_s", "p50", "p95", "p99"] {
            assert!(
                number(&w["ratio"][key], key) > 0.0,
                "{name}: ratio {key}: {}",
                w["ratio"]
            );
        }
        // Bodies moved in every workload but the 304 ones, where the ratio is undefined.
        if name.contains("fetch304") {
            assert!(
                w["ratio"]["mib_per_s"].is_null()
                    || number(&w["ratio"]["mib_per_s"], "mib_per_s") > 0.0,
                "{name}: {}",
                w["ratio"]
            );
        } else {
            assert!(
                number(&w["ratio"]["mib_per_s"], "mib_per_s") > 0.0,
                "{name}: ratio mib_per_s: {}",
                w["ratio"]
            );
        }
        assert!(
            w["shapes"].as_object().is_some_and(|s| !s.is_empty()),
            "{name}: no request shapes"
        );
    }
    // The conditional fetch was answered 304 every time, the plain fetch 200.
    let statuses = |name: &str| {
        workloads
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w["relay"]["statuses"].clone())
            .expect(name)
    };
    assert!(statuses("fetch304:4k")["fetch-304 304"].as_u64() > Some(0));
    assert!(statuses("fetch:4k")["fetch 200"].as_u64() > Some(0));
    assert!(statuses("v2-fetch304:4k")["fetch-304 304"].as_u64() > Some(0));
    assert!(statuses("login")["token 200"].as_u64() > Some(0));

    let growth = report["growth"].as_array().expect("growth");
    assert_eq!(growth.len(), 1);
    assert_eq!(growth[0]["volumes"], 64);
    assert_eq!(growth[0]["seed"]["volumes"], 64);
    assert_eq!(growth[0]["seed"]["users"], 8);
    assert!(number(&growth[0]["startup_ms"], "startup_ms") > 0.0);
    let gw = &growth[0]["workloads"][0];
    assert_eq!(gw["name"], "fetch:4k");
    check_figures(&gw["relay"], "growth fetch:4k");

    let targets: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("target name"))
        .collect();
    assert_eq!(
        targets,
        [
            "fetch-4k-vs-baseline",
            "publish-64k-fsync-bound",
            "mixed-p99-at-64",
            "mixed-rss",
            "growth-throughput"
        ]
    );
}

/// `--soak`: a few short windows of `mixed`, then the relay's data checked; the report says it
/// passed and the process exits 0 (a failed soak exits 1).
#[test]
fn coffer_bench_soak_runs_windows_and_checks_the_data() {
    let relay = coffer_tests::relay::relay_binary();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("soak.json");
    let output = Command::new(env!("CARGO_BIN_EXE_coffer-bench"))
        .arg("--relay-bin")
        .arg(&relay)
        .args(["--concurrency", "4", "--pairs", "2", "--warmup", "0.3"])
        .args(["--soak", "6", "--soak-window", "2"])
        .arg("--work-dir")
        .arg(dir.path())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run coffer-bench");
    assert!(
        output.status.success(),
        "the soak failed: {}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("the report is JSON");
    let soak = &report["soak"];
    assert_eq!(soak["passed"], true, "{soak:#}");
    assert_eq!(soak["workload"], "mixed");
    let windows = soak["windows"].as_array().expect("windows");
    assert!(windows.len() >= 2, "{soak:#}");
    for w in windows {
        assert!(number(&w["ops"], "ops") > 0.0, "{w}");
        assert_eq!(w["ops"], w["ok_ops"], "{w}");
        assert!(number(&w["open_fds"], "open_fds") > 0.0, "{w}");
        assert!(number(&w["rss_peak_mib"], "rss_peak_mib") > 0.0, "{w}");
    }
    let checks: Vec<(&str, bool)> = soak["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["name"].as_str().expect("name"), c["held"] == true))
        .collect();
    assert_eq!(
        checks,
        [
            ("no-errors", true),
            ("rss-bounded", true),
            ("fds-bounded", true),
            ("data-consistent", true)
        ]
    );
    assert_eq!(soak["consistency"]["integrity"], "ok");
    assert!(number(&soak["consistency"]["volume_rows"], "volume_rows") > 0.0);
}
