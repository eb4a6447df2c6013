//! What each DDL command must do, decided on the model alone: the outcome the engine
//! must report (applied, skipped by IF [NOT] EXISTS, or failed with a given category)
//! and the state it must leave. Written from the DDL verb reference and PostgreSQL's
//! semantics, independently of the engine's code; where both check several things, the
//! order of the checks is part of the contract (docs/ddl.md).

use std::collections::BTreeMap;

use kiln::{AlterAction, DdlCommand, DdlErrorCategory as C, Value, DEFAULT_SCHEMA};

use crate::model::{ModelColumn, ModelState, ModelTable};

/// The outcome a command must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Applied,
    Skipped,
    Fails(C),
}

const IDENTIFIER_BYTES_MAX: usize = 63;

fn valid_identifier(name: &str) -> bool {
    !name.is_empty() && name.len() <= IDENTIFIER_BYTES_MAX && !name.contains('\0')
}

/// Applies `command` to `state` if it succeeds; returns what the engine must report.
pub fn apply(state: &mut ModelState, command: &DdlCommand) -> Expect {
    match command {
        DdlCommand::CreateDatabase {
            name,
            if_not_exists,
        } => create_database(state, name, *if_not_exists),
        DdlCommand::DropDatabase {
            name,
            if_exists,
            cascade,
        } => drop_database(state, name, *if_exists, *cascade),
        DdlCommand::CreateSchema {
            database,
            name,
            if_not_exists,
        } => create_schema(state, database, name, *if_not_exists),
        DdlCommand::DropSchema {
            database,
            name,
            if_exists,
            cascade,
        } => drop_schema(state, database, name, *if_exists, *cascade),
        DdlCommand::CreateTable {
            database,
            schema,
            name,
            columns,
            if_not_exists,
        } => {
            let columns = columns
                .iter()
                .map(|c| ModelColumn {
                    name: c.name.clone(),
                    column_type: c.column_type,
                    nullable: c.nullable,
                })
                .collect();
            create_table(state, (database, schema), name, columns, *if_not_exists)
        }
        DdlCommand::DropTable {
            database,
            schema,
            name,
            if_exists,
            ..
        } => skip_missing_schema(state, (database, schema), *if_exists)
            .unwrap_or_else(|| drop_table(state, (database, schema), name, *if_exists)),
        DdlCommand::AlterTable {
            database,
            schema,
            name,
            if_exists,
            action,
        } => skip_missing_schema(state, (database, schema), *if_exists)
            .unwrap_or_else(|| alter_table(state, (database, schema), name, *if_exists, action)),
        DdlCommand::CreateIndex {
            database,
            schema,
            name,
            table,
            columns,
            if_not_exists,
            ..
        } => create_index(
            state,
            (database, schema),
            name,
            table,
            columns,
            *if_not_exists,
        ),
        DdlCommand::DropIndex {
            database,
            schema,
            name,
            if_exists,
            ..
        } => {
            // No index can exist: building one fails until the index layer lands.
            match state
                .databases
                .get(database.as_str())
                .and_then(|s| s.get(schema.as_str()))
            {
                None if *if_exists => Expect::Skipped,
                None if !state.databases.contains_key(database.as_str()) => {
                    Expect::Fails(C::DatabaseNotFound)
                }
                None => Expect::Fails(C::SchemaNotFound),
                // PostgreSQL refuses a table's name even with IF EXISTS.
                Some(tables) if tables.contains_key(name.as_str()) => {
                    Expect::Fails(C::IndexNotFound)
                }
                Some(_) if *if_exists => Expect::Skipped,
                Some(_) => Expect::Fails(C::IndexNotFound),
            }
        }
    }
}

fn create_database(state: &mut ModelState, name: &str, if_not_exists: bool) -> Expect {
    if !valid_identifier(name) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    if state.databases.contains_key(name) {
        return if if_not_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::DatabaseAlreadyExists)
        };
    }
    let schemas = BTreeMap::from([(DEFAULT_SCHEMA.to_string(), BTreeMap::new())]);
    state.databases.insert(name.to_string(), schemas);
    Expect::Applied
}

fn drop_database(state: &mut ModelState, name: &str, if_exists: bool, cascade: bool) -> Expect {
    let Some(schemas) = state.databases.get(name) else {
        return if if_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::DatabaseNotFound)
        };
    };
    // An empty `public` schema does not count as a dependent (it came with the database).
    let dependents = schemas
        .iter()
        .filter(|(s, t)| s.as_str() != DEFAULT_SCHEMA || !t.is_empty())
        .count();
    if dependents > 0 && !cascade {
        return Expect::Fails(C::ValidationFailed);
    }
    state.databases.remove(name);
    Expect::Applied
}

fn create_schema(
    state: &mut ModelState,
    database: &str,
    name: &str,
    if_not_exists: bool,
) -> Expect {
    if !valid_identifier(name) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    let Some(schemas) = state.databases.get_mut(database) else {
        return Expect::Fails(C::DatabaseNotFound);
    };
    if schemas.contains_key(name) {
        return if if_not_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::SchemaAlreadyExists)
        };
    }
    schemas.insert(name.to_string(), BTreeMap::new());
    Expect::Applied
}

/// IF EXISTS turns a missing database or schema into a skip.
fn skip_missing_schema(
    state: &ModelState,
    (database, schema): (&str, &str),
    if_exists: bool,
) -> Option<Expect> {
    let present = state
        .databases
        .get(database)
        .is_some_and(|s| s.contains_key(schema));
    (!present && if_exists).then_some(Expect::Skipped)
}

