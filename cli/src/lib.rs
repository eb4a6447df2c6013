//! What `kiln` prints, kept apart from argument handling so tests can check the text
//! without a process: DDL responses one per line (human or JSON), and the
//! `storage_diagnostics` report as sections an operator reads top to bottom.
//! docs/storage.md explains every line of the report.

use std::fmt::Write;

use kiln::telemetry::VerbTelemetry;
use kiln::{DdlCommandResponse, StorageDiagnostics};

/// One response for a person: `CREATE TABLE: ok — created table "t" (table_id=1005, ...)`
/// on success; on failure `ERROR [category, SQLSTATE, severity]: message` and one
/// `  hint: ...` line per remediation hint. A failure names no verb, because a statement
/// that is not DDL carries a stand-in verb (see `kiln::ddl::sql::SqlStatement`).
pub fn render_response(response: &DdlCommandResponse) -> String {
    if response.success {
        let result = response
            .result
            .as_ref()
            .map(render_value)
            .unwrap_or_default();
        let result = if result.is_empty() {
            String::new()
        } else {
            format!(" ({result})")
        };
        return format!("{}: ok — {}{result}", response.verb.sql(), response.message);
    }
    let category = response.error.map_or("unknown", |c| c.label());
    let sqlstate = response.sqlstate.unwrap_or("?????");
    let mut out = format!(
        "ERROR [{category}, {sqlstate}, {:?}]: {}",
        response.severity, response.message
    );
    for hint in &response.remediation_hints {
        let _ = write!(out, "\n  hint: {hint}");
    }
    out
}

/// One response as one line of JSON, the `DdlCommandResponse` as serde serializes it.
pub fn render_response_json(response: &DdlCommandResponse) -> String {
    serde_json::to_string(response).expect("a DdlCommandResponse always serializes")
}

/// A result payload as `key=value` pairs: `table_id=1005, column_ids=[1006, 1007]`.
fn render_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", render_nested(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => render_nested(other),
    }
}

fn render_nested(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(_) => format!("{{{}}}", render_value(value)),
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(render_nested)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Nanoseconds as milliseconds with three decimals: "1.234 ms".
fn ms(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, (ns / 1_000) % 1_000)
}

/// The `storage_diagnostics` report for a person, section by section.
pub fn render_diagnostics(d: &StorageDiagnostics) -> String {
    let mut out = String::new();
    health(&mut out, d);
    ddl(&mut out, d);
    catalog(&mut out, d);
    wal(&mut out, d);
    locks(&mut out, d);
    checkpoint(&mut out, d);
    recovery(&mut out, d);
    buffer_pool(&mut out, d);
    out
}

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {key:<30} {value}");
}

fn health(out: &mut String, d: &StorageDiagnostics) {
    out.push_str("health\n");
    let failed = if d.health.failed {
        "YES: an I/O failure stopped the engine; reopen to recover"
    } else {
        "no"
    };
    line(out, "failed state", failed);
    match &d.health.integrity_problems {
        None => line(out, "integrity", "not checked (run with --check)"),
        Some(problems) if problems.is_empty() => line(out, "integrity", "ok (no problems found)"),
        Some(problems) => {
            line(out, "integrity", format!("{} PROBLEM(S)", problems.len()));
            for problem in problems {
                let _ = writeln!(out, "    - {problem}");
            }
        }
    }
}

fn ddl(out: &mut String, d: &StorageDiagnostics) {
    out.push_str("\nDDL (all processes; max is this process's)\n");
    if d.ddl.verbs.is_empty() {
        out.push_str("  no DDL recorded\n");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<16} {:>8} {:>9} {:>8} {:>12} {:>12}  failures by category",
        "verb", "attempts", "successes", "failures", "avg", "max"
    );
    for (verb, v) in &d.ddl.verbs {
        let _ = writeln!(
            out,
            "  {verb:<16} {:>8} {:>9} {:>8} {:>12} {:>12}  {}",
            v.attempts,
            v.successes,
            v.failures,
            ms(v.duration_ns_total / v.attempts.max(1)),
            ms(v.duration_ns_max),
            taxonomy(v)
        );
    }
}

