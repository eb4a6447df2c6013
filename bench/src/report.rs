//! The result of a run: per-round values, their summaries, Kiln/peer ratios and the
//! targets, as one serializable [`Report`] (the `--json` output), and the terminal table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::measure::{Better, Measurement, MetricDef, System, Unit, RSS_METRICS};
use crate::options::Sizes;
use crate::stats::{Histogram, Summary};
use crate::workloads::{Denominator, MetricRef, Target, Workload};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub command: String,
    pub date: String,
    pub quick: bool,
    pub duration_s: f64,
    /// /proc/loadavg when the run ended (the start is in `machine`).
    pub load_average_end: String,
    pub machine: Machine,
    pub sizes: Sizes,
    pub kiln_rss_constant_bytes: u64,
    pub kiln_rss_bound_bytes: u64,
    pub workloads: Vec<WorkloadReport>,
    pub targets: Vec<TargetResult>,
}

impl Report {
    /// Reads a `--json` file back. The targets are evaluated afresh from the workloads'
    /// current definitions against the saved numbers, so a re-rendered report shows the
    /// claims the code makes now.
    pub fn from_json(text: &str) -> crate::Result<Report> {
        let mut value: serde_json::Value = serde_json::from_str(text)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("targets".into(), serde_json::Value::Array(Vec::new()));
        }
        let mut report: Report = serde_json::from_value(value)?;
        report.targets = evaluate_targets(&report.workloads, &report.sizes);
        Ok(report)
    }
}

/// Every target of the workloads in `reports`, evaluated on their medians.
pub fn evaluate_targets(reports: &[WorkloadReport], sizes: &Sizes) -> Vec<TargetResult> {
    reports
        .iter()
        .filter_map(|r| crate::workloads::by_name(&r.name))
        .flat_map(|w| w.targets(sizes))
        .map(|t| TargetResult::evaluate(t, reports))
        .collect()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub name: String,
    pub title: String,
    pub method: String,
    /// In the order of even rounds.
    pub systems: Vec<System>,
    pub metrics: Vec<MetricReport>,
    /// Legend names of the latency histograms, by histogram name.
    pub histogram_labels: BTreeMap<String, String>,
    /// What each side's child measured, one entry per round in round order.
    pub runs: BTreeMap<System, Vec<Measurement>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricReport {
    pub name: String,
    pub label: String,
    pub unit: Unit,
    pub better: Better,
    pub sides: BTreeMap<System, SideMetric>,
    /// Kiln's median over each other side's median.
    pub kiln_over: BTreeMap<System, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SideMetric {
    pub per_round: Vec<f64>,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    #[serde(flatten)]
    pub target: Target,
    /// The medians compared (named apart from the target's own `numerator` and
    /// `denominator`, which the flattened target already puts in the same JSON object).
    pub numerator_value: Option<f64>,
    pub denominator_value: Option<f64>,
    pub ratio: Option<f64>,
    pub met: Option<bool>,
}

impl WorkloadReport {
    pub fn build(
        w: &dyn Workload,
        sizes: &Sizes,
        runs: BTreeMap<System, Vec<Measurement>>,
    ) -> Self {
        let metrics = w
            .metrics()
            .iter()
            .chain(RSS_METRICS)
            .filter_map(|def| metric_report(def, &runs))
            .collect();
        WorkloadReport {
            name: w.name().to_string(),
            title: w.title().to_string(),
            method: w.method(sizes),
            systems: w.systems().to_vec(),
            metrics,
            histogram_labels: w
                .histogram_labels()
                .iter()
                .map(|(name, label)| (name.to_string(), label.to_string()))
                .collect(),
            runs,
        }
    }

    pub fn metric(&self, name: &str) -> Option<&MetricReport> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every round of `system`'s histogram `name`, merged.
    pub fn merged_histogram(&self, system: System, name: &str) -> Option<Histogram> {
        let mut merged: Option<Histogram> = None;
        for m in self.runs.get(&system)? {
            if let Some(h) = m.histograms.get(name) {
                merged.get_or_insert_with(Histogram::default).merge(h);
            }
        }
        merged
    }

    /// Names of the histograms any side recorded, sorted.
    pub fn histogram_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .runs
            .values()
            .flatten()
            .flat_map(|m| m.histograms.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The median over rounds of one counter of one side.
    pub fn counter_median(&self, system: System, name: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .runs
            .get(&system)?
            .iter()
            .filter_map(|m| m.counters.get(name).copied())
            .collect();
        Summary::of(&values).map(|s| s.median)
    }
}

fn metric_report(
    def: &MetricDef,
    runs: &BTreeMap<System, Vec<Measurement>>,
) -> Option<MetricReport> {
    let mut sides = BTreeMap::new();
    for (&system, measurements) in runs {
        let per_round: Vec<f64> = measurements
            .iter()
            .filter_map(|m| m.values.get(def.name).copied())
            .collect();
        if let Some(summary) = Summary::of(&per_round) {
            sides.insert(system, SideMetric { per_round, summary });
        }
    }
    if sides.is_empty() {
        return None;
    }
    let kiln_over = match sides.get(&System::Kiln) {
        Some(kiln) => sides
            .iter()
            .filter(|(s, _)| **s != System::Kiln)
            .map(|(s, peer)| (*s, ratio(kiln.summary.median, peer.summary.median)))
            .collect(),
        None => BTreeMap::new(),
    };
    Some(MetricReport {
        name: def.name.to_string(),
        label: def.label.to_string(),
        unit: def.unit,
        better: def.better,
        sides,
        kiln_over,
    })
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        f64::NAN
    } else {
        numerator / denominator
    }
}

impl TargetResult {
    pub fn evaluate(target: Target, workloads: &[WorkloadReport]) -> TargetResult {
        let median = |r: &MetricRef| -> Option<f64> {
            let w = workloads.iter().find(|w| w.name == target.workload)?;
            Some(w.metric(&r.metric)?.sides.get(&r.system)?.summary.median)
        };
        let numerator = median(&target.numerator);
        let denominator = match &target.denominator {
            Denominator::Metric(r) => median(r),
            Denominator::Constant { value, .. } => Some(*value),
        };
        let ratio = numerator.zip(denominator).map(|(n, d)| ratio(n, d));
        let met = ratio.map(|r| target.relation.holds(r));
        TargetResult {
            target,
            numerator_value: numerator,
            denominator_value: denominator,
            ratio,
            met,
        }
    }

    /// What the denominator is, for tables: "SQLite commit_p50_ns" or the constant's label.
    pub fn versus(&self) -> String {
        match &self.target.denominator {
            Denominator::Metric(r) if r.system == self.target.numerator.system => {
                format!("{} {}", r.system.label(), r.metric)
            }
            Denominator::Metric(r) => r.system.label().to_string(),
            Denominator::Constant { label, .. } => label.clone(),
        }
    }

    pub fn unit(&self, workloads: &[WorkloadReport]) -> Unit {
        workloads
            .iter()
            .find(|w| w.name == self.target.workload)
            .and_then(|w| w.metric(&self.target.numerator.metric))
            .map_or(Unit::Count, |m| m.unit)
    }
}

/// A value in its unit, short: `152 µs`, `6.1k/s`, `81.2 MiB`.
pub fn format_value(unit: Unit, value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    match unit {
        Unit::Nanoseconds => format_duration_ns(value),
        Unit::PerSecond => format!("{}/s", format_si(value)),
        Unit::Bytes => format!("{:.1} MiB", value / f64::from(1 << 20)),
        Unit::Count => format_si(value),
    }
}

fn format_duration_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn format_si(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `median [min – max]`, or just the median for one round.
pub fn format_summary(unit: Unit, s: &SideMetric) -> String {
    let median = format_value(unit, s.summary.median);
    if s.per_round.len() < 2 {
        return median;
    }
    format!(
        "{median} [{} – {}]",
        format_value(unit, s.summary.min),
        format_value(unit, s.summary.max)
    )
}

/// A metric's cells, one per side of `systems` then one ratio per peer of `peers`, with
/// `missing` where a side did not report it.
pub fn metric_cells(
    m: &MetricReport,
    systems: &[System],
    peers: &[System],
    missing: &str,
) -> Vec<String> {
    let sides = systems.iter().map(|s| {
        m.sides
            .get(s)
            .map_or(missing.into(), |v| format_summary(m.unit, v))
    });
    let ratios = peers.iter().map(|p| {
        m.kiln_over
            .get(p)
            .map_or(missing.into(), |r| format_ratio(*r))
    });
    sides.chain(ratios).collect()
}

pub fn format_ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}x")
    } else {
        "n/a".into()
    }
}

