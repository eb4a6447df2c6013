//! The single-threaded runner: executes a plan against the engine on a simulated disk,
//! crashes it where the plan says, recovers, and checks every invariant against the model.
//!
//! The oracle distinguishes three outcomes for every read and every recovery:
//! - *correct data*: what the model says (for an in-doubt commit, either whole outcome);
//! - *detected error*: the engine reported corruption. Allowed only after the run injected
//!   a bit flip, and it ends the run, since the database is damaged;
//! - *wrong data*: anything else. Always a failure.
//!
//! Errors from the engine are classified the same way: a simulated crash or an injected
//! I/O fault is expected (and leads to a restart when the engine is in its failed state);
//! any other error is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln::env::{DeviceConfig, Env};
use kiln::{Database, PlantedBugs, ReadTxn, StorageError, TxnError, WriteTxn};

use crate::clock::SimClock;
use crate::disk::{CrashKind, CrashPointTarget, HaltPlan, SimDisk};
use crate::model::{diff_rows, Model, ModelColumn, ModelState, ModelTable, TableKey};
use crate::plan::{CorruptTarget, Plan, Step, TxnOp};
use crate::scenario::RunConfig;
use crate::seed::{stream, Stream};
use crate::trace::Trace;

/// Structural checks run every this many steps, not only after recoveries.
const PERIODIC_CHECK_STEPS: usize = 25;

/// The database directory on the simulated disk.
pub const DB_DIR: &str = "/db";
/// The database and schema every run works in.
pub const DATABASE: &str = "sim";
pub const SCHEMA: &str = kiln::DEFAULT_SCHEMA;

/// Options that are not part of the plan.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Bugs to plant in the engine (tests of the simulator itself).
    pub planted: PlantedBugs,
}

/// Counters printed after every run. A check that never ran is a silent hole, so every
/// invariant counts its evaluations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub steps: u64,
    pub ops: u64,
    pub commits: u64,
    pub commits_in_doubt: u64,
    pub aborts: u64,
    pub checkpoints: u64,
    pub crashes: BTreeMap<String, u64>,
    pub recoveries: u64,
    pub crashes_during_recovery: u64,
    pub restarts_after_fault: u64,
    pub faults: BTreeMap<String, u64>,
    pub crash_points_hit: BTreeMap<String, u64>,
    pub crash_points_fired: BTreeMap<String, u64>,
    pub checks: BTreeMap<&'static str, u64>,
    pub corruptions_injected: u64,
    pub corruptions_detected: u64,
}

/// A violated invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub invariant: &'static str,
    pub detail: String,
    pub step: usize,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The engine detected injected corruption (the run stops there: allowed).
    DetectedCorruption(String),
    Failed(Failure),
}

/// Everything a run reports.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub trace_hash: u64,
    pub trace_events: u64,
    pub trace_tail: Vec<String>,
    pub counters: Counters,
    pub outcome: Outcome,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

/// Runs `plan` under `config`.
pub fn run(config: &RunConfig, plan: &Plan, options: RunOptions) -> RunReport {
    let mut runner = Runner::new(config, options);
    let result = runner.run_plan(plan);
    runner.report(config, result.err())
}

/// Why the runner stopped early.
pub(crate) enum Stop {
    Detected(String),
    Failed(Failure),
}

/// What to do after an engine error.
enum ErrorClass {
    /// The disk halted: restart with the armed crash kind.
    Crashed,
    /// An injected fault left the engine in its failed state: restart.
    FailedState,
    /// An injected transient fault (a read error): the operation failed, nothing else.
    Transient,
}

