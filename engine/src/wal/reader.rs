//! Reading the log back during recovery.
//!
//! The scanner walks the record chain from a checkpoint's position. The chain ends at the
//! first record that is missing, damaged, out of sequence or not chained to its
//! predecessor. Whether that end is a *torn tail* (records that were being written when
//! the machine stopped: never acknowledged, safely discarded) or *corruption* (a record
//! that was durable has been damaged: reported, never skipped) is decided by evidence:
//! every record and segment header carries `durable_lsn`, the LSN below which everything
//! was durable when it was written. If any valid record or header past the end vouches
//! that the record at the end was durable, the end is corruption.
//!
//! Limit, by construction of every WAL that does not write twice: damage to the final
//! records, written after the last record that could vouch for them, looks exactly like a
//! torn write and is treated as one. docs/TESTING.md says how the simulator models this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{get_u32, get_u64};
use crate::env::{File, OpenOptions, Vfs};
use crate::{StorageError, StorageResult};

use super::format::{
    decode_record, parse_segment_file_name, record_size, segment_file_name, HeaderError, Lsn,
    RecordHeader, SegmentHeader, KIND_END_OF_SEGMENT, RECORD_ALIGN, RECORD_HEADER_BYTES,
    REC_CRC_PREV_OFFSET, REC_DURABLE_LSN_OFFSET, REC_LEN_OFFSET, REC_LSN_OFFSET,
    SEGMENT_HEADER_BYTES,
};
use super::WalPosition;

/// A record read back from the log, borrowed from the scanner's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalRecordRef<'a> {
    pub header: RecordHeader,
    pub payload: &'a [u8],
    /// Where the record starts, for error messages and for reading it again.
    pub segment_no: u64,
    pub offset: u64,
}

/// How much of a segment the scanner reads at a time, at most. Small enough to stay in the
/// CPU's cache between the copy out of the page cache and the CRC over it (a whole 16 MiB
/// segment does not, and costs a second trip through memory); a record larger than the
/// window gets a window of its own size.
const WINDOW_BYTES_MAX: usize = 256 << 10;

/// The window for a segment of `len` bytes: an eighth of it, between 4 KiB and
/// `WINDOW_BYTES_MAX`. Scaling with the segment means the small segments of simulator runs
/// cross window boundaries (and records larger than a window) as often as big ones do.
fn window_bytes(len: u64) -> usize {
    (len / 8).clamp(4 << 10, WINDOW_BYTES_MAX as u64) as usize
}

/// One segment file, read through a window of consecutive bytes.
struct SegmentWindow {
    segment_no: u64,
    file: Box<dyn File>,
    /// The file's length.
    len: u64,
    /// The buffer; only `buf[..filled]` holds file bytes, starting at file offset `start`.
    /// Kept at its largest size so refills never clear it.
    buf: Vec<u8>,
    start: u64,
    filled: usize,
}

impl SegmentWindow {
    /// Opens segment `segment_no` and reads its first window. A segment shorter than the
    /// size its header records was truncated after it was preallocated: corruption.
    fn open(
        vfs: &dyn Vfs,
        dir: &Path,
        segment_no: u64,
        buf: Vec<u8>,
    ) -> StorageResult<SegmentWindow> {
        let name = segment_file_name(segment_no);
        let (file, len) = open_segment(vfs, dir, segment_no)?;
        if len > u64::from(u32::MAX) {
            return Err(StorageError::corruption(
                &name,
                0,
                format!("segment is {len} bytes long"),
            ));
        }
        let mut window = SegmentWindow {
            segment_no,
            file,
            len,
            buf,
            start: 0,
            filled: 0,
        };
        window.fill(0, window_bytes(len))?;
        check_length(&name, window.bytes_here(0), len)?;
        Ok(window)
    }

    /// The bytes from file offset `offset` to the end of the window (empty if the window
    /// does not hold `offset`).
    fn bytes_here(&self, offset: u64) -> &[u8] {
        if offset < self.start || offset > self.start + self.filled as u64 {
            return &[];
        }
        &self.buf[(offset - self.start) as usize..self.filled]
    }

