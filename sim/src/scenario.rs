//! Scenarios: what a family of runs looks like, read from `scenarios/*.toml`.
//!
//! A scenario gives *ranges* rather than values. Each seed draws its own point inside
//! them (swarm testing): one run crashes often and never checkpoints, the next flips bits
//! and tears every write, a third has fault kinds switched off entirely. A bug that only
//! shows under an unusual mix is found by the seed that happened to draw that mix.

use std::path::Path;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::disk::{FaultConfig, PowerLossConfig};
use crate::seed::{below, chance, stream, unit_f64, Stream};

/// An inclusive range of numbers, written `[low, high]` (or a single number).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Range {
    Fixed(f64),
    Span([f64; 2]),
}

impl Range {
    fn bounds(self) -> (f64, f64) {
        match self {
            Range::Fixed(v) => (v, v),
            Range::Span([a, b]) => (a.min(b), a.max(b)),
        }
    }

    /// The upper bound.
    pub fn high(self) -> u64 {
        self.bounds().1.max(0.0) as u64
    }

    /// A uniform draw from the range.
    pub fn draw(self, rng: &mut ChaCha8Rng) -> f64 {
        let (low, high) = self.bounds();
        low + (high - low) * unit_f64(rng)
    }

    /// A uniform integer draw from the range.
    pub fn draw_u64(self, rng: &mut ChaCha8Rng) -> u64 {
        let (low, high) = self.bounds();
        let (low, high) = (low.max(0.0) as u64, high.max(0.0) as u64);
        low + below(rng, high - low + 1)
    }
}

/// Relative weights of the workload's steps. A weight of 0 switches a step off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    pub create_table: f64,
    pub drop_table: f64,
    pub create_database: f64,
    pub drop_database: f64,
    pub create_schema: f64,
    pub drop_schema: f64,
    pub alter_table: f64,
    pub create_index: f64,
    pub drop_index: f64,
    /// Share of DDL commands aimed at an existing name (create) or a missing one (drop).
    pub odd_name_share: f64,
    /// Share of DDL commands with IF [NOT] EXISTS.
    pub if_exists_share: f64,
    /// Share of drops with CASCADE.
    pub cascade_share: f64,
    /// Weight of single DDL commands run through the dispatcher (own transaction and
    /// response) rather than inside a transaction.
    pub dispatch: f64,
    pub insert: f64,
    pub update: f64,
    pub delete: f64,
    pub get: f64,
    pub scan: f64,
    /// Transactions that end in abort instead of commit (a share, 0..1).
    pub abort_share: f64,
    /// Operations per write transaction.
    pub ops_per_txn: Range,
    pub checkpoint: f64,
    pub reopen: f64,
    /// Opening a long-lived read snapshot, checked when it is released later.
    pub hold_snapshot: f64,
    pub release_snapshot: f64,
    /// A fresh snapshot that reads a table and checks it.
    pub read: f64,
    /// Values: bytes of a TEXT/BYTES value (rows that outgrow their page move).
    pub value_bytes: Range,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            create_table: 1.0,
            drop_table: 0.2,
            create_database: 0.1,
            drop_database: 0.05,
            create_schema: 0.2,
            drop_schema: 0.1,
            alter_table: 0.4,
            create_index: 0.05,
            drop_index: 0.05,
            odd_name_share: 0.15,
            if_exists_share: 0.3,
            cascade_share: 0.5,
            dispatch: 0.3,
            insert: 10.0,
            update: 4.0,
            delete: 3.0,
            get: 3.0,
            scan: 1.0,
            abort_share: 0.1,
            ops_per_txn: Range::Span([1.0, 12.0]),
            checkpoint: 0.6,
            reopen: 0.2,
            hold_snapshot: 0.4,
            release_snapshot: 0.4,
            read: 0.6,
            value_bytes: Range::Span([0.0, 300.0]),
        }
    }
}

/// Fault ranges; each seed draws a point. Probabilities are per IO operation unless
/// stated otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Chance per step that a crash is armed to hit within the next few IO operations.
    pub crash_per_step: Range,
    /// Share of crashes that are power losses (the rest are process crashes).
    pub power_loss_share: Range,
    /// Chance per step that a crash is armed at a named crash point instead.
    pub crash_point_per_step: Range,
    pub sync_eio: Range,
    pub read_eio: Range,
    pub write_eio: Range,
    pub enospc: Range,
    /// Chance per run of one latent bit flip in durable bytes, late in the run.
    pub corruption_per_run: Range,
    /// Share of seeds that switch each fault kind off entirely (swarm testing).
    pub feature_off_share: f64,
    /// Whether sector writes are atomic: share of seeds with atomic sectors.
    pub atomic_sector_share: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            crash_per_step: Range::Span([0.01, 0.08]),
            power_loss_share: Range::Span([0.0, 1.0]),
            crash_point_per_step: Range::Span([0.0, 0.04]),
            sync_eio: Range::Span([0.0, 0.004]),
            read_eio: Range::Span([0.0, 0.002]),
            write_eio: Range::Span([0.0, 0.002]),
            enospc: Range::Span([0.0, 0.001]),
            corruption_per_run: Range::Fixed(0.2),
            feature_off_share: 0.3,
            atomic_sector_share: 0.7,
        }
    }
}

/// Engine configuration ranges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineRanges {
    pub wal_segment_size_bytes: Range,
    pub cache_size_bytes: Range,
    pub wal_buffer_bytes_max: Range,
    /// 0 turns automatic checkpoints off.
    pub checkpoint_wal_bytes: Range,
    pub retention_segments: Range,
}

