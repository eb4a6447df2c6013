//! The public API: [`Database`], [`WriteTxn`], [`ReadTxn`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{Catalog, ColumnSpec, ObjectId, TableDef};
use crate::checkpoint::manifest::{self, ManifestError, MANIFEST_FILE, MANIFEST_TEMP_FILE};
use crate::checkpoint::{CheckpointStats, Checkpointer};
use crate::config::Config;
use crate::env::{Env, LockGuard, OpenOptions};
use crate::health::Health;
use crate::heap::{self, RowId, ROW_BYTES_MAX};
use crate::page::{BufferPool, ImageStore, Snapshot, IMAGE_FILE};
use crate::recovery::{self, RecoveryStats};
use crate::txn::{Allocators, CommitInfo, ReadSnapshot, TxnManager, WriteContext};
use crate::value::{decode_row, encode_row, encoded_row_len, Value};
use crate::wal::format::parse_segment_file_name;
use crate::wal::{Wal, WalConfig};
use crate::{integrity, CheckpointError, ObjectKind, OpenError, StorageError, TxnError};

const LOCK_FILE: &str = "LOCK";
/// Identifier length limit, as PostgreSQL's NAMEDATALEN - 1.
pub const IDENTIFIER_BYTES_MAX: usize = 63;
/// The schema every new database starts with, as in PostgreSQL.
pub const DEFAULT_SCHEMA: &str = "public";

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
    _lock: Box<dyn LockGuard>,
}

/// A table, as named by a transaction. Holds only identity: every operation checks it
/// against the catalog of the transaction using it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub id: ObjectId,
    pub name: String,
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
    pub fn open(env: Env, dir: impl AsRef<Path>, config: Config) -> Result<Database, OpenError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let shown = dir.display().to_string();
        let vfs = env.vfs.clone();
        let dir_exists = vfs
            .exists(&dir)
            .map_err(|e| StorageError::io(&shown, "stat", &e))?;
        if dir_exists
            && !vfs
                .is_dir(&dir)
                .map_err(|e| StorageError::io(&shown, "stat", &e))?
        {
            return Err(OpenError::NotADatabase {
                path: shown,
                detail: "not a directory".into(),
            });
        }
        if !dir_exists {
            if !config.create_if_missing {
                return Err(OpenError::NotFound { path: shown });
            }
            vfs.create_dir_all(&dir)
                .map_err(|e| StorageError::io(&shown, "create directory", &e))?;
            // The new directory's own entry must be durable, or a power loss takes the
            // whole database with it, however carefully its files were synced.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                vfs.sync_dir(parent)
                    .map_err(|e| StorageError::io(&shown, "sync parent directory", &e))?;
            }
        }
        let lock = vfs.lock(&dir.join(LOCK_FILE)).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => OpenError::AlreadyOpen {
                path: shown.clone(),
            },
            _ => OpenError::Storage(StorageError::io(LOCK_FILE, "lock", &e)),
        })?;
        match manifest::read(&*vfs, &dir) {
            Ok(Some(manifest)) => Self::recover(env, dir, config, manifest, lock),
            Ok(None) => Self::create(env, dir, config, lock),
            Err(ManifestError::Foreign) if Self::holds_kiln_files(&*vfs, &dir) => {
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
            config.planted().skip_page_crc,
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
            env.vfs.clone(),
            env.clock.clone(),
            dir.clone(),
            manifest.database_id,
            config.retention_segments,
            health.clone(),
            manifest.sequence,
        );
        Ok(Database {
            inner: Arc::new(DbInner {
                env,
                dir,
                config,
                health,
                txns,
                checkpointer,
                recovery: stats,
                _lock: lock,
            }),
        })
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
        if !config.create_if_missing {
            return Err(OpenError::NotFound { path: shown });
        }
        let vfs = env.vfs.clone();
        let names = vfs
            .list(&dir)
            .map_err(|e| StorageError::io(&shown, "list", &e))?;
        let ours = |n: &String| {
            n == LOCK_FILE
                || n == IMAGE_FILE
                || n == MANIFEST_TEMP_FILE
                || parse_segment_file_name(n).is_some()
        };
        if let Some(foreign) = names.iter().find(|n| !ours(n)) {
            return Err(OpenError::NotADatabase {
                path: shown,
                detail: format!("the directory holds {foreign} and no {MANIFEST_FILE}"),
            });
        }
        for name in names.iter().filter(|n| *n != LOCK_FILE) {
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
            vfs.clone(),
            env.clock.clone(),
            dir.clone(),
            database_id,
            config.retention_segments,
            health.clone(),
            0,
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
                _lock: lock,
            }),
        };
        db.checkpoint()
            .map_err(|CheckpointError::Storage(e)| OpenError::Storage(e))?;
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
        Ok(WriteTxn {
            ctx,
            db: self.clone(),
        })
    }

    /// Begins a write transaction only if none is active.
    pub fn try_begin_write(&self) -> Result<Option<WriteTxn>, TxnError> {
        Ok(self.inner.txns.try_begin_write()?.map(|ctx| WriteTxn {
            ctx,
            db: self.clone(),
        }))
    }

    /// Opens a read snapshot of everything durable now. Never blocks.
    pub fn begin_read(&self) -> Result<ReadTxn, TxnError> {
        Ok(ReadTxn {
            snapshot: self.inner.txns.begin_read()?,
        })
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

    fn maybe_auto_checkpoint(&self) {
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

    /// Checkpoints (so the next open has nothing to replay) and closes this handle.
    pub fn close(self) -> Result<(), CheckpointError> {
        self.checkpoint().map(|_| ())
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

/// Checks a name against the identifier rules: non-empty, at most 63 bytes, no NUL.
pub fn check_identifier(name: &str) -> Result<(), TxnError> {
    let reason = if name.is_empty() {
        "identifiers cannot be empty".to_string()
    } else if name.len() > IDENTIFIER_BYTES_MAX {
        format!(
            "identifiers are at most {IDENTIFIER_BYTES_MAX} bytes, this one is {}",
            name.len()
        )
    } else if name.contains('\0') {
        "identifiers cannot contain NUL".to_string()
    } else {
        return Ok(());
    };
    Err(TxnError::InvalidIdentifier {
        name: name.to_string(),
        reason,
    })
}

fn not_found(kind: ObjectKind, name: &str) -> TxnError {
    TxnError::NotFound {
        kind,
        name: name.to_string(),
    }
}

fn lookup_table<'c>(
    catalog: &'c Catalog,
    database: &str,
    schema: &str,
    table: &str,
) -> Result<&'c TableDef, TxnError> {
    let db = catalog
        .database_by_name(database)
        .ok_or_else(|| not_found(ObjectKind::Database, database))?;
    let sc = catalog
        .schema_by_name(db.id, schema)
        .ok_or_else(|| not_found(ObjectKind::Schema, &format!("{database}.{schema}")))?;
    catalog
        .table_by_name(sc.id, table)
        .ok_or_else(|| not_found(ObjectKind::Table, &format!("{database}.{schema}.{table}")))
}

fn table_def<'c>(catalog: &'c Catalog, table: &Table) -> Result<&'c TableDef, TxnError> {
    catalog
        .table(table.id)
        .ok_or_else(|| TxnError::StaleHandle(format!("table {}", table.name)))
}

