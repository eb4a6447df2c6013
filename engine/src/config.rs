//! Every tunable of the engine, with its default and the reason for it, in one place.

use crate::OpenError;

/// Engine configuration. Build with [`Config::default`] and the `with_*` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Create the database if the directory is missing or empty. Default: true (an
    /// embedded engine is usually opened by the program that owns the file). A directory
    /// holding anything else is never taken over.
    pub create_if_missing: bool,
    /// Bytes of page bodies the buffer pool keeps in memory. Default: 64 MiB. Past it, pages
    /// are evicted (written to free image slots first if they have no copy there). Pages
    /// held by long-running readers' old snapshots can exceed it while those readers live.
    pub cache_size_bytes: u64,
    /// Size of each preallocated WAL segment. Default: 16 MiB: large enough that rotation
    /// (one preallocation and directory sync) is rare, small enough that retention frees
    /// space promptly. Minimum 64 KiB (a segment must hold the largest record).
    pub wal_segment_size_bytes: u64,
    /// WAL bytes buffered in memory before being written out without a sync. Default:
    /// 1 MiB: bounds the memory of a large transaction's log.
    pub wal_buffer_bytes_max: usize,
    /// Run a checkpoint after a commit once this many WAL bytes were appended since the
    /// last one. Default: 64 MiB, which bounds recovery time to replaying about that much
    /// log. 0 turns automatic checkpoints off.
    pub checkpoint_wal_bytes: u64,
    /// WAL segments kept before the one a checkpoint's redo starts in. Default: 0 (keep only
    /// what recovery needs).
    pub retention_segments: u64,
    /// Planted bugs for the simulator's self-test. Off by default; only exists when the
    /// test-only `planted-bugs` feature is enabled.
    #[cfg(feature = "planted-bugs")]
    pub planted: crate::txn::PlantedBugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            create_if_missing: true,
            cache_size_bytes: 64 << 20,
            wal_segment_size_bytes: 16 << 20,
            wal_buffer_bytes_max: 1 << 20,
            checkpoint_wal_bytes: 64 << 20,
            retention_segments: 0,
            #[cfg(feature = "planted-bugs")]
            planted: crate::txn::PlantedBugs::default(),
        }
    }
}

/// The smallest WAL segment: the largest record (a full page tuple) must fit with room.
pub const WAL_SEGMENT_SIZE_MIN_BYTES: u64 = 64 << 10;
/// The smallest cache: enough pages for one operation's working set.
pub const CACHE_SIZE_MIN_BYTES: u64 = 16 * crate::page::PAGE_SIZE_BYTES as u64;

impl Config {
    pub fn with_create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    pub fn with_cache_size_bytes(mut self, bytes: u64) -> Self {
        self.cache_size_bytes = bytes;
        self
    }

    pub fn with_wal_segment_size_bytes(mut self, bytes: u64) -> Self {
        self.wal_segment_size_bytes = bytes;
        self
    }

    pub fn with_wal_buffer_bytes_max(mut self, bytes: usize) -> Self {
        self.wal_buffer_bytes_max = bytes;
        self
    }

    pub fn with_checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_wal_bytes = bytes;
        self
    }

    pub fn with_retention_segments(mut self, segments: u64) -> Self {
        self.retention_segments = segments;
        self
    }

    /// Checks the configuration for values the engine cannot work with.
    pub fn validate(&self) -> Result<(), OpenError> {
        if self.wal_segment_size_bytes < WAL_SEGMENT_SIZE_MIN_BYTES
            || self.wal_segment_size_bytes > u64::from(u32::MAX)
        {
            return Err(OpenError::InvalidConfig(format!(
                "wal_segment_size_bytes must be between {WAL_SEGMENT_SIZE_MIN_BYTES} and {}",
                u32::MAX
            )));
        }
        if self.cache_size_bytes < CACHE_SIZE_MIN_BYTES {
            return Err(OpenError::InvalidConfig(format!(
                "cache_size_bytes must be at least {CACHE_SIZE_MIN_BYTES}"
            )));
        }
        Ok(())
    }

    pub(crate) fn planted(&self) -> crate::txn::PlantedBugs {
        #[cfg(feature = "planted-bugs")]
        return self.planted;
        #[cfg(not(feature = "planted-bugs"))]
        crate::txn::PlantedBugs::default()
    }
}
