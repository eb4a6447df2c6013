//! Every `cargo test` is also a simulation run: seeds of each committed scenario, each
//! with at least one crash and recovery, checked against the model; determinism; and the
//! planted bugs, which prove the harness can fail.
//!
//! Not covered here: long sweeps (ci/nightly.sh runs thousands of seeds) and concurrent
//! actors (tests/tests/madsim_actors.rs).

use std::path::{Path, PathBuf};

use kiln_sim::artifact::{Artifact, Expect};
use kiln_sim::plan::Plan;
use kiln_sim::runner::{run, Outcome, RunOptions, RunReport};
use kiln_sim::scenario::Scenario;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(name: &str) -> Scenario {
    Scenario::load(&repo().join("scenarios").join(format!("{name}.toml"))).expect("scenario loads")
}

fn run_seed(scenario: &Scenario, seed: u64, options: RunOptions) -> RunReport {
    let config = scenario.draw(seed);
    let plan = Plan::generate(&config);
    run(&config, &plan, options)
}

fn describe(report: &RunReport) -> String {
    let mut text = format!("seed {}: {:?}\n", report.seed, report.outcome);
    for event in &report.trace_tail {
        text.push_str("  ");
        text.push_str(event);
        text.push('\n');
    }
    text.push_str(&format!(
        "repro: cargo run --release -p kiln-sim -- run --seed {}",
        report.seed
    ));
    text
}

/// Runs a scenario's test seeds; every run must pass and crash and recover at least once.
fn scenario_passes(name: &str) {
    let scenario = scenario(name);
    let mut recoveries = 0;
    for seed in 0..scenario.test_seeds {
        let report = run_seed(&scenario, seed, RunOptions::default());
        assert!(!report.failed(), "{}", describe(&report));
        let crashes: u64 = report.counters.crashes.values().sum();
        assert!(crashes >= 1, "seed {seed} never crashed");
        if report.outcome == Outcome::Passed {
            // A run that ends in detected corruption stops at the recovery that found it.
            assert!(
                report.counters.recoveries >= 1,
                "seed {seed} never recovered"
            );
            let checked = report
                .counters
                .checks
                .get("durability and atomicity")
                .copied();
            assert!(
                checked.unwrap_or(0) >= 1,
                "seed {seed} never checked recovery"
            );
        }
        recoveries += report.counters.recoveries;
    }
    assert!(recoveries >= scenario.test_seeds);
}

#[test]
fn default_scenario_survives_every_crash() {
    assert!(scenario("default").test_seeds >= 200);
    scenario_passes("default");
}

#[test]
fn bitflips_are_detected_or_harmless_never_wrong_data() {
    scenario_passes("bitflip");
}

#[test]
fn cascaded_drops_survive_crashes_at_every_stage() {
    let scenario = scenario("cascade_drop_crash");
    let mut fired = std::collections::BTreeMap::new();
    for seed in 0..scenario.test_seeds {
        let report = run_seed(&scenario, seed, RunOptions::default());
        assert!(!report.failed(), "{}", describe(&report));
        for (point, n) in &report.counters.crash_points_fired {
            *fired.entry(point.clone()).or_insert(0u64) += n;
        }
    }
    println!(
        "crash points fired in {} seeds: {fired:?}",
        scenario.test_seeds
    );
    for point in &scenario.crash_points {
        assert!(
            fired.get(point).copied().unwrap_or(0) > 0,
            "crash point {point} never fired in the CI budget"
        );
    }
}

#[test]
fn planted_leave_dependent_behind_is_caught() {
    let (seed, report) = first_catch(
        &scenario("cascade_drop_crash"),
        "leave-dependent-behind",
        40,
    )
    .expect("a cascaded drop that leaves a table behind went unnoticed for 40 seeds");
    let Outcome::Failed(failure) = &report.outcome else {
        unreachable!()
    };
    println!(
        "leave-dependent-behind caught at seed {seed}: {} ({})",
        failure.invariant, failure.detail
    );
}

#[test]
fn same_seed_same_trace_hash() {
    let scenario = scenario("default");
    for seed in [0, 1, 7, 42, 1234, 99_999] {
        let a = run_seed(&scenario, seed, RunOptions::default());
        let b = run_seed(&scenario, seed, RunOptions::default());
        assert_eq!(
            a.trace_hash, b.trace_hash,
            "seed {seed} is not deterministic"
        );
        assert_eq!(a.counters, b.counters);
    }
    let a = run_seed(&scenario, 1, RunOptions::default());
    let b = run_seed(&scenario, 2, RunOptions::default());
    assert_ne!(a.trace_hash, b.trace_hash, "different seeds should differ");
}

