//! `report.md` (the samples as a table, with the verdict) and `report.svg` (memory and open
//! descriptors over time).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::{Sample, Verdict};

/// What the run was, for the report's heading.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Seconds of load.
    pub secs: u64,
    /// Connections kept churning.
    pub conns: usize,
    /// Connections finished cleanly with a close handshake.
    pub clean: u64,
    /// Connections ended by a TCP reset.
    pub reset: u64,
    /// Messages echoed and checked.
    pub messages: u64,
    /// Connections that failed to open or to echo (counted, not fatal unless many).
    pub errors: u64,
}

/// Writes the Markdown report.
///
/// # Errors
/// If the file cannot be written.
pub fn write_markdown(
    path: &Path,
    info: &RunInfo,
    samples: &[Sample],
    v: &Verdict,
) -> Result<(), String> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Soak: {} connections churning for {} s\n",
        info.conns, info.secs
    );
    let _ = writeln!(
        md,
        "{} connections closed cleanly, {} reset (SO_LINGER 0), {} messages echoed and checked, \
         {} errors.\n",
        info.clean, info.reset, info.messages, info.errors
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    let first = samples.first().map_or(0, |s| s.rss_kib);
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let last = samples.last().map_or(0, |s| s.rss_kib);
    let _ = writeln!(
        md,
        "Server RSS: {:.1} MiB after 1 s, peak {:.1} MiB, {:.1} MiB at the end. Second-half \
         slope {:.2} KiB/s ({:.0} KiB over the half; allowed {:.0} KiB). Descriptors: {} before \
         the load, {} after it.\n",
        mib(first),
        mib(peak),
        mib(last),
        v.rss_slope_kib_per_s,
        v.rss_growth_kib,
        v.rss_allowed_kib,
        v.fds_before,
        v.fds_after
    );
    if v.failures.is_empty() {
        let _ = writeln!(md, "**Verdict: pass.**\n");
    } else {
        let _ = writeln!(md, "**Verdict: FAIL**: {}\n", v.failures.join("; "));
    }
    let _ = writeln!(
        md,
        "| t (s) | RSS (MiB) | server fds | open conns | finished conns |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    for s in samples {
        let _ = writeln!(
            md,
            "| {:.0} | {:.1} | {} | {} | {} |",
            s.t,
            mib(s.rss_kib),
            s.fds,
            s.open,
            s.cycles
        );
    }
    std::fs::write(path, md).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Draws RSS (top) and open descriptors (bottom) over time.
///
/// # Errors
/// If the file cannot be written.
pub fn write_svg(path: &Path, samples: &[Sample]) -> Result<(), String> {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(300);
        let end = samples.last().map_or(1.0, |s| s.t).max(1.0);
        let rss: Vec<(f64, f64)> = samples
            .iter()
            .map(|s| (s.t, s.rss_kib as f64 / 1024.0))
            .collect();
        let fds: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.fds as f64)).collect();
        for (area, points, caption, unit, colour) in [
            (
                &top,
                &rss,
                "Server resident memory",
                "MiB",
                RGBColor(0xd6, 0x27, 0x28),
            ),
            (
                &bottom,
                &fds,
                "Server open file descriptors",
                "fds",
                RGBColor(0x1f, 0x77, 0xb4),
            ),
        ] {
            let max = points.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..end, 0.0..max)?;
            chart
                .configure_mesh()
                .x_desc("seconds")
                .y_desc(unit)
                .draw()?;
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("drawing {}: {e}", path.display()))
}
