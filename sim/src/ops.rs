//! Executing one transaction operation (DML or DDL) against the engine and the model,
//! checking the engine's answer on the spot.
//!
//! DDL commands are built from the plan's selectors against the transaction's model view,
//! their expected outcome is decided by [`crate::ddl_model`] alone, and the engine must
//! report exactly that outcome (applied, skipped, or the failure category). An expected
//! failure ends the transaction (the engine's contract: abort after a failed command).

use std::collections::BTreeMap;

use kiln::{AlterAction, ColumnSpec, DdlCommand, DdlErrorCategory, TxnError, WriteTxn};

use crate::ddl_model::{self, Expect};
use crate::model::{diff_rows, same_row, ModelState, TableKey};
use crate::plan::{values_for, AlterOp, ColType, TxnOp};
use crate::runner::{OpError, Runner};

fn engine(what: String) -> impl FnOnce(TxnError) -> OpError {
    move |e| OpError::Engine(what, e)
}

impl Runner {
    pub(crate) fn run_op(
        &mut self,
        tx: &mut WriteTxn,
        view: &mut ModelState,
        op: &TxnOp,
    ) -> Result<(), OpError> {
        match op {
            TxnOp::Insert { table, values } => self.op_insert(tx, view, *table, *values),
            TxnOp::Update { table, row, values } => self.op_update(tx, view, *table, *row, *values),
            TxnOp::Delete { table, row } => self.op_delete(tx, view, *table, *row),
            TxnOp::Get { table, row } => self.op_get(tx, view, *table, *row),
            TxnOp::Scan { table } => self.op_scan(tx, view, *table),
            ddl => match self.ddl_command(view, ddl) {
                Some(command) => self.op_ddl(tx, view, &command),
                None => Ok(()),
            },
        }
    }

    fn lookup(tx: &WriteTxn, key: &TableKey) -> Result<kiln::Table, OpError> {
        tx.table(&key.0, &key.1, &key.2)
            .map_err(engine(format!("lookup {key:?}")))
    }

    fn op_insert(
        &mut self,
        tx: &mut WriteTxn,
        view: &mut ModelState,
        table: u32,
        seed: u64,
    ) -> Result<(), OpError> {
        let Some(key) = view.table_key(table) else {
            return Ok(());
        };
        let model_table = view.table_mut(&key).expect("picked");
        let values = values_for(&model_table.shape(), seed, self.value_bytes_max);
        let t = Self::lookup(tx, &key)?;
        let id = tx
            .insert(&t, &values)
            .map_err(engine(format!("insert {key:?}")))?;
        self.check("row ids unique");
        if model_table.rows.insert(id, values).is_some() {
            let detail = format!("insert into {key:?} returned live row id {id:#x}");
            return Err(OpError::Stop(self.fail("row ids unique", detail)));
        }
        self.trace.event(format!("insert {} {id:#x}", key.2));
        Ok(())
    }

    fn op_update(
        &mut self,
        tx: &mut WriteTxn,
        view: &mut ModelState,
        table: u32,
        row: u32,
        seed: u64,
    ) -> Result<(), OpError> {
        let Some((key, id)) = pick_row(view, table, row) else {
            return Ok(());
        };
        let model_table = view.table_mut(&key).expect("picked");
        let values = values_for(&model_table.shape(), seed, self.value_bytes_max);
        let t = Self::lookup(tx, &key)?;
        tx.update(&t, id, &values)
            .map_err(engine(format!("update {key:?} {id:#x}")))?;
        model_table.rows.insert(id, values);
        self.trace.event(format!("update {} {id:#x}", key.2));
        Ok(())
    }

    fn op_delete(
        &mut self,
        tx: &mut WriteTxn,
        view: &mut ModelState,
        table: u32,
        row: u32,
    ) -> Result<(), OpError> {
        let Some((key, id)) = pick_row(view, table, row) else {
            return Ok(());
        };
        let t = Self::lookup(tx, &key)?;
        tx.delete(&t, id)
            .map_err(engine(format!("delete {key:?} {id:#x}")))?;
        view.table_mut(&key).expect("picked").rows.remove(&id);
        self.trace.event(format!("delete {} {id:#x}", key.2));
        Ok(())
    }