/// The first seed below `budget` at which the planted bug is caught.
fn first_catch(scenario: &Scenario, bug: &str, budget: u64) -> Option<(u64, RunReport)> {
    let options = RunOptions {
        planted: kiln_sim::planted_bugs(&[bug.to_string()]).unwrap(),
    };
    (0..budget).find_map(|seed| {
        let report = run_seed(scenario, seed, options);
        report.failed().then_some((seed, report))
    })
}

#[test]
fn planted_ack_before_fsync_is_caught_within_200_seeds() {
    let (seed, report) = first_catch(&scenario("default"), "ack-before-fsync", 200)
        .expect("acknowledging commits before their fsync went unnoticed for 200 seeds");
    let Outcome::Failed(failure) = &report.outcome else {
        unreachable!()
    };
    println!(
        "ack-before-fsync caught at seed {seed}: {} ({})",
        failure.invariant, failure.detail
    );
}

#[test]
fn planted_skip_page_crc_is_caught_by_a_bit_flip() {
    let scenario = scenario("bitflip");
    let (seed, report) = first_catch(&scenario, "skip-page-crc", 200)
        .expect("skipping the page CRC check went unnoticed for 200 bit-flip seeds");
    let Outcome::Failed(failure) = &report.outcome else {
        unreachable!()
    };
    assert!(
        report.counters.corruptions_injected >= 1,
        "caught without a bit flip: {failure:?}"
    );
    println!(
        "skip-page-crc caught at seed {seed}: {} ({})",
        failure.invariant, failure.detail
    );
    // Without the bug, the same seed passes: it was the bug that was caught.
    let clean = run_seed(&scenario, seed, RunOptions::default());
    assert!(!clean.failed(), "{}", describe(&clean));
}

/// Catches `bug` within `budget` seeds of `name`, and checks that the same
/// seed passes without the bug, so it was the bug that was caught.
fn caught_and_clean_without(name: &str, bug: &str, budget: u64) {
    let scenario = scenario(name);
    let (seed, report) = first_catch(&scenario, bug, budget)
        .unwrap_or_else(|| panic!("planted bug {bug} went unnoticed for {budget} {name} seeds"));
    let Outcome::Failed(failure) = &report.outcome else {
        unreachable!()
    };
    println!(
        "{bug} caught at seed {seed}: {} ({})",
        failure.invariant, failure.detail
    );
    let clean = run_seed(&scenario, seed, RunOptions::default());
    assert!(!clean.failed(), "{}", describe(&clean));
}

#[test]
fn planted_manifest_before_images_is_caught() {
    // A checkpoint that publishes its manifest before the page images are
    // durable loses committed rows when the crash drops the unsynced images.
    caught_and_clean_without("default", "manifest-before-images", 200);
}

#[test]
fn planted_reuse_id_after_crash_is_caught() {
    // Recovery that allocates ids from the manifest alone hands out an id a
    // logged but uncheckpointed table already holds.
    caught_and_clean_without("default", "reuse-id-after-crash", 200);
}

#[test]
fn regressions_replay() {
    let dir = repo().join("scenarios/regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let artifact = Artifact::load(&path).unwrap();
        assert!(
            !artifact.story.trim().is_empty(),
            "{}: a regression needs its story",
            path.display()
        );
        let report = artifact.replay().unwrap();
        match artifact.expect {
            Expect::Pass => assert!(
                !report.failed(),
                "{} fails again:\n{}",
                path.display(),
                describe(&report)
            ),
            Expect::Fail => {
                let Outcome::Failed(f) = &report.outcome else {
                    panic!("{} no longer fails", path.display())
                };
                assert_eq!(
                    Some(f.invariant),
                    artifact.invariant.as_deref(),
                    "{}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn build_has_the_madsim_flag() {
    // .cargo/config.toml sets `--cfg madsim`; a RUSTFLAGS environment variable replaces
    // it silently, and the concurrent-actor tests would quietly stop running.
    assert!(
        kiln_sim::built_with_madsim(),
        "built without --cfg madsim: is RUSTFLAGS set? It overrides .cargo/config.toml"
    );
}

#[test]
fn every_crash_point_in_the_source_is_listed() {
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![repo().join("engine/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Crash points are named by string literals in `crash_point!(vfs, "name")`,
            // `hit_crash_point(vfs, "name")` and `log.crash_point("name")` calls.
            for marker in ["crash_point!(", "hit_crash_point(", ".crash_point("] {
                for piece in text.split(marker).skip(1) {
                    // The call's arguments run to the end of the statement.
                    let call = piece.split([';', '{']).next().unwrap_or("");
                    let name = call.split('"').nth(1).unwrap_or("");
                    let is_name = name.contains('.')
                        && name.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                        });
                    if is_name {
                        found.insert(name.to_string());
                    }
                }
            }
        }
    }
    let listed: std::collections::BTreeSet<String> =
        kiln::CRASH_POINTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, listed,
        "kiln::CRASH_POINTS must list exactly the crash points in engine/src"
    );
}
