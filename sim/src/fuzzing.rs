//! The bodies of the fuzz targets in `fuzz/`, as plain functions on stable Rust.
//!
//! Goal: every function here takes arbitrary bytes and panics only when it has found a
//! bug. The `fuzz/fuzz_targets/*.rs` files are one-line wrappers around them, and
//! `tests/tests/fuzz_corpus.rs` replays the committed corpus through the very same
//! functions on stable, so a bug found (and fixed) once stays fixed.
//!
//! - Decoders ([`wal_record`], [`manifest`], [`heap_page`], [`row`]): whatever the bytes,
//!   decode to a value or an error. Each also decodes a copy with its checksums recomputed
//!   ([`fix_wal_record_crc`] and friends), so the fuzzer gets past the CRC and into the
//!   field and payload decoders, which a random mutation almost never reaches otherwise.
//! - [`engine_ops`]: a sequence of operations, crashes and IO faults against the engine on
//!   a [`SimDisk`], checked against a `BTreeMap` model after every read and recovery.
//! - [`sim_plan`]: a simulator [`Plan`] built from the bytes, run by [`runner::run`].
//! - [`canary`]: fails on purpose, so the nightly job proves a fuzzer run can fail.
//!
//! Bytes become choices only through [`ByteSource`], whose mapping is frozen (see there):
//! a committed corpus input keeps meaning the same operations as the code evolves. That
//! is why this module does not use the `arbitrary` crate, whose mapping may change between
//! releases, and adds no dependency to the simulator.
//!
//! Not covered here: concurrency (one thread drives the engine; the madsim actors cover
//! it), bit flips in durable bytes under `engine_ops` (the simulator's `Corrupt` step
//! covers detection, and [`sim_plan`] reaches it), DDL beyond creating and dropping tables
//! under `engine_ops` ([`sim_plan`] draws every DDL operation the simulator knows), and
//! SQL text (its target comes with the SQL front door; see ci/nightly.sh).
//!
//! Nothing here may use madsim: `cargo fuzz` builds the simulator without `--cfg madsim`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Display;
use std::path::Path;

use kiln::env::{DeviceConfig, Env};
use kiln::{ColumnSpec, ColumnType, Database, ReadTxn, StorageError, TxnError, Value, WriteTxn};

use crate::clock::SimClock;
use crate::disk::{CrashKind, FaultConfig, HaltPlan, SimDisk};
use crate::plan::{AlterOp, ColType, CorruptTarget, Plan, Step, TxnOp};
use crate::runner::{self, Outcome, RunOptions, RunReport};
use crate::scenario::Scenario;
use crate::seed::{stream, Stream};

// ---- Bytes to choices ------------------------------------------------------------------

/// A cursor that turns fuzzer bytes into choices.
///
/// Frozen: integers are little endian, taken byte by byte; once the bytes run out every
/// read returns zeros (so a short input is a prefix of a longer one with zeros after it).
/// Changing this mapping silently changes what every committed corpus input means.
#[derive(Clone, Debug)]
pub struct ByteSource<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteSource<'a> {
    pub fn new(bytes: &'a [u8]) -> ByteSource<'a> {
        ByteSource { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&first, rest)) => {
                self.bytes = rest;
                first
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// An index below `bound` (which must be positive and at most 256).
    pub fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0);
        assert!(bound <= 256);
        usize::from(self.u8()) % bound
    }
}

// ---- CRC32 (IEEE), to recompute the engine's checksums ----------------------------------

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// The CRC32 the engine uses (IEEE, as crc32fast computes it) over `parts` in order.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

// Offsets mirrored from the engine's format modules (engine/src/wal/format.rs,
// checkpoint/manifest.rs, page/format.rs; docs/FORMAT.md). If they drift, the fix-ups
// stop helping the fuzzer, and the corpus replay test notices: fixing up a valid seed
// must leave it unchanged.
const WAL_RECORD_HEADER_BYTES: usize = 40;
/// The record CRC covers everything after itself: the rest of the header and the payload.
const WAL_RECORD_CRC_OFFSET: usize = 0;
const WAL_RECORD_LEN_OFFSET: usize = WAL_RECORD_CRC_OFFSET + 4;
const WAL_SEGMENT_HEADER_BYTES: usize = 64;
const WAL_SEGMENT_CRC_OFFSET: usize = 56;
const PAGE_CRC_OFFSET: usize = 0;

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// A copy of `bytes` with the CRC of the WAL record at its start recomputed (when the
/// header's length field fits in the bytes).
pub fn fix_wal_record_crc(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = bytes.get(..WAL_RECORD_HEADER_BYTES)?;
    let len_field = &header[WAL_RECORD_LEN_OFFSET..WAL_RECORD_LEN_OFFSET + 4];
    let payload_len = u32::from_le_bytes(len_field.try_into().expect("4 bytes")) as usize;
    let record_end = WAL_RECORD_HEADER_BYTES.checked_add(payload_len)?;
    let covered = bytes.get(WAL_RECORD_CRC_OFFSET + 4..record_end)?;
    let crc = crc32(&[covered]);
    let mut fixed = bytes.to_vec();
    put_u32(&mut fixed, WAL_RECORD_CRC_OFFSET, crc);
    Some(fixed)
}

/// A copy of `bytes` with the CRC of the WAL segment header at its start recomputed.
pub fn fix_wal_segment_crc(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < WAL_SEGMENT_HEADER_BYTES {
        return None;
    }
    let crc = crc32(&[&bytes[..WAL_SEGMENT_CRC_OFFSET]]);
    let mut fixed = bytes.to_vec();
    put_u32(&mut fixed, WAL_SEGMENT_CRC_OFFSET, crc);
    Some(fixed)
}

/// A copy of `bytes` with the manifest CRC (its last four bytes) recomputed.
pub fn fix_manifest_crc(bytes: &[u8]) -> Option<Vec<u8>> {
    let crc_at = bytes.len().checked_sub(4)?;
    let crc = crc32(&[&bytes[..crc_at]]);
    let mut fixed = bytes.to_vec();
    put_u32(&mut fixed, crc_at, crc);
    Some(fixed)
}

/// `bytes` cut or zero-padded to one page, with the page CRC recomputed.
pub fn page_with_fixed_crc(bytes: &[u8]) -> Vec<u8> {
    let mut page = bytes.to_vec();
    page.resize(kiln::PAGE_SIZE_BYTES, 0);
    let crc = crc32(&[&page[PAGE_CRC_OFFSET + 4..]]);
    put_u32(&mut page, PAGE_CRC_OFFSET, crc);
    page
}

// ---- Decoder targets ---------------------------------------------------------------------

/// Fuzz target `wal_record`: the record, payload and segment-header decoders, on the
/// bytes as given and with their CRCs recomputed; then a walk over records back to back,
/// as recovery reads a segment.
pub fn wal_record(data: &[u8]) {
    decode_wal_bytes(data);
    if let Some(fixed) = fix_wal_record_crc(data) {
        decode_wal_bytes(&fixed);
    }
    if let Some(fixed) = fix_wal_segment_crc(data) {
        let _ = kiln::decode::wal_segment_header(&fixed);
    }
    walk_wal_records(data);
}

fn decode_wal_bytes(data: &[u8]) {
    let record = kiln::decode::wal_record(data);
    let payload = kiln::decode::wal_record_payload(data);
    let _ = kiln::decode::wal_segment_header(data);
    if let Ok((_, _, payload_len)) = record {
        assert!(
            payload_len <= data.len().saturating_sub(WAL_RECORD_HEADER_BYTES),
            "a {payload_len}-byte payload decoded from {} bytes",
            data.len()
        );
    }
    // The payload decoder starts with the record decoder: one fails whenever the other
    // does at the record level.
    if record.is_err() {
        assert!(
            payload.is_err(),
            "payload decoded from a record that did not"
        );
    }
}

/// Walks records back to back after a segment header (when the bytes start with one) or
/// from the start, at most 64 records.
fn walk_wal_records(data: &[u8]) {
    let mut at = if kiln::decode::wal_segment_header(data).is_ok() {
        WAL_SEGMENT_HEADER_BYTES
    } else {
        0
    };
    for _ in 0..64 {
        let Some(rest) = data.get(at..) else { return };
        let Ok((_, _, payload_len)) = kiln::decode::wal_record(rest) else {
            return;
        };
        let _ = kiln::decode::wal_record_payload(rest);
        at += (WAL_RECORD_HEADER_BYTES + payload_len).next_multiple_of(8);
    }
}

/// Fuzz target `manifest`: both manifest decoders, which must agree, on the bytes as
/// given and with the CRC recomputed.
pub fn manifest(data: &[u8]) {
    decode_manifest(data);
    if let Some(fixed) = fix_manifest_crc(data) {
        decode_manifest(&fixed);
    }
}

fn decode_manifest(data: &[u8]) {
    let count = kiln::decode::manifest(data);
    let table = kiln::decode::manifest_page_table(data);
    match (count, table) {
        (Ok(count), Ok(table)) => assert_eq!(count, table.len(), "the decoders disagree"),
        (Err(_), Err(_)) => {}
        (count, table) => panic!("the manifest decoders disagree: {count:?} vs {table:?}"),
    }
}

