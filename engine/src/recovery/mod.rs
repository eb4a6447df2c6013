//! Recovery: the last committed manifest, then redo of the WAL after it.
//!
//! 1. The manifest names the page images and the WAL position redo starts from.
//! 2. The WAL is replayed from there in LSN order through the same buffer pool the
//!    engine uses: each transaction's records build pending versions, its commit record
//!    publishes them, and a transaction without a commit record (aborted, or cut off by
//!    the crash) is discarded. Writers are serialized, so one transaction's records are
//!    never interleaved with another's.
//! 3. The catalog is rebuilt from the redone system relations before any user table is
//!    touched; allocators are placed above every id any record mentions, committed or
//!    not, so no id is ever handed out twice.
//!
//! Recovery writes nothing durable except syncs (what a process crash left in the page
//! cache is made durable before it becomes visible) and the removal of WAL segments past
//! the end of the log, which are dead. So a crash during recovery, followed by recovery,
//! gives the same result: recovery is idempotent.

use std::path::Path;
use std::sync::Arc;

use crate::catalog::{system::FIRST_USER_PAGE_ID, Catalog};
use crate::checkpoint::manifest::Manifest;
use crate::env::{Env, OpenOptions};
use crate::health::Health;
use crate::heap::record::HeapRecord;
use crate::page::{BufferPool, ImageStore, Page, PageKind, Snapshot, IMAGE_FILE};
use crate::txn::record::{decode_id_alloc, CommitRecord, KIND_ABORT, KIND_COMMIT, KIND_ID_ALLOC};
use crate::txn::Allocators;
use crate::wal::format::segment_file_name;
use crate::wal::reader::{later_segments, WalRecord, WalScanner};
use crate::wal::{Wal, WalConfig};
use crate::{Lsn, StorageError, StorageResult};

/// What recovery did, for telemetry and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    pub start_lsn: Lsn,
    pub end_lsn: Lsn,
    pub records_replayed: u64,
    pub transactions_committed: u64,
    pub transactions_discarded: u64,
    pub stale_segments_removed: u64,
    pub duration_ns: u64,
}

/// The recovered state, ready for the transaction manager.
pub struct Recovered {
    pub wal: Wal,
    pub pool: BufferPool,
    pub allocators: Allocators,
    pub catalog: Catalog,
    pub last_commit_lsn: Lsn,
    pub stats: RecoveryStats,
}

/// Recovers the database in `dir` whose manifest is `manifest`.
pub fn recover(
    env: &Env,
    dir: &Path,
    manifest: &Manifest,
    wal_config: WalConfig,
    resident_max: usize,
    health: &Arc<Health>,
    skip_page_crc: bool,
) -> StorageResult<Recovered> {
    let started = env.clock.now_monotonic_ns();
    // The manifest may have been renamed into place by a process that died before its
    // directory sync; make it durable before anything relies on it.
    env.vfs
        .sync_dir(dir)
        .map_err(|e| StorageError::io(&dir.display().to_string(), "sync directory", &e))?;
    let file = env
        .vfs
        .open(&dir.join(IMAGE_FILE), OpenOptions::READ_WRITE)
        .map_err(|e| StorageError::io(IMAGE_FILE, "open", &e))?;
    let mut store = ImageStore::open(file, manifest.database_id, health.clone())?;
    store.set_skip_crc(skip_page_crc);
    let pool = BufferPool::open(store, manifest.pages.clone(), resident_max)?;
    let mut redo = Redo {
        pool: &pool,
        open_txn: None,
        allocators: Allocators {
            next_page_id: manifest.next_page_id.max(FIRST_USER_PAGE_ID),
            next_object_id: manifest.next_object_id,
            next_txn_id: 1,
        },
        catalog_commits: 0,
        last_commit_lsn: manifest.last_commit_lsn,
        stats: RecoveryStats {
            start_lsn: manifest.wal_position.next_lsn,
            ..RecoveryStats::default()
        },
    };
    let mut scanner = WalScanner::new(
        env.vfs.clone(),
        dir,
        manifest.database_id,
        manifest.wal_position,
    )?;
    while let Some(record) = scanner.next_record()? {
        redo.apply(&record)?;
    }
    redo.finish();
    let end = scanner.end();
    let mut stats = redo.stats;
    stats.end_lsn = end.next_lsn;
    sync_segments(env, dir, manifest.wal_position.segment_no, end.segment_no)?;
    stats.stale_segments_removed = remove_stale_segments(env, dir, end.segment_no)?;
    let wal = Wal::open_at(
        env.vfs.clone(),
        env.clock.clone(),
        dir,
        manifest.database_id,
        wal_config,
        health.clone(),
        end,
    )?;
    let epoch = manifest.catalog_epoch + redo.catalog_commits;
    let catalog = Catalog::load(&pool, Snapshot::Committed(Lsn::MAX), epoch)?;
    let mut allocators = redo.allocators;
    let last_commit_lsn = redo.last_commit_lsn;
    allocators.next_object_id = allocators.next_object_id.max(catalog.max_object_id() + 1);
    stats.duration_ns = env.clock.now_monotonic_ns().saturating_sub(started);
    Ok(Recovered {
        wal,
        pool,
        allocators,
        catalog,
        last_commit_lsn,
        stats,
    })
}

