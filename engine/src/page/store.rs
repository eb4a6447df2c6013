//! The checkpoint image store: one file of page-sized slots (`pages.kiln`).
//!
//! Slot 0 holds the file header; every other slot holds one page image or nothing. Which
//! slot holds which page is recorded only in the checkpoint manifest (and in memory): a
//! slot referenced by the last committed manifest is never overwritten, so a torn write
//! can only damage a slot nobody durable points at. Which slots are free is derived, not
//! stored: every slot the manifest does not reference is free after a restart.

use std::sync::Arc;

use crate::codec::{crc32, get_u32, get_u64, put_u32, put_u64};
use crate::env::File;
use crate::health::Health;
use crate::{StorageError, StorageResult};

use super::format::{Page, PageError, PageId, PAGE_SIZE_BYTES};

/// The image store's file name inside the database directory.
pub const IMAGE_FILE: &str = "pages.kiln";

pub const IMAGE_MAGIC: [u8; 8] = *b"KILNIMG1";
pub const IMG_MAGIC_OFFSET: usize = 0;
pub const IMG_VERSION_OFFSET: usize = IMG_MAGIC_OFFSET + 8;
pub const IMG_PAGE_SIZE_OFFSET: usize = IMG_VERSION_OFFSET + 4;
pub const IMG_DATABASE_ID_OFFSET: usize = IMG_PAGE_SIZE_OFFSET + 4;
pub const IMG_CRC_OFFSET: usize = IMG_DATABASE_ID_OFFSET + 8;
pub const IMG_HEADER_BYTES: usize = IMG_CRC_OFFSET + 4;
pub const IMAGE_FORMAT_VERSION: u32 = 1;

/// A slot number; slot `n` lives at byte `n * PAGE_SIZE_BYTES`.
pub type Slot = u64;

/// Reads and writes page images. Knows nothing of which slots are in use.
#[derive(Debug)]
pub struct ImageStore {
    file: Box<dyn File>,
    health: Arc<Health>,
    /// Page buffers of evicted pages nobody else held, reused by reads: a bounded free
    /// list saves an allocation and a zeroing per page read.
    spare: std::sync::Mutex<Vec<Box<[u8]>>>,
    /// Planted bug (tests only): accept images without checking their CRC.
    skip_crc: bool,
}

impl ImageStore {
    /// Writes the header of a new, empty store (the caller syncs).
    pub fn create(
        file: Box<dyn File>,
        database_id: u64,
        health: Arc<Health>,
    ) -> StorageResult<ImageStore> {
        let mut header = vec![0u8; PAGE_SIZE_BYTES];
        header[..8].copy_from_slice(&IMAGE_MAGIC);
        put_u32(&mut header, IMG_VERSION_OFFSET, IMAGE_FORMAT_VERSION);
        put_u32(&mut header, IMG_PAGE_SIZE_OFFSET, PAGE_SIZE_BYTES as u32);
        put_u64(&mut header, IMG_DATABASE_ID_OFFSET, database_id);
        let crc = crc32(&[&header[..IMG_CRC_OFFSET]]);
        put_u32(&mut header, IMG_CRC_OFFSET, crc);
        let store = ImageStore {
            file,
            health,
            spare: Default::default(),
            skip_crc: false,
        };
        store.file.write_at(0, &header).map_err(|e| {
            store
                .health
                .fail(StorageError::io(IMAGE_FILE, "write header", &e))
        })?;
        store.sync()?;
        Ok(store)
    }