fn drop_schema(
    state: &mut ModelState,
    database: &str,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Expect {
    let Some(schemas) = state.databases.get_mut(database) else {
        return if if_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::DatabaseNotFound)
        };
    };
    let Some(tables) = schemas.get(name) else {
        return if if_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::SchemaNotFound)
        };
    };
    if !tables.is_empty() && !cascade {
        return Expect::Fails(C::ValidationFailed);
    }
    schemas.remove(name);
    Expect::Applied
}

/// The tables of `database.schema`, or the failure of resolving them.
fn schema_mut<'s>(
    state: &'s mut ModelState,
    (database, schema): (&str, &str),
) -> Result<&'s mut BTreeMap<String, ModelTable>, Expect> {
    let schemas = state
        .databases
        .get_mut(database)
        .ok_or(Expect::Fails(C::DatabaseNotFound))?;
    schemas
        .get_mut(schema)
        .ok_or(Expect::Fails(C::SchemaNotFound))
}

fn create_table(
    state: &mut ModelState,
    at: (&str, &str),
    name: &str,
    columns: Vec<ModelColumn>,
    if_not_exists: bool,
) -> Expect {
    if !valid_identifier(name) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    let tables = match schema_mut(state, at) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if tables.contains_key(name) {
        return if if_not_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::TableAlreadyExists)
        };
    }
    let mut names = std::collections::BTreeSet::new();
    if columns.iter().any(|c| !valid_identifier(&c.name)) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    if !columns.iter().all(|c| names.insert(c.name.clone())) {
        return Expect::Fails(C::ValidationFailed);
    }
    tables.insert(
        name.to_string(),
        ModelTable {
            columns,
            rows: BTreeMap::new(),
        },
    );
    Expect::Applied
}

fn drop_table(state: &mut ModelState, at: (&str, &str), name: &str, if_exists: bool) -> Expect {
    let tables = match schema_mut(state, at) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if tables.remove(name).is_none() {
        return if if_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::TableNotFound)
        };
    }
    Expect::Applied
}

fn alter_table(
    state: &mut ModelState,
    at: (&str, &str),
    name: &str,
    if_exists: bool,
    action: &AlterAction,
) -> Expect {
    let tables = match schema_mut(state, at) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if !tables.contains_key(name) {
        return if if_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::TableNotFound)
        };
    }
    match action {
        AlterAction::RenameTable { new_name } => {
            if !valid_identifier(new_name) {
                return Expect::Fails(C::InvalidIdentifier);
            }
            if tables.contains_key(new_name.as_str()) {
                return Expect::Fails(C::ValidationFailed);
            }
            let table = tables.remove(name).expect("checked");
            tables.insert(new_name.clone(), table);
            Expect::Applied
        }
        AlterAction::AddColumn {
            column,
            if_not_exists,
        } => {
            let table = tables.get_mut(name).expect("checked");
            add_column(table, column, *if_not_exists)
        }
        AlterAction::DropColumn {
            name: column,
            if_exists,
            ..
        } => {
            let table = tables.get_mut(name).expect("checked");
            let Some(index) = table.columns.iter().position(|c| &c.name == column) else {
                return if *if_exists {
                    Expect::Skipped
                } else {
                    Expect::Fails(C::ValidationFailed)
                };
            };
            table.columns.remove(index);
            for values in table.rows.values_mut() {
                values.remove(index);
            }
            Expect::Applied
        }
        AlterAction::RenameColumn { old_name, new_name } => {
            let table = tables.get_mut(name).expect("checked");
            if !valid_identifier(new_name) {
                return Expect::Fails(C::InvalidIdentifier);
            }
            let Some(index) = table.columns.iter().position(|c| &c.name == old_name) else {
                return Expect::Fails(C::ValidationFailed);
            };
            if table.columns.iter().any(|c| &c.name == new_name) {
                return Expect::Fails(C::ValidationFailed);
            }
            table.columns[index].name = new_name.clone();
            Expect::Applied
        }
    }
}

fn add_column(table: &mut ModelTable, column: &kiln::ColumnSpec, if_not_exists: bool) -> Expect {
    if !valid_identifier(&column.name) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    if table.columns.iter().any(|c| c.name == column.name) {
        return if if_not_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::ValidationFailed)
        };
    }
    if !column.nullable && !table.rows.is_empty() {
        return Expect::Fails(C::ValidationFailed);
    }
    table.columns.push(ModelColumn {
        name: column.name.clone(),
        column_type: column.column_type,
        nullable: column.nullable,
    });
    for values in table.rows.values_mut() {
        values.push(Value::Null);
    }
    Expect::Applied
}

fn create_index(
    state: &mut ModelState,
    at: (&str, &str),
    name: &str,
    table: &str,
    columns: &[String],
    if_not_exists: bool,
) -> Expect {
    if !valid_identifier(name) {
        return Expect::Fails(C::InvalidIdentifier);
    }
    let tables = match schema_mut(state, at) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if tables.contains_key(name) {
        return if if_not_exists {
            Expect::Skipped
        } else {
            Expect::Fails(C::IndexAlreadyExists)
        };
    }
    let Some(def) = tables.get(table) else {
        return Expect::Fails(C::TableNotFound);
    };
    let mut seen = std::collections::BTreeSet::new();
    let valid = !columns.is_empty()
        && columns
            .iter()
            .all(|c| def.columns.iter().any(|d| &d.name == c) && seen.insert(c));
    if !valid {
        return Expect::Fails(C::ValidationFailed);
    }
    // Validated; the B+tree cannot be built yet, so the command must fail, never fake it.
    Expect::Fails(C::ExecutionFailed)
}
