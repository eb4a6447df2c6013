//! Staging catalog mutations inside a write transaction.
//!
//! Each `stage_*` call changes the transaction's working copy of the catalog and writes
//! the matching system-relation tuples at once, through the transaction's log, with
//! catalog record kinds. The WAL therefore carries every catalog change before the commit
//! record, and recovery replays catalog and user records alike; an aborted or cut-off
//! transaction's catalog changes vanish with its other changes.
//!
//! Cascaded drops descend depth first (database -> schemas -> tables -> indexes, columns,
//! pages) with a named crash point after each stage, so the simulator can stop the
//! machine in the middle of one and check that recovery shows none of it.

use crate::heap::record::HeapRecord;
use crate::heap::{self, HeapLog, RowId};
use crate::page::{BufferPool, PageId};
use crate::value::{encode_row, ColumnType, Value};
use crate::{Lsn, StorageResult};

use super::load::bad_catalog;
use super::system::{self, SysRelation, SYSTEM_RELATIONS};
use super::{
    Catalog, ColumnDef, ColumnSpec, DatabaseDef, ObjectId, SchemaDef, TableDef, Tuples,
    DEPENDENCY_PARENT,
};

/// What catalog writes need from the transaction, beyond heap logging.
pub trait CatalogLog: HeapLog {
    /// An object id never handed out before (durably so, even if this transaction aborts).
    fn new_object_id(&mut self) -> StorageResult<ObjectId>;
    /// Logs a heap record of a catalog mutation, with its catalog record kind.
    fn log_catalog(&mut self, record: &HeapRecord) -> StorageResult<Lsn>;
    /// A named crash point (see `crash_point!`).
    fn crash_point(&self, name: &'static str) -> StorageResult<()>;
}

/// One WAL record written for a catalog mutation, as the published batch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalRecordFragment {
    CatalogPageInit { lsn: Lsn, page: PageId },
    CatalogSetNext { lsn: Lsn, page: PageId },
    CatalogSetTail { lsn: Lsn, page: PageId },
    CatalogInsert { lsn: Lsn, page: PageId, slot: u16 },
    CatalogUpdate { lsn: Lsn, page: PageId, slot: u16 },
    CatalogDelete { lsn: Lsn, page: PageId, slot: u16 },
    CatalogPageFree { lsn: Lsn, page: PageId },
}

impl WalRecordFragment {
    fn of(record: &HeapRecord, lsn: Lsn) -> WalRecordFragment {
        match *record {
            HeapRecord::PageInit { page, .. } => WalRecordFragment::CatalogPageInit { lsn, page },
            HeapRecord::SetNext { page, .. } => WalRecordFragment::CatalogSetNext { lsn, page },
            HeapRecord::SetTail { page, .. } => WalRecordFragment::CatalogSetTail { lsn, page },
            HeapRecord::Insert { page, slot, .. } => {
                WalRecordFragment::CatalogInsert { lsn, page, slot }
            }
            HeapRecord::Update { page, slot, .. } => {
                WalRecordFragment::CatalogUpdate { lsn, page, slot }
            }
            HeapRecord::Delete { page, slot } => {
                WalRecordFragment::CatalogDelete { lsn, page, slot }
            }
            HeapRecord::PageFree { page } => WalRecordFragment::CatalogPageFree { lsn, page },
        }
    }
}

/// Routes heap writes through the catalog kinds and collects the fragments.
struct Tagged<'a> {
    log: &'a mut dyn CatalogLog,
    fragments: &'a mut Vec<WalRecordFragment>,
}

impl HeapLog for Tagged<'_> {
    fn log(&mut self, record: &HeapRecord) -> StorageResult<Lsn> {
        let lsn = self.log.log_catalog(record)?;
        self.fragments.push(WalRecordFragment::of(record, lsn));
        Ok(lsn)
    }

    fn new_page_id(&mut self) -> PageId {
        self.log.new_page_id()
    }
}

/// What a (possibly cascading) drop removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropSummary {
    pub databases: u64,
    pub schemas: u64,
    pub tables: u64,
    pub columns: u64,
    pub indexes: u64,
    pub pages_freed: u64,
}

impl DropSummary {
    /// Counts a dependent's drop (which counts itself) into this one.
    fn add(&mut self, dropped: DropSummary) {
        self.databases += dropped.databases;
        self.schemas += dropped.schemas;
        self.tables += dropped.tables;
        self.columns += dropped.columns;
        self.indexes += dropped.indexes;
        self.pages_freed += dropped.pages_freed;
    }
}