    /// Opens an existing store, checking its header against the manifest's database id.
    pub fn open(
        file: Box<dyn File>,
        database_id: u64,
        health: Arc<Health>,
    ) -> StorageResult<ImageStore> {
        let mut header = [0u8; IMG_HEADER_BYTES];
        file.read_at(0, &mut header)
            .map_err(|e| StorageError::io(IMAGE_FILE, "read header", &e))?;
        if header[..8] != IMAGE_MAGIC {
            return Err(StorageError::corruption(
                IMAGE_FILE,
                0,
                "bad magic in image store header",
            ));
        }
        let expected = get_u32(&header, IMG_CRC_OFFSET);
        let actual = crc32(&[&header[..IMG_CRC_OFFSET]]);
        if expected != actual {
            return Err(StorageError::ChecksumMismatch {
                file: IMAGE_FILE.to_string(),
                offset: 0,
                expected,
                actual,
            });
        }
        let version = get_u32(&header, IMG_VERSION_OFFSET);
        if version != IMAGE_FORMAT_VERSION {
            return Err(StorageError::corruption(
                IMAGE_FILE,
                IMG_VERSION_OFFSET as u64,
                format!(
                    "image store format version {version}; this build reads {IMAGE_FORMAT_VERSION}"
                ),
            ));
        }
        let page_size = get_u32(&header, IMG_PAGE_SIZE_OFFSET);
        if page_size as usize != PAGE_SIZE_BYTES {
            return Err(StorageError::corruption(
                IMAGE_FILE,
                IMG_PAGE_SIZE_OFFSET as u64,
                format!("page size {page_size}, this build uses {PAGE_SIZE_BYTES}"),
            ));
        }
        let found_id = get_u64(&header, IMG_DATABASE_ID_OFFSET);
        if found_id != database_id {
            return Err(StorageError::corruption(
                IMAGE_FILE,
                IMG_DATABASE_ID_OFFSET as u64,
                format!("image store belongs to database {found_id:#x}, not {database_id:#x}"),
            ));
        }
        Ok(ImageStore {
            file,
            health,
            spare: Default::default(),
            skip_crc: false,
        })
    }

    /// Plants the "skip the page CRC check" bug (reachable only through the test-only
    /// `planted-bugs` configuration).
    pub fn set_skip_crc(&mut self, skip: bool) {
        self.skip_crc = skip;
    }

    /// Number of slots the file currently spans (including the header slot).
    pub fn slot_count(&self) -> StorageResult<u64> {
        let len = self
            .file
            .len()
            .map_err(|e| StorageError::io(IMAGE_FILE, "stat", &e))?;
        Ok(len.div_ceil(PAGE_SIZE_BYTES as u64).max(1))
    }

    /// Writes `page` into `slot` (not durable until [`ImageStore::sync`]).
    pub fn write(&self, slot: Slot, page: &Page) -> StorageResult<()> {
        assert!(slot > 0, "slot 0 is the header");
        let image = page.to_disk();
        self.file
            .write_at(slot * PAGE_SIZE_BYTES as u64, &image)
            .map_err(|e| {
                self.health
                    .fail(StorageError::io(IMAGE_FILE, "write page", &e))
            })
    }

    /// Reads the image of `page_id` from `slot`, verifying CRC and identity.
    pub fn read(&self, slot: Slot, page_id: PageId) -> StorageResult<Page> {
        assert!(slot > 0, "slot 0 is the header");
        let offset = slot * PAGE_SIZE_BYTES as u64;
        // A spare buffer's old bytes are overwritten in full (read_at fills all or fails).
        let spare = self.spare.lock().expect("spare buffers lock").pop();
        let mut bytes = spare.unwrap_or_else(|| vec![0u8; PAGE_SIZE_BYTES].into_boxed_slice());
        self.file
            .read_at(offset, &mut bytes)
            .map_err(|e| StorageError::io(IMAGE_FILE, "read page", &e))?;
        Page::from_disk(bytes, page_id, !self.skip_crc).map_err(|e| match e {
            PageError::Checksum { expected, actual } => StorageError::ChecksumMismatch {
                file: IMAGE_FILE.to_string(),
                offset,
                expected,
                actual,
            },
            other => {
                StorageError::corruption(IMAGE_FILE, offset, format!("page {page_id}: {other}"))
            }
        })
    }

    /// Takes back the buffer of a page the pool dropped, if nobody else holds it.
    pub fn recycle(&self, page: Arc<Page>) {
        const SPARE_BUFFERS_MAX: usize = 64;
        if let Ok(page) = Arc::try_unwrap(page) {
            let mut spare = self.spare.lock().expect("spare buffers lock");
            if spare.len() < SPARE_BUFFERS_MAX {
                spare.push(page.into_bytes());
            }
        }
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> StorageResult<()> {
        self.file
            .sync_data()
            .map_err(|e| self.health.fail(StorageError::io(IMAGE_FILE, "sync", &e)))
    }
}
