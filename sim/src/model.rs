//! The reference model: what the database must contain, in plain `BTreeMap`s.
//!
//! It shares no code with the engine. It knows the committed state; while a commit's
//! outcome is unknown (the machine stopped inside `commit`), it also knows the state that
//! commit would produce, and the next recovery must land on exactly one of the two.

use std::collections::BTreeMap;

use kiln::{ColumnType, RowId, Value};

/// A table as the model knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTable {
    pub columns: Vec<(ColumnType, bool)>,
    pub rows: BTreeMap<RowId, Vec<Value>>,
}

/// One state of the database: tables by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelState {
    pub tables: BTreeMap<String, ModelTable>,
}

impl ModelState {
    /// The name of the table a selector picks, if there are tables.
    pub fn table_name(&self, selector: u32) -> Option<String> {
        if self.tables.is_empty() {
            return None;
        }
        let index = selector as usize % self.tables.len();
        self.tables.keys().nth(index).cloned()
    }

    /// The row id a selector picks in a table, if it has rows.
    pub fn row_id(&self, table: &str, selector: u32) -> Option<RowId> {
        let rows = &self.tables.get(table)?.rows;
        if rows.is_empty() {
            return None;
        }
        rows.keys().nth(selector as usize % rows.len()).copied()
    }

    /// Total rows over all tables.
    pub fn row_count(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }

    /// The first difference between `self` (expected) and `actual`, described for a
    /// human; `None` if they are equal. Floats compare by bits.
    pub fn diff(&self, actual: &ModelState) -> Option<String> {
        let expected_names: Vec<&String> = self.tables.keys().collect();
        let actual_names: Vec<&String> = actual.tables.keys().collect();
        if expected_names != actual_names {
            return Some(format!(
                "tables differ: expected {expected_names:?}, found {actual_names:?}"
            ));
        }
        for (name, e) in &self.tables {
            let a = &actual.tables[name];
            if e.columns != a.columns {
                return Some(format!(
                    "table {name}: columns differ: expected {:?}, found {:?}",
                    e.columns, a.columns
                ));
            }
            if let Some(d) = diff_rows(&e.rows, &a.rows) {
                return Some(format!("table {name}: {d}"));
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
    /// Tables ever created, for naming new ones uniquely.
    pub tables_created: u64,
}

impl Model {
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
