//! Reopen after a crash with about 100 MiB of WAL since the last checkpoint.
//!
//! Per side and round: a writer child creates a database with checkpoints off (Kiln:
//! `checkpoint_wal_bytes = 0`; SQLite: `wal_autocheckpoint = 0`), commits batches of rows
//! until the WAL holds the target size, says ready after its last commit returned, and
//! is SIGKILLed. A second, fresh child then times opening the database (recovery) and the
//! first read, which must return the last acknowledged row; a spot check of other rows
//! follows, untimed.
//!
//! Page cache: the WAL the writer just wrote is still in the OS page cache for both sides.
//! Caches are not dropped: `drop_caches` needs root, is system-wide, and would disturb
//! everything else running on the machine. So this measures recovery's CPU work and its
//! writes and syncs, not cold reads from the device.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::child::{self, ChildSpec, Role, SideResult};
use crate::data::{self, RssProbe, SplitMix64};
use crate::measure::{Better, Measurement, MetricDef, System, Unit};
use crate::options::Sizes;
use crate::sides;
use crate::workloads::{kiln_vs, Ctx, Relation, Target, Workload};
use crate::Result;

pub const NAME: &str = "reopen_after_crash";
const IDS_FILE: &str = "ids.bin";
/// Rows checked (untimed) after the first read.
const SPOT_CHECKS: u64 = 1000;

pub struct ReopenAfterCrash;

const METRICS: &[MetricDef] = &[
    MetricDef::new(
        "reopen_ns",
        "open + first read after the crash",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "open_ns",
        "open (recovery) alone",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "first_read_ns",
        "first read after open",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    MetricDef::new(
        "wal_bytes",
        "WAL since the last checkpoint at the crash",
        Unit::Bytes,
        Better::Neither,
    ),
    MetricDef::new(
        "rows",
        "rows committed before the crash",
        Unit::Count,
        Better::Neither,
    ),
];

/// What the writer reports before it is killed.
#[derive(Debug, Serialize, Deserialize)]
struct WriterReport {
    rows: u64,
    wal_bytes: u64,
}

impl Workload for ReopenAfterCrash {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Reopen after a crash with ~100 MiB of WAL"
    }

    fn method(&self, sizes: &Sizes) -> String {
        format!(
            "A writer process commits {}-row transactions with checkpoints off (Kiln \
             `checkpoint_wal_bytes = 0`, SQLite `wal_autocheckpoint = 0`) until the WAL since the \
             last checkpoint holds {} MiB (Kiln: bytes appended; SQLite: size of the -wal file), \
             prints ready after its last commit returned, and is killed with SIGKILL. A fresh \
             process then times the open and the first read (the last acknowledged row, checked), \
             and checks {SPOT_CHECKS} more rows untimed. The WAL is still in the OS page cache for \
             both sides: caches are not dropped (`drop_caches` needs root, is system-wide, and \
             would disturb everything else on the machine), so this is recovery's CPU work and \
             syncs, not cold reads.",
            sizes.reopen_batch_rows,
            sizes.reopen_wal_bytes >> 20
        )
    }

    fn systems(&self) -> &'static [System] {
        &[System::Kiln, System::Sqlite]
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn targets(&self, _sizes: &Sizes) -> Vec<Target> {
        vec![kiln_vs(
            "reopen after crash vs SQLite",
            NAME,
            "reopen_ns",
            System::Sqlite,
            Relation::AtMost(1.0),
        )]
    }

    fn measure(&self, ctx: &Ctx, system: System, round: usize) -> Result<Measurement> {
        let dir = ctx.fresh_dir(NAME, system, round)?;
        let writer = ctx.spec(NAME, Role::CrashWriter, system, round, &dir);
        let report = child::run_and_kill(&ctx.exe, &writer)?;
        let mut reopen = ctx.spec(NAME, Role::Measure, system, round, &dir);
        reopen.arg = report;
        let m = child::run(&ctx.exe, &reopen);
        ctx.discard(&dir);
        m
    }

    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>> {
        match spec.role {
            Role::CrashWriter => {
                match spec.system {
                    System::Kiln => write_kiln(spec)?,
                    _ => write_sqlite(spec)?,
                }
                Ok(Vec::new())
            }
            _ => Ok(vec![SideResult {
                system: spec.system,
                measurement: reopen(spec)?,
            }]),
        }
    }
}

/// Writes, then says ready and waits for SIGKILL with the database still open: a handle
/// dropped before the kill could checkpoint (SQLite does on closing its last connection)
/// and leave nothing to recover.
fn write_kiln(spec: &ChildSpec) -> Result<()> {
    let config = sides::kiln_config(spec.sizes.cache_size_bytes).with_checkpoint_wal_bytes(0);
    let (db, table) = sides::kiln_create(&spec.dir, config)?;
    let wal_start = db.stats().wal_bytes_appended;
    let mut ids = Vec::new();
    let mut wal_bytes = 0;
    while wal_bytes < spec.sizes.reopen_wal_bytes {
        let mut tx = db.begin_write()?;
        for _ in 0..spec.sizes.reopen_batch_rows {
            ids.push(sides::kiln_insert(&mut tx, &table, ids.len() as u64)?);
        }
        tx.commit()?;
        wal_bytes = db.stats().wal_bytes_appended - wal_start;
    }
    data::write_ids(&spec.dir.join(IDS_FILE), &ids)?;
    let report = WriterReport {
        rows: ids.len() as u64,
        wal_bytes,
    };
    child::ready_and_wait(&serde_json::to_value(report)?)?;
    drop(db);
    Ok(())
}

