//! The reference model: what the database must contain, in plain `BTreeMap`s.
//!
//! It shares no code with the engine. It knows the committed state (databases, schemas,
//! tables with their live columns, rows); while a commit's outcome is unknown (the
//! machine stopped inside `commit`), it also knows the state that commit would produce,
//! and the next recovery must land on exactly one of the two.

use std::collections::BTreeMap;

use kiln::{ColumnType, RowId, Value};

/// A live column as the model knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelColumn {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
}

/// A table as the model knows it: live columns in order, rows with one value per column.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ModelTable {
    pub columns: Vec<ModelColumn>,
    pub rows: BTreeMap<RowId, Vec<Value>>,
}

impl ModelTable {
    /// Column types and nullability, for value generation.
    pub fn shape(&self) -> Vec<(ColumnType, bool)> {
        self.columns
            .iter()
            .map(|c| (c.column_type, c.nullable))
            .collect()
    }
}

/// A table's address: database, schema, table.
pub type TableKey = (String, String, String);

/// Schemas of one database: schema -> table -> table.
pub type ModelSchemas = BTreeMap<String, BTreeMap<String, ModelTable>>;

/// One state of the database: database -> schema -> table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelState {
    pub databases: BTreeMap<String, ModelSchemas>,
}

fn nth<T: Clone>(items: impl ExactSizeIterator<Item = T>, selector: u32) -> Option<T> {
    let len = items.len();
    if len == 0 {
        return None;
    }
    items.into_iter().nth(selector as usize % len)
}

impl ModelState {
    /// Every table with its key, in key order.
    pub fn tables(&self) -> Vec<(TableKey, &ModelTable)> {
        let mut out = Vec::new();
        for (db, schemas) in &self.databases {
            for (schema, tables) in schemas {
                for (name, table) in tables {
                    out.push(((db.clone(), schema.clone(), name.clone()), table));
                }
            }
        }
        out
    }

    /// Every schema as (database, schema), in order.
    pub fn schema_keys(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (db, schemas) in &self.databases {
            for schema in schemas.keys() {
                out.push((db.clone(), schema.clone()));
            }
        }
        out
    }

    /// The table a selector picks, if there are tables.
    pub fn table_key(&self, selector: u32) -> Option<TableKey> {
        let keys: Vec<TableKey> = self.tables().into_iter().map(|(k, _)| k).collect();
        nth(keys.into_iter(), selector)
    }

    /// The schema a selector picks.
    pub fn schema_key(&self, selector: u32) -> Option<(String, String)> {
        nth(self.schema_keys().into_iter(), selector)
    }

    /// The database a selector picks.
    pub fn database_name(&self, selector: u32) -> Option<String> {
        nth(
            self.databases
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .into_iter(),
            selector,
        )
    }

    pub fn table(&self, key: &TableKey) -> Option<&ModelTable> {
        self.databases.get(&key.0)?.get(&key.1)?.get(&key.2)
    }

    pub fn table_mut(&mut self, key: &TableKey) -> Option<&mut ModelTable> {
        self.databases
            .get_mut(&key.0)?
            .get_mut(&key.1)?
            .get_mut(&key.2)
    }

    pub fn schema_tables(&self, db: &str, schema: &str) -> Option<&BTreeMap<String, ModelTable>> {
        self.databases.get(db)?.get(schema)
    }

    /// The row id a selector picks in a table, if it has rows.
    pub fn row_id(&self, key: &TableKey, selector: u32) -> Option<RowId> {
        let rows = &self.table(key)?.rows;
        nth(
            rows.keys().copied().collect::<Vec<_>>().into_iter(),
            selector,
        )
    }

    /// Total rows over all tables.
    pub fn row_count(&self) -> usize {
        self.tables().iter().map(|(_, t)| t.rows.len()).sum()
    }

    /// The first difference between `self` (expected) and `actual`, described for a
    /// human; `None` if they are equal. Floats compare by bits.
    pub fn diff(&self, actual: &ModelState) -> Option<String> {
        // Databases first: one without schemas would not show in the schema list.
        let expected_dbs: Vec<&String> = self.databases.keys().collect();
        let actual_dbs: Vec<&String> = actual.databases.keys().collect();
        if expected_dbs != actual_dbs {
            return Some(format!(
                "databases differ: expected {expected_dbs:?}, found {actual_dbs:?}"
            ));
        }
        let expected_schemas = self.schema_keys();
        let actual_schemas = actual.schema_keys();
        if expected_schemas != actual_schemas {
            return Some(format!(
                "schemas differ: expected {expected_schemas:?}, found {actual_schemas:?}"
            ));
        }
        let expected: Vec<TableKey> = self.tables().into_iter().map(|(k, _)| k).collect();
        let found: Vec<TableKey> = actual.tables().into_iter().map(|(k, _)| k).collect();
        if expected != found {
            return Some(format!(
                "tables differ: expected {expected:?}, found {found:?}"
            ));
        }
        for (key, e) in self.tables() {
            let a = actual.table(&key).expect("same keys");
            if e.columns != a.columns {
                return Some(format!(
                    "table {key:?}: columns differ: expected {:?}, found {:?}",
                    e.columns, a.columns
                ));
            }
            if let Some(d) = diff_rows(&e.rows, &a.rows) {
                return Some(format!("table {key:?}: {d}"));
            }
        }
        None
    }
}

/// The first difference between two row maps.
pub fn diff_rows(
    expected: &BTreeMap<RowId, Vec<Value>>,
    actual: &BTreeMap<RowId, Vec<Value>>,
) -> Option<String> {
    for (id, e) in expected {
        match actual.get(id) {
            None => return Some(format!("row {id:#x} is missing (lost write)")),
            Some(a) if !same_row(e, a) => {
                return Some(format!(
                    "row {id:#x} has wrong values: expected {e:?}, found {a:?}"
                ))
            }
            _ => {}
        }
    }
    actual
        .keys()
        .find(|id| !expected.contains_key(id))
        .map(|id| format!("row {id:#x} should not exist (phantom)"))
}

/// Whether two rows are equal value by value (floats by bits).
pub fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

/// Committed state plus, while a commit is in doubt, the state it would produce.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub committed: ModelState,
    /// The state if the in-doubt commit landed.
    pub maybe: Option<ModelState>,
    /// Names handed out so far, for naming new objects uniquely.
    pub names_created: u64,
}

impl Model {
    /// A fresh, unused object name with `prefix`.
    pub fn fresh_name(&mut self, prefix: &str) -> String {
        self.names_created += 1;
        format!("{prefix}{}", self.names_created)
    }

    /// Records a commit whose outcome is unknown.
    pub fn commit_in_doubt(&mut self, state: ModelState) {
        assert!(self.maybe.is_none(), "two commits in doubt at once");
        self.maybe = Some(state);
    }

    /// After recovery: accepts `actual` if it equals the committed state or the in-doubt
    /// one (adopting it), otherwise describes the violation.
    pub fn resolve(&mut self, actual: &ModelState) -> Result<&'static str, String> {
        let Some(maybe) = self.maybe.take() else {
            return match self.committed.diff(actual) {
                None => Ok("committed"),
                Some(d) => Err(d),
            };
        };
        if self.committed.diff(actual).is_none() {
            return Ok("in-doubt commit absent");
        }
        if maybe.diff(actual).is_none() {
            self.committed = maybe;
            return Ok("in-doubt commit present");
        }
        Err(format!(
            "recovered state is neither the committed state ({}) nor the in-doubt commit's ({})",
            self.committed.diff(actual).unwrap_or_default(),
            maybe.diff(actual).unwrap_or_default()
        ))
    }
}
