//! Replays the committed fuzz corpus on stable, so a bug a fuzzer found once stays fixed.
//!
//! Goal: every input under `fuzz/corpus/<target>/` goes through the same function its
//! `cargo fuzz` target calls (`kiln_sim::fuzzing::*`) and must not panic; for
//! `engine_ops` and `sim_plan` that also means the engine matched the model and the
//! simulator reported no failure. The canary must fail on its trigger and on nothing in
//! its corpus. The decoder seeds must still be meaningful: at least one of each decodes,
//! or the corpus has drifted from the on-disk format and needs regenerating. And the
//! `engine_ops` harness must bite: it catches three planted engine bugs (a commit
//! acknowledged before fsync, an id reused after a crash, a manifest committed before
//! its images), and passes the same inputs without them.
//!
//! Not covered: finding new inputs (that is `cargo fuzz`, run by ci/nightly.sh), inputs
//! the nightly fuzzer saved under fuzz/artifacts/ until someone commits them here, and
//! the SQL/DDL target, which comes with the SQL front door.
//!
//! Regenerate the seeds (after a format change) with
//! `KILN_REGENERATE_CORPUS=1 cargo test -p kiln-tests --test fuzz_corpus regenerate -- --ignored`;
//! it rewrites the named seed files and leaves every other corpus file alone.

use std::path::{Path, PathBuf};

