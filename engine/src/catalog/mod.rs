//! The catalog: databases, schemas, tables and columns, stored in system relations.
//!
//! The durable form is a set of heaps with fixed ids and fixed root pages
//! (`catalog_databases`, `catalog_schemas`, `catalog_tables`, `catalog_columns`,
//! `catalog_indexes`, `catalog_dependencies`), written and logged exactly like user rows,
//! so checkpoints and recovery need nothing catalog-specific. The in-memory form is an
//! immutable [`Catalog`] value: a write transaction edits its own copy while writing the
//! matching tuples; commit publishes the copy with the epoch bumped; readers keep the
//! copy their snapshot was taken with, so they never see half-applied DDL.

pub mod system;

use std::collections::BTreeMap;

use crate::heap::{self, HeapLog, RowId};
use crate::page::{BufferPool, PageId, Snapshot};
use crate::value::{decode_row, encode_row, ColumnType, Value};
use crate::{StorageError, StorageResult};

use system::{SysRelation, SYSTEM_RELATIONS};

/// Identifier of a catalog object. Allocated from one counter, never reused.
pub type ObjectId = u64;

/// The first id handed to user objects; ids below are reserved for system relations.
pub const FIRST_USER_OBJECT_ID: ObjectId = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseDef {
    pub id: ObjectId,
    pub name: String,
    row_id: RowId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: ObjectId,
    pub database_id: ObjectId,
    pub name: String,
    row_id: RowId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub id: ObjectId,
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
    /// Position in the stored row; stable for the column's life.
    pub position: u16,
    /// A dropped column keeps its position (old rows still hold a value there).
    pub dropped: bool,
    row_id: RowId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub id: ObjectId,
    pub schema_id: ObjectId,
    pub name: String,
    pub root_page: PageId,
    /// Every column the table ever had, by position, dropped ones included.
    pub columns: Vec<ColumnDef>,
    row_id: RowId,
}

impl TableDef {
    /// The live columns, in position order.
    pub fn live_columns(&self) -> impl Iterator<Item = &ColumnDef> {
        self.columns.iter().filter(|c| !c.dropped)
    }

    /// The stored types of every position (for decoding).
    pub fn stored_types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|c| c.column_type).collect()
    }
}

/// A column to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
}

impl ColumnSpec {
    pub fn new(name: &str, column_type: ColumnType, nullable: bool) -> ColumnSpec {
        ColumnSpec {
            name: name.to_string(),
            column_type,
            nullable,
        }
    }
}

/// An immutable view of the whole catalog at one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Bumped by every commit that changes the catalog.
    pub epoch: u64,
    databases: BTreeMap<ObjectId, DatabaseDef>,
    schemas: BTreeMap<ObjectId, SchemaDef>,
    tables: BTreeMap<ObjectId, TableDef>,
}

impl Catalog {
    pub fn database_by_name(&self, name: &str) -> Option<&DatabaseDef> {
        self.databases.values().find(|d| d.name == name)
    }

    pub fn schema_by_name(&self, database_id: ObjectId, name: &str) -> Option<&SchemaDef> {
        self.schemas
            .values()
            .find(|s| s.database_id == database_id && s.name == name)
    }

    pub fn table_by_name(&self, schema_id: ObjectId, name: &str) -> Option<&TableDef> {
        self.tables
            .values()
            .find(|t| t.schema_id == schema_id && t.name == name)
    }

    pub fn table(&self, id: ObjectId) -> Option<&TableDef> {
        self.tables.get(&id)
    }

    pub fn schema(&self, id: ObjectId) -> Option<&SchemaDef> {
        self.schemas.get(&id)
    }

    pub fn database(&self, id: ObjectId) -> Option<&DatabaseDef> {
        self.databases.get(&id)
    }

    pub fn databases(&self) -> impl Iterator<Item = &DatabaseDef> {
        self.databases.values()
    }

    pub fn schemas(&self) -> impl Iterator<Item = &SchemaDef> {
        self.schemas.values()
    }

    pub fn tables(&self) -> impl Iterator<Item = &TableDef> {
        self.tables.values()
    }

    /// The largest object id in use (0 if none).
    pub fn max_object_id(&self) -> ObjectId {
        let columns = self
            .tables
            .values()
            .flat_map(|t| t.columns.iter().map(|c| c.id));
        self.databases
            .keys()
            .chain(self.schemas.keys())
            .chain(self.tables.keys())
            .copied()
            .chain(columns)
            .max()
            .unwrap_or(0)
    }

