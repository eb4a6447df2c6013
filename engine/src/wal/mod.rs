//! The write-ahead log: segmented, preallocated, checksummed, chained, group-committed.
//!
//! Appending a record only encodes it into an in-memory buffer (under a short lock) and
//! hands back its LSN. [`Wal::flush`] makes everything appended so far durable: the
//! first caller to arrive becomes the leader, takes the I/O lock, writes every buffered
//! byte and syncs once; callers that arrive while that fsync is in flight queue on the I/O
//! lock and, when they get it, usually find their records already durable, or sync
//! everything that accumulated meanwhile in one more fsync. That is group commit, with no
//! background thread.
//!
//! The format is in [`format`] and docs/FORMAT.md; reading back is in [`reader`].

pub mod format;
pub mod reader;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::env::{Clock, File, OpenOptions, Vfs};
use crate::health::Health;
use crate::{StorageError, StorageResult};

pub use format::Lsn;
use format::{
    encode_record, encode_record_with, record_size, segment_file_name, RecordHeader, SegmentHeader,
    KIND_END_OF_SEGMENT, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};

/// Where the next record goes, and what it must chain to. Recovery produces one (the end
/// of the valid log); checkpoints store one (where redo starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalPosition {
    pub segment_no: u64,
    pub offset: u64,
    pub next_lsn: Lsn,
    pub crc_prev: u32,
}

/// WAL sizing.
#[derive(Clone, Copy, Debug)]
pub struct WalConfig {
    pub segment_size_bytes: u64,
    /// Appended bytes buffered in memory before they are written out (without a sync).
    pub buffer_bytes_max: usize,
}

/// Counters for telemetry.
#[derive(Debug, Default)]
pub struct WalStats {
    pub records_appended: AtomicU64,
    pub bytes_appended: AtomicU64,
    pub flushes: AtomicU64,
    pub syncs: AtomicU64,
    pub flush_ns_total: AtomicU64,
    pub flush_ns_max: AtomicU64,
    pub segments_created: AtomicU64,
    pub segments_removed: AtomicU64,
}

/// The largest payload a record may carry in a segment of `segment_size_bytes`: the
/// record and the end-of-segment marker after it must fit behind the segment header.
pub fn payload_bytes_max(segment_size_bytes: u64) -> usize {
    segment_size_bytes as usize - SEGMENT_HEADER_BYTES - 2 * RECORD_HEADER_BYTES - 8
}

