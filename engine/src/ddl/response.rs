//! `DdlCommandResponse`: what every DDL dispatch returns, with the error categories,
//! severities and remediation hints of the DDL verb reference (seed 001), and the
//! PostgreSQL SQLSTATE each failure corresponds to (docs/ddl.md has the table).

use serde::Serialize;

/// The DDL verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DdlVerb {
    CreateDatabase,
    DropDatabase,
    CreateSchema,
    DropSchema,
    CreateTable,
    DropTable,
    AlterTable,
    CreateIndex,
    DropIndex,
}

impl DdlVerb {
    pub const ALL: [DdlVerb; 9] = [
        DdlVerb::CreateDatabase,
        DdlVerb::DropDatabase,
        DdlVerb::CreateSchema,
        DdlVerb::DropSchema,
        DdlVerb::CreateTable,
        DdlVerb::DropTable,
        DdlVerb::AlterTable,
        DdlVerb::CreateIndex,
        DdlVerb::DropIndex,
    ];

    /// The SQL spelling, used in telemetry labels.
    pub fn sql(self) -> &'static str {
        match self {
            DdlVerb::CreateDatabase => "CREATE DATABASE",
            DdlVerb::DropDatabase => "DROP DATABASE",
            DdlVerb::CreateSchema => "CREATE SCHEMA",
            DdlVerb::DropSchema => "DROP SCHEMA",
            DdlVerb::CreateTable => "CREATE TABLE",
            DdlVerb::DropTable => "DROP TABLE",
            DdlVerb::AlterTable => "ALTER TABLE",
            DdlVerb::CreateIndex => "CREATE INDEX",
            DdlVerb::DropIndex => "DROP INDEX",
        }
    }

    pub fn from_sql(text: &str) -> Option<DdlVerb> {
        DdlVerb::ALL.into_iter().find(|v| v.sql() == text)
    }
}

/// The `ddl_error_category` enumeration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DdlErrorCategory {
    DatabaseAlreadyExists,
    DatabaseNotFound,
    SchemaAlreadyExists,
    SchemaNotFound,
    TableAlreadyExists,
    TableNotFound,
    IndexAlreadyExists,
    IndexNotFound,
    InvalidIdentifier,
    ValidationFailed,
    ExecutionFailed,
    /// A catalog tuple or identifier list larger than the engine stores.
    ValueTooLarge,
    /// Input that is not a command at all (SQL that does not parse).
    InvalidArgument,
}

impl DdlErrorCategory {
    pub const ALL: [DdlErrorCategory; 13] = [
        DdlErrorCategory::DatabaseAlreadyExists,
        DdlErrorCategory::DatabaseNotFound,
        DdlErrorCategory::SchemaAlreadyExists,
        DdlErrorCategory::SchemaNotFound,
        DdlErrorCategory::TableAlreadyExists,
        DdlErrorCategory::TableNotFound,
        DdlErrorCategory::IndexAlreadyExists,
        DdlErrorCategory::IndexNotFound,
        DdlErrorCategory::InvalidIdentifier,
        DdlErrorCategory::ValidationFailed,
        DdlErrorCategory::ExecutionFailed,
        DdlErrorCategory::ValueTooLarge,
        DdlErrorCategory::InvalidArgument,
    ];