/// The column types at the start of a `heap_page` or `row` input, and the bytes after
/// them. Layout: one byte `n` (taken modulo 17), then `n` type bytes (each modulo 5:
/// Int64, Float64, Bool, Text, Bytes).
pub fn split_types(data: &[u8]) -> (Vec<ColumnType>, &[u8]) {
    const TYPES: [ColumnType; 5] = [
        ColumnType::Int64,
        ColumnType::Float64,
        ColumnType::Bool,
        ColumnType::Text,
        ColumnType::Bytes,
    ];
    let Some((&n, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = (usize::from(n) % 17).min(rest.len());
    let types = rest[..n]
        .iter()
        .map(|&b| TYPES[usize::from(b) % TYPES.len()])
        .collect();
    (types, &rest[n..])
}

/// The inverse of [`split_types`], for building seeds.
pub fn join_types(types: &[ColumnType], bytes: &[u8]) -> Vec<u8> {
    assert!(types.len() < 17);
    let mut out = vec![types.len() as u8];
    out.extend(types.iter().map(|t| (t.code() - 1) as u8));
    out.extend_from_slice(bytes);
    out
}

/// Fuzz target `heap_page`: column types from the first bytes (see [`split_types`]),
/// then a page image: checked as given, checked with its CRC recomputed, and walked
/// unchecked after being cut or zero-padded to a page (so the fuzzer reaches the slot and
/// row decoders whatever the length).
pub fn heap_page(data: &[u8]) {
    let (types, page) = split_types(data);
    let _ = kiln::decode::heap_page(page, &types);
    let fixed = page_with_fixed_crc(page);
    let checked = kiln::decode::heap_page(&fixed, &types);
    let unchecked = kiln::decode::heap_page_unchecked(&fixed, &types);
    // With a valid CRC, the checked decoder adds only identity and kind checks.
    if let Ok(rows) = checked {
        assert_eq!(unchecked, Ok(rows), "checked and unchecked walks disagree");
    }
}

/// Fuzz target `row`: column types from the first bytes (see [`split_types`]), then a
/// stored row. A row that decodes must survive an encode/decode round trip unchanged.
pub fn row(data: &[u8]) {
    let (types, bytes) = split_types(data);
    let Ok(values) = kiln::decode::row(bytes, &types) else {
        return;
    };
    assert_eq!(
        values.len(),
        types.len(),
        "a decoded row has one value a column"
    );
    let mut encoded = Vec::new();
    kiln::value::encode_row(&values, &mut encoded);
    assert_eq!(encoded.len(), kiln::value::encoded_row_len(&values));
    let again = kiln::decode::row(&encoded, &types).expect("a re-encoded row decodes");
    assert!(
        same_row(&values, &again),
        "{values:?} came back as {again:?}"
    );
}

// ---- Canary ------------------------------------------------------------------------------

/// Fuzz target `canary`: panics on any input that starts with `KILN`, so a nightly run
/// that does not fail proves the fuzzing pipeline is broken, not that the code is sound.
/// One comparison per byte, so coverage guides the fuzzer there in seconds.
pub fn canary(data: &[u8]) {
    // `&&` short-circuits: each comparison is its own branch for coverage to reward.
    if data.first() == Some(&b'K')
        && data.get(1) == Some(&b'I')
        && data.get(2) == Some(&b'L')
        && data.get(3) == Some(&b'N')
    {
        panic!("canary: the fuzzer found the input starting with KILN, as it should");
    }
}

// ---- engine_ops --------------------------------------------------------------------------

/// Operations an `engine_ops` input runs at most (each a few microseconds, except
/// checkpoints, reopens and crashes, which cost a recovery of a small database).
pub const ENGINE_OPS_MAX: usize = 64;
/// Rows are checked to fit the engine's limit by the engine; values above this size are
/// only drawn rarely (see [`draw_text_len`]).
const VALUE_CHARS_MAX: usize = 3000;
/// Rows up to this size must be accepted: a page minus its header, one slot and the
/// overhead of a moved row, rounded down generously. Larger ones may be refused.
const ROW_BYTES_ACCEPTED_MIN: usize = kiln::PAGE_SIZE_BYTES - 128;
/// The database directory on the simulated disk.
const DB_DIR: &str = "/db";
const DATABASE: &str = "fuzz";
const SCHEMA: &str = kiln::DEFAULT_SCHEMA;
/// How many recent events a failure report shows.
const TRAIL_EVENTS_MAX: usize = 48;

/// What an opcode byte means (taken modulo 32; repeated kinds are weights). Frozen, like
/// [`ByteSource`]: changing a slot changes what every committed input means.
#[rustfmt::skip]
const OPCODES: [OpKind; 32] = {
    use OpKind::*;
    [
        CreateTable, DropTable, Insert, Insert, Insert, Insert, Insert, Insert, // 0-7
        Update, Update, Update, Delete, Delete, Get, Scan, Commit, // 8-15
        Commit, Commit, Abort, Checkpoint, Reopen, Crash, CrashAfter, Faults, // 16-23
        SnapshotRead, HoldSnapshot, CheckSnapshot, Insert, Insert, Update, Commit, Get, // 24-31
    ]
};

/// The kinds of operation an `engine_ops` input can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// One to four typed columns, nullable or not.
    CreateTable,
    DropTable,
    /// Values are drawn from the input when the op runs (they depend on the columns).
    Insert,
    Update,
    Delete,
    /// Reads one row in the open write transaction (or a fresh snapshot).
    Get,
    /// Reads a whole table in the open write transaction (or a fresh snapshot).
    Scan,
    Commit,
    Abort,
    /// A checkpoint (or, with a writer open, a `try_checkpoint` that must not block).
    Checkpoint,
    /// Close (cleanly or by dropping the handle) and open again, without a crash.
    Reopen,
    /// A process crash or a power loss, now.
    Crash,
    /// Arms a crash after 1 to 512 more IO operations.
    CrashAfter,
    /// Switches the disk's EIO/ENOSPC faults (sync, write, read, space) on or off.
    Faults,
    /// A fresh read snapshot must see exactly the committed state of a table.
    SnapshotRead,
    /// Opens a long-lived snapshot...
    HoldSnapshot,
    /// ...which must still see exactly the state it began with.
    CheckSnapshot,
}

impl OpKind {
    /// The first opcode byte that means this kind (for building seeds).
    pub fn opcode(self) -> u8 {
        OPCODES
            .iter()
            .position(|&k| k == self)
            .expect("every kind has an opcode") as u8
    }
}

/// How an `engine_ops` run is set up: the first four bytes of the input.
#[derive(Clone, Debug)]
struct Setup {
    seed: u64,
    device: DeviceConfig,
    config: kiln::Config,
    final_crash: CrashKind,
}

impl Setup {
    /// Layout: seed (u16), device flags (u8), engine knobs (u8).
    fn draw(input: &mut ByteSource<'_>) -> Setup {
        let seed = u64::from(input.u16());
        let flags = input.u8();
        let knobs = usize::from(input.u8());
        let device = DeviceConfig {
            sector_size_bytes: if flags & 1 == 0 { 512 } else { 4096 },
            sector_write_atomic: flags & 2 == 0,
        };
        let final_crash = if flags & 4 == 0 {
            CrashKind::PowerLoss
        } else {
            CrashKind::Process
        };
        let page = kiln::PAGE_SIZE_BYTES as u64;
        // Small caches force eviction; small segments force rotation and retention;
        // small checkpoint thresholds make commits checkpoint on their own.
        let cache_pages = [16, 24, 64, 256][knobs & 3];
        let checkpoint_wal_bytes = [0, 16 << 10, 64 << 10, 256 << 10][(knobs >> 2) & 3];
        let wal_buffer_bytes_max = [4096, 65536][(knobs >> 4) & 1];
        let wal_segment_size_bytes = [64 << 10, 128 << 10][(knobs >> 5) & 1];
        let retention_segments = [0, 1][(knobs >> 6) & 1];
        let config = kiln::Config::default()
            .with_cache_size_bytes(cache_pages * page)
            .with_checkpoint_wal_bytes(checkpoint_wal_bytes)
            .with_wal_buffer_bytes_max(wal_buffer_bytes_max)
            .with_wal_segment_size_bytes(wal_segment_size_bytes)
            .with_retention_segments(retention_segments);
        Setup {
            seed,
            device,
            config,
            final_crash,
        }
    }
}

/// Fuzz target `engine_ops`: decodes operations from `data` one at a time (see
/// [`OPCODES`]) and runs them against the engine on a simulated disk, checking a
/// `BTreeMap` model after every read and every recovery. Panics when the engine returns
/// data the model does not have, loses an acknowledged commit, exposes part of a
/// transaction, reuses a table id, fails recovery, reports corruption (no bit is ever
/// flipped here), returns an error no injected fault explains, or panics itself. An
/// in-doubt commit (commit returned an error) may be present or absent after recovery,
/// but whole.
///
/// Every input ends with a crash (its kind chosen by the setup bytes) and a checked
/// recovery, so every input checks recovery at least once.
pub fn engine_ops(data: &[u8]) {
    engine_ops_report(data);
}

/// What an `engine_ops` run exercised. A check that never runs is a silent hole: the
/// corpus replay test asserts that the corpus as a whole reaches each of these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOpsReport {
    pub ops: u64,
    pub commits: u64,
    pub commits_in_doubt: u64,
    pub aborts: u64,
    pub checkpoints: u64,
    pub crashes: u64,
    /// Recoveries whose state was checked against the model.
    pub recoveries: u64,
    pub faults_injected: u64,
    pub rows_refused: u64,
}

/// [`engine_ops`], returning what the run exercised.
pub fn engine_ops_report(data: &[u8]) -> EngineOpsReport {
    engine_ops_planted(data, kiln::PlantedBugs::default())
}

/// [`engine_ops_report`] against an engine with `planted` bugs: the test that proves
/// this harness catches a lost acknowledged commit runs it with `ack_before_fsync`.
pub fn engine_ops_planted(data: &[u8], planted: kiln::PlantedBugs) -> EngineOpsReport {
    let mut input = ByteSource::new(data);
    let mut setup = Setup::draw(&mut input);
    setup.config.planted = planted;
    let mut harness = Harness::new(&setup);
    harness.open_fresh();
    for _ in 0..ENGINE_OPS_MAX {
        if input.is_empty() {
            break;
        }
        let kind = OPCODES[usize::from(input.u8()) % OPCODES.len()];
        harness.report.ops += 1;
        harness.apply(kind, &mut input);
        harness.restart_if_stopped();
    }
    harness.finish(setup.final_crash)
}

/// The open write transaction and the state it would commit.
struct Txn {
    tx: WriteTxn,
    view: State,
    created_ids: Vec<u64>,
}

/// What to do after an engine error that an injected fault or crash explains.
enum Recovery {
    /// The disk halted or the engine failed: restart it.
    Restart,
    /// A transient fault (a read error): the operation failed, nothing else did.
    Transient,
}

struct Harness {
    disk: SimDisk,
    env: Env,
    config: kiln::Config,
    db: Option<Database>,
    txn: Option<Txn>,
    held: Option<(ReadTxn, State)>,
    model: Model,
    armed_kind: CrashKind,
    faults_seen: u64,
    max_committed_table_id: u64,
    trail: VecDeque<String>,
    report: EngineOpsReport,
}

