//! The report: `report.md` (tables), `report.svg` (chart) and `results.json` (raw values, to
//! re-render or compare runs).

mod chart;
mod format;
mod markdown;

use std::path::Path;

use crate::instructions::Count;
use crate::micro::MicroResult;
use crate::results::Results;

pub use chart::render_svg;
pub use markdown::render_markdown;

/// Writes `report.md`, `report.svg` and `results.json` into `dir`.
///
/// # Errors
/// File-system errors, or a chart that cannot be drawn.
pub fn write(
    dir: &Path,
    results: &Results,
    micro: &[MicroResult],
    instructions: Option<&[Count]>,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    write_file(&dir.join("results.json"), &json)?;
    let markdown = render_markdown(results, micro, instructions);
    write_file(&dir.join("report.md"), &markdown)?;
    render_svg(results, &dir.join("report.svg"))
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}