    /// The bytes from `offset` on, at least `want` of them unless the file ends first.
    fn bytes(&mut self, offset: u64, want: usize) -> StorageResult<&[u8]> {
        let available = self.len.saturating_sub(offset).min(want as u64) as usize;
        if self.bytes_here(offset).len() < available {
            self.fill(offset, want.max(window_bytes(self.len)))?;
        }
        Ok(self.bytes_here(offset))
    }

    /// Reads up to `size` bytes at `offset` into the window.
    fn fill(&mut self, offset: u64, size: usize) -> StorageResult<()> {
        let size = self.len.saturating_sub(offset).min(size as u64) as usize;
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        self.file
            .read_at(offset, &mut self.buf[..size])
            .map_err(|e| StorageError::io(&segment_file_name(self.segment_no), "read", &e))?;
        self.start = offset;
        self.filled = size;
        Ok(())
    }
}

/// Walks the record chain from a position. See the module documentation.
pub struct WalScanner {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    database_id: u64,
    segment: SegmentWindow,
    position: WalPosition,
    done: bool,
    /// The first LSN of every segment entered after the first one.
    segment_first_lsns: BTreeMap<u64, Lsn>,
    /// The largest `durable_lsn` of the records read: every record below it had been
    /// synced when it was written.
    durable_below: Lsn,
}

impl WalScanner {
    /// Starts reading at `start`, which must point into an existing segment.
    pub fn new(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        database_id: u64,
        start: WalPosition,
    ) -> StorageResult<WalScanner> {
        let segment = SegmentWindow::open(&*vfs, dir, start.segment_no, Vec::new())?;
        let header = decode_header(segment.bytes_here(0), start.segment_no)?;
        check_header_identity(&header, database_id, start.segment_no)?;
        if start.offset < SEGMENT_HEADER_BYTES as u64 || start.offset > segment.len {
            return Err(StorageError::corruption(
                &segment_file_name(start.segment_no),
                start.offset,
                "checkpoint points outside the segment",
            ));
        }
        Ok(WalScanner {
            vfs,
            dir: dir.to_path_buf(),
            database_id,
            segment,
            position: start,
            done: false,
            segment_first_lsns: BTreeMap::new(),
            durable_below: 0,
        })
    }

    /// The position after the last valid record returned so far: where appending resumes.
    pub fn end(&self) -> WalPosition {
        self.position
    }

    /// The segments from `first` to the end of the log that may hold records that were
    /// never synced, which recovery must sync before exposing them. A segment all of
    /// whose records (its end-of-segment marker included) lie below a later record's
    /// `durable_lsn` was synced in the life that wrote them and is skipped; the last one
    /// is always included.
    pub fn segments_to_sync(&self, first: u64) -> Vec<u64> {
        let last = self.position.segment_no;
        (first..=last)
            .filter(|s| {
                *s == last
                    || self
                        .segment_first_lsns
                        .get(&(s + 1))
                        .is_none_or(|&next_first| next_first > self.durable_below)
            })
            .collect()
    }

