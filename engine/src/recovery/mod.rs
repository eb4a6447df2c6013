//! Recovery: the last committed manifest, then the WAL after it.
//!
//! 1. The manifest names the page images and the WAL position redo starts from.
//! 2. One scan of the log from there checks every record (CRC, chain, sequence; see the
//!    WAL reader) and *indexes* it: which committed record changes which page. Writers
//!    are serialized and every transaction's records end with its commit or abort record,
//!    so a transaction's records are contiguous; those of a transaction without a commit
//!    (aborted, or cut off by the crash) are dropped from the index.
//! 3. Each page the log changes is handed to the buffer pool with its base (its
//!    checkpoint image, or a fresh page if the log created it) and its list of records.
//!    The pool applies them on the page's first touch (`redo.rs`), with the same
//!    `HeapRecord::apply` the writer used, so opening costs one read of the log however
//!    much it changed, and a checkpoint brings every remaining page up to date before
//!    writing images.
//! 4. The catalog is loaded from the system relations (bringing those pages up to date)
//!    before any user table is touched; allocators are placed above every id any record
//!    mentions, committed or not, so no id is ever handed out twice.
//!
//! Recovery writes nothing durable except syncs (what a process crash left in the page
//! cache is made durable before it becomes visible) and the removal of WAL segments past
//! the end of the log, which are dead. So a crash during recovery, followed by recovery,
//! gives the same result: recovery is idempotent.

mod redo;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::catalog::{system::FIRST_USER_PAGE_ID, Catalog};
use crate::checkpoint::manifest::Manifest;
use crate::env::{Env, OpenOptions};
use crate::health::Health;
use crate::heap::record::HeapRecord;
use crate::page::pool::{RedoRef, RedoRun};
use crate::page::{BufferPool, ImageStore, PageId, Snapshot, IMAGE_FILE};
use crate::txn::record::{decode_id_alloc, CommitRecord, KIND_ABORT, KIND_COMMIT, KIND_ID_ALLOC};
use crate::txn::Allocators;
use crate::wal::format::{record_size, segment_file_name};
use crate::wal::reader::{later_segments, WalRecordRef, WalScanner};
use crate::wal::{Wal, WalConfig};
use crate::{Lsn, StorageError, StorageResult};

/// What recovery did, for telemetry and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    pub start_lsn: Lsn,
    pub end_lsn: Lsn,
    /// Records of committed transactions to redo (applied lazily, per page).
    pub records_replayed: u64,
    /// Pages those records change.
    pub pages_to_redo: u64,
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
    planted: crate::txn::PlantedBugs,
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
    store.set_skip_crc(planted.skip_page_crc);
    let pool = BufferPool::open(store, manifest.pages.clone(), resident_max)?;
    let mut index = LogIndex::new(manifest);
    let mut scanner = WalScanner::new(
        env.vfs.clone(),
        dir,
        manifest.database_id,
        manifest.wal_position,
    )?;
    while let Some(record) = scanner.next_record()? {
        index.add(&record)?;
    }
    index.discard();
    let end = scanner.end();
    sync_segments(
        env,
        dir,
        scanner.segments_to_sync(manifest.wal_position.segment_no),
    )?;
    let stale_segments_removed = remove_stale_segments(env, dir, end.segment_no)?;
    let wal = Wal::open_at(
        env.vfs.clone(),
        env.clock.clone(),
        dir,
        manifest.database_id,
        wal_config,
        health.clone(),
        end,
    )?;
    pool.set_redo_source(Arc::new(redo::WalRedo::new(env.vfs.clone(), dir)));
    let pages_to_redo = index.attach(&pool)?;
    let epoch = manifest.catalog_epoch + index.catalog_commits;
    let catalog = Catalog::load(&pool, Snapshot::Committed(Lsn::MAX), epoch)?;
    let mut allocators = index.allocators;
    allocators.next_object_id = allocators.next_object_id.max(catalog.max_object_id() + 1);
    if planted.reuse_id_after_crash {
        allocators.next_object_id = manifest.next_object_id;
    }
    let stats = RecoveryStats {
        end_lsn: end.next_lsn,
        pages_to_redo,
        stale_segments_removed,
        duration_ns: env.clock.now_monotonic_ns().saturating_sub(started),
        ..index.stats
    };
    Ok(Recovered {
        wal,
        pool,
        allocators,
        catalog,
        last_commit_lsn: index.last_commit_lsn,
        stats,
    })
}

