//! kiln-bench: Kiln against SQLite and against the disk itself, side by side in one run.
//!
//! Every claim about Kiln's speed is a ratio of medians against a peer measured in the
//! same process run, interleaved A/B over several rounds (see DESIGN.md, "Performance"):
//! SQLite through `rusqlite` (bundled, WAL mode, `synchronous=FULL`) and raw `fdatasync`
//! on a preallocated file as the physical limit. The run prints a table, can write JSON
//! (`--json`), and regenerates docs/BENCHMARKS.md with SVG plots (`--report`).
//!
//! Layout: [`workloads`] defines what is measured (one module per workload, each a
//! [`workloads::Workload`]); [`child`] runs each measurement in a fresh child process;
//! [`runner`] interleaves rounds; [`report`], [`markdown`] and [`plot`] present the result.
//! [`quick_run`] is the smoke run `cargo test` executes; it asserts no timing.
#![forbid(unsafe_code)]

pub mod child;
pub mod cli;
pub mod data;
pub mod machine;
pub mod markdown;
pub mod measure;
pub mod options;
pub mod plot;
pub mod report;
pub mod runner;
pub mod sides;
pub mod stats;
pub mod workloads;

use std::path::{Path, PathBuf};

pub use options::{Options, Sizes};
pub use report::Report;

/// Errors are reported, never matched on: a message is all a benchmark needs.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Runs `opts` and writes what it asks for (`--json`, `--report`); returns the report.
pub fn run_and_write(opts: &Options) -> Result<Report> {
    let report = runner::run(opts)?;
    if let Some(path) = &opts.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.report {
        markdown::write(&report, path)?;
    }
    Ok(report)
}

/// The `--quick` smoke run: every workload at tiny sizes, one round, with databases
/// under `dir` and children run from `exe` (the `kiln-bench` binary).
pub fn quick_run(
    exe: &Path,
    dir: &Path,
    json: Option<PathBuf>,
    report: Option<PathBuf>,
) -> Result<Report> {
    run_and_write(&Options {
        sizes: Sizes::quick(),
        quick: true,
        dir: dir.to_path_buf(),
        exe: exe.to_path_buf(),
        only: Vec::new(),
        json,
        report,
        command: "kiln-bench --quick".into(),
        keep_data: false,
        verbose: false,
    })
}
