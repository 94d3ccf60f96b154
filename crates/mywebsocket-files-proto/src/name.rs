//! Offered names made safe to use as a file name (docs/file-transfer.md §8).

/// Longest accepted name, in bytes (the usual file-system limit).
pub const MAX_NAME_LEN: usize = 255;

/// Unicode's format characters (general category Cf, as of Unicode 15.1), as inclusive
/// ranges: invisible characters that change how the text around them is shown. Bidi controls
/// (U+202A–U+202E, U+2066–U+2069) make `gpj.exe` look like `exe.jpg`; zero-width characters
/// (U+200B–U+200F) and the byte-order mark (U+FEFF) make two different names look the same.
const FORMAT_CHARS: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a format character (Unicode general category Cf).
pub fn is_format_char(c: char) -> bool {
    let c = u32::from(c);
    FORMAT_CHARS
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// Device names Windows reserves in every directory, with or without an extension.
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks an offered name and returns the one file name it may be written under, or why not.
///
/// The name is never joined as a path: separators are refused rather than stripped, so
/// `../../etc/passwd` or `C:\x` is rejected with a reason the sender can show.
///
/// # Errors
/// A sentence naming the rule the name broke.
pub fn sanitize_name(offered: &str) -> Result<String, &'static str> {
    if offered.len() > MAX_NAME_LEN {
        return Err("the name is longer than 255 bytes");
    }
    if offered.contains(['/', '\\']) {
        return Err("the name contains a path separator (path traversal or absolute path)");
    }
    if offered.chars().any(char::is_control) {
        return Err("the name contains control characters");
    }
    if offered.chars().any(is_format_char) {
        return Err(
            "the name contains invisible format characters (bidi controls, zero-width, BOM)",
        );
    }
    if offered.contains([':', '*', '?', '"', '<', '>', '|']) {
        return Err("the name contains a character not allowed in file names");
    }
    // Hidden names would collide with our `.part` files and surprise users.
    let name = offered.trim_start_matches('.').trim_end_matches([' ', '.']);
    if name.is_empty() {
        return Err("the name is empty, '.' or '..'");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err("the name is a reserved device name");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_names() {
        assert_eq!(sanitize_name("photo.jpg"), Ok("photo.jpg".into()));
        assert_eq!(sanitize_name("résumé v2.pdf"), Ok("résumé v2.pdf".into()));
        assert_eq!(sanitize_name(".bashrc"), Ok("bashrc".into()));
        assert_eq!(sanitize_name("console.txt"), Ok("console.txt".into()));
    }

    #[test]
    fn rejects_traversal_absolute_and_reserved() {
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "..\\..\\boot.ini",
            "C:\\x",
            "C:x",
            "..",
            ".",
            "",
            "CON",
            "nul.txt",
            "Lpt1",
            "a\nb",
            "a\0b",
            "bell\u{7}",
        ] {
            assert!(sanitize_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(sanitize_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn rejects_bidi_zero_width_and_other_format_characters() {
        for bad in [
            "invoice\u{202E}fdp.exe",
            "a\u{202A}b",
            "a\u{2066}b",
            "a\u{2069}b",
            "pho\u{200B}to.jpg",
            "a\u{200D}b",
            "a\u{200F}b",
            "\u{FEFF}notes.txt",
            "soft\u{AD}hyphen",
            "tag\u{E0041}",
        ] {
            assert!(
                sanitize_name(bad).is_err_and(|why| why.contains("format")),
                "{bad:?} accepted"
            );
        }
        // Visible non-ASCII is fine: only invisible format characters are refused.
        assert!(sanitize_name("שלום.txt").is_ok());
        assert!(sanitize_name("日本語 ✓.pdf").is_ok());
    }

    #[test]
    fn the_format_table_is_sorted_and_disjoint() {
        for pair in FORMAT_CHARS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
        assert!(!is_format_char('a') && !is_format_char('\u{2065}'));
        assert!(is_format_char('\u{2064}') && is_format_char('\u{E007F}'));
    }
}
