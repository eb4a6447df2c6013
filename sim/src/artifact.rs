//! Replay artifacts and shrinking.
//!
//! A failing run is saved as a self-contained, human-readable JSON file: the drawn run
//! configuration, the exact plan (steps with their selectors and value seeds), the
//! planted bugs, and the invariant that failed. It replays without the scenario file and
//! after the generators change. Shrinking removes steps and operations while the same
//! invariant still fails; the result, with the story of the bug written on top, goes to
//! `scenarios/regressions/`, which `cargo test` replays forever.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Step};
use crate::runner::{run, Outcome, RunOptions, RunReport};
use crate::scenario::RunConfig;

/// Format version of artifact files.
pub const ARTIFACT_FORMAT: u32 = 1;

/// What a replay of the artifact must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// The bug is fixed: the run must pass.
    Pass,
    /// The run must fail with the recorded invariant (planted-bug artifacts).
    Fail,
}

/// A saved run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub format: u32,
    /// The story: what failed, why, and what fixed it (for regressions).
    #[serde(default)]
    pub story: String,
    pub expect: Expect,
    /// The invariant the run violated when it was saved.
    pub invariant: Option<String>,
    pub detail: Option<String>,
    pub planted_bugs: Vec<String>,
    pub config: RunConfig,
    pub plan: Plan,
}

impl Artifact {
    /// An artifact of a run that just failed.
    pub fn from_failure(
        config: &RunConfig,
        plan: &Plan,
        planted: &[String],
        report: &RunReport,
    ) -> Artifact {
        let (invariant, detail) = match &report.outcome {
            Outcome::Failed(f) => (Some(f.invariant.to_string()), Some(f.detail.clone())),
            _ => (None, None),
        };
        Artifact {
            format: ARTIFACT_FORMAT,
            story: String::new(),
            expect: Expect::Fail,
            invariant,
            detail,
            planted_bugs: planted.to_vec(),
            config: config.clone(),
            plan: plan.clone(),
        }
    }

    pub fn load(path: &Path) -> Result<Artifact, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let artifact: Artifact =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if artifact.format != ARTIFACT_FORMAT {
            return Err(format!(
                "{}: artifact format {} (this build reads {ARTIFACT_FORMAT})",
                path.display(),
                artifact.format
            ));
        }
        artifact
            .plan
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(artifact)
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }

    fn options(&self) -> Result<RunOptions, String> {
        Ok(RunOptions {
            planted: crate::planted_bugs(&self.planted_bugs)?,
        })
    }

    /// Replays the artifact's plan.
    pub fn replay(&self) -> Result<RunReport, String> {
        Ok(run(&self.config, &self.plan, self.options()?))
    }

    /// Whether a report shows the same failure as the one recorded.
    fn same_failure(&self, report: &RunReport) -> bool {
        match &report.outcome {
            Outcome::Failed(f) => self.invariant.as_deref() == Some(f.invariant),
            _ => false,
        }
    }

    /// Removes steps, then operations inside transactions, while the recorded invariant
    /// still fails, within about `runs_max` replays for each of the two phases (steps, then
    /// operations). Returns the smallest plan found.
    pub fn shrink(&self, runs_max: usize) -> Result<Artifact, String> {
        let options = self.options()?;
        let mut best = self.clone();
        let mut runs = 0;
        let fails = |plan: &Plan, runs: &mut usize| {
            *runs += 1;
            self.same_failure(&run(&self.config, plan, options))
        };
        if !fails(&best.plan, &mut runs) {
            return Err("the artifact does not fail as recorded; nothing to shrink".into());
        }
        let mut chunk = best.plan.steps.len().div_ceil(2).max(1);
        while chunk >= 1 && runs < runs_max {
            let mut start = 0;
            let mut removed_any = false;
            while start < best.plan.steps.len() && runs < runs_max {
                let mut candidate = best.plan.clone();
                let end = (start + chunk).min(candidate.steps.len());
                candidate.steps.drain(start..end);
                if fails(&candidate, &mut runs) {
                    best.plan = candidate;
                    removed_any = true;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 && !removed_any {
                break;
            }
            chunk = if removed_any { chunk } else { chunk / 2 };
        }
        shrink_ops(&mut best.plan, &mut |p| fails(p, &mut runs), runs_max);
        let report = run(&self.config, &best.plan, options);
        if let Outcome::Failed(f) = &report.outcome {
            best.detail = Some(f.detail.clone());
        }
        Ok(best)
    }
}

/// Removes single operations from transactions while the failure persists.
fn shrink_ops(plan: &mut Plan, fails: &mut dyn FnMut(&Plan) -> bool, runs_max: usize) {
    let mut attempts = 0;
    for step in 0..plan.steps.len() {
        let mut op = 0;
        while let Step::Txn { ops, .. } = &plan.steps[step] {
            if op >= ops.len() || attempts >= runs_max {
                break;
            }
            let mut candidate = plan.clone();
            if let Step::Txn { ops, .. } = &mut candidate.steps[step] {
                ops.remove(op);
            }
            attempts += 1;
            if fails(&candidate) {
                *plan = candidate;
            } else {
                op += 1;
            }
        }
    }
}
