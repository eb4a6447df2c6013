//! End-to-end behaviour of the engine on the real file system (OsEnv): the paths a user
//! takes first. Crash behaviour is the simulator's job (kiln-sim and tests/); this file
//! covers clean runs, reopen, bad input and typed errors.

// Tests prepare fixtures (foreign files) with the real file system; the seam rule binds
// the engine, not its tests.
#![allow(clippy::disallowed_methods)]

use kiln::env::Env;
use kiln::{ColumnSpec, ColumnType, Config, Database, OpenError, TxnError, Value};

fn columns() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec::new("id", ColumnType::Int64, false),
        ColumnSpec::new("name", ColumnType::Text, true),
        ColumnSpec::new("score", ColumnType::Float64, true),
        ColumnSpec::new("ok", ColumnType::Bool, true),
        ColumnSpec::new("blob", ColumnType::Bytes, true),
    ]
}

fn row(i: i64) -> Vec<Value> {
    vec![
        Value::Int64(i),
        Value::Text(format!("name-{i}")),
        Value::Float64(i as f64 / 2.0),
        Value::Bool(i % 2 == 0),
        Value::Bytes(vec![i as u8; 3]),
    ]
}

fn open(dir: &std::path::Path) -> Database {
    Database::open(Env::os(), dir, Config::default()).expect("open")
}

/// Creates a database in `dir` holding table app.public.t with `row(1)`, and closes it
/// without a checkpoint beyond creation's.
fn one_row_database(dir: &std::path::Path) {
    let db = open(dir);
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    tx.insert(&t, &row(1)).unwrap();
    tx.commit().unwrap();
}

#[test]
fn committed_rows_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    {
        let db = open(tmp.path());
        let mut tx = db.begin_write().unwrap();
        tx.create_database("app").unwrap();
        let t = tx
            .create_table("app", "public", "users", &columns())
            .unwrap();
        for i in 0..500 {
            ids.push(tx.insert(&t, &row(i)).unwrap());
        }
        tx.commit().unwrap();
    }
    let db = open(tmp.path());
    let r = db.begin_read().unwrap();
    let t = r.table("app", "public", "users").unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(r.get(&t, *id).unwrap(), Some(row(i as i64)));
    }
    assert_eq!(r.scan(&t).unwrap().len(), 500);
    let report = db.check_integrity().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn aborted_transaction_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    tx.insert(&t, &row(1)).unwrap();
    tx.commit().unwrap();

    let mut tx = db.begin_write().unwrap();
    tx.insert(&t, &row(2)).unwrap();
    tx.create_table("app", "public", "gone", &columns())
        .unwrap();
    tx.abort();

    let r = db.begin_read().unwrap();
    assert_eq!(r.scan(&t).unwrap().len(), 1);
    assert!(r.table("app", "public", "gone").is_err());
    drop(r);
    drop(db);
    let db = open(tmp.path());
    let r = db.begin_read().unwrap();
    assert_eq!(r.scan(&t).unwrap().len(), 1);
    assert!(db.check_integrity().unwrap().is_ok());
}

#[test]
fn growing_update_keeps_the_row_id() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    let ids: Vec<_> = (0..100).map(|i| tx.insert(&t, &row(i)).unwrap()).collect();
    let mut big = row(7);
    big[4] = Value::Bytes(vec![9; 5000]);
    tx.update(&t, ids[7], &big).unwrap();
    tx.update(&t, ids[8], &big).unwrap();
    let mut bigger = row(7);
    bigger[4] = Value::Bytes(vec![1; 7000]);
    tx.update(&t, ids[7], &bigger).unwrap();
    tx.delete(&t, ids[8]).unwrap();
    tx.commit().unwrap();
    drop(db);

    let db = open(tmp.path());
    let r = db.begin_read().unwrap();
    assert_eq!(r.get(&t, ids[7]).unwrap(), Some(bigger));
    assert_eq!(r.get(&t, ids[8]).unwrap(), None);
    let rows = r.scan(&t).unwrap();
    assert_eq!(rows.len(), 99);
    assert_eq!(rows.iter().filter(|(id, _)| *id == ids[7]).count(), 1);
    let report = db.check_integrity().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn readers_keep_their_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    let id = tx.insert(&t, &row(1)).unwrap();
    tx.commit().unwrap();

    let before = db.begin_read().unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.update(&t, id, &row(2)).unwrap();
    tx.insert(&t, &row(3)).unwrap();
    assert_eq!(
        before.get(&t, id).unwrap(),
        Some(row(1)),
        "uncommitted change is invisible"
    );
    tx.commit().unwrap();
    assert_eq!(
        before.get(&t, id).unwrap(),
        Some(row(1)),
        "committed later, still invisible"
    );
    assert_eq!(before.scan(&t).unwrap().len(), 1);
    let after = db.begin_read().unwrap();
    assert_eq!(after.get(&t, id).unwrap(), Some(row(2)));
    assert_eq!(after.scan(&t).unwrap().len(), 2);
}

