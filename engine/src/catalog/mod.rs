//! The catalog: databases, schemas, tables, columns and indexes, stored in system
//! relations.
//!
//! The durable form is a set of heaps with fixed ids and fixed root pages
//! (`catalog_databases`, `catalog_schemas`, `catalog_tables`, `catalog_columns`,
//! `catalog_indexes`, `catalog_dependencies`), written and logged like user rows but with
//! catalog record kinds (`WalRecordFragment::Catalog*`), so checkpoints and recovery need
//! nothing catalog-specific and a reader of the log can still tell catalog changes apart.
//! The in-memory form is an immutable [`Catalog`] value: a write transaction edits its own
//! copy through [`CatalogMutator`] while writing the matching tuples; commit publishes the
//! copy with the epoch bumped; readers keep the copy their snapshot was taken with, so
//! they never see half-applied DDL.

mod load;
mod mutator;
pub mod system;

use std::collections::BTreeMap;

use crate::heap::RowId;
use crate::page::PageId;
use crate::value::ColumnType;

pub use mutator::{bootstrap, CatalogLog, CatalogMutator, DropSummary, WalRecordFragment};

/// Identifier of a catalog object. Allocated from one counter, never reused.
pub type ObjectId = u64;

/// The first id handed to user objects; ids below are reserved for system relations.
pub const FIRST_USER_OBJECT_ID: ObjectId = 1000;

/// Where an object's tuples live, so drops and alters can find them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tuples {
    /// The object's own row in its catalog relation.
    row: RowId,
    /// Its row in `catalog_dependencies` (0 for databases, which depend on nothing).
    dependency: RowId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseDef {
    pub id: ObjectId,
    pub name: String,
    tuples: Tuples,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: ObjectId,
    pub database_id: ObjectId,
    pub name: String,
    tuples: Tuples,
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
    tuples: Tuples,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub id: ObjectId,
    pub schema_id: ObjectId,
    pub name: String,
    pub root_page: PageId,
    /// Every column the table ever had, by position, dropped ones included.
    pub columns: Vec<ColumnDef>,
    tuples: Tuples,
}

impl TableDef {
    /// The live columns, in position order.
    pub fn live_columns(&self) -> impl Iterator<Item = &ColumnDef> {
        self.columns.iter().filter(|c| !c.dropped)
    }

    /// The live column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.live_columns().find(|c| c.name == name)
    }

    /// The stored types of every position (for decoding).
    pub fn stored_types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|c| c.column_type).collect()
    }
}

/// An index: the catalog side. Its B+tree is built by the index layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub id: ObjectId,
    pub table_id: ObjectId,
    pub name: String,
    /// The indexed columns, by column id, in key order.
    pub column_ids: Vec<ObjectId>,
    pub unique: bool,
    pub root_page: PageId,
    tuples: Tuples,
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

/// The kinds of rows in `catalog_dependencies`.
pub const DEPENDENCY_PARENT: i64 = 1;

