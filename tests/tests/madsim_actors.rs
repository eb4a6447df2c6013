//! The concurrent actors on madsim: a writer that awaits inside its transactions, a
//! reader holding snapshots across those awaits, and a checkpoint trigger, on a node the
//! supervisor kills (SimDisk crash semantics through the madsim plugin) and recovers.
//!
//! Only built with `--cfg madsim` (set by .cargo/config.toml); simulation.rs has the
//! guard test that fails if a build lost the flag. Not covered: several writers (the
//! engine serializes them; tests/tests/threads.rs contends with real threads).
#![cfg(madsim)]

use kiln_sim::runner::{Outcome, RunOptions};
use kiln_sim::scenario::Scenario;

const LIVES: u64 = 6;

fn run(seed: u64, options: RunOptions) -> kiln_sim::runner::RunReport {
    let config = Scenario::default().draw(seed);
    kiln_sim::actors::run(&config, options, LIVES)
}

#[test]
fn actors_survive_kills_and_keep_their_snapshots() {
    let mut deferred = 0;
    let mut stable = 0;
    for seed in 0..100 {
        let report = run(seed, RunOptions::default());
        assert!(
            !report.failed(),
            "seed {seed}: {:?}\n{}",
            report.outcome,
            report.trace_tail.join("\n")
        );
        if report.outcome == Outcome::Passed {
            assert!(
                report.counters.recoveries >= LIVES,
                "seed {seed}: {:?}",
                report.counters
            );
        }
        deferred += report
            .counters
            .checks
            .get("checkpoint deferred while a writer is active")
            .copied()
            .unwrap_or(0);
        stable += report
            .counters
            .checks
            .get("snapshots are stable")
            .copied()
            .unwrap_or(0);
    }
    // The point of the actors: checks ran while transactions were open.
    assert!(
        deferred > 0,
        "the checkpointer never met an open write transaction"
    );
    assert!(stable > 0, "no held snapshot was ever checked");
}

#[test]
fn actors_are_deterministic() {
    for seed in [3, 11] {
        let a = run(seed, RunOptions::default());
        let b = run(seed, RunOptions::default());
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.counters, b.counters, "seed {seed}");
    }
}

#[test]
fn actors_catch_ack_before_fsync() {
    let options = RunOptions {
        planted: kiln_sim::planted_bugs(&["ack-before-fsync".into()]).unwrap(),
    };
    let caught = (0..40).any(|seed| run(seed, options).failed());
    assert!(
        caught,
        "acknowledging before fsync went unnoticed by 40 actor seeds"
    );
}