/// The transaction whose records the scan is reading.
struct OpenTxn {
    txn_id: u64,
    /// How many runs of page records were indexed before its first: its own follow (a
    /// transaction's records are contiguous, and a run never spans two transactions), so
    /// taking them back is a truncation.
    runs_from: usize,
    /// Its page records.
    records: u64,
    created: Vec<(PageId, u64, RedoRef)>,
    freed: Vec<(PageId, RedoRef)>,
}

/// Each changed page's records, in log order, as runs of records back to back. The scan
/// appends every run to one array, tagged with its page's list number (consecutive records
/// usually change the same page, so the last page's number is kept at hand and the map is
/// consulted only when the page changes), and a record that directly follows the last run
/// of its page extends it; the lists are cut out of the array once, at the end, each
/// allocated at its final size.
#[derive(Default)]
struct PageRecords {
    pages: Vec<PageId>,
    by_page: BTreeMap<PageId, u32>,
    last: Option<(PageId, u32)>,
    entries: Vec<(u32, RedoRun)>,
}

impl PageRecords {
    /// Adds the record at `at`, `size` bytes long, which changes `page`. Runs from before
    /// entry `floor` (those of earlier transactions) are never extended.
    fn push(&mut self, page: PageId, at: RedoRef, size: u32, floor: usize) {
        let list = match self.last {
            Some((last, list)) if last == page => list,
            _ => {
                let next = self.pages.len() as u32;
                let list = *self.by_page.entry(page).or_insert(next);
                if list == next {
                    self.pages.push(page);
                }
                self.last = Some((page, list));
                list
            }
        };
        let end = at.offset.saturating_add(size);
        let extendable = self.entries.len() > floor;
        if let Some((last_list, run)) = self.entries.last_mut().filter(|_| extendable) {
            if *last_list == list && run.end() == at {
                run.end = end;
                run.count += 1;
                return;
            }
        }
        let run = RedoRun {
            first: at,
            end,
            count: 1,
        };
        self.entries.push((list, run));
    }

    /// Each page's records, in log order; pages whose records were all taken back have
    /// an empty list.
    fn into_lists(self) -> Vec<(PageId, Vec<RedoRun>)> {
        let mut counts = vec![0usize; self.pages.len()];
        for &(list, _) in &self.entries {
            counts[list as usize] += 1;
        }
        let mut lists: Vec<(PageId, Vec<RedoRun>)> = self
            .pages
            .iter()
            .zip(counts)
            .map(|(&page, count)| (page, Vec::with_capacity(count)))
            .collect();
        for (list, at) in self.entries {
            lists[list as usize].1.push(at);
        }
        lists
    }
}

/// What the scan learns: committed page changes, created and freed pages, allocators.
struct LogIndex {
    records: PageRecords,
    created: BTreeMap<PageId, (u64, RedoRef)>,
    freed: BTreeMap<PageId, RedoRef>,
    open: Option<OpenTxn>,
    allocators: Allocators,
    catalog_commits: u64,
    last_commit_lsn: Lsn,
    stats: RecoveryStats,
}

impl LogIndex {
    fn new(manifest: &Manifest) -> LogIndex {
        LogIndex {
            records: PageRecords::default(),
            created: BTreeMap::new(),
            freed: BTreeMap::new(),
            open: None,
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
        }
    }