pub(crate) struct Runner {
    pub(crate) config: RunConfig,
    pub(crate) options: RunOptions,
    pub(crate) disk: SimDisk,
    pub(crate) env: Env,
    pub(crate) db: Option<Database>,
    pub(crate) model: Model,
    pub(crate) held: [Option<(ReadTxn, ModelState)>; crate::plan::SNAPSHOT_SLOTS],
    pub(crate) armed_kind: CrashKind,
    pub(crate) armed_point: Option<String>,
    pub(crate) corruption_this_life: bool,
    pub(crate) faults_seen: u64,
    /// The largest object id seen in a committed catalog: new ids must exceed it.
    pub(crate) max_committed_id: u64,
    /// The LSN of the newest acknowledged commit: a recovered log must extend past it.
    pub(crate) max_acked_lsn: u64,
    pub(crate) value_bytes_max: u64,
    pub(crate) step: usize,
    /// Concurrent mode: a restart is requested (the madsim supervisor kills the node)
    /// instead of performed in place.
    pub(crate) deferred: bool,
    pub(crate) pending_restart: Option<CrashKind>,
    pub(crate) trace: Trace,
    pub(crate) counters: Counters,
}

pub(crate) type StepResult = Result<(), Stop>;

impl Runner {
    /// The report of a run that ended, passing or with `stop`.
    pub(crate) fn report(mut self, config: &RunConfig, stop: Option<Stop>) -> RunReport {
        let outcome = match stop {
            None => Outcome::Passed,
            Some(Stop::Detected(d)) => Outcome::DetectedCorruption(d),
            Some(Stop::Failed(f)) => Outcome::Failed(f),
        };
        self.trace.event(format!("outcome {outcome:?}"));
        self.collect_disk_counters();
        RunReport {
            seed: config.seed,
            trace_hash: self.trace.hash(),
            trace_events: self.trace.events(),
            trace_tail: self.trace.tail(),
            counters: self.counters,
            outcome,
        }
    }

    pub(crate) fn new(config: &RunConfig, options: RunOptions) -> Runner {
        let device = DeviceConfig {
            sector_size_bytes: config.sector_size_bytes,
            sector_write_atomic: config.sector_write_atomic,
        };
        let disk = SimDisk::new(
            device,
            config.disk.clone(),
            stream(config.seed, Stream::Faults),
        );
        let clock = SimClock::new();
        disk.set_clock(clock.clone());
        let env = disk.env(clock, config.seed);
        let value_bytes_max = config.workload.value_bytes.high();
        Runner {
            config: config.clone(),
            options,
            disk,
            env,
            db: None,
            model: Model::default(),
            held: [None, None],
            armed_kind: CrashKind::Process,
            armed_point: None,
            corruption_this_life: false,
            faults_seen: 0,
            max_committed_id: 0,
            max_acked_lsn: 0,
            value_bytes_max,
            step: 0,
            deferred: false,
            pending_restart: None,
            trace: Trace::new(40),
            counters: Counters::default(),
        }
    }

    pub(crate) fn fail(&self, invariant: &'static str, detail: impl Into<String>) -> Stop {
        Stop::Failed(Failure {
            invariant,
            detail: detail.into(),
            step: self.step,
        })
    }

    pub(crate) fn check(&mut self, name: &'static str) {
        *self.counters.checks.entry(name).or_insert(0) += 1;
    }

    pub(crate) fn engine_config(&self) -> kiln::Config {
        let mut config = self.config.engine.to_config();
        config.planted = self.options.planted;
        config
    }

    pub(crate) fn db(&self) -> &Database {
        self.db
            .as_ref()
            .expect("the database is open between steps")
    }

    fn run_plan(&mut self, plan: &Plan) -> StepResult {
        self.open_fresh()?;
        for (index, step) in plan.steps.iter().enumerate() {
            self.step = index;
            self.counters.steps += 1;
            self.run_step(step)?;
            if self.disk.is_halted() || self.db().is_failed() {
                self.restart_after_stop()?;
            } else if index % PERIODIC_CHECK_STEPS == PERIODIC_CHECK_STEPS - 1 {
                self.periodic_checks()?;
            }
        }
        // Every run ends with a crash and a recovery, so every run checks recovery.
        let kind = if self.config.seed.is_multiple_of(2) {
            CrashKind::PowerLoss
        } else {
            CrashKind::Process
        };
        self.step = plan.steps.len();
        self.crash_and_recover(kind)
    }