/// Checks `values` against the table's live columns and encodes them as a stored row.
fn encode_checked(def: &TableDef, values: &[Value]) -> Result<Vec<u8>, TxnError> {
    let live: Vec<_> = def.live_columns().collect();
    if live.len() != values.len() {
        return Err(TxnError::ColumnCount {
            table: def.name.clone(),
            expected: live.len(),
            actual: values.len(),
        });
    }
    let mut stored = vec![Value::Null; def.columns.len()];
    for (column, value) in live.iter().zip(values) {
        match value.column_type() {
            None if !column.nullable => {
                return Err(TxnError::NullViolation {
                    column: column.name.clone(),
                })
            }
            Some(t) if t != column.column_type => {
                return Err(TxnError::TypeMismatch {
                    column: column.name.clone(),
                    expected: column.column_type.to_string(),
                    actual: t.to_string(),
                })
            }
            _ => {}
        }
        stored[column.position as usize] = value.clone();
    }
    let size = encoded_row_len(&stored);
    if size > ROW_BYTES_MAX {
        return Err(TxnError::ValueTooLarge {
            what: "row",
            size,
            max: ROW_BYTES_MAX,
        });
    }
    let mut bytes = Vec::with_capacity(size);
    encode_row(&stored, &mut bytes);
    Ok(bytes)
}

