//! What a measurement is: which side ran, the metrics it produced, and how to read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Histogram;

/// One side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Kiln,
    Sqlite,
    /// `pwrite` + `fdatasync` of 4 KiB on a preallocated file: the physical limit of a
    /// durable commit on this disk.
    Fdatasync,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Kiln => "Kiln",
            System::Sqlite => "SQLite",
            System::Fdatasync => "fdatasync",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            System::Kiln => "kiln",
            System::Sqlite => "sqlite",
            System::Fdatasync => "fdatasync",
        }
    }
}

/// How to print a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Nanoseconds,
    PerSecond,
    Bytes,
    Count,
}

/// Which direction is good; it decides how a ratio reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// Context, not a score (sizes, counters).
    Neither,
}

/// A metric a workload reports, by name.
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    pub better: Better,
}

impl MetricDef {
    pub const fn new(name: &'static str, label: &'static str, unit: Unit, better: Better) -> Self {
        MetricDef {
            name,
            label,
            unit,
            better,
        }
    }
}

/// Metrics every measurement with an [`Rss`] gets (added by the runner).
pub const RSS_PEAK_METRIC: &str = "rss_peak_bytes";
pub const RSS_ENGINE_METRIC: &str = "rss_engine_bytes";
pub const RSS_METRICS: &[MetricDef] = &[
    MetricDef::new(
        RSS_PEAK_METRIC,
        "peak RSS of the process (VmHWM)",
        Unit::Bytes,
        Better::Lower,
    ),
    MetricDef::new(
        RSS_ENGINE_METRIC,
        "peak RSS over the harness baseline",
        Unit::Bytes,
        Better::Lower,
    ),
];

/// Peak and baseline resident memory of a child process (from /proc/self/status).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rss {
    /// VmHWM at the end of the child: the highest resident set the process ever had.
    pub peak_bytes: u64,
    /// VmRSS just before the engine was opened, after the harness allocated and touched
    /// its own buffers (row ids): what the process holds that is not the engine's.
    pub baseline_bytes: u64,
}

impl Rss {
    /// What the engine (or SQLite) added on top of the harness at its peak.
    pub fn engine_peak_bytes(&self) -> u64 {
        self.peak_bytes.saturating_sub(self.baseline_bytes)
    }
}

/// What one child process measured for one side in one round.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Measurement {
    /// Metric name -> value, named as in the workload's [`MetricDef`]s.
    pub values: BTreeMap<String, f64>,
    /// Latency distributions (nanoseconds), for percentiles and plots.
    pub histograms: BTreeMap<String, Histogram>,
    pub rss: Option<Rss>,
    /// The engine's own counters, for "where the time goes" (Kiln only).
    pub counters: BTreeMap<String, f64>,
}

impl Measurement {
    pub fn set(&mut self, metric: &str, value: f64) {
        self.values.insert(metric.to_string(), value);
    }

    pub fn counter(&mut self, name: &str, value: f64) {
        self.counters.insert(name.to_string(), value);
    }

    /// Records p50/p99 of `histogram` as `<prefix>_p50_ns` / `<prefix>_p99_ns` and keeps
    /// the histogram for the plots.
    pub fn latency(&mut self, prefix: &str, histogram: Histogram) {
        self.set(&format!("{prefix}_p50_ns"), histogram.quantile(0.50));
        self.set(&format!("{prefix}_p99_ns"), histogram.quantile(0.99));
        self.histograms.insert(prefix.to_string(), histogram);
    }
}
