//! Run options, and every size a workload uses, with its full and `--quick` value in one
//! place.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The sizes of one run. [`Sizes::full`] is what docs/BENCHMARKS.md reports;
/// [`Sizes::quick`] is a smoke run that finishes in seconds even in a debug build.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sizes {
    /// Interleaved A/B rounds; every side of every workload runs once per round.
    pub rounds: usize,
    /// Timed single-row commits per side and round (after `commit_warmup` untimed ones).
    pub commit_count: usize,
    pub commit_warmup: usize,
    /// Concurrent committer threads; how long each kind of phase (1 thread, all threads)
    /// commits for in total; and in how many slices, alternating between the two kinds,
    /// so both see the same drift of the disk.
    pub committers: usize,
    pub concurrent_phase_ms: u64,
    pub concurrent_slices: u64,
    /// Rows in the one bulk-load transaction.
    pub bulk_rows: u64,
    /// Rows in the point-read data set, and timed point reads per side and round.
    pub read_rows: u64,
    pub reads: u64,
    /// WAL written since the last checkpoint before the crash, and rows per commit while
    /// writing it.
    pub reopen_wal_bytes: u64,
    pub reopen_batch_rows: u64,
    /// Page cache budget of both sides: Kiln's `cache_size_bytes`, SQLite's `cache_size`.
    pub cache_size_bytes: u64,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            rounds: 5,
            commit_count: 1000,
            commit_warmup: 50,
            committers: 8,
            concurrent_phase_ms: 3000,
            concurrent_slices: 6,
            bulk_rows: 1_000_000,
            read_rows: 1_000_000,
            reads: 1_000_000,
            reopen_wal_bytes: 100 << 20,
            reopen_batch_rows: 1000,
            cache_size_bytes: kiln::Config::default().cache_size_bytes,
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            rounds: 1,
            commit_count: 20,
            commit_warmup: 2,
            committers: 8,
            concurrent_phase_ms: 100,
            concurrent_slices: 2,
            bulk_rows: 2000,
            read_rows: 2000,
            reads: 2000,
            reopen_wal_bytes: 1 << 20,
            reopen_batch_rows: 100,
            cache_size_bytes: kiln::Config::default().cache_size_bytes,
        }
    }
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Options {
    pub sizes: Sizes,
    pub quick: bool,
    /// Where databases are created; must be on a real disk.
    pub dir: PathBuf,
    /// The `kiln-bench` executable, re-run as child processes.
    pub exe: PathBuf,
    /// Run only these workloads (all when empty).
    pub only: Vec<String>,
    pub json: Option<PathBuf>,
    /// docs/BENCHMARKS.md; the plots go to `bench/` beside it.
    pub report: Option<PathBuf>,
    /// The command line shown on top of the report.
    pub command: String,
    /// Leave the databases in `dir` after the run.
    pub keep_data: bool,
    /// Print progress to stderr.
    pub verbose: bool,
}