    /// Infrastructure failures need an operator (Error); everything else is the caller's
    /// input or a missing object (Warning).
    pub fn severity(self) -> Severity {
        match self {
            DdlErrorCategory::ExecutionFailed => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// The PostgreSQL SQLSTATE a failure of this category usually carries. A few
    /// failures refine it (see [`DdlError::sqlstate`]).
    pub fn default_sqlstate(self) -> &'static str {
        match self {
            DdlErrorCategory::DatabaseAlreadyExists => "42P04",
            DdlErrorCategory::DatabaseNotFound => "3D000",
            DdlErrorCategory::SchemaAlreadyExists => "42P06",
            DdlErrorCategory::SchemaNotFound => "3F000",
            DdlErrorCategory::TableAlreadyExists | DdlErrorCategory::IndexAlreadyExists => "42P07",
            DdlErrorCategory::TableNotFound => "42P01",
            DdlErrorCategory::IndexNotFound => "42704",
            DdlErrorCategory::InvalidIdentifier => "42602",
            DdlErrorCategory::ValidationFailed => "42000",
            DdlErrorCategory::ExecutionFailed => "58000",
            DdlErrorCategory::ValueTooLarge => "54000",
            DdlErrorCategory::InvalidArgument => "42601",
        }
    }

    /// The label used in telemetry ("success" is the other outcome).
    pub fn label(self) -> &'static str {
        match self {
            DdlErrorCategory::DatabaseAlreadyExists => "DatabaseAlreadyExists",
            DdlErrorCategory::DatabaseNotFound => "DatabaseNotFound",
            DdlErrorCategory::SchemaAlreadyExists => "SchemaAlreadyExists",
            DdlErrorCategory::SchemaNotFound => "SchemaNotFound",
            DdlErrorCategory::TableAlreadyExists => "TableAlreadyExists",
            DdlErrorCategory::TableNotFound => "TableNotFound",
            DdlErrorCategory::IndexAlreadyExists => "IndexAlreadyExists",
            DdlErrorCategory::IndexNotFound => "IndexNotFound",
            DdlErrorCategory::InvalidIdentifier => "InvalidIdentifier",
            DdlErrorCategory::ValidationFailed => "ValidationFailed",
            DdlErrorCategory::ExecutionFailed => "ExecutionFailed",
            DdlErrorCategory::ValueTooLarge => "ValueTooLarge",
            DdlErrorCategory::InvalidArgument => "InvalidArgument",
        }
    }

    pub fn from_label(label: &str) -> Option<DdlErrorCategory> {
        DdlErrorCategory::ALL
            .into_iter()
            .find(|c| c.label() == label)
    }
}

/// The remediation class of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// Executed; hints are empty.
    Info,
    /// The input is invalid or the target is missing: retry with corrected parameters.
    Warning,
    /// Infrastructure or executor failure: an operator must look before retrying.
    Error,
}

/// A failed DDL command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DdlError {
    pub category: DdlErrorCategory,
    pub message: String,
    /// A more precise SQLSTATE than the category's default, when there is one (for
    /// example 42701 duplicate_column for a ValidationFailed).
    pub sqlstate_override: Option<&'static str>,
    /// The storage failure behind an ExecutionFailed, for callers that act on it.
    pub storage: Option<crate::StorageError>,
}

impl DdlError {
    pub fn new(category: DdlErrorCategory, message: impl Into<String>) -> DdlError {
        DdlError {
            category,
            message: message.into(),
            sqlstate_override: None,
            storage: None,
        }
    }

    /// An ExecutionFailed caused by a storage failure, with PostgreSQL's SQLSTATE for
    /// its kind: 58030 io_error, 53100 disk_full, XX001 data_corrupted.
    pub fn storage(error: crate::StorageError) -> DdlError {
        use crate::StorageError as S;
        let sqlstate = match &error {
            S::DiskFull { .. } => "53100",
            S::Corruption { .. } | S::ChecksumMismatch { .. } => "XX001",
            S::Io { .. } | S::PreviousIo => "58030",
        };
        DdlError {
            category: DdlErrorCategory::ExecutionFailed,
            message: format!("storage failure: {error}"),
            sqlstate_override: Some(sqlstate),
            storage: Some(error),
        }
    }

    pub fn with_sqlstate(mut self, sqlstate: &'static str) -> DdlError {
        self.sqlstate_override = Some(sqlstate);
        self
    }

    pub fn sqlstate(&self) -> &'static str {
        self.sqlstate_override
            .unwrap_or(self.category.default_sqlstate())
    }
}

/// What a DDL dispatch returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DdlCommandResponse {
    pub verb: DdlVerb,
    /// Whether the command committed (or was skipped by IF [NOT] EXISTS).
    pub success: bool,
    /// Verb-specific payload on success: allocated ids, what was dropped, or a skip.
    pub result: Option<serde_json::Value>,
    pub error: Option<DdlErrorCategory>,
    /// The PostgreSQL SQLSTATE of the failure.
    pub sqlstate: Option<&'static str>,
    pub message: String,
    pub severity: Severity,
    pub remediation_hints: Vec<String>,
}

impl DdlCommandResponse {
    pub fn success(
        verb: DdlVerb,
        message: String,
        result: serde_json::Value,
    ) -> DdlCommandResponse {
        DdlCommandResponse {
            verb,
            success: true,
            result: Some(result),
            error: None,
            sqlstate: None,
            message,
            severity: Severity::Info,
            remediation_hints: Vec::new(),
        }
    }