pub struct Wal {
    vfs: Arc<dyn Vfs>,
    clock: Arc<dyn Clock>,
    dir: PathBuf,
    database_id: u64,
    config: WalConfig,
    health: Arc<Health>,
    append: Mutex<AppendState>,
    io: Mutex<IoState>,
    /// Whether a flush leader is writing and syncing; committers whose records it may
    /// cover wait on `flushed` instead of queueing for the I/O lock.
    flushing: Mutex<FlushState>,
    flushed: Condvar,
    /// Signalled when a committer joins a leader's group: a leader gathering its group
    /// (`flush_commit`) re-counts then.
    arrived: Condvar,
    /// Every record with an LSN below this is durable.
    durable_lsn: AtomicU64,
    pub stats: WalStats,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("durable_lsn", &self.durable_lsn.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Group commit bookkeeping, under `Wal::flushing`.
#[derive(Default)]
struct FlushState {
    /// A leader is gathering, writing or syncing.
    leading: bool,
    /// Committers that joined the current leader's group (they wait for its sync).
    joined: usize,
    /// How many commits the previous leader's sync covered (itself included).
    last_group: usize,
}

struct AppendState {
    position: WalPosition,
    pending: Vec<Chunk>,
    pending_bytes: usize,
}

/// Bytes appended but not yet written, all for one segment and contiguous.
struct Chunk {
    segment_no: u64,
    offset: u64,
    /// The chunk opens a segment that does not exist on disk yet.
    creates_segment: bool,
    bytes: Vec<u8>,
}

struct IoState {
    files: BTreeMap<u64, Box<dyn File>>,
    unsynced: BTreeSet<u64>,
}

impl Wal {
    /// Creates the first segment of a new log and makes it durable.
    pub fn create(
        vfs: Arc<dyn Vfs>,
        clock: Arc<dyn Clock>,
        dir: &Path,
        database_id: u64,
        config: WalConfig,
        health: Arc<Health>,
    ) -> StorageResult<Wal> {
        let start = WalPosition {
            segment_no: 1,
            offset: SEGMENT_HEADER_BYTES as u64,
            next_lsn: 1,
            crc_prev: 0,
        };
        let wal = Wal::new(vfs, clock, dir, database_id, config, health, start);
        let header = wal.segment_header(1, 1, 0, 1);
        {
            let mut io = wal.io.lock().expect("wal io lock");
            wal.create_segment(&mut io, 1, &header, true)?;
        }
        Ok(wal)
    }

    /// Opens the log for appending at `position` (the end of the valid log, as recovery
    /// found it). The segment at `position` must exist.
    pub fn open_at(
        vfs: Arc<dyn Vfs>,
        clock: Arc<dyn Clock>,
        dir: &Path,
        database_id: u64,
        config: WalConfig,
        health: Arc<Health>,
        position: WalPosition,
    ) -> StorageResult<Wal> {
        let wal = Wal::new(vfs, clock, dir, database_id, config, health, position);
        {
            let mut io = wal.io.lock().expect("wal io lock");
            wal.file(&mut io, position.segment_no)?;
        }
        Ok(wal)
    }

    fn new(
        vfs: Arc<dyn Vfs>,
        clock: Arc<dyn Clock>,
        dir: &Path,
        database_id: u64,
        config: WalConfig,
        health: Arc<Health>,
        position: WalPosition,
    ) -> Wal {
        assert!(config.segment_size_bytes <= u32::MAX as u64);
        assert!(config.segment_size_bytes >= 4096);
        Wal {
            vfs,
            clock,
            dir: dir.to_path_buf(),
            database_id,
            config,
            health,
            append: Mutex::new(AppendState {
                position,
                pending: Vec::new(),
                pending_bytes: 0,
            }),
            io: Mutex::new(IoState {
                files: BTreeMap::new(),
                unsynced: BTreeSet::new(),
            }),
            flushing: Mutex::new(FlushState::default()),
            flushed: Condvar::new(),
            arrived: Condvar::new(),
            durable_lsn: AtomicU64::new(position.next_lsn),
            stats: WalStats::default(),
        }
    }

    fn segment_header(
        &self,
        segment_no: u64,
        first_lsn: Lsn,
        crc_prev: u32,
        durable_lsn: Lsn,
    ) -> SegmentHeader {
        SegmentHeader {
            segment_size_bytes: self.config.segment_size_bytes as u32,
            database_id: self.database_id,
            segment_no,
            first_lsn,
            crc_prev,
            durable_lsn,
        }
    }

    /// The file system the log lives on (also where crash points are reported).
    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.vfs
    }

    /// Every record with an LSN below this is durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn.load(Ordering::Acquire)
    }

    /// The position the next record will be appended at.
    pub fn position(&self) -> WalPosition {
        self.lock_append().position
    }

    /// The largest payload one record may carry.
    pub fn payload_bytes_max(&self) -> usize {
        payload_bytes_max(self.config.segment_size_bytes)
    }

    /// Appends a record to the in-memory buffer and returns its LSN. Writes the buffer out
    /// (without syncing) when it grows past its limit, so a large transaction holds a
    /// bounded amount of log in memory.
    pub fn append(&self, kind: u8, txn_id: u64, payload: &[u8]) -> StorageResult<Lsn> {
        self.append_with(kind, txn_id, payload.len(), |out| {
            out.extend_from_slice(payload)
        })
    }

