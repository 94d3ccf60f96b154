//! `report.svg`: echo throughput of every WebSocket server as a share of the raw TCP ceiling,
//! one group of bars per echo workload.

use std::path::Path;

use plotters::prelude::*;

use crate::results::{Group, Results};
use crate::servers::Impl;
use crate::stats::median;

/// Bar colours, one per server in column order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Draws the chart into `path`.
///
/// # Errors
/// If the file cannot be written.
pub fn render_svg(results: &Results, path: &Path) -> Result<(), String> {
    let keys = results.keys(Group::Echo);
    let servers: Vec<&str> = results
        .servers(Group::Echo)
        .into_iter()
        .filter(|s| *s != Impl::Tcp.name())
        .collect();
    // shares[row][server]: the server's median msg/s over the TCP echo's.
    let shares: Vec<Vec<Option<f64>>> = keys
        .iter()
        .map(|key| {
            let med = |s: &str| results.get(key, s).and_then(|e| median(&e.samples));
            let tcp = med(Impl::Tcp.name()).filter(|t| *t > 0.0);
            servers.iter().map(|s| Some(med(s)? / tcp?)).collect()
        })
        .collect();
    let top = shares
        .iter()
        .flatten()
        .flatten()
        .fold(1.0_f64, |a, &b| a.max(b))
        * 1.3;
    let width = 160 + 70 * keys.len().max(1) as u32;
    let root = SVGBackend::new(path, (width.max(800), 480)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let rows = keys.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Echo throughput as a share of the raw TCP echo (1.0 = ceiling)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5..rows - 0.5, 0.0..top)?;
        let labels: Vec<String> = keys.iter().map(|k| k.row.replace(" conns", "")).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(keys.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 11))
            .y_desc("share of TCP msg/s")
            .draw()?;
        // The ceiling.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 1.0), (rows - 0.5, 1.0)],
            BLACK.stroke_width(1),
        )))?;
        let n = servers.len().max(1) as f64;
        let bar = 0.8 / n;
        for (si, server) in servers.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            let bars = shares.iter().enumerate().filter_map(|(ri, row)| {
                let v = row[si]?;
                let x0 = ri as f64 - 0.4 + si as f64 * bar;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + bar * 0.9, v)],
                    color.filled(),
                ))
            });
            chart
                .draw_series(bars)?
                .label(*server)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("drawing {}: {e}", path.display()))
}