/// Decodes a stored row into the table's live columns.
fn decode_checked(def: &TableDef, row_id: RowId, bytes: &[u8]) -> Result<Vec<Value>, StorageError> {
    let stored = decode_row(bytes, &def.stored_types()).map_err(|e| {
        StorageError::corruption(
            "buffer pool",
            row_id,
            format!("row {row_id:#x} of table {}: {}", def.name, e.0),
        )
    })?;
    Ok(def
        .columns
        .iter()
        .zip(stored)
        .filter(|(c, _)| !c.dropped)
        .map(|(_, v)| v)
        .collect())
}

fn read_row(
    pool: &BufferPool,
    snapshot: Snapshot,
    def: &TableDef,
    row_id: RowId,
) -> Result<Option<Vec<Value>>, TxnError> {
    match heap::get(pool, snapshot, def.id, row_id)? {
        Some(bytes) => Ok(Some(decode_checked(def, row_id, &bytes)?)),
        None => Ok(None),
    }
}

fn scan_rows(
    pool: &BufferPool,
    snapshot: Snapshot,
    def: &TableDef,
) -> Result<Vec<(RowId, Vec<Value>)>, TxnError> {
    let mut scan = heap::Scan::new(pool, snapshot, def.id, def.root_page)?;
    let mut rows = Vec::new();
    while let Some((row_id, bytes)) = scan.next_row()? {
        rows.push((row_id, decode_checked(def, row_id, &bytes)?));
    }
    Ok(rows)
}

/// A write transaction. Dropping it without [`WriteTxn::commit`] aborts it.
#[derive(Debug)]
pub struct WriteTxn {
    ctx: WriteContext,
    db: Database,
}

impl WriteTxn {
    /// The catalog as this transaction sees it.
    pub fn catalog(&self) -> &Catalog {
        self.ctx.catalog()
    }

    /// Creates a database and its `public` schema.
    pub fn create_database(&mut self, name: &str) -> Result<ObjectId, TxnError> {
        check_identifier(name)?;
        if self.catalog().database_by_name(name).is_some() {
            return Err(TxnError::AlreadyExists {
                kind: ObjectKind::Database,
                name: name.into(),
            });
        }
        let id = self
            .ctx
            .with_mutator(|m, pool, log| m.stage_create_database(pool, log, name))?;
        self.ctx
            .with_mutator(|m, pool, log| m.stage_create_schema(pool, log, id, DEFAULT_SCHEMA))?;
        Ok(id)
    }

    /// Creates a schema in `database`.
    pub fn create_schema(&mut self, database: &str, name: &str) -> Result<ObjectId, TxnError> {
        check_identifier(name)?;
        let db = self
            .catalog()
            .database_by_name(database)
            .ok_or_else(|| not_found(ObjectKind::Database, database))?;
        let db_id = db.id;
        if self.catalog().schema_by_name(db_id, name).is_some() {
            return Err(TxnError::AlreadyExists {
                kind: ObjectKind::Schema,
                name: format!("{database}.{name}"),
            });
        }
        Ok(self
            .ctx
            .with_mutator(|m, pool, log| m.stage_create_schema(pool, log, db_id, name))?)
    }

    /// Creates a table with `columns` in `database.schema`.
    pub fn create_table(
        &mut self,
        database: &str,
        schema: &str,
        name: &str,
        columns: &[ColumnSpec],
    ) -> Result<Table, TxnError> {
        check_identifier(name)?;
        let mut seen = std::collections::BTreeSet::new();
        for c in columns {
            check_identifier(&c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(TxnError::Validation(format!(
                    "column {} specified more than once",
                    c.name
                )));
            }
        }
        if columns.len() > 1600 {
            return Err(TxnError::Validation(
                "tables can have at most 1600 columns".into(),
            ));
        }
        let catalog = self.catalog();
        let db = catalog
            .database_by_name(database)
            .ok_or_else(|| not_found(ObjectKind::Database, database))?;
        let sc = catalog
            .schema_by_name(db.id, schema)
            .ok_or_else(|| not_found(ObjectKind::Schema, &format!("{database}.{schema}")))?;
        let schema_id = sc.id;
        if catalog.table_by_name(schema_id, name).is_some() {
            return Err(TxnError::AlreadyExists {
                kind: ObjectKind::Table,
                name: format!("{database}.{schema}.{name}"),
            });
        }
        let id = self.ctx.with_mutator(|m, pool, log| {
            m.stage_create_table(pool, log, schema_id, name, columns)
        })?;
        Ok(Table {
            id,
            name: format!("{database}.{schema}.{name}"),
        })
    }

