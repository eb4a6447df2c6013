//! `kiln`: run DDL through the SQL front door, and read a database's storage
//! diagnostics. docs/ddl.md describes the SQL, docs/storage.md the diagnostics.
//!
//! Exit status: 0 when everything succeeded, 1 when a statement failed (or `diag --check`
//! found a problem, or the database is in its failed state), 2 on usage errors and when
//! the database cannot be opened.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kiln::ddl::sql::Session;
use kiln::env::Env;
use kiln::{Config, Database};
use kiln_cli::{render_diagnostics, render_response, render_response_json};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Kiln: run DDL in SQL and read storage diagnostics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run DDL statements, each in its own transaction, and print one response per command.
    Sql(SqlArgs),
    /// Print the storage diagnostics report of an existing database.
    Diag(DiagArgs),
}

#[derive(Args)]
struct SqlArgs {
    /// The database directory (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// The current database: where unqualified schema and table names resolve. Taken as
    /// given (no case folding), like psql's -d. It is not created for you.
    #[arg(long, default_value = "main")]
    database: String,
    /// The schema unqualified table and index names resolve in (the search path).
    #[arg(long, default_value = kiln::DEFAULT_SCHEMA)]
    schema: String,
    /// Print each response as one line of JSON.
    #[arg(long)]
    json: bool,
    /// After the statements, print the diagnostics report of this same process (its
    /// per-process counters then cover the statements just run).
    #[arg(long)]
    diag: bool,
    /// The SQL text; `-` reads it from standard input.
    sql: String,
}

#[derive(Args)]
struct DiagArgs {
    /// The database directory (must hold a database).
    #[arg(long)]
    db: PathBuf,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "prometheus")]
    json: bool,
    /// Print the report in the Prometheus text exposition format.
    #[arg(long)]
    prometheus: bool,
    /// Also run the full structural integrity check (reads every page).
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sql(args) => sql(&args),
        Command::Diag(args) => diag(&args),
    }
}

fn open(dir: &Path, create_if_missing: bool) -> Result<Database, ExitCode> {
    let config = Config::default().with_create_if_missing(create_if_missing);
    Database::open(Env::os(), dir, config).map_err(|error| {
        match error {
            // The engine's text speaks of its API (create_if_missing); say it in CLI terms.
            kiln::OpenError::NotFound { path } => {
                eprintln!("kiln: cannot open {path}: no Kiln database there (kiln diag never creates one)");
            }
            other => eprintln!("kiln: cannot open {}: {other}", dir.display()),
        }
        ExitCode::from(2)
    })
}

fn sql_text(arg: &str) -> Result<String, ExitCode> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| {
            eprintln!("kiln: cannot read SQL from standard input: {error}");
            ExitCode::from(2)
        })?;
    Ok(text)
}

fn sql(args: &SqlArgs) -> ExitCode {
    let text = match sql_text(&args.sql) {
        Ok(text) => text,
        Err(code) => return code,
    };
    let db = match open(&args.db, true) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let session = Session::new(args.database.clone()).with_schema(args.schema.clone());
    let responses = db.execute_sql(&text, &session);
    for response in &responses {
        let shown = if args.json {
            render_response_json(response)
        } else {
            render_response(response)
        };
        println!("{shown}");
    }
    let mut failed = responses.iter().any(|r| !r.success);
    if args.diag {
        failed |= print_diagnostics(
            &db,
            false,
            if args.json {
                Format::JsonLine
            } else {
                Format::Human
            },
        );
    }
    // Every acknowledged statement is durable already; the checkpoint only spares the
    // next open a replay, so its failure is reported but changes nothing committed.
    if let Err(error) = db.close() {
        eprintln!("kiln: closing checkpoint failed: {error}");
        failed = true;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Clone, Copy)]
enum Format {
    Human,
    Json,
    JsonLine,
    Prometheus,
}

/// Prints the report; returns whether it shows a problem (failed state or integrity).
fn print_diagnostics(db: &Database, check_integrity: bool, format: Format) -> bool {
    let report = match db.storage_diagnostics(check_integrity) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kiln: cannot collect diagnostics: {error}");
            return true;
        }
    };
    match format {
        Format::Human => print!("{}", render_diagnostics(&report)),
        Format::Json => println!("{}", report.to_json()),
        Format::JsonLine => println!(
            "{}",
            serde_json::to_string(&report).expect("diagnostics serialize")
        ),
        Format::Prometheus => print!("{}", report.to_prometheus()),
    }
    report.health.failed
        || report
            .health
            .integrity_problems
            .is_some_and(|p| !p.is_empty())
}

fn diag(args: &DiagArgs) -> ExitCode {
    let db = match open(&args.db, false) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let format = match (args.json, args.prometheus) {
        (true, _) => Format::Json,
        (_, true) => Format::Prometheus,
        _ => Format::Human,
    };
    // No closing checkpoint: diag changes nothing it does not have to (opening may
    // still recover, which is what its recovery section reports).
    if print_diagnostics(&db, args.check, format) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
