//! Transactions: one writer at a time, snapshot readers that never block, group commit.
//!
//! A write transaction holds the write lock from begin until its commit record is in the
//! WAL buffer, then releases it and waits for the fsync, so the next writer can build on
//! this commit while the fsync is in flight and several commits can share one fsync. A
//! commit becomes visible to new readers only once durable: a reader's snapshot is the
//! WAL's durable LSN, and it sees exactly the versions committed below it. No reader can
//! return data that a crash could take back.

pub mod record;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::catalog::{Catalog, CatalogLog, CatalogMutator, ObjectId};
use crate::health::Health;
use crate::heap::record::HeapRecord;
use crate::heap::HeapLog;
use crate::page::{BufferPool, PageId, Snapshot};
use crate::wal::Wal;
use crate::{Lsn, StorageResult};

use record::{CommitRecord, KIND_ABORT, KIND_COMMIT, KIND_ID_ALLOC};

/// Allocator state that outlives transactions. Only the writer touches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocators {
    pub next_page_id: PageId,
    pub next_object_id: ObjectId,
    pub next_txn_id: u64,
}

/// Test-only switches that plant known bugs. See the `planted-bugs` feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// Acknowledge a commit before its WAL record is durable.
    pub ack_before_fsync: bool,
    /// Accept page images without checking their CRC.
    pub skip_page_crc: bool,
    /// A cascaded drop of a schema leaves its last table behind.
    pub leave_dependent_behind: bool,
    /// A checkpoint commits its manifest without syncing the page images first.
    pub manifest_before_images: bool,
    /// Recovery restores the object-id allocator from the manifest alone, ignoring the
    /// ids handed out after it: ids are reused after a crash.
    pub reuse_id_after_crash: bool,
}

/// A committed catalog change, as published to whoever consumes batches (telemetry,
/// diagnostics): the epoch it produced, its commit, and the WAL fragments it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCatalogBatch {
    pub epoch: u64,
    pub commit_lsn: Lsn,
    pub mutations: u64,
    pub fragments: Vec<crate::catalog::WalRecordFragment>,
}

/// Published batches kept for consumers; older ones are dropped (their counts stay in
/// the telemetry).
const PUBLISHED_BATCHES_MAX: usize = 64;

/// Counters for telemetry.
#[derive(Debug, Default)]
pub struct TxnStats {
    pub commits: AtomicU64,
    pub aborts: AtomicU64,
    pub write_lock_wait_ns: AtomicU64,
    pub fence_wait_ns: AtomicU64,
    /// WAL records written for catalog mutations.
    pub catalog_records: AtomicU64,
    /// Catalog batches committed and published.
    pub published_batches: AtomicU64,
}

/// Shared transaction state. See the module documentation.
pub struct TxnManager {
    wal: Arc<Wal>,
    pool: Arc<BufferPool>,
    health: Arc<Health>,
    write_busy: Mutex<bool>,
    write_released: Condvar,
    /// Writers blocked in `begin_write`, and whether a writer (not a fence) holds the
    /// lock: the commits about to follow, which a flush leader may wait to include.
    writers_waiting: AtomicUsize,
    writer_active: AtomicBool,
    allocators: Mutex<Allocators>,
    /// Committed catalog versions, by commit LSN, oldest first.
    catalogs: Mutex<Vec<(Lsn, Arc<Catalog>)>>,
    /// Open read snapshots: visible-below LSN -> count.
    snapshots: Mutex<BTreeMap<Lsn, usize>>,
    last_commit_lsn: AtomicU64,
    published: Mutex<std::collections::VecDeque<PublishedCatalogBatch>>,
    planted: PlantedBugs,
    pub stats: TxnStats,
}

impl std::fmt::Debug for TxnManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnManager").finish_non_exhaustive()
    }
}

