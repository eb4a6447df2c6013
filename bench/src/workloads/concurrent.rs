//! Concurrent committers: does group commit turn more committers into more commits per
//! second?
//!
//! Each side runs two kinds of phase on one database, for the same total time each: one
//! committer, and 8. The time is cut into slices that alternate between the two kinds
//! (which kind starts alternates by round), because the disk's sync latency drifts
//! within seconds and the 8-vs-1 ratio must not measure that drift. Every committer
//! commits one row per transaction in a loop and times each commit. Kiln's target is against itself (8
//! committers must give at least 4x the commits per second of one); SQLite runs the same
//! phases with one connection per thread (its writers take turns on the WAL lock, with
//! `busy_timeout` sleeping between tries) for reference.

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::child::{ChildSpec, SideResult};
use crate::data::RssProbe;
use crate::measure::{Better, Measurement, MetricDef, System, Unit};
use crate::options::Sizes;
use crate::sides;
use crate::stats::Histogram;
use crate::workloads::{Denominator, MetricRef, Relation, Target, Workload};
use crate::Result;

pub const NAME: &str = "concurrent_commits";

pub struct ConcurrentCommits;

const METRICS: &[MetricDef] = &[
    MetricDef::new(
        "single_commits_per_s",
        "commits/s, 1 committer",
        Unit::PerSecond,
        Better::Higher,
    ),
    MetricDef::new(
        "single_p50_ns",
        "commit latency p50, 1 committer",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "concurrent_commits_per_s",
        "commits/s, 8 committers",
        Unit::PerSecond,
        Better::Higher,
    ),
    MetricDef::new(
        "concurrent_p50_ns",
        "commit latency p50, 8 committers",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "concurrent_p99_ns",
        "commit latency p99, 8 committers",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "speedup",
        "8-committer / 1-committer commits/s",
        Unit::Count,
        Better::Higher,
    ),
    MetricDef::new(
        "concurrent_commits_per_sync",
        "commits per WAL fsync, 8 committers",
        Unit::Count,
        Better::Higher,
    ),
];

impl Workload for ConcurrentCommits {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Concurrent committers (group commit)"
    }

    fn method(&self, sizes: &Sizes) -> String {
        format!(
            "Per side and round, one database; {} ms with 1 committer thread and {} ms with {}, \
             in {} slices of each kind that alternate (so both kinds see the same drift of the \
             disk). Each committer commits one row per transaction in a loop; commits/s is all \
             commits of a kind over its wall time. SQLite uses one connection per thread. Kiln's \
             commits per WAL fsync come from its own counters.",
            sizes.concurrent_phase_ms,
            sizes.concurrent_phase_ms,
            sizes.committers,
            sizes.concurrent_slices
        )
    }

    fn systems(&self) -> &'static [System] {
        &[System::Kiln, System::Sqlite]
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn histogram_labels(&self) -> &'static [(&'static str, &'static str)] {
        &[("single", "1 committer"), ("concurrent", "8 committers")]
    }

    fn targets(&self, _sizes: &Sizes) -> Vec<Target> {
        vec![Target {
            label: "8 committers: commits/s vs Kiln's 1 committer".into(),
            workload: NAME.into(),
            numerator: MetricRef::new(System::Kiln, "concurrent_commits_per_s"),
            denominator: Denominator::Metric(MetricRef::new(System::Kiln, "single_commits_per_s")),
            relation: Relation::AtLeast(4.0),
        }]
    }

    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>> {
        let probe = RssProbe::start();
        let mut m = Measurement::default();
        let kiln = match spec.system {
            System::Kiln => Some(sides::kiln_create(
                &spec.dir,
                sides::kiln_config(spec.sizes.cache_size_bytes),
            )?),
            _ => {
                let cache = spec.sizes.cache_size_bytes;
                sides::sqlite_create(&sides::sqlite_open(&spec.dir, cache, 1000)?)?;
                None
            }
        };
        let slices = spec.sizes.concurrent_slices.max(1);
        let slice_time = Duration::from_millis(spec.sizes.concurrent_phase_ms / slices);
        let mut totals: BTreeMap<&str, Phase> = BTreeMap::new();
        for slice in 0..2 * slices {
            let (name, threads) = if (slice + spec.round as u64).is_multiple_of(2) {
                ("single", 1)
            } else {
                ("concurrent", spec.sizes.committers)
            };
            let syncs_before = kiln.as_ref().map_or(0, |(db, _)| db.stats().wal_syncs);
            let key_base = (slice + 1) << 40;
            let phase = run_phase(spec, kiln.as_ref(), threads, slice_time, key_base)?;
            let syncs = kiln.as_ref().map_or(0, |(db, _)| db.stats().wal_syncs) - syncs_before;
            totals.entry(name).or_default().add(phase, syncs);
        }
        for (name, phase) in totals {
            m.set(&format!("{name}_commits_per_s"), phase.commits_per_s());
            if kiln.is_some() && name == "concurrent" {
                let per_sync = phase.hist.count() as f64 / phase.syncs.max(1) as f64;
                m.set("concurrent_commits_per_sync", per_sync);
            }
            m.latency(name, phase.hist);
        }
        let speedup = m.values["concurrent_commits_per_s"] / m.values["single_commits_per_s"];
        m.set("speedup", speedup);
        if let Some((db, _)) = &kiln {
            sides::kiln_counters(&mut m, "", &db.stats());
        }
        m.rss = Some(probe.finish());
        Ok(vec![SideResult {
            system: spec.system,
            measurement: m,
        }])
    }
}

