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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::get_u64;
use crate::env::{OpenOptions, Vfs};
use crate::{StorageError, StorageResult};

use super::format::{
    decode_record, parse_segment_file_name, segment_file_name, HeaderError, Lsn, RecordHeader,
    SegmentHeader, KIND_END_OF_SEGMENT, RECORD_ALIGN, RECORD_HEADER_BYTES, REC_DURABLE_LSN_OFFSET,
    REC_LSN_OFFSET, SEGMENT_HEADER_BYTES,
};
use super::WalPosition;

/// A record read back from the log, borrowed from the scanner's segment buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalRecordRef<'a> {
    pub header: RecordHeader,
    pub payload: &'a [u8],
    /// Where the record starts, for error messages and for reading it again.
    pub segment_no: u64,
    pub offset: u64,
}

/// Walks the record chain from a position. See the module documentation.
pub struct WalScanner {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    database_id: u64,
    segment_no: u64,
    data: Vec<u8>,
    /// The next segment's bytes while it is being checked (reused, like `data`, so a long
    /// log costs no allocation per segment).
    spare: Vec<u8>,
    position: WalPosition,
    done: bool,
}

impl WalScanner {
    /// Starts reading at `start`, which must point into an existing segment.
    pub fn new(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        database_id: u64,
        start: WalPosition,
    ) -> StorageResult<WalScanner> {
        let mut data = Vec::new();
        read_segment_into(&*vfs, dir, start.segment_no, &mut data)?;
        let header = decode_header(&data, start.segment_no)?;
        check_header_identity(&header, database_id, start.segment_no)?;
        if start.offset < SEGMENT_HEADER_BYTES as u64 || start.offset > data.len() as u64 {
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
            segment_no: start.segment_no,
            data,
            spare: Vec::new(),
            position: start,
            done: false,
        })
    }

    /// The position after the last valid record returned so far: where appending resumes.
    pub fn end(&self) -> WalPosition {
        self.position
    }

    /// The next record of the chain, `None` at a torn or clean end, an error if the end is
    /// proven to be damage to a durable record.
    pub fn next_record(&mut self) -> StorageResult<Option<WalRecordRef<'_>>> {
        while !self.done {
            let offset = self.position.offset as usize;
            let Some((header, crc, size, payload_len)) = self.decode_chained(offset) else {
                self.done = true;
                self.check_end_is_tail()?;
                return Ok(None);
            };
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
            let start = offset + RECORD_HEADER_BYTES;
            return Ok(Some(WalRecordRef {
                header,
                payload: &self.data[start..start + payload_len],
                segment_no: self.segment_no,
                offset: offset as u64,
            }));
        }
        Ok(None)
    }

    /// The header, CRC, size and payload length of the record at `offset`, if it is the
    /// next link of the chain.
    fn decode_chained(&self, offset: usize) -> Option<(RecordHeader, u32, usize, usize)> {
        let record = decode_record(self.data.get(offset..)?).ok()?;
        let linked = record.header.lsn == self.position.next_lsn
            && record.header.crc_prev == self.position.crc_prev;
        linked.then_some((record.header, record.crc, record.size, record.payload.len()))
    }

    /// Follows an end-of-segment record into the next segment. Returns false if the next
    /// segment is not there (its creation was torn): the log ends before the marker, so
    /// the writer redoes the rotation.
    fn enter_next_segment(&mut self, eos_lsn: Lsn, eos_crc: u32) -> StorageResult<bool> {
        let next_no = self.segment_no + 1;
        let expected_first = eos_lsn + 1;
        let mut spare = std::mem::take(&mut self.spare);
        let next = match read_segment_into(&*self.vfs, &self.dir, next_no, &mut spare) {
            Ok(()) => Some(spare),
            Err(StorageError::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        let valid = next.as_ref().is_some_and(|data| {
            SegmentHeader::decode(data).is_ok_and(|h| {
                h.database_id == self.database_id
                    && h.segment_no == next_no
                    && h.first_lsn == expected_first
                    && h.crc_prev == eos_crc
            })
        });
        if !valid {
            if let Some(data) = &next {
                // A segment's header is synced when the segment is created, before any
                // record is written into it. So a valid first record chained to the
                // marker proves the header had been durable: it is damaged, not torn.
                let chained = decode_record(data.get(SEGMENT_HEADER_BYTES..).unwrap_or(&[]))
                    .is_ok_and(|r| r.header.lsn == expected_first && r.header.crc_prev == eos_crc);
                if chained {
                    return Err(StorageError::corruption(
                        &segment_file_name(next_no),
                        0,
                        "damaged segment header: its first record chains to the previous segment",
                    ));
                }
            }
            // The marker itself is not part of the log then; evidence past it decides.
            self.check_end_is_tail()?;
            return Ok(false);
        }
        let data = next.expect("valid implies present");
        self.segment_no = next_no;
        self.spare = std::mem::replace(&mut self.data, data);
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
    fn check_end_is_tail(&self) -> StorageResult<()> {
        let expected = self.position.next_lsn;
        let name = segment_file_name(self.segment_no);
        let start = self.position.offset as usize + RECORD_ALIGN;
        if let Some(at) = find_voucher(&self.data, start, expected) {
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

    fn check_later_segments(&self, expected: Lsn, name: &str) -> StorageResult<()> {
        for segment_no in later_segments(&*self.vfs, &self.dir, self.segment_no)? {
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
        // Cheap filters before the CRC: most offsets are zeros or mid-record bytes.
        let lsn = get_u64(data, offset + REC_LSN_OFFSET);
        let durable = get_u64(data, offset + REC_DURABLE_LSN_OFFSET);
        if lsn > expected && durable > expected && decode_record(&data[offset..]).is_ok() {
            return Some(offset);
        }
        offset += RECORD_ALIGN;
    }
    None
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

/// Reads a whole segment file into `data` (reusing its allocation).
pub fn read_segment_into(
    vfs: &dyn Vfs,
    dir: &Path,
    segment_no: u64,
    data: &mut Vec<u8>,
) -> StorageResult<()> {
    let name = segment_file_name(segment_no);
    let file = vfs
        .open(&dir.join(&name), OpenOptions::READ)
        .map_err(|e| StorageError::io(&name, "open", &e))?;
    let len = file
        .len()
        .map_err(|e| StorageError::io(&name, "stat", &e))?;
    if len > u64::from(u32::MAX) {
        return Err(StorageError::corruption(
            &name,
            0,
            format!("segment is {len} bytes long"),
        ));
    }
    // Every byte is overwritten by the read (it fills all or fails), so a reused buffer
    // of the right size is not cleared first: segments are all one size.
    data.resize(len as usize, 0);
    file.read_at(0, data)
        .map_err(|e| StorageError::io(&name, "read", &e))?;
    check_length(&name, data, len)
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

/// Reads a whole segment file. A segment shorter than the size its header records was
/// truncated after it was preallocated: that is corruption, not a torn tail.
pub fn read_segment(vfs: &dyn Vfs, dir: &Path, segment_no: u64) -> StorageResult<Vec<u8>> {
    let mut data = Vec::new();
    read_segment_into(vfs, dir, segment_no, &mut data)?;
    Ok(data)
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
