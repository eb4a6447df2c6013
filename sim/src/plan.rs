//! Plans: the exact list of steps a run performs, generated from a seed.
//!
//! A plan names tables and rows by *selectors* (an index taken modulo whatever exists when
//! the step runs) and values by *seeds*, never by engine-assigned ids. So a plan stays
//! meaningful after steps are removed from it: that is what lets a failure be shrunk, and
//! a saved plan be replayed after the generator changes.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use kiln::{ColumnType, Value};

use crate::disk::CrashKind;
use crate::scenario::{RunConfig, Workload};
use crate::seed::{below, chance, stream, unit_f64, Stream};

/// A column type, as plans spell it (the engine's type, with a stable serialized name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColType {
    Int64,
    Float64,
    Bool,
    Text,
    Bytes,
}

impl From<ColType> for ColumnType {
    fn from(t: ColType) -> ColumnType {
        match t {
            ColType::Int64 => ColumnType::Int64,
            ColType::Float64 => ColumnType::Float64,
            ColType::Bool => ColumnType::Bool,
            ColType::Text => ColumnType::Text,
            ColType::Bytes => ColumnType::Bytes,
        }
    }
}

/// One operation inside a write transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    CreateTable { columns: Vec<(ColType, bool)> },
    DropTable { table: u32 },
    Insert { table: u32, values: u64 },
    Update { table: u32, row: u32, values: u64 },
    Delete { table: u32, row: u32 },
    Get { table: u32, row: u32 },
    Scan { table: u32 },
}

/// Where a latent bit flip goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CorruptTarget {
    /// The checkpoint image store.
    Images,
    /// The checkpoint manifest.
    Manifest,
    /// A WAL segment, in bytes that a later durable record vouches for.
    Wal,
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A write transaction, committed or aborted at the end.
    Txn {
        ops: Vec<TxnOp>,
        commit: bool,
    },
    Checkpoint,
    /// Close and reopen without a crash.
    Reopen,
    /// A fresh snapshot reads a table and checks it against the model.
    Read {
        table: u32,
    },
    /// Opens a long-lived snapshot in `slot`, checked when released.
    HoldSnapshot {
        slot: u8,
    },
    ReleaseSnapshot {
        slot: u8,
    },
    /// Arms a crash of `kind` at the `after`-th IO operation from now.
    ArmCrash {
        after: u32,
        kind: CrashKind,
    },
    /// Arms a crash of `kind` at the next hit of a named crash point.
    ArmCrashPoint {
        name: String,
        kind: CrashKind,
    },
    /// Crashes now (between steps).
    Crash {
        kind: CrashKind,
    },
    /// Flips one durable bit, then restarts (process crash) and checks.
    Corrupt {
        target: CorruptTarget,
        pick: u64,
    },
}

/// A whole run's steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    /// Generates the plan of `config` (a pure function of the config and its seed).
    pub fn generate(config: &RunConfig) -> Plan {
        let mut rng = stream(config.seed, Stream::Workload);
        let mut sched = stream(config.seed, Stream::Scheduling);
        let mut steps = Vec::new();
        // Every run starts with a table to work on.
        steps.push(Step::Txn {
            ops: vec![create_table(&mut rng)],
            commit: true,
        });
        let corrupt_at = config.corruption.then(|| (config.steps * 3 / 4).max(1));
        for index in 0..config.steps {
            if corrupt_at == Some(index) {
                steps.push(corruption(&mut sched));
                continue;
            }
            if let Some(arm) = arm_crash(config, &mut sched) {
                steps.push(arm);
            }
            steps.push(workload_step(&config.workload, &mut rng));
        }
        Plan { steps }
    }

    /// Number of individual operations (transaction ops count one each).
    pub fn op_count(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Txn { ops, .. } => ops.len() + 1,
                _ => 1,
            })
            .sum()
    }
}

fn arm_crash(config: &RunConfig, rng: &mut ChaCha8Rng) -> Option<Step> {
    let kind = |rng: &mut ChaCha8Rng| {
        if chance(rng, config.power_loss_share) {
            CrashKind::PowerLoss
        } else {
            CrashKind::Process
        }
    };
    if chance(rng, config.crash_per_step) {
        let after = 1 + below(rng, 60) as u32;
        return Some(Step::ArmCrash {
            after,
            kind: kind(rng),
        });
    }
    let points: Vec<&str> = if config.crash_points.is_empty() {
        kiln::CRASH_POINTS.to_vec()
    } else {
        config.crash_points.iter().map(String::as_str).collect()
    };
    if !points.is_empty() && chance(rng, config.crash_point_per_step) {
        let name = points[below(rng, points.len() as u64) as usize].to_string();
        return Some(Step::ArmCrashPoint {
            name,
            kind: kind(rng),
        });
    }
    None
}

