//! WAL records of the heap layer, and how each applies to a page.
//!
//! Records are physiological: each names one page and an operation on a slot of it. The
//! same `apply` runs when the operation is first performed and when recovery redoes it,
//! so redo cannot drift from what was done.

use crate::codec::Reader;
use crate::page::format::{Page, PageId};
use crate::Lsn;

use super::slotted::{self, SlotNo};

/// Record kinds (the WAL's `kind` byte). docs/FORMAT.md lists every kind.
pub const KIND_PAGE_INIT: u8 = 16;
pub const KIND_SET_NEXT: u8 = 17;
pub const KIND_SET_TAIL: u8 = 18;
pub const KIND_INSERT: u8 = 19;
pub const KIND_UPDATE: u8 = 20;
pub const KIND_DELETE: u8 = 21;
pub const KIND_PAGE_FREE: u8 = 22;
/// The same records written for a catalog mutation carry their kind plus this offset
/// (48..=54): the `WalRecordFragment::Catalog*` kinds. They apply exactly alike; the
/// distinct kind lets a reader of the log tell catalog changes from user data.
pub const CATALOG_KIND_OFFSET: u8 = 32;

/// Whether `kind` is one of the catalog-mutation kinds.
pub fn is_catalog_kind(kind: u8) -> bool {
    (KIND_PAGE_INIT + CATALOG_KIND_OFFSET..=KIND_PAGE_FREE + CATALOG_KIND_OFFSET).contains(&kind)
}

/// A heap record. The tuple is owned when a record is made (`Vec<u8>`, the default) and
/// borrowed from the log when one is read back (`&[u8]`), so redo allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeapRecord<T = Vec<u8>> {
    /// A new, empty heap page owned by `owner` (a table or catalog relation id).
    PageInit {
        page: PageId,
        owner: u64,
    },
    /// Links `next` after `page` in its heap's chain.
    SetNext {
        page: PageId,
        next: PageId,
    },
    /// Records on a heap's first page which page is last.
    SetTail {
        page: PageId,
        tail: PageId,
    },
    Insert {
        page: PageId,
        slot: SlotNo,
        tuple: T,
    },
    Update {
        page: PageId,
        slot: SlotNo,
        tuple: T,
    },
    Delete {
        page: PageId,
        slot: SlotNo,
    },
    /// The page leaves its heap (the heap was dropped).
    PageFree {
        page: PageId,
    },
}

impl<T: AsRef<[u8]> + std::fmt::Debug> HeapRecord<T> {
    pub fn kind(&self) -> u8 {
        match self {
            HeapRecord::PageInit { .. } => KIND_PAGE_INIT,
            HeapRecord::SetNext { .. } => KIND_SET_NEXT,
            HeapRecord::SetTail { .. } => KIND_SET_TAIL,
            HeapRecord::Insert { .. } => KIND_INSERT,
            HeapRecord::Update { .. } => KIND_UPDATE,
            HeapRecord::Delete { .. } => KIND_DELETE,
            HeapRecord::PageFree { .. } => KIND_PAGE_FREE,
        }
    }

    pub fn page(&self) -> PageId {
        match self {
            HeapRecord::PageInit { page, .. }
            | HeapRecord::SetNext { page, .. }
            | HeapRecord::SetTail { page, .. }
            | HeapRecord::Insert { page, .. }
            | HeapRecord::Update { page, .. }
            | HeapRecord::Delete { page, .. }
            | HeapRecord::PageFree { page } => *page,
        }
    }

    /// The payload bytes: page id (u64) first, then per kind: owner (u64); next (u64);
    /// tail (u64); slot (u16) and tuple (rest); slot (u16) and tuple; slot (u16); nothing.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.page().to_le_bytes());
        match self {
            HeapRecord::PageInit { owner: v, .. }
            | HeapRecord::SetNext { next: v, .. }
            | HeapRecord::SetTail { tail: v, .. } => out.extend_from_slice(&v.to_le_bytes()),
            HeapRecord::Insert { slot, tuple, .. } | HeapRecord::Update { slot, tuple, .. } => {
                out.extend_from_slice(&slot.to_le_bytes());
                out.extend_from_slice(tuple.as_ref());
            }
            HeapRecord::Delete { slot, .. } => out.extend_from_slice(&slot.to_le_bytes()),
            HeapRecord::PageFree { .. } => {}
        }
    }

    /// The length of [`HeapRecord::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        8 + match self {
            HeapRecord::PageInit { .. }
            | HeapRecord::SetNext { .. }
            | HeapRecord::SetTail { .. } => 8,
            HeapRecord::Insert { tuple, .. } | HeapRecord::Update { tuple, .. } => {
                2 + tuple.as_ref().len()
            }
            HeapRecord::Delete { .. } => 2,
            HeapRecord::PageFree { .. } => 0,
        }
    }

    /// Applies the record to `page` (not for `PageInit`/`PageFree`, which create and drop
    /// pages in the pool). Sets the page LSN. An error means the record does not fit the
    /// page: during redo that is corruption, at do-time a bug.
    pub fn apply(&self, lsn: Lsn, page: &mut Page) -> Result<(), String> {
        if page.id() != self.page() {
            return Err(format!(
                "record for page {} applied to page {}",
                self.page(),
                page.id()
            ));
        }
        let ok = match self {
            HeapRecord::SetNext { next, .. } => {
                page.set_next(*next);
                true
            }
            HeapRecord::SetTail { tail, .. } => {
                page.set_tail(*tail);
                true
            }
            HeapRecord::Insert { slot, tuple, .. } => {
                let tuple = tuple.as_ref();
                !tuple.is_empty()
                    && tuple.len() <= slotted::TUPLE_BYTES_MAX
                    && slotted::insert_at(page, *slot, tuple)
            }
            HeapRecord::Update { slot, tuple, .. } => {
                let tuple = tuple.as_ref();
                !tuple.is_empty()
                    && tuple.len() <= slotted::TUPLE_BYTES_MAX
                    && slotted::replace(page, *slot, tuple)
            }
            HeapRecord::Delete { slot, .. } => slotted::remove(page, *slot),
            HeapRecord::PageInit { .. } | HeapRecord::PageFree { .. } => {
                return Err("page-level record applied to page bytes".into())
            }
        };
        if !ok {
            return Err(format!("{self:?} does not apply to page {}", page.id()));
        }
        page.set_lsn(lsn);
        Ok(())
    }
}

