//! Telemetry: the `StorageTelemetryRegistry` with its `DdlCommandTelemetry` sampler, and
//! the `storage_diagnostics` report (JSON and Prometheus text exposition) that operators
//! read with `kiln diag`. docs/storage.md lists every name and what to do when it moves.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use serde::Serialize;

/// Per-verb DDL counters. Counts include earlier processes (they are seeded from the
/// `catalog_ddl_telemetry` relation at open); durations are summed the same way, maxima
/// are this process's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DdlCommandTelemetry {
    /// Keyed by the verb's SQL spelling ("CREATE TABLE").
    pub verbs: BTreeMap<String, VerbTelemetry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerbTelemetry {
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// The failure taxonomy: failures by error category.
    pub failures_by_category: BTreeMap<String, u64>,
    pub duration_ns_total: u64,
    pub duration_ns_max: u64,
}

impl DdlCommandTelemetry {
    /// Adds `count` commands of `verb` with `outcome` ("success" or a category label).
    pub fn add(&mut self, verb: &str, outcome: &str, count: u64, duration_ns_total: u64) {
        let v = self.verbs.entry(verb.to_string()).or_default();
        v.attempts += count;
        if outcome == "success" {
            v.successes += count;
        } else {
            v.failures += count;
            *v.failures_by_category
                .entry(outcome.to_string())
                .or_insert(0) += count;
        }
        v.duration_ns_total = v.duration_ns_total.saturating_add(duration_ns_total);
    }
}

/// Where samplers register. One per open database.
#[derive(Debug, Default)]
pub struct StorageTelemetryRegistry {
    ddl: Mutex<DdlCommandTelemetry>,
}

impl StorageTelemetryRegistry {
    /// Records one DDL dispatch.
    pub fn record_ddl(&self, verb: &str, outcome: &str, duration_ns: u64) {
        let mut ddl = self.ddl.lock().expect("telemetry lock");
        ddl.add(verb, outcome, 1, duration_ns);
        let v = ddl.verbs.get_mut(verb).expect("just added");
        v.duration_ns_max = v.duration_ns_max.max(duration_ns);
    }

    /// Seeds the counters with what earlier processes recorded.
    pub fn seed_ddl(&self, verb: &str, outcome: &str, count: u64, duration_ns_total: u64) {
        self.ddl
            .lock()
            .expect("telemetry lock")
            .add(verb, outcome, count, duration_ns_total);
    }

    /// A copy of the DDL sampler.
    pub fn ddl(&self) -> DdlCommandTelemetry {
        self.ddl.lock().expect("telemetry lock").clone()
    }
}

