//! The Env seam: the only way the engine reaches time, randomness and files.
//!
//! Every other module of the engine is forbidden (by `engine/clippy.toml`) from touching
//! `std::fs`, the system clocks, OS randomness or sleeping. Production wires in [`OsEnv`];
//! the simulator wires in its own disk and clock, so that a whole run of the engine is a
//! pure function of a seed.
//!
//! The contracts below are what the engine relies on, and therefore what every
//! implementation must provide. They are deliberately weaker than what a particular
//! operating system may offer: the engine must be correct on the weakest device the
//! contract allows, because the simulator implements exactly that device.

mod os;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use os::{OsClock, OsEnv, OsRandom, OsVfs};

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it does not exist. The new directory entry is durable only after
    /// [`Vfs::sync_dir`] on its parent directory returns Ok.
    pub create: bool,
    /// Fail with `ErrorKind::AlreadyExists` if the file exists (implies `create`).
    pub create_new: bool,
    /// Open for writing as well as reading.
    pub write: bool,
}

impl OpenOptions {
    /// Open an existing file for reading only.
    pub const READ: OpenOptions = OpenOptions {
        create: false,
        create_new: false,
        write: false,
    };
    /// Open an existing file for reading and writing.
    pub const READ_WRITE: OpenOptions = OpenOptions {
        create: false,
        create_new: false,
        write: true,
    };
    /// Open for reading and writing, creating the file if it is missing.
    pub const CREATE: OpenOptions = OpenOptions {
        create: true,
        create_new: false,
        write: true,
    };
    /// Create a file that must not exist yet.
    pub const CREATE_NEW: OpenOptions = OpenOptions {
        create: true,
        create_new: true,
        write: true,
    };
}

/// What the device promises about writes. These are configuration, never assumptions:
/// the engine reads them from here, the simulator draws them from the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The unit in which a write can be torn by power loss. A write of several sectors may
    /// persist any subset of its sectors; bytes inside one sector are either all old or
    /// all new only if `sector_write_atomic` is true.
    pub sector_size_bytes: u32,
    /// Whether a single aligned sector write is all-or-nothing under power loss.
    pub sector_write_atomic: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            sector_size_bytes: 4096,
            sector_write_atomic: true,
        }
    }
}

/// A file system. Paths are whatever the implementation accepts; the engine only ever
/// passes the database directory it was opened with and names inside it.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Opens `path` with `options`.
    ///
    /// Contract: opening a missing file without `create` fails with
    /// `ErrorKind::NotFound`. A file created here is not durable (it may vanish on power
    /// loss) until [`Vfs::sync_dir`] of its parent directory returns Ok.
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn File>>;

    /// Removes a file. Durable only after [`Vfs::sync_dir`] of its directory returns Ok;
    /// until then a power loss may bring the file back, with its old contents.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Atomically renames `from` to `to`, replacing `to` if it exists. After a crash,
    /// `to` names either its old file or the renamed one, never a mixture and never
    /// nothing (if it existed before). Durable only after [`Vfs::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// The names (not paths) of the files in `dir`, sorted ascending by byte value.
    /// Fails with `ErrorKind::NotFound` if `dir` does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Makes every create, rename and remove of an entry in `dir` durable when it returns
    /// Ok. It says nothing about file contents: those need [`File::sync_data`].
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Whether `path` exists (as a file or a directory).
    fn exists(&self, path: &Path) -> io::Result<bool>;

    /// Creates `dir` and its missing parents. Durable only after `sync_dir` of the parent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Whether `path` is a directory. Fails with `ErrorKind::NotFound` if it is missing.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;

    /// Takes an exclusive advisory lock that keeps a second engine (in this or another
    /// process) from opening the same database. The lock is released when the returned
    /// guard is dropped. Fails with `ErrorKind::WouldBlock` if the lock is held.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;

    /// The device guarantees the engine may rely on.
    fn device(&self) -> DeviceConfig;

    /// A named crash point (see `crash_point!`). Production file systems do nothing here;
    /// the simulator may answer with an error that ends the process, exactly as if the
    /// machine had stopped at this line.
    fn crash_point(&self, _name: &'static str) -> io::Result<()> {
        Ok(())
    }
}

/// Held while a database is open; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// An open file.
pub trait File: Send + Sync + fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    ///
    /// Contract: either fills all of `buf` and returns Ok, or returns an error. Reading
    /// any byte at or past the end of the file is an error (`ErrorKind::UnexpectedEof`),
    /// never silent zeros: a short file is how a torn or truncated database shows itself.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Writes all of `data` at `offset`, extending the file if needed (a gap reads as
    /// zeros).
    ///
    /// Contract: Ok means the bytes are visible to later reads of this process, NOT that
    /// they are durable. Until a later [`File::sync_data`] returns Ok, a power loss may
    /// keep, drop or tear them at sector granularity, independently of other writes.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// Makes every byte written (and every `set_len`) before this call durable when it
    /// returns Ok.
    ///
    /// Contract: if it returns an error, nothing can be assumed about which earlier writes
    /// reached the disk, and retrying does not help (the kernel may already have dropped
    /// the dirty pages). The engine treats the failure as fatal until reopen.
    fn sync_data(&self) -> io::Result<()>;

    /// Sets the file length. Growing extends with bytes that read as zeros; shrinking
    /// discards the tail. Durable after the next successful `sync_data`.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// The current length in bytes, including writes not yet durable.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Time. Monotonic time measures durations; wall time only labels things for humans.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    fn now_monotonic_ns(&self) -> u64;
    /// Milliseconds since the Unix epoch. May jump; never used to order events.
    fn now_wall_ms(&self) -> u64;
    /// Waits for `duration_ns`. The simulator advances virtual time instead of waiting.
    fn sleep_ns(&self, duration_ns: u64);
}

/// Randomness. The engine needs little: identifiers that tell one database's files from
/// another's. Simulated runs derive it from the seed.
pub trait Random: Send + Sync + fmt::Debug {
    /// A uniformly distributed 64-bit value.
    fn next_u64(&self) -> u64;
}

/// The bundle of seams the engine is opened with.
#[derive(Clone, Debug)]
pub struct Env {
    pub vfs: Arc<dyn Vfs>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

impl Env {
    /// The production environment: the real file system, clocks and OS randomness.
    pub fn os() -> Env {
        OsEnv::env()
    }
}

/// Marks a moment the simulator may crash at. Expands to a call into the Vfs hook that
/// production file systems answer with Ok; the simulator may answer with a crash error,
/// which the caller propagates like any other I/O failure.
///
/// Every name must also appear in [`crate::CRASH_POINTS`] (a test checks it), so that
/// `kiln-sim list` prints the whole set and sweeps can count which ones fired.
#[macro_export]
macro_rules! crash_point {
    ($vfs:expr, $name:literal) => {
        $crate::env::hit_crash_point(&*$vfs, $name)
    };
}

/// The function behind `crash_point!`; maps the hook's error into the engine's error type.
pub fn hit_crash_point(vfs: &dyn Vfs, name: &'static str) -> Result<(), crate::StorageError> {
    vfs.crash_point(name)
        .map_err(|e| crate::StorageError::io(&format!("crash point {name}"), "crash", &e))
}
