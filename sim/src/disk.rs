//! `SimDisk`: the simulated disk behind the engine's `Vfs` seam.
//!
//! # What it models
//!
//! One device holding a small POSIX-like file system in memory, behaving like the weakest
//! device the contracts in `kiln::env` allow. Every file is an inode (renames move it
//! whole) with three pieces of state:
//!
//! - the **durable image**: the bytes a power loss leaves if none of the pending changes
//!   survives;
//! - the **pending changes**: every `write_at` and `set_len` since the file's last
//!   successful `sync_data`, in call order;
//! - the **current image**: what reads see.
//!
//! Names get the same treatment: a durable namespace, the ordered list of pending entry
//! changes (create, rename, remove, directory creation), and the current namespace.
//! `sync_data` moves a file's pending changes into its durable image; `sync_dir(dir)`
//! makes the entry changes of `dir` durable, together with every earlier pending change
//! to the same names (a name's changes persist in order). A rename between directories
//! is a change of both, so syncing either one makes it durable, as the `Vfs::sync_dir`
//! contract reads. Entries inside a directory whose own creation is still pending can
//! become durable first; they stay reachable only if that creation survives.
//!
//! **Invariant** (checked by [`SimDisk::check_invariants`], which the tests run after
//! every step): the current image is exactly the durable image with every pending change
//! applied in order, and the current namespace is exactly the durable namespace with every
//! pending entry change applied in order. No fault hides in the current image alone: a
//! fault is either an error with no effect, a pending change (the sectors a failing write
//! managed to write), a change to the durable image that reads then see (bit flips), or
//! the resolution of pending state at a crash.
//!
//! # Crashes
//!
//! [`SimDisk::crash`] ends the machine's process and is the only place where pending
//! state is resolved, by a power loss or for a poisoned file:
//!
//! - [`CrashKind::Process`]: the process died; the OS and its page cache survived. Apart
//!   from poisoned files (below), nothing becomes durable and nothing is lost: every
//!   pending change, to contents (writes, `set_len`) and to names (create, rename, remove,
//!   directory creation), stays pending.
//!   The next process reads it (the current images and the current namespace are
//!   unchanged), but it is exactly as durable as before the crash: a `sync_data` on a
//!   freshly opened handle of the file, or a `sync_dir` of the directory, makes it durable,
//!   and a power loss that comes first keeps, tears or drops it like any pending change.
//!   This is the point of the model: an engine recovering from a process crash reads bytes
//!   that may exist only in the page cache, and must sync them before it exposes them as
//!   committed (acknowledges them, builds on them, truncates a log behind them), or a
//!   later power loss takes back what recovery reported. A disk that made the page cache
//!   durable at a process crash could never catch that bug.
//!
//!   The exception is a poisoned file (a `sync_data` failed). Its pending writes are
//!   resolved at the crash as for a power loss, current and durable image alike, and the
//!   poison is cleared. That is Linux after a failed fsync: the kernel marks the pages it
//!   failed to write clean, so no later fsync retries them and what the device got is all
//!   there is; and the error, already reported once, is not reported to a file opened
//!   afterwards. (A real page cache may go on serving the bytes it dropped until it evicts
//!   them; the simulated one forgets them at the crash. See "What it does not model".)
//! - [`CrashKind::PowerLoss`]: every pending change is resolved with draws from the disk's
//!   Faults stream, so the outcome is a pure function of the seed:
//!   * each pending write survives whole, is lost whole, or is torn: each sector it
//!     touches persists or not, independently. On a device without atomic sector writes,
//!     a torn sector may also hold new bytes on one side of a cut and old bytes on the
//!     other.
//!   * One narrowing of "independently": a sector never shows a later write without every
//!     earlier pending change to the same sector. The page cache merged them before the
//!     device saw the sector, so per sector the outcome is a prefix of its changes. Without
//!     this rule the disk would produce states that no real machine can.
//!   * The file length is the length after a prefix of the pending length changes (file
//!     systems journal metadata in order). An extending write that did not wholly survive
//!     may still leave its new length behind, its lost bytes reading as zeros (the "zero
//!     tail"). A pending `set_len` persists or not, data and length together.
//!   * Each pending entry change is kept or reverted, in call order, with the same prefix
//!     rule per name: a change is reverted whenever an earlier reverted change touched one
//!     of its names or created one of its ancestor directories. A rename is one change, so
//!     it is all or nothing: its target names its old file or the renamed one, never
//!     neither. Entries under a directory whose creation was reverted vanish with it.
//!
//! After either kind: every handle opened before is dead (each call returns an error),
//! every lock is released, the halt is cleared, the generation advances, and inodes that
//! nothing refers to (no name in the current or the durable namespace, no pending entry
//! change) are freed. After a power loss, moreover, nothing is pending: every file's
//! current image is its durable image and the current namespace is the durable one.
//!
//! # Faults
//!
//! All are off by default and configured in one place, [`FaultConfig`]: `sync_data` EIO
//! (which poisons the file: later syncs keep failing and its pending writes are in doubt
//! until the next crash, of either kind, resolves them as a power loss would), `sync_dir`
//! EIO (nothing becomes durable), transient read EIO, write EIO (a prefix of the write's
//! sectors lands, then the error), ENOSPC (by probability or by capacity), latency
//! (advances an attached [`SimClock`]). Latent corruption is injected by the runner
//! through [`SimDisk::flip_bit`] and [`SimDisk::corrupt_random_durable_byte`], because
//! only the runner knows which files a checksum protects.
//!
//! # Halting
//!
//! [`SimDisk::halt`], or a [`HaltPlan`] ("halt instead of IO operation N", "halt at the
//! k-th hit of crash point X"), stops the machine: every later call on the disk or on any
//! of its files fails with a [`SimulatedCrash`] error until [`SimDisk::crash`] is applied.
//! The operation that triggers a halt does not happen. IO operations are counted over the
//! disk's lifetime, numbered from 0; see [`IO_OP_KINDS`] for which calls count.
//!
//! # What it does not model
//!
//! - Concurrency inside the device: calls are serialized by one mutex, in call order.
//! - Metadata beyond names and lengths: no permissions, times, hard links or holes (a gap
//!   reads as zeros and occupies its bytes); directories cannot be removed or renamed.
//! - The "lying fsync" of fsyncgate: after a failed `sync_data` this disk keeps failing
//!   rather than reporting a false success. An engine that never retries cannot tell.
//!   Nor does the page cache go on serving a poisoned file's dropped bytes after a
//!   process crash: the next process reads what the device kept.
//! - Misdirected or lost-but-acknowledged synced writes; corruption of data still in the
//!   page cache; reads served from a cache that differs from the media (a bit flip is
//!   visible at once unless a pending write covers the byte).
//! - ENOSPC when creating names, or on writes that do not extend a file.
//! - Real time: latency advances virtual time; nothing ever sleeps.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kiln::env::{DeviceConfig, File, LockGuard, OpenOptions, Vfs};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::clock::SimClock;
use crate::seed::{below, chance, unit_f64};

/// The largest file the disk holds. Everything lives in memory, so a wild offset from an
/// engine bug must be an error (EFBIG), not an out-of-memory abort of the simulator.
pub const FILE_SIZE_MAX_BYTES: u64 = 1 << 32;

/// How many [`SyncRecord`]s each file keeps (the most recent ones).
pub const SYNC_HISTORY_MAX: usize = 1024;

/// The calls that count as IO operations (for [`HaltPlan::at_io_op`] and
/// [`SimDisk::io_op_counts`]), by the name they are counted under. Pure queries (`list`,
/// `exists`, `is_dir`, `len`, `device`) and crash points do not count.
pub const IO_OP_KINDS: [&str; 10] = [
    "open",
    "read_at",
    "write_at",
    "sync_data",
    "set_len",
    "sync_dir",
    "rename",
    "remove",
    "create_dir_all",
    "lock",
];

/// The faults the disk injects, every default listed here: each fault is off (probability
/// 0) unless a scenario switches it on.
///
/// Scenario files deserialize into this struct; missing fields take their defaults and
/// unknown fields are rejected, so a typo cannot silently switch a fault off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability that a `sync_data` fails with EIO and poisons its file: every later
    /// `sync_data` of that file fails too, and its pending writes are resolved as for a
    /// power loss at the next crash, even a process crash, which also clears the poison.
    /// Default 0.
    pub sync_eio_probability: f64,
    /// Probability that a `sync_dir` fails with EIO. Nothing becomes durable; the pending
    /// entry changes stay pending (in doubt). Default 0.
    pub sync_dir_eio_probability: f64,
    /// Probability that a `read_at` fails with EIO. Transient: no state changes, and the
    /// same read may succeed next time. Default 0.
    pub read_eio_probability: f64,
    /// Probability that a `write_at` fails with EIO after writing a random prefix (0 to
    /// all) of the sectors it touches; that prefix is pending like any write. Default 0.
    pub write_eio_probability: f64,
    /// Probability that a `write_at` or `set_len` that grows a file fails with ENOSPC
    /// (`ErrorKind::StorageFull`), changing nothing. Writes inside a file's length never
    /// fail this way: the blocks are already allocated. Default 0.
    pub enospc_probability: f64,
    /// Total bytes the device holds (sum of the current lengths of all files, including
    /// removed files the disk has not yet freed). Growing past it fails with ENOSPC.
    /// Default `None`: unlimited.
    pub capacity_bytes: Option<u64>,
    /// Virtual time every IO operation costs, when a clock is attached. Default 0.
    pub latency_per_op_ns: u64,
    /// Virtual time per byte read or written, when a clock is attached. Default 0.
    pub latency_per_byte_ns: u64,
    /// Probability that an IO operation also costs [`FaultConfig::latency_spike_ns`].
    /// Default 0.
    pub latency_spike_probability: f64,
    /// The extra virtual time of a latency spike. Default 0.
    pub latency_spike_ns: u64,
    /// How pending state is resolved at a power loss. Defaults: see [`PowerLossConfig`].
    pub power_loss: PowerLossConfig,
}

impl FaultConfig {
    /// Checks that every probability lies in `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("sync_eio_probability", self.sync_eio_probability),
            ("sync_dir_eio_probability", self.sync_dir_eio_probability),
            ("read_eio_probability", self.read_eio_probability),
            ("write_eio_probability", self.write_eio_probability),
            ("enospc_probability", self.enospc_probability),
            ("latency_spike_probability", self.latency_spike_probability),
        ];
        for (name, probability) in probabilities {
            check_probability(name, probability)?;
        }
        self.power_loss.validate()
    }
}

/// How a power loss resolves pending state. These are not faults (a power loss is always
/// requested explicitly); they shape its outcome, and swarm testing may vary them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowerLossConfig {
    /// Probability that a pending write survives whole. Default 1/3.
    pub write_survives_probability: f64,
    /// Probability that a pending write is lost whole. Default 1/3. The remaining
    /// probability (default 1/3) is that the write is torn.
    pub write_lost_probability: f64,
    /// For a torn write, the probability that each sector it touches persists. Default 1/2.
    pub torn_sector_persists_probability: f64,
    /// On a device without atomic sector writes, the probability that a torn sector which
    /// did not persist holds a mix of old and new bytes instead of only old ones.
    /// Default 1/2.
    pub torn_sector_mixed_probability: f64,
    /// Probability that the new length of an extending write that did not wholly survive
    /// persists anyway, its lost bytes reading as zeros (the "zero tail"). Default 1/2.
    pub extension_persists_probability: f64,
    /// Probability that a pending `set_len` persists (length and zeroing together).
    /// Default 1/2.
    pub set_len_persists_probability: f64,
    /// Probability that a pending create, rename, remove or directory creation is kept.
    /// Default 1/2.
    pub entry_persists_probability: f64,
}

impl Default for PowerLossConfig {
    fn default() -> Self {
        const ONE_THIRD: f64 = 1.0 / 3.0;
        PowerLossConfig {
            write_survives_probability: ONE_THIRD,
            write_lost_probability: ONE_THIRD,
            torn_sector_persists_probability: 0.5,
            torn_sector_mixed_probability: 0.5,
            extension_persists_probability: 0.5,
            set_len_persists_probability: 0.5,
            entry_persists_probability: 0.5,
        }
    }
}

impl PowerLossConfig {
    /// Checks that every probability lies in `[0, 1]` and that survive + lost <= 1.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            (
                "write_survives_probability",
                self.write_survives_probability,
            ),
            ("write_lost_probability", self.write_lost_probability),
            (
                "torn_sector_persists_probability",
                self.torn_sector_persists_probability,
            ),
            (
                "torn_sector_mixed_probability",
                self.torn_sector_mixed_probability,
            ),
            (
                "extension_persists_probability",
                self.extension_persists_probability,
            ),
            (
                "set_len_persists_probability",
                self.set_len_persists_probability,
            ),
            (
                "entry_persists_probability",
                self.entry_persists_probability,
            ),
        ];
        for (name, probability) in probabilities {
            check_probability(name, probability)?;
        }
        let whole = self.write_survives_probability + self.write_lost_probability;
        if whole > 1.0 {
            return Err(format!(
                "write_survives_probability + write_lost_probability = {whole} exceeds 1"
            ));
        }
        Ok(())
    }
}

fn check_probability(name: &str, probability: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&probability) {
        Ok(())
    } else {
        Err(format!("{name} = {probability} is not in [0, 1]"))
    }
}

/// How the machine stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CrashKind {
    /// The process died; the OS and its page cache survived. Nothing becomes durable:
    /// pending changes to contents and names stay pending, visible to the next process's
    /// reads, until a `sync_data` or `sync_dir` makes them durable or a power loss keeps,
    /// tears or drops them. So an engine must sync what its recovery reads before exposing
    /// it as committed. Only a poisoned file's pending writes are resolved here, as for a
    /// power loss (see the module documentation).
    Process,
    /// The machine lost power; only durable state and whatever pending state the device
    /// happened to persist survived.
    PowerLoss,
}

