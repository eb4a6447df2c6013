//! `check_integrity`: every structural invariant the engine can verify on its own.
//!
//! The simulator checks meaning (is the data what was committed?) against its model; this
//! checks structure: that the bytes are self-consistent. Expected failures of the disk
//! (an image that fails its CRC) come back as `Err`; inconsistencies between structures
//! that each look fine are collected as problems.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::system::SYSTEM_RELATIONS;
use crate::catalog::Catalog;
use crate::heap::slotted::{self, TAG_MOVED, TAG_REDIRECT, TAG_ROW};
use crate::heap::{row_id, row_id_parts, RowId};
use crate::page::{BufferPool, PageId, PageKind, Snapshot};
use crate::txn::ReadSnapshot;
use crate::value::decode_row;
use crate::value::ColumnType;
use crate::StorageResult;

/// What [`crate::Database::check_integrity`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    pub problems: Vec<String>,
    pub pages_checked: u64,
    pub rows_checked: u64,
    pub heaps_checked: u64,
}

impl IntegrityReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A heap to check: its owner id, root page, and row types.
struct HeapToCheck {
    name: String,
    owner: u64,
    root: PageId,
    types: Vec<ColumnType>,
}

pub(crate) fn check(read: &ReadSnapshot, pool: &BufferPool) -> StorageResult<IntegrityReport> {
    let snapshot = read.snapshot();
    let mut report = IntegrityReport {
        problems: pool.check()?,
        ..IntegrityReport::default()
    };
    let catalog = read.catalog();
    report.problems.extend(catalog.check());
    let stored = Catalog::load(pool, snapshot, catalog.epoch)?;
    if &stored != catalog.as_ref() {
        report
            .problems
            .push("the catalog in the system relations differs from the published catalog".into());
    }
    let mut heaps: Vec<HeapToCheck> = SYSTEM_RELATIONS
        .iter()
        .map(|r| HeapToCheck {
            name: r.name.into(),
            owner: r.id,
            root: r.root_page,
            types: r.types.to_vec(),
        })
        .collect();
    heaps.extend(catalog.tables().map(|t| HeapToCheck {
        name: t.name.clone(),
        owner: t.id,
        root: t.root_page,
        types: t.stored_types(),
    }));
    let mut owner_of: BTreeMap<PageId, String> = BTreeMap::new();
    for heap in &heaps {
        check_heap(pool, snapshot, heap, &mut owner_of, &mut report)?;
    }
    let live: BTreeSet<PageId> = pool.live_pages(snapshot).into_iter().collect();
    for page in live.iter().filter(|p| !owner_of.contains_key(p)) {
        report.problems.push(format!(
            "page {page} is live but belongs to no heap (leaked)"
        ));
    }
    Ok(report)
}

fn check_heap(
    pool: &BufferPool,
    snapshot: Snapshot,
    heap: &HeapToCheck,
    owner_of: &mut BTreeMap<PageId, String>,
    report: &mut IntegrityReport,
) -> StorageResult<()> {
    report.heaps_checked += 1;
    let root = pool.read(heap.root, snapshot)?;
    let mut redirects: BTreeMap<RowId, RowId> = BTreeMap::new();
    let mut moved: BTreeMap<RowId, RowId> = BTreeMap::new();
    let mut page_id = heap.root;
    let mut last = heap.root;
    while page_id != 0 {
        if let Some(other) = owner_of.insert(page_id, heap.name.clone()) {
            report.problems.push(format!(
                "page {page_id} is in the chains of both {other} and {}",
                heap.name
            ));
            return Ok(());
        }
        let page = pool.read(page_id, snapshot)?;
        report.pages_checked += 1;
        if page.owner() != heap.owner || page.kind() != Some(PageKind::Heap) {
            report.problems.push(format!(
                "page {page_id} in the chain of {} is owned by {}",
                heap.name,
                page.owner()
            ));
        }
        for problem in slotted::validate(&page) {
            report
                .problems
                .push(format!("page {page_id} of {}: {problem}", heap.name));
        }
        for slot in 0..page.slot_count() {
            let Some(tuple) = slotted::tuple(&page, slot) else {
                continue;
            };
            let id = row_id(page_id, slot);
            let row = match tuple[0] {
                TAG_ROW => &tuple[1..],
                TAG_REDIRECT if tuple.len() == 9 => {
                    redirects.insert(
                        id,
                        u64::from_le_bytes(tuple[1..9].try_into().expect("9 bytes")),
                    );
                    continue;
                }
                TAG_MOVED if tuple.len() >= 9 => {
                    moved.insert(
                        id,
                        u64::from_le_bytes(tuple[1..9].try_into().expect("9 bytes")),
                    );
                    &tuple[9..]
                }
                tag => {
                    report
                        .problems
                        .push(format!("row {id:#x} of {} has tag {tag}", heap.name));
                    continue;
                }
            };
            report.rows_checked += 1;
            if let Err(e) = decode_row(row, &heap.types) {
                report
                    .problems
                    .push(format!("row {id:#x} of {}: {}", heap.name, e.0));
            }
        }
        last = page_id;
        page_id = page.next();
    }
    if root.tail() != last {
        report.problems.push(format!(
            "{} records tail page {} but its chain ends at {last}",
            heap.name,
            root.tail()
        ));
    }
    for (origin, target) in &redirects {
        if moved.get(target) != Some(origin) {
            let (p, s) = row_id_parts(*target);
            report.problems.push(format!(
                "row {origin:#x} of {} redirects to page {p} slot {s}, which is not its moved row",
                heap.name
            ));
        }
    }
    for (at, origin) in &moved {
        if redirects.get(origin) != Some(at) {
            report.problems.push(format!(
                "moved row at {at:#x} of {} has no redirect from {origin:#x}",
                heap.name
            ));
        }
    }
    Ok(())
}
