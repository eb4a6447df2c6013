//! Virtual time and seeded randomness for the engine's `Clock` and `Random` seams.
//!
//! Nothing here reads the host's clocks or entropy: time moves only when the simulator
//! (or the engine, through `sleep_ns`, or the simulated disk, through its latency model)
//! advances it, and randomness comes from a `ChaCha8` stream derived from the run's seed.
//! So two runs with the same seed see the same times and the same random values.
//!
//! Not modelled: clock skew and wall-clock jumps (the engine must not order events by
//! wall time anyway). The concurrent actors (actors.rs) are scheduled by madsim's own
//! virtual time; this clock is the engine's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kiln::env::{Clock, Random};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::seed::{stream, Stream};

/// Virtual time. A cheap, clonable handle: clones share one clock, so the engine, the
/// simulated disk and the runner all see the same time.
///
/// Monotonic time starts at [`SimClock::MONOTONIC_ORIGIN_NS`] and moves only through
/// [`SimClock::advance`] (and `Clock::sleep_ns`, which advances instead of waiting). Wall
/// time is [`SimClock::WALL_EPOCH_MS`] plus the monotonic time elapsed since the origin.
#[derive(Clone, Debug)]
pub struct SimClock {
    monotonic_ns: Arc<AtomicU64>,
}

impl SimClock {
    /// Where monotonic time starts. Not zero, so that engine code which mistakes 0 for
    /// "never" or "unset" is caught instead of working by accident.
    pub const MONOTONIC_ORIGIN_NS: u64 = 1_000_000_000;

    /// Wall time at the origin: 2025-01-01T00:00:00Z, in milliseconds since the Unix
    /// epoch. Fixed so that anything the engine labels with wall time is reproducible.
    pub const WALL_EPOCH_MS: u64 = 1_735_689_600_000;

    /// A clock at the origin.
    #[must_use]
    pub fn new() -> SimClock {
        SimClock {
            monotonic_ns: Arc::new(AtomicU64::new(Self::MONOTONIC_ORIGIN_NS)),
        }
    }

    /// The current monotonic time in nanoseconds.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.monotonic_ns.load(Ordering::SeqCst)
    }

    /// Nanoseconds elapsed since the origin.
    #[must_use]
    pub fn elapsed_ns(&self) -> u64 {
        self.now_ns() - Self::MONOTONIC_ORIGIN_NS
    }

    /// Moves time forward by `duration_ns`.
    ///
    /// Panics if time would overflow u64 (about 584 years of virtual time): only a bug
    /// in the simulator can get there.
    pub fn advance(&self, duration_ns: u64) {
        let previous = self.monotonic_ns.fetch_add(duration_ns, Ordering::SeqCst);
        assert!(
            previous.checked_add(duration_ns).is_some(),
            "virtual time overflowed: {previous} + {duration_ns} ns"
        );
    }
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock::new()
    }
}

impl Clock for SimClock {
    fn now_monotonic_ns(&self) -> u64 {
        self.now_ns()
    }

    fn now_wall_ms(&self) -> u64 {
        const NS_PER_MS: u64 = 1_000_000;
        Self::WALL_EPOCH_MS + self.elapsed_ns() / NS_PER_MS
    }

    fn sleep_ns(&self, duration_ns: u64) {
        // Virtual time: sleeping is just the passage of time, and nothing else can run
        // "meanwhile" in the single-threaded runner.
        self.advance(duration_ns);
    }
}

/// The engine's randomness, drawn from a seeded `ChaCha8` stream.
#[derive(Debug)]
pub struct SimRandom {
    rng: Mutex<ChaCha8Rng>,
}

impl SimRandom {
    /// Randomness drawn from `rng`.
    #[must_use]
    pub fn new(rng: ChaCha8Rng) -> SimRandom {
        SimRandom {
            rng: Mutex::new(rng),
        }
    }

    /// Randomness from the [`Stream::Engine`] stream of `master_seed`.
    #[must_use]
    pub fn from_master_seed(master_seed: u64) -> SimRandom {
        SimRandom::new(stream(master_seed, Stream::Engine))
    }
}

impl Random for SimRandom {
    fn next_u64(&self) -> u64 {
        let mut rng = self.rng.lock().expect("sim random lock");
        Rng::next_u64(&mut *rng)
    }
}

#[cfg(test)]
mod tests {
    //! Goal: virtual time moves only when told to, and randomness is a function of the
    //! seed. Not covered: use from several threads at once (the atomics make it safe;
    //! ordering between threads is madsim's business).

    use super::*;

    #[test]
    fn time_moves_only_when_advanced() {
        let clock = SimClock::new();
        assert_eq!(clock.now_monotonic_ns(), SimClock::MONOTONIC_ORIGIN_NS);
        assert_eq!(clock.now_wall_ms(), SimClock::WALL_EPOCH_MS);
        clock.advance(1_500_000);
        clock.sleep_ns(500_000);
        assert_eq!(clock.elapsed_ns(), 2_000_000);
        assert_eq!(clock.now_wall_ms(), SimClock::WALL_EPOCH_MS + 2);
    }

    #[test]
    fn clones_share_one_clock() {
        let clock = SimClock::new();
        let other = clock.clone();
        other.advance(10);
        assert_eq!(clock.elapsed_ns(), 10);
    }

    #[test]
    fn same_seed_same_random_values() {
        let a = SimRandom::from_master_seed(9);
        let b = SimRandom::from_master_seed(9);
        let c = SimRandom::from_master_seed(10);
        let from_a: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let from_b: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let from_c: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(from_a, from_b);
        assert_ne!(from_a, from_c);
    }
}