/// When the disk halts by itself. Both triggers may be set; each fires once and is then
/// cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HaltPlan {
    /// Halt instead of performing IO operation number N (numbered from 0 over the disk's
    /// lifetime, so N operations complete first). See [`IO_OP_KINDS`].
    pub at_io_op: Option<u64>,
    /// Halt at a given hit of a named crash point.
    pub at_crash_point: Option<CrashPointTarget>,
}

/// "The `hit`-th time crash point `name` is reached" (counted from 1 over the disk's
/// lifetime).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashPointTarget {
    /// The crash point's name, as passed to `crash_point!`.
    pub name: String,
    /// Which hit halts, counting from 1.
    pub hit: u64,
}

/// What a crash did to pending state. The `*_survived`, `*_lost`, `*_torn`, `*_kept` and
/// `*_reverted` counts are of resolved changes (every pending change at a power loss, only
/// those of poisoned files at a process crash); the `*_pending` counts are of changes a
/// process crash left pending (always 0 after a power loss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashReport {
    /// The kind of crash applied.
    pub kind: CrashKind,
    /// Pending writes that became durable whole.
    pub writes_survived: u64,
    /// Pending writes of which nothing persisted.
    pub writes_lost: u64,
    /// Pending writes that persisted in part (by sector).
    pub writes_torn: u64,
    /// Pending `set_len` calls that persisted.
    pub set_lens_kept: u64,
    /// Pending `set_len` calls that were lost.
    pub set_lens_lost: u64,
    /// Pending entry changes (create, rename, remove, mkdir) that persisted.
    pub entries_kept: u64,
    /// Pending entry changes that were reverted.
    pub entries_reverted: u64,
    /// Writes still pending after a process crash (visible, not durable).
    pub writes_pending: u64,
    /// `set_len` calls still pending after a process crash.
    pub set_lens_pending: u64,
    /// Entry changes still pending after a process crash.
    pub entries_pending: u64,
}

impl CrashReport {
    fn new(kind: CrashKind) -> CrashReport {
        CrashReport {
            kind,
            writes_survived: 0,
            writes_lost: 0,
            writes_torn: 0,
            set_lens_kept: 0,
            set_lens_lost: 0,
            entries_kept: 0,
            entries_reverted: 0,
            writes_pending: 0,
            set_lens_pending: 0,
            entries_pending: 0,
        }
    }
}

/// One successful `sync_data`. Every byte in `[0, len_bytes)` was durable when it returned
/// (later writes may of course change them again; see [`SimDisk::unsynced_ranges`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// The IO operation number of the sync.
    pub io_op: u64,
    /// The file length made durable.
    pub len_bytes: u64,
    /// The smallest byte range containing every change this sync made durable (empty if
    /// nothing was pending). With a preallocated file the length says nothing about what
    /// was appended; this does.
    pub changed: Range<u64>,
}

/// A bit flipped in a file's durable image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corruption {
    /// The file, by its current name.
    pub path: PathBuf,
    /// The byte offset.
    pub offset: u64,
    /// The bit within the byte, 0 (least significant) to 7.
    pub bit: u8,
}

/// The payload of the error every call returns while the disk is halted. Test for it with
/// [`is_simulated_crash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulatedCrash;

impl fmt::Display for SimulatedCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("simulated crash")
    }
}

impl std::error::Error for SimulatedCrash {}

/// Whether `error` is the disk's "simulated crash" (as opposed to an injected fault or a
/// real error in the caller's use of the disk).
#[must_use]
pub fn is_simulated_crash(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<SimulatedCrash>())
}

/// The simulated disk: a cheap, clonable handle to one device (clones share it).
///
/// See the module documentation for the fault model.
#[derive(Clone)]
pub struct SimDisk {
    inner: Arc<Mutex<Inner>>,
}

impl SimDisk {
    /// An empty disk with the guarantees of `device`, the faults of `faults`, drawing its
    /// own choices (faults and power-loss outcomes) from `rng`, which should be the run's
    /// [`crate::seed::Stream::Faults`] stream.
    ///
    /// Panics if `faults` does not validate or the sector size is 0: configurations from
    /// users are validated before they get here.
    #[must_use]
    pub fn new(device: DeviceConfig, faults: FaultConfig, rng: ChaCha8Rng) -> SimDisk {
        assert!(device.sector_size_bytes > 0, "sector size must be positive");
        if let Err(problem) = faults.validate() {
            panic!("invalid FaultConfig: {problem}");
        }
        SimDisk {
            inner: Arc::new(Mutex::new(Inner::new(device, faults, rng))),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("sim disk lock")
    }

    /// Makes IO operations advance `clock` by their latency (see [`FaultConfig`]).
    pub fn set_clock(&self, clock: SimClock) {
        self.inner().clock = Some(clock);
    }

    /// The engine's environment on this disk: `clock` for time, and randomness drawn from
    /// `seed`'s engine stream.
    #[must_use]
    pub fn env(&self, clock: SimClock, seed: u64) -> kiln::env::Env {
        kiln::env::Env {
            vfs: Arc::new(self.clone()),
            clock: Arc::new(clock),
            random: Arc::new(crate::clock::SimRandom::from_master_seed(seed)),
        }
    }

    /// The faults currently injected.
    #[must_use]
    pub fn fault_config(&self) -> FaultConfig {
        self.inner().faults.clone()
    }

    /// Replaces the faults injected from now on (a runner may, say, switch faults off to
    /// verify a recovered database). Panics if `faults` does not validate.
    pub fn set_fault_config(&self, faults: FaultConfig) {
        if let Err(problem) = faults.validate() {
            panic!("invalid FaultConfig: {problem}");
        }
        self.inner().faults = faults;
    }

    /// Replaces the halt plan. Panics if `plan.at_io_op` names an operation that already
    /// happened: a trigger that can never fire is a silent hole in a test.
    pub fn set_halt_plan(&self, plan: HaltPlan) {
        let mut inner = self.inner();
        if let Some(op) = plan.at_io_op {
            assert!(
                op >= inner.io_ops_total,
                "halt planned at IO op {op}, but {} already happened",
                inner.io_ops_total
            );
        }
        inner.halt_plan = plan;
    }

    /// The halt triggers that have not fired yet.
    #[must_use]
    pub fn halt_plan(&self) -> HaltPlan {
        self.inner().halt_plan.clone()
    }

    /// Stops the machine now: every later call fails with a [`SimulatedCrash`] error until
    /// [`SimDisk::crash`].
    pub fn halt(&self) {
        let mut inner = self.inner();
        inner.halted = true;
        inner.count_fault("halt");
    }

    /// Whether the disk is halted.
    #[must_use]
    pub fn is_halted(&self) -> bool {
        self.inner().halted
    }

    /// Applies a crash of `kind` (see the module documentation) and makes the disk usable
    /// again, as the next process finds it (after a power loss, on a rebooted machine).
    /// Draws from the disk's own stream.
    pub fn crash(&self, kind: CrashKind) -> CrashReport {
        self.inner().crash(kind)
    }

    /// How many crashes the disk has been through. Handles and locks from an earlier
    /// generation are dead.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// How many IO operations have happened (the number the next one will get).
    #[must_use]
    pub fn io_ops_total(&self) -> u64 {
        self.inner().io_ops_total
    }

    /// IO operations by kind (the names in [`IO_OP_KINDS`]).
    #[must_use]
    pub fn io_op_counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner().io_ops.clone()
    }

    /// Faults and crash outcomes by kind. Keys: `sync_eio`, `sync_eio_poisoned` (a sync of
    /// an already poisoned file), `sync_dir_eio`, `read_eio`, `write_eio`, `enospc`,
    /// `latency_spike`, `bit_flip`, `halt`, `crash_process`, `crash_power_loss`,
    /// `crash_write_lost`, `crash_write_torn`, `crash_set_len_lost`,
    /// `crash_entry_reverted`. A key appears once its count is non-zero.
    #[must_use]
    pub fn fault_counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner().faults_injected.clone()
    }

    /// How often each crash point was reached (including a hit that halted).
    #[must_use]
    pub fn crash_point_hits(&self) -> BTreeMap<&'static str, u64> {
        self.inner().crash_point_hits.clone()
    }

    /// The successful syncs of the file currently named `path`, oldest first (at most
    /// [`SYNC_HISTORY_MAX`], the most recent). Survives crashes: it is history, not state.
    pub fn sync_history(&self, path: &Path) -> io::Result<Vec<SyncRecord>> {
        let inner = self.inner();
        let id = inner.current_file(path)?;
        Ok(inner.inode(id).syncs.iter().cloned().collect())
    }

    /// The byte ranges of the file currently named `path` that pending (unsynced) changes
    /// touch, sorted and merged. Bytes of the durable image outside them are provably
    /// durable, as far as the contents go (the name needs `sync_dir`: compare
    /// [`SimDisk::durable_image`]).
    pub fn unsynced_ranges(&self, path: &Path) -> io::Result<Vec<Range<u64>>> {
        let inner = self.inner();
        let id = inner.current_file(path)?;
        Ok(merged_ranges(&inner.inode(id).pending))
    }

    /// The durable image of the file the durable namespace names `path`, if any: what a
    /// power loss that lost every pending change would leave under that name.
    #[must_use]
    pub fn durable_image(&self, path: &Path) -> Option<Vec<u8>> {
        let inner = self.inner();
        let id = *inner.durable_ns.files.get(path)?;
        Some(inner.inode(id).durable.clone())
    }

    /// The current image (what reads see) of the file named `path`, if any.
    #[must_use]
    pub fn current_image(&self, path: &Path) -> Option<Vec<u8>> {
        let inner = self.inner();
        let id = *inner.current_ns.files.get(path)?;
        Some(inner.inode(id).current.clone())
    }

    /// Every file path in the current namespace, sorted.
    #[must_use]
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.inner().current_ns.files.keys().cloned().collect()
    }

    /// Flips bit `bit` of byte `offset` in the durable image of the file named `path`
    /// (latent media corruption). Reads see the flip unless a pending write covers the
    /// byte. Works while halted: corruption happens to a machine that is off, too.
    ///
    /// Fails with `NotFound` if no file has that name and `InvalidInput` if `offset` is
    /// not inside the durable image or `bit` > 7.
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        let mut inner = self.inner();
        let id = inner.current_file(path)?;
        if bit > 7 {
            return Err(invalid_input(format!("bit {bit} is not in 0..=7")));
        }
        let len_durable = inner.inode(id).durable.len() as u64;
        if offset >= len_durable {
            return Err(invalid_input(format!(
                "{}: offset {offset} is past the durable length {len_durable}",
                path.display()
            )));
        }
        inner.flip_durable_bit(id, offset, bit);
        Ok(())
    }

    /// Flips one random bit in the durable image of a random file whose current name
    /// passes `filter` and whose durable image is not empty; draws from `rng` (the caller's
    /// stream, so the choice of corruption does not perturb the disk's own draws). Returns
    /// what was flipped, or `None` if no file qualifies.
    pub fn corrupt_random_durable_byte<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        filter: impl Fn(&Path) -> bool,
    ) -> Option<Corruption> {
        let mut inner = self.inner();
        let candidates: Vec<(PathBuf, InodeId)> = inner
            .current_ns
            .files
            .iter()
            .filter(|(path, id)| filter(path) && !inner.inode(**id).durable.is_empty())
            .map(|(path, id)| (path.clone(), *id))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (path, id) = candidates[below(rng, candidates.len() as u64) as usize].clone();
        let offset = below(rng, inner.inode(id).durable.len() as u64);
        let bit = below(rng, 8) as u8;
        inner.flip_durable_bit(id, offset, bit);
        Some(Corruption { path, offset, bit })
    }

    /// Asserts the invariant of the module documentation (and that every name refers to a
    /// live inode and every current name has a parent directory). Costs a replay of every
    /// pending change: for tests and occasional checks in the runner.
    pub fn check_invariants(&self) {
        self.inner().check_invariants();
    }

    /// Runs an IO operation of `kind` on the disk (not on a file).
    fn io<T>(
        &self,
        kind: &'static str,
        op: impl FnOnce(&mut Inner) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut inner = self.inner();
        inner.check_live()?;
        inner.begin_io(kind, 0)?;
        op(&mut inner)
    }

    /// Runs a query that is not counted as an IO operation.
    fn query<T>(&self, op: impl FnOnce(&Inner) -> io::Result<T>) -> io::Result<T> {
        let inner = self.inner();
        inner.check_live()?;
        op(&inner)
    }
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // try_lock: a Debug print from code that holds the lock must not deadlock.
        match self.inner.try_lock() {
            Ok(inner) => f
                .debug_struct("SimDisk")
                .field("device", &inner.device)
                .field("generation", &inner.generation)
                .field("halted", &inner.halted)
                .field("files", &inner.current_ns.files.len())
                .field("io_ops_total", &inner.io_ops_total)
                .finish_non_exhaustive(),
            Err(_) => f.write_str("SimDisk { <locked> }"),
        }
    }
}

