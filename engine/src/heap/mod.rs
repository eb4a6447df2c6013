//! Heaps: unordered collections of tuples in a chain of slotted pages, addressed by
//! stable row ids.
//!
//! A heap is identified by its first page (the root), which also records the last page
//! of the chain; inserts go to that tail page, or to a new page linked after it. A row id
//! is `page_id << 16 | slot` and never changes for the life of the row: a row that grows
//! too large for its page moves, leaving a redirect behind under its original id.

pub mod record;
pub mod slotted;

use std::sync::Arc;

use crate::page::{BufferPool, Page, PageId, PageKind, Snapshot};
use crate::Lsn;
use crate::{StorageError, StorageResult};

use record::HeapRecord;
use slotted::{SlotNo, TAG_MOVED, TAG_REDIRECT, TAG_ROW};

/// A row's address, stable for the row's life.
pub type RowId = u64;

/// Extra bytes a row costs as a tuple when it has moved: tag and origin row id.
const MOVED_OVERHEAD_BYTES: usize = 1 + 8;
/// The largest row (encoded bytes) a heap stores.
pub const ROW_BYTES_MAX: usize = slotted::TUPLE_BYTES_MAX - MOVED_OVERHEAD_BYTES;

pub fn row_id(page: PageId, slot: SlotNo) -> RowId {
    assert!(page < 1 << 48);
    page << 16 | RowId::from(slot)
}

pub fn row_id_parts(row_id: RowId) -> (PageId, SlotNo) {
    (row_id >> 16, (row_id & 0xffff) as SlotNo)
}

/// What heap writes need from the transaction: logging and page ids.
pub trait HeapLog {
    /// Appends `record` to the WAL as part of the transaction; returns its LSN.
    fn log(&mut self, record: &HeapRecord) -> StorageResult<Lsn>;
    /// A page id never used before.
    fn new_page_id(&mut self) -> PageId;
}

/// Logs a record and applies it to its page in the pool: the one path by which heap
/// pages change, shared in spirit with redo (which applies the same records).
fn perform(pool: &BufferPool, log: &mut dyn HeapLog, record: HeapRecord) -> StorageResult<()> {
    let lsn = log.log(&record)?;
    match &record {
        HeapRecord::PageInit { page, owner } => {
            let mut p = Page::new(*page, PageKind::Heap, *owner);
            p.set_lsn(lsn);
            pool.create(p)
        }
        HeapRecord::PageFree { page } => {
            pool.free(*page);
            Ok(())
        }
        _ => {
            let page = record.page();
            let applied = pool.write(page, |p| record.apply(lsn, p))?;
            assert!(applied.is_ok(), "do-time record did not apply: {applied:?}");
            Ok(())
        }
    }
}

/// Creates an empty heap owned by `owner`; returns its root page.
pub fn create(pool: &BufferPool, log: &mut dyn HeapLog, owner: u64) -> StorageResult<PageId> {
    let root = log.new_page_id();
    perform(pool, log, HeapRecord::PageInit { page: root, owner })?;
    perform(
        pool,
        log,
        HeapRecord::SetTail {
            page: root,
            tail: root,
        },
    )?;
    Ok(root)
}

/// Frees every page of the heap; returns how many.
pub fn drop_heap(pool: &BufferPool, log: &mut dyn HeapLog, root: PageId) -> StorageResult<u64> {
    let pages = chain(pool, Snapshot::Writer, root)?;
    for &page in &pages {
        perform(pool, log, HeapRecord::PageFree { page })?;
    }
    Ok(pages.len() as u64)
}

/// The page ids of the heap's chain, in order.
pub fn chain(pool: &BufferPool, snapshot: Snapshot, root: PageId) -> StorageResult<Vec<PageId>> {
    let mut pages = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut next = root;
    while next != 0 {
        if !seen.insert(next) {
            return Err(cycle(root));
        }
        pages.push(next);
        next = pool.read(next, snapshot)?.next();
    }
    Ok(pages)
}

fn cycle(root: PageId) -> StorageError {
    StorageError::corruption(
        "buffer pool",
        root,
        format!("heap chain of page {root} loops"),
    )
}

/// A buffer for a row's tuple: the tag byte, with room for `row_len` bytes of row after
/// it. Encode the row into it and pass it to [`insert_tuple`].
pub fn row_tuple(row_len: usize) -> Vec<u8> {
    let mut tuple = Vec::with_capacity(row_len + 1);
    tuple.push(TAG_ROW);
    tuple
}

/// Inserts a row; returns its id.
pub fn insert(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    root: PageId,
    row: &[u8],
) -> StorageResult<RowId> {
    let mut tuple = row_tuple(row.len());
    tuple.extend_from_slice(row);
    insert_tuple(pool, log, root, tuple)
}

/// Inserts a row already in tuple form (see [`row_tuple`]); returns its id.
pub fn insert_tuple(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    root: PageId,
    tuple: Vec<u8>,
) -> StorageResult<RowId> {
    assert!(tuple.first() == Some(&TAG_ROW));
    assert!(tuple.len() <= ROW_BYTES_MAX + 1);
    place(pool, log, root, tuple)
}