    pub fn failure(verb: DdlVerb, error: &DdlError) -> DdlCommandResponse {
        DdlCommandResponse {
            verb,
            success: false,
            result: None,
            error: Some(error.category),
            sqlstate: Some(error.sqlstate()),
            message: error.message.clone(),
            severity: error.category.severity(),
            remediation_hints: hints(verb, error.category)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}

/// The remediation hints for a failure, as the verb reference assigns them per verb,
/// with general ones where it is silent.
pub fn hints(verb: DdlVerb, category: DdlErrorCategory) -> Vec<&'static str> {
    use DdlErrorCategory as C;
    use DdlVerb as V;
    let specific: Option<&'static str> = match (verb, category) {
        (V::CreateDatabase, C::DatabaseAlreadyExists) => Some("Choose a different name or use IF NOT EXISTS."),
        (V::CreateDatabase, C::InvalidIdentifier) => Some("Adjust the database name to match identifier rules."),
        (V::CreateDatabase, C::ExecutionFailed) => Some("Inspect logs for storage or commit faults."),
        (V::DropDatabase, C::DatabaseNotFound) => Some("Verify the database name or use IF EXISTS."),
        (V::DropDatabase, C::ValidationFailed) => Some("Dependent objects exist: drop them first or use CASCADE."),
        (V::DropDatabase, C::ExecutionFailed) => {
            Some("The cascading cleanup was interrupted; inspect logs, reopen the database, and retry.")
        }
        (V::CreateSchema, C::SchemaAlreadyExists) => Some("Pick a new name or apply IF NOT EXISTS."),
        (V::CreateSchema, C::DatabaseNotFound) => Some("Confirm the database exists."),
        (V::CreateSchema, C::InvalidIdentifier) => Some("Correct the schema name's formatting."),
        (V::DropSchema, C::SchemaNotFound) => Some("Verify the schema name or use IF EXISTS."),
        (V::DropSchema, C::ValidationFailed) => Some("The schema contains tables or indexes: drop them first or use CASCADE."),
        (V::CreateTable, C::TableAlreadyExists) => Some("Apply IF NOT EXISTS or choose a unique name."),
        (V::CreateTable, C::SchemaNotFound) => Some("Ensure the schema exists."),
        (V::CreateTable, C::ValidationFailed) => {
            Some("Fix the column definitions: duplicate names and unsupported types or constraints are rejected.")
        }
        (V::CreateTable, C::ExecutionFailed) => Some("Downstream storage hooks failed; review logs."),
        (V::DropTable, C::TableNotFound) => Some("Use IF EXISTS or adjust the table name."),
        (V::DropTable, C::ValidationFailed) => Some("Cleanup hooks reported dependencies: drop them first or use CASCADE."),
        (V::AlterTable, C::TableNotFound) => Some("Validate the schema and table names."),
        (V::AlterTable, C::ValidationFailed) => Some("The action is not supported or violates a constraint; check the column names."),
        (V::CreateIndex, C::IndexAlreadyExists) => Some("Rename the new index or drop the existing one."),
        (V::CreateIndex, C::TableNotFound | C::SchemaNotFound) => Some("Confirm the target schema and table exist."),
        (V::CreateIndex, C::ValidationFailed) => Some("Use a supported column set: existing, distinct columns."),
        (V::CreateIndex, C::ExecutionFailed) => Some("The storage hook or finalize step failed; inspect logs."),
        (V::DropIndex, C::IndexNotFound) => Some("Use IF EXISTS or fix the index name."),
        (V::DropIndex, C::ValidationFailed) => Some("The cleanup hook rejected the drop."),
        _ => None,
    };
    let general = match category {
        C::DatabaseAlreadyExists | C::SchemaAlreadyExists | C::TableAlreadyExists | C::IndexAlreadyExists => {
            "Use IF NOT EXISTS to make the command idempotent."
        }
        C::DatabaseNotFound | C::SchemaNotFound | C::TableNotFound | C::IndexNotFound => {
            "Check the name (unquoted identifiers fold to lower case), or use IF EXISTS."
        }
        C::InvalidIdentifier => "Identifiers are 1 to 63 bytes without NUL; quote names to keep their case.",
        C::ValidationFailed => "Correct the command and retry.",
        C::ExecutionFailed => "Inspect server logs for storage or commit failures; after an I/O failure, reopen the database before retrying.",
        C::ValueTooLarge => "Shorten the definition: catalog tuples must fit in a page.",
        C::InvalidArgument => "Check the statement's syntax; only DDL verbs are supported.",
    };
    specific
        .into_iter()
        .chain(std::iter::once(general))
        .collect()
}