impl TxnManager {
    pub fn new(
        wal: Arc<Wal>,
        pool: Arc<BufferPool>,
        health: Arc<Health>,
        allocators: Allocators,
        catalog: Catalog,
        last_commit_lsn: Lsn,
        planted: PlantedBugs,
    ) -> TxnManager {
        TxnManager {
            wal,
            pool,
            health,
            write_busy: Mutex::new(false),
            write_released: Condvar::new(),
            writers_waiting: AtomicUsize::new(0),
            writer_active: AtomicBool::new(false),
            allocators: Mutex::new(allocators),
            catalogs: Mutex::new(vec![(0, Arc::new(catalog))]),
            snapshots: Mutex::new(BTreeMap::new()),
            last_commit_lsn: AtomicU64::new(last_commit_lsn),
            published: Mutex::new(std::collections::VecDeque::new()),
            planted,
            stats: TxnStats::default(),
        }
    }

    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    pub fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    pub fn allocators(&self) -> Allocators {
        *self.allocators.lock().expect("allocators lock")
    }

    /// LSN of the newest commit record (durable or not).
    pub fn last_commit_lsn(&self) -> Lsn {
        self.last_commit_lsn.load(Ordering::Acquire)
    }

    /// The newest committed catalog (what the next writer builds on).
    pub fn newest_catalog(&self) -> Arc<Catalog> {
        let catalogs = self.catalogs.lock().expect("catalogs lock");
        catalogs
            .last()
            .expect("there is always a catalog")
            .1
            .clone()
    }

    /// Blocks until the write lock is free, then takes it.
    fn acquire_write(&self, wait_ns: &AtomicU64, clock: &dyn crate::env::Clock) {
        let started = clock.now_monotonic_ns();
        let mut busy = self.write_busy.lock().expect("write lock");
        while *busy {
            busy = self.write_released.wait(busy).expect("write lock");
        }
        *busy = true;
        wait_ns.fetch_add(
            clock.now_monotonic_ns().saturating_sub(started),
            Ordering::Relaxed,
        );
    }

    /// Takes the write lock only if it is free.
    fn try_acquire_write(&self) -> bool {
        let mut busy = self.write_busy.lock().expect("write lock");
        if *busy {
            return false;
        }
        *busy = true;
        true
    }

    fn release_write(&self) {
        let mut busy = self.write_busy.lock().expect("write lock");
        assert!(*busy, "releasing a write lock nobody holds");
        *busy = false;
        self.writer_active.store(false, Ordering::Release);
        self.write_released.notify_one();
    }

    /// Writers whose commits may follow soon: those waiting for the write lock and the
    /// one holding it.
    fn writers_pending(&self) -> usize {
        self.writers_waiting.load(Ordering::Acquire)
            + usize::from(self.writer_active.load(Ordering::Acquire))
    }

    /// Begins a write transaction, waiting for the current writer to finish.
    pub fn begin_write(
        self: &Arc<Self>,
        clock: &dyn crate::env::Clock,
    ) -> StorageResult<WriteContext> {
        self.health.check()?;
        self.writers_waiting.fetch_add(1, Ordering::AcqRel);
        self.acquire_write(&self.stats.write_lock_wait_ns, clock);
        self.writer_active.store(true, Ordering::Release);
        self.writers_waiting.fetch_sub(1, Ordering::AcqRel);
        Ok(self.start_write())
    }

    /// Begins a write transaction if no other is active.
    pub fn try_begin_write(self: &Arc<Self>) -> StorageResult<Option<WriteContext>> {
        self.health.check()?;
        Ok(self.try_acquire_write().then(|| {
            self.writer_active.store(true, Ordering::Release);
            self.start_write()
        }))
    }

    fn start_write(self: &Arc<Self>) -> WriteContext {
        let allocators = {
            let mut a = self.allocators.lock().expect("allocators lock");
            let copy = *a;
            a.next_txn_id += 1;
            copy
        };
        WriteContext {
            manager: self.clone(),
            txn_id: allocators.next_txn_id,
            allocators,
            base_catalog: self.newest_catalog(),
            catalog: None,
            records: 0,
            done: false,
        }
    }

