//! Transactions as users see them: [`WriteTxn`] and [`ReadTxn`], with typed rows.

use crate::catalog::{Catalog, ColumnSpec, ObjectId, TableDef};
use crate::ddl::{DdlCommand, DdlError, DdlOutcome};
use crate::engine::Database;
use crate::heap::{self, RowId, ROW_BYTES_MAX};
use crate::page::{BufferPool, Snapshot};
use crate::txn::{CommitInfo, ReadSnapshot, WriteContext};
use crate::value::{decode_row, encode_row, encoded_row_len, Value};
use crate::{ObjectKind, StorageError, TxnError};

/// A table, as named by a transaction. Holds only identity: every operation checks it
/// against the catalog of the transaction using it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub id: ObjectId,
    pub name: String,
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
    const NULL: Value = Value::Null;
    let mut stored: Vec<&Value> = Vec::with_capacity(def.columns.len());
    let mut given = values.iter();
    for column in &def.columns {
        if column.dropped {
            stored.push(&NULL);
            continue;
        }
        let Some(value) = given.next() else {
            return Err(column_count(def, values));
        };
        match value.column_type() {
            None if !column.nullable => {
                return Err(TxnError::NullViolation {
                    column: column.name.clone(),
                });
            }
            Some(t) if t != column.column_type => {
                return Err(TxnError::TypeMismatch {
                    column: column.name.clone(),
                    expected: column.column_type.to_string(),
                    actual: t.to_string(),
                });
            }
            _ => {}
        }
        stored.push(value);
    }
    if given.next().is_some() {
        return Err(column_count(def, values));
    }
    let size = encoded_row_len(&stored);
    if size > ROW_BYTES_MAX {
        return Err(TxnError::ValueTooLarge {
            what: "row",
            size,
            max: ROW_BYTES_MAX,
        });
    }
    // The tuple is the row behind its tag byte: encoded in place, handed to the heap.
    let mut tuple = heap::row_tuple(size);
    encode_row(&stored, &mut tuple);
    Ok(tuple)
}

fn column_count(def: &TableDef, values: &[Value]) -> TxnError {
    TxnError::ColumnCount {
        table: def.name.clone(),
        expected: def.live_columns().count(),
        actual: values.len(),
    }
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
    pub(crate) fn new(ctx: WriteContext, db: Database) -> WriteTxn {
        WriteTxn { ctx, db }
    }
}

impl WriteTxn {
    /// The catalog as this transaction sees it.
    pub fn catalog(&self) -> &Catalog {
        self.ctx.catalog()
    }

    /// Runs one DDL command inside this transaction (transactional DDL, as in
    /// PostgreSQL). On error, abort the transaction: the command may have staged part of
    /// its work. [`Database::execute_ddl`] runs a command in its own transaction and
    /// returns a [`DdlCommandResponse`](crate::DdlCommandResponse) instead.
    pub fn ddl(&mut self, command: &DdlCommand) -> Result<DdlOutcome, DdlError> {
        crate::ddl::execute(&mut self.ctx, command)
    }

    /// Counts a successful DDL command in the persisted telemetry, in this transaction.
    pub(crate) fn record_ddl_success(
        &mut self,
        verb: &str,
        duration_ns: u64,
    ) -> crate::StorageResult<()> {
        crate::ddl::stats::bump(&mut self.ctx, verb, "success", duration_ns)
    }

    /// Counts a failed DDL command in the persisted telemetry, in this transaction.
    pub(crate) fn record_ddl_failure(
        &mut self,
        verb: &str,
        outcome: &str,
        duration_ns: u64,
    ) -> crate::StorageResult<()> {
        crate::ddl::stats::bump(&mut self.ctx, verb, outcome, duration_ns)
    }

    fn ddl_typed(&mut self, command: &DdlCommand) -> Result<serde_json::Value, TxnError> {
        self.ddl(command).map(|o| o.result).map_err(TxnError::from)
    }

    /// Creates a database and its `public` schema; returns the database id.
    pub fn create_database(&mut self, name: &str) -> Result<ObjectId, TxnError> {
        let command = DdlCommand::CreateDatabase {
            name: name.into(),
            if_not_exists: false,
        };
        let result = self.ddl_typed(&command)?;
        Ok(result["database_id"]
            .as_u64()
            .expect("CREATE DATABASE reports its id"))
    }

    /// Creates a schema in `database`; returns its id.
    pub fn create_schema(&mut self, database: &str, name: &str) -> Result<ObjectId, TxnError> {
        let command = DdlCommand::CreateSchema {
            database: database.into(),
            name: name.into(),
            if_not_exists: false,
        };
        let result = self.ddl_typed(&command)?;
        Ok(result["schema_id"]
            .as_u64()
            .expect("CREATE SCHEMA reports its id"))
    }

    /// Creates a table with `columns` in `database.schema`.
    pub fn create_table(
        &mut self,
        database: &str,
        schema: &str,
        name: &str,
        columns: &[ColumnSpec],
    ) -> Result<Table, TxnError> {
        let command = DdlCommand::CreateTable {
            database: database.into(),
            schema: schema.into(),
            name: name.into(),
            columns: columns.to_vec(),
            if_not_exists: false,
        };
        let result = self.ddl_typed(&command)?;
        let id = result["table_id"]
            .as_u64()
            .expect("CREATE TABLE reports its id");
        Ok(Table {
            id,
            name: format!("{database}.{schema}.{name}"),
        })
    }

    /// Drops a table and frees its pages.
    pub fn drop_table(&mut self, database: &str, schema: &str, name: &str) -> Result<(), TxnError> {
        let command = DdlCommand::DropTable {
            database: database.into(),
            schema: schema.into(),
            name: name.into(),
            if_exists: false,
            cascade: false,
        };
        self.ddl_typed(&command).map(|_| ())
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
            .with_heap(|pool, log| heap::insert_tuple(pool, log, root, bytes))?)
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
            .with_heap(|pool, log| heap::update(pool, log, root, owner, row_id, &bytes[1..]))?;
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
    pub(crate) fn new(snapshot: ReadSnapshot) -> ReadTxn {
        ReadTxn { snapshot }
    }
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
