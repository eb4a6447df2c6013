//! The system relations: fixed ids, fixed root pages, fixed row layouts.
//! docs/FORMAT.md lists their columns.

use crate::page::PageId;
use crate::value::ColumnType::{self, Bool, Bytes, Int64, Text};

/// A system relation's identity and row layout.
#[derive(Debug)]
pub struct SysRelation {
    pub id: u64,
    pub name: &'static str,
    pub root_page: PageId,
    pub types: &'static [ColumnType],
}

/// (id, name)
pub const DATABASES: SysRelation = SysRelation {
    id: 1,
    name: "catalog_databases",
    root_page: 1,
    types: &[Int64, Text],
};

/// (id, database_id, name)
pub const SCHEMAS: SysRelation = SysRelation {
    id: 2,
    name: "catalog_schemas",
    root_page: 2,
    types: &[Int64, Int64, Text],
};

/// (id, schema_id, name, root_page)
pub const TABLES: SysRelation = SysRelation {
    id: 3,
    name: "catalog_tables",
    root_page: 3,
    types: &[Int64, Int64, Text, Int64],
};

/// (id, table_id, position, name, type_code, nullable, dropped)
pub const COLUMNS: SysRelation = SysRelation {
    id: 4,
    name: "catalog_columns",
    root_page: 4,
    types: &[Int64, Int64, Int64, Text, Int64, Bool, Bool],
};

/// (id, table_id, name, column_ids as u64 LE list, unique, root_page).
pub const INDEXES: SysRelation = SysRelation {
    id: 5,
    name: "catalog_indexes",
    root_page: 5,
    types: &[Int64, Int64, Text, Bytes, Bool, Int64],
};

/// (dependent_id, referenced_id, kind): every schema, table, column and index depends on
/// its parent (kind 1). The integrity check compares these rows with the objects.
pub const DEPENDENCIES: SysRelation = SysRelation {
    id: 6,
    name: "catalog_dependencies",
    root_page: 6,
    types: &[Int64, Int64, Int64],
};

/// (verb, outcome, count, duration_ns_total): DDL telemetry that outlives the process,
/// one row per verb and outcome ("success" or an error category).
pub const DDL_TELEMETRY: SysRelation = SysRelation {
    id: 7,
    name: "catalog_ddl_telemetry",
    root_page: 7,
    types: &[Text, Text, Int64, Int64],
};

/// All system relations, in root-page order.
pub const SYSTEM_RELATIONS: [&SysRelation; 7] = [
    &DATABASES,
    &SCHEMAS,
    &TABLES,
    &COLUMNS,
    &INDEXES,
    &DEPENDENCIES,
    &DDL_TELEMETRY,
];

/// The first page id after the system relations' roots.
pub const FIRST_USER_PAGE_ID: PageId = 8;
