//! Concurrent actors on madsim: a writer, a reader holding snapshots, and a checkpoint
//! trigger, interleaved by madsim's seeded scheduler in virtual time, on a node that the
//! supervisor kills.
//!
//! What this adds to the single-threaded runner: the writer awaits *inside* its
//! transactions, so readers take and check snapshots and the checkpointer tries to fence
//! while a write transaction is open; and crashes come from madsim's `Handle::kill`, which
//! the [`DiskPlugin`] turns into SimDisk crash semantics (a plain `restart` would not
//! reset the disk). After every kill the node's init task recovers the engine and checks
//! it against the model before the actors resume.
//!
//! All actors share the runner behind one mutex; each engine call runs without an await
//! inside it (the engine is synchronous), so no lock is held across a suspension point.
//! The writer never blocks on the write lock (it is the only writer) and the checkpointer
//! only ever tries to fence, so a suspended writer can never deadlock the single thread.
//!
//! Not covered: several concurrent writers (the engine serializes them; the thread-based
//! group commit test covers contention), and true parallelism (madsim runs one task at a
//! time, by design, so that the interleaving is a function of the seed).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use madsim::plugin::{self, Simulator};
use madsim::rand::GlobalRng;
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use madsim::time::TimeHandle;
use rand_chacha::ChaCha8Rng;

use crate::disk::{CrashKind, CrashReport, HaltPlan, SimDisk};
use crate::plan::{Plan, Step, TxnOp};
use crate::runner::{read_state, RunOptions, RunReport, Runner, Stop};
use crate::scenario::RunConfig;
use crate::seed::{below, chance, stream, substream, Stream};

/// Registers the simulated disk of the engine's node with madsim, so that killing the
/// node applies crash semantics to it.
#[derive(Default)]
pub struct DiskPlugin {
    state: Mutex<PluginState>,
}

#[derive(Default)]
struct PluginState {
    node: Option<NodeId>,
    disk: Option<SimDisk>,
    next_kind: Option<CrashKind>,
    reports: Vec<CrashReport>,
}

impl DiskPlugin {
    fn lock(&self) -> MutexGuard<'_, PluginState> {
        self.state.lock().expect("disk plugin lock")
    }

    /// Attaches `disk` to `node`.
    pub fn attach(&self, node: NodeId, disk: SimDisk) {
        let mut state = self.lock();
        state.node = Some(node);
        state.disk = Some(disk);
    }

    /// The kind of crash the next kill applies.
    pub fn set_next_kind(&self, kind: CrashKind) {
        self.lock().next_kind = Some(kind);
    }

    /// Crashes applied by kills since the last call.
    pub fn take_reports(&self) -> Vec<CrashReport> {
        std::mem::take(&mut self.lock().reports)
    }
}

impl Simulator for DiskPlugin {
    fn new(_rand: &GlobalRng, _time: &TimeHandle, _config: &madsim::Config) -> Self {
        DiskPlugin::default()
    }

    fn reset_node(&self, id: NodeId) {
        let mut state = self.lock();
        if state.node != Some(id) {
            return;
        }
        let kind = state.next_kind.take().unwrap_or(CrashKind::Process);
        if let Some(disk) = state.disk.clone() {
            let report = disk.crash(kind);
            state.reports.push(report);
        }
    }
}

/// Shared between the supervisor and the node's actors.
struct Shared {
    runner: Mutex<Runner>,
    /// Write transactions of the plan, consumed in order by the writer.
    txns: Vec<(Vec<TxnOp>, bool)>,
    next_txn: Mutex<usize>,
    /// Incremented each time the node finished recovery and verification.
    lives_verified: Mutex<u64>,
    stop: Mutex<Option<Stop>>,
}

impl Shared {
    fn runner(&self) -> MutexGuard<'_, Runner> {
        self.runner.lock().expect("runner lock")
    }

    fn stopped(&self) -> bool {
        self.stop.lock().expect("stop lock").is_some()
    }

    /// Records the first stop; later ones are consequences.
    fn record(&self, result: Result<(), Stop>) {
        if let Err(stop) = result {
            self.stop.lock().expect("stop lock").get_or_insert(stop);
        }
    }

    /// Whether actors should leave their loops (a restart is requested or the run ended).
    fn must_yield(&self) -> bool {
        self.stopped() || self.runner().pending_restart.is_some()
    }
}

