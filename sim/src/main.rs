//! `kiln-sim`: run, sweep, replay and shrink deterministic simulations of Kiln.
//!
//! Every run prints `seed: N` first. A failing run prints the violated invariant, the
//! last trace events, where its replay artifact was saved and a one-line repro command,
//! and the process exits non-zero.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use kiln_sim::artifact::Artifact;
use kiln_sim::plan::Plan;
use kiln_sim::runner::{run, Outcome, RunOptions, RunReport};
use kiln_sim::scenario::Scenario;

#[derive(Parser)]
#[command(
    name = "kiln-sim",
    about = "Deterministic simulation of the Kiln storage engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one seed.
    Run {
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        common: Common,
        /// Print every trace event kept, not only on failure.
        #[arg(long)]
        verbose: bool,
    },
    /// Runs many seeds and prints a summary.
    Sweep {
        /// Number of seeds (default: the scenario's sweep_seeds).
        #[arg(long)]
        seeds: Option<u64>,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Stop at the first failure.
        #[arg(long)]
        fail_fast: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Replays a saved artifact.
    Replay { artifact: PathBuf },
    /// Shrinks a saved artifact to a minimal failing plan.
    Shrink {
        artifact: PathBuf,
        /// Where to write the result (default: next to the input, `.min.json`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 2000)]
        runs_max: usize,
    },
    /// Runs one seed of the concurrent actors on madsim (writer, reader, checkpointer;
    /// the node is killed and recovered `lives` times).
    Actors {
        #[arg(long)]
        seed: u64,
        #[arg(long, default_value_t = 4)]
        lives: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Lists the engine's named crash points and the planted bugs.
    List,
}

#[derive(clap::Args)]
struct Common {
    /// Scenario file.
    #[arg(long, default_value = "scenarios/default.toml")]
    scenario: PathBuf,
    /// Plant a known engine bug (the simulator must catch it). Repeatable.
    #[arg(long = "planted-bug")]
    planted_bugs: Vec<String>,
    /// Where failing runs' artifacts are written.
    #[arg(long, default_value = "sim-artifacts")]
    artifacts: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            seed,
            common,
            verbose,
        } => cmd_run(seed, &common, verbose),
        Command::Sweep {
            seeds,
            start,
            fail_fast,
            common,
        } => cmd_sweep(seeds, start, fail_fast, &common),
        Command::Replay { artifact } => cmd_replay(&artifact),
        Command::Shrink {
            artifact,
            out,
            runs_max,
        } => cmd_shrink(&artifact, out, runs_max),
        Command::Actors {
            seed,
            lives,
            common,
        } => cmd_actors(seed, lives, &common),
        Command::List => {
            cmd_list();
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load_scenario(path: &Path) -> Result<Scenario, String> {
    if path.exists() {
        Scenario::load(path)
    } else if path == Path::new("scenarios/default.toml") {
        // Run from outside the repository: the built-in default is the same scenario.
        Ok(Scenario::default())
    } else {
        Err(format!("scenario file {} not found", path.display()))
    }
}

fn cmd_run(seed: u64, common: &Common, verbose: bool) -> Result<bool, String> {
    println!("seed: {seed}");
    let scenario = load_scenario(&common.scenario)?;
    let options = RunOptions {
        planted: kiln_sim::planted_bugs(&common.planted_bugs)?,
    };
    let config = scenario.draw(seed);
    let plan = Plan::generate(&config);
    let started = Instant::now();
    let report = run(&config, &plan, options);
    println!("scenario: {}", scenario.name);
    print_report(&report);
    println!("time: {:.2}s", started.elapsed().as_secs_f64());
    if verbose {
        print_tail(&report);
    }
    if !report.failed() {
        return Ok(true);
    }
    print_failure(&report, &config, &plan, common);
    Ok(false)
}

fn print_report(report: &RunReport) {
    let c = &report.counters;
    println!(
        "trace hash: {:#018x} ({} events)",
        report.trace_hash, report.trace_events
    );
    println!(
        "steps {} ops {} commits {} in-doubt {} aborts {} checkpoints {} recoveries {}",
        c.steps, c.ops, c.commits, c.commits_in_doubt, c.aborts, c.checkpoints, c.recoveries
    );
    println!(
        "crashes: {} (during recovery {}, restarts after faults {})",
        format_map(&c.crashes),
        c.crashes_during_recovery,
        c.restarts_after_fault
    );
    println!("faults: {}", format_map(&c.faults));
    println!("crash points fired: {}", format_map(&c.crash_points_fired));
    println!(
        "invariant checks: {}",
        c.checks
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "corruptions: injected {} detected {}",
        c.corruptions_injected, c.corruptions_detected
    );
    match &report.outcome {
        Outcome::Passed => println!("result: PASSED"),
        Outcome::DetectedCorruption(d) => {
            println!("result: PASSED (injected corruption detected: {d})")
        }
        Outcome::Failed(_) => println!("result: FAILED"),
    }
}

fn format_map<V: std::fmt::Display>(map: &std::collections::BTreeMap<String, V>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_tail(report: &RunReport) {
    println!("last events:");
    for event in &report.trace_tail {
        println!("  {event}");
    }
}

fn print_failure(
    report: &RunReport,
    config: &kiln_sim::scenario::RunConfig,
    plan: &Plan,
    common: &Common,
) {
    let Outcome::Failed(failure) = &report.outcome else {
        return;
    };
    println!("invariant violated: {}", failure.invariant);
    println!("detail: {}", failure.detail);
    println!("at step {} of {}", failure.step, plan.steps.len());
    print_tail(report);
    let path = common.artifacts.join(format!("seed-{}.json", report.seed));
    match Artifact::from_failure(config, plan, &common.planted_bugs, report).save(&path) {
        Ok(()) => println!("artifact: {}", path.display()),
        Err(e) => println!("artifact not saved: {e}"),
    }
    let planted: String = common
        .planted_bugs
        .iter()
        .map(|b| format!(" --planted-bug {b}"))
        .collect();
    println!(
        "repro: cargo run --release -p kiln-sim -- run --seed {} --scenario {}{planted}",
        report.seed,
        common.scenario.display()
    );
    println!(
        "   or: cargo run --release -p kiln-sim -- replay {}",
        path.display()
    );
}

/// Totals over a sweep.
#[derive(Default)]
struct SweepTotals {
    passed: u64,
    detected: u64,
    failed: Vec<u64>,
    counters: Vec<kiln_sim::runner::Counters>,
}

fn cmd_sweep(
    seeds: Option<u64>,
    start: u64,
    fail_fast: bool,
    common: &Common,
) -> Result<bool, String> {
    let scenario = load_scenario(&common.scenario)?;
    let options = RunOptions {
        planted: kiln_sim::planted_bugs(&common.planted_bugs)?,
    };
    let count = seeds.unwrap_or(scenario.sweep_seeds);
    println!(
        "seed: {start} (sweep of {count} seeds: {start}..{})",
        start + count
    );
    println!("scenario: {}", scenario.name);
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds, {elapsed} elapsed, eta {eta} {msg}",
        )
        .map_err(|e| e.to_string())?,
    );
    let started = Instant::now();
    let mut totals = SweepTotals::default();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1) as usize);
    let next = std::sync::atomic::AtomicU64::new(start);
    let results = std::sync::Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= start + count || stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let config = scenario.draw(seed);
                let plan = Plan::generate(&config);
                let report = run(&config, &plan, options);
                if report.failed() && fail_fast {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                bar.inc(1);
                results
                    .lock()
                    .expect("results lock")
                    .push((config, plan, report));
            });
        }
    });
    bar.finish();
    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|(c, _, _)| c.seed);
    for (config, plan, report) in &results {
        match &report.outcome {
            Outcome::Passed => totals.passed += 1,
            Outcome::DetectedCorruption(_) => totals.detected += 1,
            Outcome::Failed(_) => {
                totals.failed.push(report.seed);
                println!();
                println!("seed: {}", report.seed);
                print_report(report);
                print_failure(report, config, plan, common);
            }
        }
        totals.counters.push(report.counters.clone());
    }
    print_summary(&totals, started.elapsed().as_secs_f64());
    Ok(totals.failed.is_empty())
}

