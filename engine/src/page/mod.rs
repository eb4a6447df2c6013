//! Pages: the page format, the checkpoint image store, and the versioned buffer pool.

pub mod format;
pub mod pool;
pub mod store;

pub use format::{Page, PageId, PageKind, PAGE_SIZE_BYTES};
pub use pool::{BufferPool, PoolStats, Snapshot};
pub use store::{ImageStore, Slot, IMAGE_FILE};
