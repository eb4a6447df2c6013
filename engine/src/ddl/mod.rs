//! DDL: every verb of the DDL verb reference (seed 001), executed inside a write
//! transaction through the catalog mutator, with PostgreSQL's semantics where the seeds
//! are silent: IF [NOT] EXISTS, RESTRICT by default, CASCADE, shared relation namespace
//! for tables and indexes, 63-byte identifiers. docs/ddl.md is the reference.
//!
//! [`execute`] does the work inside a transaction and returns a typed result or a
//! [`DdlError`]; the dispatcher in `engine.rs` wraps a command in its own transaction,
//! records telemetry, and turns the outcome into a [`DdlCommandResponse`].

mod response;
pub mod sql;
pub(crate) mod stats;

use serde_json::json;

use crate::catalog::{Catalog, ColumnSpec, DropSummary, ObjectId};
use crate::txn::WriteContext;
use crate::StorageError;

pub use response::{hints, DdlCommandResponse, DdlError, DdlErrorCategory, DdlVerb, Severity};

use DdlErrorCategory as C;

/// Identifier length limit, as PostgreSQL's NAMEDATALEN - 1.
pub const IDENTIFIER_BYTES_MAX: usize = 63;
/// Columns per table, as in PostgreSQL.
pub const COLUMNS_MAX: usize = 1600;
/// The schema every new database starts with, as in PostgreSQL.
pub const DEFAULT_SCHEMA: &str = "public";