    /// Creates the database and the run's schema. Faults are off until this is done.
    pub(crate) fn open_fresh(&mut self) -> StepResult {
        let faults = self.disk.fault_config();
        self.disk.set_fault_config(Default::default());
        let db = Database::open(self.env.clone(), Path::new(DB_DIR), self.engine_config())
            .map_err(|e| self.fail("open", format!("creating the database failed: {e}")))?;
        let mut tx = db
            .begin_write()
            .map_err(|e| self.fail("open", e.to_string()))?;
        tx.create_database(DATABASE)
            .map_err(|e| self.fail("open", e.to_string()))?;
        tx.commit().map_err(|e| self.fail("open", e.to_string()))?;
        let schemas = BTreeMap::from([(SCHEMA.to_string(), BTreeMap::new())]);
        self.model
            .committed
            .databases
            .insert(DATABASE.to_string(), schemas);
        self.db = Some(db);
        self.disk.set_fault_config(faults);
        self.faults_seen = self.fault_total();
        self.trace.event("created database".into());
        Ok(())
    }

    pub(crate) fn fault_total(&self) -> u64 {
        self.disk.fault_counts().values().sum()
    }

    /// Classifies an engine error, or turns it into a failure.
    fn classify(&mut self, what: &str, error: &TxnError) -> Result<ErrorClass, Stop> {
        if self.disk.is_halted() {
            return Ok(ErrorClass::Crashed);
        }
        let faulted = self.fault_total() > self.faults_seen;
        let Some(storage) = error.storage() else {
            return Err(self.fail("no unexpected errors", format!("{what}: {error}")));
        };
        if storage.is_corruption() {
            return if self.corruption_this_life {
                Err(Stop::Detected(format!("{what}: {storage}")))
            } else {
                Err(self.fail(
                    "no corruption without injected faults",
                    format!("{what}: {storage}"),
                ))
            };
        }
        match storage {
            StorageError::PreviousIo if faulted => Ok(ErrorClass::FailedState),
            StorageError::Io { .. } | StorageError::DiskFull { .. } if faulted => {
                if self.db().is_failed() {
                    Ok(ErrorClass::FailedState)
                } else {
                    Ok(ErrorClass::Transient)
                }
            }
            _ => Err(self.fail(
                "no unexpected errors",
                format!("{what}: {storage} (no fault was injected)"),
            )),
        }
    }

    fn run_step(&mut self, step: &Step) -> StepResult {
        match step {
            Step::Txn { ops, commit } => self.run_txn(ops, *commit),
            Step::Dispatch { op } => self.run_dispatch(op),
            Step::Checkpoint => self.run_checkpoint(),
            Step::Reopen => self.reopen(),
            Step::Read { table } => self.run_read(*table),
            Step::HoldSnapshot { slot } => self.hold_snapshot(*slot as usize),
            Step::ReleaseSnapshot { slot } => self.release_snapshot(*slot as usize),
            Step::ArmCrash { after, kind } => {
                let at = self.disk.io_ops_total() + u64::from(*after);
                self.disk.set_halt_plan(HaltPlan {
                    at_io_op: Some(at),
                    at_crash_point: None,
                });
                self.armed_kind = *kind;
                self.armed_point = None;
                self.trace.event(format!("arm {kind:?} at io op {at}"));
                Ok(())
            }
            Step::ArmCrashPoint { name, kind } => {
                let hit = self
                    .disk
                    .crash_point_hits()
                    .get(name.as_str())
                    .copied()
                    .unwrap_or(0)
                    + 1;
                let target = CrashPointTarget {
                    name: name.clone(),
                    hit,
                };
                self.disk.set_halt_plan(HaltPlan {
                    at_io_op: None,
                    at_crash_point: Some(target),
                });
                self.armed_kind = *kind;
                self.armed_point = Some(name.clone());
                self.trace
                    .event(format!("arm {kind:?} at crash point {name} hit {hit}"));
                Ok(())
            }
            Step::Crash { kind } => self.crash_and_recover(*kind),
            Step::Corrupt { target, pick } => self.corrupt(*target, *pick),
        }
    }