impl Vfs for SimDisk {
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn File>> {
        let mut inner = self.inner();
        inner.check_live()?;
        inner.begin_io("open", 0)?;
        let inode = inner.open(path, options)?;
        Ok(Box::new(SimFile {
            disk: self.clone(),
            path: path.to_path_buf(),
            inode,
            generation: inner.generation,
            writable: options.write || options.create || options.create_new,
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.io("remove", |inner| inner.remove(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.io("rename", |inner| inner.rename(from, to))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.query(|inner| inner.list(dir))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.io("sync_dir", |inner| inner.sync_dir(dir))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.query(|inner| {
            Ok(inner.current_ns.files.contains_key(path) || inner.current_ns.dir_exists(path))
        })
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.io("create_dir_all", |inner| inner.create_dir_all(dir))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        self.query(|inner| {
            if inner.current_ns.dir_exists(path) {
                Ok(true)
            } else if inner.current_ns.files.contains_key(path) {
                Ok(false)
            } else {
                Err(not_found(path))
            }
        })
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let mut inner = self.inner();
        inner.check_live()?;
        inner.begin_io("lock", 0)?;
        inner.take_lock(path)?;
        Ok(Box::new(SimLock {
            disk: self.clone(),
            path: path.to_path_buf(),
            generation: inner.generation,
        }))
    }

    fn device(&self) -> DeviceConfig {
        self.inner().device
    }

    fn crash_point(&self, name: &'static str) -> io::Result<()> {
        let mut inner = self.inner();
        inner.check_live()?;
        inner.hit_crash_point(name)
    }
}

/// A file opened on a [`SimDisk`]. Dead (every call fails) once the disk has crashed.
#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    /// The name it was opened under, for error messages only: renames move the inode.
    path: PathBuf,
    inode: InodeId,
    generation: u64,
    writable: bool,
}

impl SimFile {
    /// Runs a call on this file: fails if the disk is halted or the handle is dead, and
    /// counts it as an IO operation of `kind` if `kind` is given.
    fn call<T>(
        &self,
        kind: Option<&'static str>,
        bytes: u64,
        op: impl FnOnce(&mut Inner, InodeId) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut inner = self.disk.inner();
        inner.check_live()?;
        inner.check_generation(self.generation, &self.path)?;
        if let Some(kind) = kind {
            inner.begin_io(kind, bytes)?;
        }
        op(&mut inner, self.inode)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{}: opened read-only", self.path.display()),
            ))
        }
    }
}

impl File for SimFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.call(Some("read_at"), buf.len() as u64, |inner, id| {
            inner.read_at(id, offset, buf)
        })
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.call(Some("write_at"), data.len() as u64, |inner, id| {
            self.check_writable()?;
            inner.write_at(id, offset, data)
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.call(Some("sync_data"), 0, |inner, id| inner.sync_data(id))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.call(Some("set_len"), 0, |inner, id| {
            self.check_writable()?;
            inner.set_len(id, len)
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.call(
            None,
            0,
            |inner, id| Ok(inner.inode(id).current.len() as u64),
        )
    }
}

/// An exclusive lock on a path of a [`SimDisk`], released on drop or by a crash.
#[derive(Debug)]
struct SimLock {
    disk: SimDisk,
    path: PathBuf,
    generation: u64,
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        // Never panic in drop (a poisoned lock means a test is already failing).
        let mut inner = self
            .disk
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A guard from before a crash must not release a lock the recovered engine took.
        if inner.generation == self.generation {
            inner.locks.remove(&self.path);
        }
    }
}

type InodeId = u64;

/// One pending change to a file's contents.
#[derive(Clone, Debug)]
enum ContentOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen { len_before: u64, len_bytes: u64 },
}

impl ContentOp {
    /// The byte range whose contents this change determines.
    fn range(&self) -> (u64, u64) {
        match self {
            ContentOp::Write { offset, data } => (*offset, offset + data.len() as u64),
            ContentOp::SetLen {
                len_before,
                len_bytes,
            } => (*len_before.min(len_bytes), *len_before.max(len_bytes)),
        }
    }

    fn len_after(&self, len_before: u64) -> u64 {
        match self {
            ContentOp::Write { .. } => len_before.max(self.range().1),
            ContentOp::SetLen { len_bytes, .. } => *len_bytes,
        }
    }

    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            ContentOp::Write { offset, data } => write_into(image, *offset, data),
            ContentOp::SetLen { len_bytes, .. } => image.resize(to_usize(*len_bytes), 0),
        }
    }

    /// Applies the part of this change inside `[lo, hi)`, leaving the length to the
    /// caller: the bytes a shrink cuts off read as zeros here.
    fn apply_within(&self, image: &mut Vec<u8>, lo: u64, hi: u64) {
        let (start, end) = self.range();
        let (lo, hi) = (lo.max(start), hi.min(end));
        if lo >= hi {
            return;
        }
        match self {
            ContentOp::Write { offset, data } => {
                let part = &data[to_usize(lo - offset)..to_usize(hi - offset)];
                write_into(image, lo, part);
            }
            ContentOp::SetLen { .. } => zero_range(image, lo, hi),
        }
    }
}

/// The ranges `ops` touch, sorted and merged (touching ranges join).
fn merged_ranges(ops: &[ContentOp]) -> Vec<Range<u64>> {
    let mut ranges: Vec<(u64, u64)> = ops.iter().map(ContentOp::range).collect();
    ranges.sort_unstable();
    let mut merged: Vec<Range<u64>> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => merged.push(start..end),
        }
    }
    merged
}

/// The smallest range containing every range `ops` touch (`0..0` if there are none).
fn bounding_range(ops: &[ContentOp]) -> Range<u64> {
    let start = ops.iter().map(|op| op.range().0).min();
    let end = ops.iter().map(|op| op.range().1).max();
    match (start, end) {
        (Some(start), Some(end)) => start..end,
        _ => 0..0,
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("sizes are bounded by FILE_SIZE_MAX_BYTES")
}

fn write_into(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = to_usize(offset);
    let end = start + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
}

fn zero_range(image: &mut Vec<u8>, lo: u64, hi: u64) {
    let (lo, hi) = (to_usize(lo), to_usize(hi));
    if image.len() < hi {
        image.resize(hi, 0);
    }
    image[lo..hi].fill(0);
}

/// A file's contents: see the module documentation.
#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<ContentOp>,
    /// A `sync_data` failed: later ones fail, and pending writes are in doubt.
    poisoned: bool,
    syncs: VecDeque<SyncRecord>,
}

impl Inode {
    fn record(&mut self, op: ContentOp) {
        op.apply(&mut self.current);
        self.pending.push(op);
    }

    /// Makes every pending change durable.
    fn commit(&mut self) {
        for op in self.pending.drain(..) {
            op.apply(&mut self.durable);
        }
    }

    fn replayed(&self) -> Vec<u8> {
        let mut image = self.durable.clone();
        for op in &self.pending {
            op.apply(&mut image);
        }
        image
    }

    fn note_sync(&mut self, record: SyncRecord) {
        if self.syncs.len() == SYNC_HISTORY_MAX {
            self.syncs.pop_front();
        }
        self.syncs.push_back(record);
    }

    fn reset_to_durable(&mut self) {
        self.current = self.durable.clone();
        self.pending.clear();
        self.poisoned = false;
    }
}

/// Names: files (to inodes) and directories. Roots (`/`, and `""` for relative paths)
/// always exist and are not stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Namespace {
    files: BTreeMap<PathBuf, InodeId>,
    dirs: BTreeSet<PathBuf>,
}

fn is_root(path: &Path) -> bool {
    path.parent().is_none()
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

impl Namespace {
    fn dir_exists(&self, path: &Path) -> bool {
        is_root(path) || self.dirs.contains(path)
    }

    /// Drops entries whose parent directory does not exist: after a power loss reverted
    /// a directory's creation, what was inside it is unreachable.
    fn prune_orphans(&mut self) {
        // Sorted by components, so a directory is visited before anything inside it.
        let dirs: Vec<PathBuf> = self.dirs.iter().cloned().collect();
        for dir in dirs {
            if !self.dir_exists(parent_of(&dir)) {
                self.dirs.remove(&dir);
            }
        }
        let dirs = &self.dirs;
        self.files
            .retain(|path, _| is_root(parent_of(path)) || dirs.contains(parent_of(path)));
    }
}

/// One pending change to a namespace.
#[derive(Clone, Debug)]
enum EntryOp {
    Create { path: PathBuf, inode: InodeId },
    Remove { path: PathBuf },
    Rename { from: PathBuf, to: PathBuf },
    CreateDir { path: PathBuf },
}

impl EntryOp {
    /// The names this change creates, removes or moves.
    fn names(&self) -> [Option<&Path>; 2] {
        match self {
            EntryOp::Create { path, .. }
            | EntryOp::Remove { path }
            | EntryOp::CreateDir { path } => [Some(path), None],
            EntryOp::Rename { from, to } => [Some(from), Some(to)],
        }
    }

    /// Names this change depends on: its own and its ancestors (whose creation it needs).
    fn dependency_keys(&self) -> BTreeSet<&Path> {
        let mut keys = BTreeSet::new();
        for name in self.names().into_iter().flatten() {
            keys.extend(name.ancestors());
        }
        keys
    }

    fn is_in(&self, dir: &Path) -> bool {
        self.names()
            .into_iter()
            .flatten()
            .any(|name| parent_of(name) == dir)
    }

    /// Applies the change. Its preconditions hold by construction (the per-name prefix
    /// rule); a violation is a bug in this file.
    fn apply(&self, ns: &mut Namespace) {
        match self {
            EntryOp::Create { path, inode } => {
                let previous = ns.files.insert(path.clone(), *inode);
                assert!(
                    previous.is_none(),
                    "create over existing {}",
                    path.display()
                );
            }
            EntryOp::Remove { path } => {
                let removed = ns.files.remove(path);
                assert!(removed.is_some(), "remove of missing {}", path.display());
            }
            EntryOp::Rename { from, to } => {
                let inode = ns.files.remove(from);
                let inode = inode.unwrap_or_else(|| panic!("rename of missing {}", from.display()));
                ns.files.insert(to.clone(), inode);
            }
            EntryOp::CreateDir { path } => {
                ns.dirs.insert(path.clone());
            }
        }
    }
}

/// Which pending entry changes `sync_dir(dir)` makes durable: those in `dir`, plus every
/// earlier change to one of their names (a name's changes persist as a prefix). Entries
/// inside a directory whose own creation is pending may become durable before it; they
/// vanish with it if a power loss reverts it.
fn entries_made_durable(ops: &[EntryOp], dir: &Path) -> Vec<bool> {
    let mut durable = vec![false; ops.len()];
    let mut forced: BTreeSet<&Path> = BTreeSet::new();
    for (i, op) in ops.iter().enumerate().rev() {
        let names = op.names();
        let forced_by_later = names.iter().flatten().any(|name| forced.contains(name));
        if op.is_in(dir) || forced_by_later {
            durable[i] = true;
            forced.extend(names.iter().flatten().copied());
        }
    }
    durable
}

/// How one sector of one pending change fares at a power loss.
enum SectorFate {
    Persists,
    Lost,
    /// New bytes on one side of `cut` (bytes from the sector's start), old on the other.
    Mixed {
        cut: u64,
        new_first: bool,
    },
}

/// How one pending change fares at a power loss, before sectors are considered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteFate {
    Survives,
    Lost,
    Torn,
}

/// Resolves pending content changes at a power loss (see the module documentation).
struct PowerLoss<'a> {
    rng: &'a mut ChaCha8Rng,
    config: &'a PowerLossConfig,
    sector_size_bytes: u64,
    sector_write_atomic: bool,
    report: &'a mut CrashReport,
}

impl PowerLoss<'_> {
    /// The durable image left by a power loss.
    fn resolve(&mut self, durable: &[u8], pending: &[ContentOp]) -> Vec<u8> {
        let mut image = durable.to_vec();
        // Sectors whose prefix of changes has ended: later changes cannot land there.
        let mut closed: BTreeSet<u64> = BTreeSet::new();
        let mut len_resolved = durable.len() as u64;
        let mut len_prefix_intact = true;
        let mut len_before = len_resolved;
        for op in pending {
            let fate = self.fate(op);
            self.apply_sectors(op, fate, &mut image, &mut closed);
            let len_after = op.len_after(len_before);
            if len_after != len_before {
                len_prefix_intact = len_prefix_intact && self.length_persists(op, fate);
                if len_prefix_intact {
                    len_resolved = len_after;
                }
            }
            len_before = len_after;
        }
        image.resize(to_usize(len_resolved), 0);
        image
    }

    fn fate(&mut self, op: &ContentOp) -> WriteFate {
        match op {
            ContentOp::SetLen { .. } => {
                if chance(self.rng, self.config.set_len_persists_probability) {
                    self.report.set_lens_kept += 1;
                    WriteFate::Survives
                } else {
                    self.report.set_lens_lost += 1;
                    WriteFate::Lost
                }
            }
            ContentOp::Write { .. } => {
                let draw = unit_f64(self.rng);
                let survives = self.config.write_survives_probability;
                let lost = self.config.write_lost_probability;
                if draw < survives {
                    self.report.writes_survived += 1;
                    WriteFate::Survives
                } else if draw < survives + lost {
                    self.report.writes_lost += 1;
                    WriteFate::Lost
                } else {
                    self.report.writes_torn += 1;
                    WriteFate::Torn
                }
            }
        }
    }

    fn apply_sectors(
        &mut self,
        op: &ContentOp,
        fate: WriteFate,
        image: &mut Vec<u8>,
        closed: &mut BTreeSet<u64>,
    ) {
        let size = self.sector_size_bytes;
        let (start, end) = op.range();
        debug_assert!(start < end, "empty changes are never recorded");
        for sector in start / size..=(end - 1) / size {
            if closed.contains(&sector) {
                continue;
            }
            let lo = (sector * size).max(start);
            let hi = ((sector + 1) * size).min(end);
            match self.sector_fate(fate, hi - lo) {
                SectorFate::Persists => op.apply_within(image, lo, hi),
                SectorFate::Lost => {
                    closed.insert(sector);
                }
                SectorFate::Mixed { cut, new_first } => {
                    if new_first {
                        op.apply_within(image, lo, lo + cut);
                    } else {
                        op.apply_within(image, lo + cut, hi);
                    }
                    closed.insert(sector);
                }
            }
        }
    }

    fn sector_fate(&mut self, fate: WriteFate, part_len: u64) -> SectorFate {
        match fate {
            WriteFate::Survives => SectorFate::Persists,
            WriteFate::Lost => SectorFate::Lost,
            WriteFate::Torn => {
                if chance(self.rng, self.config.torn_sector_persists_probability) {
                    return SectorFate::Persists;
                }
                let can_mix = !self.sector_write_atomic && part_len >= 2;
                if can_mix && chance(self.rng, self.config.torn_sector_mixed_probability) {
                    let cut = 1 + below(self.rng, part_len - 1);
                    let new_first = chance(self.rng, 0.5);
                    return SectorFate::Mixed { cut, new_first };
                }
                SectorFate::Lost
            }
        }
    }

    fn length_persists(&mut self, op: &ContentOp, fate: WriteFate) -> bool {
        match op {
            ContentOp::SetLen { .. } => fate == WriteFate::Survives,
            ContentOp::Write { .. } => {
                fate == WriteFate::Survives
                    || chance(self.rng, self.config.extension_persists_probability)
            }
        }
    }
}

