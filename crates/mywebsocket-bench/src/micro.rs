//! The criterion microbenchmarks' names and inputs (shared by `benches/micro.rs` and the
//! report), and reading their results back from criterion's output.

use std::path::Path;

/// The buffer size for masking, copying and UTF-8 validation: 64 KiB.
pub const BUF_LEN: usize = 64 << 10;

/// One microbenchmark as criterion stores it: `<criterion dir>/<group>/<id>/new/`.
#[derive(Debug, Clone, Copy)]
pub struct MicroBench {
    /// The criterion group.
    pub group: &'static str,
    /// The function id within the group.
    pub id: &'static str,
    /// Bytes processed per iteration, for a GB/s figure; `None` to report ns.
    pub bytes: Option<u64>,
    /// What it measures.
    pub what: &'static str,
}

/// Every microbenchmark, in report order.
pub const BENCHES: [MicroBench; 8] = [
    MicroBench {
        group: "mask",
        id: "apply_mask_64k",
        bytes: Some(BUF_LEN as u64),
        what: "masking 64 KiB (`apply_mask`)",
    },
    MicroBench {
        group: "mask",
        id: "memcpy_64k",
        bytes: Some(BUF_LEN as u64),
        what: "memcpy 64 KiB (`copy_from_slice`), the reference",
    },
    MicroBench {
        group: "utf8",
        id: "ascii_64k",
        bytes: Some(BUF_LEN as u64),
        what: "UTF-8 validation of 64 KiB ASCII (`Utf8Validator`)",
    },
    MicroBench {
        group: "utf8",
        id: "mixed_64k",
        bytes: Some(BUF_LEN as u64),
        what: "UTF-8 validation of 64 KiB mixed scripts",
    },
    MicroBench {
        group: "header",
        id: "parse_small",
        bytes: None,
        what: "`FrameHeader::parse`, 2-byte header",
    },
    MicroBench {
        group: "header",
        id: "parse_masked_64bit",
        bytes: None,
        what: "`FrameHeader::parse`, 14-byte header (64-bit length, mask)",
    },
    MicroBench {
        group: "header",
        id: "encode_small",
        bytes: None,
        what: "`FrameHeader::encode`, 2-byte header",
    },
    MicroBench {
        group: "header",
        id: "encode_masked_64bit",
        bytes: None,
        what: "`FrameHeader::encode`, 14-byte header",
    },
];

/// 64 KiB of text mixing ASCII, Latin, Greek, CJK and emoji (1- to 4-byte code points),
/// ending on a code point boundary.
pub fn mixed_text(len: usize) -> Vec<u8> {
    let pattern = "The quick brown fox — ΑΒΓ δέλτα — 速い茶色の狐 — 🦊🚀 — über café. ";
    let mut out = String::with_capacity(len + pattern.len());
    while out.len() + pattern.len() <= len {
        out.push_str(pattern);
    }
    while out.len() < len {
        out.push('x');
    }
    out.into_bytes()
}

/// A result read back from criterion.
#[derive(Debug, Clone, Copy)]
pub struct MicroResult {
    /// Which benchmark.
    pub bench: MicroBench,
    /// Criterion's median estimate of one iteration, in nanoseconds.
    pub median_ns: f64,
}

impl MicroResult {
    /// GB/s (10^9 bytes per second) for byte-sized benchmarks.
    pub fn gigabytes_per_s(&self) -> Option<f64> {
        self.bench.bytes.map(|b| b as f64 / self.median_ns)
    }
}

/// The results criterion left in `dir` (usually `target/criterion`), for the benchmarks that
/// have run.
pub fn read_results(dir: &Path) -> Vec<MicroResult> {
    BENCHES
        .iter()
        .filter_map(|bench| {
            let path = dir
                .join(bench.group)
                .join(bench.id)
                .join("new")
                .join("estimates.json");
            let text = std::fs::read_to_string(path).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            let median_ns = json["median"]["point_estimate"].as_f64()?;
            Some(MicroResult {
                bench: *bench,
                median_ns,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_text_is_utf8_of_the_asked_length() {
        let text = mixed_text(BUF_LEN);
        assert_eq!(text.len(), BUF_LEN);
        assert!(std::str::from_utf8(&text).is_ok());
    }

    #[test]
    fn reads_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("micro-{}", std::process::id()));
        let bench_dir = dir.join("mask/apply_mask_64k/new");
        std::fs::create_dir_all(&bench_dir).unwrap();
        std::fs::write(
            bench_dir.join("estimates.json"),
            r#"{"median":{"point_estimate":6553.6}}"#,
        )
        .unwrap();
        let results = read_results(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results.len(), 1);
        assert!((results[0].gigabytes_per_s().unwrap() - 10.0).abs() < 1e-9);
    }
}
