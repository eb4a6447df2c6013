//! Slotted heap pages, byte by byte. docs/FORMAT.md mirrors this file.
//!
//! After the 56-byte page header comes the slot array, growing up; tuples are packed
//! from the end of the page, growing down; `data_start` in the header marks the lowest
//! tuple byte. Slot `i` is 4 bytes at `PAGE_HEADER_BYTES + 4 * i`: the tuple's offset
//! (u16) and length (u16). Offset 0 marks an empty slot (a deleted row's slot, reusable).
//!
//! Every tuple opens with a tag byte:
//! - `TAG_ROW` (0): the row's bytes follow.
//! - `TAG_REDIRECT` (1): the row grew too large for its page and moved; the 8-byte row id
//!   of its new home follows. The row keeps its original id.
//! - `TAG_MOVED` (2): the new home of a moved row: the 8-byte original row id, then the
//!   row's bytes. Scans skip these (they reach them through the redirect).
//!
//! Every function here is deterministic in the page's bytes: redo replays the same
//! operations on the same starting image and must land every tuple in the same slot.
//! Readers never trust the bytes: a slot pointing outside the page is reported, not
//! followed (CRCs catch disk damage; this catches logic errors and fuzzed input).

use crate::codec::{get_u16, put_u16};
use crate::page::format::{Page, PAGE_HEADER_BYTES, PAGE_SIZE_BYTES};

pub const SLOT_BYTES: usize = 4;
pub const TAG_ROW: u8 = 0;
pub const TAG_REDIRECT: u8 = 1;
pub const TAG_MOVED: u8 = 2;

/// The largest tuple a page can hold (an empty page with one slot).
pub const TUPLE_BYTES_MAX: usize = PAGE_SIZE_BYTES - PAGE_HEADER_BYTES - SLOT_BYTES;

/// A slot number within a page.
pub type SlotNo = u16;

fn slot_offset(slot: SlotNo) -> usize {
    PAGE_HEADER_BYTES + SLOT_BYTES * slot as usize
}

fn slot_entry(page: &Page, slot: SlotNo) -> Option<(usize, usize)> {
    if slot >= page.slot_count() {
        return None;
    }
    let at = slot_offset(slot);
    let bytes = page.bytes();
    let offset = get_u16(bytes, at) as usize;
    let len = get_u16(bytes, at + 2) as usize;
    (offset != 0).then_some((offset, len))
}

fn set_slot(page: &mut Page, slot: SlotNo, offset: usize, len: usize) {
    let at = slot_offset(slot);
    put_u16(page.bytes_mut(), at, offset as u16);
    put_u16(page.bytes_mut(), at + 2, len as u16);
}

/// The tuple in `slot`, or `None` if the slot is empty, absent or malformed.
pub fn tuple(page: &Page, slot: SlotNo) -> Option<&[u8]> {
    let (offset, len) = slot_entry(page, slot)?;
    let slots_end = slot_offset(page.slot_count());
    if offset < slots_end || len == 0 || offset + len > PAGE_SIZE_BYTES {
        return None;
    }
    Some(&page.bytes()[offset..offset + len])
}

/// Bytes free between the slot array and the tuples.
fn contiguous_free(page: &Page) -> usize {
    page.data_start()
        .saturating_sub(slot_offset(page.slot_count()))
}

/// Bytes free in total, counting holes left by deletes and shrinking updates. O(1): the
/// header keeps the live tuple bytes.
fn total_free(page: &Page) -> usize {
    PAGE_SIZE_BYTES.saturating_sub(slot_offset(page.slot_count()) + page.live_bytes())
}

/// The slot an insert would use: the first empty one, else a new one at the end. O(1)
/// unless the page has empty slots (the header counts them).
pub fn next_slot(page: &Page) -> SlotNo {
    if page.empty_slots() == 0 {
        return page.slot_count();
    }
    (0..page.slot_count())
        .find(|&s| slot_entry(page, s).is_none())
        .unwrap_or(page.slot_count())
}

/// Whether a tuple of `len` bytes fits (after compaction if need be).
pub fn fits(page: &Page, len: usize) -> bool {
    let slot = next_slot(page);
    let extra_slot = if slot == page.slot_count() {
        SLOT_BYTES
    } else {
        0
    };
    slot < u16::MAX && total_free(page) >= len + extra_slot
}