fn taxonomy(v: &VerbTelemetry) -> String {
    if v.failures_by_category.is_empty() {
        return "-".into();
    }
    v.failures_by_category
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn catalog(out: &mut String, d: &StorageDiagnostics) {
    let c = &d.catalog;
    out.push_str("\ncatalog\n");
    line(out, "epoch", c.epoch);
    line(
        out,
        "objects",
        format!(
            "{} databases, {} schemas, {} tables, {} indexes",
            c.databases, c.schemas, c.tables, c.indexes
        ),
    );
    line(
        out,
        "catalog_mutation_records",
        format!("{} (this process)", c.catalog_mutation_records),
    );
    line(
        out,
        "published batches",
        format!(
            "{} (this process), {} unconsumed",
            c.published_batches, c.unconsumed_batches
        ),
    );
}

fn wal(out: &mut String, d: &StorageDiagnostics) {
    let w = &d.wal;
    out.push_str("\nWAL (counters: this process)\n");
    line(out, "durable LSN", w.durable_lsn);
    line(out, "last commit LSN", w.last_commit_lsn);
    line(
        out,
        "commits / aborts",
        format!("{} / {}", w.commits, w.aborts),
    );
    line(
        out,
        "flushes / syncs",
        format!("{} / {}", w.flushes, w.syncs),
    );
    line(
        out,
        "flush time avg / max",
        format!(
            "{} / {}",
            ms(w.flush_ns_total / w.flushes.max(1)),
            ms(w.flush_ns_max)
        ),
    );
    line(out, "bytes appended", w.bytes_appended);
    let segments: Vec<String> = w.segments.iter().map(u64::to_string).collect();
    line(
        out,
        "segments present",
        format!("{} [{}]", w.segments.len(), segments.join(", ")),
    );
    line(
        out,
        "segments created / removed",
        format!("{} / {}", w.segments_created, w.segments_removed),
    );
    line(out, "retention_segments", w.retention_segments);
}

fn locks(out: &mut String, d: &StorageDiagnostics) {
    let l = &d.locks;
    out.push_str("\nlocks and fences (one writer; readers never block)\n");
    line(out, "write lock wait (total)", ms(l.write_lock_wait_ns));
    line(out, "checkpoint fence wait (total)", ms(l.fence_wait_ns));
    line(out, "open snapshots", l.open_snapshots);
}

fn checkpoint(out: &mut String, d: &StorageDiagnostics) {
    let c = &d.checkpoint;
    out.push_str("\ncheckpoint\n");
    line(out, "sequence", c.sequence);
    line(out, "last checkpoint LSN", c.last_checkpoint_lsn);
    line(
        out,
        "completed / failed",
        format!("{} / {} (this process)", c.completed, c.failed),
    );
    line(
        out,
        "last checkpoint",
        format!(
            "{}, {} pages written",
            ms(c.last_duration_ns),
            c.last_pages_written
        ),
    );
    line(
        out,
        "replay backlog",
        format!("{} records", c.replay_backlog_records),
    );
}

fn recovery(out: &mut String, d: &StorageDiagnostics) {
    let r = &d.recovery;
    out.push_str("\nrecovery (when this process opened the database)\n");
    line(out, "LSN range", format!("{}..{}", r.start_lsn, r.end_lsn));
    line(out, "records replayed", r.records_replayed);
    line(out, "pages to redo", r.pages_to_redo);
    line(out, "transactions committed", r.transactions_committed);
    line(out, "transactions discarded", r.transactions_discarded);
    line(out, "stale segments removed", r.stale_segments_removed);
    line(out, "duration", ms(r.duration_ns));
}

fn buffer_pool(out: &mut String, d: &StorageDiagnostics) {
    let p = &d.buffer_pool;
    out.push_str("\nbuffer pool\n");
    line(out, "pages", p.pages);
    line(
        out,
        "resident / max",
        format!("{} / {}", p.resident, p.resident_max),
    );
    line(out, "dirty", p.dirty);
    line(out, "disk reads", p.disk_reads);
    line(
        out,
        "spills / evictions",
        format!("{} / {}", p.spills, p.evictions),
    );
    line(
        out,
        "redo pending / done",
        format!("{} / {}", p.redo_pending, p.redone),
    );
    line(
        out,
        "spill slots total / free",
        format!("{} / {}", p.slots_total, p.slots_free),
    );
}
