//! The round loop: every side of every workload once per round, in alternating order, so
//! that drift (other load on the machine, the disk's mood) hits every side alike.

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use crate::machine::{self, Machine};
use crate::measure::{Measurement, System, RSS_ENGINE_METRIC, RSS_PEAK_METRIC};
use crate::options::Options;
use crate::report::{self, Report, WorkloadReport};
use crate::workloads::{self, Ctx, Workload, KILN_RSS_CONSTANT_BYTES};
use crate::Result;

/// Runs the benchmark as `opts` says and returns its report (nothing written yet).
pub fn run(opts: &Options) -> Result<Report> {
    let started = Instant::now();
    fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let root = fs::canonicalize(&opts.dir)?;
    let machine = Machine::describe(&root);
    check_disk(opts, &machine)?;
    let selected = select(&opts.only)?;
    let ctx = Ctx {
        exe: opts.exe.clone(),
        root,
        sizes: opts.sizes.clone(),
        keep_data: opts.keep_data,
    };
    for w in &selected {
        progress(opts, &format!("preparing {}", w.name()));
        w.prepare(&ctx)?;
    }
    let mut runs: Vec<BTreeMap<System, Vec<Measurement>>> = vec![BTreeMap::new(); selected.len()];
    for round in 0..opts.sizes.rounds {
        for (w, runs) in selected.iter().zip(&mut runs) {
            let mut order = w.systems().to_vec();
            if !round.is_multiple_of(2) {
                order.reverse();
            }
            let t0 = Instant::now();
            for result in w.measure_round(&ctx, round, &order)? {
                let mut m = result.measurement;
                add_rss_metrics(&mut m);
                runs.entry(result.system).or_default().push(m);
            }
            let sides: Vec<&str> = order.iter().map(|s| s.key()).collect();
            progress(
                opts,
                &format!(
                    "round {}/{} {} ({}): {:.1} s",
                    round + 1,
                    opts.sizes.rounds,
                    w.name(),
                    sides.join(", "),
                    t0.elapsed().as_secs_f64()
                ),
            );
        }
    }
    for w in &selected {
        w.cleanup(&ctx);
    }
    let reports: Vec<WorkloadReport> = selected
        .iter()
        .zip(runs)
        .map(|(w, runs)| WorkloadReport::build(w.as_ref(), &opts.sizes, runs))
        .collect();
    let targets = report::evaluate_targets(&reports, &opts.sizes);
    Ok(Report {
        command: opts.command.clone(),
        date: machine::today_utc(),
        quick: opts.quick,
        duration_s: started.elapsed().as_secs_f64(),
        load_average_end: machine::load_average(),
        machine,
        sizes: opts.sizes.clone(),
        kiln_rss_constant_bytes: KILN_RSS_CONSTANT_BYTES,
        kiln_rss_bound_bytes: workloads::kiln_memory_bound_bytes(&opts.sizes),
        workloads: reports,
        targets,
    })
}

/// A durability benchmark on a memory file system measures nothing: refuse it (a quick
/// smoke run only warns, since it claims nothing).
fn check_disk(opts: &Options, machine: &Machine) -> Result<()> {
    if !machine.is_memory_file_system() {
        return Ok(());
    }
    let msg = format!(
        "{} is on {}, which never reaches a disk: fsync numbers from it are meaningless; \
         pass --dir on a real disk",
        machine.bench_dir, machine.file_system
    );
    if opts.quick {
        eprintln!("kiln-bench: warning: {msg}");
        Ok(())
    } else {
        Err(msg.into())
    }
}

fn select(only: &[String]) -> Result<Vec<Box<dyn Workload>>> {
    if only.is_empty() {
        return Ok(workloads::all());
    }
    let mut selected = Vec::new();
    for name in only {
        let w = workloads::by_name(name).ok_or_else(|| {
            let names: Vec<_> = workloads::all().iter().map(|w| w.name()).collect();
            format!("no workload {name:?}; there are: {}", names.join(", "))
        })?;
        selected.push(w);
    }
    Ok(selected)
}

fn add_rss_metrics(m: &mut Measurement) {
    if let Some(rss) = m.rss {
        m.set(RSS_PEAK_METRIC, rss.peak_bytes as f64);
        m.set(RSS_ENGINE_METRIC, rss.engine_peak_bytes() as f64);
    }
}

fn progress(opts: &Options, line: &str) {
    if opts.verbose {
        eprintln!("kiln-bench: {line}");
    }
}