impl Harness {
    fn new(setup: &Setup) -> Harness {
        let disk = SimDisk::new(
            setup.device,
            FaultConfig::default(),
            stream(setup.seed, Stream::Faults),
        );
        let clock = SimClock::new();
        disk.set_clock(clock.clone());
        let env = disk.env(clock, setup.seed);
        Harness {
            disk,
            env,
            config: setup.config.clone(),
            db: None,
            txn: None,
            held: None,
            model: Model::default(),
            armed_kind: CrashKind::Process,
            faults_seen: 0,
            max_committed_table_id: 0,
            trail: VecDeque::new(),
            report: EngineOpsReport::default(),
        }
    }

    fn event(&mut self, event: String) {
        if self.trail.len() == TRAIL_EVENTS_MAX {
            self.trail.pop_front();
        }
        self.trail.push_back(event);
    }

    /// Reports a violated invariant: the panic is the fuzzer's failure signal.
    fn fail(&self, invariant: &str, detail: impl Display) -> ! {
        let trail: Vec<&str> = self.trail.iter().map(String::as_str).collect();
        panic!(
            "engine_ops: {invariant}: {detail}\nlast events:\n  {}",
            trail.join("\n  ")
        );
    }

    fn db(&self) -> &Database {
        self.db
            .as_ref()
            .expect("the database is open between operations")
    }

    fn fault_total(&self) -> u64 {
        self.disk.fault_counts().values().sum()
    }

    /// Creates the database and the run's schema, with faults off.
    fn open_fresh(&mut self) {
        let db = Database::open(self.env.clone(), Path::new(DB_DIR), self.config.clone())
            .unwrap_or_else(|e| self.fail("open", format!("creating the database: {e}")));
        let mut tx = db.begin_write().unwrap_or_else(|e| self.fail("open", e));
        tx.create_database(DATABASE)
            .unwrap_or_else(|e| self.fail("open", e));
        tx.commit().unwrap_or_else(|e| self.fail("open", e));
        self.db = Some(db);
        self.event("created database".into());
    }

    fn apply(&mut self, kind: OpKind, input: &mut ByteSource<'_>) {
        match kind {
            OpKind::CreateTable => self.create_table(input),
            OpKind::DropTable => self.drop_table(input.u8()),
            OpKind::Insert => self.insert(input),
            OpKind::Update => self.update(input),
            OpKind::Delete => self.delete(input.u8(), input.u16()),
            OpKind::Get => self.get(input.u8(), input.u16()),
            OpKind::Scan => self.scan(input.u8()),
            OpKind::Commit => self.commit(),
            OpKind::Abort => self.abort(),
            OpKind::Checkpoint => self.checkpoint(),
            OpKind::Reopen => self.reopen(input.bool()),
            OpKind::Crash => {
                let kind = crash_kind(input.u8());
                self.crash_and_recover(kind);
            }
            OpKind::CrashAfter => self.arm_crash(input.u16(), input.u8()),
            OpKind::Faults => self.set_faults(input.u8()),
            OpKind::SnapshotRead => self.snapshot_read(input.u8()),
            OpKind::HoldSnapshot => self.hold_snapshot(),
            OpKind::CheckSnapshot => self.check_snapshot(),
        }
    }

    /// After every operation, as after every simulator step: a halted disk or a failed
    /// engine restarts.
    fn restart_if_stopped(&mut self) {
        if self.disk.is_halted() || self.db().is_failed() {
            self.restart();
        }
    }

    // ---- Errors --------------------------------------------------------------------------

    /// Classifies an engine error; any error that no crash or injected fault explains is
    /// a failure.
    fn classify(&mut self, what: &str, error: &TxnError) -> Recovery {
        if self.disk.is_halted() {
            return Recovery::Restart;
        }
        let faulted = self.fault_total() > self.faults_seen;
        let Some(storage) = error.storage() else {
            self.fail("no unexpected errors", format!("{what}: {error}"));
        };
        if storage.is_corruption() {
            self.fail(
                "no corruption without a bit flip",
                format!("{what}: {storage}"),
            );
        }
        match storage {
            StorageError::PreviousIo if faulted => Recovery::Restart,
            StorageError::Io { .. } | StorageError::DiskFull { .. } if faulted => {
                if self.db().is_failed() {
                    Recovery::Restart
                } else {
                    Recovery::Transient
                }
            }
            _ => self.fail(
                "no unexpected errors",
                format!("{what}: {storage} (no fault explains it)"),
            ),
        }
    }

    /// After an error: the transaction (if any) is gone; restart if needed.
    fn after_error(&mut self, what: &str, error: &TxnError) {
        self.event(format!("{what} failed: {error}"));
        self.txn = None;
        match self.classify(what, error) {
            Recovery::Transient => self.faults_seen = self.fault_total(),
            Recovery::Restart => self.restart(),
        }
    }

    // ---- Transactions --------------------------------------------------------------------

    /// The open write transaction, begun if there is none; `None` if beginning failed
    /// (and was handled).
    fn txn(&mut self) -> Option<&mut Txn> {
        if self.txn.is_none() {
            match self.db().begin_write() {
                Ok(tx) => {
                    let view = self.model.committed.clone();
                    self.txn = Some(Txn {
                        tx,
                        view,
                        created_ids: Vec::new(),
                    });
                }
                Err(e) => {
                    self.after_error("begin", &e);
                    return None;
                }
            }
        }
        self.txn.as_mut()
    }

    fn create_table(&mut self, input: &mut ByteSource<'_>) {
        let count = 1 + input.below(4);
        let columns: Vec<(ColumnType, bool)> = (0..count)
            .map(|_| {
                let b = input.u8();
                (column_type(b), b & 0x80 != 0)
            })
            .collect();
        let name = format!("t{}", self.model.tables_created);
        self.model.tables_created += 1;
        let specs: Vec<ColumnSpec> = columns
            .iter()
            .enumerate()
            .map(|(i, &(t, nullable))| ColumnSpec::new(&format!("c{i}"), t, nullable))
            .collect();
        let Some(txn) = self.txn() else { return };
        match txn.tx.create_table(DATABASE, SCHEMA, &name, &specs) {
            Ok(table) => {
                txn.view.tables.insert(
                    name.clone(),
                    TableState {
                        columns,
                        rows: BTreeMap::new(),
                    },
                );
                txn.created_ids.push(table.id);
                if table.id <= self.max_committed_table_id {
                    self.fail(
                        "table ids are never reused",
                        format!(
                            "{name} got id {}, not above committed id {}",
                            table.id, self.max_committed_table_id
                        ),
                    );
                }
                self.event(format!("create {name} id {} {specs:?}", table.id));
            }
            Err(e) => self.after_error(&format!("create {name}"), &e),
        }
    }

    fn drop_table(&mut self, table: u8) {
        let Some(txn) = self.txn() else { return };
        let Some(name) = txn.view.table_name(u32::from(table)) else {
            return;
        };
        match txn.tx.drop_table(DATABASE, SCHEMA, &name) {
            Ok(()) => {
                txn.view.tables.remove(&name);
                self.event(format!("drop {name}"));
            }
            Err(e) => self.after_error(&format!("drop {name}"), &e),
        }
    }

    fn insert(&mut self, input: &mut ByteSource<'_>) {
        let table = input.u8();
        let Some(txn) = self.txn() else { return };
        let Some(name) = txn.view.table_name(u32::from(table)) else {
            return;
        };
        let values = draw_row(input, &txn.view.tables[&name].columns);
        let result = txn
            .tx
            .table(DATABASE, SCHEMA, &name)
            .and_then(|t| txn.tx.insert(&t, &values));
        match result {
            Ok(id) => {
                let rows = &mut txn.view.tables.get_mut(&name).expect("picked").rows;
                if rows.insert(id, values).is_some() {
                    self.fail(
                        "row ids are unique",
                        format!("insert into {name} reused {id:#x}"),
                    );
                }
                self.event(format!("insert {name} {id:#x}"));
            }
            Err(e) => self.row_error(&format!("insert {name}"), &values, &e),
        }
    }

    fn update(&mut self, input: &mut ByteSource<'_>) {
        let (table, row) = (input.u8(), input.u16());
        let Some(txn) = self.txn() else { return };
        let Some((name, id)) = pick_row(&txn.view, table, row) else {
            return;
        };
        let values = draw_row(input, &txn.view.tables[&name].columns);
        let result = txn
            .tx
            .table(DATABASE, SCHEMA, &name)
            .and_then(|t| txn.tx.update(&t, id, &values));
        match result {
            Ok(()) => {
                let rows = &mut txn.view.tables.get_mut(&name).expect("picked").rows;
                rows.insert(id, values);
                self.event(format!("update {name} {id:#x}"));
            }
            Err(e) => self.row_error(&format!("update {name} {id:#x}"), &values, &e),
        }
    }

    /// A row too large for a page is refused, and the transaction goes on; anything
    /// else is an ordinary error. Every row within [`ROW_BYTES_ACCEPTED_MIN`] must fit.
    fn row_error(&mut self, what: &str, values: &[Value], error: &TxnError) {
        let size = kiln::value::encoded_row_len(values);
        if let TxnError::ValueTooLarge { .. } = error {
            if size > ROW_BYTES_ACCEPTED_MIN {
                self.report.rows_refused += 1;
                self.event(format!("{what}: refused a {size}-byte row"));
                return;
            }
        }
        self.after_error(what, error);
    }

    fn delete(&mut self, table: u8, row: u16) {
        let Some(txn) = self.txn() else { return };
        let Some((name, id)) = pick_row(&txn.view, table, row) else {
            return;
        };
        let result = txn
            .tx
            .table(DATABASE, SCHEMA, &name)
            .and_then(|t| txn.tx.delete(&t, id));
        match result {
            Ok(()) => {
                let rows = &mut txn.view.tables.get_mut(&name).expect("picked").rows;
                rows.remove(&id);
                self.event(format!("delete {name} {id:#x}"));
            }
            Err(e) => self.after_error(&format!("delete {name} {id:#x}"), &e),
        }
    }

