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

/// One operation inside a write transaction. Selectors (`table`, `schema`, `database`,
/// `column`, `row`) pick among what exists when the operation runs; `reuse_name` and
/// `missing` steer a command at an existing or a nonexistent name, so the failure paths
/// (already exists, not found, IF [NOT] EXISTS skips) are exercised as often as success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    CreateTable {
        schema: u32,
        columns: Vec<(ColType, bool)>,
        reuse_name: bool,
        if_not_exists: bool,
    },
    DropTable {
        table: u32,
        missing: bool,
        if_exists: bool,
    },
    CreateDatabase {
        reuse_name: bool,
        if_not_exists: bool,
    },
    DropDatabase {
        database: u32,
        missing: bool,
        if_exists: bool,
        cascade: bool,
    },
    CreateSchema {
        database: u32,
        reuse_name: bool,
        if_not_exists: bool,
    },
    DropSchema {
        schema: u32,
        missing: bool,
        if_exists: bool,
        cascade: bool,
    },
    AlterTable {
        table: u32,
        action: AlterOp,
    },
    CreateIndex {
        table: u32,
        column: u32,
        reuse_name: bool,
        missing_column: bool,
    },
    DropIndex {
        schema: u32,
        if_exists: bool,
    },
    Insert {
        table: u32,
        values: u64,
    },
    Update {
        table: u32,
        row: u32,
        values: u64,
    },
    Delete {
        table: u32,
        row: u32,
    },
    Get {
        table: u32,
        row: u32,
    },
    Scan {
        table: u32,
    },
}