    /// Stops writers: blocks until the active writer finishes and keeps new ones out until
    /// the returned fence is dropped. Checkpoints use it to see a quiet, committed state.
    pub fn fence(self: &Arc<Self>, clock: &dyn crate::env::Clock) -> Fence {
        self.acquire_write(&self.stats.fence_wait_ns, clock);
        Fence {
            manager: self.clone(),
        }
    }

    /// Fences only if no writer is active.
    pub fn try_fence(self: &Arc<Self>) -> Option<Fence> {
        self.try_acquire_write().then(|| Fence {
            manager: self.clone(),
        })
    }

    /// Opens a read snapshot of everything durable now.
    pub fn begin_read(self: &Arc<Self>) -> StorageResult<ReadSnapshot> {
        self.health.check()?;
        // Registering under the lock that prune holds keeps prune from dropping a version
        // this snapshot needs between reading the LSN and registering it.
        let visible_below = {
            let mut snapshots = self.snapshots.lock().expect("snapshots lock");
            let below = self.wal.durable_lsn();
            *snapshots.entry(below).or_insert(0) += 1;
            below
        };
        let catalog = self.catalog_at(visible_below);
        Ok(ReadSnapshot {
            manager: self.clone(),
            visible_below,
            catalog,
        })
    }

    fn catalog_at(&self, visible_below: Lsn) -> Arc<Catalog> {
        let catalogs = self.catalogs.lock().expect("catalogs lock");
        catalogs
            .iter()
            .rev()
            .find(|(lsn, _)| *lsn < visible_below)
            .map(|(_, c)| c.clone())
            .expect("the initial catalog is visible to every snapshot")
    }

    fn end_read(&self, visible_below: Lsn) {
        let mut snapshots = self.snapshots.lock().expect("snapshots lock");
        let count = snapshots
            .get_mut(&visible_below)
            .expect("snapshot registered");
        *count -= 1;
        if *count == 0 {
            snapshots.remove(&visible_below);
        }
    }

    /// Drops page and catalog versions that no open or future snapshot can see.
    pub fn prune(&self) {
        let snapshots = self.snapshots.lock().expect("snapshots lock");
        let durable = self.wal.durable_lsn();
        let oldest = snapshots
            .keys()
            .next()
            .copied()
            .unwrap_or(durable)
            .min(durable);
        self.pool.prune(oldest);
        let mut catalogs = self.catalogs.lock().expect("catalogs lock");
        let keep_from = catalogs
            .iter()
            .rposition(|(lsn, _)| *lsn < oldest)
            .unwrap_or(0);
        catalogs.drain(..keep_from);
    }

    /// Makes a committed transaction's catalog the newest (visible to snapshots once the
    /// commit is durable) and returns the batch to publish.
    fn install_catalog(&self, commit_lsn: Lsn, mutator: CatalogMutator) -> PublishedCatalogBatch {
        let mutations = mutator.staged_count();
        let (catalog, fragments) = mutator.into_published();
        let epoch = catalog.epoch;
        self.catalogs
            .lock()
            .expect("catalogs lock")
            .push((commit_lsn, Arc::new(catalog)));
        PublishedCatalogBatch {
            epoch,
            commit_lsn,
            mutations,
            fragments,
        }
    }

    /// Takes the oldest published catalog batch not yet consumed.
    pub fn consume_published_batch(&self) -> Option<PublishedCatalogBatch> {
        self.published.lock().expect("published lock").pop_front()
    }

    /// Published batches no consumer has taken.
    pub fn unconsumed_batches(&self) -> usize {
        self.published.lock().expect("published lock").len()
    }

    fn publish(&self, batch: PublishedCatalogBatch) {
        self.stats.published_batches.fetch_add(1, Ordering::Relaxed);
        let mut published = self.published.lock().expect("published lock");
        if published.len() == PUBLISHED_BATCHES_MAX {
            published.pop_front();
        }
        published.push_back(batch);
    }

