//! SVG plots of latency distributions (plotters, SVG backend only: no system fonts are
//! needed, since the SVG carries text as text and the viewer renders it).
//!
//! One plot per workload that recorded latency histograms: the empirical CDF of each
//! side's latencies, all rounds pooled, on a logarithmic time axis.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::measure::System;
use crate::report::WorkloadReport;
use crate::stats::Histogram;
use crate::Result;

const SIZE: (u32, u32) = (860, 480);
/// The axis ends at this quantile of the slowest side: a single 50 ms outlier would
/// otherwise squeeze every curve into a corner.
const AXIS_QUANTILE_MAX: f64 = 0.999;

struct Curve {
    label: String,
    color: RGBColor,
    histogram: Histogram,
}

/// Draws `dir/<workload>.svg` for every workload with histograms; returns the files.
pub fn draw_all(workloads: &[WorkloadReport], dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for w in workloads {
        let curves = curves(w);
        if curves.is_empty() {
            continue;
        }
        let path = dir.join(format!("{}.svg", w.name));
        draw(&path, &w.title, &curves).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push((w.name.clone(), path));
    }
    Ok(files)
}

fn curves(w: &WorkloadReport) -> Vec<Curve> {
    let names = w.histogram_names();
    let mut curves = Vec::new();
    for &system in &w.systems {
        for (shade, name) in names.iter().enumerate() {
            let Some(histogram) = w.merged_histogram(system, name) else {
                continue;
            };
            let label = if names.len() == 1 {
                system.label().to_string()
            } else {
                let shown = w.histogram_labels.get(name).unwrap_or(name);
                format!("{}, {shown}", system.label())
            };
            curves.push(Curve {
                label,
                color: color(system, shade),
                histogram,
            });
        }
    }
    curves
}

fn color(system: System, shade: usize) -> RGBColor {
    let palette: &[RGBColor] = match system {
        System::Kiln => &[RGBColor(214, 39, 40), RGBColor(255, 152, 150)],
        System::Sqlite => &[RGBColor(31, 119, 180), RGBColor(158, 202, 225)],
        System::Fdatasync => &[RGBColor(60, 60, 60), RGBColor(160, 160, 160)],
    };
    palette[shade % palette.len()]
}

fn draw(
    path: &Path,
    title: &str,
    curves: &[Curve],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let to_us = |ns: f64| (ns / 1e3).max(0.01);
    let x_min = curves
        .iter()
        .map(|c| to_us(c.histogram.quantile(0.0)))
        .fold(f64::INFINITY, f64::min);
    let x_max = curves
        .iter()
        .map(|c| to_us(c.histogram.quantile(AXIS_QUANTILE_MAX)))
        .fold(0.0, f64::max)
        .max(x_min * 1.5);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: latency CDF"), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((x_min * 0.9..x_max * 1.1).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("latency (log scale; the axis ends at the slowest side's p99.9)")
        .y_desc("fraction of operations at or below")
        .x_label_formatter(&|x| format_us(*x))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()?;
    for curve in curves {
        let points: Vec<(f64, f64)> = curve
            .histogram
            .cdf()
            .into_iter()
            .map(|(ns, q)| (to_us(ns), q))
            .filter(|(us, _)| *us <= x_max * 1.1)
            .collect();
        let color = curve.color;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Tick labels: the axis spans nanoseconds to seconds, so each tick carries its unit.
fn format_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", trim(us / 1e3))
    } else {
        format!("{} µs", trim(us))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