    fn add(&mut self, record: &WalRecordRef<'_>) -> StorageResult<()> {
        let h = record.header;
        // Segment numbers and offsets fit u32: a segment is at most 4 GiB (u32 size in
        // its header), and 2^32 segments would be a 16 EiB log.
        let at = RedoRef {
            segment_no: record.segment_no as u32,
            offset: record.offset as u32,
        };
        let bad = |detail: String| {
            StorageError::corruption(&segment_file_name(record.segment_no), record.offset, detail)
        };
        self.allocators.next_txn_id = self.allocators.next_txn_id.max(h.txn_id + 1);
        if self.open.as_ref().is_some_and(|t| t.txn_id != h.txn_id) {
            // A transaction's records end with its commit or abort record; one that
            // stops without either was cut off and never committed.
            self.discard();
        }
        match h.kind {
            KIND_COMMIT => {
                let commit = CommitRecord::decode(record.payload)
                    .ok_or_else(|| bad("malformed commit record".into()))?;
                self.commit(h.lsn, commit.catalog_changed)?;
            }
            KIND_ABORT if record.payload.is_empty() => self.discard(),
            KIND_ABORT => return Err(bad("abort record with a payload".into())),
            KIND_ID_ALLOC => {
                let next = decode_id_alloc(record.payload)
                    .ok_or_else(|| bad("malformed id record".into()))?;
                self.allocators.next_object_id = self.allocators.next_object_id.max(next);
                self.open_txn(h.txn_id);
            }
            kind => {
                let heap = HeapRecord::decode(kind, record.payload)
                    .ok_or_else(|| bad(format!("unknown record kind {kind}")))?
                    .map_err(bad)?;
                // A record is at most a segment long, and a segment at most 4 GiB.
                let size = record_size(record.payload.len()) as u32;
                self.add_heap(h.txn_id, &heap, at, size);
            }
        }
        Ok(())
    }

    fn add_heap(&mut self, txn_id: u64, heap: &HeapRecord<&[u8]>, at: RedoRef, size: u32) {
        match *heap {
            HeapRecord::PageInit { page, owner } => {
                self.open_txn(txn_id).created.push((page, owner, at));
                self.allocators.next_page_id = self.allocators.next_page_id.max(page + 1);
            }
            HeapRecord::PageFree { page } => self.open_txn(txn_id).freed.push((page, at)),
            _ => {
                let txn = self.open_txn(txn_id);
                txn.records += 1;
                let floor = txn.runs_from;
                self.records.push(heap.page(), at, size, floor);
            }
        }
    }

    fn open_txn(&mut self, txn_id: u64) -> &mut OpenTxn {
        let runs_from = self.records.entries.len();
        self.open.get_or_insert_with(|| OpenTxn {
            txn_id,
            runs_from,
            records: 0,
            created: Vec::new(),
            freed: Vec::new(),
        })
    }

    /// Keeps the open transaction's records. A page created or freed a second time is
    /// corruption (page ids are never reused), reported at the offending record.
    fn commit(&mut self, lsn: Lsn, catalog_changed: bool) -> StorageResult<()> {
        if let Some(txn) = self.open.take() {
            for (page, owner, at) in txn.created {
                if self.created.contains_key(&page) || self.freed.contains_key(&page) {
                    return Err(corrupt(at, format!("page {page} is created twice")));
                }
                self.created.insert(page, (owner, at));
            }
            for (page, at) in txn.freed {
                if self.freed.insert(page, at).is_some() {
                    return Err(corrupt(at, format!("page {page} is freed twice")));
                }
            }
            self.stats.records_replayed += txn.records;
        }
        self.last_commit_lsn = lsn;
        self.catalog_commits += u64::from(catalog_changed);
        self.stats.transactions_committed += 1;
        Ok(())
    }

    /// Takes back the open transaction's records: it did not commit.
    fn discard(&mut self) {
        if let Some(txn) = self.open.take() {
            self.records.entries.truncate(txn.runs_from);
            self.stats.transactions_discarded += 1;
        }
    }