/// The `storage_diagnostics` report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StorageDiagnostics {
    pub health: HealthSection,
    pub ddl: DdlCommandTelemetry,
    pub catalog: CatalogSection,
    pub wal: WalSection,
    pub locks: LockSection,
    pub checkpoint: CheckpointSection,
    pub recovery: RecoverySection,
    pub buffer_pool: PoolSection,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthSection {
    /// An earlier write or sync failed; every call fails until the database is reopened.
    pub failed: bool,
    /// Problems `check_integrity` found (empty when healthy, absent when not run).
    pub integrity_problems: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CatalogSection {
    pub epoch: u64,
    pub databases: u64,
    pub schemas: u64,
    pub tables: u64,
    pub indexes: u64,
    /// WAL records written for catalog mutations (the `WalRecordFragment::Catalog*`
    /// kinds) by this process.
    pub catalog_mutation_records: u64,
    /// Catalog batches committed and published by this process.
    pub published_batches: u64,
    /// Published batches no consumer has taken yet.
    pub unconsumed_batches: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WalSection {
    pub durable_lsn: u64,
    pub last_commit_lsn: u64,
    pub commits: u64,
    pub aborts: u64,
    pub flushes: u64,
    pub syncs: u64,
    pub flush_ns_total: u64,
    pub flush_ns_max: u64,
    pub bytes_appended: u64,
    /// Segment files present, oldest first.
    pub segments: Vec<u64>,
    pub segments_created: u64,
    pub segments_removed: u64,
    pub retention_segments: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LockSection {
    /// Time writers spent waiting for the write lock.
    pub write_lock_wait_ns: u64,
    /// Time checkpoints spent waiting to fence writers.
    pub fence_wait_ns: u64,
    pub open_snapshots: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckpointSection {
    /// The manifest's checkpoint sequence number.
    pub sequence: u64,
    /// Redo after a crash starts at this LSN: the last successful checkpoint.
    pub last_checkpoint_lsn: u64,
    pub completed: u64,
    pub failed: u64,
    pub last_duration_ns: u64,
    pub last_pages_written: u64,
    /// WAL records after the last checkpoint's redo LSN that are durable: what recovery
    /// would replay if the machine stopped now.
    pub replay_backlog_records: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RecoverySection {
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub records_replayed: u64,
    /// Pages those records change; each is brought up to date on its first touch.
    pub pages_to_redo: u64,
    pub transactions_committed: u64,
    pub transactions_discarded: u64,
    pub stale_segments_removed: u64,
    pub duration_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PoolSection {
    pub pages: u64,
    pub resident: u64,
    pub resident_max: u64,
    pub dirty: u64,
    pub disk_reads: u64,
    pub spills: u64,
    pub evictions: u64,
    /// Pages recovery handed over whose log records are not applied yet.
    pub redo_pending: u64,
    /// Pages whose log records have been applied since open.
    pub redone: u64,
    pub slots_total: u64,
    pub slots_free: u64,
}

impl StorageDiagnostics {
    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("diagnostics serialize")
    }

    /// The report in the Prometheus text exposition format.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        self.ddl_metrics(&mut out);
        let gauges: [(&str, &str, u64); 30] = [
            (
                "kiln_failed",
                "1 if an I/O failure put the database in its failed state",
                u64::from(self.health.failed),
            ),
            ("kiln_catalog_epoch", "catalog epoch", self.catalog.epoch),
            (
                "kiln_catalog_databases",
                "databases",
                self.catalog.databases,
            ),
            ("kiln_catalog_schemas", "schemas", self.catalog.schemas),
            ("kiln_catalog_tables", "tables", self.catalog.tables),
            ("kiln_catalog_indexes", "indexes", self.catalog.indexes),
            (
                "kiln_catalog_unconsumed_batches",
                "published catalog batches no consumer has taken",
                self.catalog.unconsumed_batches,
            ),
            (
                "kiln_catalog_mutation_records_total",
                "WAL records written for catalog mutations",
                self.catalog.catalog_mutation_records,
            ),
            (
                "kiln_catalog_published_batches_total",
                "catalog batches published",
                self.catalog.published_batches,
            ),
            (
                "kiln_wal_durable_lsn",
                "every record below this LSN is durable",
                self.wal.durable_lsn,
            ),
            ("kiln_wal_commits_total", "commits", self.wal.commits),
            ("kiln_wal_aborts_total", "aborts", self.wal.aborts),
            (
                "kiln_wal_flushes_total",
                "WAL flushes (group commits)",
                self.wal.flushes,
            ),
            ("kiln_wal_syncs_total", "WAL file syncs", self.wal.syncs),
            (
                "kiln_wal_flush_ns_total",
                "time spent in WAL flushes",
                self.wal.flush_ns_total,
            ),
            (
                "kiln_wal_flush_ns_max",
                "longest WAL flush",
                self.wal.flush_ns_max,
            ),
            (
                "kiln_wal_bytes_appended_total",
                "WAL bytes appended",
                self.wal.bytes_appended,
            ),
            (
                "kiln_wal_segments",
                "WAL segment files present",
                self.wal.segments.len() as u64,
            ),
            (
                "kiln_lock_write_wait_ns_total",
                "time writers waited for the write lock",
                self.locks.write_lock_wait_ns,
            ),
            (
                "kiln_lock_fence_wait_ns_total",
                "time checkpoints waited to fence writers",
                self.locks.fence_wait_ns,
            ),
            (
                "kiln_snapshots_open",
                "open read snapshots",
                self.locks.open_snapshots,
            ),
            (
                "kiln_checkpoint_last_lsn",
                "redo LSN of the last successful checkpoint",
                self.checkpoint.last_checkpoint_lsn,
            ),
            (
                "kiln_checkpoints_total",
                "checkpoints completed",
                self.checkpoint.completed,
            ),
            (
                "kiln_checkpoint_failures_total",
                "checkpoints failed",
                self.checkpoint.failed,
            ),
            (
                "kiln_checkpoint_replay_backlog_records",
                "WAL records after the last checkpoint: what recovery would read now",
                self.checkpoint.replay_backlog_records,
            ),
            (
                "kiln_recovery_records_replayed",
                "WAL records of committed transactions the last recovery redoes",
                self.recovery.records_replayed,
            ),
            (
                "kiln_recovery_duration_ns",
                "duration of the last recovery",
                self.recovery.duration_ns,
            ),
            (
                "kiln_recovery_transactions_discarded",
                "transactions the last recovery discarded (no commit record)",
                self.recovery.transactions_discarded,
            ),
            (
                "kiln_pool_dirty_pages",
                "pages changed since the last checkpoint",
                self.buffer_pool.dirty,
            ),
            (
                "kiln_pool_resident_pages",
                "page bodies in memory",
                self.buffer_pool.resident,
            ),
        ];
        for (name, help, value) in gauges {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }

    fn ddl_metrics(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP kiln_ddl_attempts_total DDL commands attempted, by verb"
        );
        let _ = writeln!(out, "# TYPE kiln_ddl_attempts_total counter");
        for (verb, v) in &self.ddl.verbs {
            let _ = writeln!(
                out,
                "kiln_ddl_attempts_total{{verb=\"{verb}\"}} {}",
                v.attempts
            );
        }
        let _ = writeln!(
            out,
            "# HELP kiln_ddl_successes_total DDL commands that succeeded, by verb"
        );
        let _ = writeln!(out, "# TYPE kiln_ddl_successes_total counter");
        for (verb, v) in &self.ddl.verbs {
            let _ = writeln!(
                out,
                "kiln_ddl_successes_total{{verb=\"{verb}\"}} {}",
                v.successes
            );
        }
        let _ = writeln!(
            out,
            "# HELP kiln_ddl_failures_total DDL commands that failed, by verb and error category"
        );
        let _ = writeln!(out, "# TYPE kiln_ddl_failures_total counter");
        for (verb, v) in &self.ddl.verbs {
            for (category, n) in &v.failures_by_category {
                let _ = writeln!(
                    out,
                    "kiln_ddl_failures_total{{verb=\"{verb}\",category=\"{category}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP kiln_ddl_duration_ns_total time spent in DDL commands, by verb"
        );
        let _ = writeln!(out, "# TYPE kiln_ddl_duration_ns_total counter");
        for (verb, v) in &self.ddl.verbs {
            let _ = writeln!(
                out,
                "kiln_ddl_duration_ns_total{{verb=\"{verb}\"}} {}",
                v.duration_ns_total
            );
        }
    }
}