/// Places `tuple` in `slot`, which must be empty or the next new slot. Returns false
/// (changing nothing) if it does not fit.
pub fn insert_at(page: &mut Page, slot: SlotNo, tuple: &[u8]) -> bool {
    assert!(!tuple.is_empty() && tuple.len() <= TUPLE_BYTES_MAX);
    let count = page.slot_count();
    let new_slot = slot == count;
    if slot > count || (!new_slot && slot_entry(page, slot).is_some()) {
        return false;
    }
    let extra_slot = if new_slot { SLOT_BYTES } else { 0 };
    if total_free(page) < tuple.len() + extra_slot {
        return false;
    }
    if contiguous_free(page) < tuple.len() + extra_slot {
        compact(page);
    }
    if new_slot {
        page.set_slot_count(count + 1);
        set_slot(page, slot, 0, 0);
    } else {
        page.set_empty_slots(page.empty_slots() - 1);
    }
    let offset = page.data_start() - tuple.len();
    page.bytes_mut()[offset..offset + tuple.len()].copy_from_slice(tuple);
    page.set_data_start(offset);
    set_slot(page, slot, offset, tuple.len());
    page.set_live_bytes(page.live_bytes() + tuple.len());
    true
}

/// Replaces the tuple in `slot`. Returns false (changing nothing) if the new tuple does
/// not fit even after compaction.
pub fn replace(page: &mut Page, slot: SlotNo, tuple: &[u8]) -> bool {
    assert!(!tuple.is_empty() && tuple.len() <= TUPLE_BYTES_MAX);
    let Some((offset, len)) = slot_entry(page, slot) else {
        return false;
    };
    if tuple.len() <= len {
        page.bytes_mut()[offset..offset + tuple.len()].copy_from_slice(tuple);
        set_slot(page, slot, offset, tuple.len());
        page.set_live_bytes(page.live_bytes() - len + tuple.len());
        return true;
    }
    if total_free(page) + len < tuple.len() {
        return false;
    }
    // Empty the slot (so its bytes count as free), then place the tuple in it again.
    set_slot(page, slot, 0, 0);
    page.set_live_bytes(page.live_bytes() - len);
    page.set_empty_slots(page.empty_slots() + 1);
    let placed = insert_at(page, slot, tuple);
    assert!(placed, "space was checked");
    true
}

/// Whether [`replace`] of `slot` with a tuple of `len` bytes would succeed.
pub fn replace_fits(page: &Page, slot: SlotNo, len: usize) -> bool {
    match slot_entry(page, slot) {
        Some((_, old)) => len <= old || total_free(page) + old >= len,
        None => false,
    }
}

/// Empties `slot`. Returns false if it was already empty.
pub fn remove(page: &mut Page, slot: SlotNo) -> bool {
    let Some((_, len)) = slot_entry(page, slot) else {
        return false;
    };
    set_slot(page, slot, 0, 0);
    page.set_live_bytes(page.live_bytes() - len);
    let mut empty = page.empty_slots() + 1;
    // Trailing empty slots are dropped so the slot array does not grow without bound.
    let mut count = page.slot_count();
    while count > 0 && slot_entry(page, count - 1).is_none() {
        count -= 1;
        empty -= 1;
    }
    page.set_slot_count(count);
    page.set_empty_slots(empty);
    if count == 0 {
        page.set_data_start(PAGE_SIZE_BYTES);
    }
    true
}

/// Repacks tuples against the end of the page in slot order, closing holes.
fn compact(page: &mut Page) {
    let tuples: Vec<(SlotNo, Vec<u8>)> = (0..page.slot_count())
        .filter_map(|s| tuple(page, s).map(|t| (s, t.to_vec())))
        .collect();
    let mut end = PAGE_SIZE_BYTES;
    for (slot, bytes) in &tuples {
        end -= bytes.len();
        page.bytes_mut()[end..end + bytes.len()].copy_from_slice(bytes);
        set_slot(page, *slot, end, bytes.len());
    }
    let slots_end = slot_offset(page.slot_count());
    page.bytes_mut()[slots_end..end].fill(0);
    page.set_data_start(end);
}

