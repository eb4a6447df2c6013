//! Collects the `storage_diagnostics` report from every layer's counters.

use std::sync::atomic::Ordering::Relaxed;

use crate::engine::Database;
use crate::telemetry::{
    CatalogSection, CheckpointSection, HealthSection, LockSection, PoolSection, RecoverySection,
    StorageDiagnostics, WalSection,
};
use crate::wal::reader::list_segments;

pub(crate) fn collect(
    db: &Database,
    integrity_problems: Option<Vec<String>>,
) -> StorageDiagnostics {
    let txns = db.txns();
    let stats = db.stats();
    let catalog = txns.newest_catalog();
    let checkpointer = db.checkpointer();
    let last = stats.last_checkpoint.unwrap_or_default();
    StorageDiagnostics {
        health: HealthSection {
            failed: stats.failed,
            integrity_problems,
        },
        ddl: db.telemetry().ddl(),
        catalog: CatalogSection {
            epoch: catalog.epoch,
            databases: catalog.databases().count() as u64,
            schemas: catalog.schemas().count() as u64,
            tables: catalog.tables().count() as u64,
            indexes: catalog.indexes().count() as u64,
            catalog_mutation_records: txns.stats.catalog_records.load(Relaxed),
            published_batches: txns.stats.published_batches.load(Relaxed),
            unconsumed_batches: txns.unconsumed_batches() as u64,
        },
        wal: WalSection {
            durable_lsn: stats.durable_lsn,
            last_commit_lsn: stats.last_commit_lsn,
            commits: stats.commits,
            aborts: stats.aborts,
            flushes: stats.wal_flushes,
            syncs: stats.wal_syncs,
            flush_ns_total: stats.wal_flush_ns_total,
            flush_ns_max: stats.wal_flush_ns_max,
            bytes_appended: stats.wal_bytes_appended,
            segments: list_segments(&*db.env().vfs, db.dir()).unwrap_or_default(),
            segments_created: stats.wal_segments_created,
            segments_removed: stats.wal_segments_removed,
            retention_segments: db.config().retention_segments,
        },
        locks: LockSection {
            write_lock_wait_ns: stats.write_lock_wait_ns,
            fence_wait_ns: stats.fence_wait_ns,
            open_snapshots: stats.open_snapshots,
        },
        checkpoint: CheckpointSection {
            sequence: checkpointer.sequence(),
            last_checkpoint_lsn: checkpointer.redo_lsn(),
            completed: stats.checkpoints_completed,
            failed: stats.checkpoints_failed,
            last_duration_ns: last.duration_ns,
            last_pages_written: last.pages_written,
            replay_backlog_records: stats.durable_lsn.saturating_sub(checkpointer.redo_lsn()),
        },
        recovery: RecoverySection {
            start_lsn: stats.recovery.start_lsn,
            end_lsn: stats.recovery.end_lsn,
            records_replayed: stats.recovery.records_replayed,
            pages_to_redo: stats.recovery.pages_to_redo,
            transactions_committed: stats.recovery.transactions_committed,
            transactions_discarded: stats.recovery.transactions_discarded,
            stale_segments_removed: stats.recovery.stale_segments_removed,
            duration_ns: stats.recovery.duration_ns,
        },
        buffer_pool: PoolSection {
            pages: stats.pool.pages,
            resident: stats.pool.resident,
            resident_max: stats.pool.resident_max,
            dirty: stats.pool.dirty,
            disk_reads: stats.pool.disk_reads,
            spills: stats.pool.spills,
            evictions: stats.pool.evictions,
            redo_pending: stats.pool.redo_pending_pages,
            redone: stats.pool.redone_pages,
            slots_total: stats.pool.slots_total,
            slots_free: stats.pool.slots_free,
        },
    }
}