    /// Open read snapshots (for telemetry).
    pub fn open_snapshots(&self) -> usize {
        self.snapshots
            .lock()
            .expect("snapshots lock")
            .values()
            .sum()
    }
}

/// Holds writers off while alive.
#[derive(Debug)]
pub struct Fence {
    manager: Arc<TxnManager>,
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.manager.release_write();
    }
}

/// A registered read snapshot; unregisters on drop.
#[derive(Debug)]
pub struct ReadSnapshot {
    manager: Arc<TxnManager>,
    visible_below: Lsn,
    catalog: Arc<Catalog>,
}

impl ReadSnapshot {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::Committed(self.visible_below)
    }

    pub fn visible_below(&self) -> Lsn {
        self.visible_below
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn pool(&self) -> &BufferPool {
        &self.manager.pool
    }
}

impl Drop for ReadSnapshot {
    fn drop(&mut self) {
        self.manager.end_read(self.visible_below);
    }
}

/// The state of one write transaction. Aborts on drop unless committed.
#[derive(Debug)]
pub struct WriteContext {
    manager: Arc<TxnManager>,
    txn_id: u64,
    allocators: Allocators,
    /// The newest committed catalog when the transaction began.
    base_catalog: Arc<Catalog>,
    catalog: Option<CatalogMutator>,
    records: u64,
    done: bool,
}

/// What a commit produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// LSN of the commit record; 0 for a transaction that changed nothing.
    pub lsn: Lsn,
}

impl WriteContext {
    pub fn pool(&self) -> &BufferPool {
        &self.manager.pool
    }

    /// The catalog as this transaction sees it (its own staged changes included).
    pub fn catalog(&self) -> &Catalog {
        match &self.catalog {
            Some(m) => m.catalog(),
            None => &self.base_catalog,
        }
    }

    /// Runs `f` with the catalog mutator (created on first use) and the transaction as log.
    pub fn with_mutator<R>(
        &mut self,
        f: impl FnOnce(&mut CatalogMutator, &BufferPool, &mut dyn CatalogLog) -> R,
    ) -> R {
        let mut mutator = self.catalog.take().unwrap_or_else(|| {
            CatalogMutator::new(
                &self.base_catalog,
                self.manager.planted.leave_dependent_behind,
            )
        });
        let pool = self.manager.pool.clone();
        let result = f(&mut mutator, &pool, self);
        self.catalog = Some(mutator);
        result
    }

    /// Whether the table rooted at the given table's heap holds any row (this
    /// transaction's view).
    pub fn table_has_rows(&self, table_id: ObjectId) -> StorageResult<bool> {
        let Some(def) = self.catalog().table(table_id) else {
            return Ok(false);
        };
        let mut scan =
            crate::heap::Scan::new(&self.manager.pool, Snapshot::Writer, def.id, def.root_page)?;
        Ok(scan.next_row()?.is_some())
    }

    /// Runs `f` with the pool and the transaction as heap log.
    pub fn with_heap<R>(&mut self, f: impl FnOnce(&BufferPool, &mut dyn HeapLog) -> R) -> R {
        let pool = self.manager.pool.clone();
        f(&pool, self)
    }

