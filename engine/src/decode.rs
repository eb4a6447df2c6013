//! Every decoder that reads bytes from disk, exposed for fuzzing and for tools.
//!
//! Each function takes arbitrary bytes and must return a value or an error, never panic,
//! never allocate more than the input justifies. The fuzz targets in `fuzz/` call these,
//! and `cargo test` replays their committed corpus.

use crate::page::Page;

/// Decodes a WAL record on its own (header, CRC, payload); returns its kind and LSN.
pub fn wal_record(bytes: &[u8]) -> Result<(u8, u64, usize), String> {
    crate::wal::format::decode_record(bytes)
        .map(|r| (r.header.kind, r.header.lsn, r.payload.len()))
        .map_err(|e| format!("{e:?}"))
}

/// Decodes a WAL record and then its payload as the layer that owns the kind would.
pub fn wal_record_payload(bytes: &[u8]) -> Result<String, String> {
    let record = crate::wal::format::decode_record(bytes).map_err(|e| format!("{e:?}"))?;
    let kind = record.header.kind;
    if let Some(heap) = crate::heap::record::HeapRecord::decode(kind, record.payload) {
        return heap.map(|r| format!("{r:?}"));
    }
    match kind {
        crate::txn::record::KIND_COMMIT => crate::txn::record::CommitRecord::decode(record.payload)
            .map(|c| format!("{c:?}"))
            .ok_or_else(|| "malformed commit".to_string()),
        crate::txn::record::KIND_ID_ALLOC => crate::txn::record::decode_id_alloc(record.payload)
            .map(|n| format!("id alloc {n}"))
            .ok_or_else(|| "malformed id alloc".to_string()),
        other => Ok(format!("kind {other}")),
    }
}

/// Decodes a WAL segment header.
pub fn wal_segment_header(bytes: &[u8]) -> Result<u64, String> {
    crate::wal::format::SegmentHeader::decode(bytes)
        .map(|h| h.segment_no)
        .map_err(|e| format!("{e:?}"))
}

/// Decodes a checkpoint manifest; returns how many pages it maps.
pub fn manifest(bytes: &[u8]) -> Result<usize, String> {
    crate::checkpoint::manifest::Manifest::decode(bytes)
        .map(|m| m.pages.len())
        .map_err(|e| format!("{e:?}"))
}

/// Decodes a checkpoint manifest's page table: (page id, image slot) pairs. The
/// simulator aims bit flips at live page images with it.
pub fn manifest_page_table(bytes: &[u8]) -> Result<Vec<(u64, u64)>, String> {
    crate::checkpoint::manifest::Manifest::decode(bytes)
        .map(|m| m.pages.into_iter().collect())
        .map_err(|e| format!("{e:?}"))
}

/// Decodes a page image (CRC and identity checked against the id in its own header),
/// then walks it as a heap page: every slot, every tuple, every row under `types`.
pub fn heap_page(bytes: &[u8], types: &[crate::ColumnType]) -> Result<usize, String> {
    let claimed_id = bytes
        .get(8..16)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or("short page")?;
    let page = Page::from_disk(bytes.to_vec().into_boxed_slice(), claimed_id, true)
        .map_err(|e| e.to_string())?;
    walk_heap_page(&page, types)
}

/// Walks page bytes as a heap page without checking the CRC first (so the fuzzer reaches
/// the slot and row decoders): structure problems and undecodable rows are errors.
pub fn heap_page_unchecked(bytes: &[u8], types: &[crate::ColumnType]) -> Result<usize, String> {
    let page =
        Page::from_bytes_unchecked(bytes.to_vec().into_boxed_slice()).ok_or("wrong page size")?;
    walk_heap_page(&page, types)
}

fn walk_heap_page(page: &Page, types: &[crate::ColumnType]) -> Result<usize, String> {
    let problems = crate::heap::slotted::validate(page);
    if let Some(p) = problems.first() {
        return Err(p.clone());
    }
    let mut rows = 0;
    for slot in 0..page.slot_count() {
        if let Some(tuple) = crate::heap::slotted::tuple(page, slot) {
            let row = match tuple[0] {
                0 => &tuple[1..],
                2 if tuple.len() >= 9 => &tuple[9..],
                _ => continue,
            };
            crate::value::decode_row(row, types).map_err(|e| e.0)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Decodes a stored row under `types`.
pub fn row(bytes: &[u8], types: &[crate::ColumnType]) -> Result<Vec<crate::Value>, String> {
    crate::value::decode_row(bytes, types).map_err(|e| e.0)
}
