//! The workloads. Each is a [`Workload`]: which sides it measures, which metrics it
//! reports, which targets it checks, and what its child process does. The runner
//! (`crate::runner`) interleaves them; the report code knows none of them by name.
//!
//! To add one (index lookups, checkpoint stalls, ...): write a module with a type
//! implementing [`Workload`] and list it in [`all`]. Its child gets a fresh directory per
//! side and round from [`Ctx::fresh_dir`]; anything shared by all rounds (a loaded data
//! set) goes in [`Workload::prepare`].

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::child::{self, ChildSpec, Role, SideResult};
use crate::measure::{Measurement, MetricDef, System};
use crate::options::Sizes;
use crate::Result;

pub mod bulk_load;
pub mod commit;
pub mod concurrent;
pub mod point_reads;
pub mod reopen;

/// Every workload, in the order they run within a round and appear in the report.
pub fn all() -> Vec<Box<dyn Workload>> {
    vec![
        Box::new(commit::CommitLatency),
        Box::new(concurrent::ConcurrentCommits),
        Box::new(bulk_load::BulkLoad),
        Box::new(point_reads::PointReads),
        Box::new(reopen::ReopenAfterCrash),
    ]
}

pub fn by_name(name: &str) -> Option<Box<dyn Workload>> {
    all().into_iter().find(|w| w.name() == name)
}