use kiln_sim::fuzzing::{self, canary, run_target, split_types, TARGETS};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every file of a target's corpus, by name, sorted so failures reproduce in order.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().expect("a name").to_string_lossy().into();
            (name, std::fs::read(&path).expect("corpus file reads"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    files
}

/// Runs every input of `target`'s corpus; a panic names the input.
fn replay(target: &str) {
    for (name, bytes) in corpus(target) {
        let result = std::panic::catch_unwind(|| run_target(target, &bytes));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("fuzz/corpus/{target}/{name} failed: {message}");
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for target in TARGETS {
        assert!(corpus_dir(target).is_dir(), "no corpus for {target}");
        let source = root.join("fuzz_targets").join(format!("{target}.rs"));
        assert!(source.is_file(), "no {}", source.display());
    }
}

#[test]
fn wal_record_corpus_never_panics() {
    replay("wal_record");
}

#[test]
fn manifest_corpus_never_panics() {
    replay("manifest");
}

#[test]
fn heap_page_corpus_never_panics() {
    replay("heap_page");
}

#[test]
fn row_corpus_never_panics() {
    replay("row");
}

#[test]
fn engine_ops_corpus_matches_the_model() {
    replay("engine_ops");
}

/// Runs `ops` (after setup bytes: seeds 0 to 15, `flags`, knobs 3: a large cache and no
/// automatic checkpoint) with and without `planted`; returns how many seeds caught it.
/// Without the bug every run must pass: the harness bites only on bugs.
fn seeds_catching(planted: kiln::PlantedBugs, flags: u8, ops: &[u8]) -> usize {
    (0u16..16)
        .filter(|&seed| {
            let mut input = seed.to_le_bytes().to_vec();
            input.extend([flags, 3]);
            input.extend_from_slice(ops);
            fuzzing::engine_ops(&input);
            std::panic::catch_unwind(|| fuzzing::engine_ops_planted(&input, planted)).is_err()
        })
        .count()
}

/// The harness bites on a lost acknowledged commit: with the engine acknowledging
/// commits before they are durable, the power loss that ends the input (flags 0) loses
/// the last commit whenever its pending write does not survive.
#[test]
fn engine_ops_catches_a_planted_lost_commit() {
    use fuzzing::OpKind::{Commit, CreateTable, Insert};
    let planted = kiln::PlantedBugs {
        ack_before_fsync: true,
        ..Default::default()
    };
    // One Int64 column; insert the value 5; commit.
    let ops = [
        CreateTable.opcode(),
        0,
        0,
        Commit.opcode(),
        Insert.opcode(),
        0,
        0,
        5,
        Commit.opcode(),
    ];
    assert!(seeds_catching(planted, 0, &ops) > 0, "no seed caught it");
}

/// The harness bites on a reused table id: recovery that forgets the ids handed out
/// since the last checkpoint gives a new table the id of a committed (and dropped) one.
#[test]
fn engine_ops_catches_a_planted_id_reuse() {
    use fuzzing::OpKind::{Commit, Crash, CreateTable, DropTable};
    let planted = kiln::PlantedBugs {
        reuse_id_after_crash: true,
        ..Default::default()
    };
    let create = [CreateTable.opcode(), 0, 0];
    let mut ops = create.to_vec();
    ops.extend([Commit.opcode(), DropTable.opcode(), 0, Commit.opcode()]);
    // A process crash, then a new table.
    ops.extend([Crash.opcode(), 0]);
    ops.extend(create);
    ops.push(Commit.opcode());
    assert_eq!(seeds_catching(planted, 4, &ops), 16, "a seed missed it");
}

/// The harness bites on a checkpoint that commits its manifest before its page images
/// are durable: the power loss that ends the input tears or drops the images, and
/// recovery reports corruption that no bit flip explains.
#[test]
fn engine_ops_catches_a_planted_early_manifest() {
    use fuzzing::OpKind::{Checkpoint, Commit, CreateTable, Insert};
    let planted = kiln::PlantedBugs {
        manifest_before_images: true,
        ..Default::default()
    };
    let mut ops = vec![CreateTable.opcode(), 0, 0];
    for value in 1..=3 {
        ops.extend([Insert.opcode(), 0, 0, value]);
    }
    ops.extend([Commit.opcode(), Checkpoint.opcode()]);
    assert!(seeds_catching(planted, 0, &ops) > 0, "no seed caught it");
}

/// Every check of `engine_ops` runs somewhere in its corpus: a check that never runs is
/// a silent hole.
#[test]
fn engine_ops_corpus_reaches_every_check() {
    let mut total = fuzzing::EngineOpsReport::default();
    for (_, bytes) in corpus("engine_ops") {
        let report = fuzzing::engine_ops_report(&bytes);
        total.ops += report.ops;
        total.commits += report.commits;
        total.commits_in_doubt += report.commits_in_doubt;
        total.aborts += report.aborts;
        total.checkpoints += report.checkpoints;
        total.crashes += report.crashes;
        total.recoveries += report.recoveries;
        total.faults_injected += report.faults_injected;
    }
    eprintln!("engine_ops corpus: {total:?}");
    assert!(total.commits > 0, "{total:?}");
    assert!(total.commits_in_doubt > 0, "{total:?}");
    assert!(total.aborts > 0, "{total:?}");
    assert!(total.checkpoints > 0, "{total:?}");
    assert!(total.crashes > 0, "{total:?}");
    assert!(total.recoveries > 0, "{total:?}");
    assert!(total.faults_injected > 0, "{total:?}");
}

#[test]
fn sim_plan_corpus_passes_the_simulator() {
    replay("sim_plan");
}

/// The `sim_plan` corpus crashes, recovers, fires a crash point and flips a bit.
#[test]
fn sim_plan_corpus_reaches_crashes_and_corruption() {
    let (mut recoveries, mut crash_points, mut corruptions) = (0, 0, 0);
    for (_, bytes) in corpus("sim_plan") {
        let counters = fuzzing::sim_plan_report(&bytes).counters;
        recoveries += counters.recoveries;
        crash_points += counters.crash_points_fired.values().sum::<u64>();
        corruptions += counters.corruptions_injected;
    }
    eprintln!("sim_plan corpus: {recoveries} recoveries, {crash_points} crash points fired, {corruptions} bits flipped");
    assert!(recoveries > 0);
    assert!(crash_points > 0);
    assert!(corruptions > 0);
}

#[test]
fn canary_corpus_does_not_trip_the_canary() {
    for (name, bytes) in corpus("canary") {
        assert!(
            !bytes.starts_with(b"KILN"),
            "fuzz/corpus/canary/{name} is the canary's trigger: it must fail the fuzzer, \
             not sit in its corpus"
        );
    }
    replay("canary");
}

#[test]
fn canary_fails_on_its_trigger() {
    for trigger in [&b"KILN"[..], b"KILN and more", b"KILN\0"] {
        let result = std::panic::catch_unwind(|| canary(trigger));
        assert!(result.is_err(), "the canary let {trigger:?} through");
    }
}

/// The decoder seeds are real on-disk bytes: if none of a target's inputs decodes any
/// more, the format changed under the corpus and the fuzzer starts from noise.
#[test]
fn decoder_seeds_still_decode() {
    const HINT: &str = "regenerate the corpus (see the top of tests/tests/fuzz_corpus.rs)";
    let decodes = |target: &str, ok: &dyn Fn(&[u8]) -> bool| {
        let any = corpus(target).iter().any(|(_, bytes)| ok(bytes));
        assert!(any, "no {target} seed decodes any more: {HINT}");
    };
    decodes("wal_record", &|b| kiln::decode::wal_record(b).is_ok());
    decodes("wal_record", &|b| {
        kiln::decode::wal_record_payload(b).is_ok()
    });
    decodes("wal_record", &|b| {
        kiln::decode::wal_segment_header(b).is_ok()
    });
    decodes("manifest", &|b| kiln::decode::manifest(b).is_ok());
    decodes("heap_page", &|b| {
        let (types, page) = split_types(b);
        kiln::decode::heap_page(page, &types).is_ok_and(|rows| rows > 0)
    });
    decodes("row", &|b| {
        let (types, row) = split_types(b);
        kiln::decode::row(row, &types).is_ok()
    });
}

/// The CRC the fix-ups use is the engine's: fixing a valid record changes nothing.
#[test]
fn crc_fixups_leave_valid_bytes_unchanged() {
    for (_, bytes) in corpus("wal_record") {
        if kiln::decode::wal_record(&bytes).is_ok() {
            assert_eq!(
                fuzzing::fix_wal_record_crc(&bytes).as_deref(),
                Some(&bytes[..])
            );
        }
        if kiln::decode::wal_segment_header(&bytes).is_ok() {
            assert_eq!(
                fuzzing::fix_wal_segment_crc(&bytes).as_deref(),
                Some(&bytes[..])
            );
        }
    }
    for (_, bytes) in corpus("manifest") {
        if kiln::decode::manifest(&bytes).is_ok() {
            assert_eq!(
                fuzzing::fix_manifest_crc(&bytes).as_deref(),
                Some(&bytes[..])
            );
        }
    }
    for (_, bytes) in corpus("heap_page") {
        let (types, page) = split_types(&bytes);
        if kiln::decode::heap_page(page, &types).is_ok() {
            assert_eq!(fuzzing::page_with_fixed_crc(page), page);
        }
    }
}

/// Freshly generated seeds pass too (they are what the corpus was made from).
#[test]
fn generated_seeds_pass() {
    for seed in fuzzing::seed_corpus() {
        let result = std::panic::catch_unwind(|| run_target(seed.target, &seed.bytes));
        assert!(result.is_ok(), "seed {}/{} failed", seed.target, seed.name);
    }
}

/// Writes the generated seeds into fuzz/corpus/ (only with KILN_REGENERATE_CORPUS=1).
#[test]
#[ignore = "writes files; run by hand after a format change"]
fn regenerate() {
    if std::env::var_os("KILN_REGENERATE_CORPUS").is_none() {
        eprintln!("set KILN_REGENERATE_CORPUS=1 to rewrite fuzz/corpus/");
        return;
    }
    for seed in fuzzing::seed_corpus() {
        let dir = corpus_dir(seed.target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(&seed.name), &seed.bytes).expect("seed written");
    }
}
