//! The comparison table: figures, targets, rows, and their Markdown.

use std::fmt::Write as _;

/// What a figure counts, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// Nanoseconds (lower is better).
    Nanos,
    /// Operations per second (higher is better).
    OpsPerSec,
    /// A count of origin calls or waits (lower is better).
    Count,
    /// A hit ratio in percent (higher is better).
    Percent,
    /// Bytes per entry (lower is better).
    Bytes,
}

/// One measured number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The number, in `unit`.
    pub value: f64,
    /// What it counts.
    pub unit: Unit,
}

impl Figure {
    /// A latency in nanoseconds.
    pub fn nanos(value: f64) -> Self {
        Figure {
            value,
            unit: Unit::Nanos,
        }
    }

    /// A throughput in operations per second.
    pub fn ops(value: f64) -> Self {
        Figure {
            value,
            unit: Unit::OpsPerSec,
        }
    }

    /// A count.
    pub fn count(value: f64) -> Self {
        Figure {
            value,
            unit: Unit::Count,
        }
    }

    /// A percentage.
    pub fn percent(value: f64) -> Self {
        Figure {
            value,
            unit: Unit::Percent,
        }
    }

    /// Bytes per entry.
    pub fn bytes(value: f64) -> Self {
        Figure {
            value,
            unit: Unit::Bytes,
        }
    }

    /// Whether a larger number is better.
    fn higher_is_better(&self) -> bool {
        matches!(self.unit, Unit::OpsPerSec | Unit::Percent)
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.value;
        match self.unit {
            Unit::Nanos if v >= 1e6 => write!(f, "{:.2} ms", v / 1e6),
            Unit::Nanos if v >= 1e4 => write!(f, "{:.1} µs", v / 1e3),
            Unit::Nanos if v >= 1e3 => write!(f, "{:.2} µs", v / 1e3),
            Unit::Nanos => write!(f, "{v:.0} ns"),
            Unit::OpsPerSec => write!(f, "{:.0} k ops/s", v / 1e3),
            Unit::Count => write!(f, "{v:.0}"),
            Unit::Percent => write!(f, "{v:.2} %"),
            Unit::Bytes => write!(f, "{v:.0} B"),
        }
    }
}

/// What a row must show to meet its goal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// No target: shown for context.
    None,
    /// ours / peer at most this.
    RatioAtMost(f64),
    /// ours / peer strictly below this ("faster than").
    RatioBelow(f64),
    /// ours / peer at least this (throughput).
    RatioAtLeast(f64),
    /// Our figure exactly this.
    OursExactly(f64),
    /// Our percentage at most this many points below the peer's.
    PointsWithin(f64),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::None => "—".to_owned(),
            Target::RatioAtMost(x) => format!("≤ {x}x"),
            Target::RatioBelow(x) => format!("< {x}x"),
            Target::RatioAtLeast(x) => format!("≥ {x}x"),
            Target::OursExactly(x) => format!("ours = {x}"),
            Target::PointsWithin(p) => format!("≥ peer − {p} pt"),
        }
    }
}

/// One line of the table: our figure beside a peer's.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub measurement: String,
    /// Our figure.
    pub ours: Figure,
    /// Who we are compared with.
    pub peer_name: String,
    /// Their figure, or why they cannot be measured here.
    pub peer: Peer,
    /// The goal.
    pub target: Target,
}

/// A peer's side of a row.
#[derive(Debug, Clone)]
pub enum Peer {
    /// What the peer measured.
    Measured(Figure),
    /// The peer cannot do what the row measures (no SWR, no L1-only mode, ...): why. The row
    /// stays in the table so a reader sees the gap instead of a missing line.
    Cannot(String),
}

impl Row {
    /// A row comparing `ours` with `peer_name`'s `peer`.
    pub fn new(
        measurement: impl Into<String>,
        ours: Figure,
        peer_name: impl Into<String>,
        peer: Figure,
        target: Target,
    ) -> Self {
        Row {
            measurement: measurement.into(),
            ours,
            peer_name: peer_name.into(),
            peer: Peer::Measured(peer),
            target,
        }
    }