fn print_summary(totals: &SweepTotals, seconds: f64) {
    let sum =
        |f: fn(&kiln_sim::runner::Counters) -> u64| totals.counters.iter().map(f).sum::<u64>();
    let merged = |f: fn(&kiln_sim::runner::Counters) -> Vec<(String, u64)>| {
        let mut m = std::collections::BTreeMap::new();
        for c in &totals.counters {
            for (k, v) in f(c) {
                *m.entry(k).or_insert(0u64) += v;
            }
        }
        m
    };
    let crashes = merged(|c| c.crashes.clone().into_iter().collect());
    let faults = merged(|c| c.faults.clone().into_iter().collect());
    let points = merged(|c| c.crash_points_fired.clone().into_iter().collect());
    let checks = merged(|c| c.checks.iter().map(|(k, v)| (k.to_string(), *v)).collect());
    println!();
    println!("| sweep                  | value |");
    println!("|------------------------|-------|");
    println!("| seeds                  | {} |", totals.counters.len());
    println!("| passed                 | {} |", totals.passed);
    println!("| passed (corruption detected) | {} |", totals.detected);
    println!("| failed                 | {} |", totals.failed.len());
    println!("| ops                    | {} |", sum(|c| c.ops));
    println!(
        "| commits (in doubt)     | {} ({}) |",
        sum(|c| c.commits),
        sum(|c| c.commits_in_doubt)
    );
    println!("| recoveries             | {} |", sum(|c| c.recoveries));
    println!("| crashes                | {} |", format_map(&crashes));
    println!(
        "| crashes in recovery    | {} |",
        sum(|c| c.crashes_during_recovery)
    );
    println!("| faults                 | {} |", format_map(&faults));
    println!("| crash points fired     | {} |", format_map(&points));
    println!("| invariant checks       | {} |", format_map(&checks));
    println!("| seconds                | {seconds:.1} |");
    if !totals.failed.is_empty() {
        println!("failing seeds: {:?}", totals.failed);
    }
}