    /// Commits: appends the commit record, publishes the versions, releases the write
    /// lock, and returns once the commit is durable.
    pub fn commit(mut self) -> StorageResult<CommitInfo> {
        self.done = true;
        let manager = self.manager.clone();
        *manager.allocators.lock().expect("allocators lock") = self.next_allocators();
        if self.records == 0 {
            manager.release_write();
            return Ok(CommitInfo { lsn: 0 });
        }
        let catalog = self.catalog.take().filter(|m| m.staged_count() > 0);
        let lsn = match self.append_commit(catalog.is_some()) {
            Ok(lsn) => lsn,
            Err(e) => {
                manager.pool.abort();
                manager.release_write();
                return Err(e);
            }
        };
        manager.pool.commit(lsn);
        let batch = catalog.map(|mutator| manager.install_catalog(lsn, mutator));
        manager.last_commit_lsn.store(lsn, Ordering::Release);
        manager.release_write();
        if !manager.planted.ack_before_fsync {
            manager
                .wal
                .flush_commit(lsn, &|| manager.writers_pending())?;
        }
        manager.stats.commits.fetch_add(1, Ordering::Relaxed);
        manager.prune();
        if let Some(batch) = batch {
            manager.publish(batch);
            crate::env::hit_crash_point(
                &**manager.wal.vfs(),
                "catalog.publish.after_commit_durable",
            )?;
        }
        Ok(CommitInfo { lsn })
    }

    /// Appends the commit record (after the publish crash point, for catalog changes).
    fn append_commit(&self, catalog_changed: bool) -> StorageResult<Lsn> {
        if catalog_changed {
            crate::env::hit_crash_point(
                &**self.manager.wal.vfs(),
                "catalog.publish.before_commit_record",
            )?;
        }
        let record = CommitRecord { catalog_changed };
        self.manager
            .wal
            .append(KIND_COMMIT, self.txn_id, &record.encode())
    }

    /// Discards every change of the transaction.
    pub fn abort(mut self) {
        self.abort_inner();
    }

    fn abort_inner(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let manager = self.manager.clone();
        // Ids are never handed out twice, even by an aborted transaction.
        *manager.allocators.lock().expect("allocators lock") = self.next_allocators();
        manager.pool.abort();
        if self.records > 0 {
            // Not needed for correctness (recovery discards records without a commit),
            // but it tells a reader of the log where the transaction ended. If it fails,
            // the database is in its failed state already.
            let _ = manager.wal.append(KIND_ABORT, self.txn_id, &[]);
        }
        manager.stats.aborts.fetch_add(1, Ordering::Relaxed);
        manager.release_write();
    }

    fn next_allocators(&self) -> Allocators {
        Allocators {
            next_txn_id: self.txn_id + 1,
            ..self.allocators
        }
    }
}

impl Drop for WriteContext {
    fn drop(&mut self) {
        self.abort_inner();
    }
}

impl HeapLog for WriteContext {
    fn log(&mut self, record: &HeapRecord) -> StorageResult<Lsn> {
        let lsn = self.manager.wal.append_with(
            record.kind(),
            self.txn_id,
            record.encoded_len(),
            |out| record.encode(out),
        )?;
        self.records += 1;
        Ok(lsn)
    }

    fn new_page_id(&mut self) -> PageId {
        let id = self.allocators.next_page_id;
        self.allocators.next_page_id += 1;
        id
    }
}

impl CatalogLog for WriteContext {
    fn log_catalog(&mut self, record: &HeapRecord) -> StorageResult<Lsn> {
        let kind = record.kind() + crate::heap::record::CATALOG_KIND_OFFSET;
        let lsn = self
            .manager
            .wal
            .append_with(kind, self.txn_id, record.encoded_len(), |out| {
                record.encode(out)
            })?;
        self.records += 1;
        self.manager
            .stats
            .catalog_records
            .fetch_add(1, Ordering::Relaxed);
        Ok(lsn)
    }

    fn crash_point(&self, name: &'static str) -> StorageResult<()> {
        crate::env::hit_crash_point(&**self.manager.wal.vfs(), name)
    }

    fn new_object_id(&mut self) -> StorageResult<ObjectId> {
        let id = self.allocators.next_object_id;
        self.allocators.next_object_id += 1;
        // Logged at once, whatever becomes of the transaction, so that recovery can put
        // the allocator above every id ever handed out.
        let next = self.allocators.next_object_id;
        self.manager
            .wal
            .append(KIND_ID_ALLOC, self.txn_id, &next.to_le_bytes())?;
        self.records += 1;
        Ok(id)
    }
}
