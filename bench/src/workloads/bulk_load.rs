//! Bulk load: a million rows in one transaction, and the memory it takes.
//!
//! The same loader prepares the point-read data set (role `Prepare`), which then also
//! writes the row ids for the readers and closes the database cleanly.

use std::time::Instant;

use crate::child::{ChildSpec, Role, SideResult};
use crate::data::{self, RssProbe, SplitMix64};
use crate::measure::{Better, Measurement, MetricDef, System, Unit};
use crate::options::Sizes;
use crate::sides;
use crate::workloads::{kiln_vs, memory_target, Relation, Target, Workload};
use crate::Result;

pub const NAME: &str = "bulk_load";
/// Where a loader writes the row ids of the rows it loaded, in its directory.
pub const IDS_FILE: &str = "ids.bin";
/// Rows read back (untimed) after a load to check it.
const SPOT_CHECKS: u64 = 1000;

pub struct BulkLoad;

const METRICS: &[MetricDef] = &[
    MetricDef::new(
        "rows_per_s",
        "rows loaded per second",
        Unit::PerSecond,
        Better::Higher,
    ),
    MetricDef::new(
        "load_ns",
        "load time (begin to durable commit)",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "insert_ns",
        "of which inserting",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "commit_ns",
        "of which committing (with checkpoint)",
        Unit::Nanoseconds,
        Better::Lower,
    ),
];

impl Workload for BulkLoad {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Bulk load in one transaction"
    }

    fn method(&self, sizes: &Sizes) -> String {
        format!(
            "{} rows (24-byte key, 150-byte value) inserted in one transaction into a fresh \
             database, timed from `begin_write` (SQLite: `BEGIN`) to the durable commit returning, \
             including any checkpoint the commit triggers (Kiln's automatic one at 64 MiB of WAL, \
             SQLite's `wal_autocheckpoint` at 1000 pages).",
            sizes.bulk_rows
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
                "bulk load rows/s vs SQLite",
                NAME,
                "rows_per_s",
                System::Sqlite,
                Relation::AtLeast(1.5),
            ),
            memory_target(
                "bulk load: Kiln RSS over the harness within its bound",
                NAME,
                sizes,
            ),
        ]
    }

    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>> {
        let rows = match spec.role {
            Role::Prepare => spec.sizes.read_rows,
            _ => spec.sizes.bulk_rows,
        };
        let (m, ids) = load(spec, rows)?;
        if spec.role == Role::Prepare {
            data::write_ids(&spec.dir.join(IDS_FILE), &ids)?;
        }
        Ok(vec![SideResult {
            system: spec.system,
            measurement: m,
        }])
    }
}

/// Loads `rows` rows in one transaction; returns the measurement and the row ids.
fn load(spec: &ChildSpec, rows: u64) -> Result<(Measurement, Vec<u64>)> {
    // Resident before the baseline, so the harness's own buffer is not charged to a side.
    let mut ids = vec![0u64; rows as usize];
    let probe = RssProbe::start();
    let mut m = Measurement::default();
    let cache = spec.sizes.cache_size_bytes;
    let (inserted, elapsed) = match spec.system {
        System::Kiln => {
            let (db, table) = sides::kiln_create(&spec.dir, sides::kiln_config(cache))?;
            let started = Instant::now();
            let mut tx = db.begin_write()?;
            for (i, id) in ids.iter_mut().enumerate() {
                *id = sides::kiln_insert(&mut tx, &table, i as u64)?;
            }
            let inserted = started.elapsed();
            tx.commit()?;
            let elapsed = started.elapsed();
            sides::kiln_counters(&mut m, "", &db.stats());
            let read = db.begin_read()?;
            spot_check(&ids, |i, id| {
                sides::kiln_check(read.get(&table, id)?, i, id)
            })?;
            drop(read);
            if spec.role == Role::Prepare {
                db.close()?;
            }
            (inserted, elapsed)
        }
        System::Sqlite => {
            let conn = sides::sqlite_open(&spec.dir, cache, 1000)?;
            sides::sqlite_create(&conn)?;
            let started = Instant::now();
            conn.execute_batch("BEGIN")?;
            for (i, id) in ids.iter_mut().enumerate() {
                *id = sides::sqlite_insert(&conn, i as u64)?;
            }
            let inserted = started.elapsed();
            conn.execute_batch("COMMIT")?;
            let elapsed = started.elapsed();
            spot_check(&ids, |i, id| sides::sqlite_read_check(&conn, i, id))?;
            (inserted, elapsed)
        }
        System::Fdatasync => unreachable!("bulk load has no raw side"),
    };
    m.set("rows_per_s", rows as f64 / elapsed.as_secs_f64());
    m.set("load_ns", elapsed.as_nanos() as f64);
    m.set("insert_ns", inserted.as_nanos() as f64);
    m.set("commit_ns", (elapsed - inserted).as_nanos() as f64);
    m.rss = Some(probe.finish());
    Ok((m, ids))
}

/// Reads back the first, the last and some random rows (untimed).
fn spot_check(ids: &[u64], mut check: impl FnMut(u64, u64) -> Result<()>) -> Result<()> {
    let n = ids.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let mut rng = SplitMix64::new(7);
    let picks = [0, n - 1]
        .into_iter()
        .chain((0..SPOT_CHECKS).map(|_| rng.below(n)));
    for i in picks {
        check(i, ids[i as usize])?;
    }
    Ok(())
}
