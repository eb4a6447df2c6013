//! The WAL's on-disk format, byte by byte. docs/FORMAT.md mirrors this file.
//!
//! A WAL segment is a preallocated file `wal-<segment_no:016x>.log` of
//! `wal_segment_size_bytes`: a 64-byte segment header, then records back to back, each
//! starting on an 8-byte boundary, then zeros (or stale bytes of a recycled or torn
//! earlier life of the file).
//!
//! Records are chained: each carries the CRC of the record before it (`crc_prev`), so a
//! stale record left behind by an earlier life of the log (bytes past a torn tail that
//! recovery cut off) can never be mistaken for the continuation of the current log, even
//! when its LSN happens to be the next one expected.
//!
//! Each record also carries `durable_lsn`: every record with a smaller LSN was durable
//! when this one was written. That is what lets recovery tell a torn tail (harmless: those
//! records were never acknowledged) from a damaged durable record (corruption, reported):
//! a bad record followed by any valid record whose `durable_lsn` exceeds the bad record's
//! LSN cannot be the tail.

use crate::codec::{crc32, get_u32, get_u64, put_u32, put_u64};

pub use crate::Lsn;

// ---- Segment header -------------------------------------------------------------------

pub const SEGMENT_MAGIC: [u8; 8] = *b"KILNWAL1";
pub const FORMAT_VERSION: u32 = 2;

pub const SEG_MAGIC_OFFSET: usize = 0;
pub const SEG_VERSION_OFFSET: usize = SEG_MAGIC_OFFSET + 8;
pub const SEG_SIZE_OFFSET: usize = SEG_VERSION_OFFSET + 4;
pub const SEG_DATABASE_ID_OFFSET: usize = SEG_SIZE_OFFSET + 4;
pub const SEG_NO_OFFSET: usize = SEG_DATABASE_ID_OFFSET + 8;
pub const SEG_FIRST_LSN_OFFSET: usize = SEG_NO_OFFSET + 8;
pub const SEG_CRC_PREV_OFFSET: usize = SEG_FIRST_LSN_OFFSET + 8;
pub const SEG_DURABLE_LSN_OFFSET: usize = SEG_CRC_PREV_OFFSET + 4 + 4; // + 4 reserved
pub const SEG_CRC_OFFSET: usize = SEG_DURABLE_LSN_OFFSET + 8;
/// Size of the segment header; records start here.
pub const SEGMENT_HEADER_BYTES: usize = 64;
const _: () = assert!(SEG_CRC_OFFSET + 4 <= SEGMENT_HEADER_BYTES);
const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(RECORD_ALIGN));

/// The header that opens every segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The preallocated size of the file. A shorter file was truncated after the fact.
    pub segment_size_bytes: u32,
    pub database_id: u64,
    pub segment_no: u64,
    /// LSN of the first record in this segment.
    pub first_lsn: Lsn,
    /// CRC of the last record of the previous segment (its end-of-segment record).
    pub crc_prev: u32,
    /// Every record with a smaller LSN was durable when this segment was started.
    pub durable_lsn: Lsn,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[SEG_MAGIC_OFFSET..SEG_MAGIC_OFFSET + 8].copy_from_slice(&SEGMENT_MAGIC);
        put_u32(&mut b, SEG_VERSION_OFFSET, FORMAT_VERSION);
        put_u32(&mut b, SEG_SIZE_OFFSET, self.segment_size_bytes);
        put_u64(&mut b, SEG_DATABASE_ID_OFFSET, self.database_id);
        put_u64(&mut b, SEG_NO_OFFSET, self.segment_no);
        put_u64(&mut b, SEG_FIRST_LSN_OFFSET, self.first_lsn);
        put_u32(&mut b, SEG_CRC_PREV_OFFSET, self.crc_prev);
        put_u64(&mut b, SEG_DURABLE_LSN_OFFSET, self.durable_lsn);
        let crc = crc32(&[&b[..SEG_CRC_OFFSET]]);
        put_u32(&mut b, SEG_CRC_OFFSET, crc);
        b
    }

    /// Decodes a segment header. An error means the bytes are not a valid header (zeros,
    /// torn, foreign, or damaged): the caller decides which from context.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(HeaderError::Short);
        }
        if bytes[SEG_MAGIC_OFFSET..SEG_MAGIC_OFFSET + 8] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let expected = get_u32(bytes, SEG_CRC_OFFSET);
        let actual = crc32(&[&bytes[..SEG_CRC_OFFSET]]);
        if expected != actual {
            return Err(HeaderError::Checksum { expected, actual });
        }
        let version = get_u32(bytes, SEG_VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        Ok(SegmentHeader {
            segment_size_bytes: get_u32(bytes, SEG_SIZE_OFFSET),
            database_id: get_u64(bytes, SEG_DATABASE_ID_OFFSET),
            segment_no: get_u64(bytes, SEG_NO_OFFSET),
            first_lsn: get_u64(bytes, SEG_FIRST_LSN_OFFSET),
            crc_prev: get_u32(bytes, SEG_CRC_PREV_OFFSET),
            durable_lsn: get_u64(bytes, SEG_DURABLE_LSN_OFFSET),
        })
    }
}