    /// Reads the catalog from the system relations as `snapshot` sees them.
    pub fn load(pool: &BufferPool, snapshot: Snapshot, epoch: u64) -> StorageResult<Catalog> {
        let mut catalog = Catalog {
            epoch,
            ..Catalog::default()
        };
        for row in scan(pool, snapshot, &system::DATABASES)? {
            let (row_id, v) = row;
            let d = DatabaseDef {
                id: int(&v, 0)?,
                name: text(&v, 1)?,
                row_id,
            };
            catalog.databases.insert(d.id, d);
        }
        for (row_id, v) in scan(pool, snapshot, &system::SCHEMAS)? {
            let s = SchemaDef {
                id: int(&v, 0)?,
                database_id: int(&v, 1)?,
                name: text(&v, 2)?,
                row_id,
            };
            catalog.schemas.insert(s.id, s);
        }
        for (row_id, v) in scan(pool, snapshot, &system::TABLES)? {
            let t = TableDef {
                id: int(&v, 0)?,
                schema_id: int(&v, 1)?,
                name: text(&v, 2)?,
                root_page: int(&v, 3)?,
                columns: Vec::new(),
                row_id,
            };
            catalog.tables.insert(t.id, t);
        }
        let mut columns: Vec<(ObjectId, ColumnDef)> = Vec::new();
        for (row_id, v) in scan(pool, snapshot, &system::COLUMNS)? {
            let code = int(&v, 4)? as i64;
            let column_type = ColumnType::from_code(code)
                .ok_or_else(|| bad_catalog(format!("column type code {code}")))?;
            let position =
                u16::try_from(int(&v, 2)?).map_err(|_| bad_catalog("column position".into()))?;
            let def = ColumnDef {
                id: int(&v, 0)?,
                name: text(&v, 3)?,
                column_type,
                nullable: boolean(&v, 5)?,
                position,
                dropped: boolean(&v, 6)?,
                row_id,
            };
            columns.push((int(&v, 1)?, def));
        }
        for (table_id, column) in columns {
            let table = catalog.tables.get_mut(&table_id).ok_or_else(|| {
                bad_catalog(format!("column {} of missing table {table_id}", column.id))
            })?;
            table.columns.push(column);
        }
        for table in catalog.tables.values_mut() {
            table.columns.sort_by_key(|c| c.position);
            let positions_dense = table
                .columns
                .iter()
                .enumerate()
                .all(|(i, c)| c.position as usize == i);
            if !positions_dense {
                return Err(bad_catalog(format!(
                    "table {} has gaps in its column positions",
                    table.id
                )));
            }
        }
        Ok(catalog)
    }

    /// Referential problems: objects whose parent does not exist, duplicate names.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for s in self.schemas.values() {
            if !self.databases.contains_key(&s.database_id) {
                problems.push(format!(
                    "schema {} ({}) has no database {}",
                    s.name, s.id, s.database_id
                ));
            }
        }
        for t in self.tables.values() {
            if !self.schemas.contains_key(&t.schema_id) {
                problems.push(format!(
                    "table {} ({}) has no schema {}",
                    t.name, t.id, t.schema_id
                ));
            }
        }
        let mut names = BTreeMap::new();
        for d in self.databases.values() {
            if names.insert(("db", 0, d.name.clone()), d.id).is_some() {
                problems.push(format!("two databases named {}", d.name));
            }
        }
        for s in self.schemas.values() {
            if names
                .insert(("schema", s.database_id, s.name.clone()), s.id)
                .is_some()
            {
                problems.push(format!(
                    "two schemas named {} in database {}",
                    s.name, s.database_id
                ));
            }
        }
        for t in self.tables.values() {
            if names
                .insert(("table", t.schema_id, t.name.clone()), t.id)
                .is_some()
            {
                problems.push(format!(
                    "two tables named {} in schema {}",
                    t.name, t.schema_id
                ));
            }
        }
        problems
    }
}

fn bad_catalog(detail: String) -> StorageError {
    StorageError::corruption("catalog", 0, detail)
}

fn scan(
    pool: &BufferPool,
    snapshot: Snapshot,
    rel: &SysRelation,
) -> StorageResult<Vec<(RowId, Vec<Value>)>> {
    let mut rows = Vec::new();
    let mut scan = heap::Scan::new(pool, snapshot, rel.id, rel.root_page)?;
    while let Some((row_id, bytes)) = scan.next_row()? {
        let values = decode_row(&bytes, rel.types)
            .map_err(|e| bad_catalog(format!("{} row {row_id:#x}: {}", rel.name, e.0)))?;
        rows.push((row_id, values));
    }
    Ok(rows)
}

fn int(values: &[Value], i: usize) -> StorageResult<u64> {
    match values.get(i) {
        Some(Value::Int64(v)) => Ok(*v as u64),
        other => Err(bad_catalog(format!(
            "expected an integer in field {i}, found {other:?}"
        ))),
    }
}

fn text(values: &[Value], i: usize) -> StorageResult<String> {
    match values.get(i) {
        Some(Value::Text(v)) => Ok(v.clone()),
        other => Err(bad_catalog(format!(
            "expected text in field {i}, found {other:?}"
        ))),
    }
}

fn boolean(values: &[Value], i: usize) -> StorageResult<bool> {
    match values.get(i) {
        Some(Value::Bool(v)) => Ok(*v),
        other => Err(bad_catalog(format!(
            "expected a boolean in field {i}, found {other:?}"
        ))),
    }
}

/// What catalog writes need from the transaction, beyond heap logging.
pub trait CatalogLog: HeapLog {
    /// An object id never handed out before (durably so, even if this transaction aborts).
    fn new_object_id(&mut self) -> StorageResult<ObjectId>;
}

