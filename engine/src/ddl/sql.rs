//! The SQL front door: DDL text in PostgreSQL's dialect, parsed by `sqlparser` (never by
//! hand), turned into [`DdlCommand`]s. docs/ddl.md is the user-facing reference.
//!
//! The text is split into statements at the tokenizer's `;` tokens (so a semicolon in a
//! string literal, quoted identifier or comment does not split), and each statement is
//! parsed on its own: like psql in autocommit mode, a bad statement does not stop the
//! ones around it. Only text the tokenizer cannot read at all (an unterminated string or
//! quoted identifier) fails as a whole, with one [`DdlErrorCategory::InvalidArgument`].
//!
//! What PostgreSQL does, this module does: unquoted identifiers fold to lower case (ASCII
//! only, as PostgreSQL does in a UTF-8 database), quoted ones keep their case; relation
//! names may be `table`, `schema.table` or `database.schema.table`; schema names
//! `schema` or `database.schema`. Whatever Kiln cannot honour is refused and named,
//! never silently dropped: an unsupported statement, type, constraint or option is a
//! [`DdlErrorCategory::ValidationFailed`] with SQLSTATE 0A000 (feature_not_supported), or
//! 42704 (undefined_object) for a type PostgreSQL itself does not know; text that does
//! not parse is an [`DdlErrorCategory::InvalidArgument`] with SQLSTATE 42601.
//!
//! Not covered: anything but DDL (queries and DML have their own API), schema elements
//! inside CREATE SCHEMA, and `BEGIN ATOMIC ... END` bodies (their inner semicolons split
//! the text, as they would for a psql older than 14).

use sqlparser::ast::helpers::stmt_create_database::CreateDatabaseBuilder;
use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{
    AlterTable, AlterTableOperation, ColumnDef, ColumnOption, CreateIndex, CreateTable,
    CreateTableOptions, DataType, DropBehavior, ExactNumberInfo, Expr, Ident, IndexType,
    ObjectName, ObjectNamePart, ObjectType, RenameTableNameKind, SchemaName, Statement,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::{
    AlterAction, DdlCommand, DdlCommandResponse, DdlError, DdlErrorCategory, DdlVerb,
    DEFAULT_SCHEMA,
};
use crate::catalog::ColumnSpec;
use crate::value::ColumnType;

use DdlErrorCategory as C;

/// Where unqualified names resolve: the current database and the (single) schema of the
/// search path, as a PostgreSQL session has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub database: String,
    pub schema: String,
}

impl Session {
    /// A session on `database` with the default search path, `public`.
    pub fn new(database: impl Into<String>) -> Session {
        Session {
            database: database.into(),
            schema: DEFAULT_SCHEMA.to_string(),
        }
    }

    pub fn with_schema(mut self, schema: impl Into<String>) -> Session {
        self.schema = schema.into();
        self
    }
}

/// One statement of the text, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlStatement {
    /// The DDL verb the statement is, also when it was refused (`CREATE TABLE t (a INT`
    /// is a CREATE TABLE that failed); `None` when it is no DDL verb at all.
    pub verb: Option<DdlVerb>,
    /// Its leading keywords (`CREATE VIEW`, `SELECT`), for messages.
    pub label: String,
    pub command: Result<DdlCommand, DdlError>,
}

/// The hint every refusal of a statement that is no DDL verb carries.
pub const FRONT_DOOR_HINT: &str =
    "Kiln's SQL runs DDL only: CREATE/DROP DATABASE, CREATE/DROP SCHEMA, \
CREATE/DROP TABLE, ALTER TABLE, CREATE/DROP INDEX (see docs/ddl.md).";

impl SqlStatement {
    /// The verb a response about this statement carries. A statement that is no DDL verb
    /// gets the closest one: the same action on a table (CREATE VIEW -> CREATE TABLE,
    /// DROP SEQUENCE -> DROP TABLE, ALTER ROLE -> ALTER TABLE), and CREATE TABLE for
    /// anything else (SELECT, INSERT, BEGIN, text that is not SQL). Such responses are
    /// told apart by their error and message, and are not counted in DDL telemetry.
    pub fn response_verb(&self) -> DdlVerb {
        self.verb
            .unwrap_or_else(|| match self.label.split(' ').next() {
                Some("DROP") => DdlVerb::DropTable,
                Some("ALTER") => DdlVerb::AlterTable,
                _ => DdlVerb::CreateTable,
            })
    }

    /// The response for this statement when it was refused before reaching the engine.
    pub fn rejection(&self, error: &DdlError) -> DdlCommandResponse {
        let mut response = DdlCommandResponse::failure(self.response_verb(), error);
        if self.verb.is_none() {
            // The verb is a stand-in, so its verb-specific hints would mislead.
            response.remediation_hints = vec![
                FRONT_DOOR_HINT.to_string(),
                general_hint(error.category).to_string(),
            ];
        }
        response
    }
}

fn general_hint(category: DdlErrorCategory) -> &'static str {
    // The general hint is the last one for every verb (response::hints).
    super::hints(DdlVerb::CreateDatabase, category)
        .pop()
        .expect("every category has a general hint")
}

/// Parses `sql` into DDL commands, in order: one result per statement, except that a
/// DROP of several names gives one per name.
pub fn parse(sql: &str, session: &Session) -> Vec<Result<DdlCommand, DdlError>> {
    parse_statements(sql, session)
        .into_iter()
        .map(|s| s.command)
        .collect()
}

/// Parses `sql` into statements, keeping each one's verb for responses and telemetry.
pub fn parse_statements(sql: &str, session: &Session) -> Vec<SqlStatement> {
    let dialect = PostgreSqlDialect {};
    let tokens = match Tokenizer::new(&dialect, sql).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(error) => {
            let command = Err(syntax(&error.to_string()));
            return vec![SqlStatement {
                verb: None,
                label: String::new(),
                command,
            }];
        }
    };
    split(tokens)
        .into_iter()
        .flat_map(|tokens| statement(&dialect, tokens, session))
        .collect()
}

/// Splits at top-level `;` tokens, dropping empty statements (as psql does).
fn split(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut statements = vec![Vec::new()];
    for token in tokens {
        match token.token {
            Token::SemiColon => statements.push(Vec::new()),
            _ => statements.last_mut().expect("never empty").push(token),
        }
    }
    statements.retain(|s| {
        s.iter()
            .any(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
    });
    statements
}

/// One statement's tokens -> its commands (several for a DROP of several names).
fn statement(
    dialect: &PostgreSqlDialect,
    tokens: Vec<TokenWithSpan>,
    session: &Session,
) -> Vec<SqlStatement> {
    let words = leading_keywords(&tokens);
    let label = words.join(" ");
    let one = |verb: Option<DdlVerb>, command| {
        vec![SqlStatement {
            verb,
            label: label.clone(),
            command,
        }]
    };
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let parsed = match parser.parse_statements() {
        Ok(mut parsed) if parsed.len() == 1 => parsed.pop().expect("one"),
        Ok(_) => {
            return one(
                verb_of_words(&words),
                Err(syntax("expected exactly one statement")),
            )
        }
        Err(error) => return one(verb_of_words(&words), Err(parser_error(&error))),
    };
    let verb = verb_of(&parsed);
    match (verb, &parsed) {
        (None, _) => {
            let what = if label.is_empty() {
                "this statement"
            } else {
                label.as_str()
            };
            one(
                None,
                Err(unsupported(format!(
                    "{what} is not supported: Kiln's SQL runs DDL only"
                ))),
            )
        }
        (Some(_), Statement::Drop { .. }) => drop_commands(&parsed, session)
            .into_iter()
            .map(|command| SqlStatement {
                verb,
                label: label.clone(),
                command,
            })
            .collect(),
        (Some(_), _) => one(verb, command(&parsed, session)),
    }
}

/// The statement's leading keywords, up to four (`CREATE OR REPLACE VIEW`).
fn leading_keywords(tokens: &[TokenWithSpan]) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .map_while(|t| match &t.token {
            Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none() => {
                Some(w.value.to_uppercase())
            }
            _ => None,
        })
        .take(4)
        .collect()
}