    fn op_get(
        &mut self,
        tx: &mut WriteTxn,
        view: &ModelState,
        table: u32,
        row: u32,
    ) -> Result<(), OpError> {
        let Some((key, id)) = pick_row(view, table, row) else {
            return Ok(());
        };
        let t = Self::lookup(tx, &key)?;
        let got = tx
            .get(&t, id)
            .map_err(engine(format!("get {key:?} {id:#x}")))?;
        self.check("reads match the model");
        let expected = &view.table(&key).expect("picked").rows[&id];
        if !got.as_deref().is_some_and(|g| same_row(g, expected)) {
            let detail = format!(
                "get {key:?} {id:#x} in a write transaction: expected {expected:?}, got {got:?}"
            );
            return Err(OpError::Stop(self.fail("reads match the model", detail)));
        }
        Ok(())
    }

    fn op_scan(&mut self, tx: &mut WriteTxn, view: &ModelState, table: u32) -> Result<(), OpError> {
        let Some(key) = view.table_key(table) else {
            return Ok(());
        };
        let t = Self::lookup(tx, &key)?;
        let rows = tx.scan(&t).map_err(engine(format!("scan {key:?}")))?;
        self.check("reads match the model");
        let actual: BTreeMap<_, _> = rows.into_iter().collect();
        if let Some(d) = diff_rows(&view.table(&key).expect("picked").rows, &actual) {
            let detail = format!("scan {key:?} in a write transaction: {d}");
            return Err(OpError::Stop(self.fail("reads match the model", detail)));
        }
        Ok(())
    }

    fn op_ddl(
        &mut self,
        tx: &mut WriteTxn,
        view: &mut ModelState,
        command: &DdlCommand,
    ) -> Result<(), OpError> {
        let mut expected_state = view.clone();
        let expect = ddl_model::apply(&mut expected_state, command);
        let got = tx.ddl(command);
        if let Err(e) = &got {
            if let Some(storage) = &e.storage {
                return Err(OpError::Engine(
                    format!("{:?}", command.verb()),
                    TxnError::Storage(storage.clone()),
                ));
            }
        }
        self.check("DDL outcomes match the model");
        match (expect, got) {
            (Expect::Applied | Expect::Skipped, Ok(outcome)) => {
                let skipped = outcome.result.get("skipped").is_some();
                if skipped != (expect == Expect::Skipped) {
                    let detail = format!(
                        "{command:?}: expected {expect:?}, the engine said {}",
                        outcome.message
                    );
                    return Err(OpError::Stop(
                        self.fail("DDL outcomes match the model", detail),
                    ));
                }
                self.check_new_ids(command, &outcome.result)?;
                *view = expected_state;
                self.trace
                    .event(format!("ddl {:?}: {}", command.verb(), outcome.message));
                Ok(())
            }
            (Expect::Fails(category), Err(e)) if e.category == category => {
                self.trace.event(format!(
                    "ddl {:?} failed as expected: {category:?}",
                    command.verb()
                ));
                Err(OpError::Expected)
            }
            (expect, got) => {
                let detail = format!("{command:?}: expected {expect:?}, got {got:?}");
                Err(OpError::Stop(
                    self.fail("DDL outcomes match the model", detail),
                ))
            }
        }
    }

