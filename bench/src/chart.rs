//! The SVG chart: one bar per comparison, ours' cost relative to the peer on a log scale
//! (left of 1 = ours better), coloured by whether the row's target is met, with the target as a
//! black tick. Bars past the axis (origin calls: 1 vs 1000) are cut at its end; their label
//! keeps the true ratio. Drawn by plotters' SVG backend alone (no fonts or system libraries).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::BenchResult;
use crate::report::{Report, Row};

const MET: RGBColor = RGBColor(46, 160, 67);
const MISSED: RGBColor = RGBColor(207, 34, 46);
const CONTEXT: RGBColor = RGBColor(110, 140, 190);
/// The axis: ours 10x cheaper .. 10x costlier than the peer.
const LOWEST: f64 = 0.1;
const HIGHEST: f64 = 10.0;

/// Writes the chart of `report`'s comparable rows to `path`.
pub fn write(report: &Report, path: &Path) -> BenchResult<()> {
    let rows: Vec<(&Row, f64)> = report
        .rows
        .iter()
        .filter_map(|row| row.cost_ratio().map(|ratio| (row, ratio)))
        .collect();
    let n = rows.len().max(1);
    let height = 110 + 24 * n as u32;
    let root = SVGBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE)?;

    // A fixed axis keeps charts of different runs comparable.
    let (lo, hi) = (LOWEST, HIGHEST);
    let clamp = |ratio: f64| ratio.clamp(lo, hi);

    let labels: Vec<String> = rows
        .iter()
        .rev()
        .map(|(row, _)| format!("{} — vs {}", row.measurement, row.peer_name))
        .collect();
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.get(i))
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    };

    let mut chart = ChartBuilder::on(&root)
        .caption(
            "tiered-cache vs peers: ours' cost / peer's (log scale; < 1 = ours better)",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(640)
        .build_cartesian_2d(
            (lo..hi)
                .log_scale()
                .with_key_points(vec![0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]),
            (0..n as i32).into_segmented(),
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label_of)
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}x")
            } else {
                format!("{x:.1}x")
            }
        })
        .x_desc(
            "ours / peer for time, bytes, miss ratio and counts; peer / ours for throughput  ·  \
             green = target met  ·  red = missed  ·  blue = no target  ·  black tick = target",
        )
        .label_style(("sans-serif", 12))
        .draw()?;

    // Row k is drawn at segment n-1-k so the table's first row is on top.
    let segment = |k: usize| (n - 1 - k) as i32;
    chart.draw_series(rows.iter().enumerate().map(|(k, (row, ratio))| {
        let color = match row.met() {
            Some(true) => MET,
            Some(false) => MISSED,
            None => CONTEXT,
        };
        let ratio = clamp(*ratio);
        let (from, to) = if ratio < 1.0 {
            (ratio, 1.0)
        } else {
            (1.0, ratio)
        };
        let mut bar = Rectangle::new(
            [
                (from, SegmentValue::Exact(segment(k))),
                (to, SegmentValue::Exact(segment(k) + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(4, 4, 0, 0);
        bar
    }))?;
    chart.draw_series(rows.iter().enumerate().filter_map(|(k, (row, _))| {
        let target = row.target_cost_ratio()?;
        let mut tick = Rectangle::new(
            [
                (target, SegmentValue::Exact(segment(k))),
                (target * 1.03, SegmentValue::Exact(segment(k) + 1)),
            ],
            BLACK.filled(),
        );
        tick.set_margin(1, 1, 0, 0);
        Some(tick)
    }))?;
    chart.draw_series(rows.iter().enumerate().map(|(k, (row, ratio))| {
        // Right of the bar and of the target tick, so neither hides the number.
        let right = ratio
            .max(1.0)
            .max(row.target_cost_ratio().unwrap_or(0.0) * 1.03);
        Text::new(
            row.ratio_text(),
            (clamp(right * 1.04), SegmentValue::CenterOf(segment(k))),
            ("sans-serif", 11),
        )
    }))?;
    chart.draw_series(LineSeries::new(
        [
            (1.0, SegmentValue::Exact(0)),
            (1.0, SegmentValue::Exact(n as i32)),
        ],
        BLACK.stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}
