//! Durable single-row commit latency, against SQLite and against the disk itself.
//!
//! Each side commits one row (24-byte key, 150-byte value) per transaction, one
//! transaction at a time, into a fresh database; every commit is durable when it returns.
//! The third side, `fdatasync`, is the physical limit: `pwrite` of 4 KiB at the next
//! offset of a file that was written full of zeros and synced first (so no block
//! allocation or size change rides on the sync), then `fdatasync`.
//!
//! The three sides run in ONE child process, interleaved commit by commit (Kiln, SQLite,
//! fdatasync, Kiln, ...; the order reverses every other round). Sync latency on a shared virtual
//! disk drifts within seconds (on the reference machine it flips between about 0.1 ms
//! and 4 ms), so sides measured one after the other can land in different regimes and
//! their ratio would measure the disk, not the engines. The price: the three sides share
//! a process, so this workload reports no per-side memory (the others do).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use crate::child::{self, ChildSpec, Role, SideResult};
use crate::measure::{Better, Measurement, MetricDef, System, Unit};
use crate::options::Sizes;
use crate::sides;
use crate::stats::Histogram;
use crate::workloads::{kiln_vs, Ctx, Relation, Target, Workload};
use crate::Result;

pub const NAME: &str = "commit_latency";
/// What the raw side writes per sync: one page, as a small commit does.
const RAW_WRITE_BYTES: usize = 4096;

pub struct CommitLatency;

const METRICS: &[MetricDef] = &[
    MetricDef::new(
        "commit_p50_ns",
        "commit latency p50",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "commit_p99_ns",
        "commit latency p99",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "commits_per_s",
        "commits per second (1 committer)",
        Unit::PerSecond,
        Better::Higher,
    ),
];

impl Workload for CommitLatency {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Durable single-row commit latency"
    }

    fn method(&self, sizes: &Sizes) -> String {
        format!(
            "One committer, one row per transaction (24-byte key, 150-byte value), {} timed commits \
             after {} untimed ones, per side and round, each round in a fresh database. The time is \
             from `begin_write` to `commit` returning (Kiln) and of one autocommit `INSERT` (SQLite). \
             `fdatasync` is `pwrite` of {RAW_WRITE_BYTES} bytes at the next offset of a file written \
             full of zeros and synced beforehand, then `fdatasync`: the physical limit. The three \
             sides run in one process, interleaved commit by commit (the order reverses every other round), \
             so they see the same moments of the disk, whose sync latency drifts within seconds; \
             for the same reason this workload reports no per-side memory.",
            sizes.commit_count, sizes.commit_warmup
        )
    }

    fn systems(&self) -> &'static [System] {
        &[System::Kiln, System::Sqlite, System::Fdatasync]
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn targets(&self, _sizes: &Sizes) -> Vec<Target> {
        vec![
            kiln_vs(
                "commit p50 vs raw fdatasync p50",
                NAME,
                "commit_p50_ns",
                System::Fdatasync,
                Relation::AtMost(1.2),
            ),
            kiln_vs(
                "commit p50 vs SQLite p50",
                NAME,
                "commit_p50_ns",
                System::Sqlite,
                Relation::AtMost(1.0),
            ),
        ]
    }

    fn measure_round(&self, ctx: &Ctx, round: usize, order: &[System]) -> Result<Vec<SideResult>> {
        let dir = ctx.empty_dir(&format!("{NAME}-r{}", round + 1))?;
        let mut spec = ctx.spec(NAME, Role::Measure, order[0], round, &dir);
        spec.arg = serde_json::to_value(order)?;
        let results = child::run_sides(&ctx.exe, &spec);
        ctx.discard(&dir);
        results
    }

    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>> {
        let order: Vec<System> = serde_json::from_value(spec.arg.clone())?;
        let total = (spec.sizes.commit_warmup + spec.sizes.commit_count) as u64;
        let warmup = spec.sizes.commit_warmup as u64;
        let mut sides = Vec::new();
        for &system in &order {
            let dir = spec.dir.join(system.key());
            std::fs::create_dir_all(&dir)?;
            sides.push((
                system,
                dir.clone(),
                Side::create(system, &dir, &spec.sizes)?,
            ));
        }
        let mut hists: Vec<Histogram> = order.iter().map(|_| Histogram::default()).collect();
        for i in 0..total {
            for ((_, _, side), hist) in sides.iter_mut().zip(&mut hists) {
                let started = Instant::now();
                side.commit(i)?;
                if i >= warmup {
                    hist.record(started.elapsed().as_nanos() as u64);
                }
            }
        }
        let mut results = Vec::new();
        for ((system, dir, side), hist) in sides.into_iter().zip(hists) {
            let mut m = Measurement::default();
            if let Side::Kiln(db, _) = &side {
                sides::kiln_counters(&mut m, "", &db.stats());
            }
            drop(side);
            check_last_row(system, &dir, spec.sizes.cache_size_bytes, total)?;
            let timed_s = hist.sum_ns().max(1) as f64 / 1e9;
            m.set("commits_per_s", hist.count() as f64 / timed_s);
            m.latency("commit", hist);
            results.push(SideResult {
                system,
                measurement: m,
            });
        }
        Ok(results)
    }
}