    /// Like [`Wal::append`], with the payload written in place by `write`, which must
    /// append exactly `payload_len` bytes.
    pub fn append_with(
        &self,
        kind: u8,
        txn_id: u64,
        payload_len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> StorageResult<Lsn> {
        assert!(kind > KIND_END_OF_SEGMENT);
        assert!(payload_len <= self.payload_bytes_max());
        self.health.check()?;
        let size = record_size(payload_len);
        let (lsn, over_limit) = {
            let mut st = self.lock_append();
            let eos = record_size(0) as u64;
            if st.position.offset + size as u64 + eos > self.config.segment_size_bytes {
                self.rotate(&mut st);
            }
            let lsn = self.push_record(&mut st, kind, txn_id, payload_len, write);
            (lsn, st.pending_bytes > self.config.buffer_bytes_max)
        };
        self.stats.records_appended.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_appended
            .fetch_add(size as u64, Ordering::Relaxed);
        if over_limit {
            let mut io = self.lock_io();
            self.write_out(&mut io, false)?;
        }
        Ok(lsn)
    }

    /// Encodes one record at the append position.
    fn push_record(
        &self,
        st: &mut AppendState,
        kind: u8,
        txn_id: u64,
        payload_len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Lsn {
        let lsn = st.position.next_lsn;
        let header = RecordHeader {
            kind,
            lsn,
            txn_id,
            durable_lsn: self.durable_lsn(),
            crc_prev: st.position.crc_prev,
        };
        let chunk = Self::chunk_at(st, false);
        let before = chunk.bytes.len();
        let crc = encode_record_with(&mut chunk.bytes, &header, payload_len, write);
        let size = chunk.bytes.len() - before;
        st.pending_bytes += size;
        st.position.offset += size as u64;
        st.position.next_lsn += 1;
        st.position.crc_prev = crc;
        lsn
    }

    /// The pending chunk that ends at the append position, starting one if needed.
    fn chunk_at(st: &mut AppendState, creates_segment: bool) -> &mut Chunk {
        let pos = st.position;
        let contiguous = st.pending.last().is_some_and(|c| {
            c.segment_no == pos.segment_no && c.offset + c.bytes.len() as u64 == pos.offset
        });
        if !contiguous || creates_segment {
            st.pending.push(Chunk {
                segment_no: pos.segment_no,
                offset: pos.offset,
                creates_segment,
                bytes: Vec::new(),
            });
        }
        st.pending.last_mut().expect("a chunk was just ensured")
    }

    /// Closes the current segment with an end-of-segment record and starts the next one.
    fn rotate(&self, st: &mut AppendState) {
        let eos_lsn = self.push_record_eos(st);
        let next_no = st.position.segment_no + 1;
        let header = self.segment_header(
            next_no,
            eos_lsn + 1,
            st.position.crc_prev,
            self.durable_lsn(),
        );
        st.position.segment_no = next_no;
        st.position.offset = 0;
        let chunk = Self::chunk_at(st, true);
        chunk.bytes.extend_from_slice(&header.encode());
        st.pending_bytes += SEGMENT_HEADER_BYTES;
        st.position.offset = SEGMENT_HEADER_BYTES as u64;
    }

    fn push_record_eos(&self, st: &mut AppendState) -> Lsn {
        let lsn = st.position.next_lsn;
        let header = RecordHeader {
            kind: KIND_END_OF_SEGMENT,
            lsn,
            txn_id: 0,
            durable_lsn: self.durable_lsn(),
            crc_prev: st.position.crc_prev,
        };
        let chunk = Self::chunk_at(st, false);
        let crc = encode_record(&mut chunk.bytes, &header, &[]);
        st.pending_bytes += record_size(0);
        st.position.offset += record_size(0) as u64;
        st.position.next_lsn += 1;
        st.position.crc_prev = crc;
        lsn
    }

    /// Makes every record with an LSN up to and including `lsn` durable.
    ///
    /// Group commit: if a leader is already writing and syncing, wait for it to finish
    /// (its sync may cover us); when it does, every waiter re-checks, and the first one
    /// still not covered leads the next flush, which takes everything appended meanwhile.
    /// Waiters never queue behind each other for the I/O lock just to learn that they
    /// were covered, which would let a lone late committer's fsync delay them all.
    pub fn flush(&self, lsn: Lsn) -> StorageResult<()> {
        self.flush_inner(lsn, None)
    }

    /// `flush` for a commit, which as a leader first gathers its group: committers in a
    /// steady stream come back at about the same moment after the sync that covered
    /// them, so a leader that syncs at once takes only the first few and leaves the rest
    /// for the next sync. It waits until as many have joined as joined the previous group,
    /// or as many as `siblings` says are on their way (writers queued for the write lock
    /// or holding it). Each wait is at most half the average sync time (a longer wait
    /// costs more than the sync it saves), none happens before the first sync has been
    /// timed, and the first wait that times out ends the gathering, so a stream that
    /// thins out pays one short wait and then none: a lone committer pays only its sync.
    pub fn flush_commit(&self, lsn: Lsn, siblings: &dyn Fn() -> usize) -> StorageResult<()> {
        self.flush_inner(lsn, Some(siblings))
    }

    fn flush_inner(&self, lsn: Lsn, siblings: Option<&dyn Fn() -> usize>) -> StorageResult<()> {
        let mut state = self.flushing.lock().expect("wal flush state lock");
        loop {
            if self.durable_lsn() > lsn {
                return Ok(());
            }
            self.health.check()?;
            if !state.leading {
                break;
            }
            // Joining the leader's group (it may be gathering one).
            state.joined += 1;
            self.arrived.notify_all();
            state = self.flushed.wait(state).expect("wal flush state lock");
        }
        state.leading = true;
        state.joined = 0;
        let wait = std::time::Duration::from_nanos(self.group_wait_ns());
        let expected = match siblings {
            Some(siblings) if !wait.is_zero() => siblings().max(state.last_group.saturating_sub(1)),
            _ => 0,
        };
        while state.joined < expected {
            let (guard, timeout) = self
                .arrived
                .wait_timeout(state, wait)
                .expect("wal flush state lock");
            state = guard;
            if timeout.timed_out() {
                break;
            }
        }
        // Everyone who joined so far appended before this point: the flush covers them.
        state.last_group = state.joined + 1;
        drop(state);
        let result = self.lead_flush();
        self.flushing.lock().expect("wal flush state lock").leading = false;
        self.flushed.notify_all();
        result
    }

    /// How long a leader waits for each sibling: half the average flush so far, at most
    /// 1 ms; 0 before any flush was timed.
    fn group_wait_ns(&self) -> u64 {
        let flushes = self.stats.flushes.load(Ordering::Relaxed);
        if flushes == 0 {
            return 0;
        }
        (self.stats.flush_ns_total.load(Ordering::Relaxed) / flushes / 2).min(1_000_000)
    }

    /// Writes out and syncs everything appended so far (the leader's part of a flush).
    fn lead_flush(&self) -> StorageResult<()> {
        let started_ns = self.clock.now_monotonic_ns();
        let mut io = self.lock_io();
        self.health.check()?;
        let target = self.write_out(&mut io, true)?;
        self.sync(&mut io)?;
        self.durable_lsn.fetch_max(target, Ordering::AcqRel);
        self.record_flush(started_ns);
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn flush_all(&self) -> StorageResult<()> {
        let next = self.position().next_lsn;
        if next > 1 {
            self.flush(next - 1)?;
        }
        Ok(())
    }

    fn record_flush(&self, started_ns: u64) {
        let elapsed = self.clock.now_monotonic_ns().saturating_sub(started_ns);
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .flush_ns_total
            .fetch_add(elapsed, Ordering::Relaxed);
        self.stats
            .flush_ns_max
            .fetch_max(elapsed, Ordering::Relaxed);
    }

    /// Writes every pending chunk; returns the LSN below which everything is written.
    ///
    /// `for_commit` says whether a commit waits on this write (a flush) or a large
    /// transaction is spilling its log: a segment created for a commit is filled with
    /// zeros first, because overwriting written blocks syncs about twice as fast as
    /// filling holes on ext4 (docs/BENCHMARKS.md); a spill's segment is created sparse,
    /// since nobody waits on its syncs and zero-filling would double the bytes written.
    fn write_out(&self, io: &mut IoState, for_commit: bool) -> StorageResult<Lsn> {
        let (chunks, target) = {
            let mut st = self.lock_append();
            st.pending_bytes = 0;
            (std::mem::take(&mut st.pending), st.position.next_lsn)
        };
        for chunk in chunks {
            if chunk.creates_segment {
                let header = SegmentHeader::decode(&chunk.bytes[..SEGMENT_HEADER_BYTES])
                    .expect("the writer encoded this header");
                self.create_segment(io, chunk.segment_no, &header, for_commit)?;
                let rest = &chunk.bytes[SEGMENT_HEADER_BYTES..];
                if !rest.is_empty() {
                    self.write_at(io, chunk.segment_no, SEGMENT_HEADER_BYTES as u64, rest)?;
                }
            } else {
                self.write_at(io, chunk.segment_no, chunk.offset, &chunk.bytes)?;
            }
        }
        Ok(target)
    }

    fn write_at(
        &self,
        io: &mut IoState,
        segment_no: u64,
        offset: u64,
        bytes: &[u8],
    ) -> StorageResult<()> {
        let name = segment_file_name(segment_no);
        let file = self.file(io, segment_no)?;
        file.write_at(offset, bytes)
            .map_err(|e| self.health.fail(StorageError::io(&name, "write", &e)))?;
        io.unsynced.insert(segment_no);
        Ok(())
    }

    /// Syncs every segment written since the last sync, oldest first.
    fn sync(&self, io: &mut IoState) -> StorageResult<()> {
        let segments: Vec<u64> = io.unsynced.iter().copied().collect();
        for segment_no in segments {
            let name = segment_file_name(segment_no);
            let file = self.file(io, segment_no)?;
            file.sync_data()
                .map_err(|e| self.health.fail(StorageError::io(&name, "sync", &e)))?;
            self.stats.syncs.fetch_add(1, Ordering::Relaxed);
            io.unsynced.remove(&segment_no);
        }
        // Segments older than the one being appended to are complete: drop their handles.
        let current = self.lock_append().position.segment_no;
        io.files.retain(|&no, _| no + 1 >= current);
        Ok(())
    }

    /// Creates a segment file preallocated to its full size with zeros and its header,
    /// durable (contents and directory entry) before any record is written into it.
    /// Appending into a preallocated file later costs about half of growing one.
    fn create_segment(
        &self,
        io: &mut IoState,
        segment_no: u64,
        header: &SegmentHeader,
        zero_fill: bool,
    ) -> StorageResult<()> {
        let name = segment_file_name(segment_no);
        let path = self.dir.join(&name);
        let fail = |op, e: &std::io::Error| self.health.fail(StorageError::io(&name, op, e));
        let file = self
            .vfs
            .open(&path, OpenOptions::CREATE)
            .map_err(|e| fail("create", &e))?;
        file.set_len(0).map_err(|e| fail("truncate", &e))?;
        if zero_fill {
            let zeros = vec![0u8; 1 << 20];
            let mut offset = 0u64;
            while offset < self.config.segment_size_bytes {
                let len = (self.config.segment_size_bytes - offset).min(zeros.len() as u64);
                file.write_at(offset, &zeros[..len as usize])
                    .map_err(|e| fail("preallocate", &e))?;
                offset += len;
            }
        } else {
            file.set_len(self.config.segment_size_bytes)
                .map_err(|e| fail("extend", &e))?;
        }
        file.write_at(0, &header.encode())
            .map_err(|e| fail("write header", &e))?;
        file.sync_data().map_err(|e| fail("sync", &e))?;
        crate::crash_point!(self.vfs, "wal.segment.created_before_dir_sync")
            .map_err(|e| self.health.fail(e))?;
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| fail("sync directory", &e))?;
        self.stats.segments_created.fetch_add(1, Ordering::Relaxed);
        io.files.insert(segment_no, file);
        Ok(())
    }

    fn file<'a>(&self, io: &'a mut IoState, segment_no: u64) -> StorageResult<&'a dyn File> {
        if let std::collections::btree_map::Entry::Vacant(slot) = io.files.entry(segment_no) {
            let name = segment_file_name(segment_no);
            let file = self
                .vfs
                .open(&self.dir.join(&name), OpenOptions::READ_WRITE)
                .map_err(|e| StorageError::io(&name, "open", &e))?;
            slot.insert(file);
        }
        Ok(io.files[&segment_no].as_ref())
    }