fn cmd_replay(path: &Path) -> Result<bool, String> {
    let artifact = Artifact::load(path)?;
    println!("seed: {}", artifact.config.seed);
    println!(
        "artifact: {} ({} steps, expect {:?})",
        path.display(),
        artifact.plan.steps.len(),
        artifact.expect
    );
    let report = artifact.replay()?;
    print_report(&report);
    if report.failed() {
        print_tail(&report);
        if let Outcome::Failed(f) = &report.outcome {
            println!("invariant violated: {}", f.invariant);
            println!("detail: {}", f.detail);
        }
    }
    Ok(!report.failed())
}

fn cmd_shrink(path: &Path, out: Option<PathBuf>, runs_max: usize) -> Result<bool, String> {
    let artifact = Artifact::load(path)?;
    println!("seed: {}", artifact.config.seed);
    let before = artifact.plan.op_count();
    let shrunk = artifact.shrink(runs_max)?;
    let out = out.unwrap_or_else(|| path.with_extension("min.json"));
    shrunk.save(&out)?;
    println!(
        "shrunk {} ops to {} ({} steps): {}",
        before,
        shrunk.plan.op_count(),
        shrunk.plan.steps.len(),
        out.display()
    );
    Ok(true)
}

#[cfg(madsim)]
fn cmd_actors(seed: u64, lives: u64, common: &Common) -> Result<bool, String> {
    println!("seed: {seed}");
    let scenario = load_scenario(&common.scenario)?;
    let options = RunOptions {
        planted: kiln_sim::planted_bugs(&common.planted_bugs)?,
    };
    let report = kiln_sim::actors::run(&scenario.draw(seed), options, lives);
    print_report(&report);
    if report.failed() {
        print_tail(&report);
    }
    Ok(!report.failed())
}

#[cfg(not(madsim))]
fn cmd_actors(_seed: u64, _lives: u64, _common: &Common) -> Result<bool, String> {
    Err("this build lacks --cfg madsim (is RUSTFLAGS set? it overrides .cargo/config.toml)".into())
}

fn cmd_list() {
    println!("crash points:");
    for point in kiln::CRASH_POINTS {
        println!("  {point}");
    }
    println!("planted bugs:");
    for bug in kiln_sim::PLANTED_BUGS {
        println!("  {bug}");
    }
}