    fn get(&mut self, table: u8, row: u16) {
        let Some(txn) = self.txn.as_ref() else {
            return self.snapshot_get(table, row);
        };
        let Some((name, id)) = pick_row(&txn.view, table, row) else {
            return;
        };
        let result = txn
            .tx
            .table(DATABASE, SCHEMA, &name)
            .and_then(|t| txn.tx.get(&t, id));
        match result {
            Ok(got) => {
                let expected = &txn.view.tables[&name].rows[&id];
                if !got.as_deref().is_some_and(|g| same_row(g, expected)) {
                    self.fail(
                        "reads match the model",
                        format!(
                            "get {name} {id:#x} in the writer: expected {expected:?}, got {got:?}"
                        ),
                    );
                }
            }
            Err(e) => self.after_error(&format!("get {name} {id:#x}"), &e),
        }
    }

    fn snapshot_get(&mut self, table: u8, row: u16) {
        let Some((name, id)) = pick_row(&self.model.committed, table, row) else {
            return;
        };
        let result = self.db().begin_read().and_then(|snapshot| {
            let t = snapshot.table(DATABASE, SCHEMA, &name)?;
            snapshot.get(&t, id)
        });
        match result {
            Ok(got) => {
                let expected = &self.model.committed.tables[&name].rows[&id];
                if !got.as_deref().is_some_and(|g| same_row(g, expected)) {
                    self.fail(
                        "reads match the model",
                        format!(
                            "get {name} {id:#x} in a snapshot: expected {expected:?}, got {got:?}"
                        ),
                    );
                }
            }
            Err(e) => self.after_error(&format!("snapshot get {name} {id:#x}"), &e),
        }
    }

    fn scan(&mut self, table: u8) {
        let Some(txn) = self.txn.as_ref() else {
            return self.snapshot_read(table);
        };
        let Some(name) = txn.view.table_name(u32::from(table)) else {
            return;
        };
        let result = txn
            .tx
            .table(DATABASE, SCHEMA, &name)
            .and_then(|t| txn.tx.scan(&t));
        match result {
            Ok(rows) => {
                let actual: BTreeMap<_, _> = rows.into_iter().collect();
                if let Some(d) = diff_rows(&txn.view.tables[&name].rows, &actual) {
                    self.fail(
                        "reads match the model",
                        format!("scan {name} in the writer: {d}"),
                    );
                }
            }
            Err(e) => self.after_error(&format!("scan {name}"), &e),
        }
    }

    fn commit(&mut self) {
        let Some(txn) = self.txn.take() else { return };
        match txn.tx.commit() {
            Ok(info) => {
                self.model.committed = txn.view;
                let created = txn.created_ids.iter().copied().max().unwrap_or(0);
                self.max_committed_table_id = self.max_committed_table_id.max(created);
                self.report.commits += 1;
                self.event(format!("commit lsn {}", info.lsn));
            }
            Err(e) => {
                // The commit record may or may not have reached the disk.
                self.report.commits_in_doubt += 1;
                self.event(format!("commit in doubt: {e}"));
                let recovery = self.classify("commit", &e);
                self.model.commit_in_doubt(txn.view);
                match recovery {
                    Recovery::Transient => self.fail(
                        "a failed commit fails the engine",
                        format!("commit failed and the engine carried on: {e}"),
                    ),
                    Recovery::Restart => self.restart(),
                }
            }
        }
    }

    fn abort(&mut self) {
        if let Some(txn) = self.txn.take() {
            txn.tx.abort();
            self.report.aborts += 1;
            self.event("abort".into());
        }
    }

    fn checkpoint(&mut self) {
        // With a writer open, a blocking checkpoint would wait for it forever.
        let result = if self.txn.is_some() {
            self.db()
                .try_checkpoint()
                .map(|stats| stats.map(|s| s.sequence))
        } else {
            self.db().checkpoint().map(|s| Some(s.sequence))
        };
        match result {
            Ok(sequence) => {
                self.report.checkpoints += u64::from(sequence.is_some());
                self.event(format!("checkpoint {sequence:?}"));
            }
            Err(kiln::CheckpointError::Storage(e)) => {
                let error = TxnError::Storage(e);
                self.event(format!("checkpoint failed: {error}"));
                match self.classify("checkpoint", &error) {
                    Recovery::Transient => self.faults_seen = self.fault_total(),
                    Recovery::Restart => self.restart(),
                }
            }
        }
    }

    // ---- Snapshots -----------------------------------------------------------------------

    fn snapshot_read(&mut self, table: u8) {
        let Some(name) = self.model.committed.table_name(u32::from(table)) else {
            return;
        };
        let result = self.db().begin_read().and_then(|s| read_table(&s, &name));
        match result {
            Ok(actual) => {
                let expected = &self.model.committed.tables[&name].rows;
                if let Some(d) = diff_rows(expected, &actual) {
                    self.fail("snapshots see committed state only", format!("{name}: {d}"));
                }
            }
            Err(e) => self.snapshot_error(&format!("snapshot read {name}"), &e),
        }
    }

    /// A snapshot read failing leaves an open writer alone unless the engine stopped.
    fn snapshot_error(&mut self, what: &str, error: &TxnError) {
        self.event(format!("{what} failed: {error}"));
        match self.classify(what, error) {
            Recovery::Transient => self.faults_seen = self.fault_total(),
            Recovery::Restart => self.restart(),
        }
    }

    fn hold_snapshot(&mut self) {
        if self.held.is_some() {
            return;
        }
        match self.db().begin_read() {
            Ok(snapshot) => {
                self.held = Some((snapshot, self.model.committed.clone()));
                self.event("hold snapshot".into());
            }
            Err(e) => self.snapshot_error("hold snapshot", &e),
        }
    }

    fn check_snapshot(&mut self) {
        let Some((snapshot, expected)) = self.held.take() else {
            return;
        };
        match read_state(&snapshot) {
            Ok(actual) => {
                if let Some(d) = expected.diff(&actual) {
                    self.fail("snapshots are stable", d);
                }
                self.event("checked held snapshot".into());
            }
            Err(e) => {
                drop(snapshot);
                self.snapshot_error("read held snapshot", &e);
            }
        }
    }

    // ---- Faults, crashes, restarts -------------------------------------------------------

    fn arm_crash(&mut self, after: u16, kind: u8) {
        let at = self.disk.io_ops_total() + 1 + u64::from(after % 512);
        self.disk.set_halt_plan(HaltPlan {
            at_io_op: Some(at),
            at_crash_point: None,
        });
        self.armed_kind = crash_kind(kind);
        self.event(format!("arm {:?} at io op {at}", self.armed_kind));
    }

    /// Layout: bits 0-3 switch sync, write, read and space faults on (all clear: off);
    /// bits 4-5 pick their probability. At 1.0 the next such IO fails for certain (a
    /// commit in doubt); recovery switches faults off after three failed attempts.
    fn set_faults(&mut self, mode: u8) {
        let probability = [0.01, 0.05, 0.2, 1.0][usize::from(mode >> 4) & 3];
        let on = |bit: u8| if mode & bit != 0 { probability } else { 0.0 };
        let faults = FaultConfig {
            sync_eio_probability: on(1),
            write_eio_probability: on(2),
            read_eio_probability: on(4),
            enospc_probability: on(8),
            ..FaultConfig::default()
        };
        self.event(format!("faults {faults:?}"));
        self.disk.set_fault_config(faults);
    }

    fn reopen(&mut self, clean: bool) {
        self.txn = None;
        self.held = None;
        let db = self.db.take().expect("open");
        self.event(format!("reopen (clean: {clean})"));
        if clean {
            if let Err(kiln::CheckpointError::Storage(e)) = db.close() {
                let error = TxnError::Storage(e);
                self.event(format!("close failed: {error}"));
                self.db = None;
                // The handle is gone either way: restart as after any stop.
                let kind = if self.disk.is_halted() {
                    self.armed_kind
                } else {
                    self.classify_without_db("close", &error);
                    CrashKind::Process
                };
                return self.crash_and_recover(kind);
            }
        } else {
            // Dropping the handle is a close without a checkpoint; it releases the lock.
            drop(db);
        }
        self.recover();
    }

    /// [`Harness::classify`] for when no database handle is left: any explained error
    /// means a restart.
    fn classify_without_db(&mut self, what: &str, error: &TxnError) {
        let faulted = self.fault_total() > self.faults_seen;
        match error.storage() {
            Some(e) if e.is_corruption() => {
                self.fail("no corruption without a bit flip", format!("{what}: {e}"))
            }
            Some(_) if faulted => {}
            _ => self.fail("no unexpected errors", format!("{what}: {error}")),
        }
    }

    /// The engine stopped (disk halted) or failed (injected fault): restart it.
    fn restart(&mut self) {
        let kind = if self.disk.is_halted() {
            self.armed_kind
        } else {
            CrashKind::Process
        };
        self.crash_and_recover(kind);
    }

    fn crash_and_recover(&mut self, kind: CrashKind) {
        self.crash(kind);
        self.recover();
    }

    fn crash(&mut self, kind: CrashKind) {
        self.txn = None;
        self.held = None;
        self.db = None;
        let report = self.disk.crash(kind);
        self.report.crashes += 1;
        self.event(format!(
            "crash {kind:?}: writes survived {} lost {} torn {}",
            report.writes_survived, report.writes_lost, report.writes_torn
        ));
    }

    /// Opens (recovering) and checks the recovered state against the model, crashing and
    /// retrying when an armed crash or an injected fault interrupts it. After three
    /// interrupted attempts the faults go off, so recovery itself always gets checked.
    fn recover(&mut self) {
        let faults = self.disk.fault_config();
        for attempt in 1..=10 {
            if attempt > 3 {
                self.disk.set_fault_config(FaultConfig::default());
            }
            match self.open_and_verify() {
                Ok(()) => {
                    self.disk.set_fault_config(faults);
                    self.faults_seen = self.fault_total();
                    return;
                }
                Err(kind) => self.crash(kind),
            }
        }
        self.fail("recovery succeeds", "ten attempts to recover failed");
    }

