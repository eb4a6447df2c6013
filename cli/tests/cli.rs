//! The `kiln` binary end to end, as an operator runs it: each test starts real processes
//! on a fresh temporary directory (the OS environment, not the simulator).
//!
//! Claims: `kiln sql` prints one response per command and exits 0/1/2 as documented;
//! DDL telemetry is durable, so a second process's `kiln diag` sees the first one's
//! counts; `kiln diag` never creates a database and names what is wrong with a directory
//! that is not one; the human report's layout is pinned by a snapshot (durations, which
//! the OS clock makes vary, are redacted).
//!
//! Not covered here: what each response says (tests/tests/ddl_responses.rs snapshots every
//! verb and failure), crash behaviour (the simulator's job).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln")
}

fn kiln_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait kiln")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 temp path")
}

const SETUP: &str = "CREATE DATABASE main; CREATE TABLE orders (id BIGINT NOT NULL, note TEXT)";

#[test]
fn sql_that_all_succeeds_exits_zero_and_prints_one_line_per_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let output = kiln(&["sql", "--db", path(&db), SETUP]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let expected = "CREATE DATABASE: ok — created database \"main\" (database_id=1000, schema_id=1001)\n\
                    CREATE TABLE: ok — created table \"orders\" (column_ids=[1003, 1004], table_id=1002)\n";
    assert_eq!(stdout(&output), expected);
}

#[test]
fn a_failed_statement_exits_one_and_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let output = kiln(&[
        "sql",
        "--db",
        path(&db),
        &format!("{SETUP}; CREATE TABLE orders (x INT); CREATE SCHEMA s"),
    ]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains("ERROR [TableAlreadyExists, 42P07, Warning]: relation \"orders\" already exists\n  hint: "), "{text}");
    assert!(
        text.ends_with("CREATE SCHEMA: ok — created schema \"s\" (schema_id=1005)\n"),
        "{text}"
    );
}

#[test]
fn sql_is_read_from_stdin_with_a_dash_and_json_is_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let output = kiln_stdin(
        &["sql", "--db", path(&db), "--json", "-"],
        &format!("{SETUP};\nSELECT 1;\n"),
    );
    assert_eq!(code(&output), 1, "SELECT is refused");
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["verb"], "CreateTable");
    assert_eq!(lines[1]["result"]["table_id"], 1002);
    assert_eq!(lines[2]["success"], false);
    assert_eq!(lines[2]["error"], "ValidationFailed");
    assert_eq!(lines[2]["sqlstate"], "0A000");
}

#[test]
fn ddl_telemetry_persisted_by_one_process_is_visible_in_the_next_ones_diag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let sql = format!("{SETUP}; CREATE TABLE orders (x INT); CREATE TABLE t (a VARCHAR(3)); DROP TABLE nope; SELECT 1");
    assert_eq!(code(&kiln(&["sql", "--db", path(&db), &sql])), 1);
    let output = kiln(&["diag", "--db", path(&db), "--json"]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&output)).expect("diag --json is JSON");
    let create = &report["ddl"]["verbs"]["CREATE TABLE"];
    assert_eq!(
        (
            create["attempts"].as_u64(),
            create["successes"].as_u64(),
            create["failures"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(create["failures_by_category"]["TableAlreadyExists"], 1);
    assert_eq!(
        create["failures_by_category"]["ValidationFailed"], 1,
        "refused by the SQL front door, still counted"
    );
    assert_eq!(
        report["ddl"]["verbs"]["DROP TABLE"]["failures_by_category"]["TableNotFound"],
        1
    );
    assert_eq!(
        report["ddl"]["verbs"].as_object().map(|v| v.len()),
        Some(3),
        "SELECT is no DDL verb: not counted"
    );
    assert_eq!(report["catalog"]["tables"], 1);
    assert_eq!(
        report["health"]["integrity_problems"],
        serde_json::Value::Null,
        "not checked without --check"
    );
}

#[test]
fn diag_prometheus_and_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    assert_eq!(code(&kiln(&["sql", "--db", path(&db), SETUP])), 0);
    let output = kiln(&["diag", "--db", path(&db), "--prometheus"]);
    assert_eq!(code(&output), 0);
    let text = stdout(&output);
    assert!(
        text.contains("kiln_ddl_attempts_total{verb=\"CREATE TABLE\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE kiln_catalog_epoch gauge\n"), "{text}");
    let output = kiln(&["diag", "--db", path(&db), "--check"]);
    assert_eq!(code(&output), 0);
    assert!(
        stdout(&output).contains("integrity                      ok (no problems found)\n"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        code(&kiln(&[
            "diag",
            "--db",
            path(&db),
            "--json",
            "--prometheus"
        ])),
        2,
        "the formats conflict"
    );
}

#[test]
fn diag_never_creates_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let output = kiln(&["diag", "--db", path(&missing)]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("no Kiln database there (kiln diag never creates one)"),
        "{}",
        stderr(&output)
    );
    assert!(!missing.exists(), "diag created {}", missing.display());
}

#[test]
fn a_directory_that_is_not_a_database_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "not a database").expect("write");
    let output = kiln(&["sql", "--db", path(dir.path()), SETUP]);
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.contains("is not a Kiln database: the directory holds notes.txt and no MANIFEST"),
        "{message}"
    );
    // The engine takes its LOCK file before it looks at the directory, and leaves it
    // behind when it refuses (reported to the engine's owners); nothing else is written.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| n != "LOCK");
    assert_eq!(
        names,
        ["notes.txt"],
        "nothing but the lock written beside notes.txt"
    );
    let file = dir.path().join("notes.txt");
    let output = kiln(&["sql", "--db", path(&file), SETUP]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("is not a Kiln database: not a directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(code(&kiln(&[])), 2);
    assert_eq!(
        code(&kiln(&["sql", "CREATE DATABASE x"])),
        2,
        "--db is required"
    );
    assert_eq!(code(&kiln(&["frobnicate"])), 2);
}

/// Durations come from the OS clock; every "N.NNN" (a duration in ms) becomes "<n>".
fn redact_durations(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    let is_ms = word.split_once('.').is_some_and(|(whole, frac)| {
                        !whole.is_empty()
                            && whole.bytes().all(|b| b.is_ascii_digit())
                            && frac.len() == 3
                            && frac.bytes().all(|b| b.is_ascii_digit())
                    });
                    if is_ms {
                        "<n>"
                    } else {
                        word
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn diag_human_report_of_a_known_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let sql = "CREATE DATABASE shop; CREATE SCHEMA shop.sales; \
               CREATE TABLE shop.sales.orders (id BIGINT NOT NULL, note TEXT); \
               CREATE TABLE shop.sales.orders (id BIGINT); DROP SCHEMA shop.sales; \
               CREATE INDEX orders_id ON shop.sales.orders (id); SELECT 1";
    assert_eq!(code(&kiln(&["sql", "--db", path(&db), sql])), 1);
    let output = kiln(&["diag", "--db", path(&db), "--check"]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    insta::assert_snapshot!(redact_durations(&stdout(&output)));
}