    // ---- Transactions -----------------------------------------------------------------

    fn run_txn(&mut self, ops: &[TxnOp], commit: bool) -> StepResult {
        let mut tx = match self.db().begin_write() {
            Ok(tx) => tx,
            Err(e) => return self.after_error("begin", &e),
        };
        let mut view = self.model.committed.clone();
        for op in ops {
            self.counters.ops += 1;
            match self.run_op(&mut tx, &mut view, op) {
                Ok(()) => {}
                Err(OpError::Stop(stop)) => return Err(stop),
                Err(OpError::Engine(what, e)) => {
                    drop(tx);
                    return self.after_error(&what, &e);
                }
                Err(OpError::Expected) => {
                    // A command failed as the model said it must: abort, as the engine's
                    // contract asks after a failed command.
                    tx.abort();
                    self.counters.aborts += 1;
                    return Ok(());
                }
            }
        }
        if commit {
            self.commit(tx, view)
        } else {
            tx.abort();
            self.counters.aborts += 1;
            self.trace.event("abort".into());
            Ok(())
        }
    }

    pub(crate) fn commit(&mut self, tx: WriteTxn, view: ModelState) -> StepResult {
        match tx.commit() {
            Ok(info) => {
                self.counters.commits += 1;
                self.max_acked_lsn = self.max_acked_lsn.max(info.lsn);
                self.trace.event(format!("commit lsn {}", info.lsn));
                self.model.committed = view;
                self.observe_committed_ids()
            }
            Err(e) => {
                // The commit record may or may not have reached the disk.
                self.counters.commits_in_doubt += 1;
                self.trace.event(format!("commit in doubt: {e}"));
                let class = self.classify("commit", &e)?;
                self.model.commit_in_doubt(view);
                match class {
                    ErrorClass::Transient => Err(self.fail(
                        "no unexpected errors",
                        format!("commit failed without failing the engine: {e}"),
                    )),
                    _ => self.restart_after_stop(),
                }
            }
        }
    }

    /// After an error outside commit: the transaction is gone; restart if needed.
    pub(crate) fn after_error(&mut self, what: &str, error: &TxnError) -> StepResult {
        self.trace.event(format!("{what} failed: {error}"));
        match self.classify(what, error)? {
            ErrorClass::Transient => {
                self.faults_seen = self.fault_total();
                Ok(())
            }
            ErrorClass::Crashed | ErrorClass::FailedState => self.restart_after_stop(),
        }
    }

    // ---- Reads ------------------------------------------------------------------------

    fn run_read(&mut self, table: u32) -> StepResult {
        let Some(key) = self.model.committed.table_key(table) else {
            return Ok(());
        };
        let expected = self
            .model
            .committed
            .table(&key)
            .expect("picked")
            .rows
            .clone();
        let snapshot = match self.db().begin_read() {
            Ok(s) => s,
            Err(e) => return self.after_error("begin read", &e),
        };
        match read_table(&snapshot, &key) {
            Err(TxnError::NotFound { kind, name }) => {
                let detail = format!("snapshot read of {key:?}: {kind} {name} does not exist");
                Err(self.fail("reads match the model", detail))
            }
            Ok(actual) => {
                self.check("reads match the model");
                if let Some(d) = diff_rows(&expected, &actual) {
                    return Err(self.fail(
                        "reads match the model",
                        format!("snapshot read of {key:?}: {d}"),
                    ));
                }
                Ok(())
            }
            Err(e) => {
                drop(snapshot);
                self.after_error(&format!("read {key:?}"), &e)
            }
        }
    }