    /// Removes segments wholly before `keep_from` (retention after a checkpoint).
    pub fn remove_segments_before(&self, keep_from: u64) -> StorageResult<()> {
        let _io = self.lock_io();
        let names = self
            .vfs
            .list(&self.dir)
            .map_err(|e| StorageError::io(&self.dir.display().to_string(), "list", &e))?;
        let mut removed = false;
        for name in names {
            let Some(no) = format::parse_segment_file_name(&name) else {
                continue;
            };
            if no >= keep_from {
                continue;
            }
            crate::crash_point!(self.vfs, "wal.retention.before_remove")
                .map_err(|e| self.health.fail(e))?;
            self.vfs
                .remove(&self.dir.join(&name))
                .map_err(|e| self.health.fail(StorageError::io(&name, "remove", &e)))?;
            self.stats.segments_removed.fetch_add(1, Ordering::Relaxed);
            removed = true;
        }
        if removed {
            self.vfs.sync_dir(&self.dir).map_err(|e| {
                self.health.fail(StorageError::io(
                    &self.dir.display().to_string(),
                    "sync directory",
                    &e,
                ))
            })?;
        }
        Ok(())
    }

    fn lock_append(&self) -> MutexGuard<'_, AppendState> {
        self.append.lock().expect("wal append lock")
    }

    fn lock_io(&self) -> MutexGuard<'_, IoState> {
        self.io.lock().expect("wal io lock")
    }
}