/// The disk's state, behind the handle's mutex.
struct Inner {
    device: DeviceConfig,
    faults: FaultConfig,
    rng: ChaCha8Rng,
    clock: Option<SimClock>,
    inodes: BTreeMap<InodeId, Inode>,
    inode_next: InodeId,
    durable_ns: Namespace,
    current_ns: Namespace,
    pending_entries: Vec<EntryOp>,
    locks: BTreeSet<PathBuf>,
    generation: u64,
    halted: bool,
    halt_plan: HaltPlan,
    io_ops_total: u64,
    io_ops: BTreeMap<&'static str, u64>,
    faults_injected: BTreeMap<&'static str, u64>,
    crash_point_hits: BTreeMap<&'static str, u64>,
}

impl Inner {
    fn new(device: DeviceConfig, faults: FaultConfig, rng: ChaCha8Rng) -> Inner {
        Inner {
            device,
            faults,
            rng,
            clock: None,
            inodes: BTreeMap::new(),
            inode_next: 1,
            durable_ns: Namespace::default(),
            current_ns: Namespace::default(),
            pending_entries: Vec::new(),
            locks: BTreeSet::new(),
            generation: 0,
            halted: false,
            halt_plan: HaltPlan::default(),
            io_ops_total: 0,
            io_ops: BTreeMap::new(),
            faults_injected: BTreeMap::new(),
            crash_point_hits: BTreeMap::new(),
        }
    }

    // ---- bookkeeping -------------------------------------------------------------

    fn check_live(&self) -> io::Result<()> {
        if self.halted {
            Err(simulated_crash())
        } else {
            Ok(())
        }
    }

    fn check_generation(&self, generation: u64, path: &Path) -> io::Result<()> {
        if generation == self.generation {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{}: stale handle (the disk crashed since it was opened)",
                path.display()
            )))
        }
    }

    /// Numbers and counts an IO operation, or halts instead if the plan says so.
    fn begin_io(&mut self, kind: &'static str, bytes: u64) -> io::Result<()> {
        debug_assert!(IO_OP_KINDS.contains(&kind), "unknown IO op kind {kind}");
        if self.halt_plan.at_io_op == Some(self.io_ops_total) {
            self.halt_plan.at_io_op = None;
            return Err(self.halt_now());
        }
        self.io_ops_total += 1;
        *self.io_ops.entry(kind).or_default() += 1;
        self.charge_latency(bytes);
        Ok(())
    }

    fn hit_crash_point(&mut self, name: &'static str) -> io::Result<()> {
        let hits = self.crash_point_hits.entry(name).or_default();
        *hits += 1;
        let hits = *hits;
        let planned = self
            .halt_plan
            .at_crash_point
            .as_ref()
            .is_some_and(|target| target.name == name && target.hit == hits);
        if planned {
            self.halt_plan.at_crash_point = None;
            return Err(self.halt_now());
        }
        Ok(())
    }

    fn halt_now(&mut self) -> io::Error {
        self.halted = true;
        self.count_fault("halt");
        simulated_crash()
    }

    fn count_fault(&mut self, key: &'static str) {
        self.count_faults(key, 1);
    }

    fn count_faults(&mut self, key: &'static str, count: u64) {
        if count > 0 {
            *self.faults_injected.entry(key).or_default() += count;
        }
    }

    fn draw(&mut self, probability: f64) -> bool {
        chance(&mut self.rng, probability)
    }

    fn charge_latency(&mut self, bytes: u64) {
        // Drawn whether or not a clock is attached, so attaching one does not shift the
        // disk's other draws.
        let spike = self.draw(self.faults.latency_spike_probability);
        if spike {
            self.count_fault("latency_spike");
        }
        let Some(clock) = &self.clock else {
            return;
        };
        let mut latency_ns = self
            .faults
            .latency_per_byte_ns
            .saturating_mul(bytes)
            .saturating_add(self.faults.latency_per_op_ns);
        if spike {
            latency_ns = latency_ns.saturating_add(self.faults.latency_spike_ns);
        }
        clock.advance(latency_ns);
    }

    fn inode(&self, id: InodeId) -> &Inode {
        self.inodes
            .get(&id)
            .expect("a live name or handle refers to a live inode")
    }

    fn inode_mut(&mut self, id: InodeId) -> &mut Inode {
        self.inodes
            .get_mut(&id)
            .expect("a live name or handle refers to a live inode")
    }

    fn current_file(&self, path: &Path) -> io::Result<InodeId> {
        self.current_ns
            .files
            .get(path)
            .copied()
            .ok_or_else(|| not_found(path))
    }

    fn usage_bytes(&self) -> u64 {
        self.inodes
            .values()
            .map(|inode| inode.current.len() as u64)
            .sum()
    }

    /// Fails with ENOSPC if growing by `growth_bytes` exceeds the capacity or the dice say
    /// so. Growth 0 never fails.
    fn check_space(&mut self, growth_bytes: u64) -> io::Result<()> {
        if growth_bytes == 0 {
            return Ok(());
        }
        let over_capacity = self
            .faults
            .capacity_bytes
            .is_some_and(|capacity| self.usage_bytes().saturating_add(growth_bytes) > capacity);
        if over_capacity || self.draw(self.faults.enospc_probability) {
            self.count_fault("enospc");
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "simulated ENOSPC: no space left on device",
            ));
        }
        Ok(())
    }

    // ---- namespace operations ----------------------------------------------------

    fn change_entry(&mut self, op: EntryOp) {
        op.apply(&mut self.current_ns);
        self.pending_entries.push(op);
    }

    fn open(&mut self, path: &Path, options: OpenOptions) -> io::Result<InodeId> {
        if let Some(&id) = self.current_ns.files.get(path) {
            if options.create_new {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: already exists", path.display()),
                ));
            }
            return Ok(id);
        }
        if self.current_ns.dir_exists(path) {
            return Err(is_a_directory(path));
        }
        if !(options.create || options.create_new) {
            return Err(not_found(path));
        }
        self.create_file(path)
    }

    fn create_file(&mut self, path: &Path) -> io::Result<InodeId> {
        let parent = parent_of(path);
        if !self.current_ns.dir_exists(parent) {
            return Err(not_found(parent));
        }
        let id = self.inode_next;
        self.inode_next += 1;
        self.inodes.insert(id, Inode::default());
        self.change_entry(EntryOp::Create {
            path: path.to_path_buf(),
            inode: id,
        });
        Ok(id)
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        if self.current_ns.files.contains_key(path) {
            self.change_entry(EntryOp::Remove {
                path: path.to_path_buf(),
            });
            return Ok(());
        }
        if self.current_ns.dir_exists(path) {
            return Err(is_a_directory(path));
        }
        Err(not_found(path))
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        if !self.current_ns.files.contains_key(from) {
            if self.current_ns.dir_exists(from) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{}: SimDisk renames files only", from.display()),
                ));
            }
            return Err(not_found(from));
        }
        if self.current_ns.dir_exists(to) {
            return Err(is_a_directory(to));
        }
        if !self.current_ns.dir_exists(parent_of(to)) {
            return Err(not_found(parent_of(to)));
        }
        if from != to {
            self.change_entry(EntryOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            });
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.check_is_dir(dir)?;
        let mut names: Vec<String> = self
            .current_ns
            .files
            .keys()
            .filter(|path| parent_of(path) == dir && !is_root(path))
            .filter_map(|path| path.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn check_is_dir(&self, dir: &Path) -> io::Result<()> {
        if self.current_ns.files.contains_key(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{}: not a directory", dir.display()),
            ));
        }
        if !self.current_ns.dir_exists(dir) {
            return Err(not_found(dir));
        }
        Ok(())
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.check_is_dir(dir)?;
        if self.draw(self.faults.sync_dir_eio_probability) {
            self.count_fault("sync_dir_eio");
            return Err(eio("sync_dir", dir));
        }
        let ops = std::mem::take(&mut self.pending_entries);
        let durable = entries_made_durable(&ops, dir);
        for (op, is_durable) in ops.into_iter().zip(durable) {
            if is_durable {
                op.apply(&mut self.durable_ns);
            } else {
                self.pending_entries.push(op);
            }
        }
        Ok(())
    }

    fn create_dir_all(&mut self, dir: &Path) -> io::Result<()> {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|ancestor| !self.current_ns.dir_exists(ancestor))
            .map(Path::to_path_buf)
            .collect();
        if let Some(file) = missing
            .iter()
            .find(|d| self.current_ns.files.contains_key(*d))
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: a file has this name", file.display()),
            ));
        }
        for path in missing.into_iter().rev() {
            self.change_entry(EntryOp::CreateDir { path });
        }
        Ok(())
    }

    fn take_lock(&mut self, path: &Path) -> io::Result<()> {
        // Like the OS implementation, locking creates the lock file if it is missing.
        if !self.current_ns.files.contains_key(path) {
            if self.current_ns.dir_exists(path) {
                return Err(is_a_directory(path));
            }
            self.create_file(path)?;
        }
        if !self.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{}: already locked", path.display()),
            ));
        }
        Ok(())
    }

    // ---- file operations ---------------------------------------------------------

    fn read_at(&mut self, id: InodeId, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let len = self.inode(id).current.len() as u64;
        let end = offset.checked_add(buf.len() as u64);
        let Some(end) = end.filter(|&end| end <= len) else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} past the end ({len})",
                    buf.len()
                ),
            ));
        };
        if self.draw(self.faults.read_eio_probability) {
            self.count_fault("read_eio");
            return Err(io::Error::other("simulated EIO during read_at"));
        }
        buf.copy_from_slice(&self.inode(id).current[to_usize(offset)..to_usize(end)]);
        Ok(())
    }

    fn write_at(&mut self, id: InodeId, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = checked_end(offset, data.len() as u64)?;
        let growth_bytes = end.saturating_sub(self.inode(id).current.len() as u64);
        self.check_space(growth_bytes)?;
        if self.draw(self.faults.write_eio_probability) {
            return Err(self.fail_write(id, offset, data));
        }
        self.inode_mut(id).record(ContentOp::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    /// A write that fails part way: a random prefix of its sectors (none to all) is
    /// written, as the device got that far before reporting the error.
    fn fail_write(&mut self, id: InodeId, offset: u64, data: &[u8]) -> io::Error {
        let size = u64::from(self.device.sector_size_bytes);
        let end = offset + data.len() as u64;
        let first_sector = offset / size;
        let sector_count = (end - 1) / size - first_sector + 1;
        let sectors_written = below(&mut self.rng, sector_count + 1);
        let written_end = ((first_sector + sectors_written) * size).clamp(offset, end);
        if written_end > offset {
            let part = data[..to_usize(written_end - offset)].to_vec();
            self.inode_mut(id)
                .record(ContentOp::Write { offset, data: part });
        }
        self.count_fault("write_eio");
        io::Error::other("simulated EIO during write_at")
    }

    fn set_len(&mut self, id: InodeId, len: u64) -> io::Result<()> {
        checked_end(len, 0)?;
        let len_before = self.inode(id).current.len() as u64;
        if len == len_before {
            return Ok(());
        }
        self.check_space(len.saturating_sub(len_before))?;
        self.inode_mut(id).record(ContentOp::SetLen {
            len_before,
            len_bytes: len,
        });
        Ok(())
    }

    fn sync_data(&mut self, id: InodeId) -> io::Result<()> {
        if self.inode(id).poisoned {
            self.count_fault("sync_eio_poisoned");
            return Err(io::Error::other(
                "simulated EIO during sync_data (the file is poisoned by an earlier failure)",
            ));
        }
        if self.draw(self.faults.sync_eio_probability) {
            self.inode_mut(id).poisoned = true;
            self.count_fault("sync_eio");
            return Err(io::Error::other("simulated EIO during sync_data"));
        }
        // begin_io has already numbered this operation.
        let io_op = self.io_ops_total - 1;
        let inode = self.inode_mut(id);
        let changed = bounding_range(&inode.pending);
        inode.commit();
        let len_bytes = inode.durable.len() as u64;
        inode.note_sync(SyncRecord {
            io_op,
            len_bytes,
            changed,
        });
        Ok(())
    }

    // ---- faults and crashes ------------------------------------------------------

    fn flip_durable_bit(&mut self, id: InodeId, offset: u64, bit: u8) {
        let inode = self.inode_mut(id);
        inode.durable[to_usize(offset)] ^= 1 << bit;
        // Keep the invariant: reads see the flip unless a pending write covers it.
        inode.current = inode.replayed();
        self.count_fault("bit_flip");
    }

    fn crash(&mut self, kind: CrashKind) -> CrashReport {
        let mut report = CrashReport::new(kind);
        match kind {
            CrashKind::Process => {
                // The page cache survives: entry changes stay pending, the durable
                // namespace keeps any orphans (their directory's creation may still
                // become durable), and the current namespace is unchanged.
                report.entries_pending = self.pending_entries.len() as u64;
            }
            CrashKind::PowerLoss => {
                self.resolve_entries(&mut report);
                self.durable_ns.prune_orphans();
                self.current_ns = self.durable_ns.clone();
            }
        }
        // Freed before contents are resolved, so that no draw is spent on a dead inode.
        self.free_unreferenced_inodes();
        self.resolve_contents(kind, &mut report);
        self.locks.clear();
        self.generation += 1;
        self.halted = false;
        self.count_crash(&report);
        report
    }

    /// Keeps or reverts each pending entry change, in order, under the per-name prefix
    /// rule (see the module documentation).
    fn resolve_entries(&mut self, report: &mut CrashReport) {
        let probability = self.faults.power_loss.entry_persists_probability;
        let mut reverted: BTreeSet<PathBuf> = BTreeSet::new();
        for op in std::mem::take(&mut self.pending_entries) {
            let blocked = op
                .dependency_keys()
                .iter()
                .any(|key| reverted.contains(*key));
            if !blocked && chance(&mut self.rng, probability) {
                op.apply(&mut self.durable_ns);
                report.entries_kept += 1;
            } else {
                reverted.extend(op.names().into_iter().flatten().map(Path::to_path_buf));
                report.entries_reverted += 1;
            }
        }
    }

    /// The inodes something may still reach: a name in the current or the durable
    /// namespace, or a pending creation (a power loss may keep a pending create and revert
    /// the later remove). Handles do not count: a crash has just killed them all.
    fn referenced_inodes(&self) -> BTreeSet<InodeId> {
        let created = self.pending_entries.iter().filter_map(|op| match op {
            EntryOp::Create { inode, .. } => Some(*inode),
            _ => None,
        });
        self.current_ns
            .files
            .values()
            .chain(self.durable_ns.files.values())
            .copied()
            .chain(created)
            .collect()
    }

    fn free_unreferenced_inodes(&mut self) {
        let referenced = self.referenced_inodes();
        self.inodes.retain(|id, _| referenced.contains(id));
    }

    fn resolve_contents(&mut self, kind: CrashKind, report: &mut CrashReport) {
        let Inner {
            inodes,
            rng,
            faults,
            device,
            ..
        } = self;
        let mut power_loss = PowerLoss {
            rng,
            config: &faults.power_loss,
            sector_size_bytes: u64::from(device.sector_size_bytes),
            sector_write_atomic: device.sector_write_atomic,
            report,
        };
        for inode in inodes.values_mut() {
            // A poisoned file's pending writes are in doubt even if the OS survived: the
            // kernel dropped them from the page cache after the failed sync.
            if kind == CrashKind::PowerLoss || inode.poisoned {
                inode.durable = power_loss.resolve(&inode.durable, &inode.pending);
                inode.reset_to_durable();
            } else {
                // A process crash: the page cache still holds them, not yet durable.
                for op in &inode.pending {
                    match op {
                        ContentOp::Write { .. } => power_loss.report.writes_pending += 1,
                        ContentOp::SetLen { .. } => power_loss.report.set_lens_pending += 1,
                    }
                }
            }
        }
    }

    fn count_crash(&mut self, report: &CrashReport) {
        let key = match report.kind {
            CrashKind::Process => "crash_process",
            CrashKind::PowerLoss => "crash_power_loss",
        };
        self.count_fault(key);
        self.count_faults("crash_write_lost", report.writes_lost);
        self.count_faults("crash_write_torn", report.writes_torn);
        self.count_faults("crash_set_len_lost", report.set_lens_lost);
        self.count_faults("crash_entry_reverted", report.entries_reverted);
    }

    fn check_invariants(&self) {
        for (id, inode) in &self.inodes {
            assert!(
                inode.replayed() == inode.current,
                "inode {id}: current image differs from durable image + pending changes"
            );
        }
        let mut replayed = self.durable_ns.clone();
        for op in &self.pending_entries {
            op.apply(&mut replayed);
        }
        assert!(
            replayed == self.current_ns,
            "current namespace differs from durable namespace + pending entry changes"
        );
        for id in self.referenced_inodes() {
            assert!(
                self.inodes.contains_key(&id),
                "a name or pending creation refers to freed inode {id}"
            );
        }
        for path in self.current_ns.files.keys().chain(&self.current_ns.dirs) {
            let parent = parent_of(path);
            assert!(
                self.current_ns.dir_exists(parent),
                "{} has no parent directory",
                path.display()
            );
        }
    }
}

fn checked_end(offset: u64, len: u64) -> io::Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= FILE_SIZE_MAX_BYTES => Ok(end),
        _ => Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("offset {offset} + {len} bytes exceeds the simulated maximum file size"),
        )),
    }
}