/// Places a tuple on the tail page, growing the chain if it does not fit.
fn place(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    root: PageId,
    tuple: Vec<u8>,
) -> StorageResult<RowId> {
    let tail = pool.read(root, Snapshot::Writer)?.tail();
    let tuple = match place_on(pool, log, tail, tuple)? {
        Ok(slot) => return Ok(row_id(tail, slot)),
        Err(tuple) => tuple,
    };
    let owner = pool.read(tail, Snapshot::Writer)?.owner();
    let new_page = log.new_page_id();
    perform(
        pool,
        log,
        HeapRecord::PageInit {
            page: new_page,
            owner,
        },
    )?;
    perform(
        pool,
        log,
        HeapRecord::SetNext {
            page: tail,
            next: new_page,
        },
    )?;
    perform(
        pool,
        log,
        HeapRecord::SetTail {
            page: root,
            tail: new_page,
        },
    )?;
    match place_on(pool, log, new_page, tuple)? {
        Ok(slot) => Ok(row_id(new_page, slot)),
        Err(_) => unreachable!("a tuple of at most TUPLE_BYTES_MAX fits an empty page"),
    }
}

/// Inserts `tuple` into `page` if it fits: the fit check, the log record and the change
/// happen under one hold of the page (this is the bulk-load hot path). Gives the tuple
/// back if it does not fit.
fn place_on(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    page: PageId,
    tuple: Vec<u8>,
) -> StorageResult<Result<SlotNo, Vec<u8>>> {
    pool.write(page, |p| {
        if !slotted::fits(p, tuple.len()) {
            return Ok(Err(tuple));
        }
        let slot = slotted::next_slot(p);
        let record = HeapRecord::Insert { page, slot, tuple };
        let lsn = log.log(&record)?;
        let applied = record.apply(lsn, p);
        assert!(
            applied.is_ok(),
            "a checked insert did not apply: {applied:?}"
        );
        Ok(Ok(slot))
    })?
}

/// Where a row lives and how it is stored.
enum Located {
    /// The row is stored in its own slot.
    Home(Vec<u8>),
    /// The row moved: its slot redirects to `target`.
    Moved { target: RowId, row: Vec<u8> },
}

/// Finds the row `row_id` of the heap owned by `owner`, as `snapshot` sees it. `None` if
/// there is no such row: a row id is user input, so a missing page, a page of another
/// table or an empty slot are all simply "not found".
fn locate(
    pool: &BufferPool,
    snapshot: Snapshot,
    owner: u64,
    row_id: RowId,
) -> StorageResult<Option<Located>> {
    let (page_id, slot) = row_id_parts(row_id);
    let Some(page) = owned_page(pool, snapshot, owner, page_id)? else {
        return Ok(None);
    };
    let Some(tuple) = slotted::tuple(&page, slot) else {
        return Ok(None);
    };
    match tuple[0] {
        TAG_ROW => Ok(Some(Located::Home(tuple[1..].to_vec()))),
        TAG_REDIRECT => {
            let target = redirect_target(tuple, page_id)?;
            let (tp, ts) = row_id_parts(target);
            let moved_page =
                owned_page(pool, snapshot, owner, tp)?.ok_or_else(|| dangling(page_id, target))?;
            let moved = slotted::tuple(&moved_page, ts).ok_or_else(|| dangling(page_id, target))?;
            if moved.len() < MOVED_OVERHEAD_BYTES || moved[0] != TAG_MOVED {
                return Err(dangling(page_id, target));
            }
            let row = moved[MOVED_OVERHEAD_BYTES..].to_vec();
            Ok(Some(Located::Moved { target, row }))
        }
        // A moved row's new home is not a row id anyone was given.
        _ => Ok(None),
    }
}

fn owned_page(
    pool: &BufferPool,
    snapshot: Snapshot,
    owner: u64,
    page_id: PageId,
) -> StorageResult<Option<Arc<Page>>> {
    if page_id == 0 {
        return Ok(None);
    }
    let page = pool.read_if_exists(page_id, snapshot)?;
    Ok(page.filter(|p| p.owner() == owner))
}

fn redirect_target(tuple: &[u8], page_id: PageId) -> StorageResult<RowId> {
    let bytes: [u8; 8] = tuple
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StorageError::corruption("buffer pool", page_id, "short redirect tuple"))?;
    Ok(RowId::from_le_bytes(bytes))
}

fn dangling(page_id: PageId, target: RowId) -> StorageError {
    StorageError::corruption(
        "buffer pool",
        page_id,
        format!("redirect on page {page_id} points at {target:#x}, which holds no moved row"),
    )
}

/// The row's bytes, or `None` if the heap has no such row.
pub fn get(
    pool: &BufferPool,
    snapshot: Snapshot,
    owner: u64,
    row_id: RowId,
) -> StorageResult<Option<Vec<u8>>> {
    Ok(locate(pool, snapshot, owner, row_id)?.map(|l| match l {
        Located::Home(row) | Located::Moved { row, .. } => row,
    }))
}