/// A DDL command. Names are taken as given (SQL folding happens in [`sql`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DdlCommand {
    CreateDatabase {
        name: String,
        if_not_exists: bool,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    CreateSchema {
        database: String,
        name: String,
        if_not_exists: bool,
    },
    DropSchema {
        database: String,
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    CreateTable {
        database: String,
        schema: String,
        name: String,
        columns: Vec<ColumnSpec>,
        if_not_exists: bool,
    },
    DropTable {
        database: String,
        schema: String,
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    AlterTable {
        database: String,
        schema: String,
        name: String,
        if_exists: bool,
        action: AlterAction,
    },
    CreateIndex {
        database: String,
        schema: String,
        name: String,
        table: String,
        columns: Vec<String>,
        unique: bool,
        if_not_exists: bool,
    },
    DropIndex {
        database: String,
        schema: String,
        name: String,
        if_exists: bool,
        cascade: bool,
    },
}

/// What ALTER TABLE does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterAction {
    RenameTable {
        new_name: String,
    },
    AddColumn {
        column: ColumnSpec,
        if_not_exists: bool,
    },
    DropColumn {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    RenameColumn {
        old_name: String,
        new_name: String,
    },
}

impl DdlCommand {
    pub fn verb(&self) -> DdlVerb {
        match self {
            DdlCommand::CreateDatabase { .. } => DdlVerb::CreateDatabase,
            DdlCommand::DropDatabase { .. } => DdlVerb::DropDatabase,
            DdlCommand::CreateSchema { .. } => DdlVerb::CreateSchema,
            DdlCommand::DropSchema { .. } => DdlVerb::DropSchema,
            DdlCommand::CreateTable { .. } => DdlVerb::CreateTable,
            DdlCommand::DropTable { .. } => DdlVerb::DropTable,
            DdlCommand::AlterTable { .. } => DdlVerb::AlterTable,
            DdlCommand::CreateIndex { .. } => DdlVerb::CreateIndex,
            DdlCommand::DropIndex { .. } => DdlVerb::DropIndex,
        }
    }
}

/// A successful command: a human message and the verb-specific payload.
#[derive(Clone, Debug, PartialEq)]
pub struct DdlOutcome {
    pub message: String,
    pub result: serde_json::Value,
}

fn done(message: String, result: serde_json::Value) -> Result<DdlOutcome, DdlError> {
    Ok(DdlOutcome { message, result })
}

/// A command that IF [NOT] EXISTS turned into a no-op, as PostgreSQL's NOTICE does.
fn skipped(message: String) -> Result<DdlOutcome, DdlError> {
    done(format!("{message}, skipping"), json!({ "skipped": true }))
}

fn storage(error: StorageError) -> DdlError {
    DdlError::storage(error)
}

impl From<DdlError> for crate::TxnError {
    /// For the typed convenience methods of `WriteTxn`: storage failures come back as
    /// themselves, missing and duplicate objects as their kinds, the rest as validation.
    fn from(error: DdlError) -> crate::TxnError {
        use crate::{ObjectKind as K, TxnError as T};
        let name = error.message.clone();
        match error.category {
            C::ExecutionFailed if error.storage.is_some() => {
                T::Storage(error.storage.expect("checked"))
            }
            C::DatabaseAlreadyExists => T::AlreadyExists {
                kind: K::Database,
                name,
            },
            C::SchemaAlreadyExists => T::AlreadyExists {
                kind: K::Schema,
                name,
            },
            C::TableAlreadyExists => T::AlreadyExists {
                kind: K::Table,
                name,
            },
            C::IndexAlreadyExists => T::AlreadyExists {
                kind: K::Index,
                name,
            },
            C::DatabaseNotFound => T::NotFound {
                kind: K::Database,
                name,
            },
            C::SchemaNotFound => T::NotFound {
                kind: K::Schema,
                name,
            },
            C::TableNotFound => T::NotFound {
                kind: K::Table,
                name,
            },
            C::IndexNotFound => T::NotFound {
                kind: K::Index,
                name,
            },
            C::InvalidIdentifier => T::InvalidIdentifier {
                name: String::new(),
                reason: name,
            },
            _ => T::Validation(error.message),
        }
    }
}

/// Checks a name against the identifier rules: 1 to 63 bytes, no NUL. PostgreSQL
/// truncates longer names with a notice; Kiln refuses them, because silent truncation can
/// make two different names collide.
pub fn check_identifier(kind: &str, name: &str) -> Result<(), DdlError> {
    let reason = if name.is_empty() {
        "identifiers cannot be empty".to_string()
    } else if name.len() > IDENTIFIER_BYTES_MAX {
        format!(
            "identifiers are at most {IDENTIFIER_BYTES_MAX} bytes; this one is {}",
            name.len()
        )
    } else if name.contains('\0') {
        "identifiers cannot contain NUL".to_string()
    } else {
        return Ok(());
    };
    Err(DdlError::new(
        C::InvalidIdentifier,
        format!("invalid {kind} name {name:?}: {reason}"),
    ))
}

/// Executes `command` inside the transaction `ctx`. On error the caller must abort the
/// transaction: a command may have staged part of its work before failing.
pub fn execute(ctx: &mut WriteContext, command: &DdlCommand) -> Result<DdlOutcome, DdlError> {
    match command {
        DdlCommand::CreateDatabase {
            name,
            if_not_exists,
        } => create_database(ctx, name, *if_not_exists),
        DdlCommand::DropDatabase {
            name,
            if_exists,
            cascade,
        } => drop_database(ctx, name, *if_exists, *cascade),
        DdlCommand::CreateSchema {
            database,
            name,
            if_not_exists,
        } => create_schema(ctx, database, name, *if_not_exists),
        DdlCommand::DropSchema {
            database,
            name,
            if_exists,
            cascade,
        } => drop_schema(ctx, database, name, *if_exists, *cascade),
        DdlCommand::CreateTable {
            database,
            schema,
            name,
            columns,
            if_not_exists,
        } => create_table(ctx, (database, schema), name, columns, *if_not_exists),
        DdlCommand::DropTable {
            database,
            schema,
            name,
            if_exists,
            ..
        } => drop_table(ctx, (database, schema), name, *if_exists),
        DdlCommand::AlterTable {
            database,
            schema,
            name,
            if_exists,
            action,
        } => alter_table(ctx, (database, schema), name, *if_exists, action),
        DdlCommand::CreateIndex {
            database,
            schema,
            name,
            table,
            columns,
            unique,
            if_not_exists,
        } => create_index(
            ctx,
            (database, schema),
            name,
            table,
            columns,
            *unique,
            *if_not_exists,
        ),
        DdlCommand::DropIndex {
            database,
            schema,
            name,
            if_exists,
            ..
        } => drop_index(ctx, (database, schema), name, *if_exists),
    }
}

fn database_id(catalog: &Catalog, name: &str) -> Result<ObjectId, DdlError> {
    catalog.database_by_name(name).map(|d| d.id).ok_or_else(|| {
        DdlError::new(
            C::DatabaseNotFound,
            format!("database \"{name}\" does not exist"),
        )
    })
}

/// Resolves `database.schema`; a missing database is reported as such.
fn schema_id(catalog: &Catalog, (database, schema): (&str, &str)) -> Result<ObjectId, DdlError> {
    let db = database_id(catalog, database)?;
    catalog
        .schema_by_name(db, schema)
        .map(|s| s.id)
        .ok_or_else(|| {
            DdlError::new(
                C::SchemaNotFound,
                format!("schema \"{schema}\" does not exist"),
            )
        })
}

fn create_database(
    ctx: &mut WriteContext,
    name: &str,
    if_not_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("database", name)?;
    if ctx.catalog().database_by_name(name).is_some() {
        if if_not_exists {
            return skipped(format!("database \"{name}\" already exists"));
        }
        return Err(DdlError::new(
            C::DatabaseAlreadyExists,
            format!("database \"{name}\" already exists"),
        ));
    }
    let (id, schema) = ctx
        .with_mutator(|m, pool, log| {
            let id = m.stage_create_database(pool, log, name)?;
            let schema = m.stage_create_schema(pool, log, id, DEFAULT_SCHEMA)?;
            Ok((id, schema))
        })
        .map_err(storage)?;
    done(
        format!("created database \"{name}\""),
        json!({ "database_id": id, "schema_id": schema }),
    )
}

/// A database's dependents: its schemas, except an empty `public` (created with it, as
/// PostgreSQL creates it, so it does not make a fresh database undroppable).
fn database_dependents(catalog: &Catalog, database: ObjectId) -> usize {
    catalog
        .schemas_of(database)
        .filter(|s| s.name != DEFAULT_SCHEMA || catalog.tables_of(s.id).next().is_some())
        .count()
}

fn drop_database(
    ctx: &mut WriteContext,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<DdlOutcome, DdlError> {
    let catalog = ctx.catalog();
    let Some(db) = catalog.database_by_name(name) else {
        if if_exists {
            return skipped(format!("database \"{name}\" does not exist"));
        }
        return Err(DdlError::new(
            C::DatabaseNotFound,
            format!("database \"{name}\" does not exist"),
        ));
    };
    let id = db.id;
    let dependents = database_dependents(catalog, id);
    if dependents > 0 && !cascade {
        let message = format!(
            "cannot drop database \"{name}\": {dependents} schema(s) depend on it (use CASCADE; an empty \"public\" schema does not count)"
        );
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("2BP01"));
    }
    let summary = ctx
        .with_mutator(|m, pool, log| m.stage_drop_database(pool, log, id))
        .map_err(storage)?;
    done(format!("dropped database \"{name}\""), dropped(&summary))
}

fn dropped(summary: &DropSummary) -> serde_json::Value {
    json!({ "dropped": {
        "databases": summary.databases,
        "schemas": summary.schemas,
        "tables": summary.tables,
        "columns": summary.columns,
        "indexes": summary.indexes,
        "pages_freed": summary.pages_freed,
    }})
}

fn create_schema(
    ctx: &mut WriteContext,
    database: &str,
    name: &str,
    if_not_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("schema", name)?;
    let db = database_id(ctx.catalog(), database)?;
    if ctx.catalog().schema_by_name(db, name).is_some() {
        if if_not_exists {
            return skipped(format!("schema \"{name}\" already exists"));
        }
        return Err(DdlError::new(
            C::SchemaAlreadyExists,
            format!("schema \"{name}\" already exists"),
        ));
    }
    let id = ctx
        .with_mutator(|m, pool, log| m.stage_create_schema(pool, log, db, name))
        .map_err(storage)?;
    done(
        format!("created schema \"{name}\""),
        json!({ "schema_id": id }),
    )
}

fn drop_schema(
    ctx: &mut WriteContext,
    database: &str,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<DdlOutcome, DdlError> {
    let catalog = ctx.catalog();
    let db = match database_id(catalog, database) {
        Ok(db) => db,
        Err(e) if if_exists => return skipped(e.message),
        Err(e) => return Err(e),
    };
    let Some(schema) = catalog.schema_by_name(db, name) else {
        if if_exists {
            return skipped(format!("schema \"{name}\" does not exist"));
        }
        return Err(DdlError::new(
            C::SchemaNotFound,
            format!("schema \"{name}\" does not exist"),
        ));
    };
    let id = schema.id;
    let tables = catalog.tables_of(id).count();
    if tables > 0 && !cascade {
        let message =
            format!("cannot drop schema \"{name}\": {tables} table(s) depend on it (use CASCADE)");
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("2BP01"));
    }
    let summary = ctx
        .with_mutator(|m, pool, log| m.stage_drop_schema(pool, log, id))
        .map_err(storage)?;
    done(format!("dropped schema \"{name}\""), dropped(&summary))
}

/// Checks a table's column list: identifiers, duplicates, count.
fn check_columns(columns: &[ColumnSpec]) -> Result<(), DdlError> {
    if columns.len() > COLUMNS_MAX {
        return Err(DdlError::new(
            C::ValidationFailed,
            format!("tables can have at most {COLUMNS_MAX} columns"),
        )
        .with_sqlstate("54011"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for column in columns {
        check_identifier("column", &column.name)?;
        if !seen.insert(column.name.as_str()) {
            let message = format!("column \"{}\" specified more than once", column.name);
            return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("42701"));
        }
    }
    Ok(())
}

fn create_table(
    ctx: &mut WriteContext,
    at: (&str, &str),
    name: &str,
    columns: &[ColumnSpec],
    if_not_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("table", name)?;
    let schema = schema_id(ctx.catalog(), at)?;
    if ctx.catalog().relation_exists(schema, name) {
        if if_not_exists {
            return skipped(format!("relation \"{name}\" already exists"));
        }
        return Err(DdlError::new(
            C::TableAlreadyExists,
            format!("relation \"{name}\" already exists"),
        ));
    }
    check_columns(columns)?;
    let id = ctx
        .with_mutator(|m, pool, log| m.stage_create_table(pool, log, schema, name, columns))
        .map_err(storage)?;
    let column_ids: Vec<ObjectId> = ctx
        .catalog()
        .table(id)
        .map(|t| t.columns.iter().map(|c| c.id).collect())
        .unwrap_or_default();
    done(
        format!("created table \"{name}\""),
        json!({ "table_id": id, "column_ids": column_ids }),
    )
}

fn table_id(catalog: &Catalog, at: (&str, &str), name: &str) -> Result<Option<ObjectId>, DdlError> {
    let schema = schema_id(catalog, at)?;
    Ok(catalog.table_by_name(schema, name).map(|t| t.id))
}

/// Resolves `database.schema` for a command with IF EXISTS: a missing container makes
/// the command a no-op (PostgreSQL: `schema "s" does not exist, skipping`).
fn schema_or_skip(
    catalog: &Catalog,
    at: (&str, &str),
    if_exists: bool,
) -> Result<Result<ObjectId, String>, DdlError> {
    match schema_id(catalog, at) {
        Ok(id) => Ok(Ok(id)),
        Err(e) if if_exists => Ok(Err(e.message)),
        Err(e) => Err(e),
    }
}

fn table_not_found(name: &str) -> DdlError {
    DdlError::new(C::TableNotFound, format!("table \"{name}\" does not exist"))
}

fn drop_table(
    ctx: &mut WriteContext,
    at: (&str, &str),
    name: &str,
    if_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    if let Err(missing) = schema_or_skip(ctx.catalog(), at, if_exists)? {
        return skipped(missing);
    }
    let Some(id) = table_id(ctx.catalog(), at, name)? else {
        if if_exists {
            return skipped(format!("table \"{name}\" does not exist"));
        }
        return Err(table_not_found(name));
    };
    // A table's indexes are part of it (dropped with it, as in PostgreSQL); no other
    // object kind can depend on a table yet, so RESTRICT never refuses.
    let summary = ctx
        .with_mutator(|m, pool, log| m.stage_drop_table(pool, log, id))
        .map_err(storage)?;
    done(format!("dropped table \"{name}\""), dropped(&summary))
}

fn alter_table(
    ctx: &mut WriteContext,
    at: (&str, &str),
    name: &str,
    if_exists: bool,
    action: &AlterAction,
) -> Result<DdlOutcome, DdlError> {
    if let Err(missing) = schema_or_skip(ctx.catalog(), at, if_exists)? {
        return skipped(missing);
    }
    let Some(id) = table_id(ctx.catalog(), at, name)? else {
        if if_exists {
            return skipped(format!("relation \"{name}\" does not exist"));
        }
        return Err(table_not_found(name));
    };
    match action {
        AlterAction::RenameTable { new_name } => rename_table(ctx, at, id, name, new_name),
        AlterAction::AddColumn {
            column,
            if_not_exists,
        } => add_column(ctx, id, name, column, *if_not_exists),
        AlterAction::DropColumn {
            name: column,
            if_exists,
            ..
        } => drop_column(ctx, id, name, column, *if_exists),
        AlterAction::RenameColumn { old_name, new_name } => {
            rename_column(ctx, id, name, old_name, new_name)
        }
    }
}

fn rename_table(
    ctx: &mut WriteContext,
    at: (&str, &str),
    id: ObjectId,
    name: &str,
    new_name: &str,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("table", new_name)?;
    let schema = schema_id(ctx.catalog(), at)?;
    if ctx.catalog().relation_exists(schema, new_name) {
        let message = format!("relation \"{new_name}\" already exists");
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("42P07"));
    }
    ctx.with_mutator(|m, pool, log| m.stage_rename_table(pool, log, id, new_name))
        .map_err(storage)?;
    done(
        format!("renamed table \"{name}\" to \"{new_name}\""),
        json!({ "table_id": id }),
    )
}

fn add_column(
    ctx: &mut WriteContext,
    id: ObjectId,
    table: &str,
    column: &ColumnSpec,
    if_not_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("column", &column.name)?;
    let def = ctx.catalog().table(id).expect("resolved above");
    if def.column(&column.name).is_some() {
        if if_not_exists {
            return skipped(format!(
                "column \"{}\" of relation \"{table}\" already exists",
                column.name
            ));
        }
        let message = format!(
            "column \"{}\" of relation \"{table}\" already exists",
            column.name
        );
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("42701"));
    }
    if def.columns.len() >= COLUMNS_MAX {
        let message = format!("tables can have at most {COLUMNS_MAX} columns (dropped ones count)");
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("54011"));
    }
    if !column.nullable && ctx.table_has_rows(id).map_err(storage)? {
        let message = format!(
            "column \"{}\" of relation \"{table}\" contains null values",
            column.name
        );
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("23502"));
    }
    let column_id = ctx
        .with_mutator(|m, pool, log| m.stage_add_column(pool, log, id, column))
        .map_err(storage)?;
    done(
        format!("added column \"{}\" to \"{table}\"", column.name),
        json!({ "table_id": id, "column_id": column_id }),
    )
}

