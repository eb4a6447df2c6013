//! The page format, byte by byte. docs/FORMAT.md mirrors this file.
//!
//! Every page is `PAGE_SIZE_BYTES` long and opens with a 56-byte header. The CRC at
//! offset 0 covers bytes 4..PAGE_SIZE; it is computed when a page image is written to the
//! image store and checked on every read from it (in memory, pages carry no valid CRC).
//! The header names the page's own id, so an image written to the wrong slot is caught
//! as surely as a flipped bit.

use crate::codec::{crc32, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

/// Page size. 8 KiB: two 4 KiB sectors, the size PostgreSQL uses; small rows pack about
/// forty to a page.
pub const PAGE_SIZE_BYTES: usize = 8192;
const _: () = assert!(PAGE_SIZE_BYTES.is_power_of_two());
const _: () = assert!(PAGE_SIZE_BYTES <= u16::MAX as usize);

/// Page identifier. 0 means "no page"; ids are never reused.
pub type PageId = u64;

pub const CRC_OFFSET: usize = 0;
pub const KIND_OFFSET: usize = CRC_OFFSET + 4;
pub const FORMAT_OFFSET: usize = KIND_OFFSET + 1;
pub const SLOT_COUNT_OFFSET: usize = FORMAT_OFFSET + 1;
pub const PAGE_ID_OFFSET: usize = SLOT_COUNT_OFFSET + 2;
pub const LSN_OFFSET: usize = PAGE_ID_OFFSET + 8;
pub const OWNER_OFFSET: usize = LSN_OFFSET + 8;
pub const NEXT_OFFSET: usize = OWNER_OFFSET + 8;
pub const TAIL_OFFSET: usize = NEXT_OFFSET + 8;
pub const DATA_START_OFFSET: usize = TAIL_OFFSET + 8;
/// Bytes of live tuples on a heap page (so free space is known without a scan).
pub const LIVE_BYTES_OFFSET: usize = DATA_START_OFFSET + 2;
/// Empty slots below the slot count (so an insert knows whether to look for one).
pub const EMPTY_SLOTS_OFFSET: usize = LIVE_BYTES_OFFSET + 2;
/// Size of the page header; a heap page's slot array starts here.
pub const PAGE_HEADER_BYTES: usize = EMPTY_SLOTS_OFFSET + 2 + 2; // + 2 reserved
const _: () = assert!(PAGE_HEADER_BYTES == 56);

/// The format version written in every page header.
pub const PAGE_FORMAT: u8 = 2;

/// What a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageKind {
    /// A slotted page of a heap (a user table or a catalog relation).
    Heap = 1,
}

impl PageKind {
    pub fn from_u8(value: u8) -> Option<PageKind> {
        match value {
            1 => Some(PageKind::Heap),
            _ => None,
        }
    }
}

/// One page in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Page {
    bytes: Box<[u8]>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("id", &self.id())
            .field("kind", &self.kind_byte())
            .field("lsn", &self.lsn())
            .finish_non_exhaustive()
    }
}

impl Page {
    /// A zeroed page with a header naming it.
    pub fn new(id: PageId, kind: PageKind, owner: u64) -> Page {
        let mut page = Page {
            bytes: vec![0u8; PAGE_SIZE_BYTES].into_boxed_slice(),
        };
        page.bytes[KIND_OFFSET] = kind as u8;
        page.bytes[FORMAT_OFFSET] = PAGE_FORMAT;
        put_u64(&mut page.bytes, PAGE_ID_OFFSET, id);
        put_u64(&mut page.bytes, OWNER_OFFSET, owner);
        put_u16(&mut page.bytes, DATA_START_OFFSET, PAGE_SIZE_BYTES as u16);
        page
    }

    /// Wraps bytes read from disk after checking their CRC (unless `verify_crc` is false,
    /// which only the planted-bug switch asks for) and identity.
    pub fn from_disk(
        bytes: Box<[u8]>,
        expected_id: PageId,
        verify_crc: bool,
    ) -> Result<Page, PageError> {
        if bytes.len() != PAGE_SIZE_BYTES {
            return Err(PageError::Size(bytes.len()));
        }
        let expected = get_u32(&bytes, CRC_OFFSET);
        let actual = crc32(&[&bytes[CRC_OFFSET + 4..]]);
        if verify_crc && expected != actual {
            return Err(PageError::Checksum { expected, actual });
        }
        let page = Page { bytes };
        if page.id() != expected_id {
            return Err(PageError::WrongId {
                expected: expected_id,
                actual: page.id(),
            });
        }
        if page.bytes[FORMAT_OFFSET] != PAGE_FORMAT || page.kind().is_none() {
            return Err(PageError::Malformed("unknown page kind or format"));
        }
        Ok(page)
    }

    /// Wraps bytes without checks (for fuzzing the decoders that sit on top).
    pub fn from_bytes_unchecked(bytes: Box<[u8]>) -> Option<Page> {
        (bytes.len() == PAGE_SIZE_BYTES).then_some(Page { bytes })
    }

