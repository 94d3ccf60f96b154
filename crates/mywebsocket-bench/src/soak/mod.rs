//! The soak test: thousands of connections churning against a server process for a while,
//! its memory and open descriptors sampled every second, and a verdict on whether they grow.
//!
//! [`verdict`] judges the samples; `src/bin/soak.rs` drives the load; [`report`] writes the
//! table and the chart.

pub mod report;

/// One sample of the server process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: u64,
    /// Client connections open at that moment.
    pub open: u64,
    /// Connections finished so far (closed cleanly or reset).
    pub cycles: u64,
}

/// How much growth is tolerated over the judged half of the run.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Growth over the second half (slope × its duration), as a fraction of its mean RSS.
    pub rss_growth_fraction: f64,
    /// ... but at least this many KiB, so allocator noise on a small heap is not a "leak".
    pub rss_growth_floor_kib: f64,
    /// Descriptors the server may hold at the end beyond those it held before the load.
    pub fd_slack: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            rss_growth_fraction: 0.10,
            rss_growth_floor_kib: 4096.0,
            fd_slack: 2,
        }
    }
}

/// The judgement of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The least-squares slope of RSS over the second half, KiB per second.
    pub rss_slope_kib_per_s: f64,
    /// The slope times the second half's duration, KiB.
    pub rss_growth_kib: f64,
    /// The growth allowed, KiB.
    pub rss_allowed_kib: f64,
    /// Descriptors before the load.
    pub fds_before: u64,
    /// Descriptors after the load ended and the server settled.
    pub fds_after: u64,
    /// What failed, if anything.
    pub failures: Vec<String>,
}

/// The least-squares slope of `y` over `x`; `0.0` with fewer than two distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

/// Judges a run: the first half is warm-up; over the second, RSS must not trend upward beyond
/// the thresholds; and after the load, the server must hold no more descriptors than before.
pub fn verdict(samples: &[Sample], fds_before: u64, fds_after: u64, th: Thresholds) -> Verdict {
    let mut failures = Vec::new();
    let end = samples.last().map_or(0.0, |s| s.t);
    let judged: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t >= end / 2.0)
        .map(|s| (s.t, s.rss_kib as f64))
        .collect();
    if judged.len() < 5 {
        failures.push(format!(
            "only {} samples in the second half: run longer",
            judged.len()
        ));
    }
    let rss_slope = slope(&judged);
    let span = judged.last().map_or(0.0, |p| p.0) - judged.first().map_or(0.0, |p| p.0);
    let mean = judged.iter().map(|p| p.1).sum::<f64>() / judged.len().max(1) as f64;
    let growth = rss_slope * span;
    let allowed = (mean * th.rss_growth_fraction).max(th.rss_growth_floor_kib);
    if growth > allowed {
        failures.push(format!(
            "memory grows after warm-up: {rss_slope:.1} KiB/s, {growth:.0} KiB over the second \
             half (allowed {allowed:.0} KiB)"
        ));
    }
    if fds_after > fds_before + th.fd_slack {
        failures.push(format!(
            "descriptor leak: {fds_after} open after the load, {fds_before} before"
        ));
    }
    Verdict {
        rss_slope_kib_per_s: rss_slope,
        rss_growth_kib: growth,
        rss_allowed_kib: allowed,
        fds_before,
        fds_after,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rss: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..60u32)
            .map(|i| {
                let t = f64::from(i);
                Sample {
                    t,
                    rss_kib: rss(t),
                    fds: 2000,
                    open: 2000,
                    cycles: u64::from(i) * 100,
                }
            })
            .collect()
    }

    #[test]
    fn slope_of_a_line() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0))
            .collect();
        assert!((slope(&points) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
    }

    #[test]
    fn warm_up_growth_and_noise_pass() {
        // Fast growth in the first half, then a plateau with ±2 MiB of noise.
        let samples = run(|t| {
            let base = if t < 20.0 {
                10_000.0 + 2_000.0 * t
            } else {
                50_000.0
            };
            (base
                + if (t as u64).is_multiple_of(2) {
                    2048.0
                } else {
                    -2048.0
                }) as u64
        });
        let v = verdict(&samples, 10, 11, Thresholds::default());
        assert!(v.failures.is_empty(), "{:?}", v.failures);
    }

    #[test]
    fn steady_growth_fails() {
        // 1 MiB a second: a leak of ~30 MiB over the judged half on a 60 MiB heap.
        let samples = run(|t| 60_000 + (1024.0 * t) as u64);
        let v = verdict(&samples, 10, 10, Thresholds::default());
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(v.failures[0].contains("memory grows"));
    }

    #[test]
    fn descriptors_left_open_fail() {
        let samples = run(|_| 50_000);
        let v = verdict(&samples, 10, 40, Thresholds::default());
        assert_eq!(v.failures.len(), 1);
        assert!(v.failures[0].contains("descriptor leak"));
    }
}
