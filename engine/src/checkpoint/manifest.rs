//! The checkpoint manifest: the root of the durable state. docs/FORMAT.md mirrors this.
//!
//! Durable state = the images the last committed manifest points at + the WAL after the
//! position it records. A new manifest is committed by an atomic replace: written to
//! `MANIFEST.tmp`, synced, renamed over `MANIFEST`, directory synced. A crash at any step
//! leaves either the old or the new manifest, each whole and each with every image and
//! WAL segment it needs still on disk.
//!
//! Layout (little endian):
//! ```text
//!  0  magic "KILNMAN1"           8
//!  8  format version             u32
//! 12  page size                  u32
//! 16  database id                u64
//! 24  checkpoint sequence        u64
//! 32  WAL segment number         u64   where redo starts
//! 40  WAL offset                 u64
//! 48  WAL next LSN               u64   every record below is reflected in the images
//! 56  WAL chain CRC              u32   crc_prev of the record at that position
//! 60  reserved                   u32
//! 64  next page id               u64
//! 72  next object id             u64
//! 80  catalog epoch              u64
//! 88  last commit LSN            u64
//! 96  page count n               u64
//! 104 n entries                  (page id u64, slot u64)
//! 104 + 16n  CRC32 of all bytes before it   u32
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::codec::{crc32, get_u32, get_u64, Reader};
use crate::env::{OpenOptions, Vfs};
use crate::page::{PageId, Slot, PAGE_SIZE_BYTES};
use crate::wal::WalPosition;
use crate::{Lsn, StorageError, StorageResult};

pub const MANIFEST_FILE: &str = "MANIFEST";
pub const MANIFEST_TEMP_FILE: &str = "MANIFEST.tmp";
pub const MANIFEST_MAGIC: [u8; 8] = *b"KILNMAN1";
pub const MANIFEST_FORMAT_VERSION: u32 = 2;
const HEADER_BYTES: usize = 104;
const ENTRY_BYTES: usize = 16;

/// A decoded manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub database_id: u64,
    pub sequence: u64,
    /// Where redo starts; every record before it is reflected in the images.
    pub wal_position: WalPosition,
    pub next_page_id: PageId,
    pub next_object_id: u64,
    pub catalog_epoch: u64,
    pub last_commit_lsn: Lsn,
    pub pages: BTreeMap<PageId, Slot>,
}

/// Why a manifest could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Not a Kiln manifest at all (wrong magic).
    Foreign,
    UnsupportedVersion(u32),
    Storage(StorageError),
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_BYTES + ENTRY_BYTES * self.pages.len() + 4);
        b.extend_from_slice(&MANIFEST_MAGIC);
        b.extend_from_slice(&MANIFEST_FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&(PAGE_SIZE_BYTES as u32).to_le_bytes());
        for v in [
            self.database_id,
            self.sequence,
            self.wal_position.segment_no,
            self.wal_position.offset,
            self.wal_position.next_lsn,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.wal_position.crc_prev.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        let tail = [
            self.next_page_id,
            self.next_object_id,
            self.catalog_epoch,
            self.last_commit_lsn,
            self.pages.len() as u64,
        ];
        for v in tail {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(b.len(), HEADER_BYTES);
        for (&page, &slot) in &self.pages {
            b.extend_from_slice(&page.to_le_bytes());
            b.extend_from_slice(&slot.to_le_bytes());
        }
        let crc = crc32(&[&b]);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a manifest, checking magic, version, length and CRC before trusting any
    /// field. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let corrupt = |offset: usize, detail: String| {
            ManifestError::Storage(StorageError::corruption(
                MANIFEST_FILE,
                offset as u64,
                detail,
            ))
        };
        if bytes.len() < 8 || bytes[..8] != MANIFEST_MAGIC {
            return Err(ManifestError::Foreign);
        }
        if bytes.len() < HEADER_BYTES + 4 {
            return Err(corrupt(
                bytes.len(),
                format!("manifest truncated to {} bytes", bytes.len()),
            ));
        }
        // The checksum first: no field is believed before the bytes are known intact.
        let crc_at = bytes.len() - 4;
        let expected = get_u32(bytes, crc_at);
        let actual = crc32(&[&bytes[..crc_at]]);
        if expected != actual {
            return Err(ManifestError::Storage(StorageError::ChecksumMismatch {
                file: MANIFEST_FILE.into(),
                offset: crc_at as u64,
                expected,
                actual,
            }));
        }
        let version = get_u32(bytes, 8);
        if version != MANIFEST_FORMAT_VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        let count = get_u64(bytes, 96);
        let expected_len = (count as u128) * ENTRY_BYTES as u128 + HEADER_BYTES as u128 + 4;
        if expected_len != bytes.len() as u128 {
            return Err(corrupt(
                96,
                format!(
                    "manifest claims {count} pages but is {} bytes long",
                    bytes.len()
                ),
            ));
        }
        let page_size = get_u32(bytes, 12);
        if page_size as usize != PAGE_SIZE_BYTES {
            return Err(corrupt(
                12,
                format!("page size {page_size}, this build uses {PAGE_SIZE_BYTES}"),
            ));
        }
        Self::decode_fields(bytes).map_err(|t| corrupt(t.position, "manifest truncated".into()))
    }

    fn decode_fields(bytes: &[u8]) -> Result<Manifest, crate::codec::Truncated> {
        let mut r = Reader::new(bytes);
        r.take(16)?;
        let database_id = r.u64()?;
        let sequence = r.u64()?;
        let wal_position = WalPosition {
            segment_no: r.u64()?,
            offset: r.u64()?,
            next_lsn: r.u64()?,
            crc_prev: r.u32()?,
        };
        r.u32()?;
        let next_page_id = r.u64()?;
        let next_object_id = r.u64()?;
        let catalog_epoch = r.u64()?;
        let last_commit_lsn = r.u64()?;
        let count = r.u64()?;
        let mut pages = BTreeMap::new();
        for _ in 0..count {
            let page = r.u64()?;
            let slot = r.u64()?;
            pages.insert(page, slot);
        }
        Ok(Manifest {
            database_id,
            sequence,
            wal_position,
            next_page_id,
            next_object_id,
            catalog_epoch,
            last_commit_lsn,
            pages,
        })
    }
}