/// Runs the concurrent actors for the run configured by `config`: `lives` kills and
/// recoveries, then a final check.
pub fn run(config: &RunConfig, options: RunOptions, lives: u64) -> RunReport {
    let runtime_seed = {
        use rand_core::Rng;
        stream(config.seed, Stream::Scheduling).next_u64()
    };
    let runtime = Runtime::with_seed_and_config(runtime_seed, madsim::Config::default());
    runtime.add_simulator::<DiskPlugin>();
    let plan = Plan::generate(config);
    let txns = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Txn { ops, commit } => Some((ops.clone(), *commit)),
            _ => None,
        })
        .collect();
    let mut runner = Runner::new(config, options);
    runner.deferred = true;
    let shared = Arc::new(Shared {
        runner: Mutex::new(runner),
        txns,
        next_txn: Mutex::new(0),
        lives_verified: Mutex::new(0),
        stop: Mutex::new(None),
    });
    let supervisor_shared = shared.clone();
    let supervisor_config = config.clone();
    runtime.block_on(async move { supervise(supervisor_shared, supervisor_config, lives).await });
    // The node's init closure and any unfinished task hold clones; they go with the runtime.
    drop(runtime);
    // Killed tasks may still hold clones of `shared` inside the runtime's leftovers: take
    // the results out instead of unwrapping.
    let stop = shared.stop.lock().expect("stop lock").take();
    let mut runner = std::mem::replace(&mut *shared.runner(), Runner::new(config, options));
    runner.held = [None, None];
    runner.db = None;
    runner.report(config, stop)
}

async fn supervise(shared: Arc<Shared>, config: RunConfig, lives: u64) {
    let handle = Handle::current();
    let mut rng = substream(config.seed, Stream::Scheduling, 1);
    let init_shared = shared.clone();
    let node = handle
        .create_node()
        .name("kiln")
        .init(move || node_main(init_shared.clone()))
        .build();
    plugin::simulator::<DiskPlugin>().attach(node.id(), shared.runner().disk.clone());
    for life in 1..=lives + 1 {
        if !wait_verified(&shared, life).await {
            return;
        }
        if life == lives + 1 {
            break;
        }
        maybe_arm_halt(&shared, &config, &mut rng);
        let kind = run_life(&shared, &config, &mut rng).await;
        kill_and_restart(&handle, node.id(), &shared, kind);
    }
}

/// Waits until the node's init task has verified life `life`, or the run stopped.
async fn wait_verified(shared: &Shared, life: u64) -> bool {
    loop {
        if shared.stopped() {
            return false;
        }
        if *shared.lives_verified.lock().expect("lives lock") >= life {
            return true;
        }
        madsim::time::sleep(Duration::from_micros(100)).await;
    }
}

/// Lets the actors run for a random span of virtual time or until a restart is needed;
/// returns the kind of crash to apply.
async fn run_life(shared: &Shared, config: &RunConfig, rng: &mut ChaCha8Rng) -> CrashKind {
    let span_us = 2_000 + below(rng, 40_000);
    let started = madsim::time::Instant::now();
    while started.elapsed() < Duration::from_micros(span_us) {
        if shared.must_yield() {
            break;
        }
        madsim::time::sleep(Duration::from_micros(200)).await;
    }
    let pending = shared.runner().pending_restart.take();
    pending.unwrap_or(if chance(rng, config.power_loss_share) {
        CrashKind::PowerLoss
    } else {
        CrashKind::Process
    })
}

/// Sometimes arms a halt at a random upcoming IO operation, so the machine stops inside
/// an engine call rather than between two awaits.
fn maybe_arm_halt(shared: &Shared, config: &RunConfig, rng: &mut ChaCha8Rng) {
    if !chance(rng, (config.crash_per_step * 10.0).min(0.7)) {
        return;
    }
    let mut runner = shared.runner();
    let at = runner.disk.io_ops_total() + 1 + below(rng, 300);
    runner.disk.set_halt_plan(HaltPlan {
        at_io_op: Some(at),
        at_crash_point: None,
    });
    runner.armed_kind = if chance(rng, config.power_loss_share) {
        CrashKind::PowerLoss
    } else {
        CrashKind::Process
    };
    let kind = runner.armed_kind;
    runner.trace.event(format!("arm {kind:?} at io op {at}"));
}

fn kill_and_restart(handle: &Handle, node: NodeId, shared: &Shared, kind: CrashKind) {
    let plugin = plugin::simulator::<DiskPlugin>();
    plugin.set_next_kind(kind);
    handle.kill(node);
    {
        let mut runner = shared.runner();
        runner.held = [None, None];
        runner.db = None;
        for report in plugin.take_reports() {
            runner.record_crash(&report);
        }
        runner.pending_restart = None;
    }
    handle.restart(node);
}

/// The node's init task: recover and verify (or create, the first time), then start the
/// actors and wait for them.
async fn node_main(shared: Arc<Shared>) {
    let recovered = {
        let mut runner = shared.runner();
        if runner.db.is_some() {
            Ok(())
        } else if runner.counters.recoveries == 0 && runner.counters.crashes.is_empty() {
            runner.open_fresh()
        } else {
            runner.open_and_verify()
        }
    };
    let ok = recovered.is_ok();
    shared.record(recovered);
    if !ok {
        return;
    }
    *shared.lives_verified.lock().expect("lives lock") += 1;
    let seed = shared.runner().config.seed;
    let life = *shared.lives_verified.lock().expect("lives lock");
    let writer = madsim::task::spawn(writer(
        shared.clone(),
        substream(seed, Stream::Scheduling, 10 + life),
    ));
    let reader = madsim::task::spawn(reader(
        shared.clone(),
        substream(seed, Stream::Scheduling, 1000 + life),
    ));
    let checkpointer = madsim::task::spawn(checkpointer(
        shared.clone(),
        substream(seed, Stream::Scheduling, 2000 + life),
    ));
    let _ = writer.await;
    let _ = reader.await;
    let _ = checkpointer.await;
}

