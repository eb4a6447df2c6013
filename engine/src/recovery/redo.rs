//! Applying logged changes to recovered pages on first touch.
//!
//! Recovery only indexes the log (which record changes which page); a page is brought up
//! to date when something first reads it, by re-reading its records from the WAL
//! segments. Records of one page were usually written close together (a transaction fills
//! a page before moving on), so reads go through a small cache of 128 KiB windows (small,
//! so that the first touch of a page after open costs little).
//! Every record's CRC is checked again here: the bytes may have been damaged since the
//! scan, and damage is reported, never applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::env::{File, Vfs};
use crate::heap::record::HeapRecord;
use crate::page::pool::{RedoRef, RedoRun, RedoSource};
use crate::page::Page;
use crate::wal::format::{
    decode_record, record_size, segment_file_name, RECORD_HEADER_BYTES, REC_LEN_OFFSET,
};
use crate::wal::reader::open_segment;
use crate::{StorageError, StorageResult};

const WINDOW_BYTES: u64 = 128 << 10;
const WINDOWS_MAX: usize = 16;

/// Reads WAL records for the buffer pool's pending redo.
#[derive(Debug)]
pub struct WalRedo {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    cache: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    files: BTreeMap<u64, (Box<dyn File>, u64)>,
    /// (segment, window number) -> (bytes, last use).
    windows: BTreeMap<(u64, u64), (Vec<u8>, u64)>,
    uses: u64,
}

impl WalRedo {
    pub fn new(vfs: Arc<dyn Vfs>, dir: &Path) -> WalRedo {
        WalRedo {
            vfs,
            dir: dir.to_path_buf(),
            cache: Mutex::new(Windows::default()),
        }
    }
}

impl RedoSource for WalRedo {
    fn redo(&self, page: &mut Page, runs: &[RedoRun]) -> StorageResult<()> {
        let mut cache = self.cache.lock().expect("redo cache lock");
        let mut direct = Vec::new();
        for run in runs {
            let mut at = run.first;
            for _ in 0..run.count {
                let bytes = cache.record(&*self.vfs, &self.dir, at, &mut direct)?;
                let size = apply(page, at, bytes)?;
                at.offset = u32::try_from(u64::from(at.offset) + size as u64)
                    .map_err(|_| corrupt(at, "WAL run to redo runs past 4 GiB".into()))?;
            }
            if at != run.end() {
                return Err(corrupt(
                    run.first,
                    format!(
                        "WAL run to redo of {} records ends at offset {}, not {}",
                        run.count, at.offset, run.end
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn corrupt(at: RedoRef, detail: String) -> StorageError {
    let name = segment_file_name(u64::from(at.segment_no));
    StorageError::corruption(&name, u64::from(at.offset), detail)
}

/// Checks and applies one record's bytes to `page`; returns the record's size.
fn apply(page: &mut Page, at: RedoRef, bytes: &[u8]) -> StorageResult<usize> {
    let name = segment_file_name(u64::from(at.segment_no));
    let bad = |detail: String| StorageError::corruption(&name, u64::from(at.offset), detail);
    let record = decode_record(bytes)
        .map_err(|e| bad(format!("WAL record to redo no longer reads back: {e:?}")))?;
    let heap = HeapRecord::decode(record.header.kind, record.payload)
        .ok_or_else(|| {
            bad(format!(
                "record kind {} is not a page change",
                record.header.kind
            ))
        })?
        .map_err(bad)?;
    if heap.page() != page.id() {
        return Err(bad(format!(
            "record for page {} listed for page {}",
            heap.page(),
            page.id()
        )));
    }
    // Idempotence: an image already holding this change is left alone.
    if page.lsn() < record.header.lsn {
        heap.apply(record.header.lsn, page).map_err(bad)?;
    }
    Ok(record_size(record.payload.len()))
}

impl Windows {
    /// The bytes of the record at `at` (header, payload, padding), from a cached window,
    /// or read directly into `direct` when the record straddles a window's end.
    fn record<'a>(
        &'a mut self,
        vfs: &dyn Vfs,
        dir: &Path,
        at: RedoRef,
        direct: &'a mut Vec<u8>,
    ) -> StorageResult<&'a [u8]> {
        let (segment_no, offset) = (u64::from(at.segment_no), u64::from(at.offset));
        let name = segment_file_name(segment_no);
        let window_no = offset / WINDOW_BYTES;
        let within = (offset - window_no * WINDOW_BYTES) as usize;
        self.load(vfs, dir, segment_no, window_no)?;
        self.uses += 1;
        let key = (segment_no, window_no);
        let fits = {
            let (bytes, last_use) = self.windows.get_mut(&key).expect("just loaded");
            *last_use = self.uses;
            fits_in(bytes, within)
        };
        if let Some(size) = fits {
            return Ok(&self.windows[&key].0[within..within + size]);
        }
        // Straddles the window: read the header, then the whole record.
        let (file, len) = self.file(vfs, dir, segment_no)?;
        let mut header = [0u8; RECORD_HEADER_BYTES];
        read(&**file, &name, offset, &mut header)?;
        let payload_len = u32::from_le_bytes(
            header[REC_LEN_OFFSET..REC_LEN_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        let size = record_size(payload_len as usize) as u64;
        if offset + size > *len {
            return Err(StorageError::corruption(
                &name,
                offset,
                "WAL record to redo runs past the segment's end",
            ));
        }
        direct.clear();
        direct.resize(size as usize, 0);
        read(&**file, &name, offset, direct)?;
        Ok(direct)
    }

    fn load(
        &mut self,
        vfs: &dyn Vfs,
        dir: &Path,
        segment_no: u64,
        window_no: u64,
    ) -> StorageResult<()> {
        if self.windows.contains_key(&(segment_no, window_no)) {
            return Ok(());
        }
        // The least recently used window's buffer is reused for the new one.
        let mut bytes = Vec::new();
        if self.windows.len() >= WINDOWS_MAX {
            let oldest = self
                .windows
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
                .expect("not empty");
            bytes = self.windows.remove(&oldest).expect("present").0;
        }
        let name = segment_file_name(segment_no);
        let (file, len) = self.file(vfs, dir, segment_no)?;
        let start = window_no * WINDOW_BYTES;
        let end = (start + WINDOW_BYTES).min(*len);
        bytes.resize(end.saturating_sub(start) as usize, 0);
        read(&**file, &name, start, &mut bytes)?;
        self.windows
            .insert((segment_no, window_no), (bytes, self.uses));
        Ok(())
    }

    fn file(
        &mut self,
        vfs: &dyn Vfs,
        dir: &Path,
        segment_no: u64,
    ) -> StorageResult<&mut (Box<dyn File>, u64)> {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.files.entry(segment_no) {
            slot.insert(open_segment(vfs, dir, segment_no)?);
        }
        Ok(self.files.get_mut(&segment_no).expect("just inserted"))
    }
}

/// The size of the record starting at `within`, if it lies wholly inside `bytes`.
fn fits_in(bytes: &[u8], within: usize) -> Option<usize> {
    let length = bytes.get(within + REC_LEN_OFFSET..within + REC_LEN_OFFSET + 4)?;
    let payload_len = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
    let size = record_size(payload_len);
    (within + size <= bytes.len()).then_some(size)
}

fn read(file: &dyn File, name: &str, offset: u64, buf: &mut [u8]) -> StorageResult<()> {
    file.read_at(offset, buf)
        .map_err(|e| StorageError::io(name, "read", &e))
}
