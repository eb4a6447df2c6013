//! Child processes: every measurement runs in a fresh `kiln-bench __child SPEC` process.
//!
//! Why: peak resident memory (VmHWM) is per process, so each side of each workload gets
//! its own; a crash must be a real SIGKILL of a real process; and the process that times
//! a reopen after a crash must not be the one that wrote the data. A child prints one
//! `KILN-BENCH-RESULT <json>` line on stdout (or, for a crash writer, a
//! `KILN-BENCH-READY <json>` line once its last commit returned, and then waits to be
//! killed). Its stderr passes through. A child that measures several sides together
//! (interleaved operation by operation) prints one result line per side.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::measure::{Measurement, System};
use crate::options::Sizes;
use crate::Result;

/// The hidden subcommand a child runs.
pub const CHILD_SUBCOMMAND: &str = "__child";
const RESULT_PREFIX: &str = "KILN-BENCH-RESULT ";
const READY_PREFIX: &str = "KILN-BENCH-READY ";
/// A crash writer that has not said "ready" by then is stuck.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// What a child is asked to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildSpec {
    pub workload: String,
    pub role: Role,
    pub system: System,
    pub dir: PathBuf,
    pub round: usize,
    pub sizes: Sizes,
    /// Workload-specific input (for example what a crash writer reported).
    pub arg: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Untimed set-up (loading a data set); reports nothing of interest.
    Prepare,
    /// One timed measurement.
    Measure,
    /// Writes, says ready, and waits for SIGKILL.
    CrashWriter,
}

/// What a child measured for one side.
#[derive(Debug, Serialize, Deserialize)]
pub struct SideResult {
    pub system: System,
    pub measurement: Measurement,
}

/// Runs a child that measures the one side its spec names.
pub fn run(exe: &Path, spec: &ChildSpec) -> Result<Measurement> {
    let mut results = run_sides(exe, spec)?;
    match results.pop() {
        Some(r) if results.is_empty() && r.system == spec.system => Ok(r.measurement),
        _ => Err(format!(
            "{} child did not report exactly its own side",
            describe(spec)
        )
        .into()),
    }
}

/// Runs a child to completion and returns what it measured, one result per side.
pub fn run_sides(exe: &Path, spec: &ChildSpec) -> Result<Vec<SideResult>> {
    let output = command(exe, spec)?
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{} child failed ({}): {stdout}",
            describe(spec),
            output.status
        )
        .into());
    }
    let results = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(RESULT_PREFIX))
        .map(serde_json::from_str)
        .collect::<std::result::Result<Vec<SideResult>, _>>()?;
    if results.is_empty() {
        return Err(format!("{} child printed no result: {stdout}", describe(spec)).into());
    }
    Ok(results)
}

/// Runs a crash writer until it reports ready, SIGKILLs it, reaps it, and returns what it
/// reported. The kill lands after the writer's last commit returned, so everything it
/// reported must survive.
pub fn run_and_kill(exe: &Path, spec: &ChildSpec) -> Result<serde_json::Value> {
    let mut child = command(exe, spec)?
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(json) = line.strip_prefix(READY_PREFIX) {
                let _ = tx.send(json.to_string());
                return;
            }
        }
    });
    let ready = rx.recv_timeout(READY_TIMEOUT);
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no checkpoint runs.
    let killed = child.kill();
    let status = child.wait()?;
    let json = ready.map_err(|_| format!("{} exited ({status}) before ready", describe(spec)))?;
    killed.map_err(|e| format!("cannot kill {}: {e}", describe(spec)))?;
    Ok(serde_json::from_str(&json)?)
}

fn command(exe: &Path, spec: &ChildSpec) -> Result<Command> {
    let mut cmd = Command::new(exe);
    cmd.arg(CHILD_SUBCOMMAND)
        .arg(serde_json::to_string(spec)?)
        .stdin(Stdio::null());
    Ok(cmd)
}

fn describe(spec: &ChildSpec) -> String {
    format!(
        "{} {:?} {} round {}",
        spec.workload,
        spec.role,
        spec.system.key(),
        spec.round + 1
    )
}

/// In the child: prints the result line the parent looks for, one per side measured.
pub fn print_result(result: &SideResult) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{RESULT_PREFIX}{}", serde_json::to_string(result)?)?;
    out.flush()?;
    Ok(())
}

/// In a crash writer: says ready, then waits for the parent's SIGKILL.
pub fn ready_and_wait(report: &serde_json::Value) -> Result<()> {
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{READY_PREFIX}{report}")?;
        out.flush()?;
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}