/// Commits of one kind of phase, summed over its slices.
#[derive(Default)]
struct Phase {
    hist: Histogram,
    elapsed: Duration,
    /// Kiln's WAL syncs during the phase.
    syncs: u64,
}

impl Phase {
    fn add(&mut self, slice: Phase, syncs: u64) {
        self.hist.merge(&slice.hist);
        self.elapsed += slice.elapsed;
        self.syncs += syncs;
    }

    fn commits_per_s(&self) -> f64 {
        self.hist.count() as f64 / self.elapsed.as_secs_f64()
    }
}

/// `threads` committers commit for `time`, starting together.
fn run_phase(
    spec: &ChildSpec,
    kiln: Option<&(kiln::Database, kiln::Table)>,
    threads: usize,
    time: Duration,
    key_base: u64,
) -> Result<Phase> {
    let barrier = Barrier::new(threads + 1);
    let (hist, elapsed) = std::thread::scope(|scope| -> Result<(Histogram, Duration)> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let base = key_base + ((t as u64) << 32);
                scope.spawn(move || committer(spec, kiln, barrier, time, base))
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let mut hist = Histogram::default();
        for handle in handles {
            let thread_hist = handle.join().expect("committer panicked")?;
            hist.merge(&thread_hist);
        }
        Ok((hist, started.elapsed()))
    })?;
    Ok(Phase {
        hist,
        elapsed,
        syncs: 0,
    })
}

fn committer(
    spec: &ChildSpec,
    kiln: Option<&(kiln::Database, kiln::Table)>,
    barrier: &Barrier,
    time: Duration,
    base: u64,
) -> Result<Histogram> {
    let conn = match kiln {
        Some(_) => None,
        None => Some(sides::sqlite_open(
            &spec.dir,
            spec.sizes.cache_size_bytes,
            1000,
        )),
    };
    // Wait before reporting an open error: the other threads and the timer are waiting too.
    barrier.wait();
    let conn = conn.transpose()?;
    let mut hist = Histogram::default();
    let started = Instant::now();
    let mut i = base;
    while started.elapsed() < time {
        let t0 = Instant::now();
        match (kiln, &conn) {
            (Some((db, table)), _) => {
                let mut tx = db.begin_write()?;
                sides::kiln_insert(&mut tx, table, i)?;
                tx.commit()?;
            }
            (None, Some(conn)) => {
                sides::sqlite_insert(conn, i)?;
            }
            (None, None) => unreachable!("one side is open"),
        }
        hist.record(t0.elapsed().as_nanos() as u64);
        i += 1;
    }
    Ok(hist)
}