pub trait Workload {
    /// Stable identifier: JSON keys, `--only`, directory names.
    fn name(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// What is measured and how, for the report (Markdown).
    fn method(&self, sizes: &Sizes) -> String;
    /// The sides measured, in the order of even rounds (odd rounds reverse it).
    fn systems(&self) -> &'static [System];
    fn metrics(&self) -> &'static [MetricDef];
    /// Legend names of the latency histograms, by histogram name (plots).
    fn histogram_labels(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    fn targets(&self, _sizes: &Sizes) -> Vec<Target> {
        Vec::new()
    }
    /// Untimed set-up shared by every round, run once before the first.
    fn prepare(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }
    /// One round: every side, in `order`. By default one [`Workload::measure`] per side,
    /// one after the other; a workload whose sides must share the same moments (the
    /// disk's latency drifts within seconds) measures them together instead.
    fn measure_round(&self, ctx: &Ctx, round: usize, order: &[System]) -> Result<Vec<SideResult>> {
        order
            .iter()
            .map(|&system| {
                let measurement = self.measure(ctx, system, round)?;
                Ok(SideResult {
                    system,
                    measurement,
                })
            })
            .collect()
    }
    /// One measurement of `system`: by default one child process in a fresh directory.
    fn measure(&self, ctx: &Ctx, system: System, round: usize) -> Result<Measurement> {
        let dir = ctx.fresh_dir(self.name(), system, round)?;
        let spec = ctx.spec(self.name(), Role::Measure, system, round, &dir);
        let m = child::run(&ctx.exe, &spec);
        ctx.discard(&dir);
        m
    }
    /// Untimed clean-up after the last round (removing what `prepare` made).
    fn cleanup(&self, _ctx: &Ctx) {}
    /// Runs in the child process; returns what it measured, per side (nothing for a
    /// role that only prepares or crashes).
    fn child(&self, spec: &ChildSpec) -> Result<Vec<SideResult>>;
}

/// What the parent side of a workload can use.
pub struct Ctx {
    pub exe: PathBuf,
    pub root: PathBuf,
    pub sizes: Sizes,
    pub keep_data: bool,
}

impl Ctx {
    /// An empty directory for one side of one round of a workload.
    pub fn fresh_dir(&self, workload: &str, system: System, round: usize) -> Result<PathBuf> {
        self.empty_dir(&format!("{workload}-{}-r{}", system.key(), round + 1))
    }

    /// An empty directory named `name` under the bench directory.
    pub fn empty_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    pub fn spec(
        &self,
        workload: &str,
        role: Role,
        system: System,
        round: usize,
        dir: &Path,
    ) -> ChildSpec {
        ChildSpec {
            workload: workload.to_string(),
            role,
            system,
            dir: dir.to_path_buf(),
            round,
            sizes: self.sizes.clone(),
            arg: serde_json::Value::Null,
        }
    }

    /// Removes a directory a measurement is done with (unless `--keep-data`).
    pub fn discard(&self, dir: &Path) {
        if !self.keep_data {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A claim from the issue: `numerator / denominator` must satisfy `relation`, where both
/// are medians over rounds of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub label: String,
    pub workload: String,
    pub numerator: MetricRef,
    pub denominator: Denominator,
    pub relation: Relation,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricRef {
    pub system: System,
    pub metric: String,
}

impl MetricRef {
    pub fn new(system: System, metric: &str) -> Self {
        MetricRef {
            system,
            metric: metric.to_string(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    Metric(MetricRef),
    /// A fixed bound, named for the report.
    Constant {
        value: f64,
        label: String,
    },
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    AtMost(f64),
    AtLeast(f64),
}

impl Relation {
    pub fn holds(self, ratio: f64) -> bool {
        match self {
            Relation::AtMost(bound) => ratio <= bound,
            Relation::AtLeast(bound) => ratio >= bound,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Relation::AtMost(bound) => format!("<= {bound}x"),
            Relation::AtLeast(bound) => format!(">= {bound}x"),
        }
    }
}

/// The standard comparison: Kiln's `metric` against `peer`'s same metric.
pub fn kiln_vs(
    label: &str,
    workload: &str,
    metric: &str,
    peer: System,
    relation: Relation,
) -> Target {
    Target {
        label: label.to_string(),
        workload: workload.to_string(),
        numerator: MetricRef::new(System::Kiln, metric),
        denominator: Denominator::Metric(MetricRef::new(peer, metric)),
        relation,
    }
}

/// What Kiln's resident memory may exceed its configured limits by, at its peak, on top
/// of the harness's own memory: the code and static data of a process that has touched
/// the engine, allocator slack, the catalog, per-page bookkeeping of the buffer pool, and
/// per-transaction state. It is a measured bound, not a derived one: docs/BENCHMARKS.md
/// shows the measurement on every run.
pub const KILN_RSS_CONSTANT_BYTES: u64 = 16 << 20;

/// Kiln's resident-memory bound for `sizes`: its configured limits plus the constant. The
/// limits are the buffer pool (`cache_size_bytes`), the WAL append buffer
/// (`wal_buffer_bytes_max`) and one WAL segment (`wal_segment_size_bytes`), because
/// opening a database reads each WAL segment whole into memory to replay it.
pub fn kiln_memory_bound_bytes(sizes: &Sizes) -> u64 {
    let config = kiln::Config::default();
    sizes.cache_size_bytes
        + config.wal_buffer_bytes_max as u64
        + config.wal_segment_size_bytes
        + KILN_RSS_CONSTANT_BYTES
}

/// How the bound is made up, for the report.
pub fn kiln_memory_bound_label(sizes: &Sizes) -> String {
    let config = kiln::Config::default();
    format!(
        "cache {} MiB + WAL buffer {} MiB + WAL segment {} MiB + {} MiB",
        sizes.cache_size_bytes >> 20,
        config.wal_buffer_bytes_max >> 20,
        config.wal_segment_size_bytes >> 20,
        KILN_RSS_CONSTANT_BYTES >> 20
    )
}

/// The memory claim: Kiln's peak RSS over the harness stays within its bound.
pub fn memory_target(label: &str, workload: &str, sizes: &Sizes) -> Target {
    Target {
        label: label.to_string(),
        workload: workload.to_string(),
        numerator: MetricRef::new(System::Kiln, crate::measure::RSS_ENGINE_METRIC),
        denominator: Denominator::Constant {
            value: kiln_memory_bound_bytes(sizes) as f64,
            label: kiln_memory_bound_label(sizes),
        },
        relation: Relation::AtMost(1.0),
    }
}