/// As [`write_kiln`].
fn write_sqlite(spec: &ChildSpec) -> Result<()> {
    let conn = sides::sqlite_open(&spec.dir, spec.sizes.cache_size_bytes, 0)?;
    sides::sqlite_create(&conn)?;
    let wal = spec.dir.join(format!("{}-wal", sides::SQLITE_FILE));
    let mut ids = Vec::new();
    let mut wal_bytes = 0;
    while wal_bytes < spec.sizes.reopen_wal_bytes {
        conn.execute_batch("BEGIN")?;
        for _ in 0..spec.sizes.reopen_batch_rows {
            ids.push(sides::sqlite_insert(&conn, ids.len() as u64)?);
        }
        conn.execute_batch("COMMIT")?;
        wal_bytes = std::fs::metadata(&wal)?.len();
    }
    data::write_ids(&spec.dir.join(IDS_FILE), &ids)?;
    let report = WriterReport {
        rows: ids.len() as u64,
        wal_bytes,
    };
    child::ready_and_wait(&serde_json::to_value(report)?)?;
    drop(conn);
    Ok(())
}

/// Times open + first read in this fresh process, then checks more rows.
fn reopen(spec: &ChildSpec) -> Result<Measurement> {
    let writer: WriterReport = serde_json::from_value(spec.arg.clone())?;
    let ids = data::read_ids(&spec.dir.join(IDS_FILE))?;
    if ids.len() as u64 != writer.rows || ids.is_empty() {
        return Err(format!(
            "writer reported {} rows, its id file has {}",
            writer.rows,
            ids.len()
        )
        .into());
    }
    check_wal_survived(spec, &writer)?;
    let probe = RssProbe::start();
    let mut m = Measurement::default();
    let last = ids.len() as u64 - 1;
    let cache = spec.sizes.cache_size_bytes;
    let mut rng = SplitMix64::new(11);
    let picks: Vec<u64> = (0..SPOT_CHECKS).map(|_| rng.below(last + 1)).collect();
    let started = Instant::now();
    let (open_ns, first_read_ns) = match spec.system {
        System::Kiln => {
            let (db, table) = sides::kiln_open(&spec.dir, sides::kiln_config(cache))?;
            let opened = started.elapsed();
            let read = db.begin_read()?;
            sides::kiln_check(
                read.get(&table, ids[last as usize])?,
                last,
                ids[last as usize],
            )?;
            let first = started.elapsed() - opened;
            for &i in &picks {
                sides::kiln_check(read.get(&table, ids[i as usize])?, i, ids[i as usize])?;
            }
            drop(read);
            let stats = db.stats();
            if stats.recovery.records_replayed == 0 {
                return Err("Kiln replayed nothing: the crash left no WAL to recover".into());
            }
            sides::kiln_counters(&mut m, "", &stats);
            (opened, first)
        }
        _ => {
            let conn = sides::sqlite_open(&spec.dir, cache, 0)?;
            let opened = started.elapsed();
            sides::sqlite_read_check(&conn, last, ids[last as usize])?;
            let first = started.elapsed() - opened;
            for &i in &picks {
                sides::sqlite_read_check(&conn, i, ids[i as usize])?;
            }
            // Closing the last connection would checkpoint the whole WAL: not part of
            // reopening, and the directory is deleted next.
            std::mem::forget(conn);
            (opened, first)
        }
    };
    m.set("open_ns", open_ns.as_nanos() as f64);
    m.set("first_read_ns", first_read_ns.as_nanos() as f64);
    m.set("reopen_ns", (open_ns + first_read_ns).as_nanos() as f64);
    m.set("wal_bytes", writer.wal_bytes as f64);
    m.set("rows", writer.rows as f64);
    m.rss = Some(probe.finish());
    Ok(m)
}

/// The measurement is only honest if the crash left the WAL behind: a writer that closed
/// its database before the kill would have checkpointed it away (SQLite deletes the -wal
/// file when its last connection closes).
fn check_wal_survived(spec: &ChildSpec, writer: &WriterReport) -> Result<()> {
    if spec.system != System::Sqlite {
        return Ok(()); // Kiln: checked through its recovery counters after the open.
    }
    let wal = spec.dir.join(format!("{}-wal", sides::SQLITE_FILE));
    let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    if len < writer.wal_bytes {
        return Err(format!(
            "SQLite's WAL is {len} bytes after the crash, the writer left {}",
            writer.wal_bytes
        )
        .into());
    }
    Ok(())
}