    /// Every id a create reports must lie above every id ever committed.
    pub(crate) fn check_new_ids(
        &mut self,
        command: &DdlCommand,
        result: &serde_json::Value,
    ) -> Result<(), OpError> {
        let new_ids: &[&str] = match command {
            DdlCommand::CreateDatabase { .. } => &["database_id", "schema_id"],
            DdlCommand::CreateSchema { .. } => &["schema_id"],
            DdlCommand::CreateTable { .. } => &["table_id"],
            DdlCommand::AlterTable {
                action: AlterAction::AddColumn { .. },
                ..
            } => &["column_id"],
            _ => &[],
        };
        let mut ids: Vec<u64> = new_ids
            .iter()
            .filter_map(|k| result.get(*k).and_then(serde_json::Value::as_u64))
            .collect();
        if let Some(columns) = result.get("column_ids").and_then(|v| v.as_array()) {
            ids.extend(columns.iter().filter_map(serde_json::Value::as_u64));
        }
        for id in ids {
            self.check("identifiers never reused");
            if id <= self.max_committed_id {
                let detail = format!(
                    "new object got id {id}, not above committed id {}",
                    self.max_committed_id
                );
                return Err(OpError::Stop(self.fail("identifiers never reused", detail)));
            }
        }
        Ok(())
    }

    /// Builds the DDL command an operation names, against `view`; `None` if there is
    /// nothing for it to act on.
    pub(crate) fn ddl_command(&mut self, view: &ModelState, op: &TxnOp) -> Option<DdlCommand> {
        Some(match op {
            TxnOp::CreateTable {
                schema,
                columns,
                reuse_name,
                if_not_exists,
            } => {
                let (database, schema) = view.schema_key(*schema)?;
                let existing = view
                    .schema_tables(&database, &schema)
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                let name = self.name_for("t", *reuse_name, existing, columns.len() as u32);
                let columns = columns
                    .iter()
                    .enumerate()
                    .map(|(i, &(t, nullable))| {
                        ColumnSpec::new(&format!("c{i}"), t.into(), nullable)
                    })
                    .collect();
                DdlCommand::CreateTable {
                    database,
                    schema,
                    name,
                    columns,
                    if_not_exists: *if_not_exists,
                }
            }
            TxnOp::DropTable {
                table,
                missing,
                if_exists,
            } => {
                let (database, schema, name) = view.table_key(*table)?;
                let name = if *missing {
                    self.model.fresh_name("t")
                } else {
                    name
                };
                DdlCommand::DropTable {
                    database,
                    schema,
                    name,
                    if_exists: *if_exists,
                    cascade: false,
                }
            }
            TxnOp::CreateDatabase {
                reuse_name,
                if_not_exists,
            } => {
                let name = self.name_for(
                    "d",
                    *reuse_name,
                    view.databases.keys().cloned().collect(),
                    0,
                );
                DdlCommand::CreateDatabase {
                    name,
                    if_not_exists: *if_not_exists,
                }
            }
            TxnOp::DropDatabase {
                database,
                missing,
                if_exists,
                cascade,
            } => {
                let name = if *missing {
                    self.model.fresh_name("d")
                } else {
                    view.database_name(*database)?
                };
                DdlCommand::DropDatabase {
                    name,
                    if_exists: *if_exists,
                    cascade: *cascade,
                }
            }
            TxnOp::CreateSchema {
                database: selector,
                reuse_name,
                if_not_exists,
            } => {
                let database = view.database_name(*selector)?;
                let existing = view.databases[&database].keys().cloned().collect();
                let name = self.name_for("s", *reuse_name, existing, *selector);
                DdlCommand::CreateSchema {
                    database,
                    name,
                    if_not_exists: *if_not_exists,
                }
            }
            TxnOp::DropSchema {
                schema,
                missing,
                if_exists,
                cascade,
            } => {
                let (database, name) = view.schema_key(*schema)?;
                let name = if *missing {
                    self.model.fresh_name("s")
                } else {
                    name
                };
                DdlCommand::DropSchema {
                    database,
                    name,
                    if_exists: *if_exists,
                    cascade: *cascade,
                }
            }
            TxnOp::AlterTable { table, action } => {
                let (database, schema, name) = view.table_key(*table)?;
                let key = (database.clone(), schema.clone(), name.clone());
                let action = self.alter_action(view, &key, action)?;
                DdlCommand::AlterTable {
                    database,
                    schema,
                    name,
                    if_exists: false,
                    action,
                }
            }
            TxnOp::CreateIndex {
                table,
                column,
                reuse_name,
                missing_column,
            } => {
                let key = view.table_key(*table)?;
                let relations = view
                    .schema_tables(&key.0, &key.1)
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                let name = self.name_for("i", *reuse_name, relations, *table);
                let columns: Vec<String> = view
                    .table(&key)?
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect();
                let column = match nth(&columns, *column) {
                    Some(c) if !*missing_column => c,
                    _ => self.model.fresh_name("c"),
                };
                let (database, schema, table) = key;
                DdlCommand::CreateIndex {
                    database,
                    schema,
                    name,
                    table,
                    columns: vec![column],
                    unique: false,
                    if_not_exists: false,
                }
            }
            TxnOp::DropIndex { schema, if_exists } => {
                let (database, schema) = view.schema_key(*schema)?;
                DdlCommand::DropIndex {
                    database,
                    schema,
                    name: self.model.fresh_name("i"),
                    if_exists: *if_exists,
                    cascade: false,
                }
            }
            TxnOp::Insert { .. }
            | TxnOp::Update { .. }
            | TxnOp::Delete { .. }
            | TxnOp::Get { .. }
            | TxnOp::Scan { .. } => return None,
        })
    }

