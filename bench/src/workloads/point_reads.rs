//! Random point reads by row id (SQLite: by rowid) over a loaded table.
//!
//! The data set is loaded once per side before the first round (by the bulk loader,
//! closed cleanly), then every round is a fresh process that opens it and reads rows
//! in a pseudo-random order (the same order for both sides), timing each read. At full
//! size the table is larger than the cache (about 180 MiB of rows against 64 MiB), so
//! most reads miss the engine's cache and are served from the OS page cache, for both
//! sides alike.

use std::path::PathBuf;
use std::time::Instant;

use crate::child::{self, ChildSpec, Role, SideResult};
use crate::data::{self, RssProbe, SplitMix64};
use crate::measure::{Better, Measurement, MetricDef, System, Unit};
use crate::options::Sizes;
use crate::sides;
use crate::stats::Histogram;
use crate::workloads::{bulk_load, kiln_vs, memory_target, Ctx, Relation, Target, Workload};
use crate::Result;

pub const NAME: &str = "point_reads";

pub struct PointReads;

const METRICS: &[MetricDef] = &[
    MetricDef::new(
        "read_p50_ns",
        "point read latency p50",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "read_p99_ns",
        "point read latency p99",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "reads_per_s",
        "point reads per second (1 thread)",
        Unit::PerSecond,
        Better::Higher,
    ),
];

fn data_dir(ctx: &Ctx, system: System) -> PathBuf {
    ctx.root.join(format!("{NAME}-{}-data", system.key()))
}

impl Workload for PointReads {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Random point reads by row id"
    }

    fn method(&self, sizes: &Sizes) -> String {
        // Stored size of a row on either side, roughly: key, value, framing and slot.
        let table_bytes = sizes.read_rows * 190;
        let fit = if table_bytes > sizes.cache_size_bytes {
            format!(
                "the table (about {} MiB) does not fit, so most reads miss both caches and are \
                 served from the OS page cache (warm for both: the data was just written)",
                table_bytes >> 20
            )
        } else {
            "the table fits in both caches".to_string()
        };
        format!(
            "A table of {} rows is loaded once per side before the first round (one transaction, \
             then a clean close). Each round opens it in a fresh process and reads {} rows by row \
             id (SQLite: `SELECT k, v FROM kv WHERE rowid = ?`, prepared) in a pseudo-random order \
             that both sides share, from one read snapshot, timing every read and checking the key \
             it returns. Both caches are {} MiB; {fit}.",
            sizes.read_rows,
            sizes.reads,
            sizes.cache_size_bytes >> 20
        )
    }

    fn systems(&self) -> &'static [System] {
        &[System::Kiln, System::Sqlite]
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn targets(&self, sizes: &Sizes) -> Vec<Target> {
        vec![
            kiln_vs(
                "point read p50 vs SQLite",
                NAME,
                "read_p50_ns",
                System::Sqlite,
                Relation::AtMost(1.0),
            ),
            memory_target(
                "point reads: Kiln RSS over the harness within its bound",
                NAME,
                sizes,
            ),
        ]
    }

    fn prepare(&self, ctx: &Ctx) -> Result<()> {
        for &system in self.systems() {
            let dir = data_dir(ctx, system);
            let dir = ctx.empty_dir(
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .expect("utf-8 name"),
            )?;
            let spec = ctx.spec(bulk_load::NAME, Role::Prepare, system, 0, &dir);
            child::run(&ctx.exe, &spec)?;
        }
        Ok(())
    }

    fn measure(&self, ctx: &Ctx, system: System, round: usize) -> Result<Measurement> {
        let spec = ctx.spec(NAME, Role::Measure, system, round, &data_dir(ctx, system));
        child::run(&ctx.exe, &spec)
    }

    fn cleanup(&self, ctx: &Ctx) {
        for &system in self.systems() {
            ctx.discard(&data_dir(ctx, system));
        }
    }

    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>> {
        let ids = data::read_ids(&spec.dir.join(bulk_load::IDS_FILE))?;
        let probe = RssProbe::start();
        let mut m = Measurement::default();
        let n = ids.len() as u64;
        let mut rng = SplitMix64::new(0xBE7C_4000 + spec.round as u64);
        let mut hist = Histogram::default();
        let cache = spec.sizes.cache_size_bytes;
        match spec.system {
            System::Kiln => {
                let (db, table) = sides::kiln_open(&spec.dir, sides::kiln_config(cache))?;
                let read = db.begin_read()?;
                for _ in 0..spec.sizes.reads {
                    let i = rng.below(n);
                    let t0 = Instant::now();
                    sides::kiln_check(read.get(&table, ids[i as usize])?, i, ids[i as usize])?;
                    hist.record(t0.elapsed().as_nanos() as u64);
                }
                drop(read);
                sides::kiln_counters(&mut m, "", &db.stats());
            }
            System::Sqlite => {
                let conn = sides::sqlite_open(&spec.dir, cache, 1000)?;
                for _ in 0..spec.sizes.reads {
                    let i = rng.below(n);
                    let t0 = Instant::now();
                    sides::sqlite_read_check(&conn, i, ids[i as usize])?;
                    hist.record(t0.elapsed().as_nanos() as u64);
                }
            }
            System::Fdatasync => unreachable!("point reads have no raw side"),
        }
        // Throughput from the timed reads alone: opening is not a read.
        let read_ns = hist.sum_ns().max(1) as f64;
        m.set("reads_per_s", hist.count() as f64 / (read_ns / 1e9));
        m.latency("read", hist);
        m.rss = Some(probe.finish());
        Ok(vec![SideResult {
            system: spec.system,
            measurement: m,
        }])
    }
}
