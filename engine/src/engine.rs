//! The public API: [`Database`], its DDL dispatcher and diagnostics. Transactions are in
//! `txn_api.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::checkpoint::manifest::{self, ManifestError, MANIFEST_FILE, MANIFEST_TEMP_FILE};
use crate::checkpoint::{CheckpointStats, Checkpointer};
use crate::config::Config;
use crate::ddl::{DdlCommand, DdlCommandResponse, DdlError};
use crate::env::{Env, LockGuard, OpenOptions};
use crate::health::Health;
use crate::page::{BufferPool, ImageStore, Snapshot, IMAGE_FILE};
use crate::recovery::{self, RecoveryStats};
use crate::telemetry::{StorageDiagnostics, StorageTelemetryRegistry};
use crate::txn::{Allocators, PublishedCatalogBatch, TxnManager};
use crate::txn_api::{ReadTxn, WriteTxn};
use crate::wal::format::parse_segment_file_name;
use crate::wal::{Wal, WalConfig};
use crate::{integrity, CheckpointError, OpenError, StorageError, TxnError};

const LOCK_FILE: &str = "LOCK";
/// Present while a database is being created (until its first manifest is durable): an
/// open that finds it knows the directory is an interrupted creation, safe to redo.
const CREATING_FILE: &str = "CREATING";

/// An open database. Cheap to clone; all clones share one engine.
#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<DbInner>,
}

#[derive(Debug)]
struct DbInner {
    env: Env,
    dir: PathBuf,
    config: Config,
    health: Arc<Health>,
    txns: Arc<TxnManager>,
    checkpointer: Checkpointer,
    recovery: RecoveryStats,
    telemetry: StorageTelemetryRegistry,
    _lock: Box<dyn LockGuard>,
}

/// Counters and gauges, for telemetry and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseStats {
    pub durable_lsn: u64,
    pub last_commit_lsn: u64,
    pub commits: u64,
    pub aborts: u64,
    pub wal_flushes: u64,
    pub wal_syncs: u64,
    pub wal_bytes_appended: u64,
    pub wal_flush_ns_total: u64,
    pub wal_flush_ns_max: u64,
    pub wal_segments_created: u64,
    pub wal_segments_removed: u64,
    pub checkpoints_completed: u64,
    pub checkpoints_failed: u64,
    pub last_checkpoint: Option<CheckpointStats>,
    pub open_snapshots: u64,
    pub write_lock_wait_ns: u64,
    pub fence_wait_ns: u64,
    pub pool: crate::page::PoolStats,
    pub recovery: RecoveryStats,
    pub catalog_epoch: u64,
    pub failed: bool,
}