/// The DDL verb text that did not parse was meant to be, from its leading keywords.
fn verb_of_words(words: &[String]) -> Option<DdlVerb> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["CREATE", "UNIQUE", "INDEX", ..] | ["CREATE", "INDEX", ..] => Some(DdlVerb::CreateIndex),
        ["ALTER", "TABLE", ..] => Some(DdlVerb::AlterTable),
        [first @ ("CREATE" | "DROP"), object, ..] => {
            DdlVerb::from_sql(&format!("{first} {object}"))
        }
        _ => None,
    }
}

fn verb_of(statement: &Statement) -> Option<DdlVerb> {
    Some(match statement {
        Statement::CreateDatabase { .. } => DdlVerb::CreateDatabase,
        Statement::CreateSchema { .. } => DdlVerb::CreateSchema,
        Statement::CreateTable(_) => DdlVerb::CreateTable,
        Statement::AlterTable(_) => DdlVerb::AlterTable,
        Statement::CreateIndex(_) => DdlVerb::CreateIndex,
        Statement::Drop {
            object_type: ObjectType::Database,
            ..
        } => DdlVerb::DropDatabase,
        Statement::Drop {
            object_type: ObjectType::Schema,
            ..
        } => DdlVerb::DropSchema,
        Statement::Drop {
            object_type: ObjectType::Table,
            ..
        } => DdlVerb::DropTable,
        Statement::Drop {
            object_type: ObjectType::Index,
            ..
        } => DdlVerb::DropIndex,
        _ => return None,
    })
}

// ---- errors -------------------------------------------------------------------------

/// Text that does not parse: InvalidArgument, SQLSTATE 42601.
fn syntax(detail: &str) -> DdlError {
    DdlError::new(C::InvalidArgument, format!("syntax error: {detail}"))
}

fn parser_error(error: &ParserError) -> DdlError {
    match error {
        ParserError::TokenizerError(detail) | ParserError::ParserError(detail) => syntax(detail),
        ParserError::RecursionLimitExceeded => {
            DdlError::new(C::InvalidArgument, "statement is too deeply nested")
                .with_sqlstate("54001")
        }
    }
}

/// Something PostgreSQL accepts and Kiln does not: ValidationFailed, SQLSTATE 0A000.
fn unsupported(message: String) -> DdlError {
    DdlError::new(C::ValidationFailed, message).with_sqlstate("0A000")
}

// ---- names --------------------------------------------------------------------------

/// PostgreSQL's identifier folding: unquoted names go to lower case (ASCII letters only,
/// as `downcase_identifier` does in a multibyte encoding), quoted names stay as written.
pub fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn name_parts(name: &ObjectName) -> Result<Vec<String>, DdlError> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(fold(ident)),
            ObjectNamePart::Function(_) => Err(syntax(&format!("{name} is not a name"))),
        })
        .collect()
}

fn too_many_dots(name: &ObjectName) -> DdlError {
    syntax(&format!(
        "improper qualified name (too many dotted names): {name}"
    ))
}

/// `table`, `schema.table` or `database.schema.table` -> (database, schema, name).
fn relation_name(
    name: &ObjectName,
    session: &Session,
) -> Result<(String, String, String), DdlError> {
    let parts = name_parts(name)?;
    match <[String; 3]>::try_from(parts) {
        Ok([database, schema, relation]) => Ok((database, schema, relation)),
        Err(parts) => match parts.as_slice() {
            [relation] => Ok((
                session.database.clone(),
                session.schema.clone(),
                relation.clone(),
            )),
            [schema, relation] => Ok((session.database.clone(), schema.clone(), relation.clone())),
            _ => Err(too_many_dots(name)),
        },
    }
}

/// `schema` or `database.schema` -> (database, schema).
fn schema_name(name: &ObjectName, session: &Session) -> Result<(String, String), DdlError> {
    match name_parts(name)?.as_slice() {
        [schema] => Ok((session.database.clone(), schema.clone())),
        [database, schema] => Ok((database.clone(), schema.clone())),
        _ => Err(too_many_dots(name)),
    }
}

fn database_name(name: &ObjectName) -> Result<String, DdlError> {
    match name_parts(name)?.as_slice() {
        [database] => Ok(database.clone()),
        _ => Err(syntax(&format!(
            "database names cannot be qualified: {name}"
        ))),
    }
}

/// A name that must be a single identifier (an index or a new table name).
fn simple_name(name: &ObjectName, what: &str) -> Result<String, DdlError> {
    match name_parts(name)?.as_slice() {
        [single] => Ok(single.clone()),
        _ => Err(syntax(&format!("{what} cannot be qualified: {name}"))),
    }
}

// ---- statements ---------------------------------------------------------------------

fn command(statement: &Statement, session: &Session) -> Result<DdlCommand, DdlError> {
    match statement {
        Statement::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => create_database(statement, db_name, *if_not_exists),
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            or_replace,
            with,
            options,
            default_collate_spec,
            clone,
        } => {
            let extras = [
                (*or_replace, "CREATE OR REPLACE SCHEMA"),
                (with.is_some(), "CREATE SCHEMA ... WITH options"),
                (options.is_some(), "CREATE SCHEMA ... OPTIONS"),
                (
                    default_collate_spec.is_some(),
                    "CREATE SCHEMA ... DEFAULT COLLATE",
                ),
                (clone.is_some(), "CREATE SCHEMA ... CLONE"),
            ];
            refuse_any(&extras)?;
            create_schema(schema_name, *if_not_exists, session)
        }
        Statement::CreateTable(create) => create_table(create, session),
        Statement::AlterTable(alter) => alter_table(alter, session),
        Statement::CreateIndex(create) => create_index(create, session),
        _ => unreachable!("statement() routes DROP elsewhere and admits only DDL verbs"),
    }
}

/// Refuses the first construct whose flag is set, by name.
fn refuse_any(constructs: &[(bool, &str)]) -> Result<(), DdlError> {
    match constructs.iter().find(|(present, _)| *present) {
        Some((_, what)) => Err(unsupported(format!("{what} is not supported"))),
        None => Ok(()),
    }
}

