//! Giving a verified part file its final name without overwriting anything.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Names tried before giving up: `name`, `name (1).ext`, ... `name (9999).ext`.
const MAX_CANDIDATES: u32 = 10_000;

/// Moves the verified part file to `name` in `dir`, as `name (1).ext` etc. when taken.
///
/// A hard link claims the final name atomically and fails if the name exists, so two
/// transfers of the same name never overwrite each other or an existing file; the part name is
/// then unlinked. Renaming over a placeholder would do the same, but ext4 treats a rename that
/// replaces a file as "replace via rename" and starts writing the whole file back inside the
/// `rename` call (`auto_da_alloc`): measured, about 100 ms for a 256 MiB file, during which
/// the transfer is not yet confirmed. File systems without hard links fall back to that.
pub(crate) async fn place(part: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let (part, dir, name) = (part.to_owned(), dir.to_owned(), name.to_owned());
    tokio::task::spawn_blocking(move || place_blocking(&part, &dir, &name))
        .await
        .map_err(std::io::Error::other)?
}

fn place_blocking(part: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut links = true;
    for n in 0..MAX_CANDIDATES {
        let candidate = if n == 0 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        if links {
            match std::fs::hard_link(part, &candidate) {
                Ok(()) => {
                    // The file is in place; a part name left behind only costs a stray file.
                    let _ = std::fs::remove_file(part);
                    return Ok(candidate);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(_) => links = false,
            }
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(_) => {
                if let Err(e) = std::fs::rename(part, &candidate) {
                    // Do not leave the empty placeholder behind under the final name.
                    let _ = std::fs::remove_file(&candidate);
                    return Err(e);
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        ErrorKind::AlreadyExists,
        "10000 files of that name already exist",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_the_name_and_removes_the_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(".x.part");
        std::fs::write(&part, b"data").unwrap();
        let placed = place(&part, dir.path(), "report.pdf").await.unwrap();
        assert_eq!(placed, dir.path().join("report.pdf"));
        assert_eq!(std::fs::read(&placed).unwrap(), b"data");
        assert!(!part.exists());
    }

    #[tokio::test]
    async fn never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.pdf"), b"old").unwrap();
        std::fs::write(dir.path().join("report (1).pdf"), b"older").unwrap();
        let part = dir.path().join(".x.part");
        std::fs::write(&part, b"new").unwrap();
        let placed = place(&part, dir.path(), "report.pdf").await.unwrap();
        assert_eq!(placed, dir.path().join("report (2).pdf"));
        assert_eq!(
            std::fs::read(dir.path().join("report.pdf")).unwrap(),
            b"old"
        );
        assert_eq!(
            std::fs::read(dir.path().join("report (1).pdf")).unwrap(),
            b"older"
        );
        assert_eq!(std::fs::read(&placed).unwrap(), b"new");
    }

    #[tokio::test]
    async fn names_without_an_extension_get_the_number_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes"), b"old").unwrap();
        let part = dir.path().join(".x.part");
        std::fs::write(&part, b"new").unwrap();
        let placed = place(&part, dir.path(), "notes").await.unwrap();
        assert_eq!(placed, dir.path().join("notes (1)"));
    }
}