    /// One DDL command through the dispatcher: its response must report the outcome the
    /// model expects, with the right category, severity and SQLSTATE.
    fn run_dispatch(&mut self, op: &TxnOp) -> StepResult {
        let view = self.model.committed.clone();
        let Some(command) = self.ddl_command(&view, op) else {
            return Ok(());
        };
        let mut expected_state = view;
        let expect = crate::ddl_model::apply(&mut expected_state, &command);
        let response = self.db().execute_ddl(&command);
        self.counters.ops += 1;
        if crate::ops::is_storage_failure(&response) {
            self.trace.event(format!(
                "dispatch {:?} failed in storage: {}",
                command.verb(),
                response.message
            ));
            if expect == crate::ddl_model::Expect::Applied {
                self.model.commit_in_doubt(expected_state);
            }
            return self.restart_after_stop();
        }
        self.check("DDL responses match the model");
        let matches = match expect {
            crate::ddl_model::Expect::Applied | crate::ddl_model::Expect::Skipped => {
                response.success
            }
            crate::ddl_model::Expect::Fails(category) => {
                !response.success
                    && response.error == Some(category)
                    && response.severity == category.severity()
                    && response.sqlstate.is_some()
                    && !response.remediation_hints.is_empty()
            }
        };
        if !matches {
            let detail = format!("{command:?}: expected {expect:?}, response {response:?}");
            return Err(self.fail("DDL responses match the model", detail));
        }
        self.trace.event(format!(
            "dispatch {:?}: {}",
            command.verb(),
            response.message
        ));
        if response.success {
            if let Some(result) = &response.result {
                if let Err(OpError::Stop(stop)) = self.check_new_ids(&command, result) {
                    return Err(stop);
                }
            }
            self.model.committed = expected_state;
            return self.observe_committed_ids();
        }
        Ok(())
    }

    /// Records the largest id in the newest durable catalog.
    fn observe_committed_ids(&mut self) -> StepResult {
        let max = match self.db().begin_read() {
            Ok(snapshot) => snapshot.catalog().max_object_id(),
            Err(e) => return self.after_error("begin read", &e),
        };
        self.max_committed_id = self.max_committed_id.max(max);
        Ok(())
    }

    fn hold_snapshot(&mut self, slot: usize) -> StepResult {
        match self.db().begin_read() {
            Ok(s) => {
                self.held[slot] = Some((s, self.model.committed.clone()));
                self.trace.event(format!("hold snapshot {slot}"));
                Ok(())
            }
            Err(e) => self.after_error("begin read", &e),
        }
    }

    /// Checks a long-lived snapshot: it must still see exactly the state it began with,
    /// whatever was committed, checkpointed or evicted since.
    fn release_snapshot(&mut self, slot: usize) -> StepResult {
        let Some((snapshot, expected)) = self.held[slot].take() else {
            return Ok(());
        };
        match read_state(&snapshot) {
            Ok(actual) => {
                self.check("snapshots are stable");
                if let Some(d) = expected.diff(&actual) {
                    return Err(
                        self.fail("snapshots are stable", format!("held snapshot {slot}: {d}"))
                    );
                }
                self.trace.event(format!("release snapshot {slot}"));
                Ok(())
            }
            Err(e) => {
                drop(snapshot);
                self.after_error("read held snapshot", &e)
            }
        }
    }

    // ---- Checkpoints, restarts, crashes ----------------------------------------------

    fn run_checkpoint(&mut self) -> StepResult {
        match self.db().checkpoint() {
            Ok(stats) => {
                self.counters.checkpoints += 1;
                self.trace.event(format!(
                    "checkpoint {} redo {} wrote {}",
                    stats.sequence, stats.redo_lsn, stats.pages_written
                ));
                Ok(())
            }
            Err(kiln::CheckpointError::Storage(e)) => {
                self.after_error("checkpoint", &TxnError::Storage(e))
            }
        }
    }

    fn reopen(&mut self) -> StepResult {
        self.held = [None, None];
        self.db = None;
        self.trace.event("reopen".into());
        self.open_and_verify()
    }

    /// The engine stopped (halt) or failed (fault): restart it.
    fn restart_after_stop(&mut self) -> StepResult {
        let kind = if self.disk.is_halted() {
            if let Some(point) = self.armed_point.take() {
                *self.counters.crash_points_fired.entry(point).or_insert(0) += 1;
            }
            self.armed_kind
        } else {
            // An injected fault failed the engine: the process restarts.
            self.counters.restarts_after_fault += 1;
            CrashKind::Process
        };
        if self.deferred {
            self.pending_restart.get_or_insert(kind);
            return Ok(());
        }
        self.crash_and_recover(kind)
    }