    /// Drops a table and frees its pages.
    pub fn drop_table(&mut self, database: &str, schema: &str, name: &str) -> Result<(), TxnError> {
        let id = lookup_table(self.catalog(), database, schema, name)?.id;
        self.ctx
            .with_mutator(|m, pool, log| m.stage_drop_table(pool, log, id))?;
        Ok(())
    }

    /// Looks up a table by name.
    pub fn table(&self, database: &str, schema: &str, name: &str) -> Result<Table, TxnError> {
        let def = lookup_table(self.catalog(), database, schema, name)?;
        Ok(Table {
            id: def.id,
            name: format!("{database}.{schema}.{name}"),
        })
    }

    /// Inserts a row; returns its id.
    pub fn insert(&mut self, table: &Table, values: &[Value]) -> Result<RowId, TxnError> {
        let def = table_def(self.ctx.catalog(), table)?;
        let bytes = encode_checked(def, values)?;
        let root = def.root_page;
        Ok(self
            .ctx
            .with_heap(|pool, log| heap::insert(pool, log, root, &bytes))?)
    }

    /// Replaces a row's values.
    pub fn update(
        &mut self,
        table: &Table,
        row_id: RowId,
        values: &[Value],
    ) -> Result<(), TxnError> {
        let def = table_def(self.ctx.catalog(), table)?;
        let bytes = encode_checked(def, values)?;
        let (root, owner) = (def.root_page, def.id);
        let found = self
            .ctx
            .with_heap(|pool, log| heap::update(pool, log, root, owner, row_id, &bytes))?;
        found.then_some(()).ok_or_else(|| TxnError::RowNotFound {
            table: table.name.clone(),
            row_id,
        })
    }

    /// Deletes a row.
    pub fn delete(&mut self, table: &Table, row_id: RowId) -> Result<(), TxnError> {
        let owner = table_def(self.ctx.catalog(), table)?.id;
        let found = self
            .ctx
            .with_heap(|pool, log| heap::delete(pool, log, owner, row_id))?;
        found.then_some(()).ok_or_else(|| TxnError::RowNotFound {
            table: table.name.clone(),
            row_id,
        })
    }

    /// A row's values as this transaction sees them.
    pub fn get(&self, table: &Table, row_id: RowId) -> Result<Option<Vec<Value>>, TxnError> {
        let def = table_def(self.ctx.catalog(), table)?;
        read_row(self.ctx.pool(), Snapshot::Writer, def, row_id)
    }

    /// Every row of the table as this transaction sees them, in storage order.
    pub fn scan(&self, table: &Table) -> Result<Vec<(RowId, Vec<Value>)>, TxnError> {
        let def = table_def(self.ctx.catalog(), table)?;
        scan_rows(self.ctx.pool(), Snapshot::Writer, def)
    }

    /// Commits; returns once the commit is durable.
    pub fn commit(self) -> Result<CommitInfo, TxnError> {
        let db = self.db;
        let info = self.ctx.commit()?;
        db.maybe_auto_checkpoint();
        Ok(info)
    }

    /// Discards every change.
    pub fn abort(self) {
        self.ctx.abort();
    }
}

/// A read snapshot: sees every commit durable when it began, nothing later.
#[derive(Debug)]
pub struct ReadTxn {
    snapshot: ReadSnapshot,
}

impl ReadTxn {
    /// The catalog as this snapshot sees it.
    pub fn catalog(&self) -> &Catalog {
        self.snapshot.catalog()
    }

    /// The LSN below which commits are visible to this snapshot.
    pub fn visible_below(&self) -> u64 {
        self.snapshot.visible_below()
    }

    /// Looks up a table by name.
    pub fn table(&self, database: &str, schema: &str, name: &str) -> Result<Table, TxnError> {
        let def = lookup_table(self.catalog(), database, schema, name)?;
        Ok(Table {
            id: def.id,
            name: format!("{database}.{schema}.{name}"),
        })
    }

    /// A row's values.
    pub fn get(&self, table: &Table, row_id: RowId) -> Result<Option<Vec<Value>>, TxnError> {
        let def = table_def(self.catalog(), table)?;
        read_row(self.snapshot.pool(), self.snapshot.snapshot(), def, row_id)
    }

    /// Every row of the table, in storage order.
    pub fn scan(&self, table: &Table) -> Result<Vec<(RowId, Vec<Value>)>, TxnError> {
        let def = table_def(self.catalog(), table)?;
        scan_rows(self.snapshot.pool(), self.snapshot.snapshot(), def)
    }
}
