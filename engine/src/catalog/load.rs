//! Reading the catalog back from its system relations.

use crate::heap::{self, RowId};
use crate::page::{BufferPool, Snapshot};
use crate::value::{decode_row, ColumnType, Value};
use crate::{StorageError, StorageResult};

use super::system::{self, SysRelation};
use super::{Catalog, ColumnDef, DatabaseDef, IndexDef, ObjectId, SchemaDef, TableDef, Tuples};

impl Catalog {
    /// Reads the catalog from the system relations as `snapshot` sees them.
    pub fn load(pool: &BufferPool, snapshot: Snapshot, epoch: u64) -> StorageResult<Catalog> {
        let mut catalog = Catalog {
            epoch,
            ..Catalog::default()
        };
        let mut dependency_rows = std::collections::BTreeMap::new();
        for (row_id, v) in scan(pool, snapshot, &system::DEPENDENCIES)? {
            let dependent = int(&v, 0)?;
            catalog
                .dependencies
                .insert(dependent, (int(&v, 1)?, int(&v, 2)? as i64));
            dependency_rows.insert(dependent, row_id);
        }
        let tuples = |row: RowId, id: ObjectId| Tuples {
            row,
            dependency: dependency_rows.get(&id).copied().unwrap_or(0),
        };
        for (row, v) in scan(pool, snapshot, &system::DATABASES)? {
            let id = int(&v, 0)?;
            let d = DatabaseDef {
                id,
                name: text(&v, 1)?,
                tuples: tuples(row, id),
            };
            catalog.databases.insert(id, d);
        }
        for (row, v) in scan(pool, snapshot, &system::SCHEMAS)? {
            let id = int(&v, 0)?;
            let s = SchemaDef {
                id,
                database_id: int(&v, 1)?,
                name: text(&v, 2)?,
                tuples: tuples(row, id),
            };
            catalog.schemas.insert(id, s);
        }
        for (row, v) in scan(pool, snapshot, &system::TABLES)? {
            let id = int(&v, 0)?;
            let t = TableDef {
                id,
                schema_id: int(&v, 1)?,
                name: text(&v, 2)?,
                root_page: int(&v, 3)?,
                columns: Vec::new(),
                tuples: tuples(row, id),
            };
            catalog.tables.insert(id, t);
        }
        load_columns(&mut catalog, pool, snapshot, &tuples)?;
        for (row, v) in scan(pool, snapshot, &system::INDEXES)? {
            let id = int(&v, 0)?;
            let index = IndexDef {
                id,
                table_id: int(&v, 1)?,
                name: text(&v, 2)?,
                column_ids: ids(&v, 3)?,
                unique: boolean(&v, 4)?,
                root_page: int(&v, 5)?,
                tuples: tuples(row, id),
            };
            catalog.indexes.insert(id, index);
        }
        Ok(catalog)
    }
}

fn load_columns(
    catalog: &mut Catalog,
    pool: &BufferPool,
    snapshot: Snapshot,
    tuples: &dyn Fn(RowId, ObjectId) -> Tuples,
) -> StorageResult<()> {
    let mut columns: Vec<(ObjectId, ColumnDef)> = Vec::new();
    for (row, v) in scan(pool, snapshot, &system::COLUMNS)? {
        let code = int(&v, 4)? as i64;
        let column_type = ColumnType::from_code(code)
            .ok_or_else(|| bad_catalog(format!("column type code {code}")))?;
        let position =
            u16::try_from(int(&v, 2)?).map_err(|_| bad_catalog("column position".into()))?;
        let id = int(&v, 0)?;
        let def = ColumnDef {
            id,
            name: text(&v, 3)?,
            column_type,
            nullable: boolean(&v, 5)?,
            position,
            dropped: boolean(&v, 6)?,
            tuples: tuples(row, id),
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
        let dense = table
            .columns
            .iter()
            .enumerate()
            .all(|(i, c)| c.position as usize == i);
        if !dense {
            return Err(bad_catalog(format!(
                "table {} has gaps in its column positions",
                table.id
            )));
        }
    }
    Ok(())
}

pub(super) fn bad_catalog(detail: String) -> StorageError {
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

/// A list of object ids stored as BYTES: u64 little endian each.
fn ids(values: &[Value], i: usize) -> StorageResult<Vec<ObjectId>> {
    match values.get(i) {
        Some(Value::Bytes(b)) if b.len() % 8 == 0 => Ok(b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()),
        other => Err(bad_catalog(format!(
            "expected a list of ids in field {i}, found {other:?}"
        ))),
    }
}