    /// The next record of the chain, `None` at a torn or clean end, an error if the end is
    /// proven to be damage to a durable record.
    pub fn next_record(&mut self) -> StorageResult<Option<WalRecordRef<'_>>> {
        while !self.done {
            let offset = self.position.offset;
            let Some((header, crc, size, payload_len)) = self.decode_chained(offset)? else {
                self.done = true;
                self.check_end_is_tail()?;
                return Ok(None);
            };
            self.durable_below = self.durable_below.max(header.durable_lsn);
            if header.kind == KIND_END_OF_SEGMENT {
                if !self.enter_next_segment(header.lsn, crc)? {
                    self.done = true;
                    return Ok(None);
                }
                continue;
            }
            self.position.offset += size as u64;
            self.position.next_lsn += 1;
            self.position.crc_prev = crc;
            let payload = &self.segment.bytes_here(offset)
                [RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_len];
            return Ok(Some(WalRecordRef {
                header,
                payload,
                segment_no: self.segment.segment_no,
                offset,
            }));
        }
        Ok(None)
    }

    /// The header, CRC, size and payload length of the record at `offset`, if it is the
    /// next link of the chain; the window then holds the whole record.
    fn decode_chained(
        &mut self,
        offset: u64,
    ) -> StorageResult<Option<(RecordHeader, u32, usize, usize)>> {
        let head = self.segment.bytes(offset, RECORD_HEADER_BYTES)?;
        if head.len() < RECORD_HEADER_BYTES {
            return Ok(None);
        }
        // The link fields first: a record that is not the next one is not read further,
        // however long it claims to be.
        let linked = get_u64(head, REC_LSN_OFFSET) == self.position.next_lsn
            && get_u32(head, REC_CRC_PREV_OFFSET) == self.position.crc_prev;
        if !linked {
            return Ok(None);
        }
        let size = record_size(get_u32(head, REC_LEN_OFFSET) as usize);
        let bytes = self.segment.bytes(offset, size)?;
        Ok(decode_record(bytes)
            .ok()
            .map(|r| (r.header, r.crc, r.size, r.payload.len())))
    }

    /// Follows an end-of-segment record into the next segment. Returns false if the next
    /// segment is not there (its creation was torn): the log ends before the marker, so
    /// the writer redoes the rotation.
    fn enter_next_segment(&mut self, eos_lsn: Lsn, eos_crc: u32) -> StorageResult<bool> {
        let next_no = self.segment.segment_no + 1;
        let expected_first = eos_lsn + 1;
        // The next segment reuses the buffer; the current window is empty meanwhile.
        let buf = std::mem::take(&mut self.segment.buf);
        self.segment.filled = 0;
        let mut next = match SegmentWindow::open(&*self.vfs, &self.dir, next_no, buf) {
            Ok(window) => Some(window),
            Err(StorageError::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        let valid = next.as_ref().is_some_and(|window| {
            SegmentHeader::decode(window.bytes_here(0)).is_ok_and(|h| {
                h.database_id == self.database_id
                    && h.segment_no == next_no
                    && h.first_lsn == expected_first
                    && h.crc_prev == eos_crc
            })
        });
        if !valid {
            if let Some(window) = &mut next {
                // A segment's header is synced when the segment is created, before any
                // record is written into it. So a valid first record chained to the
                // marker proves the header had been durable: it is damaged, not torn.
                let first = SEGMENT_HEADER_BYTES as u64;
                let head = window.bytes(first, RECORD_HEADER_BYTES)?;
                let want = match head.len() >= RECORD_HEADER_BYTES {
                    true => record_size(get_u32(head, REC_LEN_OFFSET) as usize),
                    false => 0,
                };
                let chained = decode_record(window.bytes(first, want)?)
                    .is_ok_and(|r| r.header.lsn == expected_first && r.header.crc_prev == eos_crc);
                if chained {
                    return Err(StorageError::corruption(
                        &segment_file_name(next_no),
                        0,
                        "damaged segment header: its first record chains to the previous segment",
                    ));
                }
            }
            if let Some(window) = next {
                self.segment.buf = window.buf;
            }
            // The marker itself is not part of the log then; evidence past it decides.
            self.check_end_is_tail()?;
            return Ok(false);
        }
        self.segment = next.expect("valid implies present");
        self.segment_first_lsns.insert(next_no, expected_first);
        self.position = WalPosition {
            segment_no: next_no,
            offset: SEGMENT_HEADER_BYTES as u64,
            next_lsn: expected_first,
            crc_prev: eos_crc,
        };
        Ok(true)
    }

    /// Called where the chain ends: fails if any later record or segment header proves
    /// that the record expected here had been durable.
    fn check_end_is_tail(&mut self) -> StorageResult<()> {
        let expected = self.position.next_lsn;
        let name = segment_file_name(self.segment.segment_no);
        // The whole rest of this segment is searched: the damaged record's length cannot
        // be trusted to find the next one. This happens once per open.
        let end = self.position.offset;
        if let Some(at) = self.find_voucher_after(end + RECORD_ALIGN as u64, expected)? {
            return Err(StorageError::corruption(
                &name,
                self.position.offset,
                format!(
                    "WAL record {expected} is damaged, but the record at offset {at} shows it had been durable"
                ),
            ));
        }
        self.check_later_segments(expected, &name)
    }

    /// The offset of a valid record at or after `from` in the current segment that vouches
    /// for record `expected`, read window by window.
    fn find_voucher_after(&mut self, from: u64, expected: Lsn) -> StorageResult<Option<u64>> {
        let mut offset = from.next_multiple_of(RECORD_ALIGN as u64);
        while offset + RECORD_HEADER_BYTES as u64 <= self.segment.len {
            let window = self.segment.bytes(offset, RECORD_HEADER_BYTES)?;
            // Every aligned offset whose header lies in this window, with the cheap filter.
            let mut i = 0;
            let mut candidate = None;
            while i + RECORD_HEADER_BYTES <= window.len() {
                if is_voucher_candidate(&window[i..], expected) {
                    candidate = Some(i);
                    break;
                }
                i += RECORD_ALIGN;
            }
            let Some(i) = candidate else {
                offset += i as u64;
                continue;
            };
            let at = offset + i as u64;
            let size = record_size(get_u32(&window[i..], REC_LEN_OFFSET) as usize);
            if decode_record(self.segment.bytes(at, size)?).is_ok() {
                return Ok(Some(at));
            }
            offset = at + RECORD_ALIGN as u64;
        }
        Ok(None)
    }

    fn check_later_segments(&self, expected: Lsn, name: &str) -> StorageResult<()> {
        for segment_no in later_segments(&*self.vfs, &self.dir, self.segment.segment_no)? {
            let data = match read_segment(&*self.vfs, &self.dir, segment_no) {
                Ok(data) => data,
                Err(_) => continue,
            };
            let vouches = SegmentHeader::decode(&data)
                .is_ok_and(|h| h.database_id == self.database_id && h.durable_lsn > expected)
                || find_voucher(&data, SEGMENT_HEADER_BYTES, expected).is_some();
            if vouches {
                return Err(StorageError::corruption(
                    name,
                    self.position.offset,
                    format!(
                        "WAL record {expected} is damaged, but {} shows it had been durable",
                        segment_file_name(segment_no)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The offset of a valid record at or after `start` that vouches for record `expected`
/// (its `durable_lsn` exceeds `expected`). Scans every aligned offset: the damaged record's
/// length cannot be trusted to find the next one.
fn find_voucher(data: &[u8], start: usize, expected: Lsn) -> Option<usize> {
    let mut offset = start.next_multiple_of(RECORD_ALIGN);
    while offset + RECORD_HEADER_BYTES <= data.len() {
        if is_voucher_candidate(&data[offset..], expected) && decode_record(&data[offset..]).is_ok()
        {
            return Some(offset);
        }
        offset += RECORD_ALIGN;
    }
    None
}

/// The cheap filter before the CRC, for the bytes of a header: most offsets are zeros or
/// mid-record bytes.
fn is_voucher_candidate(header: &[u8], expected: Lsn) -> bool {
    get_u64(header, REC_LSN_OFFSET) > expected && get_u64(header, REC_DURABLE_LSN_OFFSET) > expected
}

/// Segment numbers present in `dir` above `after`, ascending.
pub fn later_segments(vfs: &dyn Vfs, dir: &Path, after: u64) -> StorageResult<Vec<u64>> {
    Ok(list_segments(vfs, dir)?
        .into_iter()
        .filter(|&no| no > after)
        .collect())
}

/// Every segment number present in `dir`, ascending.
pub fn list_segments(vfs: &dyn Vfs, dir: &Path) -> StorageResult<Vec<u64>> {
    let names = vfs
        .list(dir)
        .map_err(|e| StorageError::io(&dir.display().to_string(), "list", &e))?;
    Ok(names
        .iter()
        .filter_map(|n| parse_segment_file_name(n))
        .collect())
}

/// A segment shorter than the size its header records was truncated after it was
/// preallocated: that is corruption, not a torn tail.
fn check_length(name: &str, data: &[u8], len: u64) -> StorageResult<()> {
    if let Ok(h) = SegmentHeader::decode(data) {
        if len < u64::from(h.segment_size_bytes) {
            return Err(StorageError::corruption(
                name,
                len,
                format!(
                    "segment truncated to {len} bytes; it was preallocated to {}",
                    h.segment_size_bytes
                ),
            ));
        }
    }
    Ok(())
}

/// Opens segment `segment_no` for reading; returns it with its length.
pub fn open_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    segment_no: u64,
) -> StorageResult<(Box<dyn File>, u64)> {
    let name = segment_file_name(segment_no);
    let file = vfs
        .open(&dir.join(&name), OpenOptions::READ)
        .map_err(|e| StorageError::io(&name, "open", &e))?;
    let len = file
        .len()
        .map_err(|e| StorageError::io(&name, "stat", &e))?;
    Ok((file, len))
}

/// Reads a whole segment file. A segment shorter than the size its header records was
/// truncated after it was preallocated: that is corruption, not a torn tail.
pub fn read_segment(vfs: &dyn Vfs, dir: &Path, segment_no: u64) -> StorageResult<Vec<u8>> {
    let mut window = SegmentWindow::open(vfs, dir, segment_no, Vec::new())?;
    let len = window.len as usize;
    window.fill(0, len)?;
    window.buf.truncate(len);
    Ok(window.buf)
}

fn decode_header(data: &[u8], segment_no: u64) -> StorageResult<SegmentHeader> {
    let name = segment_file_name(segment_no);
    SegmentHeader::decode(data).map_err(|e| match e {
        HeaderError::Checksum { expected, actual } => StorageError::ChecksumMismatch {
            file: name,
            offset: 0,
            expected,
            actual,
        },
        other => StorageError::corruption(&name, 0, format!("bad segment header: {other:?}")),
    })
}

fn check_header_identity(
    h: &SegmentHeader,
    database_id: u64,
    segment_no: u64,
) -> StorageResult<()> {
    let name = segment_file_name(segment_no);
    if h.database_id != database_id {
        return Err(StorageError::corruption(
            &name,
            0,
            format!(
                "segment belongs to database {:#x}, not {database_id:#x}",
                h.database_id
            ),
        ));
    }
    if h.segment_no != segment_no {
        return Err(StorageError::corruption(
            &name,
            0,
            format!("header says segment {}", h.segment_no),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::health::Health;
    use crate::wal::{Wal, WalConfig};

    fn small_wal(dir: &Path) -> (Env, Wal) {
        let env = Env::os();
        let config = WalConfig {
            segment_size_bytes: 64 << 10,
            buffer_bytes_max: 16 << 10,
        };
        let wal = Wal::create(
            env.vfs.clone(),
            env.clock.clone(),
            dir,
            7,
            config,
            Arc::new(Health::default()),
        )
        .unwrap();
        (env, wal)
    }

    /// A record read back: its LSN and payload.
    type Read = (Lsn, Vec<u8>);

    /// Every record of the log from its start, and where it ends.
    fn scan_all(env: &Env, dir: &Path) -> StorageResult<(Vec<Read>, WalPosition)> {
        let start = WalPosition {
            segment_no: 1,
            offset: SEGMENT_HEADER_BYTES as u64,
            next_lsn: 1,
            crc_prev: 0,
        };
        let mut scanner = WalScanner::new(env.vfs.clone(), dir, 7, start)?;
        let mut records = Vec::new();
        while let Some(record) = scanner.next_record()? {
            records.push((record.header.lsn, record.payload.to_vec()));
        }
        Ok((records, scanner.end()))
    }

    #[test]
    fn a_missing_next_segment_ends_the_log_at_the_rotation() {
        // A rotation whose new segment never became durable: the log ends before the
        // end-of-segment marker, and the search for vouchers past it finds none.
        let tmp = tempfile::tempdir().unwrap();
        let (env, wal) = small_wal(tmp.path());
        for i in 0..100u64 {
            wal.append(16, i + 1, &[i as u8; 3000]).unwrap();
        }
        wal.flush_all().unwrap();
        let segments = list_segments(&*env.vfs, tmp.path()).unwrap();
        let last = *segments.last().unwrap();
        assert!(last >= 3, "{segments:?}");
        env.vfs
            .remove(&tmp.path().join(segment_file_name(last)))
            .unwrap();
        let (records, end) = scan_all(&env, tmp.path()).unwrap();
        let lsns: Vec<Lsn> = records.iter().map(|r| r.0).collect();
        assert_eq!(end.segment_no, last - 1);
        assert!(!lsns.is_empty() && lsns.len() < 100, "{}", lsns.len());
        // In order; the gaps are the end-of-segment markers, which take an LSN each.
        assert!(lsns
            .windows(2)
            .all(|w| w[1] == w[0] + 1 || w[1] == w[0] + 2));
    }

    #[test]
    fn only_segments_that_may_hold_unsynced_records_are_synced_by_recovery() {
        let tmp = tempfile::tempdir().unwrap();
        let (env, wal) = small_wal(tmp.path());
        // Every record flushed on its own: each later record vouches for the earlier ones.
        for i in 0..100u64 {
            let lsn = wal.append(16, i + 1, &[i as u8; 3000]).unwrap();
            wal.flush(lsn).unwrap();
        }
        // Then a tail written out but never synced, spanning rotations.
        for i in 100..200u64 {
            wal.append(16, i + 1, &[i as u8; 3000]).unwrap();
        }
        // The WAL is left unflushed: what its buffer wrote out stays in the files, unsynced.
        let start = WalPosition {
            segment_no: 1,
            offset: SEGMENT_HEADER_BYTES as u64,
            next_lsn: 1,
            crc_prev: 0,
        };
        let mut scanner = WalScanner::new(env.vfs.clone(), tmp.path(), 7, start).unwrap();
        while scanner.next_record().unwrap().is_some() {}
        let end = scanner.end().segment_no;
        assert!(end > 6, "{end}");
        let to_sync = scanner.segments_to_sync(1);
        // The synced prefix is skipped, the unsynced tail and the last segment are not.
        assert!(to_sync[0] > 1, "{to_sync:?}");
        assert_eq!(to_sync, (to_sync[0]..=end).collect::<Vec<_>>());
        drop(wal);
    }

    #[test]
    fn records_across_windows_and_larger_than_a_window_read_back_in_order() {
        // 64 KiB segments read through 8 KiB windows: records of every size straddle
        // window edges, some are larger than a window, and the log rotates many times.
        let tmp = tempfile::tempdir().unwrap();
        let (env, wal) = small_wal(tmp.path());
        let mut written = Vec::new();
        for i in 0..600u32 {
            let len = match i % 7 {
                0 => 20_000,
                1 => 9_000,
                _ => (i as usize * 37) % 3000,
            };
            let payload: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
            let lsn = wal.append(16, u64::from(i) + 1, &payload).unwrap();
            written.push((lsn, payload));
        }
        wal.flush_all().unwrap();
        let (read, end) = scan_all(&env, tmp.path()).unwrap();
        assert!(end.segment_no > 20, "{end:?}");
        assert_eq!(read.len(), written.len());
        for (r, w) in read.iter().zip(&written) {
            assert_eq!(r.0, w.0);
            assert!(r.1 == w.1, "payload of record {} differs", w.0);
        }
    }
}
