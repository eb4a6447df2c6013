//! Checkpoints: make the images of every changed page durable, then commit a manifest
//! that points at them and at the WAL position redo must start from.
//!
//! This is the simple, fenced form: writers are held off for the whole checkpoint, so the
//! state captured is exactly "every commit so far". The phases are named crash points so
//! the simulator can stop the machine between any two of them; at every such point the
//! durable state is the previous manifest plus the WAL after it, which is whole.

pub mod manifest;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::env::{Clock, Vfs};
use crate::health::Health;
use crate::txn::{Fence, TxnManager};
use crate::{Lsn, StorageResult};

use manifest::Manifest;

/// What one checkpoint did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    pub sequence: u64,
    /// Redo after a crash starts at this LSN.
    pub redo_lsn: Lsn,
    pub pages_total: u64,
    pub pages_written: u64,
    pub duration_ns: u64,
    pub fence_wait_ns: u64,
}

/// Runs checkpoints for one database.
pub struct Checkpointer {
    vfs: Arc<dyn Vfs>,
    clock: Arc<dyn Clock>,
    dir: PathBuf,
    database_id: u64,
    retention_segments: u64,
    health: Arc<Health>,
    sequence: AtomicU64,
    /// Redo LSN of the last committed manifest (this process's or the one opened).
    redo_lsn: AtomicU64,
    last: Mutex<Option<CheckpointStats>>,
    /// WAL bytes appended when the last checkpoint began (for the auto trigger).
    wal_bytes_at_last: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    planted: crate::txn::PlantedBugs,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// A checkpointer continuing after the manifest with `last_sequence` and
    /// `last_redo_lsn` (0 and 1 for a new database).
    pub fn new(
        env: &crate::env::Env,
        dir: PathBuf,
        database_id: u64,
        retention_segments: u64,
        health: Arc<Health>,
        (last_sequence, last_redo_lsn): (u64, Lsn),
        planted: crate::txn::PlantedBugs,
    ) -> Checkpointer {
        Checkpointer {
            vfs: env.vfs.clone(),
            clock: env.clock.clone(),
            dir,
            database_id,
            retention_segments,
            health,
            sequence: AtomicU64::new(last_sequence),
            redo_lsn: AtomicU64::new(last_redo_lsn),
            last: Mutex::new(None),
            wal_bytes_at_last: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            planted,
        }
    }

    /// Sequence number of the last committed manifest.
    pub fn sequence(&self) -> u64 {
        self.sequence.load(Ordering::Relaxed)
    }

    /// Redo LSN of the last committed manifest: recovery would start here.
    pub fn redo_lsn(&self) -> Lsn {
        self.redo_lsn.load(Ordering::Relaxed)
    }

    /// The last successful checkpoint of this process, if any.
    pub fn last(&self) -> Option<CheckpointStats> {
        *self.last.lock().expect("checkpoint stats lock")
    }

    /// WAL bytes appended since the last checkpoint began.
    pub fn wal_bytes_since_last(&self, txns: &TxnManager) -> u64 {
        let appended = txns.wal().stats.bytes_appended.load(Ordering::Relaxed);
        appended.saturating_sub(self.wal_bytes_at_last.load(Ordering::Relaxed))
    }

    /// Runs one checkpoint under `fence`.
    pub fn run(
        &self,
        txns: &Arc<TxnManager>,
        fence: Fence,
        fence_wait_ns: u64,
    ) -> StorageResult<CheckpointStats> {
        self.health.check()?;
        let started = self.clock.now_monotonic_ns();
        let result = self.run_fenced(txns, fence);
        match result {
            Ok(mut stats) => {
                stats.duration_ns = self.clock.now_monotonic_ns().saturating_sub(started);
                stats.fence_wait_ns = fence_wait_ns;
                *self.last.lock().expect("checkpoint stats lock") = Some(stats);
                self.completed.fetch_add(1, Ordering::Relaxed);
                Ok(stats)
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                Err(self.health.fail(e))
            }
        }
    }

    fn run_fenced(&self, txns: &Arc<TxnManager>, fence: Fence) -> StorageResult<CheckpointStats> {
        let wal = txns.wal();
        let pool = txns.pool();
        crate::crash_point!(self.vfs, "checkpoint.begin")?;
        self.wal_bytes_at_last.store(
            wal.stats.bytes_appended.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        // Every commit so far must be durable before a manifest can reflect it: the
        // checkpoint LSN may never run ahead of the durable WAL.
        wal.flush_all()?;
        let position = wal.position();
        crate::crash_point!(self.vfs, "checkpoint.prepare.after_fence")?;
        let images = pool.checkpoint_images(!self.planted.manifest_before_images)?;
        crate::crash_point!(self.vfs, "checkpoint.prepare.images_synced")?;
        let allocators = txns.allocators();
        let sequence = self.sequence.load(Ordering::Relaxed) + 1;
        let manifest = Manifest {
            database_id: self.database_id,
            sequence,
            wal_position: position,
            next_page_id: allocators.next_page_id,
            next_object_id: allocators.next_object_id,
            catalog_epoch: txns.newest_catalog().epoch,
            last_commit_lsn: txns.last_commit_lsn(),
            pages: images.table.clone(),
        };
        let pages_total = images.table.len() as u64;
        manifest::write(&*self.vfs, &self.dir, &manifest)?;
        crate::crash_point!(self.vfs, "checkpoint.commit.manifest_durable")?;
        pool.install_manifest(images.table);
        self.sequence.store(sequence, Ordering::Relaxed);
        self.redo_lsn.store(position.next_lsn, Ordering::Relaxed);
        drop(fence);
        // Segments wholly before the one redo starts in are no longer needed.
        let keep_from = position.segment_no.saturating_sub(self.retention_segments);
        wal.remove_segments_before(keep_from)?;
        Ok(CheckpointStats {
            sequence,
            redo_lsn: position.next_lsn,
            pages_total,
            pages_written: images.pages_written,
            duration_ns: 0,
            fence_wait_ns: 0,
        })
    }
}
