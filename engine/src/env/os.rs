//! The production environment on `std::fs`, the system clocks and OS randomness.
//!
//! This is the one file of the engine allowed to use them (see `engine/clippy.toml`).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Clock, DeviceConfig, Env, File, LockGuard, OpenOptions, Random, Vfs};

/// The production file system.
#[derive(Debug, Default)]
pub struct OsVfs {
    device: DeviceConfig,
}

impl OsVfs {
    pub fn new(device: DeviceConfig) -> OsVfs {
        OsVfs { device }
    }
}

#[derive(Debug)]
struct OsFile {
    file: fs::File,
}

#[derive(Debug)]
struct OsLock {
    // Held only to keep the advisory lock until drop.
    _file: fs::File,
}

impl LockGuard for OsLock {}

impl Vfs for OsVfs {
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn File>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(options.write || options.create || options.create_new)
            .create(options.create && !options.create_new)
            .create_new(options.create_new)
            .open(path)?;
        Ok(Box::new(OsFile { file }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Linux an fsync of a directory file descriptor makes its entries durable.
        fs::File::open(dir)?.sync_all()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        Ok(fs::metadata(path)?.is_dir())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the database is already open",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn device(&self) -> DeviceConfig {
        self.device
    }
}

impl File for OsFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// The system clocks.
#[derive(Debug)]
pub struct OsClock {
    origin: Instant,
}

impl Default for OsClock {
    fn default() -> Self {
        OsClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for OsClock {
    fn now_monotonic_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn now_wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep_ns(&self, duration_ns: u64) {
        std::thread::sleep(Duration::from_nanos(duration_ns));
    }
}

/// OS randomness, drawn from the standard library's randomly keyed hasher (itself seeded
/// from the OS), which avoids a dependency for the few values the engine needs.
#[derive(Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        hasher.finish()
    }
}

/// Constructors for the production environment.
#[derive(Debug)]
pub struct OsEnv;

impl OsEnv {
    /// The real file system with the default device guarantees, the system clocks and OS
    /// randomness.
    pub fn env() -> Env {
        Env {
            vfs: Arc::new(OsVfs::default()),
            clock: Arc::new(OsClock::default()),
            random: Arc::new(OsRandom),
        }
    }
}