    /// Hands every changed page to the pool with its base and its records; returns how
    /// many pages wait for redo. A log that disagrees with the checkpoint (a page created
    /// twice, or changed without existing) is corruption at the offending record.
    fn attach(&mut self, pool: &BufferPool) -> StorageResult<u64> {
        let mut pages = 0;
        let mut attached = BTreeSet::new();
        for (page, runs) in std::mem::take(&mut self.records).into_lists() {
            let Some(first) = runs.first().map(|run| run.first) else {
                continue;
            };
            if let Some(&freed_at) = self.freed.get(&page) {
                // Changes before the free die with the page; one after it is corruption
                // (reported at the first such run: the free record is in no run).
                if let Some(after) = runs.iter().find(|run| run.first > freed_at) {
                    return Err(corrupt(
                        after.first,
                        format!("the log changes page {page} after freeing it"),
                    ));
                }
                continue;
            }
            if let Some(&(_, created_at)) = self.created.get(&page) {
                if first < created_at {
                    return Err(corrupt(
                        first,
                        format!("the log changes page {page} before creating it"),
                    ));
                }
            }
            let base = self.created.get(&page).map(|(owner, _)| *owner);
            pool.attach_redo(page, base, runs)
                .map_err(|e| corrupt(first, e))?;
            attached.insert(page);
            pages += 1;
        }
        for (&page, &(owner, at)) in &self.created {
            if !self.freed.contains_key(&page) && !attached.contains(&page) {
                pool.attach_redo(page, Some(owner), Vec::new())
                    .map_err(|e| corrupt(at, e))?;
            }
        }
        for (&page, &at) in &self.freed {
            match self.created.get(&page) {
                None => pool.remove_recovered(page).map_err(|e| corrupt(at, e))?,
                Some(&(_, created_at)) => {
                    if pool.exists(page, Snapshot::Committed(Lsn::MAX)) {
                        let detail = format!("page {page} is created again after the checkpoint");
                        return Err(corrupt(created_at, detail));
                    }
                    if at < created_at {
                        return Err(corrupt(
                            at,
                            format!("page {page} is freed before it is created"),
                        ));
                    }
                }
            }
        }
        Ok(pages)
    }
}

fn corrupt(at: RedoRef, detail: String) -> StorageError {
    StorageError::corruption(
        &segment_file_name(u64::from(at.segment_no)),
        u64::from(at.offset),
        detail,
    )
}