    /// One attempt; `Err(kind)` asks for a crash of that kind and another attempt.
    fn open_and_verify(&mut self) -> Result<(), CrashKind> {
        let db = match Database::open(self.env.clone(), Path::new(DB_DIR), self.config.clone()) {
            Ok(db) => db,
            Err(e) => {
                self.event(format!("open failed: {e}"));
                return Err(self.interrupted("recovery", &e.to_string(), open_storage(&e)));
            }
        };
        let stats = db.stats().recovery;
        self.event(format!(
            "recovered: records {} committed {} discarded {}",
            stats.records_replayed, stats.transactions_committed, stats.transactions_discarded
        ));
        let read = db
            .begin_read()
            .and_then(|s| Ok((read_state(&s)?, table_ids(&s))));
        let (actual, ids) = match read {
            Ok(found) => found,
            Err(e) => {
                return Err(self.interrupted(
                    "reading the recovered state",
                    &e.to_string(),
                    e.storage(),
                ))
            }
        };
        match self.model.resolve(&actual) {
            Ok(how) => {
                self.report.recoveries += 1;
                self.event(format!("recovered state matches ({how})"));
            }
            Err(d) => self.fail("durability and atomicity", d),
        }
        let highest = ids.into_iter().max().unwrap_or(0);
        self.max_committed_table_id = self.max_committed_table_id.max(highest);
        match db.check_integrity() {
            Ok(report) if report.is_ok() => {}
            Ok(report) => self.fail("structural integrity", report.problems.join("; ")),
            Err(e) => return Err(self.interrupted("integrity check", &e.to_string(), Some(&e))),
        }
        self.db = Some(db);
        Ok(())
    }

    /// Decides whether an error during recovery is explained by a crash or a fault (and
    /// which crash to apply before retrying), or is a failure.
    fn interrupted(
        &mut self,
        what: &str,
        error: &str,
        storage: Option<&StorageError>,
    ) -> CrashKind {
        if self.disk.is_halted() {
            return self.armed_kind;
        }
        let faulted = self.fault_total() > self.faults_seen;
        match storage {
            Some(e) if e.is_corruption() => {
                self.fail("no corruption without a bit flip", format!("{what}: {e}"))
            }
            Some(_) if faulted => {
                self.faults_seen = self.fault_total();
                CrashKind::Process
            }
            _ => self.fail("recovery succeeds", format!("{what}: {error}")),
        }
    }

    /// The end of every input: whatever is open is lost to a crash, and the recovered
    /// state must be the committed one.
    fn finish(mut self, kind: CrashKind) -> EngineOpsReport {
        self.event("final crash".into());
        self.crash_and_recover(kind);
        self.report.faults_injected = self.fault_total();
        self.report
    }
}

fn open_storage(error: &kiln::OpenError) -> Option<&StorageError> {
    match error {
        kiln::OpenError::Storage(e) => Some(e),
        _ => None,
    }
}

fn crash_kind(b: u8) -> CrashKind {
    if b & 1 == 0 {
        CrashKind::Process
    } else {
        CrashKind::PowerLoss
    }
}

fn column_type(b: u8) -> ColumnType {
    match b % 5 {
        0 => ColumnType::Int64,
        1 => ColumnType::Float64,
        2 => ColumnType::Bool,
        3 => ColumnType::Text,
        _ => ColumnType::Bytes,
    }
}

fn pick_row(view: &State, table: u8, row: u16) -> Option<(String, kiln::RowId)> {
    let name = view.table_name(u32::from(table))?;
    let id = view.row_id(&name, u32::from(row))?;
    Some((name, id))
}

/// A row of values for `columns`, drawn from the input.
fn draw_row(input: &mut ByteSource<'_>, columns: &[(ColumnType, bool)]) -> Vec<Value> {
    columns
        .iter()
        .map(|&(t, nullable)| draw_value(input, t, nullable))
        .collect()
}

fn draw_value(input: &mut ByteSource<'_>, t: ColumnType, nullable: bool) -> Value {
    let b = input.u8();
    if nullable && b & 0x07 == 0 {
        return Value::Null;
    }
    match t {
        ColumnType::Int64 => Value::Int64(draw_i64(input, b >> 3)),
        ColumnType::Float64 => Value::Float64(draw_f64(input, b >> 3)),
        ColumnType::Bool => Value::Bool(b & 0x08 != 0),
        ColumnType::Text => {
            let len = draw_text_len(input, b >> 3);
            let seed = usize::from(input.u8());
            Value::Text(text_of(len, seed))
        }
        ColumnType::Bytes => {
            let len = draw_text_len(input, b >> 3);
            let seed = usize::from(input.u8());
            Value::Bytes((0..len).map(|i| (seed * 31 + i * 17) as u8).collect())
        }
    }
}

fn draw_i64(input: &mut ByteSource<'_>, class: u8) -> i64 {
    match class % 4 {
        0 => i64::from(input.u8() as i8),
        1 => [0, 1, -1, i64::MIN, i64::MAX][usize::from(input.u8()) % 5],
        _ => input.u64() as i64,
    }
}

fn draw_f64(input: &mut ByteSource<'_>, class: u8) -> f64 {
    const SPECIAL: [f64; 8] = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        1.5,
    ];
    match class % 4 {
        0 => SPECIAL[usize::from(input.u8()) % SPECIAL.len()],
        1 => f64::from(input.u8() as i8),
        _ => f64::from_bits(input.u64()),
    }
}

/// Lengths: mostly short, sometimes a few hundred (rows that outgrow their page and
/// move), rarely thousands (rows near and past the page limit).
fn draw_text_len(input: &mut ByteSource<'_>, class: u8) -> usize {
    match class % 8 {
        0..=3 => usize::from(input.u8() % 24),
        4..=6 => usize::from(input.u16()) % 400,
        _ => usize::from(input.u16()) % VALUE_CHARS_MAX,
    }
}

/// Text of `len` characters, some of them multi-byte and one NUL.
fn text_of(len: usize, seed: usize) -> String {
    const ALPHABET: [char; 8] = ['a', 'k', 'z', ' ', 'é', '€', '😀', '\0'];
    (0..len)
        .map(|i| ALPHABET[(seed + i * 7) % ALPHABET.len()])
        .collect()
}

/// Every row of one table as a snapshot sees it.
fn read_table(
    snapshot: &ReadTxn,
    name: &str,
) -> Result<BTreeMap<kiln::RowId, Vec<Value>>, TxnError> {
    let t = snapshot.table(DATABASE, SCHEMA, name)?;
    Ok(snapshot.scan(&t)?.into_iter().collect())
}

/// The whole state of the run's schema as a snapshot sees it.
fn read_state(snapshot: &ReadTxn) -> Result<State, TxnError> {
    let catalog = snapshot.catalog();
    let mut state = State::default();
    let Some(db) = catalog.database_by_name(DATABASE) else {
        return Ok(state);
    };
    let Some(schema) = catalog.schema_by_name(db.id, SCHEMA) else {
        return Ok(state);
    };
    let tables: Vec<_> = catalog
        .tables()
        .filter(|t| t.schema_id == schema.id)
        .cloned()
        .collect();
    for def in tables {
        let columns = def
            .live_columns()
            .map(|c| (c.column_type, c.nullable))
            .collect();
        let rows = read_table(snapshot, &def.name)?;
        state
            .tables
            .insert(def.name.clone(), TableState { columns, rows });
    }
    Ok(state)
}

fn table_ids(snapshot: &ReadTxn) -> Vec<u64> {
    snapshot.catalog().tables().map(|t| t.id).collect()
}

// ---- The engine_ops model -----------------------------------------------------------------

/// What `engine_ops` expects the database to hold: tables of its one schema by name,
/// rows by id. Deliberately its own, in plain `BTreeMap`s: it shares no code with the
/// engine, and does not follow the simulator's model (which grows with the DDL the
/// simulator exercises and this target does not).
#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    tables: BTreeMap<String, TableState>,
}

#[derive(Clone, Debug, PartialEq)]
struct TableState {
    columns: Vec<(ColumnType, bool)>,
    rows: BTreeMap<kiln::RowId, Vec<Value>>,
}

impl State {
    /// The name of the table a selector picks, if there are tables.
    fn table_name(&self, selector: u32) -> Option<String> {
        let count = self.tables.len();
        (count > 0).then(|| {
            let index = selector as usize % count;
            self.tables.keys().nth(index).cloned().expect("in range")
        })
    }

    /// The row a selector picks in a table, if it has rows.
    fn row_id(&self, table: &str, selector: u32) -> Option<kiln::RowId> {
        let rows = &self.tables.get(table)?.rows;
        let count = rows.len();
        (count > 0).then(|| {
            *rows
                .keys()
                .nth(selector as usize % count)
                .expect("in range")
        })
    }

    /// The first difference between `self` (expected) and `actual`, for a human.
    fn diff(&self, actual: &State) -> Option<String> {
        let expected_names: Vec<&String> = self.tables.keys().collect();
        let actual_names: Vec<&String> = actual.tables.keys().collect();
        if expected_names != actual_names {
            return Some(format!(
                "tables differ: expected {expected_names:?}, found {actual_names:?}"
            ));
        }
        self.tables.iter().find_map(|(name, expected)| {
            let found = &actual.tables[name];
            if expected.columns != found.columns {
                return Some(format!(
                    "table {name}: columns {:?}, expected {:?}",
                    found.columns, expected.columns
                ));
            }
            diff_rows(&expected.rows, &found.rows).map(|d| format!("table {name}: {d}"))
        })
    }
}

/// The first difference between two tables' rows.
fn diff_rows(
    expected: &BTreeMap<kiln::RowId, Vec<Value>>,
    actual: &BTreeMap<kiln::RowId, Vec<Value>>,
) -> Option<String> {
    for (id, e) in expected {
        match actual.get(id) {
            None => return Some(format!("row {id:#x} is missing (lost write)")),
            Some(a) if !same_row(e, a) => {
                return Some(format!("row {id:#x} is {a:?}, expected {e:?}"));
            }
            Some(_) => {}
        }
    }
    actual
        .keys()
        .find(|id| !expected.contains_key(id))
        .map(|id| format!("row {id:#x} should not exist (phantom)"))
}

/// Rows equal value by value, floats by bits (NaN is NaN; 0.0 is not -0.0).
fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

/// The committed state and, while a commit is in doubt, the state it would produce.
#[derive(Debug, Default)]
struct Model {
    committed: State,
    maybe: Option<State>,
    /// Tables ever named, so every new table gets a fresh name.
    tables_created: u64,
}

impl Model {
    fn commit_in_doubt(&mut self, state: State) {
        assert!(self.maybe.is_none(), "two commits in doubt at once");
        self.maybe = Some(state);
    }