fn simulated_crash() -> io::Error {
    io::Error::other(SimulatedCrash)
}

fn eio(op: &str, path: &Path) -> io::Error {
    io::Error::other(format!("simulated EIO during {op} of {}", path.display()))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("{}: is a directory", path.display()),
    )
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    //! Goal: every claim of the fault model at the top of this file, as a named test.
    //! Claims about what a power loss MAY do run over many seeds and assert that each
    //! allowed outcome actually occurs (a "may" that never happens tests nothing) and
    //! that no forbidden outcome does. A randomized workout checks the state invariant
    //! after every step.
    //! Not covered: the engine on top of the disk, madsim integration, performance.

    use super::*;
    use crate::seed::{stream, Stream};

    const SEEDS: u64 = 300;

    fn p(path: &str) -> &Path {
        Path::new(path)
    }

    fn device(sector_write_atomic: bool) -> DeviceConfig {
        DeviceConfig {
            sector_size_bytes: 16,
            sector_write_atomic,
        }
    }

    fn disk_with(seed: u64, device: DeviceConfig, faults: FaultConfig) -> SimDisk {
        SimDisk::new(device, faults, stream(seed, Stream::Faults))
    }

    /// A disk with 16-byte atomic sectors, no faults, and a durable directory `/db`.
    fn disk(seed: u64) -> SimDisk {
        let disk = disk_with(seed, device(true), FaultConfig::default());
        make_db_dir(&disk);
        disk
    }

    fn make_db_dir(disk: &SimDisk) {
        disk.create_dir_all(p("/db")).unwrap();
        disk.sync_dir(p("/")).unwrap();
    }

    /// Creates `path` holding `contents`, with data and name durable.
    fn durable_file(disk: &SimDisk, path: &str, contents: &[u8]) {
        let file = disk.open(p(path), OpenOptions::CREATE).unwrap();
        file.write_at(0, contents).unwrap();
        file.sync_data().unwrap();
        disk.sync_dir(parent_of(p(path))).unwrap();
    }

    fn read_all(disk: &SimDisk, path: &str) -> Vec<u8> {
        let file = disk.open(p(path), OpenOptions::READ).unwrap();
        let mut buf = vec![0; file.len().unwrap() as usize];
        file.read_at(0, &mut buf).unwrap();
        buf
    }

    /// For each seed: a fresh disk (16-byte sectors, atomic or not), `scenario`, a power
    /// loss, an invariant check, then `observe`.
    fn after_power_loss<T>(
        sector_write_atomic: bool,
        scenario: impl Fn(&SimDisk),
        observe: impl Fn(&SimDisk) -> T,
    ) -> Vec<T> {
        (0..SEEDS)
            .map(|seed| {
                let disk = disk_with(seed, device(sector_write_atomic), FaultConfig::default());
                make_db_dir(&disk);
                scenario(&disk);
                disk.crash(CrashKind::PowerLoss);
                disk.check_invariants();
                observe(&disk)
            })
            .collect()
    }

    fn chunks_all(image: &[u8], byte: u8) -> Vec<bool> {
        image
            .chunks(16)
            .map(|chunk| chunk.iter().all(|&b| b == byte))
            .collect()
    }

    // ---- durability --------------------------------------------------------------

    #[test]
    fn synced_write_survives_power_loss() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"hello, durable world");
                // Pending noise elsewhere must not disturb it.
                durable_file(disk, "/db/b", b"other");
                let other = disk.open(p("/db/b"), OpenOptions::READ_WRITE).unwrap();
                other.write_at(0, b"OTHER-PENDING").unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        assert!(images.iter().all(|image| image == b"hello, durable world"));
    }

    #[test]
    fn synced_entries_survive_power_loss() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"a");
                durable_file(disk, "/db/b", b"b");
                disk.rename(p("/db/a"), p("/db/c")).unwrap();
                disk.remove(p("/db/b")).unwrap();
                disk.sync_dir(p("/db")).unwrap();
            },
            |disk| disk.list(p("/db")).unwrap(),
        );
        assert!(outcomes.iter().all(|names| names == &["c"]));
    }

    // ---- process crashes -----------------------------------------------------------

    #[test]
    fn process_crash_keeps_every_pending_change_visible_and_pending() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", b"old");
        let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
        a.write_at(0, b"new, and longer").unwrap();
        let b = disk.open(p("/db/b"), OpenOptions::CREATE).unwrap();
        b.write_at(0, b"unsynced").unwrap();
        b.set_len(4).unwrap();
        disk.rename(p("/db/b"), p("/db/c")).unwrap();
        disk.create_dir_all(p("/db/sub")).unwrap();

        let report = disk.crash(CrashKind::Process);

        disk.check_invariants();
        // The next process reads what the page cache holds...
        assert_eq!(read_all(&disk, "/db/a"), b"new, and longer");
        assert_eq!(read_all(&disk, "/db/c"), b"unsy");
        assert!(!disk.exists(p("/db/b")).unwrap());
        assert!(disk.is_dir(p("/db/sub")).unwrap());
        // ...none of which the crash made durable.
        assert_eq!(disk.durable_image(p("/db/a")).unwrap(), b"old");
        assert_eq!(disk.durable_image(p("/db/c")), None);
        assert_eq!(
            disk.unsynced_ranges(p("/db/a")).unwrap(),
            [Range { start: 0, end: 15 }]
        );
        assert_eq!(
            disk.unsynced_ranges(p("/db/c")).unwrap(),
            [Range { start: 0, end: 8 }]
        );
        let expected = CrashReport {
            writes_pending: 2,
            set_lens_pending: 1,
            entries_pending: 3,
            ..CrashReport::new(CrashKind::Process)
        };
        assert_eq!(report, expected);
        assert_eq!(disk.generation(), 1);

        // A second process crash changes nothing either.
        assert_eq!(disk.crash(CrashKind::Process), expected);
        disk.check_invariants();
        assert_eq!(read_all(&disk, "/db/a"), b"new, and longer");
        assert_eq!(disk.durable_image(p("/db/a")).unwrap(), b"old");
    }

    #[test]
    fn process_crash_keeps_pending_writes_visible_but_not_durable() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"old!");
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, b"new!").unwrap();
                let report = disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert_eq!(report.writes_pending, 1);
                assert_eq!(
                    report.writes_survived + report.writes_lost + report.writes_torn,
                    0
                );
                assert_eq!(read_all(disk, "/db/a"), b"new!", "visible after the crash");
                assert_eq!(disk.durable_image(p("/db/a")).unwrap(), b"old!");
            },
            |disk| read_all(disk, "/db/a"),
        );
        assert!(images.iter().all(|i| i == b"old!" || i == b"new!"));
        assert!(images.iter().any(|i| i == b"old!"), "never lost");
        assert!(images.iter().any(|i| i == b"new!"), "never kept");
    }

    #[test]
    fn inherited_write_may_be_torn_at_power_loss() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", &[0x11; 64]);
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, &[0x22; 64]).unwrap();
                disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert_eq!(read_all(disk, "/db/a"), [0x22; 64]);
            },
            |disk| read_all(disk, "/db/a"),
        );
        let torn = images.iter().filter(|image| {
            let old = chunks_all(image, 0x11);
            let new = chunks_all(image, 0x22);
            old.contains(&true) && new.contains(&true)
        });
        assert!(torn.count() > 0, "no torn outcome in {SEEDS} seeds");
    }

    #[test]
    fn sync_after_process_crash_makes_inherited_writes_durable() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"old!");
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, b"new!").unwrap();
                a.write_at(4, b"tail").unwrap();
                disk.crash(CrashKind::Process);
                disk.check_invariants();

                // The next process fsyncs what it found, through a handle of its own.
                let fresh = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                fresh.sync_data().unwrap();
                disk.check_invariants();
                assert!(disk.unsynced_ranges(p("/db/a")).unwrap().is_empty());
                assert_eq!(disk.durable_image(p("/db/a")).unwrap(), b"new!tail");
                let last = disk.sync_history(p("/db/a")).unwrap().pop().unwrap();
                assert_eq!((last.len_bytes, last.changed), (8, 0..8));
            },
            |disk| read_all(disk, "/db/a"),
        );
        assert!(images.iter().all(|image| image == b"new!tail"));
    }

    #[test]
    fn sync_dir_after_process_crash_makes_inherited_entries_durable() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/current", b"old");
                let tmp = disk.open(p("/db/tmp"), OpenOptions::CREATE).unwrap();
                tmp.write_at(0, b"new").unwrap();
                tmp.sync_data().unwrap();
                disk.rename(p("/db/tmp"), p("/db/current")).unwrap();
                disk.create_dir_all(p("/db/sub")).unwrap();
                disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert_eq!(disk.durable_image(p("/db/current")).unwrap(), b"old");

                disk.sync_dir(p("/db")).unwrap();
                disk.check_invariants();
                assert_eq!(disk.durable_image(p("/db/current")).unwrap(), b"new");
            },
            |disk| {
                (
                    disk.file_paths(),
                    read_all(disk, "/db/current"),
                    disk.is_dir(p("/db/sub")).unwrap(),
                )
            },
        );
        for outcome in &outcomes {
            assert_eq!(
                outcome,
                &(vec![PathBuf::from("/db/current")], b"new".to_vec(), true)
            );
        }
    }

    #[test]
    fn unsynced_rename_survives_process_crash_but_may_vanish_at_power_loss() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/current", b"old");
                durable_file(disk, "/db/tmp", b"new");
                disk.rename(p("/db/tmp"), p("/db/current")).unwrap();
                let report = disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert_eq!((report.entries_pending, report.entries_kept), (1, 0));
                assert_eq!(read_all(disk, "/db/current"), b"new");
                assert!(!disk.exists(p("/db/tmp")).unwrap());
                assert_eq!(disk.durable_image(p("/db/current")).unwrap(), b"old");
                assert_eq!(disk.durable_image(p("/db/tmp")).unwrap(), b"new");
            },
            |disk| {
                (
                    read_all(disk, "/db/current"),
                    disk.exists(p("/db/tmp")).unwrap(),
                )
            },
        );
        for (current, tmp_exists) in &outcomes {
            let renamed = current == b"new" && !tmp_exists;
            let reverted = current == b"old" && *tmp_exists;
            assert!(
                renamed || reverted,
                "half a rename: {current:?}, tmp {tmp_exists}"
            );
        }
        assert!(outcomes.iter().any(|(current, _)| current == b"new"));
        assert!(outcomes.iter().any(|(current, _)| current == b"old"));
    }

    #[test]
    fn entries_under_unsynced_dir_survive_process_crash_and_vanish_with_it() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                disk.create_dir_all(p("/db/sub")).unwrap();
                // sync_dir(/db/sub) makes f durable while /db/sub itself is pending.
                durable_file(disk, "/db/sub/f", b"f");
                disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert_eq!(read_all(disk, "/db/sub/f"), b"f");
            },
            |disk| {
                (
                    disk.exists(p("/db/sub")).unwrap(),
                    disk.exists(p("/db/sub/f")).unwrap(),
                )
            },
        );
        assert!(outcomes.iter().all(|&(dir, file)| dir == file));
        assert!(outcomes.contains(&(true, true)));
        assert!(outcomes.contains(&(false, false)));
    }

    #[test]
    fn pending_create_and_remove_stay_pending_across_process_crash() {
        // The inode is named neither in the current nor in the durable namespace, only by
        // the pending create: freeing it at the process crash would leave a power loss
        // that keeps the create and reverts the remove naming a freed inode.
        let outcomes = after_power_loss(
            true,
            |disk| {
                let c = disk.open(p("/db/c"), OpenOptions::CREATE).unwrap();
                c.write_at(0, b"c").unwrap();
                c.sync_data().unwrap();
                disk.remove(p("/db/c")).unwrap();
                disk.crash(CrashKind::Process);
                disk.check_invariants();
                assert!(!disk.exists(p("/db/c")).unwrap());
            },
            |disk| {
                disk.exists(p("/db/c"))
                    .unwrap()
                    .then(|| read_all(disk, "/db/c"))
            },
        );
        assert!(outcomes.iter().any(Option::is_none));
        assert!(outcomes.iter().any(Option::is_some));
        assert!(outcomes.iter().flatten().all(|image| image == b"c"));
    }

    #[test]
    fn process_crash_frees_only_inodes_nothing_refers_to() {
        let disk = disk_with(
            0,
            device(true),
            FaultConfig {
                capacity_bytes: Some(100),
                ..FaultConfig::default()
            },
        );
        make_db_dir(&disk);
        durable_file(&disk, "/db/a", &[1; 60]);
        disk.remove(p("/db/a")).unwrap();
        disk.crash(CrashKind::Process);
        disk.check_invariants();

        let b = disk.open(p("/db/b"), OpenOptions::CREATE).unwrap();
        let full = b.write_at(0, &[2; 60]).unwrap_err();
        assert_eq!(
            full.kind(),
            io::ErrorKind::StorageFull,
            "the removal is not durable, so a power loss may bring a back: its inode stays"
        );
        disk.sync_dir(p("/db")).unwrap();
        let full = b.write_at(0, &[2; 60]).unwrap_err();
        assert_eq!(
            full.kind(),
            io::ErrorKind::StorageFull,
            "freed at a crash only"
        );

        disk.crash(CrashKind::Process);
        disk.check_invariants();
        let b = disk.open(p("/db/b"), OpenOptions::READ_WRITE).unwrap();
        b.write_at(0, &[2; 60])
            .expect("nothing refers to a's inode any more: the crash freed it");
    }

    #[test]
    fn process_crash_changes_nothing_a_later_power_loss_sees() {
        // Without poisoned files a process crash neither resolves nor draws anything, so a
        // power loss after it leaves exactly what the same power loss leaves without it.
        let faults = FaultConfig {
            sync_eio_probability: 0.0,
            ..workout_faults()
        };
        let mut writes_pending = 0;
        let mut entries_pending = 0;
        for seed in 0..60 {
            let crashed = workout_disk(seed, 200, faults.clone(), false);
            let control = workout_disk(seed, 200, faults.clone(), false);
            let visible = current_images(&crashed);

            let report = crashed.crash(CrashKind::Process);

            crashed.check_invariants();
            assert_eq!(current_images(&crashed), visible, "seed {seed}");
            writes_pending += report.writes_pending;
            entries_pending += report.entries_pending;
            crashed.crash(CrashKind::PowerLoss);
            control.crash(CrashKind::PowerLoss);
            crashed.check_invariants();
            assert_eq!(
                current_images(&crashed),
                current_images(&control),
                "seed {seed}"
            );
        }
        assert!(writes_pending > 0 && entries_pending > 0);
    }

    // ---- power loss: contents ----------------------------------------------------

    #[test]
    fn unsynced_write_may_survive_or_vanish() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"old!");
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, b"new!").unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        assert!(images.iter().all(|i| i == b"old!" || i == b"new!"));
        assert!(images.iter().any(|i| i == b"old!"));
        assert!(images.iter().any(|i| i == b"new!"));
    }

    #[test]
    fn torn_write_changes_only_whole_sectors() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", &[0x11; 64]);
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, &[0x22; 64]).unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        let mut torn = 0;
        for image in &images {
            assert_eq!(image.len(), 64);
            let old = chunks_all(image, 0x11);
            let new = chunks_all(image, 0x22);
            for sector in 0..4 {
                assert!(
                    old[sector] || new[sector],
                    "sector {sector} mixes bytes: {image:?}"
                );
            }
            if old.contains(&true) && new.contains(&true) {
                torn += 1;
            }
        }
        assert!(torn > 0, "no torn outcome in {SEEDS} seeds");
        assert!(images.iter().any(|i| i == &[0x11; 64]));
        assert!(images.iter().any(|i| i == &[0x22; 64]));
    }

    #[test]
    fn non_atomic_sector_may_mix_old_and_new_bytes() {
        let images = after_power_loss(
            false,
            |disk| {
                durable_file(disk, "/db/a", &[0x11; 64]);
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, &[0x22; 64]).unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        let mut mixed_sectors = 0;
        for image in &images {
            assert!(image.iter().all(|&b| b == 0x11 || b == 0x22));
            let old = chunks_all(image, 0x11);
            let new = chunks_all(image, 0x22);
            mixed_sectors += (0..4).filter(|&s| !old[s] && !new[s]).count();
        }
        assert!(mixed_sectors > 0, "no mixed sector in {SEEDS} seeds");
    }

    #[test]
    fn writes_sharing_a_sector_persist_in_order() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", &[b'.'; 16]);
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, b"AAAA").unwrap();
                a.write_at(4, b"BBBB").unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        for image in &images {
            assert!(
                &image[4..8] != b"BBBB" || &image[0..4] == b"AAAA",
                "a later write survived without an earlier one in its sector: {image:?}"
            );
        }
        assert!(images.iter().any(|i| &i[0..8] == b"AAAA...."));
        assert!(images.iter().any(|i| &i[0..8] == b"AAAABBBB"));
        assert!(images.iter().any(|i| &i[0..8] == b"........"));
    }

    #[test]
    fn unsynced_extension_may_leave_zero_tail() {
        let images = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"");
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.write_at(0, &[0xAB; 48]).unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        for image in &images {
            assert!(image.iter().all(|&b| b == 0xAB || b == 0));
            assert!(image.is_empty() || image.len() == 48);
        }
        assert!(images.iter().any(Vec::is_empty));
        assert!(images.iter().any(|i| i == &[0xAB; 48]));
        assert!(images.iter().any(|i| i.len() == 48 && i.contains(&0)));
    }

    #[test]
    fn unsynced_set_len_may_persist_or_not() {
        let lens = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", &[7; 40]);
                let a = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
                a.set_len(8).unwrap();
            },
            |disk| read_all(disk, "/db/a"),
        );
        assert!(lens.iter().all(|i| i == &[7; 40] || i == &[7; 8]));
        assert!(lens.iter().any(|i| i.len() == 40));
        assert!(lens.iter().any(|i| i.len() == 8));
    }

    // ---- power loss: names -------------------------------------------------------

    #[test]
    fn unsynced_create_may_vanish_on_power_loss() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                let file = disk.open(p("/db/new"), OpenOptions::CREATE).unwrap();
                file.write_at(0, b"data").unwrap();
                file.sync_data().unwrap();
            },
            |disk| {
                disk.exists(p("/db/new"))
                    .unwrap()
                    .then(|| read_all(disk, "/db/new"))
            },
        );
        assert!(outcomes.iter().any(Option::is_none));
        assert!(outcomes.iter().any(Option::is_some));
        // The data was synced: if the name survived, so did the data.
        assert!(outcomes.iter().flatten().all(|image| image == b"data"));
    }

    #[test]
    fn unsynced_remove_may_bring_file_back() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/a", b"still here");
                disk.remove(p("/db/a")).unwrap();
            },
            |disk| {
                disk.exists(p("/db/a"))
                    .unwrap()
                    .then(|| read_all(disk, "/db/a"))
            },
        );
        assert!(outcomes.iter().any(Option::is_none));
        assert!(outcomes
            .iter()
            .flatten()
            .any(|image| image == b"still here"));
    }

    #[test]
    fn rename_is_atomic_under_power_loss() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/current", b"old");
                durable_file(disk, "/db/tmp", b"new");
                disk.rename(p("/db/tmp"), p("/db/current")).unwrap();
            },
            |disk| {
                (
                    read_all(disk, "/db/current"),
                    disk.exists(p("/db/tmp")).unwrap(),
                )
            },
        );
        for (current, tmp_exists) in &outcomes {
            let renamed = current == b"new" && !tmp_exists;
            let reverted = current == b"old" && *tmp_exists;
            assert!(
                renamed || reverted,
                "half a rename: {current:?}, tmp {tmp_exists}"
            );
        }
        assert!(outcomes.iter().any(|(current, _)| current == b"new"));
        assert!(outcomes.iter().any(|(current, _)| current == b"old"));
    }

    #[test]
    fn rename_of_unsynced_file_never_leaves_target_missing() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                durable_file(disk, "/db/current", b"old");
                let tmp = disk.open(p("/db/tmp"), OpenOptions::CREATE).unwrap();
                tmp.write_at(0, b"new").unwrap();
                tmp.sync_data().unwrap();
                disk.rename(p("/db/tmp"), p("/db/current")).unwrap();
            },
            |disk| {
                (
                    read_all(disk, "/db/current"),
                    disk.exists(p("/db/tmp")).unwrap(),
                )
            },
        );
        for (current, tmp_exists) in &outcomes {
            assert!(current == b"old" || current == b"new");
            assert!(
                !(current == b"new" && *tmp_exists),
                "renamed file under two names"
            );
        }
        assert!(outcomes.iter().any(|(current, _)| current == b"new"));
        assert!(outcomes
            .iter()
            .any(|(current, tmp)| current == b"old" && *tmp));
        assert!(outcomes
            .iter()
            .any(|(current, tmp)| current == b"old" && !*tmp));
    }

    #[test]
    fn entries_under_unsynced_dir_vanish_with_it() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                disk.create_dir_all(p("/db/sub")).unwrap();
                durable_file(disk, "/db/sub/f", b"f");
            },
            |disk| {
                (
                    disk.exists(p("/db/sub")).unwrap(),
                    disk.exists(p("/db/sub/f")).unwrap(),
                )
            },
        );
        assert!(outcomes.iter().all(|&(dir, file)| dir == file));
        assert!(outcomes.contains(&(true, true)));
        assert!(outcomes.contains(&(false, false)));
    }

    #[test]
    fn sync_dir_makes_only_its_own_entries_durable() {
        let outcomes = after_power_loss(
            true,
            |disk| {
                disk.create_dir_all(p("/db/x")).unwrap();
                disk.create_dir_all(p("/db/y")).unwrap();
                disk.sync_dir(p("/db")).unwrap();
                disk.open(p("/db/x/f"), OpenOptions::CREATE).unwrap();
                disk.open(p("/db/y/g"), OpenOptions::CREATE).unwrap();
                disk.sync_dir(p("/db/x")).unwrap();
            },
            |disk| {
                (
                    disk.exists(p("/db/x/f")).unwrap(),
                    disk.exists(p("/db/y/g")).unwrap(),
                )
            },
        );
        assert!(outcomes.iter().all(|&(f, _)| f));
        assert!(outcomes.iter().any(|&(_, g)| g));
        assert!(outcomes.iter().any(|&(_, g)| !g));
    }

    #[test]
    fn sync_dir_carries_earlier_changes_to_the_same_name() {
        // The rename into /db is durable after sync_dir(/db); the creation of its source,
        // pending in another directory, must become durable with it, or the durable
        // namespace would hold a rename of a file that never existed.
        let outcomes = after_power_loss(
            true,
            |disk| {
                disk.create_dir_all(p("/db/other")).unwrap();
                disk.sync_dir(p("/db")).unwrap();
                let file = disk.open(p("/db/other/a"), OpenOptions::CREATE).unwrap();
                file.write_at(0, b"1").unwrap();
                file.sync_data().unwrap();
                disk.rename(p("/db/other/a"), p("/db/a")).unwrap();
                disk.sync_dir(p("/db")).unwrap();
            },
            |disk| (disk.file_paths(), read_all(disk, "/db/a")),
        );
        for (paths, image) in &outcomes {
            assert_eq!(paths, &[PathBuf::from("/db/a")]);
            assert_eq!(image, b"1");
        }
    }

    // ---- reads, writes, lengths --------------------------------------------------

    #[test]
    fn read_past_end_is_an_error() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", b"0123456789");
        let file = disk.open(p("/db/a"), OpenOptions::READ).unwrap();
        let mut buf = [0u8; 4];
        let err = file.read_at(8, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, [0; 4], "a failed read must not fill the buffer");
        let err = file.read_at(10, &mut buf[..1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(file.read_at(u64::MAX, &mut buf).is_err());
        file.read_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"6789");
    }

    #[test]
    fn set_len_extension_reads_as_zeros() {
        let disk = disk(0);
        let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        file.write_at(0, &[9; 8]).unwrap();
        file.set_len(4).unwrap();
        file.set_len(12).unwrap();
        let mut buf = [1u8; 12];
        file.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, [9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
        file.write_at(20, b"x").unwrap();
        assert_eq!(file.len().unwrap(), 21);
        let mut gap = [1u8; 8];
        file.read_at(12, &mut gap).unwrap();
        assert_eq!(gap, [0; 8]);
        disk.check_invariants();
    }

    #[test]
    fn read_only_handle_cannot_write() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", b"a");
        let file = disk.open(p("/db/a"), OpenOptions::READ).unwrap();
        assert_eq!(
            file.write_at(0, b"b").unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
        assert_eq!(
            file.set_len(0).unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn open_follows_create_flags() {
        let disk = disk(0);
        let missing = disk.open(p("/db/a"), OpenOptions::READ).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        disk.open(p("/db/a"), OpenOptions::CREATE_NEW).unwrap();
        let again = disk.open(p("/db/a"), OpenOptions::CREATE_NEW).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        let no_parent = disk.open(p("/nope/a"), OpenOptions::CREATE).unwrap_err();
        assert_eq!(no_parent.kind(), io::ErrorKind::NotFound);
        let dir = disk.open(p("/db"), OpenOptions::READ).unwrap_err();
        assert_eq!(dir.kind(), io::ErrorKind::IsADirectory);
    }

    #[test]
    fn huge_offsets_are_refused_not_allocated() {
        let disk = disk(0);
        let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        let err = file.write_at(FILE_SIZE_MAX_BYTES, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        let err = file.set_len(u64::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(file.len().unwrap(), 0);
    }

    #[test]
    fn list_returns_sorted_file_names_of_one_directory() {
        let disk = disk(0);
        for path in ["/db/b", "/db/a", "/db/B"] {
            disk.open(p(path), OpenOptions::CREATE).unwrap();
        }
        disk.create_dir_all(p("/db/sub/deeper")).unwrap();
        disk.open(p("/db/sub/c"), OpenOptions::CREATE).unwrap();
        assert_eq!(disk.list(p("/db")).unwrap(), ["B", "a", "b"]);
        assert_eq!(disk.list(p("/db/sub")).unwrap(), ["c"]);
        assert!(disk.list(p("/db/sub/deeper")).unwrap().is_empty());
        assert_eq!(
            disk.list(p("/nope")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            disk.list(p("/db/a")).unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
        assert!(disk.is_dir(p("/db/sub")).unwrap());
        assert!(!disk.is_dir(p("/db/a")).unwrap());
        assert!(disk.is_dir(p("/")).unwrap());
        assert_eq!(
            disk.is_dir(p("/nope")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(disk.exists(p("/db/sub/deeper")).unwrap());
        assert!(!disk.exists(p("/db/zzz")).unwrap());
    }

    #[test]
    fn sync_history_records_each_durable_extent() {
        let disk = disk(0);
        let file = disk.open(p("/db/wal"), OpenOptions::CREATE).unwrap();
        file.write_at(0, &[1; 10]).unwrap();
        file.sync_data().unwrap();
        file.write_at(10, &[2; 5]).unwrap();
        file.sync_data().unwrap();
        file.write_at(15, &[3; 5]).unwrap();
        let history = disk.sync_history(p("/db/wal")).unwrap();
        let lens: Vec<u64> = history.iter().map(|r| r.len_bytes).collect();
        assert_eq!(lens, [10, 15]);
        assert_eq!(history[0].changed, 0..10);
        assert_eq!(history[1].changed, 10..15);
        assert_eq!(
            disk.unsynced_ranges(p("/db/wal")).unwrap(),
            [Range { start: 15, end: 20 }]
        );
        assert!(history[0].io_op < history[1].io_op);
        assert!(history[1].io_op < disk.io_ops_total());
        assert_eq!(
            disk.durable_image(p("/db/wal")),
            None,
            "name not synced yet"
        );
        disk.sync_dir(p("/db")).unwrap();
        assert_eq!(disk.durable_image(p("/db/wal")).unwrap().len(), 15);
        assert_eq!(disk.current_image(p("/db/wal")).unwrap().len(), 20);
    }

    #[test]
    fn bytes_outside_unsynced_ranges_survive_power_loss() {
        // The runner's use: in a preallocated WAL segment, pick bytes no pending change
        // touches and rely on them after a power loss.
        for seed in 0..SEEDS {
            let disk = disk(seed);
            let wal = disk.open(p("/db/wal"), OpenOptions::CREATE).unwrap();
            wal.set_len(128).unwrap();
            wal.sync_data().unwrap();
            disk.sync_dir(p("/db")).unwrap();
            wal.write_at(0, &[1; 30]).unwrap();
            wal.sync_data().unwrap();
            wal.write_at(30, &[2; 10]).unwrap();
            wal.write_at(40, &[3; 5]).unwrap();
            wal.write_at(70, &[4; 5]).unwrap();
            let unsynced = disk.unsynced_ranges(p("/db/wal")).unwrap();
            assert_eq!(unsynced, [30..45, 70..75]);
            let before = disk.current_image(p("/db/wal")).unwrap();

            disk.crash(CrashKind::PowerLoss);

            let after = read_all(&disk, "/db/wal");
            assert_eq!(after.len(), 128);
            for offset in 0..128u64 {
                if !unsynced.iter().any(|range| range.contains(&offset)) {
                    let i = offset as usize;
                    assert_eq!(after[i], before[i], "seed {seed}, offset {offset}");
                }
            }
        }
    }

    // ---- injected faults ---------------------------------------------------------

    #[test]
    fn failed_sync_poisons_file() {
        let mut lost = 0;
        let mut kept = 0;
        for seed in 0..SEEDS {
            let disk = disk(seed);
            durable_file(&disk, "/db/a", b"old");
            durable_file(&disk, "/db/b", b"old");
            let b = disk.open(p("/db/b"), OpenOptions::READ_WRITE).unwrap();
            b.write_at(0, b"new").unwrap();
            disk.set_fault_config(FaultConfig {
                sync_eio_probability: 1.0,
                ..FaultConfig::default()
            });
            let file = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
            file.write_at(0, b"new").unwrap();
            assert!(file.sync_data().is_err());
            disk.set_fault_config(FaultConfig::default());
            assert!(
                file.sync_data().is_err(),
                "a poisoned file must keep failing"
            );
            let counts = disk.fault_counts();
            assert_eq!(counts.get("sync_eio"), Some(&1));
            assert_eq!(counts.get("sync_eio_poisoned"), Some(&1));

            // Even a process crash may lose writes whose sync failed: the kernel dropped
            // them. The poisoned file is resolved, current and durable image alike.
            let report = disk.crash(CrashKind::Process);
            disk.check_invariants();
            let image = read_all(&disk, "/db/a");
            match image.as_slice() {
                b"old" => lost += 1,
                b"new" => kept += 1,
                other => panic!("unexpected contents {other:?}"),
            }
            assert!(disk.unsynced_ranges(p("/db/a")).unwrap().is_empty());
            assert_eq!(disk.durable_image(p("/db/a")).unwrap(), image);
            assert_eq!(
                report.writes_survived + report.writes_lost + report.writes_torn,
                1
            );
            // Files that were not poisoned keep their pending writes pending.
            assert_eq!(report.writes_pending, 1);
            assert_eq!(read_all(&disk, "/db/b"), b"new");
            assert_eq!(disk.durable_image(p("/db/b")).unwrap(), b"old");
            let file = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
            file.write_at(0, b"newer").unwrap();
            file.sync_data().expect("a crash clears the poison");
            assert_eq!(disk.durable_image(p("/db/a")).unwrap(), b"newer");
        }
        assert!(lost > 0 && kept > 0, "lost {lost}, kept {kept}");
    }

    #[test]
    fn failed_sync_dir_leaves_entries_pending() {
        let disk = disk(0);
        disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        disk.set_fault_config(FaultConfig {
            sync_dir_eio_probability: 1.0,
            ..FaultConfig::default()
        });
        assert!(disk.sync_dir(p("/db")).is_err());
        assert_eq!(disk.durable_image(p("/db/a")), None);
        disk.set_fault_config(FaultConfig::default());
        disk.sync_dir(p("/db")).unwrap();
        assert_eq!(disk.durable_image(p("/db/a")), Some(Vec::new()));
    }

    #[test]
    fn write_eio_writes_a_prefix_of_sectors() {
        let mut lens = BTreeSet::new();
        for seed in 0..SEEDS {
            let disk = disk(seed);
            let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
            disk.set_fault_config(FaultConfig {
                write_eio_probability: 1.0,
                ..FaultConfig::default()
            });
            // Offset 8 with 16-byte sectors: sectors end at 16, 32, 48, 64, then 72.
            assert!(file.write_at(8, &[0x5A; 64]).is_err());
            disk.check_invariants();
            let image = disk.current_image(p("/db/a")).unwrap();
            assert!(
                [0, 16, 32, 48, 64, 72].contains(&image.len()),
                "{}",
                image.len()
            );
            if !image.is_empty() {
                assert!(image[..8].iter().all(|&b| b == 0));
                assert!(image[8..].iter().all(|&b| b == 0x5A));
            }
            lens.insert(image.len());
        }
        assert!(lens.len() >= 4, "too few distinct prefixes: {lens:?}");
    }

    #[test]
    fn read_eio_is_transient_and_changes_nothing() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", b"abc");
        let file = disk.open(p("/db/a"), OpenOptions::READ).unwrap();
        disk.set_fault_config(FaultConfig {
            read_eio_probability: 1.0,
            ..FaultConfig::default()
        });
        let mut buf = [0u8; 3];
        assert!(file.read_at(0, &mut buf).is_err());
        assert_eq!(buf, [0; 3]);
        disk.set_fault_config(FaultConfig::default());
        file.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        assert_eq!(disk.fault_counts().get("read_eio"), Some(&1));
    }

    #[test]
    fn enospc_when_capacity_is_exceeded() {
        let disk = disk_with(
            0,
            device(true),
            FaultConfig {
                capacity_bytes: Some(100),
                ..FaultConfig::default()
            },
        );
        make_db_dir(&disk);
        let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        file.write_at(0, &[1; 60]).unwrap();
        let full = file.write_at(60, &[2; 60]).unwrap_err();
        assert_eq!(full.kind(), io::ErrorKind::StorageFull);
        file.write_at(0, &[3; 60])
            .expect("overwriting allocated bytes needs no space");
        assert_eq!(
            file.set_len(200).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        assert_eq!(file.len().unwrap(), 60);
        assert_eq!(disk.fault_counts().get("enospc"), Some(&2));
    }

    #[test]
    fn enospc_probability_fails_only_growing_writes() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", &[0; 32]);
        disk.set_fault_config(FaultConfig {
            enospc_probability: 1.0,
            ..FaultConfig::default()
        });
        let file = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
        file.write_at(0, &[1; 32]).unwrap();
        assert_eq!(
            file.write_at(30, &[1; 4]).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        file.set_len(16).unwrap();
    }

    #[test]
    fn flip_bit_corrupts_durable_and_visible_bytes() {
        let disk = disk(0);
        durable_file(&disk, "/db/a", &[0; 8]);
        disk.flip_bit(p("/db/a"), 2, 3).unwrap();
        assert_eq!(read_all(&disk, "/db/a"), [0, 0, 8, 0, 0, 0, 0, 0]);
        assert_eq!(disk.durable_image(p("/db/a")).unwrap()[2], 8);

        // A pending write over the byte hides the flip until a power loss drops it.
        let file = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
        file.write_at(4, &[5; 4]).unwrap();
        disk.flip_bit(p("/db/a"), 5, 0).unwrap();
        assert_eq!(read_all(&disk, "/db/a"), [0, 0, 8, 0, 5, 5, 5, 5]);
        assert_eq!(disk.durable_image(p("/db/a")).unwrap()[5], 1);
        disk.check_invariants();

        let err = disk.flip_bit(p("/db/a"), 8, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = disk.flip_bit(p("/db/zzz"), 0, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(disk.fault_counts().get("bit_flip"), Some(&2));
    }

    #[test]
    fn corrupt_random_durable_byte_respects_filter() {
        let disk = disk(0);
        durable_file(&disk, "/db/data", &[0; 64]);
        durable_file(&disk, "/db/unprotected", &[0; 64]);
        durable_file(&disk, "/db/empty", b"");
        let mut rng = stream(0, Stream::Scheduling);
        for _ in 0..50 {
            let corruption = disk
                .corrupt_random_durable_byte(&mut rng, |path| path != p("/db/unprotected"))
                .expect("a candidate exists");
            assert_eq!(corruption.path, p("/db/data"));
            assert!(corruption.offset < 64 && corruption.bit < 8);
        }
        assert_eq!(disk.current_image(p("/db/unprotected")).unwrap(), [0; 64]);
        assert_ne!(disk.current_image(p("/db/data")).unwrap(), [0; 64]);
        assert_eq!(disk.corrupt_random_durable_byte(&mut rng, |_| false), None);
    }

    #[test]
    fn latency_advances_attached_clock() {
        let disk = disk_with(
            0,
            device(true),
            FaultConfig {
                latency_per_op_ns: 100,
                latency_per_byte_ns: 2,
                ..FaultConfig::default()
            },
        );
        let clock = SimClock::new();
        disk.set_clock(clock.clone());
        disk.create_dir_all(p("/db")).unwrap();
        let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        file.write_at(0, &[0; 10]).unwrap();
        assert_eq!(clock.elapsed_ns(), 100 + 100 + (100 + 20));
        file.len().unwrap();
        assert_eq!(clock.elapsed_ns(), 320, "queries cost nothing");
    }

    // ---- halting, crashes, handles, locks ----------------------------------------

    #[test]
    fn halt_at_io_op_n_stops_everything() {
        let disk = disk(0);
        let file = disk.open(p("/db/a"), OpenOptions::CREATE).unwrap();
        let n = disk.io_ops_total();
        disk.set_halt_plan(HaltPlan {
            at_io_op: Some(n + 1),
            ..HaltPlan::default()
        });
        file.write_at(0, b"first").unwrap();
        let err = file.write_at(5, b"second").unwrap_err();
        assert!(is_simulated_crash(&err));
        assert!(disk.is_halted());
        assert_eq!(disk.io_ops_total(), n + 1, "the halting op does not happen");
        assert_eq!(disk.current_image(p("/db/a")).unwrap(), b"first");

        let mut buf = [0u8; 1];
        assert!(is_simulated_crash(&file.read_at(0, &mut buf).unwrap_err()));
        assert!(is_simulated_crash(&file.sync_data().unwrap_err()));
        assert!(is_simulated_crash(&file.len().unwrap_err()));
        let open = disk.open(p("/db/a"), OpenOptions::READ).unwrap_err();
        assert!(is_simulated_crash(&open));
        assert!(is_simulated_crash(&disk.exists(p("/db")).unwrap_err()));
        assert!(is_simulated_crash(&disk.list(p("/db")).unwrap_err()));
        assert!(is_simulated_crash(&disk.sync_dir(p("/db")).unwrap_err()));
        assert!(is_simulated_crash(&disk.crash_point("x").unwrap_err()));
        assert_eq!(disk.io_ops_total(), n + 1, "calls while halted are not IO");

        disk.crash(CrashKind::Process);
        assert!(!disk.is_halted());
        assert_eq!(
            disk.halt_plan(),
            HaltPlan::default(),
            "a trigger fires once"
        );
        assert_eq!(read_all(&disk, "/db/a"), b"first");
        assert_eq!(disk.fault_counts().get("halt"), Some(&1));
    }

    #[test]
    fn halt_at_kth_crash_point_hit() {
        let disk = disk(0);
        disk.set_halt_plan(HaltPlan {
            at_crash_point: Some(CrashPointTarget {
                name: "checkpoint.commit".to_string(),
                hit: 2,
            }),
            ..HaltPlan::default()
        });
        disk.crash_point("checkpoint.commit").unwrap();
        disk.crash_point("checkpoint.prepare").unwrap();
        let err = disk.crash_point("checkpoint.commit").unwrap_err();
        assert!(is_simulated_crash(&err));
        assert!(disk.is_halted());
        let hits = disk.crash_point_hits();
        assert_eq!(hits.get("checkpoint.commit"), Some(&2));
        assert_eq!(hits.get("checkpoint.prepare"), Some(&1));
        disk.crash(CrashKind::PowerLoss);
        disk.crash_point("checkpoint.commit").unwrap();
    }

    #[test]
    #[should_panic(expected = "already happened")]
    fn halt_plan_in_the_past_is_refused() {
        let disk = disk(0);
        disk.set_halt_plan(HaltPlan {
            at_io_op: Some(0),
            ..HaltPlan::default()
        });
    }

    #[test]
    fn old_handles_are_dead_after_crash() {
        for kind in [CrashKind::Process, CrashKind::PowerLoss] {
            let disk = disk(0);
            durable_file(&disk, "/db/a", b"a");
            let old = disk.open(p("/db/a"), OpenOptions::READ_WRITE).unwrap();
            disk.crash(kind);
            let mut buf = [0u8; 1];
            let err = old.read_at(0, &mut buf).unwrap_err();
            assert!(!is_simulated_crash(&err), "stale, not halted");
            assert!(old.write_at(0, b"b").is_err());
            assert!(old.sync_data().is_err());
            assert!(old.set_len(0).is_err());
            assert!(old.len().is_err());
            assert_eq!(disk.generation(), 1);
            let new = disk.open(p("/db/a"), OpenOptions::READ).unwrap();
            new.read_at(0, &mut buf).unwrap();
            assert_eq!(&buf, b"a");
        }
    }

    #[test]
    fn lock_is_exclusive_until_dropped_or_crash() {
        let disk = disk(0);
        let guard = disk.lock(p("/db/LOCK")).unwrap();
        assert!(
            disk.exists(p("/db/LOCK")).unwrap(),
            "locking creates the file"
        );
        let busy = disk.lock(p("/db/LOCK")).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::WouldBlock);
        drop(guard);
        let before_crash = disk.lock(p("/db/LOCK")).unwrap();

        disk.crash(CrashKind::Process);
        let after_crash = disk.lock(p("/db/LOCK")).expect("a crash releases locks");
        // The dead guard from before the crash must not release the new holder's lock.
        drop(before_crash);
        let busy = disk.lock(p("/db/LOCK")).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::WouldBlock);
        drop(after_crash);
        disk.lock(p("/db/LOCK")).unwrap();
    }

    // ---- determinism and invariants under random use -----------------------------

    type Fingerprint = (
        Vec<(PathBuf, Vec<u8>)>,
        BTreeMap<&'static str, u64>,
        BTreeMap<&'static str, u64>,
    );

    /// A random mix of every operation, faults and crashes, from `seed`. Checks the
    /// invariant after every step if `check`. Returns what a final power loss leaves.
    fn random_workout(seed: u64, steps: usize, check: bool) -> Fingerprint {
        let disk = workout_disk(seed, steps, workout_faults(), check);
        disk.crash(CrashKind::PowerLoss);
        disk.check_invariants();
        (
            current_images(&disk),
            disk.fault_counts(),
            disk.io_op_counts(),
        )
    }

    fn workout_faults() -> FaultConfig {
        FaultConfig {
            sync_eio_probability: 0.02,
            sync_dir_eio_probability: 0.02,
            read_eio_probability: 0.02,
            write_eio_probability: 0.05,
            enospc_probability: 0.02,
            capacity_bytes: Some(2048),
            ..FaultConfig::default()
        }
    }

    /// Every file by its current name, with its current image.
    fn current_images(disk: &SimDisk) -> Vec<(PathBuf, Vec<u8>)> {
        disk.file_paths()
            .into_iter()
            .map(|path| {
                let image = disk.current_image(&path).unwrap();
                (path, image)
            })
            .collect()
    }

    /// The disk after `steps` random steps from `seed` (see [`random_workout`]).
    fn workout_disk(seed: u64, steps: usize, faults: FaultConfig, check: bool) -> SimDisk {
        let device = DeviceConfig {
            sector_size_bytes: 8,
            sector_write_atomic: seed.is_multiple_of(2),
        };
        let disk = disk_with(seed, device, faults);
        let mut rng = stream(seed, Stream::Workload);
        let mut files: Vec<Box<dyn File>> = Vec::new();
        for _ in 0..steps {
            random_step(&disk, &mut rng, &mut files);
            if check {
                disk.check_invariants();
            }
        }
        disk
    }

    /// The steps of the workout and their weights (out of the sum): file operations
    /// dominate; crashes are rare enough that handles live for a while.
    #[derive(Clone, Copy)]
    enum Step {
        CreateDir,
        Open,
        Write,
        SetLen,
        SyncData,
        SyncDir,
        Rename,
        Remove,
        Read,
        ProcessCrash,
        PowerLoss,
        Corrupt,
        Halt,
    }

    const STEP_WEIGHTS: [(Step, u64); 13] = [
        (Step::CreateDir, 4),
        (Step::Open, 8),
        (Step::Write, 30),
        (Step::SetLen, 5),
        (Step::SyncData, 10),
        (Step::SyncDir, 8),
        (Step::Rename, 5),
        (Step::Remove, 4),
        (Step::Read, 14),
        (Step::ProcessCrash, 3),
        (Step::PowerLoss, 3),
        (Step::Corrupt, 2),
        (Step::Halt, 1),
    ];

    fn pick_step(rng: &mut ChaCha8Rng) -> Step {
        let total: u64 = STEP_WEIGHTS.iter().map(|(_, weight)| weight).sum();
        let mut draw = below(rng, total);
        for (step, weight) in STEP_WEIGHTS {
            if draw < weight {
                return step;
            }
            draw -= weight;
        }
        unreachable!("draw < total")
    }

    fn random_step(disk: &SimDisk, rng: &mut ChaCha8Rng, files: &mut Vec<Box<dyn File>>) {
        if disk.is_halted() {
            // As in the runner: a halted machine is crashed next.
            let kind = if chance(rng, 0.5) {
                CrashKind::Process
            } else {
                CrashKind::PowerLoss
            };
            disk.crash(kind);
            files.clear();
            return;
        }
        if files.is_empty() || chance(rng, 0.2) {
            random_namespace_step(disk, rng, files);
        } else {
            random_file_step(disk, rng, files);
        }
    }

    fn random_path(rng: &mut ChaCha8Rng) -> PathBuf {
        const DIRS: [&str; 3] = ["/d0", "/d1", "/d0/s"];
        const NAMES: [&str; 3] = ["a", "b", "c"];
        let dir = DIRS[below(rng, 3) as usize];
        PathBuf::from(dir).join(NAMES[below(rng, 3) as usize])
    }

    fn random_namespace_step(disk: &SimDisk, rng: &mut ChaCha8Rng, files: &mut Vec<Box<dyn File>>) {
        let path = random_path(rng);
        let other = random_path(rng);
        // Errors are expected (faults, missing names): the claim under test is the
        // invariant, checked by the caller, not the success of any one call.
        let _ = match pick_step(rng) {
            Step::CreateDir => disk.create_dir_all(parent_of(&path)),
            Step::SyncDir => disk.sync_dir(parent_of(&path)).and(disk.sync_dir(p("/"))),
            Step::Rename => disk.rename(&path, &other),
            Step::Remove => disk.remove(&path),
            Step::ProcessCrash | Step::PowerLoss | Step::Halt | Step::Corrupt => {
                random_machine_event(disk, rng, files);
                Ok(())
            }
            _ => disk.open(&path, OpenOptions::CREATE).map(|file| {
                files.push(file);
                if files.len() > 8 {
                    files.remove(0);
                }
            }),
        };
    }

    fn random_file_step(disk: &SimDisk, rng: &mut ChaCha8Rng, files: &mut Vec<Box<dyn File>>) {
        let file = &files[below(rng, files.len() as u64) as usize];
        let offset = below(rng, 64);
        let len = 1 + below(rng, 40) as usize;
        let byte = below(rng, 256) as u8;
        let _ = match pick_step(rng) {
            Step::Write | Step::Open | Step::CreateDir => file.write_at(offset, &vec![byte; len]),
            Step::SetLen => file.set_len(offset * 2),
            Step::SyncData | Step::SyncDir => file.sync_data(),
            Step::Read | Step::Rename | Step::Remove => file.read_at(offset, &mut vec![0; len]),
            Step::ProcessCrash | Step::PowerLoss | Step::Halt | Step::Corrupt => {
                random_machine_event(disk, rng, files);
                Ok(())
            }
        };
    }

    fn random_machine_event(disk: &SimDisk, rng: &mut ChaCha8Rng, files: &mut Vec<Box<dyn File>>) {
        match pick_step(rng) {
            Step::ProcessCrash => _ = disk.crash(CrashKind::Process),
            Step::PowerLoss => _ = disk.crash(CrashKind::PowerLoss),
            Step::Corrupt => _ = disk.corrupt_random_durable_byte(rng, |_| true),
            Step::Halt => disk.halt(),
            _ => return,
        }
        // Most of the time the engine reopens its files; sometimes an old handle lingers.
        if chance(rng, 0.9) {
            files.clear();
        }
    }

    #[test]
    fn invariants_hold_under_random_operations() {
        let mut io_ops: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut files_left = 0;
        for seed in 0..150 {
            let (images, seed_faults, seed_io_ops) = random_workout(seed, 300, true);
            files_left += images.len();
            for (key, count) in seed_io_ops {
                *io_ops.entry(key).or_default() += count;
            }
            for (key, count) in seed_faults {
                *faults.entry(key).or_default() += count;
            }
        }
        // A workout that stopped exercising something would pass without proving it.
        assert!(files_left > 0);
        for kind in IO_OP_KINDS.iter().filter(|&&kind| kind != "lock") {
            assert!(
                io_ops.get(kind).is_some_and(|&n| n > 100),
                "{kind}: {io_ops:?}"
            );
        }
        let expected_faults = [
            "sync_eio",
            "sync_eio_poisoned",
            "sync_dir_eio",
            "read_eio",
            "write_eio",
            "enospc",
            "bit_flip",
            "halt",
            "crash_process",
            "crash_power_loss",
            "crash_write_lost",
            "crash_write_torn",
            "crash_set_len_lost",
            "crash_entry_reverted",
        ];
        for key in expected_faults {
            assert!(
                faults.get(key).is_some_and(|&n| n > 10),
                "{key}: {faults:?}"
            );
        }
    }

    #[test]
    fn same_seed_same_outcome() {
        for seed in 0..20 {
            assert_eq!(
                random_workout(seed, 400, false),
                random_workout(seed, 400, false)
            );
        }
        let distinct: BTreeSet<Fingerprint> = (0..20)
            .map(|seed| random_workout(seed, 400, false))
            .collect();
        assert!(
            distinct.len() > 15,
            "seeds barely matter: {} outcomes",
            distinct.len()
        );
    }
}