impl Default for EngineRanges {
    fn default() -> Self {
        EngineRanges {
            wal_segment_size_bytes: Range::Span([65536.0, 262144.0]),
            cache_size_bytes: Range::Span([131072.0, 1048576.0]),
            wal_buffer_bytes_max: Range::Span([4096.0, 65536.0]),
            checkpoint_wal_bytes: Range::Span([0.0, 400000.0]),
            retention_segments: Range::Span([0.0, 2.0]),
        }
    }
}

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Seeds `cargo test` runs for this scenario.
    pub test_seeds: u64,
    /// Seeds a default sweep runs.
    pub sweep_seeds: u64,
    /// Steps per run.
    pub steps: Range,
    /// Crash points to target; empty means every point the engine lists.
    pub crash_points: Vec<String>,
    pub workload: Workload,
    pub faults: Faults,
    pub engine: EngineRanges,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "default".into(),
            description: String::new(),
            test_seeds: 200,
            sweep_seeds: 1000,
            steps: Range::Span([40.0, 160.0]),
            crash_points: Vec::new(),
            workload: Workload::default(),
            faults: Faults::default(),
            engine: EngineRanges::default(),
        }
    }
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses scenario TOML.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The concrete configuration of one seed.
    pub fn draw(&self, seed: u64) -> RunConfig {
        let mut rng = stream(seed, Stream::Swarm);
        // The device's guarantees come from their own stream (see seed.rs).
        let mut device = stream(seed, Stream::Device);
        let f = &self.faults;
        let on = |rng: &mut ChaCha8Rng| !chance(rng, f.feature_off_share);
        let sync_on = on(&mut rng);
        let read_on = on(&mut rng);
        let write_on = on(&mut rng);
        let enospc_on = on(&mut rng);
        let points_on = on(&mut rng);
        let gate = |enabled: bool, range: Range, rng: &mut ChaCha8Rng| {
            let value = range.draw(rng);
            if enabled {
                value
            } else {
                0.0
            }
        };
        let disk = FaultConfig {
            sync_eio_probability: gate(sync_on, f.sync_eio, &mut rng),
            read_eio_probability: gate(read_on, f.read_eio, &mut rng),
            write_eio_probability: gate(write_on, f.write_eio, &mut rng),
            enospc_probability: gate(enospc_on, f.enospc, &mut rng),
            power_loss: PowerLossConfig::default(),
            ..FaultConfig::default()
        };
        let e = &self.engine;
        let engine = EngineConfig {
            wal_segment_size_bytes: e.wal_segment_size_bytes.draw_u64(&mut rng),
            cache_size_bytes: e.cache_size_bytes.draw_u64(&mut rng),
            wal_buffer_bytes_max: e.wal_buffer_bytes_max.draw_u64(&mut rng) as usize,
            checkpoint_wal_bytes: e.checkpoint_wal_bytes.draw_u64(&mut rng),
            retention_segments: e.retention_segments.draw_u64(&mut rng),
        };
        RunConfig {
            seed,
            scenario: self.name.clone(),
            steps: self.steps.draw_u64(&mut rng),
            crash_per_step: f.crash_per_step.draw(&mut rng),
            crash_point_per_step: gate(points_on, f.crash_point_per_step, &mut rng),
            power_loss_share: f.power_loss_share.draw(&mut rng),
            corruption: {
                let p = f.corruption_per_run.draw(&mut rng).clamp(0.0, 1.0);
                chance(&mut rng, p)
            },
            sector_write_atomic: chance(&mut device, f.atomic_sector_share),
            sector_size_bytes: if chance(&mut device, 0.5) { 512 } else { 4096 },
            crash_points: self.crash_points.clone(),
            workload: self.workload.clone(),
            disk,
            engine,
        }
    }
}

/// Engine configuration drawn for one seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub wal_segment_size_bytes: u64,
    pub cache_size_bytes: u64,
    pub wal_buffer_bytes_max: usize,
    pub checkpoint_wal_bytes: u64,
    pub retention_segments: u64,
}

impl EngineConfig {
    /// The engine's own configuration (planted bugs off).
    pub fn to_config(&self) -> kiln::Config {
        kiln::Config::default()
            .with_wal_segment_size_bytes(self.wal_segment_size_bytes.max(kiln_wal_min()))
            .with_cache_size_bytes(self.cache_size_bytes.max(16 * kiln::PAGE_SIZE_BYTES as u64))
            .with_wal_buffer_bytes_max(self.wal_buffer_bytes_max)
            .with_checkpoint_wal_bytes(self.checkpoint_wal_bytes)
            .with_retention_segments(self.retention_segments)
    }
}

fn kiln_wal_min() -> u64 {
    64 << 10
}

/// Everything one seed's run is configured with. Saved in replay artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub seed: u64,
    pub scenario: String,
    pub steps: u64,
    pub crash_per_step: f64,
    pub crash_point_per_step: f64,
    pub power_loss_share: f64,
    /// Whether this run injects one latent bit flip late in the run.
    pub corruption: bool,
    pub sector_write_atomic: bool,
    pub sector_size_bytes: u32,
    pub crash_points: Vec<String>,
    pub workload: Workload,
    pub disk: FaultConfig,
    pub engine: EngineConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_committed_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 1, "no scenarios in {}", dir.display());
    }

    #[test]
    fn a_seed_draws_the_same_config_twice() {
        let s = Scenario::default();
        assert_eq!(s.draw(7), s.draw(7));
        assert_ne!(s.draw(7), s.draw(8));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(Scenario::parse("nmae = 'typo'").is_err());
    }
}