pub fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    }
}

/// The terminal table.
pub fn terminal(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kiln-bench: {} rounds, {} ({} cores), {} on {}, {:.0} s{}",
        report.sizes.rounds,
        report.machine.cpu_model,
        report.machine.cores,
        report.machine.file_system,
        report.machine.bench_dir,
        report.duration_s,
        if report.quick {
            " [QUICK: smoke run, numbers mean nothing]"
        } else {
            ""
        }
    );
    for w in &report.workloads {
        terminal_workload(&mut out, w);
    }
    let _ = writeln!(out, "\nTargets (ratios of medians over rounds of this run)");
    let _ = writeln!(
        out,
        "  {:<58} {:>9} {:>10}  verdict",
        "claim", "ratio", "target"
    );
    for t in &report.targets {
        let _ = writeln!(
            out,
            "  {:<58} {:>9} {:>10}  {}",
            t.target.label,
            t.ratio.map_or("n/a".into(), format_ratio),
            t.target.relation.describe(),
            verdict(t.met)
        );
    }
    out
}

fn terminal_workload(out: &mut String, w: &WorkloadReport) {
    let _ = writeln!(out, "\n== {} ==", w.title);
    let peers: Vec<System> = w
        .systems
        .iter()
        .copied()
        .filter(|s| *s != System::Kiln)
        .collect();
    let mut header = format!("  {:<42}", "metric");
    for s in &w.systems {
        let _ = write!(header, " {:>30}", s.label());
    }
    for p in &peers {
        let _ = write!(header, " {:>15}", format!("Kiln/{}", p.label()));
    }
    let _ = writeln!(out, "{header}");
    for m in &w.metrics {
        let mut line = format!("  {:<42}", m.label);
        let cells = metric_cells(m, &w.systems, &peers, "-");
        let (sides, ratios) = cells.split_at(w.systems.len());
        for cell in sides {
            let _ = write!(line, " {cell:>30}");
        }
        for cell in ratios {
            let _ = write!(line, " {cell:>15}");
        }
        let _ = writeln!(out, "{line}");
    }
}
