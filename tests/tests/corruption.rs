//! Bad bytes on disk yield a typed error naming the file and the offset, never wrong
//! data and never a panic: a truncated WAL segment, a flipped bit in a page image, in a
//! durable WAL record, in the manifest; and the one case the design cannot tell from a
//! torn write (damage to the final records, after the last record that could vouch for
//! them), which is truncated like one.
//!
//! These are hand-placed faults on the simulated disk, one per test, so each claim is
//! checked exactly; the simulator's bit-flip scenario covers random placements.

use std::path::{Path, PathBuf};

use kiln::env::{DeviceConfig, Env};
use kiln::{
    ColumnSpec, ColumnType, Config, Database, OpenError, StorageError, Table, TxnError, Value,
};
use kiln_sim::clock::SimClock;
use kiln_sim::disk::{CrashKind, FaultConfig, SimDisk};
use kiln_sim::seed::{stream, Stream};

const DIR: &str = "/db";

fn env(disk: &SimDisk) -> Env {
    disk.env(SimClock::new(), 7)
}

fn new_disk() -> SimDisk {
    SimDisk::new(
        DeviceConfig::default(),
        FaultConfig::default(),
        stream(7, Stream::Faults),
    )
}

fn open(disk: &SimDisk) -> Result<Database, OpenError> {
    // Automatic checkpoints off: each test decides what is in the checkpoint.
    Database::open(
        env(disk),
        Path::new(DIR),
        Config::default().with_checkpoint_wal_bytes(0),
    )
}

fn table(db: &Database) -> Table {
    let mut tx = db.begin_write().unwrap();
    tx.create_database("app").unwrap();
    let columns = [
        ColumnSpec::new("k", ColumnType::Int64, false),
        ColumnSpec::new("v", ColumnType::Text, false),
    ];
    let t = tx.create_table("app", "public", "t", &columns).unwrap();
    tx.commit().unwrap();
    t
}

fn insert(db: &Database, t: &Table, k: i64) {
    let mut tx = db.begin_write().unwrap();
    tx.insert(t, &[Value::Int64(k), Value::Text(format!("value {k}"))])
        .unwrap();
    tx.commit().unwrap();
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

fn wal_segments(disk: &SimDisk) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = disk
        .file_paths()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("wal-"))
        })
        .collect();
    segments.sort();
    segments
}

fn reopen_after_process_crash(disk: &SimDisk, db: Database) -> Result<Database, OpenError> {
    drop(db);
    disk.crash(CrashKind::Process);
    open(disk)
}

fn assert_names_file(error: &StorageError, file: &str) {
    match error {
        StorageError::Corruption { file: f, .. }
        | StorageError::ChecksumMismatch { file: f, .. } => {
            assert!(
                f.contains(file),
                "error names {f}, expected {file}: {error}"
            )
        }
        other => panic!("expected a corruption error naming {file}, got {other:?}"),
    }
}