/// One side, ready to commit rows.
enum Side {
    Kiln(kiln::Database, kiln::Table),
    Sqlite(rusqlite::Connection),
    Raw(fs::File, Vec<u8>),
}

impl Side {
    fn create(system: System, dir: &Path, sizes: &Sizes) -> Result<Side> {
        Ok(match system {
            System::Kiln => {
                let config = sides::kiln_config(sizes.cache_size_bytes);
                let (db, table) = sides::kiln_create(dir, config)?;
                Side::Kiln(db, table)
            }
            System::Sqlite => {
                let conn = sides::sqlite_open(dir, sizes.cache_size_bytes, 1000)?;
                sides::sqlite_create(&conn)?;
                Side::Sqlite(conn)
            }
            System::Fdatasync => {
                let total = sizes.commit_warmup + sizes.commit_count;
                let path = dir.join("raw.dat");
                let file = preallocated_file(&path, total * RAW_WRITE_BYTES)?;
                Side::Raw(file, vec![0xA5; RAW_WRITE_BYTES])
            }
        })
    }

    /// One durable commit of row `i`.
    fn commit(&mut self, i: u64) -> Result<()> {
        match self {
            Side::Kiln(db, table) => {
                let mut tx = db.begin_write()?;
                sides::kiln_insert(&mut tx, table, i)?;
                tx.commit()?;
            }
            Side::Sqlite(conn) => {
                sides::sqlite_insert(conn, i)?;
            }
            Side::Raw(file, block) => {
                file.write_all_at(block, i * RAW_WRITE_BYTES as u64)?;
                file.sync_data()?;
            }
        }
        Ok(())
    }
}

/// Untimed: after closing the writer, every acknowledged row is there and the last one
/// reads back right (through a fresh open, so through recovery and the read path).
fn check_last_row(system: System, dir: &Path, cache: u64, total: u64) -> Result<()> {
    match system {
        System::Kiln => {
            let (db, table) = sides::kiln_open(dir, sides::kiln_config(cache))?;
            let rows = db.begin_read()?.scan(&table)?;
            if rows.len() as u64 != total {
                let n = rows.len();
                return Err(format!("Kiln: {n} rows after {total} acknowledged commits").into());
            }
            let (last_id, last) = rows.last().cloned().expect("rows");
            sides::kiln_check(Some(last), total - 1, last_id)
        }
        System::Sqlite => {
            let conn = sides::sqlite_open(dir, cache, 1000)?;
            sides::sqlite_read_check(&conn, total - 1, total)
        }
        System::Fdatasync => Ok(()),
    }
}

/// A file of `bytes` zeros, written (not just sized: extending a file or converting
/// unwritten extents costs a metadata update per sync) and synced with its metadata.
pub fn preallocated_file(path: &Path, bytes: usize) -> Result<fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < bytes {
        let len = (bytes - offset).min(zeros.len());
        file.write_all_at(&zeros[..len], offset as u64)?;
        offset += len;
    }
    file.sync_all()?;
    Ok(file)
}