/// Why a segment header did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    Short,
    BadMagic,
    Checksum { expected: u32, actual: u32 },
    Version(u32),
}

/// The file name of segment `segment_no`.
pub fn segment_file_name(segment_no: u64) -> String {
    format!("wal-{segment_no:016x}.log")
}

/// The segment number named by a file name, if it is a segment's name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

// ---- Record ---------------------------------------------------------------------------

/// The CRC comes first so that it covers one contiguous range: the rest of the header
/// and the payload (one checksum call per record on the recovery scan's hot path).
pub const REC_CRC_OFFSET: usize = 0;
pub const REC_LEN_OFFSET: usize = REC_CRC_OFFSET + 4;
pub const REC_KIND_OFFSET: usize = REC_LEN_OFFSET + 4;
pub const REC_CRC_PREV_OFFSET: usize = REC_KIND_OFFSET + 1 + 3; // + 3 reserved
pub const REC_LSN_OFFSET: usize = REC_CRC_PREV_OFFSET + 4;
pub const REC_TXN_OFFSET: usize = REC_LSN_OFFSET + 8;
pub const REC_DURABLE_LSN_OFFSET: usize = REC_TXN_OFFSET + 8;
/// Size of a record header; the payload follows.
pub const RECORD_HEADER_BYTES: usize = REC_DURABLE_LSN_OFFSET + 8;
/// Records start on this boundary; the gap after a payload is zero padding.
pub const RECORD_ALIGN: usize = 8;
const _: () = assert!(RECORD_HEADER_BYTES == 40);
const _: () = assert!(RECORD_HEADER_BYTES.is_multiple_of(RECORD_ALIGN));

/// Record kinds the WAL itself interprets. Kinds from 16 up belong to upper layers.
pub const KIND_END_OF_SEGMENT: u8 = 1;

/// The space a record with `payload_len` bytes of payload occupies, padding included.
/// Saturates instead of overflowing: readers call it on lengths read from disk before
/// checking them against the file.
pub fn record_size(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES
        .saturating_add(payload_len)
        .checked_next_multiple_of(RECORD_ALIGN)
        .unwrap_or(usize::MAX)
}

/// The fields of a record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: u8,
    pub lsn: Lsn,
    pub txn_id: u64,
    pub durable_lsn: Lsn,
    pub crc_prev: u32,
}

/// Appends one encoded record (header, payload, padding) to `out`; returns its CRC, which
/// the next record carries as `crc_prev`.
pub fn encode_record(out: &mut Vec<u8>, header: &RecordHeader, payload: &[u8]) -> u32 {
    encode_record_with(out, header, payload.len(), |o| o.extend_from_slice(payload))
}