struct Redo<'a> {
    pool: &'a BufferPool,
    open_txn: Option<u64>,
    allocators: Allocators,
    catalog_commits: u64,
    last_commit_lsn: Lsn,
    stats: RecoveryStats,
}

impl Redo<'_> {
    fn apply(&mut self, record: &WalRecord) -> StorageResult<()> {
        let h = record.header;
        self.stats.records_replayed += 1;
        self.allocators.next_txn_id = self.allocators.next_txn_id.max(h.txn_id + 1);
        if self.open_txn.is_some_and(|t| t != h.txn_id) {
            // A transaction's records end with its commit or abort record; one that
            // stops without either was cut off and never committed.
            self.discard();
        }
        let bad = |detail: String| {
            StorageError::corruption(&segment_file_name(record.segment_no), record.offset, detail)
        };
        match h.kind {
            KIND_COMMIT => {
                let commit = CommitRecord::decode(&record.payload)
                    .ok_or_else(|| bad("malformed commit record".into()))?;
                self.pool.commit(h.lsn);
                self.open_txn = None;
                self.last_commit_lsn = h.lsn;
                self.catalog_commits += u64::from(commit.catalog_changed);
                self.stats.transactions_committed += 1;
            }
            KIND_ABORT => self.discard(),
            KIND_ID_ALLOC => {
                let next = decode_id_alloc(&record.payload)
                    .ok_or_else(|| bad("malformed id record".into()))?;
                self.allocators.next_object_id = self.allocators.next_object_id.max(next);
                self.open_txn = Some(h.txn_id);
            }
            kind => {
                let heap = HeapRecord::decode(kind, &record.payload)
                    .ok_or_else(|| bad(format!("unknown record kind {kind}")))?
                    .map_err(bad)?;
                self.open_txn = Some(h.txn_id);
                self.redo_heap(&heap, h.lsn)?.map_err(bad)?;
            }
        }
        Ok(())
    }

    /// Redoes one heap record. The outer error is an I/O failure (passed through as it
    /// is); the inner one says the record does not fit the page state (corruption, which
    /// the caller reports with the record's position).
    fn redo_heap(&mut self, record: &HeapRecord, lsn: Lsn) -> StorageResult<Result<(), String>> {
        match record {
            HeapRecord::PageInit { page, owner } => {
                self.allocators.next_page_id = self.allocators.next_page_id.max(page + 1);
                if self.pool.exists(*page, Snapshot::Writer) {
                    return Ok(Err(format!("page {page} is created twice")));
                }
                let mut p = Page::new(*page, PageKind::Heap, *owner);
                p.set_lsn(lsn);
                self.pool.create(p).map(Ok)
            }
            HeapRecord::PageFree { page } => {
                if !self.pool.exists(*page, Snapshot::Writer) {
                    return Ok(Err(format!("page {page} is freed but does not exist")));
                }
                self.pool.free(*page);
                Ok(Ok(()))
            }
            _ => {
                let page = record.page();
                if !self.pool.exists(page, Snapshot::Writer) {
                    return Ok(Err(format!("record for page {page}, which does not exist")));
                }
                self.pool.write(page, |p| {
                    // Idempotence: a page image already holding this change is skipped.
                    if p.lsn() >= lsn {
                        Ok(())
                    } else {
                        record.apply(lsn, p)
                    }
                })
            }
        }
    }

    fn discard(&mut self) {
        if self.open_txn.take().is_some() {
            self.pool.abort();
            self.stats.transactions_discarded += 1;
        }
    }

    fn finish(&mut self) {
        self.discard();
    }
}

/// Syncs the segments recovery read: a process crash can leave records in the page cache
/// that are not yet on disk, and recovery is about to expose them as committed.
fn sync_segments(env: &Env, dir: &Path, first: u64, last: u64) -> StorageResult<()> {
    for segment_no in first..=last {
        let name = segment_file_name(segment_no);
        let file = env
            .vfs
            .open(&dir.join(&name), OpenOptions::READ_WRITE)
            .map_err(|e| StorageError::io(&name, "open", &e))?;
        file.sync_data()
            .map_err(|e| StorageError::io(&name, "sync", &e))?;
    }
    Ok(())
}

/// Removes segments past the end of the log: a rotation that was cut off, or the
/// leftovers of a log that ran further before an earlier crash. They hold nothing that
/// was durable (the scanner checked), and a future rotation would overwrite them anyway.
fn remove_stale_segments(env: &Env, dir: &Path, last: u64) -> StorageResult<u64> {
    let stale = later_segments(&*env.vfs, dir, last)?;
    for &segment_no in &stale {
        let name = segment_file_name(segment_no);
        env.vfs
            .remove(&dir.join(&name))
            .map_err(|e| StorageError::io(&name, "remove", &e))?;
    }
    Ok(stale.len() as u64)
}
