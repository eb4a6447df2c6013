//! Kiln: an embedded, crash-safe relational storage engine.
//!
//! Durable state is the last committed checkpoint (page images plus a manifest) and the
//! write-ahead log after it. The engine reaches files, time and randomness only through
//! the [`env`] seam, so the simulator in `kiln-sim` can run it on a simulated disk that
//! crashes, tears writes and flips bits, deterministically from a seed.
//!
//! Layers call downward only: env <- wal, page <- heap <- catalog <- txn <- checkpoint,
//! recovery <- engine (the public API). docs/ARCHITECTURE.md walks through them.
#![forbid(unsafe_code)]

pub(crate) mod catalog;
pub(crate) mod checkpoint;
mod codec;
mod config;
pub mod ddl;
pub mod decode;
mod diagnostics;
mod engine;
pub mod env;
mod error;
mod health;
pub(crate) mod heap;
mod integrity;
pub(crate) mod page;
pub(crate) mod recovery;
pub mod telemetry;
pub(crate) mod txn;
mod txn_api;
pub mod value;
pub(crate) mod wal;

pub use catalog::{
    Catalog, ColumnDef, ColumnSpec, DatabaseDef, DropSummary, IndexDef, ObjectId, SchemaDef,
    TableDef, WalRecordFragment,
};
pub use checkpoint::CheckpointStats;
pub use config::Config;
pub use ddl::{
    check_identifier, AlterAction, DdlCommand, DdlCommandResponse, DdlError, DdlErrorCategory,
    DdlOutcome, DdlVerb, Severity, DEFAULT_SCHEMA, IDENTIFIER_BYTES_MAX,
};
pub use engine::{CatalogAccessor, Database, DatabaseStats};
pub use error::{CheckpointError, ObjectKind, OpenError, StorageError, StorageResult, TxnError};
pub use heap::RowId;
pub use integrity::IntegrityReport;
pub use page::{PoolStats, PAGE_SIZE_BYTES};
pub use recovery::RecoveryStats;
pub use telemetry::{StorageDiagnostics, StorageTelemetryRegistry};
#[cfg(feature = "planted-bugs")]
pub use txn::PlantedBugs;
pub use txn::{CommitInfo, PublishedCatalogBatch};
pub use txn_api::{ReadTxn, Table, WriteTxn};
pub use value::{ColumnType, Value};

/// Log sequence number: WAL records are numbered 1, 2, 3, ... with no gaps.
pub type Lsn = u64;

/// Every named crash point in the engine (see `crash_point!`). The simulator prints this
/// list (`kiln-sim list`) and counts which ones fired in a run; a test checks that every
/// `crash_point!` in the source is listed here.
pub const CRASH_POINTS: &[&str] = &[
    "wal.segment.created_before_dir_sync",
    "wal.retention.before_remove",
    "checkpoint.begin",
    "checkpoint.prepare.after_fence",
    "checkpoint.prepare.images_synced",
    "checkpoint.manifest.before_rename",
    "checkpoint.manifest.before_dir_sync",
    "checkpoint.commit.manifest_durable",
    "catalog.publish.before_commit_record",
    "catalog.publish.after_commit_durable",
    "ddl.drop.table.indexes_dropped",
    "ddl.drop.table.columns_dropped",
    "ddl.drop.table.pages_freed",
    "ddl.drop.schema.table_dropped",
    "ddl.drop.schema.schema_dropped",
    "ddl.drop.database.schema_dropped",
];
