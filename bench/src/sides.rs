//! How each side is opened and fed, in one place, so every workload treats them alike.
//!
//! Both sides store the same rows (see [`crate::data`]) in a table `kv(k, v)` with no
//! secondary index (Kiln has none yet), get the same page cache budget
//! (`cache_size_bytes`, SQLite's `PRAGMA cache_size`), and make every commit durable
//! before it returns (Kiln always; SQLite in WAL mode with `synchronous=FULL`).

use std::path::Path;

use kiln::env::Env;
use kiln::{ColumnSpec, ColumnType, Config, Database, DatabaseStats, Table, Value, WriteTxn};
use rusqlite::Connection;

use crate::data::{key, value, KEY_BYTES, VALUE_BYTES};
use crate::measure::Measurement;
use crate::Result;

pub const KILN_DATABASE: &str = "bench";
pub const TABLE: &str = "kv";
/// SQLite's file inside its directory.
pub const SQLITE_FILE: &str = "bench.sqlite";

pub fn kiln_config(cache_size_bytes: u64) -> Config {
    Config::default().with_cache_size_bytes(cache_size_bytes)
}

/// Creates the database in `dir` (which must not hold one) and its table.
pub fn kiln_create(dir: &Path, config: Config) -> Result<(Database, Table)> {
    let db = Database::open(Env::os(), dir, config)?;
    let mut tx = db.begin_write()?;
    tx.create_database(KILN_DATABASE)?;
    let columns = [
        ColumnSpec::new("k", ColumnType::Bytes, false),
        ColumnSpec::new("v", ColumnType::Bytes, false),
    ];
    let table = tx.create_table(KILN_DATABASE, kiln::DEFAULT_SCHEMA, TABLE, &columns)?;
    tx.commit()?;
    Ok((db, table))
}

/// Opens (recovering if needed) the database in `dir` and names its table.
pub fn kiln_open(dir: &Path, config: Config) -> Result<(Database, Table)> {
    let db = Database::open(Env::os(), dir, config.with_create_if_missing(false))?;
    let table = db
        .begin_read()?
        .table(KILN_DATABASE, kiln::DEFAULT_SCHEMA, TABLE)?;
    Ok((db, table))
}

pub fn kiln_insert(tx: &mut WriteTxn, table: &Table, i: u64) -> Result<u64> {
    let row = [
        Value::Bytes(key(i).to_vec()),
        Value::Bytes(value(i).to_vec()),
    ];
    Ok(tx.insert(table, &row)?)
}

/// Checks that what Kiln returned for row `i` (at `row_id`) is row `i`. The key is
/// compared byte for byte, the value by length (regenerating it would cost more than the
/// read being timed).
pub fn kiln_check(row: Option<Vec<Value>>, i: u64, row_id: u64) -> Result<()> {
    let row = row.ok_or_else(|| format!("Kiln lost row {i} (row id {row_id:#x})"))?;
    match row.as_slice() {
        [Value::Bytes(k), Value::Bytes(v)] if k[..] == key(i) && v.len() == VALUE_BYTES => Ok(()),
        _ => Err(
            format!("Kiln returned wrong data for row {i} (row id {row_id:#x}): {row:?}").into(),
        ),
    }
}

/// Kiln's own counters, for the "where the time goes" section.
pub fn kiln_counters(m: &mut Measurement, prefix: &str, stats: &DatabaseStats) {
    let mut put = |name: &str, v: u64| m.counter(&format!("{prefix}{name}"), v as f64);
    put("commits", stats.commits);
    put("wal_syncs", stats.wal_syncs);
    put("wal_flushes", stats.wal_flushes);
    put("wal_bytes_appended", stats.wal_bytes_appended);
    put("wal_flush_ns_total", stats.wal_flush_ns_total);
    put("wal_flush_ns_max", stats.wal_flush_ns_max);
    put("wal_segments_created", stats.wal_segments_created);
    put("checkpoints_completed", stats.checkpoints_completed);
    put("write_lock_wait_ns", stats.write_lock_wait_ns);
    put("pool_resident_pages", stats.pool.resident);
    put("pool_resident_max_pages", stats.pool.resident_max);
    put("pool_disk_reads", stats.pool.disk_reads);
    put("pool_spills", stats.pool.spills);
    put("pool_evictions", stats.pool.evictions);
    if let Some(c) = &stats.last_checkpoint {
        put("last_checkpoint_ns", c.duration_ns);
        put("last_checkpoint_pages_written", c.pages_written);
    }
    put("recovery_ns", stats.recovery.duration_ns);
    put("recovery_records_replayed", stats.recovery.records_replayed);
    // Derived, so the report reads without arithmetic.
    if let Some(mean) = stats.wal_flush_ns_total.checked_div(stats.wal_flushes) {
        put("wal_flush_ns_mean", mean);
    }
    if stats.wal_syncs > 0 {
        m.counter(
            &format!("{prefix}commits_per_wal_sync"),
            stats.commits as f64 / stats.wal_syncs as f64,
        );
    }
}

/// Opens SQLite at `dir/bench.sqlite` configured like Kiln: WAL, `synchronous=FULL`, the
/// same cache budget. `autocheckpoint` is SQLite's `wal_autocheckpoint` (its default is
/// 1000 pages; 0 turns it off, as the crash workload needs).
pub fn sqlite_open(dir: &Path, cache_size_bytes: u64, autocheckpoint: u32) -> Result<Connection> {
    let conn = Connection::open(dir.join(SQLITE_FILE))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode: {mode}").into());
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA cache_size=-{}; PRAGMA wal_autocheckpoint={autocheckpoint};",
        cache_size_bytes / 1024
    ))?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    Ok(conn)
}

pub fn sqlite_create(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE {TABLE}(k BLOB NOT NULL, v BLOB NOT NULL)"
    ))?;
    Ok(())
}

pub const SQLITE_INSERT: &str = "INSERT INTO kv(k, v) VALUES (?1, ?2)";
pub const SQLITE_SELECT: &str = "SELECT k, v FROM kv WHERE rowid = ?1";

/// Inserts row `i` with a prepared `SQLITE_INSERT`; returns its rowid.
pub fn sqlite_insert(conn: &Connection, i: u64) -> Result<u64> {
    let mut stmt = conn.prepare_cached(SQLITE_INSERT)?;
    stmt.execute((&key(i)[..], &value(i)[..]))?;
    Ok(conn.last_insert_rowid() as u64)
}

/// Reads and checks row `i` at `rowid`, as [`kiln_check`] does.
pub fn sqlite_read_check(conn: &Connection, i: u64, rowid: u64) -> Result<()> {
    let mut stmt = conn.prepare_cached(SQLITE_SELECT)?;
    let (k, v): (Vec<u8>, Vec<u8>) =
        stmt.query_row([rowid as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if k.len() != KEY_BYTES || k[..] != key(i) || v.len() != VALUE_BYTES {
        return Err(format!("SQLite returned wrong data for row {i} (rowid {rowid})").into());
    }
    Ok(())
}
