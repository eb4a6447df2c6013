//! Errors: one enum per API family (open, transaction, checkpoint), each wrapping the
//! shared [`StorageError`].
//!
//! Expected conditions (bad input, I/O failures, corruption found on disk) are values of
//! these types. Programmer errors are assertions. Nothing read from disk or given by a user
//! is ever unwrapped.

use std::fmt;
use std::io;

/// Failures of the storage layers, shared by every API family.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The operating system (or the simulated disk) reported an error.
    #[error("I/O error on {file} during {op}: {message}")]
    Io {
        file: String,
        op: &'static str,
        kind: io::ErrorKind,
        message: String,
    },
    /// Bytes on disk are not what Kiln wrote: a structure is malformed.
    #[error("corruption in {file} at offset {offset}: {detail}")]
    Corruption {
        file: String,
        offset: u64,
        detail: String,
    },
    /// A checksum stored on disk does not match the bytes it covers.
    #[error("checksum mismatch in {file} at offset {offset}: expected {expected:#010x}, actual {actual:#010x}")]
    ChecksumMismatch {
        file: String,
        offset: u64,
        expected: u32,
        actual: u32,
    },
    /// An earlier write or sync failed. Nothing can be assumed about what reached the
    /// disk, so every operation fails until the database is closed and reopened, and
    /// recovery decides what is durable.
    #[error("an earlier I/O failure put the database in a failed state; close and reopen it")]
    PreviousIo,
    /// The device is full.
    #[error("disk full while writing {file}")]
    DiskFull { file: String },
}

impl StorageError {
    /// Wraps an I/O error, classifying "no space" as [`StorageError::DiskFull`].
    pub fn io(file: &str, op: &'static str, error: &io::Error) -> StorageError {
        if error.kind() == io::ErrorKind::StorageFull {
            return StorageError::DiskFull {
                file: file.to_string(),
            };
        }
        StorageError::Io {
            file: file.to_string(),
            op,
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    /// Shorthand for a [`StorageError::Corruption`].
    pub fn corruption(file: &str, offset: u64, detail: impl Into<String>) -> StorageError {
        StorageError::Corruption {
            file: file.to_string(),
            offset,
            detail: detail.into(),
        }
    }

    /// Whether this error means bytes on disk are damaged (as opposed to a failed call).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::Corruption { .. } | StorageError::ChecksumMismatch { .. }
        )
    }
}

/// Errors from opening a database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The directory exists but does not hold a Kiln database.
    #[error("{path} is not a Kiln database: {detail}")]
    NotADatabase { path: String, detail: String },
    /// There is no database at the path and `create_if_missing` is off.
    #[error("no Kiln database at {path} (set create_if_missing to create one)")]
    NotFound { path: String },
    /// The database was written by a format version this build cannot read.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        path: String,
        found: u32,
        supported: u32,
    },
    /// Another engine holds the database open.
    #[error("{path} is already open in another engine")]
    AlreadyOpen { path: String },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// Errors from transactions: reads, writes, commit, and the catalog calls made in them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{kind} {name} does not exist")]
    NotFound { kind: ObjectKind, name: String },
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: ObjectKind, name: String },
    #[error("invalid identifier: {reason}")]
    InvalidIdentifier { name: String, reason: String },
    #[error("{0}")]
    Validation(String),
    #[error("column {column} has type {expected}, got a value of type {actual}")]
    TypeMismatch {
        column: String,
        expected: String,
        actual: String,
    },
    #[error("column {column} does not accept NULL")]
    NullViolation { column: String },
    #[error("table {table} has {expected} columns, got {actual} values")]
    ColumnCount {
        table: String,
        expected: usize,
        actual: usize,
    },
    #[error("{what} of {size} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        what: &'static str,
        size: usize,
        max: usize,
    },
    #[error("row {row_id} does not exist in table {table}")]
    RowNotFound { table: String, row_id: u64 },
    #[error("this transaction is read-only")]
    ReadOnly,
    /// The object changed under a handle obtained earlier in another transaction.
    #[error("{0} was dropped or altered; look it up again")]
    StaleHandle(String),
}

impl TxnError {
    /// The storage error inside, if this is one.
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            TxnError::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// Errors from checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The kinds of catalog objects, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Database,
    Schema,
    Table,
    Column,
    Index,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Database => "database",
            ObjectKind::Schema => "schema",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Index => "index",
        })
    }
}

/// Shorthand used inside the engine for storage-level results.
pub type StorageResult<T> = Result<T, StorageError>;