impl Database {
    /// Opens (recovering if needed) or creates the database in `dir`.
    ///
    /// A directory is inspected read-only first, so one that is refused (somebody
    /// else's, or missing with `create_if_missing` off) is left exactly as it was.
    pub fn open(env: Env, dir: impl AsRef<Path>, config: Config) -> Result<Database, OpenError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let vfs = env.vfs.clone();
        let existed = Self::prepare_dir(&*vfs, &dir, &config)?;
        let create = !existed || Self::inspect(&*vfs, &dir, &config)?;
        let shown = dir.display().to_string();
        let lock = vfs.lock(&dir.join(LOCK_FILE)).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => OpenError::AlreadyOpen {
                path: shown.clone(),
            },
            _ => OpenError::Storage(StorageError::io(LOCK_FILE, "lock", &e)),
        })?;
        // Decided before the lock, so decided again under it: another process may have
        // created the database meanwhile, and creating wipes the directory.
        if create && Self::inspect(&*vfs, &dir, &config)? {
            return Self::create(env, dir, config, lock);
        }
        // Read again under the lock: another engine may have checkpointed meanwhile.
        let manifest = Self::read_manifest(&*vfs, &dir)?.ok_or_else(|| {
            StorageError::corruption(MANIFEST_FILE, 0, "the manifest vanished while opening")
        })?;
        // A creation that stopped after its first manifest but before removing its marker.
        let marker = dir.join(CREATING_FILE);
        if vfs
            .exists(&marker)
            .map_err(|e| StorageError::io(CREATING_FILE, "stat", &e))?
        {
            vfs.remove(&marker)
                .map_err(|e| StorageError::io(CREATING_FILE, "remove", &e))?;
        }
        Self::recover(env, dir, config, manifest, lock)
    }

    /// Checks the path is a directory, creating it (durably) if missing and allowed.
    /// Returns whether it existed.
    fn prepare_dir(
        vfs: &dyn crate::env::Vfs,
        dir: &Path,
        config: &Config,
    ) -> Result<bool, OpenError> {
        let shown = dir.display().to_string();
        let stat = |e: std::io::Error| StorageError::io(&shown, "stat", &e);
        if vfs.exists(dir).map_err(stat)? {
            if !vfs.is_dir(dir).map_err(stat)? {
                return Err(OpenError::NotADatabase {
                    path: shown,
                    detail: "not a directory".into(),
                });
            }
            return Ok(true);
        }
        if !config.create_if_missing {
            return Err(OpenError::NotFound { path: shown });
        }
        vfs.create_dir_all(dir)
            .map_err(|e| StorageError::io(&shown, "create directory", &e))?;
        // The new directory's own entry must be durable, or a power loss takes the
        // whole database with it, however carefully its files were synced.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            vfs.sync_dir(parent)
                .map_err(|e| StorageError::io(&shown, "sync parent directory", &e))?;
        }
        Ok(false)
    }

    /// Decides, without changing anything, whether an existing directory holds a
    /// database (false) or is to become one (true), or is to be refused.
    fn inspect(vfs: &dyn crate::env::Vfs, dir: &Path, config: &Config) -> Result<bool, OpenError> {
        let shown = dir.display().to_string();
        let names = vfs
            .list(dir)
            .map_err(|e| StorageError::io(&shown, "list", &e))?;
        if names.iter().any(|n| n == MANIFEST_FILE) {
            Self::read_manifest(vfs, dir)?;
            return Ok(false);
        }
        Self::refuse_foreign(vfs, dir)?;
        let data_files = names
            .iter()
            .any(|n| n == IMAGE_FILE || parse_segment_file_name(n).is_some());
        if data_files && !names.iter().any(|n| n == CREATING_FILE) {
            // Not an interrupted creation (that leaves its marker): the manifest was lost.
            // Guessing what is durable would be repairing silently; refuse instead.
            return Err(OpenError::Storage(StorageError::corruption(
                MANIFEST_FILE,
                0,
                "the manifest is missing but the directory holds Kiln data files",
            )));
        }
        if !config.create_if_missing {
            return Err(OpenError::NotFound { path: shown });
        }
        Ok(true)
    }

    /// Reads and checks the manifest, mapping its failures to open errors.
    fn read_manifest(
        vfs: &dyn crate::env::Vfs,
        dir: &Path,
    ) -> Result<Option<manifest::Manifest>, OpenError> {
        let shown = dir.display().to_string();
        match manifest::read(vfs, dir) {
            Ok(found) => Ok(found),
            Err(ManifestError::Foreign) if Self::holds_kiln_files(vfs, dir) => {
                // Beside our own files, a manifest with a bad magic is damage, not a
                // stranger's file.
                Err(OpenError::Storage(StorageError::corruption(
                    MANIFEST_FILE,
                    0,
                    "the manifest's magic number is damaged",
                )))
            }
            Err(ManifestError::Foreign) => Err(OpenError::NotADatabase {
                path: shown,
                detail: format!("{MANIFEST_FILE} is not a Kiln manifest"),
            }),
            Err(ManifestError::UnsupportedVersion(found)) => Err(OpenError::UnsupportedVersion {
                path: shown,
                found,
                supported: manifest::MANIFEST_FORMAT_VERSION,
            }),
            Err(ManifestError::Storage(e)) => Err(OpenError::Storage(e)),
        }
    }

    /// Refuses a directory without a manifest that holds files Kiln did not write: it is
    /// somebody else's, and creating a database there would mix the two.
    fn refuse_foreign(vfs: &dyn crate::env::Vfs, dir: &Path) -> Result<(), OpenError> {
        let shown = dir.display().to_string();
        let names = vfs
            .list(dir)
            .map_err(|e| StorageError::io(&shown, "list", &e))?;
        if names.iter().any(|n| n == MANIFEST_FILE) {
            return Ok(());
        }
        let ours = |n: &String| {
            n == LOCK_FILE
                || n == CREATING_FILE
                || n == IMAGE_FILE
                || n == MANIFEST_TEMP_FILE
                || parse_segment_file_name(n).is_some()
        };
        match names.iter().find(|n| !ours(n)) {
            Some(foreign) => Err(OpenError::NotADatabase {
                path: shown,
                detail: format!("the directory holds {foreign} and no {MANIFEST_FILE}"),
            }),
            None => Ok(()),
        }
    }

    /// Whether `dir` holds an image store or WAL segments.
    fn holds_kiln_files(vfs: &dyn crate::env::Vfs, dir: &Path) -> bool {
        vfs.list(dir).is_ok_and(|names| {
            names
                .iter()
                .any(|n| n == IMAGE_FILE || parse_segment_file_name(n).is_some())
        })
    }

    fn recover(
        env: Env,
        dir: PathBuf,
        config: Config,
        manifest: manifest::Manifest,
        lock: Box<dyn LockGuard>,
    ) -> Result<Database, OpenError> {
        let health = Arc::new(Health::default());
        let recovered = recovery::recover(
            &env,
            &dir,
            &manifest,
            wal_config(&config),
            resident_max(&config),
            &health,
            config.planted(),
        )?;
        let stats = recovered.stats;
        let txns = Arc::new(TxnManager::new(
            Arc::new(recovered.wal),
            Arc::new(recovered.pool),
            health.clone(),
            recovered.allocators,
            recovered.catalog,
            recovered.last_commit_lsn,
            config.planted(),
        ));
        let checkpointer = Checkpointer::new(
            &env,
            dir.clone(),
            manifest.database_id,
            config.retention_segments,
            health.clone(),
            (manifest.sequence, manifest.wal_position.next_lsn),
            config.planted(),
        );
        let db = Database {
            inner: Arc::new(DbInner {
                env,
                dir,
                config,
                health,
                txns,
                checkpointer,
                recovery: stats,
                telemetry: StorageTelemetryRegistry::default(),
                _lock: lock,
            }),
        };
        db.seed_telemetry()?;
        Ok(db)
    }

    /// Creates a new database: empty image store, first WAL segment, system relations,
    /// and a first checkpoint. Until that checkpoint's manifest is durable there is no
    /// database, so a crash anywhere in here leaves a directory that the next open
    /// recreates from scratch.
    fn create(
        env: Env,
        dir: PathBuf,
        config: Config,
        lock: Box<dyn LockGuard>,
    ) -> Result<Database, OpenError> {
        let shown = dir.display().to_string();
        let vfs = env.vfs.clone();
        // The marker first (durably): until the first manifest is durable, an open that
        // finds our files knows they are an interrupted creation.
        vfs.open(&dir.join(CREATING_FILE), OpenOptions::CREATE)
            .map_err(|e| StorageError::io(CREATING_FILE, "create", &e))?;
        vfs.sync_dir(&dir)
            .map_err(|e| StorageError::io(&shown, "sync directory", &e))?;
        let names = vfs
            .list(&dir)
            .map_err(|e| StorageError::io(&shown, "list", &e))?;
        for name in names
            .iter()
            .filter(|n| *n != LOCK_FILE && *n != CREATING_FILE)
        {
            vfs.remove(&dir.join(name))
                .map_err(|e| StorageError::io(name, "remove", &e))?;
        }
        let health = Arc::new(Health::default());
        let database_id = env.random.next_u64() | 1;
        let file = vfs
            .open(&dir.join(IMAGE_FILE), OpenOptions::CREATE)
            .map_err(|e| StorageError::io(IMAGE_FILE, "create", &e))?;
        file.set_len(0)
            .map_err(|e| StorageError::io(IMAGE_FILE, "truncate", &e))?;
        let mut store = ImageStore::create(file, database_id, health.clone())?;
        store.set_skip_crc(config.planted().skip_page_crc);
        let wal = Wal::create(
            vfs.clone(),
            env.clock.clone(),
            &dir,
            database_id,
            wal_config(&config),
            health.clone(),
        )?;
        let pool = BufferPool::open(store, Default::default(), resident_max(&config))?;
        let allocators = Allocators {
            next_page_id: 1,
            next_object_id: crate::catalog::FIRST_USER_OBJECT_ID,
            next_txn_id: 1,
        };
        let txns = Arc::new(TxnManager::new(
            Arc::new(wal),
            Arc::new(pool),
            health.clone(),
            allocators,
            Catalog::default(),
            0,
            config.planted(),
        ));
        let mut ctx = txns.begin_write(&*env.clock)?;
        ctx.with_mutator(|_, pool, log| crate::catalog::bootstrap(pool, log))?;
        ctx.commit()?;
        let checkpointer = Checkpointer::new(
            &env,
            dir.clone(),
            database_id,
            config.retention_segments,
            health.clone(),
            (0, 1),
            config.planted(),
        );
        let db = Database {
            inner: Arc::new(DbInner {
                env,
                dir,
                config,
                health,
                txns,
                checkpointer,
                recovery: RecoveryStats::default(),
                telemetry: StorageTelemetryRegistry::default(),
                _lock: lock,
            }),
        };
        db.checkpoint()
            .map_err(|CheckpointError::Storage(e)| OpenError::Storage(e))?;
        // The first manifest is durable: the database exists.
        let vfs = &db.inner.env.vfs;
        let dir = &db.inner.dir;
        vfs.remove(&dir.join(CREATING_FILE))
            .map_err(|e| StorageError::io(CREATING_FILE, "remove", &e))?;
        vfs.sync_dir(dir)
            .map_err(|e| StorageError::io(&dir.display().to_string(), "sync directory", &e))?;
        Ok(db)
    }

    /// The directory the database lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration the database was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Begins a write transaction, waiting for the active one (if any) to finish.
    pub fn begin_write(&self) -> Result<WriteTxn, TxnError> {
        let ctx = self.inner.txns.begin_write(&*self.inner.env.clock)?;
        Ok(WriteTxn::new(ctx, self.clone()))
    }

    /// Begins a write transaction only if none is active.
    pub fn try_begin_write(&self) -> Result<Option<WriteTxn>, TxnError> {
        Ok(self
            .inner
            .txns
            .try_begin_write()?
            .map(|ctx| WriteTxn::new(ctx, self.clone())))
    }

    /// Opens a read snapshot of everything durable now. Never blocks.
    pub fn begin_read(&self) -> Result<ReadTxn, TxnError> {
        Ok(ReadTxn::new(self.inner.txns.begin_read()?))
    }

    /// Runs a checkpoint, waiting for the active writer to finish first.
    pub fn checkpoint(&self) -> Result<CheckpointStats, CheckpointError> {
        self.inner.health.check()?;
        let clock = &*self.inner.env.clock;
        let started = clock.now_monotonic_ns();
        let fence = self.inner.txns.fence(clock);
        let waited = clock.now_monotonic_ns().saturating_sub(started);
        Ok(self
            .inner
            .checkpointer
            .run(&self.inner.txns, fence, waited)?)
    }

    /// Runs a checkpoint only if no writer is active; `None` if one is.
    pub fn try_checkpoint(&self) -> Result<Option<CheckpointStats>, CheckpointError> {
        self.inner.health.check()?;
        match self.inner.txns.try_fence() {
            Some(fence) => Ok(Some(self.inner.checkpointer.run(
                &self.inner.txns,
                fence,
                0,
            )?)),
            None => Ok(None),
        }
    }

    pub(crate) fn maybe_auto_checkpoint(&self) {
        let threshold = self.inner.config.checkpoint_wal_bytes;
        if threshold == 0
            || self
                .inner
                .checkpointer
                .wal_bytes_since_last(&self.inner.txns)
                < threshold
        {
            return;
        }
        // The commit that got us here is durable already; a failed checkpoint puts the
        // database in its failed state, which the next call reports.
        let _ = self.try_checkpoint();
    }

    /// Whether an earlier I/O failure put the database in its failed state.
    pub fn is_failed(&self) -> bool {
        self.inner.health.is_failed()
    }

    /// Checks every structural invariant the engine can check on its own: page CRCs of
    /// the checkpointed images, slot accounting, heap page layout, row encodings, heap
    /// chains, catalog referential integrity, and that every live page belongs to
    /// exactly one heap.
    pub fn check_integrity(&self) -> Result<integrity::IntegrityReport, StorageError> {
        let snapshot = self.inner.txns.begin_read()?;
        integrity::check(&snapshot, self.inner.txns.pool())
    }

    /// Counters and gauges.
    pub fn stats(&self) -> DatabaseStats {
        use std::sync::atomic::Ordering::Relaxed;
        let txns = &self.inner.txns;
        let wal = txns.wal();
        DatabaseStats {
            durable_lsn: wal.durable_lsn(),
            last_commit_lsn: txns.last_commit_lsn(),
            commits: txns.stats.commits.load(Relaxed),
            aborts: txns.stats.aborts.load(Relaxed),
            wal_flushes: wal.stats.flushes.load(Relaxed),
            wal_syncs: wal.stats.syncs.load(Relaxed),
            wal_bytes_appended: wal.stats.bytes_appended.load(Relaxed),
            wal_flush_ns_total: wal.stats.flush_ns_total.load(Relaxed),
            wal_flush_ns_max: wal.stats.flush_ns_max.load(Relaxed),
            wal_segments_created: wal.stats.segments_created.load(Relaxed),
            wal_segments_removed: wal.stats.segments_removed.load(Relaxed),
            checkpoints_completed: self.inner.checkpointer.completed.load(Relaxed),
            checkpoints_failed: self.inner.checkpointer.failed.load(Relaxed),
            last_checkpoint: self.inner.checkpointer.last(),
            open_snapshots: txns.open_snapshots() as u64,
            write_lock_wait_ns: txns.stats.write_lock_wait_ns.load(Relaxed),
            fence_wait_ns: txns.stats.fence_wait_ns.load(Relaxed),
            pool: txns.pool().stats(),
            recovery: self.inner.recovery,
            catalog_epoch: txns.newest_catalog().epoch,
            failed: self.inner.health.is_failed(),
        }
    }

    /// Loads the DDL counts earlier processes persisted into the telemetry registry.
    fn seed_telemetry(&self) -> Result<(), OpenError> {
        let pool = self.inner.txns.pool();
        for row in crate::ddl::stats::load(pool, Snapshot::Committed(crate::Lsn::MAX))? {
            self.inner
                .telemetry
                .seed_ddl(&row.verb, &row.outcome, row.count, row.duration_ns);
        }
        Ok(())
    }

    /// Dispatches one DDL command in a transaction of its own and reports the outcome as
    /// a [`DdlCommandResponse`]. On failure the transaction is aborted, so nothing of the
    /// command remains. Every dispatch is counted in the telemetry (attempts, successes,
    /// failures by category, duration), durably: a success in the command's own
    /// transaction, a failure in a small transaction after it.
    pub fn execute_ddl(&self, command: &DdlCommand) -> DdlCommandResponse {
        let clock = &*self.inner.env.clock;
        let started = clock.now_monotonic_ns();
        let verb = command.verb();
        let outcome = self.run_ddl(command, started);
        let duration_ns = clock.now_monotonic_ns().saturating_sub(started);
        match outcome {
            Ok(done) => {
                self.inner
                    .telemetry
                    .record_ddl(verb.sql(), "success", duration_ns);
                DdlCommandResponse::success(verb, done.message, done.result)
            }
            Err(error) => {
                self.inner
                    .telemetry
                    .record_ddl(verb.sql(), error.category.label(), duration_ns);
                self.persist_failure(verb.sql(), error.category.label(), duration_ns);
                DdlCommandResponse::failure(verb, &error)
            }
        }
    }

    /// Runs DDL written in SQL (PostgreSQL dialect, see [`crate::ddl::sql`]): each
    /// statement in order, each in a transaction of its own (autocommit, as psql does),
    /// one response per command. A statement refused before it reaches the engine (it
    /// does not parse, or is not supported) gets a failure response of its own and does
    /// not stop the others; if it is a DDL verb it is counted in the telemetry like a
    /// dispatch that failed (with no duration: nothing ran).
    pub fn execute_sql(
        &self,
        sql: &str,
        session: &crate::ddl::sql::Session,
    ) -> Vec<DdlCommandResponse> {
        let statements = crate::ddl::sql::parse_statements(sql, session);
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            let response = match &statement.command {
                Ok(command) => self.execute_ddl(command),
                Err(error) => {
                    if let Some(verb) = statement.verb {
                        self.inner
                            .telemetry
                            .record_ddl(verb.sql(), error.category.label(), 0);
                        self.persist_failure(verb.sql(), error.category.label(), 0);
                    }
                    statement.rejection(error)
                }
            };
            responses.push(response);
        }
        responses
    }

    fn run_ddl(
        &self,
        command: &DdlCommand,
        started_ns: u64,
    ) -> Result<crate::ddl::DdlOutcome, DdlError> {
        let mut tx = self.begin_write().map_err(ddl_storage)?;
        let done = tx.ddl(command)?;
        let elapsed = self
            .inner
            .env
            .clock
            .now_monotonic_ns()
            .saturating_sub(started_ns);
        tx.record_ddl_success(command.verb().sql(), elapsed)
            .map_err(DdlError::storage)?;
        tx.commit().map_err(ddl_storage)?;
        Ok(done)
    }

    /// Counts a failed command durably, if the database can still write.
    fn persist_failure(&self, verb: &str, outcome: &str, duration_ns: u64) {
        if self.is_failed() {
            return;
        }
        if let Ok(mut tx) = self.begin_write() {
            if tx.record_ddl_failure(verb, outcome, duration_ns).is_ok() {
                let _ = tx.commit();
            }
        }
    }

    /// The telemetry registry (DDL command telemetry).
    pub fn telemetry(&self) -> &StorageTelemetryRegistry {
        &self.inner.telemetry
    }

    /// Takes the oldest committed catalog batch no consumer has taken yet.
    pub fn consume_published_batch(&self) -> Option<PublishedCatalogBatch> {
        self.inner.txns.consume_published_batch()
    }

    /// An accessor over the newest durable catalog; it keeps that view until refreshed.
    pub fn catalog_accessor(&self) -> Result<CatalogAccessor, TxnError> {
        let snapshot = self.begin_read()?;
        Ok(CatalogAccessor {
            db: self.clone(),
            catalog: Arc::new(snapshot.catalog().clone()),
        })
    }

    /// The `storage_diagnostics` report. With `check_integrity`, also runs the full
    /// structural check and lists its problems.
    pub fn storage_diagnostics(
        &self,
        check_integrity: bool,
    ) -> Result<StorageDiagnostics, StorageError> {
        let integrity = if check_integrity {
            Some(self.check_integrity()?.problems)
        } else {
            None
        };
        Ok(crate::diagnostics::collect(self, integrity))
    }

    pub(crate) fn txns(&self) -> &Arc<TxnManager> {
        &self.inner.txns
    }

    pub(crate) fn checkpointer(&self) -> &Checkpointer {
        &self.inner.checkpointer
    }

    pub(crate) fn env(&self) -> &Env {
        &self.inner.env
    }

    /// Checkpoints (so the next open has nothing to replay) and closes this handle.
    pub fn close(self) -> Result<(), CheckpointError> {
        self.checkpoint().map(|_| ())
    }
}