    fn alter_action(
        &mut self,
        view: &ModelState,
        key: &TableKey,
        op: &AlterOp,
    ) -> Option<AlterAction> {
        let columns: Vec<String> = view
            .table(key)?
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        Some(match op {
            AlterOp::AddColumn {
                column_type,
                nullable,
                reuse_name,
                if_not_exists,
            } => {
                let name = self.name_for("c", *reuse_name, columns, 0);
                let column_type: kiln::ColumnType = ColType::into(*column_type);
                AlterAction::AddColumn {
                    column: ColumnSpec::new(&name, column_type, *nullable),
                    if_not_exists: *if_not_exists,
                }
            }
            AlterOp::DropColumn {
                column,
                missing,
                if_exists,
            } => {
                let name = match nth(&columns, *column) {
                    Some(c) if !*missing => c,
                    _ => self.model.fresh_name("c"),
                };
                AlterAction::DropColumn {
                    name,
                    if_exists: *if_exists,
                    cascade: false,
                }
            }
            AlterOp::RenameColumn { column, reuse_name } => {
                let old_name = nth(&columns, *column)?;
                let new_name = self.name_for("c", *reuse_name, columns, column.wrapping_add(1));
                AlterAction::RenameColumn { old_name, new_name }
            }
            AlterOp::RenameTable { reuse_name } => {
                let tables = view
                    .schema_tables(&key.0, &key.1)?
                    .keys()
                    .cloned()
                    .collect();
                AlterAction::RenameTable {
                    new_name: self.name_for("t", *reuse_name, tables, 1),
                }
            }
        })
    }

    /// An existing name (to hit "already exists") or a fresh one.
    fn name_for(
        &mut self,
        prefix: &str,
        reuse: bool,
        existing: Vec<String>,
        selector: u32,
    ) -> String {
        match nth(&existing, selector) {
            Some(name) if reuse => name,
            _ => self.model.fresh_name(prefix),
        }
    }
}

fn nth(items: &[String], selector: u32) -> Option<String> {
    (!items.is_empty()).then(|| items[selector as usize % items.len()].clone())
}

pub(crate) fn pick_row(view: &ModelState, table: u32, row: u32) -> Option<(TableKey, kiln::RowId)> {
    let key = view.table_key(table)?;
    let id = view.row_id(&key, row)?;
    Some((key, id))
}

/// Whether an error from a dispatched command was the engine's storage failing.
pub(crate) fn is_storage_failure(response: &kiln::DdlCommandResponse) -> bool {
    response.error == Some(DdlErrorCategory::ExecutionFailed)
        && response.message.starts_with("storage failure")
}