/// A write transaction's working copy of the catalog, with the mutations it staged.
#[derive(Debug)]
pub struct CatalogMutator {
    catalog: Catalog,
    staged: u64,
    fragments: Vec<WalRecordFragment>,
    /// Planted bug (tests only): a cascaded drop of a schema leaves its last table behind.
    leave_dependent_behind: bool,
}

impl CatalogMutator {
    pub fn new(base: &Catalog, leave_dependent_behind: bool) -> CatalogMutator {
        CatalogMutator {
            catalog: base.clone(),
            staged: 0,
            fragments: Vec::new(),
            leave_dependent_behind,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Mutations staged so far.
    pub fn staged_count(&self) -> u64 {
        self.staged
    }

    /// WAL records written for the staged mutations, in order.
    pub fn fragments(&self) -> &[WalRecordFragment] {
        &self.fragments
    }

    /// The staged catalog with its epoch bumped, and the fragments, to publish at commit.
    pub fn into_published(mut self) -> (Catalog, Vec<WalRecordFragment>) {
        self.catalog.epoch += 1;
        (self.catalog, self.fragments)
    }

    fn insert(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        rel: &SysRelation,
        values: &[Value],
    ) -> StorageResult<RowId> {
        let mut bytes = Vec::new();
        encode_row(values, &mut bytes);
        let mut tagged = Tagged {
            log,
            fragments: &mut self.fragments,
        };
        heap::insert(pool, &mut tagged, rel.root_page, &bytes)
    }

    fn update(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        rel: &SysRelation,
        row: RowId,
        values: &[Value],
    ) -> StorageResult<()> {
        let mut bytes = Vec::new();
        encode_row(values, &mut bytes);
        let mut tagged = Tagged {
            log,
            fragments: &mut self.fragments,
        };
        if heap::update(pool, &mut tagged, rel.root_page, rel.id, row, &bytes)? {
            Ok(())
        } else {
            Err(bad_catalog(format!(
                "{} has no row {row:#x} to update",
                rel.name
            )))
        }
    }

    fn delete(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        rel: &SysRelation,
        row: RowId,
    ) -> StorageResult<()> {
        let mut tagged = Tagged {
            log,
            fragments: &mut self.fragments,
        };
        if heap::delete(pool, &mut tagged, rel.id, row)? {
            Ok(())
        } else {
            Err(bad_catalog(format!(
                "{} has no row {row:#x} to delete",
                rel.name
            )))
        }
    }

    /// Writes an object's tuple and its dependency on `parent` (if any).
    fn insert_object(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        rel: &SysRelation,
        values: &[Value],
        id: ObjectId,
        parent: Option<ObjectId>,
    ) -> StorageResult<Tuples> {
        let row = self.insert(pool, log, rel, values)?;
        let mut dependency = 0;
        if let Some(parent) = parent {
            let dep = [int(id), int(parent), Value::Int64(DEPENDENCY_PARENT)];
            dependency = self.insert(pool, log, &system::DEPENDENCIES, &dep)?;
            self.catalog
                .dependencies
                .insert(id, (parent, DEPENDENCY_PARENT));
        }
        Ok(Tuples { row, dependency })
    }

    /// Deletes an object's tuple and its dependency row.
    fn delete_object(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        rel: &SysRelation,
        id: ObjectId,
        tuples: Tuples,
    ) -> StorageResult<()> {
        self.delete(pool, log, rel, tuples.row)?;
        if tuples.dependency != 0 {
            self.delete(pool, log, &system::DEPENDENCIES, tuples.dependency)?;
        }
        self.catalog.dependencies.remove(&id);
        Ok(())
    }

    pub fn stage_create_database(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        name: &str,
    ) -> StorageResult<ObjectId> {
        let id = log.new_object_id()?;
        let values = [int(id), Value::Text(name.into())];
        let tuples = self.insert_object(pool, log, &system::DATABASES, &values, id, None)?;
        self.catalog.databases.insert(
            id,
            DatabaseDef {
                id,
                name: name.into(),
                tuples,
            },
        );
        self.staged += 1;
        Ok(id)
    }

    pub fn stage_create_schema(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        database_id: ObjectId,
        name: &str,
    ) -> StorageResult<ObjectId> {
        assert!(self.catalog.databases.contains_key(&database_id));
        let id = log.new_object_id()?;
        let values = [int(id), int(database_id), Value::Text(name.into())];
        let tuples =
            self.insert_object(pool, log, &system::SCHEMAS, &values, id, Some(database_id))?;
        self.catalog.schemas.insert(
            id,
            SchemaDef {
                id,
                database_id,
                name: name.into(),
                tuples,
            },
        );
        self.staged += 1;
        Ok(id)
    }

    /// Creates a table and its columns; returns the table id.
    pub fn stage_create_table(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        schema_id: ObjectId,
        name: &str,
        columns: &[ColumnSpec],
    ) -> StorageResult<ObjectId> {
        assert!(self.catalog.schemas.contains_key(&schema_id));
        let id = log.new_object_id()?;
        let root_page = {
            let mut tagged = Tagged {
                log: &mut *log,
                fragments: &mut self.fragments,
            };
            heap::create(pool, &mut tagged, id)?
        };
        let values = [
            int(id),
            int(schema_id),
            Value::Text(name.into()),
            int(root_page),
        ];
        let tuples =
            self.insert_object(pool, log, &system::TABLES, &values, id, Some(schema_id))?;
        let mut table = TableDef {
            id,
            schema_id,
            name: name.into(),
            root_page,
            columns: Vec::new(),
            tuples,
        };
        for spec in columns {
            let column = self.write_column(pool, log, id, table.columns.len() as u16, spec)?;
            table.columns.push(column);
        }
        self.catalog.tables.insert(id, table);
        self.staged += 1;
        Ok(id)
    }

    fn write_column(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
        position: u16,
        spec: &ColumnSpec,
    ) -> StorageResult<ColumnDef> {
        let id = log.new_object_id()?;
        let mut column = ColumnDef {
            id,
            name: spec.name.clone(),
            column_type: spec.column_type,
            nullable: spec.nullable,
            position,
            dropped: false,
            tuples: Tuples::default(),
        };
        let values = column_values(&column, table_id);
        column.tuples =
            self.insert_object(pool, log, &system::COLUMNS, &values, id, Some(table_id))?;
        Ok(column)
    }

    fn table_mut(&mut self, table_id: ObjectId) -> &mut TableDef {
        self.catalog
            .tables
            .get_mut(&table_id)
            .expect("staging a change to a table that exists")
    }

    /// Appends a column to a table (rows written before read it as NULL).
    pub fn stage_add_column(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
        spec: &ColumnSpec,
    ) -> StorageResult<ObjectId> {
        let position = u16::try_from(self.table_mut(table_id).columns.len())
            .expect("column count checked by the caller");
        let column = self.write_column(pool, log, table_id, position, spec)?;
        let id = column.id;
        self.table_mut(table_id).columns.push(column);
        self.staged += 1;
        Ok(id)
    }

    /// Marks a column dropped. It keeps its position: stored rows still hold its value,
    /// which readers skip. Indexes covering it are dropped with it.
    pub fn stage_drop_column(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
        column_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let mut summary = DropSummary::default();
        let covering: Vec<ObjectId> = self
            .catalog
            .indexes_of(table_id)
            .filter(|i| i.column_ids.contains(&column_id))
            .map(|i| i.id)
            .collect();
        for index in covering {
            summary.pages_freed += self.drop_index_inner(pool, log, index)?;
            summary.indexes += 1;
        }
        let table = self.table_mut(table_id);
        let column = table
            .columns
            .iter_mut()
            .find(|c| c.id == column_id)
            .expect("column exists");
        column.dropped = true;
        let column = column.clone();
        self.update(
            pool,
            log,
            &system::COLUMNS,
            column.tuples.row,
            &column_values(&column, table_id),
        )?;
        summary.columns = 1;
        self.staged += 1;
        Ok(summary)
    }

    pub fn stage_rename_column(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
        column_id: ObjectId,
        new_name: &str,
    ) -> StorageResult<()> {
        let table = self.table_mut(table_id);
        let column = table
            .columns
            .iter_mut()
            .find(|c| c.id == column_id)
            .expect("column exists");
        column.name = new_name.to_string();
        let column = column.clone();
        self.update(
            pool,
            log,
            &system::COLUMNS,
            column.tuples.row,
            &column_values(&column, table_id),
        )?;
        self.staged += 1;
        Ok(())
    }

    pub fn stage_rename_table(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
        new_name: &str,
    ) -> StorageResult<()> {
        let table = self.table_mut(table_id);
        table.name = new_name.to_string();
        let values = [
            int(table.id),
            int(table.schema_id),
            Value::Text(table.name.clone()),
            int(table.root_page),
        ];
        let row = table.tuples.row;
        self.update(pool, log, &system::TABLES, row, &values)?;
        self.staged += 1;
        Ok(())
    }

    /// Drops an index and frees its pages.
    pub fn stage_drop_index(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        index_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let pages_freed = self.drop_index_inner(pool, log, index_id)?;
        self.staged += 1;
        Ok(DropSummary {
            indexes: 1,
            pages_freed,
            ..DropSummary::default()
        })
    }

    fn drop_index_inner(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        index_id: ObjectId,
    ) -> StorageResult<u64> {
        let index = self
            .catalog
            .indexes
            .remove(&index_id)
            .expect("dropping an index that exists");
        self.delete_object(pool, log, &system::INDEXES, index.id, index.tuples)?;
        let mut tagged = Tagged {
            log,
            fragments: &mut self.fragments,
        };
        heap::drop_heap(pool, &mut tagged, index.root_page)
    }

    /// Drops a table with its indexes, columns and pages.
    pub fn stage_drop_table(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let summary = self.drop_table_inner(pool, log, table_id)?;
        self.staged += 1;
        Ok(summary)
    }

    fn drop_table_inner(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let mut summary = DropSummary {
            tables: 1,
            ..DropSummary::default()
        };
        let indexes: Vec<ObjectId> = self.catalog.indexes_of(table_id).map(|i| i.id).collect();
        for index in indexes {
            summary.pages_freed += self.drop_index_inner(pool, log, index)?;
            summary.indexes += 1;
        }
        log.crash_point("ddl.drop.table.indexes_dropped")?;
        let table = self
            .catalog
            .tables
            .remove(&table_id)
            .expect("dropping a table that exists");
        for column in &table.columns {
            self.delete_object(pool, log, &system::COLUMNS, column.id, column.tuples)?;
            summary.columns += 1;
        }
        log.crash_point("ddl.drop.table.columns_dropped")?;
        self.delete_object(pool, log, &system::TABLES, table.id, table.tuples)?;
        let mut tagged = Tagged {
            log: &mut *log,
            fragments: &mut self.fragments,
        };
        summary.pages_freed += heap::drop_heap(pool, &mut tagged, table.root_page)?;
        log.crash_point("ddl.drop.table.pages_freed")?;
        Ok(summary)
    }

    /// Drops a schema and, when cascading, everything in it.
    pub fn stage_drop_schema(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        schema_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let summary = self.drop_schema_inner(pool, log, schema_id)?;
        self.staged += 1;
        Ok(summary)
    }

    fn drop_schema_inner(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        schema_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let mut summary = DropSummary {
            schemas: 1,
            ..DropSummary::default()
        };
        let mut tables: Vec<ObjectId> = self.catalog.tables_of(schema_id).map(|t| t.id).collect();
        if self.leave_dependent_behind && tables.len() > 1 {
            tables.pop();
        }
        for table in tables {
            summary.add(self.drop_table_inner(pool, log, table)?);
            log.crash_point("ddl.drop.schema.table_dropped")?;
        }
        let schema = self
            .catalog
            .schemas
            .remove(&schema_id)
            .expect("dropping a schema that exists");
        self.delete_object(pool, log, &system::SCHEMAS, schema.id, schema.tuples)?;
        log.crash_point("ddl.drop.schema.schema_dropped")?;
        Ok(summary)
    }

    /// Drops a database and, when cascading, everything in it.
    pub fn stage_drop_database(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        database_id: ObjectId,
    ) -> StorageResult<DropSummary> {
        let mut summary = DropSummary {
            databases: 1,
            ..DropSummary::default()
        };
        let schemas: Vec<ObjectId> = self.catalog.schemas_of(database_id).map(|s| s.id).collect();
        for schema in schemas {
            summary.add(self.drop_schema_inner(pool, log, schema)?);
            log.crash_point("ddl.drop.database.schema_dropped")?;
        }
        let database = self
            .catalog
            .databases
            .remove(&database_id)
            .expect("dropping a database that exists");
        self.delete_object(pool, log, &system::DATABASES, database.id, database.tuples)?;
        self.staged += 1;
        Ok(summary)
    }
}

fn int(value: u64) -> Value {
    Value::Int64(value as i64)
}

fn column_values(column: &ColumnDef, table_id: ObjectId) -> [Value; 7] {
    let t: ColumnType = column.column_type;
    [
        int(column.id),
        int(table_id),
        Value::Int64(i64::from(column.position)),
        Value::Text(column.name.clone()),
        Value::Int64(t.code()),
        Value::Bool(column.nullable),
        Value::Bool(column.dropped),
    ]
}

/// Creates the empty system relations of a new database.
pub fn bootstrap(pool: &BufferPool, log: &mut dyn CatalogLog) -> StorageResult<()> {
    let mut fragments = Vec::new();
    let mut tagged = Tagged {
        log,
        fragments: &mut fragments,
    };
    for rel in SYSTEM_RELATIONS {
        let root = heap::create(pool, &mut tagged, rel.id)?;
        assert_eq!(
            root, rel.root_page,
            "system relations take the first pages in order"
        );
    }
    Ok(())
}