/// An immutable view of the whole catalog at one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Bumped by every commit that changes the catalog.
    pub epoch: u64,
    databases: BTreeMap<ObjectId, DatabaseDef>,
    schemas: BTreeMap<ObjectId, SchemaDef>,
    tables: BTreeMap<ObjectId, TableDef>,
    indexes: BTreeMap<ObjectId, IndexDef>,
    /// `catalog_dependencies` as stored: dependent id -> (referenced id, kind).
    dependencies: BTreeMap<ObjectId, (ObjectId, i64)>,
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

    /// The index named `name` in a schema (index names live in their table's schema).
    pub fn index_by_name(&self, schema_id: ObjectId, name: &str) -> Option<&IndexDef> {
        self.indexes.values().find(|i| {
            i.name == name
                && self
                    .tables
                    .get(&i.table_id)
                    .is_some_and(|t| t.schema_id == schema_id)
        })
    }

    /// Whether a table or an index named `name` exists in the schema: as in PostgreSQL,
    /// both are relations and share one namespace.
    pub fn relation_exists(&self, schema_id: ObjectId, name: &str) -> bool {
        self.table_by_name(schema_id, name).is_some()
            || self.index_by_name(schema_id, name).is_some()
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

    pub fn index(&self, id: ObjectId) -> Option<&IndexDef> {
        self.indexes.get(&id)
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

    pub fn indexes(&self) -> impl Iterator<Item = &IndexDef> {
        self.indexes.values()
    }

    pub fn schemas_of(&self, database_id: ObjectId) -> impl Iterator<Item = &SchemaDef> {
        self.schemas
            .values()
            .filter(move |s| s.database_id == database_id)
    }

    pub fn tables_of(&self, schema_id: ObjectId) -> impl Iterator<Item = &TableDef> {
        self.tables
            .values()
            .filter(move |t| t.schema_id == schema_id)
    }

    pub fn indexes_of(&self, table_id: ObjectId) -> impl Iterator<Item = &IndexDef> {
        self.indexes
            .values()
            .filter(move |i| i.table_id == table_id)
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
            .chain(self.indexes.keys())
            .copied()
            .chain(columns)
            .max()
            .unwrap_or(0)
    }

    /// Referential problems: objects whose parent does not exist, dependency rows that
    /// disagree with the objects, duplicate names or ids.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut parents: BTreeMap<ObjectId, ObjectId> = BTreeMap::new();
        for s in self.schemas.values() {
            parents.insert(s.id, s.database_id);
            if !self.databases.contains_key(&s.database_id) {
                problems.push(format!(
                    "orphan schema {} ({}): no database {}",
                    s.name, s.id, s.database_id
                ));
            }
        }
        for t in self.tables.values() {
            parents.insert(t.id, t.schema_id);
            if !self.schemas.contains_key(&t.schema_id) {
                problems.push(format!(
                    "orphan table {} ({}): no schema {}",
                    t.name, t.id, t.schema_id
                ));
            }
            for c in &t.columns {
                if parents.insert(c.id, t.id).is_some() {
                    problems.push(format!("id {} is used twice", c.id));
                }
            }
        }
        for i in self.indexes.values() {
            parents.insert(i.id, i.table_id);
            match self.tables.get(&i.table_id) {
                None => problems.push(format!(
                    "orphan index {} ({}): no table {}",
                    i.name, i.id, i.table_id
                )),
                Some(t) => {
                    for c in &i.column_ids {
                        if !t.live_columns().any(|col| col.id == *c) {
                            problems.push(format!(
                                "index {} covers column {c}, which table {} lacks",
                                i.name, t.name
                            ));
                        }
                    }
                }
            }
        }
        let stored: BTreeMap<ObjectId, ObjectId> = self
            .dependencies
            .iter()
            .map(|(d, (r, _))| (*d, *r))
            .collect();
        if stored != parents {
            problems.push(format!(
                "catalog_dependencies ({} rows) disagrees with the objects' parents ({} objects)",
                stored.len(),
                parents.len()
            ));
        }
        problems.extend(self.duplicate_names());
        problems
    }

    fn duplicate_names(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = BTreeMap::new();
        let mut claim = |key: (&'static str, ObjectId, String), what: String| {
            if names.insert(key, ()).is_some() {
                problems.push(format!("two objects named {what}"));
            }
        };
        for d in self.databases.values() {
            claim(("database", 0, d.name.clone()), d.name.clone());
        }
        for s in self.schemas.values() {
            claim(("schema", s.database_id, s.name.clone()), s.name.clone());
        }
        for t in self.tables.values() {
            claim(("relation", t.schema_id, t.name.clone()), t.name.clone());
        }
        for i in self.indexes.values() {
            let schema = self.tables.get(&i.table_id).map_or(0, |t| t.schema_id);
            claim(("relation", schema, i.name.clone()), i.name.clone());
        }
        for t in self.tables.values() {
            let mut columns = std::collections::BTreeSet::new();
            for c in t.live_columns() {
                if !columns.insert(c.name.as_str()) {
                    problems.push(format!("table {} has two columns named {}", t.name, c.name));
                }
            }
        }
        problems
    }
}