fn insert_tuple(
    pool: &BufferPool,
    log: &mut dyn CatalogLog,
    rel: &SysRelation,
    values: &[Value],
) -> StorageResult<RowId> {
    let mut bytes = Vec::new();
    encode_row(values, &mut bytes);
    heap::insert(pool, log, rel.root_page, &bytes)
}

fn delete_tuple(
    pool: &BufferPool,
    log: &mut dyn CatalogLog,
    rel: &SysRelation,
    row_id: RowId,
) -> StorageResult<()> {
    if heap::delete(pool, log, rel.id, row_id)? {
        Ok(())
    } else {
        Err(bad_catalog(format!("{} has no row {row_id:#x}", rel.name)))
    }
}

/// A write transaction's working copy of the catalog, with the mutations it staged.
/// Every `stage_*` call writes the matching system-relation tuples through the
/// transaction's log at once, so the WAL carries them before commit.
#[derive(Debug)]
pub struct CatalogMutator {
    catalog: Catalog,
    staged: u64,
}

impl CatalogMutator {
    pub fn new(base: &Catalog) -> CatalogMutator {
        CatalogMutator {
            catalog: base.clone(),
            staged: 0,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Mutations staged so far.
    pub fn staged_count(&self) -> u64 {
        self.staged
    }

    /// The staged catalog with its epoch bumped, to publish at commit.
    pub fn into_published(mut self) -> Catalog {
        self.catalog.epoch += 1;
        self.catalog
    }

    pub fn stage_create_database(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        name: &str,
    ) -> StorageResult<ObjectId> {
        let id = log.new_object_id()?;
        let row_id = insert_tuple(
            pool,
            log,
            &system::DATABASES,
            &[Value::Int64(id as i64), Value::Text(name.into())],
        )?;
        self.catalog.databases.insert(
            id,
            DatabaseDef {
                id,
                name: name.into(),
                row_id,
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
        let values = [
            Value::Int64(id as i64),
            Value::Int64(database_id as i64),
            Value::Text(name.into()),
        ];
        let row_id = insert_tuple(pool, log, &system::SCHEMAS, &values)?;
        self.catalog.schemas.insert(
            id,
            SchemaDef {
                id,
                database_id,
                name: name.into(),
                row_id,
            },
        );
        self.staged += 1;
        Ok(id)
    }

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
        let root_page = heap::create(pool, log, id)?;
        let values = [
            Value::Int64(id as i64),
            Value::Int64(schema_id as i64),
            Value::Text(name.into()),
            Value::Int64(root_page as i64),
        ];
        let row_id = insert_tuple(pool, log, &system::TABLES, &values)?;
        let mut table = TableDef {
            id,
            schema_id,
            name: name.into(),
            root_page,
            columns: Vec::new(),
            row_id,
        };
        for spec in columns {
            let column = self.write_column(pool, log, id, table.columns.len() as u16, spec)?;
            table.columns.push(column);
        }
        self.catalog.tables.insert(id, table);
        self.staged += 1;
        Ok(id)
    }

    /// Drops a table: its catalog tuples (table and columns) and every page of its heap.
    pub fn stage_drop_table(
        &mut self,
        pool: &BufferPool,
        log: &mut dyn CatalogLog,
        table_id: ObjectId,
    ) -> StorageResult<u64> {
        let table = self
            .catalog
            .tables
            .remove(&table_id)
            .expect("dropping a table that exists");
        for column in &table.columns {
            delete_tuple(pool, log, &system::COLUMNS, column.row_id)?;
        }
        delete_tuple(pool, log, &system::TABLES, table.row_id)?;
        let pages = heap::drop_heap(pool, log, table.root_page)?;
        self.staged += 1;
        Ok(pages)
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
        let values = column_values(
            id,
            table_id,
            position,
            &spec.name,
            spec.column_type,
            spec.nullable,
            false,
        );
        let row_id = insert_tuple(pool, log, &system::COLUMNS, &values)?;
        Ok(ColumnDef {
            id,
            name: spec.name.clone(),
            column_type: spec.column_type,
            nullable: spec.nullable,
            position,
            dropped: false,
            row_id,
        })
    }
}

fn column_values(
    id: ObjectId,
    table_id: ObjectId,
    position: u16,
    name: &str,
    t: ColumnType,
    nullable: bool,
    dropped: bool,
) -> [Value; 7] {
    [
        Value::Int64(id as i64),
        Value::Int64(table_id as i64),
        Value::Int64(i64::from(position)),
        Value::Text(name.into()),
        Value::Int64(t.code()),
        Value::Bool(nullable),
        Value::Bool(dropped),
    ]
}

/// Creates the empty system relations of a new database.
pub fn bootstrap(pool: &BufferPool, log: &mut dyn CatalogLog) -> StorageResult<()> {
    for rel in SYSTEM_RELATIONS {
        let root = heap::create(pool, log, rel.id)?;
        assert_eq!(
            root, rel.root_page,
            "system relations take the first pages in order"
        );
    }
    Ok(())
}
