//! DDL telemetry that outlives the process: one row per (verb, outcome) in the system
//! relation `catalog_ddl_telemetry`, bumped in the same transaction as a successful
//! command (so the count is exact) and in a transaction of its own after a failed one.
//! `kiln diag` on a database nobody has open still shows per-verb trends.

use crate::catalog::system::DDL_TELEMETRY;
use crate::heap::{self, RowId};
use crate::page::{BufferPool, Snapshot};
use crate::txn::WriteContext;
use crate::value::{decode_row, encode_row, Value};
use crate::{StorageError, StorageResult};

/// One row of `catalog_ddl_telemetry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdlStatRow {
    pub verb: String,
    /// "success" or an error category label.
    pub outcome: String,
    pub count: u64,
    pub duration_ns: u64,
}

fn rows(pool: &BufferPool, snapshot: Snapshot) -> StorageResult<Vec<(RowId, DdlStatRow)>> {
    let mut scan = heap::Scan::new(pool, snapshot, DDL_TELEMETRY.id, DDL_TELEMETRY.root_page)?;
    let mut out = Vec::new();
    while let Some((row_id, bytes)) = scan.next_row()? {
        let bad = |detail: String| StorageError::corruption("catalog", row_id, detail);
        let values = decode_row(&bytes, DDL_TELEMETRY.types).map_err(|e| bad(e.0))?;
        let row = match values.as_slice() {
            [Value::Text(verb), Value::Text(outcome), Value::Int64(count), Value::Int64(duration)] => {
                DdlStatRow {
                    verb: verb.clone(),
                    outcome: outcome.clone(),
                    count: *count as u64,
                    duration_ns: *duration as u64,
                }
            }
            other => {
                return Err(bad(format!(
                    "malformed {} row {other:?}",
                    DDL_TELEMETRY.name
                )))
            }
        };
        out.push((row_id, row));
    }
    Ok(out)
}

/// Every persisted row, as `snapshot` sees them.
pub fn load(pool: &BufferPool, snapshot: Snapshot) -> StorageResult<Vec<DdlStatRow>> {
    Ok(rows(pool, snapshot)?.into_iter().map(|(_, r)| r).collect())
}

/// Adds one command with `outcome` and `duration_ns` to the persisted counts, inside
/// the transaction `ctx`.
pub fn bump(
    ctx: &mut WriteContext,
    verb: &str,
    outcome: &str,
    duration_ns: u64,
) -> StorageResult<()> {
    let existing = rows(ctx.pool(), Snapshot::Writer)?
        .into_iter()
        .find(|(_, r)| r.verb == verb && r.outcome == outcome);
    let (count, total) = existing
        .as_ref()
        .map_or((0, 0), |(_, r)| (r.count, r.duration_ns));
    let values = [
        Value::Text(verb.into()),
        Value::Text(outcome.into()),
        Value::Int64((count + 1) as i64),
        Value::Int64(total.saturating_add(duration_ns) as i64),
    ];
    let mut bytes = Vec::new();
    encode_row(&values, &mut bytes);
    ctx.with_heap(|pool, log| match existing {
        Some((row_id, _)) => heap::update(
            pool,
            log,
            DDL_TELEMETRY.root_page,
            DDL_TELEMETRY.id,
            row_id,
            &bytes,
        )
        .map(|_| ()),
        None => heap::insert(pool, log, DDL_TELEMETRY.root_page, &bytes).map(|_| ()),
    })
}