/// What an ALTER TABLE does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlterOp {
    AddColumn {
        column_type: ColType,
        nullable: bool,
        reuse_name: bool,
        if_not_exists: bool,
    },
    DropColumn {
        column: u32,
        missing: bool,
        if_exists: bool,
    },
    RenameColumn {
        column: u32,
        reuse_name: bool,
    },
    RenameTable {
        reuse_name: bool,
    },
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
    /// One DDL command through the dispatcher (its own transaction and response).
    Dispatch {
        op: TxnOp,
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

/// How many long-lived snapshots a run can hold at once (`HoldSnapshot { slot }`).
pub const SNAPSHOT_SLOTS: usize = 2;

impl Plan {
    /// Checks what a hand-written or edited plan could get wrong that the generator never
    /// does, so that replaying it reports an error instead of crashing the runner.
    pub fn validate(&self) -> Result<(), String> {
        for (index, step) in self.steps.iter().enumerate() {
            if let Step::HoldSnapshot { slot } | Step::ReleaseSnapshot { slot } = step {
                if usize::from(*slot) >= SNAPSHOT_SLOTS {
                    return Err(format!(
                        "step {index}: snapshot slot {slot} (there are {SNAPSHOT_SLOTS})"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Generates the plan of `config` (a pure function of the config and its seed).
    pub fn generate(config: &RunConfig) -> Plan {
        let mut rng = stream(config.seed, Stream::Workload);
        let mut sched = stream(config.seed, Stream::Scheduling);
        let mut steps = Vec::new();
        // Every run starts with a table to work on.
        steps.push(Step::Txn {
            ops: vec![create_table(&mut rng, false, false)],
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
                Step::Dispatch { .. } => 1,
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
    // A transaction step weighs as much as the operations it is made of, as it did before
    // DDL joined the mix: most steps are transactions.
    let txn_weight = ddl_weight(w) + w.insert + w.update + w.delete + w.get + w.scan;
    let weights = [
        txn_weight,
        w.checkpoint,
        w.reopen,
        w.hold_snapshot,
        w.release_snapshot,
        w.read,
        w.dispatch,
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
            slot: below(rng, SNAPSHOT_SLOTS as u64) as u8,
        },
        4 => Step::ReleaseSnapshot {
            slot: below(rng, SNAPSHOT_SLOTS as u64) as u8,
        },
        5 => Step::Read { table: sel(rng) },
        _ => Step::Dispatch { op: ddl_op(w, rng) },
    }
}

fn sel(rng: &mut ChaCha8Rng) -> u32 {
    below(rng, 1 << 16) as u32
}

fn ddl_weight(w: &Workload) -> f64 {
    w.create_table
        + w.drop_table
        + w.create_database
        + w.drop_database
        + w.create_schema
        + w.drop_schema
        + w.alter_table
        + w.create_index
        + w.drop_index
}

fn txn_op(w: &Workload, rng: &mut ChaCha8Rng) -> TxnOp {
    let weights = [ddl_weight(w), w.insert, w.update, w.delete, w.get, w.scan];
    match pick(rng, &weights) {
        0 => ddl_op(w, rng),
        1 => TxnOp::Insert {
            table: sel(rng),
            values: rng_u64(rng),
        },
        2 => TxnOp::Update {
            table: sel(rng),
            row: sel(rng),
            values: rng_u64(rng),
        },
        3 => TxnOp::Delete {
            table: sel(rng),
            row: sel(rng),
        },
        4 => TxnOp::Get {
            table: sel(rng),
            row: sel(rng),
        },
        _ => TxnOp::Scan { table: sel(rng) },
    }
}

/// A DDL operation, by the workload's weights.
fn ddl_op(w: &Workload, rng: &mut ChaCha8Rng) -> TxnOp {
    let weights = [
        w.create_table,
        w.drop_table,
        w.create_database,
        w.drop_database,
        w.create_schema,
        w.drop_schema,
        w.alter_table,
        w.create_index,
        w.drop_index,
    ];
    let odd = |rng: &mut ChaCha8Rng| chance(rng, w.odd_name_share);
    let exists = |rng: &mut ChaCha8Rng| chance(rng, w.if_exists_share);
    let cascade = |rng: &mut ChaCha8Rng| chance(rng, w.cascade_share);
    match pick(rng, &weights) {
        0 => {
            let (reuse, if_not_exists) = (odd(rng), exists(rng));
            create_table(rng, reuse, if_not_exists)
        }
        1 => TxnOp::DropTable {
            table: sel(rng),
            missing: odd(rng),
            if_exists: exists(rng),
        },
        2 => TxnOp::CreateDatabase {
            reuse_name: odd(rng),
            if_not_exists: exists(rng),
        },
        3 => TxnOp::DropDatabase {
            database: sel(rng),
            missing: odd(rng),
            if_exists: exists(rng),
            cascade: cascade(rng),
        },
        4 => TxnOp::CreateSchema {
            database: sel(rng),
            reuse_name: odd(rng),
            if_not_exists: exists(rng),
        },
        5 => TxnOp::DropSchema {
            schema: sel(rng),
            missing: odd(rng),
            if_exists: exists(rng),
            cascade: cascade(rng),
        },
        6 => TxnOp::AlterTable {
            table: sel(rng),
            action: alter_op(w, rng),
        },
        7 => TxnOp::CreateIndex {
            table: sel(rng),
            column: sel(rng),
            reuse_name: odd(rng),
            missing_column: odd(rng),
        },
        _ => TxnOp::DropIndex {
            schema: sel(rng),
            if_exists: exists(rng),
        },
    }
}

const TYPES: [ColType; 5] = [
    ColType::Int64,
    ColType::Float64,
    ColType::Bool,
    ColType::Text,
    ColType::Bytes,
];

fn alter_op(w: &Workload, rng: &mut ChaCha8Rng) -> AlterOp {
    match below(rng, 4) {
        0 => AlterOp::AddColumn {
            column_type: TYPES[below(rng, 5) as usize],
            nullable: chance(rng, 0.8),
            reuse_name: chance(rng, w.odd_name_share),
            if_not_exists: chance(rng, w.if_exists_share),
        },
        1 => AlterOp::DropColumn {
            column: sel(rng),
            missing: chance(rng, w.odd_name_share),
            if_exists: chance(rng, w.if_exists_share),
        },
        2 => AlterOp::RenameColumn {
            column: sel(rng),
            reuse_name: chance(rng, w.odd_name_share),
        },
        _ => AlterOp::RenameTable {
            reuse_name: chance(rng, w.odd_name_share),
        },
    }
}

fn create_table(rng: &mut ChaCha8Rng, reuse_name: bool, if_not_exists: bool) -> TxnOp {
    let n = 1 + below(rng, 6) as usize;
    let columns = (0..n)
        .map(|i| {
            let t = TYPES[below(rng, TYPES.len() as u64) as usize];
            // The first column is never nullable, so NOT NULL is always exercised.
            (t, i > 0 && chance(rng, 0.5))
        })
        .collect();
    TxnOp::CreateTable {
        schema: sel(rng),
        columns,
        reuse_name,
        if_not_exists,
    }
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