    fn crash_and_recover(&mut self, kind: CrashKind) -> StepResult {
        self.held = [None, None];
        self.db = None;
        self.crash(kind);
        self.open_and_verify()
    }

    fn crash(&mut self, kind: CrashKind) {
        let report = self.disk.crash(kind);
        self.record_crash(&report);
    }

    /// Counts and traces a crash (applied here, or by the madsim supervisor's kill).
    pub(crate) fn record_crash(&mut self, report: &crate::disk::CrashReport) {
        let kind = report.kind;
        *self
            .counters
            .crashes
            .entry(format!("{kind:?}"))
            .or_insert(0) += 1;
        self.trace.event(format!(
            "crash {kind:?}: writes survived {} lost {} torn {}, entries kept {} reverted {}",
            report.writes_survived,
            report.writes_lost,
            report.writes_torn,
            report.entries_kept,
            report.entries_reverted
        ));
    }

    /// Opens (recovering), retrying when a crash armed for recovery fires inside it, then
    /// checks every invariant.
    pub(crate) fn open_and_verify(&mut self) -> StepResult {
        let faults = self.disk.fault_config();
        let result = self.open_retrying();
        self.disk.set_fault_config(faults);
        let db = result?;
        self.counters.recoveries += 1;
        let stats = db.stats().recovery;
        self.trace.event(format!(
            "recovered: redo {}..{} records {} committed {} discarded {}",
            stats.start_lsn,
            stats.end_lsn,
            stats.records_replayed,
            stats.transactions_committed,
            stats.transactions_discarded
        ));
        self.db = Some(db);
        self.verify_recovered()
    }

    /// Opens (recovering), retrying when a crash armed for recovery fires inside it or an
    /// injected fault fails it. After three fault-failed attempts the faults are switched
    /// off (the operator replaced the flaky cable), so recovery itself gets checked.
    fn open_retrying(&mut self) -> Result<Database, Stop> {
        for attempt in 1..=10 {
            if attempt > 3 {
                self.disk.set_fault_config(Default::default());
            }
            match Database::open(self.env.clone(), Path::new(DB_DIR), self.engine_config()) {
                Ok(db) => return Ok(db),
                Err(_) if self.disk.is_halted() => {
                    self.counters.crashes_during_recovery += 1;
                    self.crash(self.armed_kind);
                }
                Err(kiln::OpenError::Storage(e))
                    if e.is_corruption() && self.corruption_this_life =>
                {
                    self.counters.corruptions_detected += 1;
                    return Err(Stop::Detected(format!("recovery: {e}")));
                }
                Err(kiln::OpenError::Storage(e)) if self.fault_total() > self.faults_seen => {
                    self.trace
                        .event(format!("recovery failed on an injected fault: {e}"));
                    self.faults_seen = self.fault_total();
                    self.crash(CrashKind::Process);
                }
                Err(e) => return Err(self.fail("recovery succeeds", e.to_string())),
            }
        }
        Err(self.fail("recovery succeeds", "ten attempts to recover failed"))
    }

    fn verify_recovered(&mut self) -> StepResult {
        let state = {
            let snapshot = self.db().begin_read();
            match snapshot
                .and_then(|s| read_state(&s).map(|state| (state, s.catalog().max_object_id())))
            {
                Ok(found) => found,
                Err(e) => return self.recovered_read_failed(&e),
            }
        };
        let (actual, max_id) = state;
        self.check("durability and atomicity");
        match self.model.resolve(&actual) {
            Ok(how) => self.trace.event(format!(
                "state matches the model ({how}), {} rows",
                actual.row_count()
            )),
            Err(d) => return Err(self.fail("durability and atomicity", d)),
        }
        self.max_committed_id = self.max_committed_id.max(max_id);
        self.check("WAL covers every acknowledged commit");
        let durable = self.db().stats().durable_lsn;
        if durable <= self.max_acked_lsn {
            let detail = format!(
                "the recovered log ends at {durable}, before acknowledged commit {}",
                self.max_acked_lsn
            );
            return Err(self.fail("WAL covers every acknowledged commit", detail));
        }
        match self.structural_checks() {
            Ok(()) => {}
            Err(Err(e)) => return self.recovered_read_failed(&TxnError::Storage(e)),
            Err(Ok(stop)) => return Err(stop),
        }
        self.faults_seen = self.fault_total();
        Ok(())
    }