#[test]
fn checkpoint_then_more_commits_then_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::default()
        .with_wal_segment_size_bytes(64 << 10)
        .with_cache_size_bytes(128 << 10);
    let mut expected = Vec::new();
    {
        let db = Database::open(Env::os(), tmp.path(), config.clone()).unwrap();
        let mut tx = db.begin_write().unwrap();
        tx.create_database("app").unwrap();
        let t = tx.create_table("app", "public", "t", &columns()).unwrap();
        tx.commit().unwrap();
        for round in 0..6 {
            let mut tx = db.begin_write().unwrap();
            for i in 0..600 {
                let id = tx.insert(&t, &row(round * 1000 + i)).unwrap();
                expected.push((id, row(round * 1000 + i)));
            }
            tx.commit().unwrap();
            if round % 2 == 1 {
                db.checkpoint().unwrap();
            }
        }
        let stats = db.stats();
        assert!(stats.wal_segments_created > 1, "segments rotate: {stats:?}");
        assert!(
            stats.pool.evictions > 0,
            "the small cache evicts: {stats:?}"
        );
    }
    let db = Database::open(Env::os(), tmp.path(), config).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("app", "public", "t").unwrap();
    let mut rows = r.scan(&t).unwrap();
    rows.sort_by_key(|(id, _)| *id);
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(rows, expected);
    let report = db.check_integrity().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn bad_values_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    let mut wrong = row(1);
    wrong[0] = Value::Text("x".into());
    assert!(matches!(
        tx.insert(&t, &wrong),
        Err(TxnError::TypeMismatch { .. })
    ));
    let mut null = row(1);
    null[0] = Value::Null;
    assert!(matches!(
        tx.insert(&t, &null),
        Err(TxnError::NullViolation { .. })
    ));
    assert!(matches!(
        tx.insert(&t, &row(1)[..2]),
        Err(TxnError::ColumnCount { .. })
    ));
    let mut huge = row(1);
    huge[4] = Value::Bytes(vec![0; 10_000]);
    assert!(matches!(
        tx.insert(&t, &huge),
        Err(TxnError::ValueTooLarge { .. })
    ));
    assert!(matches!(
        tx.update(&t, 12345 << 16, &row(1)),
        Err(TxnError::RowNotFound { .. })
    ));
    assert!(matches!(
        tx.create_database("app"),
        Err(TxnError::AlreadyExists { .. })
    ));
    assert!(matches!(
        tx.create_database(&"x".repeat(64)),
        Err(TxnError::InvalidIdentifier { .. })
    ));
    assert_eq!(tx.get(&t, u64::MAX).unwrap(), None);
    tx.commit().unwrap();
}

#[test]
fn a_directory_that_is_not_a_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    let err = Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    assert!(matches!(err, OpenError::NotADatabase { .. }), "{err:?}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("MANIFEST"), "SQLite format 3\0").unwrap();
    let err = Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    assert!(matches!(err, OpenError::NotADatabase { .. }), "{err:?}");

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = Database::open(
        Env::os(),
        &missing,
        Config::default().with_create_if_missing(false),
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }), "{err:?}");
}

#[test]
fn second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _db = open(tmp.path());
    let err = Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    assert!(matches!(err, OpenError::AlreadyOpen { .. }), "{err:?}");
}