fn undefined_column(column: &str, table: &str) -> DdlError {
    DdlError::new(
        C::ValidationFailed,
        format!("column \"{column}\" of relation \"{table}\" does not exist"),
    )
    .with_sqlstate("42703")
}

fn drop_column(
    ctx: &mut WriteContext,
    id: ObjectId,
    table: &str,
    column: &str,
    if_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    let Some(column_id) = ctx
        .catalog()
        .table(id)
        .and_then(|t| t.column(column))
        .map(|c| c.id)
    else {
        if if_exists {
            return skipped(format!(
                "column \"{column}\" of relation \"{table}\" does not exist"
            ));
        }
        return Err(undefined_column(column, table));
    };
    let summary = ctx
        .with_mutator(|m, pool, log| m.stage_drop_column(pool, log, id, column_id))
        .map_err(storage)?;
    done(
        format!("dropped column \"{column}\" of \"{table}\""),
        dropped(&summary),
    )
}

fn rename_column(
    ctx: &mut WriteContext,
    id: ObjectId,
    table: &str,
    old: &str,
    new: &str,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("column", new)?;
    let def = ctx.catalog().table(id).expect("resolved above");
    let Some(column_id) = def.column(old).map(|c| c.id) else {
        return Err(undefined_column(old, table));
    };
    if def.column(new).is_some() {
        let message = format!("column \"{new}\" of relation \"{table}\" already exists");
        return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("42701"));
    }
    ctx.with_mutator(|m, pool, log| m.stage_rename_column(pool, log, id, column_id, new))
        .map_err(storage)?;
    done(
        format!("renamed column \"{old}\" of \"{table}\" to \"{new}\""),
        json!({ "table_id": id, "column_id": column_id }),
    )
}

