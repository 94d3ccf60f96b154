//! Files of pseudo-random bytes, so that nothing along a transfer can shortcut them. Shared
//! with `bench-files` (crates/mywebsocket-bench), which includes this file by path.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Writes `size` pseudo-random bytes (xorshift64 from `seed`) to a new file at `path` and
/// returns their SHA-256.
pub(crate) async fn write_random_file(
    path: &Path,
    size: u64,
    seed: u64,
) -> std::io::Result<[u8; 32]> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut hasher = Sha256::new();
    let mut state = seed | 1;
    let mut left = size;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = usize::try_from(left.min(buf.len() as u64)).expect("at most 1 MiB");
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    file.flush().await?;
    Ok(hasher.finalize().into())
}
