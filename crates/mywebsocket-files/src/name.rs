//! Offered names made safe to use as a file name (docs/file-transfer.md §8).

/// Longest accepted name, in bytes (the usual file-system limit).
pub const MAX_NAME_LEN: usize = 255;

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
}