    /// A row saying `peer_name` cannot take part in `measurement`, and `why`.
    pub fn cannot(
        measurement: impl Into<String>,
        ours: Figure,
        peer_name: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Row {
            measurement: measurement.into(),
            ours,
            peer_name: peer_name.into(),
            peer: Peer::Cannot(why.into()),
            target: Target::None,
        }
    }

    /// The peer's figure, when it was measured.
    pub fn peer_figure(&self) -> Option<Figure> {
        match &self.peer {
            Peer::Measured(figure) => Some(*figure),
            Peer::Cannot(_) => None,
        }
    }

    /// ours / peer (for percentages: the difference in points); `None` when the peer cannot
    /// take part.
    pub fn ratio(&self) -> Option<f64> {
        let peer = self.peer_figure()?;
        Some(match self.ours.unit {
            Unit::Percent => self.ours.value - peer.value,
            _ if peer.value == 0.0 => {
                if self.ours.value == 0.0 {
                    1.0
                } else {
                    f64::INFINITY
                }
            }
            _ => self.ours.value / peer.value,
        })
    }

    /// The ratio as the table shows it.
    pub fn ratio_text(&self) -> String {
        let Some(ratio) = self.ratio() else {
            return "—".to_owned();
        };
        match self.ours.unit {
            Unit::Percent => format!("{ratio:+.2} pt"),
            _ if ratio.is_infinite() => "∞".to_owned(),
            _ if ratio < 0.01 => format!("{ratio:.4}x"),
            _ => format!("{ratio:.2}x"),
        }
    }

    /// How many times costlier we are than the peer (1 = parity, below 1 = better), for the
    /// chart: time and bytes as they are, throughput inverted, hit ratios as miss ratios.
    pub fn cost_ratio(&self) -> Option<f64> {
        let peer = self.peer_figure()?.value;
        let (ours, peer) = match self.ours.unit {
            Unit::Percent => (100.0 - self.ours.value, 100.0 - peer),
            _ if self.ours.higher_is_better() => (peer, self.ours.value),
            _ => (self.ours.value, peer),
        };
        if ours <= 0.0 || peer <= 0.0 || !ours.is_finite() || !peer.is_finite() {
            // Counts of zero (no origin waits) have no meaningful ratio on a log chart.
            return None;
        }
        Some(ours / peer)
    }

    /// The target as a cost ratio (see [`Row::cost_ratio`]), where one exists.
    pub fn target_cost_ratio(&self) -> Option<f64> {
        match self.target {
            Target::RatioAtMost(x) | Target::RatioBelow(x) => Some(x),
            Target::RatioAtLeast(x) if x > 0.0 => Some(1.0 / x),
            _ => None,
        }
    }

    /// Whether the target is met (`None` when there is no target).
    pub fn met(&self) -> Option<bool> {
        let ratio = self.ratio()?;
        match self.target {
            Target::None => None,
            Target::RatioAtMost(x) => Some(ratio <= x),
            Target::RatioBelow(x) => Some(ratio < x),
            Target::RatioAtLeast(x) => Some(ratio >= x),
            Target::OursExactly(x) => Some((self.ours.value - x).abs() < f64::EPSILON),
            Target::PointsWithin(p) => Some(ratio >= -p),
        }
    }

    fn met_text(&self) -> &'static str {
        match self.met() {
            None => "",
            Some(true) => "yes",
            Some(false) => "**NO**",
        }
    }
}

/// Everything one run produced.
#[derive(Debug, Default)]
pub struct Report {
    /// The rows, in the order measured.
    pub rows: Vec<Row>,
    /// How each family's figures were taken, one paragraph each.
    pub notes: Vec<(&'static str, String)>,
    /// Lines about the run itself (date, machine, load, command).
    pub context: Vec<String>,
}

impl Report {
    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Adds how `family`'s figures were taken.
    pub fn note(&mut self, family: &'static str, text: impl Into<String>) {
        self.notes.push((family, text.into()));
    }

    /// The Markdown table alone.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| measurement | ours | peer | ratio | target | met? |\n");
        out.push_str("|---|---:|---|---:|---|---|\n");
        for row in &self.rows {
            let peer = match &row.peer {
                Peer::Measured(figure) => figure.to_string(),
                Peer::Cannot(why) => format!("cannot ({why})"),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {}: {} | {} | {} | {} |",
                row.measurement,
                row.ours,
                row.peer_name,
                peer,
                row.ratio_text(),
                row.target.describe(),
                row.met_text()
            );
        }
        out
    }