fn ddl_storage(error: TxnError) -> DdlError {
    match error {
        TxnError::Storage(e) => DdlError::storage(e),
        other => DdlError::new(
            crate::ddl::DdlErrorCategory::ExecutionFailed,
            other.to_string(),
        ),
    }
}

/// A view of the catalog that stays at the epoch it was built on (so a long task sees
/// consistent definitions) until [`CatalogAccessor::refresh`].
#[derive(Clone, Debug)]
pub struct CatalogAccessor {
    db: Database,
    catalog: Arc<Catalog>,
}

impl CatalogAccessor {
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn epoch(&self) -> u64 {
        self.catalog.epoch
    }

    /// Moves the view to the newest durable catalog; returns whether the epoch changed.
    pub fn refresh(&mut self) -> Result<bool, TxnError> {
        let newest = self.db.catalog_accessor()?;
        let changed = newest.catalog.epoch != self.catalog.epoch;
        self.catalog = newest.catalog;
        Ok(changed)
    }
}

fn wal_config(config: &Config) -> WalConfig {
    WalConfig {
        segment_size_bytes: config.wal_segment_size_bytes,
        buffer_bytes_max: config.wal_buffer_bytes_max,
    }
}

fn resident_max(config: &Config) -> usize {
    (config.cache_size_bytes / crate::page::PAGE_SIZE_BYTES as u64) as usize
}