async fn pause(rng: &mut ChaCha8Rng, max_us: u64) {
    madsim::time::sleep(Duration::from_micros(1 + below(rng, max_us))).await;
}

/// The writer: runs the plan's transactions in order, pausing between operations so the
/// other actors run while its transaction is open.
async fn writer(shared: Arc<Shared>, mut rng: ChaCha8Rng) {
    while !shared.must_yield() {
        let index = {
            let mut next = shared.next_txn.lock().expect("txn index lock");
            let index = *next % shared.txns.len().max(1);
            *next += 1;
            index
        };
        let Some((ops, commit)) = shared.txns.get(index).cloned() else {
            return;
        };
        write_one(&shared, &ops, commit, &mut rng).await;
        pause(&mut rng, 2_000).await;
    }
}

async fn write_one(shared: &Shared, ops: &[TxnOp], commit: bool, rng: &mut ChaCha8Rng) {
    let begun = {
        let mut runner = shared.runner();
        match runner.db().begin_write() {
            Ok(tx) => Some((tx, runner.model.committed.clone())),
            Err(e) => {
                let result = runner.after_error("begin", &e);
                shared.record(result);
                None
            }
        }
    };
    let Some((mut tx, mut view)) = begun else {
        return;
    };
    for op in ops {
        if shared.must_yield() {
            return;
        }
        let result = {
            let mut runner = shared.runner();
            runner.counters.ops += 1;
            runner.run_op(&mut tx, &mut view, op)
        };
        match result {
            Ok(()) => {}
            Err(crate::runner::OpError::Stop(stop)) => return shared.record(Err(stop)),
            Err(crate::runner::OpError::Engine(what, e)) => {
                drop(tx);
                let result = shared.runner().after_error(&what, &e);
                return shared.record(result);
            }
            Err(crate::runner::OpError::Expected) => {
                tx.abort();
                shared.runner().counters.aborts += 1;
                return;
            }
        }
        pause(rng, 500).await;
    }
    let mut runner = shared.runner();
    if commit {
        let result = runner.commit(tx, view);
        shared.record(result);
    } else {
        tx.abort();
        runner.counters.aborts += 1;
        runner.trace.event("abort".into());
    }
}

/// The reader: takes a snapshot, holds it across a pause (while the writer commits and
/// the checkpointer runs), then checks it still shows exactly the state it began with.
async fn reader(shared: Arc<Shared>, mut rng: ChaCha8Rng) {
    while !shared.must_yield() {
        let begun = {
            let mut runner = shared.runner();
            match runner.db().begin_read() {
                Ok(snapshot) => Some((snapshot, runner.model.committed.clone())),
                Err(e) => {
                    let result = runner.after_error("begin read", &e);
                    shared.record(result);
                    None
                }
            }
        };
        let Some((snapshot, expected)) = begun else {
            return;
        };
        pause(&mut rng, 5_000).await;
        if shared.must_yield() {
            return;
        }
        check_snapshot(&shared, snapshot, &expected);
        pause(&mut rng, 1_000).await;
    }
}

fn check_snapshot(shared: &Shared, snapshot: kiln::ReadTxn, expected: &crate::model::ModelState) {
    let mut runner = shared.runner();
    match read_state(&snapshot) {
        Ok(actual) => {
            runner.check("snapshots are stable");
            if let Some(d) = expected.diff(&actual) {
                let stop = runner.fail("snapshots are stable", format!("concurrent reader: {d}"));
                shared.record(Err(stop));
            }
        }
        Err(e) => {
            drop(snapshot);
            let result = runner.after_error("concurrent read", &e);
            shared.record(result);
        }
    }
}

/// The checkpoint trigger: every few milliseconds of virtual time, checkpoints if no
/// write transaction is open (it never waits for the fence: that would block the only
/// thread while the writer is suspended inside its transaction).
async fn checkpointer(shared: Arc<Shared>, mut rng: ChaCha8Rng) {
    while !shared.must_yield() {
        pause(&mut rng, 8_000).await;
        if shared.must_yield() {
            return;
        }
        let mut runner = shared.runner();
        match runner.db().try_checkpoint() {
            Ok(Some(stats)) => {
                runner.counters.checkpoints += 1;
                runner.trace.event(format!(
                    "checkpoint {} redo {}",
                    stats.sequence, stats.redo_lsn
                ));
            }
            Ok(None) => {
                *runner
                    .counters
                    .checks
                    .entry("checkpoint deferred while a writer is active")
                    .or_insert(0) += 1;
            }
            Err(kiln::CheckpointError::Storage(e)) => {
                let result = runner.after_error("checkpoint", &kiln::TxnError::Storage(e));
                shared.record(result);
            }
        }
    }
}