/// Replaces a row's bytes; false if the heap has no such row.
pub fn update(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    root: PageId,
    owner: u64,
    row_id: RowId,
    row: &[u8],
) -> StorageResult<bool> {
    assert!(row.len() <= ROW_BYTES_MAX);
    let Some(located) = locate(pool, Snapshot::Writer, owner, row_id)? else {
        return Ok(false);
    };
    let (page, slot) = row_id_parts(row_id);
    match located {
        Located::Home(_) => {
            let mut tuple = vec![TAG_ROW];
            tuple.extend_from_slice(row);
            if slotted::replace_fits(&*pool.read(page, Snapshot::Writer)?, slot, tuple.len()) {
                perform(pool, log, HeapRecord::Update { page, slot, tuple })?;
            } else {
                let target = place(pool, log, root, moved_tuple(row_id, row))?;
                perform(
                    pool,
                    log,
                    HeapRecord::Update {
                        page,
                        slot,
                        tuple: redirect_tuple(target),
                    },
                )?;
            }
        }
        Located::Moved { target, .. } => {
            let (tp, ts) = row_id_parts(target);
            let tuple = moved_tuple(row_id, row);
            if slotted::replace_fits(&*pool.read(tp, Snapshot::Writer)?, ts, tuple.len()) {
                perform(
                    pool,
                    log,
                    HeapRecord::Update {
                        page: tp,
                        slot: ts,
                        tuple,
                    },
                )?;
            } else {
                let new_target = place(pool, log, root, tuple)?;
                perform(pool, log, HeapRecord::Delete { page: tp, slot: ts })?;
                perform(
                    pool,
                    log,
                    HeapRecord::Update {
                        page,
                        slot,
                        tuple: redirect_tuple(new_target),
                    },
                )?;
            }
        }
    }
    Ok(true)
}

fn moved_tuple(origin: RowId, row: &[u8]) -> Vec<u8> {
    let mut tuple = Vec::with_capacity(row.len() + MOVED_OVERHEAD_BYTES);
    tuple.push(TAG_MOVED);
    tuple.extend_from_slice(&origin.to_le_bytes());
    tuple.extend_from_slice(row);
    tuple
}

fn redirect_tuple(target: RowId) -> Vec<u8> {
    let mut tuple = vec![TAG_REDIRECT];
    tuple.extend_from_slice(&target.to_le_bytes());
    tuple
}

/// Deletes a row; false if the heap has no such row.
pub fn delete(
    pool: &BufferPool,
    log: &mut dyn HeapLog,
    owner: u64,
    row_id: RowId,
) -> StorageResult<bool> {
    let Some(located) = locate(pool, Snapshot::Writer, owner, row_id)? else {
        return Ok(false);
    };
    if let Located::Moved { target, .. } = located {
        let (page, slot) = row_id_parts(target);
        perform(pool, log, HeapRecord::Delete { page, slot })?;
    }
    let (page, slot) = row_id_parts(row_id);
    perform(pool, log, HeapRecord::Delete { page, slot })?;
    Ok(true)
}

/// Iterates a heap's rows as a snapshot sees them, page by page.
pub struct Scan<'a> {
    pool: &'a BufferPool,
    snapshot: Snapshot,
    owner: u64,
    page: Option<Arc<Page>>,
    slot: SlotNo,
    pages_seen: u64,
}

impl<'a> Scan<'a> {
    pub fn new(
        pool: &'a BufferPool,
        snapshot: Snapshot,
        owner: u64,
        root: PageId,
    ) -> StorageResult<Scan<'a>> {
        let page = pool.read(root, snapshot)?;
        Ok(Scan {
            pool,
            snapshot,
            owner,
            page: Some(page),
            slot: 0,
            pages_seen: 1,
        })
    }

    /// The next row, or `None` at the end of the heap.
    pub fn next_row(&mut self) -> StorageResult<Option<(RowId, Vec<u8>)>> {
        while let Some(page) = self.page.clone() {
            if self.slot >= page.slot_count() {
                self.advance(&page)?;
                continue;
            }
            let slot = self.slot;
            self.slot += 1;
            let Some(tuple) = slotted::tuple(&page, slot) else {
                continue;
            };
            let id = row_id(page.id(), slot);
            match tuple[0] {
                TAG_ROW => return Ok(Some((id, tuple[1..].to_vec()))),
                TAG_REDIRECT => {
                    if let Some(Located::Moved { row, .. }) =
                        locate(self.pool, self.snapshot, self.owner, id)?
                    {
                        return Ok(Some((id, row)));
                    }
                }
                // Moved rows are reached through their redirect.
                _ => {}
            }
        }
        Ok(None)
    }

    fn advance(&mut self, page: &Page) -> StorageResult<()> {
        let next = page.next();
        self.slot = 0;
        self.pages_seen += 1;
        if self.pages_seen > 1 << 40 {
            return Err(cycle(page.id()));
        }
        self.page = if next == 0 {
            None
        } else {
            Some(self.pool.read(next, self.snapshot)?)
        };
        Ok(())
    }
}