    /// The engine's own structural check, and the checkpoint within the durable log.
    /// The outer error is a failure; the inner one a storage error to classify.
    fn structural_checks(&mut self) -> Result<(), Result<Stop, StorageError>> {
        self.check("structural integrity");
        match self.db().check_integrity() {
            Ok(report) if report.is_ok() => {}
            Ok(report) => {
                return Err(Ok(
                    self.fail("structural integrity", report.problems.join("; "))
                ))
            }
            Err(e) => return Err(Err(e)),
        }
        self.check("checkpoint LSN within the durable log");
        let diagnostics = self.db().storage_diagnostics(false).map_err(Err)?;
        if diagnostics.checkpoint.last_checkpoint_lsn > diagnostics.wal.durable_lsn {
            let detail = format!(
                "checkpoint redo LSN {} is past the durable end of the log {}",
                diagnostics.checkpoint.last_checkpoint_lsn, diagnostics.wal.durable_lsn
            );
            return Err(Ok(
                self.fail("checkpoint LSN within the durable log", detail)
            ));
        }
        Ok(())
    }

    /// Checks that do not need a crash, every few steps of a run.
    fn periodic_checks(&mut self) -> StepResult {
        match self.structural_checks() {
            Ok(()) => Ok(()),
            Err(Ok(stop)) => Err(stop),
            Err(Err(e)) => self.after_error("periodic integrity check", &TxnError::Storage(e)),
        }
    }

    fn recovered_read_failed(&mut self, e: &TxnError) -> StepResult {
        match self.classify("reading the recovered state", e)? {
            ErrorClass::Transient | ErrorClass::FailedState | ErrorClass::Crashed => {
                // An injected fault while verifying: restart and verify again.
                self.faults_seen = self.fault_total();
                self.crash_and_recover(CrashKind::Process)
            }
        }
    }

    // ---- Corruption -------------------------------------------------------------------

    fn corrupt(&mut self, target: CorruptTarget, pick: u64) -> StepResult {
        let dir = PathBuf::from(DB_DIR);
        let flipped = match target {
            CorruptTarget::Images => self.flip_in_images(&dir, pick),
            CorruptTarget::Manifest => self.flip_in(&dir.join("MANIFEST"), pick, |_| true),
            CorruptTarget::Wal => self.flip_in_wal(&dir, pick),
        };
        let Some((path, offset, bit)) = flipped else {
            return Ok(());
        };
        self.counters.corruptions_injected += 1;
        self.corruption_this_life = true;
        self.trace
            .event(format!("flip bit {bit} of {} at {offset}", path.display()));
        self.crash_and_recover(CrashKind::Process)
    }