    /// The rows whose target was missed.
    pub fn misses(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|row| row.met() == Some(false))
    }

    /// The whole Markdown document: context, table, summary of targets, notes.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for line in &self.context {
            let _ = writeln!(out, "{line}  ");
        }
        out.push('\n');
        out.push_str(&self.table());
        let targets = self.rows.iter().filter(|r| r.met().is_some()).count();
        let met = self.rows.iter().filter(|r| r.met() == Some(true)).count();
        let _ = writeln!(out, "\nTargets met: {met} of {targets}.");
        if met < targets {
            out.push_str("Missed:\n");
            for row in self.misses() {
                let _ = writeln!(
                    out,
                    "- {} vs {}: {} (target {})",
                    row.measurement,
                    row.peer_name,
                    row.ratio_text(),
                    row.target.describe()
                );
            }
        }
        out.push_str("\n**How each figure was taken**\n\n");
        for (family, text) in &self.notes {
            let _ = writeln!(out, "- *{family}*: {text}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_ratio_and_target() {
        let row = Row::new(
            "L1 hit",
            Figure::nanos(120.0),
            "quick_cache",
            Figure::nanos(80.0),
            Target::RatioAtMost(1.5),
        );
        assert_eq!(row.ratio_text(), "1.50x");
        assert_eq!(row.ratio(), Some(1.5));
        assert_eq!(row.met(), Some(true));
        assert_eq!(row.cost_ratio(), Some(1.5));
    }

    #[test]
    fn throughput_is_better_when_higher() {
        let row = Row::new(
            "throughput",
            Figure::ops(80_000.0),
            "fred",
            Figure::ops(100_000.0),
            Target::RatioAtLeast(0.85),
        );
        assert_eq!(row.met(), Some(false));
        assert_eq!(row.cost_ratio(), Some(1.25));
        assert_eq!(row.target_cost_ratio(), Some(1.0 / 0.85));
    }

    #[test]
    fn hit_ratio_in_points() {
        let row = Row::new(
            "zipf",
            Figure::percent(70.0),
            "moka",
            Figure::percent(70.5),
            Target::PointsWithin(1.0),
        );
        assert_eq!(row.ratio_text(), "-0.50 pt");
        assert_eq!(row.met(), Some(true));
        assert_eq!(row.cost_ratio(), Some(30.0 / 29.5));
    }

    #[test]
    fn exact_counts_and_markdown() {
        let mut report = Report::default();
        report.push(Row::new(
            "origin calls",
            Figure::count(2.0),
            "moka",
            Figure::count(1.0),
            Target::OursExactly(1.0),
        ));
        report.note("stampede", "1000 callers");
        let md = report.markdown();
        assert!(md.contains("| origin calls | 2 | moka: 1 | 2.00x | ours = 1 | **NO** |"));
        assert!(md.contains("Targets met: 0 of 1."));
        assert!(md.contains("- *stampede*: 1000 callers"));
    }

    #[test]
    fn a_peer_that_cannot_take_part_keeps_its_row() {
        let mut report = Report::default();
        report.push(Row::cannot(
            "SWR: calls that waited",
            Figure::count(0.0),
            "multi-tier-cache",
            "no stale-while-revalidate",
        ));
        let row = &report.rows[0];
        assert_eq!(row.ratio(), None);
        assert_eq!(row.met(), None);
        assert_eq!(row.cost_ratio(), None);
        assert!(report.table().contains(
            "| SWR: calls that waited | 0 | multi-tier-cache: cannot (no stale-while-revalidate) | — | — |  |"
        ));
        assert!(report.markdown().contains("Targets met: 0 of 0."));
    }

    #[test]
    fn figures_pick_a_readable_unit() {
        assert_eq!(Figure::nanos(85.2).to_string(), "85 ns");
        assert_eq!(Figure::nanos(1_500.0).to_string(), "1.50 µs");
        assert_eq!(Figure::nanos(52_300.0).to_string(), "52.3 µs");
        assert_eq!(Figure::nanos(50_200_000.0).to_string(), "50.20 ms");
        assert_eq!(Figure::ops(212_345.0).to_string(), "212 k ops/s");
    }
}