    /// After recovery: `actual` must be the committed state or the in-doubt commit's
    /// (which then becomes the committed state), whole.
    fn resolve(&mut self, actual: &State) -> Result<&'static str, String> {
        let Some(maybe) = self.maybe.take() else {
            return self.committed.diff(actual).map_or(Ok("committed"), Err);
        };
        let Some(without) = self.committed.diff(actual) else {
            return Ok("in-doubt commit absent");
        };
        let Some(with) = maybe.diff(actual) else {
            self.committed = maybe;
            return Ok("in-doubt commit present");
        };
        Err(format!(
            "recovered state is neither the committed one ({without}) nor the in-doubt \
             commit's ({with})"
        ))
    }
}

// ---- sim_plan ----------------------------------------------------------------------------

/// Steps a `sim_plan` input builds at most, and operations per transaction.
pub const PLAN_STEPS_MAX: usize = 48;
const PLAN_TXN_OPS_MAX: usize = 8;

/// What a step byte means (taken modulo 16). Frozen, like [`OPCODES`].
#[rustfmt::skip]
const STEP_KINDS: [StepKind; 16] = {
    use StepKind::*;
    [
        Txn, Txn, Txn, Txn, Txn, Dispatch, Checkpoint, Reopen, // 0-7
        Read, Hold, Release, ArmCrash, ArmCrashPoint, Crash, Corrupt, Txn, // 8-15
    ]
};

/// The kinds of simulator step a `sim_plan` input can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Txn,
    /// One DDL command through the dispatcher.
    Dispatch,
    Checkpoint,
    Reopen,
    Read,
    Hold,
    Release,
    ArmCrash,
    ArmCrashPoint,
    Crash,
    Corrupt,
}

impl StepKind {
    /// The first step byte that means this kind (for building seeds).
    pub fn code(self) -> u8 {
        STEP_KINDS
            .iter()
            .position(|&k| k == self)
            .expect("every kind has a code") as u8
    }
}

/// What an operation byte inside a transaction means (taken modulo 16). Frozen.
#[rustfmt::skip]
const TXN_OP_KINDS: [TxnOpKind; 16] = {
    use TxnOpKind::*;
    [
        Ddl, Ddl, Ddl, Insert, Insert, Insert, Insert, Update, // 0-7
        Update, Delete, Get, Scan, Insert, Update, Delete, Ddl, // 8-15
    ]
};

/// The kinds of operation inside a `sim_plan` transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOpKind {
    /// A DDL operation: its own byte picks which (see [`draw_ddl_op`]).
    Ddl,
    Insert,
    Update,
    Delete,
    Get,
    Scan,
}

impl TxnOpKind {
    /// The first operation byte that means this kind (for building seeds).
    pub fn code(self) -> u8 {
        TXN_OP_KINDS
            .iter()
            .position(|&k| k == self)
            .expect("every kind has a code") as u8
    }
}

/// Builds the plan a `sim_plan` input describes: a seed (u16), then steps. Like every
/// generated plan it starts by creating a table, so later steps have one to work on.
pub fn plan_from_bytes(data: &[u8]) -> (u64, Plan) {
    let mut input = ByteSource::new(data);
    let seed = u64::from(input.u16());
    let mut steps = vec![Step::Txn {
        ops: vec![TxnOp::CreateTable {
            schema: 0,
            columns: vec![(ColType::Int64, false), (ColType::Text, true)],
            reuse_name: false,
            if_not_exists: false,
        }],
        commit: true,
    }];
    while !input.is_empty() && steps.len() < PLAN_STEPS_MAX {
        steps.push(draw_step(&mut input));
    }
    (seed, Plan { steps })
}

/// Layout: a kind byte (see [`STEP_KINDS`]), then the kind's arguments.
fn draw_step(input: &mut ByteSource<'_>) -> Step {
    match STEP_KINDS[input.below(STEP_KINDS.len())] {
        StepKind::Txn => {
            let count = 1 + input.below(PLAN_TXN_OPS_MAX);
            let ops = (0..count).map(|_| draw_txn_op(input)).collect();
            Step::Txn {
                ops,
                commit: !input.u8().is_multiple_of(8),
            }
        }
        StepKind::Dispatch => Step::Dispatch {
            op: draw_ddl_op(input),
        },
        StepKind::Checkpoint => Step::Checkpoint,
        StepKind::Reopen => Step::Reopen,
        StepKind::Read => Step::Read {
            table: u32::from(input.u8()),
        },
        // The runner keeps two snapshot slots.
        StepKind::Hold => Step::HoldSnapshot {
            slot: input.u8() % 2,
        },
        StepKind::Release => Step::ReleaseSnapshot {
            slot: input.u8() % 2,
        },
        StepKind::ArmCrash => Step::ArmCrash {
            after: 1 + u32::from(input.u8()),
            kind: crash_kind(input.u8()),
        },
        StepKind::ArmCrashPoint => Step::ArmCrashPoint {
            name: kiln::CRASH_POINTS[input.below(kiln::CRASH_POINTS.len())].to_string(),
            kind: crash_kind(input.u8()),
        },
        StepKind::Crash => Step::Crash {
            kind: crash_kind(input.u8()),
        },
        StepKind::Corrupt => Step::Corrupt {
            target: [
                CorruptTarget::Images,
                CorruptTarget::Manifest,
                CorruptTarget::Wal,
            ][input.below(3)],
            pick: input.u64(),
        },
    }
}

/// Layout: a kind byte (see [`TXN_OP_KINDS`]), then a selector byte, then the kind's
/// arguments.
fn draw_txn_op(input: &mut ByteSource<'_>) -> TxnOp {
    let kind = TXN_OP_KINDS[input.below(TXN_OP_KINDS.len())];
    if kind == TxnOpKind::Ddl {
        return draw_ddl_op(input);
    }
    let table = u32::from(input.u8());
    match kind {
        TxnOpKind::Insert => TxnOp::Insert {
            table,
            values: u64::from(input.u32()),
        },
        TxnOpKind::Update => TxnOp::Update {
            table,
            row: u32::from(input.u8()),
            values: u64::from(input.u32()),
        },
        TxnOpKind::Delete => TxnOp::Delete {
            table,
            row: u32::from(input.u8()),
        },
        TxnOpKind::Get => TxnOp::Get {
            table,
            row: u32::from(input.u8()),
        },
        TxnOpKind::Scan | TxnOpKind::Ddl => TxnOp::Scan { table },
    }
}

/// Flags of a DDL operation: bit 0 aims at an existing or a missing name (`reuse_name`,
/// `missing`), bit 1 adds IF [NOT] EXISTS, bit 2 CASCADE.
struct DdlFlags(u8);

impl DdlFlags {
    fn odd(&self) -> bool {
        self.0 & 1 != 0
    }

    fn exists(&self) -> bool {
        self.0 & 2 != 0
    }

    fn cascade(&self) -> bool {
        self.0 & 4 != 0
    }
}

/// Layout: a kind byte (modulo 9, mostly tables), a flags byte ([`DdlFlags`]), a
/// selector byte, then the kind's arguments.
fn draw_ddl_op(input: &mut ByteSource<'_>) -> TxnOp {
    let kind = input.below(9);
    let flags = DdlFlags(input.u8());
    let selector = u32::from(input.u8());
    match kind {
        0 => draw_create_table(input, selector, &flags),
        1 => TxnOp::DropTable {
            table: selector,
            missing: flags.odd(),
            if_exists: flags.exists(),
        },
        2 => TxnOp::CreateDatabase {
            reuse_name: flags.odd(),
            if_not_exists: flags.exists(),
        },
        3 => TxnOp::DropDatabase {
            database: selector,
            missing: flags.odd(),
            if_exists: flags.exists(),
            cascade: flags.cascade(),
        },
        4 => TxnOp::CreateSchema {
            database: selector,
            reuse_name: flags.odd(),
            if_not_exists: flags.exists(),
        },
        5 => TxnOp::DropSchema {
            schema: selector,
            missing: flags.odd(),
            if_exists: flags.exists(),
            cascade: flags.cascade(),
        },
        6 => TxnOp::AlterTable {
            table: selector,
            action: draw_alter_op(input, &flags),
        },
        7 => TxnOp::CreateIndex {
            table: selector,
            column: u32::from(input.u8()),
            reuse_name: flags.odd(),
            missing_column: flags.cascade(),
        },
        _ => TxnOp::DropIndex {
            schema: selector,
            if_exists: flags.exists(),
        },
    }
}

const PLAN_TYPES: [ColType; 5] = [
    ColType::Int64,
    ColType::Float64,
    ColType::Bool,
    ColType::Text,
    ColType::Bytes,
];

/// Layout: column count - 1 (modulo 6), then a byte per column (type modulo 5, 0x80
/// nullable; as the generator does, the first column is never nullable).
fn draw_create_table(input: &mut ByteSource<'_>, schema: u32, flags: &DdlFlags) -> TxnOp {
    let count = 1 + input.below(6);
    let columns = (0..count)
        .map(|i| {
            let b = input.u8();
            let column_type = PLAN_TYPES[usize::from(b) % PLAN_TYPES.len()];
            (column_type, i > 0 && b & 0x80 != 0)
        })
        .collect();
    TxnOp::CreateTable {
        schema,
        columns,
        reuse_name: flags.odd(),
        if_not_exists: flags.exists(),
    }
}

/// Layout: a kind byte (modulo 4), then the kind's arguments.
fn draw_alter_op(input: &mut ByteSource<'_>, flags: &DdlFlags) -> AlterOp {
    match input.below(4) {
        0 => {
            let b = input.u8();
            AlterOp::AddColumn {
                column_type: PLAN_TYPES[usize::from(b) % PLAN_TYPES.len()],
                nullable: b & 0x80 != 0,
                reuse_name: flags.odd(),
                if_not_exists: flags.exists(),
            }
        }
        1 => AlterOp::DropColumn {
            column: u32::from(input.u8()),
            missing: flags.odd(),
            if_exists: flags.exists(),
        },
        2 => AlterOp::RenameColumn {
            column: u32::from(input.u8()),
            reuse_name: flags.odd(),
        },
        _ => AlterOp::RenameTable {
            reuse_name: flags.odd(),
        },
    }
}

/// Fuzz target `sim_plan`: runs the plan [`plan_from_bytes`] builds under the default
/// scenario's draw for its seed, and panics if the simulator reports a failure. A run
/// that ends in detected (injected) corruption passes.
pub fn sim_plan(data: &[u8]) {
    sim_plan_report(data);
}