fn create_database(
    statement: &Statement,
    db_name: &ObjectName,
    if_not_exists: bool,
) -> Result<DdlCommand, DdlError> {
    let name = database_name(db_name)?;
    if let Statement::CreateDatabase {
        location,
        managed_location,
        clone,
        default_charset,
        default_collation,
        ..
    } = statement
    {
        refuse_any(&[
            (location.is_some(), "CREATE DATABASE ... LOCATION"),
            (
                managed_location.is_some(),
                "CREATE DATABASE ... MANAGEDLOCATION",
            ),
            (clone.is_some(), "CREATE DATABASE ... CLONE"),
            (
                default_charset.is_some(),
                "CREATE DATABASE ... CHARACTER SET",
            ),
            (default_collation.is_some(), "CREATE DATABASE ... COLLATE"),
        ])?;
    }
    // Whatever else the parser learns to read makes the statement differ from the bare
    // form, and is refused rather than ignored.
    let bare = CreateDatabaseBuilder::new(db_name.clone())
        .if_not_exists(if_not_exists)
        .build();
    if *statement != bare {
        return Err(unsupported(format!(
            "this CREATE DATABASE option is not supported: {statement} (Kiln accepts CREATE DATABASE [IF NOT EXISTS] name)"
        )));
    }
    Ok(DdlCommand::CreateDatabase {
        name,
        if_not_exists,
    })
}

fn create_schema(
    name: &SchemaName,
    if_not_exists: bool,
    session: &Session,
) -> Result<DdlCommand, DdlError> {
    let name = match name {
        SchemaName::Simple(name) => name,
        SchemaName::UnnamedAuthorization(_) | SchemaName::NamedAuthorization(..) => {
            return Err(unsupported(
                "CREATE SCHEMA ... AUTHORIZATION is not supported (Kiln has no roles)".into(),
            ));
        }
    };
    let (database, name) = schema_name(name, session)?;
    Ok(DdlCommand::CreateSchema {
        database,
        name,
        if_not_exists,
    })
}

/// DROP with several names becomes several commands (each in its own transaction, so
/// unlike PostgreSQL a later name's failure does not undo an earlier drop).
fn drop_commands(statement: &Statement, session: &Session) -> Vec<Result<DdlCommand, DdlError>> {
    let Statement::Drop {
        object_type,
        if_exists,
        names,
        cascade,
        purge,
        temporary,
        table,
        ..
    } = statement
    else {
        unreachable!("called for DROP only");
    };
    let extras = [
        (*purge, "DROP ... PURGE"),
        (*temporary, "DROP TEMPORARY"),
        (table.is_some(), "DROP INDEX ... ON table"),
    ];
    if let Err(error) = refuse_any(&extras) {
        return vec![Err(error)];
    }
    let (if_exists, cascade) = (*if_exists, *cascade);
    names
        .iter()
        .map(|name| drop_command(*object_type, name, if_exists, cascade, session))
        .collect()
}

fn drop_command(
    object_type: ObjectType,
    name: &ObjectName,
    if_exists: bool,
    cascade: bool,
    session: &Session,
) -> Result<DdlCommand, DdlError> {
    Ok(match object_type {
        ObjectType::Database => DdlCommand::DropDatabase {
            name: database_name(name)?,
            if_exists,
            cascade,
        },
        ObjectType::Schema => {
            let (database, name) = schema_name(name, session)?;
            DdlCommand::DropSchema {
                database,
                name,
                if_exists,
                cascade,
            }
        }
        ObjectType::Table => {
            let (database, schema, name) = relation_name(name, session)?;
            DdlCommand::DropTable {
                database,
                schema,
                name,
                if_exists,
                cascade,
            }
        }
        ObjectType::Index => {
            let (database, schema, name) = relation_name(name, session)?;
            DdlCommand::DropIndex {
                database,
                schema,
                name,
                if_exists,
                cascade,
            }
        }
        other => {
            return Err(unsupported(format!(
                "DROP {other} is not supported: Kiln's SQL runs DDL only"
            )))
        }
    })
}