fn corruption(rng: &mut ChaCha8Rng) -> Step {
    let target = match below(rng, 3) {
        0 => CorruptTarget::Images,
        1 => CorruptTarget::Manifest,
        _ => CorruptTarget::Wal,
    };
    Step::Corrupt {
        target,
        pick: rng_u64(rng),
    }
}

fn rng_u64(rng: &mut ChaCha8Rng) -> u64 {
    use rand_core::Rng;
    rng.next_u64()
}

/// Picks an index by weight.
fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut x = unit_f64(rng) * total;
    for (i, w) in weights.iter().enumerate() {
        let w = w.max(0.0);
        if x < w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn workload_step(w: &Workload, rng: &mut ChaCha8Rng) -> Step {
    let txn_weight =
        w.create_table + w.drop_table + w.insert + w.update + w.delete + w.get + w.scan;
    let weights = [
        txn_weight,
        w.checkpoint,
        w.reopen,
        w.hold_snapshot,
        w.release_snapshot,
        w.read,
    ];
    match pick(rng, &weights) {
        0 => {
            let n = w.ops_per_txn.draw_u64(rng).max(1);
            let ops = (0..n).map(|_| txn_op(w, rng)).collect();
            Step::Txn {
                ops,
                commit: !chance(rng, w.abort_share),
            }
        }
        1 => Step::Checkpoint,
        2 => Step::Reopen,
        3 => Step::HoldSnapshot {
            slot: below(rng, 2) as u8,
        },
        4 => Step::ReleaseSnapshot {
            slot: below(rng, 2) as u8,
        },
        _ => Step::Read { table: sel(rng) },
    }
}

fn sel(rng: &mut ChaCha8Rng) -> u32 {
    below(rng, 1 << 16) as u32
}

fn txn_op(w: &Workload, rng: &mut ChaCha8Rng) -> TxnOp {
    let weights = [
        w.create_table,
        w.drop_table,
        w.insert,
        w.update,
        w.delete,
        w.get,
        w.scan,
    ];
    match pick(rng, &weights) {
        0 => create_table(rng),
        1 => TxnOp::DropTable { table: sel(rng) },
        2 => TxnOp::Insert {
            table: sel(rng),
            values: rng_u64(rng),
        },
        3 => TxnOp::Update {
            table: sel(rng),
            row: sel(rng),
            values: rng_u64(rng),
        },
        4 => TxnOp::Delete {
            table: sel(rng),
            row: sel(rng),
        },
        5 => TxnOp::Get {
            table: sel(rng),
            row: sel(rng),
        },
        _ => TxnOp::Scan { table: sel(rng) },
    }
}

fn create_table(rng: &mut ChaCha8Rng) -> TxnOp {
    const TYPES: [ColType; 5] = [
        ColType::Int64,
        ColType::Float64,
        ColType::Bool,
        ColType::Text,
        ColType::Bytes,
    ];
    let n = 1 + below(rng, 6) as usize;
    let columns = (0..n)
        .map(|i| {
            let t = TYPES[below(rng, TYPES.len() as u64) as usize];
            // The first column is never nullable, so NOT NULL is always exercised.
            (t, i > 0 && chance(rng, 0.5))
        })
        .collect();
    TxnOp::CreateTable { columns }
}

/// The values of a row for `columns`, from `seed`. TEXT and BYTES values are up to
/// `value_bytes_max` long (long enough, at the top of the range, to make rows move).
pub fn values_for(columns: &[(ColumnType, bool)], seed: u64, value_bytes_max: u64) -> Vec<Value> {
    use rand_core::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    columns
        .iter()
        .map(|&(t, nullable)| {
            if nullable && chance(&mut rng, 0.15) {
                return Value::Null;
            }
            match t {
                ColumnType::Int64 => Value::Int64(rng_u64(&mut rng) as i64),
                ColumnType::Float64 => Value::Float64(f64::from_bits(rng_u64(&mut rng))),
                ColumnType::Bool => Value::Bool(chance(&mut rng, 0.5)),
                ColumnType::Text => {
                    let n = below(&mut rng, value_bytes_max + 1) as usize;
                    Value::Text(
                        (0..n)
                            .map(|i| char::from(b'a' + ((seed as usize + i) % 26) as u8))
                            .collect(),
                    )
                }
                ColumnType::Bytes => {
                    let n = below(&mut rng, value_bytes_max + 1) as usize;
                    Value::Bytes((0..n).map(|_| rng_u64(&mut rng) as u8).collect())
                }
            }
        })
        .collect()
}