/// [`sim_plan`], returning the simulator's report (whose counters say what ran).
pub fn sim_plan_report(data: &[u8]) -> RunReport {
    let (seed, plan) = plan_from_bytes(data);
    let config = Scenario::default().draw(seed);
    let report = runner::run(&config, &plan, RunOptions::default());
    if let Outcome::Failed(failure) = &report.outcome {
        panic!(
            "sim_plan: seed {seed}: {failure:?}\nlast events:\n  {}\nplan: {}",
            report.trace_tail.join("\n  "),
            serde_json::to_string(&plan).expect("plans serialize")
        );
    }
    report
}

// ---- Seed corpus -------------------------------------------------------------------------

/// The fuzz targets, by the names of their `fuzz/fuzz_targets/*.rs` files.
pub const TARGETS: [&str; 7] = [
    "wal_record",
    "manifest",
    "heap_page",
    "row",
    "engine_ops",
    "sim_plan",
    "canary",
];

/// Runs the body of fuzz target `target` on `data`.
pub fn run_target(target: &str, data: &[u8]) {
    match target {
        "wal_record" => wal_record(data),
        "manifest" => manifest(data),
        "heap_page" => heap_page(data),
        "row" => row(data),
        "engine_ops" => engine_ops(data),
        "sim_plan" => sim_plan(data),
        "canary" => canary(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// One seed input: its target, a file name saying what it is, and its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The seed corpus: real WAL records, segment headers, manifests, page images and rows
/// of a small database built on a simulated disk, plus hand-built operation sequences and
/// plans. Deterministic. `tests/tests/fuzz_corpus.rs` writes it to `fuzz/corpus/` when
/// asked to regenerate.
pub fn seed_corpus() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let images = build_seed_database();
    seeds.extend(wal_seeds(&images));
    seeds.extend(manifest_seeds(&images));
    seeds.extend(page_seeds(&images));
    seeds.extend(row_seeds());
    seeds.extend(engine_ops_seeds());
    seeds.extend(sim_plan_seeds());
    seeds.extend(canary_seeds());
    seeds
}

fn seed(target: &'static str, name: &str, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.to_string(),
        bytes,
    }
}

/// The durable files of the seed database.
struct SeedImages {
    manifests: Vec<Vec<u8>>,
    image_store: Vec<u8>,
    wal_segments: Vec<Vec<u8>>,
}

/// The user table of the seed database.
const SEED_TYPES: [ColumnType; 5] = [
    ColumnType::Int64,
    ColumnType::Text,
    ColumnType::Bytes,
    ColumnType::Bool,
    ColumnType::Float64,
];

fn seed_rows() -> Vec<Vec<Value>> {
    vec![
        vec![
            Value::Int64(1),
            Value::Text("kiln".into()),
            Value::Bytes(vec![0, 1, 2, 255]),
            Value::Bool(true),
            Value::Float64(1.5),
        ],
        vec![
            Value::Int64(-7),
            Value::Null,
            Value::Null,
            Value::Bool(false),
            Value::Float64(f64::NAN),
        ],
        vec![
            Value::Int64(i64::MAX),
            Value::Text("é€😀".into()),
            Value::Bytes(Vec::new()),
            Value::Null,
            Value::Float64(-0.0),
        ],
    ]
}

fn build_seed_database() -> SeedImages {
    let disk = SimDisk::new(
        DeviceConfig {
            sector_size_bytes: 512,
            sector_write_atomic: true,
        },
        FaultConfig::default(),
        stream(1, Stream::Faults),
    );
    let env = disk.env(SimClock::new(), 1);
    let config = kiln::Config::default()
        .with_wal_segment_size_bytes(64 << 10)
        .with_cache_size_bytes(64 * kiln::PAGE_SIZE_BYTES as u64);
    let db = Database::open(env, Path::new(DB_DIR), config).expect("seed database opens");
    let manifest_path = Path::new(DB_DIR).join("MANIFEST");
    let first_manifest = disk.current_image(&manifest_path).expect("a manifest");
    let mut tx = db.begin_write().expect("begin");
    tx.create_database(DATABASE).expect("create database");
    let specs: Vec<ColumnSpec> = SEED_TYPES
        .iter()
        .enumerate()
        .map(|(i, &t)| ColumnSpec::new(&format!("c{i}"), t, i > 0))
        .collect();
    let table = tx
        .create_table(DATABASE, SCHEMA, "t0", &specs)
        .expect("create table");
    let mut ids = Vec::new();
    for values in seed_rows() {
        ids.push(tx.insert(&table, &values).expect("insert"));
    }
    tx.commit().expect("commit");
    db.checkpoint().expect("checkpoint");
    let mut tx = db.begin_write().expect("begin");
    let mut moved = seed_rows()[0].clone();
    moved[1] = Value::Text("x".repeat(5000));
    tx.update(&table, ids[0], &moved).expect("update");
    tx.delete(&table, ids[1]).expect("delete");
    tx.commit().expect("commit");
    let mut tx = db.begin_write().expect("begin");
    tx.insert(&table, &seed_rows()[2]).expect("insert");
    tx.abort();
    // Rows of 5000 bytes: new pages linked into the heap, and enough log to rotate into a
    // second segment (an end-of-segment record).
    let mut tx = db.begin_write().expect("begin");
    for _ in 0..14 {
        tx.insert(&table, &moved).expect("insert");
    }
    tx.commit().expect("commit");
    // A dropped table frees its pages.
    let mut tx = db.begin_write().expect("begin");
    let dropped = tx
        .create_table(DATABASE, SCHEMA, "t1", &specs[..1])
        .expect("create table");
    tx.insert(&dropped, &seed_rows()[0][..1]).expect("insert");
    tx.commit().expect("commit");
    let mut tx = db.begin_write().expect("begin");
    tx.drop_table(DATABASE, SCHEMA, "t1").expect("drop table");
    tx.commit().expect("commit");
    let mut wal_paths: Vec<_> = disk
        .file_paths()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("wal-"))
        })
        .collect();
    wal_paths.sort();
    SeedImages {
        manifests: vec![
            first_manifest,
            disk.current_image(&manifest_path).expect("a manifest"),
        ],
        image_store: disk
            .current_image(&Path::new(DB_DIR).join("pages.kiln"))
            .expect("an image store"),
        wal_segments: wal_paths
            .iter()
            .filter_map(|p| disk.current_image(p))
            .collect(),
    }
}

/// The segment header, the first record of every kind, and a header followed by the
/// first records (what recovery walks), up to 1 KiB.
fn wal_seeds(images: &SeedImages) -> Vec<Seed> {
    let Some(first) = images.wal_segments.first() else {
        return Vec::new();
    };
    let mut seeds = vec![seed(
        "wal_record",
        "segment-header",
        first[..WAL_SEGMENT_HEADER_BYTES].to_vec(),
    )];
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (index, segment) in images.wal_segments.iter().enumerate() {
        let mut at = WAL_SEGMENT_HEADER_BYTES;
        let mut prefix_end = at;
        while let Some(rest) = segment.get(at..) {
            let Ok((kind, _, payload_len)) = kiln::decode::wal_record(rest) else {
                break;
            };
            let size = (WAL_RECORD_HEADER_BYTES + payload_len).next_multiple_of(8);
            if kinds_seen.insert(kind) {
                let record = rest[..size.min(rest.len())].to_vec();
                seeds.push(seed("wal_record", &format!("record-kind-{kind}"), record));
            }
            at += size;
            if at <= 1024 {
                prefix_end = at;
            }
        }
        if index == 0 {
            seeds.push(seed(
                "wal_record",
                "segment-prefix",
                segment[..prefix_end].to_vec(),
            ));
        }
    }
    seeds
}

fn manifest_seeds(images: &SeedImages) -> Vec<Seed> {
    let names = ["manifest-new-database", "manifest-after-checkpoint"];
    names
        .iter()
        .zip(&images.manifests)
        .map(|(name, bytes)| seed("manifest", name, bytes.clone()))
        .collect()
}

/// The user table's page and two catalog pages, each behind its column types.
fn page_seeds(images: &SeedImages) -> Vec<Seed> {
    use ColumnType::{Bool, Int64, Text};
    let manifest = images.manifests.last().expect("a manifest");
    let table = kiln::decode::manifest_page_table(manifest).expect("the seed manifest decodes");
    let page_bytes = kiln::PAGE_SIZE_BYTES;
    let image = |slot: u64| {
        let start = slot as usize * page_bytes;
        images.image_store.get(start..start + page_bytes)
    };
    // Catalog relations live at fixed root pages (docs/FORMAT.md): catalog_tables at 3,
    // catalog_columns at 4. The first user page follows the system roots.
    let wanted: [(&str, u64, &[ColumnType]); 3] = [
        ("catalog-tables-page", 3, &[Int64, Int64, Text, Int64]),
        (
            "catalog-columns-page",
            4,
            &[Int64, Int64, Int64, Text, Int64, Bool, Bool],
        ),
        ("user-table-page", 7, &SEED_TYPES),
    ];
    let mut seeds = Vec::new();
    for (name, page_id, types) in wanted {
        let Some(&(_, slot)) = table.iter().find(|(id, _)| *id == page_id) else {
            continue;
        };
        if let Some(bytes) = image(slot) {
            seeds.push(seed("heap_page", name, join_types(types, bytes)));
        }
    }
    seeds
}

fn row_seeds() -> Vec<Seed> {
    seed_rows()
        .iter()
        .enumerate()
        .map(|(i, values)| {
            let mut bytes = Vec::new();
            kiln::value::encode_row(values, &mut bytes);
            seed("row", &format!("row-{i}"), join_types(&SEED_TYPES, &bytes))
        })
        .collect()
}

/// Builds `engine_ops` inputs op by op, mirroring the decoder.
struct OpsBuilder {
    bytes: Vec<u8>,
}

impl OpsBuilder {
    /// Setup bytes: seed, device flags, engine knobs (see `Setup::draw`).
    fn new(seed: u16, flags: u8, knobs: u8) -> OpsBuilder {
        let mut bytes = seed.to_le_bytes().to_vec();
        bytes.extend([flags, knobs]);
        OpsBuilder { bytes }
    }