/// Reads `MANIFEST` from `dir`; `Ok(None)` if there is none.
pub fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Manifest>, ManifestError> {
    let path = dir.join(MANIFEST_FILE);
    let file = match vfs.open(&path, OpenOptions::READ) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ManifestError::Storage(StorageError::io(
                MANIFEST_FILE,
                "open",
                &e,
            )))
        }
    };
    let io =
        |op, e: &std::io::Error| ManifestError::Storage(StorageError::io(MANIFEST_FILE, op, e));
    let len = file.len().map_err(|e| io("stat", &e))?;
    if len > 1 << 34 {
        return Err(ManifestError::Storage(StorageError::corruption(
            MANIFEST_FILE,
            0,
            format!("manifest is {len} bytes"),
        )));
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_at(0, &mut bytes).map_err(|e| io("read", &e))?;
    Manifest::decode(&bytes).map(Some)
}

/// Commits `manifest` durably by atomic replace. See the module documentation.
pub fn write(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> StorageResult<()> {
    let bytes = manifest.encode();
    let temp = dir.join(MANIFEST_TEMP_FILE);
    let io = |op, e: &std::io::Error| StorageError::io(MANIFEST_TEMP_FILE, op, e);
    let file = vfs
        .open(&temp, OpenOptions::CREATE)
        .map_err(|e| io("create", &e))?;
    file.set_len(0).map_err(|e| io("truncate", &e))?;
    file.write_at(0, &bytes).map_err(|e| io("write", &e))?;
    file.sync_data().map_err(|e| io("sync", &e))?;
    drop(file);
    crate::crash_point!(vfs, "checkpoint.manifest.before_rename")?;
    vfs.rename(&temp, &dir.join(MANIFEST_FILE))
        .map_err(|e| StorageError::io(MANIFEST_FILE, "rename", &e))?;
    crate::crash_point!(vfs, "checkpoint.manifest.before_dir_sync")?;
    vfs.sync_dir(dir)
        .map_err(|e| StorageError::io(&dir.display().to_string(), "sync directory", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            database_id: 0xabc,
            sequence: 4,
            wal_position: WalPosition {
                segment_no: 2,
                offset: 640,
                next_lsn: 77,
                crc_prev: 9,
            },
            next_page_id: 30,
            next_object_id: 1004,
            catalog_epoch: 3,
            last_commit_lsn: 75,
            pages: [(1, 1), (2, 5), (29, 3)].into_iter().collect(),
        }
    }

    #[test]
    fn manifest_round_trips() {
        assert_eq!(Manifest::decode(&sample().encode()), Ok(sample()));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = sample().encode();
        for bit in 64..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Manifest::decode(&b).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn truncations_are_errors_not_panics() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn foreign_file_is_recognised_as_foreign() {
        assert_eq!(
            Manifest::decode(b"SQLite format 3\0...."),
            Err(ManifestError::Foreign)
        );
    }
}