/// The catalog side of CREATE INDEX: everything is validated as the verb reference
/// requires, then the storage hook that would build the B+tree fails, because the index
/// layer does not exist yet. The transaction aborts: never a fake success.
fn create_index(
    ctx: &mut WriteContext,
    at: (&str, &str),
    name: &str,
    table: &str,
    columns: &[String],
    _unique: bool,
    if_not_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    check_identifier("index", name)?;
    let catalog = ctx.catalog();
    let schema = schema_id(catalog, at)?;
    if catalog.relation_exists(schema, name) {
        if if_not_exists {
            return skipped(format!("relation \"{name}\" already exists"));
        }
        return Err(DdlError::new(
            C::IndexAlreadyExists,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let def = catalog
        .table_by_name(schema, table)
        .ok_or_else(|| table_not_found(table))?;
    if columns.is_empty() {
        return Err(
            DdlError::new(C::ValidationFailed, "an index needs at least one column")
                .with_sqlstate("42601"),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for column in columns {
        if def.column(column).is_none() {
            return Err(undefined_column(column, table));
        }
        if !seen.insert(column) {
            let message = format!("column \"{column}\" appears twice in the index");
            return Err(DdlError::new(C::ValidationFailed, message).with_sqlstate("42701"));
        }
    }
    Err(DdlError::new(
        C::ExecutionFailed,
        format!("cannot build index \"{name}\": B+tree indexes are not implemented in this version of Kiln"),
    )
    .with_sqlstate("0A000"))
}

fn drop_index(
    ctx: &mut WriteContext,
    at: (&str, &str),
    name: &str,
    if_exists: bool,
) -> Result<DdlOutcome, DdlError> {
    let schema = match schema_or_skip(ctx.catalog(), at, if_exists)? {
        Ok(schema) => schema,
        Err(missing) => return skipped(missing),
    };
    let Some(id) = ctx.catalog().index_by_name(schema, name).map(|i| i.id) else {
        if ctx.catalog().table_by_name(schema, name).is_some() {
            let message = format!("\"{name}\" is not an index");
            return Err(DdlError::new(C::IndexNotFound, message).with_sqlstate("42809"));
        }
        if if_exists {
            return skipped(format!("index \"{name}\" does not exist"));
        }
        return Err(DdlError::new(
            C::IndexNotFound,
            format!("index \"{name}\" does not exist"),
        ));
    };
    let summary = ctx
        .with_mutator(|m, pool, log| m.stage_drop_index(pool, log, id))
        .map_err(storage)?;
    done(format!("dropped index \"{name}\""), dropped(&summary))
}