    /// The image to write to disk: these bytes with the CRC filled in.
    pub fn to_disk(&self) -> Vec<u8> {
        let mut out = self.bytes.to_vec();
        let crc = crc32(&[&out[CRC_OFFSET + 4..]]);
        put_u32(&mut out, CRC_OFFSET, crc);
        out
    }

    /// The page's buffer, for reuse.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.bytes
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub fn id(&self) -> PageId {
        get_u64(&self.bytes, PAGE_ID_OFFSET)
    }

    fn kind_byte(&self) -> u8 {
        self.bytes[KIND_OFFSET]
    }

    pub fn kind(&self) -> Option<PageKind> {
        PageKind::from_u8(self.kind_byte())
    }

    /// LSN of the last WAL record applied to this page.
    pub fn lsn(&self) -> u64 {
        get_u64(&self.bytes, LSN_OFFSET)
    }

    pub fn set_lsn(&mut self, lsn: u64) {
        put_u64(&mut self.bytes, LSN_OFFSET, lsn);
    }

    /// The table (or catalog relation) this page belongs to.
    pub fn owner(&self) -> u64 {
        get_u64(&self.bytes, OWNER_OFFSET)
    }

    pub fn next(&self) -> PageId {
        get_u64(&self.bytes, NEXT_OFFSET)
    }

    pub fn set_next(&mut self, next: PageId) {
        put_u64(&mut self.bytes, NEXT_OFFSET, next);
    }

    /// On a heap's first page: the last page of its chain.
    pub fn tail(&self) -> PageId {
        get_u64(&self.bytes, TAIL_OFFSET)
    }

    pub fn set_tail(&mut self, tail: PageId) {
        put_u64(&mut self.bytes, TAIL_OFFSET, tail);
    }

    pub fn slot_count(&self) -> u16 {
        get_u16(&self.bytes, SLOT_COUNT_OFFSET)
    }

    pub fn set_slot_count(&mut self, count: u16) {
        put_u16(&mut self.bytes, SLOT_COUNT_OFFSET, count);
    }

    /// Offset of the lowest tuple byte; tuples are packed down from the end of the page.
    pub fn data_start(&self) -> usize {
        get_u16(&self.bytes, DATA_START_OFFSET) as usize
    }

    pub fn live_bytes(&self) -> usize {
        get_u16(&self.bytes, LIVE_BYTES_OFFSET) as usize
    }

    pub fn set_live_bytes(&mut self, bytes: usize) {
        assert!(bytes <= PAGE_SIZE_BYTES);
        put_u16(&mut self.bytes, LIVE_BYTES_OFFSET, bytes as u16);
    }

    pub fn empty_slots(&self) -> u16 {
        get_u16(&self.bytes, EMPTY_SLOTS_OFFSET)
    }

    pub fn set_empty_slots(&mut self, count: u16) {
        put_u16(&mut self.bytes, EMPTY_SLOTS_OFFSET, count);
    }

    pub fn set_data_start(&mut self, offset: usize) {
        assert!(offset <= PAGE_SIZE_BYTES);
        put_u16(&mut self.bytes, DATA_START_OFFSET, offset as u16);
    }
}

/// Why bytes read from disk are not a valid page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    Size(usize),
    Checksum { expected: u32, actual: u32 },
    WrongId { expected: PageId, actual: PageId },
    Malformed(&'static str),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Size(n) => write!(f, "page image is {n} bytes"),
            PageError::Checksum { expected, actual } => {
                write!(
                    f,
                    "page checksum mismatch: expected {expected:#010x}, actual {actual:#010x}"
                )
            }
            PageError::WrongId { expected, actual } => {
                write!(f, "slot holds page {actual}, expected page {expected}")
            }
            PageError::Malformed(what) => write!(f, "malformed page: {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_round_trips_through_its_disk_image() {
        let mut p = Page::new(42, PageKind::Heap, 7);
        p.set_lsn(99);
        p.bytes_mut()[PAGE_SIZE_BYTES - 1] = 5;
        let image = p.to_disk();
        let back = Page::from_disk(image.into_boxed_slice(), 42, true).unwrap();
        assert_eq!(back.lsn(), 99);
        assert_eq!(back.owner(), 7);
        assert_eq!(back.bytes()[PAGE_SIZE_BYTES - 1], 5);
    }

    #[test]
    fn flipped_bit_in_page_image_is_detected() {
        let image = Page::new(3, PageKind::Heap, 1).to_disk();
        for bit in [0usize, 40, 8 * 100, 8 * PAGE_SIZE_BYTES - 1] {
            let mut b = image.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Page::from_disk(b.into_boxed_slice(), 3, true).is_err(),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn image_of_another_page_is_rejected() {
        let image = Page::new(3, PageKind::Heap, 1).to_disk();
        assert_eq!(
            Page::from_disk(image.into_boxed_slice(), 4, true),
            Err(PageError::WrongId {
                expected: 4,
                actual: 3
            })
        );
    }
}