#[test]
fn truncated_wal_segment_is_reported_with_file_and_offset() {
    let disk = new_disk();
    let db = open(&disk).unwrap();
    let t = table(&db);
    insert(&db, &t, 1);
    drop(db);
    let segment = wal_segments(&disk).pop().unwrap();
    let full = disk.durable_image(&segment).unwrap().len();
    // An operator (or a broken copy) truncates the preallocated segment.
    let image = disk.durable_image(&segment).unwrap();
    let file = kiln::env::Vfs::open(&disk, &segment, kiln::env::OpenOptions::READ_WRITE).unwrap();
    file.set_len(full as u64 / 2).unwrap();
    file.sync_data().unwrap();
    drop(file);
    assert_eq!(image.len(), full);
    let err = open(&disk).unwrap_err();
    let OpenError::Storage(e) = &err else {
        panic!("{err:?}")
    };
    assert_names_file(e, "wal-");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn flipped_bit_in_a_page_image_is_a_checksum_error_not_data() {
    let disk = new_disk();
    let db = open(&disk).unwrap();
    let t = table(&db);
    for k in 0..50 {
        insert(&db, &t, k);
    }
    db.checkpoint().unwrap();
    drop(db);
    // The user table's first page is the last image the first checkpoint wrote, but any
    // referenced slot will do: flip a byte near the end of every page-sized slot after
    // the header, then check that reading the table fails rather than lying.
    let images = disk.durable_image(&path("pages.kiln")).unwrap();
    let page = kiln::PAGE_SIZE_BYTES;
    for slot in 1..images.len() / page {
        disk.flip_bit(&path("pages.kiln"), (slot * page + page - 3) as u64, 2)
            .unwrap();
    }
    let db = open(&disk);
    let err = match db {
        Err(OpenError::Storage(e)) => e,
        Err(other) => panic!("{other:?}"),
        Ok(db) => match db.begin_read().and_then(|r| r.scan(&t)) {
            Err(TxnError::Storage(e)) => e,
            other => panic!("damaged pages read back without an error: {other:?}"),
        },
    };
    assert!(
        matches!(err, StorageError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert_names_file(&err, "pages.kiln");
}

#[test]
fn flipped_bit_in_a_durable_wal_record_is_corruption_not_a_torn_tail() {
    let disk = new_disk();
    let db = open(&disk).unwrap();
    let t = table(&db);
    db.checkpoint().unwrap();
    let segment = wal_segments(&disk).pop().unwrap();
    let start = disk
        .durable_image(&segment)
        .unwrap()
        .iter()
        .rposition(|&b| b != 0)
        .unwrap_or(0);
    insert(&db, &t, 1);
    // Later commits vouch that the first one was durable.
    insert(&db, &t, 2);
    insert(&db, &t, 3);
    // The first record written after the checkpoint: its header follows `start`.
    let offset = (start as u64 + 1).next_multiple_of(8) + 12;
    disk.flip_bit(&segment, offset, 0).unwrap();
    let err = reopen_after_process_crash(&disk, db).unwrap_err();
    let OpenError::Storage(e) = &err else {
        panic!("{err:?}")
    };
    assert_names_file(e, "wal-");
    let StorageError::Corruption {
        offset: reported, ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(
        *reported <= offset,
        "the error points at the damaged record ({reported} vs {offset})"
    );
}

#[test]
fn damage_to_the_final_record_is_indistinguishable_from_a_torn_write() {
    // The documented limit (engine/src/wal/reader.rs): nothing written after the last
    // commit can vouch for it, so its damage reads as a torn tail. Recovery truncates it:
    // the earlier commits are intact and the structure checks pass.
    let disk = new_disk();
    let db = open(&disk).unwrap();
    let t = table(&db);
    insert(&db, &t, 1);
    let segment = wal_segments(&disk).pop().unwrap();
    let before = disk.durable_image(&segment).unwrap();
    insert(&db, &t, 2);
    let after = disk.durable_image(&segment).unwrap();
    let changed = before.iter().zip(&after).position(|(a, b)| a != b).unwrap();
    disk.flip_bit(&segment, changed as u64 + 20, 1).unwrap();
    let db = reopen_after_process_crash(&disk, db).unwrap();
    let rows = db.begin_read().unwrap().scan(&t).unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the damaged final commit is dropped like a torn write"
    );
    assert!(db.check_integrity().unwrap().is_ok());
}

#[test]
fn flipped_bit_in_the_manifest_is_reported() {
    let disk = new_disk();
    let db = open(&disk).unwrap();
    table(&db);
    db.checkpoint().unwrap();
    drop(db);
    disk.flip_bit(&path("MANIFEST"), 40, 3).unwrap();
    let err = open(&disk).unwrap_err();
    let OpenError::Storage(e) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(e, StorageError::ChecksumMismatch { .. }), "{e:?}");
    assert_names_file(e, "MANIFEST");
}

#[test]
fn damaged_header_of_the_newest_segment_is_reported_not_truncated() {
    // One transaction large enough to rotate into a second segment, committed by a single
    // fsync: no later record can vouch for it. But the new segment's header was synced
    // at its creation, before any record went in, and its first record chains to the
    // previous segment, so header damage is provably damage (found in review: this once
    // dropped the whole transaction silently).
    let disk = new_disk();
    let config = Config::default()
        .with_checkpoint_wal_bytes(0)
        .with_wal_segment_size_bytes(64 << 10)
        .with_wal_buffer_bytes_max(8 << 10);
    let db = Database::open(env(&disk), Path::new(DIR), config.clone()).unwrap();
    let t = table(&db);
    db.checkpoint().unwrap();
    let mut tx = db.begin_write().unwrap();
    for k in 0..400 {
        tx.insert(&t, &[Value::Int64(k), Value::Text("x".repeat(150))])
            .unwrap();
    }
    tx.commit().unwrap();
    let segments = wal_segments(&disk);
    assert!(segments.len() >= 2, "the transaction rotated: {segments:?}");
    disk.flip_bit(segments.last().unwrap(), 30, 4).unwrap();
    drop(db);
    disk.crash(CrashKind::Process);
    let err = Database::open(env(&disk), Path::new(DIR), config).unwrap_err();
    let OpenError::Storage(e) = &err else {
        panic!("{err:?}")
    };
    assert_names_file(e, "wal-");
}