impl<'a> HeapRecord<&'a [u8]> {
    /// Decodes a payload of `kind`; `None` if it is not one of this layer's kinds, an
    /// error if it is but the bytes are malformed (short, or with bytes left over). The
    /// tuple is borrowed from `payload`.
    pub fn decode(kind: u8, payload: &'a [u8]) -> Option<Result<HeapRecord<&'a [u8]>, String>> {
        let kind = if is_catalog_kind(kind) {
            kind - CATALOG_KIND_OFFSET
        } else {
            kind
        };
        if !(KIND_PAGE_INIT..=KIND_PAGE_FREE).contains(&kind) {
            return None;
        }
        let mut r = Reader::new(payload);
        let decoded = Self::decode_fields(kind, &mut r).map_err(|t| {
            format!(
                "heap record of kind {kind} truncated at byte {}",
                t.position
            )
        });
        Some(decoded.and_then(|record| match r.remaining() {
            0 => Ok(record),
            extra => Err(format!(
                "heap record of kind {kind} has {extra} bytes left over"
            )),
        }))
    }

    fn decode_fields(
        kind: u8,
        r: &mut Reader<'a>,
    ) -> Result<HeapRecord<&'a [u8]>, crate::codec::Truncated> {
        let page = r.u64()?;
        Ok(match kind {
            KIND_PAGE_INIT => HeapRecord::PageInit {
                page,
                owner: r.u64()?,
            },
            KIND_SET_NEXT => HeapRecord::SetNext {
                page,
                next: r.u64()?,
            },
            KIND_SET_TAIL => HeapRecord::SetTail {
                page,
                tail: r.u64()?,
            },
            KIND_INSERT => HeapRecord::Insert {
                page,
                slot: r.u16()?,
                tuple: r.take(r.remaining())?,
            },
            KIND_UPDATE => HeapRecord::Update {
                page,
                slot: r.u16()?,
                tuple: r.take(r.remaining())?,
            },
            KIND_DELETE => HeapRecord::Delete {
                page,
                slot: r.u16()?,
            },
            _ => HeapRecord::PageFree { page },
        })
    }

    /// The same record with its tuple copied out of the log.
    pub fn into_owned(self) -> HeapRecord {
        match self {
            HeapRecord::PageInit { page, owner } => HeapRecord::PageInit { page, owner },
            HeapRecord::SetNext { page, next } => HeapRecord::SetNext { page, next },
            HeapRecord::SetTail { page, tail } => HeapRecord::SetTail { page, tail },
            HeapRecord::Insert { page, slot, tuple } => HeapRecord::Insert {
                page,
                slot,
                tuple: tuple.to_vec(),
            },
            HeapRecord::Update { page, slot, tuple } => HeapRecord::Update {
                page,
                slot,
                tuple: tuple.to_vec(),
            },
            HeapRecord::Delete { page, slot } => HeapRecord::Delete { page, slot },
            HeapRecord::PageFree { page } => HeapRecord::PageFree { page },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let records = [
            HeapRecord::PageInit {
                page: 5,
                owner: 1001,
            },
            HeapRecord::SetNext { page: 5, next: 6 },
            HeapRecord::SetTail { page: 5, tail: 6 },
            HeapRecord::Insert {
                page: 6,
                slot: 3,
                tuple: vec![0, 1, 2],
            },
            HeapRecord::Update {
                page: 6,
                slot: 3,
                tuple: vec![0, 9],
            },
            HeapRecord::Delete { page: 6, slot: 3 },
            HeapRecord::PageFree { page: 6 },
        ];
        for record in records {
            let mut payload = Vec::new();
            record.encode(&mut payload);
            assert_eq!(payload.len(), record.encoded_len());
            let back = HeapRecord::decode(record.kind(), &payload)
                .map(|r| r.map(HeapRecord::into_owned))
                .unwrap()
                .unwrap();
            assert_eq!(back, record);
        }
    }

    #[test]
    fn catalog_kinds_decode_to_the_same_records() {
        let record = HeapRecord::Insert {
            page: 3,
            slot: 1,
            tuple: vec![0, 4],
        };
        let mut payload = Vec::new();
        record.encode(&mut payload);
        let kind = record.kind() + CATALOG_KIND_OFFSET;
        assert!(is_catalog_kind(kind));
        assert!(!is_catalog_kind(record.kind()));
        assert_eq!(
            HeapRecord::decode(kind, &payload)
                .unwrap()
                .unwrap()
                .into_owned(),
            record
        );
    }

    #[test]
    fn truncated_payload_is_an_error() {
        assert!(HeapRecord::decode(KIND_INSERT, &[1, 2, 3])
            .unwrap()
            .is_err());
        assert!(HeapRecord::decode(99, &[]).is_none());
    }
}