/// Structural problems of a heap page, for integrity checks and fuzzing: slots out of
/// bounds, overlapping tuples, a data start that disagrees with the tuples.
pub fn validate(page: &Page) -> Vec<String> {
    let mut problems = Vec::new();
    let slots_end = slot_offset(page.slot_count());
    if slots_end > PAGE_SIZE_BYTES {
        problems.push(format!("{} slots overflow the page", page.slot_count()));
        return problems;
    }
    if page.data_start() < slots_end || page.data_start() > PAGE_SIZE_BYTES {
        problems.push(format!(
            "data start {} overlaps the slot array",
            page.data_start()
        ));
    }
    let live: usize = (0..page.slot_count())
        .filter_map(|s| slot_entry(page, s))
        .map(|(_, len)| len)
        .sum();
    if live != page.live_bytes() {
        problems.push(format!(
            "header says {} live bytes, slots hold {live}",
            page.live_bytes()
        ));
    }
    let empty = (0..page.slot_count())
        .filter(|&s| slot_entry(page, s).is_none())
        .count();
    if empty != page.empty_slots() as usize {
        problems.push(format!(
            "header says {} empty slots, there are {empty}",
            page.empty_slots()
        ));
    }
    let mut extents: Vec<(usize, usize, SlotNo)> = Vec::new();
    for slot in 0..page.slot_count() {
        let Some((offset, len)) = slot_entry(page, slot) else {
            continue;
        };
        if offset < page.data_start() || len == 0 || offset + len > PAGE_SIZE_BYTES {
            problems.push(format!(
                "slot {slot} points outside the tuple area ({offset}+{len})"
            ));
            continue;
        }
        extents.push((offset, offset + len, slot));
    }
    extents.sort_unstable();
    for pair in extents.windows(2) {
        if pair[0].1 > pair[1].0 {
            problems.push(format!("slots {} and {} overlap", pair[0].2, pair[1].2));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::format::PageKind;

    fn page() -> Page {
        Page::new(1, PageKind::Heap, 9)
    }

    #[test]
    fn inserted_tuples_read_back_in_their_slots() {
        let mut p = page();
        assert!(insert_at(&mut p, 0, b"alpha"));
        assert!(insert_at(&mut p, 1, b"beta"));
        assert_eq!(tuple(&p, 0), Some(&b"alpha"[..]));
        assert_eq!(tuple(&p, 1), Some(&b"beta"[..]));
        assert!(validate(&p).is_empty());
    }

    #[test]
    fn deleted_slot_is_reused_and_holes_are_compacted() {
        let mut p = page();
        let big = vec![7u8; 3000];
        assert!(insert_at(&mut p, 0, &big));
        assert!(insert_at(&mut p, 1, &big));
        assert!(!fits(&p, 3000));
        assert!(remove(&mut p, 0));
        assert_eq!(next_slot(&p), 0);
        assert!(fits(&p, 3000));
        assert!(insert_at(&mut p, 0, &[1u8; 3000]));
        assert_eq!(tuple(&p, 1), Some(&big[..]));
        assert!(validate(&p).is_empty());
    }

    #[test]
    fn replace_grows_in_place_when_space_allows() {
        let mut p = page();
        assert!(insert_at(&mut p, 0, b"a"));
        assert!(insert_at(&mut p, 1, b"b"));
        assert!(replace(&mut p, 0, &[5u8; 500]));
        assert_eq!(tuple(&p, 0).unwrap().len(), 500);
        assert_eq!(tuple(&p, 1), Some(&b"b"[..]));
        assert!(!replace(&mut p, 1, &vec![5u8; TUPLE_BYTES_MAX]));
        assert_eq!(
            tuple(&p, 1),
            Some(&b"b"[..]),
            "a failed replace changes nothing"
        );
    }

    #[test]
    fn trailing_empty_slots_are_trimmed() {
        let mut p = page();
        assert!(insert_at(&mut p, 0, b"a"));
        assert!(insert_at(&mut p, 1, b"b"));
        assert!(remove(&mut p, 1));
        assert_eq!(p.slot_count(), 1);
        assert!(remove(&mut p, 0));
        assert_eq!(p.slot_count(), 0);
        assert_eq!(p.data_start(), PAGE_SIZE_BYTES);
    }

    proptest::proptest! {
        /// Any sequence of inserts, replaces and removes keeps the page valid (slots in
        /// bounds, no overlap, header counters equal to what the slots hold) and every
        /// live tuple readable as written.
        #[test]
        fn random_operations_keep_the_page_consistent(ops in proptest::collection::vec((0u8..3, 0u16..60, 1usize..900), 1..300)) {
            let mut p = page();
            let mut expected: std::collections::BTreeMap<SlotNo, Vec<u8>> = std::collections::BTreeMap::new();
            for (i, (op, slot, len)) in ops.into_iter().enumerate() {
                let bytes = vec![(i % 251) as u8 + 1; len];
                match op {
                    0 => {
                        let slot = next_slot(&p);
                        if fits(&p, len) {
                            proptest::prop_assert!(insert_at(&mut p, slot, &bytes));
                            expected.insert(slot, bytes);
                        }
                    }
                    1 => {
                        if replace(&mut p, slot, &bytes) {
                            expected.insert(slot, bytes);
                        }
                    }
                    _ => {
                        if remove(&mut p, slot) {
                            expected.remove(&slot);
                        }
                    }
                }
                proptest::prop_assert!(validate(&p).is_empty(), "{:?}", validate(&p));
            }
            for (slot, bytes) in &expected {
                proptest::prop_assert_eq!(tuple(&p, *slot), Some(&bytes[..]));
            }
        }
    }

    #[test]
    fn garbage_slots_are_reported_not_followed() {
        let mut p = page();
        assert!(insert_at(&mut p, 0, b"abc"));
        set_slot(&mut p, 0, PAGE_SIZE_BYTES - 1, 100);
        assert_eq!(tuple(&p, 0), None);
        assert!(!validate(&p).is_empty());
    }
}