/// Syncs the segments that may hold records never synced: a process crash can leave
/// records in the page cache that are not yet on disk, and recovery is about to expose
/// them as committed. (Segments the log itself proves durable are skipped: on a busy
/// disk each sync can cost milliseconds.)
fn sync_segments(env: &Env, dir: &Path, segments: Vec<u64>) -> StorageResult<()> {
    for segment_no in segments {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::format::RecordHeader;

    /// A log index fed record by record, back to back in segment 1.
    struct Log {
        index: LogIndex,
        lsn: Lsn,
        offset: u64,
    }

    impl Log {
        fn new() -> Log {
            let manifest = Manifest {
                database_id: 1,
                sequence: 1,
                wal_position: crate::wal::WalPosition {
                    segment_no: 1,
                    offset: 64,
                    next_lsn: 1,
                    crc_prev: 0,
                },
                next_page_id: FIRST_USER_PAGE_ID,
                next_object_id: 1000,
                catalog_epoch: 0,
                last_commit_lsn: 0,
                pages: BTreeMap::new(),
            };
            Log {
                index: LogIndex::new(&manifest),
                lsn: 0,
                offset: 64,
            }
        }

        fn add(&mut self, txn_id: u64, kind: u8, payload: &[u8]) -> StorageResult<()> {
            self.lsn += 1;
            let record = WalRecordRef {
                header: RecordHeader {
                    kind,
                    lsn: self.lsn,
                    txn_id,
                    durable_lsn: 0,
                    crc_prev: 0,
                },
                payload,
                segment_no: 1,
                offset: self.offset,
            };
            self.offset += record_size(payload.len()) as u64;
            self.index.add(&record)
        }

        fn heap(&mut self, txn_id: u64, record: HeapRecord) -> StorageResult<()> {
            let mut payload = Vec::new();
            record.encode(&mut payload);
            self.add(txn_id, record.kind(), &payload)
        }

        fn commit(&mut self, txn_id: u64) -> StorageResult<()> {
            let commit = CommitRecord {
                catalog_changed: false,
            };
            self.add(txn_id, KIND_COMMIT, &commit.encode())
        }
    }

    const PAGE: PageId = FIRST_USER_PAGE_ID + 5;

    fn delete() -> HeapRecord {
        HeapRecord::Delete {
            page: PAGE,
            slot: 0,
        }
    }

    fn init(page: PageId) -> HeapRecord {
        HeapRecord::PageInit { page, owner: 2000 }
    }

    fn expect_corruption(result: StorageResult<()>, words: &str) {
        match result {
            Err(StorageError::Corruption { detail, .. }) => {
                assert!(detail.contains(words), "{detail}")
            }
            other => panic!("expected corruption ({words}), got {other:?}"),
        }
    }

    #[test]
    fn a_page_created_twice_is_corruption() {
        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        log.commit(1).unwrap();
        log.heap(2, init(PAGE)).unwrap();
        expect_corruption(log.commit(2), "created twice");
    }

    #[test]
    fn a_page_freed_twice_is_corruption() {
        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        log.heap(1, HeapRecord::PageFree { page: PAGE }).unwrap();
        log.commit(1).unwrap();
        log.heap(2, HeapRecord::PageFree { page: PAGE }).unwrap();
        expect_corruption(log.commit(2), "freed twice");
    }

    #[test]
    fn a_change_after_the_free_is_corruption_one_before_is_not() {
        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        log.heap(1, delete()).unwrap();
        log.heap(1, HeapRecord::PageFree { page: PAGE }).unwrap();
        log.commit(1).unwrap();
        let pool = empty_pool();
        log.index.attach(&pool).unwrap();

        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        log.heap(1, HeapRecord::PageFree { page: PAGE }).unwrap();
        log.commit(1).unwrap();
        log.heap(2, delete()).unwrap();
        log.commit(2).unwrap();
        expect_corruption(log.index.attach(&empty_pool()).map(|_| ()), "after freeing");
    }

    #[test]
    fn records_of_a_transaction_without_a_commit_are_not_indexed() {
        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        log.commit(1).unwrap();
        log.heap(2, delete()).unwrap();
        // Transaction 3 starts without 2 committing: 2 was cut off.
        log.heap(
            3,
            HeapRecord::SetNext {
                page: PAGE,
                next: 9,
            },
        )
        .unwrap();
        log.commit(3).unwrap();
        log.index.discard();
        assert_eq!(log.index.stats.transactions_discarded, 1);
        assert_eq!(log.index.stats.records_replayed, 1);
        let lists = std::mem::take(&mut log.index.records).into_lists();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].1.len(), 1, "only the committed SetNext");
        assert_eq!(
            lists[0].1[0].count, 1,
            "not run together with the cut-off delete"
        );
    }

    #[test]
    fn back_to_back_records_of_a_page_form_one_run_within_a_transaction() {
        let mut log = Log::new();
        log.heap(1, init(PAGE)).unwrap();
        let first = log.offset;
        for _ in 0..3 {
            log.heap(1, delete()).unwrap();
        }
        let end = log.offset;
        log.heap(1, init(PAGE + 1)).unwrap();
        log.heap(1, delete()).unwrap();
        log.commit(1).unwrap();
        // The commit record separates transaction 2's delete from transaction 1's.
        log.heap(2, delete()).unwrap();
        log.commit(2).unwrap();
        assert_eq!(log.index.stats.records_replayed, 5);
        let lists = std::mem::take(&mut log.index.records).into_lists();
        assert_eq!(lists.len(), 1);
        let runs = &lists[0].1;
        assert_eq!(runs.len(), 3, "{runs:?}");
        assert_eq!(u64::from(runs[0].first.offset), first);
        assert_eq!(u64::from(runs[0].end), end);
        assert_eq!(runs[0].count, 3);
        assert_eq!((runs[1].count, runs[2].count), (1, 1));
    }

    fn empty_pool() -> BufferPool {
        let tmp = tempfile::tempdir().unwrap();
        let env = Env::os();
        let file = env
            .vfs
            .open(&tmp.path().join(IMAGE_FILE), OpenOptions::CREATE)
            .unwrap();
        let store = ImageStore::create(file, 1, Arc::new(Health::default())).unwrap();
        BufferPool::open(store, BTreeMap::new(), 64).unwrap()
    }
}
