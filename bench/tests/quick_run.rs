//! The harness runs end to end: `--quick` measures every workload on every side, in
//! child processes of the real binary, and writes the JSON, the Markdown report and the
//! plots. Goal: a refactor that breaks a workload, the child protocol or the report shows
//! up in `cargo test`.
//!
//! Not covered: any timing. Numbers from a quick run mean nothing and no test asserts one
//! (DESIGN.md, "Performance"); the full run is `kiln-bench --report docs/BENCHMARKS.md`.

use std::path::PathBuf;

use kiln_bench::measure::System;

#[test]
fn quick_run_measures_every_workload_and_writes_every_output() {
    // CARGO_TARGET_TMPDIR is under target/, on the same disk as the build: not tmpfs.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-bench-quick");
    let _ = std::fs::remove_dir_all(&base);
    let json = base.join("out/bench.json");
    let markdown = base.join("out/BENCHMARKS.md");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_kiln-bench"));

    let report = kiln_bench::quick_run(
        &exe,
        &base.join("data"),
        Some(json.clone()),
        Some(markdown.clone()),
    )
    .expect("quick run");

    let text = std::fs::read_to_string(&json).expect("json written");
    let reread = kiln_bench::Report::from_json(&text).expect("the JSON reads back");
    assert_eq!(reread.targets.len(), report.targets.len());
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid json");
    let names: Vec<&str> = parsed["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    let expected: Vec<&str> = kiln_bench::workloads::all()
        .iter()
        .map(|w| w.name())
        .collect();
    assert_eq!(names, expected);
    for name in [
        "commit_latency",
        "concurrent_commits",
        "bulk_load",
        "point_reads",
        "reopen_after_crash",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    for w in &report.workloads {
        for system in &w.systems {
            let runs = w.runs.get(system).map_or(0, Vec::len);
            assert_eq!(runs, 1, "{} {system:?}: one round, one measurement", w.name);
        }
        for metric in &w.metrics {
            for (system, side) in &metric.sides {
                assert!(
                    side.summary.median.is_finite() && side.summary.median >= 0.0,
                    "{} {} {system:?}: {:?}",
                    w.name,
                    metric.name,
                    side.summary
                );
            }
        }
        // Commit latency interleaves its sides in one process: no per-side memory there.
        if w.name != "commit_latency" {
            let peak = w.metric("rss_peak_bytes").expect("peak RSS reported");
            assert!(
                peak.sides.contains_key(&System::Kiln),
                "{}: Kiln's peak RSS",
                w.name
            );
        }
    }
    assert!(
        report.targets.iter().all(|t| t.ratio.is_some()),
        "every target evaluated"
    );

    let md = std::fs::read_to_string(&markdown).expect("report written");
    assert!(md.contains("cargo run --release -p kiln-bench -- --report docs/BENCHMARKS.md"));
    assert!(md.contains("## Targets") && md.contains(&report.machine.cpu_model));
    for plot in ["commit_latency", "concurrent_commits", "point_reads"] {
        let svg = base.join(format!("out/bench/{plot}.svg"));
        let text =
            std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
        assert!(text.starts_with("<svg"), "{plot}.svg is an SVG");
        assert!(
            md.contains(&format!("bench/{plot}.svg")),
            "{plot}.svg linked from the report"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