    fn op(mut self, kind: OpKind, args: &[u8]) -> OpsBuilder {
        self.bytes.push(kind.opcode());
        self.bytes.extend_from_slice(args);
        self
    }

    fn build(self) -> Vec<u8> {
        self.bytes
    }
}

fn engine_ops_seeds() -> Vec<Seed> {
    use OpKind::*;
    // Create: column count - 1 (modulo 4), then per column a byte: type = b % 5 (Int64,
    // Float64, Bool, Text, Bytes), 0x80 = nullable. Here: Int64 NOT NULL, Text NULL.
    let create = [1, 0, 0x80];
    // Insert: table selector, then per column a class byte and its payload (see
    // `draw_value`). Here: 5, then a 3-character text.
    let insert_int_text = [0, 0x00, 5, 0x01, 3, 7];
    // i64::MAX, then a 300-character text (rows that move when updated).
    let insert_long_text = [0, 0x08, 9, 0x21, 0x2c, 0x01, 3];
    let basic = OpsBuilder::new(1, 0, 0)
        .op(CreateTable, &create)
        .op(Insert, &insert_int_text)
        .op(Insert, &insert_long_text)
        .op(Commit, &[])
        .op(Update, &[0, 0, 0, 0x00, 42, 0x01, 5, 9])
        .op(Delete, &[0, 1, 0])
        .op(Scan, &[0])
        .op(Commit, &[])
        .op(Get, &[0, 0, 0])
        .build();
    let crash_mid_txn = OpsBuilder::new(2, 4, 0x13)
        .op(CreateTable, &create)
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        .op(Insert, &insert_int_text)
        .op(SnapshotRead, &[0])
        .op(Crash, &[1])
        .op(Scan, &[0])
        .build();
    let countdown = OpsBuilder::new(3, 1, 0x25)
        .op(CreateTable, &create)
        .op(Insert, &insert_long_text)
        .op(Commit, &[])
        .op(Insert, &insert_int_text)
        // Halts at the second IO operation from here: inside the commit (a commit in
        // doubt) as long as inserting does no IO and committing does at least two.
        .op(CrashAfter, &[0, 0, 1])
        .op(Commit, &[])
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        .op(CrashAfter, &[40, 0, 0])
        .op(Checkpoint, &[])
        .op(Insert, &insert_long_text)
        .op(Commit, &[])
        .build();
    let faults = OpsBuilder::new(4, 2, 0x06)
        .op(CreateTable, &create)
        .op(Commit, &[])
        // Every sync fails: the commit is in doubt for certain.
        .op(Faults, &[0x31])
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        .op(Faults, &[0x00])
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        // Every fault kind, one IO in five.
        .op(Faults, &[0x2f])
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        .op(Insert, &insert_long_text)
        .op(Commit, &[])
        .op(Checkpoint, &[])
        .op(Insert, &insert_int_text)
        .op(Commit, &[])
        .build();
    // One BYTES column; rows of 16 and 384 bytes.
    let snapshots = OpsBuilder::new(5, 0, 0x40)
        .op(CreateTable, &[0, 4])
        .op(Insert, &[0, 0x09, 0x40, 0x10])
        .op(Commit, &[])
        .op(HoldSnapshot, &[])
        .op(Insert, &[0, 0x21, 0x80, 0x01, 0x11])
        .op(Commit, &[])
        .op(Checkpoint, &[])
        .op(Reopen, &[0])
        .op(HoldSnapshot, &[])
        .op(DropTable, &[0])
        .op(Commit, &[])
        .op(CheckSnapshot, &[])
        .op(CreateTable, &[0, 0])
        .op(Abort, &[])
        .op(Reopen, &[1])
        .build();
    vec![
        seed("engine_ops", "basic-writes", basic),
        seed("engine_ops", "crash-inside-transaction", crash_mid_txn),
        seed("engine_ops", "crash-countdown", countdown),
        seed("engine_ops", "io-faults", faults),
        seed("engine_ops", "snapshots-drop-reopen", snapshots),
    ]
}

/// Builds `sim_plan` steps byte by byte, mirroring the decoder.
mod plan_bytes {
    use super::{StepKind, TxnOpKind};

    pub fn step(kind: StepKind, args: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind.code()];
        bytes.extend_from_slice(args);
        bytes
    }

    /// A transaction of `ops` (1 to 8), committed or aborted.
    pub fn txn(ops: &[Vec<u8>], commit: bool) -> Vec<u8> {
        let mut bytes = vec![StepKind::Txn.code(), (ops.len() - 1) as u8];
        bytes.extend(ops.concat());
        bytes.push(u8::from(commit));
        bytes
    }

    pub fn insert(table: u8, values: u32) -> Vec<u8> {
        let mut bytes = vec![TxnOpKind::Insert.code(), table];
        bytes.extend(values.to_le_bytes());
        bytes
    }

    pub fn update(table: u8, row: u8, values: u32) -> Vec<u8> {
        let mut bytes = vec![TxnOpKind::Update.code(), table, row];
        bytes.extend(values.to_le_bytes());
        bytes
    }

    pub fn delete(table: u8, row: u8) -> Vec<u8> {
        vec![TxnOpKind::Delete.code(), table, row]
    }

    /// A DDL operation's bytes (kind, flags, selector, arguments; see `draw_ddl_op`).
    pub fn ddl(kind: u8, flags: u8, selector: u8, args: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind, flags, selector];
        bytes.extend_from_slice(args);
        bytes
    }

    /// A DDL operation inside a transaction.
    pub fn ddl_in_txn(kind: u8, flags: u8, selector: u8, args: &[u8]) -> Vec<u8> {
        let mut bytes = vec![TxnOpKind::Ddl.code()];
        bytes.extend(ddl(kind, flags, selector, args));
        bytes
    }

    /// A DDL operation through the dispatcher.
    pub fn dispatch(kind: u8, flags: u8, selector: u8, args: &[u8]) -> Vec<u8> {
        step(StepKind::Dispatch, &ddl(kind, flags, selector, args))
    }
}

fn sim_plan_seeds() -> Vec<Seed> {
    use plan_bytes::{ddl_in_txn, delete, dispatch, insert, step, txn, update};
    use StepKind::*;
    let insert_two = txn(&[insert(0, 1), insert(0, 9)], true);
    let update_delete = txn(&[update(0, 0, 7), delete(0, 1)], true);
    // DDL kinds: 0 create table, 1 drop table, 2 create database, 3 drop database,
    // 4 create schema, 5 drop schema, 6 alter table, 7 create index, 8 drop index.
    // Flags: 1 existing/missing name, 2 IF [NOT] EXISTS, 4 CASCADE.
    let plans: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "writes-checkpoint-crash",
            vec![
                insert_two.clone(),
                step(Checkpoint, &[]),
                update_delete.clone(),
                step(Crash, &[1]),
                step(Read, &[0]),
            ],
        ),
        (
            "armed-crash-and-snapshots",
            vec![
                step(Hold, &[0]),
                insert_two.clone(),
                step(ArmCrash, &[20, 0]),
                update_delete.clone(),
                step(Release, &[0]),
                step(Reopen, &[]),
            ],
        ),
        (
            "crash-point-and-corruption",
            vec![
                insert_two.clone(),
                step(ArmCrashPoint, &[3, 1]),
                step(Checkpoint, &[]),
                update_delete.clone(),
                step(Checkpoint, &[]),
                step(Corrupt, &[0, 1, 2, 3, 4, 5, 6, 7, 8]),
            ],
        ),
        (
            "ddl-dispatch-and-crash",
            vec![
                dispatch(2, 0, 0, &[]),
                dispatch(4, 0, 0, &[]),
                // A table of Int64 and nullable Text in the picked schema.
                dispatch(0, 0, 1, &[1, 0, 0x83]),
                dispatch(6, 0, 0, &[0, 0x82]),
                dispatch(7, 0, 0, &[0]),
                insert_two.clone(),
                dispatch(0, 1, 0, &[0, 0]),
                dispatch(0, 3, 0, &[0, 0]),
                step(Crash, &[1]),
                dispatch(6, 0, 0, &[1, 1]),
                dispatch(6, 0, 0, &[2, 0]),
                dispatch(6, 0, 0, &[3]),
                dispatch(5, 4, 1, &[]),
                dispatch(3, 3, 0, &[]),
                step(Reopen, &[]),
            ],
        ),
        (
            "ddl-inside-transactions",
            vec![
                txn(
                    &[
                        ddl_in_txn(4, 0, 0, &[]),
                        ddl_in_txn(0, 0, 1, &[2, 0, 0x84, 0x81]),
                        insert(1, 5),
                    ],
                    true,
                ),
                txn(&[ddl_in_txn(6, 0, 1, &[0, 0x80]), insert(1, 6)], false),
                step(ArmCrash, &[4, 1]),
                txn(&[ddl_in_txn(1, 0, 1, &[]), insert(0, 3)], true),
                step(Read, &[1]),
            ],
        ),
    ];
    plans
        .into_iter()
        .enumerate()
        .map(|(i, (name, steps))| {
            let mut bytes = (i as u16 + 1).to_le_bytes().to_vec();
            bytes.extend(steps.concat());
            seed("sim_plan", name, bytes)
        })
        .collect()
}

fn canary_seeds() -> Vec<Seed> {
    vec![
        seed("canary", "almost-kiln", b"KILL".to_vec()),
        seed("canary", "short", b"KIL".to_vec()),
        seed("canary", "lowercase", b"kiln".to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    //! Goal: the frozen byte mapping and the CRC match what the corpus and the engine
    //! rely on. Not covered: the targets themselves (tests/tests/fuzz_corpus.rs replays
    //! the corpus through them).

    use super::*;

    #[test]
    fn crc32_is_the_ieee_crc() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn byte_source_reads_little_endian_then_zeros() {
        let mut input = ByteSource::new(&[1, 2, 3]);
        assert_eq!(input.u16(), 0x0201);
        assert_eq!(input.u16(), 3);
        assert!(input.is_empty());
        assert_eq!(input.u64(), 0);
    }

    #[test]
    fn split_types_inverts_join_types() {
        let joined = join_types(&SEED_TYPES, b"rest");
        let (types, rest) = split_types(&joined);
        assert_eq!(types, SEED_TYPES);
        assert_eq!(rest, b"rest");
    }
}