    /// Flips a durable bit of `path` at an offset drawn from `pick` among those `allowed`.
    fn flip_in(
        &self,
        path: &Path,
        pick: u64,
        allowed: impl Fn(u64) -> bool,
    ) -> Option<(PathBuf, u64, u8)> {
        let image = self.disk.durable_image(path)?;
        let pending = self.disk.unsynced_ranges(path).unwrap_or_default();
        let candidates: Vec<u64> = (0..image.len() as u64)
            .filter(|&o| allowed(o) && !pending.iter().any(|r| r.contains(&o)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let offset = candidates[(pick % candidates.len() as u64) as usize];
        let bit = (pick >> 32) as u8 % 8;
        self.disk.flip_bit(path, offset, bit).ok()?;
        Some((path.to_path_buf(), offset, bit))
    }

    /// Three times in four, a byte in the tuple area of a page image the durable
    /// manifest points at (where a missed CRC check would return wrong rows); otherwise
    /// anywhere in the image store.
    fn flip_in_images(&self, dir: &Path, pick: u64) -> Option<(PathBuf, u64, u8)> {
        let path = dir.join("pages.kiln");
        let manifest = self.disk.durable_image(&dir.join("MANIFEST"))?;
        let table = kiln::decode::manifest_page_table(&manifest).ok()?;
        if pick.is_multiple_of(4) || table.is_empty() {
            return self.flip_in(&path, pick, |_| true);
        }
        let page = kiln::PAGE_SIZE_BYTES as u64;
        let (_, slot) = table[((pick >> 8) % table.len() as u64) as usize];
        let image = self.disk.durable_image(&path)?;
        let start = slot * page;
        let header = image.get(start as usize..start as usize + 56)?;
        let data_start = u64::from(u16::from_le_bytes([header[48], header[49]]));
        let tuples = (start + data_start.min(page))..(start + page);
        self.flip_in(&path, pick, |o| tuples.contains(&o))
    }

    /// WAL bytes a later durable record vouches for: synced before the file's last sync
    /// that changed anything. A flip in the final sync group looks exactly like a torn
    /// write, and is treated as one by design (see the WAL reader's documentation).
    fn flip_in_wal(&self, dir: &Path, pick: u64) -> Option<(PathBuf, u64, u8)> {
        let mut segments: Vec<PathBuf> = self
            .disk
            .file_paths()
            .into_iter()
            .filter(|p| {
                p.starts_with(dir)
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("wal-"))
            })
            .collect();
        segments.sort();
        let path = segments
            .get((pick % segments.len().max(1) as u64) as usize)?
            .clone();
        let history = self.disk.sync_history(&path).ok()?;
        let changing: Vec<_> = history.iter().filter(|s| !s.changed.is_empty()).collect();
        let (last, earlier) = changing.split_last()?;
        let vouched_end = earlier.iter().map(|s| s.changed.end).max()?;
        let last_range = last.changed.clone();
        self.flip_in(&path, pick, |o| o < vouched_end && !last_range.contains(&o))
    }

    pub(crate) fn collect_disk_counters(&mut self) {
        self.counters.faults = self
            .disk
            .fault_counts()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.counters.crash_points_hit = self
            .disk
            .crash_point_hits()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
}

pub(crate) enum OpError {
    Stop(Stop),
    Engine(String, TxnError),
    /// A command failed as the model expected; the transaction must abort.
    Expected,
}

/// Every row of one table as a snapshot sees it.
fn read_table(
    snapshot: &ReadTxn,
    key: &TableKey,
) -> Result<BTreeMap<kiln::RowId, Vec<kiln::Value>>, TxnError> {
    let t = snapshot.table(&key.0, &key.1, &key.2)?;
    Ok(snapshot.scan(&t)?.into_iter().collect())
}

/// The whole database (every database, schema and table) as a snapshot sees it.
pub(crate) fn read_state(snapshot: &ReadTxn) -> Result<ModelState, TxnError> {
    let catalog = snapshot.catalog();
    let mut state = ModelState::default();
    for db in catalog.databases() {
        let schemas = state.databases.entry(db.name.clone()).or_default();
        for schema in catalog.schemas_of(db.id) {
            let tables = schemas.entry(schema.name.clone()).or_default();
            for def in catalog.tables_of(schema.id) {
                let columns = def
                    .live_columns()
                    .map(|c| ModelColumn {
                        name: c.name.clone(),
                        column_type: c.column_type,
                        nullable: c.nullable,
                    })
                    .collect();
                let key = (db.name.clone(), schema.name.clone(), def.name.clone());
                let rows = read_table(snapshot, &key)?;
                tables.insert(def.name.clone(), ModelTable { columns, rows });
            }
        }
    }
    Ok(state)
}