fn create_table(create: &CreateTable, session: &Session) -> Result<DdlCommand, DdlError> {
    refuse_table_clauses(create)?;
    let (database, schema, name) = relation_name(&create.name, session)?;
    // Whatever the named checks above do not know still makes the statement differ from
    // the bare form, and is refused rather than ignored.
    let bare = CreateTableBuilder::new(create.name.clone())
        .columns(create.columns.clone())
        .if_not_exists(create.if_not_exists)
        .build();
    if *create != bare {
        return Err(unsupported(format!(
            "this CREATE TABLE clause is not supported: {create} (Kiln accepts column names, types, NULL and NOT NULL)"
        )));
    }
    let columns = create
        .columns
        .iter()
        .map(|c| column_spec(c, &name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DdlCommand::CreateTable {
        database,
        schema,
        name,
        columns,
        if_not_exists: create.if_not_exists,
    })
}

/// Names the CREATE TABLE clauses PostgreSQL users write that Kiln does not have.
fn refuse_table_clauses(create: &CreateTable) -> Result<(), DdlError> {
    if let Some(constraint) = create.constraints.first() {
        return Err(unsupported(format!(
            "table constraint {constraint} is not supported (Kiln has no constraints but NOT NULL)"
        )));
    }
    refuse_any(&[
        (create.or_replace, "CREATE OR REPLACE TABLE"),
        (create.temporary, "CREATE TEMPORARY TABLE"),
        (
            create.unlogged,
            "CREATE UNLOGGED TABLE (every Kiln table is logged)",
        ),
        (create.global.is_some(), "CREATE GLOBAL/LOCAL TABLE"),
        (create.query.is_some(), "CREATE TABLE ... AS"),
        (create.like.is_some(), "CREATE TABLE ... LIKE"),
        (create.inherits.is_some(), "CREATE TABLE ... INHERITS"),
        (
            create.partition_of.is_some(),
            "CREATE TABLE ... PARTITION OF",
        ),
        (
            create.partition_by.is_some(),
            "CREATE TABLE ... PARTITION BY",
        ),
        (create.on_commit.is_some(), "CREATE TABLE ... ON COMMIT"),
    ])?;
    refuse_table_options(&create.table_options)
}

/// `WITH (fillfactor = 70)`, `TABLESPACE x` and the like, named as written.
fn refuse_table_options(options: &CreateTableOptions) -> Result<(), DdlError> {
    let (prefix, list) = match options {
        CreateTableOptions::None => return Ok(()),
        CreateTableOptions::With(list) => ("WITH ", list),
        CreateTableOptions::Options(list) => ("OPTIONS ", list),
        CreateTableOptions::Plain(list) | CreateTableOptions::TableProperties(list) => ("", list),
    };
    let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
    Err(unsupported(format!(
        "CREATE TABLE option {prefix}{} is not supported",
        shown.join(", ")
    )))
}

/// A column definition: name, type, and NULL / NOT NULL (nullable unless NOT NULL, as in
/// PostgreSQL). Every other option is refused by name.
fn column_spec(column: &ColumnDef, table: &str) -> Result<ColumnSpec, DdlError> {
    let name = fold(&column.name);
    let column_type = column_type(&column.data_type, &name)?;
    let mut nullable: Option<bool> = None;
    for option in &column.options {
        if let Some(constraint) = &option.name {
            let message = format!("column \"{name}\": named column constraints (CONSTRAINT {constraint}) are not supported");
            return Err(unsupported(message));
        }
        let this = match &option.option {
            ColumnOption::Null => true,
            ColumnOption::NotNull => false,
            other => {
                let message = format!(
                    "column \"{name}\": {} is not supported (Kiln columns take only NULL or NOT NULL)",
                    column_option(other)
                );
                return Err(unsupported(message));
            }
        };
        if nullable.is_some_and(|earlier| earlier != this) {
            return Err(syntax(&format!(
                "conflicting NULL/NOT NULL declarations for column \"{name}\" of table \"{table}\""
            )));
        }
        nullable = Some(this);
    }
    Ok(ColumnSpec {
        name,
        column_type,
        nullable: nullable.unwrap_or(true),
    })
}

fn column_option(option: &ColumnOption) -> String {
    match option {
        ColumnOption::Default(_) => "DEFAULT".into(),
        ColumnOption::PrimaryKey(_) => "PRIMARY KEY".into(),
        ColumnOption::Unique(_) => "UNIQUE".into(),
        ColumnOption::ForeignKey(_) => "REFERENCES".into(),
        ColumnOption::Check(_) => "CHECK".into(),
        ColumnOption::Generated { .. } => "GENERATED".into(),
        ColumnOption::Identity(_) => "IDENTITY".into(),
        ColumnOption::Collation(_) => "COLLATE".into(),
        other => format!("{other}"),
    }
}

// ---- types --------------------------------------------------------------------------

/// PostgreSQL's types onto Kiln's five. Every integer type widens to BIGINT (Int64): a
/// value that fits an INTEGER fits a BIGINT, and Kiln does not check narrower ranges, so
/// such a column accepts values PostgreSQL would refuse. REAL widens to DOUBLE PRECISION
/// likewise.
fn column_type(data_type: &DataType, column: &str) -> Result<ColumnType, DdlError> {
    use DataType as T;
    let mapped = match data_type {
        T::BigInt(None)
        | T::Int8(None)
        | T::Integer(None)
        | T::Int(None)
        | T::Int4(None)
        | T::SmallInt(None)
        | T::Int2(None) => ColumnType::Int64,
        T::DoublePrecision | T::Float8 | T::Float4 | T::Real | T::Float(ExactNumberInfo::None) => {
            ColumnType::Float64
        }
        T::Float(ExactNumberInfo::Precision(bits)) => return float_with_precision(*bits, column),
        T::Boolean | T::Bool => ColumnType::Bool,
        T::Text | T::Varchar(None) | T::CharacterVarying(None) => ColumnType::Text,
        T::Bytea => ColumnType::Bytes,
        T::Custom(name, modifiers) => return custom_type(name, modifiers, column),
        other if known_to_postgres(other) => {
            return Err(unsupported_type(&other.to_string(), column))
        }
        other => {
            return Err(undefined_type(
                &other.to_string().to_ascii_lowercase(),
                column,
            ))
        }
    };
    Ok(mapped)
}

/// FLOAT(p) is REAL for p <= 24 and DOUBLE PRECISION for p <= 53 in PostgreSQL.
fn float_with_precision(bits: u64, column: &str) -> Result<ColumnType, DdlError> {
    match bits {
        1..=53 => Ok(ColumnType::Float64),
        0 => Err(invalid_float(
            column,
            "precision for type float must be at least 1 bit",
        )),
        _ => Err(invalid_float(
            column,
            "precision for type float must be less than 54 bits",
        )),
    }
}

fn invalid_float(column: &str, detail: &str) -> DdlError {
    DdlError::new(
        C::ValidationFailed,
        format!("column \"{column}\": {detail}"),
    )
    .with_sqlstate("22023")
}

/// Type names that are not SQL keywords: PostgreSQL's catalog names (`int8`, a quoted
/// `"text"`, `pg_catalog.bool`) and everything else spelled as an identifier.
fn custom_type(
    name: &ObjectName,
    modifiers: &[String],
    column: &str,
) -> Result<ColumnType, DdlError> {
    let parts = name_parts(name)?;
    let base = match parts.as_slice() {
        [base] => base.as_str(),
        [catalog, base] if catalog == "pg_catalog" => base.as_str(),
        _ => return Err(undefined_type(&parts.join("."), column)),
    };
    let mapped = match base {
        "int8" | "int4" | "int2" => Some(ColumnType::Int64),
        "float8" | "float4" => Some(ColumnType::Float64),
        "bool" => Some(ColumnType::Bool),
        "text" | "varchar" => Some(ColumnType::Text),
        "bytea" => Some(ColumnType::Bytes),
        _ => None,
    };
    match mapped {
        Some(mapped) if modifiers.is_empty() => Ok(mapped),
        Some(_) => Err(unsupported_type(
            &format!("{base}({})", modifiers.join(",")),
            column,
        )),
        None if POSTGRES_TYPE_NAMES.contains(&base) => Err(unsupported_type(base, column)),
        None => Err(undefined_type(&parts.join("."), column)),
    }
}

/// PostgreSQL's built-in types that the parser reads as plain names.
const POSTGRES_TYPE_NAMES: &[&str] = &[
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
    "money",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "xml",
    "oid",
    "name",
    "bpchar",
    "numeric",
    "timestamptz",
    "timetz",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "jsonpath",
    "pg_lsn",
    "pg_snapshot",
    "txid_snapshot",
    "varbit",
    "char",
];

/// Parsed types PostgreSQL has (so refusing them is 0A000, not 42704).
fn known_to_postgres(data_type: &DataType) -> bool {
    use DataType as T;
    matches!(
        data_type,
        T::Character(_)
            | T::Char(_)
            | T::CharacterVarying(_)
            | T::CharVarying(_)
            | T::Varchar(_)
            | T::Uuid
            | T::Numeric(_)
            | T::Decimal(_)
            | T::Dec(_)
            | T::Float(_)
            | T::SmallInt(_)
            | T::Int2(_)
            | T::Int(_)
            | T::Int4(_)
            | T::Int8(_)
            | T::Integer(_)
            | T::BigInt(_)
            | T::Date
            | T::Time(..)
            | T::Timestamp(..)
            | T::Interval { .. }
            | T::JSON
            | T::JSONB
            | T::Regclass
            | T::Bit(_)
            | T::BitVarying(_)
            | T::VarBit(_)
            | T::Array(_)
    )
}

fn unsupported_type(type_name: &str, column: &str) -> DdlError {
    let advice = match type_name.to_ascii_uppercase() {
        t if t.starts_with("CHAR") || t.starts_with("VARCHAR") || t.starts_with("CHARACTER") => {
            "Kiln has no length-limited or padded text; use TEXT or VARCHAR without a length"
        }
        _ => "Kiln's column types are BIGINT, DOUBLE PRECISION, BOOLEAN, TEXT and BYTEA",
    };
    unsupported(format!(
        "column \"{column}\": type {type_name} is not supported; {advice}"
    ))
}

/// A type PostgreSQL would not know either: 42704 undefined_object, as it reports.
fn undefined_type(type_name: &str, column: &str) -> DdlError {
    DdlError::new(
        C::ValidationFailed,
        format!("column \"{column}\": type \"{type_name}\" does not exist"),
    )
    .with_sqlstate("42704")
}

// ---- ALTER TABLE and indexes --------------------------------------------------------

fn alter_table(alter: &AlterTable, session: &Session) -> Result<DdlCommand, DdlError> {
    refuse_any(&[
        (alter.location.is_some(), "ALTER TABLE ... SET LOCATION"),
        (alter.on_cluster.is_some(), "ALTER TABLE ... ON CLUSTER"),
        (alter.table_type.is_some(), "ALTER ICEBERG/DYNAMIC TABLE"),
    ])?;
    // ONLY restricts an ALTER to the named table rather than its inheritance children;
    // Kiln has no inheritance, so it changes nothing and is accepted.
    let (database, schema, name) = relation_name(&alter.name, session)?;
    let [operation] = alter.operations.as_slice() else {
        return Err(unsupported(format!(
            "ALTER TABLE with {} actions is not supported: run one action per statement",
            alter.operations.len()
        )));
    };
    let action = alter_action(operation, &name)?;
    Ok(DdlCommand::AlterTable {
        database,
        schema,
        name,
        if_exists: alter.if_exists,
        action,
    })
}

fn alter_action(operation: &AlterTableOperation, table: &str) -> Result<AlterAction, DdlError> {
    use AlterTableOperation as Op;
    match operation {
        Op::RenameTable { table_name: RenameTableNameKind::To(new_name) } => {
            Ok(AlterAction::RenameTable { new_name: simple_name(new_name, "the new name in RENAME TO")? })
        }
        Op::AddColumn { if_not_exists, column_def, column_position: None, .. } => {
            Ok(AlterAction::AddColumn { column: column_spec(column_def, table)?, if_not_exists: *if_not_exists })
        }
        Op::DropColumn { column_names, if_exists, drop_behavior, .. } => match column_names.as_slice() {
            [column] => Ok(AlterAction::DropColumn {
                name: fold(column),
                if_exists: *if_exists,
                cascade: matches!(drop_behavior, Some(DropBehavior::Cascade)),
            }),
            _ => Err(unsupported("DROP COLUMN of several columns is not supported: run one action per statement".into())),
        },
        Op::RenameColumn { old_column_name, new_column_name } => {
            Ok(AlterAction::RenameColumn { old_name: fold(old_column_name), new_name: fold(new_column_name) })
        }
        other => Err(unsupported(format!(
            "ALTER TABLE action \"{other}\" is not supported (Kiln supports RENAME TO, ADD COLUMN, DROP COLUMN and RENAME COLUMN)"
        ))),
    }
}

fn create_index(create: &CreateIndex, session: &Session) -> Result<DdlCommand, DdlError> {
    refuse_any(&[
        (create.concurrently, "CREATE INDEX CONCURRENTLY"),
        (create.r#async, "CREATE INDEX ASYNC"),
        (!create.include.is_empty(), "CREATE INDEX ... INCLUDE"),
        (
            create.nulls_distinct.is_some(),
            "CREATE INDEX ... NULLS [NOT] DISTINCT",
        ),
        (
            !create.with.is_empty(),
            "CREATE INDEX ... WITH storage parameters",
        ),
        (
            create.predicate.is_some(),
            "partial indexes (CREATE INDEX ... WHERE)",
        ),
        (
            !create.index_options.is_empty() || !create.alter_options.is_empty(),
            "CREATE INDEX options",
        ),
    ])?;
    match &create.using {
        None | Some(IndexType::BTree) => {}
        Some(other) => {
            return Err(unsupported(format!(
                "index method {other} is not supported (Kiln indexes are B+trees)"
            )))
        }
    }
    let Some(index_name) = &create.name else {
        return Err(unsupported(
            "CREATE INDEX without a name is not supported: name the index".into(),
        ));
    };
    // As in PostgreSQL, the index lives in its table's schema, so its own name is bare.
    let name = simple_name(
        index_name,
        "an index name (the index goes in its table's schema)",
    )?;
    let (database, schema, table) = relation_name(&create.table_name, session)?;
    let columns = create
        .columns
        .iter()
        .map(index_column)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DdlCommand::CreateIndex {
        database,
        schema,
        name,
        table,
        columns,
        unique: create.unique,
        if_not_exists: create.if_not_exists,
    })
}

fn index_column(column: &sqlparser::ast::IndexColumn) -> Result<String, DdlError> {
    let order = &column.column;
    refuse_any(&[
        (order.options.sort.is_some(), "ASC/DESC in an index column"),
        (
            order.options.nulls_first.is_some(),
            "NULLS FIRST/LAST in an index column",
        ),
        (order.with_fill.is_some(), "WITH FILL in an index column"),
        (
            column.operator_class.is_some(),
            "operator classes in an index column",
        ),
    ])?;
    match &order.expr {
        Expr::Identifier(ident) => Ok(fold(ident)),
        other => Err(unsupported(format!(
            "expression indexes are not supported: ({other}) is not a column name"
        ))),
    }
}

/// Claims about the front door alone (no engine): folding and quoting, qualification,
/// every verb, every refused construct named with its SQLSTATE, statement splitting, and
/// that no input panics. What the engine then does with a command is in
/// tests/tests/ddl_responses.rs.
#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn session() -> Session {
        Session::new("app")
    }

    fn one(sql: &str) -> Result<DdlCommand, DdlError> {
        let mut all = parse(sql, &session());
        assert_eq!(all.len(), 1, "{sql} gave {all:?}");
        all.pop().expect("one")
    }

    fn ok(sql: &str) -> DdlCommand {
        one(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    /// The refusal of `sql`: its category, SQLSTATE and message.
    fn refused(sql: &str) -> (DdlErrorCategory, &'static str, String) {
        let error = one(sql).expect_err(sql);
        (error.category, error.sqlstate(), error.message)
    }

    fn assert_unsupported(sql: &str, named: &str) {
        let (category, sqlstate, message) = refused(sql);
        assert_eq!(
            (category, sqlstate),
            (C::ValidationFailed, "0A000"),
            "{sql}: {message}"
        );
        assert!(
            message.contains(named),
            "{sql}: {message:?} does not name {named:?}"
        );
    }

    fn column(name: &str, column_type: ColumnType, nullable: bool) -> ColumnSpec {
        ColumnSpec::new(name, column_type, nullable)
    }

    fn table_of(command: DdlCommand) -> (String, String, String) {
        match command {
            DdlCommand::CreateTable {
                database,
                schema,
                name,
                ..
            }
            | DdlCommand::DropTable {
                database,
                schema,
                name,
                ..
            } => (database, schema, name),
            other => panic!("not a table command: {other:?}"),
        }
    }

    fn names(database: &str, schema: &str, name: &str) -> (String, String, String) {
        (database.into(), schema.into(), name.into())
    }

    #[test]
    fn unquoted_identifiers_fold_to_lower_case_and_quoted_ones_keep_it() {
        let DdlCommand::CreateTable { name, columns, .. } =
            ok(r#"CREATE TABLE Orders (Id BIGINT, "Note" TEXT, "MiXed" INT)"#)
        else {
            panic!("not CREATE TABLE");
        };
        assert_eq!(name, "orders");
        let column_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(column_names, ["id", "Note", "MiXed"]);
        assert_eq!(table_of(ok(r#"DROP TABLE "Orders""#)).2, "Orders");
        // Only ASCII letters fold, as in PostgreSQL with a UTF-8 database.
        assert_eq!(table_of(ok("DROP TABLE ÉTÉ")).2, "ÉtÉ");
    }

    #[test]
    fn a_semicolon_inside_a_quoted_identifier_does_not_split() {
        let all = parse(
            r#"CREATE TABLE "a;b" (x INT); DROP TABLE "a;b""#,
            &session(),
        );
        assert_eq!(all.len(), 2);
        assert_eq!(table_of(all[1].clone().unwrap()).2, "a;b");
    }

    #[test]
    fn relation_names_may_be_qualified_by_schema_and_database() {
        assert_eq!(table_of(ok("DROP TABLE t")), names("app", "public", "t"));
        assert_eq!(table_of(ok("DROP TABLE s.t")), names("app", "s", "t"));
        assert_eq!(
            table_of(ok("DROP TABLE Other.S.T")),
            names("other", "s", "t")
        );
        let session = Session::new("App").with_schema("Sales");
        let all = parse("DROP TABLE t", &session);
        assert_eq!(
            table_of(all[0].clone().unwrap()),
            names("App", "Sales", "t"),
            "session names are taken as given"
        );
        let (category, sqlstate, message) = refused("DROP TABLE a.b.c.d");
        assert_eq!((category, sqlstate), (C::InvalidArgument, "42601"));
        assert!(message.contains("too many dotted names"), "{message}");
    }

    #[test]
    fn schema_names_may_be_qualified_by_database() {
        let create = |database: &str, name: &str| DdlCommand::CreateSchema {
            database: database.into(),
            name: name.into(),
            if_not_exists: false,
        };
        assert_eq!(ok("CREATE SCHEMA s"), create("app", "s"));
        assert_eq!(ok("CREATE SCHEMA Other.S"), create("other", "s"));
        assert_eq!(refused("CREATE SCHEMA a.b.c").0, C::InvalidArgument);
        assert_eq!(refused("DROP SCHEMA a.b.c").0, C::InvalidArgument);
        let (category, _, message) = refused("CREATE DATABASE a.b");
        assert_eq!(category, C::InvalidArgument);
        assert!(
            message.contains("database names cannot be qualified"),
            "{message}"
        );
    }

    #[test]
    fn database_verbs() {
        assert_eq!(
            ok("CREATE DATABASE Shop"),
            DdlCommand::CreateDatabase {
                name: "shop".into(),
                if_not_exists: false
            }
        );
        assert_eq!(
            ok("CREATE DATABASE IF NOT EXISTS shop"),
            DdlCommand::CreateDatabase {
                name: "shop".into(),
                if_not_exists: true
            }
        );
        assert_eq!(
            ok("DROP DATABASE shop"),
            DdlCommand::DropDatabase {
                name: "shop".into(),
                if_exists: false,
                cascade: false
            }
        );
        assert_eq!(
            ok("DROP DATABASE IF EXISTS shop CASCADE"),
            DdlCommand::DropDatabase {
                name: "shop".into(),
                if_exists: true,
                cascade: true
            }
        );
        assert_eq!(
            ok("DROP DATABASE shop RESTRICT"),
            DdlCommand::DropDatabase {
                name: "shop".into(),
                if_exists: false,
                cascade: false
            }
        );
        assert_unsupported(
            "CREATE DATABASE shop LOCATION '/tmp'",
            "CREATE DATABASE ... LOCATION",
        );
        assert_unsupported(
            "CREATE DATABASE shop CHARACTER SET utf8",
            "CREATE DATABASE ... CHARACTER SET",
        );
        assert_unsupported(
            "CREATE DATABASE shop COLLATE C",
            "CREATE DATABASE ... COLLATE",
        );
    }

    #[test]
    fn schema_verbs() {
        assert_eq!(
            ok("CREATE SCHEMA IF NOT EXISTS s"),
            DdlCommand::CreateSchema {
                database: "app".into(),
                name: "s".into(),
                if_not_exists: true
            }
        );
        let drop = |name: &str, if_exists, cascade| DdlCommand::DropSchema {
            database: "app".into(),
            name: name.into(),
            if_exists,
            cascade,
        };
        assert_eq!(ok("DROP SCHEMA s"), drop("s", false, false));
        assert_eq!(ok("DROP SCHEMA IF EXISTS s CASCADE"), drop("s", true, true));
        assert_eq!(ok("DROP SCHEMA s RESTRICT"), drop("s", false, false));
        let all = parse("DROP SCHEMA a, b CASCADE", &session());
        assert_eq!(
            all,
            vec![Ok(drop("a", false, true)), Ok(drop("b", false, true))]
        );
        assert_unsupported("CREATE SCHEMA s AUTHORIZATION joe", "AUTHORIZATION");
        assert_unsupported("CREATE SCHEMA AUTHORIZATION joe", "AUTHORIZATION");
    }

    #[test]
    fn create_table_maps_columns_and_nullability() {
        let command = ok("CREATE TABLE IF NOT EXISTS s.t (a INT NOT NULL, b TEXT NULL, c BYTEA)");
        let expected = DdlCommand::CreateTable {
            database: "app".into(),
            schema: "s".into(),
            name: "t".into(),
            columns: vec![
                column("a", ColumnType::Int64, false),
                column("b", ColumnType::Text, true),
                column("c", ColumnType::Bytes, true),
            ],
            if_not_exists: true,
        };
        assert_eq!(command, expected);
        let DdlCommand::CreateTable { columns, .. } = ok("CREATE TABLE t ()") else {
            panic!()
        };
        assert!(
            columns.is_empty(),
            "PostgreSQL accepts a table without columns"
        );
        let (category, sqlstate, message) = refused("CREATE TABLE t (a INT NULL NOT NULL)");
        assert_eq!((category, sqlstate), (C::InvalidArgument, "42601"));
        assert!(
            message.contains("conflicting NULL/NOT NULL declarations for column \"a\""),
            "{message}"
        );
    }

    #[test]
    fn every_supported_type_spelling_maps_to_its_kiln_type() {
        let cases = [
            ("BIGINT", ColumnType::Int64),
            ("INT8", ColumnType::Int64),
            ("INTEGER", ColumnType::Int64),
            ("INT", ColumnType::Int64),
            ("INT4", ColumnType::Int64),
            ("SMALLINT", ColumnType::Int64),
            ("INT2", ColumnType::Int64),
            ("pg_catalog.int8", ColumnType::Int64),
            ("DOUBLE PRECISION", ColumnType::Float64),
            ("FLOAT8", ColumnType::Float64),
            ("FLOAT", ColumnType::Float64),
            ("FLOAT(24)", ColumnType::Float64),
            ("FLOAT(53)", ColumnType::Float64),
            ("REAL", ColumnType::Float64),
            ("FLOAT4", ColumnType::Float64),
            ("BOOLEAN", ColumnType::Bool),
            ("BOOL", ColumnType::Bool),
            ("TEXT", ColumnType::Text),
            ("\"text\"", ColumnType::Text),
            ("VARCHAR", ColumnType::Text),
            ("CHARACTER VARYING", ColumnType::Text),
            ("BYTEA", ColumnType::Bytes),
        ];
        for (spelling, expected) in cases {
            let DdlCommand::CreateTable { columns, .. } =
                ok(&format!("CREATE TABLE t (c {spelling})"))
            else {
                panic!()
            };
            assert_eq!(columns[0].column_type, expected, "{spelling}");
        }
    }

    #[test]
    fn unsupported_types_are_named_with_postgres_sqlstates() {
        let cases = [
            ("VARCHAR(10)", "0A000", "VARCHAR(10)"),
            ("CHAR(3)", "0A000", "CHAR(3)"),
            ("CHAR", "0A000", "CHAR"),
            ("NUMERIC(10,2)", "0A000", "NUMERIC(10,2)"),
            ("NUMERIC", "0A000", "NUMERIC"),
            ("DECIMAL", "0A000", "DECIMAL"),
            ("TIMESTAMP", "0A000", "TIMESTAMP"),
            ("DATE", "0A000", "DATE"),
            ("UUID", "0A000", "UUID"),
            ("JSONB", "0A000", "JSONB"),
            ("INT[]", "0A000", "INT[]"),
            ("SERIAL", "0A000", "serial"),
            ("timestamptz", "0A000", "TIMESTAMPTZ"),
            ("int8(4)", "0A000", "INT8(4)"),
            ("DOUBLE", "42704", "type \"double\" does not exist"),
            ("TINYINT", "42704", "type \"tinyint\" does not exist"),
            ("\"Text\"", "42704", "type \"Text\" does not exist"),
            ("widget", "42704", "type \"widget\" does not exist"),
            (
                "other.widget",
                "42704",
                "type \"other.widget\" does not exist",
            ),
            ("FLOAT(54)", "22023", "less than 54 bits"),
        ];
        for (spelling, sqlstate, named) in cases {
            let (category, actual, message) = refused(&format!("CREATE TABLE t (c {spelling})"));
            assert_eq!(
                (category, actual),
                (C::ValidationFailed, sqlstate),
                "{spelling}: {message}"
            );
            assert!(
                message.contains(named) && message.contains("column \"c\""),
                "{spelling}: {message:?}"
            );
        }
    }

    #[test]
    fn column_constraints_other_than_nullability_are_named() {
        let cases = [
            ("INT PRIMARY KEY", "PRIMARY KEY"),
            ("INT UNIQUE", "UNIQUE"),
            ("INT DEFAULT 1", "DEFAULT"),
            ("INT CHECK (c > 0)", "CHECK"),
            ("INT REFERENCES u (id)", "REFERENCES"),
            ("INT GENERATED ALWAYS AS IDENTITY", "GENERATED"),
            ("INT GENERATED ALWAYS AS (1) STORED", "GENERATED"),
            ("TEXT COLLATE \"C\"", "COLLATE"),
            ("INT CONSTRAINT nn NOT NULL", "CONSTRAINT nn"),
        ];
        for (definition, named) in cases {
            assert_unsupported(&format!("CREATE TABLE t (c {definition})"), named);
            assert_unsupported(&format!("ALTER TABLE t ADD COLUMN c {definition}"), named);
        }
    }

    #[test]
    fn table_level_clauses_are_named() {
        let cases = [
            ("CREATE TABLE t (a INT, PRIMARY KEY (a))", "PRIMARY KEY"),
            ("CREATE TABLE t (a INT, UNIQUE (a))", "UNIQUE"),
            ("CREATE TABLE t (a INT, CHECK (a > 0))", "CHECK"),
            (
                "CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES u (id))",
                "FOREIGN KEY",
            ),
            (
                "CREATE TABLE t (a INT, CONSTRAINT pk PRIMARY KEY (a))",
                "CONSTRAINT pk PRIMARY KEY (a)",
            ),
            ("CREATE TEMPORARY TABLE t (a INT)", "TEMPORARY"),
            ("CREATE UNLOGGED TABLE t (a INT)", "UNLOGGED"),
            ("CREATE TABLE t AS SELECT 1", "AS"),
            ("CREATE TABLE t (LIKE u)", "LIKE"),
            ("CREATE TABLE t (a INT) INHERITS (u)", "INHERITS"),
            (
                "CREATE TABLE t (a INT) PARTITION BY RANGE (a)",
                "PARTITION BY",
            ),
            (
                "CREATE TABLE t (a INT) WITH (fillfactor = 70)",
                "option WITH fillfactor = 70",
            ),
            ("CREATE TABLE t (a INT) TABLESPACE x", "option TABLESPACE x"),
        ];
        for (sql, named) in cases {
            assert_unsupported(sql, named);
        }
    }

    #[test]
    fn drop_table_with_several_names_gives_several_commands() {
        let all = parse("DROP TABLE IF EXISTS a, s.b CASCADE", &session());
        let drop = |schema: &str, name: &str| DdlCommand::DropTable {
            database: "app".into(),
            schema: schema.into(),
            name: name.into(),
            if_exists: true,
            cascade: true,
        };
        assert_eq!(all, vec![Ok(drop("public", "a")), Ok(drop("s", "b"))]);
        assert!(matches!(
            ok("DROP TABLE t RESTRICT"),
            DdlCommand::DropTable {
                cascade: false,
                if_exists: false,
                ..
            }
        ));
    }

    fn alter(sql: &str) -> (bool, AlterAction) {
        match ok(sql) {
            DdlCommand::AlterTable {
                if_exists, action, ..
            } => (if_exists, action),
            other => panic!("not ALTER TABLE: {other:?}"),
        }
    }

    #[test]
    fn alter_table_has_four_actions() {
        assert_eq!(
            alter("ALTER TABLE IF EXISTS t RENAME TO U"),
            (
                true,
                AlterAction::RenameTable {
                    new_name: "u".into()
                }
            )
        );
        assert_eq!(
            alter("ALTER TABLE t ADD COLUMN IF NOT EXISTS c BOOL NOT NULL"),
            (
                false,
                AlterAction::AddColumn {
                    column: column("c", ColumnType::Bool, false),
                    if_not_exists: true
                }
            )
        );
        assert_eq!(
            alter("ALTER TABLE t ADD c BOOL"),
            (
                false,
                AlterAction::AddColumn {
                    column: column("c", ColumnType::Bool, true),
                    if_not_exists: false
                }
            )
        );
        assert_eq!(
            alter("ALTER TABLE t DROP COLUMN IF EXISTS C CASCADE"),
            (
                false,
                AlterAction::DropColumn {
                    name: "c".into(),
                    if_exists: true,
                    cascade: true
                }
            )
        );
        assert_eq!(
            alter("ALTER TABLE t DROP c"),
            (
                false,
                AlterAction::DropColumn {
                    name: "c".into(),
                    if_exists: false,
                    cascade: false
                }
            )
        );
        assert_eq!(
            alter(r#"ALTER TABLE t RENAME COLUMN a TO "B""#),
            (
                false,
                AlterAction::RenameColumn {
                    old_name: "a".into(),
                    new_name: "B".into()
                }
            )
        );
        assert_eq!(
            alter("ALTER TABLE ONLY t RENAME a TO b").1,
            AlterAction::RenameColumn {
                old_name: "a".into(),
                new_name: "b".into()
            }
        );
        let DdlCommand::AlterTable {
            database,
            schema,
            name,
            ..
        } = ok("ALTER TABLE d.s.t DROP c")
        else {
            panic!()
        };
        assert_eq!((database, schema, name), names("d", "s", "t"));
    }

    #[test]
    fn alter_table_refusals_are_named() {
        assert_unsupported("ALTER TABLE t ADD COLUMN a INT, DROP COLUMN b", "2 actions");
        assert_unsupported(
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1",
            "ALTER COLUMN a SET DEFAULT 1",
        );
        assert_unsupported(
            "ALTER TABLE t ADD CONSTRAINT c UNIQUE (a)",
            "ADD CONSTRAINT",
        );
        assert_unsupported("ALTER TABLE t OWNER TO joe", "OWNER TO");
        let (category, sqlstate, message) = refused("ALTER TABLE t RENAME TO s.u");
        assert_eq!((category, sqlstate), (C::InvalidArgument, "42601"));
        assert!(
            message.contains("RENAME TO cannot be qualified"),
            "{message}"
        );
    }

    #[test]
    fn index_verbs() {
        let expected = DdlCommand::CreateIndex {
            database: "app".into(),
            schema: "s".into(),
            name: "t_ab".into(),
            table: "t".into(),
            columns: vec!["a".into(), "B".into()],
            unique: true,
            if_not_exists: true,
        };
        assert_eq!(
            ok(r#"CREATE UNIQUE INDEX IF NOT EXISTS T_AB ON s.t USING btree (a, "B")"#),
            expected
        );
        assert!(matches!(
            ok("CREATE INDEX i ON t (a)"),
            DdlCommand::CreateIndex {
                unique: false,
                if_not_exists: false,
                ..
            }
        ));
        let drop = DdlCommand::DropIndex {
            database: "app".into(),
            schema: "s".into(),
            name: "i".into(),
            if_exists: true,
            cascade: false,
        };
        assert_eq!(ok("DROP INDEX IF EXISTS s.I"), drop);
        assert_unsupported("CREATE INDEX ON t (a)", "without a name");
        assert_unsupported("CREATE INDEX i ON t USING hash (a)", "index method HASH");
        assert_unsupported("CREATE INDEX i ON t (lower(a))", "expression indexes");
        assert_unsupported("CREATE INDEX i ON t (a DESC)", "ASC/DESC");
        assert_unsupported("CREATE INDEX i ON t (a NULLS FIRST)", "NULLS FIRST/LAST");
        assert_unsupported("CREATE INDEX i ON t (a) WHERE a > 0", "partial indexes");
        assert_unsupported("CREATE INDEX i ON t (a) INCLUDE (b)", "INCLUDE");
        assert_unsupported("CREATE INDEX CONCURRENTLY i ON t (a)", "CONCURRENTLY");
        assert_eq!(refused("CREATE INDEX s.i ON t (a)").0, C::InvalidArgument);
    }

    #[test]
    fn statements_that_are_not_ddl_are_refused_by_name() {
        for (sql, label, verb) in [
            ("SELECT 1", "SELECT", DdlVerb::CreateTable),
            (
                "insert into t values (1)",
                "INSERT INTO",
                DdlVerb::CreateTable,
            ),
            (
                "CREATE VIEW v AS SELECT 1",
                "CREATE VIEW",
                DdlVerb::CreateTable,
            ),
            ("DROP VIEW v", "DROP VIEW", DdlVerb::DropTable),
            (
                "ALTER SCHEMA s RENAME TO r",
                "ALTER SCHEMA",
                DdlVerb::AlterTable,
            ),
            ("BEGIN", "BEGIN", DdlVerb::CreateTable),
        ] {
            let statements = parse_statements(sql, &session());
            let [statement] = statements.as_slice() else {
                panic!("{sql}")
            };
            assert_eq!(statement.verb, None, "{sql}");
            assert_eq!(statement.response_verb(), verb, "{sql}");
            assert_unsupported(sql, &format!("{label} is not supported"));
            let response = statement.rejection(statement.command.as_ref().expect_err(sql));
            assert_eq!(
                response.remediation_hints[0], FRONT_DOOR_HINT,
                "stand-in verbs carry no verb-specific hints"
            );
        }
    }

    #[test]
    fn a_syntax_error_keeps_the_verb_it_was_meant_to_be() {
        let statements = parse_statements("CREATE TABLE t (a INT", &session());
        let [statement] = statements.as_slice() else {
            panic!()
        };
        assert_eq!(statement.verb, Some(DdlVerb::CreateTable));
        let error = statement.command.clone().expect_err("does not parse");
        assert_eq!(
            (error.category, error.sqlstate()),
            (C::InvalidArgument, "42601")
        );
        assert!(
            error.message.starts_with("syntax error: "),
            "{}",
            error.message
        );
        let unique = parse_statements("CREATE UNIQUE INDEX ON", &session());
        assert_eq!(unique[0].verb, Some(DdlVerb::CreateIndex));
        let garbage = parse_statements("florp", &session());
        assert_eq!(
            (garbage[0].verb, garbage[0].response_verb()),
            (None, DdlVerb::CreateTable)
        );
    }

    #[test]
    fn statements_are_parsed_one_by_one() {
        let all = parse(
            "CREATE DATABASE a; CREATE TABLE (; ; -- a comment\nCREATE DATABASE b;",
            &session(),
        );
        assert_eq!(all.len(), 3);
        assert!(all[0].is_ok() && all[2].is_ok());
        assert_eq!(
            all[1].as_ref().expect_err("bad").category,
            C::InvalidArgument
        );
        assert!(parse("", &session()).is_empty());
        assert!(parse(" ;; -- nothing\n /* at all */ ;", &session()).is_empty());
    }

    #[test]
    fn text_that_does_not_tokenize_fails_as_one_invalid_argument() {
        let all = parse("CREATE DATABASE a; CREATE TABLE 't", &session());
        let [Err(error)] = all.as_slice() else {
            panic!("{all:?}")
        };
        assert_eq!(
            (error.category, error.sqlstate()),
            (C::InvalidArgument, "42601")
        );
        assert!(error.message.contains("Unterminated"), "{}", error.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let sql = format!(
            "CREATE INDEX i ON t ({}a{})",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        let error = one(&sql).expect_err("too deep");
        assert_eq!(error.category, C::InvalidArgument);
    }

    /// SQL-flavoured noise: keywords, names, punctuation, so the parser gets deep into
    /// DDL paths rather than failing on the first character.
    fn sqlish() -> impl Strategy<Value = String> {
        let atoms = prop::sample::select(vec![
            "CREATE",
            "DROP",
            "ALTER",
            "TABLE",
            "SCHEMA",
            "DATABASE",
            "INDEX",
            "UNIQUE",
            "ON",
            "IF",
            "NOT",
            "EXISTS",
            "CASCADE",
            "RESTRICT",
            "ADD",
            "COLUMN",
            "RENAME",
            "TO",
            "INT",
            "TEXT",
            "VARCHAR(3)",
            "NULL",
            "DEFAULT",
            "PRIMARY KEY",
            "(",
            ")",
            ",",
            ";",
            ".",
            "\"Q\"",
            "a",
            "b",
            "1",
            "'s'",
            "--",
            "\n",
            "SELECT",
            "USING",
        ]);
        prop::collection::vec(atoms, 0..40).prop_map(|atoms| atoms.join(" "))
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(sql in ".{0,200}") {
            let statements = parse_statements(&sql, &session());
            for statement in &statements {
                if let Err(error) = &statement.command {
                    let _ = statement.rejection(error);
                }
            }
        }

        #[test]
        fn sql_like_text_never_panics_and_refusals_carry_a_category(sql in sqlish()) {
            for result in parse(&sql, &session()) {
                if let Err(error) = result {
                    prop_assert!(matches!(error.category, C::InvalidArgument | C::ValidationFailed));
                    prop_assert!(!error.message.is_empty());
                }
            }
        }
    }
}