/// Like [`encode_record`], with the payload written in place by `write`, which must
/// append exactly `payload_len` bytes (this saves a copy on the insert path).
pub fn encode_record_with(
    out: &mut Vec<u8>,
    header: &RecordHeader,
    payload_len: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> u32 {
    assert!(
        header.kind != 0,
        "kind 0 is reserved so zeroed bytes never decode"
    );
    assert!(payload_len <= u32::MAX as usize);
    let start = out.len();
    out.reserve(record_size(payload_len));
    out.resize(start + RECORD_HEADER_BYTES, 0);
    write(out);
    assert_eq!(
        out.len() - start - RECORD_HEADER_BYTES,
        payload_len,
        "payload length as announced"
    );
    let head = &mut out[start..start + RECORD_HEADER_BYTES];
    put_u32(head, REC_LEN_OFFSET, payload_len as u32);
    head[REC_KIND_OFFSET] = header.kind;
    put_u64(head, REC_LSN_OFFSET, header.lsn);
    put_u64(head, REC_TXN_OFFSET, header.txn_id);
    put_u64(head, REC_DURABLE_LSN_OFFSET, header.durable_lsn);
    put_u32(head, REC_CRC_PREV_OFFSET, header.crc_prev);
    let crc = crc32(&[&out[start + REC_CRC_OFFSET + 4..start + RECORD_HEADER_BYTES + payload_len]]);
    put_u32(&mut out[start..], REC_CRC_OFFSET, crc);
    out.resize(start + record_size(payload_len), 0);
    crc
}

/// A record decoded from bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodedRecord<'a> {
    pub header: RecordHeader,
    pub crc: u32,
    pub payload: &'a [u8],
    /// Bytes the record occupies, padding included.
    pub size: usize,
}

/// Why bytes did not decode as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than a header, or than the header's length field claims.
    Truncated,
    /// The header is all zeros: the unwritten remainder of a preallocated segment.
    Zero,
    /// Kind 0 or a length that cannot be right.
    Malformed,
    Checksum {
        expected: u32,
        actual: u32,
    },
}

/// Decodes the record at the start of `bytes` on its own (without the chain check, which
/// needs the previous record). Never panics, whatever the bytes.
pub fn decode_record(bytes: &[u8]) -> Result<DecodedRecord<'_>, RecordError> {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Err(RecordError::Truncated);
    }
    let h = &bytes[..RECORD_HEADER_BYTES];
    if h.iter().all(|&b| b == 0) {
        return Err(RecordError::Zero);
    }
    let kind = h[REC_KIND_OFFSET];
    let payload_len = get_u32(h, REC_LEN_OFFSET) as usize;
    if kind == 0 {
        return Err(RecordError::Malformed);
    }
    if payload_len > bytes.len() - RECORD_HEADER_BYTES {
        return Err(RecordError::Truncated);
    }
    let payload = &bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_len];
    let expected = get_u32(h, REC_CRC_OFFSET);
    let actual = crc32(&[&bytes[REC_CRC_OFFSET + 4..RECORD_HEADER_BYTES + payload_len]]);
    if expected != actual {
        return Err(RecordError::Checksum { expected, actual });
    }
    let size = record_size(payload_len);
    Ok(DecodedRecord {
        header: RecordHeader {
            kind,
            lsn: get_u64(h, REC_LSN_OFFSET),
            txn_id: get_u64(h, REC_TXN_OFFSET),
            durable_lsn: get_u64(h, REC_DURABLE_LSN_OFFSET),
            crc_prev: get_u32(h, REC_CRC_PREV_OFFSET),
        },
        crc: expected,
        payload,
        // A record whose padding runs past the buffer is still a record: the padding
        // is never read.
        size: size.min(bytes.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(lsn: Lsn) -> RecordHeader {
        RecordHeader {
            kind: 17,
            lsn,
            txn_id: 3,
            durable_lsn: lsn - 1,
            crc_prev: 0xdead_beef,
        }
    }

    #[test]
    fn record_round_trips() {
        let mut buf = Vec::new();
        let crc = encode_record(&mut buf, &header(9), b"hello");
        assert_eq!(buf.len(), record_size(5));
        assert_eq!(buf.len() % RECORD_ALIGN, 0);
        let r = decode_record(&buf).unwrap();
        assert_eq!(r.header, header(9));
        assert_eq!(r.payload, b"hello");
        assert_eq!(r.crc, crc);
    }

    #[test]
    fn every_flipped_bit_in_a_record_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &header(5), b"payload bytes");
        let used = RECORD_HEADER_BYTES + 13;
        for bit in 0..used * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_record(&b).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn zeros_decode_as_zero_not_as_a_record() {
        assert_eq!(decode_record(&[0u8; 64]), Err(RecordError::Zero));
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            segment_size_bytes: 1 << 20,
            database_id: 7,
            segment_no: 2,
            first_lsn: 100,
            crc_prev: 55,
            durable_lsn: 90,
        };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        b[SEG_FIRST_LSN_OFFSET] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&b),
            Err(HeaderError::Checksum { .. })
        ));
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("wal-xyz.log"), None);
        assert_eq!(parse_segment_file_name("MANIFEST"), None);
    }
}
