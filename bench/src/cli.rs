//! The command line.

use std::path::PathBuf;

use clap::Parser;

use crate::child::{self, ChildSpec, CHILD_SUBCOMMAND};
use crate::options::{Options, Sizes};
use crate::{report, workloads, Result};

/// The issue asks for at least this many rounds in a reported run.
const ROUNDS_MIN: usize = 5;

#[derive(Parser, Debug)]
#[command(
    name = "kiln-bench",
    about = "Benchmarks Kiln against SQLite and raw fdatasync, interleaved in one run",
    after_help = "Regenerate docs/BENCHMARKS.md: cargo run --release -p kiln-bench -- --report docs/BENCHMARKS.md --json target/bench.json"
)]
struct Args {
    /// Smoke run: tiny sizes, one round, a few seconds. Its numbers mean nothing.
    #[arg(long)]
    quick: bool,
    /// Where the databases go. Must be on a real disk (tmpfs is refused).
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Write the full results (per round, histograms, counters) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a Markdown report (docs/BENCHMARKS.md) and its SVG plots (bench/ beside it).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Run only these workloads (comma-separated); see --list.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Rounds (default: 5, or 1 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Keep the databases after the run.
    #[arg(long)]
    keep_data: bool,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    /// Measure nothing: re-render the table and --report from a saved --json file (after
    /// a change to the report's format, say). The report keeps the original command.
    #[arg(long, value_name = "FILE")]
    from_json: Option<PathBuf>,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().collect();
    let result = if argv.get(1).map(String::as_str) == Some(CHILD_SUBCOMMAND) {
        child_main(argv.get(2).map_or("", String::as_str))
    } else {
        parent_main(&argv)
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kiln-bench: error: {e}");
            1
        }
    }
}

fn parent_main(argv: &[String]) -> Result<()> {
    let args = Args::parse_from(argv);
    if args.list {
        for w in workloads::all() {
            println!("{:<22} {}", w.name(), w.title());
        }
        return Ok(());
    }
    if let Some(path) = &args.from_json {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report = report::Report::from_json(&text)?;
        if let Some(out) = &args.report {
            crate::markdown::write(&report, out)?;
        }
        if let Some(out) = &args.json {
            std::fs::write(out, serde_json::to_string_pretty(&report)?)?;
        }
        print!("{}", report::terminal(&report));
        return Ok(());
    }
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(rounds) = args.rounds {
        if rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if rounds < ROUNDS_MIN && !args.quick {
            eprintln!(
                "kiln-bench: warning: {rounds} rounds; reported numbers need at least {ROUNDS_MIN}"
            );
        }
        sizes.rounds = rounds;
    }
    let command = std::iter::once("kiln-bench".to_string())
        .chain(argv.iter().skip(1).cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let opts = Options {
        sizes,
        quick: args.quick,
        dir: args.dir,
        exe: std::env::current_exe()?,
        only: args.only,
        json: args.json,
        report: args.report,
        command,
        keep_data: args.keep_data,
        verbose: true,
    };
    let report = crate::run_and_write(&opts)?;
    print!("{}", report::terminal(&report));
    Ok(())
}

fn child_main(spec_json: &str) -> Result<()> {
    let spec: ChildSpec =
        serde_json::from_str(spec_json).map_err(|e| format!("bad child spec: {e}"))?;
    let workload = workloads::by_name(&spec.workload)
        .ok_or_else(|| format!("child: no workload {:?}", spec.workload))?;
    for result in workload.child(&spec)? {
        child::print_result(&result)?;
    }
    Ok(())
}