#[test]
fn dropped_table_pages_are_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let t = tx.create_table("app", "public", "t", &columns()).unwrap();
    for i in 0..2000 {
        tx.insert(&t, &row(i)).unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let pages_before = db.stats().pool.pages;
    let mut tx = db.begin_write().unwrap();
    tx.drop_table("app", "public", "t").unwrap();
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let stats = db.stats();
    assert!(
        stats.pool.pages < pages_before,
        "{} -> {}",
        pages_before,
        stats.pool.pages
    );
    assert!(stats.pool.slots_free > 10, "{stats:?}");
    assert!(db.check_integrity().unwrap().is_ok());
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_refused_directory_is_left_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    assert_eq!(names(tmp.path()), ["notes.txt"]);

    let tmp = tempfile::tempdir().unwrap();
    Database::open(
        Env::os(),
        tmp.path(),
        Config::default().with_create_if_missing(false),
    )
    .unwrap_err();
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
}

#[test]
fn a_database_whose_manifest_was_lost_is_refused_not_wiped() {
    let tmp = tempfile::tempdir().unwrap();
    one_row_database(tmp.path());
    std::fs::remove_file(tmp.path().join("MANIFEST")).unwrap();
    let before = names(tmp.path());
    let err = Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    let OpenError::Storage(e) = &err else {
        panic!("{err:?}")
    };
    assert!(e.to_string().contains("MANIFEST"), "{e}");
    // Nothing was removed: the WAL still holds the committed row for whoever repairs.
    assert_eq!(names(tmp.path()), before);
}

#[test]
fn an_interrupted_creation_is_started_over() {
    // A creation that crashed before its first manifest leaves its marker and some files;
    // nothing in them was ever committed, so the next open creates the database afresh.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("CREATING"), "").unwrap();
    std::fs::write(tmp.path().join("pages.kiln"), [0u8; 100]).unwrap();
    std::fs::write(tmp.path().join("wal-0000000000000001.log"), [7u8; 100]).unwrap();
    let db = open(tmp.path());
    assert!(db.check_integrity().unwrap().is_ok());
    drop(db);
    assert!(!names(tmp.path()).contains(&"CREATING".to_string()));

    // A marker left behind after the first manifest was durable is just removed.
    let tmp = tempfile::tempdir().unwrap();
    one_row_database(tmp.path());
    std::fs::write(tmp.path().join("CREATING"), "").unwrap();
    let db = open(tmp.path());
    let r = db.begin_read().unwrap();
    let t = r.table("app", "public", "t").unwrap();
    assert_eq!(r.scan(&t).unwrap().len(), 1);
    drop(r);
    drop(db);
    assert!(!names(tmp.path()).contains(&"CREATING".to_string()));
}

#[test]
fn a_database_of_another_format_version_is_refused_by_version() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    // Rewrite the manifest as a format-1 build would have: version 1, valid CRC.
    let path = tmp.path().join("MANIFEST");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc_at = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..crc_at]);
    bytes[crc_at..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Database::open(Env::os(), tmp.path(), Config::default()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::UnsupportedVersion {
                found: 1,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A file system that lets another "process" create the database in the moment between
/// an open's look at the directory and its taking the lock.
#[derive(Debug)]
struct RacingVfs {
    inner: std::sync::Arc<dyn kiln::env::Vfs>,
    raced: std::sync::atomic::AtomicBool,
}

impl kiln::env::Vfs for RacingVfs {
    fn open(
        &self,
        path: &std::path::Path,
        options: kiln::env::OpenOptions,
    ) -> std::io::Result<Box<dyn kiln::env::File>> {
        self.inner.open(path, options)
    }
    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn list(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn create_dir_all(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn is_dir(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.inner.is_dir(path)
    }
    fn lock(&self, path: &std::path::Path) -> std::io::Result<Box<dyn kiln::env::LockGuard>> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            one_row_database(path.parent().unwrap());
        }
        self.inner.lock(path)
    }
    fn device(&self) -> kiln::env::DeviceConfig {
        self.inner.device()
    }
}

#[test]
fn a_database_created_by_another_process_while_opening_is_opened_not_wiped() {
    let tmp = tempfile::tempdir().unwrap();
    let os = Env::os();
    let env = Env {
        vfs: std::sync::Arc::new(RacingVfs {
            inner: os.vfs.clone(),
            raced: false.into(),
        }),
        clock: os.clock,
        random: os.random,
    };
    // The directory is empty when this open looks, so it decides to create; by the time
    // it holds the lock, the other process has created the database and committed a row.
    let db = Database::open(env, tmp.path(), Config::default()).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("app", "public", "t").unwrap();
    assert_eq!(r.scan(&t).unwrap().len(), 1);
}
